/*
 * throttle.c - password-guess throttling and the reflection budget.
 *
 * Two questions the relay asks about a request's source:
 *
 *  - Is it guessing passwords? Failures are counted per (user, source)
 *    and per source. fail_limit failures for one user from one source
 *    within fail_window block that pair for block_time; source_limit
 *    failures for any users block the whole source. So one guesser
 *    behind an office's NAT address locks out the account it attacks
 *    from that address, not the office, and a guesser that cycles user
 *    names still meets the looser per-source ceiling. Every request
 *    refused while a block lasts is counted, and the count is reported
 *    when the block ends (auth_throttle_report).
 *
 *  - May it receive an answer larger than its request? Such answers
 *    (401/438 challenges, Binding success) could be aimed at a spoofed
 *    address. A source that completed an authenticated exchange (its
 *    MESSAGE-INTEGRITY verified with a nonce that is bound to its
 *    address, so it does receive what we send) is proven for
 *    AUTH_PROVEN_TIME seconds and exempt; an unproven one gets at most
 *    challenge_rate oversized answers per second.
 *
 * Sources are 16-byte keys chosen by the caller (the relay passes an IPv4
 * address or an IPv6 /64). Three fixed tables of open-addressing slots
 * with bounded probing; a new entry evicts the oldest one that matters
 * least, so a flood of sources costs no memory. The tables are separate
 * so that a flood of spoofed unproven sources cannot evict a guesser's
 * failure count or a proven office. One mutex guards them: only requests
 * that carry credentials and oversized answers get here, never relayed
 * packets.
 */
#include "auth/auth.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    T_SLOTS = 4096,
    T_PROBE = 8,
    NAME_KEPT = 64, /* bytes of a user name kept for the log */
};

struct tslot {
    uint8_t src[16];
    uint64_t user;       /* failures: hash of the user name, 0 = whole source */
    int64_t stamp;       /* last time the entry mattered (eviction age) */
    bool used;
    /* failures */
    int64_t window_start, blocked_until;
    uint32_t failures;
    uint64_t refused;    /* requests refused during the current block */
    bool report;         /* a block started and is not reported yet */
    char name[NAME_KEPT + 1];
    /* oversized answers: per second */
    int64_t second;
    uint32_t answers;
    /* proven sources */
    int64_t proven_until;
};

enum table { T_FAIL, T_CHAL, T_PROVEN, T_COUNT };

struct auth_throttle {
    pthread_mutex_t lock;
    unsigned max_failures, source_max, window_s, block_s;
    unsigned challenge_rate;
    uint64_t seed;
    struct tslot *t[T_COUNT];
};

struct auth_throttle *auth_throttle_new(unsigned max_failures, unsigned window_s,
                                        unsigned block_s)
{
    struct auth_throttle *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    for (int i = 0; i < T_COUNT; i++) {
        if (!(t->t[i] = calloc(T_SLOTS, sizeof(struct tslot)))) {
            auth_throttle_free(t);
            return NULL;
        }
    }
    if (RAND_bytes((unsigned char *)&t->seed, sizeof(t->seed)) != 1)
        t->seed = (uint64_t)(uintptr_t)t;
    pthread_mutex_init(&t->lock, NULL);
    auth_throttle_set(t, max_failures, window_s, block_s);
    return t;
}

void auth_throttle_free(struct auth_throttle *t)
{
    if (!t)
        return;
    if (t->t[0])
        pthread_mutex_destroy(&t->lock);
    for (int i = 0; i < T_COUNT; i++)
        free(t->t[i]);
    free(t);
}

void auth_throttle_set(struct auth_throttle *t, unsigned max_failures, unsigned window_s,
                       unsigned block_s)
{
    pthread_mutex_lock(&t->lock);
    t->max_failures = max_failures;
    t->source_max = max_failures;
    t->window_s = window_s;
    t->block_s = block_s;
    pthread_mutex_unlock(&t->lock);
}

void auth_throttle_set_source_limit(struct auth_throttle *t, unsigned max_failures)
{
    pthread_mutex_lock(&t->lock);
    t->source_max = max_failures;
    pthread_mutex_unlock(&t->lock);
}

static uint64_t name_hash(const struct auth_throttle *t, const char *name, size_t len)
{
    uint64_t h = 14695981039346656037ull ^ t->seed;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
    return h ? h : 1; /* 0 means the whole source */
}

static uint32_t key_hash(const struct auth_throttle *t, const uint8_t src[16], uint64_t user)
{
    uint64_t h = 14695981039346656037ull ^ (t->seed >> 7);

    for (int i = 0; i < 16; i++)
        h = (h ^ src[i]) * 1099511628211ull;
    h = (h ^ user) * 1099511628211ull;
    return (uint32_t)(h ^ h >> 32);
}

/* Does an entry still matter at now (never evicted before the others)? */
static bool slot_live(enum table tb, const struct tslot *s, int64_t now)
{
    return tb == T_FAIL ? s->blocked_until > now || s->report
                        : tb == T_PROVEN ? s->proven_until > now : s->second == now;
}

/* The slot for (src, user) in table tb, or NULL; with create, a free slot
 * or the least useful one is taken over. */
