/*
 * sedge_offload.bpf.c - the kernel fast path for TURN channels (TC ingress).
 *
 * Built with `clang -target bpf` and embedded in the daemon through a
 * bpftool skeleton (relay/offload/offload.c loads and attaches it). The
 * daemon stays the control plane: it puts a flow into OFL_C2P / OFL_P2C
 * only for a channel whose permission exists and which policy allows,
 * sets its expiry in OFL_STATE, and takes it out again on every event
 * that ends it (see flows.c). This program only forwards what it finds:
 *
 *  client -> peer: an IPv4/UDP datagram whose 5-tuple and channel number
 *    match a c2p flow loses its 4-byte ChannelData header and leaves
 *    from the relayed address to the peer;
 *  peer -> client: an IPv4/UDP datagram from a peer to a relayed address
 *    matching a p2c flow gets the channel's header in front and leaves
 *    from the listener to the client.
 *
 * The IP and UDP headers stay where they are and the payload moves by 4
 * bytes (through a per-CPU buffer) while the tail shrinks or grows: a
 * checksum the hardware is to finish (CHECKSUM_PARTIAL, local senders)
 * keeps a valid csum_start that way. The UDP checksum is updated
 * incrementally by the kernel's helpers, which know whether the skb
 * carries a full checksum, a pseudo-header one (partial) or a device sum
 * (complete); payload bytes are moved with BPF_F_RECOMPUTE_CSUM so a
 * device sum stays true. A zero UDP checksum (none) stays zero.
 *
 * Everything else returns TC_ACT_UNSPEC (TCX_NEXT): not ours, the next
 * program or the stack sees it unchanged - STUN, padded or oversized
 * ChannelData, empty datagrams from peers, fragments, IP options, GSO
 * packets, VLAN-tagged frames (the tag would follow the redirect), IPv6,
 * expired flows, and packets of any other sedge instance on the same
 * interface. When the daemon stops updating the heartbeat (killed
 * without detaching) the program goes inert within OFL_HEARTBEAT_NS_MAX
 * seconds.
 *
 * Destinations: a flow's ifindex 0 means the new destination is an
 * address of this host (delivered through the loopback device's ingress);
 * otherwise bpf_redirect_neigh() sends it out of that interface with the
 * kernel's own neighbour resolution. IPv4 only; IPv6 takes the
 * user-space path (docs/offload.md).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <stddef.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "relay/offload/shared.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

enum {
    IP_OFF = ETH_HLEN,
    UDP_OFF = IP_OFF + sizeof(struct iphdr), /* only option-less headers are offloaded */
    PL_OFF = UDP_OFF + sizeof(struct udphdr),
    IP_CSUM_OFF = IP_OFF + offsetof(struct iphdr, check),
    UDP_CSUM_OFF = UDP_OFF + offsetof(struct udphdr, check),
    CD_HDR = 4,           /* ChannelData header (RFC 8656 §12.4) */
    LO_IFINDEX = 1,       /* the loopback device, in every network namespace */
    IP_FRAG_MASK = 0x3fff, /* MF + fragment offset */
};

/* Sizes are set by the loader before load (bpf_map__set_max_entries). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct ofl_c2p_key);
    __type(value, struct ofl_fwd);
    __uint(max_entries, 1);
} ofl_c2p SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct ofl_p2c_key);
    __type(value, struct ofl_fwd);
    __uint(max_entries, 1);
} ofl_p2c SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, struct ofl_state);
    __uint(max_entries, 2);
} ofl_state SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, OFL_ST_N);
} ofl_stats SEC(".maps");

struct ofl_scratch {
    __u8 b[OFL_SCRATCH];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct ofl_scratch);
    __uint(max_entries, 1);
} ofl_scratch SEC(".maps");

/* Written by the daemon once a second (CLOCK_MONOTONIC ns). */
volatile __u64 ofl_heartbeat;
/* net.ipv4.ip_default_ttl, set by the loader: forwarded datagrams look
 * like the ones the daemon's own sockets send. */
