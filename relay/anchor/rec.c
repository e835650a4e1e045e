/*
 * rec.c - every call the anchor makes into record/: one place to extend
 * when the recorder learns more codecs, direction labels and the SR/sync
 * data (docs/anchor.md, "Recording").
 *
 * What is recorded: each direction of a call is its own recording
 * session - what the inside party sent, and what the outside party sent
 * - because a record/ session writes one video and one audio track. The
 * two share the session id, rule and participants in their metadata and
 * the stem of their names: <stamp>-<anchor id>-from-inside and
 * -from-outside under recording.dir. The streams come from the negotiated
 * description through record/'s own SDP reader (H.264 and Opus today:
 * other codecs are skipped, noted in the log). A stream's label is
 * "<mid>:from-<side>".
 *
 * Threads: opened on the control thread (directory, files, engine slot);
 * fed per packet on the anchor thread (rec_feed_push: a copy into a
 * preallocated ring, never blocking); keyframe wishes arrive on the
 * recorder thread and are only flagged there, the anchor thread turns
 * them into PLI (then FIR if one did not help) on its tick; closed and
 * sealed on the closer thread here, which then posts the session's END.
 * Engines are made on demand, REC_ENGINE_MAX_SESSIONS sessions each.
 */
#include "relay/anchor/internal.h"
#include "core/err.h"
#include "core/log.h"
#include "record/engine.h"
#include "record/manifest.h"
#include "record/sdp.h"
#include "relay/anchor/rtp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
    MAX_ENGINES = 64,
    KF_MIN_GAP_MS = 500,   /* between requests for one stream */
    KF_ESCALATE_MS = 3000, /* a second wish this soon after a PLI adds a FIR */
};

struct anchor_recorder {
    struct anchor_server *srv;
    bool ready;
    char dir[512];
    uint8_t key[REC_KEY_MAX];
    size_t key_len;
    int64_t fsync_us;
    GMutex lock; /* engines: control thread opens, closer thread closes */
    struct rec_engine *eng[MAX_ENGINES];
    int n_eng;
    GAsyncQueue *q; /* struct close_job */
    GThread *closer;
};

/* One direction: what the party of `side` sent. */
struct rec_part {
    struct anchor_recorder *r;
    struct rec_engine *eng;
    int id; /* engine session id, -1 if none */
    int n;
    struct rec_feed *feeds[REC_MAX_STREAMS];
    int8_t map[128]; /* payload type -> stream */
    bool rtx[128];   /* payload type is an RTX one */
    bool video[REC_MAX_STREAMS];
    uint32_t ssrc[REC_MAX_STREAMS];
    atomic_int kf_want[REC_MAX_STREAMS];
    int64_t kf_last_ms[REC_MAX_STREAMS];
    uint8_t fir_seq;
    char name[128];
};

struct anchor_rec {
    char id[128];
    struct rec_part part[2];
};

struct close_job {
    struct anchor_rec *rec;   /* NULL: stop the closer */
    struct anchor_event *end; /* posted once sealed; may be NULL */
};

