/*
 * cmd_serve.c - `sedge serve`: the daemon's control thread.
 *
 * The main thread loads the configuration, binds every socket (so a bad
 * address stops the start with one clear message), builds the first
 * snapshot from SQLite and starts the relay workers. It then runs its own
 * event loop:
 *   - every second it polls PRAGMA data_version and, when another process
 *     (the CLI) changed the database, publishes a new snapshot;
 *   - SIGHUP re-reads the configuration file, the users/secrets and the
 *     TLS certificate, and publishes them without touching live
 *     allocations (listen, relay and workers settings need a restart);
 *   - SIGTERM/SIGINT stop new allocations, wait for live ones to end up
 *     to limits.drain_timeout, then exit;
 *   - four times a second it takes the session events the workers posted
 *     and writes them to the sessions table in one transaction.
 *   - with an `api` block, the HTTPS control API (api/) serves on this
 *     same loop and database connection; its writes republish at once.
 *   - with an `anchor` block, the anchor (relay/anchor/) runs its own
 *     media threads; this loop writes its session events, attaches the
 *     recorder when a recorded call comes up, and re-checks its calls
 *     against every new policy.
 * A snapshot that cannot be built (corrupt database, bad certificate)
 * leaves the last good one in force and is logged loudly.
 */
#include "api/api.h"
#include "auth/auth.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "policy/db.h"
#include "policy/peers.h"
#include "policy/rules.h"
#include "relay/anchor/anchor.h"
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
    int64_t data_version;
    int64_t stats_tick;
    uint64_t events_lost; /* session events not written (database error) */
};

enum { EVENT_BATCH = 256, EVENT_POLL_MS = 250 };

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
    struct pol_decision d, first;
    struct pol_query q = {
        .user = user,
        .user_len = strlen(user),
        .origin = origin,
        .origin_len = origin ? strlen(origin) : 0,
        .client = client,
        .at = (int64_t)time(NULL),
    };

    for (int t = SE_TP_UDP; t <= SE_TP_TLS; t++) {
        q.transport = t;
        api_policy(arg, &q, &d);
        if (t == SE_TP_UDP)
            first = d;
        if (d.allow)
            break;
    }
    if (!d.allow)
        d = first;
    v->allow = d.allow;
    v->record = d.record == POL_RECORD_ALWAYS;
    v->rule_id = d.rule_id;
    v->rule_name = d.rule_name;
}

/* One relay event into the sessions table (inside the caller's transaction). */
static int write_event(struct control *ctl, const struct relay_event *e)
{
    struct pol_session s = {
        .sid = e->sid,
        .user = e->user,
        .username = e->username,
        .origin = e->origin[0] ? e->origin : NULL,
        .client = e->client,
        .transport = e->transport,
        .relay = e->relay,
        .peers = e->peers,
        .started = e->at,
        .updated = e->at,
        .ended = e->type == RELAY_EV_END ? e->at : 0,
        .bytes_from_client = e->bytes_from_client,
        .bytes_to_client = e->bytes_to_client,
        .packets_from_client = e->pkts_from_client,
        .packets_to_client = e->pkts_to_client,
        .end_reason = e->type == RELAY_EV_END ? e->reason : NULL,
        .rule_id = e->rule_id,
        .rule_name = e->rule_name,
        .record = e->record,
    };

    return e->type == RELAY_EV_START ? pol_db_session_start(ctl->db, &s)
                                     : pol_db_session_update(ctl->db, &s);
}

/* Write every pending session event; one transaction per batch. */
static void flush_events(struct control *ctl)
{
    struct relay_event *ev[EVENT_BATCH];
    size_t n;

    while ((n = relay_server_take_events(ctl->srv, ev, EVENT_BATCH)) > 0) {
        bool ok = pol_db_begin(ctl->db) == 0;
        for (size_t i = 0; i < n; i++) {
            if (ok && write_event(ctl, ev[i]) < 0)
                ok = false;
            free(ev[i]);
        }
        if (!ok || pol_db_commit(ctl->db) < 0) {
            ctl->events_lost += n;
            se_err_log("sessions: cannot write %zu session events to %s: %s (%llu lost so far)", n,
                       ctl->cfg->database, pol_db_errmsg(ctl->db),
                       (unsigned long long)ctl->events_lost);
        }
    }
}

/* The outside party's IP from "udp:1.2.3.4:5" / "udp:[::1]:5". */
static void party_ip(const char *party, char *out, size_t len)
{
    const char *p = strncmp(party, "udp:", 4) == 0 ? party + 4 : party;
    size_t n;

    if (*p == '[') {
        p++;
        n = strcspn(p, "]");
    } else {
        n = strcspn(p, ":");
    }
    snprintf(out, len, "%.*s", (int)n, p);
}

