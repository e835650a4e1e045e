/*
 * writer.h - one output file through libavformat: fragmented MP4 (H.264,
 * VP9 or AV1 + Opus), WebM (VP8, VP9 or AV1 + Opus), Ogg Opus (RFC 7845)
 * or FLV (H.264), with sedge's own I/O.
 *
 * The muxers write into a custom AVIOContext that only buffers; sedge
 * itself write(2)s the bytes of each complete fragment (MP4) or page
 * batch (Ogg, FLV) in one go, hashes them with SHA-256 as they go to disk,
 * and fdatasync(2)s at most every fsync_us. So the file on disk always
 * ends at a fragment boundary, even after SIGKILL; on a write error (disk
 * full) the file is cut back to the last complete fragment, the writer
 * turns failed and every later call returns SE_ERR_IO. With a journal
 * (journal.h) each committed batch is journaled (offset, length, SHA-256)
 * before it counts as written, and the journal is synced right after the
 * file.
 *
 * Not thread-safe: one writer is used by one thread (the recorder's).
 */
#ifndef SE_REC_WRITER_H
#define SE_REC_WRITER_H

#include "record/video.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rec_fmt { REC_FMT_MP4 = 0, REC_FMT_OGG = 1, REC_FMT_FLV = 2, REC_FMT_WEBM = 3 };

enum {
    REC_FRAG_DEFAULT_US = 1000000,  /* one MP4 fragment per second */
    REC_FSYNC_DEFAULT_US = 2000000, /* fdatasync at most this often */
    REC_VIDEO_CLOCK = 90000,        /* RFC 6184 §8.2.1 */
};

struct rec_journal;

struct rec_writer_cfg {
    enum rec_fmt fmt;
    struct rec_journal *journal; /* borrowed, may be NULL: fragments are journaled */
    int64_t wall_start_us;       /* wall time of file time 0 (for the journal) */
    /* A video track if vcodec is H.264 and avcc_len > 0 (MP4, FLV), or if
     * vcodec is VP8 (WebM), VP9 or AV1 (MP4, WebM). */
    enum rec_vcodec vcodec;
    const uint8_t *avcc; /* codec configuration, borrowed during open: avcC
                          * (H.264), sequence header OBU (AV1), none (VP8/9) */
    size_t avcc_len;
    unsigned width, height;
    struct rec_vformat vfmt; /* VP9: profile, bit depth, subsampling */
    /* Opus audio track (MP4, Ogg) */
    bool audio;
    int channels;
    int64_t frag_us;  /* 0 = REC_FRAG_DEFAULT_US */
    int64_t fsync_us; /* 0 = REC_FSYNC_DEFAULT_US; < 0: only at close */
};

/* What was written, reported at close. */
struct rec_file_info {
    uint8_t sha256[32];
    uint64_t bytes;
    uint64_t video_frames, audio_packets;
    int64_t video_end_us, audio_end_us; /* end of the last sample, file time */
    int error;                          /* errno of the first write failure, or 0 */
    uint64_t timestamp_leaps;           /* pauses past an hour, cut short */
};

struct rec_writer;

/*
 * Create path (must not exist) and write the container header. Returns 0
 * and a new writer in *out, or SE_ERR_IO (errno logged), SE_ERR_INVAL,
 * SE_ERR_UNSUPP. The caller closes it with rec_writer_close().
 */
int rec_writer_open(struct rec_writer **out, const char *path, const struct rec_writer_cfg *cfg);

/* One frame at pts (90 kHz, file time, >= 0 and increasing): an access
 * unit in AVCC form (H.264), a frame (VP8, VP9), a temporal unit in the
 * low overhead format (AV1). Returns 0, SE_ERR_INVAL (not increasing in the
 * container's time base: dropped), SE_ERR_IO. */
int rec_writer_video(struct rec_writer *w, const uint8_t *data, size_t len, int64_t pts, bool key);

/* One Opus packet at pts (48 kHz, file time) lasting duration samples. */
int rec_writer_audio(struct rec_writer *w, const uint8_t *data, size_t len, int64_t pts,
                     int duration);

/*
 * The last video frame lasts until end_pts (90 kHz, file time) instead of
 * repeating the previous frame's duration: call before close when the
 * stream's end is known (frames dropped at the end keep the timeline).
 */
void rec_writer_video_end(struct rec_writer *w, int64_t end_pts);

/* True once a write has failed; the file holds what came before. */
bool rec_writer_failed(const struct rec_writer *w);

/*
 * Finish the file (trailer, flush, fdatasync, close) and free the writer.
 * Fills *info if non-NULL. Returns 0 or SE_ERR_IO. w == NULL is a no-op.
 */
int rec_writer_close(struct rec_writer *w, struct rec_file_info *info);

const char *rec_fmt_ext(enum rec_fmt f);

/* The container a video codec is written in: `pref` (MP4 or FLV) for
 * H.264, MP4 for VP9 and AV1, WebM for VP8 (FFmpeg 5.1 has no MP4 VP8). */
enum rec_fmt rec_fmt_for(enum rec_vcodec c, enum rec_fmt pref);

#endif
