/*
 * stun.h - STUN message codec (RFC 8489) with the TURN attributes (RFC 8656).
 *
 * Parsing produces a struct stun_msg: a transparent view that borrows the
 * packet buffer (valid while the buffer is) and lives on the caller's
 * stack. Building writes into a caller buffer through struct stun_builder;
 * errors accumulate in the builder and surface once at stun_build_end().
 * No function here allocates memory. Any thread may call any function.
 */
#ifndef SE_STUN_H
#define SE_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct se_addr;

enum {
    STUN_HEADER_LEN = 20,
    /* The body length is 16 bits (RFC 8489 §5): a message read from a
     * stream may be this long, so offsets into it need more than 16 bits. */
    STUN_MAX_MSG = STUN_HEADER_LEN + 0xFFFF,
    STUN_MAGIC = 0x2112A442,      /* RFC 8489 §5 */
    STUN_FINGERPRINT_XOR = 0x5354554e, /* RFC 8489 §14.7 */
    STUN_MAX_ATTRS = 40,          /* more than any real message carries */
    STUN_MAX_UNKNOWN = 8,
    STUN_TID_LEN = 12,
    /* RFC 8656 §12 allows 0x4000-0x4FFF; RFC 5766 allowed up to 0x7FFF and
     * libwebrtc and coturn clients still pick from that range, so sedge
     * accepts it (first byte 0x40-0x7F is still unambiguous, RFC 7983). */
    CHANNEL_MIN = 0x4000,
    CHANNEL_MAX = 0x7FFF,
    CHANNEL_HEADER_LEN = 4,
};

/* Methods (RFC 8489 §18.2, RFC 8656 §17, RFC 6062). */
enum stun_method {
    STUN_BINDING = 0x001,
    TURN_ALLOCATE = 0x003,
    TURN_REFRESH = 0x004,
    TURN_SEND = 0x006,
    TURN_DATA = 0x007,
    TURN_CREATE_PERMISSION = 0x008,
    TURN_CHANNEL_BIND = 0x009,
};

enum stun_class {
    STUN_REQUEST = 0,
    STUN_INDICATION = 1,
    STUN_SUCCESS = 2,
    STUN_ERROR = 3,
};

/* Attributes (RFC 8489 §18.3, RFC 8656 §18, RFC 8445 §16). */
enum stun_attr_type {
    STUN_A_MAPPED_ADDRESS = 0x0001,
    STUN_A_USERNAME = 0x0006,
    STUN_A_MESSAGE_INTEGRITY = 0x0008,
    STUN_A_ERROR_CODE = 0x0009,
    STUN_A_UNKNOWN_ATTRIBUTES = 0x000A,
    STUN_A_CHANNEL_NUMBER = 0x000C,
    STUN_A_LIFETIME = 0x000D,
    STUN_A_XOR_PEER_ADDRESS = 0x0012,
    STUN_A_DATA = 0x0013,
    STUN_A_REALM = 0x0014,
    STUN_A_NONCE = 0x0015,
    STUN_A_XOR_RELAYED_ADDRESS = 0x0016,
    STUN_A_REQUESTED_ADDRESS_FAMILY = 0x0017,
    STUN_A_EVEN_PORT = 0x0018,
    STUN_A_REQUESTED_TRANSPORT = 0x0019,
    STUN_A_DONT_FRAGMENT = 0x001A,
    STUN_A_MESSAGE_INTEGRITY_SHA256 = 0x001C,
    STUN_A_PASSWORD_ALGORITHM = 0x001D,
    STUN_A_USERHASH = 0x001E,
    STUN_A_XOR_MAPPED_ADDRESS = 0x0020,
    STUN_A_RESERVATION_TOKEN = 0x0022,
    STUN_A_PRIORITY = 0x0024,
    STUN_A_USE_CANDIDATE = 0x0025,
    STUN_A_PADDING = 0x0026,
    STUN_A_RESPONSE_PORT = 0x0027,
    STUN_A_CONNECTION_ID = 0x002A,
    /* comprehension-optional (0x8000-0xFFFF) */
    STUN_A_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
    STUN_A_ADDRESS_ERROR_CODE = 0x8001,
    STUN_A_PASSWORD_ALGORITHMS = 0x8002,
    STUN_A_ALTERNATE_DOMAIN = 0x8003,
    STUN_A_ICMP = 0x8004,
    STUN_A_SOFTWARE = 0x8022,
    STUN_A_ALTERNATE_SERVER = 0x8023,
    STUN_A_FINGERPRINT = 0x8028,
    STUN_A_ICE_CONTROLLED = 0x8029,
    STUN_A_ICE_CONTROLLING = 0x802A,
    STUN_A_RESPONSE_ORIGIN = 0x802B,
    STUN_A_OTHER_ADDRESS = 0x802C,
};

/* Password algorithms (RFC 8489 §18.5). */
enum { STUN_PWALG_MD5 = 0x0001, STUN_PWALG_SHA256 = 0x0002 };

/* Address family codes in address attributes and REQUESTED-ADDRESS-FAMILY. */
enum { STUN_FAMILY_V4 = 0x01, STUN_FAMILY_V6 = 0x02 };

/* Transport protocol numbers for REQUESTED-TRANSPORT. */
enum { STUN_PROTO_UDP = 17, STUN_PROTO_TCP = 6 };

