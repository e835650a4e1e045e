/*
 * seal.c - sealing recordings: in the process that made them (at close,
 * or at once when a write fails), and after a crash from their journal.
 *
 * In-process: the session knows exactly what it wrote (the writers hash
 * what they commit), so sealing is: release the reserve, end the journal,
 * write metadata.json, list media + metadata + journal in the signed
 * manifest, tell the catalog. After a crash: nothing in memory survived,
 * so the journal is the truth (seal.h): every fragment it names is
 * re-read and re-hashed before it is listed, so a signature is only ever
 * put on bytes that are what the recorder wrote.
 */
#include "record/seal.h"
#include "core/err.h"
#include "core/log.h"
#include "record/catalog.h"
#include "record/session_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { META_READ_MAX = 4 << 20, READ_CHUNK = 1 << 16 };

int rec_reserve_create(const char *dir)
{
    char p[600];
    int fd, r;

    snprintf(p, sizeof(p), "%s/%s", dir, REC_RESERVE_NAME);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return SE_ERR_IO;
    r = posix_fallocate(fd, 0, REC_RESERVE_BYTES);
    close(fd);
    if (r != 0) {
        unlink(p);
        errno = r;
        return SE_ERR_IO;
    }
    return 0;
}

void rec_reserve_drop(const char *dir)
{
    char p[600];

    snprintf(p, sizeof(p), "%s/%s", dir, REC_RESERVE_NAME);
    unlink(p);
}

/* The manifest entry of a whole file (metadata.json, journal.log). */
static int entry_of(const char *dir, const char *name, struct rec_manifest_entry *e)
{
    char p[600];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    snprintf(e->name, sizeof(e->name), "%s", name);
    return rec_sha256_file(p, e->sha256, &e->bytes);
}

int rec_session_seal(struct rec_session *s, const char *state)
{
    struct rec_manifest_entry me;
    const char *why = NULL;
    int rc = 0;

    if (s->sealed)
        return s->seal_rc;
    s->sealed = true;
    rec_reserve_drop(s->cfg.dir);
    if (s->journal && rec_journal_end(s->journal, state) < 0)
        why = "cannot end the journal";
    if (rec_meta_write(s, state, s->have_origin ? s->end_us : 0, &me) == 0) {
        if (s->n_files < REC_MAX_FILES)
            s->files[s->n_files++] = me;
    } else {
        rc = SE_ERR_IO;
        why = "cannot write metadata.json";
    }
    if (s->journal && s->n_files < REC_MAX_FILES &&
        entry_of(s->cfg.dir, REC_JOURNAL_NAME, &s->files[s->n_files]) == 0)
        s->n_files++;
    /* The lock stays held until the manifest is there: a recovery running
     * in another process must not take this recording for a dead one. */
    if (rec_manifest_write(s->cfg.dir, s->files, (size_t)s->n_files, s->key, s->cfg.key_len) < 0) {
        rc = SE_ERR_IO;
        why = "cannot write the manifest";
    }
    rec_journal_close(s->journal);
    s->journal = NULL;
    if (why)
        se_err_log("record %s: sealing: %s", s->cfg.id, why);
    s->seal_rc = rc;
    if (s->cfg.catalog) {
        char reason[300];
        snprintf(reason, sizeof(reason), "%s%s%s", s->error ? s->error_text : "",
                 s->error && why ? "; " : "", why ? why : "");
        rec_catalog_post_end(s->cfg.catalog, &s->cfg, state, reason,
                             s->end_us ? s->end_us : s->origin_us);
    }
    return rc;
}

/* ---- after a crash ---- */

/* Re-read f's journaled fragments; the byte count of the good prefix and
 * the SHA-256 of exactly those bytes. */
static uint64_t check_file(int fd, const struct rec_journal_seg *g, uint8_t sha[32],
                           uint64_t *frags, int64_t *media_end_us)
{
    EVP_MD_CTX *all = EVP_MD_CTX_new(), *one = EVP_MD_CTX_new();
    uint8_t *buf = malloc(READ_CHUNK), h[32];
    uint64_t good = 0;
    unsigned int n = 32;

    *frags = 0;
    *media_end_us = 0;
    if (!all || !one || !buf || !EVP_DigestInit_ex(all, EVP_sha256(), NULL))
        goto out;
    for (size_t i = 0; i < g->n; i++) {
        const struct rec_journal_frag *f = &g->frags[i];
        bool ok = EVP_DigestInit_ex(one, EVP_sha256(), NULL);
        EVP_MD_CTX *save = EVP_MD_CTX_new();
        if (!save || !EVP_MD_CTX_copy_ex(save, all)) {
            EVP_MD_CTX_free(save);
            break;
        }
        for (uint64_t done = 0; ok && done < f->len;) {
            size_t want = f->len - done < READ_CHUNK ? (size_t)(f->len - done) : READ_CHUNK;
            ssize_t r = pread(fd, buf, want, (off_t)(f->off + done));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                ok = false;
                break;
            }
            EVP_DigestUpdate(one, buf, (size_t)r);
            EVP_DigestUpdate(all, buf, (size_t)r);
            done += (uint64_t)r;
        }
        if (ok && EVP_DigestFinal_ex(one, h, &n) && !memcmp(h, f->sha256, 32)) {
            good = f->off + f->len;
            (*frags)++;
            *media_end_us = f->media_end_us;
            EVP_MD_CTX_free(save);
        } else {
            EVP_MD_CTX_copy_ex(all, save); /* the hash of the good prefix only */
            EVP_MD_CTX_free(save);
            break;
        }
    }
    EVP_DigestFinal_ex(all, sha, &n);
