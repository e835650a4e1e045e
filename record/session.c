/*
 * session.c - one recording: streams -> depacketizers -> segment writers.
 *
 * Timeline: session time 0 is the arrival of the first packet of any
 * stream. A stream's packet with extended timestamp ts sits at
 *     (first arrival of the stream - origin) + (ts - first ts) / clock,
 * so each stream keeps its own RTP clock (no drift from arrival jitter)
 * and streams line up by when they started. A segment's file time 0 is
 * its seg_origin in session time.
 *
 * Segments: the first opens with the first decodable IDR (audio that came
 * before it is held, bounded, and written first), or with audio if the
 * session has no video or the hold fills up. An IDR whose SPS/PPS differ
 * from the segment's, or the first IDR after an audio-only start, closes
 * the segment and opens the next one at that IDR.
 *
 * Failure: a writer error (disk full) closes the segment (the writer has
 * cut the file back to its last fragment), sets the session error, logs
 * it once, and the session only counts packets from then on. The
 * metadata and manifest are still written at close if the disk allows.
 */
#include "core/err.h"
#include "core/log.h"
#include "record/catalog.h"
#include "record/internal.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t to_units(int64_t us, unsigned clock)
{
    /* floor division, so negative times stay negative */
    int64_t v = us * (int64_t)clock;
    return v >= 0 ? v / 1000000 : -((-v + 999999) / 1000000);
}

/* Session time of a stream timestamp, microseconds. */
static int64_t rel_us(const struct rec_stream *st, int64_t ts)
{
    return st->first_arrival_us - st->s->origin_us +
           (ts - st->first_ts) * 1000000 / (int64_t)st->cfg.clock_rate;
}

/* File time of a stream timestamp in the stream's clock units. */
static int64_t file_pts(const struct rec_stream *st, int64_t ts)
{
    const struct rec_session *s = st->s;
    return to_units(st->first_arrival_us - s->origin_us - s->seg_origin_us, st->cfg.clock_rate) +
           (ts - st->first_ts);
}

/* Bounded string copy; truncates. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memmove(dst, src, n);
    dst[n] = 0;
}

static void session_fail(struct rec_session *s, int err, const char *what)
{
    if (s->error)
        return;
    s->error = err;
    copy_str(s->error_text, sizeof(s->error_text), what);
    se_err_log("record %s: recording stopped: %s", s->cfg.id, what);
    /* Seal at the last good fragment now, not when the call ends: the
     * writers are closed (cut back), the reserve gives room on a full
     * disk, and the catalog learns of the failure at once. */
    rec_session_seal(s, "failed");
}

static void add_file(struct rec_session *s, const char *name, const struct rec_file_info *fi)
{
    if (s->n_files >= REC_MAX_FILES || !name[0])
        return;
    struct rec_manifest_entry *e = &s->files[s->n_files++];
    copy_str(e->name, sizeof(e->name), name);
    memcpy(e->sha256, fi->sha256, 32);
    e->bytes = fi->bytes;
}

static void close_segment(struct rec_session *s)
{
    struct rec_segment *g;

    if (!s->w)
        return;
    g = &s->segs[s->n_segs - 1];
    int r1 = rec_writer_close(s->w, &g->info);
    int r2 = rec_writer_close(s->flv, &g->flv_info);
    s->w = s->flv = NULL;
    add_file(s, g->file, &g->info);
    if (g->flv[0])
        add_file(s, g->flv, &g->flv_info);
    if (r1 < 0 || r2 < 0) {
        char t[200];
        snprintf(t, sizeof(t), "cannot write %s: %s", r1 < 0 ? g->file : g->flv,
                 strerror(r1 < 0 ? g->info.error : g->flv_info.error));
        session_fail(s, SE_ERR_IO, t);
    }
}

static void write_audio(struct rec_session *s, struct rec_stream *st, const uint8_t *data,
                        size_t len, int64_t ts, int duration);

