/*
 * cmd_serve.c - `sedge serve`: the daemon's control thread.
 *
 * The main thread loads the configuration, binds every socket (so a bad
 * address stops the start with one clear message), builds the first
 * snapshot from SQLite and starts the relay workers. It then runs its own
 * event loop:
 *   - every second it polls PRAGMA data_version and, when another process
 *     (the CLI) changed the database, publishes a new snapshot and ends
 *     the sessions `sedge sessions kill` marked; it also
 *     checks that the database file is still the one it opened (a deleted
 *     or replaced file makes /readyz 503 and refuses writes, loudly);
 *   - SIGHUP re-reads the configuration file, the users/secrets and the
 *     TLS certificate, and publishes them without touching live
 *     allocations (listen, relay and workers settings need a restart);
 *   - SIGTERM/SIGINT stop new allocations, wait for live ones to end up
 *     to limits.drain_timeout, then exit;
 *   - four times a second it takes the session events the workers posted
 *     into its journal (cmd_serve_db.c) and writes them to the sessions
 *     table without ever waiting on another process's lock; a busy, full
 *     or vanished database keeps them (bounded) and retries, counted and
 *     logged, and makes /readyz 503 if it lasts.
 *   - with an `api` block, the HTTPS control API (api/) serves on this
 *     same loop and database connection; its writes republish at once.
 *   - with an `anchor` block, the anchor (relay/anchor/) runs its own
 *     media threads; this loop writes its session events, attaches the
 *     recorder when a recorded call comes up, and re-checks its calls
 *     against every new policy.
 *   - with recording.dir, it owns the recordings catalog: at start it
 *     seals what a crash left (record/recover.c), and with the session
 *     events it writes the recorder's catalog events.
 * A snapshot that cannot be built (corrupt database, bad certificate)
 * leaves the last good one in force and is logged loudly.
 */
#include "api/api.h"
#include "auth/auth.h"
#include "cli/cli.h"
#include "cli/cmd_serve.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "policy/db.h"
#include "policy/peers.h"
#include "policy/rules.h"
#include "relay/anchor/anchor.h"
#include "record/catalog.h"
#include "relay/relay.h"

#include <event2/event.h>
#include <getopt.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct control {
    struct event_base *base;
    struct se_config *boot_cfg; /* what the sockets were bound with */
    struct se_config *cfg;      /* current (after reloads) */
    struct pol_db *db;
    struct relay_server *srv;
    struct relay_snap *snap;    /* the newest published (one reference) */
    struct api_server *api; /* NULL without an api block */
    struct anchor_server *anchor; /* NULL without an anchor block */
    struct event *ev_anchor;      /* the anchor queued events */
    int64_t next_anchor_recheck;  /* monotonic seconds */
    struct rec_catalog *cat; /* NULL without recording.dir */
    bool draining;           /* SIGTERM came */
    int64_t drain_deadline;  /* monotonic seconds */
    struct event *ev_drain;  /* on_drain_poll while draining */
    struct serve_journal *journal; /* session events on their way to the database */
    struct event *ev_events_now;   /* on_events again, at once */
    int64_t data_version;
    int64_t stats_tick;
};

enum {
    EVENT_POLL_MS = 250,
    DB_BUSY_MS = 100,     /* the longest the control thread waits for another's lock */
    EXIT_DB_WAIT_MS = 3000, /* at exit, for the last session events */
    DRAIN_POLL_MS = 100,    /* how often a drain looks whether it is done */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge serve [--config FILE]\n\n"
                 "Run the relay. Reload with SIGHUP; SIGTERM drains and stops.\n");
}

/* Build a snapshot for cfg from the database. NULL (logged) on failure. */
static struct relay_snap *build_snap(struct control *ctl, const struct se_config *cfg)
{
    struct auth_creds *creds = NULL;
    struct pol_peers *peers = NULL;
    struct pol_rules *rules = NULL;
    SSL_CTX *tls = NULL;
    struct relay_snap *snap;
    char err[512];
    int skipped = 0, skipped_rules = 0;

