/*
 * writer.c - container output through libavformat with sedge's own I/O.
 *
 * Design: the AVIOContext has a write callback and no seek callback, so
 * every muxer runs in streaming mode (fragmented MP4 with an empty moov,
 * WebM clusters in a segment of unknown size, without cues; Ogg pages,
 * FLV tags without the header rewrite) and the bytes arrive
 * exactly once, in file order. They collect in `pend`; commit() writes
 * pend to the file with as few write(2) calls as the kernel allows,
 * feeds the SHA-256 only once a whole batch is on disk, and cuts the file
 * back (ftruncate) if a batch fails half-way. Commits happen after the
 * header, after each fragment (every frag_us of media time; a flush
 * closes the MP4 fragment or the WebM cluster) and at close.
 *
 * Video is held back by one access unit, so every sample gets its real
 * duration (the next timestamp minus its own); the last one repeats the
 * previous duration. FFmpeg's log is left to its own settings.
 */
#include "record/writer.h"
#include "core/err.h"
#include "core/log.h"
#include "record/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    REC_AVIO_BUF = 64 * 1024,
    REC_PEND_MAX = 256 << 20, /* one fragment larger than this is an error */
    REC_MAX_GAP_S = 3600,     /* longest pause kept between two samples of a track */
    OPUS_HEAD_LEN = 19,       /* RFC 7845 §5.1 */
};

struct rec_writer {
    struct rec_writer_cfg cfg;
    char *path;
    const char *name; /* the file name part of path */
    int fd;
    AVFormatContext *oc;
    AVIOContext *pb;
    int vidx, aidx; /* stream indexes, -1 if absent */
    uint8_t *pend;
    size_t pend_len, pend_cap;
    bool pend_overflow;
    EVP_MD_CTX *sha;
    uint64_t committed;
    int error;
    int64_t last_fsync_ns;
    /* held-back video access unit */
    AVPacket *vheld;
    int64_t v_last_dur, v_last_pts;
    bool v_any;
    int64_t a_last_end;
    bool a_any;
    int64_t v_shift, a_shift; /* subtracted after a clamped leap */
    int64_t a_first;          /* first audio pts written */
    int64_t frag_start_us, media_us;
    struct rec_file_info info;
};

const char *rec_fmt_ext(enum rec_fmt f)
{
    return f == REC_FMT_OGG ? "ogg" : f == REC_FMT_FLV ? "flv" : f == REC_FMT_WEBM ? "webm" : "mp4";
}

enum rec_fmt rec_fmt_for(enum rec_vcodec c, enum rec_fmt pref)
{
    if (c == REC_VC_VP8)
        return REC_FMT_WEBM;
    if (c == REC_VC_H264)
        return pref == REC_FMT_FLV ? REC_FMT_FLV : REC_FMT_MP4;
    return pref == REC_FMT_WEBM ? REC_FMT_WEBM : REC_FMT_MP4;
}

static bool has_video(const struct rec_writer_cfg *c)
{
    return c->vcodec != REC_VC_H264 || c->avcc_len > 0;
}

