/*
 * journal.c - the per-recording fragment journal (journal.h).
 *
 * Writing: each line is formatted into a stack buffer, chained (SHA-256
 * of the previous chain value and the text) and written with one
 * write(2); a short or failed write is cut back with ftruncate(2) so the
 * file only ever holds whole lines, and the journal turns failed (the
 * recording then stops, like any other write error). Reading: a bounded
 * line reader over the fd; each line is checked against the chain, so an
 * edited, reordered or torn line ends what is trusted.
 */
#include "record/journal.h"
#include "core/err.h"
#include "core/log.h"
#include "record/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

enum { REC_JOURNAL_READ_MAX = 256 << 20 };

#define HEADER "sedge-journal v1 "

struct rec_journal {
    int fd;
    char path[600];
    uint64_t size; /* bytes of whole lines written */
    uint8_t chain[32];
    bool failed;
};

static void chain_next(const uint8_t prev[32], const char *text, size_t len, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 32;

    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) || !EVP_DigestUpdate(ctx, prev, 32) ||
        !EVP_DigestUpdate(ctx, text, len) || !EVP_DigestFinal_ex(ctx, out, &n))
        memset(out, 0, 32); /* cannot happen short of OOM; the line then fails to chain */
    EVP_MD_CTX_free(ctx);
}

/* Write all of buf at offset off; cut back to off on failure. */
static int write_line(int fd, uint64_t off, const char *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t r = pwrite(fd, buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : ENOSPC;
            if (done && ftruncate(fd, (off_t)off) != 0)
                se_err_log("record: cannot cut the journal back: %s", strerror(errno));
            errno = e;
            return SE_ERR_IO;
        }
        done += (size_t)r;
    }
    return 0;
}

/* Chain text (no newline) after *chain and write "text <chain>\n" at off. */
static int append(int fd, uint64_t *off, uint8_t chain[32], const char *text)
{
    char line[REC_JOURNAL_LINE_MAX + 80], h[65];
    uint8_t next[32];
    size_t tl = strlen(text);

    if (tl > REC_JOURNAL_LINE_MAX)
        return SE_ERR_TOOBIG;
    chain_next(chain, text, tl, next);
    rec_hex(next, 32, h);
    int n = snprintf(line, sizeof(line), "%s %s\n", text, h);
    if (write_line(fd, *off, line, (size_t)n) < 0)
        return SE_ERR_IO;
    *off += (uint64_t)n;
    memcpy(chain, next, 32);
    return 0;
}

static int journal_append(struct rec_journal *j, const char *text)
{
    static struct se_log_rl rl;

    if (j->failed)
        return SE_ERR_IO;
    if (append(j->fd, &j->size, j->chain, text) < 0) {
        j->failed = true;
        se_log_rl(&rl, SE_LOG_ERR, "record: cannot write %s: %s", j->path, strerror(errno));
        return SE_ERR_IO;
    }
    return 0;
}