/* Open segment n_segs at session time origin; au is the IDR, or NULL. */
static int open_segment(struct rec_session *s, const struct h264_au *au, int64_t origin)
{
    struct rec_writer_cfg wc = {.fmt = s->video_idx < 0 ? REC_FMT_OGG : s->cfg.fmt,
                                .journal = s->journal,
                                .wall_start_us = s->origin_us + origin,
                                .audio = s->audio_idx >= 0,
                                .frag_us = s->cfg.frag_us,
                                .fsync_us = s->cfg.fsync_us};
    uint8_t avcc[H264_AVCC_MAX];
    char path[1024];
    int r;

    if (s->n_segs == REC_MAX_SEGMENTS) {
        session_fail(s, SE_ERR_LIMIT, "too many segments (parameter set changes)");
        return SE_ERR_LIMIT;
    }
    if (wc.fmt == REC_FMT_OGG && au)
        wc.fmt = REC_FMT_MP4;
    if (wc.audio)
        wc.channels = s->st[s->audio_idx].cfg.channels;
    if (au) {
        r = h264_avcc_build(au->sps, au->sps_len, au->pps, au->pps_len, avcc, sizeof(avcc));
        if (r < 0)
            return r;
        wc.avcc = avcc;
        wc.avcc_len = (size_t)r;
        wc.width = au->info->width;
        wc.height = au->info->height;
    }
    struct rec_segment *g = &s->segs[s->n_segs];
    memset(g, 0, sizeof(*g));
    snprintf(g->file, sizeof(g->file), "segment-%03d.%s", s->n_segs, rec_fmt_ext(wc.fmt));
    snprintf(path, sizeof(path), "%s/%s", s->cfg.dir, g->file);
    r = rec_writer_open(&s->w, path, &wc);
    if (r < 0) {
        session_fail(s, r, "cannot create a segment file");
        return r;
    }
    /* The new name must survive power loss as its journaled bytes do. */
    if (rec_fsync_dir(s->cfg.dir) < 0)
        se_warn("record %s: cannot fsync %s", s->cfg.id, s->cfg.dir);
    if (au && s->cfg.flv) {
        struct rec_writer_cfg fc = wc;
        fc.fmt = REC_FMT_FLV;
        fc.audio = false;
        snprintf(g->flv, sizeof(g->flv), "segment-%03d.flv", s->n_segs);
        snprintf(path, sizeof(path), "%s/%s", s->cfg.dir, g->flv);
        if (rec_writer_open(&s->flv, path, &fc) < 0)
            g->flv[0] = 0; /* the MP4 is what counts; logged by the writer */
    }
    s->n_segs++;
    g->fmt = wc.fmt;
    g->video = au != NULL;
    g->audio = wc.audio;
    g->start_us = g->end_us = origin;
    g->width = wc.width;
    g->height = wc.height;
    s->seg_origin_us = origin;
    s->seg_sps_len = s->seg_pps_len = 0;
    if (au) {
        memcpy(s->seg_sps, au->sps, au->sps_len);
        memcpy(s->seg_pps, au->pps, au->pps_len);
        s->seg_sps_len = au->sps_len;
        s->seg_pps_len = au->pps_len;
        se_info("record %s: %s %ux%u", s->cfg.id, g->file, wc.width, wc.height);
    }
    /* Audio that waited for this segment goes in first. */
    for (int i = 0; i < s->n_hold; i++) {
        struct rec_held *h = &s->hold[i];
        if (!s->error)
            write_audio(s, &s->st[s->audio_idx], h->data, h->len, h->ts, h->duration);
        free(h->data);
    }
    s->n_hold = 0;
    return 0;
}

static void note_end(struct rec_session *s, int64_t end_rel)
{
    struct rec_segment *g = &s->segs[s->n_segs - 1];
    if (end_rel > g->end_us)
        g->end_us = end_rel;
}

