/*
 * route.c - route lookups for offloaded flows (rtnetlink RTM_GETROUTE).
 *
 * When a channel is offloaded, the daemon asks the kernel once where a
 * datagram toward the peer (from the relayed address) and toward the
 * client (from the listen address) goes: to an address of this host
 * (route type local) or out of an interface, with that path's MTU. The
 * program then delivers locally or redirects to that interface; the
 * interface a client's (peer's) datagrams arrive on is the one the route
 * toward it uses, which is where the program is attached.
 *
 * One netlink socket per worker, opened on first use; the kernel answers
 * a route query synchronously, so a lookup is one send and one receive
 * (bounded by a receive timeout). Answers are kept OFL_ROUTE_TTL_S
 * seconds in a small direct-mapped cache, so channels bound in bulk (many
 * clients behind one address, one peer for many) cost one query per
 * destination. Worker thread only.
 */
#include "relay/offload/ofl.h"
#include "core/err.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { NL_TIMEOUT_MS = 200, NL_BUF = 4096 };

static int nl_open(void)
{
    struct timeval tv = {0, NL_TIMEOUT_MS * 1000};
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void put_attr(struct nlmsghdr *nh, int type, const void *data, size_t len)
{
    struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

    rta->rta_type = (unsigned short)type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
    nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

static unsigned dev_mtu(int ifindex)
{
    struct ifreq ifr;
    unsigned mtu = 0;
    int fd;

    memset(&ifr, 0, sizeof(ifr));
    if (!if_indextoname((unsigned)ifindex, ifr.ifr_name))
        return 0;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
        mtu = (unsigned)ifr.ifr_mtu;
    close(fd);
    return mtu;
}

/* Parse one RTM_NEWROUTE answer into r. */
static int parse_route(const struct nlmsghdr *nh, struct ofl_route *r)
{
    const struct rtmsg *rtm = NLMSG_DATA(nh);
    int len = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*rtm));

    if (len < 0)
        return SE_ERR_PARSE;
    if (rtm->rtm_type != RTN_LOCAL && rtm->rtm_type != RTN_UNICAST)
        return SE_ERR_UNSUPP; /* unreachable, blackhole, broadcast, ... */
    r->local = rtm->rtm_type == RTN_LOCAL;
    for (const struct rtattr *a = RTM_RTA(rtm); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= 4) {
            memcpy(&r->ifindex, RTA_DATA(a), 4);
        } else if (a->rta_type == RTA_METRICS) {
            int ml = (int)RTA_PAYLOAD(a);
            for (const struct rtattr *m = RTA_DATA(a); RTA_OK(m, ml); m = RTA_NEXT(m, ml))
                if (m->rta_type == RTAX_MTU && RTA_PAYLOAD(m) >= 4)
                    memcpy(&r->mtu, RTA_DATA(m), 4);
        }
    }
    return r->ifindex > 0 ? 0 : SE_ERR_PARSE;
}

static int lookup(int *nl, uint32_t dst, uint32_t src, struct ofl_route *r)
{
    static _Atomic uint32_t seq;
    struct {
        struct nlmsghdr nh;
        struct rtmsg rt;
        char attrs[64];
    } req;
    char buf[NL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));

    memset(r, 0, sizeof(*r));
    if (*nl < 0 && (*nl = nl_open()) < 0)
        return SE_ERR_IO;
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    req.nh.nlmsg_type = RTM_GETROUTE;
    req.nh.nlmsg_flags = NLM_F_REQUEST;
    req.nh.nlmsg_seq = ++seq;
    req.rt.rtm_family = AF_INET;
    req.rt.rtm_dst_len = 32;
    req.rt.rtm_src_len = 32;
    put_attr(&req.nh, RTA_DST, &dst, 4);
    put_attr(&req.nh, RTA_SRC, &src, 4); /* policy routing by source */
    if (send(*nl, &req, req.nh.nlmsg_len, 0) < 0)
        return SE_ERR_IO;
    for (;;) {
        ssize_t n = recv(*nl, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return SE_ERR_IO;
        }
        int len = (int)n;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
             nh = NLMSG_NEXT(nh, len)) {
            if (nh->nlmsg_seq != req.nh.nlmsg_seq)
                continue; /* an answer to an earlier query that timed out */
            if (nh->nlmsg_type == NLMSG_ERROR)
                return SE_ERR_NOTFOUND;
            if (nh->nlmsg_type != RTM_NEWROUTE)
                continue;
            int rc = parse_route(nh, r);
            if (rc == 0 && !r->mtu)
                r->mtu = dev_mtu(r->ifindex);
            if (rc == 0 && !r->mtu)
                rc = SE_ERR_NOTFOUND;
            return rc;
        }
    }
}

int ofl_route_get(struct ofl_routes *rt, int64_t now, uint32_t dst, uint32_t src,
                  struct ofl_route *r)
{
    uint32_t h = (dst ^ (src * 0x9E3779B1u)) * 0x85EBCA6Bu;
    struct ofl_route_entry *e = &rt->e[(h >> 24) % OFL_ROUTE_CACHE];

    if (e->until > now && e->dst == dst && e->src == src) {
        *r = e->r;
        return 0;
    }
    int rc = lookup(&rt->nl, dst, src, r);
    if (rc == 0) {
        e->dst = dst;
        e->src = src;
        e->r = *r;
        e->until = now + OFL_ROUTE_TTL_S;
    }
    return rc;
}
