/*
 * cmd_serve_os.c - what `sedge serve` asks of the operating system before
 * it serves: enough file descriptors for its limits, and to stop being
 * root (see cmd_serve.h).
 *
 * Descriptors. Every allocation holds a relay socket (two when it is
 * dual-stack), every TCP/TLS client and API connection one, every
 * anchored call two and its DTLS/ICE agent a few more. The limits in the
 * configuration say how many of each may exist at once; the soft
 * RLIMIT_NOFILE (often 1 024) is raised to what they need, the hard one
 * too when sedge may (root, CAP_SYS_RESOURCE). What cannot be had is
 * logged with the figures: the connection limits then follow the fd
 * limit (relay/stream.c) and Allocates past it get 508.
 *
 * Privileges. With `user` (and optionally `group`) set and sedge started
 * as root, the switch happens before anything else is opened: the
 * database, its WAL files, recording.dir and the signing key are
 * created and opened as the service user, so they never end up owned by
 * root where the service user cannot write them. The process keeps only
 * CAP_NET_BIND_SERVICE while the listeners are bound (ports below 1024,
 * e.g. TLS on 443) and gives it up once they are (serve_drop_bind_cap);
 * with relay.offload not "off" it keeps CAP_BPF and CAP_NET_ADMIN, which
 * the kernel fast path needs to attach to further interfaces. Switching
 * is all or nothing: any step that fails stops the start.
 */
#include "cli/cmd_serve.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
    FD_SLACK = 256,       /* database, logs, listeners, engines, libraries */
    FD_PER_ANCHOR = 6,    /* two legs' sockets plus the ICE agent's */
};

unsigned long serve_fds_needed(const struct se_config *c)
{
    unsigned long per_alloc = c->has_relay_v4 && c->has_relay_v6 ? 2 : 1;
    unsigned long n = FD_SLACK;

    n += (unsigned long)c->max_allocations * per_alloc;
    n += c->max_connections;
    if (c->api.enabled)
        n += (unsigned long)c->api.max_connections + c->api.mgmt_max_connections + 16;
    if (c->anchor.enabled)
        n += (unsigned long)c->anchor.max_sessions * FD_PER_ANCHOR;
    return n;
}

int serve_fd_limit(const struct se_config *c)
{
    unsigned long need = serve_fds_needed(c);
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    rlim_t was = rl.rlim_cur;
    if (rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max < need) {
        struct rlimit up = {need, need};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
            se_info("fd limit raised from %llu to %lu (what the limits need)",
                    (unsigned long long)was, need);
            return 0;
        }
    }
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        rl.rlim_cur = was;
    if (rl.rlim_cur < need) {
        se_warn("fd limit %llu (hard %llu) is below the %lu the configured limits need "
                "(limits.max_allocations %u, limits.max_connections %u%s): raise LimitNOFILE= "
                "or `ulimit -n`, or lower the limits; connections are capped to fit and "
                "Allocates past the fd limit get 508",
                (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, need,
                c->max_allocations, c->max_connections,
                c->anchor.enabled ? ", anchor.max_sessions" : "");
        return 1;
    }
    se_info("fd limit raised from %llu to %lu (what the limits need)", (unsigned long long)was,
            need);
    return 0;
}

/* Set the permitted and effective sets to `keep` (a CAP_* bit mask). */
static int set_caps(uint64_t keep)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];

    memset(d, 0, sizeof(d));
    d[0].permitted = d[0].effective = (uint32_t)keep;
    d[1].permitted = d[1].effective = (uint32_t)(keep >> 32);
    return (int)syscall(SYS_capset, &h, d);
}

static uint64_t kept_caps(const struct se_config *c, bool bind)
{
    uint64_t keep = bind ? 1ULL << CAP_NET_BIND_SERVICE : 0;

    if (c->relay_offload != SE_OFFLOAD_OFF)
        keep |= 1ULL << CAP_NET_ADMIN | 1ULL << CAP_BPF;
    return keep;
}

int serve_drop_privileges(const struct se_config *c, char *err, size_t errlen)
{
    struct passwd *pw = NULL;
    struct group *gr = NULL;
    uid_t uid;
    gid_t gid;

    if (!c->run_user[0] && !c->run_group[0])
        return 0;
    errno = 0;
    if (c->run_user[0] && !(pw = getpwnam(c->run_user))) {
        snprintf(err, errlen, "user \"%s\": no such user%s%s", c->run_user, errno ? ": " : "",
                 errno ? strerror(errno) : "");
        return SE_ERR_CONFIG;
    }
    errno = 0;
    if (c->run_group[0] && !(gr = getgrnam(c->run_group))) {
        snprintf(err, errlen, "group \"%s\": no such group%s%s", c->run_group,
                 errno ? ": " : "", errno ? strerror(errno) : "");
        return SE_ERR_CONFIG;
    }
    uid = pw ? pw->pw_uid : geteuid();
    gid = gr ? gr->gr_gid : pw ? pw->pw_gid : getegid();
    if (geteuid() != 0) {
        /* Already unprivileged (systemd User=, a container's USER): fine
         * when it is who the configuration names. */
        if (geteuid() == uid && getegid() == gid)
            return 0;
        snprintf(err, errlen,
                 "user/group \"%s\"/\"%s\": switching needs sedge started as root (running as "
                 "uid %u gid %u)",
                 c->run_user, c->run_group, (unsigned)geteuid(), (unsigned)getegid());
        return SE_ERR_DENIED;
    }
    if (uid == 0) {
        snprintf(err, errlen, "user \"%s\" is root: name an unprivileged user", c->run_user);
        return SE_ERR_CONFIG;
    }
    if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0 ||
        (pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL)) != 0 || setgid(gid) != 0 ||
        setuid(uid) != 0 || prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) != 0 ||
        set_caps(kept_caps(c, true)) != 0) {
        snprintf(err, errlen, "cannot switch to user %u group %u: %s", (unsigned)uid,
                 (unsigned)gid, strerror(errno));
        return SE_ERR_IO;
    }
    if (setuid(0) == 0 || geteuid() == 0) { /* must be impossible now */
        snprintf(err, errlen, "switched to user %u, but root could be regained", (unsigned)uid);
        return SE_ERR_IO;
    }
    se_info("running as user %s (uid %u) group %u; kept CAP_NET_BIND_SERVICE%s until the "
            "listeners are bound",
            pw ? pw->pw_name : "-", (unsigned)uid, (unsigned)gid,
            c->relay_offload != SE_OFFLOAD_OFF ? ", and CAP_BPF, CAP_NET_ADMIN for relay.offload"
                                               : "");
    return 0;
}

void serve_drop_bind_cap(const struct se_config *c)
{
    if (!c->run_user[0] && !c->run_group[0])
        return;
    if (getuid() == 0)
        return; /* did not switch (already unprivileged or never root) */
    if (set_caps(kept_caps(c, false)) != 0)
        se_warn("cannot give up CAP_NET_BIND_SERVICE: %s", strerror(errno));
}
