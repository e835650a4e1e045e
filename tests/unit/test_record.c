/*
 * test_record.c - the recording's files: the writer's hash equals the
 * bytes on disk, a full disk (RLIMIT_FSIZE stands in for ENOSPC) leaves
 * the file cut at its last complete fragment and the writer failed, and
 * the manifest catches a flipped byte, an extra file, a changed manifest
 * and a wrong key; the SDP reader takes what the recorder needs.
 */
#include "core/err.h"
#include "record/h264.h"
#include "record/manifest.h"
#include "record/sdp.h"
#include "record/writer.h"
#include "tests/unit/check.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x05,
                              0xa8, 0x30, 0x30, 0x35, 0x28, 0x00, 0x00, 0x03, 0x00,
                              0x08, 0x00, 0x00, 0x03, 0x01, 0xe4, 0x78, 0xa1, 0x55};
static const uint8_t pps[] = {0x68, 0xce, 0x3c, 0x80};
static char dir[64];

static struct rec_writer *open_mp4(const char *name, int *rc)
{
    static uint8_t avcc[H264_AVCC_MAX];
    char path[128];
    int n = h264_avcc_build(sps, sizeof(sps), pps, sizeof(pps), avcc, sizeof(avcc));
    struct rec_writer_cfg c = {.fmt = REC_FMT_MP4,
                               .avcc = avcc,
                               .avcc_len = (size_t)n,
                               .width = 320,
                               .height = 240,
                               .audio = true,
                               .channels = 2,
                               .fsync_us = -1};
    struct rec_writer *w = NULL;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    *rc = rec_writer_open(&w, path, &c);
    return w;
}

/* 'frames' frames of ~2 KB at 30 fps plus 20 ms Opus packets. */
static int feed(struct rec_writer *w, int frames)
{
    static uint8_t f[2048];
    static const uint8_t op[] = {0xf8, 0xff, 0xfe};
    int r = 0;

    for (int i = 0; i < frames && r == 0; i++) {
        f[0] = 0, f[1] = 0, f[2] = 0x07, f[3] = 0xfc, f[4] = i % 30 ? 0x41 : 0x65;
        r = rec_writer_video(w, f, sizeof(f), (int64_t)i * 3000, i % 30 == 0);
        for (int k = 0; k < 2 && r == 0; k++)
            r = rec_writer_audio(w, op, sizeof(op), (int64_t)i * 1600 + k * 800, 800);
    }
    return r;
}

static void test_writer_hash_matches_disk(void)
{
    struct rec_file_info fi;
    uint8_t h[32];
    uint64_t bytes;
    int rc;
    struct rec_writer *w = open_mp4("a.mp4", &rc);

    CHECK_EQ_INT(rc, 0);
    if (!w)
        return;
    CHECK_EQ_INT(feed(w, 90), 0);
    CHECK_EQ_INT(rec_writer_close(w, &fi), 0);
    CHECK_EQ_INT(fi.video_frames, 90);
    CHECK_EQ_INT(fi.error, 0);
    CHECK_EQ_INT(rec_sha256_file("a.mp4", h, &bytes), SE_ERR_IO); /* relative: not there */
    char p[128];
    snprintf(p, sizeof(p), "%s/a.mp4", dir);
    CHECK_EQ_INT(rec_sha256_file(p, h, &bytes), 0);
    CHECK_EQ_INT(bytes, fi.bytes);
    CHECK_MEM(h, fi.sha256, 32);
    /* an existing file is never overwritten */
    w = open_mp4("a.mp4", &rc);
    CHECK(w == NULL && rc == SE_ERR_IO);
}

