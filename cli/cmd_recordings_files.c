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
#include "record/catalog.h"
#include "record/manifest.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

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
    else
        fprintf(stderr, "sedge: recordings %s: unknown verb\n", verb);
    rec_catalog_free(cat);
    return rc;
}
