/*
 * sweep.c - remove clsact filters that killed sedge processes left behind.
 *
 * A tcx link goes away with the process that made it, but a clsact filter
 * (kernels before tcx) stays attached when sedge is killed outright, with
 * its program and maps. The heartbeat makes such a program inert within
 * OFL_HEARTBEAT_NS_MAX seconds; this sweep, run before sedge attaches to
 * an interface with clsact, also takes it off: it lists the interface's
 * ingress filters (an rtnetlink dump), and for every BPF filter whose
 * program is named sedge_tc reads that program's heartbeat through its
 * .bss map and deletes the filter when the heartbeat is older than the
 * limit. A live sedge (this one, or another instance on the same host)
 * has a fresh heartbeat and keeps its filter.
 *
 * Control thread or a worker, under the offload's attach mutex.
 */
#include "core/log.h"
#include "relay/offload/ofl.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { MAX_FOUND = 64, NL_BUF = 16384, NL_TIMEOUT_MS = 500, PROG_NAME_LEN = 16 };

struct found {
    uint32_t prog_id, handle, priority;
};

/* The heartbeat of program prog_id if it is one of ours; false otherwise. */
static bool heartbeat_of(uint32_t prog_id, uint64_t *hb)
{
    struct bpf_prog_info info;
    uint32_t len = sizeof(info), map_ids[16];
    bool ours = false;
    int fd = bpf_prog_get_fd_by_id(prog_id);

    if (fd < 0)
        return false;
    memset(&info, 0, sizeof(info));
    info.nr_map_ids = 16;
    info.map_ids = (uint64_t)(uintptr_t)map_ids;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0 || strcmp(info.name, "sedge_tc") != 0) {
        close(fd);
        return false;
    }
    close(fd);
    for (uint32_t i = 0; i < info.nr_map_ids && i < 16 && !ours; i++) {
        struct bpf_map_info mi;
        uint32_t mlen = sizeof(mi), zero = 0;
        int mfd = bpf_map_get_fd_by_id(map_ids[i]);
        if (mfd < 0)
            continue;
        memset(&mi, 0, sizeof(mi));
        char value[64];
        /* libbpf names the .bss map "<object prefix>.bss"; its first
         * variable is ofl_heartbeat. */
        if (bpf_obj_get_info_by_fd(mfd, &mi, &mlen) == 0 && strstr(mi.name, ".bss") &&
            mi.value_size >= 8 && mi.value_size <= sizeof(value) &&
            bpf_map_lookup_elem(mfd, &zero, value) == 0) {
            memcpy(hb, value, 8);
            ours = true;
        }
        close(mfd);
    }
    return ours;
}

/* The BPF filters on ifindex's clsact ingress: up to max into out. */
static int list_filters(int ifindex, struct found *out, int max)
{
    struct {
        struct nlmsghdr nh;
        struct tcmsg tc;
    } req;
    char buf[NL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
    struct timeval tv = {0, NL_TIMEOUT_MS * 1000};
    int n = 0, fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg));
    req.nh.nlmsg_type = RTM_GETTFILTER;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = 1;
    req.tc.tcm_family = AF_UNSPEC;
    req.tc.tcm_ifindex = ifindex;
    req.tc.tcm_parent = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS);
    if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
        close(fd);
        return -1;
    }
    for (bool done = false; !done;) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            break;
        int len = (int)r;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
             nh = NLMSG_NEXT(nh, len)) {
            if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
                done = true;
                break;
            }
            if (nh->nlmsg_type != RTM_NEWTFILTER)
                continue;
            const struct tcmsg *tc = NLMSG_DATA(nh);
            int alen = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*tc));
            bool bpf = false;
            uint32_t id = 0;
            for (const struct rtattr *a =
                     (const struct rtattr *)((const char *)tc + NLMSG_ALIGN(sizeof(*tc)));
                 RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
                if (a->rta_type == TCA_KIND)
                    bpf = strcmp(RTA_DATA(a), "bpf") == 0;
                if (a->rta_type == TCA_OPTIONS) {
                    int olen = (int)RTA_PAYLOAD(a);
                    for (const struct rtattr *o = RTA_DATA(a); RTA_OK(o, olen);
                         o = RTA_NEXT(o, olen))
                        if (o->rta_type == TCA_BPF_ID && RTA_PAYLOAD(o) >= 4)
                            memcpy(&id, RTA_DATA(o), 4);
                }
            }
            if (bpf && id && tc->tcm_handle && n < max)
                out[n++] = (struct found){id, tc->tcm_handle, tc->tcm_info >> 16};
        }
    }
    close(fd);
    return n;
}

void ofl_sweep(int ifindex)
{
    struct found f[MAX_FOUND];
    int n = list_filters(ifindex, f, MAX_FOUND);
    uint64_t now = (uint64_t)ofl_now_ns();

    for (int i = 0; i < n; i++) {
        uint64_t hb = 0;
        if (!heartbeat_of(f[i].prog_id, &hb) ||
            now - hb <= (uint64_t)OFL_HEARTBEAT_NS_MAX * 1000000000ull)
            continue;
        DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
        DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = f[i].handle, .priority = f[i].priority);
        char name[IF_NAMESIZE] = "?";
        if_indextoname((unsigned)ifindex, name);
        int rc = bpf_tc_detach(&hook, &opts);
        if (rc == 0)
            se_info("relay offload: removed a stale sedge filter from %s (program id %u, its "
                    "process stopped %llu s ago)",
                    name, f[i].prog_id, (unsigned long long)((now - hb) / 1000000000ull));
        else
            se_warn("relay offload: cannot remove a stale sedge filter from %s: %s", name,
                    strerror(-rc));
    }
}
