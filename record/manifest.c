/*
 * manifest.c - write, sign and verify a recording's manifest.
 *
 * Writing: the manifest text is built in memory, written to a temporary
 * name, fsync'd, renamed and the directory fsync'd, so a crash leaves
 * either no manifest or a whole one. Verifying: the manifest is read with
 * a bound (64 KiB), each line parsed strictly (one `out:` exit), files
 * re-hashed from disk, the directory listed for files the manifest does
 * not name, and the signature checked with the key the manifest names
 * (keys.c). The result is structured (struct rec_verify) so that the CLI
 * prints it and the API returns it as JSON.
 */
#include "record/manifest.h"
#include "core/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MANIFEST_READ_MAX = 64 * 1024, SIG_READ_MAX = 256 };

#define MANIFEST_HEAD_V1 "# sedge recording manifest v1\n"
#define MANIFEST_HEAD_V2 "# sedge recording manifest v2\n"

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

void rec_hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

int rec_unhex(const char *s, uint8_t *out, size_t n)
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

int rec_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : SE_ERR_IO;
    if (fd >= 0)
        close(fd);
    return rc;
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
    rc = rec_fsync_dir(dir);
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    return rc;
}

int rec_manifest_write(const char *dir, const struct rec_manifest_entry *e, size_t n,
                       const uint8_t *key, size_t key_len)
{
    size_t cap = sizeof(MANIFEST_HEAD_V2) + 64 + n * (REC_NAME_MAX + 100), len = 0;
    char *buf = malloc(cap), h[65], id[REC_KEY_ID_LEN + 1];
    int rc = SE_ERR_NOMEM;

    if (!buf)
        return rc;
    len += (size_t)snprintf(buf, cap, "%s", MANIFEST_HEAD_V2);
    if (key_len > 0) {
        if ((rc = rec_key_usable(key, key_len, true)) < 0 ||
            (rc = rec_key_id(key, key_len, id)) < 0)
            goto out;
        len += (size_t)snprintf(buf + len, cap - len, "key %s %s\n", rec_key_alg(key, key_len), id);
    }
    for (size_t i = 0; i < n; i++) {
        rc = SE_ERR_INVAL;
        if (!rec_name_ok(e[i].name))
            goto out;
        rec_hex(e[i].sha256, 32, h);
        len += (size_t)snprintf(buf + len, cap - len, "sha256 %s %llu %s\n", h,
                                (unsigned long long)e[i].bytes, e[i].name);
    }
    rc = rec_write_atomic(dir, REC_MANIFEST_NAME, buf, len);
    if (rc == 0 && key_len > 0) {
        char sig[200];
        int sl = rec_key_sign(key, key_len, buf, len, sig, sizeof(sig));
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
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = SE_ERR_IO;

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
    char *buf;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    buf = malloc(max + 1);
    *len = 0;
    while (buf && *len <= max) {
        ssize_t r = read(fd, buf + *len, max + 1 - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0) {
                free(buf);
                buf = NULL;
            }
            break;
        }
        *len += (size_t)r;
    }
    close(fd);
    if (buf && *len > max) {
        free(buf);
        return NULL;
    }
    if (buf)
        buf[*len] = 0;
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
    if (strncmp(tmp, "sha256 ", 7) != 0 || tmp[7 + 64] != ' ' || rec_unhex(tmp + 7, e->sha256, 32))
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

/* "key ed25519 <16 hex>" or "key hmac-sha256 <16 hex>". */
static int parse_key_line(const char *p, size_t n, struct rec_manifest *m)
{
    char tmp[64], alg[16], id[32];
    int used = 0;

    if (n >= sizeof(tmp))
        return SE_ERR_PARSE;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    if (sscanf(tmp, "key %15s %31s%n", alg, id, &used) != 2 || (size_t)used != n ||
        (strcmp(alg, "ed25519") && strcmp(alg, "hmac-sha256")) || strlen(id) != REC_KEY_ID_LEN ||
        strspn(id, "0123456789abcdef") != REC_KEY_ID_LEN)
        return SE_ERR_PARSE;
    snprintf(m->key_alg, sizeof(m->key_alg), "%s", alg);
    snprintf(m->key_id, sizeof(m->key_id), "%.16s", id);
    return 0;
}

void rec_manifest_release(struct rec_manifest *m)
{
    free(m->e);
    free(m->text);
    memset(m, 0, sizeof(*m));
}

int rec_manifest_read(const char *dir, struct rec_manifest *m, char *err, size_t errlen)
{
    const char *p;
    unsigned int hl = 32;
    bool v2;

    memset(m, 0, sizeof(*m));
    m->text = read_small(dir, REC_MANIFEST_NAME, MANIFEST_READ_MAX, &m->len);
    if (!m->text) {
        snprintf(err, errlen, "no readable %s in %s", REC_MANIFEST_NAME, dir);
        return SE_ERR_NOTFOUND;
    }
    EVP_Digest(m->text, m->len, m->sha256, &hl, EVP_sha256(), NULL);
    v2 = !strncmp(m->text, MANIFEST_HEAD_V2, strlen(MANIFEST_HEAD_V2));
    if ((!v2 && strncmp(m->text, MANIFEST_HEAD_V1, strlen(MANIFEST_HEAD_V1)) != 0) ||
        strlen(m->text) != m->len) {
        snprintf(err, errlen, "%s is not a sedge manifest", REC_MANIFEST_NAME);
        goto fail;
    }
    m->e = calloc(REC_MANIFEST_MAX_FILES, sizeof(*m->e));
    if (!m->e) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    p = m->text + strlen(MANIFEST_HEAD_V2); /* both heads have the same length */
    for (int line = 2; *p; line++) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : 0;
        int r = SE_ERR_PARSE;
        if (nl && v2 && line == 2 && !strncmp(p, "key ", 4))
            r = parse_key_line(p, n, m);
        else if (nl && m->n < REC_MANIFEST_MAX_FILES && parse_line(p, n, &m->e[m->n]) == 0)
            r = 0, m->n++;
        if (r < 0) {
            snprintf(err, errlen, "%s: bad line %d", REC_MANIFEST_NAME, line);
            goto fail;
        }
        for (size_t i = 0; r == 0 && m->n > 0 && i + 1 < m->n; i++)
            if (strcmp(m->e[i].name, m->e[m->n - 1].name) == 0) {
                snprintf(err, errlen, "%s listed twice", m->e[i].name);
                goto fail;
            }
        p = nl + 1;
    }
    return 0;
fail:
    rec_manifest_release(m);
    return SE_ERR_PARSE;
}

