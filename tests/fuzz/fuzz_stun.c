/*
 * fuzz_stun.c - libFuzzer target for the bytes sedge reads from clients:
 * the whole input as one UDP datagram (STUN or ChannelData), then as a
 * TCP/TLS stream cut by the same framer the server uses. Every message
 * that parses is taken apart with every accessor, integrity-checked, and
 * rebuilt attribute by attribute; the rebuilt message must parse again.
 */
#include "core/addr.h"
#include "relay/stun.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void take_apart(const uint8_t *buf, size_t len)
{
    static const uint8_t key[16] = "fuzz-key-0123456";
    struct stun_msg m;
    struct se_addr a;
    uint32_t v;
    int code;

    if (stun_parse(&m, buf, len) != 0)
        return;
    (void)stun_check_integrity(&m, key, sizeof(key));
    uint8_t out[65536 + 64];
    struct stun_builder b;
    stun_build_begin(&b, out, sizeof(out), m.method, m.cls, m.tid);
    for (int i = 0; i < m.n_attrs; i++) {
        const struct stun_attr *at = &m.attrs[i];
        (void)stun_attr_xor_addr(&m, at, &a);
        (void)stun_attr_addr(&m, at, &a);
        (void)stun_attr_u32(&m, at, &v);
        (void)stun_attr_error_code(&m, at, &code);
        if (at->type != STUN_A_MESSAGE_INTEGRITY && at->type != STUN_A_MESSAGE_INTEGRITY_SHA256 &&
            at->type != STUN_A_FINGERPRINT)
            stun_put_attr(&b, at->type, stun_attr_value(&m, at), at->len);
    }
    stun_put_integrity(&b, key, sizeof(key));
    stun_put_fingerprint(&b);
    int n = stun_build_end(&b);
    /* The rebuild adds two attributes; past the parser's bound it may not parse. */
    if (n > 0 && m.n_attrs + 2 <= STUN_MAX_ATTRS) {
        struct stun_msg again;
        if (stun_parse(&again, out, (size_t)n) != 0 ||
            stun_check_integrity(&again, key, sizeof(key)) != 0)
            abort(); /* what we build must be what we parse */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t payload, frame;

    /* As a datagram. */
    take_apart(data, size);
    if (size >= 4 && data[0] >= 0x40 && data[0] < 0x80) {
        size_t dlen = (size_t)(data[2] << 8 | data[3]);
        if (CHANNEL_HEADER_LEN + dlen <= size)
            (void)data[CHANNEL_HEADER_LEN + dlen - 1]; /* in bounds, ASan checks */
    }
    /* As a stream. */
    while (size >= 4) {
        int kind = stun_frame(data, &payload, &frame);
        if (kind < 0 || frame > size || payload > frame)
            break;
        if (kind == STUN_FRAME_STUN)
            take_apart(data, payload);
        data += frame;
        size -= frame;
    }
    return 0;
}
