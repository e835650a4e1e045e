/*
 * peers.h - which peer addresses the relay may send to.
 *
 * A pol_peers is built once per configuration (immutable afterwards, read
 * by every worker). Its verdict layers, first match wins:
 *   1. the admin's deny list (peers.deny);
 *   2. the admin's allow list (peers.allow) lifts 3 and 4;
 *   3. sedge's own addresses (listeners, and every local address when a
 *      listener is a wildcard) - except relay addresses, because two users
 *      of the same sedge reach each other through their relayed addresses;
 *   4. the built-in deny list: the IANA IPv4 and IPv6 special-purpose
 *      registries (private, loopback, link-local incl. 169.254.169.254,
 *      CGNAT, multicast, documentation, benchmarking, ...).
 * IPv4-in-IPv6 forms (mapped, SIIT, compatible, NAT64, 6to4, Teredo) are
 * judged by their embedded IPv4 address as well as by their own range.
 *
 * TURN permissions are per IP, so a second check guards ports: nothing is
 * ever relayed to sedge's own listening ports, and on a relay address that
 * the admin did not allow only relay-range ports may be reached.
 *
 * The anchor's addresses (anchor.inside_address, outside_address and their
 * advertised forms) are reachable through sedge's own allocations - a
 * browser forced to relay-only reaches the anchor that way - but only on
 * the anchor's port range (anchor.min_port-max_port); other ports of those
 * addresses stay "own". pol_peers_is_anchor() is the fail-closed test for
 * credentials whose calls must be recorded (docs/policy.md).
 */
#ifndef SE_POL_PEERS_H
#define SE_POL_PEERS_H

#include <stdbool.h>
#include <stdint.h>

struct se_addr;
struct se_config;

enum pol_peer_verdict {
    POL_PEER_OK = 0,
    POL_PEER_DENY_CONFIG = 1,  /* peers.deny */
    POL_PEER_DENY_BUILTIN = 2, /* special-purpose range */
    POL_PEER_DENY_OWN = 3,     /* one of sedge's own addresses or ports */
};

struct pol_peers;

/* Build from cfg (copies what it needs). NULL on allocation failure. */
struct pol_peers *pol_peers_new(const struct se_config *cfg);
void pol_peers_free(struct pol_peers *p);

/* IP-level verdict for CreatePermission/ChannelBind/Send (port ignored). */
enum pol_peer_verdict pol_peers_check_ip(const struct pol_peers *p, const struct se_addr *peer);
/* IP and port verdict: pol_peers_check_ip() plus the own-port guard. */
enum pol_peer_verdict pol_peers_check(const struct pol_peers *p, const struct se_addr *peer);
const char *pol_peer_verdict_str(enum pol_peer_verdict v);

/* Is peer one of the anchor's addresses (and, with_port, in its port range)? */
bool pol_peers_is_anchor(const struct pol_peers *p, const struct se_addr *peer, bool with_port);
/* Is an anchor configured (anchor block present)? */
bool pol_peers_has_anchor(const struct pol_peers *p);

/* Is ip (16-byte form) inside the built-in special-purpose list? */
bool pol_peers_builtin_denied(const uint8_t ip[16]);
/* Extract an embedded IPv4 (as ::ffff:a.b.c.d) from an IPv6 form; false if none. */
bool pol_peers_embedded_v4(const uint8_t ip[16], uint8_t out[16]);

#endif
