/*
 * rec.c - every call the anchor makes into record/ (docs/anchor.md,
 * "Recording"; docs/recording.md, "For live producers").
 *
 * What is recorded: one recording per anchored call (and per
 * renegotiation that changes the recordable streams), holding both
 * parties, made in the serve loop's catalog (record/catalog.h: id,
 * directory under recording.dir, signing key, the catalog row). Every
 * audio or video m-line gives two streams: what the inside party sent
 * (party REC_PARTY_INSIDE) and what the outside party sent
 * (REC_PARTY_OUTSIDE). A stream is described by the m-line of the
 * description its *receiver* wrote (a sender uses the codecs and payload
 * types its peer offered or answered), so the payload-type maps are per
 * sender. Codecs record/ does not know are streams listed as not
 * recorded.
 *
 * Packets: a party's decrypted RTP goes to its stream by payload type;
 * when several m-lines of one sender share a payload type (a second
 * camera or screen share with the same codecs) each new SSRC takes the
 * first such stream that has none yet (and RTX SSRCs likewise). Its
 * decrypted RTCP (compound) goes into a feed of one of its streams: the
 * session matches sender reports to streams by SSRC (A/V sync in
 * metadata.json).
 *
 * Threads: opened on the control thread (directory, files, engine slot);
 * fed per packet on the anchor thread (rec_feed_push: a copy into a
 * preallocated ring, never blocking); keyframe wishes and the failure
 * report (on_fail) arrive on the recorder thread and are only flagged
 * there: the anchor thread turns wishes into PLI (then FIR) and applies
 * recording.on_failure on its tick; closed and sealed on the closer
 * thread here, which then posts the session's END. Engines are made on
 * demand, REC_ENGINE_MAX_SESSIONS sessions each.
 */
#include "relay/anchor/internal.h"
#include "core/err.h"
#include "core/log.h"
#include "record/catalog.h"
#include "record/engine.h"
#include "record/sdp.h"
#include "relay/anchor/rtp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    MAX_ENGINES = 64,
    KF_MIN_GAP_MS = 500,   /* between requests for one stream */
    KF_ESCALATE_MS = 3000, /* a second wish this soon after a PLI adds a FIR */
    FAIL_TEXT = 200,
};

struct anchor_recorder {
    struct anchor_server *srv;
    struct rec_catalog *cat; /* borrowed from serve; NULL: recording.dir not set */
    GMutex lock; /* engines: control thread opens, closer thread closes */
    struct rec_engine *eng[MAX_ENGINES];
    int n_eng;
    GAsyncQueue *q; /* struct close_job */
    GThread *closer;
};

struct anchor_rec {
    struct anchor_recorder *r;
    char id[REC_ID_MAX];       /* the catalog's recording id */
    char sid[ANCHOR_ID_LEN];
    struct rec_engine *eng;
    int eid; /* engine session id, -1 if none */
    int n;
    struct rec_feed *feeds[REC_MAX_STREAMS];
    uint8_t side[REC_MAX_STREAMS]; /* the stream's sender */
    bool video[REC_MAX_STREAMS];
    uint16_t has_pt[2][128];  /* sender, payload type -> streams (bits) taking it */
    uint16_t has_rtx[2][128]; /* ... as an RTX type */
    uint32_t ssrc[REC_MAX_STREAMS], rtx_ssrc[REC_MAX_STREAMS]; /* learned, 0 = none yet */
    int8_t rtcp_feed[2]; /* a stream of the sender whose feed takes its RTCP, -1 none */
    atomic_int kf_want[REC_MAX_STREAMS];
    int64_t kf_last_ms[REC_MAX_STREAMS];
    uint8_t fir_seq;
    atomic_int failed; /* the SE_ERR_* on_fail reported, 0 while healthy */
    char fail_what[FAIL_TEXT]; /* written before `failed` */
    bool fail_seen; /* anchor thread: acted on */
};

struct close_job {
    struct anchor_rec *rec;   /* NULL: stop the closer */
    struct anchor_event *end; /* posted once sealed; may be NULL */
};

static const char *const party_of[2] = {REC_PARTY_INSIDE, REC_PARTY_OUTSIDE};

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

