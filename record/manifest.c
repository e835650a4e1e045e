/*
 * manifest.c - write, sign and verify a recording's manifest.
 *
 * Writing: the manifest text is built in memory, written to a temporary
 * name, fsync'd and renamed, so a crash leaves either no manifest or a
 * whole one. Verifying: the manifest is read with a bound (64 KiB), each
 * line parsed strictly (one `out:` exit), files re-hashed from disk, the
 * directory listed for files the manifest does not name, and the HMAC
 * compared in constant time.
 */
#include "record/manifest.h"
#include "core/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MANIFEST_READ_MAX = 64 * 1024 };

#define MANIFEST_HEAD "# sedge recording manifest v1\n"

bool rec_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= REC_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] | v) : v << 4);
    }
    return 0;
}

int rec_write_atomic(const char *dir, const char *name, const char *buf, size_t len)
{
    char tmp[4096], path[4096];
    int fd, rc = SE_ERR_IO;
    size_t off = 0;

    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return SE_ERR_IO;
    while (off < len) {
        ssize_t r = write(fd, buf + off, len - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        off += (size_t)r;
    }
    if (fsync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    return rc;
}

static void hmac256(const uint8_t *key, size_t key_len, const void *msg, size_t len,
                    uint8_t out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, msg, len, out, &n);
}

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

/* Ed25519 over msg; 0 or SE_ERR_CRYPTO. */
static int ed25519_sign(EVP_PKEY *k, const void *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = 64;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == 64;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : SE_ERR_CRYPTO;
}

static bool ed25519_verify(EVP_PKEY *k, const void *msg, size_t len, const uint8_t sig[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* The manifest.sig line for man[0..len): HMAC-SHA256 under a plain key,
 * Ed25519 under a PEM private key. Returns its length or SE_ERR_*. */
static int sign_line(const uint8_t *key, size_t key_len, const char *man, size_t len, char *out,
                     size_t cap)
{
    uint8_t mac[64];
    char h[129];

    if (!is_pem(key, key_len)) {
        hmac256(key, key_len, man, len, mac);
        hex(mac, 32, h);
        return snprintf(out, cap, "hmac-sha256 %s\n", h);
    }
    EVP_PKEY *k = ed25519_key(key, key_len, true);
    int rc = k ? ed25519_sign(k, man, len, mac) : SE_ERR_INVAL;
    EVP_PKEY_free(k);
    if (rc)
        return rc;
    hex(mac, 64, h);
    return snprintf(out, cap, "ed25519 %s\n", h);
}

int rec_manifest_write(const char *dir, const struct rec_manifest_entry *e, size_t n,
                       const uint8_t *key, size_t key_len)
{
    size_t cap = sizeof(MANIFEST_HEAD) + n * (REC_NAME_MAX + 100), len = 0;
    char *buf = malloc(cap), h[65];
    int rc = SE_ERR_NOMEM;

    if (!buf)
        return rc;
    len += (size_t)snprintf(buf, cap, "%s", MANIFEST_HEAD);
    for (size_t i = 0; i < n; i++) {
        rc = SE_ERR_INVAL;
        if (!rec_name_ok(e[i].name))
            goto out;
        hex(e[i].sha256, 32, h);
        len += (size_t)snprintf(buf + len, cap - len, "sha256 %s %llu %s\n", h,
                                (unsigned long long)e[i].bytes, e[i].name);
    }
    rc = rec_write_atomic(dir, REC_MANIFEST_NAME, buf, len);
    if (rc == 0 && key_len > 0) {
        char sig[200];
        int sl = sign_line(key, key_len, buf, len, sig, sizeof(sig));
        rc = sl < 0 ? sl : rec_write_atomic(dir, REC_SIGNATURE_NAME, sig, (size_t)sl);
    }
out:
    free(buf);
    return rc;
}

int rec_sha256_file(const char *path, uint8_t out[32], uint64_t *bytes)
{
    uint8_t buf[65536];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 32;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = SE_ERR_IO;

    *bytes = 0;
    if (fd < 0 || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        goto out;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)r);
        *bytes += (uint64_t)r;
    }
    EVP_DigestFinal_ex(ctx, out, &n);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* Read at most max bytes of dir/name into a NUL-terminated heap buffer. */
static char *read_small(const char *dir, const char *name, size_t max, size_t *len)
{
    char path[4096];
    FILE *f;
    char *buf;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf = malloc(max + 1);
    if (buf) {
        *len = fread(buf, 1, max + 1, f);
        if (*len > max || ferror(f)) {
            free(buf);
            buf = NULL;
        } else {
            buf[*len] = 0;
        }
    }
    fclose(f);
    return buf;
}

/* Parse one manifest line "sha256 HEX BYTES NAME". */
static int parse_line(const char *line, size_t n, struct rec_manifest_entry *e)
{
    char tmp[256], *sp, *end;
    int rc = SE_ERR_PARSE;

    if (n >= sizeof(tmp) || n < 7 + 64 + 3)
        goto out;
    memcpy(tmp, line, n);
    tmp[n] = 0;
    if (strncmp(tmp, "sha256 ", 7) != 0 || tmp[7 + 64] != ' ' || unhex(tmp + 7, e->sha256, 32))
        goto out;
    sp = tmp + 7 + 64 + 1;
    if (*sp < '0' || *sp > '9')
        goto out;
    errno = 0;
    unsigned long long b = strtoull(sp, &end, 10);
    if (errno || *end != ' ')
        goto out;
    e->bytes = b;
    if (!rec_name_ok(end + 1) || strcmp(end + 1, REC_MANIFEST_NAME) == 0 ||
        strcmp(end + 1, REC_SIGNATURE_NAME) == 0)
        goto out;
    snprintf(e->name, sizeof(e->name), "%s", end + 1);
    rc = 0;
out:
    return rc;
}

static int check_signature(const char *dir, const char *man, size_t man_len, const uint8_t *key,
                           size_t key_len, unsigned flags, FILE *report)
{
    bool require_sig = flags & REC_VERIFY_REQUIRE_SIG;
    size_t sl = 0;
    char *sig = read_small(dir, REC_SIGNATURE_NAME, 256, &sl);
    uint8_t want[32], got[64];
    bool ed = false;
    int rc = SE_ERR_AUTH;

    if (!sig) {
        /* Unsigned passes only when asked for, and never when a signature
         * is required: otherwise deleting manifest.sig and re-hashing the
         * manifest would launder edited media (issue 11 #16). */
        bool accept = (flags & REC_VERIFY_ALLOW_UNSIGNED) && !require_sig;
        fprintf(report, "%s: manifest is not signed (no " REC_SIGNATURE_NAME ")%s\n",
                accept ? "warning" : "error",
                accept ? "; accepted on its hashes alone (--allow-unsigned)"
                       : "; --allow-unsigned accepts that explicitly");
        return accept ? 0 : SE_ERR_AUTH;
    }
    if (sl == 12 + 64 + 1 && !strncmp(sig, "hmac-sha256 ", 12) && !unhex(sig + 12, got, 32) &&
        sig[sl - 1] == '\n') {
        ed = false;
    } else if (sl == 8 + 128 + 1 && !strncmp(sig, "ed25519 ", 8) && !unhex(sig + 8, got, 64) &&
               sig[sl - 1] == '\n') {
        ed = true;
    } else {
        fprintf(report, "error: %s is malformed\n", REC_SIGNATURE_NAME);
        goto out;
    }
    if (!key_len) {
        fprintf(report, "%s: %s signature not checked: no key given (--key-file)\n",
                require_sig ? "error" : "warning", ed ? "ed25519" : "hmac-sha256");
        rc = require_sig ? SE_ERR_AUTH : 0;
        goto out;
    }
    bool ok = false;
    if (ed) {
        EVP_PKEY *k = is_pem(key, key_len) ? ed25519_key(key, key_len, false) : NULL;
        if (!k) {
            fprintf(report, "error: the signature is Ed25519; the key is not an Ed25519 key\n");
            goto out;
        }
        ok = ed25519_verify(k, man, man_len, got);
        EVP_PKEY_free(k);
    } else {
        hmac256(key, key_len, man, man_len, want);
        ok = CRYPTO_memcmp(want, got, 32) == 0;
    }
    if (!ok) {
        fprintf(report, "error: signature mismatch: manifest altered or wrong key\n");
        goto out;
    }
    fprintf(report, "signature: %s ok\n", ed ? "ed25519" : "hmac-sha256");
    rc = 0;
out:
    free(sig);
    return rc;
}

int rec_manifest_verify(const char *dir, const uint8_t *key, size_t key_len, unsigned flags,
                        FILE *report)
{
    size_t len = 0, n = 0;
    char *man = read_small(dir, REC_MANIFEST_NAME, MANIFEST_READ_MAX, &len);
    struct rec_manifest_entry *e = NULL;
    int rc = SE_ERR_NOTFOUND, bad = 0;
    DIR *dh = NULL;

    if (!man) {
        fprintf(report, "error: no readable %s in %s\n", REC_MANIFEST_NAME, dir);
        goto out;
    }
    rc = SE_ERR_PARSE;
    if (strncmp(man, MANIFEST_HEAD, strlen(MANIFEST_HEAD)) != 0 || strlen(man) != len) {
        fprintf(report, "error: %s is not a sedge manifest\n", REC_MANIFEST_NAME);
        goto out;
    }
    e = calloc(REC_MANIFEST_MAX_FILES, sizeof(*e));
    if (!e)
        goto out;
    for (const char *p = man + strlen(MANIFEST_HEAD); *p;) {
        const char *nl = strchr(p, '\n');
        if (!nl || n == REC_MANIFEST_MAX_FILES || parse_line(p, (size_t)(nl - p), &e[n]) != 0) {
            fprintf(report, "error: %s: bad line %zu\n", REC_MANIFEST_NAME, n + 2);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (strcmp(e[i].name, e[n].name) == 0) {
                fprintf(report, "error: %s listed twice\n", e[n].name);
                goto out;
            }
        n++;
        p = nl + 1;
    }
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        uint8_t h[32];
        uint64_t bytes;
        snprintf(path, sizeof(path), "%s/%s", dir, e[i].name);
        if (rec_sha256_file(path, h, &bytes) != 0) {
            fprintf(report, "error: %s: cannot read: %s\n", e[i].name, strerror(errno));
            bad++;
        } else if (bytes != e[i].bytes) {
            fprintf(report, "error: %s: size %llu, manifest says %llu\n", e[i].name,
                    (unsigned long long)bytes, (unsigned long long)e[i].bytes);
            bad++;
        } else if (memcmp(h, e[i].sha256, 32) != 0) {
            fprintf(report, "error: %s: SHA-256 mismatch\n", e[i].name);
            bad++;
        } else {
            fprintf(report, "ok: %s (%llu bytes)\n", e[i].name, (unsigned long long)bytes);
        }
    }
    dh = opendir(dir);
    for (struct dirent *de; dh && (de = readdir(dh));) {
        bool listed = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                      !strcmp(de->d_name, REC_MANIFEST_NAME) ||
                      !strcmp(de->d_name, REC_SIGNATURE_NAME);
        for (size_t i = 0; i < n && !listed; i++)
            listed = strcmp(de->d_name, e[i].name) == 0;
        if (!listed) {
            fprintf(report, "error: %s: not in the manifest\n", de->d_name);
            bad++;
        }
    }
    if (check_signature(dir, man, len, key, key_len, flags, report) != 0)
        bad++;
    rc = bad ? SE_ERR_AUTH : 0;
out:
    if (dh)
        closedir(dh);
    free(e);
    free(man);
    return rc;
}

int rec_key_usable(const uint8_t *key, size_t key_len, bool sign)
{
    if (!is_pem(key, key_len))
        return 0;
    EVP_PKEY *k = ed25519_key(key, key_len, sign);
    EVP_PKEY_free(k);
    return k ? 0 : SE_ERR_INVAL;
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
        return SE_ERR_INVAL;
    }
    memcpy(key, buf, n);
    *key_len = n;
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}
