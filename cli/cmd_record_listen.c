/*
 * cmd_record_listen.c - `sedge record listen --sdp FILE --out DIR`: record
 * plain RTP arriving on the address and ports the SDP's c=/m= lines name,
 * until SIGINT/SIGTERM (or --duration), into one new recording directory
 * under DIR. The stand-in for the anchor until it exists, and the live
 * path the integration tests drive.
 *
 * The receive loop is the producer: it only reads sockets and pushes into
 * the engine's queues, exactly as the anchor will; everything else runs on
 * the recorder thread. m-lines sharing a port (BUNDLE) share a socket and
 * are told apart by payload type.
 */
#include "cli/cli.h"
#include "cli/cmd_record_common.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "record/catalog.h"
#include "record/engine.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { CATALOG_DRAIN_US = 1000000 };

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    stop_flag = sig;
}

/* Set by the recorder thread when recording.on_failure ends the "call". */
static atomic_bool end_call;

/*
 * The recording failed (recorder thread; it is sealed already). The
 * receive loop stands in for the anchor, so it applies the one contract
 * the anchor does (docs/recording.md, "For live producers"): with
 * recording.on_failure = "terminate" (or unset, for a recording a rule
 * required) the "call" ends; otherwise it goes on unrecorded.
 */
static void on_failed(void *arg, int err, const char *what)
{
    const struct rec_cli_opts *o = arg;
    bool end = se_config_rec_end_call(o->conf, o->cfg.policy_rule[0] != 0);

    fprintf(stderr, "sedge: recording %s failed: %s; %s (recording.on_failure)\n", o->cfg.id,
            what, end ? "ending the call" : "the call goes on unrecorded");
    (void)err;
    if (end)
        atomic_store(&end_call, true);
}

/* Keyframe wanted (recorder thread): the anchor sends PLI/FIR here; with
 * plain RTP there is nobody to ask, so it is logged. */
static void on_keyframe(void *arg, int stream)
{
    static struct se_log_rl rl;
    const struct rec_sdp *sdp = arg;
    se_log_rl(&rl, SE_LOG_INFO, "record: keyframe wanted on %s (a PLI would go to the sender)",
              sdp->m[stream].cfg.label);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge record listen --sdp FILE --out DIR [--duration S] [OPTIONS]\n"
                 "       sedge record listen --sdp FILE --config FILE [--duration S] [OPTIONS]\n\n"
                 "Receive plain RTP on the address and ports of the SDP's c= and m= lines\n"
                 "(H.264, VP8, VP9 or AV1 video, Opus audio) and record it into a new\n"
                 "directory under DIR (or recording.dir of --config, registered in its\n"
                 "catalog), printed on start. SIGINT or SIGTERM (or --duration seconds)\n"
                 "finishes the recording cleanly: files closed, metadata.json and the\n"
                 "manifest written.\n\n"
                 "options:\n" REC_COMMON_HELP
                 "  --queue N             recorder queue per stream, packets (default 1024)\n");
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * A UDP socket on addr:port. An address this host does not have (an SDP
 * written by the sender naming itself, say) falls back to the wildcard
 * of its family, with a warning.
 */
