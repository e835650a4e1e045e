/*
 * addr.h - compact transport addresses and CIDR sets.
 *
 * struct se_addr is a transparent 20-byte value type (IPv4 kept in its
 * IPv4-mapped IPv6 form so one comparison serves both families); hot-path
 * code keeps it on the stack or inline in its own structures instead of
 * 128-byte sockaddr_storage.
 *
 * struct se_cidr_set is an immutable list of prefixes built once (config
 * load) and read by any thread afterwards.
 */
#ifndef SE_ADDR_H
#define SE_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct se_addr {
    uint8_t ip[16];  /* IPv6, or IPv4 as ::ffff:a.b.c.d */
    uint16_t port;   /* host order */
    uint8_t family;  /* AF_INET or AF_INET6 (the family on the wire) */
};

/* Longest text form: "[ffff:...:255.255.255.255]:65535". */
#define SE_ADDR_STRLEN 56

int se_addr_from_sockaddr(struct se_addr *a, const struct sockaddr *sa);
/* Fill sa (sizeof(struct sockaddr_in6) at least); returns the socklen. */
socklen_t se_addr_to_sockaddr(const struct se_addr *a, struct sockaddr_storage *ss);
/* Parse "1.2.3.4" or "::1" (no port). Returns 0 or SE_ERR_PARSE. */
int se_addr_parse_ip(struct se_addr *a, const char *text, uint16_t port);
/* "1.2.3.4:5" or "[::1]:5"; buf must hold SE_ADDR_STRLEN. Returns buf. */
const char *se_addr_str(const struct se_addr *a, char *buf, size_t len);
/* IP only, no port. */
const char *se_addr_ip_str(const struct se_addr *a, char *buf, size_t len);
bool se_addr_eq(const struct se_addr *a, const struct se_addr *b);    /* ip+port */
bool se_addr_ip_eq(const struct se_addr *a, const struct se_addr *b); /* ip only */
bool se_addr_is_v4(const struct se_addr *a);
/* FNV-1a over ip+port, for hash tables. */
uint32_t se_addr_hash(const struct se_addr *a, uint32_t seed);

/* ---- CIDR sets ---- */

struct se_cidr {
    uint8_t ip[16];   /* IPv4 prefixes are stored mapped, prefix + 96 */
    uint8_t prefix;   /* 0..128 over the 16-byte form */
};

struct se_cidr_set;

/* Parse "10.0.0.0/8", "2001:db8::/32" or a bare address. 0 or SE_ERR_PARSE. */
int se_cidr_parse(struct se_cidr *c, const char *text);
struct se_cidr_set *se_cidr_set_new(void);
void se_cidr_set_free(struct se_cidr_set *s);
/* Deep copy (s may be NULL: an empty set). NULL on allocation failure. */
struct se_cidr_set *se_cidr_set_dup(const struct se_cidr_set *s);
int se_cidr_set_add(struct se_cidr_set *s, const struct se_cidr *c);
/* Parse and add; returns 0, SE_ERR_PARSE or SE_ERR_NOMEM. */
int se_cidr_set_add_text(struct se_cidr_set *s, const char *text);
size_t se_cidr_set_count(const struct se_cidr_set *s);
/* Does any prefix in s contain ip (16-byte form)? */
bool se_cidr_set_contains(const struct se_cidr_set *s, const uint8_t ip[16]);
bool se_cidr_contains(const struct se_cidr *c, const uint8_t ip[16]);

#endif