/* VP9's pixel format, for the vpcC box (FFmpeg's ff_isom_write_vpcc). */
static enum AVPixelFormat vp9_pix_fmt(const struct rec_vformat *f)
{
    static const enum AVPixelFormat fmts[3][4] = {
        {AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV422P, AV_PIX_FMT_YUV440P, AV_PIX_FMT_YUV444P},
        {AV_PIX_FMT_YUV420P10, AV_PIX_FMT_YUV422P10, AV_PIX_FMT_YUV440P10, AV_PIX_FMT_YUV444P10},
        {AV_PIX_FMT_YUV420P12, AV_PIX_FMT_YUV422P12, AV_PIX_FMT_YUV440P12, AV_PIX_FMT_YUV444P12},
    };
    int d = f->bit_depth == 12 ? 2 : f->bit_depth == 10 ? 1 : 0;
    return fmts[d][f->subsampling & 3];
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int avio_write_cb(void *opaque, uint8_t *buf, int n)
{
    struct rec_writer *w = opaque;

    if (n <= 0)
        return 0;
    if (w->pend_len + (size_t)n > w->pend_cap) {
        size_t cap = w->pend_cap ? w->pend_cap : REC_AVIO_BUF * 4;
        while (cap < w->pend_len + (size_t)n)
            cap *= 2;
        uint8_t *nb = cap <= REC_PEND_MAX ? realloc(w->pend, cap) : NULL;
        if (!nb) {
            w->pend_overflow = true;
            return AVERROR(ENOMEM);
        }
        w->pend = nb;
        w->pend_cap = cap;
    }
    memcpy(w->pend + w->pend_len, buf, (size_t)n);
    w->pend_len += (size_t)n;
    return n;
}

static void fail(struct rec_writer *w, int err, const char *what)
{
    if (w->error)
        return;
    w->error = err ? err : EIO;
    se_err_log("record: %s %s: %s; file kept up to byte %llu", what, w->path, strerror(w->error),
               (unsigned long long)w->committed);
}

/* Write what the muxer produced so far; see the file head. */
static int commit(struct rec_writer *w, bool force_sync)
{
    size_t off = 0;

    if (w->error)
        return SE_ERR_IO;
    avio_flush(w->pb);
    if (w->pend_overflow) {
        fail(w, ENOMEM, "fragment too large for");
        return SE_ERR_IO;
    }
    while (off < w->pend_len) {
        ssize_t r = write(w->fd, w->pend + off, w->pend_len - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : ENOSPC;
            if (off > 0 && ftruncate(w->fd, (off_t)w->committed) != 0)
                se_err_log("record: cannot cut %s back: %s", w->path, strerror(errno));
            w->pend_len = 0;
            fail(w, e, "cannot write");
            return SE_ERR_IO;
        }
        off += (size_t)r;
    }
    if (w->cfg.journal && w->pend_len > 0) {
        /* The batch counts as written only once it is journaled. */
        uint8_t h[32];
        EVP_Digest(w->pend, w->pend_len, h, NULL, EVP_sha256(), NULL);
        if (rec_journal_frag(w->cfg.journal, w->name, w->committed, w->pend_len, h, w->media_us) <
            0) {
            int e = errno ? errno : EIO;
            if (lseek(w->fd, (off_t)w->committed, SEEK_SET) < 0 ||
                ftruncate(w->fd, (off_t)w->committed) != 0)
                se_err_log("record: cannot cut %s back: %s", w->path, strerror(errno));
            w->pend_len = 0;
            fail(w, e, "cannot journal");
            return SE_ERR_IO;
        }
    }
    EVP_DigestUpdate(w->sha, w->pend, w->pend_len);
    w->committed += w->pend_len;
    w->pend_len = 0;
    int64_t now = mono_ns();
    if (force_sync || (w->cfg.fsync_us >= 0 && now - w->last_fsync_ns >= w->cfg.fsync_us * 1000)) {
        if (fdatasync(w->fd) != 0) {
            fail(w, errno, "cannot sync");
            return SE_ERR_IO;
        }
        /* After the media: a journaled fragment is then never newer on
         * disk than its bytes, short of writeback ordering (sealing
         * re-checks every fragment's hash for that). */
        if (w->cfg.journal && rec_journal_sync(w->cfg.journal) < 0) {
            fail(w, EIO, "cannot sync the journal of");
            return SE_ERR_IO;
        }
        w->last_fsync_ns = now;
    }
    return 0;
}

static AVStream *add_video(struct rec_writer *w)
{
    AVStream *st = avformat_new_stream(w->oc, NULL);
    if (!st)
        return NULL;
    static const enum AVCodecID ids[] = {AV_CODEC_ID_H264, AV_CODEC_ID_VP8, AV_CODEC_ID_VP9,
                                         AV_CODEC_ID_AV1};
    st->time_base = (AVRational){1, REC_VIDEO_CLOCK};
    st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
    st->codecpar->codec_id = ids[w->cfg.vcodec];
    st->codecpar->width = (int)w->cfg.width;
    st->codecpar->height = (int)w->cfg.height;
    if (w->cfg.vcodec == REC_VC_VP9) {
        st->codecpar->profile = w->cfg.vfmt.profile;
        st->codecpar->format = vp9_pix_fmt(&w->cfg.vfmt);
        st->codecpar->color_range = w->cfg.vfmt.full_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    }
    if (!w->cfg.avcc_len)
        return st;
    st->codecpar->extradata = av_mallocz(w->cfg.avcc_len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!st->codecpar->extradata)
        return NULL;
    memcpy(st->codecpar->extradata, w->cfg.avcc, w->cfg.avcc_len);
    st->codecpar->extradata_size = (int)w->cfg.avcc_len;
    return st;
}

static AVStream *add_audio(struct rec_writer *w)
{
    AVStream *st = avformat_new_stream(w->oc, NULL);
    uint8_t *h;
    if (!st)
        return NULL;
    st->time_base = (AVRational){1, 48000};
    st->codecpar->codec_type = AVMEDIA_TYPE_AUDIO;
    st->codecpar->codec_id = AV_CODEC_ID_OPUS;
    st->codecpar->sample_rate = 48000;
    st->codecpar->frame_size = 960; /* 20 ms, the WebRTC norm; each packet has its own duration */
    av_channel_layout_default(&st->codecpar->ch_layout, w->cfg.channels);
    h = st->codecpar->extradata = av_mallocz(OPUS_HEAD_LEN + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!h)
        return NULL;
    /* OpusHead, RFC 7845 §5.1: version 1, channels, pre-skip 0 (RTP has
     * none to tell), input rate 48000, gain 0, mapping family 0. */
    memcpy(h, "OpusHead", 8);
    h[8] = 1;
    h[9] = (uint8_t)w->cfg.channels;
    h[12] = 0x80, h[13] = 0xbb; /* 48000 little-endian */
    st->codecpar->extradata_size = OPUS_HEAD_LEN;
    return st;
}

static void writer_free(struct rec_writer *w)
{
    if (w->pb) {
        av_freep(&w->pb->buffer);
        avio_context_free(&w->pb);
    }
    avformat_free_context(w->oc);
    av_packet_free(&w->vheld);
    if (w->fd >= 0)
        close(w->fd);
    EVP_MD_CTX_free(w->sha);
    free(w->pend);
    free(w->path);
    free(w);
}

/* FFmpeg's own log: errors only (its warnings are about inputs sedge
 * already checks), set once for the process. */
static void quiet_ffmpeg(void)
{
    av_log_set_level(AV_LOG_ERROR);
}

int rec_writer_open(struct rec_writer **out, const char *path, const struct rec_writer_cfg *cfg)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    static const char *const fmt_name[] = {"mp4", "ogg", "flv", "webm"};
    struct rec_writer *w;
    AVDictionary *opts = NULL;
    uint8_t *iobuf = NULL;
    int rc = SE_ERR_NOMEM;

