/*
 * ofl.h - what the offload's own files share (offload.c: loading,
 * attaching, heartbeat; flows.c: flows per allocation; route.c: route
 * lookups). Private to relay/offload/.
 *
 * Flow ids: the control plane hands out flow ids 0..nflows-1, each with
 * two OFL_STATE slots (2 id: client -> peer, 2 id + 1: peer -> client).
 * Worker i owns the ids [i * per_worker, (i + 1) * per_worker), so ids
 * are taken and returned without a lock. A removed flow's id waits
 * OFL_QUARANTINE_S seconds before reuse: a program instance that found
 * the flow just before it was removed may still add to its counters.
 */
#ifndef SE_RELAY_OFFLOAD_OFL_H
#define SE_RELAY_OFFLOAD_OFL_H

#include "relay/offload/shared.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sedge_offload; /* the bpftool skeleton */

enum {
    OFL_MAX_IFACES = 32,   /* interfaces the program is attached to */
    OFL_QUARANTINE_S = 2,  /* seconds before a removed flow's id is reused */
    OFL_FLOWS_MIN = 1024,  /* flow table size: limits.max_allocations, */
    OFL_FLOWS_MAX = 65536, /* clamped to this range */
    OFL_RETRY_S = 30,      /* a channel that could not be offloaded, tried again */
    OFL_ROUTE_CACHE = 256, /* route lookups remembered per worker... */
    OFL_ROUTE_TTL_S = 5,   /* ...for this long (route changes reach new flows then) */
};

#define OFL_NONE UINT32_MAX

/* One attachment of the program (tcx link, or a clsact filter). */
struct ofl_attach {
    int ifindex;
    int link_fd;               /* tcx: the link (closing it detaches); clsact: -1 */
    uint32_t handle, priority; /* clsact filter */
};

/* route.c: where a datagram from src to dst (IPv4, network order) goes. */
struct ofl_route {
    bool local;  /* dst is an address of this host */
    int ifindex; /* the interface it leaves by (lo for local ones) */
    unsigned mtu;
};
struct ofl_route_entry {
    uint32_t dst, src;
    int64_t until; /* monotonic seconds; 0 = empty */
    struct ofl_route r;
};
/* A worker's route lookups: its netlink socket and recent answers. */
struct ofl_routes {
    int nl; /* opened on first use; -1 before */
    struct ofl_route_entry e[OFL_ROUTE_CACHE];
};
/* 0 or SE_ERR_*; answers younger than OFL_ROUTE_TTL_S come from the cache. */
int ofl_route_get(struct ofl_routes *rt, int64_t now, uint32_t dst, uint32_t src,
                  struct ofl_route *r);

/* A removed flow whose id is not reusable yet. */
struct ofl_quarantined {
    uint32_t id;
    int64_t at;                 /* monotonic seconds when removed */
    uint64_t pkts[2], bytes[2]; /* counters when removed */
};

/* Per-worker state: written by its worker only (stats read relaxed). */
struct ofl_worker {
    uint32_t *free_ids;
    uint32_t n_free;
    struct ofl_quarantined *quar;
    uint32_t n_quar, cap_quar;
    struct ofl_routes routes;
    _Atomic uint64_t flows;             /* installed now */
    _Atomic uint64_t refused;           /* channels left in user space */
    _Atomic uint64_t pkts[2], bytes[2]; /* forwarded by the program, counted so far */
};

struct relay_offload {
    struct sedge_offload *skel;
    struct ofl_state *state; /* OFL_STATE, memory-mapped */
    size_t state_len;
    uint32_t nflows;
    int fd_c2p, fd_p2c, fd_stats, prog_fd;
    int n_workers;
    struct ofl_worker *ws;
    bool clsact;          /* attach as clsact filters (no tcx in this kernel) */
    pthread_mutex_t lock; /* att, n_att: workers attach to new interfaces */
    struct ofl_attach att[OFL_MAX_IFACES];
    int n_att;
};

/* offload.c: make sure the program sees ifindex's ingress; 0 or < 0. Any thread. */
int ofl_attach_if(struct relay_offload *o, int ifindex, char *err, size_t errlen);
/* Monotonic nanoseconds on the clock the program reads. */
int64_t ofl_now_ns(void);
/* expires_s (the daemon's monotonic seconds, as w->now) on that clock;
 * 0 stays 0 (expired). */
uint64_t ofl_expiry_ns(int64_t expires_s);
/* offload.c: tell the program the daemon is alive (any worker). */
void ofl_heartbeat(struct relay_offload *o);
/* sweep.c: remove sedge clsact filters on ifindex's ingress whose daemon
 * is gone (heartbeat older than OFL_HEARTBEAT_NS_MAX seconds). */
void ofl_sweep(int ifindex);

#endif
