/*
 * export.c - the offline-verifiable tar of one recording (export.h).
 *
 * The plan is a list of parts: 512-byte headers and small texts in
 * memory, media as (fd, offset, length) of files opened now. Only names
 * the manifest lists are opened, through a directory fd with O_NOFOLLOW,
 * and each must still be a regular file of the size the manifest says:
 * an archive never carries a file that has visibly changed, and the
 * manifest inside lets anyone check the rest.
 */
#include "record/export.h"
#include "core/err.h"
#include "record/keys.h"
#include "record/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const uint8_t zeros[2 * REC_TAR_BLOCK];

static void octal(char *field, size_t width, uint64_t v)
{
    /* width - 1 digits, zero-padded, and a NUL (the caller keeps v in range) */
    field[width - 1] = 0;
    for (size_t i = width - 1; i-- > 0; v >>= 3)
        field[i] = (char)('0' + (v & 7));
}

int rec_tar_header(uint8_t out[REC_TAR_BLOCK], const char *name, uint64_t size, int64_t mtime)
{
    char *h = (char *)out;
    unsigned sum = 0;

    memset(out, 0, REC_TAR_BLOCK);
    if (strlen(name) >= 100)
        return SE_ERR_TOOBIG;
    memcpy(h, name, strlen(name));
    octal(h + 100, 8, 0644);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    if (size < 077777777777ULL) {
        octal(h + 124, 12, size);
    } else { /* GNU base-256: high bit set, big-endian binary */
        out[124] = 0x80;
        for (int i = 0; i < 8; i++)
            out[135 - i] = (uint8_t)(size >> (8 * i));
    }
    octal(h + 136, 12, (uint64_t)(mtime > 0 ? mtime : 0));
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6); /* magic with its NUL */
    memcpy(h + 263, "00", 2);
    memcpy(h + 265, "root", 4);
    memcpy(h + 297, "root", 4);
    for (int i = 0; i < REC_TAR_BLOCK; i++)
        sum += out[i];
    snprintf(h + 148, 8, "%06o", sum); /* six digits, NUL, then the space kept */
    h[155] = ' ';
    return 0;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 32;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return SE_ERR_NOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

static void *own(struct rec_export *x, void *p)
{
    if (!p || grow((void **)&x->owned, &x->cap_owned, x->n_owned, sizeof(void *)) < 0) {
        free(p);
        return NULL;
    }
    return x->owned[x->n_owned++] = p;
}

static int add_part(struct rec_export *x, const uint8_t *blob, int fd, uint64_t off, uint64_t len)
{
    if (len == 0)
        return 0;
    if (grow((void **)&x->parts, &x->cap, x->n, sizeof(*x->parts)) < 0)
        return SE_ERR_NOMEM;
    x->parts[x->n++] = (struct rec_export_part){.blob = blob, .fd = fd, .off = off, .len = len};
    x->total += len;
    return 0;
}

/* One archive member: header, content (blob or fd), padding. */
static int add_member(struct rec_export *x, const char *name, const uint8_t *blob, int fd,
                      uint64_t len, int64_t mtime)
{
    uint8_t *h = own(x, malloc(REC_TAR_BLOCK));
    int rc;

    if (!h)
        return SE_ERR_NOMEM;
    if ((rc = rec_tar_header(h, name, len, mtime)) < 0 ||
        (rc = add_part(x, h, -1, 0, REC_TAR_BLOCK)) < 0 || (rc = add_part(x, blob, fd, 0, len)) < 0)
        return rc;
    return add_part(x, zeros, -1, 0, (REC_TAR_BLOCK - len % REC_TAR_BLOCK) % REC_TAR_BLOCK);
}

static int add_text(struct rec_export *x, const char *name, const char *text, size_t len,
                    int64_t mtime)
{
    char *copy = own(x, malloc(len + 1));
    if (!copy)
        return SE_ERR_NOMEM;
    memcpy(copy, text, len);
    return add_member(x, name, (const uint8_t *)copy, -1, len, mtime);
}

/* Open name in dfd: a regular file, not a symlink, of want bytes. */
static int open_member(struct rec_export *x, int dfd, const char *name, uint64_t want,
                       bool check_size, uint64_t *size, char *err, size_t errlen)
{
    struct stat sb;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        (check_size && (uint64_t)sb.st_size != want)) {
        snprintf(err, errlen, "%s: %s", name,
                 fd < 0                 ? strerror(errno)
                 : !S_ISREG(sb.st_mode) ? "not a regular file"
                                        : "its size differs from the manifest");
        if (fd >= 0)
            close(fd);
        return SE_ERR_AUTH;
    }
    if (grow((void **)&x->fds, &x->cap_fds, x->n_fds, sizeof(int)) < 0) {
        close(fd);
        return SE_ERR_NOMEM;
    }
    x->fds[x->n_fds++] = fd;
    *size = (uint64_t)sb.st_size;
    return fd;
}

static const char verify_text[] =
    "How to verify this recording offline\n"
    "====================================\n\n"
    "recording/manifest.sha256 lists every file of the recording with its size\n"
    "and SHA-256; recording/manifest.sig signs the exact bytes of the manifest.\n"
    "The manifest's \"key\" line names the signing key by its id.\n\n"
    "With sedge:\n"
    "    sedge record verify recording --key-file public-key.pem --require-signature\n\n"
    "With OpenSSL 3 and coreutils (Ed25519):\n"
    "    openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin \\\n"
    "        -in recording/manifest.sha256 -sigfile manifest.sig.bin\n"
    "    cd recording && awk '$1 == \"sha256\" { print $2 \"  \" $4 }' manifest.sha256 \\\n"
    "        | sha256sum -c\n"
    "and check that recording/ holds no file the manifest does not list.\n\n"
    "Compare public-key.pem with the key the operator publishes\n"
    "(`sedge record key --public`, GET /v1/recordings/keys): a key that came\n"
    "with the archive proves nothing by itself.\n"
    "An HMAC-SHA256 signature (manifest.sig starting \"hmac-sha256\") can only be\n"
    "checked with the secret key, by the operator.\n";

