/*
 * meta.c - metadata.json of a recording (jansson).
 *
 * The schema follows SIPREC's recording metadata (RFC 7865) in spirit:
 * the recording session, its participants, the media streams with codecs
 * and wall-clock start/end, and, because compliance teams must be able to
 * trust the files, every loss: RTP gaps with their time, frames dropped
 * as undecodable, packets dropped by a full recorder queue, write errors.
 * The schema is documented in docs/recording.md; "version" changes when a
 * field changes meaning.
 *
 * The file is written to a temporary name and renamed, so readers see
 * either the previous state or the new one; its SHA-256 is computed from
 * the exact bytes written.
 */
#include "core/err.h"
#include "record/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { REC_META_VERSION = 1 };

#define iso_time(us) ((json_t *)rec_meta_time(us))

void *rec_meta_time(int64_t us)
{
    char buf[40], out[48];
    struct tm tm;
    time_t t;

    if (us <= 0)
        return json_null();
    t = (time_t)(us / 1000000);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
    snprintf(out, sizeof(out), "%s.%03dZ", buf, (int)(us % 1000000 / 1000));
    return json_string(out);
}

static json_t *gaps_json(const struct rec_stream *st)
{
    json_t *a = json_array();
    size_t n;
    const struct rtp_gap *g = rtp_in_gaps(st->in, &n);

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:o, s:I, s:I}", "at", iso_time(g[i].at_us),
                                           "first_seq", (json_int_t)(g[i].first_seq & 0xffff),
                                           "packets", (json_int_t)g[i].count));
    return a;
}

static json_t *stream_json(const struct rec_session *s, const struct rec_stream *st)
{
    const struct rtp_in_stats *rs = rtp_in_stats(st->in);
    const struct rec_stream_cfg *c = &st->cfg;
    bool video = c->media == REC_VIDEO;
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:o, s:o}", "label", c->label, "media",
                          video ? "video" : "audio", "codec", video ? "H264" : "opus",
                          "payload_type", c->pt, "clock_rate", (int)c->clock_rate, "recorded",
                          st->idx == (video ? s->video_idx : s->audio_idx), "first_packet",
                          iso_time(st->have_first ? st->first_arrival_us : 0), "last_packet",
                          iso_time(st->last_arrival_us));

    json_object_set_new(o, "direction", json_string(c->direction[0] ? c->direction : "unknown"));
    if (c->rtx_pt >= 0)
        json_object_set_new(o, "rtx_payload_type", json_integer(c->rtx_pt));
    if (st->have_first)
        json_object_set_new(o, "ssrc", json_integer(st->ssrc));
    json_object_set_new(o, "rtp",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "packets",
                                  (json_int_t)rs->packets, "bytes", (json_int_t)rs->bytes, "lost",
                                  (json_int_t)rs->lost, "duplicates", (json_int_t)rs->duplicates,
                                  "late", (json_int_t)rs->late, "rtx", (json_int_t)rs->rtx,
                                  "reordered", (json_int_t)rs->reordered, "malformed",
                                  (json_int_t)rs->malformed, "foreign", (json_int_t)rs->foreign,
                                  "resyncs", (json_int_t)rs->resyncs));
    json_object_set_new(o, "queue_overflow", json_integer((json_int_t)st->overflow));
    json_object_set_new(o, "gaps", gaps_json(st));
    json_object_set_new(o, "gaps_not_listed", json_integer((json_int_t)rs->gaps_dropped));
    if (video) {
        const struct h264_stats *hs = h264_depack_stats(st->h264);
        json_object_set_new(o, "frames",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "written",
                                      (json_int_t)st->written, "decodable", (json_int_t)hs->frames,
                                      "dropped_undecodable", (json_int_t)hs->dropped, "damaged",
                                      (json_int_t)hs->damaged, "keyframes", (json_int_t)hs->idr,
                                      "keyframe_requests", (json_int_t)hs->kf_requests,
                                      "malformed_packets", (json_int_t)hs->malformed));
        json_object_set_new(o, "parameter_sets_refused", json_integer((json_int_t)hs->bad_ps));
    } else {
        const struct opus_stats *os = opus_depack_stats(st->opus);
        json_object_set_new(o, "packets",
                            json_pack("{s:I, s:I, s:I, s:I, s:I}", "written",
                                      (json_int_t)st->written, "malformed",
                                      (json_int_t)os->malformed, "overlapping",
                                      (json_int_t)os->overlapped, "filled_ms",
                                      (json_int_t)(os->filled_samples / 48), "timestamp_jumps",
                                      (json_int_t)os->jumps));
    }
    json_object_set_new(o, "not_written",
                        json_pack("{s:I, s:I}", "before_segment_start", (json_int_t)st->cut,
                                  "timestamp_going_back", (json_int_t)st->rejected));
    return o;
}

