/*
 * test_engine.c - the recorder thread: a full queue drops (never blocks)
 * and the drops land in metadata.json; a recording whose disk fills up
 * (RLIMIT_FSIZE, a per-file limit, stands in for ENOSPC) is closed as
 * "failed" with its file cut at a page/fragment, while another recording
 * on the same engine completes.
 */
#include "core/err.h"
#include "record/engine.h"
#include "record/manifest.h"
#include "record/rec.h"
#include "tests/unit/check.h"

#include <jansson.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static char root[64];

static size_t opus_pkt(uint8_t *b, uint16_t seq, uint32_t ts, size_t payload)
{
    b[0] = 0x80, b[1] = 111;
    b[2] = (uint8_t)(seq >> 8), b[3] = (uint8_t)seq;
    b[4] = (uint8_t)(ts >> 24), b[5] = (uint8_t)(ts >> 16), b[6] = (uint8_t)(ts >> 8),
    b[7] = (uint8_t)ts;
    b[8] = 0, b[9] = 0, b[10] = 0, b[11] = 7;
    b[12] = 0xf8; /* CELT FB 20 ms, one frame */
    for (size_t i = 1; i < payload; i++)
        b[12 + i] = (uint8_t)(i * 7 + seq);
    return 12 + payload;
}

static void cfg_audio(struct rec_session_cfg *c, const char *name)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "%s/%s", root, name);
    c->n_streams = 1;
    c->streams[0] = (struct rec_stream_cfg){.media = REC_AUDIO,
                                            .label = "audio",
                                            .pt = 111,
                                            .rtx_pt = -1,
                                            .clock_rate = 48000,
                                            .channels = 2};
    c->frag_us = 200000;
}

static json_t *meta(const char *name)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/%s/metadata.json", root, name);
    return json_load_file(p, 0, NULL);
}

static void test_overflow_counted(void)
{
    struct rec_engine *e;
    struct rec_session *s;
    struct rec_session_cfg c;
    struct rec_feed *f;
    uint8_t b[64];
    int id, dropped = 0;

    CHECK_EQ_INT(rec_engine_new(&e, 16), 0);
    cfg_audio(&c, "overflow");
    CHECK_EQ_INT(rec_session_open(&s, &c), 0);
    CHECK_EQ_INT(rec_engine_add(e, s, 1, &f, &id), 0);
    /* 200 packets at once: the 16-slot ring cannot take them all, and
     * the producer is never made to wait */
    for (int i = 0; i < 200; i++)
        if (rec_feed_push(f, b, opus_pkt(b, (uint16_t)i, (uint32_t)i * 960, 20),
                          1700000000000000 + i * 20000) == SE_ERR_FULL)
            dropped++;
    CHECK(dropped > 0);
    CHECK_EQ_INT(rec_engine_close(e, id), 0);
    json_t *m = meta("overflow");
    CHECK(m != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(m, "queue_overflow")), dropped);
    json_decref(m);
    rec_engine_free(e);
}

static _Atomic int fail_calls, fail_err;

static void on_fail(void *arg, int err, const char *what)
{
    fail_calls++;
    fail_err = err;
    (void)what;
}

static void test_disk_full_one_recording(void)
{
    struct rec_engine *e;
    struct rec_session *big, *small;
    struct rec_session_cfg c;
    struct rec_feed *fb, *fs;
    struct rlimit old, lim;
    uint8_t b[1400];
    int idb, ids;

    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 100000; /* per file: the big recording hits it, the small one not */
    setrlimit(RLIMIT_FSIZE, &lim);
    CHECK_EQ_INT(rec_engine_new(&e, 0), 0);
    cfg_audio(&c, "big");
    c.on_fail = on_fail;
    CHECK_EQ_INT(rec_session_open(&big, &c), 0);
    CHECK_EQ_INT(rec_engine_add(e, big, 1, &fb, &idb), 0);
    cfg_audio(&c, "small");
    c.on_fail = NULL;
    CHECK_EQ_INT(rec_session_open(&small, &c), 0);
    CHECK_EQ_INT(rec_engine_add(e, small, 1, &fs, &ids), 0);
    for (int i = 0; i < 300; i++) { /* 6 s of audio; 1.2 KB vs 20 B packets */
        int64_t t = 1700000000000000 + (int64_t)i * 20000;
        rec_feed_push(fb, b, opus_pkt(b, (uint16_t)i, (uint32_t)i * 960, 1200), t);
        rec_feed_push(fs, b, opus_pkt(b, (uint16_t)i, (uint32_t)i * 960, 20), t);
        if (i % 50 == 0)
            usleep(60000); /* let the recorder drain */
    }
    /* the producer learns of the failure without waiting for close: the
     * callback once, and the feed's status */
    for (int i = 0; i < 100 && !rec_feed_status(fb); i++)
        usleep(30000);
    CHECK_EQ_INT(rec_feed_status(fb), SE_ERR_IO);
    CHECK_EQ_INT(rec_feed_status(fs), 0);
    CHECK_EQ_INT(fail_calls, 1);
    CHECK_EQ_INT(fail_err, SE_ERR_IO);
    CHECK_EQ_INT(rec_engine_close(e, idb), SE_ERR_IO);
    CHECK_EQ_INT(rec_engine_close(e, ids), 0);
    CHECK_EQ_INT(fail_calls, 1);
    setrlimit(RLIMIT_FSIZE, &old);
    rec_engine_free(e);

    json_t *m = meta("big");
    CHECK(m && !strcmp(json_string_value(json_object_get(m, "state")), "failed"));
    CHECK(m && json_is_string(json_object_get(m, "error")));
    json_decref(m);
    m = meta("small");
    CHECK(m && !strcmp(json_string_value(json_object_get(m, "state")), "complete"));
    json_t *seg = m ? json_array_get(json_object_get(m, "segments"), 0) : NULL;
    CHECK(seg &&
          json_integer_value(json_object_get(json_object_get(seg, "audio"), "packets")) == 300);
    json_decref(m);
    /* what the failed recording kept is listed with its true hash */
    char d[160];
    FILE *null = fopen("/dev/null", "w");
    snprintf(d, sizeof(d), "%s/big", root);
    CHECK_EQ_INT(rec_manifest_verify(d, NULL, 0, false, null), 0);
    snprintf(d, sizeof(d), "%s/small", root);
    CHECK_EQ_INT(rec_manifest_verify(d, NULL, 0, false, null), 0);
    fclose(null);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/sedge-test-engine.XXXXXX");
    if (!mkdtemp(root))
        return 1;
    RUN(test_overflow_counted);
    RUN(test_disk_full_one_recording);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0)
        printf("    could not remove %s\n", root);
    return check_done();
}
