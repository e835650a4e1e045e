/*
 * cmd_recordings_files.c - the `sedge recordings` verbs that touch the
 * recording files: verify (re-hash and check the signature with the
 * recording key and keyring), export (a tar verifiable offline) and purge
 * (retention). They go through record/catalog.h, the same code the API
 * and the daemon's retention pass run.
 */
#include "cli/cli.h"
#include "cli/cmd_recordings.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/db.h"
#include "policy/recordings.h"
#include "record/catalog.h"
#include "record/export.h"
#include "record/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int cmd_verify(struct cli_rec_opts *o, struct rec_catalog *cat, struct pol_db *db)
{
    struct rec_verify v;
    int rc = rec_catalog_verify(cat, db, o->id, &v);

    if (rc == SE_ERR_NOTFOUND && !v.error[0]) {
        fprintf(stderr, "sedge: no recording %s\n", o->id);
        return 1;
    }
    if (o->json) {
        json_t *j = rec_verify_json(&v, o->id);
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
    } else {
        rec_verify_print(&v, stdout);
        printf("%s: %s\n", o->id, v.ok ? "verified" : "VERIFICATION FAILED");
    }
    rec_verify_free(&v);
    return v.ok ? 0 : 1;
}

static int row_dir(const struct pol_recording *r, void *arg)
{
    snprintf(arg, 512, "%.511s", r->dir);
    return 0;
}

/* Write the parts of x to fd. 0 or -1 (errno). */
static int write_parts(int fd, const struct rec_export *x)
{
    static uint8_t buf[1 << 16];

    for (size_t i = 0; i < x->n; i++) {
        const struct rec_export_part *p = &x->parts[i];
        for (uint64_t done = 0; done < p->len;) {
            size_t n = p->len - done < sizeof(buf) ? (size_t)(p->len - done) : sizeof(buf);
            const uint8_t *src = p->blob ? p->blob + done : buf;
            if (!p->blob) {
                ssize_t r = pread(p->fd, buf, n, (off_t)(p->off + done));
                if (r <= 0)
                    return -1;
                n = (size_t)r;
            }
            for (size_t w = 0; w < n;) {
                ssize_t r = write(fd, src + w, n - w);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    return -1;
                w += (size_t)r;
            }
            done += n;
        }
    }
    return fsync(fd);
}

static int cmd_export(struct cli_rec_opts *o, struct rec_catalog *cat, struct pol_db *db)
{
    struct rec_export x;
    char dir[512] = "", err[256], detail[128];
    int fd, rc;

    if (!o->out) {
        fprintf(stderr, "sedge: export needs --out FILE.tar\n");
        return 2;
    }
    if (pol_rec_get(db, o->id, row_dir, dir) < 0) {
        fprintf(stderr, "sedge: no recording %s\n", o->id);
        return 1;
    }
    if ((rc = rec_export_plan(dir, o->id, rec_catalog_keyring(cat), &x, err, sizeof(err))) < 0) {
        fprintf(stderr, "sedge: cannot export %s: %s\n", o->id,
                rc == SE_ERR_AUTH     ? err
                : rc == SE_ERR_NOTFOUND ? "not sealed, or its directory is gone"
                                        : se_err(rc));
        return 1;
    }
    fd = open(o->out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 || write_parts(fd, &x) < 0) {
        fprintf(stderr, "sedge: %s: %s\n", o->out, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(o->out);
        }
        rec_export_free(&x);
        return 1;
    }
    close(fd);
    snprintf(detail, sizeof(detail), "format=tar bytes=%llu via=cli", (unsigned long long)x.total);
    pol_db_audit(db, "recording.export", o->id, detail);
    printf("%s: %llu bytes (verify offline: see %s/VERIFY.txt inside)\n", o->out,
           (unsigned long long)x.total, o->id);
    rec_export_free(&x);
    return 0;
}

struct purge_ctx {
    json_t *arr;
    bool dry_run;
    int failed;
};

static void purge_one(void *arg, const char *id, int rc, const char *why)
{
    struct purge_ctx *p = arg;

    if (rc < 0)
        p->failed++;
    if (p->arr)
        json_array_append_new(p->arr, json_pack("{s:s, s:s, s:s?}", "id", id, "result",
                                                rc < 0 ? "refused" : p->dry_run ? "would delete"
                                                                                 : "deleted",
                                                "reason", rc < 0 ? why : NULL));
    else
        printf("%s %s%s%s\n", id, rc < 0 ? "refused" : p->dry_run ? "would be deleted" : "deleted",
               rc < 0 ? ": " : "", rc < 0 ? why : "");
}

/* purge: the retention pass (or --dry-run); purge ID: one recording. */
static int cmd_purge(struct cli_rec_opts *o, struct rec_catalog *cat, struct pol_db *db)
{
    struct purge_ctx p = {.dry_run = o->dry_run, .arr = o->json ? json_array() : NULL};
    char why[256];
    int n = 0, rc;

    if (o->id) {
        if (o->dry_run || (o->force && (!o->reason || !o->reason[0]))) {
            fprintf(stderr, "sedge: purge ID takes --force with --reason TEXT (no --dry-run)\n");
            json_decref(p.arr);
            return 2;
        }
        rc = rec_catalog_delete(cat, db, o->id, o->force, "recording.delete", o->reason, why,
                                sizeof(why));
        purge_one(&p, o->id, rc, why);
        n = rc == 0;
    } else {
        /* One pass takes REC_PURGE_BATCH; go on until nothing is left. */
        do {
            rc = rec_catalog_purge(cat, db, o->dry_run, purge_one, &p);
            n += rc > 0 ? rc : 0;
        } while (rc == REC_PURGE_BATCH && !o->dry_run);
    }
    if (p.arr) {
        json_t *j = json_pack("{s:o, s:i, s:b}", "recordings", p.arr, "deleted",
                              o->dry_run ? 0 : n, "dry_run", o->dry_run);
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
    } else if (!o->id) {
        printf("%d recording(s) %s\n", n, o->dry_run ? "past retention" : "deleted");
    }
    return rc < 0 || p.failed ? 1 : 0;
}

int cli_recordings_files(const char *verb, struct cli_rec_opts *o, const struct se_config *cfg,
                         struct pol_db *db)
{
    struct rec_catalog *cat = NULL;
    char err[512];
    int rc = 1;

    if (rec_catalog_new(&cat, cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        return 1;
    }
    if (!strcmp(verb, "verify"))
        rc = cmd_verify(o, cat, db);
    else if (!strcmp(verb, "export"))
        rc = cmd_export(o, cat, db);
    else if (!strcmp(verb, "purge"))
        rc = cmd_purge(o, cat, db);
    else
        fprintf(stderr, "sedge: recordings %s: unknown verb\n", verb);
    rec_catalog_free(cat);
    return rc;
}
