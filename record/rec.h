/*
 * rec.h - one recording: RTP streams in, a directory of playable,
 * verifiable files out.
 *
 * A session owns a recording directory. Packets of each stream go through
 * struct rtp_in (reorder, unwrap, dedupe) into the H.264, VP8, VP9, AV1
 * (record/video.h) or Opus depacketizer and from there into the current
 * segment's writer. Streams are grouped into lanes: one per party (the
 * anchor's "inside" and "outside"), each with at most one video and one
 * audio stream, each writing its own segments: a fragmented MP4 (H.264,
 * VP9, AV1 with Opus), WebM (VP8 with Opus) or Ogg Opus (audio only),
 * plus an FLV copy of H.264 video if asked. A new segment of a lane
 * starts when its video's configuration or size changes at a key frame,
 * or video first appears after an audio-only start. Streams of a codec
 * the recorder does not know are listed in the metadata as not recorded.
 * Every committed fragment is journaled (journal.h) as it is written, so
 * a recording whose process died is sealed from its journal at the next
 * start (seal.h). At close, or at once when writing fails, the session
 * seals itself: metadata.json (SIPREC-like, RFC 7865 terms), the signed
 * manifest (manifest.h), the catalog's END event (catalog.h).
 *
 * RTCP pushed into a stream's input (rtcp-mux, RFC 5761) is parsed for
 * sender reports, matched to streams by SSRC; metadata.json carries each
 * stream's NTP-to-RTP mapping for A/V sync.
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
    REC_MAX_STREAMS = 16, /* an anchored call: 8 m-lines, each party's stream of each */
    REC_MAX_PARTICIPANTS = 8,
    REC_MAX_PARTIES = 4,
    REC_ALT_PT_MAX = 16,  /* = RTP_ALT_PT_MAX */
    REC_AUDIO_HOLD = 500, /* Opus packets kept while waiting for the first IDR (~10 s) */
};

enum rec_media { REC_VIDEO = 0, REC_AUDIO = 1 };

/* A stream's codec. AUTO (0) means H.264 for video and Opus for audio. */
enum rec_codec {
    REC_CODEC_AUTO = 0,
    REC_CODEC_H264,
    REC_CODEC_VP8,
    REC_CODEC_VP9,
    REC_CODEC_AV1,
    REC_CODEC_OPUS,
    REC_CODEC_UNKNOWN, /* listed in metadata.json as not recorded */
};

struct rec_stream_cfg {
    enum rec_media media;
    enum rec_codec codec;
    char codec_name[32]; /* the SDP's encoding name ("VP8", "red", ...), may be "" */
    char party[32];      /* who sends it (its direction): a rec_party_cfg label, e.g.
                          * REC_PARTY_INSIDE; "" = unknown (import, listen) */
    char label[32];      /* e.g. "video", SDP a=mid */
    int pt, rtx_pt;      /* rtx_pt -1 if none */
    /* More payload types the sender may switch to (the other codecs of
     * the m-line, other profiles of one codec), and their RTX types. */
    uint8_t alt_pt[REC_ALT_PT_MAX], alt_rtx[REC_ALT_PT_MAX];
    uint8_t alt_codec[REC_ALT_PT_MAX];   /* enum rec_codec of alt_pt[i]; AUTO = the stream's */
    uint8_t alt_rtx_for[REC_ALT_PT_MAX]; /* 1 + the type alt_rtx[i] repairs; 0 = pt */
    int n_alt_pt, n_alt_rtx;
    /* 1 + the m-line's RED payload type (RFC 2198, "red/90000" that
     * Chromium wraps VP8 and VP9 in), 0: none. Its primary block is
     * recorded as the payload type it names; FEC inside it is not. RTX of
     * RED is in alt_rtx (alt_rtx_for = red). */
    uint8_t red;
    unsigned clock_rate;
    int channels;     /* Opus: from a=rtpmap, normally 2 */
    char sprop[1024]; /* H.264 sprop-parameter-sets, may be "" */
    int packetization_mode;
};

/*
 * Keyframe wanted on `stream` (called on the recorder thread, at most
 * twice a second per stream while the stream waits for one): the anchor
 * sends PLI (RFC 4585 §6.3.1) and, when requests keep coming, FIR
 * (RFC 5104 §4.3.1). Must not block.
 */
typedef void (*rec_kf_fn)(void *arg, int stream);

/*
 * The recording failed (err: SE_ERR_IO for a write error or a full disk,
 * SE_ERR_LIMIT: too many segments; what: a sentence). Called once, on the
 * recorder thread, after the session has sealed the recording as
 * "failed" (files cut back to their last fragment, metadata.json and the
 * signed manifest written, the catalog's END event posted); must not
 * block. This is the one trigger of recording.on_failure: the producer
 * posts it to its own loop and ends the call when
 * se_config_rec_end_call() says so (docs/recording.md, "For live
 * producers").
 */
typedef void (*rec_fail_fn)(void *arg, int err, const char *what);

/*
 * A party of the call (SIPREC participant, RFC 7865). Labels are the
 * anchor's sides: REC_PARTY_INSIDE is the enterprise user's browser,
 * REC_PARTY_OUTSIDE the remote party; a stream's `party` names its
 * sender, which is also its direction (metadata.json: "from_user" for
 * inside, "to_user" for outside).
 */
#define REC_PARTY_INSIDE "inside"
#define REC_PARTY_OUTSIDE "outside"
struct rec_party_cfg {
    char label[32];   /* REC_PARTY_INSIDE, REC_PARTY_OUTSIDE: what rec_stream_cfg.party names */
    char name[128];   /* who it is, if known: the user; the remote party */
    char address[64]; /* its transport address as seen by sedge, if known */
};

struct rec_catalog;

struct rec_session_cfg {
    char dir[512];         /* the recording directory; created, must not exist */
    char id[64];           /* recording id; "" = last path component of dir */
    char session_id[128];  /* call/session id, "" if unknown */
    char policy_rule[128]; /* the rule that required recording, "" if none */
    char source[128];      /* "import:FILE", "listen", "anchor" */
    char participants[REC_MAX_PARTICIPANTS][128];
    int n_participants;
    struct rec_party_cfg parties[REC_MAX_PARTIES]; /* rec_catalog_prepare() fills inside
                                                      * and outside */
    int n_parties;
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
    rec_fail_fn on_fail; /* the recording failed; may be NULL */
    void *fail_arg;
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

/* One datagram for stream index `stream`, arrived at now_us: RTP, or RTCP
 * (a compound packet; its sender reports go to the streams by SSRC). */
void rec_session_rtp(struct rec_session *s, int stream, const uint8_t *buf, size_t len,
                     int64_t now_us);

/* Timers: give up reorder holes that waited too long. */
void rec_session_tick(struct rec_session *s, int64_t now_us);

/* Packets the engine had to drop before they reached the session. */
void rec_session_count_overflow(struct rec_session *s, int stream, uint64_t n);

/* Surfaced state: 0, or the SE_ERR_* that stopped the recording (disk full). */
int rec_session_error(const struct rec_session *s);

/*
 * Flush every stream, finish the files, seal the recording (metadata.json,
 * journal end, signed manifest, the catalog's END event; a recording that
 * failed earlier was sealed then), free the session. Returns 0, or SE_ERR_IO if any file could
 * not be written completely (what was written stays, listed and hashed).
 */
int rec_session_close(struct rec_session *s, int64_t now_us);

const char *rec_session_dir(const struct rec_session *s);

#endif