static void sig_state(struct rec_verify *v, const char *state, bool error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sig_state(struct rec_verify *v, const char *state, bool error, const char *fmt, ...)
{
    va_list ap;
    snprintf(v->sig, sizeof(v->sig), "%s", state);
    v->sig_error = error;
    va_start(ap, fmt);
    vsnprintf(v->sig_text, sizeof(v->sig_text), fmt, ap);
    va_end(ap);
}

/* The signature of m against kr, into v (see struct rec_verify). */
static void check_signature(const char *dir, const struct rec_manifest *m,
                            const struct rec_keyring *kr, unsigned flags, struct rec_verify *v)
{
    bool require = flags & REC_VERIFY_REQUIRE_SIG, ed = false, tried = false;
    size_t sl = 0;
    char *sig = read_small(dir, REC_SIGNATURE_NAME, SIG_READ_MAX, &sl);
    uint8_t got[64];

    snprintf(v->key_id, sizeof(v->key_id), "%s", m->key_id);
    if (!sig) {
        /* Unsigned passes only when asked for, and never when a signature
         * is required: otherwise deleting manifest.sig and re-hashing the
         * manifest would launder edited media (issue 11 #16). */
        bool accept = (flags & REC_VERIFY_ALLOW_UNSIGNED) && !require;
        sig_state(v, "unsigned", !accept, "manifest is not signed (no " REC_SIGNATURE_NAME ")%s",
                  accept ? "; accepted on its hashes alone (--allow-unsigned)"
                         : "; --allow-unsigned accepts that explicitly");
        return;
    }
    if (sl == 12 + 64 + 1 && !strncmp(sig, "hmac-sha256 ", 12) && !rec_unhex(sig + 12, got, 32) &&
        sig[sl - 1] == '\n') {
        ed = false;
    } else if (sl == 8 + 128 + 1 && !strncmp(sig, "ed25519 ", 8) && !rec_unhex(sig + 8, got, 64) &&
               sig[sl - 1] == '\n') {
        ed = true;
    } else {
        sig_state(v, "malformed", true, "%s is malformed", REC_SIGNATURE_NAME);
        goto out;
    }
    snprintf(v->sig_alg, sizeof(v->sig_alg), "%s", ed ? "ed25519" : "hmac-sha256");
    if (m->key_alg[0] && strcmp(m->key_alg, v->sig_alg) != 0) {
        sig_state(v, "malformed", true, "the manifest names a %s key, the signature is %s",
                  m->key_alg, v->sig_alg);
        goto out;
    }
    if (rec_keyring_count(kr) == 0) {
        sig_state(v, "unchecked", require, "%s signature not checked: no key given (--key-file)",
                  v->sig_alg);
        goto out;
    }
    for (size_t i = 0; i < rec_keyring_count(kr); i++) {
        size_t kl;
        const char *id;
        const uint8_t *k = rec_keyring_get(kr, i, &kl, &id);
        bool k_ed = !strcmp(rec_key_alg(k, kl), "ed25519");
        if (k_ed != ed || (m->key_id[0] && strcmp(id, m->key_id) != 0))
            continue;
        tried = true;
        if (rec_key_check(k, kl, ed, m->text, m->len, got)) {
            snprintf(v->key_id, sizeof(v->key_id), "%s", id);
            sig_state(v, "ok", false, "%s ok (key %s)", v->sig_alg, id);
            goto out;
        }
    }
    if (!tried && m->key_id[0])
        sig_state(v, "unknown_key", true,
                  "signature mismatch: the manifest names key %s, which is not among the keys "
                  "given (a wrong key, or the old public key after a rotation is missing)",
                  m->key_id);
    else if (!tried)
        sig_state(v, "mismatch", true, "the signature is %s; no %s key was given",
                  ed ? "Ed25519" : "HMAC-SHA256", ed ? "Ed25519" : "HMAC");
    else
        sig_state(v, "mismatch", true, "signature mismatch: manifest altered or wrong key");
out:
    free(sig);
}

static struct rec_verify_file *add_file(struct rec_verify *v, const char *name, int state)
{
    struct rec_verify_file *f = &v->files[v->n_files++];
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->state = state;
    return f;
}

int rec_manifest_check(const char *dir, const struct rec_keyring *kr, unsigned flags,
                       struct rec_verify *v)
{
    struct rec_manifest m;
    int rc, bad = 0, extra = 0;
    DIR *dh;

    memset(v, 0, sizeof(*v));
    rc = rec_manifest_read(dir, &m, v->error, sizeof(v->error));
    if (rc < 0)
        return rc;
    memcpy(v->manifest_sha256, m.sha256, 32);
    v->files = calloc(m.n + REC_VERIFY_MAX_EXTRA, sizeof(*v->files));
    if (!v->files) {
        rec_manifest_release(&m);
        snprintf(v->error, sizeof(v->error), "out of memory");
        return SE_ERR_NOMEM;
    }
    for (size_t i = 0; i < m.n; i++) {
        char path[4096];
        uint8_t h[32];
        uint64_t bytes;
        snprintf(path, sizeof(path), "%s/%s", dir, m.e[i].name);
        struct rec_verify_file *f;
        if (rec_sha256_file(path, h, &bytes) != 0)
            f = add_file(v, m.e[i].name, REC_FILE_MISSING);
        else if (bytes != m.e[i].bytes)
            f = add_file(v, m.e[i].name, REC_FILE_SIZE);
        else
            f = add_file(v, m.e[i].name,
                         memcmp(h, m.e[i].sha256, 32) ? REC_FILE_HASH : REC_FILE_OK);
        f->expected = m.e[i].bytes;
        f->bytes = f->state == REC_FILE_MISSING ? 0 : bytes;
        bad += f->state != REC_FILE_OK;
    }
    dh = opendir(dir);
    for (struct dirent *de; dh && (de = readdir(dh));) {
        bool listed = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                      !strcmp(de->d_name, REC_MANIFEST_NAME) ||
                      !strcmp(de->d_name, REC_SIGNATURE_NAME);
        for (size_t i = 0; i < m.n && !listed; i++)
            listed = strcmp(de->d_name, m.e[i].name) == 0;
        if (listed)
            continue;
        bad++;
        if (extra++ < REC_VERIFY_MAX_EXTRA)
            add_file(v, de->d_name, REC_FILE_UNLISTED);
        else
            v->extra_truncated = true;
    }
    if (dh)
        closedir(dh);
    check_signature(dir, &m, kr, flags, v);
    rec_manifest_release(&m);
    v->ok = bad == 0 && !v->sig_error;
    return v->ok ? 0 : SE_ERR_AUTH;
}

void rec_verify_free(struct rec_verify *v)
{
    free(v->files);
    v->files = NULL;
    v->n_files = 0;
}

void rec_verify_print(const struct rec_verify *v, FILE *out)
{
    if (v->error[0]) {
        fprintf(out, "error: %s\n", v->error);
        return;
    }
    for (size_t i = 0; i < v->n_files; i++) {
        const struct rec_verify_file *f = &v->files[i];
        switch (f->state) {
        case REC_FILE_OK:
            fprintf(out, "ok: %s (%llu bytes)\n", f->name, (unsigned long long)f->bytes);
            break;
        case REC_FILE_MISSING:
            fprintf(out, "error: %s: cannot read\n", f->name);
            break;
        case REC_FILE_SIZE:
            fprintf(out, "error: %s: size %llu, manifest says %llu\n", f->name,
                    (unsigned long long)f->bytes, (unsigned long long)f->expected);
            break;
        case REC_FILE_HASH:
            fprintf(out, "error: %s: SHA-256 mismatch\n", f->name);
            break;
        default:
            fprintf(out, "error: %s: not in the manifest\n", f->name);
        }
    }
    if (v->extra_truncated)
        fprintf(out, "error: more files not in the manifest\n");
    if (!strcmp(v->sig, "ok"))
        fprintf(out, "signature: %s\n", v->sig_text);
    else
        fprintf(out, "%s: %s\n", v->sig_error ? "error" : "warning", v->sig_text);
}

int rec_manifest_verify(const char *dir, const uint8_t *key, size_t key_len, unsigned flags,
                        FILE *report)
{
    struct rec_keyring *kr = rec_keyring_new();
    struct rec_verify v;
    int rc;

    if (!kr)
        return SE_ERR_NOMEM;
    if (key_len && rec_keyring_add(kr, key, key_len) < 0) {
        fprintf(report, "error: the key can verify nothing (PEM that is not Ed25519)\n");
        rec_keyring_free(kr);
        return SE_ERR_INVAL;
    }
    rc = rec_manifest_check(dir, kr, flags, &v);
    rec_verify_print(&v, report);
    rec_verify_free(&v);
    rec_keyring_free(kr);
    return rc;
}
