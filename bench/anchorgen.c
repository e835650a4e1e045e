/*
 * anchorgen.c - a load generator for anchor mode (bench/bench_anchor.sh).
 *
 * N calls, each two parties in this process that do what two browsers do
 * through sedge's anchor: party A offers (POST /v1/anchor over HTTPS),
 * party B answers sedge's offer (POST /v1/anchor/{id}/answer), both run
 * ICE with libnice, DTLS with OpenSSL and SRTP with libsrtp2 (sedge's own
 * relay/anchor/dtls.c and srtp.c, as a client would), then both send a
 * video and an audio stream at the pace of their RTP timestamps: real
 * H.264 and Opus RTP from RFC 4571 files (--video, --audio; GStreamer
 * makes them), looped with continuous sequence numbers and timestamps, or
 * synthetic packets of the given rate without files.
 *
 * Phases: setup (all calls up, bounded), warm-up, then a measured window
 * with sedge's CPU time from /proc/PID/stat (utime + stime) before and
 * after, packets sent and received by the parties, and loss after a
 * drain. One "key=value" line per run on stdout. Receivers count every
 * packet and check one in 64 by decrypting it (a wrong key or a broken
 * packet counts as bad). Every wait is bounded; all traffic stays on the
 * loopback addresses given.
 *
 *   anchorgen --api HOST:PORT --ca CERT --user U --password P -n CALLS
 *             [-d SECONDS] [--video F --audio F | --video-kbps K]
 *             [--server-pid PID] [--bind 127.0.0.5]
 *   --video-only: one m-line per call (video), no BUNDLE, for peers
 *   without BUNDLE (rtpengine 10.5 puts each m-line on its own port)
 *   anchorgen --ng HOST:PORT -n CALLS ...   the same calls through rtpengine
 *             (its ng control protocol: offer from A, answer from B, with
 *             DTLS-SRTP terminated and re-encrypted on both legs), for the
 *             side-by-side figures in docs/benchmark.md
 */
#include "core/err.h"
#include "relay/anchor/dtls.h"
#include "relay/anchor/rtp.h"
#include "relay/anchor/sdp.h"
#include "relay/anchor/srtp.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <glib.h>
#include <jansson.h>
#include <netdb.h>
#include <nice/agent.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_PKTS = 200000, PKT_MAX = 1500, TICK_MS = 5 };

struct track { /* packets of one RFC 4571 file, or synthetic */
    uint8_t **pkt;
    uint16_t *len;
    uint32_t *ts;
    int n;
    unsigned clock;
    double loop_s; /* length of the file in seconds */
    double bytes;  /* in all */
    uint8_t pt;
};

struct party;
struct call {
    int idx;
    char id[64];
    struct party *p[2]; /* A (inside, offers), B (outside, answers) */
    bool up;
};

struct stream {
    struct track *t;
    uint32_t ssrc;
    uint16_t seq;
    int next, loops;
    double budget; /* pacer: bytes it may still send this tick */
};

struct party {
    struct call *c;
    int side;
    NiceAgent *agent;
    guint stream;
    char ufrag[64], pwd[64], cand[4][256];
    int n_cand;
    struct anchor_dtls *dtls;
    struct anchor_srtp *srtp;
    struct anchor_fp fp; /* sedge's, from its description */
    bool ice_up, client;
    struct stream s[2]; /* video, audio */
    uint64_t sent, recv, bad, checked;
};

static struct {
    char api_host[64], ng_host[64];
    int api_port, ng_port; /* ng_port: drive rtpengine instead of sedge (--ng) */
    const char *ca, *user, *password, *video, *audio, *bind;
    int calls, spid;
    int n_media; /* m-lines per call: 2 (video + audio, BUNDLE), or 1 (--video-only) */
    double seconds, video_kbps;
} opt = {.bind = "127.0.0.5", .calls = 1, .seconds = 10, .video_kbps = 2500, .n_media = 2};

