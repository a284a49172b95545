/*
 * dashboard.reports._fastscan: the report scan's grouping pass in C.
 *
 * Python (dashboard/reports/query.py, _pass) is the reference: group() here is a port of
 * that loop and returns exactly its structures (differential tests in
 * tests/reports/test_fastscan.py). It exists because a meeting report reads every event of
 * the meeting once (tens of thousands of rows) and the pure-Python loop was half the
 * report's time on PostgreSQL (measured in tests/bench/bench_report.py).
 *
 * Times are integers: microseconds since 2000-01-01 00:00 UTC, which is what PostgreSQL's
 * binary protocol sends for timestamptz; SQLite's stored text ("YYYY-MM-DD HH:MM:SS.ffffff",
 * UTC) is converted to the same. A row this code does not recognise (another shape, another
 * time text) raises ValueError and the caller runs the Python reference instead: nothing is
 * approximated.
 *
 * Row references are borrowed from the caller's list for the length of the call; the only
 * Python objects compared or hashed are ints, strings and None (no Python code runs).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One tally group: (meeting, member, device, kind * 4 + action, platform). */
typedef struct {
    long long count, first_id, last_id, first_t, last_t;
    PyObject *mac; /* borrowed: the first row's */
} Tal;

/* One episode: lookups of one platform by one device key, gaps < gap. */
typedef struct {
    long long first, last, count, first_id;
    PyObject *dev, *mac, *mem, *mid, *plat; /* borrowed */
} Ep;

typedef struct {
    Tal *tal;
    Py_ssize_t n_tal, cap_tal;
    Ep *ep;
    Py_ssize_t n_ep, cap_ep;
    long long *byp;
    Py_ssize_t n_byp, cap_byp;
} Acc;

static void acc_free(Acc *a)
{
    PyMem_Free(a->tal);
    PyMem_Free(a->ep);
    PyMem_Free(a->byp);
}

/* Grow *buf (of *cap items of size sz) to hold n+1 items; -1 on MemoryError. */
static int grow(void **buf, Py_ssize_t *cap, Py_ssize_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    Py_ssize_t nc = *cap ? *cap * 2 : 64;
    void *p = PyMem_Realloc(*buf, (size_t)nc * sz);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *buf = p;
    *cap = nc;
    return 0;
}

/* ------------------------------------------------------------------------ times */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int digits(const char *s, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

#define PG_EPOCH_DAYS 10957LL /* 2000-01-01 in days since 1970-01-01 */

/* "YYYY-MM-DD HH:MM:SS" with an optional ".ffffff" (exactly what the sink stores); 'T' is
 * accepted as the separator as datetime.fromisoformat does. -1 for anything else. */
static int parse_text(const char *s, Py_ssize_t n, long long *out)
{
    unsigned y, mo, d, h, mi, se, us = 0;
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != 19 && n != 26)
        return -1;
    if (s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
        return -1;
    if (n == 26 && (s[19] != '.' || digits(s + 20, 6, &us)))
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return -1;
    unsigned dim = mdays[mo - 1];
    if (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        dim = 29;
    if (d > dim)
        return -1;
    long long days = days_from_civil(y, mo, d) - PG_EPOCH_DAYS;
    *out = ((days * 86400LL + h * 3600LL + mi * 60LL + se) * 1000000LL) + us;
    return 0;
}

/* A row's time as microseconds since 2000-01-01 UTC. *kind remembers the first row's type
 * (1 int, 2 text): a mix is not something this code guesses about. */
static int ts_us(PyObject *o, int *kind, long long *out)
{
    int k = PyLong_CheckExact(o) ? 1 : PyUnicode_CheckExact(o) ? 2 : 0;
    if (k == 0 || (*kind && k != *kind)) {
        PyErr_SetString(PyExc_ValueError, "event time is neither all integers nor all text");
        return -1;
    }
    *kind = k;
    if (k == 1) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "event time out of range");
            return -1;
        }
        *out = v;
        return 0;
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(o, &n);
    if (s == NULL || parse_text(s, n, out) < 0) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "event time text not in the stored form");
        return -1;
    }
    return 0;
}

static int as_ll(PyObject *o, long long *out)
{
    if (!PyLong_CheckExact(o)) {
        PyErr_SetString(PyExc_ValueError, "event id, kind or action is not an integer");
        return -1;
    }
    *out = PyLong_AsLongLong(o);
    if (*out == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "event id, kind or action out of range");
        return -1;
    }
    return 0;
}


