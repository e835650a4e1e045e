/*
 * session_internal.h - the session's state, shared by session.c and meta.c only.
 * Nothing outside record/ includes this.
 */
#ifndef SE_REC_SESSION_INTERNAL_H
#define SE_REC_SESSION_INTERNAL_H

#include "record/journal.h"
#include "record/manifest.h"
#include "record/opus.h"
#include "record/rec.h"
#include "record/rtcp.h"
#include "record/rtp.h"
#include "record/video.h"

enum {
    REC_MAX_SEGMENTS = 64,
    REC_MAX_FILES = 2 * REC_MAX_SEGMENTS + 2, /* + metadata.json, journal.log */
    REC_MAX_LANES = REC_MAX_STREAMS,
    REC_MAX_SR_SSRC = 16, /* sender-report SSRCs remembered per session */
};

struct rec_stream {
    struct rec_session *s;
    int idx;
    int lane; /* -1: not recorded (unknown codec) */
    struct rec_stream_cfg cfg;
    struct rtp_in *in;
    struct rec_video *video;
    struct rec_vstats vstats_done; /* of the depacketizers before a codec switch */
    uint64_t codec_switches;
    struct opus_depack *opus;
    bool have_first;
    int64_t first_ts, first_arrival_us, last_arrival_us;
    uint32_t first_ts32; /* RTP timestamp of the first packet */
    int64_t max_ts;      /* highest extended timestamp seen */
    uint32_t ssrc;
    uint64_t overflow; /* dropped by the engine's queue */
    uint64_t written;  /* frames / packets in the files */
    uint64_t rejected; /* refused by the writer (timestamps going back) */
    uint64_t cut;      /* before the segment start, or no segment to take them */
};

struct rec_held {
    uint8_t *data;
    size_t len;
    int64_t rel_us; /* session time */
    int duration;
    int64_t ts;
};

struct rec_segment {
    char file[REC_NAME_MAX], flv[REC_NAME_MAX];
    enum rec_fmt fmt;
    int lane;
    int64_t start_us, end_us; /* session time */
    bool video, audio;
    enum rec_vcodec vcodec;
    unsigned width, height;
    struct rec_file_info info, flv_info;
};

/* The streams of one party written together: one video, one audio. */
struct rec_lane {
    char party[32];
    int video_idx, audio_idx; /* streams, -1 if none */
    int seg;                  /* its open segment in segs[], -1 if none */
    struct rec_writer *w, *flv;
    int64_t seg_origin_us; /* session time where file time 0 is */
    /* the video configuration of the open segment */
    enum rec_vcodec vcodec;
    unsigned vwidth, vheight;
    uint8_t vconfig[REC_VCONFIG_MAX];
    size_t vconfig_len;
    struct rec_vformat vfmt;
    struct rec_held hold[REC_AUDIO_HOLD];
    int n_hold;
};

/* The first and last sender report of an SSRC. */
struct rec_sr_entry {
    uint32_t ssrc;
    uint64_t count;
    struct rtcp_sr first, last;
    int64_t first_at_us, last_at_us; /* arrival */
};

struct rec_session {
    struct rec_session_cfg cfg;
    uint8_t key[REC_KEY_MAX];
    struct rec_stream st[REC_MAX_STREAMS];
    int n;
    struct rec_lane lanes[REC_MAX_LANES];
    int n_lanes;
    bool have_origin;
    int64_t origin_us, end_us; /* wall time of the first and last packet */
    struct rec_segment segs[REC_MAX_SEGMENTS];
    int n_segs;
    struct rec_sr_entry sr[REC_MAX_SR_SSRC];
    int n_sr;
    uint64_t rtcp_packets, rtcp_malformed, sr_unmatched;
    int64_t rtcp_now_us; /* arrival of the RTCP packet being parsed */
    int error;
    char error_text[256];
    struct rec_manifest_entry files[REC_MAX_FILES];
    int n_files;
    struct rec_journal *journal; /* NULL once sealed */
    bool sealed;
    int seal_rc;
};

/*
 * Write dir/metadata.json (atomically) describing the session; state is
 * "recording", "complete" or "failed". Fills *entry with its name, hash
 * and size for the manifest. Returns 0 or SE_ERR_IO / SE_ERR_NOMEM.
 */
int rec_meta_write(const struct rec_session *s, const char *state, int64_t now_us,
                   struct rec_manifest_entry *entry);

/* A video stream's depacketizer counters, across codec switches. */
void rec_stream_vstats(const struct rec_stream *st, struct rec_vstats *out);

/* The codec of a stream as written in metadata.json ("H264", "VP8", "opus", ...). */
const char *rec_stream_codec_name(const struct rec_stream *st);

/* Write json (a json_t *) as dir/metadata.json, atomically; *entry gets
 * its name, size and SHA-256 for the manifest. 0 or SE_ERR_*. */
int rec_meta_save(const char *dir, void *json, struct rec_manifest_entry *entry);

/* Epoch microseconds as an ISO 8601 UTC JSON string with milliseconds, or
 * JSON null for 0 (a json_t *; declared void * to keep jansson out). */
void *rec_meta_time(int64_t us);

/*
 * Seal the recording (seal.c): the reserve is released, the journal ends,
 * metadata.json says state, the manifest lists every file written (media,
 * metadata.json, journal.log) and is signed, and the catalog gets the END
 * event. Only once; later calls return what the first did. 0 or SE_ERR_IO.
 */
int rec_session_seal(struct rec_session *s, const char *state);

/* The reserve: space taken when a recording starts and given back when it
 * is sealed, so that a full disk still has room for metadata.json, the
 * journal's last line and the manifest. 0 or SE_ERR_IO (disk full). */
enum { REC_RESERVE_BYTES = 256 * 1024 };
#define REC_RESERVE_NAME ".reserve"
int rec_reserve_create(const char *dir);
void rec_reserve_drop(const char *dir);

#endif
