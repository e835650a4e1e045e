/*
 * test_anchor.c - the anchor's parts without sockets: descriptions read
 * and rewritten (real Chromium and aiortc offers, hostile ones), DTLS
 * between two in-memory endpoints (keys agree per RFC 5764 §4.2, a wrong
 * fingerprint is refused before any key exists, data records pass), and
 * the packet path between two legs with known SRTP keys: forwarded
 * packets decrypt at the receiving party unchanged, replays and forged
 * packets are dropped and counted, RTCP passes, a party's SSRCs are
 * bounded, a recorded call holds media until its recorder is attached;
 * sedge's own PLI and FIR (RFC 4585 §6.3.1, RFC 5104 §4.3.1).
 */
#include "core/err.h"
#include "relay/anchor/dtls.h"
#include "relay/anchor/internal.h"
#include "relay/anchor/rtp.h"
#include "relay/anchor/sdp.h"
#include "relay/anchor/srtp.h"
#include "tests/unit/check.h"

#include <srtp2/srtp.h>
#include <stdlib.h>

static char *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(ANCHOR_SDP_MAX + 1);
    *len = f && buf ? fread(buf, 1, ANCHOR_SDP_MAX, f) : 0;
    if (f)
        fclose(f);
    if (buf)
        buf[*len] = 0;
    return buf;
}

static int parse_text(const char *text, struct anchor_transport *t, char *err, size_t errlen)
{
    struct anchor_sdp *s = NULL;
    int rc = anchor_sdp_parse(text, strlen(text), &s, t, err, errlen);
    anchor_sdp_free(s);
    return rc;
}

/* ---- descriptions ---- */

static void test_sdp_chromium(void)
{
    static struct anchor_transport t;
    struct anchor_sdp *s = NULL;
    char err[256] = "";
    size_t n;
    char *text = load("tests/fuzz/corpus/anchor_sdp/chrome-offer", &n);

    CHECK(n > 1000);
    CHECK_EQ_INT(anchor_sdp_parse(text, n, &s, &t, err, sizeof(err)), 0);
    CHECK_STR(t.ufrag, "TbVM");
    CHECK_STR(t.pwd, "OWHFwUKuLK73PQ2SnNy8iM/i");
    CHECK_STR(t.mid, "0");
    CHECK_EQ_INT(t.tag, 0);
    CHECK_EQ_INT(t.setup, ANCHOR_SETUP_ACTPASS);
    CHECK_EQ_INT(t.n_fp, 1);
    CHECK_EQ_INT(t.fp[0].len, 32);
    CHECK_EQ_INT(t.fp[0].md[0], 0xC9);
    CHECK_EQ_INT(t.n_cand, 1); /* the TCP candidate is not anchored */
    CHECK(strncmp(t.cand[0], "candidate:483237890 1 udp ", 26) == 0);
    CHECK_EQ_INT(t.n_mlines, 3);

    const char *cand[] = {"candidate:1 1 udp 2015363839 198.51.100.7 40001 typ host"};
    struct anchor_local l = {.ufrag = "sedg", .pwd = "0123456789abcdefghijkl",
                             .fingerprint = "sha-256 01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:"
                                            "11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20",
                             .setup = ANCHOR_SETUP_ACTIVE,
                             .addr = "198.51.100.7", .port = 40001, .cand = cand, .n_cand = 1};
    char *out = anchor_sdp_rewrite(s, &l, err, sizeof(err));
    CHECK(out != NULL);
    if (out) {
        /* Only the transport changed. */
        CHECK(strstr(out, "TbVM") == NULL && strstr(out, "OWHFwUKuLK73PQ2SnNy8iM") == NULL);
        CHECK(strstr(out, "C9:41:98") == NULL);
        CHECK(strstr(out, "127.0.0.1") == NULL || strstr(out, "o=- 5165068817463230951 2 IN IP4 127.0.0.1"));
        CHECK(strstr(out, "a=candidate:483237890") == NULL);
        CHECK(strstr(out, "a=rtcp:9") == NULL);
        CHECK(strstr(out, "m=audio 40001 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"));
        CHECK(strstr(out, "c=IN IP4 198.51.100.7\r\n"));
        CHECK(strstr(out, "a=setup:active\r\n") && strstr(out, "a=ice-ufrag:sedg\r\n"));
        CHECK(strstr(out, "a=candidate:1 1 udp 2015363839 198.51.100.7 40001 typ host\r\n"));
        CHECK(strstr(out, "a=end-of-candidates\r\n"));
        /* Codecs, extensions, msid and ssrc lines kept byte for byte. */
        static const char *const kept[] = {
            "a=rtpmap:102 H264/90000\r\n",
            "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n",
            "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n",
            "a=ssrc:697732237 cname:ib3kgzeGGxtuhq/j\r\n", "a=group:BUNDLE 0 1 2\r\n",
            "a=sctp-port:5000\r\n", NULL};
        for (int i = 0; kept[i]; i++) {
            if (!strstr(out, kept[i]))
                printf("    lost: %s", kept[i]);
            CHECK(strstr(out, kept[i]) != NULL);
        }
        /* The rewrite reads back as sedge's transport. */
        static struct anchor_transport t2;
        CHECK_EQ_INT(parse_text(out, &t2, err, sizeof(err)), 0);
        CHECK_STR(t2.ufrag, "sedg");
        CHECK_EQ_INT(t2.setup, ANCHOR_SETUP_ACTIVE);
        CHECK_EQ_INT(t2.n_cand, 1);
        CHECK(t2.end_of_candidates);
        free(out);
    }
    anchor_sdp_free(s);
    free(text);
}