int rec_journal_create(struct rec_journal **out, const char *dir, const char *id)
{
    struct rec_journal *j = calloc(1, sizeof(*j));
    char head[128];
    int n;

    *out = NULL;
    if (!j)
        return SE_ERR_NOMEM;
    snprintf(j->path, sizeof(j->path), "%s/%s", dir, REC_JOURNAL_NAME);
    j->fd = open(j->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (j->fd < 0 || flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
        se_err_log("record: cannot create %s: %s", j->path, strerror(errno));
        goto fail;
    }
    /* The header is the chain's seed: its hash starts the chain. */
    n = snprintf(head, sizeof(head), HEADER "%.63s\n", id);
    chain_next((const uint8_t[32]){0}, head, (size_t)n - 1, j->chain);
    if (write_line(j->fd, 0, head, (size_t)n) < 0 || fdatasync(j->fd) != 0 ||
        rec_fsync_dir(dir) < 0) {
        se_err_log("record: cannot write %s: %s", j->path, strerror(errno));
        goto fail;
    }
    j->size = (uint64_t)n;
    *out = j;
    return 0;
fail:
    if (j->fd >= 0) {
        close(j->fd);
        unlink(j->path);
    }
    free(j);
    return SE_ERR_IO;
}

int rec_journal_file(struct rec_journal *j, const char *name, int64_t wall_us)
{
    char t[REC_JOURNAL_LINE_MAX];

    snprintf(t, sizeof(t), "file %s %lld", name, (long long)(wall_us / 1000));
    return journal_append(j, t);
}

int rec_journal_frag(struct rec_journal *j, const char *name, uint64_t off, uint64_t len,
                     const uint8_t sha256[32], int64_t media_end_us)
{
    char t[REC_JOURNAL_LINE_MAX], h[65];

    rec_hex(sha256, 32, h);
    snprintf(t, sizeof(t), "frag %s %llu %llu %s %lld", name, (unsigned long long)off,
             (unsigned long long)len, h, (long long)(media_end_us / 1000));
    return journal_append(j, t);
}

int rec_journal_sync(struct rec_journal *j)
{
    if (j->failed)
        return SE_ERR_IO;
    if (fdatasync(j->fd) != 0) {
        j->failed = true;
        se_err_log("record: cannot sync %s: %s", j->path, strerror(errno));
        return SE_ERR_IO;
    }
    return 0;
}

int rec_journal_end(struct rec_journal *j, const char *state)
{
    char t[64];

    snprintf(t, sizeof(t), "end %.15s", state);
    int rc = journal_append(j, t);
    return rc < 0 ? rc : rec_journal_sync(j);
}

bool rec_journal_failed(const struct rec_journal *j)
{
    return j->failed;
}

void rec_journal_close(struct rec_journal *j)
{
    if (!j)
        return;
    close(j->fd);
    free(j);
}

/* ---- reading ---- */

static struct rec_journal_seg *seg_find(struct rec_journal_state *st, const char *name)
{
    for (size_t i = 0; i < st->n_segs; i++)
        if (!strcmp(st->segs[i].name, name))
            return &st->segs[i];
    return NULL;
}

/* One chained line's text (chain stripped) into st. false: stop here. */
static bool take_line(struct rec_journal_state *st, char *text)
{
    char name[128], hash[80], state[32];
    long long a = 0, b = 0, c = 0;
    int used = 0;

    if (sscanf(text, "file %127s %lld%n", name, &a, &used) == 2 && !text[used]) {
        if (!rec_name_ok(name) || seg_find(st, name) || st->ended || a < 0)
            return false;
        struct rec_journal_seg *ns = realloc(st->segs, (st->n_segs + 1) * sizeof(*ns));
        if (!ns)
            return false;
        st->segs = ns;
        struct rec_journal_seg *s = &st->segs[st->n_segs++];
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%.63s", name);
        s->wall_us = a * 1000;
        return true;
    }
    if (sscanf(text, "frag %127s %lld %lld %79s %lld%n", name, &a, &b, hash, &c, &used) == 5 &&
        !text[used]) {
        struct rec_journal_seg *s = seg_find(st, name);
        struct rec_journal_frag f = {
            .off = (uint64_t)a, .len = (uint64_t)b, .media_end_us = c * 1000};
        uint64_t end = s && s->n ? s->frags[s->n - 1].off + s->frags[s->n - 1].len : 0;
        if (!s || st->ended || a < 0 || b <= 0 || c < 0 || strlen(hash) != 64 ||
            rec_unhex(hash, f.sha256, 32) || f.off != end)
            return false;
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 64;
            struct rec_journal_frag *nf = realloc(s->frags, cap * sizeof(*nf));
            if (!nf)
                return false;
            s->frags = nf;
            s->cap = cap;
        }
        s->frags[s->n++] = f;
        return true;
    }
    if ((sscanf(text, "end %31s%n", state, &used) == 1 && !text[used]) ||
        (sscanf(text, "seal %31s %lld%n", state, &a, &used) == 2 && !text[used])) {
        st->ended = true;
        snprintf(st->end_state, sizeof(st->end_state), "%.15s", state);
        return true;
    }
    return false;
}

int rec_journal_read(int fd, struct rec_journal_state *st)
{
    FILE *f;
    char line[REC_JOURNAL_LINE_MAX + 96];
    size_t off = 0;
    int rc = SE_ERR_PARSE;

    memset(st, 0, sizeof(*st));
    int dfd = dup(fd);
    if (dfd < 0 || lseek(dfd, 0, SEEK_SET) < 0 || !(f = fdopen(dfd, "r"))) {
        if (dfd >= 0)
            close(dfd);
        return SE_ERR_IO;
    }
    while (off < REC_JOURNAL_READ_MAX && fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n')
            break; /* torn or overlong: the end of what is trusted */
        line[--n] = 0;
        if (off == 0) {
            if (strncmp(line, HEADER, strlen(HEADER)) != 0 || memchr(line, 0, n))
                break;
            snprintf(st->id, sizeof(st->id), "%.63s", line + strlen(HEADER));
            chain_next((const uint8_t[32]){0}, line, n, st->chain);
            rc = 0;
        } else {
            uint8_t want[32], got[32];
            char *sp = strrchr(line, ' ');
            if (!sp || strlen(sp + 1) != 64 || rec_unhex(sp + 1, got, 32))
                break;
            *sp = 0;
            chain_next(st->chain, line, (size_t)(sp - line), want);
            if (memcmp(want, got, 32) != 0 || !take_line(st, line))
                break;
            memcpy(st->chain, want, 32);
        }
        off += n + 1;
        st->valid_len = off;
    }
    fclose(f);
    if (rc < 0)
        rec_journal_state_free(st);
    return rc;
}

void rec_journal_state_free(struct rec_journal_state *st)
{
    for (size_t i = 0; i < st->n_segs; i++)
        free(st->segs[i].frags);
    free(st->segs);
    st->segs = NULL;
    st->n_segs = 0;
}

int rec_journal_append(int fd, struct rec_journal_state *st, const char *text)
{
    uint64_t off = st->valid_len;

    if (ftruncate(fd, (off_t)off) != 0 || append(fd, &off, st->chain, text) < 0 ||
        fdatasync(fd) != 0)
        return SE_ERR_IO;
    st->valid_len = (size_t)off;
    return 0;
}