static int bind_udp(const char *addr, uint16_t port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV},
                    *ai = NULL;
    char ps[8];
    int fd = -1, rcvbuf = 4 << 20;

    snprintf(ps, sizeof(ps), "%u", port);
    if (getaddrinfo(addr[0] ? addr : NULL, ps, &hints, &ai) != 0) {
        fprintf(stderr, "sedge: bad address '%s' in the SDP\n", addr);
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        int r = bind(fd, ai->ai_addr, ai->ai_addrlen);
        if (r != 0 && errno == EADDRNOTAVAIL) {
            struct sockaddr_storage any = {0};
            memcpy(&any, ai->ai_addr, ai->ai_addrlen);
            if (any.ss_family == AF_INET)
                ((struct sockaddr_in *)&any)->sin_addr.s_addr = htonl(INADDR_ANY);
            else
                ((struct sockaddr_in6 *)&any)->sin6_addr = in6addr_any;
            fprintf(stderr,
                    "sedge: %s is not an address of this host; listening on port %u "
                    "of every address\n",
                    addr, port);
            r = bind(fd, (struct sockaddr *)&any, ai->ai_addrlen);
        }
        if (r != 0) {
            fprintf(stderr, "sedge: cannot bind %s:%u: %s\n", addr, port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

/* Stream of a datagram on socket k: the only one there, or by payload type. */
static int classify(const struct rec_sdp *sdp, const int *sock_of, int k, const uint8_t *b,
                    size_t n)
{
    int only = -1, count = 0;
    for (int i = 0; i < sdp->n; i++)
        if (sock_of[i] == k) {
            only = i;
            count++;
        }
    if (count <= 1 || n < 2)
        return only;
    for (int i = 0; i < sdp->n; i++)
        if (sock_of[i] == k && rec_sdp_takes_pt(&sdp->m[i].cfg, b[1] & 0x7f))
            return i;
    return -1;
}

static int run(struct rec_cli_opts *o, struct rec_sdp *sdp, double duration, unsigned queue)
{
    struct pollfd pfd[REC_MAX_STREAMS];
    int sock_of[REC_MAX_STREAMS], n_socks = 0, id = -1, rc = 1;
    struct rec_engine *eng = NULL;
    struct rec_session *s = NULL;
    struct rec_feed *feeds[REC_MAX_STREAMS];
    static uint8_t buf[65536];

    for (int i = 0; i < sdp->n; i++) {
        sock_of[i] = -1;
        for (int j = 0; j < i; j++)
            if (sdp->m[j].port == sdp->m[i].port && !strcmp(sdp->m[j].addr, sdp->m[i].addr))
                sock_of[i] = sock_of[j];
        if (sock_of[i] >= 0)
            continue;
        int fd = bind_udp(sdp->m[i].addr, sdp->m[i].port);
        if (fd < 0)
            goto out;
        pfd[n_socks] = (struct pollfd){.fd = fd, .events = POLLIN};
        sock_of[i] = n_socks++;
    }
    int r = rec_engine_new(&eng, queue);
    if (r == 0 && (r = rec_session_open(&s, &o->cfg)) < 0)
        fprintf(stderr, "sedge: cannot start the recording in %s: %s\n", o->cfg.dir, se_err(r));
    if (r == 0 && (r = rec_engine_add(eng, s, sdp->n, feeds, &id)) < 0)
        rec_session_close(s, wall_us());
    if (r < 0)
        goto out;
    if (o->cat)
        printf("recording %s %s\n", o->cfg.id, o->cfg.dir);
    else
        printf("recording %s\n", o->cfg.dir);
    for (int i = 0; i < sdp->n; i++)
        printf("listening %s %s:%u pt %d\n", sdp->m[i].cfg.label,
               sdp->m[i].addr[0] ? sdp->m[i].addr : "*", sdp->m[i].port, sdp->m[i].cfg.pt);
    fflush(stdout);
    int64_t end = duration > 0 ? wall_us() + (int64_t)(duration * 1e6) : 0, drained = wall_us();
    rec_cli_catalog_drain(o); /* the start row */
    while (!stop_flag && !atomic_load(&end_call) && (!end || wall_us() < end)) {
        if (wall_us() - drained >= CATALOG_DRAIN_US) {
            /* A failure's row reaches the catalog while the call goes on;
             * a few milliseconds a second, the kernel buffers the media. */
            rec_cli_catalog_drain(o);
            drained = wall_us();
        }
        if (poll(pfd, (nfds_t)n_socks, 100) <= 0)
            continue;
        for (int k = 0; k < n_socks; k++) {
            if (!(pfd[k].revents & POLLIN))
                continue;
            for (int burst = 0; burst < 64; burst++) {
                ssize_t n = recv(pfd[k].fd, buf, sizeof(buf), 0);
                if (n < 0)
                    break;
                int idx = classify(sdp, sock_of, k, buf, (size_t)n);
                if (idx >= 0)
                    rec_feed_push(feeds[idx], buf, (size_t)n, wall_us());
            }
        }
    }
    r = rec_engine_close(eng, id);
    printf("recorded %s%s\n", o->cfg.dir, r < 0 ? " (incomplete: see the log)" : "");
    printf("recorder thread CPU %.3f s\n", (double)rec_engine_cpu_us(eng) / 1e6);
    rc = r < 0 || atomic_load(&end_call) ? 1 : 0;
out:
    rec_engine_free(eng);
    for (int k = 0; k < n_socks; k++)
        close(pfd[k].fd);
    return rc;
}

int cmd_record_listen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sdp", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},
        {"duration", required_argument, NULL, 'd'},
        {"queue", required_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        REC_COMMON_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *sdp_path = NULL, *out = NULL;
    static struct rec_cli_opts o;
    static struct rec_sdp sdp;
    uint8_t key[REC_KEY_MAX];
    double duration = 0;
    unsigned queue = 0;
    char dir[600], stamp[32];
    int c;

    memset(&o, 0, sizeof(o));
    se_log_set_level(SE_LOG_INFO);
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:o:d:q:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sdp_path = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'q':
            queue = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (rec_cli_option(&o, c, optarg) == 0)
                break;
            usage(stderr);
            return 2;
        }
    }
    if (!sdp_path || optind != argc) {
        usage(stderr);
        return 2;
    }
    if ((c = rec_cli_catalog_open(&o, out)) != 0) {
        if (c == 2 && !out)
            usage(stderr);
        return c;
    }
    if (out && mkdir(out, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "sedge: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    snprintf(dir, sizeof(dir), "%s/rec-%s-%d", out ? out : "", stamp, (int)getpid());
    if (rec_cli_prepare(&o, sdp_path, &sdp, out ? dir : NULL, key, "listen") != 0) {
        rec_cli_catalog_close(&o);
        return 1;
    }
    o.cfg.kf = on_keyframe;
    o.cfg.kf_arg = &sdp;
    if (o.conf) { /* catalog mode: recording.on_failure applies */
        o.cfg.on_fail = on_failed;
        o.cfg.fail_arg = &o;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = run(&o, &sdp, duration, queue);
    rec_cli_catalog_close(&o);
    return rc;
}