    if (pol_db_load_creds(ctl->db, cfg->realm, &creds, &skipped) < 0) {
        se_err_log("snapshot: cannot read users/secrets from %s: %s", cfg->database,
                   pol_db_errmsg(ctl->db));
        return NULL;
    }
    if (pol_db_load_rules(ctl->db, cfg->policy_default_allow, &rules, &skipped_rules) < 0) {
        se_err_log("snapshot: cannot build the policy from %s (see above): %s", cfg->database,
                   pol_db_errmsg(ctl->db));
        auth_creds_free(creds);
        return NULL;
    }
    if (cfg->tls_cert[0] && !(tls = relay_tls_ctx_new(cfg->tls_cert, cfg->tls_key, err,
                                                       sizeof(err)))) {
        se_err_log("snapshot: %s", err);
        auth_creds_free(creds);
        pol_rules_free(rules);
        return NULL;
    }
    if (!(peers = pol_peers_new(cfg))) {
        se_err_log("snapshot: out of memory");
        auth_creds_free(creds);
        pol_rules_free(rules);
        SSL_CTX_free(tls);
        return NULL;
    }
    size_t n_rules = pol_rules_count(rules);
    snap = relay_snap_new(cfg, creds, peers, rules, tls); /* owns creds, peers, rules */
    SSL_CTX_free(tls);                             /* the snapshot holds its own ref */
    if (snap)
        se_info("snapshot: %zu users, %zu secrets, %zu rules (default %s)%s",
                auth_creds_user_count(creds), auth_creds_secret_count(creds), n_rules,
                cfg->policy_default_allow ? "allow" : "deny",
                skipped || skipped_rules ? " (some rows skipped, see above)" : "");
    return snap;
}

static void anchor_policy(void *arg, const char *user, const char *origin,
                          const struct se_addr *client, struct anchor_verdict *v);

static void publish(struct control *ctl, const struct se_config *cfg)
{
    struct relay_snap *snap = build_snap(ctl, cfg);

    if (!snap) {
        se_err_log("keeping the previous snapshot in force");
        return;
    }
    relay_server_publish(ctl->srv, snap);
    relay_snap_unref(ctl->snap); /* keep the newest for the API's decisions */
    ctl->snap = snap;
    anchor_recheck(ctl->anchor, anchor_policy, ctl);
}

/* The API asks what the relay will decide: the same layers, the same
 * snapshot (disabled account, peer safety filter, rules). */
static void api_policy(void *arg, const struct pol_query *q, struct pol_decision *d)
{
    struct control *ctl = arg;
    const struct pol_rules *rules = ctl->snap ? relay_snap_rules(ctl->snap) : NULL;
    const struct pol_peers *peers = ctl->snap ? relay_snap_peers(ctl->snap) : NULL;

    memset(d, 0, sizeof(*d));
    d->allow = true;
    d->rule_name = "";
    if (!rules)
        return;
    if (pol_rules_user_disabled(rules, q->user, q->user_len) ||
        (q->peer && peers && pol_peers_check_ip(peers, q->peer) != POL_PEER_OK)) {
        d->allow = false;
        d->rule_name = "";
        return;
    }
    pol_rules_eval(rules, q, d);
}

/* Policy for a live anchored call, decided as /v1/anchor decided it: the
 * call may go on if any transport is allowed for its user, origin and the
 * address that created it. */
static void anchor_policy(void *arg, const char *user, const char *origin,
                          const struct se_addr *client, struct anchor_verdict *v)
{
    struct pol_decision d;
    struct pol_query q = {
        .user = user,
        .user_len = strlen(user),
        .origin = origin,
        .origin_len = origin ? strlen(origin) : 0,
        .client = client,
        .at = (int64_t)time(NULL),
    };

    api_policy_any(api_policy, arg, &q, &d);
    v->allow = d.allow;
    v->record = d.record == POL_RECORD_ALWAYS;
    v->rule_id = d.rule_id;
    v->rule_name = d.rule_name;
}

/* The anchor's session events into the journal (which writes them with
 * the relay's); a RECORD event is acted on here: the recorder attaches. */
static void take_anchor_events(struct control *ctl)
{
    struct anchor_event *ev[256];
    size_t n;

    while ((n = anchor_take_events(ctl->anchor, ev, 256)) > 0)
        for (size_t i = 0; i < n; i++) {
            if (ev[i]->type == ANCHOR_EV_RECORD) {
                anchor_handle_event(ctl->anchor, ev[i]);
                free(ev[i]);
            } else {
                serve_journal_push_anchor(ctl->journal, ev[i]);
            }
        }
}

