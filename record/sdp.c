/*
 * sdp.c - a bounded SDP reader for the recorder (RFC 8866, RFC 6184 §8,
 * RFC 7741 §6, RFC 9628 §6, AOM AV1 RTP §7, RFC 7587 §7, RFC 4588 §8).
 *
 * Lines are read one by one into a per-m-section scratch record (payload
 * types from m=, rtpmap and fmtp per payload type, c=, a=mid); when the
 * section ends it is resolved: the first payload type in m= order whose
 * rtpmap is H264, VP8, VP9 or AV1 /90000 (video) or opus/48000 (audio) is
 * taken, with its fmtp, the other known payload types of the section as
 * alternatives (each with its codec), and the rtx payload types whose
 * apt= names any of them, and RED (RFC 2198) wrapping them with its
 * RTX. An audio or video section without a known
 * codec becomes a stream marked REC_CODEC_UNKNOWN, which the session
 * lists as not recorded. The codec lists are only read, never changed.
 * Anything longer than its buffer is an error, not a truncation.
 */
#include "record/sdp.h"
#include "core/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { SDP_MAX_PT = 32, SDP_LINE_MAX = 2048 };

struct sdp_pt {
    int pt;
    char enc[32];
    unsigned clock;
    int channels;
    char fmtp[1024];
};

struct sdp_section {
    bool active, video, audio;
    uint16_t port;
    char addr[64], mid[32];
    struct sdp_pt pts[SDP_MAX_PT];
    int n_pts;
};

static struct sdp_pt *find_pt(struct sdp_section *m, int pt)
{
    for (int i = 0; i < m->n_pts; i++)
        if (m->pts[i].pt == pt)
            return &m->pts[i];
    return NULL;
}

/* Value of key in an fmtp parameter list "a=1;b=2", or NULL. */
static bool fmtp_get(const char *fmtp, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = fmtp; *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t n = strcspn(p, ";");
        if (n > kl && strncasecmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = n - kl - 1;
            if (vl >= cap)
                return false;
            memcpy(out, p + kl + 1, vl);
            out[vl] = 0;
            while (vl > 0 && isspace((unsigned char)out[vl - 1]))
                out[--vl] = 0;
            return true;
        }
        p += n;
    }
    return false;
}

/* The recorder's codec for a payload type of section m (RFC 6184, RFC
 * 7741, RFC 9628, AOM AV1 RTP, RFC 7587 names and clocks). */
static enum rec_codec codec_of(const struct sdp_section *m, const struct sdp_pt *p)
{
    if (m->video && p->clock == 90000) {
        if (!strcasecmp(p->enc, "H264"))
            return REC_CODEC_H264;
        if (!strcasecmp(p->enc, "VP8"))
            return REC_CODEC_VP8;
        if (!strcasecmp(p->enc, "VP9"))
            return REC_CODEC_VP9;
        if (!strcasecmp(p->enc, "AV1") || !strcasecmp(p->enc, "AV1X"))
            return REC_CODEC_AV1;
    }
    if (m->audio && !strcasecmp(p->enc, "opus") && p->clock == 48000)
        return REC_CODEC_OPUS;
    return REC_CODEC_UNKNOWN;
}

/* Payload types that carry no media of their own (RFC 4588, 2198, 5109,
 * 8627, 3389, 4733): never the stream's codec. */
static bool helper_pt(const struct sdp_pt *p)
{
    static const char *const names[] = {"rtx",        "red", "ulpfec",
                                        "flexfec-03", "CN",  "telephone-event"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcasecmp(p->enc, names[i]))
            return true;
    return false;
}

/* A section without a codec the recorder knows: one stream listed as not
 * recorded, named after its first media payload type. */
static void unknown_stream(struct sdp_section *m, struct rec_stream_cfg *c)
{
    const struct sdp_pt *p = &m->pts[0];
    for (int i = 0; i < m->n_pts; i++)
        if (!helper_pt(&m->pts[i])) {
            p = &m->pts[i];
            break;
        }
    c->codec = REC_CODEC_UNKNOWN;
    c->pt = p->pt;
    c->clock_rate = p->clock ? p->clock : m->video ? 90000 : 8000;
    if (p->enc[0])
        snprintf(c->codec_name, sizeof(c->codec_name), "%s", p->enc);
    else
        snprintf(c->codec_name, sizeof(c->codec_name), "payload type %d", p->pt);
}

/*
 * The section as a stream: the first payload type in m= order whose codec
 * the recorder knows (the sender's preferred one), the other known ones
 * as alternatives the sender may switch to (browser offers list several
 * codecs and H.264 profiles), and RTX for any of them.
 */