static struct anchor_cert *cert;
static struct track video, audio;
static struct call *calls;
static GMainContext *ctx;
static uint8_t sendbuf[PKT_MAX + ANCHOR_SRTP_TRAILER];
static double t0_s; /* media start */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double server_cpu(void)
{
    char path[64], buf[1024];
    unsigned long ut = 0, st = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", opt.spid);
    FILE *f = opt.spid ? fopen(path, "r") : NULL;
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    /* fields after ")": state ppid ... utime is the 14th field overall */
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

/* ---- media sources ---- */

static void load_track(struct track *t, const char *path, unsigned clock)
{
    FILE *f = fopen(path, "rb");
    uint8_t hdr[2];

    if (!f) {
        fprintf(stderr, "anchorgen: cannot read %s\n", path);
        exit(1);
    }
    t->pkt = calloc(MAX_PKTS, sizeof(*t->pkt));
    t->len = calloc(MAX_PKTS, sizeof(*t->len));
    t->ts = calloc(MAX_PKTS, sizeof(*t->ts));
    t->clock = clock;
    while (t->n < MAX_PKTS && fread(hdr, 1, 2, f) == 2) {
        uint16_t n = (uint16_t)(hdr[0] << 8 | hdr[1]);
        uint8_t *b = malloc(n ? n : 1);
        if (fread(b, 1, n, f) != n || n < 12 || n > PKT_MAX) {
            free(b);
            break;
        }
        t->pkt[t->n] = b;
        t->len[t->n] = n;
        t->ts[t->n] = anchor_rd32(b + 4);
        t->pt = b[1] & 0x7f;
        t->bytes += n;
        t->n++;
    }
    fclose(f);
    if (t->n < 2) {
        fprintf(stderr, "anchorgen: %s holds no RTP\n", path);
        exit(1);
    }
    t->loop_s = (double)(uint32_t)(t->ts[t->n - 1] - t->ts[0]) / clock + 1.0 / 30;
}

/* Synthetic: packets of `size` bytes at `pps`, one second looped. */
static void synth_track(struct track *t, double pps, size_t size, unsigned clock, uint8_t pt)
{
    t->n = (int)pps;
    t->pkt = calloc((size_t)t->n, sizeof(*t->pkt));
    t->len = calloc((size_t)t->n, sizeof(*t->len));
    t->ts = calloc((size_t)t->n, sizeof(*t->ts));
    t->clock = clock;
    t->pt = pt;
    t->loop_s = 1.0;
    for (int i = 0; i < t->n; i++) {
        t->pkt[i] = calloc(1, size);
        t->pkt[i][0] = 0x80;
        t->pkt[i][1] = pt;
        for (size_t k = 12; k < size; k++)
            t->pkt[i][k] = (uint8_t)(k * 31 + (size_t)i);
        t->len[i] = (uint16_t)size;
        t->bytes += (double)size;
        t->ts[i] = (uint32_t)((double)i / pps * clock);
    }
}

/* Send the packets of s whose time has come, paced as a browser paces
 * (libwebrtc: 2.5 x the media rate), so a keyframe leaves as a stream of
 * packets rather than one burst. */
static void pump_stream(struct party *p, struct stream *s, double now)
{
    struct track *t = s->t;
    double rate = t->bytes / t->loop_s * 2.5; /* bytes per second */

    s->budget += rate * TICK_MS / 1000.0;
    if (s->budget > rate * 0.05)
        s->budget = rate * 0.05;
    for (;;) {
        double at = s->loops * t->loop_s + (double)(uint32_t)(t->ts[s->next] - t->ts[0]) / t->clock;
        if (t0_s + at > now || s->budget <= 0)
            return;
        s->budget -= t->len[s->next];
        int n = t->len[s->next];
        memcpy(sendbuf, t->pkt[s->next], (size_t)n);
        uint32_t ts = t->ts[s->next] + (uint32_t)(s->loops * t->loop_s * t->clock);
        sendbuf[2] = (uint8_t)(s->seq >> 8);
        sendbuf[3] = (uint8_t)s->seq;
        s->seq++;
        sendbuf[4] = (uint8_t)(ts >> 24);
        sendbuf[5] = (uint8_t)(ts >> 16);
        sendbuf[6] = (uint8_t)(ts >> 8);
        sendbuf[7] = (uint8_t)ts;
        sendbuf[8] = (uint8_t)(s->ssrc >> 24);
        sendbuf[9] = (uint8_t)(s->ssrc >> 16);
        sendbuf[10] = (uint8_t)(s->ssrc >> 8);
        sendbuf[11] = (uint8_t)s->ssrc;
        if (anchor_srtp_protect(p->srtp, sendbuf, &n, false) == 0 &&
            nice_agent_send(p->agent, p->stream, 1, (guint)n, (const gchar *)sendbuf) >= 0)
            p->sent++;
        if (++s->next == t->n) {
            s->next = 0;
            s->loops++;
        }
    }
}

static gboolean tick(gpointer arg)
{
    double now = now_s();
    (void)arg;
    if (!t0_s)
        return G_SOURCE_CONTINUE;
    for (int i = 0; i < opt.calls; i++)
        for (int k = 0; calls[i].up && k < 2; k++)
            for (int m = 0; m < opt.n_media; m++)
                pump_stream(calls[i].p[k], &calls[i].p[k]->s[m], now);
    return G_SOURCE_CONTINUE;
}

/* ---- a party: ICE, DTLS, SRTP ---- */

static void dtls_send(void *arg, const uint8_t *buf, size_t len)
{
    struct party *p = arg;
    nice_agent_send(p->agent, p->stream, 1, (guint)len, (const gchar *)buf);
}

static void dtls_app(void *arg, uint8_t *buf, size_t len)
{
    (void)arg;
    (void)buf;
    (void)len;
}

static void check_up(struct call *c)
{
    if (!c->up && c->p[0]->srtp && c->p[1]->srtp)
        c->up = true;
}

static void on_recv(NiceAgent *a, guint st, guint comp, guint len, gchar *buf, gpointer arg)
{
    struct party *p = arg;
    const uint8_t *b = (const uint8_t *)buf;
    (void)a;
    (void)st;
    (void)comp;
    int kind = anchor_classify(b, len);
    if (kind == ANCHOR_PKT_DTLS && p->dtls) {
        int before = anchor_dtls_state(p->dtls);
        if (anchor_dtls_input(p->dtls, b, len) == ANCHOR_DTLS_CONNECTED &&
            before != ANCHOR_DTLS_CONNECTED) {
            struct anchor_srtp_keys k;
            if (anchor_dtls_keys(p->dtls, &k) == 0)
                anchor_srtp_new(&p->srtp, &k);
            check_up(p->c);
        }
        return;
    }
    if (kind != ANCHOR_PKT_RTP)
        return;
    p->recv++;
    if ((p->recv & 63) == 0 && p->srtp && len <= PKT_MAX + ANCHOR_SRTP_TRAILER) {
        static uint8_t chk[PKT_MAX + ANCHOR_SRTP_TRAILER];
        int n = (int)len;
        memcpy(chk, b, len);
        p->checked++;
        if (anchor_srtp_unprotect(p->srtp, chk, &n, false) != 0)
            p->bad++;
    }
}

static void start_dtls(struct party *p)
{
    struct anchor_dtls_cb cb = {dtls_send, dtls_app, p};
    if (p->dtls)
        return;
    p->dtls = anchor_dtls_new(cert, p->client, &p->fp, 1, &cb);
    anchor_dtls_start(p->dtls);
}

static void on_state(NiceAgent *a, guint st, guint comp, guint state, gpointer arg)
{
    struct party *p = arg;
    (void)a;
    (void)st;
    (void)comp;
    if ((state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY) &&
        !p->ice_up) {
        p->ice_up = true;
        if (p->client)
            start_dtls(p);
    }
}

static struct party *party_new(struct call *c, int side)
{
    struct party *p = calloc(1, sizeof(*p));
    NiceAddress na;

    p->c = c;
    p->side = side;
    p->agent = nice_agent_new_full(ctx, NICE_COMPATIBILITY_RFC5245, NICE_AGENT_OPTION_NONE);
    g_object_set(p->agent, "ice-tcp", FALSE, "controlling-mode", side == 0, NULL);
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(p->agent), "upnp"))
        g_object_set(p->agent, "upnp", FALSE, NULL);
    nice_address_init(&na);
    nice_address_set_from_string(&na, opt.bind);
    nice_agent_add_local_address(p->agent, &na);
    p->stream = nice_agent_add_stream(p->agent, 1);
    g_signal_connect(p->agent, "component-state-changed", G_CALLBACK(on_state), p);
    nice_agent_attach_recv(p->agent, p->stream, 1, ctx, on_recv, p);
    nice_agent_gather_candidates(p->agent, p->stream);
    gchar *u, *pw;
    nice_agent_get_local_credentials(p->agent, p->stream, &u, &pw);
    snprintf(p->ufrag, sizeof(p->ufrag), "%s", u);
    snprintf(p->pwd, sizeof(p->pwd), "%s", pw);
    g_free(u);
    g_free(pw);
    GSList *cands = nice_agent_get_local_candidates(p->agent, p->stream, 1);
    for (GSList *i = cands; i && p->n_cand < 4; i = i->next) {
        NiceCandidate *nc = i->data;
        char ip[NICE_ADDRESS_STRING_LEN];
        nice_address_to_string(&nc->addr, ip);
        snprintf(p->cand[p->n_cand++], sizeof(p->cand[0]), "%s 1 udp %u %s %u typ host",
                 nc->foundation, nc->priority, ip, nice_address_get_port(&nc->addr));
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
    for (int m = 0; m < 2; m++) {
        p->s[m].t = m == 0 ? &video : &audio;
        p->s[m].ssrc = (uint32_t)(0x10000000u + (uint32_t)c->idx * 16u + (uint32_t)side * 4u +
                                  (uint32_t)m);
    }
    return p;
}

