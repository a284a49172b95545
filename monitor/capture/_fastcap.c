/*
 * monitor.capture._fastcap: C accelerator for the passive monitor's hot paths.
 *
 * Python (pipeline.py, quic.py, tls.py) is the reference; every function here is a
 * line-by-line port of a Python function named in its comment and must return exactly what
 * that function returns (checked by differential tests in tests/capture/test_fastcap.py).
 * Anything unusual is handed back to Python, never approximated.
 *
 * - Lean: PacketPipeline._lean in C (header parsing, noise rejection, DNS questions, source
 *   learning); it calls back into the pipeline's Python methods for everything stateful
 *   that is not a plain counter or cache (reassembly, QUIC tracking, deduplication).
 * - quic_header / quic_open / crypto_frames: QUIC Initial header parsing, RFC 9001 initial
 *   keys (cached per DCID) and AES-GCM / header protection through OpenSSL's libcrypto.
 * - sni_from_stream / sni_from_handshake: TLS ClientHello SNI.
 *
 * Every input is hostile: all reads are bounds-checked against the buffer length and all
 * length arithmetic is done in 64-bit unsigned integers after range checks.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* The low-level SHA-256 API is deprecated in OpenSSL 3 but still there, and it has no
 * per-call provider lookup: HKDF here is a dozen tiny hashes per new connection. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

#define V1 0x00000001u
#define V2 0x6B3343CFu
#define MAX_CID 20

/* ------------------------------------------------------------------ small helpers */

static inline unsigned be16(const unsigned char *p) { return ((unsigned)p[0] << 8) | p[1]; }
static inline uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* RFC 9000 §16 varint at *pos (< end); 0 on success, -1 for "truncated_varint". */
static int varint(const unsigned char *b, size_t *pos, size_t end, uint64_t *out)
{
    size_t p = *pos;
    if (p >= end)
        return -1;
    size_t size = (size_t)1 << (b[p] >> 6);
    if (size > end - p)
        return -1;
    uint64_t v = b[p] & 0x3F;
    for (size_t i = p + 1; i < p + size; i++)
        v = (v << 8) | b[i];
    *out = v;
    *pos = p + size;
    return 0;
}

/* -------------------------------------------------------------------------- TLS */

enum { TLS_NEED_MORE = 0, TLS_NOT_TLS = 1, TLS_NO_SNI = 2, TLS_NAME = 3 };

#define MAX_RECORD (16384 + 2048)
#define MAX_HELLO (1 << 16)

/* tls._short */
static int tls_short(size_t need, size_t limit) { return need > limit ? TLS_NOT_TLS : TLS_NEED_MORE; }

/* tls._server_name: on TLS_NAME, np and nl locate the name. */
static int tls_server_name(const unsigned char *hs, size_t pos, size_t end, size_t *np, size_t *nl)
{
    if (pos + 2 > end)
        return TLS_NOT_TLS;
    size_t list_end = pos + 2 + be16(hs + pos);
    if (list_end > end)
        return TLS_NOT_TLS;
    pos += 2;
    while (pos + 3 <= list_end) {
        unsigned ntype = hs[pos];
        size_t nlen = be16(hs + pos + 1);
        pos += 3;
        if (pos + nlen > list_end)
            return TLS_NOT_TLS;
        if (ntype == 0) {
            *np = pos;
            *nl = nlen;
            return TLS_NAME;
        }
        pos += nlen;
    }
    return TLS_NO_SNI;
}

/* tls.sni_from_handshake */
static int tls_handshake(const unsigned char *hs, size_t n, size_t *np, size_t *nl)
{
    if (n == 0)
        return TLS_NEED_MORE;
    if (hs[0] != 1)
        return TLS_NOT_TLS;
    if (n < 4)
        return TLS_NEED_MORE;
    size_t hlen = ((size_t)hs[1] << 16) | ((size_t)hs[2] << 8) | hs[3];
    if (hlen < 38 || hlen > MAX_HELLO)
        return TLS_NOT_TLS;
    size_t end = 4 + hlen;
    size_t avail = n < end ? n : end;
    size_t pos = 4 + 2 + 32;
    if (pos + 1 > avail)
        return TLS_NEED_MORE;
    size_t sid_len = hs[pos];
    if (sid_len > 32)
        return TLS_NOT_TLS;
    pos += 1 + sid_len;
    if (pos + 2 > avail)
        return tls_short(pos + 2, end);
    size_t cs_len = be16(hs + pos);
    if (cs_len < 2 || (cs_len & 1))
        return TLS_NOT_TLS;
    pos += 2 + cs_len;
    if (pos + 1 > avail)
        return tls_short(pos + 1, end);
    size_t comp_len = hs[pos];
    if (comp_len < 1)
        return TLS_NOT_TLS;
    pos += 1 + comp_len;
    if (pos == end)
        return TLS_NO_SNI;
    if (pos + 2 > avail)
        return tls_short(pos + 2, end);
    size_t ext_end = pos + 2 + be16(hs + pos);
    if (ext_end > end)
        return TLS_NOT_TLS;
    pos += 2;
    while (pos < ext_end) {
        if (pos + 4 > avail)
            return tls_short(pos + 4, ext_end);
        unsigned etype = be16(hs + pos);
        size_t elen = be16(hs + pos + 2);
        size_t body = pos + 4;
        pos = body + elen;
        if (pos > ext_end)
            return TLS_NOT_TLS;
        if (etype == 0) {
            if (pos > avail)
                return TLS_NEED_MORE;
            return tls_server_name(hs, body, pos, np, nl);
        }
    }
    return pos == ext_end ? TLS_NO_SNI : TLS_NOT_TLS;
}

static PyObject *tls_result(int res, const unsigned char *base, size_t np, size_t nl)
{
    if (res == TLS_NAME)
        return PyUnicode_DecodeLatin1((const char *)base + np, (Py_ssize_t)nl, NULL);
    return PyLong_FromLong(res);
}

/* sni_from_handshake(hs: bytes) -> str | int (0 NEED_MORE, 1 NOT_TLS, 2 NO_SNI) */
static PyObject *py_sni_from_handshake(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0)
        return NULL;
    size_t np = 0, nl = 0;
    int res = tls_handshake(v.buf, (size_t)v.len, &np, &nl);
    PyObject *out = tls_result(res, v.buf, np, nl);
    PyBuffer_Release(&v);
    return out;
}

/* tls.sni_from_stream */
static PyObject *sni_stream(const unsigned char *buf, size_t n)
{
    size_t np = 0, nl = 0;
    if (n == 0)
        return PyLong_FromLong(TLS_NEED_MORE);
    if (buf[0] != 22 || (n >= 2 && buf[1] != 3))
        return PyLong_FromLong(TLS_NOT_TLS);
    if (n < 5)
        return PyLong_FromLong(TLS_NEED_MORE);
    size_t rlen = be16(buf + 3);
    if (rlen == 0 || rlen > MAX_RECORD)
        return PyLong_FromLong(TLS_NOT_TLS);
    size_t flen = n - 5 < rlen ? n - 5 : rlen; /* first = buf[5 : 5 + rlen] */
    const unsigned char *first = buf + 5;
    if (flen && first[0] != 1)
        return PyLong_FromLong(TLS_NOT_TLS);
    if (flen < rlen ||
        (flen >= 4 && 4 + (((size_t)first[1] << 16) | ((size_t)first[2] << 8) | first[3]) <= rlen)) {
        int res = tls_handshake(first, flen, &np, &nl);
        return tls_result(res, first, np, nl);
    }
    /* The handshake message continues in following records: join their fragments. */
    unsigned char *hs = PyMem_Malloc(n ? n : 1);
    if (hs == NULL)
        return PyErr_NoMemory();
    size_t hn = 0, pos = 0;
    PyObject *out = NULL;
    int res;
    while (pos < n) {
        if (n - pos < 5)
            break;
        if (buf[pos] != 22) {
            res = tls_handshake(hs, hn, &np, &nl);
            out = res == TLS_NEED_MORE ? PyLong_FromLong(TLS_NOT_TLS) : tls_result(res, hs, np, nl);
            goto done;
        }
        if (buf[pos + 1] != 3) {
            out = PyLong_FromLong(TLS_NOT_TLS);
            goto done;
        }
        rlen = be16(buf + pos + 3);
        if (rlen == 0 || rlen > MAX_RECORD) {
            out = PyLong_FromLong(TLS_NOT_TLS);
            goto done;
        }
        size_t take = n - (pos + 5) < rlen ? n - (pos + 5) : rlen;
        memcpy(hs + hn, buf + pos + 5, take);
        hn += take;
        pos += 5 + rlen;
        if (hn >= 4 && hn >= 4 + (((size_t)hs[1] << 16) | ((size_t)hs[2] << 8) | hs[3]))
            break;
        if (hn > MAX_HELLO + 4) {
            out = PyLong_FromLong(TLS_NOT_TLS);
            goto done;
        }
    }
    res = tls_handshake(hs, hn, &np, &nl);
    out = tls_result(res, hs, np, nl);
done:
    PyMem_Free(hs);
    return out;
}

static PyObject *py_sni_from_stream(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = sni_stream(v.buf, (size_t)v.len);
    PyBuffer_Release(&v);
    return out;
}

/* ------------------------------------------------------------------------- QUIC */

/* A parsed long header: offsets into the datagram. */
typedef struct {
    uint32_t version;
    int is_initial;
    size_t dcid_at, dlen, pn_off, end;
} LongHdr;

/* quic.parse_long_header: 1 with *h filled, 0 for None (nothing more to walk), -1 for a
 * QuicError whose reason is put in *err. */
static int long_header(const unsigned char *b, size_t n, size_t pos, LongHdr *h, const char **err)
{
    if (pos >= n || !(b[pos] & 0x80))
        return 0;
    if (pos + 7 > n) {
        *err = "short_header";
        return -1;
    }
    unsigned first = b[pos];
    uint32_t version = be32(b + pos + 1);
    if (version != V1 && version != V2)
        return 0;
    size_t p = pos + 5;
    size_t dlen = b[p];
    if (dlen > MAX_CID || p + 1 + dlen + 1 > n) {
        *err = "bad_cid";
        return -1;
    }
    h->dcid_at = p + 1;
    h->dlen = dlen;
    p += 1 + dlen;
    size_t slen = b[p];
    if (slen > MAX_CID || p + 1 + slen > n) {
        *err = "bad_cid";
        return -1;
    }
    p += 1 + slen;
    unsigned ptype = (first >> 4) & 3;
    h->is_initial = ptype == (version == V1 ? 0u : 1u);
    if (ptype == (version == V1 ? 3u : 0u))
        return 0; /* Retry has no Length field; nothing after it is ours */
    uint64_t val;
    if (h->is_initial) {
        if (varint(b, &p, n, &val) < 0) {
            *err = "truncated_varint";
            return -1;
        }
        if (val > n - p) {
            *err = "bad_token";
            return -1;
        }
        p += (size_t)val;
    }
    if (varint(b, &p, n, &val) < 0) {
        *err = "truncated_varint";
        return -1;
    }
    if (val > n - p) {
        *err = "bad_length";
        return -1;
    }
    h->version = version;
    h->pn_off = p;
    h->end = p + (size_t)val;
    return 1;
}

