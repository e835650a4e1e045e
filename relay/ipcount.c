/*
 * ipcount.c - counts of live objects per client source, server-wide.
 *
 * What one source may hold at once (allocations and EVEN-PORT
 * reservations, TCP/TLS connections) is bounded per source as well as per
 * user and in total, so one address cannot take the relay's ports or fds
 * with many credentials. A source is an IPv4 address or an IPv6 /64
 * (ipc_source_key): one subscriber gets a /64 or more, so counting /128s
 * would let one host spread itself over 2^64 addresses.
 *
 * A table is a hash of chained entries, one per source that holds
 * something, freed when its count drops to 0; its size is bounded by what
 * is live. The mutex is taken at Allocate, teardown, accept and close,
 * never per packet. The hash seed is random, so clients cannot aim their
 * addresses at one chain.
 */
#include "relay/ipcount.h"
#include "core/err.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

enum { IPC_BUCKETS = 4096 };

struct ipc_entry {
    uint8_t key[16];
    unsigned count;
    struct ipc_entry *next;
};

struct ip_counts {
    pthread_mutex_t lock;
    uint32_t seed;
    struct ipc_entry *b[IPC_BUCKETS];
};

struct ip_counts *ipc_new(void)
{
    struct ip_counts *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    if (RAND_bytes((unsigned char *)&t->seed, sizeof(t->seed)) != 1) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void ipc_free(struct ip_counts *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < IPC_BUCKETS; i++) {
        while (t->b[i]) {
            struct ipc_entry *e = t->b[i];
            t->b[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static size_t slot(const struct ip_counts *t, const uint8_t key[16])
{
    uint32_t h = t->seed ^ 2166136261u;

    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return (h ^ h >> 16) % IPC_BUCKETS;
}

int ipc_take(struct ip_counts *t, const uint8_t key[16], unsigned max, unsigned n)
{
    struct ipc_entry **pp, *e;
    int rc = 0;

    pthread_mutex_lock(&t->lock);
    pp = &t->b[slot(t, key)];
    for (e = *pp; e && memcmp(e->key, key, 16) != 0; e = e->next)
        ;
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e) {
            rc = SE_ERR_NOMEM;
            goto out;
        }
        memcpy(e->key, key, 16);
        e->next = *pp;
        *pp = e;
    }
    if (max && e->count + n > max) {
        rc = SE_ERR_LIMIT;
        if (e->count == 0) { /* just created: do not keep an empty entry */
            *pp = e->next;
            free(e);
        }
    } else {
        e->count += n;
    }
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void ipc_release(struct ip_counts *t, const uint8_t key[16], unsigned n)
{
    pthread_mutex_lock(&t->lock);
    for (struct ipc_entry **pp = &t->b[slot(t, key)]; *pp; pp = &(*pp)->next) {
        struct ipc_entry *e = *pp;
        if (memcmp(e->key, key, 16) == 0) {
            e->count = e->count > n ? e->count - n : 0;
            if (e->count == 0) {
                *pp = e->next;
                free(e);
            }
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
}
