/*
 * session.c - one recording: streams -> depacketizers -> segment writers.
 *
 * Timeline: session time 0 is the arrival of the first packet of any
 * stream. A stream's packet with extended timestamp ts sits at
 *     (first arrival of the stream - origin) + (ts - first ts) / clock,
 * so each stream keeps its own RTP clock (no drift from arrival jitter)
 * and streams line up by when they started. A segment's file time 0 is
 * its lane's seg_origin in session time.
 *
 * Lanes: streams are grouped by party (rec_stream_cfg.party) into lanes of
 * at most one video and one audio stream; a party with more streams of a
 * kind (a screen share next to the camera) gets more lanes. Each lane
 * writes its own segments; segment numbers are shared by the session.
 *
 * Segments: a lane's first opens with its first decodable key frame
 * (audio that came before it is held, bounded, and written first), or
 * with audio if the lane has no video or the hold fills up. A key frame
 * whose codec configuration or size differs from the segment's (H.264
 * SPS/PPS, VP8/VP9 size, AV1 sequence header), or the first key frame
 * after an audio-only start, closes the segment and opens the next one.
 * The container follows the video codec (rec_fmt_for).
 *
 * Journal: every writer gets the session's journal (journal.h), so each
 * committed fragment of every lane and container (MP4, WebM, Ogg, FLV)
 * is journaled and a crashed recording can be sealed from it (seal.h).
 *
 * Failure: a writer error (disk full) or a limit sets the session error,
 * logs it once, closes every lane's files (each writer has cut its file
 * back to its last fragment), seals the recording as "failed" at once
 * (seal.c), then tells the producer (cfg.on_fail); from then on the
 * session only counts packets.
 */
#include "core/err.h"
#include "core/log.h"
#include "record/catalog.h"
#include "record/session_internal.h"

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

static struct rec_lane *lane_of(const struct rec_stream *st)
{
    return &st->s->lanes[st->lane];
}

/* File time of a stream timestamp in the stream's clock units. */
static int64_t file_pts(const struct rec_stream *st, int64_t ts)
{
    const struct rec_session *s = st->s;
    return to_units(st->first_arrival_us - s->origin_us - lane_of(st)->seg_origin_us,
                    st->cfg.clock_rate) +
           (ts - st->first_ts);
}

/* Bounded string copy; truncates. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memmove(dst, src, n);
    dst[n] = 0;
}

static void close_segment(struct rec_session *s, struct rec_lane *ln);

static void session_fail(struct rec_session *s, int err, const char *what)
{
    if (s->error)
        return;
    s->error = err;
    copy_str(s->error_text, sizeof(s->error_text), what);
    se_err_log("record %s: recording stopped: %s", s->cfg.id, what);
    /* Every lane stops (the disk is what failed, or the recording hit a
     * limit): close the open files now, cut back to their last fragment,
     * so that the seal lists them and no writer outlives the journal. */
    for (int l = 0; l < s->n_lanes; l++)
        close_segment(s, &s->lanes[l]);
    /* Seal at the last good fragment now, not when the call ends: the
     * reserve gives room on a full disk, and the catalog learns of the
     * failure at once. Then the producer hears of it (rec.h). */
    rec_session_seal(s, "failed");
    if (s->cfg.on_fail)
        s->cfg.on_fail(s->cfg.fail_arg, err, s->error_text);
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

