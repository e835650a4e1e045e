/*
 * offload.c - loading and attaching the kernel fast path (relay.offload).
 *
 * The program (sedge_offload.bpf.c) comes embedded in the binary as a
 * bpftool skeleton; nothing is read from disk. At start the control
 * thread sizes the maps (flow table: limits.max_allocations clamped to
 * OFL_FLOWS_MIN..OFL_FLOWS_MAX channels), loads the program (the kernel's
 * verifier runs here), maps the flow state array into memory and attaches
 * the program to the ingress of the loopback device and of every
 * interface that holds a UDP listen or relay address; workers attach it
 * to further interfaces when a route needs one (ofl_attach_if, under a
 * mutex, at most OFL_MAX_IFACES). "auto" falls back to the user-space
 * path with one warning when any of this is refused (no CAP_BPF or
 * CAP_NET_ADMIN, a kernel without BPF); "bpf" refuses to start instead.
 *
 * Attaching: a tcx link where the kernel has them (Linux >= 6.6; the
 * link goes away with the process, however it ends), else a clsact
 * filter (bpf_tc_hook_create + bpf_tc_attach), which outlives a killed
 * process: the heartbeat (each worker's cron writes the time; the program
 * forwards nothing once it is OFL_HEARTBEAT_NS_MAX seconds old) makes
 * such a leftover inert, and the next sedge that attaches to that
 * interface removes it (sweep.c). Both forms coexist with other programs and other
 * sedge instances on the interface (foreign packets pass on unchanged).
 * SEDGE_OFFLOAD_ATTACH=clsact in the environment forces the second form
 * (tests).
 *
 * Control thread only, except ofl_attach_if (any worker).
 */
#include "relay/offload/offload.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "relay/alloc.h"
#include "relay/server.h"
#include "relay/worker.h"
#include "relay/offload/ofl.h"
#include "sedge_offload.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum {
    OFL_TCX_INGRESS = 46, /* BPF_TCX_INGRESS (Linux 6.6 uapi; newer than our headers) */
    LOG_TAIL = 1536,      /* libbpf output kept for the error message */
    LO_IFINDEX = 1,
};

/*
 * Clocks. The program reads the kernel's monotonic clock as it is
 * (bpf_ktime_get_coarse_ns: no time namespace applies), the daemon's
 * logic reads its own (a time namespace's offset, or a clock an
 * LD_PRELOAD library fakes in tests, may separate them). So the program's
 * times come from the clock_gettime system call minus this process's
 * time-namespace offset, and an expiry is carried over as the distance
 * from the daemon's now.
 */
static int64_t timens_offset_ns; /* CLOCK_MONOTONIC offset of our time namespace */

static int64_t ns_of(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void read_timens_offset(void)
{
    FILE *f = fopen("/proc/self/timens_offsets", "r");
    char name[32];
    long long s, ns;

    timens_offset_ns = 0;
    if (!f)
        return; /* no time namespaces in this kernel: no offset */
    while (fscanf(f, "%31s %lld %lld", name, &s, &ns) == 3)
        if (strcmp(name, "monotonic") == 0 || strcmp(name, "1") == 0)
            timens_offset_ns = s * 1000000000 + ns;
    fclose(f);
}

int64_t ofl_now_ns(void)
{
    struct timespec ts;

    syscall(SYS_clock_gettime, CLOCK_MONOTONIC_COARSE, &ts);
    return ns_of(&ts) - timens_offset_ns;
}

uint64_t ofl_expiry_ns(int64_t expires_s)
{
    struct timespec own;

    if (expires_s <= 0)
        return 0;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &own);
    int64_t ns = expires_s * 1000000000 - ns_of(&own) + ofl_now_ns();
    return ns > 0 ? (uint64_t)ns : 1;
}

/* ---- libbpf's messages ---- */

/* The tail of what libbpf said while loading (the verifier's verdict is
 * at the end), for the one error or warning line. Control thread. */
static char log_tail[LOG_TAIL];

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char line[512];
    int n = vsnprintf(line, sizeof(line), fmt, ap);

    if (n <= 0)
        return 0;
    if (level != LIBBPF_DEBUG)
        se_debug("libbpf: %.*s", (int)strcspn(line, "\n"), line);
    size_t have = strlen(log_tail), add = strlen(line);
    if (add >= sizeof(log_tail))
        add = sizeof(log_tail) - 1;
    if (have + add >= sizeof(log_tail)) { /* keep the newest */
        size_t drop = have + add - (sizeof(log_tail) - 1);
        memmove(log_tail, log_tail + drop, have - drop + 1);
        have -= drop;
    }
    memcpy(log_tail + have, line + strlen(line) - add, add + 1);
    return 0;
}

