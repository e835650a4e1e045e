/*
 * cmd_serve_db.c - the session journal of `sedge serve`: relay session
 * events on their way into the sessions table (see cmd_serve.h).
 *
 * Design. Workers post START / UPDATE / END events to a bounded queue;
 * so does the anchor (relay/anchor/) for anchored calls, whose rows also
 * carry the outside leg's counters and the recording. The control
 * thread moves both kinds into this one backlog, in order, and writes
 * them in transactions of up to JOURNAL_BATCH events. A write is tried
 * with no busy wait (the control thread also serves the API and
 * /healthz: it must not sit in SQLite's busy handler while another
 * process holds the write lock) and a failed one (locked, disk full, I/O
 * error, database deleted) leaves its events in the backlog, to be
 * retried with a backoff of up to JOURNAL_BACKOFF_MAX_MS. Replaying a
 * batch is harmless: START is INSERT OR IGNORE and UPDATE/END set
 * absolute values.
 *
 * Invariants: events are written in the order the control thread took
 * them; an event leaves the backlog only when its transaction committed,
 * or when it is dropped, and every drop is counted (stats.dropped, which
 * /metrics adds to the relay queue's own drops) and logged, rate-limited.
 * When the backlog is full the oldest half is stripped of its counter
 * UPDATEs first (later updates and the END carry newer counters); only
 * then are new events refused. Failures are logged once when they start,
 * every JOURNAL_REMIND_MS while they last, and once when they end.
 */
#include "cli/cmd_serve.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"
#include "relay/anchor/anchor.h"
#include "relay/relay.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    JOURNAL_BATCH = 256,            /* events per transaction */
    JOURNAL_TAKE = 1024,            /* relay events moved per pop */
    JOURNAL_BUDGET_MS = 20,         /* time one flush may spend writing */
    JOURNAL_BACKOFF_MIN_MS = 250,   /* first retry after a failure */
    JOURNAL_BACKOFF_MAX_MS = 2000,  /* retries at least this often */
    JOURNAL_REMIND_MS = 30000,      /* "still failing" log interval */
    JOURNAL_BUSY_MS = 100,          /* the API's busy timeout, restored after a write */
};

/* One backlog entry: a relay or an anchor event, owned (free()). */
struct jent {
    bool anchor;
    void *e;
};

