/*
 * Native UDP fast path for the DNS gate (issue #4).
 *
 * Why: the Python chain costs ~60 us per query; on a 2-core gateway shared with the load
 * generator and the upstream that caps the gate at a fraction of dnsmasq. This module only
 * *accelerates* the common case. Python stays the authority: it decides every (client, name)
 * once through the ordinary chain and then tells this module the verdict; anything this
 * module does not know, cannot parse, or must not decide goes to Python unchanged.
 *
 * One C thread (no GIL) owns the gate's UDP listening sockets and its own upstream sockets:
 *
 *   recvmmsg(listener) -> client known? -> parse question -> rate bucket -> verdict known?
 *        no  -> slow queue (+ eventfd) -> Python chain answers it as before
 *        NXDOMAIN -> answered here, event record queued for Python
 *        forward  -> random upstream socket + random ID; answer matched on ID + question;
 *                    restricted: A/AAAA into the device's nftables set (libnftables, one
 *                    transaction per batch) *before* the answer leaves; TTLs clamped.
 *
 * Every byte parsed here comes from the network: all reads are bounds-checked, and the
 * parsers mirror monitor/dnswire.py exactly (tests compare them on random and mutated input).
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTENERS 4
#define MAX_UPSTREAM 32
#define BATCH 64
#define PKT_MAX 65536
#define QUESTION_MAX 300
#define NAME_TEXT_MAX 256
#define MAX_POINTERS 32
#define PENDING_SLOTS 16384
#define SLOW_CAP 8192
#define EVENT_CAP (1 << 20)
#define CLIENT_CAP 8192
#define VERDICT_CAP 65536
#define BUCKET_CAP 65536
#define EXPIRY_CAP (1 << 19)
#define EXPIRY_PRUNE 200000
#define MAX_ADDRS 512 /* an + ns + ar <= 512 (dnswire's limit): every address fits */
/* At most this many queries wait on the upstream at once (dnsmasq's dns-forward-max): a
 * forwarder faster than its upstream must not overrun the upstream's socket buffer; the
 * rest wait in our own listening socket until answers come back. */
#define MAX_INFLIGHT 96

#define TYPE_A 1
#define TYPE_CNAME 5
#define TYPE_AAAA 28
#define TYPE_OPT 41

/* verdict actions (Python: monitor/gate/fast.py mirrors these) */
#define V_FORWARD 1  /* unrestricted: forward, answer unchanged */
#define V_ALLOW 2    /* restricted, allowed: forward, allow addresses, clamp TTLs */
#define V_NXDOMAIN 3 /* refused: NXDOMAIN, never upstream */
#define VF_EVENT 0x100    /* record an event (Python builds it from the verdict token) */
#define VF_UNLISTED 0x200 /* count an unlisted refusal (never stored) */
/* client flags */
#define CF_SETS 1 /* the device's MAC is in the nftables restricted set: write allowed sets */

/* ------------------------------------------------------------------------------------ */
/* small helpers                                                                         */