static void write_audio(struct rec_session *s, struct rec_stream *st, const uint8_t *data,
                        size_t len, int64_t ts, int duration)
{
    int64_t pts = file_pts(st, ts);

    if (pts < 0) {
        st->cut++;
        return;
    }
    int r = rec_writer_audio(s->w, data, len, pts, duration);
    if (r == SE_ERR_IO) {
        close_segment(s);
        session_fail(s, SE_ERR_IO, "write failed (disk full?)");
    } else if (r < 0) {
        st->rejected++;
    } else {
        st->written++;
        note_end(s, rel_us(st, ts + duration));
    }
}

static void hold_audio(struct rec_session *s, const struct opus_frame *f)
{
    struct rec_held *h = &s->hold[s->n_hold];
    h->data = malloc(f->len);
    if (!h->data)
        return;
    memcpy(h->data, f->data, f->len);
    h->len = f->len;
    h->ts = f->ts;
    h->duration = f->duration;
    h->rel_us = rel_us(&s->st[s->audio_idx], f->ts);
    s->n_hold++;
}

static void on_opus(void *arg, const struct opus_frame *f)
{
    struct rec_stream *st = arg;
    struct rec_session *s = st->s;

    if (s->error || st->idx != s->audio_idx)
        return;
    if (!s->w) {
        if (s->video_idx >= 0 && s->n_hold < REC_AUDIO_HOLD) {
            hold_audio(s, f); /* wait (bounded) for the first IDR */
            return;
        }
        int64_t origin = s->n_hold ? s->hold[0].rel_us : rel_us(st, f->ts);
        if (open_segment(s, NULL, origin) < 0 || s->error)
            return;
    }
    write_audio(s, st, f->data, f->len, f->ts, f->duration);
}

static bool same_ps(const struct rec_session *s, const struct h264_au *au)
{
    return s->seg_sps_len == au->sps_len && s->seg_pps_len == au->pps_len &&
           !memcmp(s->seg_sps, au->sps, au->sps_len) && !memcmp(s->seg_pps, au->pps, au->pps_len);
}

static void on_au(void *arg, const struct h264_au *au)
{
    struct rec_stream *st = arg;
    struct rec_session *s = st->s;
    int64_t t = rel_us(st, au->ts);

    if (s->error || st->idx != s->video_idx)
        return;
    if (!s->w || !s->segs[s->n_segs - 1].video || !same_ps(s, au)) {
        if (!au->key) {
            st->cut++;
            return;
        }
        int64_t origin = t;
        if (s->w)
            close_segment(s);
        else if (s->n_hold && s->hold[0].rel_us < t)
            origin = s->hold[0].rel_us;
        if (s->error || open_segment(s, au, origin) < 0 || s->error)
            return;
    }
    int r = rec_writer_video(s->w, au->data, au->len, file_pts(st, au->ts), au->key);
    if (r == SE_ERR_IO) {
        close_segment(s);
        session_fail(s, SE_ERR_IO, "write failed (disk full?)");
        return;
    }
    if (r < 0) {
        st->rejected++;
        return;
    }
    st->written++;
    note_end(s, t + 33333); /* refined by the next frame; one frame at 30 fps */
    if (s->flv &&
        rec_writer_video(s->flv, au->data, au->len, file_pts(st, au->ts), au->key) == SE_ERR_IO) {
        struct rec_segment *g = &s->segs[s->n_segs - 1];
        rec_writer_close(s->flv, &g->flv_info);
        s->flv = NULL;
        add_file(s, g->flv, &g->flv_info);
    }
}

static void on_kf(void *arg)
{
    struct rec_stream *st = arg;
    if (st->s->cfg.kf)
        st->s->cfg.kf(st->s->cfg.kf_arg, st->idx);
}

static void on_rtp(void *arg, const struct rtp_pkt *p)
{
    struct rec_stream *st = arg;

    if (!st->have_first) {
        st->have_first = true;
        st->first_ts = p->ts;
        st->first_arrival_us = p->arrival_us;
        st->max_ts = p->ts;
    }
    st->ssrc = p->ssrc;
    if (p->ts > st->max_ts)
        st->max_ts = p->ts;
    if (st->h264)
        h264_depack_push(st->h264, p);
    else
        opus_depack_push(st->opus, p);
}

