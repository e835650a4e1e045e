/*
 * stream.h - TCP and TLS client connections of one worker (stream.c):
 * listeners, the framer, and the limits on what connections hold.
 * Sending to a stream client and tying an allocation to its connection go
 * through stream_client_ops (client.h). Worker thread only, except
 * stream_limits_update before the workers run.
 */
#ifndef SE_RELAY_STREAM_H
#define SE_RELAY_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct worker;
struct allocation;
struct relay_server;
struct relay_snap;
struct stream_conn; /* opaque: one accepted connection, owned by its worker */

/* Create the worker's listeners (and its accept-pause timer). */
int stream_listen(struct worker *w);
void stream_stop_listening(struct worker *w);
/* Once a second per worker: handshake and idle timeouts; worker 0 also
 * recomputes the connection limits from the fd limit. */
void stream_cron(struct worker *w);
/* The connection limits from snap and the current fd limit (any thread
 * before the workers run; then worker 0). */
void stream_limits_update(struct relay_server *srv, const struct relay_snap *snap);
unsigned stream_per_source_cap(struct relay_server *srv, const struct relay_snap *snap);
void stream_close_all(struct worker *w);

#endif