/* ------------------------------------------------------------------------- pass */

/* a == b for the values a row holds (ints, text, None), as a dict compares keys; 0 for
 * anything else, which only sends the row down the dict path (never a wrong answer). */
static inline int same(PyObject *a, PyObject *b)
{
    if (a == b)
        return 1;
    if (Py_TYPE(a) != Py_TYPE(b))
        return 0;
    if (PyLong_CheckExact(a) || PyUnicode_CheckExact(a))
        return PyObject_RichCompareBool(a, b, Py_EQ) == 1;
    return 0;
}

/* Rows come grouped (by member, then time, on both backends' index order), so a row's
 * groups are most often the previous row's: compare its fields with the previous key's
 * before building and hashing a key tuple. */
typedef struct {
    PyObject *f[5]; /* borrowed */
    Py_ssize_t ix;  /* -1: none yet */
} Last;

static inline int is_last(const Last *l, PyObject *const *f, int n)
{
    if (l->ix < 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (!same(l->f[i], f[i]))
            return 0;
    return 1;
}

static inline void set_last(Last *l, PyObject *const *f, int n, Py_ssize_t ix)
{
    memcpy(l->f, f, (size_t)n * sizeof(PyObject *));
    l->ix = ix;
}

#define ATTEMPT 1
#define BYPASS 2
#define OUT_OF_ORDER 1

/* One row as the pass needs it; objects are borrowed from the row's source. */
typedef struct {
    long long eid, t;
    long ka; /* kind * 4 + action */
    PyObject *oka, *dev, *mem, *plat, *mac, *mid;
} Row;

/* The pass's state across rows. */
typedef struct {
    long long gap;
    PyObject *tal, *open_;
    Acc a;
    Last lt, le;
} Pass;

/* Record in `dict` that `key` is group number n (the next free one). */
static int index_key(PyObject *dict, PyObject *key, Py_ssize_t n)
{
    PyObject *no = PyLong_FromSsize_t(n);
    int r = no == NULL ? -1 : PyDict_SetItem(dict, key, no);
    Py_XDECREF(no);
    return r;
}

/* One row of the loop of query._pass. Returns 0, OUT_OF_ORDER, or -1 with an exception. */
static int step(Pass *p, const Row *r)
{
    Acc *a = &p->a;
    long long t = r->t, eid = r->eid;
    PyObject *tk[5] = {r->mid, r->mem, r->dev, r->oka, r->plat};
    Py_ssize_t tix = is_last(&p->lt, tk, 5) ? p->lt.ix : -1;
    if (tix < 0) {
        PyObject *key = PyTuple_Pack(5, r->mid, r->mem, r->dev, r->oka, r->plat);
        if (key == NULL)
            return -1;
        PyObject *ix = PyDict_GetItemWithError(p->tal, key);
        if (ix == NULL) {
            if (PyErr_Occurred() ||
                grow((void **)&a->tal, &a->cap_tal, a->n_tal, sizeof(Tal)) < 0 ||
                index_key(p->tal, key, a->n_tal) < 0) {
                Py_DECREF(key);
                return -1;
            }
            a->tal[a->n_tal] = (Tal){0, eid, eid, t, t, r->mac};
            tix = a->n_tal++;
        } else {
            tix = PyLong_AsSsize_t(ix);
        }
        Py_DECREF(key);
        set_last(&p->lt, tk, 5, tix);
    }
    Tal *x = &a->tal[tix];
    if (t < x->last_t)
        return OUT_OF_ORDER;
    x->count++;
    x->last_t = t;
    if (eid > x->last_id)
        x->last_id = eid;
    else if (eid < x->first_id)
        x->first_id = eid;

    long kind = r->ka >> 2;
    int named = PyObject_IsTrue(r->plat);
    if (named < 0)
        return -1;
    if (named && kind == ATTEMPT) {
        PyObject *ekf[4] = {r->mid, r->dev, r->mac, r->plat};
        PyObject *ek = NULL;
        Ep *ep = NULL;
        if (is_last(&p->le, ekf, 4)) {
            ep = &a->ep[p->le.ix];
        } else {
            ek = PyTuple_Pack(4, r->mid, r->dev, r->mac, r->plat);
            if (ek == NULL)
                return -1;
            PyObject *eix = PyDict_GetItemWithError(p->open_, ek);
            if (eix == NULL && PyErr_Occurred()) {
                Py_DECREF(ek);
                return -1;
            }
            if (eix != NULL)
                ep = &a->ep[PyLong_AsSsize_t(eix)];
        }
        if (ep == NULL || t - ep->last >= p->gap) {
            if (ep != NULL && t < ep->last) {
                Py_XDECREF(ek);
                return OUT_OF_ORDER;
            }
            if ((ek == NULL && (ek = PyTuple_Pack(4, r->mid, r->dev, r->mac, r->plat)) == NULL) ||
                grow((void **)&a->ep, &a->cap_ep, a->n_ep, sizeof(Ep)) < 0 ||
                index_key(p->open_, ek, a->n_ep) < 0) {
                Py_XDECREF(ek);
                return -1;
            }
            ep = &a->ep[a->n_ep++];
            *ep = (Ep){t, t, 0, eid, r->dev, r->mac, r->mem, r->mid, r->plat};
        } else if (t < ep->last) {
            Py_XDECREF(ek);
            return OUT_OF_ORDER;
        }
        Py_XDECREF(ek);
        set_last(&p->le, ekf, 4, ep - a->ep);
        ep->last = t;
        ep->count++;
        if (ep->mem == Py_None)
            ep->mem = r->mem;
    } else if (kind == BYPASS) {
        if (grow((void **)&a->byp, &a->cap_byp, a->n_byp, sizeof(long long)) < 0)
            return -1;
        a->byp[a->n_byp++] = eid;
    }
    return 0;
}

/* kind * 4 + action as the query reads it: a small non-negative integer, or ValueError. */
static int small_ka(long long v, long *out)
{
    if (v < 0 || v > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "event kind and action not a small integer");
        return -1;
    }
    *out = (long)v;
    return 0;
}

