/*
 * creds.c - the immutable credential set and the failed-auth throttle.
 *
 * auth_creds is filled by the control thread, frozen (users sorted by
 * name for binary search) and then only read. auth_throttle is the one
 * piece of shared mutable auth state: a fixed open-addressing table keyed
 * by source IP, guarded by a mutex because only requests that carry
 * credentials reach it (never relayed packets), and bounded so that a
 * flood of sources evicts old entries instead of growing memory.
 */
#include "auth/auth.h"
#include "core/err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct auth_creds {
    struct auth_user *users;
    size_t n_users, cap_users;
    char **secrets;
    size_t n_secrets, cap_secrets;
    bool frozen;
};

struct auth_creds *auth_creds_new(void)
{
    return calloc(1, sizeof(struct auth_creds));
}

void auth_creds_free(struct auth_creds *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_users; i++)
        free(c->users[i].name);
    for (size_t i = 0; i < c->n_secrets; i++) {
        /* secrets are key material: wipe before release */
        explicit_bzero(c->secrets[i], strlen(c->secrets[i]));
        free(c->secrets[i]);
    }
    if (c->users)
        explicit_bzero(c->users, c->n_users * sizeof(*c->users));
    free(c->users);
    free(c->secrets);
    free(c);
}

int auth_creds_add_user(struct auth_creds *c, const char *name, const uint8_t *key_md5,
                        const uint8_t *key_sha256)
{
    if (c->frozen)
        return SE_ERR_INVAL;
    if (c->n_users == c->cap_users) {
        size_t cap = c->cap_users ? c->cap_users * 2 : 16;
        struct auth_user *u = realloc(c->users, cap * sizeof(*u));
        if (!u)
            return SE_ERR_NOMEM;
        c->users = u;
        c->cap_users = cap;
    }
    struct auth_user *u = &c->users[c->n_users];
    u->name = strdup(name);
    if (!u->name)
        return SE_ERR_NOMEM;
    memcpy(u->key_md5, key_md5, AUTH_MD5_KEY_LEN);
    memcpy(u->key_sha256, key_sha256, AUTH_SHA256_KEY_LEN);
    c->n_users++;
    return 0;
}

int auth_creds_add_secret(struct auth_creds *c, const char *secret)
{
    if (c->frozen)
        return SE_ERR_INVAL;
    if (c->n_secrets == c->cap_secrets) {
        size_t cap = c->cap_secrets ? c->cap_secrets * 2 : 4;
        char **s = realloc(c->secrets, cap * sizeof(*s));
        if (!s)
            return SE_ERR_NOMEM;
        c->secrets = s;
        c->cap_secrets = cap;
    }
    if (!(c->secrets[c->n_secrets] = strdup(secret)))
        return SE_ERR_NOMEM;
    c->n_secrets++;
    return 0;
}

static int user_cmp(const void *a, const void *b)
{
    return strcmp(((const struct auth_user *)a)->name, ((const struct auth_user *)b)->name);
}

void auth_creds_freeze(struct auth_creds *c)
{
    if (c->n_users > 1)
        qsort(c->users, c->n_users, sizeof(*c->users), user_cmp);
    c->frozen = true;
}