/* quic_header(data, pos): None, a str (QuicError reason), or
 * (version, is_initial, dcid, pn_offset, end). */
static PyObject *py_quic_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "quic_header(data, pos)");
        return NULL;
    }
    Py_ssize_t spos = PyLong_AsSsize_t(args[1]);
    if (spos == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer v;
    if (PyObject_GetBuffer(args[0], &v, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = v.buf;
    LongHdr h;
    const char *err = NULL;
    int r = spos < 0 ? 0 : long_header(b, (size_t)v.len, (size_t)spos, &h, &err);
    PyObject *out;
    if (r < 0)
        out = PyUnicode_FromString(err);
    else if (r == 0)
        out = Py_NewRef(Py_None);
    else
        out = Py_BuildValue("(kOy#nn)", (unsigned long)h.version, h.is_initial ? Py_True : Py_False,
                            (const char *)b + h.dcid_at, (Py_ssize_t)h.dlen, (Py_ssize_t)h.pn_off,
                            (Py_ssize_t)h.end);
    PyBuffer_Release(&v);
    return out;
}

/* Initial keys for one (DCID, version), cached direct-mapped: a pure function of its key. */
typedef struct {
    int used;
    uint32_t version;
    unsigned char dlen;
    unsigned char dcid[MAX_CID];
    unsigned char iv[12];
    EVP_CIPHER_CTX *gcm; /* AES-128-GCM decryption, key set, IV set per packet */
    EVP_CIPHER_CTX *hp;  /* AES-128-ECB encryption with the header-protection key */
} KeySlot;

#define KEY_SLOTS 256
static KeySlot key_slots[KEY_SLOTS];

static const unsigned char SALT_V1[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                          0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
static const unsigned char SALT_V2[20] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                          0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};

/* HMAC-SHA256 with a key of at most one block, as its inner and outer states after the
 * key block: reused for every message under the same key. */
typedef struct {
    SHA256_CTX inner, outer;
} HmacKey;

static void hmac_key(HmacKey *h, const unsigned char *key, size_t klen)
{
    unsigned char pad[64];
    memset(pad, 0x36, sizeof pad);
    for (size_t i = 0; i < klen; i++)
        pad[i] ^= key[i];
    SHA256_Init(&h->inner);
    SHA256_Update(&h->inner, pad, 64);
    for (size_t i = 0; i < 64; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    SHA256_Init(&h->outer);
    SHA256_Update(&h->outer, pad, 64);
}

static void hmac(const HmacKey *h, const unsigned char *msg, size_t len, unsigned char out[32])
{
    SHA256_CTX c = h->inner;
    unsigned char inner[32];
    SHA256_Update(&c, msg, len);
    SHA256_Final(inner, &c);
    c = h->outer;
    SHA256_Update(&c, inner, 32);
    SHA256_Final(out, &c);
}

/* HKDF-Expand-Label (RFC 8446 §7.1), empty context, one SHA-256 block (length ≤ 32). */
static void expand_label(const HmacKey *secret, const char *label, size_t length,
                         unsigned char *out)
{
    unsigned char info[64];
    size_t ll = strlen(label);
    size_t i = 0;
    info[i++] = (unsigned char)(length >> 8);
    info[i++] = (unsigned char)length;
    info[i++] = (unsigned char)(6 + ll);
    memcpy(info + i, "tls13 ", 6);
    i += 6;
    memcpy(info + i, label, ll);
    i += ll;
    info[i++] = 0;
    info[i++] = 1;
    unsigned char block[32];
    hmac(secret, info, i, block);
    memcpy(out, block, length);
}

static HmacKey salt_v1, salt_v2;
static EVP_CIPHER *aes_gcm, *aes_ecb;

static KeySlot *keys_for(const unsigned char *dcid, size_t dlen, uint32_t version)
{
    uint32_t h = 2166136261u ^ version;
    for (size_t i = 0; i < dlen; i++)
        h = (h ^ dcid[i]) * 16777619u;
    KeySlot *s = &key_slots[(h ^ (h >> 16)) % KEY_SLOTS];
    if (s->used && s->version == version && s->dlen == dlen && memcmp(s->dcid, dcid, dlen) == 0)
        return s;
    s->used = 0;
    int v1 = version == V1;
    unsigned char initial[32], secret[32], key[16], hp[16];
    HmacKey hk;
    hmac(v1 ? &salt_v1 : &salt_v2, dcid, dlen, initial);
    hmac_key(&hk, initial, 32);
    expand_label(&hk, "client in", 32, secret);
    hmac_key(&hk, secret, 32);
    expand_label(&hk, v1 ? "quic key" : "quicv2 key", 16, key);
    expand_label(&hk, v1 ? "quic iv" : "quicv2 iv", 12, s->iv);
    expand_label(&hk, v1 ? "quic hp" : "quicv2 hp", 16, hp);
    if (s->gcm == NULL && (s->gcm = EVP_CIPHER_CTX_new()) == NULL)
        return NULL;
    if (s->hp == NULL && (s->hp = EVP_CIPHER_CTX_new()) == NULL)
        return NULL;
    if (EVP_DecryptInit_ex(s->gcm, aes_gcm, NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(s->gcm, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
        EVP_DecryptInit_ex(s->gcm, NULL, NULL, key, NULL) != 1)
        return NULL;
    if (EVP_EncryptInit_ex(s->hp, aes_ecb, NULL, hp, NULL) != 1)
        return NULL;
    EVP_CIPHER_CTX_set_padding(s->hp, 0);
    s->version = version;
    s->dlen = (unsigned char)dlen;
    memcpy(s->dcid, dcid, dlen);
    s->used = 1;
    return s;
}

/* quic.decrypt_initial: 1 and the plaintext in pt (room for end - pn_off bytes), its
 * length in *ptlen and the packet number in *pn; 0 where Python raises QuicError (a short
 * packet, failed authentication); -1 with a Python exception set (libcrypto failure). The
 * caller guarantees pos < pn_off <= end <= the buffer's length. */
static int open_initial(const unsigned char *b, size_t pos, size_t pn_off, size_t end,
                        const unsigned char *dcid, size_t dlen, uint32_t version,
                        unsigned char *pt, size_t *ptlen, uint64_t *pn)
{
    if (pn_off + 4 + 16 > end)
        return 0; /* short_packet */
    KeySlot *k = keys_for(dcid, dlen, version);
    if (k == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "libcrypto failed to derive QUIC initial keys");
        return -1;
    }
    unsigned char mask[32];
    int ml = 0;
    if (EVP_EncryptUpdate(k->hp, mask, &ml, b + pn_off + 4, 16) != 1 || ml != 16) {
        PyErr_SetString(PyExc_RuntimeError, "libcrypto failed (header protection)");
        return -1;
    }
    unsigned first = b[pos] ^ (mask[0] & 0x0F);
    size_t pn_len = (first & 3) + 1;
    uint64_t num = 0;
    for (size_t i = 0; i < pn_len; i++)
        num = (num << 8) | (b[pn_off + i] ^ mask[1 + i]);
    /* The associated data is the unprotected header: the first byte and the packet number
     * unmasked, the rest (any length: tokens are arbitrary) as sent. */
    unsigned char head[1] = {(unsigned char)first}, pnb[4];
    for (size_t i = 0; i < pn_len; i++)
        pnb[i] = (unsigned char)(num >> (8 * (pn_len - 1 - i)));
    size_t mid = pn_off - pos - 1;
    unsigned char nonce[12];
    memcpy(nonce, k->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (unsigned char)(num >> (8 * i));
    size_t ct_at = pn_off + pn_len;
    size_t ct_len = end - ct_at - 16; /* >= 0: pn_off + 20 <= end, pn_len <= 4 */
    if (end > INT_MAX)
        return 0;
    int ol = 0, fl = 0;
    int ok = EVP_DecryptInit_ex(k->gcm, NULL, NULL, NULL, nonce) == 1 &&
             EVP_DecryptUpdate(k->gcm, NULL, &ol, head, 1) == 1 &&
             (mid == 0 || EVP_DecryptUpdate(k->gcm, NULL, &ol, b + pos + 1, (int)mid) == 1) &&
             EVP_DecryptUpdate(k->gcm, NULL, &ol, pnb, (int)pn_len) == 1 &&
             EVP_DecryptUpdate(k->gcm, pt, &ol, b + ct_at, (int)ct_len) == 1 &&
             EVP_CIPHER_CTX_ctrl(k->gcm, EVP_CTRL_GCM_SET_TAG, 16, (void *)(b + ct_at + ct_len)) == 1 &&
             EVP_DecryptFinal_ex(k->gcm, pt + ol, &fl) == 1;
    if (!ok)
        return 0; /* decrypt_failed */
    *ptlen = ct_len;
    *pn = num;
    return 1;
}

/* quic_open(data, pos, pn_offset, end, dcid, version): (pn, plaintext), or None where
 * quic.decrypt_initial raises QuicError. */
static PyObject *py_quic_open(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "quic_open(data, pos, pn_offset, end, dcid, version)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t pn_off = PyLong_AsSsize_t(args[2]);
    Py_ssize_t end = PyLong_AsSsize_t(args[3]);
    unsigned long version = PyLong_AsUnsignedLong(args[5]);
    if (PyErr_Occurred())
        return NULL;
    if (version != V1 && version != V2) {
        PyErr_SetString(PyExc_ValueError, "unsupported QUIC version");
        return NULL;
    }
    Py_buffer v, d;
    if (PyObject_GetBuffer(args[0], &v, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[4], &d, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&v);
        return NULL;
    }
    PyObject *out = NULL;
    unsigned char *pt = NULL;
    if (pos < 0 || pn_off <= pos || end < pn_off || end > v.len || d.len > MAX_CID) {
        PyErr_SetString(PyExc_ValueError, "inconsistent QUIC header offsets");
        goto done;
    }
    pt = PyMem_Malloc((size_t)(end - pn_off) + 1);
    if (pt == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    size_t ptlen = 0;
    uint64_t pn = 0;
    int r = open_initial(v.buf, (size_t)pos, (size_t)pn_off, (size_t)end, d.buf, (size_t)d.len,
                         (uint32_t)version, pt, &ptlen, &pn);
    if (r < 0)
        goto done;
    if (r == 0) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    out = Py_BuildValue("(Ky#)", (unsigned long long)pn, (const char *)pt, (Py_ssize_t)ptlen);
done:
    PyMem_Free(pt);
    PyBuffer_Release(&d);
    PyBuffer_Release(&v);
    return out;
}

/* One CRYPTO frame: stream offset, and where its data is in the payload. */
typedef struct {
    uint64_t off;
    size_t at, len;
} Frag;

/* quic.crypto_frames: fills out[] (room for n / 3 + 1: a CRYPTO frame takes at least three
 * bytes) and returns the count, or -1 with a QuicError reason in *err. */
static Py_ssize_t walk_frames(const unsigned char *b, size_t n, Frag *out, const char **err)
{
    size_t pos = 0, count = 0;
    while (pos < n) {
        unsigned t = b[pos];
        uint64_t a, ln, cnt, x;
        if (t == 0x00) {
            while (pos < n && b[pos] == 0)
                pos++;
        } else if (t == 0x01) {
            pos += 1;
        } else if (t == 0x06) {
            pos += 1;
            if (varint(b, &pos, n, &a) < 0 || varint(b, &pos, n, &ln) < 0) {
                *err = "truncated_varint";
                return -1;
            }
            if (ln > n - pos) {
                *err = "bad_crypto_frame";
                return -1;
            }
            out[count].off = a;
            out[count].at = pos;
            out[count].len = (size_t)ln;
            count++;
            pos += (size_t)ln;
        } else if (t == 0x02 || t == 0x03) {
            pos += 1;
            if (varint(b, &pos, n, &x) < 0 || varint(b, &pos, n, &x) < 0 ||
                varint(b, &pos, n, &cnt) < 0 || varint(b, &pos, n, &x) < 0) {
                *err = "truncated_varint";
                return -1;
            }
            if (cnt > n) {
                *err = "bad_ack_frame";
                return -1;
            }
            uint64_t more = cnt * 2 + (t == 0x03 ? 3 : 0);
            for (uint64_t i = 0; i < more; i++) {
                if (varint(b, &pos, n, &x) < 0) {
                    *err = "truncated_varint";
                    return -1;
                }
            }
        } else {
            break;
        }
    }
    return (Py_ssize_t)count;
}

/* crypto_frames(payload): list of (offset, data), or a str (QuicError reason). */
static PyObject *py_crypto_frames(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = v.buf;
    size_t n = (size_t)v.len;
    PyObject *out = NULL;
    Frag *frags = PyMem_Malloc((n / 3 + 1) * sizeof(Frag));
    if (frags == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const char *err = NULL;
    Py_ssize_t count = walk_frames(b, n, frags, &err);
    if (count < 0) {
        out = PyUnicode_FromString(err);
        goto done;
    }
    out = PyList_New(count);
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = Py_BuildValue("(Ky#)", (unsigned long long)frags[i].off,
                                       (const char *)b + frags[i].at, (Py_ssize_t)frags[i].len);
        if (item == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, item);
    }
done:
    PyMem_Free(frags);
    PyBuffer_Release(&v);
    return out;
}

/* ---------------------------------------------------------------------- lean path */

/* Interned counter names. */
static PyObject *s_frames, *s_use_fast_path, *s_next_attempt, *s_observations, *empty_tuple;
static PyObject *one, *s_dns_queries, *s_dns_responses, *s_invalid_names, *s_ignored, *s_quic_sni;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vc;
    PyObject *counters;
    PyObject *entries;   /* the address book: dict ip -> mac */
    PyObject *flows;     /* the reassembler's flow table (a dict subclass) */
    PyObject *qnames;    /* DNS question wire bytes -> normalised name ("" invalid) */
    PyObject *sources;   /* raw MAC+address bytes -> (address, MAC, eligible) */
    PyObject *classify, *learn, *wire_name, *record, *stream, *emit, *quic_datagram,
        *looks_like_http;
    PyObject *dns_channel, *quic_channel;
    PyObject *pipe, *general, *fault, *is_chamber;
    PyObject *obs_cls, *obs_slots, *one_channel, *names; /* NULL: _record/_emit in Python */
    long linktype;
    int has_networks;
    Py_ssize_t cache_limit;
    unsigned char dns_ports[8192];
    unsigned char quic_ports[8192];
    unsigned char method_first[32];
} Lean;

static int bit(const unsigned char *map, unsigned i) { return (map[i >> 3] >> (i & 7)) & 1; }

static int fill_map(unsigned char *map, size_t size, PyObject *values)
{
    memset(map, 0, size);
    PyObject *it = PyObject_GetIter(values);
    if (it == NULL)
        return -1;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        long x = PyLong_AsLong(item);
        Py_DECREF(item);
        if (x == -1 && PyErr_Occurred()) {
            Py_DECREF(it);
            return -1;
        }
        if (x >= 0 && (size_t)x < size * 8)
            map[x >> 3] |= (unsigned char)(1 << (x & 7));
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static int incr(PyObject *obj, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    PyObject *w = PyNumber_Add(v, one);
    Py_DECREF(v);
    if (w == NULL)
        return -1;
    int r = PyObject_SetAttr(obj, name, w);
    Py_DECREF(w);
    return r;
}

/* Put key -> value into a bounded cache dict (cleared when full), as the pipeline does. */
static int cache_put(PyObject *cache, PyObject *key, PyObject *value, Py_ssize_t limit)
{
    if (PyDict_GET_SIZE(cache) >= limit)
        PyDict_Clear(cache);
    return PyDict_SetItem(cache, key, value);
}

/* PacketPipeline._source / _destination: (address, MAC, eligible), new reference. */
static PyObject *endpoint(Lean *L, const unsigned char *f, int v6, int dst, int teach)
{
    size_t mac_at = dst ? 0 : 6;
    size_t ip_at = v6 ? (dst ? 38 : 22) : (dst ? 30 : 26);
    size_t ip_len = v6 ? 16 : 4;
    unsigned char raw[22];
    memcpy(raw, f + mac_at, 6);
    memcpy(raw + 6, f + ip_at, ip_len);
    PyObject *key = PyBytes_FromStringAndSize((const char *)raw, (Py_ssize_t)(6 + ip_len));
    if (key == NULL)
        return NULL;
    PyObject *res = PyDict_GetItemWithError(L->sources, key);
    if (res != NULL) {
        Py_INCREF(res);
    } else {
        if (PyErr_Occurred())
            goto fail;
        PyObject *who = Py_BuildValue("(y#y#)", (const char *)raw, (Py_ssize_t)6,
                                      (const char *)raw + 6, (Py_ssize_t)ip_len);
        if (who == NULL)
            goto fail;
        res = PyObject_CallOneArg(L->classify, who);
        Py_DECREF(who);
        if (res == NULL)
            goto fail;
        if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 3) {
            PyErr_SetString(PyExc_TypeError, "_classify must return a 3-tuple");
            Py_DECREF(res);
            goto fail;
        }
        if (cache_put(L->sources, key, res, L->cache_limit) < 0) {
            Py_DECREF(res);
            goto fail;
        }
    }
    Py_DECREF(key);
    if (teach) {
        int eligible = PyObject_IsTrue(PyTuple_GET_ITEM(res, 2));
        if (eligible < 0) {
            Py_DECREF(res);
            return NULL;
        }
        if (eligible) {
            PyObject *ip = PyTuple_GET_ITEM(res, 0), *mac = PyTuple_GET_ITEM(res, 1);
            PyObject *known = PyDict_GetItemWithError(L->entries, ip);
            int same = 0;
            if (known != NULL) {
                same = known == mac ? 1 : PyObject_RichCompareBool(known, mac, Py_EQ);
                if (same < 0) {
                    Py_DECREF(res);
                    return NULL;
                }
            } else if (PyErr_Occurred()) {
                Py_DECREF(res);
                return NULL;
            }
            if (!same) {
                PyObject *r = PyObject_CallFunctionObjArgs(L->learn, ip, mac, Py_False, NULL);
                if (r == NULL) {
                    Py_DECREF(res);
                    return NULL;
                }
                Py_DECREF(r);
            }
        }
    }
    return res;
fail:
    Py_DECREF(key);
    return NULL;
}

/* PacketPipeline._attribute: new reference (a MAC str or None). */
static PyObject *attribute(Lean *L, PyObject *end)
{
    PyObject *mac = PyDict_GetItemWithError(L->entries, PyTuple_GET_ITEM(end, 0));
    if (mac != NULL)
        return Py_NewRef(mac);
    if (PyErr_Occurred())
        return NULL;
    int eligible = PyObject_IsTrue(PyTuple_GET_ITEM(end, 2));
    if (eligible < 0)
        return NULL;
    return Py_NewRef(eligible ? PyTuple_GET_ITEM(end, 1) : Py_None);
}

/* PacketPipeline._lean_question: new reference to the name (str, "" when invalid), or
 * Py_None (borrowed semantics: returned with a new reference too) when the general path
 * must take the message, or NULL on error. */
static PyObject *lean_question(Lean *L, const unsigned char *f, size_t p, size_t end, int response)
{
    if (end - p < (size_t)(response ? 12 : 17))
        return Py_NewRef(Py_None);
    unsigned flags = f[p + 2];
    if (response) {
        if (!(flags & 0x80) || (flags & 0x78))
            return Py_NewRef(Py_None);
    } else if (flags & 0xF8) {
        return Py_NewRef(Py_None);
    }
    if (f[p + 4] || f[p + 5] != 1)
        return Py_NewRef(Py_None);
    size_t q = p + 12;
    const unsigned char *z = memchr(f + q, 0, end - q);
    if (z == NULL || (size_t)(z - f) + 5 > end)
        return Py_NewRef(Py_None);
    PyObject *wire = PyBytes_FromStringAndSize((const char *)f + q, (Py_ssize_t)((size_t)(z - f) - q));
    if (wire == NULL)
        return NULL;
    PyObject *name = PyDict_GetItemWithError(L->qnames, wire);
    if (name != NULL) {
        Py_INCREF(name);
    } else if (PyErr_Occurred()) {
        name = NULL;
    } else {
        name = PyObject_CallOneArg(L->wire_name, wire);
        if (name != NULL && name != Py_None && cache_put(L->qnames, wire, name, L->cache_limit) < 0)
            Py_CLEAR(name);
    }
    Py_DECREF(wire);
    return name;
}

/* PacketPipeline._record with no dedup window and no chamber networks: the next attempt id,
 * the counter, and a CaptureObservation built like new_observation (its slots set through
 * their descriptors). New reference to None, or NULL. */
static PyObject *fast_record(Lean *L, PyObject *ts, PyObject *mac, PyObject *ip, PyObject *channel,
                             PyObject *name, PyObject *out)
{
    PyObject *chs = PyDict_GetItemWithError(L->one_channel, channel);
    if (chs == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, channel);
        return NULL;
    }
    PyObject *att = PyObject_GetAttr(L->pipe, s_next_attempt);
    if (att == NULL)
        return NULL;
    PyObject *next = PyNumber_Add(att, one);
    Py_DECREF(att);
    if (next == NULL)
        return NULL;
    if (PyObject_SetAttr(L->pipe, s_next_attempt, next) < 0 ||
        incr(L->counters, s_observations) < 0) {
        Py_DECREF(next);
        return NULL;
    }
    PyObject *obs = PyBaseObject_Type.tp_new((PyTypeObject *)L->obs_cls, empty_tuple, NULL);
    if (obs == NULL) {
        Py_DECREF(next);
        return NULL;
    }
    PyObject *values[8] = {ts, mac, ip, channel, name, chs, next, Py_False};
    for (Py_ssize_t i = 0; i < 8; i++) {
        PyObject *d = PyTuple_GET_ITEM(L->obs_slots, i);
        descrsetfunc set = Py_TYPE(d)->tp_descr_set;
        if (set == NULL || set(d, obs, values[i]) < 0) {
            if (set == NULL)
                PyErr_SetString(PyExc_TypeError, "not a slot descriptor");
            Py_DECREF(next);
            Py_DECREF(obs);
            return NULL;
        }
    }
    Py_DECREF(next);
    int r = PyList_Append(out, obs);
    Py_DECREF(obs);
    return r < 0 ? NULL : Py_NewRef(Py_None);
}

/* _record(ts, mac, ip, channel, name, out) or _emit(ts, mac, ip, channel, raw, out) for an
 * endpoint; _emit's name cache and _record are done here when fast_record applies. */
static PyObject *call_record(Lean *L, PyObject *ts, PyObject *end, PyObject *channel,
                             PyObject *name, PyObject *out, PyObject *meth)
{
    PyObject *mac = attribute(L, end);
    if (mac == NULL)
        return NULL;
    PyObject *ip = PyTuple_GET_ITEM(end, 0), *r;
    if (L->obs_cls != NULL && meth == L->record) {
        r = fast_record(L, ts, mac, ip, channel, name, out);
    } else if (L->obs_cls != NULL && meth == L->emit &&
               (r = PyDict_GetItemWithError(L->names, name)) != NULL && PyUnicode_Check(r)) {
        if (PyUnicode_GET_LENGTH(r) == 0)
            r = incr(L->counters, s_invalid_names) < 0 ? NULL : Py_NewRef(Py_None);
        else
            r = fast_record(L, ts, mac, ip, channel, r, out);
    } else if (PyErr_Occurred()) {
        r = NULL;
    } else {
        PyObject *args[6] = {ts, mac, ip, channel, name, out};
        r = PyObject_Vectorcall(meth, args, 6, NULL);
    }
    Py_DECREF(mac);
    return r;
}

/* The general path for an Ethernet ARP frame (frames.parse_arp, then _dispatch): learn
 * the sender's MAC for its address as a strong binding. False (general path) only where
 * parse_arp raises (short_arp). */
static PyObject *lean_arp(Lean *L, const unsigned char *f, size_t n)
{
    if (n - 14 < 28)
        Py_RETURN_FALSE;
    if (be16(f + 14) != 1 || be16(f + 16) != 0x0800 || f[18] != 6 || f[19] != 4)
        Py_RETURN_TRUE;
    const unsigned char *mac = f + 22, *ip = f + 28;
    if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
        Py_RETURN_TRUE;
    if (!(ip[0] | ip[1] | ip[2] | ip[3]))
        Py_RETURN_TRUE; /* ARP probe (RFC 5227): address not yet owned */
    PyObject *ips = PyUnicode_FromFormat("%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
    if (ips == NULL)
        return NULL;
    if (L->has_networks) {
        PyObject *r = PyObject_CallOneArg(L->is_chamber, ips);
        int ok = r ? PyObject_IsTrue(r) : -1;
        Py_XDECREF(r);
        if (ok <= 0) {
            Py_DECREF(ips);
            return ok < 0 ? NULL : Py_NewRef(Py_True);
        }
    }
    static const char hex[] = "0123456789abcdef";
    char text[17];
    for (int i = 0; i < 6; i++) {
        text[i * 3] = hex[mac[i] >> 4];
        text[i * 3 + 1] = hex[mac[i] & 15];
        if (i < 5)
            text[i * 3 + 2] = ':';
    }
    PyObject *macs = PyUnicode_FromStringAndSize(text, 17);
    if (macs == NULL) {
        Py_DECREF(ips);
        return NULL;
    }
    PyObject *r = PyObject_CallFunctionObjArgs(L->learn, ips, macs, NULL);
    Py_DECREF(ips);
    Py_DECREF(macs);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_TRUE;
}

#define RET_FALSE Py_RETURN_FALSE
#define DONE(x)                                                                                   \
    do {                                                                                          \
        ret = (x);                                                                                \
        goto out;                                                                                 \
    } while (0)

/* PacketPipeline._lean: True when the frame was handled completely, False when it must take
 * the general path (and nothing was changed). lean(ts, frame, out). */
static PyObject *lean_call(Lean *L, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "lean(ts, frame, out)");
        return NULL;
    }
    PyObject *ts = args[0], *frame = args[1], *out = args[2];
    if (!PyBytes_Check(frame))
        RET_FALSE; /* the Python lean path takes bytes only too (bytes-like: general path) */
    const unsigned char *f = (const unsigned char *)PyBytes_AS_STRING(frame);
    size_t n = (size_t)PyBytes_GET_SIZE(frame);
    size_t end, l4;
    unsigned proto;
    int v6;
    if (n < 42)
        RET_FALSE;
    if (f[12] == 8 && f[13] == 0) {
        if (f[14] != 0x45 || (f[20] & 0x1F) || f[21])
            RET_FALSE;
        end = 14 + be16(f + 16);
        if (end < 34)
            RET_FALSE;
        if (end > n)
            end = n;
        proto = f[23];
        v6 = 0;
        l4 = 34;
    } else if (f[12] == 0x86 && f[13] == 0xDD) {
        if (n < 62 || f[14] >> 4 != 6)
            RET_FALSE;
        size_t plen = be16(f + 18);
        if (!plen)
            RET_FALSE;
        end = 54 + plen;
        if (end > n)
            end = n;
        proto = f[20];
        v6 = 1;
        l4 = 54;
    } else if (f[12] == 8 && f[13] == 6) {
        return lean_arp(L, f, n);
    } else {
        RET_FALSE;
    }
    PyObject *ret = NULL, *src = NULL, *name = NULL, *tmp = NULL;
    if (proto == 17) {
        if (l4 + 8 > end)
            RET_FALSE;
        unsigned sport = be16(f + l4), dport = be16(f + l4 + 2);
        size_t ulen = be16(f + l4 + 4);
        if (ulen >= 8 && l4 + ulen < end)
            end = l4 + ulen;
        size_t p = l4 + 8;
        if (bit(L->dns_ports, dport) || bit(L->dns_ports, sport)) {
            int response = !bit(L->dns_ports, dport);
            name = lean_question(L, f, p, end, response);
            if (name == NULL)
                DONE(NULL);
            if (name == Py_None)
                DONE(Py_NewRef(Py_False));
            src = endpoint(L, f, v6, 0, 1);
            if (src == NULL || incr(L->counters, response ? s_dns_responses : s_dns_queries) < 0)
                DONE(NULL);
            if (PyUnicode_GET_LENGTH(name) == 0)
                DONE(incr(L->counters, s_invalid_names) < 0 ? NULL : Py_NewRef(Py_True));
            if (response) {
                Py_SETREF(src, endpoint(L, f, v6, 1, 0));
                if (src == NULL)
                    DONE(NULL);
            }
            tmp = call_record(L, ts, src, L->dns_channel, name, out, L->record);
            DONE(tmp == NULL ? NULL : Py_NewRef(Py_True));
        }
        if (dport == 67 || (sport == 67 && dport == 68))
            RET_FALSE;
        src = endpoint(L, f, v6, 0, 1);
        if (src == NULL)
            DONE(NULL);
        if (bit(L->quic_ports, dport) && end - p >= 1200) {
            unsigned first = f[p];
            uint32_t version = be32(f + p + 1);
            int initial = (first & 0x80) && ((version == V1 && (first & 0x30) == 0x00) ||
                                             (version == V2 && (first & 0x30) == 0x10));
            if (initial) {
                PyObject *payload = PyBytes_FromStringAndSize((const char *)f + p,
                                                              (Py_ssize_t)(end - p));
                if (payload == NULL)
                    DONE(NULL);
                PyObject *a2[2] = {ts, payload};
                tmp = PyObject_Vectorcall(L->quic_datagram, a2, 2, NULL);
                Py_DECREF(payload);
                if (tmp == NULL)
                    DONE(NULL);
                PyObject *it = PyObject_GetIter(tmp);
                if (it == NULL)
                    DONE(NULL);
                PyObject *raw;
                while ((raw = PyIter_Next(it)) != NULL) {
                    PyObject *r = NULL;
                    if (incr(L->counters, s_quic_sni) == 0)
                        r = call_record(L, ts, src, L->quic_channel, raw, out, L->emit);
                    Py_DECREF(raw);
                    if (r == NULL) {
                        Py_DECREF(it);
                        DONE(NULL);
                    }
                    Py_DECREF(r);
                }
                Py_DECREF(it);
                DONE(PyErr_Occurred() ? NULL : Py_NewRef(Py_True));
            }
        }
        DONE(incr(L->counters, s_ignored) < 0 ? NULL : Py_NewRef(Py_True));
    }
    if (proto == 6) {
        if (l4 + 20 > end)
            RET_FALSE;
        size_t hlen = (size_t)(f[l4 + 12] >> 4) * 4;
        size_t p = l4 + hlen;
        if (hlen < 20 || p > end)
            RET_FALSE;
        src = endpoint(L, f, v6, 0, 1);
        if (src == NULL)
            DONE(NULL);
        unsigned flags = f[l4 + 13];
        if (flags & 0x06) {
            if ((flags & 0x16) == 0x12)
                DONE(Py_NewRef(Py_True)); /* a server's SYN-ACK */
        } else if (p == end) {
            DONE(Py_NewRef(Py_True)); /* pure ACKs and FINs */
        }
        size_t kat = v6 ? l4 - 32 : l4 - 8;
        PyObject *key = PyBytes_FromStringAndSize((const char *)f + kat, (Py_ssize_t)(l4 + 4 - kat));
        if (key == NULL)
            DONE(NULL);
        unsigned dport = be16(f + l4 + 2);
        if (!(flags & 0x06) && !bit(L->dns_ports, dport)) {
            int known = PyDict_Contains(L->flows, key);
            if (known < 0) {
                Py_DECREF(key);
                DONE(NULL);
            }
            if (!known) {
                unsigned b0 = f[p];
                int start;
                if (b0 == 0x16) {
                    start = end - p >= 6 && f[p + 1] == 3 && f[p + 5] == 1;
                } else if (!bit(L->method_first, b0)) {
                    start = 0;
                } else {
                    size_t m = end - p < 8 ? end - p : 8;
                    PyObject *head = PyBytes_FromStringAndSize((const char *)f + p, (Py_ssize_t)m);
                    PyObject *r = head ? PyObject_CallOneArg(L->looks_like_http, head) : NULL;
                    Py_XDECREF(head);
                    start = r ? PyObject_IsTrue(r) : -1;
                    Py_XDECREF(r);
                    if (start < 0) {
                        Py_DECREF(key);
                        DONE(NULL);
                    }
                }
                if (!start) {
                    Py_DECREF(key);
                    DONE(Py_NewRef(Py_True));
                }
            }
        }
        PyObject *payload = PyBytes_FromStringAndSize((const char *)f + p, (Py_ssize_t)(end - p));
        PyObject *seq = PyLong_FromUnsignedLong((unsigned long)be32(f + l4 + 4));
        PyObject *fl = PyLong_FromLong((long)flags);
        PyObject *dp = PyLong_FromLong((long)dport);
        if (payload && seq && fl && dp) {
            PyObject *a6[6] = {ts, key, seq, fl, payload, dp};
            tmp = PyObject_Vectorcall(L->stream, a6, 6, NULL);
        }
        Py_DECREF(key);
        Py_XDECREF(payload);
        Py_XDECREF(seq);
        Py_XDECREF(fl);
        Py_XDECREF(dp);
        if (tmp == NULL)
            DONE(NULL);
        if (tmp != Py_None) {
            if (!PyTuple_Check(tmp) || PyTuple_GET_SIZE(tmp) != 2) {
                PyErr_SetString(PyExc_TypeError, "_stream must return None or a 2-tuple");
                DONE(NULL);
            }
            PyObject *r = call_record(L, ts, src, PyTuple_GET_ITEM(tmp, 0),
                                      PyTuple_GET_ITEM(tmp, 1), out, L->emit);
            if (r == NULL)
                DONE(NULL);
            Py_DECREF(r);
        }
        DONE(Py_NewRef(Py_True));
    }
    if (v6 && (proto == 0 || proto == 43 || proto == 44 || proto == 51 || proto == 60 || proto == 58))
        RET_FALSE;
    src = endpoint(L, f, v6, 0, 1);
    if (src == NULL)
        DONE(NULL);
    DONE(incr(L->counters, s_ignored) < 0 ? NULL : Py_NewRef(Py_True));
out:
    Py_XDECREF(src);
    Py_XDECREF(name);
    Py_XDECREF(tmp);
    return ret;
}


/* PacketPipeline.feed with this lean path: frames counted, the lean path tried, the general
 * path (pipe._general) otherwise; what the lean path raises is counted by pipe._fault, as
 * the Python feed's ``except Exception`` does. feed(ts, frame, linktype=None) -> list. */
static PyObject *Lean_feed(Lean *L, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs < 2 || nargs > 3 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0 &&
                                   (nargs != 2 || PyTuple_GET_SIZE(kwnames) != 1))) {
        PyErr_SetString(PyExc_TypeError, "feed(ts, frame, linktype=None)");
        return NULL;
    }
    PyObject *lt = Py_None;
    if (nargs == 3) {
        lt = args[2];
    } else if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) == 1) {
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "linktype") != 0) {
            PyErr_SetString(PyExc_TypeError, "feed() got an unexpected keyword argument");
            return NULL;
        }
        lt = args[2];
    }
    if (incr(L->counters, s_frames) < 0)
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    long linktype = L->linktype;
    PyObject *ltobj = NULL;
    if (lt != Py_None) {
        linktype = PyLong_AsLong(lt);
        if (linktype == -1 && PyErr_Occurred())
            goto fail;
        ltobj = Py_NewRef(lt);
    }
    if (linktype == 1) {
        PyObject *flag = PyObject_GetAttr(L->pipe, s_use_fast_path);
        int fast = flag ? PyObject_IsTrue(flag) : -1;
        Py_XDECREF(flag);
        if (fast < 0)
            goto fail;
        if (fast) {
            PyObject *a3[3] = {args[0], args[1], out};
            PyObject *r = lean_call(L, a3, 3);
            if (r == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_Exception))
                    goto fail; /* KeyboardInterrupt, SystemExit: not ours to count */
                PyObject *type, *value, *tb;
                PyErr_Fetch(&type, &value, &tb);
                PyErr_NormalizeException(&type, &value, &tb);
                if (tb != NULL)
                    PyException_SetTraceback(value, tb);
                PyObject *c = PyObject_CallOneArg(L->fault, value);
                Py_XDECREF(type);
                Py_XDECREF(value);
                Py_XDECREF(tb);
                if (c == NULL)
                    goto fail;
                Py_DECREF(c);
                Py_XDECREF(ltobj);
                return out;
            }
            int done = r == Py_True;
            Py_DECREF(r);
            if (done) {
                Py_XDECREF(ltobj);
                return out;
            }
        }
    }
    if (ltobj == NULL && (ltobj = PyLong_FromLong(linktype)) == NULL)
        goto fail;
    PyObject *a4[4] = {args[0], args[1], ltobj, out};
    PyObject *g = PyObject_Vectorcall(L->general, a4, 4, NULL);
    if (g == NULL)
        goto fail;
    Py_DECREF(g);
    Py_DECREF(ltobj);
    return out;