static void test_sdp_aiortc(void)
{
    static struct anchor_transport t;
    char err[256];
    size_t n;
    char *text = load("tests/fuzz/corpus/anchor_sdp/aiortc-offer", &n);

    CHECK_EQ_INT(parse_text(text, &t, err, sizeof(err)), 0);
    /* aiortc gives each m-line its own credentials: the tag's count. */
    CHECK_STR(t.ufrag, "4IF7");
    CHECK_EQ_INT(t.n_cand, 2);
    CHECK(t.end_of_candidates);
    free(text);
}

static const char good[] = "v=0\r\n"
                           "o=- 1 1 IN IP4 0.0.0.0\r\n"
                           "s=-\r\n"
                           "t=0 0\r\n"
                           "a=group:BUNDLE 0\r\n"
                           "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                           "c=IN IP4 0.0.0.0\r\n"
                           "a=mid:0\r\n"
                           "a=rtcp-mux\r\n"
                           "a=rtpmap:111 opus/48000/2\r\n"
                           "a=ice-ufrag:abcd\r\n"
                           "a=ice-pwd:0123456789abcdefghijkl\r\n"
                           "a=fingerprint:sha-256 "
                           "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
                           "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n"
                           "a=setup:actpass\r\n";

/* good with `from` replaced by `to` (once). */
static char *edit(const char *from, const char *to)
{
    const char *p = strstr(good, from);
    char *out = malloc(sizeof(good) + strlen(to) + 1);
    size_t k = (size_t)(p - good);
    memcpy(out, good, k);
    strcpy(out + k, to);
    strcat(out, p + strlen(from));
    return out;
}

static void expect_bad(const char *text, size_t len, int want, const char *needle)
{
    static struct anchor_transport t;
    struct anchor_sdp *s = NULL;
    char err[256] = "";
    int rc = anchor_sdp_parse(text, len, &s, &t, err, sizeof(err));

    CHECK(s == NULL);
    CHECK_EQ_INT(rc, want);
    if (!strstr(err, needle)) {
        printf("    error \"%s\" lacks \"%s\"\n", err, needle);
        CHECK(0);
    }
    anchor_sdp_free(s);
}

static void expect_bad_edit(const char *from, const char *to, int want, const char *needle)
{
    char *t = edit(from, to);
    expect_bad(t, strlen(t), want, needle);
    free(t);
}