struct serve_journal {
    struct pol_db *db;
    struct jent *ev; /* ring of cap entries */
    size_t cap, head, n;
    uint64_t dropped, written, write_errors;
    int64_t failing_since_ms; /* 0 while writes succeed */
    int64_t next_try_ms, backoff_ms, reminded_ms;
    char error[256];
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct serve_journal *serve_journal_new(struct pol_db *db)
{
    struct serve_journal *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->db = db;
    j->cap = 1024;
    if (!(j->ev = calloc(j->cap, sizeof(*j->ev)))) {
        free(j);
        return NULL;
    }
    return j;
}

static struct jent *at(struct serve_journal *j, size_t i)
{
    return &j->ev[(j->head + i) % j->cap];
}

/* Double the ring (up to JOURNAL_MAX). false when it cannot grow. */
static bool grow(struct serve_journal *j)
{
    if (j->cap >= JOURNAL_MAX)
        return false;
    size_t cap = j->cap * 2;
    struct jent *ev = calloc(cap, sizeof(*ev));
    if (!ev)
        return false;
    for (size_t i = 0; i < j->n; i++)
        ev[i] = *at(j, i);
    free(j->ev);
    j->ev = ev;
    j->cap = cap;
    j->head = 0;
    return true;
}

enum { START, UPDATE, END };

static int entry_type(const struct jent *e)
{
    if (e->anchor) {
        int t = ((const struct anchor_event *)e->e)->type;
        return t == ANCHOR_EV_START ? START : t == ANCHOR_EV_END ? END : UPDATE;
    }
    int t = ((const struct relay_event *)e->e)->type;
    return t == RELAY_EV_START ? START : t == RELAY_EV_END ? END : UPDATE;
}

static const char *entry_sid(const struct jent *e)
{
    return e->anchor ? ((const struct anchor_event *)e->e)->sid
                     : ((const struct relay_event *)e->e)->sid;
}

/* Full at JOURNAL_MAX: drop the counter UPDATEs of the older half. */
static size_t strip_updates(struct serve_journal *j)
{
    size_t w = 0, stripped = 0, half = j->n / 2;

    for (size_t r = 0; r < j->n; r++) {
        struct jent e = *at(j, r);
        if (r < half && entry_type(&e) == UPDATE) {
            free(e.e);
            stripped++;
            continue;
        }
        *at(j, w++) = e;
    }
    j->n = w;
    return stripped;
}

static void push(struct serve_journal *j, struct jent e)
{
    static struct se_log_rl rl;

    if (j->n == j->cap && !grow(j)) {
        size_t s = strip_updates(j);
        if (s > 0) {
            j->dropped += s;
            se_log_rl(&rl, SE_LOG_ERR,
                      "sessions: %zu events wait for the database (the most kept): dropped %zu "
                      "older counter updates (%llu events lost so far)",
                      j->n, s, (unsigned long long)j->dropped);
        }
    }
    if (j->n == j->cap) {
        j->dropped++;
        se_log_rl(&rl, SE_LOG_ERR,
                  "sessions: %zu events wait for the database (the most kept): a %s event of "
                  "session %s is lost (%llu lost so far)",
                  j->n, entry_type(&e) == START ? "start" : entry_type(&e) == END ? "end" : "update",
                  entry_sid(&e), (unsigned long long)j->dropped);
        free(e.e);
        return;
    }
    *at(j, j->n++) = e;
}

static void take(struct serve_journal *j, struct relay_server *srv)
{
    struct relay_event *ev[JOURNAL_TAKE];
    size_t k;

    while (srv && (k = relay_server_take_events(srv, ev, JOURNAL_TAKE)) > 0)
        for (size_t i = 0; i < k; i++)
            push(j, (struct jent){false, ev[i]});
}

void serve_journal_push_anchor(struct serve_journal *j, struct anchor_event *e)
{
    push(j, (struct jent){true, e});
}

/* One relay event into the sessions table (inside the caller's transaction). */
static int write_event(struct pol_db *db, const struct relay_event *e)
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

    return e->type == RELAY_EV_START ? pol_db_session_start(db, &s)
                                     : pol_db_session_update(db, &s);
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

/* One anchor event into the sessions table, and its end into the audit
 * trail (inside the caller's transaction). */
static int write_anchor_event(struct pol_db *db, const struct anchor_event *e)
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
    int rc = e->type == ANCHOR_EV_START ? pol_db_session_start(db, &s)
                                        : pol_db_session_update(db, &s);
    if (rc == 0 && e->type == ANCHOR_EV_END) {
        char detail[512];
        snprintf(detail, sizeof(detail), "reason=%s recording=%s", e->reason,
                 e->recording[0] ? e->recording : "-");
        rc = pol_db_audit(db, "anchor.end", e->sid, detail);
    }
    return rc;
}

/* Write the oldest batch in one transaction. 0 (committed and freed) or <0. */
static int write_batch(struct serve_journal *j)
{
    size_t k = j->n < JOURNAL_BATCH ? j->n : JOURNAL_BATCH;
    int rc = pol_db_begin(j->db);

    for (size_t i = 0; rc == 0 && i < k; i++)
        rc = at(j, i)->anchor ? write_anchor_event(j->db, at(j, i)->e)
                              : write_event(j->db, at(j, i)->e);
    if (rc == 0)
        rc = pol_db_commit(j->db);
    if (rc < 0) {
        snprintf(j->error, sizeof(j->error), "%s", pol_db_errmsg(j->db));
        pol_db_rollback(j->db);
        return rc;
    }
    for (size_t i = 0; i < k; i++)
        free(at(j, i)->e);
    j->head = (j->head + k) % j->cap;
    j->n -= k;
    j->written += k;
    return 0;
}