volatile const __u8 ofl_ttl = 64;

static __always_inline void count(__u32 which)
{
    __u64 *v = bpf_map_lookup_elem(&ofl_stats, &which);

    if (v)
        *v += 1;
}

/* Move len payload bytes from offset from to offset to (len <= OFL_PAYLOAD_MAX). */
static __always_inline int move_payload(struct __sk_buff *skb, __u32 from, __u32 to, __u32 len)
{
    __u32 zero = 0;
    struct ofl_scratch *s = bpf_map_lookup_elem(&ofl_scratch, &zero);

    if (!s)
        return -1;
    if (len == 0)
        return 0;
    /* Bound it in the register the helpers get, 1..OFL_PAYLOAD_MAX, with
     * two separate compares (merged into one, the verifier loses it). */
    __s64 n = len;
    asm volatile("" : "+r"(n));
    if (n < 1)
        return 0;
    asm volatile("" : "+r"(n));
    if (n > OFL_PAYLOAD_MAX)
        return -1;
    if (bpf_skb_load_bytes(skb, from, s->b, n) < 0)
        return -1;
    return bpf_skb_store_bytes(skb, to, s->b, n, BPF_F_RECOMPUTE_CSUM);
}

/* The headers as they arrived. */
struct orig {
    struct iphdr ip;
    __be32 ports; /* source and destination port, as in the header */
    __be16 ulen;
    __be32 cd;    /* the ChannelData header (c2p) */
};

/*
 * Rewrite the IP and UDP headers for f after the payload has moved and
 * the length changed to ulen (network order). cd_from/cd_to: the
 * ChannelData header word leaving (c2p) or arriving (p2c) in the UDP
 * data, 0 for the other. Returns 0, or < 0 if a helper failed.
 */
static __always_inline int rewrite_headers(struct __sk_buff *skb, const struct orig *o,
                                           const struct ofl_fwd *f, __be16 ulen, __be32 cd_from,
                                           __be32 cd_to)
{
    struct iphdr ip = o->ip;
    struct udphdr udp = {.source = f->sport, .dest = f->dport, .len = ulen};
    __u16 tot = bpf_ntohs(o->ip.tot_len) + bpf_ntohs(ulen) - bpf_ntohs(o->ulen);

    ip.tos = 0;
    ip.ttl = ofl_ttl;
    ip.tot_len = bpf_htons(tot);
    ip.saddr = f->saddr;
    ip.daddr = f->daddr;

    /* IP header checksum: by the difference of the words that changed. */
    __be32 ip_from[4] = {((__be32 *)&o->ip)[0], ((__be16 *)&o->ip)[4], o->ip.saddr, o->ip.daddr};
    __be32 ip_to[4] = {((__be32 *)&ip)[0], ((__be16 *)&ip)[4], ip.saddr, ip.daddr};
    __s64 ipd = bpf_csum_diff(ip_from, sizeof(ip_from), ip_to, sizeof(ip_to), 0);
    /* UDP checksum: the pseudo-header part (addresses, length)... */
    __be32 ph_from[3] = {o->ip.saddr, o->ip.daddr, o->ulen};
    __be32 ph_to[3] = {ip.saddr, ip.daddr, ulen};
    __s64 phd = bpf_csum_diff(ph_from, sizeof(ph_from), ph_to, sizeof(ph_to), 0);
    /* ...and the data part (ports, length, the ChannelData header). */
    __be32 d_from[3] = {o->ports, o->ulen, cd_from};
    __be32 d_to[3] = {((__be32 *)&udp)[0], ulen, cd_to};
    __s64 dd = bpf_csum_diff(d_from, sizeof(d_from), d_to, sizeof(d_to), 0);
    if (ipd < 0 || phd < 0 || dd < 0)
        return -1;

    /* The IP header's own sum is unchanged once its checksum follows, so
     * a device checksum over the packet stays true without recomputing. */
    if (bpf_skb_store_bytes(skb, IP_OFF, &ip, sizeof(ip), 0) < 0 ||
        bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, (__u32)ipd, 0) < 0)
        return -1;
    /* Ports and length: stored with the device sum updated; the checksum
     * change that compensates them is added to it below. */
    if (bpf_skb_store_bytes(skb, UDP_OFF, &udp, offsetof(struct udphdr, check),
                            BPF_F_RECOMPUTE_CSUM) < 0)
        return -1;
    if (bpf_l4_csum_replace(skb, UDP_CSUM_OFF, 0, (__u32)phd,
                            BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0) < 0)
        return -1;
    __u16 before = 0, after = 0;
    if (bpf_skb_load_bytes(skb, UDP_CSUM_OFF, &before, 2) < 0 ||
        bpf_l4_csum_replace(skb, UDP_CSUM_OFF, 0, (__u32)dd, BPF_F_MARK_MANGLED_0) < 0 ||
        bpf_skb_load_bytes(skb, UDP_CSUM_OFF, &after, 2) < 0)
        return -1;
    if (before != after) {
        /* CHECKSUM_COMPLETE: the checksum field is packet data too. Other
         * kinds answer -ENOTSUPP, which is fine. */
        __u32 b32 = before, a32 = after;
        __s64 cd = bpf_csum_diff(&b32, 4, &a32, 4, 0);
        if (cd >= 0)
            bpf_csum_update(skb, (__u32)cd);
    }
    bpf_set_hash_invalid(skb);
    return 0;
}