static void test_disk_full_cuts_at_fragment(void)
{
    struct rlimit old, lim;
    struct rec_file_info fi;
    uint8_t h[32];
    uint64_t bytes;
    char p[128];
    int rc;

    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 150000; /* room for some fragments, not for all */
    setrlimit(RLIMIT_FSIZE, &lim);
    struct rec_writer *w = open_mp4("full.mp4", &rc);
    CHECK_EQ_INT(rc, 0);
    if (w) {
        CHECK_EQ_INT(feed(w, 300), SE_ERR_IO);
        CHECK(rec_writer_failed(w));
        CHECK_EQ_INT(rec_writer_close(w, &fi), SE_ERR_IO);
        CHECK(fi.error != 0);
        snprintf(p, sizeof(p), "%s/full.mp4", dir);
        CHECK_EQ_INT(rec_sha256_file(p, h, &bytes), 0);
        CHECK(bytes > 10000 && bytes <= 150000);
        CHECK_EQ_INT(bytes, fi.bytes); /* cut back to what was hashed */
        CHECK_MEM(h, fi.sha256, 32);
    }
    setrlimit(RLIMIT_FSIZE, &old);
}

static void write_file(const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static void test_manifest(void)
{
    static const uint8_t key[] = "0123456789abcdef-key";
    struct rec_manifest_entry e[2] = {{.name = "a.mp4"}, {.name = "full.mp4"}};
    char p[512];
    FILE *null = fopen("/dev/null", "w");

    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, e[i].name);
        CHECK_EQ_INT(rec_sha256_file(p, e[i].sha256, &e[i].bytes), 0);
    }
    CHECK_EQ_INT(rec_manifest_write(dir, e, 2, key, sizeof(key) - 1), 0);
    CHECK_EQ_INT(rec_manifest_verify(dir, key, sizeof(key) - 1, REC_VERIFY_REQUIRE_SIG, null), 0);
    CHECK_EQ_INT(rec_manifest_verify(dir, (const uint8_t *)"another-key-0123", 16, REC_VERIFY_REQUIRE_SIG, null),
                 SE_ERR_AUTH);
    CHECK_EQ_INT(rec_manifest_verify(dir, NULL, 0, 0, null), 0);
    CHECK_EQ_INT(rec_manifest_verify(dir, NULL, 0, REC_VERIFY_REQUIRE_SIG, null), SE_ERR_AUTH);
    /* flip one byte of a.mp4 */
    snprintf(p, sizeof(p), "%s/a.mp4", dir);
    FILE *f = fopen(p, "r+b");
    fseek(f, 1000, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 1000, SEEK_SET);
    fputc(c ^ 0x01, f);
    fclose(f);
    CHECK_EQ_INT(rec_manifest_verify(dir, key, sizeof(key) - 1, REC_VERIFY_REQUIRE_SIG, null), SE_ERR_AUTH);
    f = fopen(p, "r+b");
    fseek(f, 1000, SEEK_SET);
    fputc(c, f);
    fclose(f);
    CHECK_EQ_INT(rec_manifest_verify(dir, key, sizeof(key) - 1, REC_VERIFY_REQUIRE_SIG, null), 0);
    /* an unlisted file */
    write_file("extra.txt", "x");
    CHECK_EQ_INT(rec_manifest_verify(dir, key, sizeof(key) - 1, REC_VERIFY_REQUIRE_SIG, null), SE_ERR_AUTH);
    snprintf(p, sizeof(p), "%s/extra.txt", dir);
    unlink(p);
    /* a manifest pointing outside, or rewritten without the key */
    write_file(REC_MANIFEST_NAME, "# sedge recording manifest v1\nsha256 "
                                  "0000000000000000000000000000000000000000000000000000000000000000"
                                  " 1 ../etc/passwd\n");
    CHECK_EQ_INT(rec_manifest_verify(dir, key, sizeof(key) - 1, REC_VERIFY_REQUIRE_SIG, null), SE_ERR_PARSE);
    /* a changed file with a manifest recomputed without the key: hashes
     * match, the old signature does not */
    snprintf(p, sizeof(p), "%s/a.mp4", dir);
    f = fopen(p, "r+b");
    fseek(f, 1000, SEEK_SET);
    fputc(c ^ 0x01, f);
    fclose(f);
    CHECK_EQ_INT(rec_sha256_file(p, e[0].sha256, &e[0].bytes), 0);
    CHECK_EQ_INT(rec_manifest_write(dir, e, 2, NULL, 0), 0);
    CHECK_EQ_INT(rec_manifest_verify(dir, NULL, 0, 0, null), 0);
    CHECK_EQ_INT(rec_manifest_verify(dir, key, sizeof(key) - 1, REC_VERIFY_REQUIRE_SIG, null), SE_ERR_AUTH);
    /* issue 11 #16: the same forgery with manifest.sig deleted. With a key
     * (signature required or not) it must fail; an unsigned recording
     * passes only when that is asked for explicitly. */
    snprintf(p, sizeof(p), "%s/%s", dir, REC_SIGNATURE_NAME);
    CHECK_EQ_INT(unlink(p), 0);
    CHECK_EQ_INT(rec_manifest_verify(dir, key, sizeof(key) - 1, 0, null), SE_ERR_AUTH);
    CHECK_EQ_INT(rec_manifest_verify(dir, key, sizeof(key) - 1, REC_VERIFY_REQUIRE_SIG, null),
                 SE_ERR_AUTH);
    CHECK_EQ_INT(rec_manifest_verify(dir, NULL, 0, 0, null), SE_ERR_AUTH);
    CHECK_EQ_INT(rec_manifest_verify(dir, NULL, 0, REC_VERIFY_ALLOW_UNSIGNED, null), 0);
    CHECK_EQ_INT(rec_manifest_verify(dir, key, sizeof(key) - 1, REC_VERIFY_ALLOW_UNSIGNED, null),
                 0);
    /* a signature line of the right form but wrong bytes fails even then */
    write_file(REC_SIGNATURE_NAME, "hmac-sha256 "
                                   "00000000000000000000000000000000"
                                   "00000000000000000000000000000000\n");
    CHECK_EQ_INT(rec_manifest_verify(dir, key, sizeof(key) - 1, REC_VERIFY_ALLOW_UNSIGNED, null),
                 SE_ERR_AUTH);
    fclose(null);
    CHECK(!rec_name_ok("../x") && !rec_name_ok(".hidden") && !rec_name_ok("a/b") &&
          rec_name_ok("segment-000.mp4"));
}