static void failed(struct serve_journal *j, int64_t now)
{
    j->write_errors++;
    j->backoff_ms = j->backoff_ms ? j->backoff_ms * 2 : JOURNAL_BACKOFF_MIN_MS;
    if (j->backoff_ms > JOURNAL_BACKOFF_MAX_MS)
        j->backoff_ms = JOURNAL_BACKOFF_MAX_MS;
    j->next_try_ms = now + j->backoff_ms;
    if (!j->failing_since_ms) {
        j->failing_since_ms = now;
        j->reminded_ms = now;
        se_warn("sessions: cannot write session events to the database: %s; %zu waiting, "
                "retrying (at most %d kept, /readyz answers 503 after %d s)",
                j->error, j->n, JOURNAL_MAX, JOURNAL_FAILING_MS / 1000);
    } else if (now - j->reminded_ms >= JOURNAL_REMIND_MS) {
        j->reminded_ms = now;
        se_warn("sessions: the database has refused writes for %llds: %s; %zu events waiting, "
                "%llu lost",
                (long long)((now - j->failing_since_ms) / 1000), j->error, j->n,
                (unsigned long long)j->dropped);
    }
}

int serve_journal_flush(struct serve_journal *j, struct relay_server *srv)
{
    int64_t t0 = mono_ms();
    size_t waited;

    take(j, srv);
    if (j->n == 0 || t0 < j->next_try_ms)
        return 0;
    if (pol_db_lost(j->db)) {
        /* Nothing to retry: the file is gone. Keep (and count) until exit. */
        if (!j->failing_since_ms) {
            snprintf(j->error, sizeof(j->error), "%s", pol_db_errmsg(j->db));
            failed(j, t0);
        }
        return 0;
    }
    waited = j->n;
    pol_db_set_busy_timeout(j->db, 0);
    while (j->n > 0) {
        if (write_batch(j) < 0) {
            pol_db_set_busy_timeout(j->db, JOURNAL_BUSY_MS);
            failed(j, t0);
            return 0;
        }
        if (j->failing_since_ms) {
            se_info("sessions: the database takes writes again after %.1fs; writing the %zu "
                    "events that waited",
                    (double)(mono_ms() - j->failing_since_ms) / 1000, waited);
            j->failing_since_ms = 0;
        }
        j->backoff_ms = 0;
        j->next_try_ms = 0;
        j->error[0] = '\0';
        if (mono_ms() - t0 >= JOURNAL_BUDGET_MS)
            break;
    }
    pol_db_set_busy_timeout(j->db, JOURNAL_BUSY_MS);
    return j->n > 0;
}

void serve_journal_close(struct serve_journal *j, struct relay_server *srv, int wait_ms)
{
    if (!j)
        return;
    take(j, srv);
    if (j->n > 0 && !pol_db_lost(j->db)) {
        pol_db_set_busy_timeout(j->db, wait_ms);
        while (j->n > 0 && write_batch(j) == 0)
            ;
    }
    if (j->n > 0) {
        j->dropped += j->n;
        se_err_log("sessions: %zu session events could not be written (%s) and are lost "
                   "(%llu lost in all)",
                   j->n, j->error[0] ? j->error : pol_db_errmsg(j->db),
                   (unsigned long long)j->dropped);
    }
    for (size_t i = 0; i < j->n; i++)
        free(at(j, i)->e);
    free(j->ev);
    free(j);
}

void serve_journal_stats(const struct serve_journal *j, struct serve_journal_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!j)
        return;
    out->pending = j->n;
    out->dropped = j->dropped;
    out->written = j->written;
    out->write_errors = j->write_errors;
    out->failing_ms = j->failing_since_ms ? mono_ms() - j->failing_since_ms : 0;
}

const char *serve_journal_error(const struct serve_journal *j)
{
    return j ? j->error : "";
}