/* Session events into the database; when the journal has more that the
 * database would take now, come back at once (after other events). */
static void on_events(evutil_socket_t fd, short what, void *arg)
{
    struct control *ctl = arg;

    (void)fd;
    (void)what;
    if (ctl->anchor)
        take_anchor_events(ctl);
    if (serve_journal_flush(ctl->journal, ctl->srv))
        event_active(ctl->ev_events_now, EV_TIMEOUT, 0);
    if (ctl->cat)
        rec_catalog_drain(ctl->cat, ctl->db);
}

static void api_stats(void *arg, struct api_control_stats *out)
{
    struct control *ctl = arg;
    struct serve_journal_stats js;

    serve_journal_stats(ctl->journal, &js);
    out->events_pending = js.pending;
    out->events_dropped = js.dropped;
    out->db_write_errors = js.write_errors;
}

/* What makes the database unusable now, for /readyz and admin calls:
 * the file gone, or session writes failing for JOURNAL_FAILING_MS. */
static void check_database(struct control *ctl)
{
    struct serve_journal_stats js;
    char problem[640] = "";

    if (!pol_db_lost(ctl->db) && pol_db_check_file(ctl->db) < 0)
        se_err_log("%s; /readyz answers 503 and admin calls are refused until the file is "
                   "restored (or `sedge init` run) and sedge restarted; the relay keeps serving "
                   "with the users and policy in force",
                   pol_db_errmsg(ctl->db));
    serve_journal_stats(ctl->journal, &js);
    if (pol_db_lost(ctl->db))
        snprintf(problem, sizeof(problem), "%s", pol_db_errmsg(ctl->db));
    else if (js.failing_ms >= JOURNAL_FAILING_MS)
        snprintf(problem, sizeof(problem),
                 "the database has refused writes for %llds (%s): %llu session events waiting",
                 (long long)(js.failing_ms / 1000), serve_journal_error(ctl->journal),
                 (unsigned long long)js.pending);
    api_server_set_db_problem(ctl->api, problem);
}

/* The retention pass (recording.purge_interval): a batch at a time, so a
 * backlog costs the control loop at most REC_PURGE_BATCH deletions per
 * interval. */
static void on_purge(evutil_socket_t fd, short what, void *arg)
{
    struct control *ctl = arg;
    int n;

    (void)fd;
    (void)what;
    if (ctl->cat && !pol_db_lost(ctl->db) &&
        (n = rec_catalog_purge(ctl->cat, ctl->db, false, NULL, NULL)) != 0)
        se_info("record: retention pass: %d recording(s) %s", n < 0 ? 0 : n,
                n < 0 ? "(failed, see above)" : "deleted");
}

/* recording.dir: the catalog, and what a crash left sealed first. */
static int catalog_start(struct control *ctl)
{
    char err[512];
    int n;

    if (!ctl->cfg->rec_dir[0])
        return 0;
    if (rec_catalog_new(&ctl->cat, ctl->cfg, err, sizeof(err)) < 0) {
        se_err_log("%s", err);
        return -1;
    }
    if ((n = rec_catalog_recover(ctl->cat, ctl->db)) < 0)
        se_err_log("record: recovery of earlier recordings failed: %s", se_err(n));
    else
        se_info("record: catalog ready (%s); %d earlier recording(s) sealed or registered",
                ctl->cfg->rec_dir, n);
    return 0;
}

/* Any thread: the anchor queued something (a call is ready to record). */
static void anchor_notify(void *arg)
{
    struct control *ctl = arg;
    event_active(ctl->ev_anchor, EV_READ, 0);
}

/* The API changed users or secrets through our own connection, which
 * does not move PRAGMA data_version: publish now. */
static void on_api_change(void *arg)
{
    struct control *ctl = arg;

    se_info("api: users, secrets or policy changed: publishing new snapshot");
    publish(ctl, ctl->cfg);
}