static void close_rec(struct anchor_rec *rec)
{
    if (rec->eid < 0)
        return;
    int rc = rec_engine_close(rec->eng, rec->eid); /* blocks: this is the closer thread */
    if (atomic_load(&rec->failed))
        se_warn("anchor: recording %s of %s sealed as failed: %s", rec->id, rec->sid,
                rec->fail_what);
    else if (rc < 0)
        se_err_log("anchor: recording %s of %s incomplete: %s", rec->id, rec->sid, se_err(rc));
    else
        se_info("anchor: recording %s of %s sealed", rec->id, rec->sid);
    rec->eid = -1;
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
        close_rec(j->rec);
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
        close_rec(rec);
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
    r->cat = c->catalog;
    g_mutex_init(&r->lock);
    r->q = g_async_queue_new();
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
    free(r);
}

bool anchor_recorder_ready(const struct anchor_recorder *r)
{
    return r && r->cat;
}

const char *anchor_recorder_dir(const struct anchor_recorder *r)
{
    return anchor_recorder_ready(r) ? rec_catalog_dir(r->cat) : NULL;
}

const char *anchor_rec_id(const struct anchor_rec *r)
{
    return r->id;
}

/* ---- opening ---- */

static void on_keyframe(void *arg, int stream)
{
    struct anchor_rec *rec = arg; /* recorder thread: only flag it */
    if (stream >= 0 && stream < REC_MAX_STREAMS)
        atomic_store(&rec->kf_want[stream], 1);
}

static void on_failed(void *arg, int err, const char *what)
{
    struct anchor_rec *rec = arg; /* recorder thread, once: only flag it */
    put(rec->fail_what, sizeof(rec->fail_what), "%s", what && what[0] ? what : se_err(err));
    atomic_store_explicit(&rec->failed, err < 0 ? err : SE_ERR_IO, memory_order_release);
}

/* Put s into an engine with room, making one if needed. */
static int engine_add(struct anchor_recorder *r, struct rec_session *s, struct anchor_rec *rec)
{
    int rc = SE_ERR_LIMIT;

    g_mutex_lock(&r->lock);
    for (int i = 0; i <= r->n_eng && i < MAX_ENGINES; i++) {
        if (i == r->n_eng && rec_engine_new(&r->eng[r->n_eng], 0) == 0)
            r->n_eng++;
        if (i < r->n_eng &&
            (rc = rec_engine_add(r->eng[i], s, rec->n, rec->feeds, &rec->eid)) != SE_ERR_LIMIT) {
            rec->eng = r->eng[i];
            break;
        }
    }
    g_mutex_unlock(&r->lock);
    return rc;
}

static void map_pt(uint16_t *tab, int pt, int stream)
{
    if (pt >= 0 && pt < 128)
        tab[pt] |= (uint16_t)(1u << stream);
}

/* The recordable streams of a call: what each party sends, described by
 * the other party's description. 0, or SE_ERR_PARSE with err when neither
 * description has an audio or video m-line. */
static int call_streams(const char *const desc[2], struct rec_session_cfg *cfg, char *err,
                        size_t errlen)
{
    struct rec_sdp *sdp = calloc(1, sizeof(*sdp));
    char e[200] = "";
    int rc = 0;

    if (!sdp)
        return SE_ERR_NOMEM;
    cfg->n_streams = 0;
    for (int sender = 0; sender < 2; sender++) {
        const char *d = desc[!sender]; /* the receiver's description */
        memset(sdp, 0, sizeof(*sdp));
        if (!d || rec_sdp_parse(d, strlen(d), sdp, e, sizeof(e)) < 0)
            continue;
        for (int i = 0; i < sdp->n; i++) {
            if (cfg->n_streams == REC_MAX_STREAMS) {
                se_warn("anchor: more than %d audio/video streams in a call: the %s party's "
                        "m-line %s is not recorded",
                        REC_MAX_STREAMS, party_of[sender], sdp->m[i].cfg.label);
                continue;
            }
            struct rec_stream_cfg *sc = &cfg->streams[cfg->n_streams++];
            *sc = sdp->m[i].cfg;
            put(sc->party, sizeof(sc->party), "%s", party_of[sender]);
        }
    }
    if (!cfg->n_streams) {
        snprintf(err, errlen, "nothing the recorder can take: %s", e[0] ? e : "no description");
        rc = SE_ERR_PARSE;
    }
    free(sdp);
    return rc;
}

/* "udp:1.2.3.4:5" -> "1.2.3.4:5" */
static const char *bare(const char *party)
{
    return party && !strncmp(party, "udp:", 4) ? party + 4 : party ? party : "";
}