out:
    EVP_MD_CTX_free(all);
    EVP_MD_CTX_free(one);
    free(buf);
    return good;
}

static const char *format_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot && !strcmp(dot, ".ogg"))
        return "ogg-opus";
    if (dot && !strcmp(dot, ".flv"))
        return "flv";
    if (dot && !strcmp(dot, ".webm"))
        return "webm";
    return "fragmented-mp4";
}

/* Names a crashed recording may leave that the journal does not list. */
static bool ours(const char *name)
{
    return !strncmp(name, "segment-", 8) || !strcmp(name, REC_RESERVE_NAME) ||
           (name[0] == '.' && strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".tmp"));
}

static bool journaled(const struct rec_journal_state *st, const char *name, const bool *kept)
{
    for (size_t i = 0; i < st->n_segs; i++)
        if (kept[i] && !strcmp(st->segs[i].name, name))
            return true;
    return false;
}

static void remove_strays(const char *dir, const struct rec_journal_state *st, const bool *kept)
{
    DIR *dh = opendir(dir);
    char p[600];

    for (struct dirent *de; dh && (de = readdir(dh));) {
        if (!ours(de->d_name) || journaled(st, de->d_name, kept))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (unlink(p) == 0)
            se_info("record: sealing %s: removed %s (not journaled)", dir, de->d_name);
    }
    if (dh)
        closedir(dh);
}

/*
 * What the session wrote about segment `name` when it opened it (its
 * party, the video codec and size, the audio codec), copied into o: the
 * journal knows bytes and times, not whose media a file holds. Counts
 * are left out, they were those of the segment's first moment.
 */
static void keep_described(json_t *o, json_t *old_segs, const char *name)
{
    size_t i;
    json_t *g, *x;

    json_array_foreach(old_segs, i, g)
    {
        if (!json_is_object(g) || !json_is_string(json_object_get(g, "file")) ||
            strcmp(json_string_value(json_object_get(g, "file")), name) != 0)
            continue;
        if (json_is_string(x = json_object_get(g, "party")))
            json_object_set(o, "party", x);
        if (json_is_object(x = json_object_get(g, "video"))) {
            json_t *v = json_deep_copy(x);
            json_object_del(v, "frames");
            json_object_set_new(o, "video", v);
        }
        if (json_is_object(x = json_object_get(g, "audio"))) {
            json_t *a = json_deep_copy(x);
            json_object_del(a, "packets");
            json_object_set_new(o, "audio", a);
        }
        return;
    }
}

/* metadata.json as the seal leaves it: the old one with state, reason,
 * end, the kept segments and a "sealed" object. */
static int write_meta(const char *dir, const struct rec_journal_state *st, const bool *kept,
                      const uint8_t (*sha)[32], const uint64_t *bytes, const int64_t *end_us,
                      const char *state, const char *reason, const struct rec_seal_info *info,
                      bool sig, struct rec_manifest_entry *e)
{
    char path[600], h[65];
    struct stat sb;
    json_t *m = NULL, *segs = json_array();
    int64_t start = 0;

    snprintf(path, sizeof(path), "%s/metadata.json", dir);
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size <= META_READ_MAX)
        m = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(m)) {
        json_decref(m);
        m = json_pack("{s:i, s:s}", "version", 1, "recording_id", st->id);
    }
    for (size_t i = 0; i < st->n_segs; i++) {
        const struct rec_journal_seg *g = &st->segs[i];
        if (!kept[i])
            continue;
        if (!start || g->wall_us < start)
            start = g->wall_us;
        rec_hex(sha[i], 32, h);
        json_t *o =
            json_pack("{s:s, s:s, s:o, s:o, s:f, s:I, s:s}", "file", g->name, "format",
                      format_of(g->name), "start", rec_meta_time(g->wall_us), "end",
                      rec_meta_time(g->wall_us + end_us[i]), "duration_s",
                      (double)end_us[i] / 1e6, "bytes", (json_int_t)bytes[i], "sha256", h);
        keep_described(o, json_object_get(m, "segments"), g->name);
        json_array_append_new(segs, o);
    }
    json_object_set_new(m, "state", json_string(state));
    if (start && !json_is_string(json_object_get(m, "start")))
        json_object_set_new(m, "start", rec_meta_time(start));
    json_object_set_new(m, "end", rec_meta_time(info->end_us));
    json_object_set_new(m, "segments", segs);
    json_object_set_new(m, "signed", json_boolean(sig));
    json_object_set_new(m, "error", reason && reason[0] ? json_string(reason) : json_null());
    json_object_set_new(m, "sealed",
                        json_pack("{s:o, s:s, s:I, s:I}", "at",
                                  rec_meta_time((int64_t)time(NULL) * 1000000), "from", "journal",
                                  "fragments", (json_int_t)info->fragments, "bytes_cut",
                                  (json_int_t)info->bytes_cut));
    int rc = rec_meta_save(dir, m, e);
    json_decref(m);
    return rc;
}