static double now_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_real(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static inline uint16_t rd16(const unsigned char *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void wr32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Cryptographically random 16-bit values from a bulk getrandom buffer (C thread only). */
typedef struct {
    unsigned char buf[4096];
    size_t pos;
} randpool_t;

static uint16_t rand16(randpool_t *r) {
    if (r->pos + 2 > sizeof r->buf) {
        size_t got = 0;
        while (got < sizeof r->buf) {
            ssize_t k = getrandom(r->buf + got, sizeof r->buf - got, 0);
            if (k > 0) got += (size_t)k;
        }
        r->pos = 0;
    }
    uint16_t v = rd16(r->buf + r->pos);
    r->pos += 2;
    return v;
}

/* ------------------------------------------------------------------------------------ */
/* DNS parsing: mirrors monitor/dnswire.py (read_name, parse_query, parse_message)       */

/* Decode a possibly compressed name at off. text (optional, NAME_TEXT_MAX bytes) gets the
 * lower-case dotted form. Returns 0 and *end, or -1 where dnswire raises DnsError and, with
 * text, also where the name has a byte dnswire escapes (those names are Python's). */
static int read_name(const unsigned char *b, size_t n, size_t off, char *text, size_t *tlen,
                     size_t *endp) {
    long end = -1;
    int jumps = 0;
    size_t total = 0, t = 0;
    for (;;) {
        if (off >= n) return -1;
        unsigned ln = b[off];
        if (ln == 0) {
            off++;
            break;
        }
        if ((ln & 0xC0) == 0xC0) {
            if (off + 1 >= n) return -1;
            size_t ptr = ((size_t)(ln & 0x3F) << 8) | b[off + 1];
            if (end < 0) end = (long)(off + 2);
            jumps++;
            if (jumps > MAX_POINTERS || ptr >= n) return -1;
            off = ptr;
            continue;
        }
        if (ln & 0xC0) return -1;
        off++;
        if (off + ln > n) return -1;
        total += ln + 1;
        if (total > 255) return -1;
        if (text) {
            if (t) text[t++] = '.';
            for (unsigned i = 0; i < ln; i++) {
                unsigned char c = b[off + i];
                c = (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
                /* a byte the canonical form escapes (allowlist.names.wire_name): Python
                 * spells the name, so C never keys a verdict on an ambiguous text */
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
                    return -1;
                text[t++] = (char)c;
            }
        }
        off += ln;
    }
    if (text) {
        text[t] = 0; /* t <= 254: total counts every label byte plus one */
        if (tlen) *tlen = t;
    }
    *endp = end >= 0 ? (size_t)end : off;
    return 0;
}

typedef struct {
    char name[NAME_TEXT_MAX];
    size_t name_len;
    uint16_t qid, flags, qtype, qclass;
    size_t qend;
} query_t;

static int parse_query(const unsigned char *b, size_t n, query_t *q) {
    if (n < 17) return -1;
    q->qid = rd16(b);
    q->flags = rd16(b + 2);
    if (q->flags & 0x8000) return -1;
    if ((q->flags >> 11) & 0xF) return -1;
    if (rd16(b + 4) != 1) return -1;
    size_t off;
    if (read_name(b, n, 12, q->name, &q->name_len, &off) < 0) return -1;
    if (off + 4 > n) return -1;
    q->qtype = rd16(b + off);
    q->qclass = rd16(b + off + 2);
    q->qend = off + 4;
    return 0;
}

typedef struct {
    int family; /* 4 or 6 */
    unsigned char addr[16];
    uint32_t ttl;
} ans_addr_t;

typedef struct {
    ans_addr_t addrs[MAX_ADDRS];
    int naddrs;
    int overflow; /* cannot happen (an <= 512 = MAX_ADDRS); kept as a guard */
    size_t clamp_off[512];
    int nclamp;
} answer_t;

/* parse_message + the facts AllowAnswers needs: answer addresses and TTL offsets of
 * answer/authority records above max_ttl (OPT excluded). -1 where dnswire raises. */
static int parse_answer(const unsigned char *b, size_t n, uint32_t max_ttl, answer_t *a) {
    a->naddrs = 0;
    a->nclamp = 0;
    a->overflow = 0;
    if (n < 12) return -1;
    unsigned qd = rd16(b + 4), an = rd16(b + 6), ns = rd16(b + 8), ar = rd16(b + 10);
    if (qd > 16 || an + ns + ar > 512) return -1;
    size_t off = 12;
    for (unsigned i = 0; i < qd; i++) {
        if (read_name(b, n, off, NULL, NULL, &off) < 0) return -1;
        if (off + 4 > n) return -1;
        off += 4;
    }
    unsigned total = an + ns + ar;
    for (unsigned i = 0; i < total; i++) {
        if (read_name(b, n, off, NULL, NULL, &off) < 0) return -1;
        if (off + 10 > n) return -1;
        uint16_t rtype = rd16(b + off);
        uint32_t ttl = rd32(b + off + 4);
        uint16_t rdlen = rd16(b + off + 8);
        size_t ttl_off = off + 4;
        off += 10;
        if (off + rdlen > n) return -1;
        if (rtype == TYPE_CNAME) {
            size_t dummy;
            if (read_name(b, n, off, NULL, NULL, &dummy) < 0) return -1;
        }
        if (i < an + ns && ttl > max_ttl && rtype != TYPE_OPT) a->clamp_off[a->nclamp++] = ttl_off;
        if (i < an && ((rtype == TYPE_A && rdlen == 4) || (rtype == TYPE_AAAA && rdlen == 16))) {
            if (a->naddrs >= MAX_ADDRS) {
                a->overflow = 1;
            } else {
                ans_addr_t *x = &a->addrs[a->naddrs++];
                x->family = rtype == TYPE_A ? 4 : 6;
                memset(x->addr, 0, 16);
                memcpy(x->addr, b + off, rdlen);
                x->ttl = ttl;
            }
        }
        off += rdlen;
    }
    return 0;
}

/* dnswire.make_error: header (+ question when qlen > 0). out must hold 12 + qlen. */
static size_t make_error(unsigned char *out, uint16_t qid, uint16_t flags, int rcode,
                         const unsigned char *question, size_t qlen, int with_question) {
    uint16_t f = (uint16_t)(0x8000 | (flags & 0x7800) | (flags & 0x0100) | 0x0080 | (rcode & 0xF));
    out[0] = (unsigned char)(qid >> 8);
    out[1] = (unsigned char)qid;
    out[2] = (unsigned char)(f >> 8);
    out[3] = (unsigned char)f;
    memset(out + 4, 0, 8);
    if (!with_question) return 12;
    out[5] = 1;
    memcpy(out + 12, question, qlen);
    return 12 + qlen;
}

/* str(ipaddress.ip_address(...)) on CPython 3.11: dotted quad, or RFC 5952 hextets with the
 * first longest run (>1) of zero hextets compressed. out: >= 46 bytes. */
static void format_addr(int family, const unsigned char *a, char *out) {
    if (family == 4) {
        snprintf(out, 16, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
        return;
    }
    unsigned h[8];
    for (int i = 0; i < 8; i++) h[i] = rd16(a + 2 * i);
    int best = -1, bestlen = 0;
    for (int i = 0; i < 8;) {
        if (h[i] == 0) {
            int j = i;
            while (j < 8 && h[j] == 0) j++;
            if (j - i > bestlen) {
                best = i;
                bestlen = j - i;
            }
            i = j;
        } else {
            i++;
        }
    }
    if (bestlen < 2) best = -1;
    char *p = out;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            *p++ = ':';
            if (i == 0) *p++ = ':';
            i += bestlen - 1;
            continue;
        }
        p += sprintf(p, "%x", h[i]);
        if (i < 7) *p++ = ':';
    }
    *p = 0;
}

/* ------------------------------------------------------------------------------------ */
/* tables (open addressing, linear probing, cleared by bumping a generation)             */

typedef struct {
    uint32_t gen;
    unsigned char fam;
    unsigned char addr[16];
    uint32_t cls;
    uint32_t flags;
    char mac[18];
    double presence_due; /* wall clock: from then on, the next query goes to Python */
} client_t;

typedef struct {
    uint32_t gen;
    uint32_t cls;
    uint32_t action; /* V_* | VF_* */
    uint32_t token;
    uint16_t len;
    char name[NAME_TEXT_MAX];
} verdict_t;

typedef struct {
    uint32_t gen;
    unsigned char fam;
    unsigned char addr[16];
    double tokens, last;
} bucket_t;

typedef struct {
    uint32_t gen;
    unsigned char mac[6];
    unsigned char fam;
    unsigned char addr[16];
    double expiry; /* monotonic */
} expiry_t;

/* ------------------------------------------------------------------------------------ */
/* libnftables (dlopen: the module imports without it; nftables off → no writes)         */

typedef void *(*nft_ctx_new_t)(uint32_t);
typedef int (*nft_ctx_buffer_t)(void *);
typedef int (*nft_run_t)(void *, const char *);
typedef void (*nft_ctx_free_t)(void *);

typedef struct {
    void *lib;
    void *ctx;
    nft_run_t run;
    nft_ctx_free_t ctx_free;
} nftlib_t;

static int nft_open(nftlib_t *n) {
    n->lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!n->lib) return -1;
    nft_ctx_new_t ctx_new = (nft_ctx_new_t)dlsym(n->lib, "nft_ctx_new");
    nft_ctx_buffer_t buf_out = (nft_ctx_buffer_t)dlsym(n->lib, "nft_ctx_buffer_output");
    nft_ctx_buffer_t buf_err = (nft_ctx_buffer_t)dlsym(n->lib, "nft_ctx_buffer_error");
    n->run = (nft_run_t)dlsym(n->lib, "nft_run_cmd_from_buffer");
    n->ctx_free = (nft_ctx_free_t)dlsym(n->lib, "nft_ctx_free");
    if (!ctx_new || !buf_out || !buf_err || !n->run || !n->ctx_free) return -1;
    n->ctx = ctx_new(0);
    if (!n->ctx) return -1;
    buf_out(n->ctx);
    buf_err(n->ctx);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* the gate object                                                                       */

typedef struct {
    int used;
    uint16_t orig_id, flags;
    unsigned char question[QUESTION_MAX];
    uint16_t qlen;
    struct sockaddr_storage client;
    socklen_t clen;
    int listener;
    uint32_t action, token, cflags;
    char mac[18];
    double deadline;
    double received;
    uint16_t sock, upid;
} pending_t;

typedef struct {
    uint32_t token;
    double ts;
} event_t;

typedef struct {
    unsigned char *data;
    size_t len;
    struct sockaddr_storage addr;
    socklen_t alen;
    int listener;
    double ts;
} slow_t;

/* counters: order matters, see COUNTER_NAMES */
enum {
    C_QUERIES, C_ANSWERED, C_REFUSED, C_FORWARDED, C_RATE_LIMITED, C_UPSTREAM_TIMEOUTS,
    C_SET_UPDATES, C_EVENTS, C_UNLISTED_REFUSED, C_FAST, C_SLOW, C_SLOW_DROPPED, C_NFT_CALLS,
    C_NFT_ERRORS, C_UPSTREAM_ERRORS, C_UNMATCHED, C_EVENTS_LOST, C_WAKES, C_RX_CALLS,
    C_NCOUNTERS
};
static const char *COUNTER_NAMES[C_NCOUNTERS] = {
    "queries", "answered", "refused", "forwarded", "rate_limited", "upstream_timeouts",
    "set_updates", "events", "unlisted_refused", "fast", "slow", "slow_dropped", "nft_calls",
    "nft_errors", "upstream_errors", "unmatched", "events_lost", "wakes", "rx_calls"};

typedef struct {
    PyObject_HEAD
    /* configuration (immutable once started) */
    int listen_fd[MAX_LISTENERS];
    int nlisten;
    struct sockaddr_storage upstream;
    socklen_t upstream_len;
    int nsocks;
    double timeout;
    int rotate_after;
    uint32_t max_ttl;
    uint32_t margin;
    double rate_qps, rate_burst;
    char table[64]; /* nftables table; "" → no set writes (recorded when record_allow) */
    int record_allow;

    /* thread-owned */
    int up_fd[MAX_UPSTREAM], old_fd[MAX_UPSTREAM];
    double old_close_at[MAX_UPSTREAM];
    int sent[MAX_UPSTREAM];
    uint16_t *pmap; /* [sock][id] → slot+1 */
    pending_t *pend;
    int free_head;
    int *free_next;
    int inflight;
    int paused; /* listeners out of epoll while MAX_INFLIGHT queries are upstream */
    randpool_t rnd;
    int epfd;
    int stop_fd;
    pthread_t thread;
    int running;

    /* shared, under lk */
    pthread_mutex_t lk;
    uint32_t cgen, vgen, bgen;
    client_t *clients;
    int nclients;
    verdict_t *verdicts;
    int nverdicts;
    uint64_t vfull; /* times the verdict table filled up and was emptied */
    bucket_t *buckets;
    int nbuckets;
    slow_t *slow;
    size_t slow_head, slow_len;
    event_t *events;
    size_t ev_head, ev_len;
    int wake_fd;
    int wake_pending;
    double last_wake;
    uint64_t counters[C_NCOUNTERS];

    /* set writer, under nlk */
    pthread_mutex_t nlk;
    nftlib_t nft;
    int nft_ok;
    uint64_t nft_calls, nft_errors;
    expiry_t *expiry;
    uint32_t egen;
    int nexpiry;
    PyObject *allow_log; /* list, only with record_allow (touched with the GIL only) */
    char *allow_rec;     /* thread-side record buffer for record_allow, under nlk */
    size_t allow_rec_len, allow_rec_cap;
} Gate;

/* -- table operations (caller holds lk) ----------------------------------------------- */

static size_t addr_key(int fam, const unsigned char *a) {
    return (size_t)fnv(a, 16, 1469598103934665603ULL ^ (uint64_t)fam);
}

static int sockaddr_key(const struct sockaddr_storage *ss, unsigned char *fam,
                        unsigned char *addr, uint16_t *port) {
    memset(addr, 0, 16);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        *fam = 4;
        memcpy(addr, &s->sin_addr, 4);
        if (port) *port = ntohs(s->sin_port);
        return 0;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        *fam = 6;
        memcpy(addr, &s->sin6_addr, 16);
        if (port) *port = ntohs(s->sin6_port);
        return 0;
    }
    return -1;
}

static client_t *client_find(Gate *g, unsigned char fam, const unsigned char *addr, int create) {
    size_t i = addr_key(fam, addr) & (CLIENT_CAP - 1);
    for (int probe = 0; probe < CLIENT_CAP; probe++, i = (i + 1) & (CLIENT_CAP - 1)) {
        client_t *c = &g->clients[i];
        if (c->gen != g->cgen) {
            if (!create) return NULL;
            if (g->nclients >= CLIENT_CAP / 2) return NULL;
            memset(c, 0, sizeof *c);
            c->gen = g->cgen;
            c->fam = fam;
            memcpy(c->addr, addr, 16);
            g->nclients++;
            return c;
        }
        if (c->fam == fam && memcmp(c->addr, addr, 16) == 0) return c;
    }
    return NULL;
}

static verdict_t *verdict_find(Gate *g, uint32_t cls, const char *name, size_t len, int create) {
    size_t i = (size_t)fnv(name, len, 1469598103934665603ULL ^ cls) & (VERDICT_CAP - 1);
    for (int probe = 0; probe < VERDICT_CAP; probe++, i = (i + 1) & (VERDICT_CAP - 1)) {
        verdict_t *v = &g->verdicts[i];
        if (v->gen != g->vgen) {
            if (!create) return NULL;
            if (g->nverdicts >= VERDICT_CAP / 2) {
                g->vgen++; /* full: forget all; Python refills what is still asked */
                g->nverdicts = 0;
                g->vfull++;
                return verdict_find(g, cls, name, len, create);
            }
            v->gen = g->vgen;
            v->cls = cls;
            v->len = (uint16_t)len;
            memcpy(v->name, name, len);
            v->name[len] = 0;
            g->nverdicts++;
            return v;
        }
        if (v->cls == cls && v->len == len && memcmp(v->name, name, len) == 0) return v;
    }
    return NULL;
}

/* RateLimit.before: one token bucket per client address, shared with the Python chain. */
static int bucket_take(Gate *g, unsigned char fam, const unsigned char *addr) {
    double now = now_mono();
    size_t i = addr_key(fam, addr) & (BUCKET_CAP - 1);
    bucket_t *b = NULL;
    for (int probe = 0; probe < BUCKET_CAP; probe++, i = (i + 1) & (BUCKET_CAP - 1)) {
        bucket_t *x = &g->buckets[i];
        if (x->gen != g->bgen) {
            if (g->nbuckets >= BUCKET_CAP / 2) {
                g->bgen++;
                g->nbuckets = 0;
                return bucket_take(g, fam, addr);
            }
            x->gen = g->bgen;
            x->fam = fam;
            memcpy(x->addr, addr, 16);
            x->tokens = g->rate_burst;
            x->last = now;
            g->nbuckets++;
            b = x;
            break;
        }
        if (x->fam == fam && memcmp(x->addr, addr, 16) == 0) {
            b = x;
            break;
        }
    }
    if (!b) return 1;
    double tokens = b->tokens + (now - b->last) * g->rate_qps;
    if (tokens > g->rate_burst) tokens = g->rate_burst;
    b->last = now;
    if (tokens < 1.0) {
        b->tokens = tokens;
        return 0;
    }
    b->tokens = tokens - 1.0;
    return 1;
}

static void wake_python(Gate *g) {
    if (g->wake_pending) return;
    g->wake_pending = 1;
    g->last_wake = now_mono();
    uint64_t one = 1;
    ssize_t r = write(g->wake_fd, &one, sizeof one);
    (void)r;
}

/* -- set writer (caller holds nlk) ---------------------------------------------------- */

static int parse_mac(const char *s, unsigned char *mac) {
    if (strlen(s) != 17) return -1;
    for (int i = 0; i < 6; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[3 * i + k];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
            else return -1;
        }
        if (i < 5 && s[3 * i + 2] != ':') return -1;
        mac[i] = (unsigned char)v;
    }
    return 0;
}