bool auth_name_valid(const char *name, size_t len)
{
    if (len == 0 || len >= AUTH_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

/* strcmp order for a stored name against (name, len) with no NUL inside:
 * the common prefix first, then the shorter one sorts first. Never reads
 * past either string. */
static int name_cmp(const char *stored, const char *name, size_t len)
{
    size_t sl = strlen(stored);
    int r = memcmp(stored, name, sl < len ? sl : len);

    if (r != 0)
        return r;
    return sl < len ? -1 : sl > len ? 1 : 0;
}

const struct auth_user *auth_creds_find_user(const struct auth_creds *c, const char *name,
                                             size_t len)
{
    size_t lo = 0, hi = c->n_users;

    if (!auth_name_valid(name, len))
        return NULL;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = name_cmp(c->users[mid].name, name, len);
        if (r == 0)
            return &c->users[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t auth_creds_user_count(const struct auth_creds *c)
{
    return c->n_users;
}

size_t auth_creds_secret_count(const struct auth_creds *c)
{
    return c->n_secrets;
}

const char *auth_creds_secret(const struct auth_creds *c, size_t i)
{
    return i < c->n_secrets ? c->secrets[i] : NULL;
}

/* ---- throttle ---- */

enum { THROTTLE_SLOTS = 4096, THROTTLE_PROBE = 8 };

struct throttle_slot {
    uint8_t ip[16];
    int64_t window_start;
    int64_t blocked_until;
    uint32_t failures;
    int64_t chal_sec;   /* second of the current challenge count */
    uint32_t chal_n;
    bool used;
};

struct auth_throttle {
    pthread_mutex_t lock;
    unsigned max_failures, window_s, block_s;
    unsigned challenge_rate;
    struct throttle_slot slots[THROTTLE_SLOTS];
};

struct auth_throttle *auth_throttle_new(unsigned max_failures, unsigned window_s,
                                        unsigned block_s)
{
    struct auth_throttle *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    auth_throttle_set(t, max_failures, window_s, block_s);
    return t;
}

void auth_throttle_free(struct auth_throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void auth_throttle_set(struct auth_throttle *t, unsigned max_failures, unsigned window_s,
                       unsigned block_s)
{
    pthread_mutex_lock(&t->lock);
    t->max_failures = max_failures;
    t->window_s = window_s;
    t->block_s = block_s;
    pthread_mutex_unlock(&t->lock);
}

static uint32_t ip_hash(const uint8_t ip[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ ip[i]) * 16777619u;
    return h;
}

/* Find the slot for ip; with create, take a free slot or evict the entry
 * whose window is oldest, preferring entries that are not blocking. */
static struct throttle_slot *slot_for(struct auth_throttle *t, const uint8_t ip[16], bool create,
                                      int64_t now)
{
    uint32_t h = ip_hash(ip);
    struct throttle_slot *free_slot = NULL, *oldest = NULL;

    for (int i = 0; i < THROTTLE_PROBE; i++) {
        struct throttle_slot *s = &t->slots[(h + (uint32_t)i) % THROTTLE_SLOTS];
        if (!s->used) {
            if (!free_slot)
                free_slot = s;
            continue;
        }
        if (memcmp(s->ip, ip, 16) == 0)
            return s;
        bool s_blocking = s->blocked_until > now;
        bool o_blocking = oldest && oldest->blocked_until > now;
        if (!oldest || (o_blocking && !s_blocking) ||
            (o_blocking == s_blocking && s->window_start < oldest->window_start))
            oldest = s;
    }
    if (!create)
        return NULL;
    struct throttle_slot *victim = free_slot ? free_slot : oldest;
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->ip, ip, 16);
    victim->used = true;
    victim->window_start = now;
    return victim;
}

bool auth_throttle_blocked(struct auth_throttle *t, const uint8_t ip[16], int64_t now)
{
    bool blocked = false;

    pthread_mutex_lock(&t->lock);
    struct throttle_slot *s = slot_for(t, ip, false, now);
    if (s && s->blocked_until > now)
        blocked = true;
    pthread_mutex_unlock(&t->lock);
    return blocked;
}

bool auth_throttle_fail(struct auth_throttle *t, const uint8_t ip[16], int64_t now)
{
    bool started = false;

    pthread_mutex_lock(&t->lock);
    if (t->max_failures > 0) {
        struct throttle_slot *s = slot_for(t, ip, true, now);
        if (s->window_start + (int64_t)t->window_s < now) {
            s->window_start = now;
            s->failures = 0;
        }
        if (++s->failures >= t->max_failures && s->blocked_until <= now) {
            s->blocked_until = now + t->block_s;
            s->failures = 0;
            s->window_start = now;
            started = true;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return started;
}

void auth_throttle_set_challenge_rate(struct auth_throttle *t, unsigned per_second)
{
    pthread_mutex_lock(&t->lock);
    t->challenge_rate = per_second;
    pthread_mutex_unlock(&t->lock);
}

bool auth_throttle_challenge(struct auth_throttle *t, const uint8_t ip[16], int64_t now)
{
    bool ok = true;

    pthread_mutex_lock(&t->lock);
    if (t->challenge_rate > 0) {
        struct throttle_slot *s = slot_for(t, ip, true, now);
        if (s->chal_sec != now) {
            s->chal_sec = now;
            s->chal_n = 0;
        }
        ok = ++s->chal_n <= t->challenge_rate;
    }
    pthread_mutex_unlock(&t->lock);
    return ok;
}
