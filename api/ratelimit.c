/*
 * ratelimit.c - per-source token buckets for the API.
 *
 * A fixed open-addressed table keyed by client IP (like auth's throttle):
 * bounded memory whatever the number of sources; when the probe window is
 * full the least recently seen entry is recycled, which at worst gives
 * that source a fresh bucket. Control thread only, so no lock.
 */
#include "api/internal.h"

#include <stdlib.h>
#include <string.h>

enum { RL_SLOTS = 4096, RL_PROBE = 8 };

struct rl_slot {
    uint8_t ip[16];
    bool used;
    int64_t last_ms;
    double tokens;
};

struct api_ratelimit {
    struct rl_slot slots[RL_SLOTS];
};

struct api_ratelimit *api_ratelimit_new(void)
{
    return calloc(1, sizeof(struct api_ratelimit));
}

void api_ratelimit_free(struct api_ratelimit *rl)
{
    free(rl);
}

static uint32_t ip_hash(const uint8_t ip[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ ip[i]) * 16777619u;
    return h;
}

bool api_ratelimit_allow(struct api_ratelimit *rl, const uint8_t ip[16], int64_t now_ms,
                         unsigned rate, unsigned burst)
{
    struct rl_slot *s = NULL, *victim = NULL;
    uint32_t h = ip_hash(ip);

    if (rate == 0)
        return true;
    for (int i = 0; i < RL_PROBE && !s; i++) {
        struct rl_slot *c = &rl->slots[(h + (uint32_t)i) % RL_SLOTS];
        if (c->used && memcmp(c->ip, ip, 16) == 0)
            s = c;
        else if (!c->used && (!victim || victim->used))
            victim = c;
        else if (c->used && (!victim || (victim->used && c->last_ms < victim->last_ms)))
            victim = c;
    }
    if (!s) {
        s = victim;
        memcpy(s->ip, ip, 16);
        s->used = true;
        s->tokens = burst;
        s->last_ms = now_ms;
    }
    if (now_ms > s->last_ms) {
        s->tokens += (double)(now_ms - s->last_ms) * rate / 1000.0;
        if (s->tokens > burst)
            s->tokens = burst;
    }
    s->last_ms = now_ms;
    if (s->tokens < 1.0)
        return false;
    s->tokens -= 1.0;
    return true;
}
