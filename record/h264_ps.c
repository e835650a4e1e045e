/*
 * h264_ps.c - H.264 parameter sets: a bounded SPS reader (H.264 §7.3.2.1.1),
 * the avcC record (ISO/IEC 14496-15 §5.3.3.1) and first_mb_in_slice.
 *
 * NAL payloads are unescaped (emulation-prevention bytes removed, §7.4.1)
 * into a stack buffer of H264_PS_MAX bytes and read with a bit reader that
 * latches an error instead of reading past the end; every Exp-Golomb
 * value is range-checked against the limits of the standard, so an absurd
 * SPS is refused rather than believed.
 */
#include "record/h264.h"
#include "core/err.h"

#include <string.h>

struct bits {
    const uint8_t *p;
    size_t len, pos; /* in bits */
    bool err;
};

static unsigned get1(struct bits *b)
{
    if (b->pos >= b->len) {
        b->err = true;
        return 0;
    }
    unsigned v = (b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1;
    b->pos++;
    return v;
}

static uint32_t getn(struct bits *b, int n)
{
    uint32_t v = 0;
    while (n-- > 0)
        v = v << 1 | get1(b);
    return v;
}

/* ue(v), H.264 §9.1; values past 2^31 are errors. */
static uint32_t ue(struct bits *b)
{
    int zeros = 0;
    while (!b->err && get1(b) == 0)
        if (++zeros > 31) {
            b->err = true;
            return 0;
        }
    if (b->err)
        return 0;
    return ((1u << zeros) - 1) + getn(b, zeros);
}

static int32_t se(struct bits *b)
{
    uint32_t k = ue(b);
    return (k & 1) ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

/* Copy nal[1..len) without emulation-prevention bytes; returns the length. */
static size_t unescape(const uint8_t *nal, size_t len, uint8_t *out, size_t cap)
{
    size_t n = 0, zeros = 0;
    for (size_t i = 1; i < len && n < cap; i++) {
        if (zeros >= 2 && nal[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = nal[i] == 0 ? zeros + 1 : 0;
        out[n++] = nal[i];
    }
    return n;
}

static bool high_profile(unsigned p)
{
    static const uint8_t high[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135};
    for (size_t i = 0; i < sizeof(high); i++)
        if (p == high[i])
            return true;
    return false;
}

static void skip_scaling_list(struct bits *b, int size)
{
    int last = 8, next = 8;
    for (int j = 0; j < size && !b->err; j++) {
        if (next != 0) {
            int32_t delta = se(b);
            if (delta < -128 || delta > 127) {
                b->err = true;
                return;
            }
            next = (last + delta + 256) % 256;
        }
        last = next == 0 ? last : next;
    }
}

int h264_sps_parse(const uint8_t *nal, size_t len, struct h264_sps_info *out)
{
    uint8_t rbsp[H264_PS_MAX];
    struct bits b = {.p = rbsp};
    struct h264_sps_info si = {.chroma_format = 1};
    int rc = SE_ERR_PARSE;

    if (len < 4 || len > H264_PS_MAX || (nal[0] & 0x1f) != H264_NAL_SPS || (nal[0] & 0x80))
        goto out;
    b.len = unescape(nal, len, rbsp, sizeof(rbsp)) * 8;
    si.profile = (uint8_t)getn(&b, 8);
    si.compat = (uint8_t)getn(&b, 8);
    si.level = (uint8_t)getn(&b, 8);
    si.sps_id = ue(&b);
    if (si.sps_id > 31)
        goto out;
    if (high_profile(si.profile)) {
        uint32_t cf = ue(&b);
        if (cf > 3)
            goto out;
        si.chroma_format = (uint8_t)cf;
        if (cf == 3)
            si.separate_colour_plane = (uint8_t)get1(&b);
        uint32_t bdl = ue(&b), bdc = ue(&b);
        if (bdl > 6 || bdc > 6)
            goto out;
        si.bit_depth_luma = (uint8_t)bdl;
        si.bit_depth_chroma = (uint8_t)bdc;
        get1(&b); /* qpprime_y_zero_transform_bypass_flag */
        if (get1(&b))
            for (int i = 0; i < (cf == 3 ? 12 : 8) && !b.err; i++)
                if (get1(&b))
                    skip_scaling_list(&b, i < 6 ? 16 : 64);
    }
    uint32_t lmfn = ue(&b); /* log2_max_frame_num_minus4 */
    if (lmfn > 12)
        goto out;
    si.log2_max_frame_num = (uint8_t)(lmfn + 4);
    uint32_t poc_type = ue(&b);
    if (poc_type > 2)
        goto out;
    if (poc_type == 0) {
        if (ue(&b) > 12) /* log2_max_pic_order_cnt_lsb_minus4 */
            goto out;
    } else if (poc_type == 1) {
        get1(&b);
        se(&b);
        se(&b);
        uint32_t n = ue(&b);
        if (n > 255)
            goto out;
        for (uint32_t i = 0; i < n && !b.err; i++)
            se(&b);
    }
    if (ue(&b) > 16) /* max_num_ref_frames */
        goto out;
    get1(&b); /* gaps_in_frame_num_value_allowed_flag */
    uint32_t w_mbs = ue(&b) + 1, h_units = ue(&b) + 1;
    unsigned frame_mbs_only = get1(&b);
    if (!frame_mbs_only)
        get1(&b); /* mb_adaptive_frame_field_flag */
    get1(&b);     /* direct_8x8_inference_flag */
    if (b.err || w_mbs > H264_DIM_MAX / 16 || h_units > H264_DIM_MAX / 16)
        goto out;
    unsigned w = w_mbs * 16, h = h_units * 16 * (2 - frame_mbs_only);
    if (get1(&b)) { /* frame_cropping_flag, §7.4.2.1.1 (7-19, 7-20) */
        unsigned cx = si.chroma_format == 1 || si.chroma_format == 2 ? 2 : 1;
        unsigned cy = (si.chroma_format == 1 ? 2 : 1) * (2 - frame_mbs_only);
        uint32_t l = ue(&b), r = ue(&b), t = ue(&b), bo = ue(&b);
        if (l > H264_DIM_MAX || r > H264_DIM_MAX || t > H264_DIM_MAX || bo > H264_DIM_MAX)
            goto out;
        if ((l + r) * cx >= w || (t + bo) * cy >= h)
            goto out;
        w -= (l + r) * cx;
        h -= (t + bo) * cy;
    }
    if (b.err || h > H264_DIM_MAX)
        goto out;
    si.width = w;
    si.height = h;
    *out = si;
    rc = 0;
out:
    return rc;
}

int h264_avcc_build(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len,
                    uint8_t *out, size_t cap)
{
    struct h264_sps_info si;
    size_t n = 0, need = 11 + sps_len + pps_len + 4;

    if (sps_len > H264_PS_MAX || pps_len > H264_PS_MAX || pps_len < 1)
        return SE_ERR_PARSE;
    if (need > cap)
        return SE_ERR_TOOBIG;
    if (h264_sps_parse(sps, sps_len, &si) != 0)
        return SE_ERR_PARSE;
    out[n++] = 1;          /* configurationVersion */
    out[n++] = si.profile; /* AVCProfileIndication */
    out[n++] = si.compat;  /* profile_compatibility */
    out[n++] = si.level;   /* AVCLevelIndication */
    out[n++] = 0xfc | 3;   /* lengthSizeMinusOne = 3 */
    out[n++] = 0xe0 | 1;   /* one SPS */
    out[n++] = (uint8_t)(sps_len >> 8);
    out[n++] = (uint8_t)sps_len;
    memcpy(out + n, sps, sps_len);
    n += sps_len;
    out[n++] = 1; /* one PPS */
    out[n++] = (uint8_t)(pps_len >> 8);
    out[n++] = (uint8_t)pps_len;
    memcpy(out + n, pps, pps_len);
    n += pps_len;
    if (high_profile(si.profile)) { /* §5.3.3.1.2: the high-profile tail */
        out[n++] = 0xfc | si.chroma_format;
        out[n++] = 0xf8 | si.bit_depth_luma;
        out[n++] = 0xf8 | si.bit_depth_chroma;
        out[n++] = 0; /* numOfSequenceParameterSetExt */
    }
    return (int)n;
}

int h264_slice_parse(const uint8_t *nal, size_t len, const struct h264_sps_info *sps,
                     struct h264_slice *out)
{
    uint8_t rbsp[32];
    struct bits b = {.p = rbsp};

    b.len = unescape(nal, len < sizeof(rbsp) ? len : sizeof(rbsp), rbsp, sizeof(rbsp)) * 8;
    out->first_mb = ue(&b);
    out->frame_num = -1;
    if (b.err)
        return SE_ERR_PARSE;
    if (!sps || !sps->log2_max_frame_num)
        return 0;
    ue(&b); /* slice_type */
    ue(&b); /* pic_parameter_set_id */
    if (sps->separate_colour_plane)
        getn(&b, 2);
    uint32_t fn = getn(&b, sps->log2_max_frame_num);
    if (!b.err)
        out->frame_num = (long)fn;
    return 0;
}
