/*
 * stun.c - STUN message codec (RFC 8489).
 *
 * The parser is a bounded reader over one message: it validates the
 * header, walks the TLV attributes recording (type, len, offset) without
 * copying, enforces that only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT may
 * follow MESSAGE-INTEGRITY and nothing may follow FINGERPRINT, and checks
 * the FINGERPRINT CRC. Integrity is checked separately because the key is
 * only known after the USERNAME has been looked up.
 *
 * The builder appends attributes with 4-byte padding and keeps the header
 * length field current after every attribute, which is exactly what
 * MESSAGE-INTEGRITY and FINGERPRINT need (they cover the message "as if"
 * it ended with themselves).
 */
#include "relay/stun.h"
#include "core/addr.h"
#include "core/err.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

_Static_assert(STUN_MAX_MSG <= UINT32_MAX, "stun_attr.off must hold any offset in a message");

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- CRC-32 ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t stun_crc32(const uint8_t *buf, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;

    pthread_once(&crc_once, crc_init);
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ buf[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---- HMAC over (patched header, body) ---- */

static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_init(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/*
 * HMAC-<digest>(key, hdr[0..hlen) || body[0..blen)). out must hold the
 * digest size. Returns 0 or SE_ERR_CRYPTO.
 */
static int hmac2(const char *digest, const uint8_t *key, size_t keylen, const uint8_t *hdr,
                 size_t hlen, const uint8_t *body, size_t blen, uint8_t *out, size_t outcap)
{
    OSSL_PARAM params[2];
    EVP_MAC_CTX *ctx;
    size_t outlen = 0;
    int rc = SE_ERR_CRYPTO;

    pthread_once(&hmac_once, hmac_init);
    if (!hmac_alg)
        return SE_ERR_CRYPTO;
    ctx = EVP_MAC_CTX_new(hmac_alg);
    if (!ctx)
        return SE_ERR_CRYPTO;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, key, keylen, params) != 1)
        goto out;
    if (EVP_MAC_update(ctx, hdr, hlen) != 1)
        goto out;
    if (blen && EVP_MAC_update(ctx, body, blen) != 1)
        goto out;
    if (EVP_MAC_final(ctx, out, &outlen, outcap) != 1)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

/* ---- parsing ---- */

bool stun_is_stun(const uint8_t *buf, size_t len)
{
    return len >= 8 && (buf[0] & 0xC0) == 0 && rd32(buf + 4) == STUN_MAGIC;
}

uint16_t stun_msg_type(uint16_t method, uint8_t cls)
{
    /* M11..M7 C1 M6..M4 C0 M3..M0 (RFC 8489 §5, figure 3) */
    return (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) |
                      ((cls & 1) << 4) | ((cls & 2) << 7));
}

static void split_type(uint16_t type, uint16_t *method, uint8_t *cls)
{
    *method = (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
    *cls = (uint8_t)(((type >> 4) & 1) | ((type >> 7) & 2));
}

static bool is_known_required(uint16_t t)
{
    switch (t) {
    case STUN_A_MAPPED_ADDRESS:
    case STUN_A_USERNAME:
    case STUN_A_MESSAGE_INTEGRITY:
    case STUN_A_ERROR_CODE:
    case STUN_A_UNKNOWN_ATTRIBUTES:
    case STUN_A_CHANNEL_NUMBER:
    case STUN_A_LIFETIME:
    case STUN_A_XOR_PEER_ADDRESS:
    case STUN_A_DATA:
    case STUN_A_REALM:
    case STUN_A_NONCE:
    case STUN_A_XOR_RELAYED_ADDRESS:
    case STUN_A_REQUESTED_ADDRESS_FAMILY:
    case STUN_A_EVEN_PORT:
    case STUN_A_REQUESTED_TRANSPORT:
    case STUN_A_DONT_FRAGMENT:
    case STUN_A_MESSAGE_INTEGRITY_SHA256:
    case STUN_A_PASSWORD_ALGORITHM:
    case STUN_A_XOR_MAPPED_ADDRESS:
    case STUN_A_RESERVATION_TOKEN:
    case STUN_A_PRIORITY:
    case STUN_A_USE_CANDIDATE:
    case STUN_A_PADDING:
    case STUN_A_RESPONSE_PORT:
        return true;
    default:
        return false;
    }
}

int stun_parse(struct stun_msg *m, const uint8_t *buf, size_t len)
{
    size_t body, pos;

    memset(m, 0, offsetof(struct stun_msg, attrs));
    m->mi = m->mi256 = m->fp = -1;
    m->n_unknown = 0;
    if (len < STUN_HEADER_LEN)
        return SE_ERR_TRUNC;
    if ((buf[0] & 0xC0) != 0 || rd32(buf + 4) != STUN_MAGIC)
        return SE_ERR_PARSE;
    m->buf = buf;
    m->tid = buf + 8;
    split_type(rd16(buf), &m->method, &m->cls);
    body = rd16(buf + 2);
    if (body % 4 != 0)
        return SE_ERR_PARSE;
    if (STUN_HEADER_LEN + body > len)
        return SE_ERR_TRUNC;
    if (STUN_HEADER_LEN + body < len)
        return SE_ERR_PARSE; /* trailing garbage */
    m->len = len;

    pos = STUN_HEADER_LEN;
    while (pos < len) {
        uint16_t type, alen;
        size_t padded;

        if (len - pos < 4)
            return SE_ERR_PARSE;
        type = rd16(buf + pos);
        alen = rd16(buf + pos + 2);
        padded = ((size_t)alen + 3) & ~(size_t)3;
        if (padded > len - pos - 4)
            return SE_ERR_PARSE;
        if (m->fp >= 0)
            return SE_ERR_PARSE; /* nothing may follow FINGERPRINT */
        /* After MESSAGE-INTEGRITY(-SHA256), ignore all but the allowed ones. */
        bool after_mi = m->mi >= 0 || m->mi256 >= 0;
        bool allowed_after = type == STUN_A_FINGERPRINT ||
                             (type == STUN_A_MESSAGE_INTEGRITY_SHA256 && m->mi256 < 0);
        if (!after_mi || allowed_after) {
            if (m->n_attrs == STUN_MAX_ATTRS)
                return SE_ERR_PARSE;
            struct stun_attr *a = &m->attrs[m->n_attrs];
            a->type = type;
            a->len = alen;
            a->off = (uint32_t)(pos + 4); /* pos < len <= STUN_MAX_MSG */
            if (type == STUN_A_MESSAGE_INTEGRITY && m->mi < 0) {
                if (alen != 20)
                    return SE_ERR_PARSE;
                m->mi = m->n_attrs;
            } else if (type == STUN_A_MESSAGE_INTEGRITY_SHA256 && m->mi256 < 0) {
                /* RFC 8489 §14.6: 16..32 bytes, a multiple of 4 */
                if (alen < 16 || alen > 32 || alen % 4)
                    return SE_ERR_PARSE;
                m->mi256 = m->n_attrs;
            } else if (type == STUN_A_FINGERPRINT) {
                if (alen != 4)
                    return SE_ERR_PARSE;
                m->fp = m->n_attrs;
            } else if (type < 0x8000 && !is_known_required(type) &&
                       m->n_unknown < STUN_MAX_UNKNOWN) {
                m->unknown[m->n_unknown++] = type;
            }
            m->n_attrs++;
        }
        pos += 4 + padded;
    }
    if (m->fp >= 0) {
        const struct stun_attr *f = &m->attrs[m->fp];
        uint32_t want = stun_crc32(buf, f->off - 4) ^ STUN_FINGERPRINT_XOR;
        /* The header length already ends at FINGERPRINT: it is last. */
        if (rd32(buf + f->off) != want)
            return SE_ERR_PARSE;
    }
    return 0;
}

int stun_frame(const uint8_t hdr[4], size_t *payload, size_t *frame)
{
    size_t l = (size_t)(hdr[2] << 8 | hdr[3]);

    if (hdr[0] < 0x40) {
        *payload = *frame = STUN_HEADER_LEN + l;
        return STUN_FRAME_STUN;
    }
    if (hdr[0] < 0x80) {
        *payload = CHANNEL_HEADER_LEN + l;
        *frame = (*payload + 3) & ~(size_t)3;
        return STUN_FRAME_CHANNEL;
    }
    return SE_ERR_PARSE;
}

const struct stun_attr *stun_find(const struct stun_msg *m, uint16_t type)
{
    for (int i = 0; i < m->n_attrs; i++)
        if (m->attrs[i].type == type)
            return &m->attrs[i];
    return NULL;
}

int stun_attr_u32(const struct stun_msg *m, const struct stun_attr *a, uint32_t *v)
{
    if (a->len != 4)
        return SE_ERR_PARSE;
    *v = rd32(m->buf + a->off);
    return 0;
}

static int read_addr(const struct stun_msg *m, const struct stun_attr *a, struct se_addr *out,
                     bool xor)
{
    const uint8_t *p = m->buf + a->off;

    memset(out, 0, sizeof(*out));
    if (a->len < 4)
        return SE_ERR_PARSE;
    uint16_t port = rd16(p + 2);
    if (xor)
        port ^= (uint16_t)(STUN_MAGIC >> 16);
    out->port = port;
    if (p[1] == STUN_FAMILY_V4 && a->len == 8) {
        out->family = AF_INET;
        out->ip[10] = out->ip[11] = 0xff;
        uint32_t ip = rd32(p + 4);
        if (xor)
            ip ^= STUN_MAGIC;
        wr32(out->ip + 12, ip);
        return 0;
    }
    if (p[1] == STUN_FAMILY_V6 && a->len == 20) {
        out->family = AF_INET6;
        memcpy(out->ip, p + 4, 16);
        if (xor) {
            uint8_t pad[16];
            wr32(pad, STUN_MAGIC);
            memcpy(pad + 4, m->tid, 12);
            for (int i = 0; i < 16; i++)
                out->ip[i] ^= pad[i];
        }
        return 0;
    }
    return SE_ERR_PARSE;
}

int stun_attr_xor_addr(const struct stun_msg *m, const struct stun_attr *a, struct se_addr *out)
{
    return read_addr(m, a, out, true);
}

int stun_attr_addr(const struct stun_msg *m, const struct stun_attr *a, struct se_addr *out)
{
    return read_addr(m, a, out, false);
}

int stun_attr_error_code(const struct stun_msg *m, const struct stun_attr *a, int *code)
{
    const uint8_t *p = m->buf + a->off;

    if (a->len < 4)
        return SE_ERR_PARSE;
    int cls = p[2] & 0x07, num = p[3];
    if (cls < 3 || cls > 6 || num > 99)
        return SE_ERR_PARSE;
    *code = cls * 100 + num;
    return 0;
}

int stun_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
    const struct stun_attr *a;
    uint8_t hdr[STUN_HEADER_LEN], mac[32];
    const char *digest;
    size_t maclen;

    if (m->mi256 >= 0) {
        a = &m->attrs[m->mi256];
        digest = "SHA256";
        maclen = a->len;
    } else if (m->mi >= 0) {
        a = &m->attrs[m->mi];
        digest = "SHA1";
        maclen = 20;
    } else {
        return SE_ERR_NOTFOUND;
    }
    /* The MAC covers the header with its length pointing at the end of the
     * integrity attribute, then everything before that attribute. */
    size_t covered = (size_t)a->off - 4;
    memcpy(hdr, m->buf, STUN_HEADER_LEN);
    wr16(hdr + 2, (uint16_t)(covered + 4 + a->len - STUN_HEADER_LEN));
    if (hmac2(digest, key, keylen, hdr, STUN_HEADER_LEN, m->buf + STUN_HEADER_LEN,
              covered - STUN_HEADER_LEN, mac, sizeof(mac)) < 0)
        return SE_ERR_CRYPTO;
    return CRYPTO_memcmp(mac, m->buf + a->off, maclen) == 0 ? 0 : SE_ERR_AUTH;
}

/* ---- building ---- */

void stun_build_begin(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
                      uint8_t cls, const uint8_t tid[STUN_TID_LEN])
{
    b->buf = buf;
    b->cap = cap;
    b->len = 0;
    b->err = 0;
    if (cap < STUN_HEADER_LEN) {
        b->err = SE_ERR_TOOBIG;
        return;
    }
    wr16(buf, stun_msg_type(method, cls));
    wr16(buf + 2, 0);
    wr32(buf + 4, STUN_MAGIC);
    memcpy(buf + 8, tid, STUN_TID_LEN);
    b->len = STUN_HEADER_LEN;
}

/* Reserve an attribute of len bytes; returns a pointer to its value. */
static uint8_t *put_hdr(struct stun_builder *b, uint16_t type, size_t len)
{
    size_t padded = (len + 3) & ~(size_t)3;

    if (b->err)
        return NULL;
    /* The body length field is 16 bits; the header is not counted. */
    if (len > 0xFFFF || b->len + 4 + padded > b->cap ||
        b->len + 4 + padded - STUN_HEADER_LEN > 0xFFFF) {
        b->err = SE_ERR_TOOBIG;
        return NULL;
    }
    uint8_t *p = b->buf + b->len;
    wr16(p, type);
    wr16(p + 2, (uint16_t)len);
    memset(p + 4 + len, 0, padded - len);
    b->len += 4 + padded;
    wr16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
    return p + 4;
}

void stun_put_attr(struct stun_builder *b, uint16_t type, const void *val, size_t len)
{
    uint8_t *p = put_hdr(b, type, len);

    if (p && len)
        memcpy(p, val, len);
}

void stun_put_u32(struct stun_builder *b, uint16_t type, uint32_t v)
{
    uint8_t *p = put_hdr(b, type, 4);

    if (p)
        wr32(p, v);
}

void stun_put_xor_addr(struct stun_builder *b, uint16_t type, const struct se_addr *a)
{
    bool v4 = a->family == AF_INET;
    uint8_t *p = put_hdr(b, type, v4 ? 8 : 20);

    if (!p)
        return;
    p[0] = 0;
    p[1] = v4 ? STUN_FAMILY_V4 : STUN_FAMILY_V6;
    wr16(p + 2, a->port ^ (uint16_t)(STUN_MAGIC >> 16));
    if (v4) {
        wr32(p + 4, rd32(a->ip + 12) ^ STUN_MAGIC);
    } else {
        uint8_t pad[16];
        wr32(pad, STUN_MAGIC);
        memcpy(pad + 4, b->buf + 8, 12);
        for (int i = 0; i < 16; i++)
            p[4 + i] = a->ip[i] ^ pad[i];
    }
}

void stun_put_addr(struct stun_builder *b, uint16_t type, const struct se_addr *a)
{
    bool v4 = a->family == AF_INET;
    uint8_t *p = put_hdr(b, type, v4 ? 8 : 20);

    if (!p)
        return;
    p[0] = 0;
    p[1] = v4 ? STUN_FAMILY_V4 : STUN_FAMILY_V6;
    wr16(p + 2, a->port);
    if (v4)
        memcpy(p + 4, a->ip + 12, 4);
    else
        memcpy(p + 4, a->ip, 16);
}

void stun_put_error(struct stun_builder *b, int code, const char *reason)
{
    size_t rlen = strlen(reason);
    uint8_t *p = put_hdr(b, STUN_A_ERROR_CODE, 4 + rlen);

    if (!p)
        return;
    p[0] = p[1] = 0;
    p[2] = (uint8_t)(code / 100);
    p[3] = (uint8_t)(code % 100);
    memcpy(p + 4, reason, rlen);
}

static void put_mac(struct stun_builder *b, uint16_t type, const char *digest, size_t maclen,
                    const uint8_t *key, size_t keylen)
{
    size_t covered = b->len;
    uint8_t *p = put_hdr(b, type, maclen);
    uint8_t mac[32];

    if (!p)
        return;
    /* The header length now includes this attribute, as the MAC needs. */
    if (hmac2(digest, key, keylen, b->buf, STUN_HEADER_LEN, b->buf + STUN_HEADER_LEN,
              covered - STUN_HEADER_LEN, mac, sizeof(mac)) < 0) {
        b->err = SE_ERR_CRYPTO;
        return;
    }
    memcpy(p, mac, maclen);
}

void stun_put_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
    put_mac(b, STUN_A_MESSAGE_INTEGRITY, "SHA1", 20, key, keylen);
}

void stun_put_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
    put_mac(b, STUN_A_MESSAGE_INTEGRITY_SHA256, "SHA256", 32, key, keylen);
}

void stun_put_fingerprint(struct stun_builder *b)
{
    size_t covered = b->len;
    uint8_t *p = put_hdr(b, STUN_A_FINGERPRINT, 4);

    if (p)
        wr32(p, stun_crc32(b->buf, covered) ^ STUN_FINGERPRINT_XOR);
}

int stun_build_end(struct stun_builder *b)
{
    return b->err ? b->err : (int)b->len;
}

const char *stun_reason(int code)
{
    switch (code) {
    case 300: return "Try Alternate";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 420: return "Unknown Attribute";
    case 437: return "Allocation Mismatch";
    case 438: return "Stale Nonce";
    case 440: return "Address Family not Supported";
    case 441: return "Wrong Credentials";
    case 442: return "Unsupported Transport Protocol";
    case 443: return "Peer Address Family Mismatch";
    case 486: return "Allocation Quota Reached";
    case 500: return "Server Error";
    case 508: return "Insufficient Capacity";
    default: return "Error";
    }
}
