/*
 * purge.c - deleting recordings: one on request (API DELETE, `sedge
 * recordings purge ID`) and the retention pass (every recording past its
 * deadline that is not on hold).
 *
 * Order, so that a crash at any point loses nothing it should keep and
 * keeps nothing it deleted: (1) the rules are checked (not recording, not
 * held, past retention unless forced); (2) the directory is renamed to
 * .purge-<id> beside it, which hides it from new downloads while open
 * ones keep their file descriptors; (3) the row is deleted with its audit
 * row (the manifest's hash in it) in one transaction that checks the
 * rules again, and on refusal the directory is renamed back; (4) the
 * files are removed. The next start finishes a (4) a crash interrupted,
 * or renames back a (2) whose row is still there.
 */
#include "core/err.h"
#include "core/log.h"
#include "policy/recordings.h"
#include "record/catalog_internal.h"
#include "record/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PURGE_PREFIX ".purge-"

struct victim {
    char id[REC_ID_MAX];
    char dir[512];
    char manifest[65];
    char status[16];
    int64_t retain_until, hold_at;
    bool found;
};

static int row_victim(const struct pol_recording *r, void *arg)
{
    struct victim *v = arg;
    snprintf(v->id, sizeof(v->id), "%s", r->id);
    snprintf(v->dir, sizeof(v->dir), "%.511s", r->dir);
    snprintf(v->manifest, sizeof(v->manifest), "%s", r->manifest_sha256 ? r->manifest_sha256 : "");
    snprintf(v->status, sizeof(v->status), "%s", r->status);
    v->retain_until = r->retain_until;
    v->hold_at = r->hold_at;
    v->found = true;
    return 0;
}

/* The hiding place of dir: .purge-<id> in the same parent. */
static void hidden_of(const char *dir, const char *id, char *out, size_t cap)
{
    const char *slash = strrchr(dir, '/');
    int n = slash ? (int)(slash - dir) : 0;
    snprintf(out, cap, "%.*s%s" PURGE_PREFIX "%s", n, dir, slash ? "/" : "", id);
}

/* Remove the files of a (hidden) recording directory, then the directory. */
static int remove_tree(const char *dir)
{
    DIR *dh = opendir(dir);
    int dfd, bad = 0;

    if (!dh)
        return errno == ENOENT ? 0 : SE_ERR_IO;
    dfd = dirfd(dh);
    for (struct dirent *de; (de = readdir(dh));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (unlinkat(dfd, de->d_name, 0) != 0) /* never recursive: a recording is flat */
            bad++;
    }
    closedir(dh);
    if (rmdir(dir) != 0)
        bad++;
    return bad ? SE_ERR_IO : 0;
}

int rec_catalog_delete(struct rec_catalog *c, struct pol_db *db, const char *id, bool force,
                       const char *action, const char *reason, char *why, size_t whylen)
{
    struct victim v = {0};
    char hidden[600], detail[512];
    int64_t now = (int64_t)time(NULL);
    struct stat sb;
    bool moved = false;
    int rc;

    (void)c;
    snprintf(why, whylen, "no recording %s", id);
    if ((rc = pol_rec_get(db, id, row_victim, &v)) < 0)
        return rc;
    /* (1) the rules, before touching anything (checked again in (3)) */
    if (!strcmp(v.status, POL_REC_RECORDING) || v.hold_at ||
        (!force && (!v.retain_until || v.retain_until > now))) {
        snprintf(why, whylen, "%s",
                 !strcmp(v.status, POL_REC_RECORDING) ? "the recording is in progress"
                 : v.hold_at ? "the recording is on legal hold; release the hold first"
                 : v.retain_until
                     ? "its retention has not run out; an admin may force with a reason"
                     : "it is kept without a retention deadline; an admin may force with a reason");
        return SE_ERR_DENIED;
    }
    /* (2) hide the directory */
    hidden_of(v.dir, v.id, hidden, sizeof(hidden));
    if (lstat(v.dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode) || rename(v.dir, hidden) != 0) {
            snprintf(why, whylen, "cannot move the directory aside: %s", strerror(errno));
            return SE_ERR_IO;
        }
        moved = true;
    }
    /* (3) the row and its audit row, the rules checked in the transaction */
    snprintf(detail, sizeof(detail), "manifest=%s status=%s%s%s%s%.300s",
             v.manifest[0] ? v.manifest : "none", v.status, moved ? "" : " dir=missing",
             force ? " forced=true" : "", reason && reason[0] ? " reason=" : "",
             reason ? reason : "");
    rc = pol_rec_delete(db, id, now, force, action, detail, why, whylen);
    if (rc < 0) {
        if (moved && rename(hidden, v.dir) != 0)
            se_err_log("record %s: cannot move %s back: %s (the next start does)", id, hidden,
                       strerror(errno));
        return rc;
    }
    /* (4) the files */
    if (moved && remove_tree(hidden) < 0)
        se_err_log("record %s: deleted from the catalog, but %s could not be removed fully "
                   "(the next start retries)",
                   id, hidden);
    se_info("record %s: deleted (%s%s%s)", id, action, force ? ", forced" : "",
            moved ? "" : ", its directory was already gone");
    return 0;
}

struct expired {
    char (*id)[REC_ID_MAX];
    size_t n;
};

static int collect_expired(const struct pol_recording *r, void *arg)
{
    struct expired *e = arg;
    snprintf(e->id[e->n++], REC_ID_MAX, "%s", r->id);
    return 0;
}

int rec_catalog_purge(struct rec_catalog *c, struct pol_db *db, bool dry_run, rec_purge_fn cb,
                      void *arg)
{
    struct expired e = {.id = calloc(REC_PURGE_BATCH, REC_ID_MAX)};
    char why[256];
    int done = 0, rc;

    if (!e.id)
        return SE_ERR_NOMEM;
    rc = pol_rec_expired(db, (int64_t)time(NULL), REC_PURGE_BATCH, collect_expired, &e);
    for (size_t i = 0; rc == 0 && i < e.n; i++) {
        int r = dry_run ? 0
                        : rec_catalog_delete(c, db, e.id[i], false, "recording.purge", "retention",
                                             why, sizeof(why));
        if (cb)
            cb(arg, e.id[i], r, r < 0 ? why : NULL);
        done += r == 0;
    }
    free(e.id);
    return rc < 0 ? rc : done;
}

void rec_catalog_finish_purges(struct rec_catalog *c, struct pol_db *db)
{
    DIR *dh = opendir(c->dir);
    size_t pl = strlen(PURGE_PREFIX);

    for (struct dirent *de; dh && (de = readdir(dh));) {
        char hidden[SE_PATH_MAX + 300], dir[SE_PATH_MAX + 300];
        const char *id = de->d_name + pl;
        if (strncmp(de->d_name, PURGE_PREFIX, pl) != 0 || !rec_name_ok(id))
            continue;
        snprintf(hidden, sizeof(hidden), "%s/%s", c->dir, de->d_name);
        snprintf(dir, sizeof(dir), "%s/%s", c->dir, id);
        if (pol_rec_exists(db, id)) { /* the row was never deleted: undo (2) */
            if (rename(hidden, dir) == 0)
                se_warn("record %s: an interrupted deletion was rolled back", id);
        } else if (remove_tree(hidden) == 0) {
            se_info("record %s: finished removing a deleted recording's files", id);
        }
    }
    if (dh)
        closedir(dh);
}
