/*
 * sdp.h - the little of SDP (RFC 8866) the recorder needs: per audio or
 * video m-line the address and port (c=, m=), the payload types of the
 * codecs it records (H.264, VP8, VP9, AV1, Opus) with their clock
 * (a=rtpmap), H.264 fmtp (sprop-parameter-sets, packetization-mode, RFC
 * 6184 §8.1), RTX payload types (a=fmtp:N apt=, RFC 4588 §8.6) and a=mid.
 * An m-line with no codec it records is a stream of REC_CODEC_UNKNOWN
 * (listed in metadata.json as not recorded); disabled m-lines (port 0)
 * and other media (application) are skipped.
 */
#ifndef SE_REC_SDP_H
#define SE_REC_SDP_H

#include "record/rec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { SDP_MAX_TEXT = 64 * 1024 };

struct rec_sdp_media {
    struct rec_stream_cfg cfg;
    char addr[64]; /* connection address, "" if none */
    uint16_t port;
};

struct rec_sdp {
    char session_name[128];
    struct rec_sdp_media m[REC_MAX_STREAMS];
    int n;
};

/*
 * Parse SDP text. Returns 0, or SE_ERR_PARSE with err naming the line.
 * An SDP without any audio or video m-line is an error.
 */
int rec_sdp_parse(const char *text, size_t len, struct rec_sdp *out, char *err, size_t errlen);

/* Read and parse a file (at most SDP_MAX_TEXT bytes). */
int rec_sdp_load(const char *path, struct rec_sdp *out, char *err, size_t errlen);

/* Whether pt is one of the stream's media (or RTX) payload types. */
bool rec_sdp_has_pt(const struct rec_stream_cfg *c, int pt);
bool rec_sdp_has_rtx_pt(const struct rec_stream_cfg *c, int pt);
/* Whether the stream takes packets of pt: media, RTX or its RED. */
bool rec_sdp_takes_pt(const struct rec_stream_cfg *c, int pt);

/* Copy the streams into a session configuration. */
void rec_sdp_to_cfg(const struct rec_sdp *sdp, struct rec_session_cfg *cfg);

#endif