static void resolve(struct sdp_section *m, const char *session_addr, struct rec_sdp *out)
{
    struct sdp_pt *media = NULL;
    char v[1024];

    if (!m->active || m->port == 0 || out->n == REC_MAX_STREAMS || (!m->video && !m->audio) ||
        m->n_pts == 0)
        return;
    for (int i = 0; i < m->n_pts && !media; i++)
        if (codec_of(m, &m->pts[i]) != REC_CODEC_UNKNOWN)
            media = &m->pts[i];
    struct rec_sdp_media *r = &out->m[out->n++];
    memset(r, 0, sizeof(*r));
    struct rec_stream_cfg *c = &r->cfg;
    c->media = m->video ? REC_VIDEO : REC_AUDIO;
    c->rtx_pt = -1;
    c->channels = m->audio ? 2 : 0;
    snprintf(c->label, sizeof(c->label), "%s", m->mid[0] ? m->mid : m->video ? "video" : "audio");
    snprintf(r->addr, sizeof(r->addr), "%s", m->addr[0] ? m->addr : session_addr);
    r->port = m->port;
    if (!media) {
        unknown_stream(m, c);
        return;
    }
    c->codec = codec_of(m, media);
    snprintf(c->codec_name, sizeof(c->codec_name), "%s", media->enc);
    c->pt = media->pt;
    c->clock_rate = media->clock;
    if (media->channels > 0)
        c->channels = media->channels;
    for (int i = 0; i < m->n_pts; i++) {
        struct sdp_pt *p = &m->pts[i];
        enum rec_codec pc = codec_of(m, p);
        if (pc == REC_CODEC_UNKNOWN)
            continue;
        if (p != media && c->n_alt_pt < REC_ALT_PT_MAX) {
            c->alt_codec[c->n_alt_pt] = (uint8_t)pc;
            c->alt_pt[c->n_alt_pt++] = (uint8_t)p->pt;
        }
        /* H.264 parameters: the main type's, else the first H.264 one's */
        if (pc != REC_CODEC_H264 || (p != media && c->sprop[0]))
            continue;
        if (fmtp_get(p->fmtp, "sprop-parameter-sets", v, sizeof(v)))
            snprintf(c->sprop, sizeof(c->sprop), "%s", v);
        if ((p == media || !c->packetization_mode) &&
            fmtp_get(p->fmtp, "packetization-mode", v, sizeof(v)))
            c->packetization_mode = atoi(v);
    }
    for (int i = 0; i < m->n_pts && !c->red; i++)
        if (!strcasecmp(m->pts[i].enc, "red") && m->pts[i].clock == media->clock)
            c->red = (uint8_t)(m->pts[i].pt + 1);
    for (int i = 0; i < m->n_pts; i++) {
        struct sdp_pt *p = &m->pts[i];
        if (strcasecmp(p->enc, "rtx") || !fmtp_get(p->fmtp, "apt", v, sizeof(v)))
            continue;
        int apt = atoi(v);
        if (apt == media->pt && c->rtx_pt < 0)
            c->rtx_pt = p->pt;
        else if ((rec_sdp_has_pt(c, apt) || (c->red && apt == c->red - 1)) &&
                 c->n_alt_rtx < REC_ALT_PT_MAX) {
            c->alt_rtx_for[c->n_alt_rtx] = (uint8_t)(apt + 1);
            c->alt_rtx[c->n_alt_rtx++] = (uint8_t)p->pt;
        }
    }
}

bool rec_sdp_takes_pt(const struct rec_stream_cfg *c, int pt)
{
    return rec_sdp_has_pt(c, pt) || rec_sdp_has_rtx_pt(c, pt) || (c->red && pt == c->red - 1);
}

bool rec_sdp_has_pt(const struct rec_stream_cfg *c, int pt)
{
    if (pt == c->pt)
        return true;
    for (int i = 0; i < c->n_alt_pt; i++)
        if (c->alt_pt[i] == pt)
            return true;
    return false;
}

bool rec_sdp_has_rtx_pt(const struct rec_stream_cfg *c, int pt)
{
    if (pt == c->rtx_pt)
        return true;
    for (int i = 0; i < c->n_alt_rtx; i++)
        if (c->alt_rtx[i] == pt)
            return true;
    return false;
}

