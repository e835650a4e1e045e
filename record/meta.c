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
#include "record/session_internal.h"

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

/* A sender report as JSON: the NTP time it names, and the RTP timestamp
 * that corresponds to it on the stream's clock. */
static json_t *sr_json(const struct rtcp_sr *sr, int64_t at_us)
{
    char ntp[24];
    snprintf(ntp, sizeof(ntp), "%016llx", (unsigned long long)sr->ntp);
    return json_pack("{s:o, s:s, s:I, s:o}", "ntp", iso_time(rtcp_ntp_to_unix_us(sr->ntp)),
                     "ntp_hex", ntp, "rtp_timestamp", (json_int_t)sr->rtp_ts, "received",
                     iso_time(at_us));
}

static json_t *rtcp_json(const struct rec_session *s, const struct rec_stream *st)
{
    for (int i = 0; i < s->n_sr && st->have_first; i++) {
        const struct rec_sr_entry *e = &s->sr[i];
        if (e->ssrc != st->ssrc)
            continue;
        return json_pack("{s:I, s:o, s:o}", "sender_reports", (json_int_t)e->count, "first",
                         sr_json(&e->first, e->first_at_us), "last",
                         sr_json(&e->last, e->last_at_us));
    }
    return json_null();
}

static json_t *video_frames_json(const struct rec_stream *st)
{
    struct rec_vstats vs;
    rec_stream_vstats(st, &vs);
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "written", (json_int_t)st->written,
                          "decodable", (json_int_t)vs.frames, "dropped_undecodable",
                          (json_int_t)vs.dropped, "damaged", (json_int_t)vs.damaged, "keyframes",
                          (json_int_t)vs.keyframes, "keyframe_requests", (json_int_t)vs.kf_requests,
                          "malformed_packets", (json_int_t)vs.malformed);
    if (rec_video_codec(st->video) == REC_VC_VP9 || rec_video_codec(st->video) == REC_VC_AV1)
        json_object_set_new(o, "upper_spatial_layers_skipped",
                            json_integer((json_int_t)vs.layers_skipped));
    return o;
}

/* A stream's direction from its sending party (rec.h). */
static const char *direction_of(const char *party)
{
    if (!strcmp(party, REC_PARTY_INSIDE))
        return "from_user";
    if (!strcmp(party, REC_PARTY_OUTSIDE))
        return "to_user";
    return party[0] ? party : "unknown";
}

static json_t *stream_json(const struct rec_session *s, const struct rec_stream *st)
{
    const struct rtp_in_stats *rs = rtp_in_stats(st->in);
    const struct rec_stream_cfg *c = &st->cfg;
    bool video = c->media == REC_VIDEO;
    const struct rec_lane *ln = st->lane >= 0 ? &s->lanes[st->lane] : NULL;
    bool recorded = ln && st->idx == (video ? ln->video_idx : ln->audio_idx);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:o, s:o}", "label", c->label, "media",
                  video ? "video" : "audio", "codec", rec_stream_codec_name(st), "payload_type",
                  c->pt, "clock_rate", (int)c->clock_rate, "recorded", recorded, "first_packet",
                  iso_time(st->have_first ? st->first_arrival_us : 0), "last_packet",
                  iso_time(st->last_arrival_us));

    /* One field says who sends a stream: its party; the direction is
     * that in the user's terms, for the catalog. */
    if (c->party[0])
        json_object_set_new(o, "party", json_string(c->party));
    json_object_set_new(o, "direction", json_string(direction_of(c->party)));
    if (!st->video && !st->opus) {
        char why[64];
        snprintf(why, sizeof(why), "codec %s", rec_stream_codec_name(st));
        json_object_set_new(o, "not_recorded", json_string(why));
    }
    if (c->rtx_pt >= 0)
        json_object_set_new(o, "rtx_payload_type", json_integer(c->rtx_pt));
    if (st->have_first) {
        json_object_set_new(o, "ssrc", json_integer(st->ssrc));
        /* where the stream's clock sits on the recording's timeline */
        json_object_set_new(o, "timeline",
                            json_pack("{s:I, s:f}", "first_rtp_timestamp",
                                      (json_int_t)st->first_ts32, "first_at_s",
                                      (double)(st->first_arrival_us - s->origin_us) / 1e6));
    }
    json_object_set_new(o, "rtcp", rtcp_json(s, st));
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
    if (st->video) {
        struct rec_vstats vs;
        rec_stream_vstats(st, &vs);
        if (st->codec_switches)
            json_object_set_new(o, "codec_switches", json_integer((json_int_t)st->codec_switches));
        json_object_set_new(o, "frames", video_frames_json(st));
        json_object_set_new(o, "parameter_sets_refused", json_integer((json_int_t)vs.bad_config));
    } else if (st->opus) {
        const struct opus_stats *os = opus_depack_stats(st->opus);
        json_object_set_new(
            o, "packets",
            json_pack("{s:I, s:I, s:I, s:I, s:I}", "written", (json_int_t)st->written, "malformed",
                      (json_int_t)os->malformed, "overlapping", (json_int_t)os->overlapped,
                      "filled_ms", (json_int_t)(os->filled_samples / 48), "timestamp_jumps",
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
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:f}", "file", g->file, "format",
                          g->fmt == REC_FMT_OGG    ? "ogg-opus"
                          : g->fmt == REC_FMT_WEBM ? "webm"
                                                   : "fragmented-mp4",
                          "start", iso_time(s->origin_us + g->start_us), "end",
                          iso_time(s->origin_us + g->end_us), "duration_s",
                          (double)(g->end_us - g->start_us) / 1e6);
    if (s->lanes[g->lane].party[0])
        json_object_set_new(o, "party", json_string(s->lanes[g->lane].party));
    if (g->video)
        json_object_set_new(o, "video",
                            json_pack("{s:s, s:i, s:i, s:I}", "codec", rec_vcodec_name(g->vcodec),
                                      "width", (int)g->width, "height", (int)g->height, "frames",
                                      (json_int_t)g->info.video_frames));
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
    parts = json_array();
    for (int i = 0; i < s->cfg.n_parties; i++) {
        const struct rec_party_cfg *p = &s->cfg.parties[i];
        json_t *o = json_pack("{s:s}", "label", p->label);
        if (p->name[0])
            json_object_set_new(o, "name", json_string(p->name));
        if (p->address[0])
            json_object_set_new(o, "address", json_string(p->address));
        json_array_append_new(parts, o);
    }
    json_object_set_new(root, "parties", parts);
    streams = json_array();
    for (int i = 0; i < s->n; i++) {
        json_array_append_new(streams, stream_json(s, &s->st[i]));
        overflow += s->st[i].overflow;
    }
    json_object_set_new(root, "streams", streams);
    segs = json_array();
    for (int i = 0; i < s->n_segs; i++)
        json_array_append_new(segs,
                              segment_json(s, &s->segs[i], s->lanes[s->segs[i].lane].seg == i));
    json_object_set_new(root, "segments", segs);
    json_object_set_new(root, "queue_overflow", json_integer((json_int_t)overflow));
    json_object_set_new(root, "rtcp",
                        json_pack("{s:I, s:I, s:I}", "packets", (json_int_t)s->rtcp_packets,
                                  "malformed", (json_int_t)s->rtcp_malformed, "ssrcs_not_kept",
                                  (json_int_t)s->sr_unmatched));
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