static expiry_t *expiry_find(Gate *g, const unsigned char *mac, int fam,
                             const unsigned char *addr, int create) {
    uint64_t h = fnv(mac, 6, 1469598103934665603ULL ^ (uint64_t)fam);
    size_t i = (size_t)fnv(addr, 16, h) & (EXPIRY_CAP - 1);
    for (int probe = 0; probe < EXPIRY_CAP; probe++, i = (i + 1) & (EXPIRY_CAP - 1)) {
        expiry_t *e = &g->expiry[i];
        if (e->gen != g->egen) {
            if (!create) return NULL;
            e->gen = g->egen;
            memcpy(e->mac, mac, 6);
            e->fam = (unsigned char)fam;
            memcpy(e->addr, addr, 16);
            e->expiry = 0;
            g->nexpiry++;
            return e;
        }
        if (e->fam == fam && memcmp(e->mac, mac, 6) == 0 && memcmp(e->addr, addr, 16) == 0)
            return e;
    }
    return NULL;
}

/* Enforcer.allow's prune: keep only unexpired entries (rehash into a fresh generation). */
static void expiry_prune(Gate *g, double now) {
    expiry_t *old = malloc(sizeof(expiry_t) * EXPIRY_CAP);
    if (!old) {
        g->egen++;
        g->nexpiry = 0;
        return;
    }
    memcpy(old, g->expiry, sizeof(expiry_t) * EXPIRY_CAP);
    uint32_t og = g->egen;
    g->egen++;
    g->nexpiry = 0;
    for (size_t i = 0; i < EXPIRY_CAP; i++) {
        if (old[i].gen == og && old[i].expiry > now) {
            expiry_t *e = expiry_find(g, old[i].mac, old[i].fam, old[i].addr, 1);
            if (e) e->expiry = old[i].expiry;
        }
    }
    free(old);
}

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} sbuf_t;

static void sb_add(sbuf_t *s, const char *txt) {
    size_t k = strlen(txt);
    if (s->oom) return;
    if (s->len + k + 1 > s->cap) {
        size_t nc = (s->cap ? s->cap * 2 : 4096);
        while (nc < s->len + k + 1) nc *= 2;
        char *nb = realloc(s->buf, nc);
        if (!nb) {
            s->oom = 1;
            return;
        }
        s->buf = nb;
        s->cap = nc;
    }
    memcpy(s->buf + s->len, txt, k + 1);
    s->len += k;
}

typedef struct {
    const char *mac;   /* "aa:bb:..." */
    int fam;
    unsigned char addr[16];
    uint32_t timeout;
    int refresh;
} elem_t;

/* One nftables transaction for a batch of elements (Enforcer.allow semantics: refreshed
 * elements are deleted first; if that fails because one just expired, add without). */
static void nft_apply(Gate *g, elem_t *el, int n) {
    if (n == 0) return;
    if (g->record_allow) {
        /* test mode: "mac addr timeout\n" lines, handed to Python by take_allowed() */
        for (int i = 0; i < n; i++) {
            char a[64], line[128];
            format_addr(el[i].fam, el[i].addr, a);
            int k = snprintf(line, sizeof line, "%s %s %u\n", el[i].mac, a, el[i].timeout);
            if (k <= 0) continue;
            if (g->allow_rec_len + (size_t)k + 1 > g->allow_rec_cap) {
                size_t nc = g->allow_rec_cap ? g->allow_rec_cap * 2 : 4096;
                char *nb = realloc(g->allow_rec, nc);
                if (!nb) return;
                g->allow_rec = nb;
                g->allow_rec_cap = nc;
            }
            memcpy(g->allow_rec + g->allow_rec_len, line, (size_t)k);
            g->allow_rec_len += (size_t)k;
        }
        g->nft_calls++;
        return;
    }
    if (!g->nft_ok || !g->table[0]) return;
    for (int pass = 0; pass < 2; pass++) {
        sbuf_t s = {0};
        int any_refresh = 0;
        if (pass == 0) {
            for (int fam = 4; fam <= 6; fam += 2) {
                int first = 1;
                for (int i = 0; i < n; i++) {
                    if (!el[i].refresh || el[i].fam != fam) continue;
                    char a[64], item[128];
                    format_addr(fam, el[i].addr, a);
                    if (first) {
                        sb_add(&s, "delete element inet ");
                        sb_add(&s, g->table);
                        sb_add(&s, fam == 4 ? " allowed4 { " : " allowed6 { ");
                    }
                    snprintf(item, sizeof item, "%s%s . %s", first ? "" : ", ", el[i].mac, a);
                    sb_add(&s, item);
                    first = 0;
                    any_refresh = 1;
                }
                if (!first) sb_add(&s, " }\n");
            }
        }
        for (int fam = 4; fam <= 6; fam += 2) {
            int first = 1;
            for (int i = 0; i < n; i++) {
                if (el[i].fam != fam) continue;
                char a[64], item[160];
                format_addr(fam, el[i].addr, a);
                if (first) {
                    sb_add(&s, "add element inet ");
                    sb_add(&s, g->table);
                    sb_add(&s, fam == 4 ? " allowed4 { " : " allowed6 { ");
                }
                snprintf(item, sizeof item, "%s%s . %s timeout %us", first ? "" : ", ",
                         el[i].mac, a, el[i].timeout);
                sb_add(&s, item);
                first = 0;
            }
            if (!first) sb_add(&s, " }\n");
        }
        int rc = -1;
        if (!s.oom && s.buf) rc = g->nft.run(g->nft.ctx, s.buf);
        free(s.buf);
        if (pass == 0) g->nft_calls++;
        if (rc == 0) return;
        g->nft_errors++;
        if (!any_refresh) break;
    }
    /* not written after all: forget them, so the next answer naming them tries again */
    for (int i = 0; i < n; i++) {
        unsigned char mac[6];
        if (parse_mac(el[i].mac, mac) < 0) continue;
        expiry_t *e = expiry_find(g, mac, el[i].fam, el[i].addr, 0);
        if (e) e->expiry = 0;
    }
}

/* Decide which of (mac, addr) need writing (Enforcer.allow rules); appends to el. */
static int allow_select(Gate *g, const char *macs, const unsigned char *mac, int fam,
                        const unsigned char *addr, uint32_t timeout, double now, elem_t *el,
                        int n, int cap) {
    /* (an address twice in one batch is skipped below: its expiry was just set) */
    if (g->nexpiry > EXPIRY_PRUNE) expiry_prune(g, now);
    expiry_t *e = expiry_find(g, mac, fam, addr, 1);
    double exp = e ? e->expiry : 0.0;
    if (e && exp != 0.0 && exp - now > (double)timeout / 2) return n; /* comfortably allowed */
    if (n >= cap) return n;
    elem_t *x = &el[n];
    x->mac = macs;
    x->fam = fam;
    memcpy(x->addr, addr, 16);
    x->timeout = timeout;
    x->refresh = e && exp != 0.0 && exp - now > 1.0;
    if (e) e->expiry = now + timeout;
    return n + 1;
}

/* ------------------------------------------------------------------------------------ */
/* the C thread                                                                          */

