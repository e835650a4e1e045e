/*
 * test_engine.c - the recorder thread: a full queue drops (never blocks)
 * and the drops land in metadata.json; a recording whose disk fills up
 * (RLIMIT_FSIZE, a per-file limit, stands in for ENOSPC) is closed as
 * "failed" with its file cut at a page/fragment, while another recording
 * on the same engine completes; in a recording of two parties the other
 * party's file is closed and listed when the recording fails; a
 * recording whose process died without
 * closing it is sealed from its journal (never while the writer lives),
 * cut at a fragment whose bytes do not match, and then verifies.
 */
#include "core/err.h"
#include "record/engine.h"
#include "record/manifest.h"
#include "record/journal.h"
#include "record/rec.h"
#include "record/seal.h"
#include "tests/unit/check.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>

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
    lim.rlim_cur = 300000; /* per file (above the 256 KiB reserve): the big recording hits it */
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
    CHECK_EQ_INT(rec_manifest_verify(d, NULL, 0, REC_VERIFY_ALLOW_UNSIGNED, null), 0);
    snprintf(d, sizeof(d), "%s/small", root);
    CHECK_EQ_INT(rec_manifest_verify(d, NULL, 0, REC_VERIFY_ALLOW_UNSIGNED, null), 0);
    fclose(null);
}

/* on_fail of the two-party test: the recording must be sealed already. */
static char sealed_dir[sizeof(((struct rec_session_cfg *)0)->dir)];
static int sealed_seen = -1;

static void on_fail_sealed(void *arg, int err, const char *what)
{
    char p[sizeof(sealed_dir) + 32];
    (void)arg, (void)err, (void)what;
    snprintf(p, sizeof(p), "%s/manifest.sha256", sealed_dir);
    sealed_seen = access(p, F_OK) == 0;
}

/*
 * One recording, two parties (lanes), each writing its own file: the
 * inside party's file hits the size limit. Every lane's file is closed
 * before the recording is sealed "failed", so the manifest lists the
 * outside party's file too (and no writer journals after the seal), and
 * the producer hears of it only once it is sealed.
 */
static void test_disk_full_two_parties(void)
{
    struct rec_session *s;
    struct rec_session_cfg c;
    struct rlimit old, lim;
    uint8_t b[1400];

    signal(SIGXFSZ, SIG_IGN);
    cfg_audio(&c, "parties");
    c.n_streams = 2;
    c.streams[1] = c.streams[0];
    snprintf(c.streams[0].party, sizeof(c.streams[0].party), "%s", REC_PARTY_INSIDE);
    snprintf(c.streams[1].party, sizeof(c.streams[1].party), "%s", REC_PARTY_OUTSIDE);
    c.on_fail = on_fail_sealed;
    snprintf(sealed_dir, sizeof(sealed_dir), "%s", c.dir);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 300000;
    setrlimit(RLIMIT_FSIZE, &lim);
    CHECK_EQ_INT(rec_session_open(&s, &c), 0);
    for (int i = 0; i < 300; i++) {
        int64_t t = 1700000000000000 + (int64_t)i * 20000;
        rec_session_rtp(s, 0, b, opus_pkt(b, (uint16_t)i, (uint32_t)i * 960, 1200), t);
        rec_session_rtp(s, 1, b, opus_pkt(b, (uint16_t)i, (uint32_t)i * 960, 20), t);
        rec_session_tick(s, t);
    }
    CHECK_EQ_INT(rec_session_error(s), SE_ERR_IO);
    CHECK_EQ_INT(rec_session_close(s, 1700000000000000 + 6000000), SE_ERR_IO);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ_INT(sealed_seen, 1);

    json_t *m = meta("parties");
    CHECK(m && !strcmp(json_string_value(json_object_get(m, "state")), "failed"));
    CHECK_EQ_INT(json_array_size(json_object_get(m, "segments")), 2);
    json_t *st = json_object_get(m, "streams");
    CHECK_STR(json_string_value(json_object_get(json_array_get(st, 0), "direction")), "from_user");
    CHECK_STR(json_string_value(json_object_get(json_array_get(st, 1), "direction")), "to_user");
    json_decref(m);
    char d[160];
    FILE *null = fopen("/dev/null", "w");
    snprintf(d, sizeof(d), "%s/parties", root);
    CHECK_EQ_INT(rec_manifest_verify(d, NULL, 0, REC_VERIFY_ALLOW_UNSIGNED, null), 0);
    fclose(null);
}