static void test_sdp_hostile(void)
{
    static struct anchor_transport t;
    char err[256];

    CHECK_EQ_INT(parse_text(good, &t, err, sizeof(err)), 0);
    expect_bad("", 0, SE_ERR_PARSE, "empty");
    expect_bad("garbage\r\n", 9, SE_ERR_PARSE, "start with v=0");
    expect_bad_edit("a=fingerprint:sha-256 ", "a=x-fp:sha-256 ", SE_ERR_PARSE, "no a=fingerprint");
    expect_bad_edit("a=fingerprint:sha-256 00:", "a=fingerprint:md5 00:", SE_ERR_PARSE,
                    "no a=fingerprint");
    expect_bad_edit("AA:BB:CC:DD:EE:FF\r\na=setup", "AA:BB:CC:DD:EE\r\na=setup", SE_ERR_PARSE,
                    "malformed a=fingerprint");
    expect_bad_edit("a=setup:actpass", "a=setup:holdconn", SE_ERR_UNSUPP, "holdconn");
    expect_bad_edit("a=setup:actpass\r\n", "", SE_ERR_PARSE, "a=setup missing");
    expect_bad_edit("a=ice-pwd:0123456789abcdefghijkl", "a=ice-pwd:short", SE_ERR_PARSE,
                    "ice-pwd");
    expect_bad_edit("a=ice-ufrag:abcd", "a=ice-ufrag:a b", SE_ERR_PARSE, "ice-ufrag");
    expect_bad_edit("UDP/TLS/RTP/SAVPF", "RTP/AVP", SE_ERR_UNSUPP, "not DTLS-SRTP");
    expect_bad_edit("a=rtcp-mux\r\n", "", SE_ERR_UNSUPP, "rtcp-mux is required");
    expect_bad_edit("a=group:BUNDLE 0\r\n", "a=group:BUNDLE 7\r\n", SE_ERR_UNSUPP,
                    "not in the BUNDLE group");
    expect_bad_edit("s=-", "s=\x01", SE_ERR_PARSE, "control character");
    expect_bad_edit("s=-", "s=\xc3\x28", SE_ERR_PARSE, "not UTF-8");
    expect_bad_edit("t=0 0\r\n", "t=0 0\r\nnot a line\r\n", SE_ERR_PARSE, "line 5");
    /* Found by fuzz_anchor_sdp: an m-line without its fields used to pass
     * and come out of the rewrite as another kind of m-line. */
    expect_bad_edit("m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=", SE_ERR_PARSE, "m-line 0 is not");
    expect_bad_edit("m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 9 UDP/TLS/RTP/SAVPF", SE_ERR_PARSE,
                    "m-line 0 is not");
    /* Also found by the fuzzer: a later v= line became the rewrite's first. */
    expect_bad_edit("s=-\r\n", "s=-\r\nv=1\r\n", SE_ERR_PARSE, "a second v= line");

    /* Two m-lines without BUNDLE. */
    char *two = malloc(2 * sizeof(good));
    snprintf(two, 2 * sizeof(good), "%s%s", good, strstr(good, "m=audio"));
    char *nob = strstr(two, "a=group:BUNDLE 0\r\n");
    memmove(nob, nob + 18, strlen(nob + 18) + 1);
    expect_bad(two, strlen(two), SE_ERR_UNSUPP, "without a=group:BUNDLE");
    free(two);

    /* 1 000 m-lines, a huge attribute, more than ANCHOR_SDP_MAX bytes. */
    size_t cap = 1000 * 40 + sizeof(good);
    char *many = malloc(cap);
    size_t o = (size_t)snprintf(many, cap, "%s", good);
    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(many + o, cap - o, "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n");
    expect_bad(many, o, SE_ERR_TOOBIG, "more than 32 m-lines");
    free(many);
    char *huge = malloc(ANCHOR_SDP_LINE_MAX + sizeof(good) + 16);
    o = (size_t)sprintf(huge, "%sa=x:", good);
    memset(huge + o, 'x', ANCHOR_SDP_LINE_MAX);
    o += ANCHOR_SDP_LINE_MAX;
    strcpy(huge + o, "\r\n");
    expect_bad(huge, o + 2, SE_ERR_TOOBIG, "line 15 is");
    free(huge);
    char *big = malloc(ANCHOR_SDP_MAX + 2);
    memset(big, 'a', ANCHOR_SDP_MAX + 1);
    expect_bad(big, ANCHOR_SDP_MAX + 1, SE_ERR_TOOBIG, "at most 65536");
    free(big);

    /* An answer must answer its offer. */
    struct anchor_sdp *a = NULL, *b = NULL;
    char *video = edit("m=audio", "m=video");
    CHECK_EQ_INT(anchor_sdp_parse(good, strlen(good), &a, &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(anchor_sdp_parse(video, strlen(video), &b, &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(anchor_sdp_answers(a, a, err, sizeof(err)), 0);
    CHECK_EQ_INT(anchor_sdp_answers(a, b, err, sizeof(err)), SE_ERR_UNSUPP);
    anchor_sdp_free(a);
    anchor_sdp_free(b);
    free(video);
}

/* ---- DTLS in memory ---- */

/* Datagrams are queued and delivered after the call that sent them
 * returns (as the network would), never from inside OpenSSL. */
struct wire {
    struct anchor_dtls *to; /* where sent datagrams go */
    uint8_t app[2048];
    size_t app_len;
    int datagrams;
    uint8_t q[32][1600];
    size_t qlen[32];
    int n;
};

static void wire_send(void *arg, const uint8_t *buf, size_t len)
{
    struct wire *w = arg;
    w->datagrams++;
    if (w->n < 32 && len <= sizeof(w->q[0])) {
        memcpy(w->q[w->n], buf, len);
        w->qlen[w->n++] = len;
    }
}

/* Deliver everything both ends sent until both are quiet. */
static void pump(struct wire *a, struct wire *b)
{
    for (int round = 0; round < 64 && (a->n || b->n); round++) {
        struct wire *ws[2] = {a, b};
        for (int k = 0; k < 2; k++) {
            struct wire *w = ws[k];
            int n = w->n;
            static uint8_t q[32][1600];
            static size_t ql[32];
            memcpy(q, w->q, sizeof(q));
            memcpy(ql, w->qlen, sizeof(ql));
            w->n = 0;
            for (int i = 0; i < n; i++)
                anchor_dtls_input(w->to, q[i], ql[i]);
        }
    }
}

static void wire_app(void *arg, uint8_t *buf, size_t len)
{
    struct wire *w = arg;
    memcpy(w->app, buf, len < sizeof(w->app) ? len : sizeof(w->app));
    w->app_len = len;
}

static void fp_of(struct anchor_cert *c, struct anchor_fp *fp)
{
    CHECK_EQ_INT(anchor_fp_parse(anchor_cert_fingerprint(c), fp), 0);
}

static void test_dtls(void)
{
    struct anchor_cert *sedge, *party;
    struct anchor_fp fs, fpt, wrong;
    char err[256];
    struct wire wc = {0}, ws = {0};

    CHECK_EQ_INT(anchor_cert_new(&sedge, err, sizeof(err)), 0);
    CHECK_EQ_INT(anchor_cert_new(&party, err, sizeof(err)), 0);
    CHECK(strncmp(anchor_cert_fingerprint(sedge), "sha-256 ", 8) == 0);
    CHECK_EQ_INT(strlen(anchor_cert_fingerprint(sedge)), 8 + 32 * 3 - 1);
    fp_of(sedge, &fs);
    fp_of(party, &fpt);

    /* sedge as client, the party as server: both check the other. */
    struct anchor_dtls_cb cc = {wire_send, wire_app, &wc}, sc = {wire_send, wire_app, &ws};
    struct anchor_dtls *c = anchor_dtls_new(sedge, true, &fpt, 1, &cc);
    struct anchor_dtls *s = anchor_dtls_new(party, false, &fs, 1, &sc);
    wc.to = s;
    ws.to = c;
    anchor_dtls_start(s);
    anchor_dtls_start(c);
    pump(&wc, &ws);
    CHECK_EQ_INT(anchor_dtls_state(c), ANCHOR_DTLS_CONNECTED);
    CHECK_EQ_INT(anchor_dtls_state(s), ANCHOR_DTLS_CONNECTED);
    struct anchor_srtp_keys kc, ks;
    CHECK_EQ_INT(anchor_dtls_keys(c, &kc), 0);
    CHECK_EQ_INT(anchor_dtls_keys(s, &ks), 0);
    CHECK_EQ_INT(kc.profile, ANCHOR_SRTP_AEAD_AES_128_GCM); /* the preferred profile */
    CHECK_EQ_INT(kc.key_len + kc.salt_len, 28);
    CHECK_MEM(kc.local, ks.remote, kc.key_len + kc.salt_len);
    CHECK_MEM(kc.remote, ks.local, kc.key_len + kc.salt_len);
    CHECK(memcmp(kc.local, kc.remote, kc.key_len) != 0);
    /* An SCTP packet as one record, each way. */
    CHECK_EQ_INT(anchor_dtls_write(c, (const uint8_t *)"sctp-one", 8), 0);
    pump(&wc, &ws);
    CHECK(ws.app_len == 8 && memcmp(ws.app, "sctp-one", 8) == 0);
    CHECK_EQ_INT(anchor_dtls_write(s, (const uint8_t *)"sctp-two!", 9), 0);
    pump(&wc, &ws);
    CHECK(wc.app_len == 9 && memcmp(wc.app, "sctp-two!", 9) == 0);
    anchor_dtls_free(c);
    anchor_dtls_free(s);

    /* The party's certificate is not the one in its description. */
    wrong = fpt;
    wrong.md[5] ^= 1;
    memset(&wc, 0, sizeof(wc));
    memset(&ws, 0, sizeof(ws));
    c = anchor_dtls_new(sedge, true, &wrong, 1, &cc);
    s = anchor_dtls_new(party, false, &fs, 1, &sc);
    wc.to = s;
    ws.to = c;
    anchor_dtls_start(s);
    anchor_dtls_start(c);
    pump(&wc, &ws);
    CHECK_EQ_INT(anchor_dtls_state(c), ANCHOR_DTLS_FAILED);
    CHECK(strstr(anchor_dtls_error(c), "does not match the fingerprint") != NULL);
    CHECK(anchor_dtls_keys(c, &kc) < 0);
    CHECK(anchor_dtls_state(s) != ANCHOR_DTLS_CONNECTED);
    CHECK(anchor_dtls_write(c, (const uint8_t *)"x", 1) < 0);
    anchor_dtls_free(c);
    anchor_dtls_free(s);

    /* sedge as server checks a client that lies about its certificate. */
    memset(&wc, 0, sizeof(wc));
    memset(&ws, 0, sizeof(ws));
    c = anchor_dtls_new(party, true, &fs, 1, &cc);
    s = anchor_dtls_new(sedge, false, &wrong, 1, &sc);
    wc.to = s;
    ws.to = c;
    anchor_dtls_start(s);
    anchor_dtls_start(c);
    pump(&wc, &ws);
    CHECK_EQ_INT(anchor_dtls_state(s), ANCHOR_DTLS_FAILED);
    CHECK(anchor_dtls_keys(s, &ks) < 0);
    anchor_dtls_free(c);
    anchor_dtls_free(s);
    anchor_cert_free(sedge);
    anchor_cert_free(party);
}

/* ---- the packet path ---- */

struct sink {
    uint8_t last[2048];
    int len, count;
};
static struct sink sinks[2];

static void sink_send(struct anchor_leg *l, const uint8_t *buf, size_t len)
{
    struct sink *k = &sinks[l->side];
    memcpy(k->last, buf, len);
    k->len = (int)len;
    k->count++;
}

/* A party's own context: what it encrypts with / decrypts with. */
static srtp_t party_ctx(const uint8_t *key, bool inbound)
{
    srtp_policy_t p;
    srtp_t ctx;
    uint8_t k[30];
    memcpy(k, key, 30);
    memset(&p, 0, sizeof(p));
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
    p.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    p.key = k;
    p.window_size = 1024;
    p.allow_repeat_tx = 1;
    srtp_create(&ctx, &p);
    return ctx;
}

static int rtp(uint8_t *b, uint16_t seq, uint32_t ssrc, uint8_t pt, const char *payload)
{
    b[0] = 0x80;
    b[1] = pt;
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    memset(b + 4, 0, 4);
    b[8] = (uint8_t)(ssrc >> 24);
    b[9] = (uint8_t)(ssrc >> 16);
    b[10] = (uint8_t)(ssrc >> 8);
    b[11] = (uint8_t)ssrc;
    size_t n = strlen(payload);
    memcpy(b + 12, payload, n);
    return (int)(12 + n);
}

static void test_media_path(void)
{
    static struct anchor_thread th;
    static struct anchor_server srv;
    static struct anchor_session s;
    uint8_t ka_party[30], ka_sedge[30], kb_party[30], kb_sedge[30];
    struct anchor_srtp_keys ka = {.profile = ANCHOR_SRTP_AES128_CM_SHA1_80, .key_len = 16,
                                  .salt_len = 14},
                            kb = ka;

    for (int i = 0; i < 30; i++) {
        ka_party[i] = (uint8_t)(i + 1);
        ka_sedge[i] = (uint8_t)(i + 101);
        kb_party[i] = (uint8_t)(i + 51);
        kb_sedge[i] = (uint8_t)(i + 151);
    }
    memcpy(ka.remote, ka_party, 30); /* leg A: what party A sends with */
    memcpy(ka.local, ka_sedge, 30);
    memcpy(kb.remote, kb_party, 30);
    memcpy(kb.local, kb_sedge, 30);
    s.srv = &srv;
    s.t = &th;
    snprintf(s.id, sizeof(s.id), "an-test");
    for (int i = 0; i < 2; i++) {
        s.leg[i].s = &s;
        s.leg[i].side = i;
        s.leg[i].send_fn = sink_send;
    }
    CHECK_EQ_INT(anchor_srtp_new(&s.leg[0].srtp, &ka), 0);
    CHECK_EQ_INT(anchor_srtp_new(&s.leg[1].srtp, &kb), 0);
    srtp_t a_tx = party_ctx(ka_party, false), b_rx = party_ctx(kb_sedge, true),
           a_rx = party_ctx(ka_sedge, true);

    uint8_t pkt[2048], plain[2048];
    int n = rtp(pkt, 100, 0x11223344, 96, "hello-video"), pn;
    memcpy(plain, pkt, (size_t)n);
    pn = n;
    CHECK_EQ_INT(srtp_protect(a_tx, pkt, &n), srtp_err_status_ok);
    anchor_media_input(&s.leg[0], pkt, (size_t)n);
    CHECK_EQ_INT(sinks[1].count, 1);
    int m = sinks[1].len;
    CHECK_EQ_INT(srtp_unprotect(b_rx, sinks[1].last, &m), srtp_err_status_ok);
    CHECK_EQ_INT(m, pn);
    CHECK_MEM(sinks[1].last, plain, (size_t)pn); /* header, SSRC, PT, payload unchanged */

    /* A replay and a forged packet go nowhere. */
    anchor_media_input(&s.leg[0], pkt, (size_t)n);
    CHECK_EQ_INT(sinks[1].count, 1);
    CHECK_EQ_INT(s.leg[0].replay, 1);
    n = rtp(pkt, 101, 0x11223344, 96, "forged");
    CHECK_EQ_INT(srtp_protect(a_tx, pkt, &n), srtp_err_status_ok);
    pkt[14] ^= 0x40;
    anchor_media_input(&s.leg[0], pkt, (size_t)n);
    CHECK_EQ_INT(sinks[1].count, 1);
    CHECK_EQ_INT(s.leg[0].auth_fail, 1);
    /* Without the party's keys a packet never authenticates. */
    srtp_t other = party_ctx(kb_party, false);
    n = rtp(pkt, 102, 0x11223344, 96, "wrong-keys");
    CHECK_EQ_INT(srtp_protect(other, pkt, &n), srtp_err_status_ok);
    anchor_media_input(&s.leg[0], pkt, (size_t)n);
    CHECK_EQ_INT(sinks[1].count, 1);
    CHECK_EQ_INT(s.leg[0].auth_fail, 2);

    /* RTCP (a receiver report) passes too. */
    uint8_t rr[64] = {0x80, 201, 0, 1, 0x11, 0x22, 0x33, 0x44};
    n = 8;
    CHECK_EQ_INT(srtp_protect_rtcp(a_tx, rr, &n), srtp_err_status_ok);
    anchor_media_input(&s.leg[0], rr, (size_t)n);
    CHECK_EQ_INT(sinks[1].count, 2);
    m = sinks[1].len;
    CHECK_EQ_INT(srtp_unprotect_rtcp(b_rx, sinks[1].last, &m), srtp_err_status_ok);
    CHECK_EQ_INT(m, 8);

    /* A party may use ANCHOR_MAX_SSRC SSRCs; more are dropped. */
    for (uint32_t i = 0; i < ANCHOR_MAX_SSRC + 4; i++) {
        n = rtp(pkt, 1, 0x50000000 + i, 96, "ssrc");
        srtp_protect(a_tx, pkt, &n);
        anchor_media_input(&s.leg[0], pkt, (size_t)n);
    }
    CHECK_EQ_INT(s.leg[0].n_ssrcs, ANCHOR_MAX_SSRC);
    CHECK_EQ_INT(sinks[1].count, 2 + ANCHOR_MAX_SSRC - 1);

    /* A recorded call without its recorder: held, then a PLI once it flows. */
    s.record = true;
    int before = sinks[1].count;
    n = rtp(pkt, 200, 0x11223344, 96, "held");
    srtp_protect(a_tx, pkt, &n);
    anchor_media_input(&s.leg[0], pkt, (size_t)n);
    CHECK_EQ_INT(sinks[1].count, before);
    CHECK(s.leg[0].held[0]);
    s.record = false; /* as if attached */
    int to_a = sinks[0].count;
    n = rtp(pkt, 201, 0x11223344, 96, "flows");
    srtp_protect(a_tx, pkt, &n);
    anchor_media_input(&s.leg[0], pkt, (size_t)n);
    CHECK_EQ_INT(sinks[1].count, before + 1);
    CHECK_EQ_INT(sinks[0].count, to_a + 1); /* the PLI, to party A */
    m = sinks[0].len;
    CHECK_EQ_INT(srtp_unprotect_rtcp(a_rx, sinks[0].last, &m), srtp_err_status_ok);
    CHECK_EQ_INT(m, RTCP_PLI_LEN);
    CHECK(sinks[0].last[1] == 206 && (sinks[0].last[0] & 0x1f) == 1);
    CHECK_EQ_INT(anchor_rd32(sinks[0].last + 8), 0x11223344);

    /* Not RTP, RTCP or DTLS: dropped. */
    uint64_t dropped = s.leg[0].dropped;
    anchor_media_input(&s.leg[0], (const uint8_t *)"\x10zrtp", 5);
    CHECK_EQ_INT(s.leg[0].dropped, dropped + 1);

    srtp_dealloc(a_tx);
    srtp_dealloc(b_rx);
    srtp_dealloc(a_rx);
    srtp_dealloc(other);
    anchor_srtp_free(s.leg[0].srtp);
    anchor_srtp_free(s.leg[1].srtp);
}

static void test_rtcp_and_demux(void)
{
    uint8_t b[RTCP_PLI_LEN + RTCP_FIR_LEN];

    CHECK_EQ_INT(anchor_rtcp_pli(b, 0x01020304, 0xa0b0c0d0), 12);
    static const uint8_t pli[12] = {0x81, 206, 0, 2, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0};
    CHECK_MEM(b, pli, 12);
    CHECK_EQ_INT(anchor_rtcp_fir(b, 0x01020304, 0xa0b0c0d0, 7), 20);
    static const uint8_t fir[20] = {0x84, 206, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0,
                                    0xa0, 0xb0, 0xc0, 0xd0, 7, 0, 0, 0};
    CHECK_MEM(b, fir, 20);
    static const uint8_t dtls[13] = {22, 0xfe, 0xfd};
    CHECK_EQ_INT(anchor_classify(dtls, 13), ANCHOR_PKT_DTLS);
    CHECK_EQ_INT(anchor_classify(dtls, 12), ANCHOR_PKT_OTHER);
    static const uint8_t stun[20] = {0, 1};
    CHECK_EQ_INT(anchor_classify(stun, 20), ANCHOR_PKT_STUN);
    static const uint8_t r[12] = {0x80, 96};
    CHECK_EQ_INT(anchor_classify(r, 12), ANCHOR_PKT_RTP);
    CHECK_EQ_INT(anchor_classify(r, 11), ANCHOR_PKT_OTHER);
    static const uint8_t c[8] = {0x80, 200};
    CHECK_EQ_INT(anchor_classify(c, 8), ANCHOR_PKT_RTCP);
    static const uint8_t turn[8] = {0x40, 0};
    CHECK_EQ_INT(anchor_classify(turn, 8), ANCHOR_PKT_OTHER);
    CHECK_EQ_INT(anchor_classify(turn, 0), ANCHOR_PKT_OTHER);
}

int main(void)
{
    RUN(test_sdp_chromium);
    RUN(test_sdp_aiortc);
    RUN(test_sdp_hostile);
    RUN(test_dtls);
    RUN(test_media_path);
    RUN(test_rtcp_and_demux);
    return check_done();
}
