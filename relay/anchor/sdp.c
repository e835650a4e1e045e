/*
 * sdp.c - check, read and rewrite the descriptions of an anchored call
 * (see sdp.h).
 *
 * Design: the text is checked line by line before GStreamer sees it
 * (GstSDPMessage is lenient: it skips what it cannot read, so "garbage"
 * parses as an empty description); everything the anchor relies on is
 * then checked on the parsed form. The rewrite works on a copy of the
 * parsed message and touches only the attributes in transport_attr[]
 * plus ports and connection lines, so what the other party reads about
 * codecs and streams is exactly what the first party wrote.
 *
 * Invariants: every string that leaves this file is bounded by the enum
 * in sdp.h; an error message never quotes more than a few bytes of input.
 */
#include "relay/anchor/sdp.h"
#include "core/err.h"

#include <gst/sdp/sdp.h>
#include <openssl/obj_mac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct anchor_sdp {
    GstSDPMessage *msg;
};

/* Attributes that describe a party's transport: replaced, never copied. */
static const char *const transport_attr[] = {
    "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "ice-pacing", "ice-mismatch",
    "candidate", "remote-candidates", "end-of-candidates", "fingerprint", "setup", "rtcp",
    "tls-id", NULL,
};

__attribute__((format(printf, 3, 4))) static int bad(char *err, size_t errlen, const char *fmt,
                                                     ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return SE_ERR_PARSE;
}

const char *anchor_setup_name(int setup)
{
    switch (setup) {
    case ANCHOR_SETUP_ACTPASS: return "actpass";
    case ANCHOR_SETUP_ACTIVE: return "active";
    case ANCHOR_SETUP_PASSIVE: return "passive";
    }
    return "?";
}

/* ---- text checks ---- */

static int check_text(const char *text, size_t len, char *err, size_t errlen)
{
    const char *end;
    int line = 0, mlines = 0;

    if (len == 0)
        return bad(err, errlen, "empty description");
    if (len > ANCHOR_SDP_MAX) {
        snprintf(err, errlen, "the description is %zu bytes, at most %d allowed", len,
                 ANCHOR_SDP_MAX);
        return SE_ERR_TOOBIG;
    }
    if (!g_utf8_validate(text, (gssize)len, &end))
        return bad(err, errlen, "not UTF-8 (byte %zu)", (size_t)(end - text));
    for (size_t i = 0; i < len;) {
        size_t n = 0;
        while (i + n < len && text[i + n] != '\n')
            n++;
        size_t body = n && text[i + n - 1] == '\r' ? n - 1 : n;
        line++;
        if (body > ANCHOR_SDP_LINE_MAX) {
            snprintf(err, errlen, "line %d is %zu bytes, at most %d allowed", line, body,
                     ANCHOR_SDP_LINE_MAX);
            return SE_ERR_TOOBIG;
        }
        for (size_t k = 0; k < body; k++) {
            unsigned char c = (unsigned char)text[i + k];
            if (c < 0x20 && c != '\t')
                return bad(err, errlen, "line %d holds a control character", line);
        }
        if (body > 0) {
            if (line == 1 && (body != 3 || memcmp(text, "v=0", 3) != 0))
                return bad(err, errlen, "the description must start with v=0");
            if (body < 2 || text[i] < 'a' || text[i] > 'z' || text[i + 1] != '=')
                return bad(err, errlen, "line %d is not \"<letter>=<value>\"", line);
            if (line > 1 && text[i] == 'v')
                return bad(err, errlen, "line %d: a second v= line", line);
            if (text[i] == 'm' && ++mlines > ANCHOR_MAX_MLINES) {
                snprintf(err, errlen, "more than %d m-lines", ANCHOR_MAX_MLINES);
                return SE_ERR_TOOBIG;
            }
        } else if (line == 1) {
            return bad(err, errlen, "the description must start with v=0");
        }
        i += n + 1;
    }
    if (mlines == 0)
        return bad(err, errlen, "no m-line");
    return 0;
}

/* ---- attribute helpers ---- */

static const char *media_attr(const GstSDPMedia *m, const GstSDPMessage *msg, const char *key)
{
    const char *v = gst_sdp_media_get_attribute_val(m, key);
    return v ? v : gst_sdp_message_get_attribute_val(msg, key);
}

