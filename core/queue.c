/*
 * queue.c - bounded MPSC pointer queue (see queue.h).
 *
 * A ring indexed by free-running head/tail counters under one mutex. The
 * lock is held for a few instructions per push or batch pop, and pushes
 * come at session rate, so contention is negligible; a lock-free ring
 * would buy nothing measurable here and cost clarity.
 */
#include "core/queue.h"
#include "core/err.h"

#include <pthread.h>
#include <stdlib.h>

struct se_queue {
    pthread_mutex_t lock;
    size_t mask;
    uint64_t head, tail; /* head: next pop, tail: next push */
    uint64_t dropped;
    void **slots;
};

struct se_queue *se_queue_new(size_t capacity)
{
    struct se_queue *q = calloc(1, sizeof(*q));
    size_t cap = 1;

    while (cap < capacity)
        cap <<= 1;
    if (!q || !(q->slots = calloc(cap, sizeof(void *)))) {
        free(q);
        return NULL;
    }
    q->mask = cap - 1;
    pthread_mutex_init(&q->lock, NULL);
    return q;
}

void se_queue_free(struct se_queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->lock);
    free(q->slots);
    free(q);
}

int se_queue_push(struct se_queue *q, void *item)
{
    int rc = 0;

    pthread_mutex_lock(&q->lock);
    if (q->tail - q->head > q->mask) {
        q->dropped++;
        rc = SE_ERR_FULL;
    } else {
        q->slots[q->tail++ & q->mask] = item;
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

size_t se_queue_pop(struct se_queue *q, void **out, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&q->lock);
    while (n < max && q->head != q->tail)
        out[n++] = q->slots[q->head++ & q->mask];
    pthread_mutex_unlock(&q->lock);
    return n;
}

uint64_t se_queue_dropped(struct se_queue *q)
{
    uint64_t d;

    pthread_mutex_lock(&q->lock);
    d = q->dropped;
    pthread_mutex_unlock(&q->lock);
    return d;
}
