/*
 * fuzz_vp8.c - libFuzzer target for the VP8 RTP depacketizer (record/vp8.c);
 * the input format and the checks are in video_fuzz.h. The whole input is
 * also tried as one payload descriptor / header.
 */
#include "record/vp8.h"
#include "tests/fuzz/video_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vp8_desc d;
    bool key;
    unsigned w, h;
    (void)vp8_desc_parse(data, size, &d);
    (void)vp8_frame_header(data, size, &key, &w, &h);
    return fuzz_video(REC_VC_VP8, data, size);
}