/* snprintf whose truncation is intended (names are bounded by their buffers). */
__attribute__((format(printf, 3, 4))) static void put(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- closing ---- */

static void close_part(struct anchor_recorder *r, struct rec_part *p)
{
    if (p->id < 0)
        return;
    int rc = rec_engine_close(p->eng, p->id); /* blocks: this is the closer thread */
    if (rc < 0)
        se_err_log("anchor: recording %s incomplete: %s", p->name, se_err(rc));
    else
        se_info("anchor: recording %s sealed", p->name);
    p->id = -1;
    (void)r;
}

static gpointer closer_main(gpointer arg)
{
    struct anchor_recorder *r = arg;

    for (;;) {
        struct close_job *j = g_async_queue_pop(r->q);
        if (!j->rec) {
            free(j);
            return NULL;
        }
        close_part(r, &j->rec->part[0]);
        close_part(r, &j->rec->part[1]);
        if (j->end)
            anchor_post(r->srv, j->end);
        free(j->rec);
        free(j);
    }
}

void anchor_rec_close(struct anchor_recorder *r, struct anchor_rec *rec, struct anchor_event *end)
{
    struct close_job *j = calloc(1, sizeof(*j));

    if (!j) {
        /* Out of memory: seal here rather than lose the recording. */
        close_part(r, &rec->part[0]);
        close_part(r, &rec->part[1]);
        free(rec);
        anchor_post(r->srv, end);
        return;
    }
    j->rec = rec;
    j->end = end;
    g_async_queue_push(r->q, j);
}

void anchor_rec_discard(struct anchor_recorder *r, struct anchor_rec *rec)
{
    anchor_rec_close(r, rec, NULL);
}

/* ---- the recorder ---- */

int anchor_recorder_new(const struct anchor_config *c, struct anchor_server *srv,
                        struct anchor_recorder **out, char *err, size_t errlen)
{
    struct anchor_recorder *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (!r) {
        snprintf(err, errlen, "anchor: out of memory");
        return SE_ERR_NOMEM;
    }
    r->srv = srv;
    g_mutex_init(&r->lock);
    r->q = g_async_queue_new();
    r->fsync_us = (int64_t)c->rec_fsync_ms * 1000;
    if (c->rec_dir[0]) {
        snprintf(r->dir, sizeof(r->dir), "%s", c->rec_dir);
        if (mkdir(r->dir, 0750) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "recording.dir: cannot create %s: %s", r->dir, strerror(errno));
            anchor_recorder_free(r);
            return SE_ERR_IO;
        }
        if (c->rec_key_file[0] &&
            (rec_key_load(c->rec_key_file, r->key, &r->key_len, err, errlen) < 0 ||
             rec_key_usable(r->key, r->key_len, true) < 0)) {
            if (!err[0] || !strstr(err, c->rec_key_file))
                snprintf(err, errlen, "recording.sign_key_file: %s cannot sign manifests",
                         c->rec_key_file);
            anchor_recorder_free(r);
            return SE_ERR_CONFIG;
        }
        r->ready = true;
    }
    r->closer = g_thread_new("sedge-rec-close", closer_main, r);
    *out = r;
    return 0;
}

void anchor_recorder_free(struct anchor_recorder *r)
{
    if (!r)
        return;
    if (r->closer) {
        struct close_job *stop = calloc(1, sizeof(*stop));
        if (stop) {
            g_async_queue_push(r->q, stop);
            g_thread_join(r->closer);
        }
    }
    for (int i = 0; i < r->n_eng; i++)
        rec_engine_free(r->eng[i]);
    g_async_queue_unref(r->q);
    g_mutex_clear(&r->lock);
    memset(r->key, 0, sizeof(r->key));
    free(r);
}

bool anchor_recorder_ready(const struct anchor_recorder *r)
{
    return r && r->ready;
}

const char *anchor_rec_id(const struct anchor_rec *r)
{
    return r->id;
}

/* ---- opening ---- */

static void on_keyframe(void *arg, int stream)
{
    struct rec_part *p = arg; /* recorder thread: only flag it */
    if (stream >= 0 && stream < REC_MAX_STREAMS)
        atomic_store(&p->kf_want[stream], 1);
}

/* Put s into an engine with room, making one if needed. */
static int engine_add(struct anchor_recorder *r, struct rec_session *s, struct rec_part *p)
{
    int rc = SE_ERR_LIMIT;

    g_mutex_lock(&r->lock);
    for (int i = 0; i <= r->n_eng && i < MAX_ENGINES; i++) {
        if (i == r->n_eng && rec_engine_new(&r->eng[r->n_eng], 0) == 0)
            r->n_eng++;
        if (i < r->n_eng &&
            (rc = rec_engine_add(r->eng[i], s, p->n, p->feeds, &p->id)) != SE_ERR_LIMIT) {
            p->eng = r->eng[i];
            break;
        }
    }
    g_mutex_unlock(&r->lock);
    return rc;
}

