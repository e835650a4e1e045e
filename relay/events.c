/*
 * events.c - an allocation's session events (START, UPDATE, END).
 *
 * Workers never touch SQLite: each event is one malloc block (its strings
 * in text[], see relay.h's struct relay_event) pushed onto the server's
 * bounded queue (core/queue.h), which the control thread drains into the
 * sessions table. A full queue, or no memory, drops the event with a
 * rate-limited warning: media never waits for bookkeeping. The session id
 * is the process's random instance plus a counter, so ids stay unique
 * across restarts. Worker thread only.
 */
#include "relay/events.h"
#include "core/log.h"
#include "core/queue.h"
#include "relay/alloc.h"
#include "relay/clock.h"
#include "relay/server.h"
#include "relay/snap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct se_log_rl rl_events;

/* Copy str into e->text at *off; returns where it landed. */
static const char *put_text(struct relay_event *e, size_t *off, const char *str)
{
    char *dst = e->text + *off;
    size_t n = strlen(str) + 1;

    memcpy(dst, str, n);
    *off += n;
    return dst;
}

/* rule_name: NULL leaves the row's rule as it is (periodic updates). */
static void post(struct allocation *a, int type, const char *reason, const char *rule_name)
{
    struct worker *w = a->w;
    char client[80] = "", relay[SE_ADDR_STRLEN] = "", peers[512];
    const char *user = "", *username = "", *origin = "", *transport = "";

    if (type == RELAY_EV_START) {
        char as[SE_ADDR_STRLEN];
        user = a->quota_user;
        username = a->user;
        origin = a->origin ? a->origin : "";
        transport = se_transport_name(a->client.transport);
        snprintf(client, sizeof(client), "%s:%s", transport,
                 se_addr_str(&a->client.addr, as, sizeof(as)));
        se_addr_str(&a->relay[0].addr, relay, sizeof(relay));
    }
    alloc_peers_str(a, peers, sizeof(peers));
    bool set_rule = rule_name != NULL;
    if (!rule_name)
        rule_name = "";
    if (!reason)
        reason = "";
    size_t text = strlen(user) + strlen(username) + strlen(origin) + strlen(client) +
                  strlen(transport) + strlen(relay) + strlen(peers) + strlen(rule_name) +
                  strlen(reason) + 9;
    struct relay_event *e = malloc(sizeof(*e) + text);
    if (!e) {
        se_log_rl(&rl_events, SE_LOG_WARN, "session event dropped: out of memory");
        return;
    }
    size_t off = 0;
    e->type = type;
    snprintf(e->sid, sizeof(e->sid), "%s-%llu", w->srv->instance, (unsigned long long)a->sid);
    e->at = type == RELAY_EV_START ? a->started_wall : relay_now_wall();
    e->rule_id = set_rule ? a->rule_id : -1;
    e->record = a->record;
    e->user = put_text(e, &off, user);
    e->username = put_text(e, &off, username);
    e->origin = put_text(e, &off, origin);
    e->client = put_text(e, &off, client);
    e->transport = put_text(e, &off, transport);
    e->relay = put_text(e, &off, relay);
    e->peers = put_text(e, &off, peers);
    e->rule_name = put_text(e, &off, rule_name);
    e->reason = put_text(e, &off, reason);
    e->bytes_from_client = a->bytes_from_client;
    e->bytes_to_client = a->bytes_to_client;
    e->pkts_from_client = a->pkts_from_client;
    e->pkts_to_client = a->pkts_to_client;
    if (se_queue_push(w->srv->events, e) < 0) {
        free(e);
        se_log_rl(&rl_events, SE_LOG_WARN,
                  "session event dropped: the control thread is behind (queue full)");
    }
}

void events_start(struct allocation *a, const char *rule_name)
{
    struct relay_server *srv = a->w->srv;

    a->sid = atomic_fetch_add_explicit(&srv->next_sid, 1, memory_order_relaxed) + 1;
    a->next_update = a->w->now + a->w->snap->session_update;
    post(a, RELAY_EV_START, NULL, rule_name);
}

void events_rule_changed(struct allocation *a, const char *rule_name)
{
    post(a, RELAY_EV_UPDATE, NULL, rule_name);
}

void events_end(struct allocation *a, const char *reason)
{
    post(a, RELAY_EV_END, reason, NULL);
}

void events_cron(struct allocation *a)
{
    uint64_t pkts = a->pkts_from_client + a->pkts_to_client;

    if (a->w->now < a->next_update)
        return;
    a->next_update = a->w->now + a->w->snap->session_update;
    if (pkts == a->reported_pkts && !a->peers_changed)
        return;
    a->reported_pkts = pkts;
    a->peers_changed = false;
    post(a, RELAY_EV_UPDATE, NULL, NULL);
}
