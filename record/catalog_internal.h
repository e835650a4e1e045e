/*
 * catalog_internal.h - what the catalog's files (catalog.c, recover.c,
 * purge.c) share. Nothing outside record/ includes it.
 */
#ifndef SE_REC_CATALOG_INTERNAL_H
#define SE_REC_CATALOG_INTERNAL_H

#include "core/config.h"
#include "record/catalog.h"
#include "record/keys.h"

#include <stdbool.h>
#include <stdint.h>

struct se_queue;

struct rec_catalog {
    char dir[SE_PATH_MAX];
    uint8_t key[REC_KEY_MAX]; /* the signing key; key_len 0 = unsigned */
    size_t key_len;
    char key_id[REC_KEY_ID_LEN + 1];
    struct rec_keyring *keyring; /* the signing key and retired ones */
    int64_t fsync_us;
    unsigned retention_days;
    struct se_queue *q;
};

/* What a recording directory says about itself (rec_dir_describe). */
struct rec_desc {
    int64_t start, end, duration_ms, bytes;
    char state[16], error[256];
    char session_id[128], source[128], rule[128], user[128], origin[256], remote[256];
    char *streams, *files; /* JSON array texts, or NULL */
    bool sealed;           /* a readable manifest */
    char manifest_sha256[65];
    char signature[16]; /* "none", "unsigned", "ed25519", "hmac-sha256" */
    char key_id[REC_KEY_ID_LEN + 1];
};

/* Read dir's metadata.json and manifest (bounded). 0, or SE_ERR_NOTFOUND
 * if dir is not a directory. Free with rec_desc_free(). */
int rec_dir_describe(const char *dir, struct rec_desc *d);
void rec_desc_free(struct rec_desc *d);

/* Load (or, at the default path, create) the signing key and the keyring. */
int rec_catalog_keys_load(struct rec_catalog *c, const struct se_config *cfg, char *err,
                          size_t errlen);

/* Finish deletions a crash interrupted (.purge-<id> directories). */
void rec_catalog_finish_purges(struct rec_catalog *c, struct pol_db *db);

/* Complete the catalog row of a sealed (or lost) recording from d. */
int rec_catalog_finish_row(struct pol_db *db, const char *id, const char *dir,
                           const struct rec_desc *d, const char *status, const char *reason,
                           int64_t ended, const char *action);

#endif