/* A child records 5 s of audio (fragments of 200 ms) and dies without
 * closing: no manifest, a journal. It signals after writing and waits,
 * so the parent can try to seal while the writer lives. */
static pid_t record_and_die(const char *name, int ready_fd, int go_fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    struct rec_session *s;
    struct rec_session_cfg c;
    uint8_t b[256];
    char x = 0;
    cfg_audio(&c, name);
    if (rec_session_open(&s, &c) != 0)
        _exit(1);
    for (int i = 0; i < 250; i++)
        rec_session_rtp(s, 0, b, opus_pkt(b, (uint16_t)i, (uint32_t)i * 960, 100),
                        1700000000000000 + (int64_t)i * 20000);
    if (write(ready_fd, "r", 1) != 1 || read(go_fd, &x, 1) < 0)
        _exit(2);
    _exit(0); /* like kill -9: nothing closed, nothing flushed by us */
}

static void test_seal_after_crash(void)
{
    static const uint8_t key[] = "seal-test-key-0123456789";
    int ready[2], go[2], st = 0;
    char d[160], p[200], x;
    struct rec_seal_info info;
    struct stat sb;
    FILE *null = fopen("/dev/null", "w");

    CHECK(pipe(ready) == 0 && pipe(go) == 0);
    pid_t pid = record_and_die("crashed", ready[1], go[0]);
    CHECK(read(ready[0], &x, 1) == 1);
    snprintf(d, sizeof(d), "%s/crashed", root);
    /* the writer lives (holds the journal lock): not ours to seal */
    CHECK_EQ_INT(rec_seal_dir(d, key, sizeof(key) - 1, "incomplete", "x", &info), SE_ERR_AGAIN);
    CHECK(write(go[1], "g", 1) == 1);
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    snprintf(p, sizeof(p), "%s/segment-000.ogg", d);
    CHECK_EQ_INT(stat(p, &sb), 0);
    off_t size = sb.st_size;
    /* bytes past the last journaled fragment (a torn write) are cut */
    FILE *f = fopen(p, "ab");
    CHECK(f && fwrite("garbage", 1, 7, f) == 7);
    fclose(f);
    snprintf(p, sizeof(p), "%s/%s", d, REC_MANIFEST_NAME);
    CHECK(stat(p, &sb) != 0);
    CHECK_EQ_INT(rec_seal_dir(d, key, sizeof(key) - 1, "incomplete", "process died", &info), 0);
    CHECK(info.files == 1 && info.fragments >= 20 && info.bytes_cut == 7);
    CHECK(info.bytes == (uint64_t)size);
    CHECK_EQ_INT(rec_manifest_verify(d, key, sizeof(key) - 1, REC_VERIFY_REQUIRE_SIG, null), 0);
    json_t *m = meta("crashed");
    CHECK(m && !strcmp(json_string_value(json_object_get(m, "state")), "incomplete"));
    CHECK(m && json_array_size(json_object_get(m, "segments")) == 1);
    json_decref(m);
    CHECK_EQ_INT(rec_seal_dir(d, key, sizeof(key) - 1, "incomplete", "again", &info),
                 SE_ERR_EXISTS);

    /* a fragment whose bytes changed after they were journaled ends what
     * is kept: the file is cut before it */
    CHECK(pipe(ready) == 0 && pipe(go) == 0);
    pid = record_and_die("damaged", ready[1], go[0]);
    CHECK(read(ready[0], &x, 1) == 1);
    CHECK(write(go[1], "g", 1) == 1);
    waitpid(pid, &st, 0);
    snprintf(d, sizeof(d), "%s/damaged", root);
    snprintf(p, sizeof(p), "%s/segment-000.ogg", d);
    CHECK_EQ_INT(stat(p, &sb), 0);
    int fd = open(p, O_RDWR);
    CHECK(fd >= 0 && pwrite(fd, "X", 1, sb.st_size / 2) == 1);
    close(fd);
    CHECK_EQ_INT(rec_seal_dir(d, key, sizeof(key) - 1, "incomplete", "process died", &info), 0);
    CHECK(info.bytes < (uint64_t)sb.st_size / 2 + 1 && info.bytes > 0);
    CHECK_EQ_INT(rec_manifest_verify(d, key, sizeof(key) - 1, REC_VERIFY_REQUIRE_SIG, null), 0);
    fclose(null);
}