fail:
    Py_XDECREF(ltobj);
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef Lean_methods[] = {
    {"feed", (PyCFunction)(void (*)(void))Lean_feed, METH_FASTCALL | METH_KEYWORDS,
     "PacketPipeline.feed in C (the pipeline installs it as its feed)."},
    {NULL, NULL, 0, NULL},
};

static PyObject *Lean_vcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kw)
{
    if (kw != NULL && PyTuple_GET_SIZE(kw)) {
        PyErr_SetString(PyExc_TypeError, "lean() takes no keyword arguments");
        return NULL;
    }
    return lean_call((Lean *)self, args, PyVectorcall_NARGS(nargsf));
}

static PyObject *Lean_call(PyObject *self, PyObject *args, PyObject *kw)
{
    if (kw != NULL && PyDict_GET_SIZE(kw)) {
        PyErr_SetString(PyExc_TypeError, "lean() takes no keyword arguments");
        return NULL;
    }
    return lean_call((Lean *)self, &PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args));
}

#define LEAN_OBJECTS(X)                                                                           \
    X(counters) X(entries) X(flows) X(qnames) X(sources) X(classify) X(learn) X(wire_name)        \
    X(record) X(stream) X(emit) X(quic_datagram) X(looks_like_http) X(dns_channel) X(quic_channel) \
    X(pipe) X(general) X(fault) X(is_chamber) X(obs_cls) X(obs_slots) X(one_channel) X(names)