static bool media_has(const GstSDPMedia *m, const char *key)
{
    for (guint i = 0; i < gst_sdp_media_attributes_len(m); i++)
        if (strcmp(gst_sdp_media_get_attribute(m, i)->key, key) == 0)
            return true;
    return false;
}

static bool is_active(const GstSDPMedia *m)
{
    return gst_sdp_media_get_port(m) != 0 || media_has(m, "bundle-only");
}

static bool is_rtp(const GstSDPMedia *m)
{
    const char *p = gst_sdp_media_get_proto(m);
    return p && strstr(p, "RTP/") != NULL;
}

static bool dtls_proto(const char *p)
{
    static const char *const ok[] = {"UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP", "UDP/DTLS/SCTP",
                                     "DTLS/SCTP", NULL};
    for (int i = 0; p && ok[i]; i++)
        if (strcmp(p, ok[i]) == 0)
            return true;
    return false;
}

/* RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/". */
static bool ice_chars(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

static int hash_nid(const char *name, size_t n, uint8_t *len)
{
    static const struct {
        const char *name;
        int nid;
        uint8_t len;
    } h[] = {{"sha-1", NID_sha1, 20},     {"sha-224", NID_sha224, 28},
             {"sha-256", NID_sha256, 32}, {"sha-384", NID_sha384, 48},
             {"sha-512", NID_sha512, 64}};
    for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
        if (strlen(h[i].name) == n && strncasecmp(name, h[i].name, n) == 0) {
            *len = h[i].len;
            return h[i].nid;
        }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int anchor_fp_parse(const char *v, struct anchor_fp *fp)
{
    size_t an = strcspn(v, " ");
    const char *p = v + an;

    if (!(fp->nid = hash_nid(v, an, &fp->len)))
        return SE_ERR_UNSUPP;
    while (*p == ' ')
        p++;
    for (int i = 0; i < fp->len; i++) {
        int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
        if (hi < 0 || lo < 0)
            return SE_ERR_PARSE;
        fp->md[i] = (uint8_t)(hi << 4 | lo);
        p += 2;
        if (i + 1 < fp->len && *p++ != ':')
            return SE_ERR_PARSE;
    }
    while (*p == ' ')
        p++;
    return *p ? SE_ERR_PARSE : 0;
}

/* The group:BUNDLE mids, as a copy of its value ("BUNDLE 0 1 2"), or NULL. */
static const char *bundle_group(const GstSDPMessage *msg)
{
    for (guint i = 0; i < gst_sdp_message_attributes_len(msg); i++) {
        const GstSDPAttribute *a = gst_sdp_message_get_attribute(msg, i);
        if (strcmp(a->key, "group") == 0 && a->value && strncmp(a->value, "BUNDLE", 6) == 0 &&
            (a->value[6] == ' ' || a->value[6] == 0))
            return a->value + 6;
    }
    return NULL;
}

/* Is mid one of the words of group? */
static bool in_group(const char *group, const char *mid)
{
    size_t ml = strlen(mid);

    for (const char *p = group; p && *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == ml && n && strncmp(p, mid, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/* ---- transport ---- */

static int read_candidates(const GstSDPMedia *m, const GstSDPMessage *msg,
                           struct anchor_transport *t, char *err, size_t errlen)
{
    for (guint i = 0; i < gst_sdp_media_attributes_len(m); i++) {
        const GstSDPAttribute *a = gst_sdp_media_get_attribute(m, i);
        if (strcmp(a->key, "end-of-candidates") == 0) {
            t->end_of_candidates = true;
            continue;
        }
        if (strcmp(a->key, "candidate") != 0)
            continue;
        if (!a->value || strlen(a->value) + 10 >= ANCHOR_CAND_LEN)
            return bad(err, errlen, "a=candidate line %s", a->value ? "too long" : "empty");
        /* foundation component transport ...: only UDP is anchored. */
        char f[40], tp[8];
        unsigned comp;
        if (sscanf(a->value, "%39s %u %7s", f, &comp, tp) != 3)
            return bad(err, errlen, "malformed a=candidate line");
        if (strcasecmp(tp, "udp") != 0 || comp != 1 || t->n_cand >= ANCHOR_MAX_CANDS)
            continue;
        snprintf(t->cand[t->n_cand++], ANCHOR_CAND_LEN, "candidate:%s", a->value);
    }
    if (gst_sdp_message_get_attribute_val(msg, "end-of-candidates"))
        t->end_of_candidates = true;
    return 0;
}

static int read_transport(const GstSDPMessage *msg, struct anchor_transport *t, char *err,
                          size_t errlen)
{
    const GstSDPMedia *m = gst_sdp_message_get_media(msg, (guint)t->tag);
    const char *v;
    int rc;

    if (!(v = media_attr(m, msg, "ice-ufrag")) || !ice_chars(v, 4, ANCHOR_UFRAG_MAX))
        return bad(err, errlen, "a=ice-ufrag %s", v ? "is not 4-256 ice-chars" : "missing");
    snprintf(t->ufrag, sizeof(t->ufrag), "%s", v);
    if (!(v = media_attr(m, msg, "ice-pwd")) || !ice_chars(v, 22, ANCHOR_PWD_MAX))
        return bad(err, errlen, "a=ice-pwd %s", v ? "is not 22-256 ice-chars" : "missing");
    snprintf(t->pwd, sizeof(t->pwd), "%s", v);
    if (!(v = media_attr(m, msg, "setup")))
        return bad(err, errlen, "a=setup missing (RFC 8842)");
    if (strcmp(v, "actpass") == 0)
        t->setup = ANCHOR_SETUP_ACTPASS;
    else if (strcmp(v, "active") == 0)
        t->setup = ANCHOR_SETUP_ACTIVE;
    else if (strcmp(v, "passive") == 0)
        t->setup = ANCHOR_SETUP_PASSIVE;
    else {
        snprintf(err, errlen, "a=setup:%.16s is not actpass, active or passive", v);
        return SE_ERR_UNSUPP;
    }
    /* Fingerprints: the m-line's, or the session's if it has none. */
    bool media_level = gst_sdp_media_get_attribute_val(m, "fingerprint") != NULL;
    for (guint n = 0; (v = media_level ? gst_sdp_media_get_attribute_val_n(m, "fingerprint", n)
                                       : gst_sdp_message_get_attribute_val_n(msg, "fingerprint",
                                                                            n));
         n++) {
        struct anchor_fp fp;
        if ((rc = anchor_fp_parse(v, &fp)) == SE_ERR_PARSE)
            return bad(err, errlen, "malformed a=fingerprint");
        if (rc == 0 && t->n_fp < ANCHOR_MAX_FP)
            t->fp[t->n_fp++] = fp;
    }
    if (t->n_fp == 0)
        return bad(err, errlen, "no a=fingerprint with sha-1/224/256/384/512 (RFC 8122)");
    t->ice_lite = gst_sdp_message_get_attribute_val(msg, "ice-lite") != NULL;
    return read_candidates(m, msg, t, err, errlen);
}

/* Every active m-line: DTLS, a mid in the BUNDLE group, rtcp-mux for RTP. */
static int check_mlines(const GstSDPMessage *msg, struct anchor_transport *t, char *err,
                        size_t errlen)
{
    const char *group = bundle_group(msg);
    int active = 0, first = -1;

    t->n_mlines = (int)gst_sdp_message_medias_len(msg);
    for (int i = 0; i < t->n_mlines; i++) {
        const GstSDPMedia *m = gst_sdp_message_get_media(msg, (guint)i);
        const char *mid = gst_sdp_media_get_attribute_val(m, "mid");
        const char *media = gst_sdp_media_get_media(m), *proto = gst_sdp_media_get_proto(m);
        /* RFC 8866 §5.14: m=<media> <port> <proto> <fmt> ... */
        const char *fmt = gst_sdp_media_formats_len(m) ? gst_sdp_media_get_format(m, 0) : NULL;
        if (!media || !*media || !proto || !*proto || !fmt || !*fmt)
            return bad(err, errlen, "m-line %d is not \"m=<media> <port> <proto> <fmt>...\"", i);
        if (!is_active(m))
            continue;
        if (first < 0)
            first = i;
        active++;
        if (!dtls_proto(gst_sdp_media_get_proto(m))) {
            snprintf(err, errlen, "m-line %d: protocol %.32s is not DTLS-SRTP or DTLS/SCTP", i,
                     gst_sdp_media_get_proto(m) ? gst_sdp_media_get_proto(m) : "?");
            return SE_ERR_UNSUPP;
        }
        if (is_rtp(m) && !media_has(m, "rtcp-mux")) {
            snprintf(err, errlen, "m-line %d: a=rtcp-mux is required", i);
            return SE_ERR_UNSUPP;
        }
        if (mid && strlen(mid) > ANCHOR_MID_MAX)
            return bad(err, errlen, "m-line %d: a=mid longer than %d", i, ANCHOR_MID_MAX);
        if (group && (!mid || !in_group(group, mid))) {
            snprintf(err, errlen, "m-line %d is not in the BUNDLE group (BUNDLE is required)", i);
            return SE_ERR_UNSUPP;
        }
    }
    if (active == 0) {
        snprintf(err, errlen, "no active m-line");
        return SE_ERR_UNSUPP;
    }
    if (!group && active > 1) {
        snprintf(err, errlen, "%d m-lines without a=group:BUNDLE (BUNDLE is required)", active);
        return SE_ERR_UNSUPP;
    }
    t->tag = first;
    if (group) {
        /* The tag is the group's first mid that names an active m-line. */
        for (const char *p = group; *p;) {
            while (*p == ' ')
                p++;
            size_t n = strcspn(p, " ");
            for (int i = 0; n && i < t->n_mlines; i++) {
                const GstSDPMedia *m = gst_sdp_message_get_media(msg, (guint)i);
                const char *mid = gst_sdp_media_get_attribute_val(m, "mid");
                if (is_active(m) && mid && strlen(mid) == n && strncmp(mid, p, n) == 0 &&
                    gst_sdp_media_get_port(m) != 0) {
                    t->tag = i;
                    goto found;
                }
            }
            p += n;
        }
        snprintf(err, errlen, "no m-line of the BUNDLE group has a port");
        return SE_ERR_UNSUPP;
    }
found:;
    const char *mid = gst_sdp_media_get_attribute_val(gst_sdp_message_get_media(msg, (guint)t->tag),
                                                      "mid");
    snprintf(t->mid, sizeof(t->mid), "%s", mid ? mid : "");
    return 0;
}

int anchor_sdp_parse(const char *text, size_t len, struct anchor_sdp **out,
                     struct anchor_transport *t, char *err, size_t errlen)
{
    struct anchor_sdp *s;
    int rc;

    *out = NULL;
    memset(t, 0, sizeof(*t));
    if ((rc = check_text(text, len, err, errlen)) < 0)
        return rc;
    if (!(s = calloc(1, sizeof(*s))) || gst_sdp_message_new(&s->msg) != GST_SDP_OK) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    if (gst_sdp_message_parse_buffer((const guint8 *)text, (guint)len, s->msg) != GST_SDP_OK) {
        rc = bad(err, errlen, "unparsable description");
        goto fail;
    }
    if ((rc = check_mlines(s->msg, t, err, errlen)) < 0 ||
        (rc = read_transport(s->msg, t, err, errlen)) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    anchor_sdp_free(s);
    return rc;
}

void anchor_sdp_free(struct anchor_sdp *s)
{
    if (!s)
        return;
    if (s->msg)
        gst_sdp_message_free(s->msg);
    free(s);
}

int anchor_sdp_answers(const struct anchor_sdp *offer, const struct anchor_sdp *answer, char *err,
                       size_t errlen)
{
    guint n = gst_sdp_message_medias_len(offer->msg);

    if (gst_sdp_message_medias_len(answer->msg) != n) {
        snprintf(err, errlen, "the answer has %u m-lines, the offer %u",
                 gst_sdp_message_medias_len(answer->msg), n);
        return SE_ERR_UNSUPP;
    }
    for (guint i = 0; i < n; i++) {
        const GstSDPMedia *o = gst_sdp_message_get_media(offer->msg, i);
        const GstSDPMedia *a = gst_sdp_message_get_media(answer->msg, i);
        const char *om = gst_sdp_media_get_attribute_val(o, "mid");
        const char *am = gst_sdp_media_get_attribute_val(a, "mid");
        if (g_strcmp0(gst_sdp_media_get_media(o), gst_sdp_media_get_media(a)) != 0 ||
            (gst_sdp_media_get_port(a) != 0 && g_strcmp0(om, am) != 0)) {
            snprintf(err, errlen, "m-line %u of the answer does not answer the offer's", i);
            return SE_ERR_UNSUPP;
        }
    }
    return 0;
}

/* ---- rewrite ---- */

static bool is_transport_attr(const char *key)
{
    for (int i = 0; transport_attr[i]; i++)
        if (strcmp(key, transport_attr[i]) == 0)
            return true;
    return false;
}

static bool add(GstSDPResult r, bool *ok)
{
    if (r != GST_SDP_OK)
        *ok = false;
    return *ok;
}

static void rewrite_media(GstSDPMedia *m, const struct anchor_local *l, bool *ok)
{
    bool active = is_active(m), has_port = gst_sdp_media_get_port(m) != 0;
    const char *addrtype = l->v6 ? "IP6" : "IP4";

    for (guint i = gst_sdp_media_attributes_len(m); i-- > 0;)
        if (is_transport_attr(gst_sdp_media_get_attribute(m, i)->key))
            add(gst_sdp_media_remove_attribute(m, i), ok);
    while (gst_sdp_media_connections_len(m) > 0)
        add(gst_sdp_media_remove_connection(m, 0), ok);
    add(gst_sdp_media_add_connection(m, "IN", addrtype, l->addr, 0, 0), ok);
    if (has_port)
        add(gst_sdp_media_set_port_info(m, l->port, 0), ok);
    if (!active)
        return; /* rejected: no transport at all */
    add(gst_sdp_media_add_attribute(m, "ice-ufrag", l->ufrag), ok);
    add(gst_sdp_media_add_attribute(m, "ice-pwd", l->pwd), ok);
    add(gst_sdp_media_add_attribute(m, "ice-options", "trickle"), ok);
    add(gst_sdp_media_add_attribute(m, "fingerprint", l->fingerprint), ok);
    add(gst_sdp_media_add_attribute(m, "setup", anchor_setup_name(l->setup)), ok);
    if (!has_port)
        return; /* bundle-only: the tag carries the candidates */
    for (int i = 0; i < l->n_cand; i++)
        add(gst_sdp_media_add_attribute(m, "candidate",
                                        l->cand[i] + (strncmp(l->cand[i], "candidate:", 10) == 0
                                                          ? 10
                                                          : 0)),
            ok);
    add(gst_sdp_media_add_attribute(m, "end-of-candidates", ""), ok);
}

static char *dup_free(gchar *t)
{
    char *s = t ? strdup(t) : NULL;
    g_free(t);
    return s;
}

char *anchor_sdp_rewrite(const struct anchor_sdp *s, const struct anchor_local *l, char *err,
                         size_t errlen)
{
    GstSDPMessage *c = NULL;
    bool ok = true;
    char *text = NULL;

    if (gst_sdp_message_copy(s->msg, &c) != GST_SDP_OK) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (guint i = gst_sdp_message_attributes_len(c); i-- > 0;)
        if (is_transport_attr(gst_sdp_message_get_attribute(c, i)->key))
            add(gst_sdp_message_remove_attribute(c, i), &ok);
    if (gst_sdp_message_get_connection(c)->address)
        add(gst_sdp_message_set_connection(c, "IN", l->v6 ? "IP6" : "IP4", l->addr, 0, 0), &ok);
    /* GstSDPMessage hands its media out const; this copy is ours to change
     * (the public struct layout is GStreamer's documented API). */
    for (guint i = 0; ok && i < gst_sdp_message_medias_len(c); i++)
        rewrite_media((GstSDPMedia *)gst_sdp_message_get_media(c, i), l, &ok);
    if (ok)
        text = dup_free(gst_sdp_message_as_text(c));
    if (!text)
        snprintf(err, errlen, "cannot write the description");
    gst_sdp_message_free(c);
    return text;
}

char *anchor_sdp_text(const struct anchor_sdp *s)
{
    return dup_free(gst_sdp_message_as_text(s->msg));
}