/* One anchor event into the sessions table (inside the caller's transaction). */
static int write_anchor_event(struct control *ctl, const struct anchor_event *e)
{
    char peer[64];

    party_ip(e->outside, peer, sizeof(peer));
    struct pol_session s = {
        .sid = e->sid,
        .user = e->user,
        .username = e->user,
        .origin = e->origin[0] ? e->origin : NULL,
        .client = e->inside,
        .transport = "udp",
        .relay = e->local,
        .peers = peer,
        .started = e->at,
        .updated = e->at,
        .ended = e->type == ANCHOR_EV_END ? e->at : 0,
        .bytes_from_client = e->in_bytes_from,
        .bytes_to_client = e->in_bytes_to,
        .packets_from_client = e->in_pkts_from,
        .packets_to_client = e->in_pkts_to,
        .end_reason = e->type == ANCHOR_EV_END ? e->reason : NULL,
        .rule_id = e->rule_id,
        .rule_name = e->rule_name,
        .record = e->record,
        .mode = "anchor",
        .recording = e->recording,
        .bytes_from_peer = e->out_bytes_from,
        .bytes_to_peer = e->out_bytes_to,
        .packets_from_peer = e->out_pkts_from,
        .packets_to_peer = e->out_pkts_to,
    };
    int rc = e->type == ANCHOR_EV_START ? pol_db_session_start(ctl->db, &s)
                                        : pol_db_session_update(ctl->db, &s);
    if (rc == 0 && e->type == ANCHOR_EV_END) {
        char detail[512];
        snprintf(detail, sizeof(detail), "reason=%s recording=%s", e->reason,
                 e->recording[0] ? e->recording : "-");
        rc = pol_db_audit(ctl->db, "anchor.end", e->sid, detail);
    }
    return rc;
}

/* Write the anchor's session events and act on the rest. */
static void flush_anchor_events(struct control *ctl)
{
    struct anchor_event *ev[EVENT_BATCH];
    size_t n;

    while ((n = anchor_take_events(ctl->anchor, ev, EVENT_BATCH)) > 0) {
        bool ok = pol_db_begin(ctl->db) == 0;
        size_t rows = 0;
        for (size_t i = 0; i < n; i++) {
            if (ev[i]->type == ANCHOR_EV_RECORD)
                continue;
            rows++;
            if (ok && write_anchor_event(ctl, ev[i]) < 0)
                ok = false;
        }
        if (!ok || pol_db_commit(ctl->db) < 0) {
            ctl->events_lost += rows;
            se_err_log("sessions: cannot write %zu anchor events to %s: %s", rows,
                       ctl->cfg->database, pol_db_errmsg(ctl->db));
        }
        for (size_t i = 0; i < n; i++) {
            if (ev[i]->type == ANCHOR_EV_RECORD)
                anchor_handle_event(ctl->anchor, ev[i]);
            free(ev[i]);
        }
    }
}

static void on_events(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush_events(arg);
    flush_anchor_events(arg);
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

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct control *ctl = arg;
    int64_t v;

    (void)fd;
    (void)what;
    if (pol_db_data_version(ctl->db, &v) == 0 && v != ctl->data_version) {
        ctl->data_version = v;
        se_info("database changed: publishing new users, secrets and policy");
        publish(ctl, ctl->cfg);
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
        !se_addr_ip_eq(&a->relay_v6, &b->relay_v6) || strcmp(a->database, b->database) != 0)
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
        se_warn("reload: listen, relay, workers and database changes take effect only after a "
                "restart; other settings apply now");
    se_log_set_level(n->log_level);
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

static void on_term(evutil_socket_t fd, short what, void *arg)
{
    struct control *ctl = arg;

    (void)what;
    se_info("signal %d: draining (up to %us), no new allocations", (int)fd,
            ctl->cfg->drain_timeout);
    se_sdnotify("STOPPING=1\nSTATUS=draining");
    api_server_set_ready(ctl->api, false);
    relay_server_drain(ctl->srv, ctl->cfg->drain_timeout);
    event_base_loopexit(ctl->base, NULL);
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
    struct event *ev_events = NULL, *ev_watchdog = NULL;
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
    signal(SIGPIPE, SIG_IGN);
    if (pol_db_open(ctl.cfg->database, true, &ctl.db, err, sizeof(err)) < 0) {
        se_err_log("%s", err);
        goto out;
    }
    pol_db_set_actor(ctl.db, "serve");
    if (pol_rules_set_timezone(ctl.cfg->policy_timezone) < 0) {
        se_err_log("policy.timezone: unknown time zone \"%s\"", ctl.cfg->policy_timezone);
        goto out;
    }
    {
        int stale = pol_db_session_close_stale(ctl.db, "server restart");
        if (stale > 0)
            se_warn("sessions: closed %d session rows a previous process left open", stale);
    }
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
    ev_hup = evsignal_new(ctl.base, SIGHUP, on_hup, &ctl);
    ev_term = evsignal_new(ctl.base, SIGTERM, on_term, &ctl);
    ev_int = evsignal_new(ctl.base, SIGINT, on_term, &ctl);
    if (!ctl.base || !ev_tick || !ev_hup || !ev_term || !ev_int || !ev_events ||
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
        if (!(ctl.ev_anchor = event_new(ctl.base, -1, 0, on_events, &ctl)) ||
            anchor_server_new(&ac, anchor_notify, &ctl, &ctl.anchor, err, sizeof(err)) < 0) {
            se_err_log("%s", ctl.ev_anchor ? err : "cannot set up the control loop");
            relay_server_drain(ctl.srv, 0);
            goto out;
        }
    }
    api_server_set_policy(ctl.api, api_policy, &ctl);
    api_server_set_anchor(ctl.api, ctl.anchor);
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
    if (ctl.srv && ctl.db)
        flush_events(&ctl);
    if (ctl.anchor && ctl.db)
        flush_anchor_events(&ctl);
    api_server_free(ctl.api);
    anchor_server_free(ctl.anchor);
    if (ctl.ev_anchor)
        event_free(ctl.ev_anchor);
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
    if (ev_hup)
        event_free(ev_hup);
    if (ev_term)
        event_free(ev_term);
    if (ev_int)
        event_free(ev_int);
    if (ctl.base)
        event_base_free(ctl.base);
    pol_db_close(ctl.db);
    if (ctl.cfg != ctl.boot_cfg)
        se_config_free(ctl.cfg);
    se_config_free(ctl.boot_cfg);
    return rc;
}