/* Why the load failed, from what libbpf printed: the verifier's verdict
 * (the line before its "processed N insns" summary), else the last line
 * that is not libbpf's own "failed to load" wrapper. */
static const char *load_reason(char *buf, size_t len)
{
    const char *verdict = NULL, *last = NULL;
    char *save = NULL, copy[LOG_TAIL];

    snprintf(copy, sizeof(copy), "%s", log_tail);
    for (char *l = strtok_r(copy, "\n", &save), *prev = NULL; l;
         prev = l, l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "processed ", 10) == 0 && prev)
            verdict = prev;
        if (!strstr(l, "failed to load") && !strstr(l, "PROG LOAD LOG") && *l)
            last = l;
    }
    snprintf(buf, len, "%s", verdict ? verdict : last ? last : "no details");
    return buf;
}

/* ---- attaching ---- */

static int attach_clsact(struct relay_offload *o, struct ofl_attach *at, char *err, size_t errlen)
{
    DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = at->ifindex, .attach_point = BPF_TC_INGRESS);
    DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = o->prog_fd);
    int rc = bpf_tc_hook_create(&hook);

    if (rc == -EEXIST)
        ofl_sweep(at->ifindex); /* filters of killed sedge processes */
    if (rc < 0 && rc != -EEXIST) {
        snprintf(err, errlen, "clsact qdisc on ifindex %d: %s", at->ifindex, strerror(-rc));
        return SE_ERR_IO;
    }
    rc = bpf_tc_attach(&hook, &opts);
    if (rc < 0) {
        snprintf(err, errlen, "tc filter on ifindex %d: %s", at->ifindex, strerror(-rc));
        return SE_ERR_IO;
    }
    at->link_fd = -1;
    at->handle = opts.handle;
    at->priority = opts.priority;
    return 0;
}

static void detach(const struct ofl_attach *at)
{
    if (at->link_fd >= 0) {
        close(at->link_fd);
        return;
    }
    DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = at->ifindex, .attach_point = BPF_TC_INGRESS);
    DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = at->handle, .priority = at->priority);
    int rc = bpf_tc_detach(&hook, &opts);
    if (rc < 0 && rc != -ENOENT && rc != -ENODEV)
        se_warn("relay offload: detaching from ifindex %d: %s", at->ifindex, strerror(-rc));
}

int ofl_attach_if(struct relay_offload *o, int ifindex, char *err, size_t errlen)
{
    int rc = 0;

    pthread_mutex_lock(&o->lock);
    for (int i = 0; i < o->n_att; i++)
        if (o->att[i].ifindex == ifindex)
            goto out;
    if (o->n_att == OFL_MAX_IFACES) {
        snprintf(err, errlen, "attached to %d interfaces already", OFL_MAX_IFACES);
        rc = SE_ERR_LIMIT;
        goto out;
    }
    struct ofl_attach *at = &o->att[o->n_att];
    at->ifindex = ifindex;
    if (!o->clsact) {
        int fd = bpf_link_create(o->prog_fd, ifindex, (enum bpf_attach_type)OFL_TCX_INGRESS, NULL);
        if (fd >= 0) {
            at->link_fd = fd;
            goto done;
        }
        if (fd != -EINVAL && fd != -EOPNOTSUPP) {
            snprintf(err, errlen, "tcx link on ifindex %d: %s", ifindex, strerror(-fd));
            rc = SE_ERR_IO;
            goto out;
        }
        o->clsact = true; /* a kernel before tcx (Linux < 6.6) */
    }
    if ((rc = attach_clsact(o, at, err, errlen)) < 0)
        goto out;
done:
    o->n_att++;
    {
        char name[IF_NAMESIZE] = "?";
        if_indextoname((unsigned)ifindex, name);
        se_info("relay offload: attached to %s (%s ingress)", name, o->clsact ? "clsact" : "tcx");
    }
out:
    pthread_mutex_unlock(&o->lock);
    return rc;
}

/* Attach to lo and to every interface holding a UDP listen or relay
 * address (an address of 0.0.0.0 means every interface that is up). */