int anchor_rec_open(struct anchor_recorder *r, struct anchor_session *s, const char *const desc[2],
                    const char *inside, const char *outside, struct anchor_rec **out, char *err,
                    size_t errlen)
{
    struct rec_session_cfg *cfg = calloc(1, sizeof(*cfg));
    struct anchor_rec *rec = calloc(1, sizeof(*rec));
    struct rec_session *rs = NULL;
    const char *addr[2] = {bare(inside), bare(outside)};
    int rc;

    *out = NULL;
    if (!cfg || !rec) {
        free(cfg);
        free(rec);
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    rec->r = r;
    rec->eid = -1;
    rec->rtcp_feed[0] = rec->rtcp_feed[1] = -1;
    put(rec->sid, sizeof(rec->sid), "%s", s->id);
    if (!anchor_recorder_ready(r)) {
        snprintf(err, errlen, "recording.dir is not configured");
        rc = SE_ERR_CONFIG;
        goto fail;
    }
    if ((rc = call_streams(desc, cfg, err, errlen)) < 0)
        goto fail;
    struct rec_party p = {
        .session_id = s->id,
        .user = s->user,
        .origin = s->origin,
        .remote = addr[ANCHOR_OUTSIDE],
        .rule = s->rule_name,
        .rule_id = s->rule_id,
        .retention_days = -1,
        .source = "anchor",
    };
    if ((rc = rec_catalog_prepare(r->cat, &p, cfg)) < 0) {
        snprintf(err, errlen, "cannot name the recording: %s", se_err(rc));
        goto fail;
    }
    for (int i = 0; i < cfg->n_parties; i++)
        for (int side = 0; side < 2; side++)
            if (!strcmp(cfg->parties[i].label, party_of[side]))
                put(cfg->parties[i].address, sizeof(cfg->parties[i].address), "%s", addr[side]);
    put(rec->id, sizeof(rec->id), "%s", cfg->id);
    cfg->fmt = REC_FMT_MP4; /* the lanes pick WebM for VP8, Ogg for audio only */
    cfg->frag_us = 1000000;
    cfg->kf = on_keyframe;
    cfg->kf_arg = rec;
    cfg->on_fail = on_failed;
    cfg->fail_arg = rec;
    rec->n = cfg->n_streams;
    for (int i = 0; i < rec->n; i++) {
        const struct rec_stream_cfg *sc = &cfg->streams[i];
        int side = !strcmp(sc->party, REC_PARTY_OUTSIDE);
        rec->side[i] = (uint8_t)side;
        rec->video[i] = sc->media == REC_VIDEO;
        if (sc->codec == REC_CODEC_UNKNOWN) {
            se_info("anchor: %s: the %s party's %s stream (%s) is not recorded: codec not "
                    "supported",
                    s->id, party_of[side], sc->label, sc->codec_name);
        }
        if (rec->rtcp_feed[side] < 0)
            rec->rtcp_feed[side] = (int8_t)i;
        map_pt(rec->has_pt[side], sc->pt, i);
        if (sc->red) /* RED carries media (or FEC): the recorder unwraps it */
            map_pt(rec->has_pt[side], sc->red - 1, i);
        map_pt(rec->has_rtx[side], sc->rtx_pt, i);
        for (int k = 0; k < sc->n_alt_pt; k++)
            map_pt(rec->has_pt[side], sc->alt_pt[k], i);
        for (int k = 0; k < sc->n_alt_rtx; k++)
            map_pt(rec->has_rtx[side], sc->alt_rtx[k], i);
    }
    if ((rc = rec_session_open(&rs, cfg)) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", cfg->dir, se_err(rc));
        goto fail;
    }
    if ((rc = engine_add(r, rs, rec)) < 0) {
        rec_session_close(rs, wall_us());
        snprintf(err, errlen, "no recorder slot: %s", se_err(rc));
        goto fail;
    }
    free(cfg);
    *out = rec;
    return 0;
fail:
    free(cfg);
    free(rec);
    return rc;
}

bool anchor_rec_same_streams(const char *const old_desc[2], const char *const new_desc[2])
{
    struct rec_session_cfg *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    char e[200];
    bool same = false;

    if (a && b) {
        int ra = call_streams(old_desc, a, e, sizeof(e));
        int rb = call_streams(new_desc, b, e, sizeof(e));
        same = (ra < 0 && rb < 0) || (ra == 0 && rb == 0 && a->n_streams == b->n_streams);
        for (int i = 0; same && ra == 0 && i < a->n_streams; i++) {
            const struct rec_stream_cfg *x = &a->streams[i], *y = &b->streams[i];
            same = x->media == y->media && x->pt == y->pt && x->codec == y->codec &&
                   !strcmp(x->party, y->party) && !strcmp(x->label, y->label);
        }
    }
    free(a);
    free(b);
    return same;
}

/* ---- the media path ---- */

/* The stream of a sender's RTP packet, learning SSRCs: -1 if none. */
static int stream_of(struct anchor_rec *r, int side, int pt, uint32_t ssrc)
{
    uint16_t media = r->has_pt[side][pt], rtx = r->has_rtx[side][pt];
    bool is_rtx = rtx && !media;
    uint16_t cand = media | rtx;
    int first = -1;

    if (!cand)
        return -1;
    if (!(cand & (cand - 1))) /* one stream takes this type: the common case */
        return __builtin_ctz(cand);
    for (int i = 0; i < r->n; i++) {
        if (!(cand & (1u << i)))
            continue;
        uint32_t *known = is_rtx ? &r->rtx_ssrc[i] : &r->ssrc[i];
        if (*known == ssrc)
            return i;
        if (first < 0)
            first = i;
    }
    for (int i = 0; i < r->n; i++) { /* a new SSRC: the first stream without one */
        uint32_t *known = is_rtx ? &r->rtx_ssrc[i] : &r->ssrc[i];
        if ((cand & (1u << i)) && !*known) {
            *known = ssrc;
            return i;
        }
    }
    return first; /* more SSRCs than streams (simulcast): the recorder keeps the first */
}

void anchor_rec_tap(struct anchor_rec *r, int side, bool rtcp, const uint8_t *buf, size_t len)
{
    if (r->eid < 0 || atomic_load_explicit(&r->failed, memory_order_relaxed))
        return;
    if (rtcp) {
        if (r->rtcp_feed[side] >= 0)
            rec_feed_push(r->feeds[r->rtcp_feed[side]], buf, len, wall_us());
        return;
    }
    int pt = buf[1] & 0x7f;
    uint32_t ssrc = anchor_rd32(buf + 8);
    int st = stream_of(r, side, pt, ssrc);

    if (st < 0)
        return;
    /* Keyframes are asked of the first media (not RTX) SSRC: the one the
     * recorder locks onto. */
    if (r->video[st] && !r->ssrc[st] && (r->has_pt[side][pt] & (1u << st)))
        r->ssrc[st] = ssrc;
    rec_feed_push(r->feeds[st], buf, len, wall_us());
}

/* The recording failed (on_fail): recording.on_failure decides. */
static void failed(struct anchor_rec *r, struct anchor_session *s)
{
    struct anchor_server *a = s->srv;
    bool end;

    r->fail_seen = true;
    g_mutex_lock(&a->lock);
    end = s->record ? a->conf.rec_end_required : a->conf.rec_end_optional;
    g_mutex_unlock(&a->lock);
    if (end) {
        se_err_log("anchor: %s: recording %s failed: %s; ending the call "
                   "(recording.on_failure)",
                   s->id, r->id, r->fail_what);
        anchor_session_end(s, "recording failed: %s", r->fail_what);
    } else {
        se_warn("anchor: %s: recording %s failed: %s; the call goes on unrecorded "
                "(recording.on_failure = continue)",
                s->id, r->id, r->fail_what);
    }
}

void anchor_rec_tick(struct anchor_rec *r, struct anchor_session *s, int64_t now)
{
    if (r->eid < 0 || r->fail_seen)
        return;
    if (atomic_load_explicit(&r->failed, memory_order_acquire)) {
        failed(r, s);
        return;
    }
    for (int i = 0; i < r->n; i++) {
        if (!r->video[i] || !r->ssrc[i])
            continue;
        bool want = atomic_exchange(&r->kf_want[i], 0) || !r->kf_last_ms[i];
        if (!want || (r->kf_last_ms[i] && now - r->kf_last_ms[i] < KF_MIN_GAP_MS))
            continue;
        bool fir = r->kf_last_ms[i] && now - r->kf_last_ms[i] < KF_ESCALATE_MS;
        anchor_media_keyframe(&s->leg[r->side[i]], r->ssrc[i], fir, fir ? ++r->fir_seq : 0);
        se_debug("anchor: %s: %s to the %s party for ssrc %u", s->id, fir ? "PLI+FIR" : "PLI",
                 party_of[r->side[i]], r->ssrc[i]);
        r->kf_last_ms[i] = now;
    }
}
