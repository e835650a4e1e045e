/*
 * keys.c - recording signing keys (OpenSSL): kinds, ids, Ed25519
 * generation and public halves, signing and checking, the keyring.
 *
 * A key is kept as the bytes of its file (PEM text or a secret) and
 * parsed when used: signing happens once per recording, so there is no
 * point caching OpenSSL objects across threads. Secrets are wiped from
 * temporary buffers with OPENSSL_cleanse.
 */
#include "record/keys.h"
#include "core/err.h"
#include "record/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_ID_LABEL "sedge recording key id"

struct rec_key {
    uint8_t *bytes;
    size_t len;
    char id[REC_KEY_ID_LEN + 1];
};

struct rec_keyring {
    struct rec_key k[REC_KEYRING_MAX];
    size_t n;
};

static bool is_pem(const uint8_t *key, size_t len)
{
    return len > 10 && memcmp(key, "-----BEGIN", 10) == 0;
}

/* An Ed25519 key from PEM text: the private key, or (want_private false)
 * a public key or the public half of a private one. Caller frees. */
static EVP_PKEY *ed25519_key(const uint8_t *key, size_t len, bool want_private)
{
    EVP_PKEY *k = NULL;

    for (int pass = 0; pass < 2 && !k; pass++) {
        BIO *b = BIO_new(BIO_s_mem());
        if (!b)
            return NULL;
        BIO_write(b, key, (int)len);
        BIO_write(b, "\n", 1); /* rec_key_load trimmed the final newline */
        if (pass == 0)
            k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        else if (!want_private)
            k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
        BIO_free(b);
    }
    if (k && EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

int rec_key_kind(const uint8_t *key, size_t key_len)
{
    if (!is_pem(key, key_len))
        return REC_KEY_HMAC;
    EVP_PKEY *k = ed25519_key(key, key_len, true);
    if (k) {
        EVP_PKEY_free(k);
        return REC_KEY_ED25519_PRIVATE;
    }
    k = ed25519_key(key, key_len, false);
    EVP_PKEY_free(k);
    return k ? REC_KEY_ED25519_PUBLIC : SE_ERR_INVAL;
}

int rec_key_usable(const uint8_t *key, size_t key_len, bool sign)
{
    int kind = rec_key_kind(key, key_len);
    if (kind < 0 || (sign && kind == REC_KEY_ED25519_PUBLIC))
        return SE_ERR_INVAL;
    return 0;
}

const char *rec_key_alg(const uint8_t *key, size_t key_len)
{
    return is_pem(key, key_len) ? "ed25519" : "hmac-sha256";
}

int rec_key_id(const uint8_t *key, size_t key_len, char *out)
{
    uint8_t h[EVP_MAX_MD_SIZE], raw[32];
    unsigned int n = 0;
    size_t rl = sizeof(raw);

    if (!is_pem(key, key_len)) {
        if (!HMAC(EVP_sha256(), key, (int)key_len, (const uint8_t *)KEY_ID_LABEL,
                  strlen(KEY_ID_LABEL), h, &n))
            return SE_ERR_CRYPTO;
    } else {
        EVP_PKEY *k = ed25519_key(key, key_len, false);
        int ok = k && EVP_PKEY_get_raw_public_key(k, raw, &rl) == 1 && rl == 32 &&
                 EVP_Digest(raw, rl, h, &n, EVP_sha256(), NULL) == 1;
        EVP_PKEY_free(k);
        if (!ok)
            return k ? SE_ERR_CRYPTO : SE_ERR_INVAL;
    }
    rec_hex(h, REC_KEY_ID_LEN / 2, out);
    return 0;
}

int rec_key_generate(const char *path, char *err, size_t errlen)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    FILE *f = NULL;
    int fd = -1, rc = SE_ERR_CRYPTO;

    if (!k) {
        snprintf(err, errlen, "cannot generate an Ed25519 key");
        return rc;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errno == EEXIST ? SE_ERR_EXISTS : SE_ERR_IO;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        rc = SE_ERR_IO;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    rc = SE_ERR_IO;
    if (PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1 || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        snprintf(err, errlen, "%s: cannot write the key", path);
        fclose(f);
        unlink(path);
        goto out;
    }
    rc = fclose(f) == 0 ? 0 : SE_ERR_IO;
    if (rc)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
out:
    EVP_PKEY_free(k);
    return rc;
}

char *rec_key_public_pem(const uint8_t *key, size_t key_len)
{
    EVP_PKEY *k = is_pem(key, key_len) ? ed25519_key(key, key_len, false) : NULL;
    BIO *b = k ? BIO_new(BIO_s_mem()) : NULL;
    char *out = NULL, *p;

    if (b && PEM_write_bio_PUBKEY(b, k) == 1) {
        long n = BIO_get_mem_data(b, &p);
        if (n > 0 && (out = malloc((size_t)n + 1))) {
            memcpy(out, p, (size_t)n);
            out[n] = 0;
        }
    }
    BIO_free(b);
    EVP_PKEY_free(k);
    return out;
}

static int ed25519_sign(EVP_PKEY *k, const void *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = 64;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == 64;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : SE_ERR_CRYPTO;
}

int rec_key_sign(const uint8_t *key, size_t key_len, const void *msg, size_t len, char *out,
                 size_t cap)
{
    uint8_t mac[64];
    unsigned int n = 32;
    char h[129];

    if (!is_pem(key, key_len)) {
        if (!HMAC(EVP_sha256(), key, (int)key_len, msg, len, mac, &n))
            return SE_ERR_CRYPTO;
        rec_hex(mac, 32, h);
        return snprintf(out, cap, "hmac-sha256 %s\n", h);
    }
    EVP_PKEY *k = ed25519_key(key, key_len, true);
    int rc = k ? ed25519_sign(k, msg, len, mac) : SE_ERR_INVAL;
    EVP_PKEY_free(k);
    if (rc)
        return rc;
    rec_hex(mac, 64, h);
    return snprintf(out, cap, "ed25519 %s\n", h);
}

bool rec_key_check(const uint8_t *key, size_t key_len, bool ed25519, const void *msg, size_t len,
                   const uint8_t *sig)
{
    if (ed25519 != is_pem(key, key_len))
        return false;
    if (!ed25519) {
        uint8_t want[32];
        unsigned int n = 32;
        return HMAC(EVP_sha256(), key, (int)key_len, msg, len, want, &n) &&
               CRYPTO_memcmp(want, sig, 32) == 0;
    }
    EVP_PKEY *k = ed25519_key(key, key_len, false);
    EVP_MD_CTX *ctx = k ? EVP_MD_CTX_new() : NULL;
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}

int rec_key_load(const char *path, uint8_t *key, size_t *key_len, char *err, size_t errlen)
{
    uint8_t buf[REC_KEY_MAX + 2];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return SE_ERR_IO;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    while (n > 0 &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    if (n < REC_KEY_MIN || n > REC_KEY_MAX) {
        snprintf(err, errlen, "%s: a signing key needs %d to %d bytes", path, REC_KEY_MIN,
                 REC_KEY_MAX);
        OPENSSL_cleanse(buf, sizeof(buf));
        return SE_ERR_INVAL;
    }
    memcpy(key, buf, n);
    *key_len = n;
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

/* ---- keyring ---- */

struct rec_keyring *rec_keyring_new(void)
{
    return calloc(1, sizeof(struct rec_keyring));
}

void rec_keyring_free(struct rec_keyring *kr)
{
    if (!kr)
        return;
    for (size_t i = 0; i < kr->n; i++) {
        OPENSSL_cleanse(kr->k[i].bytes, kr->k[i].len);
        free(kr->k[i].bytes);
    }
    free(kr);
}

int rec_keyring_add(struct rec_keyring *kr, const uint8_t *key, size_t key_len)
{
    char id[REC_KEY_ID_LEN + 1];

    if (key_len == 0 || rec_key_usable(key, key_len, false) < 0 || rec_key_id(key, key_len, id) < 0)
        return SE_ERR_INVAL;
    for (size_t i = 0; i < kr->n; i++)
        if (!strcmp(kr->k[i].id, id))
            return 0;
    if (kr->n == REC_KEYRING_MAX)
        return SE_ERR_LIMIT;
    struct rec_key *k = &kr->k[kr->n];
    if (!(k->bytes = malloc(key_len)))
        return SE_ERR_NOMEM;
    memcpy(k->bytes, key, key_len);
    k->len = key_len;
    memcpy(k->id, id, sizeof(id));
    kr->n++;
    return 0;
}

int rec_keyring_add_file(struct rec_keyring *kr, const char *path, char *err, size_t errlen)
{
    uint8_t key[REC_KEY_MAX];
    size_t len = 0;
    int rc = rec_key_load(path, key, &len, err, errlen);

    if (rc == 0 && (rc = rec_keyring_add(kr, key, len)) < 0)
        snprintf(err, errlen, "%s: %s", path,
                 rc == SE_ERR_LIMIT ? "too many keys" : "not an Ed25519 PEM key or a secret");
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

static bool key_name(const char *n)
{
    size_t l = strlen(n);
    return n[0] != '.' && l > 4 &&
           (!strcmp(n + l - 4, ".pem") || !strcmp(n + l - 4, ".pub") || !strcmp(n + l - 4, ".key"));
}

int rec_keyring_add_dir(struct rec_keyring *kr, const char *dir, char *err, size_t errlen)
{
    DIR *dh = opendir(dir);
    int added = 0, rc = 0;

    if (!dh)
        return errno == ENOENT ? 0
                               : (snprintf(err, errlen, "%s: %s", dir, strerror(errno)), SE_ERR_IO);
    for (struct dirent *de; rc == 0 && (de = readdir(dh));) {
        char path[4096];
        if (!key_name(de->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if ((rc = rec_keyring_add_file(kr, path, err, errlen)) == 0)
            added++;
    }
    closedir(dh);
    return rc < 0 ? rc : added;
}

size_t rec_keyring_count(const struct rec_keyring *kr)
{
    return kr ? kr->n : 0;
}

const uint8_t *rec_keyring_get(const struct rec_keyring *kr, size_t i, size_t *len, const char **id)
{
    if (!kr || i >= kr->n)
        return NULL;
    *len = kr->k[i].len;
    if (id)
        *id = kr->k[i].id;
    return kr->k[i].bytes;
}