static void close_segment(struct rec_session *s, struct rec_lane *ln)
{
    struct rec_segment *g;

    if (!ln->w)
        return;
    g = &s->segs[ln->seg];
    int r1 = rec_writer_close(ln->w, &g->info);
    int r2 = rec_writer_close(ln->flv, &g->flv_info);
    ln->w = ln->flv = NULL;
    ln->seg = -1;
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

/* A write error: every lane stops (the disk is what failed). */
static void write_failed(struct rec_session *s, struct rec_lane *ln)
{
    close_segment(s, ln);
    session_fail(s, SE_ERR_IO, "write failed (disk full?)");
}

static void write_audio(struct rec_session *s, struct rec_stream *st, const uint8_t *data,
                        size_t len, int64_t ts, int duration);

/* Remember the video configuration a segment is opened with. */
static void note_vconfig(struct rec_lane *ln, const struct rec_vframe *f)
{
    ln->vcodec = f->codec;
    ln->vwidth = f->width;
    ln->vheight = f->height;
    ln->vfmt = f->fmt;
    ln->vconfig_len = f->config_len <= sizeof(ln->vconfig) ? f->config_len : 0;
    if (ln->vconfig_len)
        memcpy(ln->vconfig, f->config, ln->vconfig_len);
}

/* Open the lane's next segment at session time origin; f is the key frame, or NULL. */
static int open_segment(struct rec_session *s, struct rec_lane *ln, const struct rec_vframe *f,
                        int64_t origin)
{
    struct rec_writer_cfg wc = {.fmt = ln->video_idx < 0 ? REC_FMT_OGG : s->cfg.fmt,
                                .journal = s->journal,
                                .wall_start_us = s->origin_us + origin,
                                .audio = ln->audio_idx >= 0,
                                .frag_us = s->cfg.frag_us,
                                .fsync_us = s->cfg.fsync_us};
    char path[1024];
    int r;

    if (s->n_segs == REC_MAX_SEGMENTS) {
        session_fail(s, SE_ERR_LIMIT, "too many segments (parameter set changes)");
        return SE_ERR_LIMIT;
    }
    if (f && f->config_len > REC_VCONFIG_MAX)
        return SE_ERR_TOOBIG;
    if (wc.audio)
        wc.channels = s->st[ln->audio_idx].cfg.channels;
    if (f) {
        wc.fmt = rec_fmt_for(f->codec, s->cfg.fmt == REC_FMT_OGG ? REC_FMT_MP4 : s->cfg.fmt);
        wc.vcodec = f->codec;
        wc.avcc = f->config;
        wc.avcc_len = f->config_len;
        wc.width = f->width;
        wc.height = f->height;
        wc.vfmt = f->fmt;
    }
    struct rec_segment *g = &s->segs[s->n_segs];
    memset(g, 0, sizeof(*g));
    snprintf(g->file, sizeof(g->file), "segment-%03d.%s", s->n_segs, rec_fmt_ext(wc.fmt));
    snprintf(path, sizeof(path), "%s/%s", s->cfg.dir, g->file);
    r = rec_writer_open(&ln->w, path, &wc);
    if (r < 0) {
        session_fail(s, r, "cannot create a segment file");
        return r;
    }
    /* The new name must survive power loss as its journaled bytes do. */
    if (rec_fsync_dir(s->cfg.dir) < 0)
        se_warn("record %s: cannot fsync %s", s->cfg.id, s->cfg.dir);
    if (f && f->codec == REC_VC_H264 && s->cfg.flv) {
        struct rec_writer_cfg fc = wc;
        fc.fmt = REC_FMT_FLV;
        fc.audio = false;
        snprintf(g->flv, sizeof(g->flv), "segment-%03d.flv", s->n_segs);
        snprintf(path, sizeof(path), "%s/%s", s->cfg.dir, g->flv);
        if (rec_writer_open(&ln->flv, path, &fc) < 0)
            g->flv[0] = 0; /* the MP4 is what counts; logged by the writer */
    }
    ln->seg = s->n_segs++;
    g->fmt = wc.fmt;
    g->lane = (int)(ln - s->lanes);
    g->video = f != NULL;
    g->vcodec = wc.vcodec;
    g->audio = wc.audio;
    g->start_us = g->end_us = origin;
    g->width = wc.width;
    g->height = wc.height;
    ln->seg_origin_us = origin;
    ln->vconfig_len = 0;
    if (f) {
        note_vconfig(ln, f);
        se_info("record %s: %s %s %ux%u", s->cfg.id, g->file, rec_vcodec_name(f->codec), wc.width,
                wc.height);
    }
    /* metadata.json names the new file's party and codec now: a seal
     * after a crash knows only what the journal and this file say. */
    struct rec_manifest_entry me;
    if (rec_meta_write(s, "recording", 0, &me) < 0)
        se_warn("record %s: cannot update metadata.json", s->cfg.id);
    /* Audio that waited for this segment goes in first. */
    for (int i = 0; i < ln->n_hold; i++) {
        struct rec_held *h = &ln->hold[i];
        if (!s->error)
            write_audio(s, &s->st[ln->audio_idx], h->data, h->len, h->ts, h->duration);
        free(h->data);
    }
    ln->n_hold = 0;
    return 0;
}

static void note_end(struct rec_session *s, struct rec_lane *ln, int64_t end_rel)
{
    struct rec_segment *g = &s->segs[ln->seg];
    if (end_rel > g->end_us)
        g->end_us = end_rel;
}

static void write_audio(struct rec_session *s, struct rec_stream *st, const uint8_t *data,
                        size_t len, int64_t ts, int duration)
{
    struct rec_lane *ln = lane_of(st);
    int64_t pts = file_pts(st, ts);

    if (pts < 0) {
        st->cut++;
        return;
    }
    int r = rec_writer_audio(ln->w, data, len, pts, duration);
    if (r == SE_ERR_IO) {
        write_failed(s, ln);
    } else if (r < 0) {
        st->rejected++;
    } else {
        st->written++;
        note_end(s, ln, rel_us(st, ts + duration));
    }
}

static void hold_audio(struct rec_stream *st, const struct opus_frame *f)
{
    struct rec_lane *ln = lane_of(st);
    struct rec_held *h = &ln->hold[ln->n_hold];
    h->data = malloc(f->len);
    if (!h->data)
        return;
    memcpy(h->data, f->data, f->len);
    h->len = f->len;
    h->ts = f->ts;
    h->duration = f->duration;
    h->rel_us = rel_us(st, f->ts);
    ln->n_hold++;
}

static void on_opus(void *arg, const struct opus_frame *f)
{
    struct rec_stream *st = arg;
    struct rec_session *s = st->s;
    struct rec_lane *ln;

    if (s->error || st->lane < 0 || lane_of(st)->audio_idx != st->idx)
        return;
    ln = lane_of(st);
    if (!ln->w) {
        if (ln->video_idx >= 0 && ln->n_hold < REC_AUDIO_HOLD) {
            hold_audio(st, f); /* wait (bounded) for the first key frame */
            return;
        }
        int64_t origin = ln->n_hold ? ln->hold[0].rel_us : rel_us(st, f->ts);
        if (open_segment(s, ln, NULL, origin) < 0 || s->error)
            return;
    }
    write_audio(s, st, f->data, f->len, f->ts, f->duration);
}

/* Does key frame f continue the lane's open video segment? */
static bool same_vconfig(const struct rec_lane *ln, const struct rec_vframe *f)
{
    return ln->vcodec == f->codec && ln->vwidth == f->width && ln->vheight == f->height &&
           ln->vconfig_len == f->config_len && !memcmp(&ln->vfmt, &f->fmt, sizeof(f->fmt)) &&
           (!f->config_len || !memcmp(ln->vconfig, f->config, f->config_len));
}

static void on_frame(void *arg, const struct rec_vframe *f)
{
    struct rec_stream *st = arg;
    struct rec_session *s = st->s;
    int64_t t = rel_us(st, f->ts);
    struct rec_lane *ln;

    if (s->error || st->lane < 0 || lane_of(st)->video_idx != st->idx)
        return;
    ln = lane_of(st);
    if (!ln->w || !s->segs[ln->seg].video || (f->key && !same_vconfig(ln, f))) {
        if (!f->key) {
            st->cut++;
            return;
        }
        int64_t origin = t;
        if (ln->w)
            close_segment(s, ln);
        else if (ln->n_hold && ln->hold[0].rel_us < t)
            origin = ln->hold[0].rel_us;
        if (s->error || open_segment(s, ln, f, origin) < 0 || s->error)
            return;
    }
    int r = rec_writer_video(ln->w, f->data, f->len, file_pts(st, f->ts), f->key);
    if (r == SE_ERR_IO) {
        write_failed(s, ln);
        return;
    }
    if (r < 0) {
        st->rejected++;
        return;
    }
    st->written++;
    note_end(s, ln, t + 33333); /* refined by the next frame; one frame at 30 fps */
    if (ln->flv &&
        rec_writer_video(ln->flv, f->data, f->len, file_pts(st, f->ts), f->key) == SE_ERR_IO) {
        struct rec_segment *g = &s->segs[ln->seg];
        rec_writer_close(ln->flv, &g->flv_info);
        ln->flv = NULL;
        add_file(s, g->flv, &g->flv_info);
    }
}

static void on_kf(void *arg)
{
    struct rec_stream *st = arg;
    if (st->s->cfg.kf)
        st->s->cfg.kf(st->s->cfg.kf_arg, st->idx);
}

static enum rec_codec stream_codec(const struct rec_stream_cfg *c);

static enum rec_vcodec vcodec_of(enum rec_codec c)
{
    return c == REC_CODEC_VP8   ? REC_VC_VP8
           : c == REC_CODEC_VP9 ? REC_VC_VP9
           : c == REC_CODEC_AV1 ? REC_VC_AV1
                                : REC_VC_H264;
}

/* The codec payload type pt stands for on stream st. */
static enum rec_codec codec_of_pt(const struct rec_stream *st, uint8_t pt)
{
    for (int i = 0; i < st->cfg.n_alt_pt; i++)
        if (st->cfg.alt_pt[i] == pt && st->cfg.alt_codec[i] != REC_CODEC_AUTO)
            return st->cfg.alt_codec[i];
    return stream_codec(&st->cfg);
}

void rec_stream_vstats(const struct rec_stream *st, struct rec_vstats *out)
{
    rec_video_stats(st->video, out);
    const struct rec_vstats *d = &st->vstats_done;
    out->frames += d->frames;
    out->dropped += d->dropped;
    out->damaged += d->damaged;
    out->malformed += d->malformed;
    out->bad_config += d->bad_config;
    out->kf_requests += d->kf_requests;
    out->keyframes += d->keyframes;
    out->layers_skipped += d->layers_skipped;
}

/*
 * The sender switched to another codec of the m-line (its payload type
 * says so): finish the old depacketizer and start one for the new codec.
 * Its first key frame opens a new segment (a configuration change).
 */
static void switch_codec(struct rec_stream *st, enum rec_vcodec c)
{
    struct rec_video *v = rec_video_new(c, on_frame, on_kf, st);

    if (!v)
        return; /* no memory: the old one refuses what it cannot parse */
    rec_video_flush(st->video);
    rec_stream_vstats(st, &st->vstats_done);
    rec_video_free(st->video);
    st->video = v;
    st->codec_switches++;
    se_info("record %s: %s: the sender switched to %s", st->s->cfg.id, st->cfg.label,
            rec_vcodec_name(c));
}

static void on_rtp(void *arg, const struct rtp_pkt *p)
{
    struct rec_stream *st = arg;

    if (!st->have_first) {
        st->have_first = true;
        st->first_ts = p->ts;
        st->first_ts32 = (uint32_t)p->ts;
        st->first_arrival_us = p->arrival_us;
        st->max_ts = p->ts;
    }
    st->ssrc = p->ssrc;
    if (p->ts > st->max_ts)
        st->max_ts = p->ts;
    if (st->video) {
        enum rec_codec c = codec_of_pt(st, p->pt);
        if (c >= REC_CODEC_H264 && c <= REC_CODEC_AV1 && vcodec_of(c) != rec_video_codec(st->video))
            switch_codec(st, vcodec_of(c));
        rec_video_push(st->video, p);
    } else if (st->opus)
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

/* The codec a configured stream is recorded with. */
static enum rec_codec stream_codec(const struct rec_stream_cfg *c)
{
    if (c->codec != REC_CODEC_AUTO)
        return c->codec;
    return c->media == REC_VIDEO ? REC_CODEC_H264 : REC_CODEC_OPUS;
}

const char *rec_stream_codec_name(const struct rec_stream *st)
{
    switch (stream_codec(&st->cfg)) {
    case REC_CODEC_H264:
        return "H264";
    case REC_CODEC_VP8:
        return "VP8";
    case REC_CODEC_VP9:
        return "VP9";
    case REC_CODEC_AV1:
        return "AV1";
    case REC_CODEC_OPUS:
        return "opus";
    default:
        return st->cfg.codec_name[0] ? st->cfg.codec_name : "unknown";
    }
}

/* Put stream i in the first lane of its party with room for its kind. */
static void assign_lane(struct rec_session *s, struct rec_stream *st)
{
    bool video = st->cfg.media == REC_VIDEO;

    for (int l = 0; l < s->n_lanes; l++) {
        struct rec_lane *ln = &s->lanes[l];
        if (strcmp(ln->party, st->cfg.party) != 0 || (video ? ln->video_idx : ln->audio_idx) >= 0)
            continue;
        *(video ? &ln->video_idx : &ln->audio_idx) = st->idx;
        st->lane = l;
        return;
    }
    struct rec_lane *ln = &s->lanes[s->n_lanes];
    copy_str(ln->party, sizeof(ln->party), st->cfg.party);
    ln->video_idx = video ? st->idx : -1;
    ln->audio_idx = video ? -1 : st->idx;
    ln->seg = -1;
    st->lane = s->n_lanes++;
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
                            .red = c->red,
                            .clock_rate = c->clock_rate,
                            .window = s->cfg.reorder_window,
                            .max_delay_us = s->cfg.reorder_delay_us,
                            .label = st->cfg.label};
    enum rec_codec codec = stream_codec(c);

    st->s = s;
    st->idx = i;
    st->lane = -1;
    st->cfg = *c;
    memcpy(ic.alt_pt, c->alt_pt, (size_t)ic.n_alt_pt);
    memcpy(ic.alt_rtx, c->alt_rtx, (size_t)ic.n_alt_rtx);
    memcpy(ic.alt_rtx_for, c->alt_rtx_for, (size_t)ic.n_alt_rtx);
    bool video_codec = codec >= REC_CODEC_H264 && codec <= REC_CODEC_AV1;
    if (!c->clock_rate || c->pt < 0 || c->pt > 127 || (unsigned)codec > REC_CODEC_UNKNOWN ||
        (codec != REC_CODEC_UNKNOWN && (c->media == REC_VIDEO) != video_codec))
        return SE_ERR_INVAL;
    ic.label = st->cfg.label;
    st->in = rtp_in_new(&ic, on_rtp, st);
    if (!st->in)
        return SE_ERR_NOMEM;
    if (codec == REC_CODEC_UNKNOWN) {
        se_warn("record %s: %s: codec %s is not recorded", s->cfg.id, c->label,
                rec_stream_codec_name(st));
        return 0;
    }
    if (c->media == REC_VIDEO) {
        st->video = rec_video_new(vcodec_of(codec), on_frame, on_kf, st);
        if (!st->video)
            return SE_ERR_NOMEM;
        if (codec == REC_CODEC_H264 && c->sprop[0] && rec_video_sprop(st->video, c->sprop) < 0)
            se_warn("record %s: %s: unusable sprop-parameter-sets", s->cfg.id, c->label);
    } else {
        st->opus = opus_depack_new(on_opus, st);
        if (!st->opus)
            return SE_ERR_NOMEM;
    }
    assign_lane(s, st);
    return 0;
}

static void session_free(struct rec_session *s)
{
    for (int i = 0; i < s->n; i++) {
        rtp_in_free(s->st[i].in);
        rec_video_free(s->st[i].video);
        opus_depack_free(s->st[i].opus);
    }
    for (int l = 0; l < s->n_lanes; l++)
        for (int i = 0; i < s->lanes[l].n_hold; i++)
            free(s->lanes[l].hold[i].data);
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
        cfg->key_len > REC_KEY_MAX || cfg->n_parties < 0 || cfg->n_parties > REC_MAX_PARTIES)
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

/* One sender report: remembered by SSRC (first and last). */
static void on_sr(void *arg, const struct rtcp_sr *sr)
{
    struct rec_session *s = arg;
    int64_t now = s->rtcp_now_us;
    struct rec_sr_entry *e = NULL;

    for (int i = 0; i < s->n_sr && !e; i++)
        if (s->sr[i].ssrc == sr->ssrc)
            e = &s->sr[i];
    if (!e) {
        if (s->n_sr == REC_MAX_SR_SSRC) {
            s->sr_unmatched++;
            return;
        }
        e = &s->sr[s->n_sr++];
        memset(e, 0, sizeof(*e));
        e->ssrc = sr->ssrc;
        e->first = *sr;
        e->first_at_us = now;
    }
    e->count++;
    e->last = *sr;
    e->last_at_us = now;
}

void rec_session_rtp(struct rec_session *s, int stream, const uint8_t *buf, size_t len,
                     int64_t now_us)
{
    if (stream < 0 || stream >= s->n)
        return;
    if (rtcp_is(buf, len)) { /* not media: the recording's times stay the RTP's */
        s->rtcp_packets++;
        s->rtcp_now_us = now_us;
        if (rtcp_sender_reports(buf, len, on_sr, s) < 0)
            s->rtcp_malformed++;
        return;
    }
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

/* End a lane's files: keep held audio, stretch the last video frame. */
static void finish_lane(struct rec_session *s, struct rec_lane *ln)
{
    if (!ln->w && !s->error && ln->n_hold && ln->audio_idx >= 0) {
        /* Video never became decodable: keep the audio that waited for it. */
        open_segment(s, ln, NULL, ln->hold[0].rel_us);
    }
    if (ln->w && ln->video_idx >= 0 && s->segs[ln->seg].video) {
        /* Frames lost at the end: the last one written lasts until the
         * last video timestamp seen plus one frame (30 fps assumed). */
        struct rec_stream *st = &s->st[ln->video_idx];
        /* ... but not past what wall time backs: a far-future timestamp
         * in some garbage packet must not stretch the file. */
        if (rel_us(st, st->max_ts) <= st->last_arrival_us - s->origin_us + 1000000) {
            rec_writer_video_end(ln->w, file_pts(st, st->max_ts) + REC_VIDEO_CLOCK / 30);
            note_end(s, ln, rel_us(st, st->max_ts) + 33333);
        }
    }
    close_segment(s, ln);
}

int rec_session_close(struct rec_session *s, int64_t now_us)
{
    int rc;

    if (!s)
        return 0;
    for (int i = 0; i < s->n; i++) {
        rtp_in_flush(s->st[i].in, now_us);
        if (s->st[i].video)
            rec_video_flush(s->st[i].video);
    }
    for (int l = 0; l < s->n_lanes; l++)
        finish_lane(s, &s->lanes[l]); /* a failure here seals the recording as failed */
    rc = rec_session_seal(s, "complete");
    if (s->error)
        rc = SE_ERR_IO;
    se_info("record %s: closed, %d segment(s)%s", s->cfg.id, s->n_segs,
            s->error ? ", with errors" : "");
    session_free(s);
    return rc;
}
