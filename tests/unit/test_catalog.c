/*
 * test_catalog.c - the recordings catalog in SQLite (policy/recordings.c):
 * start and finish rows with their audit rows, keyset paging newest first
 * with filters, legal hold and release, the deletion rules (in progress,
 * held, before retention, forced), expiry, counters and statistics.
 */
#include "core/err.h"
#include "policy/db.h"
#include "policy/recordings.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

struct ids {
    char id[16][64];
    int n;
};

static int collect(const struct pol_recording *r, void *arg)
{
    struct ids *ids = arg;
    if (ids->n < 16)
        snprintf(ids->id[ids->n++], sizeof(ids->id[0]), "%s", r->id);
    return 0;
}

static int copy_row(const struct pol_recording *r, void *arg)
{
    struct pol_recording *out = arg;
    out->hold_at = r->hold_at;
    out->retain_until = r->retain_until;
    out->bytes = r->bytes;
    out->started = r->started;
    out->verified_ok = r->verified_ok;
    return 0;
}

static int count_audit(const struct pol_audit_row *a, void *arg)
{
    (void)a;
    (*(int *)arg)++;
    return 0;
}

static void add(struct pol_db *db, const char *id, const char *user, int64_t started,
                int64_t retain, const char *status)
{
    char dir[128];
    snprintf(dir, sizeof(dir), "/nonexistent/%s", id);
    struct pol_recording r = {.id = id,
                              .dir = dir,
                              .user = user,
                              .origin = "https://a.example",
                              .started = started,
                              .retain_until = retain,
                              .source = "test"};
    CHECK_EQ_INT(pol_rec_insert(db, &r), 0);
    if (status) {
        r.status = status;
        r.files = "[{\"name\":\"segment-000.mp4\",\"bytes\":10,\"sha256\":\"00\"}]";
        r.bytes = 10;
        r.signature = "ed25519";
        CHECK_EQ_INT(pol_rec_finish(db, &r, "recording.complete", "test"), 0);
    }
}