static json_t *segment_json(const struct rec_session *s, const struct rec_segment *g, bool open)
{
    char h[65];
    json_t *o =
        json_pack("{s:s, s:s, s:o, s:o, s:f}", "file", g->file, "format",
                  g->fmt == REC_FMT_OGG ? "ogg-opus" : "fragmented-mp4", "start",
                  iso_time(s->origin_us + g->start_us), "end", iso_time(s->origin_us + g->end_us),
                  "duration_s", (double)(g->end_us - g->start_us) / 1e6);
    if (g->video)
        json_object_set_new(o, "video",
                            json_pack("{s:i, s:i, s:I}", "width", (int)g->width, "height",
                                      (int)g->height, "frames", (json_int_t)g->info.video_frames));
    if (g->audio)
        json_object_set_new(
            o, "audio",
            json_pack("{s:s, s:I}", "codec", "opus", "packets", (json_int_t)g->info.audio_packets));
    if (!open) {
        rec_hex(g->info.sha256, 32, h);
        json_object_set_new(o, "bytes", json_integer((json_int_t)g->info.bytes));
        json_object_set_new(o, "sha256", json_string(h));
        if (g->info.timestamp_leaps)
            json_object_set_new(o, "timestamp_leaps_cut",
                                json_integer((json_int_t)g->info.timestamp_leaps));
        if (g->info.error)
            json_object_set_new(o, "error", json_string(strerror(g->info.error)));
        if (g->flv[0])
            json_object_set_new(o, "flv", json_string(g->flv));
    }
    return o;
}

int rec_meta_write(const struct rec_session *s, const char *state, int64_t now_us,
                   struct rec_manifest_entry *entry)
{
    json_t *root, *parts, *streams, *segs;
    uint64_t overflow = 0;
    int rc = SE_ERR_NOMEM;

    root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:o, s:o}", "version", REC_META_VERSION,
                     "recording_id", s->cfg.id, "state", state, "session_id", s->cfg.session_id,
                     "source", s->cfg.source, "start", iso_time(s->have_origin ? s->origin_us : 0),
                     "end", iso_time(s->have_origin && now_us ? s->end_us : 0));
    if (!root)
        return rc;
    json_object_set_new(root, "policy_rule",
                        s->cfg.policy_rule[0] ? json_string(s->cfg.policy_rule) : json_null());
    json_object_set_new(root, "user", s->cfg.user[0] ? json_string(s->cfg.user) : json_null());
    json_object_set_new(root, "origin",
                        s->cfg.origin[0] ? json_string(s->cfg.origin) : json_null());
    json_object_set_new(root, "remote",
                        s->cfg.remote[0] ? json_string(s->cfg.remote) : json_null());
    parts = json_array();
    for (int i = 0; i < s->cfg.n_participants; i++)
        json_array_append_new(parts, json_pack("{s:s}", "name", s->cfg.participants[i]));
    json_object_set_new(root, "participants", parts);
    streams = json_array();
    for (int i = 0; i < s->n; i++) {
        json_array_append_new(streams, stream_json(s, &s->st[i]));
        overflow += s->st[i].overflow;
    }
    json_object_set_new(root, "streams", streams);
    segs = json_array();
    for (int i = 0; i < s->n_segs; i++)
        json_array_append_new(segs, segment_json(s, &s->segs[i], s->w && i == s->n_segs - 1));
    json_object_set_new(root, "segments", segs);
    json_object_set_new(root, "queue_overflow", json_integer((json_int_t)overflow));
    json_object_set_new(root, "signed", json_boolean(s->cfg.key_len > 0));
    json_object_set_new(root, "error", s->error ? json_string(s->error_text) : json_null());
    rc = rec_meta_save(s->cfg.dir, root, entry);
    json_decref(root);
    return rc;
}

int rec_meta_save(const char *dir, void *json, struct rec_manifest_entry *entry)
{
    char *text = json_dumps(json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    int rc = SE_ERR_NOMEM;

    if (!text)
        return rc;
    size_t len = strlen(text);
    rc = rec_write_atomic(dir, "metadata.json", text, len);
    if (rc == 0) {
        unsigned int n = 32;
        snprintf(entry->name, sizeof(entry->name), "metadata.json");
        entry->bytes = len;
        EVP_Digest(text, len, entry->sha256, &n, EVP_sha256(), NULL);
    }
    free(text);
    return rc;
}
