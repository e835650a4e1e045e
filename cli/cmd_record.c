/*
 * cmd_record.c - `sedge record import|verify|listen`: the recorder's
 * offline and test tools. Each verb lives in its own cli/cmd_record_*.c;
 * this file dispatches and holds the option handling they share.
 */
#include "cli/cli.h"
#include "cli/cmd_record_common.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"
#include "record/catalog.h"
#include "record/rtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge record import --pcap FILE --sdp FILE --out DIR [OPTIONS]\n"
                 "       sedge record listen --sdp FILE --out DIR [OPTIONS]\n"
                 "       sedge record verify DIR [--key-file FILE] [--require-signature]\n"
                 "                               [--allow-unsigned]\n"
                 "       sedge record key --public|--id|--generate|--rotate [--config FILE]\n\n"
                 "Turn plain RTP (H.264, VP8, VP9, AV1, Opus) into playable, signed\n"
                 "recordings, and check them. Run `sedge record VERB --help` for a verb's\n"
                 "options.\n");
}

int cmd_record(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "import"))
        return cmd_record_import(argc - 1, argv + 1);
    if (!strcmp(argv[1], "verify"))
        return cmd_record_verify(argc - 1, argv + 1);
    if (!strcmp(argv[1], "listen"))
        return cmd_record_listen(argc - 1, argv + 1);
    if (!strcmp(argv[1], "key"))
        return cmd_record_key(argc - 1, argv + 1);
    fprintf(stderr, "sedge: unknown record verb '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

int cli_record_key(const char *key_file, uint8_t *key, size_t *key_len)
{
    char err[512];

    *key_len = 0;
    if (!key_file)
        key_file = getenv("SEDGE_RECORD_KEY_FILE");
    if (!key_file || !key_file[0])
        return 0;
    if (rec_key_load(key_file, key, key_len, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: signing key: %s\n", err);
        return 1;
    }
    return 0;
}

int rec_cli_option(struct rec_cli_opts *o, int c, const char *arg)
{
    struct rec_session_cfg *cfg = &o->cfg;
    char *end;
    long v;

    switch (c) {
    case 256:
        o->key_file = arg;
        return 0;
    case 257:
        cfg->flv = true;
        return 0;
    case 259:
        snprintf(cfg->session_id, sizeof(cfg->session_id), "%s", arg);
        return 0;
    case 260:
        if (cfg->n_participants == REC_MAX_PARTICIPANTS) {
            fprintf(stderr, "sedge: at most %d participants\n", REC_MAX_PARTICIPANTS);
            return 2;
        }
        snprintf(cfg->participants[cfg->n_participants++], sizeof(cfg->participants[0]), "%s", arg);
        return 0;
    case 261:
        snprintf(cfg->policy_rule, sizeof(cfg->policy_rule), "%s", arg);
        return 0;
    case 265:
        if (se_log_level_parse(arg) < 0) {
            fprintf(stderr, "sedge: --log-level: error|warn|info|debug\n");
            return 2;
        }
        se_log_set_level(se_log_level_parse(arg));
        return 0;
    case 266:
        o->config = arg;
        return 0;
    case 267:
        o->user = arg;
        return 0;
    case 268:
        o->origin = arg;
        return 0;
    case 269:
        o->remote = arg;
        return 0;
    case 258:
        o->fsync_set = true;
        break;
    case 262:
    case 263:
    case 264:
        break;
    default:
        return 1;
    }
    v = strtol(arg, &end, 10);
    if (*end || v < 0 || v > 3600000 || (c == 262 && (v < 1 || v > RTP_WINDOW_MAX)) ||
        (c == 264 && v < 100)) {
        fprintf(stderr, "sedge: bad value '%s'\n", arg);
        return 2;
    }
    if (c == 258)
        cfg->fsync_us = v ? v * 1000 : -1;
    else if (c == 262)
        cfg->reorder_window = (unsigned)v;
    else if (c == 263)
        cfg->reorder_delay_us = v * 1000;
    else
        cfg->frag_us = v * 1000;
    return 0;
}

static int catalog_open(struct rec_cli_opts *o);

int rec_cli_catalog_open(struct rec_cli_opts *o, const char *out)
{
    int rc = catalog_open(o);

    if (rc == 0 && !o->cat == !out) {
        if (out)
            fprintf(stderr, "sedge: --out: the recordings of %s go into its recording.dir %s\n",
                    o->config, rec_catalog_dir(o->cat));
        rec_cli_catalog_close(o);
        return 2;
    }
    return rc;
}

static int catalog_open(struct rec_cli_opts *o)
{
    char err[512];
    int rc;

    if (!o->config)
        return 0;
    if (se_config_load(o->config, &o->conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        return 1;
    }
    if (!o->conf->rec_dir[0]) {
        se_config_free(o->conf);
        o->conf = NULL;
        return 0;
    }
    /* The catalog lives in the configuration's database, which only
     * `sedge init` creates: a missing one is an error, not a new file. */
    if ((rc = pol_db_open(o->conf->database, false, &o->db, err, sizeof(err))) < 0 ||
        (rc = rec_catalog_new(&o->cat, o->conf, err, sizeof(err))) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        if (rc == SE_ERR_NOTFOUND && !o->db)
            cli_hint_init(o->config);
        rec_cli_catalog_close(o);
        return 1;
    }
    pol_db_set_actor(o->db, cli_actor());
    int n = rec_catalog_recover(o->cat, o->db);
    if (n < 0)
        fprintf(stderr, "sedge: recovering earlier recordings: %s\n", se_err(n));
    else if (n > 0)
        fprintf(stderr, "sedge: %d earlier recording(s) sealed or registered (see the log)\n", n);
    return 0;
}

void rec_cli_catalog_drain(struct rec_cli_opts *o)
{
    if (o->cat && rec_catalog_drain(o->cat, o->db) < 0)
        fprintf(stderr, "sedge: the catalog of %s could not be written: %s\n",
                o->conf->database, pol_db_errmsg(o->db));
}

void rec_cli_catalog_close(struct rec_cli_opts *o)
{
    rec_cli_catalog_drain(o);
    rec_catalog_free(o->cat);
    pol_db_close(o->db);
    se_config_free(o->conf);
    o->cat = NULL;
    o->db = NULL;
    o->conf = NULL;
}

int rec_cli_prepare(struct rec_cli_opts *o, const char *sdp_path, struct rec_sdp *sdp,
                    const char *dir, uint8_t *key, const char *source)
{
    char err[512];

    if (rec_sdp_load(sdp_path, sdp, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        return 1;
    }
    rec_sdp_to_cfg(sdp, &o->cfg);
    if (o->cat) {
        struct rec_party p = {.session_id = o->cfg.session_id,
                              .user = o->user,
                              .origin = o->origin,
                              .remote = o->remote,
                              .rule = o->cfg.policy_rule,
                              .retention_days = -1,
                              .source = source};
        struct rec_session_cfg *c = &o->cfg;
        char sid[sizeof(c->session_id)], rule[sizeof(c->policy_rule)];
        snprintf(sid, sizeof(sid), "%s", c->session_id);
        snprintf(rule, sizeof(rule), "%s", c->policy_rule);
        p.session_id = sid;
        p.rule = rule;
        if (!o->fsync_set)
            c->fsync_us = o->conf->rec_fsync_interval ? (int64_t)o->conf->rec_fsync_interval * 1000
                                                      : -1;
        if (rec_catalog_prepare(o->cat, &p, c) < 0) {
            fprintf(stderr, "sedge: --user, --origin, --remote or --session-id too long\n");
            return 1;
        }
        if (o->key_file) { /* the command line wins over recording.sign_key_file */
            if (cli_record_key(o->key_file, key, &c->key_len) != 0)
                return 1;
            c->key = key;
        }
    } else {
        if (strlen(dir) >= sizeof(o->cfg.dir)) {
            fprintf(stderr, "sedge: directory name too long\n");
            return 1;
        }
        snprintf(o->cfg.dir, sizeof(o->cfg.dir), "%s", dir);
        snprintf(o->cfg.source, sizeof(o->cfg.source), "%s", source);
        snprintf(o->cfg.user, sizeof(o->cfg.user), "%s", o->user ? o->user : "");
        snprintf(o->cfg.origin, sizeof(o->cfg.origin), "%s", o->origin ? o->origin : "");
        snprintf(o->cfg.remote, sizeof(o->cfg.remote), "%s", o->remote ? o->remote : "");
        if (rec_cli_config(o->config, &o->key_file, &o->cfg.fsync_us, o->fsync_set) != 0)
            return 1;
        if (cli_record_key(o->key_file, key, &o->cfg.key_len) != 0)
            return 1;
        o->cfg.key = key;
    }
    if (o->cfg.key_len && rec_key_usable(o->cfg.key, o->cfg.key_len, true) != 0) {
        fprintf(stderr, "sedge: signing key: PEM keys must be Ed25519 private keys\n");
        return 1;
    }
    return 0;
}

int rec_cli_config(const char *config, const char **key_file, int64_t *fsync_us, bool fsync_set)
{
    static char path[SE_PATH_MAX];
    struct se_config *cfg;
    char err[512];

    if (!config)
        return 0;
    if (se_config_load(config, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        return 1;
    }
    if (!*key_file && cfg->rec_sign_key_file[0]) {
        snprintf(path, sizeof(path), "%s", cfg->rec_sign_key_file);
        *key_file = path;
    }
    if (fsync_us && !fsync_set)
        *fsync_us = cfg->rec_fsync_interval ? (int64_t)cfg->rec_fsync_interval * 1000 : -1;
    se_config_free(cfg);
    return 0;
}