static int attach_initial(struct relay_offload *o, const struct se_config *cfg, char *err,
                          size_t errlen)
{
    struct ifaddrs *ifa = NULL;
    int rc = ofl_attach_if(o, LO_IFINDEX, err, errlen);

    if (rc < 0 || getifaddrs(&ifa) < 0)
        return rc;
    for (struct ifaddrs *i = ifa; i && rc == 0; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP))
            continue;
        struct se_addr a;
        bool want = false;
        se_addr_from_sockaddr(&a, i->ifa_addr);
        if (cfg->has_relay_v4 && se_addr_ip_eq(&a, &cfg->relay_v4))
            want = true;
        for (int k = 0; k < cfg->n_listen && !want; k++) {
            const struct se_addr *l = &cfg->listen[k].addr;
            static const uint8_t any4[4];
            if (cfg->listen[k].transport == SE_TP_UDP && l->family == AF_INET &&
                (se_addr_ip_eq(&a, l) || memcmp(l->ip + 12, any4, 4) == 0))
                want = true;
        }
        unsigned idx = want ? if_nametoindex(i->ifa_name) : 0;
        if (idx)
            rc = ofl_attach_if(o, (int)idx, err, errlen);
    }
    freeifaddrs(ifa);
    return rc;
}

/* ---- load ---- */

static unsigned default_ttl(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_default_ttl", "r");
    unsigned ttl = 64;

    if (f) {
        if (fscanf(f, "%u", &ttl) != 1 || ttl < 1 || ttl > 255)
            ttl = 64;
        fclose(f);
    }
    return ttl;
}

static int load(struct relay_offload *o, const struct se_config *cfg, char *err, size_t errlen)
{
    char why[256];
    int rc;

    log_tail[0] = '\0';
    read_timens_offset();
    libbpf_set_print(libbpf_log);
    o->skel = sedge_offload__open();
    if (!o->skel) {
        snprintf(err, errlen, "cannot open the program: %s", strerror(errno));
        return SE_ERR_UNSUPP;
    }
    o->nflows = cfg->max_allocations;
    if (o->nflows < OFL_FLOWS_MIN)
        o->nflows = OFL_FLOWS_MIN;
    if (o->nflows > OFL_FLOWS_MAX)
        o->nflows = OFL_FLOWS_MAX;
    bpf_map__set_max_entries(o->skel->maps.ofl_c2p, o->nflows);
    bpf_map__set_max_entries(o->skel->maps.ofl_p2c, o->nflows);
    bpf_map__set_max_entries(o->skel->maps.ofl_state, 2 * o->nflows);
    o->skel->rodata->ofl_ttl = (__u8)default_ttl();
    if ((rc = sedge_offload__load(o->skel)) < 0) {
        if (rc == -EPERM)
            snprintf(err, errlen,
                     "loading BPF programs is not permitted (needs CAP_BPF and "
                     "CAP_NET_ADMIN, or root)");
        else
            snprintf(err, errlen, "the kernel refused the program: %s (%s)", strerror(-rc),
                     load_reason(why, sizeof(why)));
        return SE_ERR_UNSUPP;
    }
    o->prog_fd = bpf_program__fd(o->skel->progs.sedge_tc);
    o->fd_c2p = bpf_map__fd(o->skel->maps.ofl_c2p);
    o->fd_p2c = bpf_map__fd(o->skel->maps.ofl_p2c);
    o->fd_stats = bpf_map__fd(o->skel->maps.ofl_stats);
    o->state_len = (size_t)2 * o->nflows * sizeof(struct ofl_state);
    long page = sysconf(_SC_PAGESIZE);
    o->state_len = (o->state_len + (size_t)page - 1) & ~((size_t)page - 1);
    void *m = mmap(NULL, o->state_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                   bpf_map__fd(o->skel->maps.ofl_state), 0);
    if (m == MAP_FAILED) {
        snprintf(err, errlen, "cannot map the flow state: %s", strerror(errno));
        o->state = NULL;
        return SE_ERR_UNSUPP;
    }
    o->state = m;
    __atomic_store_n(&o->skel->bss->ofl_heartbeat, (__u64)ofl_now_ns(), __ATOMIC_RELAXED);
    return 0;
}

static int workers_init(struct relay_offload *o, int n_workers)
{
    uint32_t per = o->nflows / (uint32_t)n_workers;

    o->n_workers = n_workers;
    o->ws = calloc((size_t)n_workers, sizeof(*o->ws));
    if (!o->ws)
        return SE_ERR_NOMEM;
    for (int i = 0; i < n_workers; i++) {
        struct ofl_worker *ws = &o->ws[i];
        ws->routes.nl = -1;
        ws->free_ids = malloc(per * sizeof(*ws->free_ids));
        if (!ws->free_ids)
            return SE_ERR_NOMEM;
        /* Popped from the end: lowest ids first. */
        for (uint32_t k = 0; k < per; k++)
            ws->free_ids[k] = (uint32_t)i * per + (per - 1 - k);
        ws->n_free = per;
    }
    return 0;
}

