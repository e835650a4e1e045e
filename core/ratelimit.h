/*
 * ratelimit.h - token buckets keyed by a 16-byte key, in bounded memory.
 *
 * One table answers "may this key act once more now?" for many keys: a
 * client address (IPv4 mapped, or an IPv6 /64), or a digest of a user
 * name. Memory is fixed at creation whatever the number of keys; when a
 * key's probe window is full the least recently seen entry is recycled,
 * which at worst hands that key a fresh (full) bucket. The hash is seeded
 * at random so clients cannot aim their keys at one window. Any thread:
 * a mutex guards the table (callers are requests, never relayed packets).
 */
#ifndef SE_RATELIMIT_H
#define SE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct se_ratelimit;

/* A table of slots entries (rounded up to a power of two, at least 64).
 * NULL on allocation failure. Caller frees with se_ratelimit_free. */
struct se_ratelimit *se_ratelimit_new(size_t slots);
void se_ratelimit_free(struct se_ratelimit *rl);

/*
 * Take one token from key's bucket, which refills at rate per second up
 * to burst. Returns true if the action may go ahead. rate 0 means no
 * limit (always true, nothing stored).
 */
bool se_ratelimit_allow(struct se_ratelimit *rl, const uint8_t key[16], int64_t now_ms,
                        unsigned rate, unsigned burst);

/* A 16-byte key for a string (a user name): SHA-256 of a secret of the
 * table's and the string, so names whose keys collide cannot be chosen
 * from outside. */
void se_ratelimit_key_str(const struct se_ratelimit *rl, const char *s, size_t len,
                          uint8_t key[16]);

#endif
