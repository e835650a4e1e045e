/*
 * anchor_seeds.c - write the seed corpus of tests/fuzz/fuzz_anchor_demux.c:
 * SRTP and SRTCP packets protected with the fixed keys of anchor_fuzz.h
 * (so a fuzzer's mutations start past authentication), a real DTLS
 * ClientHello from the anchor's own DTLS client, and inputs at the size
 * bound. Run it again if the input format changes:
 *     build/tools/anchor_seeds tests/fuzz/corpus/anchor_demux
 */
#include "relay/anchor/dtls.h"
#include "relay/anchor/sdp.h"
#include "tests/fuzz/anchor_fuzz.h"

#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t out[70000];
static size_t used;
static uint8_t hello[2048];
static size_t hello_len;

static void put(const uint8_t *b, size_t n, int to_b)
{
    out[used++] = (uint8_t)((n >> 8) | (to_b ? 0x80 : 0));
    out[used++] = (uint8_t)n;
    memcpy(out + used, b, n);
    used += n;
}

static void save(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(out, 1, used, f) != used) {
        perror(path);
        exit(1);
    }
    fclose(f);
    used = 0;
}

static srtp_t party(int which)
{
    srtp_policy_t p;
    srtp_t ctx;
    uint8_t k[ANCHOR_FUZZ_KEY];
    anchor_fuzz_key(which, k);
    memset(&p, 0, sizeof(p));
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
    p.ssrc.type = ssrc_any_outbound;
    p.key = k;
    p.window_size = 1024;
    p.allow_repeat_tx = 1;
    if (srtp_create(&ctx, &p) != srtp_err_status_ok)
        exit(1);
    return ctx;
}

static int rtp(srtp_t ctx, uint8_t *b, uint16_t seq, uint32_t ssrc, size_t payload)
{
    memset(b, 0, 12 + payload);
    b[0] = 0x80;
    b[1] = 96;
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    b[8] = (uint8_t)(ssrc >> 24);
    b[11] = (uint8_t)ssrc;
    for (size_t i = 0; i < payload; i++)
        b[12 + i] = (uint8_t)(i * 13);
    int n = (int)(12 + payload);
    srtp_protect(ctx, b, &n);
    return n;
}

static void grab(void *arg, const uint8_t *buf, size_t len)
{
    (void)arg;
    if (!hello_len && len <= sizeof(hello)) {
        memcpy(hello, buf, len);
        hello_len = len;
    }
}

static void ignore(void *arg, uint8_t *buf, size_t len)
{
    (void)arg;
    (void)buf;
    (void)len;
}

int main(int argc, char **argv)
{
    static uint8_t b[9000];
    struct anchor_cert *c;
    struct anchor_fp fp;
    char err[256];

    if (argc != 2) {
        fprintf(stderr, "usage: anchor_seeds DIR\n");
        return 2;
    }
    srtp_init();
    srtp_t a = party(0), bb = party(2);
    if (anchor_cert_new(&c, err, sizeof(err)) < 0 ||
        anchor_fp_parse(anchor_cert_fingerprint(c), &fp) < 0)
        return 1;
    struct anchor_dtls_cb cb = {grab, ignore, NULL};
    struct anchor_dtls *d = anchor_dtls_new(c, true, &fp, 1, &cb);
    anchor_dtls_start(d);

    put(hello, hello_len, 0);
    save(argv[1], "dtls-clienthello");
    for (int i = 0; i < 4; i++) {
        int n = rtp(a, b, (uint16_t)(100 + i), 0x1111, 160);
        put(b, (size_t)n, 0);
        n = rtp(bb, b, (uint16_t)(200 + i), 0x2222, 1100);
        put(b, (size_t)n, 1);
    }
    save(argv[1], "srtp-both-ways");
    uint8_t rr[64] = {0x80, 201, 0, 1, 0, 0, 0x11, 0x11};
    int n = 8;
    srtp_protect_rtcp(a, rr, &n);
    put(rr, (size_t)n, 0);
    uint8_t pli[64] = {0x81, 206, 0, 2, 0, 0, 0x22, 0x22, 0, 0, 0x11, 0x11};
    n = 12;
    srtp_protect_rtcp(bb, pli, &n);
    put(pli, (size_t)n, 1);
    save(argv[1], "srtcp-rr-pli");
    n = rtp(a, b, 300, 0x1111, 8192 - 12 - 10); /* the largest datagram forwarded */
    put(b, (size_t)n, 0);
    put(hello, hello_len, 0);
    save(argv[1], "largest-packet");
    for (uint16_t i = 0; used + 1300 < 65536; i++) {
        n = rtp(i & 1 ? bb : a, b, (uint16_t)(400 + i / 2), i & 1 ? 0x2222 : 0x1111, 1200);
        put(b, (size_t)n, i & 1);
    }
    save(argv[1], "at-the-bound");
    anchor_dtls_free(d);
    anchor_cert_free(c);
    return 0;
}