static void test_rows(void)
{
    struct pol_db *db;
    char err[256], why[256];
    struct ids ids = {0};
    struct pol_recording got;
    struct pol_rec_stats st;
    int n = 0;

    unlink(path);
    CHECK_EQ_INT(pol_db_open(path, true, &db, err, sizeof(err)), 0);
    if (!db)
        return;
    pol_db_set_actor(db, "test");
    add(db, "r1", "alice", 1000, 2000, "complete");
    add(db, "r2", "bob", 1100, 0, "complete");
    add(db, "r3", "alice", 1200, 2000, NULL); /* still recording */
    add(db, "r4", "alice", 1200, 1500, "failed");
    struct pol_recording dup = {.id = "r1", .dir = "/x"};
    CHECK_EQ_INT(pol_rec_insert(db, &dup), SE_ERR_EXISTS);

    /* newest first; equal starts in insertion order reversed; paging */
    struct pol_rec_filter f = {.limit = 2};
    CHECK_EQ_INT(pol_rec_list(db, &f, collect, &ids), 0);
    CHECK(ids.n == 2 && !strcmp(ids.id[0], "r4") && !strcmp(ids.id[1], "r3"));
    f.before = "r3";
    ids.n = 0;
    CHECK_EQ_INT(pol_rec_list(db, &f, collect, &ids), 0);
    CHECK(ids.n == 2 && !strcmp(ids.id[0], "r2") && !strcmp(ids.id[1], "r1"));
    f.before = "nope";
    CHECK_EQ_INT(pol_rec_list(db, &f, collect, &ids), SE_ERR_NOTFOUND);
    struct pol_rec_filter fu = {.user = "alice", .status = "complete", .since = 900, .until = 1150};
    ids.n = 0;
    CHECK_EQ_INT(pol_rec_list(db, &fu, collect, &ids), 0);
    CHECK(ids.n == 1 && !strcmp(ids.id[0], "r1"));

    /* hold and release */
    CHECK_EQ_INT(pol_rec_hold(db, "r1", "case 42"), 0);
    CHECK_EQ_INT(pol_rec_hold(db, "r1", "again"), SE_ERR_EXISTS);
    CHECK_EQ_INT(pol_rec_hold(db, "zz", "x"), SE_ERR_NOTFOUND);
    CHECK_EQ_INT(pol_rec_get(db, "r1", copy_row, &got), 0);
    CHECK(got.hold_at > 0);
    CHECK_EQ_INT(pol_rec_release(db, "r2", NULL), SE_ERR_INVAL);
    CHECK_EQ_INT(pol_rec_release(db, "zz", NULL), SE_ERR_NOTFOUND);

    /* expiry: r1 is held, r3 is recording, r2 has no deadline */
    ids.n = 0;
    CHECK_EQ_INT(pol_rec_expired(db, 3000, 10, collect, &ids), 0);
    CHECK(ids.n == 1 && !strcmp(ids.id[0], "r4"));

    /* deletion rules, checked in the deleting transaction */
    CHECK_EQ_INT(pol_rec_delete(db, "r1", 3000, false, "recording.purge", "x", why, sizeof(why)),
                 SE_ERR_DENIED);
    CHECK(strstr(why, "legal hold") != NULL);
    CHECK_EQ_INT(pol_rec_delete(db, "r1", 3000, true, "recording.delete", "x", why, sizeof(why)),
                 SE_ERR_DENIED); /* a hold blocks even a forced delete */
    CHECK_EQ_INT(pol_rec_delete(db, "r3", 3000, true, "recording.delete", "x", why, sizeof(why)),
                 SE_ERR_DENIED);
    CHECK(strstr(why, "in progress") != NULL);
    CHECK_EQ_INT(pol_rec_delete(db, "r2", 3000, false, "recording.delete", "x", why, sizeof(why)),
                 SE_ERR_DENIED);
    CHECK_EQ_INT(pol_rec_delete(db, "r2", 3000, true, "recording.delete", "x", why, sizeof(why)),
                 0);
    CHECK_EQ_INT(pol_rec_delete(db, "r4", 3000, false, "recording.purge", "x", why, sizeof(why)),
                 0);
    CHECK_EQ_INT(pol_rec_delete(db, "r4", 3000, false, "recording.purge", "x", why, sizeof(why)),
                 SE_ERR_NOTFOUND);
    CHECK_EQ_INT(pol_rec_release(db, "r1", "closed"), 0);

    /* verification outcome, audit trail, statistics */
    CHECK_EQ_INT(pol_rec_set_verified(db, "r1", true, "ok"), 0);
    CHECK_EQ_INT(pol_rec_get(db, "r1", copy_row, &got), 0);
    CHECK_EQ_INT(got.verified_ok, 1);
    CHECK_EQ_INT(pol_rec_audit(db, "r1", 100, count_audit, &n), 0);
    CHECK_EQ_INT(n, 5); /* start, complete, hold, release, verify */
    CHECK_EQ_INT(pol_rec_stats(db, &st), 0);
    CHECK_EQ_INT(st.by_status[0], 1);
    CHECK_EQ_INT(st.by_status[1], 1);
    CHECK_EQ_INT(st.bytes, 10);
    CHECK_EQ_INT(st.oldest, 1000);
    CHECK_EQ_INT(st.failures, 1);
    CHECK_EQ_INT(st.purged, 2);

    /* a finish whose start never reached the catalog inserts the row */
    struct pol_recording lost = {
        .id = "r9", .dir = "/x/r9", .status = "incomplete", .started = 1300, .user = "carol"};
    CHECK_EQ_INT(pol_rec_finish(db, &lost, "recording.sealed", "recovered"), 0);
    CHECK_EQ_INT(pol_rec_get(db, "r9", copy_row, &got), 0);
    CHECK_EQ_INT(got.started, 1300);
    struct pol_recording bad = {.id = "r9", .dir = "/x", .status = "weird"};
    CHECK_EQ_INT(pol_rec_finish(db, &bad, "x", NULL), SE_ERR_INVAL);
    pol_db_close(db);
}

int main(void)
{
    snprintf(path, sizeof(path), "/tmp/sedge-test-catalog-%d.db", (int)getpid());
    RUN(test_rows);
    unlink(path);
    char p[96];
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
    return check_done();
}
