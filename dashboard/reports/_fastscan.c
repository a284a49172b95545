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
#include <stdint.h>
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
        PyErr_SetString(PyExc_ValueError, "event id is not an integer");
        return -1;
    }
    *out = PyLong_AsLongLong(o);
    if (*out == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "event id out of range");
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

/* The loop of query._pass. Returns 0, OUT_OF_ORDER, or -1 with an exception set. */
static int run(PyObject *rows, long long gap, PyObject *meeting, PyObject *tal,
               PyObject *open_, Acc *a)
{
    Py_ssize_t n = PyList_GET_SIZE(rows);
    Py_ssize_t width = meeting == Py_None ? 8 : 7;
    int tkind = 0;
    Last lt = {{0}, -1}, le = {{0}, -1};
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != width) {
            PyErr_SetString(PyExc_ValueError, "unexpected row shape");
            return -1;
        }
        PyObject **f = &PyTuple_GET_ITEM(row, 0);
        long long eid, t;
        if (as_ll(f[0], &eid) < 0 || ts_us(f[1], &tkind, &t) < 0)
            return -1;
        PyObject *ka = f[2], *dev = f[3], *mem = f[4], *plat = f[5], *mac = f[6];
        PyObject *mid = width == 8 ? f[7] : meeting;
        long kind = PyLong_CheckExact(ka) ? PyLong_AsLong(ka) : -1;
        if (kind < 0 || kind > 0xFFFF) { /* the query reads kind * 4 + action, both small */
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "event kind and action not a small integer");
            return -1;
        }
        kind >>= 2;

        PyObject *tk[5] = {mid, mem, dev, ka, plat};
        Py_ssize_t tix = is_last(&lt, tk, 5) ? lt.ix : -1;
        if (tix < 0) {
            PyObject *key = PyTuple_Pack(5, mid, mem, dev, ka, plat);
            if (key == NULL)
                return -1;
            PyObject *ix = PyDict_GetItemWithError(tal, key);
            if (ix == NULL) {
                PyObject *no = NULL;
                if (PyErr_Occurred() ||
                    grow((void **)&a->tal, &a->cap_tal, a->n_tal, sizeof(Tal)) < 0 ||
                    (no = PyLong_FromSsize_t(a->n_tal)) == NULL ||
                    PyDict_SetItem(tal, key, no) < 0) {
                    Py_XDECREF(no);
                    Py_DECREF(key);
                    return -1;
                }
                Py_DECREF(no);
                a->tal[a->n_tal] = (Tal){0, eid, eid, t, t, mac};
                tix = a->n_tal++;
            } else {
                tix = PyLong_AsSsize_t(ix);
            }
            Py_DECREF(key);
            set_last(&lt, tk, 5, tix);
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

        int named = PyObject_IsTrue(plat);
        if (named < 0)
            return -1;
        if (named && kind == ATTEMPT) {
            PyObject *ekf[4] = {mid, dev, mac, plat};
            PyObject *ek = NULL;
            Ep *ep = NULL;
            if (is_last(&le, ekf, 4)) {
                ep = &a->ep[le.ix];
            } else {
                ek = PyTuple_Pack(4, mid, dev, mac, plat);
                if (ek == NULL)
                    return -1;
                PyObject *eix = PyDict_GetItemWithError(open_, ek);
                if (eix == NULL && PyErr_Occurred()) {
                    Py_DECREF(ek);
                    return -1;
                }
                if (eix != NULL)
                    ep = &a->ep[PyLong_AsSsize_t(eix)];
            }
            if (ep == NULL || t - ep->last >= gap) {
                if (ep != NULL && t < ep->last) {
                    Py_XDECREF(ek);
                    return OUT_OF_ORDER;
                }
                PyObject *no = NULL;
                if ((ek == NULL && (ek = PyTuple_Pack(4, mid, dev, mac, plat)) == NULL) ||
                    grow((void **)&a->ep, &a->cap_ep, a->n_ep, sizeof(Ep)) < 0 ||
                    (no = PyLong_FromSsize_t(a->n_ep)) == NULL ||
                    PyDict_SetItem(open_, ek, no) < 0) {
                    Py_XDECREF(no);
                    Py_XDECREF(ek);
                    return -1;
                }
                Py_DECREF(no);
                ep = &a->ep[a->n_ep++];
                *ep = (Ep){t, t, 0, eid, dev, mac, mem, mid, plat};
            } else if (t < ep->last) {
                Py_XDECREF(ek);
                return OUT_OF_ORDER;
            }
            Py_XDECREF(ek);
            set_last(&le, ekf, 4, ep - a->ep);
            ep->last = t;
            ep->count++;
            if (ep->mem == Py_None)
                ep->mem = mem;
        } else if (kind == BYPASS) {
            if (grow((void **)&a->byp, &a->cap_byp, a->n_byp, sizeof(long long)) < 0)
                return -1;
            a->byp[a->n_byp++] = eid;
        }
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

static PyObject *py_group(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "group(rows: list, gap_us: int, meeting_id)");
        return NULL;
    }
    long long gap = PyLong_AsLongLong(args[1]);
    if (gap == -1 && PyErr_Occurred())
        return NULL;
    PyObject *tal = PyDict_New(), *open_ = PyDict_New();
    Acc a = {0};
    PyObject *out = NULL;
    if (tal == NULL || open_ == NULL)
        goto done;
    int r = run(args[0], gap, args[2], tal, open_, &a);
    if (r == OUT_OF_ORDER)
        out = Py_NewRef(Py_None);
    else if (r == 0)
        out = results(tal, &a);
done:
    Py_XDECREF(tal);
    Py_XDECREF(open_);
    acc_free(&a);
    return out;
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
    {"text_us", py_text_us, METH_O,
     "Stored time text as microseconds since 2000-01-01 UTC (tests); ValueError otherwise."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastscan", "C grouping pass for dashboard.reports.query.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastscan(void) { return PyModule_Create(&module); }
