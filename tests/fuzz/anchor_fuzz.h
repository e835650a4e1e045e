/*
 * anchor_fuzz.h - what fuzz_anchor_demux.c and its seed writer
 * (tests/tools/anchor_seeds.c) agree on: the SRTP master keys of the two
 * parties and of sedge, and the input format, a sequence of datagrams
 * [u16 big-endian length, high bit set: to the outside leg][bytes].
 */
#ifndef SE_ANCHOR_FUZZ_H
#define SE_ANCHOR_FUZZ_H

#include <stdint.h>

enum { ANCHOR_FUZZ_KEY = 30, ANCHOR_FUZZ_TO_B = 0x8000 };

/* key || salt (AES_CM_128_HMAC_SHA1_80): what party A sends with, what
 * sedge sends to A with, and the same for B. */
static inline void anchor_fuzz_key(int which, uint8_t out[ANCHOR_FUZZ_KEY])
{
    for (int i = 0; i < ANCHOR_FUZZ_KEY; i++)
        out[i] = (uint8_t)(which * 41 + i * 7 + 1);
}

#endif