static __always_inline int deliver(struct __sk_buff *skb, const struct ofl_fwd *f)
{
    if (f->ifindex)
        return bpf_redirect_neigh(f->ifindex, NULL, 0, 0);
    /* This host: through the loopback device's ingress, where a local
     * source address is not a martian. */
    if (skb->ingress_ifindex == LO_IFINDEX)
        return TC_ACT_OK;
    return bpf_redirect(LO_IFINDEX, BPF_F_INGRESS);
}

static __always_inline struct ofl_state *live_state(const struct ofl_fwd *f, __u64 now)
{
    __u32 slot = f->slot;
    struct ofl_state *st = bpf_map_lookup_elem(&ofl_state, &slot);

    if (!st || st->expires <= now) {
        count(OFL_ST_PUNT_EXPIRED);
        return NULL;
    }
    return st;
}

/* ChannelData from a client: strip the header, send the payload to the peer. */
static __always_inline int client_to_peer(struct __sk_buff *skb, const struct orig *o,
                                          const struct ofl_fwd *f, __u64 now)
{
    __u32 dlen = bpf_ntohl(o->cd) & 0xffff;
    __u32 ulen = bpf_ntohs(o->ulen);

    if (ulen != sizeof(struct udphdr) + CD_HDR + dlen || dlen > OFL_PAYLOAD_MAX ||
        (f->ifindex && bpf_ntohs(o->ip.tot_len) - CD_HDR > f->mtu)) {
        count(OFL_ST_PUNT_SHAPE); /* padding, size or MTU: the daemon decides */
        return TC_ACT_UNSPEC;
    }
    struct ofl_state *st = live_state(f, now);
    if (!st)
        return TC_ACT_UNSPEC;
    if (move_payload(skb, PL_OFF + CD_HDR, PL_OFF, dlen) < 0 ||
        bpf_skb_change_tail(skb, skb->len - CD_HDR, 0) < 0 ||
        rewrite_headers(skb, o, f, bpf_htons(ulen - CD_HDR), o->cd, 0) < 0) {
        count(OFL_ST_DROP_ERROR);
        return TC_ACT_SHOT; /* half rewritten: it cannot go anywhere */
    }
    __sync_fetch_and_add(&st->pkts, 1);
    __sync_fetch_and_add(&st->bytes, dlen);
    count(OFL_ST_C2P);
    return deliver(skb, f);
}