/* Create dir (an existing empty one is taken) and make the entry durable. */
static int make_dir(const char *dir)
{
    char parent[600];
    const char *slash = strrchr(dir, '/');

    if (mkdir(dir, 0750) != 0) {
        if (errno != EEXIST)
            return SE_ERR_IO;
        if (rmdir(dir) != 0 || mkdir(dir, 0750) != 0)
            return SE_ERR_EXISTS;
    }
    snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - dir) : 1,
             slash ? (slash == dir ? "/" : dir) : ".");
    return rec_fsync_dir(parent);
}

static int stream_init(struct rec_session *s, int i)
{
    struct rec_stream *st = &s->st[i];
    const struct rec_stream_cfg *c = &s->cfg.streams[i];
    struct rtp_in_cfg ic = {.pt = c->pt,
                            .rtx_pt = c->rtx_pt,
                            .n_alt_pt = c->n_alt_pt < RTP_ALT_PT_MAX ? c->n_alt_pt : RTP_ALT_PT_MAX,
                            .n_alt_rtx =
                                c->n_alt_rtx < RTP_ALT_PT_MAX ? c->n_alt_rtx : RTP_ALT_PT_MAX,
                            .clock_rate = c->clock_rate,
                            .window = s->cfg.reorder_window,
                            .max_delay_us = s->cfg.reorder_delay_us,
                            .label = st->cfg.label};

    st->s = s;
    st->idx = i;
    st->cfg = *c;
    memcpy(ic.alt_pt, c->alt_pt, (size_t)ic.n_alt_pt);
    memcpy(ic.alt_rtx, c->alt_rtx, (size_t)ic.n_alt_rtx);
    if (!c->clock_rate || c->pt < 0 || c->pt > 127)
        return SE_ERR_INVAL;
    ic.label = st->cfg.label;
    st->in = rtp_in_new(&ic, on_rtp, st);
    if (!st->in)
        return SE_ERR_NOMEM;
    if (c->media == REC_VIDEO) {
        st->h264 = h264_depack_new(on_au, on_kf, st);
        if (!st->h264)
            return SE_ERR_NOMEM;
        if (c->sprop[0] && h264_depack_sprop(st->h264, c->sprop) < 0)
            se_warn("record %s: %s: unusable sprop-parameter-sets", s->cfg.id, c->label);
        if (s->video_idx < 0)
            s->video_idx = i;
    } else {
        st->opus = opus_depack_new(on_opus, st);
        if (!st->opus)
            return SE_ERR_NOMEM;
        if (s->audio_idx < 0)
            s->audio_idx = i;
    }
    return 0;
}

static void session_free(struct rec_session *s)
{
    for (int i = 0; i < s->n; i++) {
        rtp_in_free(s->st[i].in);
        h264_depack_free(s->st[i].h264);
        opus_depack_free(s->st[i].opus);
    }
    for (int i = 0; i < s->n_hold; i++)
        free(s->hold[i].data);
    OPENSSL_cleanse(s->key, sizeof(s->key));
    rec_journal_close(s->journal);
    free(s);
}

