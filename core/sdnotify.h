/*
 * sdnotify.h - the service manager's readiness protocol (sd_notify(3)).
 *
 * When systemd (or any manager speaking the same protocol) runs sedge with
 * Type=notify, it passes a datagram socket in $NOTIFY_SOCKET and, with
 * WatchdogSec=, an interval in $WATCHDOG_USEC. sedge tells it READY=1 once
 * every listener serves, STOPPING=1 when a drain begins, STATUS= lines for
 * `systemctl status`, and WATCHDOG=1 while its loops are healthy. Without
 * $NOTIFY_SOCKET every call is a cheap no-op. Control thread only.
 */
#ifndef SE_SDNOTIFY_H
#define SE_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Send one state string ("READY=1\nSTATUS=serving"). Returns 0 when sent
 * or when no manager listens, SE_ERR_IO when the socket refused it (the
 * caller logs; a daemon never stops because its manager went away).
 */
int se_sdnotify(const char *state);

/* The watchdog interval the manager asked for, in microseconds; 0 = none
 * (also when $WATCHDOG_PID names another process). */
uint64_t se_sdnotify_watchdog_usec(void);

/* Is a manager listening ($NOTIFY_SOCKET set and usable)? */
bool se_sdnotify_enabled(void);

#endif
