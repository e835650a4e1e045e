/*
 * queue.h - a bounded multi-producer, single-consumer queue of pointers.
 *
 * For messages between threads that happen per session, not per packet
 * (session events from relay workers to the control thread): a short
 * mutex-protected ring. A push never blocks and never grows the queue:
 * when it is full the push fails, the caller keeps ownership of the item
 * and counts the drop (se_queue_dropped).
 */
#ifndef SE_QUEUE_H
#define SE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct se_queue;

/* capacity is rounded up to a power of two. NULL on allocation failure. */
struct se_queue *se_queue_new(size_t capacity);
/* Frees the queue, not the items left in it (pop them first). */
void se_queue_free(struct se_queue *q);
/* 0, or SE_ERR_FULL (item not queued; the caller still owns it). Any thread. */
int se_queue_push(struct se_queue *q, void *item);
/* Pop up to max items into out, oldest first; returns how many. Consumer only. */
size_t se_queue_pop(struct se_queue *q, void **out, size_t max);
/* Items refused because the queue was full, since creation. */
uint64_t se_queue_dropped(struct se_queue *q);

#endif