typedef struct {
    struct mmsghdr hdr[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage addr[BATCH];
    unsigned char *buf; /* BATCH * PKT_MAX */
} rxbatch_t;

typedef struct {
    struct mmsghdr hdr[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage addr[BATCH];
    unsigned char *buf; /* BATCH * PKT_MAX */
    int n;
} txbatch_t;

static void tx_flush(int fd, txbatch_t *t) {
    int off = 0;
    while (off < t->n) {
        int k = sendmmsg(fd, t->hdr + off, (unsigned)(t->n - off), MSG_DONTWAIT);
        if (k <= 0) {
            off++; /* this one failed (buffer full, unreachable): skip it, as sendto would */
            continue;
        }
        off += k;
    }
    t->n = 0;
}

static unsigned char *tx_slot(txbatch_t *t, const struct sockaddr_storage *to, socklen_t tolen) {
    int i = t->n;
    if (to) {
        memcpy(&t->addr[i], to, tolen);
        t->hdr[i].msg_hdr.msg_name = &t->addr[i];
        t->hdr[i].msg_hdr.msg_namelen = tolen;
    } else {
        t->hdr[i].msg_hdr.msg_name = NULL;
        t->hdr[i].msg_hdr.msg_namelen = 0;
    }
    t->hdr[i].msg_hdr.msg_iov = &t->iov[i];
    t->hdr[i].msg_hdr.msg_iovlen = 1;
    t->hdr[i].msg_hdr.msg_control = NULL;
    t->hdr[i].msg_hdr.msg_controllen = 0;
    t->hdr[i].msg_hdr.msg_flags = 0;
    t->iov[i].iov_base = t->buf + (size_t)i * PKT_MAX;
    return t->buf + (size_t)i * PKT_MAX;
}

static void tx_commit(txbatch_t *t, size_t len) {
    t->iov[t->n].iov_len = len;
    t->n++;
}

static int open_upstream(Gate *g) {
    int fd = socket(g->upstream.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rb = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
    /* connect: the kernel picks a random ephemeral source port and drops other senders */
    if (connect(fd, (struct sockaddr *)&g->upstream, g->upstream_len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

#define EP_LISTEN 0x10000
#define EP_UP 0x20000
#define EP_OLD 0x40000
#define EP_STOP 0x80000

static void epoll_add(Gate *g, int fd, uint32_t tag) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
    epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Flow control towards the upstream: stop reading clients while MAX_INFLIGHT are out. */
static void listeners_flow(Gate *g) {
    int want = g->inflight >= MAX_INFLIGHT;
    if (want == g->paused) return;
    g->paused = want;
    for (int i = 0; i < g->nlisten; i++) {
        struct epoll_event ev = {.events = want ? 0 : EPOLLIN, .data.u32 = EP_LISTEN | (uint32_t)i};
        epoll_ctl(g->epfd, EPOLL_CTL_MOD, g->listen_fd[i], &ev);
    }
}

static void pending_free(Gate *g, int slot) {
    pending_t *p = &g->pend[slot];
    g->pmap[(size_t)p->sock * 65536 + p->upid] = 0;
    p->used = 0;
    g->free_next[slot] = g->free_head;
    g->free_head = slot;
    g->inflight--;
}

typedef struct {
    txbatch_t *client_tx[MAX_LISTENERS];
    txbatch_t *up_tx[MAX_UPSTREAM];
    event_t evs[BATCH];
    int nev;
    uint64_t c[C_NCOUNTERS];
} work_t;

static void publish(Gate *g, work_t *w) {
    int any = 0;
    for (int i = 0; i < C_NCOUNTERS; i++) any |= w->c[i] != 0;
    if (!any && !w->nev) return;
    pthread_mutex_lock(&g->lk);
    for (int i = 0; i < C_NCOUNTERS; i++) {
        g->counters[i] += w->c[i];
        w->c[i] = 0;
    }
    for (int i = 0; i < w->nev; i++) {
        /* room was checked when the query was taken (see handle_query); never overwrite */
        if (g->ev_len >= EVENT_CAP) {
            g->counters[C_EVENTS_LOST]++;
            continue;
        }
        g->events[(g->ev_head + g->ev_len) % EVENT_CAP] = w->evs[i];
        g->ev_len++;
    }
    if (w->nev && (g->ev_len >= 512 || now_mono() - g->last_wake > 0.02)) wake_python(g);
    w->nev = 0;
    pthread_mutex_unlock(&g->lk);
}

static void flush_all(Gate *g, work_t *w) {
    for (int i = 0; i < g->nsocks; i++)
        if (w->up_tx[i]->n) tx_flush(g->up_fd[i], w->up_tx[i]);
    for (int i = 0; i < g->nlisten; i++)
        if (w->client_tx[i]->n) tx_flush(g->listen_fd[i], w->client_tx[i]);
}

/* Queue a packet for the Python chain (caller holds lk). 0 on success. */
static int to_slow(Gate *g, int li, const unsigned char *data, size_t len,
                   const struct sockaddr_storage *from, socklen_t flen, double ts) {
    if (g->slow_len >= SLOW_CAP) {
        g->counters[C_SLOW_DROPPED]++;
        return -1;
    }
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy) {
        g->counters[C_SLOW_DROPPED]++;
        return -1;
    }
    memcpy(copy, data, len);
    slow_t *s = &g->slow[(g->slow_head + g->slow_len) % SLOW_CAP];
    s->data = copy;
    s->len = len;
    memcpy(&s->addr, from, flen);
    s->alen = flen;
    s->listener = li;
    s->ts = ts;
    g->slow_len++;
    g->counters[C_SLOW]++;
    wake_python(g);
    return 0;
}

/* One client datagram. Caller holds lk (tables, slow queue); sends are only queued. */
static void handle_query(Gate *g, work_t *w, int li, const unsigned char *data, size_t len,
                         const struct sockaddr_storage *from, socklen_t flen, double ts) {
    unsigned char fam, addr[16];
    uint16_t port;
    query_t q;
    if (sockaddr_key(from, &fam, addr, &port) < 0) return;
    client_t *c = client_find(g, fam, addr, 0);
    if (!c || ts >= c->presence_due || parse_query(data, len, &q) < 0 ||
        q.qend - 12 > QUESTION_MAX) {
        to_slow(g, li, data, len, from, flen, ts);
        return;
    }
    verdict_t *v = verdict_find(g, c->cls, q.name, q.name_len, 0);
    if (!v || ((v->action & VF_EVENT) &&
               g->ev_len + (size_t)w->nev + PENDING_SLOTS + 2 * BATCH >= EVENT_CAP)) {
        /* unknown verdict, or no room left to record the event: Python does it all */
        to_slow(g, li, data, len, from, flen, ts);
        return;
    }
    uint32_t act = v->action & 0xFF;
    int sidx = 0, found = 0;
    uint16_t upid = 0;
    if (act != V_NXDOMAIN) {
        /* a random socket and a random unused ID, before the query takes a token */
        sidx = rand16(&g->rnd) % g->nsocks;
        for (int k = 0; k < 8; k++) {
            upid = rand16(&g->rnd);
            if (!g->pmap[(size_t)sidx * 65536 + upid]) {
                found = 1;
                break;
            }
        }
        if (!found || g->free_head < 0) {
            to_slow(g, li, data, len, from, flen, ts); /* saturated: the Python pool copes */
            return;
        }
    }
    w->c[C_QUERIES]++;
    w->c[C_FAST]++;
    if (!bucket_take(g, fam, addr)) {
        w->c[C_RATE_LIMITED]++;
        return;
    }
    if (act == V_NXDOMAIN) {
        w->c[C_REFUSED]++;
        txbatch_t *t = w->client_tx[li];
        if (t->n >= BATCH) tx_flush(g->listen_fd[li], t);
        unsigned char *out = tx_slot(t, from, flen);
        size_t n = make_error(out, q.qid, q.flags, 3, data + 12, q.qend - 12, 1);
        tx_commit(t, n);
        w->c[C_ANSWERED]++;
        if (v->action & VF_EVENT) {
            w->c[C_EVENTS]++;
            w->evs[w->nev].token = v->token;
            w->evs[w->nev].ts = ts;
            w->nev++;
            if (w->nev >= BATCH) {
                /* keep the order: events leave before more are taken (we hold lk) */
                for (int i = 0; i < w->nev; i++) {
                    g->events[(g->ev_head + g->ev_len) % EVENT_CAP] = w->evs[i];
                    g->ev_len++;
                }
                w->nev = 0;
                if (g->ev_len >= 512) wake_python(g);
            }
        } else if (v->action & VF_UNLISTED) {
            w->c[C_UNLISTED_REFUSED]++;
        }
        return;
    }
    /* forward upstream */
    int slot = g->free_head;
    g->free_head = g->free_next[slot];
    g->inflight++;
    pending_t *p = &g->pend[slot];
    p->used = 1;
    p->orig_id = q.qid;
    p->flags = q.flags;
    p->qlen = (uint16_t)(q.qend - 12);
    memcpy(p->question, data + 12, p->qlen);
    memcpy(&p->client, from, flen);
    p->clen = flen;
    p->listener = li;
    p->action = v->action;
    p->token = v->token;
    p->cflags = c->flags;
    memcpy(p->mac, c->mac, sizeof p->mac);
    p->deadline = now_mono() + g->timeout;
    p->received = ts;
    p->sock = (uint16_t)sidx;
    p->upid = upid;
    g->pmap[(size_t)sidx * 65536 + upid] = (uint16_t)(slot + 1);
    w->c[C_FORWARDED]++;
    txbatch_t *t = w->up_tx[sidx];
    if (t->n >= BATCH) tx_flush(g->up_fd[sidx], t);
    unsigned char *out = tx_slot(t, NULL, 0);
    memcpy(out, data, len);
    out[0] = (unsigned char)(upid >> 8);
    out[1] = (unsigned char)upid;
    tx_commit(t, len);
    if (++g->sent[sidx] >= g->rotate_after) {
        /* a fresh source port from time to time; the old socket drains for `timeout` */
        int nfd = open_upstream(g);
        if (nfd >= 0) {
            if (t->n) tx_flush(g->up_fd[sidx], t);
            if (g->old_fd[sidx] >= 0) close(g->old_fd[sidx]);
            g->old_fd[sidx] = g->up_fd[sidx];
            g->old_close_at[sidx] = now_mono() + g->timeout + 0.5;
            epoll_ctl(g->epfd, EPOLL_CTL_DEL, g->old_fd[sidx], NULL);
            epoll_add(g, g->old_fd[sidx], EP_OLD | (uint32_t)sidx);
            g->up_fd[sidx] = nfd;
            epoll_add(g, nfd, EP_UP | (uint32_t)sidx);
        }
        g->sent[sidx] = 0;
    }
}

static void finish_flags(Gate *g, work_t *w, const pending_t *p);

typedef struct {
    int slot;
    unsigned char *data;
    size_t len;
    int servfail_hdr; /* AllowAnswers could not parse the answer: SERVFAIL, header only */
} done_t;

/* Upstream answers for socket idx (one recvmmsg batch): match, allow, clamp, reply. */
static void handle_answers(Gate *g, work_t *w, int sidx, rxbatch_t *rx, int n, elem_t *el,
                           answer_t *ans) {
    done_t done[BATCH];
    int nd = 0, ne = 0;
    double now = now_mono();
    pthread_mutex_lock(&g->nlk);
    for (int i = 0; i < n; i++) {
        unsigned char *d = rx->buf + (size_t)i * PKT_MAX;
        size_t len = rx->hdr[i].msg_len;
        if (len < 12 || (rx->hdr[i].msg_hdr.msg_flags & MSG_TRUNC)) {
            w->c[C_UNMATCHED]++;
            continue;
        }
        uint16_t id = rd16(d);
        int slot = (int)g->pmap[(size_t)sidx * 65536 + id] - 1;
        if (slot < 0) {
            w->c[C_UNMATCHED]++;
            continue;
        }
        pending_t *p = &g->pend[slot];
        if (len < 12 + (size_t)p->qlen || memcmp(d + 12, p->question, p->qlen) != 0) {
            w->c[C_UNMATCHED]++; /* unsolicited or spoofed */
            continue;
        }
        d[0] = (unsigned char)(p->orig_id >> 8);
        d[1] = (unsigned char)p->orig_id;
        done[nd].slot = slot;
        done[nd].data = d;
        done[nd].len = len;
        done[nd].servfail_hdr = 0;
        if ((p->action & 0xFF) == V_ALLOW) {
            if (parse_answer(d, len, g->max_ttl, ans) < 0) {
                done[nd].servfail_hdr = 1;
            } else {
                if (ans->naddrs) {
                    uint32_t mx = 0;
                    for (int k = 0; k < ans->naddrs; k++)
                        if (ans->addrs[k].ttl > mx) mx = ans->addrs[k].ttl;
                    uint32_t timeout = (mx < g->max_ttl ? mx : g->max_ttl) + g->margin;
                    if (p->cflags & CF_SETS) {
                        unsigned char mac[6];
                        if (parse_mac(p->mac, mac) == 0) {
                            int before = ne;
                            for (int k = 0; k < ans->naddrs; k++)
                                ne = allow_select(g, p->mac, mac, ans->addrs[k].family,
                                                  ans->addrs[k].addr, timeout, now, el, ne,
                                                  BATCH * MAX_ADDRS);
                            w->c[C_SET_UPDATES] += (uint64_t)(ne - before);
                        }
                    }
                }
                for (int k = 0; k < ans->nclamp; k++) wr32(d + ans->clamp_off[k], g->max_ttl);
            }
        }
        nd++;
    }
    /* addresses reach nftables before any answer that names them leaves */
    nft_apply(g, el, ne);
    pthread_mutex_unlock(&g->nlk);
    for (int i = 0; i < nd; i++) {
        pending_t *p = &g->pend[done[i].slot];
        txbatch_t *t = w->client_tx[p->listener];
        if (t->n >= BATCH) tx_flush(g->listen_fd[p->listener], t);
        unsigned char *out = tx_slot(t, &p->client, p->clen);
        size_t olen;
        if (done[i].servfail_hdr) {
            olen = make_error(out, p->orig_id, p->flags, 2, NULL, 0, 0);
        } else {
            memcpy(out, done[i].data, done[i].len);
            olen = done[i].len;
        }
        tx_commit(t, olen);
        w->c[C_ANSWERED]++;
        finish_flags(g, w, p);
        pending_free(g, done[i].slot);
    }
}

/* Record.after for a forwarded query (the refused case is handled where it is answered). */
static void finish_flags(Gate *g, work_t *w, const pending_t *p) {
    if (p->action & VF_EVENT) {
        w->c[C_EVENTS]++;
        if (w->nev >= BATCH) publish(g, w);
        w->evs[w->nev].token = p->token;
        w->evs[w->nev].ts = p->received;
        w->nev++;
    } else if (p->action & VF_UNLISTED) {
        w->c[C_UNLISTED_REFUSED]++;
    }
}

static void sweep(Gate *g, work_t *w) {
    double now = now_mono();
    for (int s = 0; s < PENDING_SLOTS; s++) {
        pending_t *p = &g->pend[s];
        if (!p->used || p->deadline >= now) continue;
        txbatch_t *t = w->client_tx[p->listener];
        if (t->n >= BATCH) tx_flush(g->listen_fd[p->listener], t);
        unsigned char *out = tx_slot(t, &p->client, p->clen);
        size_t n = make_error(out, p->orig_id, p->flags, 2, p->question, p->qlen, 1);
        tx_commit(t, n);
        w->c[C_UPSTREAM_TIMEOUTS]++;
        w->c[C_ANSWERED]++;
        finish_flags(g, w, p);
        pending_free(g, s);
    }
    for (int i = 0; i < g->nsocks; i++) {
        if (g->old_fd[i] >= 0 && now >= g->old_close_at[i]) {
            close(g->old_fd[i]);
            g->old_fd[i] = -1;
        }
    }
}

static void *thread_main(void *arg) {
    Gate *g = arg;
    rxbatch_t *rx = calloc(1, sizeof *rx);
    work_t *w = calloc(1, sizeof *w);
    elem_t *el = malloc(sizeof(elem_t) * BATCH * MAX_ADDRS);
    answer_t *ans = malloc(sizeof *ans);
    int ok = rx && w && el && ans;
    if (ok) ok = (rx->buf = malloc((size_t)BATCH * PKT_MAX)) != NULL;
    for (int i = 0; ok && i < g->nlisten; i++) {
        w->client_tx[i] = calloc(1, sizeof(txbatch_t));
        ok = w->client_tx[i] && (w->client_tx[i]->buf = malloc((size_t)BATCH * PKT_MAX));
    }
    for (int i = 0; ok && i < g->nsocks; i++) {
        w->up_tx[i] = calloc(1, sizeof(txbatch_t));
        ok = w->up_tx[i] && (w->up_tx[i]->buf = malloc((size_t)BATCH * PKT_MAX));
    }
    if (!ok) {
        fprintf(stderr, "_fastgate: out of memory; fast path thread not started\n");
        return NULL;
    }
    for (int i = 0; i < BATCH; i++) {
        rx->iov[i].iov_base = rx->buf + (size_t)i * PKT_MAX;
        rx->iov[i].iov_len = PKT_MAX;
        rx->hdr[i].msg_hdr.msg_iov = &rx->iov[i];
        rx->hdr[i].msg_hdr.msg_iovlen = 1;
        rx->hdr[i].msg_hdr.msg_name = &rx->addr[i];
    }
    pthread_setname_np(pthread_self(), "cg-fastgate");
    /* Answers first: the event writer's batch work must not delay a DNS answer. Needs
     * CAP_SYS_NICE (or root); without it the thread keeps the process's priority. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), -10) != 0) errno = 0;
    struct epoll_event evs[16];
    double next_sweep = now_mono() + 0.25;
    for (;;) {
        int ne = epoll_wait(g->epfd, evs, 16, 50);
        int stop = 0;
        if (ne > 0) w->c[C_WAKES]++;
        for (int e = 0; e < ne; e++) {
            uint32_t tag = evs[e].data.u32;
            if (tag & EP_STOP) {
                stop = 1;
                continue;
            }
            int idx = (int)(tag & 0xFFFF);
            int fd = (tag & EP_LISTEN) ? g->listen_fd[idx]
                     : (tag & EP_UP)   ? g->up_fd[idx]
                                       : g->old_fd[idx];
            if (fd < 0) continue;
            for (int round = 0; round < 4; round++) {
                for (int i = 0; i < BATCH; i++) {
                    rx->hdr[i].msg_hdr.msg_namelen = sizeof rx->addr[i];
                    rx->hdr[i].msg_hdr.msg_flags = 0;
                }
                int want = BATCH;
                if (tag & EP_LISTEN) {
                    if (g->paused) break;
                    int room = MAX_INFLIGHT - g->inflight;
                    want = room < 1 ? 1 : (room < BATCH ? room : BATCH);
                }
                int n = recvmmsg(fd, rx->hdr, (unsigned)want, MSG_DONTWAIT, NULL);
                w->c[C_RX_CALLS]++;
                if (n <= 0) break;
                if (tag & EP_LISTEN) {
                    double ts = now_real();
                    pthread_mutex_lock(&g->lk);
                    for (int i = 0; i < n; i++) {
                        if (rx->hdr[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
                        handle_query(g, w, idx, rx->buf + (size_t)i * PKT_MAX, rx->hdr[i].msg_len,
                                     &rx->addr[i], rx->hdr[i].msg_hdr.msg_namelen, ts);
                    }
                    pthread_mutex_unlock(&g->lk);
                    listeners_flow(g);
                } else {
                    handle_answers(g, w, idx, rx, n, el, ans);
                    listeners_flow(g);
                }
                if (n < want) break;
            }
        }
        /* one sendmmsg per socket for everything this wake-up produced */
        flush_all(g, w);
        publish(g, w);
        double now = now_mono();
        if (now >= next_sweep) {
            next_sweep = now + 0.25;
            sweep(g, w);
            listeners_flow(g);
            flush_all(g, w);
            publish(g, w);
            pthread_mutex_lock(&g->lk);
            if (g->ev_len && !g->wake_pending) wake_python(g);
            pthread_mutex_unlock(&g->lk);
        } else if (ne == 0) {
            pthread_mutex_lock(&g->lk);
            if (g->ev_len && !g->wake_pending) wake_python(g);
            pthread_mutex_unlock(&g->lk);
        }
        if (stop) break;
    }
    for (int i = 0; i < g->nlisten; i++) {
        free(w->client_tx[i]->buf);
        free(w->client_tx[i]);
    }
    for (int i = 0; i < g->nsocks; i++) {
        free(w->up_tx[i]->buf);
        free(w->up_tx[i]);
    }
    free(rx->buf);
    free(rx);
    free(w);
    free(el);
    free(ans);
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Python interface                                                                      */

static int parse_ip(const char *s, unsigned char *fam, unsigned char *addr) {
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr) == 1) {
        *fam = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        *fam = 6;
        return 0;
    }
    return -1;
}

static void Gate_dealloc(Gate *g) {
    if (g->running) {
        uint64_t one = 1;
        ssize_t r = write(g->stop_fd, &one, sizeof one);
        (void)r;
        Py_BEGIN_ALLOW_THREADS pthread_join(g->thread, NULL);
        Py_END_ALLOW_THREADS g->running = 0;
    }
    for (int i = 0; i < MAX_UPSTREAM; i++) {
        if (g->up_fd[i] >= 0) close(g->up_fd[i]);
        if (g->old_fd[i] >= 0) close(g->old_fd[i]);
    }
    if (g->epfd >= 0) close(g->epfd);
    if (g->stop_fd >= 0) close(g->stop_fd);
    if (g->wake_fd >= 0) close(g->wake_fd);
    if (g->slow) {
        for (size_t i = 0; i < g->slow_len; i++) free(g->slow[(g->slow_head + i) % SLOW_CAP].data);
    }
    free(g->slow);
    free(g->events);
    free(g->clients);
    free(g->verdicts);
    free(g->buckets);
    free(g->expiry);
    free(g->pend);
    free(g->pmap);
    free(g->free_next);
    free(g->allow_rec);
    if (g->nft.ctx && g->nft.ctx_free) g->nft.ctx_free(g->nft.ctx);
    if (g->nft.lib) dlclose(g->nft.lib);
    Py_XDECREF(g->allow_log);
    pthread_mutex_destroy(&g->lk);
    pthread_mutex_destroy(&g->nlk);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

static PyObject *Gate_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    Gate *g = (Gate *)type->tp_alloc(type, 0);
    if (!g) return NULL;
    for (int i = 0; i < MAX_UPSTREAM; i++) g->up_fd[i] = g->old_fd[i] = -1;
    g->epfd = g->stop_fd = g->wake_fd = -1;
    pthread_mutex_init(&g->lk, NULL);
    pthread_mutex_init(&g->nlk, NULL);
    g->cgen = g->vgen = g->bgen = g->egen = 1;
    return (PyObject *)g;
}

/* FastGate(listen_fds, upstream_host, upstream_port, *, sockets=8, timeout=2.0,
 *          rotate_after=20000, max_ttl=60, margin=30, rate_qps=100, rate_burst=400,
 *          nft_table="", record_allow=False) */
static int Gate_init(Gate *g, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"listen_fds", "upstream_host", "upstream_port", "sockets",
                             "timeout", "rotate_after", "max_ttl", "margin", "rate_qps",
                             "rate_burst", "nft_table", "record_allow", NULL};
    PyObject *fds;
    const char *host, *table = "";
    int port, sockets = 8, rotate = 20000, record = 0;
    unsigned int max_ttl = 60, margin = 30;
    double timeout = 2.0, qps = 100, burst = 400;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Osi|idiIIddsp", kwlist, &fds, &host, &port,
                                     &sockets, &timeout, &rotate, &max_ttl, &margin, &qps,
                                     &burst, &table, &record))
        return -1;
    if (g->clients) {
        PyErr_SetString(PyExc_RuntimeError, "already initialised");
        return -1;
    }
    PyObject *seq = PySequence_Fast(fds, "listen_fds must be a sequence of file descriptors");
    if (!seq) return -1;
    Py_ssize_t nl = PySequence_Fast_GET_SIZE(seq);
    if (nl < 1 || nl > MAX_LISTENERS) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "1 to 4 listening sockets");
        return -1;
    }
    for (Py_ssize_t i = 0; i < nl; i++) {
        long fd = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (fd < 0) {
            Py_DECREF(seq);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad file descriptor");
            return -1;
        }
        g->listen_fd[i] = (int)fd;
    }
    g->nlisten = (int)nl;
    Py_DECREF(seq);
    if (sockets < 1 || sockets > MAX_UPSTREAM || port < 1 || port > 65535 || timeout <= 0 ||
        rotate < 1 || qps <= 0 || burst <= 0) {
        PyErr_SetString(PyExc_ValueError, "bad fast path settings");
        return -1;
    }
    size_t tl = strlen(table);
    if (tl >= sizeof g->table) {
        PyErr_SetString(PyExc_ValueError, "nftables table name too long");
        return -1;
    }
    for (size_t i = 0; i < tl; i++) {
        char c = table[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) {
            PyErr_SetString(PyExc_ValueError, "nftables table name: letters, digits, _ and -");
            return -1;
        }
    }
    memcpy(g->table, table, tl + 1);
    memset(&g->upstream, 0, sizeof g->upstream);
    struct sockaddr_in *u4 = (struct sockaddr_in *)&g->upstream;
    struct sockaddr_in6 *u6 = (struct sockaddr_in6 *)&g->upstream;
    if (inet_pton(AF_INET, host, &u4->sin_addr) == 1) {
        u4->sin_family = AF_INET;
        u4->sin_port = htons((uint16_t)port);
        g->upstream_len = sizeof *u4;
    } else if (inet_pton(AF_INET6, host, &u6->sin6_addr) == 1) {
        u6->sin6_family = AF_INET6;
        u6->sin6_port = htons((uint16_t)port);
        g->upstream_len = sizeof *u6;
    } else {
        PyErr_SetString(PyExc_ValueError, "upstream must be an IP address");
        return -1;
    }
    g->nsocks = sockets;
    g->timeout = timeout;
    g->rotate_after = rotate;
    g->max_ttl = max_ttl;
    g->margin = margin;
    g->rate_qps = qps;
    g->rate_burst = burst;
    g->record_allow = record;
    g->clients = calloc(CLIENT_CAP, sizeof(client_t));
    g->verdicts = calloc(VERDICT_CAP, sizeof(verdict_t));
    g->buckets = calloc(BUCKET_CAP, sizeof(bucket_t));
    g->expiry = calloc(EXPIRY_CAP, sizeof(expiry_t));
    g->slow = calloc(SLOW_CAP, sizeof(slow_t));
    g->events = calloc(EVENT_CAP, sizeof(event_t));
    g->pend = calloc(PENDING_SLOTS, sizeof(pending_t));
    g->pmap = calloc((size_t)sockets * 65536, sizeof(uint16_t));
    g->free_next = calloc(PENDING_SLOTS, sizeof(int));
    if (!g->clients || !g->verdicts || !g->buckets || !g->expiry || !g->slow || !g->events ||
        !g->pend || !g->pmap || !g->free_next) {
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < PENDING_SLOTS; i++) g->free_next[i] = i + 1 < PENDING_SLOTS ? i + 1 : -1;
    g->free_head = 0;
    g->rnd.pos = sizeof g->rnd.buf;
    if (g->table[0] && !record) {
        g->nft_ok = nft_open(&g->nft) == 0;
        if (!g->nft_ok) {
            PyErr_SetString(PyExc_OSError, "libnftables.so.1 could not be loaded");
            return -1;
        }
    }
    if (record) {
        g->allow_log = PyList_New(0);
        if (!g->allow_log) return -1;
    }
    g->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g->wake_fd < 0 || g->stop_fd < 0 || g->epfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    for (int i = 0; i < sockets; i++) {
        g->up_fd[i] = open_upstream(g);
        if (g->up_fd[i] < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    return 0;
}

static PyObject *Gate_start(Gate *g, PyObject *noargs) {
    if (g->running || !g->clients) {
        PyErr_SetString(PyExc_RuntimeError, "not startable");
        return NULL;
    }
    for (int i = 0; i < g->nlisten; i++) {
        int fl = fcntl(g->listen_fd[i], F_GETFL);
        if (fl < 0) return PyErr_SetFromErrno(PyExc_OSError);
        epoll_add(g, g->listen_fd[i], EP_LISTEN | (uint32_t)i);
    }
    for (int i = 0; i < g->nsocks; i++) epoll_add(g, g->up_fd[i], EP_UP | (uint32_t)i);
    epoll_add(g, g->stop_fd, EP_STOP);
    if (pthread_create(&g->thread, NULL, thread_main, g) != 0) {
        PyErr_SetString(PyExc_OSError, "could not start the fast path thread");
        return NULL;
    }
    g->running = 1;
    Py_RETURN_NONE;
}

static PyObject *Gate_stop(Gate *g, PyObject *noargs) {
    if (g->running) {
        uint64_t one = 1;
        ssize_t r = write(g->stop_fd, &one, sizeof one);
        (void)r;
        Py_BEGIN_ALLOW_THREADS pthread_join(g->thread, NULL);
        Py_END_ALLOW_THREADS g->running = 0;
    }
    Py_RETURN_NONE;
}

/* set_client(ip, cls, mac, flags, presence_due) */
static PyObject *Gate_set_client(Gate *g, PyObject *args) {
    const char *ip, *mac;
    unsigned int cls, flags;
    double due;
    if (!PyArg_ParseTuple(args, "sIsId", &ip, &cls, &mac, &flags, &due)) return NULL;
    unsigned char fam, addr[16], m[6];
    if (parse_ip(ip, &fam, addr) < 0 || parse_mac(mac, m) < 0) {
        PyErr_SetString(PyExc_ValueError, "bad address or MAC");
        return NULL;
    }
    pthread_mutex_lock(&g->lk);
    client_t *c = client_find(g, fam, addr, 1);
    if (c) {
        c->cls = cls;
        c->flags = flags;
        c->presence_due = due;
        snprintf(c->mac, sizeof c->mac, "%s", mac);
        for (char *p = c->mac; *p; p++)
            if (*p >= 'A' && *p <= 'F') *p = (char)(*p + 32);
    }
    pthread_mutex_unlock(&g->lk);
    return PyBool_FromLong(c != NULL);
}

/* set_verdict(cls, name, action, token) */
static PyObject *Gate_set_verdict(Gate *g, PyObject *args) {
    const char *name;
    Py_ssize_t len;
    unsigned int cls, action, token;
    if (!PyArg_ParseTuple(args, "Is#II", &cls, &name, &len, &action, &token)) return NULL;
    if (len < 0 || len >= NAME_TEXT_MAX) {
        PyErr_SetString(PyExc_ValueError, "name too long");
        return NULL;
    }
    uint32_t act = action & 0xFF;
    if (act != V_FORWARD && act != V_ALLOW && act != V_NXDOMAIN) {
        PyErr_SetString(PyExc_ValueError, "unknown action");
        return NULL;
    }
    pthread_mutex_lock(&g->lk);
    uint64_t before = g->vfull;
    verdict_t *v = verdict_find(g, cls, name, (size_t)len, 1);
    if (v) {
        v->action = action;
        v->token = token;
    }
    int emptied = g->vfull != before;
    pthread_mutex_unlock(&g->lk);
    /* 0: not stored; 1: stored; 2: stored, but the full table was emptied first */
    return PyLong_FromLong(v == NULL ? 0 : emptied ? 2 : 1);
}

/* clear(clients=True, verdicts=True) */
static PyObject *Gate_clear(Gate *g, PyObject *args) {
    int clients = 1, verdicts = 1;
    if (!PyArg_ParseTuple(args, "|pp", &clients, &verdicts)) return NULL;
    pthread_mutex_lock(&g->lk);
    if (clients) {
        g->cgen++;
        g->nclients = 0;
    }
    if (verdicts) {
        g->vgen++;
        g->nverdicts = 0;
    }
    pthread_mutex_unlock(&g->lk);
    Py_RETURN_NONE;
}

static PyObject *Gate_take_token(Gate *g, PyObject *args) {
    const char *ip;
    if (!PyArg_ParseTuple(args, "s", &ip)) return NULL;
    unsigned char fam, addr[16];
    if (parse_ip(ip, &fam, addr) < 0) {
        PyErr_SetString(PyExc_ValueError, "bad address");
        return NULL;
    }
    pthread_mutex_lock(&g->lk);
    int ok = bucket_take(g, fam, addr);
    pthread_mutex_unlock(&g->lk);
    return PyBool_FromLong(ok);
}

/* take_slow() -> [(data, ip, port, listener, ts)] */
static PyObject *Gate_take_slow(Gate *g, PyObject *noargs) {
    slow_t items[256];
    size_t n = 0;
    pthread_mutex_lock(&g->lk);
    while (g->slow_len && n < 256) {
        items[n++] = g->slow[g->slow_head];
        g->slow_head = (g->slow_head + 1) % SLOW_CAP;
        g->slow_len--;
    }
    pthread_mutex_unlock(&g->lk);
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; i < n; i++) {
        char ip[INET6_ADDRSTRLEN] = "";
        int port = 0;
        if (items[i].addr.ss_family == AF_INET) {
            struct sockaddr_in *s = (struct sockaddr_in *)&items[i].addr;
            inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
            port = ntohs(s->sin_port);
        } else if (items[i].addr.ss_family == AF_INET6) {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&items[i].addr;
            inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
            port = ntohs(s->sin6_port);
        }
        if (out) {
            PyObject *t = Py_BuildValue("(y#siid)", (const char *)items[i].data,
                                        (Py_ssize_t)items[i].len, ip, port, items[i].listener,
                                        items[i].ts);
            if (!t) {
                Py_CLEAR(out);
            } else {
                PyList_SET_ITEM(out, (Py_ssize_t)i, t);
            }
        }
        free(items[i].data);
    }
    return out;
}