int rec_session_open(struct rec_session **out, const struct rec_session_cfg *cfg)
{
    struct rec_session *s;
    int rc;

    *out = NULL;
    if (cfg->n_streams < 1 || cfg->n_streams > REC_MAX_STREAMS || !cfg->dir[0] ||
        cfg->key_len > REC_KEY_MAX)
        return SE_ERR_INVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return SE_ERR_NOMEM;
    s->cfg = *cfg;
    if (cfg->key_len)
        memcpy(s->key, cfg->key, cfg->key_len);
    s->cfg.key = NULL;
    if (!s->cfg.id[0]) {
        const char *slash = strrchr(cfg->dir, '/');
        copy_str(s->cfg.id, sizeof(s->cfg.id), slash && slash[1] ? slash + 1 : cfg->dir);
    }
    s->video_idx = s->audio_idx = -1;
    for (s->n = 0; s->n < cfg->n_streams; s->n++)
        if ((rc = stream_init(s, s->n)) < 0) {
            s->n++;
            goto fail;
        }
    rc = make_dir(cfg->dir);
    if (rc < 0) {
        se_err_log("record: cannot create %s: %s", cfg->dir,
                   rc == SE_ERR_EXISTS ? "exists and is not empty" : strerror(errno));
        goto fail;
    }
    if ((rc = rec_journal_create(&s->journal, cfg->dir, s->cfg.id)) < 0 ||
        (rc = rec_reserve_create(cfg->dir)) < 0) {
        se_err_log("record: cannot start the recording in %s (disk full?)", cfg->dir);
        goto fail;
    }
    struct rec_manifest_entry me;
    if (rec_meta_write(s, "recording", 0, &me) < 0) {
        rc = SE_ERR_IO;
        se_err_log("record: cannot write %s/metadata.json", cfg->dir);
        goto fail;
    }
    if (s->cfg.catalog)
        rec_catalog_post_start(s->cfg.catalog, &s->cfg, wall_us());
    *out = s;
    return 0;
fail:
    session_free(s);
    return rc;
}

void rec_session_rtp(struct rec_session *s, int stream, const uint8_t *buf, size_t len,
                     int64_t now_us)
{
    if (stream < 0 || stream >= s->n)
        return;
    if (!s->have_origin) {
        s->have_origin = true;
        s->origin_us = now_us;
    }
    if (now_us > s->end_us)
        s->end_us = now_us;
    s->st[stream].last_arrival_us = now_us;
    rtp_in_push(s->st[stream].in, buf, len, now_us);
}

void rec_session_tick(struct rec_session *s, int64_t now_us)
{
    for (int i = 0; i < s->n; i++)
        rtp_in_tick(s->st[i].in, now_us);
}

void rec_session_count_overflow(struct rec_session *s, int stream, uint64_t n)
{
    if (stream >= 0 && stream < s->n)
        s->st[stream].overflow += n;
}

int rec_session_error(const struct rec_session *s)
{
    return s->error;
}

const char *rec_session_dir(const struct rec_session *s)
{
    return s->cfg.dir;
}

int rec_session_close(struct rec_session *s, int64_t now_us)
{
    int rc;

    if (!s)
        return 0;
    for (int i = 0; i < s->n; i++) {
        rtp_in_flush(s->st[i].in, now_us);
        if (s->st[i].h264)
            h264_depack_flush(s->st[i].h264);
    }
    if (!s->w && !s->error && s->n_hold && s->audio_idx >= 0) {
        /* Video never became decodable: keep the audio that waited for it. */
        open_segment(s, NULL, s->hold[0].rel_us);
    }
    if (s->w && s->video_idx >= 0 && s->segs[s->n_segs - 1].video) {
        /* Frames lost at the end: the last one written lasts until the
         * last video timestamp seen plus one frame (30 fps assumed). */
        struct rec_stream *st = &s->st[s->video_idx];
        /* ... but not past what wall time backs: a far-future timestamp
         * in some garbage packet must not stretch the file. */
        if (rel_us(st, st->max_ts) <= st->last_arrival_us - s->origin_us + 1000000) {
            rec_writer_video_end(s->w, file_pts(st, st->max_ts) + REC_VIDEO_CLOCK / 30);
            note_end(s, rel_us(st, st->max_ts) + 33333);
        }
    }
    close_segment(s); /* a failure here seals the recording as failed */
    rc = rec_session_seal(s, "complete");
    if (s->error)
        rc = SE_ERR_IO;
    se_info("record %s: closed, %d segment(s)%s", s->cfg.id, s->n_segs,
            s->error ? ", with errors" : "");
    session_free(s);
    return rc;
}
