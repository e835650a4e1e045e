/*
 * fuzz_vp9.c - libFuzzer target for the VP9 RTP depacketizer (record/vp9.c);
 * the input format and the checks are in video_fuzz.h. The whole input is
 * also tried as one payload descriptor / header.
 */
#include "record/vp9.h"
#include "tests/fuzz/video_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vp9_desc d;
    struct vp9_frame_info fi;
    (void)vp9_desc_parse(data, size, &d);
    (void)vp9_frame_header(data, size, &fi);
    return fuzz_video(REC_VC_VP9, data, size);
}
