/*
 * fuzz_rtp.c - libFuzzer target for what arrives on a recording port: the
 * input is a sequence of datagrams ([u16 length][u8 time step][bytes]),
 * each parsed and fed through the per-stream input (tiny window, so
 * holes, reordering and restarts happen often) into both depacketizers.
 * Every packet handed out must be in sequence order, once.
 */
#include "record/h264.h"
#include "record/opus.h"
#include "record/rtp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
    struct h264_depack *h;
    struct opus_depack *o;
    uint64_t last_seq;
    int n;
};

static void on_au(void *arg, const struct h264_au *au)
{
    /* AVCC: the lengths must tile the access unit exactly. */
    size_t off = 0;
    while (off < au->len) {
        if (au->len - off < 4)
            abort();
        size_t n = (size_t)au->data[off] << 24 | au->data[off + 1] << 16 | au->data[off + 2] << 8 |
                   au->data[off + 3];
        if (n == 0 || n > au->len - off - 4)
            abort();
        off += 4 + n;
    }
}

static void on_opus(void *arg, const struct opus_frame *f)
{
    if (f->duration <= 0 || f->duration > OPUS_MAX_DURATION || f->len < 1)
        abort();
}

static void on_pkt(void *arg, const struct rtp_pkt *p)
{
    struct ctx *c = arg;
    if (c->n++ && p->seq <= c->last_seq)
        abort(); /* out of order or twice */
    c->last_seq = p->seq;
    h264_depack_push(c->h, p);
    opus_depack_push(c->o, p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctx c = {0};
    struct rtp_in_cfg cfg = {
        .pt = -1, .rtx_pt = 97, .red = 118 + 1, .window = 8, .max_delay_us = 50000, .label = "fuzz"};
    struct rtp_in *in;
    int64_t now = 0;

    c.h = h264_depack_new(on_au, NULL, NULL);
    c.o = opus_depack_new(on_opus, NULL);
    in = rtp_in_new(&cfg, on_pkt, &c);
    while (size >= 3) {
        size_t n = (size_t)(data[0] << 8 | data[1]);
        now += data[2] * 1000;
        data += 3;
        size -= 3;
        if (n > size)
            n = size;
        struct rtp_hdr h;
        if (rtp_parse(&h, data, n) == 0 &&
            (h.payload < data || h.payload + h.payload_len > data + n))
            abort();
        rtp_in_push(in, data, n, now);
        data += n;
        size -= n;
    }
    rtp_in_flush(in, now);
    h264_depack_flush(c.h);
    rtp_in_free(in);
    h264_depack_free(c.h);
    opus_depack_free(c.o);
    return 0;
}