/* manifest.sig, the raw signature and the public key of the named key. */
static int add_signature(struct rec_export *x, int dfd, const char *id,
                         const struct rec_manifest *m, const struct rec_keyring *kr, int64_t mtime,
                         char *err, size_t errlen)
{
    char name[160], sig[300];
    uint64_t size = 0;
    int fd = open_member(x, dfd, REC_SIGNATURE_NAME, 0, false, &size, err, errlen), rc;

    if (fd < 0)
        return 0; /* unsigned: nothing more to add */
    if (size >= sizeof(sig))
        return SE_ERR_AUTH;
    ssize_t n = pread(fd, sig, (size_t)size, 0);
    if (n != (ssize_t)size)
        return SE_ERR_IO;
    sig[n] = 0;
    snprintf(name, sizeof(name), "%s/recording/%s", id, REC_SIGNATURE_NAME);
    if ((rc = add_member(x, name, NULL, fd, size, mtime)) < 0)
        return rc;
    if (n == 8 + 128 + 1 && !strncmp(sig, "ed25519 ", 8)) {
        uint8_t *raw = own(x, malloc(64));
        if (!raw || rec_unhex(sig + 8, raw, 64) < 0)
            return raw ? SE_ERR_AUTH : SE_ERR_NOMEM;
        snprintf(name, sizeof(name), "%s/manifest.sig.bin", id);
        if ((rc = add_member(x, name, raw, -1, 64, mtime)) < 0)
            return rc;
    }
    for (size_t i = 0; i < rec_keyring_count(kr); i++) {
        size_t kl;
        const char *kid;
        const uint8_t *k = rec_keyring_get(kr, i, &kl, &kid);
        if (!m->key_id[0] || strcmp(kid, m->key_id) != 0)
            continue;
        char *pem = rec_key_public_pem(k, kl);
        if (pem && own(x, pem)) {
            snprintf(name, sizeof(name), "%s/public-key.pem", id);
            return add_member(x, name, (const uint8_t *)pem, -1, strlen(pem), mtime);
        }
        return pem ? SE_ERR_NOMEM : 0;
    }
    return 0;
}

int rec_export_plan(const char *dir, const char *id, const struct rec_keyring *kr,
                    struct rec_export *x, char *err, size_t errlen)
{
    struct rec_manifest m;
    char name[160];
    int64_t now = (int64_t)time(NULL);
    int dfd, rc;

    memset(x, 0, sizeof(*x));
    if (!rec_name_ok(id) || strlen(id) > 64) {
        snprintf(err, errlen, "bad recording id");
        return SE_ERR_INVAL;
    }
    if ((rc = rec_manifest_read(dir, &m, err, errlen)) < 0)
        return rc == SE_ERR_PARSE ? SE_ERR_AUTH : rc;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        rec_manifest_release(&m);
        return SE_ERR_NOTFOUND;
    }
    for (size_t i = 0; i < m.n; i++) {
        uint64_t size;
        int fd = open_member(x, dfd, m.e[i].name, m.e[i].bytes, true, &size, err, errlen);
        if (fd < 0) {
            rc = fd;
            goto out;
        }
        snprintf(name, sizeof(name), "%s/recording/%s", id, m.e[i].name);
        if ((rc = add_member(x, name, NULL, fd, size, now)) < 0)
            goto out;
    }
    snprintf(name, sizeof(name), "%s/recording/%s", id, REC_MANIFEST_NAME);
    if ((rc = add_text(x, name, m.text, m.len, now)) < 0 ||
        (rc = add_signature(x, dfd, id, &m, kr, now, err, errlen)) < 0)
        goto out;
    snprintf(name, sizeof(name), "%s/VERIFY.txt", id);
    if ((rc = add_member(x, name, (const uint8_t *)verify_text, -1, sizeof(verify_text) - 1, now)) <
            0 ||
        (rc = add_part(x, zeros, -1, 0, sizeof(zeros))) < 0)
        goto out;
    rc = 0;
out:
    close(dfd);
    rec_manifest_release(&m);
    if (rc < 0)
        rec_export_free(x);
    return rc;
}

void rec_export_free(struct rec_export *x)
{
    for (size_t i = 0; i < x->n_fds; i++)
        close(x->fds[i]);
    for (size_t i = 0; i < x->n_owned; i++)
        free(x->owned[i]);
    free(x->fds);
    free(x->owned);
    free(x->parts);
    memset(x, 0, sizeof(*x));
}

int rec_export_file(struct rec_export *x, int fd, uint64_t off, uint64_t len)
{
    memset(x, 0, sizeof(*x));
    if (grow((void **)&x->fds, &x->cap_fds, 0, sizeof(int)) < 0) {
        close(fd);
        return SE_ERR_NOMEM;
    }
    x->fds[x->n_fds++] = fd;
    if (len == 0)
        return 0;
    if (add_part(x, NULL, fd, off, len) < 0) {
        rec_export_free(x);
        return SE_ERR_NOMEM;
    }
    return 0;
}