static struct tslot *slot_for(struct auth_throttle *t, enum table tb, const uint8_t src[16],
                              uint64_t user, bool create, int64_t now)
{
    struct tslot *tab = t->t[tb], *free_slot = NULL, *victim = NULL;
    uint32_t h = key_hash(t, src, user);

    for (int i = 0; i < T_PROBE; i++) {
        struct tslot *s = &tab[(h + (uint32_t)i) % T_SLOTS];
        if (!s->used) {
            if (!free_slot)
                free_slot = s;
            continue;
        }
        if (s->user == user && memcmp(s->src, src, 16) == 0)
            return s;
        if (!victim) {
            victim = s;
            continue;
        }
        bool vl = slot_live(tb, victim, now), sl = slot_live(tb, s, now);
        if ((vl && !sl) || (vl == sl && s->stamp < victim->stamp))
            victim = s;
    }
    if (!create)
        return NULL;
    struct tslot *s = free_slot ? free_slot : victim;
    memset(s, 0, sizeof(*s));
    memcpy(s->src, src, 16);
    s->user = user;
    s->used = true;
    s->stamp = now;
    s->window_start = now;
    return s;
}

/* Is the entry blocking at now? Counts the refused request if so. */
static bool refuse(struct tslot *s, int64_t now)
{
    if (!s || s->blocked_until <= now)
        return false;
    s->refused++;
    s->stamp = now;
    return true;
}

/* One failure on entry s with limit max; true if it starts a block. */
static bool count_failure(struct auth_throttle *t, struct tslot *s, unsigned max, int64_t now)
{
    if (s->window_start + (int64_t)t->window_s < now) {
        s->window_start = now;
        s->failures = 0;
    }
    s->stamp = now;
    if (++s->failures < max || s->blocked_until > now)
        return false;
    s->blocked_until = now + t->block_s;
    s->failures = 0;
    s->window_start = now;
    s->refused = 0;
    s->report = true;
    return true;
}

int auth_throttle_check(struct auth_throttle *t, const uint8_t src[16], const char *user,
                        size_t len, int64_t now)
{
    int state = AUTH_THROTTLE_OK;

    pthread_mutex_lock(&t->lock);
    if (refuse(slot_for(t, T_FAIL, src, 0, false, now), now))
        state = AUTH_THROTTLE_SOURCE;
    else if (user && refuse(slot_for(t, T_FAIL, src, name_hash(t, user, len), false, now), now))
        state = AUTH_THROTTLE_USER;
    pthread_mutex_unlock(&t->lock);
    return state;
}

int auth_throttle_fail_user(struct auth_throttle *t, const uint8_t src[16], const char *user,
                            size_t len, int64_t now)
{
    int started = AUTH_THROTTLE_OK;

    pthread_mutex_lock(&t->lock);
    if (t->max_failures > 0 && user) {
        struct tslot *s = slot_for(t, T_FAIL, src, name_hash(t, user, len), true, now);
        size_t kept = len < NAME_KEPT ? len : NAME_KEPT;
        memcpy(s->name, user, kept);
        s->name[kept] = '\0';
        if (count_failure(t, s, t->max_failures, now))
            started = AUTH_THROTTLE_USER;
    }
    if (t->source_max > 0) {
        struct tslot *s = slot_for(t, T_FAIL, src, 0, true, now);
        if (count_failure(t, s, t->source_max, now))
            started = AUTH_THROTTLE_SOURCE;
    }
    pthread_mutex_unlock(&t->lock);
    return started;
}

bool auth_throttle_blocked(struct auth_throttle *t, const uint8_t ip[16], int64_t now)
{
    return auth_throttle_check(t, ip, NULL, 0, now) != AUTH_THROTTLE_OK;
}

bool auth_throttle_fail(struct auth_throttle *t, const uint8_t ip[16], int64_t now)
{
    return auth_throttle_fail_user(t, ip, NULL, 0, now) != AUTH_THROTTLE_OK;
}

size_t auth_throttle_report(struct auth_throttle *t, int64_t now, struct auth_throttle_end *out,
                            size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < T_SLOTS && n < max; i++) {
        struct tslot *s = &t->t[T_FAIL][i];
        if (!s->used || !s->report || s->blocked_until > now)
            continue;
        struct auth_throttle_end *e = &out[n++];
        memcpy(e->src, s->src, 16);
        snprintf(e->user, sizeof(e->user), "%s", s->user ? s->name : "");
        e->whole_source = s->user == 0;
        e->refused = s->refused;
        s->report = false;
        s->refused = 0;
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}

void auth_throttle_set_challenge_rate(struct auth_throttle *t, unsigned per_second)
{
    pthread_mutex_lock(&t->lock);
    t->challenge_rate = per_second;
    pthread_mutex_unlock(&t->lock);
}

void auth_throttle_prove(struct auth_throttle *t, const uint8_t src[16], int64_t now)
{
    pthread_mutex_lock(&t->lock);
    struct tslot *s = slot_for(t, T_PROVEN, src, 0, true, now);
    s->proven_until = now + AUTH_PROVEN_TIME;
    s->stamp = now;
    pthread_mutex_unlock(&t->lock);
}

bool auth_throttle_proven(struct auth_throttle *t, const uint8_t src[16], int64_t now)
{
    pthread_mutex_lock(&t->lock);
    struct tslot *s = slot_for(t, T_PROVEN, src, 0, false, now);
    bool proven = s && s->proven_until > now;
    pthread_mutex_unlock(&t->lock);
    return proven;
}

bool auth_throttle_challenge(struct auth_throttle *t, const uint8_t src[16], int64_t now)
{
    bool ok = true;

    pthread_mutex_lock(&t->lock);
    struct tslot *p = slot_for(t, T_PROVEN, src, 0, false, now);
    if (t->challenge_rate > 0 && !(p && p->proven_until > now)) {
        struct tslot *s = slot_for(t, T_CHAL, src, 0, true, now);
        if (s->second != now) {
            s->second = now;
            s->answers = 0;
        }
        s->stamp = now;
        ok = ++s->answers <= t->challenge_rate;
    }
    pthread_mutex_unlock(&t->lock);
    return ok;
}