static void map_pt(struct rec_part *p, int pt, int stream)
{
    if (pt >= 0 && pt < 128 && p->map[pt] < 0)
        p->map[pt] = (int8_t)stream;
}

static int open_part(struct anchor_recorder *r, const struct anchor_session *s,
                     const struct rec_sdp *sdp, int side, const char *stem, const char *parties[2],
                     struct rec_part *p, char *err, size_t errlen)
{
    static const char *const names[] = {"inside", "outside"};
    struct rec_session_cfg *cfg = calloc(1, sizeof(*cfg));
    struct rec_session *rs = NULL;
    int rc;

    p->r = r;
    p->id = -1;
    memset(p->map, -1, sizeof(p->map));
    if (!cfg)
        return SE_ERR_NOMEM;
    put(p->name, sizeof(p->name), "%s-from-%s", stem, names[side]);
    put(cfg->dir, sizeof(cfg->dir), "%s/%s", r->dir, p->name);
    put(cfg->session_id, sizeof(cfg->session_id), "%s", s->id);
    if (s->rule_id)
        put(cfg->policy_rule, sizeof(cfg->policy_rule), "#%lld %s", (long long)s->rule_id,
            s->rule_name);
    else
        put(cfg->policy_rule, sizeof(cfg->policy_rule), "default");
    put(cfg->source, sizeof(cfg->source), "anchor");
    for (int k = 0; k < 2; k++) {
        int who = k == 0 ? side : !side;
        bool user = who == ANCHOR_INSIDE;
        put(cfg->participants[k], sizeof(cfg->participants[k]), "%s: %s party%s%s%s%s at %s",
            k == 0 ? "sender" : "receiver", names[who], user ? " user " : "", user ? s->user : "",
            user && s->origin[0] ? " origin " : "", user ? s->origin : "",
            parties[who][0] ? parties[who] : "?");
    }
    cfg->n_participants = 2;
    cfg->fmt = REC_FMT_MP4;
    cfg->frag_us = 1000000;
    cfg->fsync_us = r->fsync_us;
    cfg->key = r->key;
    cfg->key_len = r->key_len;
    cfg->kf = on_keyframe;
    cfg->kf_arg = p;
    rec_sdp_to_cfg(sdp, cfg);
    p->n = cfg->n_streams;
    for (int i = 0; i < p->n; i++) {
        struct rec_stream_cfg *sc = &cfg->streams[i];
        char label[sizeof(sc->label)];
        put(label, sizeof(label), "%.12s:from-%s", sc->label[0] ? sc->label : "?", names[side]);
        memcpy(sc->label, label, sizeof(label));
        p->video[i] = sc->media == REC_VIDEO;
        map_pt(p, sc->pt, i);
        map_pt(p, sc->rtx_pt, i);
        for (int k = 0; k < sc->n_alt_pt; k++)
            map_pt(p, sc->alt_pt[k], i);
        for (int k = 0; k < sc->n_alt_rtx; k++)
            map_pt(p, sc->alt_rtx[k], i);
        if (sc->rtx_pt >= 0 && sc->rtx_pt < 128)
            p->rtx[sc->rtx_pt] = true;
        for (int k = 0; k < sc->n_alt_rtx; k++)
            if (sc->alt_rtx[k] < 128)
                p->rtx[sc->alt_rtx[k]] = true;
    }
    if ((rc = rec_session_open(&rs, cfg)) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", cfg->dir, se_err(rc));
    } else if ((rc = engine_add(r, rs, p)) < 0) {
        rec_session_close(rs, wall_us());
        snprintf(err, errlen, "no recorder slot: %s", se_err(rc));
    }
    free(cfg);
    return rc;
}