/* The pass over a list of row tuples (both backends' driver rows). */
static int run_rows(PyObject *rows, PyObject *meeting, Pass *p)
{
    Py_ssize_t n = PyList_GET_SIZE(rows);
    Py_ssize_t width = meeting == Py_None ? 8 : 7;
    int tkind = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != width) {
            PyErr_SetString(PyExc_ValueError, "unexpected row shape");
            return -1;
        }
        PyObject **f = &PyTuple_GET_ITEM(row, 0);
        Row r = {0, 0, 0, f[2], f[3], f[4], f[5], f[6], width == 8 ? f[7] : meeting};
        long long ka;
        if (as_ll(f[0], &r.eid) < 0 || ts_us(f[1], &tkind, &r.t) < 0 || as_ll(f[2], &ka) < 0 ||
            small_ka(ka, &r.ka) < 0)
            return -1;
        int st = step(p, &r);
        if (st != 0)
            return st;
    }
    return 0;
}


/* ------------------------------------------------------------ PostgreSQL results */
/*
 * The same pass straight over a PostgreSQL result in binary format (psycopg documents
 * PGresult.pgresult_ptr for handing the result to libpq functions "via a C extension"): no
 * Python object per value, only per distinct id or name. The libpq functions come from the
 * libpq already loaded in this process (the one psycopg runs on); when there is not exactly
 * one, or the result's columns are not the expected types, ValueError sends the caller to
 * psycopg's own row decoding instead.
 */
static struct {
    int tried, ok;
    int (*status)(const void *);
    int (*ntuples)(const void *);
    int (*nfields)(const void *);
    int (*fformat)(const void *, int);
    unsigned (*ftype)(const void *, int);
    char *(*getvalue)(const void *, int, int);
    int (*getlength)(const void *, int, int);
    int (*getisnull)(const void *, int, int);
} pq;

static int libpq_seen(struct dl_phdr_info *info, size_t size, void *data)
{
    const char **found = data;
    const char *name = info->dlpi_name;
    if (name == NULL || name[0] == '\0')
        return 0;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (strncmp(base, "libpq.so", 8) != 0 && strncmp(base, "libpq-", 6) != 0)
        return 0;
    if (found[0] == NULL)
        found[0] = name;
    else if (strcmp(found[0], name) != 0)
        found[1] = name; /* two libpq copies: do not guess which made the result */
    return 0;
}