/* Check, cut and list every journaled file; fills kept/sha/bytes/end. */
static void keep_files(const char *dir, const struct rec_journal_state *st, bool *kept,
                       uint8_t (*sha)[32], uint64_t *bytes, int64_t *end_us,
                       struct rec_seal_info *info)
{
    for (size_t i = 0; i < st->n_segs; i++) {
        const struct rec_journal_seg *g = &st->segs[i];
        char p[600];
        uint64_t frags = 0;
        struct stat sb;
        snprintf(p, sizeof(p), "%s/%s", dir, g->name);
        int fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;
        bytes[i] = check_file(fd, g, sha[i], &frags, &end_us[i]);
        if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size > bytes[i]) {
            info->bytes_cut += (uint64_t)sb.st_size - bytes[i];
            if (ftruncate(fd, (off_t)bytes[i]) != 0)
                se_err_log("record: sealing %s: cannot cut %s: %s", dir, g->name, strerror(errno));
        }
        if (fdatasync(fd) != 0)
            se_warn("record: sealing %s: cannot sync %s", dir, g->name);
        close(fd);
        /* The header alone (no media time) plays nothing: not kept. */
        kept[i] = frags > 1 || (frags == 1 && end_us[i] > 0);
        if (!kept[i])
            continue;
        info->files++;
        info->fragments += frags;
        info->bytes += bytes[i];
        if (g->wall_us + end_us[i] > info->end_us)
            info->end_us = g->wall_us + end_us[i];
    }
}

int rec_seal_dir(const char *dir, const uint8_t *key, size_t key_len, const char *state,
                 const char *reason, struct rec_seal_info *info)
{
    struct rec_journal_state st;
    struct rec_manifest_entry *files = NULL;
    uint8_t(*sha)[32] = NULL;
    uint64_t *bytes = NULL;
    int64_t *end_us = NULL;
    bool *kept = NULL;
    char p[600], line[128];
    struct stat sb;
    int fd, rc, n = 0;

    memset(info, 0, sizeof(*info));
    snprintf(p, sizeof(p), "%s/%s", dir, REC_JOURNAL_NAME);
    fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? SE_ERR_NOTFOUND : SE_ERR_IO;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return errno == EWOULDBLOCK ? SE_ERR_AGAIN : SE_ERR_IO;
    }
    snprintf(p, sizeof(p), "%s/%s", dir, REC_MANIFEST_NAME);
    if (stat(p, &sb) == 0) { /* sealed, checked under the lock */
        close(fd);
        return SE_ERR_EXISTS;
    }
    if ((rc = rec_journal_read(fd, &st)) < 0) {
        close(fd);
        return rc == SE_ERR_PARSE ? SE_ERR_NOTFOUND : rc;
    }
    rc = SE_ERR_NOMEM;
    size_t ns = st.n_segs ? st.n_segs : 1;
    if (!(files = calloc(ns + 2, sizeof(*files))) || !(sha = calloc(ns, sizeof(*sha))) ||
        !(bytes = calloc(ns, sizeof(*bytes))) || !(end_us = calloc(ns, sizeof(*end_us))) ||
        !(kept = calloc(ns, sizeof(*kept))))
        goto out;
    keep_files(dir, &st, kept, sha, bytes, end_us, info);
    remove_strays(dir, &st, kept);
    for (size_t i = 0; i < st.n_segs; i++) {
        if (!kept[i]) {
            snprintf(p, sizeof(p), "%s/%s", dir, st.segs[i].name);
            unlink(p);
            continue;
        }
        snprintf(files[n].name, sizeof(files[n].name), "%s", st.segs[i].name);
        memcpy(files[n].sha256, sha[i], 32);
        files[n++].bytes = bytes[i];
    }
    rc = SE_ERR_IO;
    snprintf(line, sizeof(line), "seal %.15s %lld", state, (long long)time(NULL) * 1000);
    if (rec_journal_append(fd, &st, line) < 0 ||
        write_meta(dir, &st, kept, (const uint8_t(*)[32])sha, bytes, end_us, state, reason, info,
                   key_len > 0, &files[n]) < 0)
        goto out;
    n++;
    if (entry_of(dir, REC_JOURNAL_NAME, &files[n]) < 0)
        goto out;
    n++;
    rc = rec_manifest_write(dir, files, (size_t)n, key, key_len);
    if (rc == 0)
        se_info("record: sealed %s as %s: %d file(s), %llu fragment(s), %llu byte(s) cut", dir,
                state, info->files, (unsigned long long)info->fragments,
                (unsigned long long)info->bytes_cut);
out:
    rec_journal_state_free(&st);
    free(files);
    free(sha);
    free(bytes);
    free(end_us);
    free(kept);
    close(fd); /* releases the lock, after the manifest */
    return rc;
}
