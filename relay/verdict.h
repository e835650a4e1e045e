/*
 * verdict.h - what policy says about a live allocation (verdict.c).
 *
 * Pure questions against the worker's current snapshot: may this peer be
 * reached, does this allocation still stand. A verdict never changes or
 * frees the allocation; alloc.c, which owns the lifecycle, acts on it
 * (alloc_recheck_all). Worker thread only; no lock.
 */
#ifndef SE_RELAY_VERDICT_H
#define SE_RELAY_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

struct allocation;
struct pol_decision;
struct se_addr;

/* May a reach peer under the rules (CreatePermission, ChannelBind)?
 * log: count (policy_denied) and log a refusal. */
bool verdict_peer(const struct allocation *a, const struct se_addr *peer, bool log);
/* Fail closed for recording: where the allocation's rule (or the peer's)
 * says `record always`, only the anchor's addresses (with_port: and its
 * port range) may be reached. log: count and log a refusal. */
bool verdict_record_peer(const struct allocation *a, const struct se_addr *peer, bool with_port,
                         bool log);
/* Does a's permission for peer (an IP) survive a re-check: the peer
 * filter, the rules and the recording rule? Quiet. */
bool verdict_keep_permission(const struct allocation *a, const struct se_addr *peer);
/* Does a's channel to peer (IP and port) survive once recording is
 * required? */
bool verdict_keep_channel(const struct allocation *a, const struct se_addr *peer);

enum verdict_alloc {
    VERDICT_KEEP = 0,  /* *d is the decision that now governs it */
    VERDICT_REVOKE = 1 /* why says why (for the log) */
};
/* Re-check a whole allocation: with check_creds, does its credential still
 * verify (after a snapshot swap); is its user enabled; does a rule still
 * allow it; is recording possible if required. */
enum verdict_alloc verdict_alloc(const struct allocation *a, bool check_creds,
                                 struct pol_decision *d, char *why, size_t whylen);

#endif