/* The party's description (offer or answer). */
static char *describe(const struct party *p, const char *setup)
{
    GString *s = g_string_new(NULL);
    const char *fp = anchor_cert_fingerprint(cert);
    g_string_append_printf(s, "v=0\r\no=- %d 1 IN IP4 %s\r\ns=-\r\nt=0 0\r\n%s", p->c->idx + 1,
                           opt.bind, opt.n_media == 2 ? "a=group:BUNDLE 0 1\r\n" : "");
    for (int m = 0; m < opt.n_media; m++) {
        const struct track *t = m == 0 ? &video : &audio;
        g_string_append_printf(s, "m=%s 9 UDP/TLS/RTP/SAVPF %u\r\nc=IN IP4 %s\r\na=mid:%d\r\n"
                                  "a=sendrecv\r\na=rtcp-mux\r\n",
                               m == 0 ? "video" : "audio", t->pt, opt.bind, m);
        if (m == 0)
            g_string_append_printf(s, "a=rtpmap:%u H264/90000\r\na=fmtp:%u "
                                      "packetization-mode=1;profile-level-id=42e01f\r\n",
                                   t->pt, t->pt);
        else
            g_string_append_printf(s, "a=rtpmap:%u opus/48000/2\r\n", t->pt);
        g_string_append_printf(s, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:%s\r\n"
                                  "a=setup:%s\r\n",
                               p->ufrag, p->pwd, fp, setup);
        for (int i = 0; i < p->n_cand; i++)
            g_string_append_printf(s, "a=candidate:%s\r\n", p->cand[i]);
        g_string_append(s, "a=end-of-candidates\r\n");
    }
    return g_string_free(s, FALSE);
}