/* PEM text of a new Ed25519 key: private or public half. */
static size_t pem(EVP_PKEY *k, bool priv, uint8_t *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    if (priv)
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(b, k);
    long n = BIO_get_mem_data(b, &p);
    size_t len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    memcpy(out, p, len);
    BIO_free(b);
    while (len && out[len - 1] == '\n')
        len--; /* as rec_key_load gives it */
    return len;
}

static void test_ed25519(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
             *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    uint8_t priv[REC_KEY_MAX], pub[REC_KEY_MAX], pub2[REC_KEY_MAX];
    struct rec_manifest_entry e = {.name = "a.mp4"};
    char p[256];
    FILE *null = fopen("/dev/null", "w");

    size_t lp = pem(k, true, priv, sizeof(priv)), lu = pem(k, false, pub, sizeof(pub));
    size_t lu2 = pem(k2, false, pub2, sizeof(pub2));
    CHECK(lp > 0 && lu > 0 && lu2 > 0);
    CHECK_EQ_INT(rec_key_usable(priv, lp, true), 0);
    CHECK_EQ_INT(rec_key_usable(pub, lu, true), SE_ERR_INVAL); /* cannot sign */
    CHECK_EQ_INT(rec_key_usable(pub, lu, false), 0);
    snprintf(p, sizeof(p), "%s/a.mp4", dir);
    CHECK_EQ_INT(rec_sha256_file(p, e.sha256, &e.bytes), 0);
    snprintf(p, sizeof(p), "%s/full.mp4", dir);
    unlink(p); /* only a.mp4 in this manifest */
    CHECK_EQ_INT(rec_manifest_write(dir, &e, 1, priv, lp), 0);
    CHECK_EQ_INT(rec_manifest_verify(dir, pub, lu, REC_VERIFY_REQUIRE_SIG, null), 0);
    CHECK_EQ_INT(rec_manifest_verify(dir, priv, lp, REC_VERIFY_REQUIRE_SIG, null), 0);
    CHECK_EQ_INT(rec_manifest_verify(dir, pub2, lu2, REC_VERIFY_REQUIRE_SIG, null), SE_ERR_AUTH);
    CHECK_EQ_INT(rec_manifest_verify(dir, (const uint8_t *)"0123456789abcdef", 16, REC_VERIFY_REQUIRE_SIG, null),
                 SE_ERR_AUTH);
    /* key ids: the same for the private and the public PEM, named in the
     * manifest; rotation: a keyring holding old and new keys verifies a
     * manifest signed by the old one, the new key alone does not */
    char id1[REC_KEY_ID_LEN + 1], id1p[REC_KEY_ID_LEN + 1], id2[REC_KEY_ID_LEN + 1];
    CHECK_EQ_INT(rec_key_id(priv, lp, id1), 0);
    CHECK_EQ_INT(rec_key_id(pub, lu, id1p), 0);
    CHECK_EQ_INT(rec_key_id(pub2, lu2, id2), 0);
    CHECK(!strcmp(id1, id1p) && strcmp(id1, id2) && strlen(id1) == REC_KEY_ID_LEN);
    struct rec_manifest m;
    char err[128];
    CHECK_EQ_INT(rec_manifest_read(dir, &m, err, sizeof(err)), 0);
    CHECK(!strcmp(m.key_alg, "ed25519") && !strcmp(m.key_id, id1));
    rec_manifest_release(&m);
    struct rec_keyring *kr = rec_keyring_new();
    struct rec_verify v;
    CHECK_EQ_INT(rec_keyring_add(kr, pub2, lu2), 0);
    CHECK_EQ_INT(rec_manifest_check(dir, kr, REC_VERIFY_REQUIRE_SIG, &v), SE_ERR_AUTH);
    CHECK(!strcmp(v.sig, "unknown_key") && v.sig_error && !strcmp(v.key_id, id1));
    rec_verify_free(&v);
    CHECK_EQ_INT(rec_keyring_add(kr, pub, lu), 0);
    CHECK_EQ_INT(rec_keyring_add(kr, priv, lp), 0); /* same id: not added twice */
    CHECK_EQ_INT(rec_keyring_count(kr), 2);
    CHECK_EQ_INT(rec_manifest_check(dir, kr, REC_VERIFY_REQUIRE_SIG, &v), 0);
    CHECK(v.ok && !strcmp(v.sig, "ok") && !strcmp(v.key_id, id1) && v.n_files == 1 &&
          v.files[0].state == REC_FILE_OK);
    rec_verify_free(&v);
    rec_keyring_free(kr);
    char *pem_pub = rec_key_public_pem(priv, lp);
    CHECK(pem_pub && !strncmp(pem_pub, "-----BEGIN PUBLIC KEY-----", 26));
    free(pem_pub);
    CHECK(rec_key_public_pem((const uint8_t *)"0123456789abcdef", 16) == NULL);
    fclose(null);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
}

