/*
 * creds.c - the immutable credential set.
 *
 * auth_creds is filled by the control thread, frozen (users sorted by
 * name for binary search) and then only read. (The one piece of shared
 * mutable auth state, the throttle, is in throttle.c.)
 */
#include "auth/auth.h"
#include "core/err.h"

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