struct stun_attr {
    uint16_t type;
    uint16_t len;   /* value length, without padding */
    uint32_t off;   /* offset of the value from the start of the message:
                     * up to STUN_MAX_MSG, which 16 bits cannot hold */
};

struct stun_msg {
    const uint8_t *buf; /* borrowed: the whole message */
    size_t len;         /* STUN_HEADER_LEN + body length */
    uint16_t method;
    uint8_t cls;
    const uint8_t *tid; /* 12 bytes inside buf */
    int n_attrs;
    struct stun_attr attrs[STUN_MAX_ATTRS];
    int mi;       /* index of MESSAGE-INTEGRITY, or -1 */
    int mi256;    /* index of MESSAGE-INTEGRITY-SHA256, or -1 */
    int fp;       /* index of FINGERPRINT, or -1 */
    int n_unknown; /* unknown comprehension-required attributes */
    uint16_t unknown[STUN_MAX_UNKNOWN];
};

/*
 * Is this the start of a STUN message? (First two bits zero and the magic
 * cookie; RFC 7983 demultiplexing.) Needs at least 8 bytes.
 */
bool stun_is_stun(const uint8_t *buf, size_t len);

/*
 * Parse a whole message of exactly len bytes (trailing bytes are an error:
 * callers framing a stream pass the frame length). Checks header, length,
 * attribute bounds, attribute order after MESSAGE-INTEGRITY, and the
 * FINGERPRINT value if present. Returns 0, SE_ERR_PARSE or SE_ERR_TRUNC.
 * On SE_ERR_PARSE with a valid header, m->method/cls/tid are still set
 * (m->tid non-NULL) so a 400 can be answered.
 */
int stun_parse(struct stun_msg *m, const uint8_t *buf, size_t len);

/* First attribute of this type, or NULL. */
const struct stun_attr *stun_find(const struct stun_msg *m, uint16_t type);
static inline const uint8_t *stun_attr_value(const struct stun_msg *m, const struct stun_attr *a)
{
    return m->buf + a->off;
}
/* 32-bit attribute value; SE_ERR_PARSE if the length is wrong. */
int stun_attr_u32(const struct stun_msg *m, const struct stun_attr *a, uint32_t *v);
/* Decode an XOR-*-ADDRESS. 0 or SE_ERR_PARSE. */
int stun_attr_xor_addr(const struct stun_msg *m, const struct stun_attr *a, struct se_addr *out);
/* Decode a plain MAPPED-ADDRESS-style attribute. */
int stun_attr_addr(const struct stun_msg *m, const struct stun_attr *a, struct se_addr *out);
/* ERROR-CODE: class*100+number; 0 or SE_ERR_PARSE. */
int stun_attr_error_code(const struct stun_msg *m, const struct stun_attr *a, int *code);

/*
 * Verify MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY,
 * with key (RFC 8489 §14.5/§14.6). Returns 0 if valid, SE_ERR_AUTH if it
 * does not match, SE_ERR_NOTFOUND if the message carries neither. The
 * comparison is constant-time.
 */
int stun_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen);

/* CRC-32 (ISO-HDLC / zlib polynomial), as FINGERPRINT uses it. */
uint32_t stun_crc32(const uint8_t *buf, size_t len);

/* ---- building ---- */

struct stun_builder {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int err; /* first error, 0 if none */
};

void stun_build_begin(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
                      uint8_t cls, const uint8_t tid[STUN_TID_LEN]);
void stun_put_attr(struct stun_builder *b, uint16_t type, const void *val, size_t len);
void stun_put_u32(struct stun_builder *b, uint16_t type, uint32_t v);
void stun_put_xor_addr(struct stun_builder *b, uint16_t type, const struct se_addr *a);
/* MAPPED-ADDRESS encoding, not XORed (ALTERNATE-SERVER, RFC 8489 §14.15). */
void stun_put_addr(struct stun_builder *b, uint16_t type, const struct se_addr *a);
/* ERROR-CODE with code (300..699) and a reason phrase (may be ""). */
void stun_put_error(struct stun_builder *b, int code, const char *reason);
/* MESSAGE-INTEGRITY (HMAC-SHA1) over everything so far. */
void stun_put_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen);
/* MESSAGE-INTEGRITY-SHA256 (32 bytes). */
void stun_put_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen);
void stun_put_fingerprint(struct stun_builder *b);
/* Finish: returns the message length, or the first error (negative). */
int stun_build_end(struct stun_builder *b);

/*
 * Stream framing (TCP/TLS, RFC 8656 §12.5): from the first 4 bytes of
 * the next message, its payload length and the bytes it occupies on the
 * stream (ChannelData is padded to a multiple of 4). Returns 1 for STUN,
 * 2 for ChannelData, SE_ERR_PARSE for anything else (the stream cannot be
 * resynchronised and must be closed).
 */
enum { STUN_FRAME_STUN = 1, STUN_FRAME_CHANNEL = 2 };
int stun_frame(const uint8_t hdr[4], size_t *payload, size_t *frame);

/* Method/class to and from the 14-bit message type (RFC 8489 §5). */
uint16_t stun_msg_type(uint16_t method, uint8_t cls);

/* Reason phrase for a STUN/TURN error code (RFC 8489 §14.8, RFC 8656 §18). */
const char *stun_reason(int code);

#endif
