/*
 * rec.h - one recording: RTP streams in, a directory of playable,
 * verifiable files out.
 *
 * A session owns a recording directory. Packets of each stream go through
 * struct rtp_in (reorder, unwrap, dedupe) into the H.264 or Opus
 * depacketizer and from there into the current segment's writer: a
 * fragmented MP4 with the video and audio tracks (Ogg Opus when the
 * session has audio only), plus an FLV copy of the video if asked. A new
 * segment starts when the SPS (resolution) changes or video first appears
 * after an audio-only start. At close the session writes metadata.json
 * (SIPREC-like, RFC 7865 terms) and the signed manifest (manifest.h).
 *
 * All times are microseconds since the Unix epoch (pcap capture time for
 * imports, CLOCK_REALTIME for live input). A session is used by one
 * thread at a time; struct rec_engine runs sessions on its own thread.
 * Documented in docs/recording.md.
 */
#ifndef SE_REC_H
#define SE_REC_H

#include "record/writer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    REC_MAX_STREAMS = 8,
    REC_MAX_PARTICIPANTS = 8,
    REC_AUDIO_HOLD = 500, /* Opus packets kept while waiting for the first IDR (~10 s) */
};

enum rec_media { REC_VIDEO = 0, REC_AUDIO = 1 };

struct rec_stream_cfg {
    enum rec_media media;
    char label[32];                /* e.g. "video", SDP a=mid */
    int pt, rtx_pt;                /* rtx_pt -1 if none */
    uint8_t alt_pt[8], alt_rtx[8]; /* more payload types of the codec, their RTX */
    int n_alt_pt, n_alt_rtx;
    unsigned clock_rate;
    int channels;     /* Opus: from a=rtpmap, normally 2 */
    char sprop[1024]; /* H.264 sprop-parameter-sets, may be "" */
    int packetization_mode;
    char direction[16]; /* who sends it: SDP sendrecv/sendonly/recvonly, or the anchor's
                           "from_user"/"to_user"; "" = unknown */
};

typedef void (*rec_kf_fn)(void *arg, int stream);

struct rec_catalog;

struct rec_session_cfg {
    char dir[512];         /* the recording directory; created, must not exist */
    char id[64];           /* recording id; "" = last path component of dir */
    char session_id[128];  /* call/session id, "" if unknown */
    char policy_rule[128]; /* the rule that required recording, "" if none */
    char source[128];      /* "import:FILE", "listen", "anchor" */
    char participants[REC_MAX_PARTICIPANTS][128];
    int n_participants;
    /* Catalog fields (record/catalog.h fills them with rec_catalog_prepare()) */
    char user[128];    /* the enterprise user whose call this is, "" if unknown */
    char origin[256];  /* the web origin of the call, "" if unknown */
    char remote[256];  /* the remote party, "" if unknown */
    int64_t rule_id;   /* the rule that required recording, 0 if none */
    int retention_days; /* -1: the rule's, else recording.retention; 0: no deadline */
    struct rec_catalog *catalog; /* borrowed: gets start/end events; NULL = none */
    enum rec_fmt fmt; /* MP4 (default); audio-only sessions write Ogg */
    bool flv;         /* also write an FLV copy of the video */
    int64_t frag_us, fsync_us;
    unsigned reorder_window; /* packets, 0 = default */
    int64_t reorder_delay_us;
    const uint8_t *key; /* HMAC key for the manifest; borrowed during open */
    size_t key_len;
    rec_kf_fn kf; /* keyframe wanted; may be NULL */
    void *kf_arg;
    struct rec_stream_cfg streams[REC_MAX_STREAMS];
    int n_streams;
};

struct rec_session;

/*
 * Create the directory and the session. Returns 0 and *out, or
 * SE_ERR_INVAL (bad cfg), SE_ERR_EXISTS (dir exists and is not empty),
 * SE_ERR_IO. Caller ends it with rec_session_close().
 */
int rec_session_open(struct rec_session **out, const struct rec_session_cfg *cfg);

/* One datagram for stream index `stream`, arrived at now_us. */
void rec_session_rtp(struct rec_session *s, int stream, const uint8_t *buf, size_t len,
                     int64_t now_us);

/* Timers: give up reorder holes that waited too long. */
void rec_session_tick(struct rec_session *s, int64_t now_us);

/* Packets the engine had to drop before they reached the session. */
void rec_session_count_overflow(struct rec_session *s, int stream, uint64_t n);

/* Surfaced state: 0, or the SE_ERR_* that stopped the recording (disk full). */
int rec_session_error(const struct rec_session *s);

/*
 * Flush every stream, finish the files, write metadata.json and the
 * manifest, free the session. Returns 0, or SE_ERR_IO if any file could
 * not be written completely (what was written stays, listed and hashed).
 */
int rec_session_close(struct rec_session *s, int64_t now_us);

const char *rec_session_dir(const struct rec_session *s);

#endif