int anchor_rec_open(struct anchor_recorder *r, struct anchor_session *s, const char *sdp,
                    const char *inside, const char *outside, struct anchor_rec **out,
                    char *err, size_t errlen)
{
    struct rec_sdp *rs = calloc(1, sizeof(*rs));
    struct anchor_rec *rec = calloc(1, sizeof(*rec));
    const char *parties[2] = {inside, outside};
    char stamp[32], e[200];
    int rc;

    *out = NULL;
    if (!rs || !rec) {
        free(rs);
        free(rec);
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    rec->part[0].id = rec->part[1].id = -1;
    if (!r || !r->ready) {
        snprintf(err, errlen, "recording.dir is not configured");
        rc = SE_ERR_CONFIG;
        goto fail;
    }
    if ((rc = rec_sdp_parse(sdp, strlen(sdp), rs, e, sizeof(e))) < 0) {
        snprintf(err, errlen, "nothing the recorder can take: %s", e);
        goto fail;
    }
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    /* A renegotiation that changes the streams starts the call's next
     * recording: numbered, as it may open within the same second. */
    if (s->ctl_rec_seq++ == 0)
        put(rec->id, sizeof(rec->id), "%s-%s", stamp, s->id);
    else
        put(rec->id, sizeof(rec->id), "%s-%s-%d", stamp, s->id, s->ctl_rec_seq);
    for (int side = 0; side < 2; side++)
        if ((rc = open_part(r, s, rs, side, rec->id, parties, &rec->part[side], err, errlen)) < 0)
            goto fail;
    free(rs);
    *out = rec;
    return 0;
fail:
    free(rs);
    anchor_rec_close(r, rec, NULL); /* parts already opened are sealed, empty */
    return rc;
}

bool anchor_rec_same_streams(const char *old_sdp, const char *new_sdp)
{
    struct rec_sdp *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    char e[200];
    bool same = false;

    if (a && b) {
        int ra = old_sdp ? rec_sdp_parse(old_sdp, strlen(old_sdp), a, e, sizeof(e)) : -1;
        int rb = rec_sdp_parse(new_sdp, strlen(new_sdp), b, e, sizeof(e));
        same = (ra < 0 && rb < 0) || (ra == 0 && rb == 0 && a->n == b->n);
        for (int i = 0; same && ra == 0 && i < a->n; i++)
            same = a->m[i].cfg.media == b->m[i].cfg.media && a->m[i].cfg.pt == b->m[i].cfg.pt &&
                   strcmp(a->m[i].cfg.label, b->m[i].cfg.label) == 0;
    }
    free(a);
    free(b);
    return same;
}

/* ---- the media path ---- */

void anchor_rec_tap(struct anchor_rec *r, int side, const uint8_t *buf, size_t len)
{
    struct rec_part *p = &r->part[side];
    int pt = buf[1] & 0x7f, st = p->map[pt];

    if (st < 0 || p->id < 0)
        return;
    /* Keyframes are asked of the first media (not RTX) SSRC: the one the
     * recorder locks onto. */
    if (p->video[st] && !p->ssrc[st] && !p->rtx[pt])
        p->ssrc[st] = anchor_rd32(buf + 8);
    rec_feed_push(p->feeds[st], buf, len, wall_us());
}

void anchor_rec_tick(struct anchor_rec *r, struct anchor_session *s, int64_t now)
{
    for (int side = 0; side < 2; side++) {
        struct rec_part *p = &r->part[side];
        for (int i = 0; i < p->n && p->id >= 0; i++) {
            if (!p->video[i] || !p->ssrc[i])
                continue;
            bool want = atomic_exchange(&p->kf_want[i], 0) || !p->kf_last_ms[i];
            if (!want || (p->kf_last_ms[i] && now - p->kf_last_ms[i] < KF_MIN_GAP_MS))
                continue;
            bool fir = p->kf_last_ms[i] && now - p->kf_last_ms[i] < KF_ESCALATE_MS;
            anchor_media_keyframe(&s->leg[side], p->ssrc[i], fir, fir ? ++p->fir_seq : 0);
            se_debug("anchor: %s: %s to the %s party for ssrc %u", s->id, fir ? "PLI+FIR" : "PLI",
                     side ? "outside" : "inside", p->ssrc[i]);
            p->kf_last_ms[i] = now;
        }
    }
}