/* take_events() -> [(token, ts)], and re-arms the wake-up */
static PyObject *Gate_take_events(Gate *g, PyObject *noargs) {
    uint64_t junk;
    ssize_t r = read(g->wake_fd, &junk, sizeof junk);
    (void)r;
    pthread_mutex_lock(&g->lk);
    size_t n = g->ev_len;
    event_t *copy = malloc(sizeof(event_t) * (n ? n : 1));
    if (!copy) {
        pthread_mutex_unlock(&g->lk);
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < n; i++) copy[i] = g->events[(g->ev_head + i) % EVENT_CAP];
    g->ev_head = (g->ev_head + n) % EVENT_CAP;
    g->ev_len = 0;
    g->wake_pending = 0;
    if (g->slow_len) wake_python(g);
    pthread_mutex_unlock(&g->lk);
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; out && i < n; i++) {
        PyObject *t = Py_BuildValue("(Id)", copy[i].token, copy[i].ts);
        if (!t) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, t);
    }
    free(copy);
    return out;
}

/* take_stats() -> {counter: delta since the last call} */
static PyObject *Gate_take_stats(Gate *g, PyObject *noargs) {
    uint64_t c[C_NCOUNTERS];
    pthread_mutex_lock(&g->lk);
    memcpy(c, g->counters, sizeof c);
    memset(g->counters, 0, sizeof c);
    pthread_mutex_unlock(&g->lk);
    pthread_mutex_lock(&g->nlk);
    c[C_NFT_CALLS] = g->nft_calls; /* nft counters live under nlk */
    c[C_NFT_ERRORS] = g->nft_errors;
    g->nft_calls = g->nft_errors = 0;
    pthread_mutex_unlock(&g->nlk);
    PyObject *d = PyDict_New();
    for (int i = 0; d && i < C_NCOUNTERS; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(c[i]);
        if (!v || PyDict_SetItemString(d, COUNTER_NAMES[i], v) < 0) Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

/* allow(mac, addresses, timeout) -> elements written (Enforcer.allow for the Python path,
 * sharing the C side's memory of what is in the sets) */
static PyObject *Gate_allow(Gate *g, PyObject *args) {
    const char *mac;
    PyObject *addrs;
    unsigned int timeout;
    if (!PyArg_ParseTuple(args, "sOI", &mac, &addrs, &timeout)) return NULL;
    unsigned char m[6];
    if (parse_mac(mac, m) < 0) {
        PyErr_SetString(PyExc_ValueError, "bad MAC");
        return NULL;
    }
    char macs[18];
    snprintf(macs, sizeof macs, "%s", mac);
    for (char *p = macs; *p; p++)
        if (*p >= 'A' && *p <= 'F') *p = (char)(*p + 32);
    PyObject *seq = PySequence_Fast(addrs, "addresses must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    elem_t *el = malloc(sizeof(elem_t) * (size_t)(n ? n : 1));
    unsigned char (*parsed)[17] = malloc(17 * (size_t)(n ? n : 1));
    if (!el || !parsed) {
        free(el);
        free(parsed);
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *s = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i));
        if (!s || parse_ip(s, &parsed[i][16], parsed[i]) < 0) {
            free(el);
            free(parsed);
            Py_DECREF(seq);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad address");
            return NULL;
        }
    }
    Py_DECREF(seq);
    int ne = 0;
    Py_BEGIN_ALLOW_THREADS pthread_mutex_lock(&g->nlk);
    double now = now_mono();
    for (Py_ssize_t i = 0; i < n; i++)
        ne = allow_select(g, macs, m, parsed[i][16], parsed[i], timeout, now, el, ne, (int)n);
    nft_apply(g, el, ne);
    pthread_mutex_unlock(&g->nlk);
    Py_END_ALLOW_THREADS free(el);
    free(parsed);
    return PyLong_FromLong(ne);
}

/* take_allowed() -> [(mac, address, timeout)] written since the last call (record mode) */
static PyObject *Gate_take_allowed(Gate *g, PyObject *noargs) {
    pthread_mutex_lock(&g->nlk);
    PyObject *text = PyUnicode_DecodeASCII(g->allow_rec ? g->allow_rec : "",
                                           (Py_ssize_t)g->allow_rec_len, "strict");
    g->allow_rec_len = 0;
    pthread_mutex_unlock(&g->nlk);
    if (!text) return NULL;
    PyObject *lines = PyUnicode_Splitlines(text, 0);
    Py_DECREF(text);
    if (!lines) return NULL;
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out && i < PyList_GET_SIZE(lines); i++) {
        PyObject *parts = PyUnicode_Split(PyList_GET_ITEM(lines, i), NULL, -1);
        if (!parts || PyList_GET_SIZE(parts) != 3) {
            Py_XDECREF(parts);
            continue;
        }
        PyObject *t = PyLong_FromUnicodeObject(PyList_GET_ITEM(parts, 2), 10);
        PyObject *tup = t ? PyTuple_Pack(3, PyList_GET_ITEM(parts, 0), PyList_GET_ITEM(parts, 1), t)
                          : NULL;
        Py_XDECREF(t);
        Py_DECREF(parts);
        if (!tup || PyList_Append(out, tup) < 0) Py_CLEAR(out);
        Py_XDECREF(tup);
    }
    Py_DECREF(lines);
    return out;
}

