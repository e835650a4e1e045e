/*
 * ratelimit.c - token buckets in a fixed open-addressed table.
 *
 * Each slot holds a key, the time it was last seen and its tokens (in
 * thousandths, so refills of a fraction of a token are not lost between
 * calls). A lookup probes RL_PROBE consecutive slots from the key's seeded
 * hash; a key not found takes a free slot or the least recently seen one
 * in its window. Used by the API (per source) and the relay (Allocate per
 * user, TLS handshakes per source).
 */
#include "core/ratelimit.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { RL_PROBE = 8, RL_MIN_SLOTS = 64, MILLI = 1000 };

struct rl_slot {
    uint8_t key[16];
    bool used;
    int64_t last_ms;
    uint64_t milli_tokens;
};

struct se_ratelimit {
    pthread_mutex_t lock;
    size_t mask;
    uint64_t seed;
    uint8_t name_key[32]; /* for se_ratelimit_key_str */
    struct rl_slot slots[];
};

struct se_ratelimit *se_ratelimit_new(size_t slots)
{
    size_t n = RL_MIN_SLOTS;
    struct se_ratelimit *rl;

    while (n < slots && n < ((size_t)1 << 24))
        n <<= 1;
    rl = calloc(1, sizeof(*rl) + n * sizeof(struct rl_slot));
    if (!rl)
        return NULL;
    if (RAND_bytes((unsigned char *)&rl->seed, sizeof(rl->seed)) != 1 ||
        RAND_bytes(rl->name_key, sizeof(rl->name_key)) != 1) {
        free(rl);
        return NULL;
    }
    rl->mask = n - 1;
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void se_ratelimit_free(struct se_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

/* FNV-1a over the seed and the key: the seed is secret, so the window a
 * key lands in cannot be predicted from outside. */
static uint64_t key_hash(const struct se_ratelimit *rl, const uint8_t key[16])
{
    uint64_t h = 1469598103934665603ull ^ rl->seed;

    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

bool se_ratelimit_allow(struct se_ratelimit *rl, const uint8_t key[16], int64_t now_ms,
                        unsigned rate, unsigned burst)
{
    struct rl_slot *s = NULL, *victim = NULL;
    uint64_t h, full;
    bool ok;

    if (rate == 0)
        return true;
    if (burst == 0)
        burst = 1;
    full = (uint64_t)burst * MILLI;
    h = key_hash(rl, key);
    pthread_mutex_lock(&rl->lock);
    for (int i = 0; i < RL_PROBE && !s; i++) {
        struct rl_slot *c = &rl->slots[(h + (uint64_t)i) & rl->mask];
        if (c->used && memcmp(c->key, key, 16) == 0)
            s = c;
        else if (!victim || (victim->used && (!c->used || c->last_ms < victim->last_ms)))
            victim = c;
    }
    if (!s) {
        s = victim;
        memcpy(s->key, key, 16);
        s->used = true;
        s->milli_tokens = full;
        s->last_ms = now_ms;
    }
    if (now_ms > s->last_ms) {
        uint64_t add = (uint64_t)(now_ms - s->last_ms) * rate;
        s->milli_tokens = add >= full - s->milli_tokens ? full : s->milli_tokens + add;
        s->last_ms = now_ms;
    }
    ok = s->milli_tokens >= MILLI;
    if (ok)
        s->milli_tokens -= MILLI;
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

void se_ratelimit_key_str(const struct se_ratelimit *rl, const char *s, size_t len,
                          uint8_t key[16])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    memset(key, 0, 16);
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, rl->name_key, sizeof(rl->name_key)) == 1 &&
        EVP_DigestUpdate(ctx, s, len) == 1 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1)
        memcpy(key, md, 16);
    EVP_MD_CTX_free(ctx);
}
