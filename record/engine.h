/*
 * engine.h - the recorder thread: sessions run behind bounded queues.
 *
 * Producers (the anchor's media path, `sedge record listen`) hand each
 * datagram to a struct rec_feed with rec_feed_push(), which copies it into
 * a preallocated single-producer/single-consumer ring and never blocks,
 * allocates or locks: when the ring is full the packet is dropped and
 * counted, and the count lands in the recording's metadata.json
 * ("queue_overflow"). RTCP for the session's streams goes through the
 * same feeds (rtcp-mux). The engine thread drains the rings, runs the
 * sessions (reorder, depacketize, write, fsync) and their timers, and
 * publishes a session's failure to its feeds (rec_feed_status). Control
 * calls (add, close) come from a control thread and take a mutex the
 * media path never touches.
 */
#ifndef SE_REC_ENGINE_H
#define SE_REC_ENGINE_H

#include <stddef.h>
#include <stdint.h>

struct rec_session;
struct rec_engine;
struct rec_feed;

enum {
    REC_ENGINE_MAX_SESSIONS = 64,
    REC_QUEUE_DEFAULT = 1024, /* packets per stream: ~1.5 s of 2.5 Mbit/s video */
    REC_QUEUE_SLOT = 2304,    /* largest datagram queued, bytes */
};

/* Start the engine thread. queue_len 0 = default. Returns 0 or SE_ERR_*. */
int rec_engine_new(struct rec_engine **out, unsigned queue_len);

/*
 * Hand over a session (takes ownership) with n_streams streams; feeds[i]
 * receives the producer handle of stream i, valid until rec_engine_close()
 * for this session returns. *id names the session for close. Returns 0,
 * SE_ERR_LIMIT (too many sessions) or SE_ERR_NOMEM; on error the caller
 * still owns the session.
 */
int rec_engine_add(struct rec_engine *e, struct rec_session *s, int n_streams,
                   struct rec_feed **feeds, int *id);

/*
 * Queue one datagram that arrived at now_us (epoch microseconds). Never
 * blocks. Returns 0, or SE_ERR_FULL / SE_ERR_TOOBIG when dropped (counted).
 * One producer thread per feed.
 */
int rec_feed_push(struct rec_feed *f, const uint8_t *buf, size_t len, int64_t now_us);

/*
 * 0 while the feed's recording is healthy, else the SE_ERR_* that stopped
 * it (SE_ERR_IO: a write error or a full disk). A relaxed atomic load, so
 * the media path may poll it per packet; the session's on_fail callback
 * (record/rec.h) reports the same event once, on the recorder thread.
 */
int rec_feed_status(const struct rec_feed *f);

/*
 * Finish a session: its queued packets are processed, its files closed,
 * metadata and manifest written. Blocks the caller (a control thread)
 * until done. Returns the session's rec_session_close() result.
 */
int rec_engine_close(struct rec_engine *e, int id);

/* CPU time the recorder thread has used, microseconds; -1 if unknown. */
int64_t rec_engine_cpu_us(const struct rec_engine *e);

/* Close every session, stop and join the thread, free. NULL is a no-op. */
void rec_engine_free(struct rec_engine *e);

#endif
