/*
 * recover.c - what the next start does about recordings a dead process
 * left: every catalog row still "recording", and every directory under
 * recording.dir the catalog does not know, is looked at under the
 * journal's lock.
 *
 *   live elsewhere (lock held)      left alone
 *   no manifest, journal            sealed from the journal (seal.h): "incomplete"
 *   manifest, row not finished      the row is completed from the directory
 *   directory gone                  the row becomes "failed" with the reason
 *   no journal, no manifest         "failed": nothing proves what was written
 *
 * Runs on the control thread before any recording of this process starts,
 * so a lock it finds is always another process's.
 */
#include "core/err.h"
#include "core/log.h"
#include "policy/recordings.h"
#include "record/catalog_internal.h"
#include "record/manifest.h"
#include "record/seal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CRASH_REASON                                                                               \
    "the recording process ended without closing it (crash, kill or power loss); sealed at "       \
    "the next start"

/* Ids (and dirs) of the rows to look at, copied out of the callback. */
struct todo {
    char (*id)[REC_ID_MAX];
    char (*dir)[512];
    size_t n, cap;
};

static int collect(const struct pol_recording *r, void *arg)
{
    struct todo *t = arg;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        void *a = realloc(t->id, cap * sizeof(*t->id)),
             *b = a ? realloc(t->dir, cap * sizeof(*t->dir)) : NULL;
        if (a)
            t->id = a;
        if (!a || !b)
            return SE_ERR_NOMEM;
        t->dir = b;
        t->cap = cap;
    }
    snprintf(t->id[t->n], REC_ID_MAX, "%s", r->id);
    snprintf(t->dir[t->n], 512, "%.511s", r->dir);
    t->n++;
    return 0;
}

/* The status a sealed directory reports for itself. */
static const char *sealed_status(const struct rec_desc *d)
{
    return pol_rec_status_index(d->state) > 0 ? d->state : POL_REC_INCOMPLETE;
}

/* Look at one recording; returns 1 if its row was written, 0 if left
 * alone, or an error. */
static int recover_one(struct rec_catalog *c, struct pol_db *db, const char *id, const char *dir)
{
    struct rec_seal_info info;
    struct rec_desc d;
    struct stat sb;
    int rc;

    if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        memset(&d, 0, sizeof(d));
        snprintf(d.signature, sizeof(d.signature), "none");
        se_err_log("record %s: the recording directory %s is gone", id, dir);
        return rec_catalog_finish_row(db, id, dir, &d, POL_REC_FAILED,
                                      "the recording directory is missing", (int64_t)time(NULL),
                                      "recording.failed") < 0
                   ? SE_ERR_DB
                   : 1;
    }
    rc = rec_seal_dir(dir, c->key, c->key_len, POL_REC_INCOMPLETE, CRASH_REASON, &info);
    if (rc == SE_ERR_AGAIN)
        return 0; /* recording in another process */
    if (rec_dir_describe(dir, &d) < 0)
        return 0;
    if (rc == 0) {
        se_warn("record %s: sealed as incomplete after a crash: %d file(s), %llu fragments, "
                "%llu bytes cut",
                id, info.files, (unsigned long long)info.fragments,
                (unsigned long long)info.bytes_cut);
        rc = rec_catalog_finish_row(db, id, dir, &d, POL_REC_INCOMPLETE, CRASH_REASON,
                                    info.end_us / 1000000, "recording.sealed");
    } else if (rc == SE_ERR_EXISTS || d.sealed) {
        rc = rec_catalog_finish_row(db, id, dir, &d, sealed_status(&d), d.error, d.end,
                                    "recording.recovered");
    } else {
        se_err_log("record %s: no journal and no manifest: cannot be sealed", id);
        rc = rec_catalog_finish_row(db, id, dir, &d, POL_REC_FAILED,
                                    "no journal and no manifest: nothing proves what was written",
                                    d.end, "recording.failed");
    }
    rec_desc_free(&d);
    return rc < 0 ? SE_ERR_DB : 1;
}

int rec_catalog_recover(struct rec_catalog *c, struct pol_db *db)
{
    struct todo t = {0};
    DIR *dh;
    int done = 0, rc;

    rec_catalog_finish_purges(c, db);
    if ((rc = pol_rec_live(db, collect, &t)) < 0)
        goto out;
    for (size_t i = 0; i < t.n; i++)
        if ((rc = recover_one(c, db, t.id[i], t.dir[i])) > 0)
            done++;
    /* Directories the catalog never heard of (its start event lost). */
    t.n = 0;
    if (!(dh = opendir(c->dir))) {
        rc = SE_ERR_IO;
        goto out;
    }
    for (struct dirent *de; (de = readdir(dh));) {
        char dir[sizeof(t.dir[0]) + SE_PATH_MAX];
        if (!rec_name_ok(de->d_name) || strlen(de->d_name) >= REC_ID_MAX ||
            strncmp(de->d_name, "rec-", 4) != 0 || pol_rec_exists(db, de->d_name))
            continue;
        snprintf(dir, sizeof(dir), "%s/%s", c->dir, de->d_name);
        struct pol_recording r = {.id = de->d_name, .dir = dir};
        if (collect(&r, &t) < 0)
            break;
    }
    closedir(dh);
    for (size_t i = 0; i < t.n; i++) {
        se_warn("record %s: not in the catalog: registering it", t.id[i]);
        if ((rc = recover_one(c, db, t.id[i], t.dir[i])) > 0)
            done++;
    }
    rc = 0;
out:
    free(t.id);
    free(t.dir);
    return rc < 0 ? rc : done;
}
