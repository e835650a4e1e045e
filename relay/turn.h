/*
 * turn.h - STUN/TURN request handling of a worker (turn.c): parse,
 * authenticate, dispatch, answer. Worker thread only.
 */
#ifndef SE_RELAY_TURN_H
#define SE_RELAY_TURN_H

#include <stddef.h>
#include <stdint.h>

struct worker;
struct client_ref;
struct allocation;

/* A STUN message from a client; a is its allocation (5-tuple) or NULL.
 * buf is borrowed for the call. */
void turn_on_stun(struct worker *w, const struct client_ref *c, struct allocation *a,
                  const uint8_t *buf, size_t len);
/* A ChannelData message from a client (whole frame, padding stripped). */
void turn_on_channel_data(struct worker *w, struct allocation *a, const uint8_t *buf, size_t len);
/* Once a second, worker 0: report ended throttle blocks, flush the
 * counts of suppressed log lines. */
void turn_cron(struct worker *w);

#endif