static PyObject *Gate_wake_fd(Gate *g, void *closure) { return PyLong_FromLong(g->wake_fd); }

static PyMethodDef Gate_methods[] = {
    {"start", (PyCFunction)Gate_start, METH_NOARGS, "Start the fast path thread."},
    {"stop", (PyCFunction)Gate_stop, METH_NOARGS, "Stop and join the thread."},
    {"set_client", (PyCFunction)Gate_set_client, METH_VARARGS,
     "set_client(ip, cls, mac, flags, presence_due) -> bool"},
    {"set_verdict", (PyCFunction)Gate_set_verdict, METH_VARARGS,
     "set_verdict(cls, name, action, token) -> 0 not stored, 1 stored, 2 stored after emptying"},
    {"clear", (PyCFunction)Gate_clear, METH_VARARGS, "clear(clients=True, verdicts=True)"},
    {"take_token", (PyCFunction)Gate_take_token, METH_VARARGS,
     "take_token(ip) -> bool: the shared per-client rate bucket"},
    {"take_slow", (PyCFunction)Gate_take_slow, METH_NOARGS,
     "take_slow() -> [(data, ip, port, listener, ts)]"},
    {"take_events", (PyCFunction)Gate_take_events, METH_NOARGS,
     "take_events() -> [(token, ts)]; re-arms the wake-up eventfd"},
    {"take_stats", (PyCFunction)Gate_take_stats, METH_NOARGS, "counter deltas"},
    {"allow", (PyCFunction)Gate_allow, METH_VARARGS,
     "allow(mac, addresses, timeout) -> elements written"},
    {"take_allowed", (PyCFunction)Gate_take_allowed, METH_NOARGS,
     "record mode: [(mac, address, timeout)] since the last call"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Gate_getset[] = {
    {"wake_fd", (getter)Gate_wake_fd, NULL, "eventfd readable when Python has work", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject GateType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "monitor.gate._fastgate.FastGate",
    .tp_basicsize = sizeof(Gate),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The native UDP fast path (see monitor/gate/fast.py).",
    .tp_new = Gate_new,
    .tp_init = (initproc)Gate_init,
    .tp_dealloc = (destructor)Gate_dealloc,
    .tp_methods = Gate_methods,
    .tp_getset = Gate_getset,
};

/* -- module functions: the parsers, for differential tests and fuzzing ------------------ */

static PyObject *py_parse_query(PyObject *self, PyObject *args) {
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    query_t q;
    int rc = parse_query(b.buf, (size_t)b.len, &q);
    PyBuffer_Release(&b);
    if (rc < 0) Py_RETURN_NONE;
    return Py_BuildValue("(s#IIIn)", q.name, (Py_ssize_t)q.name_len, (unsigned)q.qid,
                         (unsigned)q.qtype, (unsigned)q.qclass, (Py_ssize_t)q.qend);
}

/* allow_answer(query, qend, answer, max_ttl, margin) -> (response, [(address, ttl)], timeout)
 * what the fast path does with an upstream answer for a restricted client */
static PyObject *py_allow_answer(PyObject *self, PyObject *args) {
    Py_buffer qb, ab;
    Py_ssize_t qend;
    unsigned int max_ttl, margin;
    if (!PyArg_ParseTuple(args, "y*ny*II", &qb, &qend, &ab, &max_ttl, &margin)) return NULL;
    PyObject *res = NULL;
    answer_t *a = malloc(sizeof *a);
    unsigned char *out = malloc((size_t)ab.len + 16);
    if (!a || !out || qb.len < 12) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad input");
        goto done;
    }
    memcpy(out, ab.buf, (size_t)ab.len);
    if (parse_answer(out, (size_t)ab.len, max_ttl, a) < 0) {
        const unsigned char *q = qb.buf;
        size_t n = make_error(out, rd16(q), rd16(q + 2), 2, NULL, 0, 0);
        res = Py_BuildValue("(y#[]I)", (const char *)out, (Py_ssize_t)n, 0u);
        goto done;
    }
    PyObject *lst = PyList_New(0);
    uint32_t mx = 0;
    for (int k = 0; lst && k < a->naddrs; k++) {
        char txt[64];
        format_addr(a->addrs[k].family, a->addrs[k].addr, txt);
        PyObject *t = Py_BuildValue("(sI)", txt, a->addrs[k].ttl);
        if (!t || PyList_Append(lst, t) < 0) Py_CLEAR(lst);
        Py_XDECREF(t);
        if (a->addrs[k].ttl > mx) mx = a->addrs[k].ttl;
    }
    if (!lst) goto done;
    for (int k = 0; k < a->nclamp; k++) wr32(out + a->clamp_off[k], max_ttl);
    uint32_t timeout = a->naddrs ? (mx < max_ttl ? mx : max_ttl) + margin : 0;
    res = Py_BuildValue("(y#NI)", (const char *)out, ab.len, lst, timeout);
done:
    free(a);
    free(out);
    PyBuffer_Release(&qb);
    PyBuffer_Release(&ab);
    (void)qend;
    return res;
}

static PyObject *py_nxdomain(PyObject *self, PyObject *args) {
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    query_t q;
    PyObject *res;
    if (parse_query(b.buf, (size_t)b.len, &q) < 0 || q.qend - 12 > QUESTION_MAX) {
        res = Py_NewRef(Py_None);
    } else {
        unsigned char out[12 + QUESTION_MAX];
        size_t n = make_error(out, q.qid, q.flags, 3, (const unsigned char *)b.buf + 12,
                              q.qend - 12, 1);
        res = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)n);
    }
    PyBuffer_Release(&b);
    return res;
}