static int Lean_traverse(Lean *self, visitproc visit, void *arg)
{
#define VISIT(f) Py_VISIT(self->f);
    LEAN_OBJECTS(VISIT)
#undef VISIT
    return 0;
}

static int Lean_clear(Lean *self)
{
#define CLEAR(f) Py_CLEAR(self->f);
    LEAN_OBJECTS(CLEAR)
#undef CLEAR
    return 0;
}

static void Lean_dealloc(Lean *self)
{
    PyObject_GC_UnTrack(self);
    Lean_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Lean_new(PyTypeObject *type, PyObject *args, PyObject *kw);

static PyTypeObject LeanType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "monitor.capture._fastcap.Lean",
    .tp_basicsize = sizeof(Lean),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "PacketPipeline._lean in C; built by the pipeline, called as lean(ts, frame, out).",
    .tp_new = Lean_new,
    .tp_traverse = (traverseproc)Lean_traverse,
    .tp_clear = (inquiry)Lean_clear,
    .tp_dealloc = (destructor)Lean_dealloc,
    .tp_call = Lean_call,
    .tp_methods = Lean_methods,
    .tp_vectorcall_offset = offsetof(Lean, vc),
};

static PyObject *Lean_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"counters", "entries", "flows", "qnames", "classify", "learn",
                             "wire_name", "record", "stream", "emit", "quic_datagram",
                             "looks_like_http", "dns_channel", "quic_channel", "dns_ports",
                             "quic_ports", "method_first_bytes", "cache_limit", "pipe", "general",
                             "fault", "is_chamber", "linktype", "has_networks", "observation",
                             NULL};
    PyObject *o[21], *observation;
    Py_ssize_t limit;
    long linktype;
    int has_networks;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO!O!O!OOOOOOOOOOOOOnOOOOlpO", kwlist, &o[0],
                                     &PyDict_Type, &o[1], &PyDict_Type, &o[2], &PyDict_Type, &o[3],
                                     &o[4], &o[5], &o[6], &o[7], &o[8], &o[9], &o[10], &o[11],
                                     &o[12], &o[13], &o[14], &o[15], &o[16], &limit, &o[17],
                                     &o[18], &o[19], &o[20], &linktype, &has_networks, &observation))
        return NULL;
    if (limit < 1) {
        PyErr_SetString(PyExc_ValueError, "cache_limit must be positive");
        return NULL;
    }
    Lean *L = (Lean *)type->tp_alloc(type, 0);
    if (L == NULL)
        return NULL;
    PyObject *self = (PyObject *)L;
    L->vc = Lean_vcall;
    L->cache_limit = limit;
    L->counters = Py_NewRef(o[0]);
    L->entries = Py_NewRef(o[1]);
    L->flows = Py_NewRef(o[2]);
    L->qnames = Py_NewRef(o[3]);
    L->classify = Py_NewRef(o[4]);
    L->learn = Py_NewRef(o[5]);
    L->wire_name = Py_NewRef(o[6]);
    L->record = Py_NewRef(o[7]);
    L->stream = Py_NewRef(o[8]);
    L->emit = Py_NewRef(o[9]);
    L->quic_datagram = Py_NewRef(o[10]);
    L->looks_like_http = Py_NewRef(o[11]);
    L->dns_channel = Py_NewRef(o[12]);
    L->quic_channel = Py_NewRef(o[13]);
    L->pipe = Py_NewRef(o[17]);
    L->general = Py_NewRef(o[18]);
    L->fault = Py_NewRef(o[19]);
    L->is_chamber = Py_NewRef(o[20]);
    L->linktype = linktype;
    L->has_networks = has_networks;
    if (observation != Py_None) {
        PyObject *cls, *slots, *chans, *names;
        if (!PyArg_ParseTuple(observation, "O!O!O!O!", &PyType_Type, &cls, &PyTuple_Type, &slots,
                              &PyDict_Type, &chans, &PyDict_Type, &names) ||
            PyTuple_GET_SIZE(slots) != 8) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "observation: 8 slot descriptors expected");
            Py_DECREF(self);
            return NULL;
        }
        L->obs_cls = Py_NewRef(cls);
        L->obs_slots = Py_NewRef(slots);
        L->one_channel = Py_NewRef(chans);
        L->names = Py_NewRef(names);
    }
    L->sources = PyDict_New();
    if (L->sources == NULL || fill_map(L->dns_ports, sizeof L->dns_ports, o[14]) < 0 ||
        fill_map(L->quic_ports, sizeof L->quic_ports, o[15]) < 0 ||
        fill_map(L->method_first, sizeof L->method_first, o[16]) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

/* ------------------------------------------------------------------------- pcap */

/* replay._pcap_batches' record loop: pcap_records(buf, pos, big_endian, nano) ->
 * ([(ts, frame)], next_pos, corrupt). Stops at the first record not wholly in buf;
 * ``corrupt`` when that record claims more than 64 MiB (Python raises ReplayError). */
static PyObject *py_pcap_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "pcap_records(buf: bytes, pos, big_endian, nano)");
        return NULL;
    }
    Py_ssize_t spos = PyLong_AsSsize_t(args[1]);
    if (spos == -1 && PyErr_Occurred())
        return NULL;
    int big = PyObject_IsTrue(args[2]), nano = PyObject_IsTrue(args[3]);
    if (big < 0 || nano < 0)
        return NULL;
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    size_t n = (size_t)PyBytes_GET_SIZE(args[0]);
    size_t pos = spos < 0 ? 0 : (size_t)spos;
    double div = nano ? 1e9 : 1e6;
    int corrupt = 0;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    while (pos + 16 <= n) {
        uint32_t sec, frac, incl;
        if (big) {
            sec = be32(b + pos);
            frac = be32(b + pos + 4);
            incl = be32(b + pos + 8);
        } else {
            sec = (uint32_t)b[pos] | (uint32_t)b[pos + 1] << 8 | (uint32_t)b[pos + 2] << 16 |
                  (uint32_t)b[pos + 3] << 24;
            frac = (uint32_t)b[pos + 4] | (uint32_t)b[pos + 5] << 8 |
                   (uint32_t)b[pos + 6] << 16 | (uint32_t)b[pos + 7] << 24;
            incl = (uint32_t)b[pos + 8] | (uint32_t)b[pos + 9] << 8 |
                   (uint32_t)b[pos + 10] << 16 | (uint32_t)b[pos + 11] << 24;
        }
        size_t end = pos + 16 + (size_t)incl;
        if (end > n) {
            corrupt = incl > 0x4000000;
            break;
        }
        PyObject *item = Py_BuildValue("(dy#)", (double)sec + (double)frac / div,
                                       (const char *)b + pos + 16, (Py_ssize_t)incl);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
        pos = end;
    }
    PyObject *out = Py_BuildValue("(OnO)", list, (Py_ssize_t)pos, corrupt ? Py_True : Py_False);
    Py_DECREF(list);
    return out;
}

