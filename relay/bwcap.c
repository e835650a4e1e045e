/*
 * bwcap.c - the byte token bucket behind a policy bandwidth cap.
 *
 * Tokens are kept in nano-bytes so that a refill after a few
 * microseconds is not rounded away; the burst is 200 ms of the rate, at
 * least a few full-size packets. The bucket is full again after a second
 * of silence, so the elapsed time is clamped to one second (no overflow
 * after long idle periods). Worker thread only; no lock, no allocation.
 */
#include "relay/bwcap.h"
#include "relay/clock.h"

enum {
    NS_PER_S = 1000000000,
    BURST_MIN = 6000,       /* bytes: four 1500-byte packets */
    BURST_DIVISOR = 5,      /* burst = 1/5 s of the rate */
};

void bwcap_set(struct bwcap *r, uint32_t kbps)
{
    uint32_t bps = kbps * 125u; /* 1000 / 8 */

    if (bps == r->bytes_per_s)
        return;
    r->bytes_per_s = bps;
    r->burst = bps / BURST_DIVISOR > BURST_MIN ? bps / BURST_DIVISOR : BURST_MIN;
    r->tokens = (int64_t)r->burst * NS_PER_S; /* start full */
    r->last_ns = relay_now_ns();
}

bool bwcap_take(struct bwcap *r, size_t len)
{
    int64_t t = relay_now_ns(), el = t - r->last_ns;
    int64_t cap = (int64_t)r->burst * NS_PER_S, need = (int64_t)len * NS_PER_S;

    if (el > NS_PER_S)
        el = NS_PER_S; /* the bucket is full after a second anyway */
    if (el > 0) {
        r->tokens += el * (int64_t)r->bytes_per_s;
        r->last_ns = t;
        if (r->tokens > cap)
            r->tokens = cap;
    }
    if (r->tokens < need)
        return false;
    r->tokens -= need;
    return true;
}
