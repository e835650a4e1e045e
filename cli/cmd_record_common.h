/*
 * cmd_record_common.h - options `record import` and `record listen` share.
 */
#ifndef SE_CMD_RECORD_COMMON_H
#define SE_CMD_RECORD_COMMON_H

#include "record/manifest.h"
#include "record/rec.h"
#include "record/sdp.h"

#include <getopt.h>
#include <stdio.h>

/* clang-format off */
/* getopt_long entries shared by import and listen, codes >= 256. */
#define REC_COMMON_OPTIONS                                                                         \
    {"key-file", required_argument, NULL, 256},                                                    \
    {"flv", no_argument, NULL, 257},                                                               \
    {"fsync-interval", required_argument, NULL, 258},                                              \
    {"session-id", required_argument, NULL, 259},                                                  \
    {"participant", required_argument, NULL, 260},                                                 \
    {"policy-rule", required_argument, NULL, 261},                                                 \
    {"reorder-window", required_argument, NULL, 262},                                              \
    {"reorder-delay", required_argument, NULL, 263},                                               \
    {"fragment", required_argument, NULL, 264},                                                    \
    {"log-level", required_argument, NULL, 265},                                                   \
    {"config", required_argument, NULL, 266},                                                      \
    {"user", required_argument, NULL, 267},                                                        \
    {"origin", required_argument, NULL, 268},                                                      \
    {"remote", required_argument, NULL, 269}

#define REC_COMMON_HELP                                                                            \
    "  --key-file FILE       sign the manifest: HMAC-SHA256 under a secret, or Ed25519\n"          \
    "                        under a PEM private key (default $SEDGE_RECORD_KEY_FILE)\n"          \
    "  --flv                 also export the video as FLV (AVC sequence header + NALUs)\n"        \
    "  --fsync-interval MS   fdatasync output at most every MS ms (default 2000)\n"               \
    "  --fragment MS         MP4 fragment length (default 1000)\n"                                \
    "  --session-id ID, --participant NAME (repeatable), --policy-rule RULE\n"                    \
    "                        recorded in metadata.json (and the catalog)\n"                       \
    "  --user NAME, --origin ORIGIN, --remote PARTY\n"                                           \
    "                        whose call it is, from which site, with whom (catalog)\n"          \
    "  --reorder-window N    packets held for reordering (default 128)\n"                         \
    "  --reorder-delay MS    longest wait for a missing packet (default 200)\n"                   \
    "  --log-level LEVEL     error|warn|info|debug (default info)\n"                              \
    "  --config FILE         with recording.dir set: record into recording.dir and\n"            \
    "                        register in the catalog of its database (sealing what a\n"       \
    "                        crash left first); recording.sign_key_file and\n"                \
    "                        fsync_interval apply (command-line options win)\n"
/* clang-format on */

struct pol_db;
struct rec_catalog;
struct se_config;

struct rec_cli_opts {
    const char *key_file;
    const char *config;
    const char *user, *origin, *remote;
    bool fsync_set;
    struct rec_session_cfg cfg;
    /* catalog mode (--config with recording.dir): all three set */
    struct se_config *conf;
    struct pol_db *db;
    struct rec_catalog *cat;
};

/*
 * With --config FILE: the signing key file and fsync interval from its
 * recording group, where the command line did not give them (fsync_us may
 * be NULL). *key_file then points into a static buffer. Prints problems;
 * returns 0 or 1.
 */
int rec_cli_config(const char *config, const char **key_file, int64_t *fsync_us, bool fsync_set);

/* Handle one shared option; returns 0 if taken, 1 if not ours, 2 on a bad value. */
int rec_cli_option(struct rec_cli_opts *o, int c, const char *arg);

/*
 * With --config whose recording.dir is set, enter catalog mode: open its
 * database and catalog and seal what a crash left (o->cat set); out (the
 * --out given, or NULL) must then be NULL. Without, out is required.
 * Prints problems; returns 0, 1, or 2 (a usage error; out missing: the
 * caller prints its usage).
 */
int rec_cli_catalog_open(struct rec_cli_opts *o, const char *out);

/*
 * Finish the session configuration: load the SDP into it, then in catalog
 * mode a new id and directory under recording.dir (dir must be NULL),
 * else dir; the key; source. Prints problems; returns 0 or 1.
 */
int rec_cli_prepare(struct rec_cli_opts *o, const char *sdp_path, struct rec_sdp *sdp,
                    const char *dir, uint8_t *key, const char *source);

/* Catalog mode: write the recording's rows (control-thread work, here
 * the CLI's main thread). No-op otherwise. */
void rec_cli_catalog_drain(struct rec_cli_opts *o);
/* Drain, then close the catalog, database and configuration. */
void rec_cli_catalog_close(struct rec_cli_opts *o);

#endif