/* The journal's hash chain: every line is trusted only if it chains to
 * the one before; an edited line ends what is trusted, as does a torn
 * last line; a frag that does not continue its file is refused. */
static void test_journal_chain(void)
{
    struct rec_journal *j;
    struct rec_journal_state st;
    uint8_t h[32] = {1};
    char d[160], p[200];

    snprintf(d, sizeof(d), "%s/jr", root);
    mkdir(d, 0750);
    CHECK_EQ_INT(rec_journal_create(&j, d, "jr"), 0);
    CHECK_EQ_INT(rec_journal_file(j, "segment-000.mp4", 1700000000000000), 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(rec_journal_frag(j, "segment-000.mp4", (uint64_t)i * 100, 100, h,
                                      (int64_t)i * 1000000),
                     0);
    CHECK_EQ_INT(rec_journal_frag(j, "segment-000.mp4", 9999, 100, h, 0), 0); /* a gap */
    CHECK_EQ_INT(rec_journal_sync(j), 0);
    snprintf(p, sizeof(p), "%s/%s", d, REC_JOURNAL_NAME);
    int fd = open(p, O_RDWR);
    CHECK_EQ_INT(rec_journal_read(fd, &st), 0);
    CHECK(st.n_segs == 1 && st.segs[0].n == 5 && !strcmp(st.id, "jr"));
    CHECK(st.segs[0].wall_us == 1700000000000000);
    rec_journal_state_free(&st);
    /* edit the third frag line's offset: it and everything after is out */
    struct stat sb;
    fstat(fd, &sb);
    char *buf = calloc(1, (size_t)sb.st_size + 1);
    CHECK(pread(fd, buf, (size_t)sb.st_size, 0) == sb.st_size);
    char *third = strstr(strstr(strstr(buf, "frag ") + 1, "frag ") + 1, "frag ");
    CHECK(third && third[21] == '2');
    if (third) {
        CHECK(pwrite(fd, "3", 1, third + 21 - buf) == 1);
        CHECK_EQ_INT(rec_journal_read(fd, &st), 0);
        CHECK(st.n_segs == 1 && st.segs[0].n == 2);
        CHECK_EQ_INT(st.valid_len, (size_t)(third - buf));
        rec_journal_state_free(&st);
    }
    /* a torn last line (no newline) is not trusted either */
    CHECK(pwrite(fd, "2", 1, third + 21 - buf) == 1);
    CHECK_EQ_INT(ftruncate(fd, sb.st_size - 3), 0);
    CHECK_EQ_INT(rec_journal_read(fd, &st), 0);
    CHECK(st.segs[0].n == 5); /* the torn line was the refused gap */
    rec_journal_state_free(&st);
    free(buf);
    close(fd);
    rec_journal_close(j);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/sedge-test-engine.XXXXXX");
    if (!mkdtemp(root))
        return 1;
    RUN(test_overflow_counted);
    RUN(test_disk_full_one_recording);
    RUN(test_disk_full_two_parties);
    RUN(test_seal_after_crash);
    RUN(test_journal_chain);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0)
        printf("    could not remove %s\n", root);
    return check_done();
}