/* Apply sedge's description for this party: ICE and the DTLS role. */
static int apply(struct party *p, const char *sdp)
{
    static struct anchor_transport t;
    struct anchor_sdp *s = NULL;
    char err[256];
    if (anchor_sdp_parse(sdp, strlen(sdp), &s, &t, err, sizeof(err)) < 0) {
        fprintf(stderr, "anchorgen: sedge's description: %s\n", err);
        return -1;
    }
    anchor_sdp_free(s);
    p->fp = t.fp[0];
    nice_agent_set_remote_credentials(p->agent, p->stream, t.ufrag, t.pwd);
    GSList *list = NULL;
    for (int i = 0; i < t.n_cand; i++) {
        char line[300];
        snprintf(line, sizeof(line), "a=%s", t.cand[i]);
        NiceCandidate *nc = nice_agent_parse_remote_candidate_sdp(p->agent, p->stream, line);
        if (nc)
            list = g_slist_append(list, nc);
    }
    nice_agent_set_remote_candidates(p->agent, p->stream, 1, list);
    g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
    /* sedge's answer to A says active (A serves); its offer to B says
     * actpass, and B answered active (B is the client). */
    p->client = t.setup != ANCHOR_SETUP_ACTIVE;
    if (!p->client)
        start_dtls(p);
    return 0;
}

