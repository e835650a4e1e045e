/*
 * ports.h - relay ports, EVEN-PORT reservations and the places an
 * allocation holds (ports.c). Server-wide, under the server lock; called
 * at Allocate, teardown and the 1 s cron only, never per packet.
 */
#ifndef SE_RELAY_PORTS_H
#define SE_RELAY_PORTS_H

#include <stdbool.h>
#include <stdint.h>

struct se_addr;
struct worker;
struct relay_server;

/* Bind a random relay port on ip (even: an even one); with reserve_next
 * also port+1 into *fd2. 0, or SE_ERR_LIMIT when none could be bound.
 * The caller owns the fds. */
int ports_bind(struct relay_server *srv, const struct se_addr *ip, bool even, bool reserve_next,
               int *fd, uint16_t *port, int *fd2);
/* Take n places for an allocation or reservation of user (quota per_user)
 * from source: 0, or the STUN error to answer (508 total, 486 user or
 * source). ports_release gives n back. */
int ports_hold(struct worker *w, const char *user, unsigned per_user, const uint8_t source[16],
               unsigned n);
void ports_release(struct relay_server *srv, const char *user, const uint8_t source[16],
                   unsigned n);
/* Redeem a RESERVATION-TOKEN: its fd (the caller owns it now) and address;
 * its holdings are given back. SE_ERR_NOTFOUND if unknown or expired. */
int ports_resv_take(struct relay_server *srv, const uint8_t token[8], int *fd,
                    struct se_addr *addr);
/* Keep fd as a reservation for 30 s (takes ownership of fd on success);
 * it takes over one place the caller took with ports_hold for user and
 * source. Writes its token. */
int ports_resv_add(struct relay_server *srv, int fd, const struct se_addr *addr, int64_t now,
                   const char *user, const uint8_t source[16], uint8_t token[8]);
/* Close reservations past their 30 s (1 s cron). */
void ports_resv_expire(struct relay_server *srv, int64_t now);
/* Free every reservation and quota entry (server teardown). */
void ports_free(struct relay_server *srv);

#endif
