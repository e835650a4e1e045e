/*
 * keys.h - recording signing keys: loading, kinds, key ids, generating an
 * Ed25519 key, its public half, and the keyring that verifies.
 *
 * A key file holds either an HMAC secret (16-256 bytes, trailing
 * whitespace ignored) or an Ed25519 key in PEM: the private key signs,
 * its public half (or the private key) verifies. Ed25519 is the default
 * (`sedge record key --generate`): a third party verifies with the public
 * key alone and cannot sign.
 *
 * A key id names a key in manifests so that rotation keeps old recordings
 * verifiable: 16 hex digits, for Ed25519 the first 8 bytes of SHA-256 of
 * the raw 32-byte public key (the same for the private and the public
 * PEM), for HMAC the first 8 bytes of HMAC-SHA256(secret, "sedge
 * recording key id") (the secret itself stays unknown). A keyring holds
 * every key a verifier trusts and finds one by id.
 */
#ifndef SE_REC_KEYS_H
#define SE_REC_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    REC_KEY_MAX = 256,
    REC_KEY_MIN = 16,
    REC_KEY_ID_LEN = 16, /* hex digits */
    REC_KEYRING_MAX = 64,
};

enum rec_key_kind {
    REC_KEY_HMAC = 1,
    REC_KEY_ED25519_PRIVATE = 2,
    REC_KEY_ED25519_PUBLIC = 3,
};

/*
 * Read a signing key file: its bytes without trailing whitespace, at least
 * REC_KEY_MIN and at most REC_KEY_MAX. Returns 0 or SE_ERR_IO /
 * SE_ERR_INVAL; err names the problem.
 */
int rec_key_load(const char *path, uint8_t *key, size_t *key_len, char *err, size_t errlen);

/* What the key is, or SE_ERR_INVAL for PEM that is not an Ed25519 key. */
int rec_key_kind(const uint8_t *key, size_t key_len);

/*
 * 0 if key can sign (sign true) or verify manifests: any HMAC secret, or
 * PEM holding an Ed25519 private key (or, to verify, a public key).
 * SE_ERR_INVAL otherwise.
 */
int rec_key_usable(const uint8_t *key, size_t key_len, bool sign);

/* "ed25519" or "hmac-sha256": the signature a key makes or checks. */
const char *rec_key_alg(const uint8_t *key, size_t key_len);

/* The key id into out (REC_KEY_ID_LEN + 1 bytes). 0 or SE_ERR_INVAL / SE_ERR_CRYPTO. */
int rec_key_id(const uint8_t *key, size_t key_len, char *out);

/* Create path (must not exist; mode 0600) holding a new Ed25519 private
 * key in PEM. 0, or SE_ERR_EXISTS / SE_ERR_IO / SE_ERR_CRYPTO with err. */
int rec_key_generate(const char *path, char *err, size_t errlen);

/* The PEM text of the public half of an Ed25519 key (private or public
 * PEM); NULL for an HMAC secret. Caller frees. */
char *rec_key_public_pem(const uint8_t *key, size_t key_len);

/*
 * Sign msg: "ed25519 <128 hex>\n" or "hmac-sha256 <64 hex>\n" into out.
 * Returns the line length, or SE_ERR_INVAL (a key that cannot sign) /
 * SE_ERR_CRYPTO.
 */
int rec_key_sign(const uint8_t *key, size_t key_len, const void *msg, size_t len, char *out,
                 size_t cap);

/* Does sig (64 bytes for Ed25519, 32 for HMAC) match msg under key? */
bool rec_key_check(const uint8_t *key, size_t key_len, bool ed25519, const void *msg, size_t len,
                   const uint8_t *sig);

/* ---- keyring ---- */
struct rec_keyring;

struct rec_keyring *rec_keyring_new(void);
void rec_keyring_free(struct rec_keyring *kr);
/* Add a key (copied). A key whose id is already there is skipped (0).
 * SE_ERR_INVAL (unusable to verify) or SE_ERR_LIMIT. */
int rec_keyring_add(struct rec_keyring *kr, const uint8_t *key, size_t key_len);
/* Add a key file (rec_key_load). Errors name the file in err. */
int rec_keyring_add_file(struct rec_keyring *kr, const char *path, char *err, size_t errlen);
/* Add every *.pem, *.pub and *.key file of dir; a missing dir adds none.
 * Returns the number added or an error (err names the file). */
int rec_keyring_add_dir(struct rec_keyring *kr, const char *dir, char *err, size_t errlen);
size_t rec_keyring_count(const struct rec_keyring *kr);
/* Key i: bytes (borrowed, valid while kr is), length, id. */
const uint8_t *rec_keyring_get(const struct rec_keyring *kr, size_t i, size_t *len,
                               const char **id);

#endif