/* ------------------------------------------------------------------- reassembly */

/* reassembly.TcpReassembler (and its StreamBuffer) in C: the same table, the same LRU
 * order, the same bounds and the same counters. Flows live in a slot array linked in LRU
 * order (oldest first); ``flows`` is a dict key -> slot index, so membership tests (the
 * lean path's "is this stream followed?") are one dict lookup. */

typedef struct {
    PyObject *key;     /* NULL: free slot */
    uint32_t base;
    double last_seen;
    int done;
    int has_stream;
    int overflowed;
    unsigned char *data; /* stream bytes, dlen valid (zero-filled gaps), capacity dcap */
    size_t dlen, dcap;
    size_t (*ranges)[2]; /* sorted, disjoint, non-adjacent [a, b) */
    size_t nranges, rcap;
    Py_ssize_t prev, next; /* LRU links (-1: none) */
} Flow;

typedef struct {
    PyObject_HEAD
    PyObject *flows; /* dict key -> int slot */
    Flow *slots;
    Py_ssize_t nslots, free_head, oldest, newest, count;
    size_t max_bytes, max_total_bytes, max_holes;
    double idle_timeout;
    size_t bytes;
    unsigned long long created, evicted_lru, evicted_idle, evicted_memory, gave_up_holes, reset;
} Reasm;