/* ---- HTTPS to the API (setup only) ---- */

static json_t *post(const char *path, json_t *body)
{
    static SSL_CTX *sc;
    char *js = json_dumps(body, JSON_COMPACT), auth[256], raw[512], hdr[1024];
    json_decref(body);
    if (!sc) {
        sc = SSL_CTX_new(TLS_client_method());
        SSL_CTX_load_verify_locations(sc, opt.ca, NULL);
        SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
    }
    snprintf(raw, sizeof(raw), "%s:%s", opt.user, opt.password);
    EVP_EncodeBlock((unsigned char *)auth, (const unsigned char *)raw, (int)strlen(raw));
    snprintf(hdr, sizeof(hdr),
             "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             path, opt.api_host, auth, strlen(js));
    char target[96];
    snprintf(target, sizeof(target), "%s:%d", opt.api_host, opt.api_port);
    BIO *b = BIO_new_ssl_connect(sc);
    SSL *ssl;
    BIO_get_ssl(b, &ssl);
    BIO_set_conn_hostname(b, target);
    json_t *out = NULL;
    if (BIO_do_connect(b) == 1 && BIO_write(b, hdr, (int)strlen(hdr)) > 0 &&
        BIO_write(b, js, (int)strlen(js)) > 0) {
        GString *resp = g_string_new(NULL);
        char buf[8192];
        int n;
        while ((n = BIO_read(b, buf, sizeof(buf))) > 0)
            g_string_append_len(resp, buf, n);
        char *body2 = strstr(resp->str, "\r\n\r\n");
        if (body2 && (strstr(resp->str, " 200 ") || strstr(resp->str, " 201 ")))
            out = json_loads(body2 + 4, 0, NULL);
        else
            fprintf(stderr, "anchorgen: %s -> %.200s\n", path, resp->str);
        g_string_free(resp, TRUE);
    }
    BIO_free_all(b);
    free(js);
    return out;
}

/* ---- rtpengine's ng control protocol (bencode over UDP), --ng ---- */

static void bstr(GString *g, const char *k, const char *v)
{
    g_string_append_printf(g, "%zu:%s%zu:%s", strlen(k), k, strlen(v), v);
}

/* One ng command; returns the "sdp" of a result "ok" (g_free), else NULL. */
static char *ng(const char *command, const char *call_id, const char *to_tag, const char *sdp)
{
    static int fd = -1;
    static unsigned cookie;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.ng_port)};
    inet_pton(AF_INET, opt.ng_host, &sa.sin_addr);
    if (fd < 0) {
        fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    char ck[32];
    snprintf(ck, sizeof(ck), "%u_%u ", (unsigned)getpid(), ++cookie);
    GString *g = g_string_new(ck);
    g_string_append_c(g, 'd');
    bstr(g, "command", command);
    bstr(g, "call-id", call_id);
    bstr(g, "from-tag", "a");
    if (to_tag)
        bstr(g, "to-tag", to_tag);
    bstr(g, "sdp", sdp);
    /* WebRTC on both sides: rtpengine terminates DTLS-SRTP on each leg
     * (its own fingerprint), runs ICE, re-encrypts between them. */
    bstr(g, "transport-protocol", "UDP/TLS/RTP/SAVPF");
    bstr(g, "ICE", "force");
    g_string_append(g, "8:rtcp-muxl7:requiree");
    g_string_append_c(g, 'e');
    char *out = NULL;
    if (sendto(fd, g->str, g->len, 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)g->len) {
        static char buf[65536];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n > 0) {
            buf[n] = 0;
            const char *k = strstr(buf, "3:sdp");
            if (strstr(buf, "6:result2:ok") && k) {
                char *end;
                unsigned long len = strtoul(k + 5, &end, 10);
                if (*end == ':' && end + 1 + len <= buf + n)
                    out = g_strndup(end + 1, len);
            }
            if (!out)
                fprintf(stderr, "anchorgen: rtpengine %s -> %.300s\n", command, buf);
        }
    }
    g_string_free(g, TRUE);
    return out;
}