static void test_sdp(void)
{
    static const char sdp[] =
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=call\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        "m=audio 5006 RTP/AVP 0 111\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:111 opus/48000/2\r\n"
        "a=mid:0\r\n"
        "m=video 5004 RTP/AVP 100 96 97\r\nc=IN IP4 10.0.0.2\r\na=rtpmap:100 VP8/90000\r\n"
        "a=rtpmap:96 H264/90000\r\n"
        "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;sprop-parameter-sets=Z0I,aM4=\r\n"
        "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
        "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
    struct rec_sdp s;
    char err[128];

    CHECK_EQ_INT(rec_sdp_parse(sdp, sizeof(sdp) - 1, &s, err, sizeof(err)), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_EQ_INT(s.m[0].cfg.media, REC_AUDIO);
    CHECK_EQ_INT(s.m[0].cfg.pt, 111);
    CHECK_EQ_INT(s.m[0].cfg.channels, 2);
    CHECK_STR(s.m[0].cfg.label, "0");
    CHECK_STR(s.m[0].addr, "10.0.0.1");
    /* VP8 comes first in m= order: the sender's choice; H.264 is an
     * alternative it may switch to, with its RTX and parameters */
    CHECK_EQ_INT(s.m[1].cfg.pt, 100);
    CHECK_EQ_INT(s.m[1].cfg.codec, REC_CODEC_VP8);
    CHECK_EQ_INT(s.m[1].cfg.rtx_pt, -1);
    CHECK(s.m[1].cfg.n_alt_pt == 1 && s.m[1].cfg.alt_pt[0] == 96 &&
          s.m[1].cfg.alt_codec[0] == REC_CODEC_H264);
    CHECK(s.m[1].cfg.n_alt_rtx == 1 && s.m[1].cfg.alt_rtx[0] == 97 &&
          s.m[1].cfg.alt_rtx_for[0] == 96 + 1);
    CHECK_EQ_INT(s.m[1].cfg.packetization_mode, 1);
    CHECK_STR(s.m[1].cfg.sprop, "Z0I,aM4=");
    CHECK_STR(s.m[1].addr, "10.0.0.2");
    CHECK_EQ_INT(s.m[1].port, 5004);
    /* a browser offer: several H.264 profiles, each with its RTX */
    static const char offer[] =
        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105\r\n"
        "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
        "a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1\r\n"
        "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n"
        "a=rtpmap:104 H264/90000\r\na=fmtp:104 packetization-mode=0\r\n"
        "a=rtpmap:105 rtx/90000\r\na=fmtp:105 apt=104\r\n";
    CHECK_EQ_INT(rec_sdp_parse(offer, sizeof(offer) - 1, &s, err, sizeof(err)), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(s.m[0].cfg.pt, 96);
    CHECK_EQ_INT(s.m[0].cfg.codec, REC_CODEC_VP8);
    CHECK_EQ_INT(s.m[0].cfg.rtx_pt, 97);
    CHECK(s.m[0].cfg.n_alt_pt == 2 && s.m[0].cfg.alt_pt[0] == 102 && s.m[0].cfg.alt_pt[1] == 104);
    CHECK(s.m[0].cfg.n_alt_rtx == 2 && s.m[0].cfg.alt_rtx[0] == 103 &&
          s.m[0].cfg.alt_rtx[1] == 105);
    CHECK(rec_sdp_has_pt(&s.m[0].cfg, 104) && !rec_sdp_has_pt(&s.m[0].cfg, 97));
    CHECK(rec_sdp_has_rtx_pt(&s.m[0].cfg, 105) && !rec_sdp_has_rtx_pt(&s.m[0].cfg, 96));
    /* Chromium's video m-line: every codec mapped, RTX to its own codec */
    static const char chrome[] =
        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 9 UDP/TLS/RTP/SAVPF 98 99 96 97 45 46 102 103 116 "
        "117\r\na=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\na=rtpmap:99 rtx/90000\r\n"
        "a=fmtp:99 apt=98\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n"
        "a=fmtp:97 apt=96\r\na=rtpmap:45 AV1/90000\r\na=rtpmap:46 rtx/90000\r\n"
        "a=fmtp:46 apt=45\r\na=rtpmap:102 H264/90000\r\n"
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
        "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\na=rtpmap:116 red/90000\r\n"
        "a=rtpmap:117 ulpfec/90000\r\n";
    CHECK_EQ_INT(rec_sdp_parse(chrome, sizeof(chrome) - 1, &s, err, sizeof(err)), 0);
    CHECK(s.m[0].cfg.codec == REC_CODEC_VP9 && s.m[0].cfg.pt == 98 && s.m[0].cfg.rtx_pt == 99);
    CHECK_EQ_INT(s.m[0].cfg.n_alt_pt, 3);
    CHECK(s.m[0].cfg.alt_pt[0] == 96 && s.m[0].cfg.alt_codec[0] == REC_CODEC_VP8);
    CHECK(s.m[0].cfg.alt_pt[1] == 45 && s.m[0].cfg.alt_codec[1] == REC_CODEC_AV1);
    CHECK(s.m[0].cfg.alt_pt[2] == 102 && s.m[0].cfg.alt_codec[2] == REC_CODEC_H264);
    CHECK_EQ_INT(s.m[0].cfg.packetization_mode, 1);
    CHECK_EQ_INT(s.m[0].cfg.n_alt_rtx, 3);
    CHECK(s.m[0].cfg.alt_rtx[0] == 97 && s.m[0].cfg.alt_rtx_for[0] == 96 + 1);
    CHECK(s.m[0].cfg.alt_rtx[1] == 46 && s.m[0].cfg.alt_rtx_for[1] == 45 + 1);
    CHECK(s.m[0].cfg.alt_rtx[2] == 103 && s.m[0].cfg.alt_rtx_for[2] == 102 + 1);
    CHECK(!rec_sdp_has_pt(&s.m[0].cfg, 116) && !rec_sdp_has_pt(&s.m[0].cfg, 117));
    CHECK_EQ_INT(s.m[0].cfg.red, 116 + 1); /* RED: unwrapped, never the codec */
    CHECK(rec_sdp_takes_pt(&s.m[0].cfg, 116) && !rec_sdp_takes_pt(&s.m[0].cfg, 117));
    /* RTX of RED is unwrapped as RED */
    static const char red[] = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 9 RTP/AVP 96 97 118 119 127\r\n"
                              "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
                              "a=rtpmap:118 red/90000\r\na=rtpmap:119 rtx/90000\r\n"
                              "a=fmtp:119 apt=118\r\na=rtpmap:127 ulpfec/90000\r\n";
    CHECK_EQ_INT(rec_sdp_parse(red, sizeof(red) - 1, &s, err, sizeof(err)), 0);
    CHECK(s.m[0].cfg.pt == 96 && s.m[0].cfg.rtx_pt == 97 && s.m[0].cfg.red == 118 + 1);
    CHECK(s.m[0].cfg.n_alt_rtx == 1 && s.m[0].cfg.alt_rtx[0] == 119 &&
          s.m[0].cfg.alt_rtx_for[0] == 118 + 1);
    CHECK(rec_sdp_takes_pt(&s.m[0].cfg, 119) && !rec_sdp_takes_pt(&s.m[0].cfg, 127));
    /* an audio m-line without Opus: a stream listed as not recorded */
    CHECK_EQ_INT(rec_sdp_parse("v=0\nm=audio 1 RTP/AVP 0\n", 24, &s, err, sizeof(err)), 0);
    CHECK(s.n == 1 && s.m[0].cfg.codec == REC_CODEC_UNKNOWN && s.m[0].cfg.pt == 0);
    CHECK_STR(s.m[0].cfg.codec_name, "payload type 0");
    CHECK_EQ_INT(rec_sdp_parse("v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\n", 53, &s,
                               err, sizeof(err)),
                 SE_ERR_PARSE);
    CHECK(strstr(err, "no audio or video") != NULL);
    CHECK_EQ_INT(rec_sdp_parse("v=0\nbogus\n", 10, &s, err, sizeof(err)), SE_ERR_PARSE);
    CHECK(strstr(err, "line 2") != NULL);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sedge-test-record.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_writer_hash_matches_disk);
    RUN(test_disk_full_cuts_at_fragment);
    RUN(test_manifest);
    RUN(test_ed25519);
    RUN(test_sdp);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("    could not remove %s\n", dir);
    return check_done();
}