    *out = NULL;
    pthread_once(&once, quiet_ffmpeg);
    bool video = has_video(cfg);
    if ((unsigned)cfg->fmt > REC_FMT_WEBM || (unsigned)cfg->vcodec > REC_VC_AV1 ||
        (cfg->fmt == REC_FMT_OGG && video) ||
        (cfg->fmt != REC_FMT_MP4 && cfg->fmt != REC_FMT_WEBM && video && cfg->audio) ||
        (!video && !cfg->audio) ||
        (cfg->fmt == REC_FMT_FLV && (!video || cfg->vcodec != REC_VC_H264)) ||
        (video && cfg->fmt == REC_FMT_MP4 && cfg->vcodec == REC_VC_VP8) ||
        (video && cfg->fmt == REC_FMT_WEBM && cfg->vcodec == REC_VC_H264) ||
        (video && cfg->vcodec == REC_VC_AV1 && !cfg->avcc_len))
        return SE_ERR_UNSUPP;
    w = calloc(1, sizeof(*w));
    if (!w)
        return SE_ERR_NOMEM;
    w->fd = -1;
    w->cfg = *cfg; /* cfg.avcc is borrowed: used only until the header is out */
    if (!w->cfg.frag_us)
        w->cfg.frag_us = REC_FRAG_DEFAULT_US;
    if (!w->cfg.fsync_us)
        w->cfg.fsync_us = REC_FSYNC_DEFAULT_US;
    if (w->cfg.channels < 1 || w->cfg.channels > 2)
        w->cfg.channels = 2;
    w->vidx = w->aidx = -1;
    w->path = strdup(path);
    if (w->path) {
        const char *slash = strrchr(w->path, '/');
        w->name = slash ? slash + 1 : w->path;
    }
    w->sha = EVP_MD_CTX_new();
    w->vheld = av_packet_alloc();
    if (!w->path || !w->sha || !w->vheld || !EVP_DigestInit_ex(w->sha, EVP_sha256(), NULL))
        goto out;
    if (avformat_alloc_output_context2(&w->oc, NULL, fmt_name[cfg->fmt], NULL) < 0 || !w->oc)
        goto out;
    iobuf = av_malloc(REC_AVIO_BUF);
    if (!iobuf)
        goto out;
    w->pb = avio_alloc_context(iobuf, REC_AVIO_BUF, 1, w, NULL, avio_write_cb, NULL);
    if (!w->pb) {
        av_free(iobuf);
        goto out;
    }
    w->pb->seekable = 0;
    w->oc->pb = w->pb;
    w->oc->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_BITEXACT;
    if (video) {
        if (!add_video(w))
            goto out;
        w->vidx = 0;
    }
    if (cfg->audio) {
        if (!add_audio(w))
            goto out;
        w->aidx = video ? 1 : 0;
    }
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (w->fd < 0) {
        rc = SE_ERR_IO;
        se_err_log("record: cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    if (cfg->journal && rec_journal_file(cfg->journal, w->name, cfg->wall_start_us) < 0) {
        rc = SE_ERR_IO;
        goto out;
    }
    if (cfg->fmt == REC_FMT_MP4)
        av_dict_set(&opts, "movflags", "frag_custom+empty_moov+default_base_moof", 0);
    int r = avformat_write_header(w->oc, &opts);
    av_dict_free(&opts);
    if (r < 0) {
        char e[128];
        av_strerror(r, e, sizeof(e));
        se_err_log("record: %s: cannot start %s: %s", path, fmt_name[cfg->fmt], e);
        rc = SE_ERR_UNSUPP;
        goto out;
    }
    w->cfg.avcc = NULL;
    w->last_fsync_ns = mono_ns();
    rc = commit(w, false);
    if (rc == 0)
        *out = w;
out:
    if (rc != 0) {
        if (w->fd >= 0)
            unlink(path);
        writer_free(w);
    }
    return rc;
}

static int mux(struct rec_writer *w, AVPacket *pkt, int idx)
{
    AVStream *st = w->oc->streams[idx];
    AVRational tb = idx == w->vidx ? (AVRational){1, REC_VIDEO_CLOCK} : (AVRational){1, 48000};

    pkt->stream_index = idx;
    av_packet_rescale_ts(pkt, tb, st->time_base);
    int r = av_write_frame(w->oc, pkt);
    if (r < 0) {
        char e[128];
        av_strerror(r, e, sizeof(e));
        se_err_log("record: %s: muxer refused a packet: %s", w->path, e);
        fail(w, w->pend_overflow ? ENOMEM : EIO, "cannot mux into");
        return SE_ERR_IO;
    }
    return 0;
}

/* Cut a fragment once frag_us of media has gone by since the last cut. */
static int maybe_cut(struct rec_writer *w)
{
    if (w->media_us - w->frag_start_us < w->cfg.frag_us)
        return 0;
    w->frag_start_us = w->media_us;
    if (av_write_frame(w->oc, NULL) < 0) { /* flush: closes the MP4 fragment */
        fail(w, EIO, "cannot flush");
        return SE_ERR_IO;
    }
    return commit(w, false);
}

static int flush_video(struct rec_writer *w, int64_t next_pts)
{
    AVPacket *p = w->vheld;
    int64_t pts = p->pts;

    p->duration = next_pts > pts ? next_pts - pts : (w->v_last_dur > 0 ? w->v_last_dur : 3000);
    if (w->info.video_frames == 0 && w->a_any) {
        /* A lone video sample that ends before the audio starts makes
         * FFmpeg 5.1's fragmented MP4 trailer abort (movenc.c
         * get_cluster_duration); let it last into the audio. */
        int64_t a0 = w->a_first * REC_VIDEO_CLOCK / 48000 + 1;
        if (pts + p->duration < a0)
            p->duration = a0 - pts;
    }
    w->v_last_dur = p->duration;
    int64_t end = pts + p->duration;
    int r = mux(w, p, w->vidx);
    av_packet_unref(p);
    if (r < 0)
        return r;
    w->info.video_frames++;
    w->info.video_end_us = end * 1000000 / REC_VIDEO_CLOCK;
    if (w->info.video_end_us > w->media_us)
        w->media_us = w->info.video_end_us;
    return 0;
}

/*
 * A timestamp leap past REC_MAX_GAP_S (broken or hostile senders; FFmpeg's
 * MP4 muxer aborts on a sample lasting 2^31 ticks) is cut to `step`, and
 * the track's later timestamps shift back by the rest.
 */
static int64_t unleap(struct rec_writer *w, int64_t pts, int64_t ref, int64_t *shift, int64_t step,
                      int64_t clock)
{
    pts -= *shift;
    if (pts - ref > REC_MAX_GAP_S * clock) {
        static struct se_log_rl rl;
        se_log_rl(&rl, SE_LOG_WARN, "record: %s: timestamps leap %.0f s; the gap is cut", w->path,
                  (double)(pts - ref) / (double)clock);
        *shift += pts - ref - step;
        pts = ref + step;
        w->info.timestamp_leaps++;
    }
    return pts;
}

/* Whether pts still comes after prev once in the stream's container time
 * base (WebM counts milliseconds): the muxers refuse equal timestamps. */
static bool after_in_tb(const struct rec_writer *w, int idx, int64_t pts, int64_t prev)
{
    AVRational in = {1, REC_VIDEO_CLOCK}, tb = w->oc->streams[idx]->time_base;
    return av_rescale_q(pts, in, tb) > av_rescale_q(prev, in, tb);
}

int rec_writer_video(struct rec_writer *w, const uint8_t *data, size_t len, int64_t pts, bool key)
{
    int r;

    if (w->error)
        return SE_ERR_IO;
    pts = unleap(w, pts, w->v_any ? w->v_last_pts : 0, &w->v_shift, w->v_any ? 3000 : 0,
                 REC_VIDEO_CLOCK);
    if (w->vidx < 0 || pts < 0 || len > INT32_MAX ||
        (w->v_any && (pts <= w->v_last_pts || !after_in_tb(w, w->vidx, pts, w->v_last_pts))))
        return SE_ERR_INVAL;
    if (w->v_any && (r = flush_video(w, pts)) < 0)
        return r;
    if ((r = maybe_cut(w)) < 0)
        return r;
    if (av_new_packet(w->vheld, (int)len) < 0)
        return SE_ERR_NOMEM;
    memcpy(w->vheld->data, data, len);
    w->vheld->pts = w->vheld->dts = pts;
    if (key)
        w->vheld->flags |= AV_PKT_FLAG_KEY;
    w->v_any = true;
    w->v_last_pts = pts;
    return 0;
}

int rec_writer_audio(struct rec_writer *w, const uint8_t *data, size_t len, int64_t pts,
                     int duration)
{
    int r;

    if (w->error)
        return SE_ERR_IO;
    pts = unleap(w, pts, w->a_any ? w->a_last_end : 0, &w->a_shift, 0, 48000);
    if (w->aidx < 0 || pts < 0 || (w->a_any && pts < w->a_last_end) || len > INT32_MAX ||
        duration <= 0)
        return SE_ERR_INVAL;
    if ((r = maybe_cut(w)) < 0)
        return r;
    AVPacket *p = av_packet_alloc();
    if (!p || av_new_packet(p, (int)len) < 0) {
        av_packet_free(&p);
        return SE_ERR_NOMEM;
    }
    memcpy(p->data, data, len);
    p->pts = p->dts = pts;
    p->duration = duration;
    p->flags |= AV_PKT_FLAG_KEY;
    r = mux(w, p, w->aidx);
    av_packet_free(&p);
    if (r < 0)
        return r;
    if (!w->a_any)
        w->a_first = pts;
    w->a_any = true;
    w->a_last_end = pts + duration;
    w->info.audio_packets++;
    w->info.audio_end_us = w->a_last_end * 1000000 / 48000;
    if (w->info.audio_end_us > w->media_us)
        w->media_us = w->info.audio_end_us;
    return 0;
}

void rec_writer_video_end(struct rec_writer *w, int64_t end_pts)
{
    end_pts -= w->v_shift;
    if (w->v_any && end_pts - w->v_last_pts > REC_MAX_GAP_S * REC_VIDEO_CLOCK)
        return;
    if (!w->error && w->v_any && w->vheld->data && end_pts > w->vheld->pts)
        flush_video(w, end_pts);
}

bool rec_writer_failed(const struct rec_writer *w)
{
    return w->error != 0;
}

int rec_writer_close(struct rec_writer *w, struct rec_file_info *info)
{
    unsigned int n = 0;
    int rc = 0;

    if (!w)
        return 0;
    if (!w->error && w->v_any && w->vheld->data)
        flush_video(w, -1);
    if (!w->error) {
        int r = av_write_trailer(w->oc);
        if (r < 0)
            fail(w, EIO, "cannot finish");
        else
            commit(w, true);
    }
    if (w->error) {
        rc = SE_ERR_IO;
        (void)fdatasync(w->fd); /* what was kept should reach the disk too */
    }
    if (close(w->fd) != 0 && !rc) {
        fail(w, errno, "cannot close");
        rc = SE_ERR_IO;
    }
    w->fd = -1;
    EVP_DigestFinal_ex(w->sha, w->info.sha256, &n);
    w->info.bytes = w->committed;
    w->info.error = w->error;
    if (info)
        *info = w->info;
    writer_free(w);
    return rc;
}