static PyObject *py_format_addr(PyObject *self, PyObject *args) {
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    char txt[64];
    PyObject *res = NULL;
    if (b.len == 4 || b.len == 16) {
        format_addr(b.len == 4 ? 4 : 6, b.buf, txt);
        res = PyUnicode_FromString(txt);
    } else {
        PyErr_SetString(PyExc_ValueError, "4 or 16 bytes");
    }
    PyBuffer_Release(&b);
    return res;
}

static PyMethodDef module_methods[] = {
    {"parse_query", py_parse_query, METH_VARARGS,
     "parse_query(raw) -> (name, qid, qtype, qclass, question_end) or None"},
    {"allow_answer", py_allow_answer, METH_VARARGS,
     "allow_answer(query, qend, answer, max_ttl, margin) -> (response, addrs, timeout)"},
    {"nxdomain", py_nxdomain, METH_VARARGS, "nxdomain(raw) -> bytes or None"},
    {"format_addr", py_format_addr, METH_VARARGS, "format_addr(packed) -> str"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_fastgate",
                                       "Native UDP fast path for the DNS gate.", -1,
                                       module_methods};

PyMODINIT_FUNC PyInit__fastgate(void) {
    if (PyType_Ready(&GateType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&GateType);
    if (PyModule_AddObject(m, "FastGate", (PyObject *)&GateType) < 0) {
        Py_DECREF(&GateType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "V_FORWARD", V_FORWARD);
    PyModule_AddIntConstant(m, "V_ALLOW", V_ALLOW);
    PyModule_AddIntConstant(m, "V_NXDOMAIN", V_NXDOMAIN);
    PyModule_AddIntConstant(m, "VF_EVENT", VF_EVENT);
    PyModule_AddIntConstant(m, "VF_UNLISTED", VF_UNLISTED);
    PyModule_AddIntConstant(m, "CF_SETS", CF_SETS);
    return m;
}
