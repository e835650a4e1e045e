/*
 * fuzz_record.c - libFuzzer target for a whole recording: the input is a
 * sequence of datagrams ([u8 stream][u16 length][u8 time step][bytes]) for
 * an H.264 and an Opus stream, recorded into a fresh directory through
 * the depacketizers and the MP4 writer (a first byte 0xA0 makes it an
 * audio-only session, Ogg; 0xF1 adds the FLV export; 0xB8, 0xB9, 0xBA make
 * the video VP8 (WebM), VP9 or AV1 with each stream its own party, so two
 * lanes write), then closed (metadata, manifest)
 * and verified: whatever the input, the session must not crash and the
 * manifest it writes must match the files it wrote.
 */
#include "core/log.h"
#include "record/manifest.h"
#include "record/rec.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static char base[64];

static void cleanup(void)
{
    nftw(base, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rec_session_cfg cfg;
    static FILE *null;
    struct rec_session *s;
    int64_t now = 1700000000000000;

    if (!base[0]) {
        snprintf(base, sizeof(base), "/tmp/sedge-fuzz-record.%d", (int)getpid());
        null = fopen("/dev/null", "w");
        se_log_set_level(SE_LOG_ERR - 1);
        atexit(cleanup);
    }
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.dir, sizeof(cfg.dir), "%s", base);
    cfg.n_streams = 2;
    cfg.streams[0] = (struct rec_stream_cfg){
        .media = REC_VIDEO, .label = "v", .pt = 96, .rtx_pt = 97, .clock_rate = 90000};
    cfg.streams[1] = (struct rec_stream_cfg){.media = REC_AUDIO,
                                             .label = "a",
                                             .pt = 111,
                                             .rtx_pt = -1,
                                             .clock_rate = 48000,
                                             .channels = 2};
    if (size > 0 && data[0] == 0xA0) { /* audio only: the Ogg writer */
        cfg.streams[0] = cfg.streams[1];
        cfg.n_streams = 1;
    }
    cfg.flv = size > 0 && data[0] == 0xF1;                /* and the FLV writer */
    if (size > 0 && data[0] >= 0xB8 && data[0] <= 0xBA) { /* the other codecs, two parties */
        static const enum rec_codec codecs[] = {REC_CODEC_VP8, REC_CODEC_VP9, REC_CODEC_AV1};
        cfg.streams[0].codec = codecs[data[0] - 0xB8];
        snprintf(cfg.streams[0].party, sizeof(cfg.streams[0].party), "inside");
        snprintf(cfg.streams[1].party, sizeof(cfg.streams[1].party), "outside");
    }
    cfg.key = (const uint8_t *)"fuzz-key-0123456789";
    cfg.key_len = 19;
    cfg.fsync_us = -1;
    nftw(base, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    if (rec_session_open(&s, &cfg) != 0)
        return 0;
    while (size >= 4) {
        int stream = data[0] & 1;
        size_t n = (size_t)(data[1] << 8 | data[2]);
        now += data[3] * 1000;
        data += 4;
        size -= 4;
        if (n > size)
            n = size;
        rec_session_rtp(s, stream, data, n, now);
        data += n;
        size -= n;
    }
    rec_session_close(s, now);
    if (rec_manifest_verify(base, cfg.key, cfg.key_len, REC_VERIFY_REQUIRE_SIG, null) != 0)
        abort(); /* what was written must be what the manifest says */
    cleanup();   /* libFuzzer may end with _exit(): leave nothing behind */
    return 0;
}
