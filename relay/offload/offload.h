/*
 * offload.h - the kernel fast path for TURN channels (relay.offload).
 *
 * An eBPF program on the ingress of the interfaces that carry relayed
 * traffic forwards ChannelData of UDP allocations to their peers, and the
 * peers' datagrams back, without the daemon seeing them (docs/offload.md).
 * The daemon stays in charge: the relay calls these functions at every
 * point of an allocation's life, and a flow exists only while its channel
 * and permission do and policy allows them.
 *
 * Threads: relay_offload_open/free on the control thread before the
 * workers start / after they were joined; relay_offload_stats from any
 * thread; everything else on the worker that owns the allocation.
 */
#ifndef SE_RELAY_OFFLOAD_H
#define SE_RELAY_OFFLOAD_H

#include <stddef.h>

struct allocation;
struct relay_offload;
struct relay_stats;
struct se_config;
struct worker;

/*
 * Load and attach the program as cfg->relay_offload says: "off" gives
 * *out = NULL; "auto" gives NULL with a warning where the kernel or the
 * process's privileges do not allow it; "bpf" fails with err set.
 * Returns 0 or SE_ERR_UNSUPP. The caller frees *out with relay_offload_free.
 */
int relay_offload_open(const struct se_config *cfg, int n_workers, struct relay_offload **out,
                       char *err, size_t errlen);
/* Detach and unload (after the workers have exited). NULL is a no-op. */
void relay_offload_free(struct relay_offload *o);

/* a's flows follow its channels, permissions and limits as they are now:
 * after ChannelBind, CreatePermission and a policy re-check. */
void relay_offload_sync(struct allocation *a);
/* Once a second per allocation (before its session UPDATE is due): the
 * program's counters into a's counters, then relay_offload_sync. */
void relay_offload_cron(struct allocation *a);
/* a ends: its flows are removed and their final counters added to a
 * (call before a's counters are logged and reported). */
void relay_offload_end(struct allocation *a);
/* Once a second per worker: heartbeat for the program, recycle flow slots. */
void relay_offload_worker_cron(struct worker *w);

/* Add the fast path's counters to st (relaxed reads; NULL o adds nothing). */
void relay_offload_stats(struct relay_offload *o, struct relay_stats *st);

#endif