static void lru_unlink(Reasm *R, Py_ssize_t i)
{
    Flow *f = &R->slots[i];
    if (f->prev >= 0)
        R->slots[f->prev].next = f->next;
    else
        R->oldest = f->next;
    if (f->next >= 0)
        R->slots[f->next].prev = f->prev;
    else
        R->newest = f->prev;
    f->prev = f->next = -1;
}

static void lru_append(Reasm *R, Py_ssize_t i)
{
    Flow *f = &R->slots[i];
    f->prev = R->newest;
    f->next = -1;
    if (R->newest >= 0)
        R->slots[R->newest].next = i;
    else
        R->oldest = i;
    R->newest = i;
}

static void stream_free(Reasm *R, Flow *f)
{
    if (f->has_stream)
        R->bytes -= f->dlen;
    PyMem_Free(f->data);
    PyMem_Free(f->ranges);
    f->data = NULL;
    f->ranges = NULL;
    f->dlen = f->dcap = f->nranges = f->rcap = 0;
    f->has_stream = 0;
}

/* _drop: forget a flow (its bytes, its dict entry, its slot). */
static int flow_drop(Reasm *R, Py_ssize_t i)
{
    Flow *f = &R->slots[i];
    stream_free(R, f);
    lru_unlink(R, i);
    PyObject *key = f->key;
    f->key = NULL;
    f->next = R->free_head;
    R->free_head = i;
    R->count--;
    int r = PyDict_DelItem(R->flows, key);
    Py_DECREF(key);
    return r;
}

/* _create */
static Py_ssize_t flow_create(Reasm *R, PyObject *key, uint32_t base, double ts)
{
    while (R->count >= R->nslots) {
        if (flow_drop(R, R->oldest) < 0)
            return -1;
        R->evicted_lru++;
    }
    Py_ssize_t i = R->free_head;
    Flow *f = &R->slots[i];
    R->free_head = f->next;
    PyObject *idx = PyLong_FromSsize_t(i);
    if (idx == NULL || PyDict_SetItem(R->flows, key, idx) < 0) {
        Py_XDECREF(idx);
        f->next = R->free_head;
        R->free_head = i;
        return -1;
    }
    Py_DECREF(idx);
    f->key = Py_NewRef(key);
    f->base = base;
    f->last_seen = ts;
    f->done = 0;
    f->has_stream = 1;
    f->overflowed = 0;
    f->data = NULL;
    f->dlen = f->dcap = 0;
    f->ranges = NULL;
    f->nranges = f->rcap = 0;
    R->count++;
    lru_append(R, i);
    R->created++;
    return i;
}

static Py_ssize_t flow_find(Reasm *R, PyObject *key)
{
    PyObject *idx = PyDict_GetItemWithError(R->flows, key);
    if (idx == NULL)
        return PyErr_Occurred() ? -2 : -1;
    return PyLong_AsSsize_t(idx);
}

static int reasm_expire(Reasm *R, double now)
{
    double limit = now - R->idle_timeout;
    while (R->oldest >= 0) {
        if (R->slots[R->oldest].last_seen >= limit)
            break;
        if (flow_drop(R, R->oldest) < 0)
            return -1;
        R->evicted_idle++;
    }
    return 0;
}

static size_t prefix_len(const Flow *f)
{
    return f->nranges && f->ranges[0][0] == 0 ? f->ranges[0][1] : 0;
}

/* StreamBuffer.add, with the chunk already clipped to offset >= 0; 1 if the prefix grew,
 * -1 on memory error. */
static int stream_add(Reasm *R, Flow *f, long long offset, const unsigned char *chunk, size_t clen)
{
    size_t cap = R->max_bytes;
    if (f->nranges + 1 > f->rcap) { /* room for one more range (an add adds at most one) */
        size_t nc = f->rcap ? f->rcap * 2 : 4;
        void *nr = PyMem_Realloc(f->ranges, nc * sizeof *f->ranges);
        if (nr == NULL)
            return -1;
        f->ranges = nr;
        f->rcap = nc;
    }
    if (offset < 0) {
        size_t cut = (size_t)(-offset);
        if (cut >= clen) {
            clen = 0;
        } else {
            chunk += cut;
            clen -= cut;
        }
        offset = 0;
    }
    /* (Python's shortcut for a first chunk at offset 0 is this general path's result.) */
    size_t start = (size_t)offset, end = start + clen;
    if (end > cap) {
        f->overflowed = 1;
        end = cap;
    }
    if (start >= end)
        return 0;
    size_t before = prefix_len(f);
    if (f->dlen < end) {
        if (f->dcap < end) {
            size_t nc = f->dcap ? f->dcap : 256;
            while (nc < end)
                nc *= 2;
            if (nc > cap)
                nc = cap;
            unsigned char *nd = PyMem_Realloc(f->data, nc);
            if (nd == NULL)
                return -1;
            f->data = nd;
            f->dcap = nc;
        }
        memset(f->data + f->dlen, 0, end - f->dlen);
        f->dlen = end;
    }
    /* Write only into the gaps of [start, end) (first-wins). */
    size_t cur = start;
    for (size_t r = 0; r < f->nranges; r++) {
        size_t a = f->ranges[r][0], b = f->ranges[r][1];
        if (b <= cur)
            continue;
        if (a >= end)
            break;
        if (a > cur)
            memcpy(f->data + cur, chunk + (cur - start), a - cur);
        if (b > cur)
            cur = b;
        if (cur >= end)
            break;
    }
    if (cur < end)
        memcpy(f->data + cur, chunk + (cur - start), end - cur);
    /* Merge [start, end) into the ranges. */
    size_t merged[2 * 64 + 4][2];
    size_t (*m)[2] = merged;
    size_t (*heap)[2] = NULL;
    if (f->nranges + 1 > sizeof merged / sizeof merged[0]) {
        heap = PyMem_Malloc((f->nranges + 1) * sizeof *heap);
        if (heap == NULL)
            return -1;
        m = heap;
    }
    size_t k = 0;
    int placed = 0;
    for (size_t r = 0; r < f->nranges; r++) {
        size_t a = f->ranges[r][0], b = f->ranges[r][1];
        if (b < start) {
            m[k][0] = a;
            m[k++][1] = b;
        } else if (a > end) {
            if (!placed) {
                m[k][0] = start;
                m[k++][1] = end;
                placed = 1;
            }
            m[k][0] = a;
            m[k++][1] = b;
        } else {
            if (a < start)
                start = a;
            if (b > end)
                end = b;
        }
    }
    if (!placed) {
        m[k][0] = start;
        m[k++][1] = end;
    }
    /* k <= nranges + 1 <= rcap */
    memcpy(f->ranges, m, k * sizeof *m);
    f->nranges = k;
    PyMem_Free(heap);
    return prefix_len(f) > before;
}

static void reasm_finish_slot(Reasm *R, Py_ssize_t i)
{
    Flow *f = &R->slots[i];
    if (f->has_stream) {
        stream_free(R, f);
        f->done = 1;
    }
}

/* _enforce_memory */
static int reasm_enforce(Reasm *R, Py_ssize_t current)
{
    while (R->bytes > R->max_total_bytes && R->oldest >= 0) {
        Py_ssize_t old = R->oldest;
        if (old == current && R->count > 1) {
            lru_unlink(R, current);
            lru_append(R, current);
            continue;
        }
        if (flow_drop(R, old) < 0)
            return -1;
        R->evicted_memory++;
    }
    return 0;
}

