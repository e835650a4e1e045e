/*
 * fuzz_anchor_demux.c - libFuzzer target for what a party may send to the
 * anchor: every datagram goes through the real packet path of a two-leg
 * session (relay/anchor/media.c): RFC 7983 demultiplexing, DTLS into a
 * server-side handshake (OpenSSL through memory BIOs), SRTP and SRTCP
 * unprotected with the party's keys, SSRC bounds, re-protected for the
 * other leg. The input is a sequence of datagrams ([u16 length, high bit
 * = to the outside leg][bytes], see anchor_fuzz.h); seeds written by
 * tests/tools/anchor_seeds.c carry valid SRTP/SRTCP under the fixed keys
 * and a real ClientHello, so mutations reach past authentication. A leg
 * that fails (a DTLS alert) ends the session through the real teardown.
 * max_len (tests/fuzz/anchor_demux.options) is 65536: a full UDP datagram, or
 * many small ones.
 */
#include "core/err.h"
#include "core/log.h"
#include "core/queue.h"
#include "relay/anchor/internal.h"
#include "tests/fuzz/anchor_fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void discard(struct anchor_leg *l, const uint8_t *buf, size_t len)
{
    (void)l;
    if (len)
        (void)buf[len - 1]; /* in bounds: ASan checks */
}

static struct anchor_srtp *keys(int rx, int tx)
{
    struct anchor_srtp_keys k = {.profile = ANCHOR_SRTP_AES128_CM_SHA1_80, .key_len = 16,
                                 .salt_len = 14};
    struct anchor_srtp *s = NULL;
    anchor_fuzz_key(rx, k.remote);
    anchor_fuzz_key(tx, k.local);
    if (anchor_srtp_new(&s, &k) < 0)
        abort();
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct anchor_server srv;
    static struct anchor_thread th;
    static struct anchor_fp fp;

    if (!srv.cert) {
        char err[256];
        se_log_set_level(SE_LOG_ERR);
        if (anchor_cert_new(&srv.cert, err, sizeof(err)) < 0 ||
            !(srv.events = se_queue_new(64)) ||
            anchor_fp_parse(anchor_cert_fingerprint(srv.cert), &fp) < 0)
            abort();
        srv.table = g_hash_table_new(g_str_hash, g_str_equal);
        srv.per_user = g_hash_table_new(g_str_hash, g_str_equal);
        g_mutex_init(&srv.lock);
        srv.conf.session_update = 10;
        th.srv = &srv;
        th.ctx = g_main_context_new();
    }
    struct anchor_session *s = calloc(1, sizeof(*s));
    atomic_init(&s->refs, 2); /* ours, and the thread's (dropped by a teardown) */
    s->srv = &srv;
    s->t = &th;
    th.sessions = s;
    atomic_store(&th.n_sessions, 1);
    snprintf(s->id, sizeof(s->id), "an-fuzz");
    for (int i = 0; i < 2; i++) {
        struct anchor_leg *l = &s->leg[i];
        l->s = s;
        l->side = i;
        l->send_fn = discard;
        l->srtp = keys(2 * i, 2 * i + 1);
        memcpy(&l->fp[0], &fp, sizeof(fp));
        l->n_fp = 1;
    }
    /* Leg A waits for the party's ClientHello (sedge is the server). */
    s->leg[0].role = ROLE_SERVER;
    anchor_leg_try_dtls(&s->leg[0]);

    for (size_t o = 0; o + 2 <= size && !s->torn;) {
        size_t len = (size_t)((data[o] & 0x7f) << 8 | data[o + 1]);
        int to = data[o] & 0x80 ? ANCHOR_OUTSIDE : ANCHOR_INSIDE;
        o += 2;
        if (len > size - o)
            len = size - o;
        /* A copy of exactly len bytes, so ASan sees any read past it. */
        uint8_t *d = malloc(len ? len : 1);
        memcpy(d, data + o, len);
        anchor_media_input(&s->leg[to], d, len);
        free(d);
        o += len;
        while (g_main_context_iteration(th.ctx, FALSE)) /* a teardown, if one was scheduled */
            ;
    }
    if (!s->torn) {
        anchor_leg_close(&s->leg[0]);
        anchor_leg_close(&s->leg[1]);
        anchor_session_unref(s); /* the thread's */
    }
    th.sessions = NULL;
    struct anchor_event *ev[64];
    size_t n;
    while ((n = se_queue_pop(srv.events, (void **)ev, 64)) > 0)
        for (size_t i = 0; i < n; i++)
            free(ev[i]);
    anchor_session_unref(s);
    return 0;
}