static int setup_call_ng(struct call *c)
{
    char *offer = describe(c->p[0], "actpass"), *sdp;
    snprintf(c->id, sizeof(c->id), "bench-%d-%d", (int)getpid(), c->idx);
    sdp = ng("offer", c->id, NULL, offer);
    g_free(offer);
    if (!sdp || apply(c->p[1], sdp) < 0)
        return -1;
    g_free(sdp);
    char *answer = describe(c->p[1], "active");
    sdp = ng("answer", c->id, "b", answer);
    g_free(answer);
    if (!sdp || apply(c->p[0], sdp) < 0)
        return -1;
    g_free(sdp);
    return 0;
}

static int setup_call(struct call *c)
{
    char path[128];
    c->p[0] = party_new(c, 0);
    c->p[1] = party_new(c, 1);
    if (opt.ng_port)
        return setup_call_ng(c);
    char *offer = describe(c->p[0], "actpass");
    json_t *r = post("/v1/anchor", json_pack("{s:s, s:s, s:s}", "origin", "https://bench.example",
                                             "side", "inside", "offer", offer));
    g_free(offer);
    if (!r)
        return -1;
    snprintf(c->id, sizeof(c->id), "%s", json_string_value(json_object_get(r, "id")));
    if (apply(c->p[1], json_string_value(json_object_get(r, "offer"))) < 0)
        return -1;
    json_decref(r);
    char *answer = describe(c->p[1], "active");
    snprintf(path, sizeof(path), "/v1/anchor/%s/answer", c->id);
    r = post(path, json_pack("{s:s}", "answer", answer));
    g_free(answer);
    if (!r || apply(c->p[0], json_string_value(json_object_get(r, "answer"))) < 0)
        return -1;
    json_decref(r);
    return 0;
}

static void run_for(double seconds)
{
    double end = now_s() + seconds;
    while (now_s() < end)
        g_main_context_iteration(ctx, TRUE);
}