static int load_libpq(void)
{
    if (pq.tried)
        return pq.ok;
    pq.tried = 1;
    const char *found[2] = {NULL, NULL};
    dl_iterate_phdr(libpq_seen, found);
    if (found[0] == NULL || found[1] != NULL)
        return 0;
    void *h = dlopen(found[0], RTLD_LAZY | RTLD_NOLOAD);
    if (h == NULL)
        return 0;
    *(void **)&pq.status = dlsym(h, "PQresultStatus");
    *(void **)&pq.ntuples = dlsym(h, "PQntuples");
    *(void **)&pq.nfields = dlsym(h, "PQnfields");
    *(void **)&pq.fformat = dlsym(h, "PQfformat");
    *(void **)&pq.ftype = dlsym(h, "PQftype");
    *(void **)&pq.getvalue = dlsym(h, "PQgetvalue");
    *(void **)&pq.getlength = dlsym(h, "PQgetlength");
    *(void **)&pq.getisnull = dlsym(h, "PQgetisnull");
    pq.ok = pq.status && pq.ntuples && pq.nfields && pq.fformat && pq.ftype && pq.getvalue &&
            pq.getlength && pq.getisnull;
    return pq.ok; /* the handle stays open: the library is psycopg's, loaded for good */
}

#define PGRES_TUPLES_OK 2
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_BPCHAR 1042
#define OID_VARCHAR 1043
#define OID_TIMESTAMPTZ 1184

/* Python objects for the values of one column, made once per distinct value (direct-mapped;
 * an evicted object moves to `keep` so rows already grouped can go on borrowing it). */
#define SLOTS 256
typedef struct {
    long long key[SLOTS];
    PyObject *obj[SLOTS];
} IntCache;

typedef struct {
    Py_ssize_t len[SLOTS];
    char *bytes[SLOTS];
    PyObject *obj[SLOTS];
} StrCache;

typedef struct {
    const void *res;
    PyObject *keep; /* list: owned objects evicted from the caches */
    IntCache ints[4]; /* device, member, meeting, kind*4+action */
    StrCache strs[2]; /* platform, mac */
} PgSource;

static void pg_source_free(PgSource *src)
{
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < SLOTS; i++)
            Py_XDECREF(src->ints[c].obj[i]);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < SLOTS; i++) {
            Py_XDECREF(src->strs[c].obj[i]);
            PyMem_Free(src->strs[c].bytes[i]);
        }
    Py_XDECREF(src->keep);
}

static inline long long be_int(const unsigned char *v, int len)
{
    if (len == 2)
        return (int16_t)(((unsigned)v[0] << 8) | v[1]);
    if (len == 4)
        return (int32_t)(((uint32_t)v[0] << 24) | ((uint32_t)v[1] << 16) |
                         ((uint32_t)v[2] << 8) | v[3]);
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = (x << 8) | v[i];
    return (int64_t)x;
}

/* An integer cell: -1 with ValueError for a width other than 2, 4 or 8 (or a NULL where
 * none may be), 1 for NULL, 0 with *out set. In a binary result only NULL has length 0
 * for an integer, so one call tells both (each libpq accessor checks its arguments: a
 * third of the pass's time went on calling them). */
static int pg_int(PgSource *src, int row, int col, int nullable, long long *out)
{
    int len = pq.getlength(src->res, row, col);
    if (len == 0 && nullable)
        return 1;
    if (len != 2 && len != 4 && len != 8) {
        PyErr_SetString(PyExc_ValueError, len ? "integer cell of an unexpected width"
                                              : "NULL where the scan needs a value");
        return -1;
    }
    *out = be_int((const unsigned char *)pq.getvalue(src->res, row, col), len);
    return 0;
}

/* Swap `fresh` into a cache slot, moving its previous object to src->keep. */
static int cache_put(PgSource *src, PyObject **slot, PyObject *fresh)
{
    if (*slot != NULL && PyList_Append(src->keep, *slot) < 0) {
        Py_DECREF(fresh);
        return -1;
    }
    Py_XDECREF(*slot);
    *slot = fresh;
    return 0;
}

/* The cached object for value v (borrowed: the cache or src->keep owns it). */
static PyObject *int_obj(PgSource *src, IntCache *c, long long v)
{
    unsigned h = (unsigned)((uint64_t)v * 0x9E3779B97F4A7C15ull >> 56) & (SLOTS - 1);
    if (c->obj[h] != NULL && c->key[h] == v)
        return c->obj[h];
    PyObject *o = PyLong_FromLongLong(v);
    if (o == NULL || cache_put(src, &c->obj[h], o) < 0)
        return NULL;
    c->key[h] = v;
    return o;
}

