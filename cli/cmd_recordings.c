/*
 * cmd_recordings.c - `sedge recordings list|show|export|verify|hold|
 * release|purge`: the compliance catalog from the host, mirroring the
 * /v1/recordings API (docs/recording.md). Every verb works on the
 * database of --config; changes and content access write audit rows under
 * the actor cli:<login>, as the API does under its token.
 */
#include "cli/cli.h"
#include "cli/cmd_recordings.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/db.h"
#include "policy/recordings.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sedge recordings list [--user U] [--origin O] [--since T] [--until T]\n"
            "                             [--status S] [--limit N] [--before ID] [--json]\n"
            "       sedge recordings show ID [--json]\n"
            "       sedge recordings verify ID [--json]\n"
            "       sedge recordings export ID --out FILE.tar\n"
            "       sedge recordings hold ID --reason TEXT\n"
            "       sedge recordings release ID [--reason TEXT]\n"
            "       sedge recordings purge [--dry-run] [--json]\n"
            "       sedge recordings purge ID [--force --reason TEXT]\n"
            "  (each also takes --config FILE)\n\n"
            "The catalog of recordings (made by `sedge serve`'s anchor or by\n"
            "`sedge record listen|import --config`). list: newest first, one page\n"
            "(--limit, default 50, max 500; the next page with --before <last id>); S is\n"
            "recording|complete|incomplete|failed; T is unix seconds, ISO 8601 or an age\n"
            "(7d). verify re-hashes the files and checks the signature with the\n"
            "recording key and keyring. export writes a tar of the recording, its\n"
            "signature and the public key, verifiable offline. hold/release set or clear\n"
            "a legal hold. purge without ID deletes every recording past its retention\n"
            "that is not on hold (--dry-run lists them); with ID one recording, past\n"
            "retention, or before it with --force and a reason. Exit status 1 on any\n"
            "refusal or failed verification.\n");
}

int cli_rec_opts_parse(int argc, char **argv, struct cli_rec_opts *o)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
        {"user", required_argument, NULL, 'u'},   {"origin", required_argument, NULL, 'o'},
        {"since", required_argument, NULL, 's'},  {"until", required_argument, NULL, 'U'},
        {"status", required_argument, NULL, 'S'}, {"limit", required_argument, NULL, 'n'},
        {"before", required_argument, NULL, 'b'}, {"reason", required_argument, NULL, 'r'},
        {"out", required_argument, NULL, 'O'},    {"dry-run", no_argument, NULL, 'd'},
        {"force", no_argument, NULL, 'f'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:ju:o:s:U:S:n:b:r:O:dfh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'j': o->json = true; break;
        case 'u': o->f.user = optarg; break;
        case 'o': o->f.origin = optarg; break;
        case 's': o->since = optarg; break;
        case 'U': o->until = optarg; break;
        case 'S': o->f.status = optarg; break;
        case 'n': o->f.limit = atoi(optarg); break;
        case 'b': o->f.before = optarg; break;
        case 'r': o->reason = optarg; break;
        case 'O': o->out = optarg; break;
        case 'd': o->dry_run = true; break;
        case 'f': o->force = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc)
        o->id = argv[optind++];
    if (optind != argc || o->f.limit < 0 || o->f.limit > POL_REC_PAGE_MAX ||
        (o->f.status && pol_rec_status_index(o->f.status) < 0)) {
        usage(stderr);
        return 2;
    }
    return -1; /* parsed: go on */
}

static void print_json(json_t *o)
{
    json_dumpf(o, stdout, JSON_INDENT(2));
    putchar('\n');
}

struct list_ctx {
    json_t *arr;
    bool json;
    char last[128];
    int n;
};

static int list_row(const struct pol_recording *r, void *arg)
{
    struct list_ctx *l = arg;
    char t[32], user[4 * 128], origin[4 * 256];

    snprintf(l->last, sizeof(l->last), "%s", r->id);
    l->n++;
    if (l->json) {
        json_t *o = pol_recording_json(r);
        return o && json_array_append_new(l->arr, o) == 0 ? 0 : SE_ERR_NOMEM;
    }
    /* user and origin may be client bytes (an anchored call's): escaped */
    printf("%-34s %-20s %9.1f %-10s %-20s %-28s %-9s %s\n", r->id,
           cli_fmt_time(r->started, t, sizeof(t)), (double)r->duration_ms / 1000.0, r->status,
           cli_text(r->user, user, sizeof(user)), cli_text(r->origin, origin, sizeof(origin)),
           r->signature, r->hold_at ? "held" : "-");
    return 0;
}

