/*
 * fuzz_av1.c - libFuzzer target for the AV1 RTP depacketizer (record/av1.c);
 * the input format and the checks are in video_fuzz.h. The whole input is
 * also tried as one payload descriptor / header.
 */
#include "record/av1.h"
#include "tests/fuzz/video_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct av1_seq_info si;
    uint32_t v;
    (void)av1_seq_parse(data, size, &si);
    (void)av1_leb128(data, size, &v);
    return fuzz_video(REC_VC_AV1, data, size);
}
