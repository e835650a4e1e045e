/*
 * manifest.h - the integrity record of a recording directory.
 *
 * manifest.sha256 lists every file of the recording with its SHA-256 and
 * size (hashes computed as the bytes were written, not re-read) and, when
 * signed, names the signing key:
 *
 *     # sedge recording manifest v2
 *     key ed25519 <16 hex key id>             (signed manifests only)
 *     sha256 <64 hex> <bytes> <name>
 *
 * (v1, without the key line, is still read and verified.) manifest.sig
 * holds "ed25519 <128 hex>", the Ed25519 signature of the exact bytes of
 * manifest.sha256, or "hmac-sha256 <64 hex>", their HMAC-SHA256 under a
 * secret (keys.h). The key id lets a verifier holding several keys (after
 * a rotation) pick the right one. Names are plain file names
 * ([A-Za-z0-9._-], no paths), so a tampered manifest cannot point outside
 * the directory.
 */
#ifndef SE_REC_MANIFEST_H
#define SE_REC_MANIFEST_H

#include "record/keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    REC_NAME_MAX = 64,
    REC_MANIFEST_MAX_FILES = 1024,
    REC_VERIFY_MAX_EXTRA = 64, /* unlisted files reported by name */
};

#define REC_MANIFEST_NAME "manifest.sha256"
#define REC_SIGNATURE_NAME "manifest.sig"

struct rec_manifest_entry {
    char name[REC_NAME_MAX];
    uint8_t sha256[32];
    uint64_t bytes;
};

/* True if name is a plain file name a manifest may list. */
bool rec_name_ok(const char *name);

/*
 * Write dir/manifest.sha256 for entries[0..n) and, if key_len > 0,
 * dir/manifest.sig (the key named in the manifest). Both are fsync'd and
 * renamed into place, then the directory is fsync'd. Returns 0,
 * SE_ERR_IO, or SE_ERR_INVAL / SE_ERR_CRYPTO for a key that cannot sign.
 */
int rec_manifest_write(const char *dir, const struct rec_manifest_entry *entries, size_t n,
                       const uint8_t *key, size_t key_len);

/* A parsed manifest (rec_manifest_read); free with rec_manifest_release. */
struct rec_manifest {
    struct rec_manifest_entry *e;
    size_t n;
    char *text; /* the exact bytes, NUL-terminated */
    size_t len;
    uint8_t sha256[32]; /* of the text */
    char key_alg[16];   /* from the key line; "" if none */
    char key_id[REC_KEY_ID_LEN + 1];
};

/* Read and parse dir/manifest.sha256 strictly (bounded). 0, or
 * SE_ERR_NOTFOUND / SE_ERR_PARSE with err saying why. */
int rec_manifest_read(const char *dir, struct rec_manifest *m, char *err, size_t errlen);
void rec_manifest_release(struct rec_manifest *m);

/* rec_manifest_check() flags. */
enum rec_verify_flags {
    /* A signature that cannot be checked (no key given) is an error, not
     * a warning. */
    REC_VERIFY_REQUIRE_SIG = 1,
    /* A recording without manifest.sig may pass on its hashes alone. Never
     * the default: deleting the signature and re-hashing the manifest
     * after editing the media is exactly what a forger does. */
    REC_VERIFY_ALLOW_UNSIGNED = 2,
};

enum rec_file_state {
    REC_FILE_OK = 0,
    REC_FILE_MISSING,  /* listed, cannot be read */
    REC_FILE_SIZE,     /* size differs */
    REC_FILE_HASH,     /* SHA-256 differs */
    REC_FILE_UNLISTED, /* present, not in the manifest */
};

struct rec_verify_file {
    char name[256];
    int state; /* enum rec_file_state */
    uint64_t bytes, expected;
};

/*
 * The outcome of a check. sig is one of "ok", "unsigned" (no
 * manifest.sig), "unchecked" (no key given), "mismatch", "unknown_key"
 * (the key id is not in the keyring), "malformed"; sig_error says whether
 * that sig state fails the check. ok: everything holds under the flags.
 */
struct rec_verify {
    bool ok;
    char error[256]; /* no readable manifest: why; "" otherwise */
    struct rec_verify_file *files;
    size_t n_files;
    bool extra_truncated; /* more unlisted files than REC_VERIFY_MAX_EXTRA */
    char sig[16];
    bool sig_error;
    char sig_alg[16];
    char key_id[REC_KEY_ID_LEN + 1];
    char sig_text[256]; /* one sentence */
    uint8_t manifest_sha256[32];
};

/*
 * Check every listed file's size and hash (re-reading it), that no other
 * file is in dir, and the signature against the keyring (kr may be NULL
 * or empty: the signature cannot be checked). A missing manifest.sig is
 * an error unless flags has REC_VERIFY_ALLOW_UNSIGNED; a malformed or
 * wrong signature always is. Fills *v (free with rec_verify_free).
 * Returns 0 if v->ok, SE_ERR_AUTH on any mismatch, SE_ERR_NOTFOUND /
 * SE_ERR_PARSE if there is no readable manifest, SE_ERR_NOMEM.
 */
int rec_manifest_check(const char *dir, const struct rec_keyring *kr, unsigned flags,
                       struct rec_verify *v);
void rec_verify_free(struct rec_verify *v);
/* One line per file and one for the signature, as `sedge record verify` prints. */
void rec_verify_print(const struct rec_verify *v, FILE *out);

/* rec_manifest_check() with one key (key_len 0: none), printed to report. */
int rec_manifest_verify(const char *dir, const uint8_t *key, size_t key_len, unsigned flags,
                        FILE *report);

/* SHA-256 and size of a file. Returns 0 or SE_ERR_IO. */
int rec_sha256_file(const char *path, uint8_t out[32], uint64_t *bytes);

/* Write buf to dir/name through a temporary file, fsync, rename, fsync
 * the directory: a reader sees the old file or the whole new one, and
 * the rename survives power loss. 0 or SE_ERR_IO. */
int rec_write_atomic(const char *dir, const char *name, const char *buf, size_t len);

/* fsync a directory (after creating or renaming in it). 0 or SE_ERR_IO. */
int rec_fsync_dir(const char *dir);

/* Lower-case hex of n bytes into out (2n + 1). */
void rec_hex(const uint8_t *b, size_t n, char *out);
/* 2n lower-case hex digits into n bytes. 0, or -1 on any other character. */
int rec_unhex(const char *s, uint8_t *out, size_t n);

#endif