/* A nullable integer cell as a cached object (None for NULL). */
static PyObject *pg_int_obj(PgSource *src, IntCache *c, int row, int col)
{
    long long v = 0;
    int st = pg_int(src, row, col, 1, &v);
    return st < 0 ? NULL : st == 1 ? Py_None : int_obj(src, c, v);
}

static PyObject *pg_str_obj(PgSource *src, StrCache *c, int row, int col)
{
    int len = pq.getlength(src->res, row, col);
    if (len == 0 && pq.getisnull(src->res, row, col))
        return Py_None;
    const char *v = pq.getvalue(src->res, row, col);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < len; i++)
        h = (h ^ (unsigned char)v[i]) * 16777619u;
    h &= SLOTS - 1;
    if (c->obj[h] != NULL && c->len[h] == len && memcmp(c->bytes[h], v, (size_t)len) == 0)
        return c->obj[h];
    PyObject *o = PyUnicode_DecodeUTF8(v, len, "strict"); /* UnicodeDecodeError: ValueError */
    if (o == NULL)
        return NULL;
    char *copy = PyMem_Malloc((size_t)len + 1);
    if (copy == NULL) {
        Py_DECREF(o);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(copy, v, (size_t)len);
    if (cache_put(src, &c->obj[h], o) < 0) {
        PyMem_Free(copy);
        return NULL;
    }
    PyMem_Free(c->bytes[h]);
    c->bytes[h] = copy;
    c->len[h] = len;
    return o;
}

/* Column types the scan's SELECT gives: id, ts, kind*4+action, device, member, platform,
 * mac [, meeting]. */
static int pg_check(const void *res, int width)
{
    static const int is_text[8] = {0, 0, 0, 0, 0, 1, 1, 0};
    if (pq.status(res) != PGRES_TUPLES_OK || pq.nfields(res) != width) {
        PyErr_SetString(PyExc_ValueError, "not the scan's result");
        return -1;
    }
    for (int c = 0; c < width; c++) {
        unsigned t = pq.ftype(res, c);
        int ok = pq.fformat(res, c) == 1 &&
                 (c == 1 ? t == OID_TIMESTAMPTZ
                  : is_text[c] ? (t == OID_TEXT || t == OID_VARCHAR || t == OID_BPCHAR)
                               : (t == OID_INT2 || t == OID_INT4 || t == OID_INT8));
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "scan column of an unexpected type or format");
            return -1;
        }
    }
    return 0;
}

static int run_pg(PgSource *src, PyObject *meeting, Pass *p)
{
    int width = meeting == Py_None ? 8 : 7;
    if (pg_check(src->res, width) < 0)
        return -1;
    int n = pq.ntuples(src->res);
    for (int i = 0; i < n; i++) {
        Row r;
        long long ka;
        /* column 1 is a timestamptz (pg_check): 8 bytes, never NULL in events */
        if (pg_int(src, i, 0, 0, &r.eid) < 0 || pg_int(src, i, 1, 0, &r.t) < 0 ||
            pg_int(src, i, 2, 0, &ka) < 0 || small_ka(ka, &r.ka) < 0)
            return -1;
        r.oka = int_obj(src, &src->ints[3], r.ka);
        r.dev = pg_int_obj(src, &src->ints[0], i, 3);
        r.mem = pg_int_obj(src, &src->ints[1], i, 4);
        r.plat = pg_str_obj(src, &src->strs[0], i, 5);
        r.mac = pg_str_obj(src, &src->strs[1], i, 6);
        r.mid = width == 8 ? pg_int_obj(src, &src->ints[2], i, 7) : meeting;
        if (!r.oka || !r.dev || !r.mem || !r.plat || !r.mac || !r.mid)
            return -1;
        int st = step(p, &r);
        if (st != 0)
            return st;
    }
    return 0;
}