static int cmd_list(struct cli_rec_opts *o, struct pol_db *db)
{
    struct list_ctx l = {.json = o->json, .arr = o->json ? json_array() : NULL};
    int64_t now = (int64_t)time(NULL);

    if ((o->since && cli_parse_time(o->since, now, &o->f.since) < 0) ||
        (o->until && cli_parse_time(o->until, now, &o->f.until) < 0)) {
        fprintf(stderr, "sedge: --since/--until: cannot read the time\n");
        json_decref(l.arr);
        return 2;
    }
    if (!o->json)
        printf("%-34s %-20s %9s %-10s %-20s %-28s %-9s %s\n", "ID", "STARTED", "SECONDS",
               "STATUS", "USER", "ORIGIN", "SIGNATURE", "HOLD");
    int rc = pol_rec_list(db, &o->f, list_row, &l);
    if (rc == SE_ERR_NOTFOUND)
        fprintf(stderr, "sedge: --before: no recording %s\n", o->f.before);
    else if (rc < 0)
        fprintf(stderr, "sedge: cannot list recordings: %s\n", pol_db_errmsg(db));
    int limit = o->f.limit ? o->f.limit : POL_REC_PAGE_DEFAULT;
    if (rc == 0 && o->json) {
        json_t *page = json_pack("{s:o, s:o}", "recordings", l.arr, "next",
                                 l.n == limit ? json_string(l.last) : json_null());
        print_json(page);
        json_decref(page);
    } else {
        json_decref(l.arr);
    }
    if (rc == 0 && !o->json && l.n == limit)
        printf("(more: --before %s)\n", l.last);
    return rc < 0 ? 1 : 0;
}

static int audit_row(const struct pol_audit_row *a, void *arg)
{
    json_t *arr = arg;
    return json_array_append_new(arr, json_pack("{s:I, s:I, s:s, s:s, s:s?}", "id",
                                                 (json_int_t)a->id, "at", (json_int_t)a->at,
                                                 "actor", a->actor, "action", a->action,
                                                 "detail", a->detail)) < 0
               ? SE_ERR_NOMEM
               : 0;
}

static int show_row(const struct pol_recording *r, void *arg)
{
    json_t **out = arg;
    *out = pol_recording_json(r);
    if (*out)
        json_object_set_new(*out, "dir", json_string(r->dir));
    return *out ? 0 : SE_ERR_NOMEM;
}

static int cmd_show(struct cli_rec_opts *o, struct pol_db *db)
{
    json_t *row = NULL, *audit = json_array();
    int rc = pol_rec_get(db, o->id, show_row, &row);

    if (rc == SE_ERR_NOTFOUND)
        fprintf(stderr, "sedge: no recording %s\n", o->id);
    if (rc < 0 || !row) {
        json_decref(audit);
        return 1;
    }
    pol_rec_audit(db, o->id, 50, audit_row, audit);
    pol_db_audit(db, "recording.show", o->id, "via=cli");
    json_object_set_new(row, "audit", audit);
    if (o->json) {
        print_json(row);
    } else {
        static char esc[4 * 4096];
        const char *k;
        json_t *v;
        /* Strings print escaped (stored client bytes: user, origin,
         * remote, reasons); other values as compact JSON. */
        json_object_foreach(row, k, v)
        {
            char *t = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("%-13s %s\n", k, t ? t : cli_text(json_string_value(v), esc, sizeof(esc)));
            free(t);
        }
    }
    json_decref(row);
    return 0;
}

static int cmd_hold(struct cli_rec_opts *o, struct pol_db *db, bool hold)
{
    int rc;

    if (hold && (!o->reason || !o->reason[0])) {
        fprintf(stderr, "sedge: hold needs --reason TEXT (it is kept with the hold)\n");
        return 2;
    }
    rc = hold ? pol_rec_hold(db, o->id, o->reason) : pol_rec_release(db, o->id, o->reason);
    if (rc == SE_ERR_NOTFOUND)
        fprintf(stderr, "sedge: no recording %s\n", o->id);
    else if (rc == SE_ERR_EXISTS)
        fprintf(stderr, "sedge: %s is already on hold\n", o->id);
    else if (rc == SE_ERR_INVAL)
        fprintf(stderr, "sedge: %s is not on hold\n", o->id);
    else if (rc < 0)
        fprintf(stderr, "sedge: database error: %s\n", pol_db_errmsg(db));
    else
        printf("%s %s\n", o->id, hold ? "on hold" : "released");
    return rc < 0 ? 1 : 0;
}

int cmd_recordings(int argc, char **argv)
{
    struct cli_rec_opts o;
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    const char *verb;
    int rc;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    verb = argv[1];
    if ((rc = cli_rec_opts_parse(argc - 1, argv + 1, &o)) >= 0)
        return rc;
    bool needs_id = strcmp(verb, "list") != 0 && strcmp(verb, "purge") != 0;
    if ((needs_id && !o.id) || (!strcmp(verb, "list") && o.id)) {
        usage(stderr);
        return 2;
    }
    if (cli_open(o.config, &cfg, &db) != 0)
        return 1;
    if (!strcmp(verb, "list"))
        rc = cmd_list(&o, db);
    else if (!strcmp(verb, "show"))
        rc = cmd_show(&o, db);
    else if (!strcmp(verb, "hold") || !strcmp(verb, "release"))
        rc = cmd_hold(&o, db, !strcmp(verb, "hold"));
    else if (!strcmp(verb, "verify") || !strcmp(verb, "export") || !strcmp(verb, "purge"))
        rc = cli_recordings_files(verb, &o, cfg, db);
    else {
        fprintf(stderr, "sedge: unknown recordings verb '%s'\n", verb);
        usage(stderr);
        rc = 2;
    }
    pol_db_close(db);
    se_config_free(cfg);
    return rc;
}
