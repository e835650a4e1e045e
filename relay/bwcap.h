/*
 * bwcap.h - a policy bandwidth cap: a token bucket of bytes (bwcap.c).
 *
 * One per allocation and direction, touched only by the owning worker.
 * Rate 0 means no cap, and the packet path then pays one compare
 * (bwcap_ok is inline). Keyed request-rate tables (per user, per source)
 * are core/ratelimit.h; this is the per-object byte bucket.
 */
#ifndef SE_RELAY_BWCAP_H
#define SE_RELAY_BWCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bwcap {
    uint32_t bytes_per_s; /* 0 = unlimited */
    uint32_t burst;
    int64_t tokens;       /* nano-bytes */
    int64_t last_ns;
};

/* Set the cap to kbps kilobits per second (0 = none); a changed rate
 * starts with a full bucket. */
void bwcap_set(struct bwcap *r, uint32_t kbps);
/* Consume len bytes; false = over the cap, drop the packet. */
bool bwcap_take(struct bwcap *r, size_t len);
static inline bool bwcap_ok(struct bwcap *r, size_t len)
{
    return r->bytes_per_s == 0 || bwcap_take(r, len);
}

#endif