/* `sedge sessions kill` marked a live session of ours in the database. */
static void kill_requested(const char *sid, void *arg)
{
    struct control *ctl = arg;
    int rc = relay_server_kill(ctl->srv, sid);

    if (rc == SE_ERR_NOTFOUND && ctl->anchor) /* an anchored call's row */
        rc = anchor_kill(ctl->anchor, sid, "killed by admin");
    if (rc == 0)
        se_info("sessions: ending session %s (sedge sessions kill)", sid);
    else
        se_debug("sessions: kill of %s: %s", sid, se_err(rc));
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct control *ctl = arg;
    int64_t v;

    (void)fd;
    (void)what;
    check_database(ctl);
    if (pol_db_data_version(ctl->db, &v) == 0 && v != ctl->data_version) {
        ctl->data_version = v;
        se_info("database changed: publishing new users, secrets and policy");
        publish(ctl, ctl->cfg);
        pol_db_session_kills(ctl->db, kill_requested, ctl);
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (ctl->anchor && now.tv_sec >= ctl->next_anchor_recheck) {
        /* Time windows of rules: the relay re-checks on its own cron. */
        ctl->next_anchor_recheck = now.tv_sec + ctl->cfg->policy_recheck;
        anchor_recheck(ctl->anchor, anchor_policy, ctl);
    }
    if (++ctl->stats_tick % 60 == 0) {
        struct relay_stats st;
        relay_server_stats(ctl->srv, &st);
        se_info("stats: allocations live=%llu created=%llu refused=%llu auth_failures=%llu "
                "throttled=%llu challenges_limited=%llu peer_denied=%llu dropped(no_permission=%llu bad_input=%llu "
                "backpressure=%llu)",
                (unsigned long long)st.allocs_live, (unsigned long long)st.allocs_created,
                (unsigned long long)st.allocs_refused, (unsigned long long)st.auth_failures,
                (unsigned long long)st.auth_throttled, (unsigned long long)st.challenges_limited,
                (unsigned long long)st.peer_denied,
                (unsigned long long)st.dropped_no_permission,
                (unsigned long long)st.dropped_bad_input,
                (unsigned long long)st.dropped_backpressure);
    }
}

static bool same_sockets(const struct se_config *a, const struct se_config *b)
{
    if (a->n_listen != b->n_listen || a->workers != b->workers || a->min_port != b->min_port ||
        a->max_port != b->max_port || a->has_relay_v4 != b->has_relay_v4 ||
        a->has_relay_v6 != b->has_relay_v6 || !se_addr_ip_eq(&a->relay_v4, &b->relay_v4) ||
        !se_addr_ip_eq(&a->relay_v6, &b->relay_v6) || strcmp(a->database, b->database) != 0 ||
        a->has_relay_ext_v4 != b->has_relay_ext_v4 || a->has_relay_ext_v6 != b->has_relay_ext_v6 ||
        !se_addr_ip_eq(&a->relay_ext_v4, &b->relay_ext_v4) ||
        !se_addr_ip_eq(&a->relay_ext_v6, &b->relay_ext_v6) ||
        strcmp(a->run_user, b->run_user) != 0 || strcmp(a->run_group, b->run_group) != 0)
        return false;
    /* The anchor's addresses, ports and threads are bound at start too. */
    const struct se_anchor_config *x = &a->anchor, *y = &b->anchor;
    if (x->enabled != y->enabled || !se_addr_ip_eq(&x->inside, &y->inside) ||
        !se_addr_ip_eq(&x->outside, &y->outside) || !se_addr_ip_eq(&x->inside_adv, &y->inside_adv) ||
        !se_addr_ip_eq(&x->outside_adv, &y->outside_adv) || x->min_port != y->min_port ||
        x->max_port != y->max_port || x->threads != y->threads ||
        strcmp(a->rec_dir, b->rec_dir) != 0)
        return false;
    for (int i = 0; i < a->n_listen; i++)
        if (a->listen[i].transport != b->listen[i].transport ||
            !se_addr_eq(&a->listen[i].addr, &b->listen[i].addr))
            return false;
    return true;
}

static void on_hup(evutil_socket_t fd, short what, void *arg)
{
    struct control *ctl = arg;
    struct se_config *n;
    char err[512];

    (void)fd;
    (void)what;
    se_info("SIGHUP: reloading %s", ctl->cfg->path);
    if (se_config_load(ctl->cfg->path, &n, err, sizeof(err)) < 0) {
        se_err_log("reload refused, configuration unchanged: %s", err);
        return;
    }
    if (strcmp(n->policy_timezone, ctl->boot_cfg->policy_timezone) != 0)
        se_warn("reload: policy.timezone changes take effect only after a restart");
    if (!same_sockets(ctl->boot_cfg, n))
        se_warn("reload: listen, relay, workers, database, user, group, the anchor's addresses, "
                "ports and threads, and recording.dir take effect only after a restart; other "
                "settings apply now");
    se_log_set_level(n->log_level);
    se_log_set_format(n->log_format);
    relay_server_reconfigure(ctl->srv, n);
    if (ctl->anchor) {
        struct anchor_config ac;
        anchor_config_from(n, &ac);
        anchor_server_reconfigure(ctl->anchor, &ac);
    }
    publish(ctl, n);
    if (!ctl->api && n->api.enabled)
        se_warn("reload: the api block takes effect only after a restart");
    if (ctl->api && api_server_reload(ctl->api, n, err, sizeof(err)) < 0)
        se_err_log("reload: api settings unchanged: %s", err);
    if (ctl->cfg != ctl->boot_cfg)
        se_config_free(ctl->cfg);
    ctl->cfg = n;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    se_sdnotify("WATCHDOG=1");
}

/* While draining (every DRAIN_POLL_MS): done when every worker has ended
 * its allocations (their END events are queued, the loop writes them on
 * the way out), or at the deadline for the anchor's calls. */
static void on_drain_poll(evutil_socket_t fd, short what, void *arg)
{
    struct control *ctl = arg;
    struct timespec now;

    (void)fd;
    (void)what;
    clock_gettime(CLOCK_MONOTONIC, &now);
    bool anchor_busy = false;
    if (ctl->anchor && now.tv_sec < ctl->drain_deadline) {
        struct anchor_stats as;
        anchor_server_stats(ctl->anchor, &as);
        anchor_busy = as.live > 0;
    }
    if (relay_server_running(ctl->srv) == 0 && !anchor_busy) {
        se_info("drain: done, exiting");
        event_base_loopexit(ctl->base, NULL);
    }
}

/*
 * SIGTERM/SIGINT: drain. The control loop keeps running (session rows,
 * revocations, the API and /readyz, which answers 503 now) while the
 * workers refuse new Allocates (300 ALTERNATE-SERVER with drain.alternate,
 * else 508), end allocations idle for drain.idle seconds and serve the
 * rest until they end or drain.timeout passes. A second signal stops at
 * once.
 */
static void on_term(evutil_socket_t fd, short what, void *arg)
{
    struct control *ctl = arg;
    struct timespec now;

    (void)what;
    if (ctl->draining) {
        se_info("signal %d again: stopping now", (int)fd);
        relay_server_drain(ctl->srv, 0);
        ctl->drain_deadline = 0;
        return;
    }
    ctl->draining = true;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ctl->drain_deadline = now.tv_sec + ctl->cfg->drain_timeout;
    se_info("signal %d: draining (up to %us; allocations idle for %us are not waited for), "
            "no new allocations%s",
            (int)fd, ctl->cfg->drain_timeout, ctl->cfg->drain_idle,
            ctl->cfg->has_drain_alternate ? ", Allocates sent to drain.alternate" : "");
    se_sdnotify("STOPPING=1\nSTATUS=draining");
    api_server_set_ready(ctl->api, false);
    relay_server_drain(ctl->srv, ctl->cfg->drain_timeout);
    struct timeval poll = {0, DRAIN_POLL_MS * 1000};
    if (!(ctl->ev_drain = event_new(ctl->base, -1, EV_PERSIST, on_drain_poll, ctl)) ||
        event_add(ctl->ev_drain, &poll) < 0) {
        se_err_log("drain: cannot set up its timer: stopping now");
        relay_server_drain(ctl->srv, 0);
        event_base_loopexit(ctl->base, NULL);
    }
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct control ctl = {0};
    const char *config = NULL;
    struct event *ev_tick = NULL, *ev_hup = NULL, *ev_term = NULL, *ev_int = NULL;
    struct event *ev_events = NULL, *ev_purge = NULL, *ev_watchdog = NULL;
    struct relay_snap *snap;
    char err[512];
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!config)
        config = cli_default_config();
    if (se_config_load(config, &ctl.boot_cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        return 1;
    }
    ctl.cfg = ctl.boot_cfg;
    se_log_set_level(ctl.cfg->log_level);
    se_log_set_format(ctl.cfg->log_format);
    signal(SIGPIPE, SIG_IGN);
    /* Before anything is opened: descriptors while root may raise the
     * hard limit, then the service user (cmd_serve_os.c says why first). */
    serve_fd_limit(ctl.cfg);
    if (serve_drop_privileges(ctl.cfg, err, sizeof(err)) < 0) {
        se_err_log("%s", err);
        goto out;
    }
    if ((c = pol_db_open(ctl.cfg->database, false, &ctl.db, err, sizeof(err))) < 0) {
        se_err_log("%s", err);
        if (c == SE_ERR_NOTFOUND)
            cli_hint_init(ctl.cfg->path);
        goto out;
    }
    pol_db_set_actor(ctl.db, "serve");
    if (!(ctl.journal = serve_journal_new(ctl.db))) {
        se_err_log("out of memory");
        goto out;
    }
    if (pol_rules_set_timezone(ctl.cfg->policy_timezone) < 0) {
        se_err_log("policy.timezone: unknown time zone \"%s\"", ctl.cfg->policy_timezone);
        goto out;
    }
    {
        int stale = pol_db_session_close_stale(ctl.db, "server restart");
        if (stale > 0)
            se_warn("sessions: closed %d session rows a previous process left open", stale);
        else if (stale < 0)
            se_warn("sessions: cannot close the rows a previous process left open (%s): they "
                    "stay listed as live",
                    pol_db_errmsg(ctl.db));
    }
    if (catalog_start(&ctl) < 0)
        goto out;
    /* From here the control thread also serves the API and /healthz: it
     * never sits long in SQLite's busy handler (the CLI's writes take ms). */
    pol_db_set_busy_timeout(ctl.db, DB_BUSY_MS);
    pol_db_data_version(ctl.db, &ctl.data_version);
    if (relay_server_new(ctl.cfg, &ctl.srv, err, sizeof(err)) < 0) {
        se_err_log("%s", err);
        goto out;
    }
    if (!(snap = build_snap(&ctl, ctl.cfg)))
        goto out;
    if (relay_server_start(ctl.srv, snap) < 0) {
        relay_snap_unref(snap);
        se_err_log("cannot start relay workers");
        goto out;
    }
    ctl.snap = snap; /* our reference, for the API's policy decisions */
    ctl.base = event_base_new();
    struct timeval one_s = {1, 0}, poll = {0, EVENT_POLL_MS * 1000};
    ev_tick = event_new(ctl.base, -1, EV_PERSIST, on_tick, &ctl);
    ev_events = event_new(ctl.base, -1, EV_PERSIST, on_events, &ctl);
    ctl.ev_events_now = event_new(ctl.base, -1, 0, on_events, &ctl);
    ev_hup = evsignal_new(ctl.base, SIGHUP, on_hup, &ctl);
    ev_term = evsignal_new(ctl.base, SIGTERM, on_term, &ctl);
    ev_int = evsignal_new(ctl.base, SIGINT, on_term, &ctl);
    if (!ctl.base || !ev_tick || !ev_hup || !ev_term || !ev_int || !ev_events ||
        !ctl.ev_events_now ||
        event_add(ev_tick, &one_s) < 0 || event_add(ev_events, &poll) < 0 ||
        event_add(ev_hup, NULL) < 0 || event_add(ev_term, NULL) < 0 ||
        event_add(ev_int, NULL) < 0) {
        se_err_log("cannot set up the control loop");
        relay_server_drain(ctl.srv, 0);
        goto out;
    }
    if (ctl.cfg->api.enabled && api_server_new(ctl.base, ctl.cfg, ctl.db, ctl.srv, on_api_change,
                                               &ctl, &ctl.api, err, sizeof(err)) < 0) {
        se_err_log("%s", err);
        relay_server_drain(ctl.srv, 0);
        goto out;
    }
    if (ctl.cfg->anchor.enabled) {
        struct anchor_config ac;
        anchor_config_from(ctl.cfg, &ac);
        ac.catalog = ctl.cat; /* borrowed: freed after the anchor */
        if (!(ctl.ev_anchor = event_new(ctl.base, -1, 0, on_events, &ctl)) ||
            anchor_server_new(&ac, anchor_notify, &ctl, &ctl.anchor, err, sizeof(err)) < 0) {
            se_err_log("%s", ctl.ev_anchor ? err : "cannot set up the control loop");
            relay_server_drain(ctl.srv, 0);
            goto out;
        }
    }
    api_server_set_policy(ctl.api, api_policy, &ctl);
    api_server_set_anchor(ctl.api, ctl.anchor);
    api_server_set_stats(ctl.api, api_stats, &ctl);
    api_server_set_recordings(ctl.api, ctl.cat);
    if (ctl.cat) {
        struct timeval pi = {ctl.cfg->rec_purge_interval, 0};
        if (!(ev_purge = event_new(ctl.base, -1, EV_PERSIST, on_purge, &ctl)) ||
            event_add(ev_purge, &pi) < 0) {
            se_err_log("cannot set up the retention pass");
            relay_server_drain(ctl.srv, 0);
            goto out;
        }
        event_active(ev_purge, EV_TIMEOUT, 0); /* once at start */
    }
    serve_drop_bind_cap(ctl.cfg); /* every listener is bound */
    api_server_set_ready(ctl.api, true);
    for (int i = 0; i < ctl.cfg->n_listen; i++) {
        char as[SE_ADDR_STRLEN];
        se_info("listening %s %s", se_transport_name(ctl.cfg->listen[i].transport),
                se_addr_str(&ctl.cfg->listen[i].addr, as, sizeof(as)));
    }
    se_info("sedge serving: realm=%s workers=%d relay ports %u-%u", ctl.cfg->realm,
            ctl.cfg->workers, ctl.cfg->min_port, ctl.cfg->max_port);
    if (se_sdnotify("READY=1\nSTATUS=serving") < 0)
        se_warn("NOTIFY_SOCKET is set but the service manager did not take READY=1");
    if (se_sdnotify_watchdog_usec()) {
        /* Ping at half the manager's interval, from this loop: a wedged
         * control thread (database, API) stops the pings. */
        uint64_t half = se_sdnotify_watchdog_usec() / 2;
        struct timeval wd = {(time_t)(half / 1000000), (suseconds_t)(half % 1000000)};
        ev_watchdog = event_new(ctl.base, -1, EV_PERSIST, on_watchdog, &ctl);
        if (!ev_watchdog || event_add(ev_watchdog, &wd) < 0)
            se_warn("cannot arm the service manager's watchdog timer");
        else
            se_info("watchdog: pinging the service manager every %llu ms",
                    (unsigned long long)(half / 1000));
    }
    event_base_dispatch(ctl.base);
    rc = 0;
out:
    anchor_server_stop(ctl.anchor); /* calls end ("shutdown"), recordings sealed */
    relay_server_join(ctl.srv); /* the workers end their allocations on the way out */
    if (ctl.anchor && ctl.journal)
        take_anchor_events(&ctl);
    serve_journal_close(ctl.journal, ctl.srv, EXIT_DB_WAIT_MS);
    if (ctl.cat && ctl.db && !pol_db_lost(ctl.db)) {
        pol_db_set_busy_timeout(ctl.db, EXIT_DB_WAIT_MS);
        rec_catalog_drain(ctl.cat, ctl.db);
    }
    api_server_free(ctl.api);
    anchor_server_free(ctl.anchor);
    if (ctl.ev_anchor)
        event_free(ctl.ev_anchor);
    rec_catalog_free(ctl.cat); /* after the API and the anchor, which borrow it */
    relay_snap_unref(ctl.snap);
    relay_server_free(ctl.srv);
    if (ctl.srv)
        se_info("sedge stopped");
    if (ev_tick)
        event_free(ev_tick);
    if (ev_events)
        event_free(ev_events);
    if (ev_watchdog)
        event_free(ev_watchdog);
    if (ctl.ev_events_now)
        event_free(ctl.ev_events_now);
    if (ev_purge)
        event_free(ev_purge);
    if (ev_hup)
        event_free(ev_hup);
    if (ev_term)
        event_free(ev_term);
    if (ev_int)
        event_free(ev_int);
    if (ctl.ev_drain)
        event_free(ctl.ev_drain);
    if (ctl.base)
        event_base_free(ctl.base);
    pol_db_close(ctl.db);
    if (ctl.cfg != ctl.boot_cfg)
        se_config_free(ctl.cfg);
    se_config_free(ctl.boot_cfg);
    return rc;
}