/* One line (without CR/LF). Returns 0 or SE_ERR_PARSE. */
static int parse_line(char *l, struct sdp_section *m, char *session_addr, struct rec_sdp *out,
                      const char **why)
{
    char a[64], b[64];
    int pt, port;

    if (l[0] == 0)
        return 0;
    if (strlen(l) < 2 || l[1] != '=') {
        *why = "not a type=value line";
        return SE_ERR_PARSE;
    }
    if (l[0] == 's' && !m->active) {
        snprintf(out->session_name, sizeof(out->session_name), "%.127s", l + 2);
    } else if (l[0] == 'm') {
        resolve(m, session_addr, out);
        memset(m, 0, sizeof(*m));
        int off = 0;
        if (sscanf(l + 2, "%63s %d %63s%n", a, &port, b, &off) != 3 || port < 0 || port > 65535) {
            *why = "bad m= line";
            return SE_ERR_PARSE;
        }
        m->active = true;
        m->video = !strcmp(a, "video");
        m->audio = !strcmp(a, "audio");
        m->port = (uint16_t)port;
        for (char *p = l + 2 + off; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            if (v >= 0 && v <= 127 && m->n_pts < SDP_MAX_PT)
                m->pts[m->n_pts++].pt = (int)v;
            p = end;
        }
    } else if (l[0] == 'c') {
        if (sscanf(l + 2, "IN %*s %63s", a) != 1) {
            *why = "bad c= line";
            return SE_ERR_PARSE;
        }
        a[strcspn(a, "/")] = 0; /* multicast TTL suffix */
        snprintf(m->active ? m->addr : session_addr, 64, "%s", a);
    } else if (l[0] == 'a' && m->active) {
        struct sdp_pt *p;
        if (sscanf(l + 2, "rtpmap:%d %63s", &pt, a) == 2 && (p = find_pt(m, pt))) {
            char *slash = strchr(a, '/');
            if (!slash) {
                *why = "bad rtpmap";
                return SE_ERR_PARSE;
            }
            *slash = 0;
            snprintf(p->enc, sizeof(p->enc), "%.31s", a);
            p->clock = (unsigned)strtoul(slash + 1, &slash, 10);
            p->channels = *slash == '/' ? atoi(slash + 1) : 0;
        } else if (sscanf(l + 2, "fmtp:%d %n", &pt, &port) == 1 && (p = find_pt(m, pt))) {
            const char *v = strchr(l, ' ');
            if (!v || strlen(v + 1) >= sizeof(p->fmtp)) {
                *why = "fmtp too long";
                return SE_ERR_PARSE;
            }
            snprintf(p->fmtp, sizeof(p->fmtp), "%s", v + 1);
        } else if (!strncmp(l + 2, "mid:", 4)) {
            snprintf(m->mid, sizeof(m->mid), "%.31s", l + 6);
        }
    }
    return 0;
}

int rec_sdp_parse(const char *text, size_t len, struct rec_sdp *out, char *err, size_t errlen)
{
    struct sdp_section *m = calloc(1, sizeof(*m));
    char line[SDP_LINE_MAX], session_addr[64] = "";
    const char *why = NULL;
    int lineno = 0, rc = SE_ERR_NOMEM;
    size_t off = 0;

    memset(out, 0, sizeof(*out));
    if (!m)
        goto out;
    rc = SE_ERR_PARSE;
    while (off < len) {
        size_t n = 0;
        lineno++;
        while (off + n < len && text[off + n] != '\n')
            n++;
        size_t ll = n;
        if (ll > 0 && text[off + ll - 1] == '\r')
            ll--;
        if (ll >= sizeof(line)) {
            why = "line too long";
            goto out;
        }
        memcpy(line, text + off, ll);
        line[ll] = 0;
        if (memchr(line, 0, ll)) {
            why = "NUL byte";
            goto out;
        }
        off += n + 1;
        if (parse_line(line, m, session_addr, out, &why) != 0)
            goto out;
    }
    resolve(m, session_addr, out);
    lineno = 0;
    if (out->n == 0) {
        why = "no audio or video m-line";
        goto out;
    }
    rc = 0;
out:
    if (rc && err) {
        if (lineno)
            snprintf(err, errlen, "line %d: %s", lineno, why ? why : "error");
        else
            snprintf(err, errlen, "%s", why ? why : "out of memory");
    }
    free(m);
    return rc;
}

int rec_sdp_load(const char *path, struct rec_sdp *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    int rc;

    if (!f) {
        snprintf(err, errlen, "%s: cannot read", path);
        return SE_ERR_IO;
    }
    buf = malloc(SDP_MAX_TEXT + 1);
    n = buf ? fread(buf, 1, SDP_MAX_TEXT + 1, f) : 0;
    fclose(f);
    if (!buf || n > SDP_MAX_TEXT) {
        free(buf);
        snprintf(err, errlen, "%s: larger than %d bytes", path, SDP_MAX_TEXT);
        return SE_ERR_TOOBIG;
    }
    char e[200];
    rc = rec_sdp_parse(buf, n, out, e, sizeof(e));
    if (rc)
        snprintf(err, errlen, "%s: %s", path, e);
    free(buf);
    return rc;
}

void rec_sdp_to_cfg(const struct rec_sdp *sdp, struct rec_session_cfg *cfg)
{
    cfg->n_streams = sdp->n;
    for (int i = 0; i < sdp->n; i++)
        cfg->streams[i] = sdp->m[i].cfg;
}
