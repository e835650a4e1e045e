/*
 * manifest.h - the integrity record of a recording directory.
 *
 * manifest.sha256 lists every file of the recording with its SHA-256 and
 * size (hashes computed as the bytes were written, not re-read):
 *
 *     # sedge recording manifest v1
 *     sha256 <64 hex> <bytes> <name>
 *
 * manifest.sig holds "hmac-sha256 <64 hex>", the HMAC-SHA256 of the exact
 * bytes of manifest.sha256 under the recording key (--key-file), or
 * "ed25519 <128 hex>" when the key is an Ed25519 private key in PEM;
 * such a signature verifies with the public key alone. Names are plain file names
 * ([A-Za-z0-9._-], no paths), so a tampered manifest cannot point outside
 * the directory.
 */
#ifndef SE_REC_MANIFEST_H
#define SE_REC_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    REC_NAME_MAX = 64,
    REC_KEY_MAX = 256,
    REC_KEY_MIN = 16,
    REC_MANIFEST_MAX_FILES = 1024,
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
 * dir/manifest.sig. Both are fsync'd. Returns 0, SE_ERR_IO, or
 * SE_ERR_INVAL / SE_ERR_CRYPTO for a PEM key that is not Ed25519.
 */
int rec_manifest_write(const char *dir, const struct rec_manifest_entry *entries, size_t n,
                       const uint8_t *key, size_t key_len);

/* rec_manifest_verify() flags. */
enum rec_verify_flags {
    /* A signature that cannot be checked (no key given) is an error, not
     * a warning. */
    REC_VERIFY_REQUIRE_SIG = 1,
    /* A recording without manifest.sig may pass on its hashes alone. Never
     * the default: deleting the signature and re-hashing the manifest
     * after editing the media is exactly what a forger does. */
    REC_VERIFY_ALLOW_UNSIGNED = 2,
};

/*
 * Check every listed file's size and hash, that no other file is in dir,
 * and the signature. One line per problem goes to report. A missing
 * manifest.sig is an error unless flags has REC_VERIFY_ALLOW_UNSIGNED; a
 * malformed or wrong signature always is. With no key a present signature
 * cannot be checked: a warning, or an error with REC_VERIFY_REQUIRE_SIG.
 * Returns 0 if everything holds, SE_ERR_AUTH on any mismatch,
 * SE_ERR_NOTFOUND / SE_ERR_PARSE if there is no readable manifest.
 */
int rec_manifest_verify(const char *dir, const uint8_t *key, size_t key_len, unsigned flags,
                        FILE *report);

/* SHA-256 and size of a file. Returns 0 or SE_ERR_IO. */
int rec_sha256_file(const char *path, uint8_t out[32], uint64_t *bytes);

/*
 * Read a signing key file: its bytes without trailing whitespace, at least
 * REC_KEY_MIN and at most REC_KEY_MAX: an HMAC secret, or an Ed25519 key
 * in PEM (private to sign; public or private to verify). Returns 0 or
 * SE_ERR_IO / SE_ERR_INVAL; err names the problem.
 */
int rec_key_load(const char *path, uint8_t *key, size_t *key_len, char *err, size_t errlen);

/*
 * 0 if key can sign (sign true) or verify manifests: any HMAC secret, or
 * PEM holding an Ed25519 private key (or, to verify, a public key).
 * SE_ERR_INVAL otherwise.
 */
int rec_key_usable(const uint8_t *key, size_t key_len, bool sign);

/* Write buf to dir/name through a temporary file, fsync, rename: a
 * reader sees the old file or the whole new one (manifest.c).
 * 0 or SE_ERR_IO. */
int rec_write_atomic(const char *dir, const char *name, const char *buf, size_t len);

#endif