int relay_offload_open(const struct se_config *cfg, int n_workers, struct relay_offload **out,
                       char *err, size_t errlen)
{
    char why[400];
    struct relay_offload *o;
    int rc;

    *out = NULL;
    if (cfg->relay_offload == SE_OFFLOAD_OFF) {
        se_info("relay offload: off");
        return 0;
    }
    o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    pthread_mutex_init(&o->lock, NULL);
    o->prog_fd = o->fd_c2p = o->fd_p2c = o->fd_stats = -1;
    const char *force = getenv("SEDGE_OFFLOAD_ATTACH");
    o->clsact = force && strcmp(force, "clsact") == 0;
    rc = load(o, cfg, why, sizeof(why));
    if (rc == 0 && workers_init(o, n_workers) < 0) {
        snprintf(why, sizeof(why), "out of memory");
        rc = SE_ERR_NOMEM;
    }
    if (rc == 0)
        rc = attach_initial(o, cfg, why, sizeof(why));
    if (rc < 0) {
        relay_offload_free(o);
        if (cfg->relay_offload == SE_OFFLOAD_BPF) {
            snprintf(err, errlen, "relay.offload = \"bpf\": %s", why);
            return SE_ERR_UNSUPP;
        }
        se_warn("relay.offload: the kernel fast path is unavailable (%s); channel data is relayed "
                "in user space",
                why);
        se_info("relay offload: off");
        return 0;
    }
    struct bpf_prog_info info;
    uint32_t ilen = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(o->prog_fd, &info, &ilen) < 0)
        info.id = 0;
    se_info("relay offload: bpf (%s, %u flows, program id %u)", o->clsact ? "clsact" : "tcx",
            o->nflows, info.id);
    *out = o;
    return 0;
}

void relay_offload_free(struct relay_offload *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->n_att; i++)
        detach(&o->att[i]);
    if (o->state)
        munmap(o->state, o->state_len);
    for (int i = 0; o->ws && i < o->n_workers; i++) {
        if (o->ws[i].routes.nl >= 0)
            close(o->ws[i].routes.nl);
        free(o->ws[i].free_ids);
        free(o->ws[i].quar);
    }
    free(o->ws);
    sedge_offload__destroy(o->skel);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

/* ---- heartbeat, stats ---- */

void ofl_heartbeat(struct relay_offload *o)
{
    __atomic_store_n(&o->skel->bss->ofl_heartbeat, (__u64)ofl_now_ns(), __ATOMIC_RELAXED);
}

void relay_offload_stats(struct relay_offload *o, struct relay_stats *st)
{
    if (!o)
        return;
    st->offload_on = 1;
    for (int i = 0; i < o->n_workers; i++) {
        struct ofl_worker *ws = &o->ws[i];
        st->offload_flows += atomic_load_explicit(&ws->flows, memory_order_relaxed);
        st->offload_refused += atomic_load_explicit(&ws->refused, memory_order_relaxed);
        st->offload_pkts_from_client += atomic_load_explicit(&ws->pkts[0], memory_order_relaxed);
        st->offload_bytes_from_client += atomic_load_explicit(&ws->bytes[0], memory_order_relaxed);
        st->offload_pkts_to_client += atomic_load_explicit(&ws->pkts[1], memory_order_relaxed);
        st->offload_bytes_to_client += atomic_load_explicit(&ws->bytes[1], memory_order_relaxed);
    }
    /* The program's own per-CPU counters: datagrams it handed back. */
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0 || ncpu > 4096)
        return;
    uint64_t *v = calloc((size_t)ncpu, sizeof(*v));
    if (!v)
        return;
    for (uint32_t k = OFL_ST_PUNT_EXPIRED; k <= OFL_ST_DROP_ERROR; k++) {
        if (bpf_map_lookup_elem(o->fd_stats, &k, v) < 0)
            continue;
        uint64_t sum = 0;
        for (int c = 0; c < ncpu; c++)
            sum += v[c];
        if (k == OFL_ST_DROP_ERROR)
            st->offload_errors += sum;
        else
            st->offload_punted += sum;
    }
    free(v);
}
