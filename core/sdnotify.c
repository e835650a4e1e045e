/*
 * sdnotify.c - sd_notify(3) without libsystemd.
 *
 * The protocol is one AF_UNIX datagram of newline-separated KEY=VALUE
 * lines to the path in $NOTIFY_SOCKET ('@' at the start names an abstract
 * socket). systemd documents it as a stable interface meant to be spoken
 * directly, so sedge does that instead of linking libsystemd on hosts
 * that may not run systemd at all (containers, other managers).
 *
 * A fresh socket per message keeps this stateless; messages are rare
 * (start, stop, a watchdog ping every few seconds).
 */
#include "core/sdnotify.h"
#include "core/err.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Fill sa from $NOTIFY_SOCKET; returns the address length or 0. */
static socklen_t notify_addr(struct sockaddr_un *sa)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t n;

    if (!path || (path[0] != '/' && path[0] != '@'))
        return 0;
    n = strlen(path);
    if (n < 2 || n >= sizeof(sa->sun_path))
        return 0;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    if (path[0] == '@')
        sa->sun_path[0] = '\0'; /* abstract namespace: no terminating NUL counted */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
}

bool se_sdnotify_enabled(void)
{
    struct sockaddr_un sa;

    return notify_addr(&sa) != 0;
}

int se_sdnotify(const char *state)
{
    struct sockaddr_un sa;
    socklen_t salen = notify_addr(&sa);
    size_t len = strlen(state);
    ssize_t n;
    int fd;

    if (!salen)
        return 0;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return SE_ERR_IO;
    n = sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    close(fd);
    return n == (ssize_t)len ? 0 : SE_ERR_IO;
}

uint64_t se_sdnotify_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;
    unsigned long long v;

    if (!usec || !se_sdnotify_enabled())
        return 0;
    if (pid && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    errno = 0;
    v = strtoull(usec, &end, 10);
    if (errno || end == usec || *end)
        return 0;
    return v;
}