/* segment(ts, key, seq, flags, payload, may_start) -> bytes | None */
static PyObject *Reasm_segment(Reasm *R, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "segment(ts, key, seq, flags, payload, may_start)");
        return NULL;
    }
    double ts = PyFloat_AsDouble(args[0]);
    if (ts == -1.0 && PyErr_Occurred())
        return NULL;
    PyObject *key = args[1];
    unsigned long long seq = PyLong_AsUnsignedLongLongMask(args[2]);
    if (seq == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    long flags = PyLong_AsLong(args[3]);
    if (flags == -1 && PyErr_Occurred())
        return NULL;
    int may_start = PyObject_IsTrue(args[5]);
    if (may_start < 0)
        return NULL;
    Py_buffer v;
    if (PyObject_GetBuffer(args[4], &v, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = NULL;
    size_t plen = (size_t)v.len;
    if (R->oldest >= 0 && R->slots[R->oldest].last_seen < ts - R->idle_timeout &&
        reasm_expire(R, ts) < 0)
        goto done;
    Py_ssize_t i = flow_find(R, key);
    if (i == -2)
        goto done;
    if (flags & 0x04) { /* RST */
        if (i >= 0) {
            if (flow_drop(R, i) < 0)
                goto done;
            R->reset++;
        }
        out = Py_NewRef(Py_None);
        goto done;
    }
    uint32_t s32 = (uint32_t)seq;
    if (flags & 0x02) { /* SYN */
        if (flags & 0x10) {
            out = Py_NewRef(Py_None);
            goto done;
        }
        uint32_t isn = s32 + 1;
        if (i >= 0 && R->slots[i].base == isn) {
            R->slots[i].last_seen = ts;
            lru_unlink(R, i);
            lru_append(R, i);
        } else {
            if (i >= 0 && flow_drop(R, i) < 0)
                goto done;
            i = flow_create(R, key, isn, ts);
            if (i < 0)
                goto done;
        }
        s32 = isn;
        if (plen == 0) {
            out = Py_NewRef(Py_None);
            goto done;
        }
    } else if (i < 0) {
        if (plen == 0 || !may_start) {
            out = Py_NewRef(Py_None);
            goto done;
        }
        i = flow_create(R, key, s32, ts);
        if (i < 0)
            goto done;
    } else {
        R->slots[i].last_seen = ts;
        lru_unlink(R, i);
        lru_append(R, i);
    }
    Flow *f = &R->slots[i];
    if (!f->has_stream || plen == 0) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    long long rel = (long long)(uint32_t)(s32 - f->base);
    if (rel >= 0x80000000LL)
        rel -= 0x100000000LL;
    if (rel >= (long long)R->max_bytes) {
        f->overflowed = 1;
        out = Py_NewRef(Py_None);
        goto done;
    }
    size_t old = f->dlen;
    int grew = stream_add(R, f, rel, v.buf, plen);
    if (grew < 0) {
        PyErr_NoMemory();
        goto done;
    }
    size_t delta = f->dlen - old;
    if (delta) {
        R->bytes += delta;
        if (reasm_enforce(R, i) < 0)
            goto done;
        if (R->slots[i].key == NULL) { /* evicted itself (enforcement only drops) */
            out = Py_NewRef(Py_None);
            goto done;
        }
    }
    if (f->nranges > R->max_holes) {
        R->gave_up_holes++;
        reasm_finish_slot(R, i);
        out = Py_NewRef(Py_None);
        goto done;
    }
    out = grew ? PyBytes_FromStringAndSize((const char *)f->data, (Py_ssize_t)prefix_len(f))
               : Py_NewRef(Py_None);
done:
    PyBuffer_Release(&v);
    return out;
}


static PyObject *Reasm_finish(Reasm *R, PyObject *key)
{
    Py_ssize_t i = flow_find(R, key);
    if (i == -2)
        return NULL;
    if (i >= 0)
        reasm_finish_slot(R, i);
    Py_RETURN_NONE;
}

static PyObject *Reasm_is_full(Reasm *R, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(n >= 0 && (size_t)n >= R->max_bytes);
}

static PyObject *Reasm_expire(Reasm *R, PyObject *arg)
{
    double now = PyFloat_AsDouble(arg);
    if (now == -1.0 && PyErr_Occurred())
        return NULL;
    if (reasm_expire(R, now) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Reasm_counters(Reasm *R, PyObject *unused)
{
    (void)unused;
    return Py_BuildValue("(KKKKKK)", R->created, R->evicted_lru, R->evicted_idle,
                         R->evicted_memory, R->gave_up_holes, R->reset);
}

static PyObject *Reasm_streams(Reasm *R, PyObject *unused)
{
    (void)unused;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = R->oldest; i >= 0; i = R->slots[i].next) {
        Flow *f = &R->slots[i];
        PyObject *t = f->has_stream ? Py_BuildValue("(nnn)", (Py_ssize_t)f->dlen,
                                                    (Py_ssize_t)f->nranges, (Py_ssize_t)f->dcap)
                                    : Py_NewRef(Py_None);
        if (t == NULL || PyList_Append(out, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(t);
    }
    return out;
}

static PyObject *Reasm_get_flows(Reasm *R, void *c)
{
    (void)c;
    return Py_NewRef(R->flows);
}

static PyObject *Reasm_get_bytes(Reasm *R, void *c)
{
    (void)c;
    return PyLong_FromSize_t(R->bytes);
}

static Py_ssize_t Reasm_len(Reasm *R) { return R->count; }

static int Reasm_traverse(Reasm *R, visitproc visit, void *arg)
{
    Py_VISIT(R->flows);
    for (Py_ssize_t i = 0; R->slots != NULL && i < R->nslots; i++)
        Py_VISIT(R->slots[i].key);
    return 0;
}

static int Reasm_clear(Reasm *R)
{
    for (Py_ssize_t i = 0; R->slots != NULL && i < R->nslots; i++) {
        Flow *f = &R->slots[i];
        PyMem_Free(f->data);
        PyMem_Free(f->ranges);
        f->data = NULL;
        f->ranges = NULL;
        f->dlen = f->dcap = f->nranges = f->rcap = 0;
        f->has_stream = 0;
        Py_CLEAR(f->key);
    }
    R->oldest = R->newest = -1;
    R->count = 0;
    R->bytes = 0;
    R->free_head = -1;
    for (Py_ssize_t i = R->nslots - 1; R->slots != NULL && i >= 0; i--) {
        R->slots[i].next = R->free_head;
        R->slots[i].prev = -1;
        R->free_head = i;
    }
    Py_CLEAR(R->flows);
    return 0;
}

static void Reasm_dealloc(Reasm *R)
{
    PyObject_GC_UnTrack(R);
    Reasm_clear(R);
    PyMem_Free(R->slots);
    Py_TYPE(R)->tp_free((PyObject *)R);
}

static PyObject *Reasm_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"max_bytes", "max_flows", "max_total_bytes", "idle_timeout",
                             "max_holes", NULL};
    Py_ssize_t max_bytes = 16384, max_flows = 4096, max_total = 8 << 20, max_holes = 16;
    double idle = 30.0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|nnndn", kwlist, &max_bytes, &max_flows,
                                     &max_total, &idle, &max_holes))
        return NULL;
    if (max_bytes < 1 || max_flows < 1 || max_total < 0 || max_holes < 0 ||
        max_flows > (1 << 24) || max_holes > (1 << 16)) {
        PyErr_SetString(PyExc_ValueError, "reassembler bounds out of range");
        return NULL;
    }
    Reasm *R = (Reasm *)type->tp_alloc(type, 0);
    if (R == NULL)
        return NULL;
    R->max_bytes = (size_t)max_bytes;
    R->max_total_bytes = (size_t)max_total;
    R->max_holes = (size_t)max_holes;
    R->idle_timeout = idle;
    R->nslots = max_flows;
    R->slots = PyMem_Calloc((size_t)max_flows, sizeof(Flow));
    R->flows = PyDict_New();
    if (R->slots == NULL || R->flows == NULL) {
        Py_DECREF(R);
        return PyErr_NoMemory();
    }
    Py_CLEAR(R->flows);
    Reasm_clear(R); /* links the free list */
    R->flows = PyDict_New();
    if (R->flows == NULL) {
        Py_DECREF(R);
        return NULL;
    }
    return (PyObject *)R;
}

static PyMethodDef Reasm_methods[] = {
    {"segment", (PyCFunction)(void (*)(void))Reasm_segment, METH_FASTCALL,
     "TcpReassembler.segment: the stream's contiguous prefix if it just grew, else None."},
    {"finish", (PyCFunction)Reasm_finish, METH_O, "TcpReassembler.finish"},
    {"is_full", (PyCFunction)Reasm_is_full, METH_O, "TcpReassembler.is_full"},
    {"expire", (PyCFunction)Reasm_expire, METH_O, "TcpReassembler.expire"},
    {"counters", (PyCFunction)Reasm_counters, METH_NOARGS,
     "(created, evicted_lru, evicted_idle, evicted_memory, gave_up_holes, reset)"},
    {"streams", (PyCFunction)Reasm_streams, METH_NOARGS,
     "[(bytes, ranges, allocated) or None for a tombstone] in LRU order (for tests)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Reasm_getset[] = {
    {"flows", (getter)Reasm_get_flows, NULL, "the live flow table (read-only use)", NULL},
    {"buffered_bytes", (getter)Reasm_get_bytes, NULL, "bytes held in stream buffers", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Reasm_seq = {.sq_length = (lenfunc)Reasm_len};

static PyTypeObject ReasmType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "monitor.capture._fastcap.Reassembler",
    .tp_basicsize = sizeof(Reasm),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .tp_doc = "reassembly.TcpReassembler in C (same API, state and bounds).",
    .tp_new = Reasm_new,
    .tp_traverse = (traverseproc)Reasm_traverse,
    .tp_clear = (inquiry)Reasm_clear,
    .tp_dealloc = (destructor)Reasm_dealloc,
    .tp_methods = Reasm_methods,
    .tp_getset = Reasm_getset,
    .tp_as_sequence = &Reasm_seq,
};

/* ------------------------------------------------------------------ QUIC tracker */

/* quic.QuicSniTracker's datagram walk in C: the connection table is a Reassembler table
 * (same LRU and eviction as the OrderedDict), CRYPTO data is placed with the same
 * StreamBuffer logic, and the ClientHello is read with tls_handshake. */
typedef struct {
    PyObject_HEAD
    Reasm *table;
    PyObject *error; /* quic.QuicError */
    size_t max_bytes;
    unsigned long long datagrams, initials, decrypted, decrypt_failed, other_packets, sni,
        no_sni, not_tls, overflowed;
} QTrack;

static PyObject *quic_error(QTrack *Q, const char *reason)
{
    PyObject *exc = PyObject_CallFunction(Q->error, "s", reason);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* QuicSniTracker._initial: new reference to the name, Py_None, or NULL with an exception. */
static PyObject *qt_initial(QTrack *Q, double ts, const unsigned char *b, size_t pos,
                            const LongHdr *h, unsigned char *pt)
{
    Reasm *R = Q->table;
    unsigned char kb[MAX_CID + 4];
    memcpy(kb, b + h->dcid_at, h->dlen);
    kb[h->dlen] = (unsigned char)(h->version >> 24);
    kb[h->dlen + 1] = (unsigned char)(h->version >> 16);
    kb[h->dlen + 2] = (unsigned char)(h->version >> 8);
    kb[h->dlen + 3] = (unsigned char)h->version;
    PyObject *key = PyBytes_FromStringAndSize((const char *)kb, (Py_ssize_t)(h->dlen + 4));
    if (key == NULL)
        return NULL;
    PyObject *out = NULL;
    Frag *frags = NULL;
    Py_ssize_t i = flow_find(R, key);
    if (i == -2)
        goto done;
    if (i >= 0) {
        R->slots[i].last_seen = ts;
        lru_unlink(R, i);
        lru_append(R, i);
        if (!R->slots[i].has_stream) {
            out = Py_NewRef(Py_None); /* already done with this connection */
            goto done;
        }
    }
    size_t ptlen = 0;
    uint64_t pn = 0;
    int r = open_initial(b, pos, h->pn_off, h->end, b + h->dcid_at, h->dlen, h->version, pt,
                         &ptlen, &pn);
    if (r < 0)
        goto done;
    if (r == 0) {
        Q->decrypt_failed++;
        out = Py_NewRef(Py_None);
        goto done;
    }
    Q->decrypted++;
    frags = PyMem_Malloc((ptlen / 3 + 1) * sizeof(Frag));
    if (frags == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const char *err = NULL;
    Py_ssize_t count = walk_frames(pt, ptlen, frags, &err);
    if (count < 0) {
        quic_error(Q, err);
        goto done;
    }
    if (count == 0) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    if (i < 0) {
        i = flow_create(R, key, 0, ts);
        if (i < 0)
            goto done;
    }
    Flow *f = &R->slots[i];
    int grew = 0;
    for (Py_ssize_t j = 0; j < count; j++) {
        size_t old = f->dlen;
        int g = stream_add(R, f, frags[j].off > (uint64_t)LLONG_MAX ? LLONG_MAX
                                                                    : (long long)frags[j].off,
                           pt + frags[j].at, frags[j].len);
        if (g < 0) {
            PyErr_NoMemory();
            goto done;
        }
        R->bytes += f->dlen - old;
        grew |= g;
    }
    if (!grew) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    size_t np = 0, nl = 0, plen = prefix_len(f);
    int res = tls_handshake(f->data, plen, &np, &nl);
    if (res == TLS_NEED_MORE) {
        if (plen >= Q->max_bytes || f->nranges > 64) {
            Q->overflowed++;
            reasm_finish_slot(R, i);
        }
        out = Py_NewRef(Py_None);
        goto done;
    }
    if (res == TLS_NAME)
        out = PyUnicode_DecodeLatin1((const char *)f->data + np, (Py_ssize_t)nl, NULL);
    else
        out = Py_NewRef(Py_None);
    reasm_finish_slot(R, i);
    if (res == TLS_NO_SNI)
        Q->no_sni++;
    else if (res == TLS_NOT_TLS)
        Q->not_tls++;
    else if (out != NULL)
        Q->sni++;
done:
    PyMem_Free(frags);
    Py_DECREF(key);
    return out;
}

/* datagram(ts, data) -> [names]; raises QuicError if the first packet's header is bad. */
static PyObject *QT_datagram(QTrack *Q, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "datagram(ts, data)");
        return NULL;
    }
    double ts = PyFloat_AsDouble(args[0]);
    if (ts == -1.0 && PyErr_Occurred())
        return NULL;
    Py_buffer v;
    if (PyObject_GetBuffer(args[1], &v, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = v.buf;
    size_t n = (size_t)v.len;
    PyObject *names = NULL;
    unsigned char *pt = NULL;
    Q->datagrams++;
    if (reasm_expire(Q->table, ts) < 0)
        goto fail;
    names = PyList_New(0);
    pt = PyMem_Malloc(n + 1);
    if (names == NULL || pt == NULL) {
        if (pt == NULL)
            PyErr_NoMemory();
        goto fail;
    }
    size_t pos = 0;
    while (pos < n) {
        LongHdr h;
        const char *err = NULL;
        int r = long_header(b, n, pos, &h, &err);
        if (r == 0)
            break;
        if (r < 0) {
            if (pos == 0) {
                quic_error(Q, err);
                goto fail;
            }
            break; /* trailing junk after coalesced packets: keep what was read */
        }
        if (!h.is_initial) {
            Q->other_packets++;
            pos = h.end;
            continue;
        }
        Q->initials++;
        PyObject *name = qt_initial(Q, ts, b, pos, &h, pt);
        if (name == NULL)
            goto fail;
        if (name != Py_None && PyList_Append(names, name) < 0) {
            Py_DECREF(name);
            goto fail;
        }
        Py_DECREF(name);
        pos = h.end;
    }
    PyMem_Free(pt);
    PyBuffer_Release(&v);
    return names;
fail:
    Py_XDECREF(names);
    PyMem_Free(pt);
    PyBuffer_Release(&v);
    return NULL;
}

static PyObject *QT_expire(QTrack *Q, PyObject *arg)
{
    return Reasm_expire(Q->table, arg);
}

static PyObject *QT_counters(QTrack *Q, PyObject *unused)
{
    (void)unused;
    return Py_BuildValue("(KKKKKKKKKK)", Q->datagrams, Q->initials, Q->decrypted,
                         Q->decrypt_failed, Q->other_packets, Q->sni, Q->no_sni, Q->not_tls,
                         Q->table->evicted_lru, Q->overflowed);
}

static PyObject *QT_streams(QTrack *Q, PyObject *unused)
{
    return Reasm_streams(Q->table, unused);
}

static Py_ssize_t QT_len(QTrack *Q) { return Q->table->count; }

static int QT_traverse(QTrack *Q, visitproc visit, void *arg)
{
    Py_VISIT(Q->table);
    Py_VISIT(Q->error);
    return 0;
}

static int QT_clear(QTrack *Q)
{
    Py_CLEAR(Q->table);
    Py_CLEAR(Q->error);
    return 0;
}

static void QT_dealloc(QTrack *Q)
{
    PyObject_GC_UnTrack(Q);
    QT_clear(Q);
    Py_TYPE(Q)->tp_free((PyObject *)Q);
}

static PyObject *QT_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"max_conns", "max_bytes", "timeout", "error", NULL};
    Py_ssize_t max_conns, max_bytes;
    double timeout;
    PyObject *error;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "nndO", kwlist, &max_conns, &max_bytes, &timeout,
                                     &error))
        return NULL;
    PyObject *targs = Py_BuildValue("(nnndn)", max_bytes, max_conns, PY_SSIZE_T_MAX, timeout,
                                    (Py_ssize_t)0);
    if (targs == NULL)
        return NULL;
    PyObject *table = PyObject_Call((PyObject *)&ReasmType, targs, NULL);
    Py_DECREF(targs);
    if (table == NULL)
        return NULL;
    QTrack *Q = (QTrack *)type->tp_alloc(type, 0);
    if (Q == NULL) {
        Py_DECREF(table);
        return NULL;
    }
    Q->table = (Reasm *)table;
    Q->error = Py_NewRef(error);
    Q->max_bytes = (size_t)max_bytes;
    return (PyObject *)Q;
}

static PyMethodDef QT_methods[] = {
    {"datagram", (PyCFunction)(void (*)(void))QT_datagram, METH_FASTCALL,
     "QuicSniTracker.datagram: names completed by one client UDP payload."},
    {"expire", (PyCFunction)QT_expire, METH_O, "QuicSniTracker.expire"},
    {"counters", (PyCFunction)QT_counters, METH_NOARGS, "QuicStats fields, in order"},
    {"streams", (PyCFunction)QT_streams, METH_NOARGS, "per-connection buffer sizes (tests)"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods QT_seq = {.sq_length = (lenfunc)QT_len};

static PyTypeObject QTrackType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "monitor.capture._fastcap.QuicTracker",
    .tp_basicsize = sizeof(QTrack),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "quic.QuicSniTracker's table and datagram walk in C.",
    .tp_new = QT_new,
    .tp_traverse = (traverseproc)QT_traverse,
    .tp_clear = (inquiry)QT_clear,
    .tp_dealloc = (destructor)QT_dealloc,
    .tp_methods = QT_methods,
    .tp_as_sequence = &QT_seq,
};

/* ------------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"sni_from_stream", py_sni_from_stream, METH_O,
     "tls.sni_from_stream: str, or 0 NEED_MORE / 1 NOT_TLS / 2 NO_SNI."},
    {"sni_from_handshake", py_sni_from_handshake, METH_O,
     "tls.sni_from_handshake: str, or 0 NEED_MORE / 1 NOT_TLS / 2 NO_SNI."},
    {"quic_header", (PyCFunction)(void (*)(void))py_quic_header, METH_FASTCALL,
     "quic.parse_long_header: None, a QuicError reason, or (version, is_initial, dcid, "
     "pn_offset, end)."},
    {"quic_open", (PyCFunction)(void (*)(void))py_quic_open, METH_FASTCALL,
     "quic.decrypt_initial: (pn, plaintext), or None where it would raise."},
    {"pcap_records", (PyCFunction)(void (*)(void))py_pcap_records, METH_FASTCALL,
     "replay's pcap record loop: ([(ts, frame)], next_pos, corrupt)."},
    {"crypto_frames", py_crypto_frames, METH_O,
     "quic.crypto_frames: [(offset, data)], or a QuicError reason."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastcap", "C accelerator for monitor.capture (see _fastcap.c).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastcap(void)
{
    if (PyType_Ready(&LeanType) < 0 || PyType_Ready(&ReasmType) < 0 ||
        PyType_Ready(&QTrackType) < 0)
        return NULL;
    hmac_key(&salt_v1, SALT_V1, sizeof SALT_V1);
    hmac_key(&salt_v2, SALT_V2, sizeof SALT_V2);
    aes_gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    aes_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
    if (aes_gcm == NULL || aes_ecb == NULL) {
        PyErr_SetString(PyExc_ImportError, "libcrypto has no AES-128-GCM/ECB");
        return NULL;
    }
    s_frames = PyUnicode_InternFromString("frames");
    s_use_fast_path = PyUnicode_InternFromString("use_fast_path");
    s_next_attempt = PyUnicode_InternFromString("_next_attempt");
    s_observations = PyUnicode_InternFromString("observations");
    empty_tuple = PyTuple_New(0);
    if (!s_frames || !s_use_fast_path || !s_next_attempt || !s_observations || !empty_tuple)
        return NULL;
    one = PyLong_FromLong(1);
    s_dns_queries = PyUnicode_InternFromString("dns_queries");
    s_dns_responses = PyUnicode_InternFromString("dns_responses");
    s_invalid_names = PyUnicode_InternFromString("invalid_names");
    s_ignored = PyUnicode_InternFromString("ignored");
    s_quic_sni = PyUnicode_InternFromString("quic_sni");
    if (!one || !s_dns_queries || !s_dns_responses || !s_invalid_names || !s_ignored || !s_quic_sni)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Lean", (PyObject *)&LeanType) < 0 ||
        PyModule_AddObjectRef(m, "Reassembler", (PyObject *)&ReasmType) < 0 ||
        PyModule_AddObjectRef(m, "QuicTracker", (PyObject *)&QTrackType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
