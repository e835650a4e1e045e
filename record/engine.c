/*
 * engine.c - the recorder thread and its bounded queues.
 *
 * Each feed is a single-producer/single-consumer ring of fixed slots.
 * The producer owns `head`, the consumer `tail`; each is published with a
 * release store and read with an acquire load, so a slot's bytes are
 * visible before its index. While packets flow the engine wakes every
 * REC_ENGINE_TICK_MS and drains everything: a recorder can take 50 ms of
 * latency, and batching keeps its cost per packet rather than per wake-up
 * (no syscall per packet on the media path). With nothing to do it sleeps
 * REC_ENGINE_IDLE_MS after raising `idle`; the first producer to see
 * `idle` pokes the eventfd (non-blocking write). A producer also pokes it
 * when a ring reaches half full, so a burst cannot overflow between ticks.
 * A push racing the engine's last drain waits at most one idle period in
 * its ring; nothing is lost.
 *
 * Session slots are claimed and released under `lock` by control calls;
 * the engine thread takes the same lock once per loop to see them. The
 * media path (rec_feed_push) never takes it.
 */
#include "record/engine.h"
#include "core/err.h"
#include "core/log.h"
#include "record/rec.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum { REC_ENGINE_TICK_MS = 50, REC_ENGINE_IDLE_MS = 250 };

struct rec_slot {
    int64_t at_us;
    uint32_t len;
    uint8_t data[REC_QUEUE_SLOT];
};

struct rec_feed {
    struct rec_engine *e;
    struct rec_slot *slots;
    uint32_t size; /* power of two */
    _Atomic uint32_t head, tail;
    _Atomic uint64_t dropped;
    _Atomic int status;    /* 0, or the SE_ERR_* that stopped the session */
    uint64_t dropped_seen; /* engine side */
};

struct rec_entry {
    struct rec_session *s;
    struct rec_feed *feeds[REC_MAX_STREAMS];
    int n;
    bool used, closing, closed, failed;
    int result;
};

struct rec_engine {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t done;
    int efd;
    _Atomic bool idle;
    unsigned queue_len;
    bool stop;
    struct rec_entry ent[REC_ENGINE_MAX_SESSIONS];
};

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void wake(struct rec_engine *e)
{
    uint64_t one = 1;
    if (write(e->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return; /* the periodic tick still comes */
}

int rec_feed_push(struct rec_feed *f, const uint8_t *buf, size_t len, int64_t now_us)
{
    uint32_t head = atomic_load_explicit(&f->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&f->tail, memory_order_acquire);

    if (len > REC_QUEUE_SLOT) {
        atomic_fetch_add_explicit(&f->dropped, 1, memory_order_relaxed);
        return SE_ERR_TOOBIG;
    }
    if (head - tail >= f->size) {
        atomic_fetch_add_explicit(&f->dropped, 1, memory_order_relaxed);
        return SE_ERR_FULL;
    }
    struct rec_slot *s = &f->slots[head & (f->size - 1)];
    memcpy(s->data, buf, len);
    s->len = (uint32_t)len;
    s->at_us = now_us;
    atomic_store_explicit(&f->head, head + 1, memory_order_release);
    if (head - tail == f->size / 2 ||
        (atomic_load_explicit(&f->e->idle, memory_order_relaxed) &&
         atomic_exchange_explicit(&f->e->idle, false, memory_order_acq_rel)))
        wake(f->e);
    return 0;
}

int rec_feed_status(const struct rec_feed *f)
{
    return atomic_load_explicit(&f->status, memory_order_relaxed);
}

/* Engine side: hand every queued packet of a feed to its session.
 * Returns whether there was any. */
static bool drain_feed(struct rec_session *s, int idx, struct rec_feed *f)
{
    uint32_t tail = atomic_load_explicit(&f->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&f->head, memory_order_acquire);
    bool any = tail != head;

    while (tail != head) {
        struct rec_slot *sl = &f->slots[tail & (f->size - 1)];
        rec_session_rtp(s, idx, sl->data, sl->len, sl->at_us);
        tail++;
        atomic_store_explicit(&f->tail, tail, memory_order_release);
        if (tail == head)
            head = atomic_load_explicit(&f->head, memory_order_acquire);
    }
    uint64_t d = atomic_load_explicit(&f->dropped, memory_order_relaxed);
    if (d != f->dropped_seen) {
        static struct se_log_rl rl;
        rec_session_count_overflow(s, idx, d - f->dropped_seen);
        se_log_rl(&rl, SE_LOG_WARN, "record %s: recorder queue full, %llu packets dropped",
                  rec_session_dir(s), (unsigned long long)(d - f->dropped_seen));
        f->dropped_seen = d;
    }
    return any;
}

static void feed_free(struct rec_feed *f)
{
    if (!f)
        return;
    free(f->slots);
    free(f);
}

static void *engine_main(void *arg)
{
    struct rec_engine *e = arg;
    struct pollfd pfd = {.fd = e->efd, .events = POLLIN};
    bool busy = true;

    for (;;) {
        uint64_t v;
        if (!busy)
            atomic_store_explicit(&e->idle, true, memory_order_release);
        if (poll(&pfd, 1, busy ? REC_ENGINE_TICK_MS : REC_ENGINE_IDLE_MS) > 0 &&
            read(e->efd, &v, sizeof(v)) < 0)
            (void)0; /* nothing to read: woken by a racing producer */
        atomic_store_explicit(&e->idle, false, memory_order_relaxed);
        busy = false;
        int64_t now = wall_us();
        pthread_mutex_lock(&e->lock);
        bool stop = e->stop;
        for (int i = 0; i < REC_ENGINE_MAX_SESSIONS; i++) {
            struct rec_entry *en = &e->ent[i];
            if (!en->used || en->closed)
                continue;
            bool closing = en->closing || stop;
            /* Processing runs without the lock: control calls only
             * flag entries, and only this thread frees them. */
            pthread_mutex_unlock(&e->lock);
            for (int k = 0; k < en->n; k++)
                busy |= drain_feed(en->s, k, en->feeds[k]);
            rec_session_tick(en->s, now);
            int err = rec_session_error(en->s);
            if (err && !en->failed) {
                en->failed = true; /* tell the producers (rec_feed_status) */
                for (int k = 0; k < en->n; k++)
                    atomic_store_explicit(&en->feeds[k]->status, err, memory_order_relaxed);
            }
            int r = closing ? rec_session_close(en->s, now) : 0;
            pthread_mutex_lock(&e->lock);
            if (closing) {
                en->s = NULL;
                en->result = r;
                en->closed = true;
                pthread_cond_broadcast(&e->done);
            }
        }
        pthread_mutex_unlock(&e->lock);
        if (stop)
            return NULL;
    }
}

int rec_engine_new(struct rec_engine **out, unsigned queue_len)
{
    struct rec_engine *e = calloc(1, sizeof(*e));
    unsigned q = 1;

    *out = NULL;
    if (!e)
        return SE_ERR_NOMEM;
    while (q < (queue_len ? queue_len : REC_QUEUE_DEFAULT) && q < (1u << 20))
        q <<= 1;
    e->queue_len = q;
    e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->efd < 0) {
        free(e);
        return SE_ERR_IO;
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->done, NULL);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        close(e->efd);
        free(e);
        return SE_ERR_NOMEM;
    }
    pthread_setname_np(e->thread, "sedge-rec");
    *out = e;
    return 0;
}