/* Python lists of the accumulated groups, as query._pass builds them. */
static PyObject *results(PyObject *tal, Acc *a)
{
    PyObject *eps = PyList_New(a->n_ep), *byp = PyList_New(a->n_byp);
    if (eps == NULL || byp == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < a->n_ep; i++) {
        Ep *e = &a->ep[i];
        PyObject *l = Py_BuildValue("[LLLOOOLOO]", e->first, e->last, e->count, e->dev,
                                    e->mac, e->mem, e->first_id, e->mid, e->plat);
        if (l == NULL)
            goto fail;
        PyList_SET_ITEM(eps, i, l);
    }
    for (Py_ssize_t i = 0; i < a->n_byp; i++) {
        PyObject *v = PyLong_FromLongLong(a->byp[i]);
        if (v == NULL)
            goto fail;
        PyList_SET_ITEM(byp, i, v);
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(tal, &pos, &k, &v)) { /* replacing values of present keys is allowed */
        Tal *x = &a->tal[PyLong_AsSsize_t(v)];
        PyObject *l = Py_BuildValue("[LLLLLO]", x->count, x->first_id, x->last_id, x->first_t,
                                    x->last_t, x->mac);
        if (l == NULL || PyDict_SetItem(tal, k, l) < 0) {
            Py_XDECREF(l);
            goto fail;
        }
        Py_DECREF(l);
    }
    Py_INCREF(tal);
    return Py_BuildValue("(NNN)", eps, tal, byp);
fail:
    Py_XDECREF(eps);
    Py_XDECREF(byp);
    return NULL;
}

/* The results of a pass that ended with `r` (None when out of order), and its cleanup. */
static PyObject *finish(Pass *p, int r)
{
    PyObject *out = NULL;
    if (r == OUT_OF_ORDER)
        out = Py_NewRef(Py_None);
    else if (r == 0)
        out = results(p->tal, &p->a);
    Py_XDECREF(p->tal);
    Py_XDECREF(p->open_);
    acc_free(&p->a);
    return out;
}

static int pass_init(Pass *p, PyObject *gap)
{
    memset(p, 0, sizeof(*p));
    p->lt.ix = p->le.ix = -1;
    p->gap = PyLong_AsLongLong(gap);
    if (p->gap == -1 && PyErr_Occurred())
        return -1;
    p->tal = PyDict_New();
    p->open_ = PyDict_New();
    return p->tal == NULL || p->open_ == NULL ? -1 : 0;
}

static PyObject *py_group(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "group(rows: list, gap_us: int, meeting_id)");
        return NULL;
    }
    Pass p;
    int r = pass_init(&p, args[1]);
    if (r == 0)
        r = run_rows(args[0], args[2], &p);
    return finish(&p, r);
}

static PyObject *py_group_pgresult(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyLong_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "group_pgresult(pgresult_ptr: int, gap_us: int, meeting_id)");
        return NULL;
    }
    void *res = PyLong_AsVoidPtr(args[0]);
    if (res == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "no result");
        return NULL;
    }
    if (!load_libpq()) {
        PyErr_SetString(PyExc_ValueError, "not exactly one libpq loaded in this process");
        return NULL;
    }
    PgSource *src = PyMem_Calloc(1, sizeof(PgSource));
    if (src == NULL)
        return PyErr_NoMemory();
    src->res = res;
    src->keep = PyList_New(0);
    Pass p;
    memset(&p, 0, sizeof(p));
    PyObject *out = NULL;
    if (src->keep != NULL) {
        int r = pass_init(&p, args[1]);
        if (r == 0)
            r = run_pg(src, args[2], &p);
        out = finish(&p, r);
    }
    pg_source_free(src);
    PyMem_Free(src);
    return out;
}

static PyObject *py_libpq_found(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(load_libpq());
}

static PyObject *py_text_us(PyObject *self, PyObject *arg)
{
    int kind = 2;
    long long v;
    if (!PyUnicode_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "text_us(str)");
        return NULL;
    }
    if (ts_us(arg, &kind, &v) < 0)
        return NULL;
    return PyLong_FromLongLong(v);
}

static PyMethodDef methods[] = {
    {"group", (PyCFunction)(void (*)(void))py_group, METH_FASTCALL,
     "query._pass in C: (episodes, tallies, bypass ids), or None when a device's rows are "
     "out of time order; ValueError for rows it does not recognise."},
    {"group_pgresult", (PyCFunction)(void (*)(void))py_group_pgresult, METH_FASTCALL,
     "group() straight over a binary PostgreSQL result of the scan's SELECT (psycopg's "
     "PGresult.pgresult_ptr); ValueError when that cannot be done exactly."},
    {"libpq_found", py_libpq_found, METH_NOARGS,
     "True when exactly one libpq is loaded and its result accessors were found."},
    {"text_us", py_text_us, METH_O,
     "Stored time text as microseconds since 2000-01-01 UTC (tests); ValueError otherwise."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastscan", "C grouping pass for dashboard.reports.query.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastscan(void) { return PyModule_Create(&module); }