/* A datagram from a peer: put the channel's header in front, send to the client. */
static __always_inline int peer_to_client(struct __sk_buff *skb, const struct orig *o,
                                          const struct ofl_fwd *f, __u64 now)
{
    __u32 ulen = bpf_ntohs(o->ulen);
    __u32 n = ulen - sizeof(struct udphdr);

    /* An empty datagram is handed to the daemon, which drops it as bad
     * input (peer_datagram, relay/peer.c): both paths relay nothing for it. */
    if (n == 0 || n > OFL_PAYLOAD_MAX ||
        (f->ifindex && bpf_ntohs(o->ip.tot_len) + CD_HDR > f->mtu)) {
        count(OFL_ST_PUNT_SHAPE);
        return TC_ACT_UNSPEC;
    }
    struct ofl_state *st = live_state(f, now);
    if (!st)
        return TC_ACT_UNSPEC;
    __be32 cd = bpf_htonl((__u32)bpf_ntohs(f->channel) << 16 | n);
    if (bpf_skb_change_tail(skb, skb->len + CD_HDR, 0) < 0 ||
        move_payload(skb, PL_OFF, PL_OFF + CD_HDR, n) < 0 ||
        bpf_skb_store_bytes(skb, PL_OFF, &cd, CD_HDR, BPF_F_RECOMPUTE_CSUM) < 0 ||
        rewrite_headers(skb, o, f, bpf_htons(ulen + CD_HDR), 0, cd) < 0) {
        count(OFL_ST_DROP_ERROR);
        return TC_ACT_SHOT;
    }
    __sync_fetch_and_add(&st->pkts, 1);
    __sync_fetch_and_add(&st->bytes, n);
    count(OFL_ST_P2C);
    return deliver(skb, f);
}

SEC("tc")
int sedge_tc(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    struct iphdr *iph = data + IP_OFF;
    struct udphdr *udp = data + UDP_OFF;
    struct orig o;

    if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
        return TC_ACT_UNSPEC;
    if (iph->version != 4 || iph->ihl != 5 || iph->protocol != IPPROTO_UDP ||
        (iph->frag_off & bpf_htons(IP_FRAG_MASK)) || skb->gso_size || skb->vlan_present ||
        skb->len != IP_OFF + bpf_ntohs(iph->tot_len) ||
        bpf_ntohs(udp->len) != bpf_ntohs(iph->tot_len) - sizeof(struct iphdr))
        return TC_ACT_UNSPEC;
    __u64 now = bpf_ktime_get_coarse_ns();
    if (now - ofl_heartbeat > (__u64)OFL_HEARTBEAT_NS_MAX * 1000000000ull)
        return TC_ACT_UNSPEC; /* no daemon behind the maps any more */

    __builtin_memcpy(&o.ip, iph, sizeof(o.ip));
    o.ports = *(__be32 *)udp;
    o.ulen = udp->len;
    o.cd = 0;

    __u8 *pl = data + PL_OFF;
    if ((void *)(pl + CD_HDR) <= end && (pl[0] & 0xc0) == 0x40) {
        /* Looks like ChannelData (RFC 7983: 64-127): a client's? */
        struct ofl_c2p_key kc = {.saddr = iph->saddr,
                                 .daddr = iph->daddr,
                                 .sport = udp->source,
                                 .dport = udp->dest,
                                 .channel = *(__be16 *)pl};
        struct ofl_fwd *f = bpf_map_lookup_elem(&ofl_c2p, &kc);
        if (f) {
            o.cd = *(__be32 *)pl;
            return client_to_peer(skb, &o, f, now);
        }
    }
    struct ofl_p2c_key kp = {
        .saddr = iph->saddr, .daddr = iph->daddr, .sport = udp->source, .dport = udp->dest};
    struct ofl_fwd *f = bpf_map_lookup_elem(&ofl_p2c, &kp);
    if (f)
        return peer_to_client(skb, &o, f, now);
    return TC_ACT_UNSPEC;
}