int rec_engine_add(struct rec_engine *e, struct rec_session *s, int n_streams,
                   struct rec_feed **feeds, int *id)
{
    struct rec_feed *f[REC_MAX_STREAMS] = {0};
    int rc = SE_ERR_NOMEM, slot = -1;

    if (n_streams < 1 || n_streams > REC_MAX_STREAMS)
        return SE_ERR_INVAL;
    for (int i = 0; i < n_streams; i++) {
        f[i] = calloc(1, sizeof(*f[i]));
        if (!f[i] || !(f[i]->slots = malloc((size_t)e->queue_len * sizeof(struct rec_slot))))
            goto out;
        f[i]->e = e;
        f[i]->size = e->queue_len;
    }
    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < REC_ENGINE_MAX_SESSIONS && slot < 0; i++)
        if (!e->ent[i].used)
            slot = i;
    if (slot >= 0) {
        struct rec_entry *en = &e->ent[slot];
        memset(en, 0, sizeof(*en));
        en->s = s;
        en->n = n_streams;
        memcpy(en->feeds, f, sizeof(f));
        en->used = true;
    }
    pthread_mutex_unlock(&e->lock);
    rc = slot < 0 ? SE_ERR_LIMIT : 0;
out:
    if (rc) {
        for (int i = 0; i < n_streams; i++)
            feed_free(f[i]);
        return rc;
    }
    for (int i = 0; i < n_streams; i++)
        feeds[i] = f[i];
    *id = slot;
    return 0;
}

int rec_engine_close(struct rec_engine *e, int id)
{
    int r;

    if (id < 0 || id >= REC_ENGINE_MAX_SESSIONS)
        return SE_ERR_INVAL;
    pthread_mutex_lock(&e->lock);
    if (!e->ent[id].used) {
        pthread_mutex_unlock(&e->lock);
        return SE_ERR_NOTFOUND;
    }
    e->ent[id].closing = true;
    wake(e);
    while (!e->ent[id].closed)
        pthread_cond_wait(&e->done, &e->lock);
    r = e->ent[id].result;
    for (int k = 0; k < e->ent[id].n; k++)
        feed_free(e->ent[id].feeds[k]);
    memset(&e->ent[id], 0, sizeof(e->ent[id]));
    pthread_mutex_unlock(&e->lock);
    return r;
}

int64_t rec_engine_cpu_us(const struct rec_engine *e)
{
    clockid_t cid;
    struct timespec ts;

    if (pthread_getcpuclockid(e->thread, &cid) != 0 || clock_gettime(cid, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void rec_engine_free(struct rec_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    e->stop = true;
    pthread_mutex_unlock(&e->lock);
    wake(e);
    pthread_join(e->thread, NULL);
    for (int i = 0; i < REC_ENGINE_MAX_SESSIONS; i++)
        for (int k = 0; k < e->ent[i].n; k++)
            feed_free(e->ent[i].feeds[k]);
    close(e->efd);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->done);
    free(e);
}