static void totals(uint64_t *sent, uint64_t *recv, uint64_t *bad, uint64_t *checked)
{
    *sent = *recv = *bad = *checked = 0;
    for (int i = 0; i < opt.calls; i++)
        for (int k = 0; k < 2; k++) {
            *sent += calls[i].p[k]->sent;
            *recv += calls[i].p[k]->recv;
            *bad += calls[i].p[k]->bad;
            *checked += calls[i].p[k]->checked;
        }
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"api", 1, 0, 'a'},   {"ca", 1, 0, 'c'},         {"user", 1, 0, 'u'},
        {"password", 1, 0, 'p'}, {"video", 1, 0, 'V'},   {"audio", 1, 0, 'A'},
        {"video-kbps", 1, 0, 'k'}, {"server-pid", 1, 0, 'P'}, {"bind", 1, 0, 'b'},
        {"ng", 1, 0, 'g'}, {"video-only", 0, 0, 'O'},
        {0, 0, 0, 0}};
    char err[256];
    int o;

    while ((o = getopt_long(argc, argv, "n:d:", lo, NULL)) != -1) {
        switch (o) {
        case 'a': sscanf(optarg, "%63[^:]:%d", opt.api_host, &opt.api_port); break;
        case 'c': opt.ca = optarg; break;
        case 'u': opt.user = optarg; break;
        case 'p': opt.password = optarg; break;
        case 'V': opt.video = optarg; break;
        case 'A': opt.audio = optarg; break;
        case 'k': opt.video_kbps = atof(optarg); break;
        case 'P': opt.spid = atoi(optarg); break;
        case 'b': opt.bind = optarg; break;
        case 'O': opt.n_media = 1; break;
        case 'g': sscanf(optarg, "%63[^:]:%d", opt.ng_host, &opt.ng_port); break;
        case 'n': opt.calls = atoi(optarg); break;
        case 'd': opt.seconds = atof(optarg); break;
        default:
            fprintf(stderr, "usage: anchorgen --api HOST:PORT --ca CERT --user U --password P -n "
                            "CALLS [-d S] [--video F --audio F | --video-kbps K] [--server-pid "
                            "PID] [--bind IP]\n");
            return 2;
        }
    }
    if ((!opt.ng_port && (!opt.api_port || !opt.ca || !opt.user || !opt.password)) ||
        opt.calls < 1)
        return 2;
    if (opt.video && opt.audio) {
        load_track(&video, opt.video, 90000);
        load_track(&audio, opt.audio, 48000);
    } else {
        synth_track(&video, opt.video_kbps * 1000 / 8 / 1100, 1100, 90000, 96);
        synth_track(&audio, 50, 160, 48000, 111);
    }
    if (anchor_cert_new(&cert, err, sizeof(err)) < 0) {
        fprintf(stderr, "anchorgen: %s\n", err);
        return 1;
    }
    ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    GSource *t = g_timeout_source_new(TICK_MS);
    g_source_set_callback(t, tick, NULL, NULL);
    g_source_attach(t, ctx);
    calls = calloc((size_t)opt.calls, sizeof(*calls));
    double setup0 = now_s();
    for (int i = 0; i < opt.calls; i++) {
        calls[i].idx = i;
        if (setup_call(&calls[i]) < 0) {
            fprintf(stderr, "anchorgen: call %d could not be set up\n", i);
            return 1;
        }
        while (g_main_context_iteration(ctx, FALSE))
            ;
    }
    int up = 0;
    for (double end = now_s() + 30 + opt.calls * 0.1; now_s() < end && up < opt.calls;) {
        g_main_context_iteration(ctx, TRUE);
        up = 0;
        for (int i = 0; i < opt.calls; i++)
            up += calls[i].up;
    }
    double setup_s = now_s() - setup0;
    t0_s = now_s();
    run_for(2); /* warm-up: keyframes, recorders starting */
    uint64_t s0, r0, b0, c0, s1, r1, b1, c1;
    totals(&s0, &r0, &b0, &c0);
    double cpu0 = server_cpu(), w0 = now_s();
    run_for(opt.seconds);
    double cpu1 = server_cpu(), w1 = now_s();
    totals(&s1, &r1, &b1, &c1);
    t0_s = 0; /* stop sending, drain */
    run_for(0.5);
    uint64_t s2, r2, b2, c2;
    totals(&s2, &r2, &b2, &c2);
    double win = w1 - w0, cpu = cpu1 - cpu0;
    uint64_t fwd = r1 - r0;
    printf("calls=%d up=%d setup_s=%.1f window_s=%.2f sent_pps=%.0f forwarded_pps=%.0f "
           "server_cpu_s=%.2f server_cpu_pct=%.1f cpu_ms_per_call_s=%.3f pkts_per_cpu_s=%.0f "
           "loss_pct=%.3f checked=%llu bad=%llu\n",
           opt.calls, up, setup_s, win, (double)(s1 - s0) / win, (double)fwd / win, cpu,
           100 * cpu / win, cpu > 0 ? 1000 * cpu / (opt.calls * win) : 0,
           cpu > 0 ? (double)fwd / cpu : 0,
           s2 ? 100.0 * (double)(s2 - r2) / (double)s2 : 0, (unsigned long long)c2,
           (unsigned long long)b2);
    if (getenv("ANCHORGEN_DEBUG"))
        for (int i = 0; i < opt.calls && i < 4; i++)
            fprintf(stderr, "call %d: A sent %llu recv %llu, B sent %llu recv %llu\n", i,
                    (unsigned long long)calls[i].p[0]->sent, (unsigned long long)calls[i].p[0]->recv,
                    (unsigned long long)calls[i].p[1]->sent, (unsigned long long)calls[i].p[1]->recv);
    return up == opt.calls ? 0 : 1;
}
