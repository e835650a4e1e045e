/*
 * server.c - the anchor's threads, session table, limits and the calls
 * the control thread makes (see anchor.h).
 *
 * Design: each anchor thread runs a GLib main loop on its own context;
 * a session is placed on the thread with the fewest sessions and stays
 * there, both legs together, so forwarding from one leg to the other
 * never crosses a thread. The control thread parses and rewrites the
 * descriptions (pure work, sdp.c) and hands the session work to its
 * thread as a job it waits for (anchor_call): the thread never waits for
 * the control thread, so the two cannot deadlock, and a job the thread
 * does not take in time is abandoned, never half-run.
 *
 * Limits are checked before any parsing or allocation: anchor.max_sessions
 * in all and anchor.max_sessions_per_user, counted from creation until the
 * session has left its thread. Events to the control thread go through a
 * bounded queue; a full queue drops and counts.
 */
#include "relay/anchor/internal.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/queue.h"
#include "relay/anchor/session.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CALL_QUEUED = 0, CALL_RUNNING = 1, CALL_DONE = 2, CALL_ABANDONED = 3 };

int64_t anchor_now_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

void anchor_config_from(const struct se_config *cfg, struct anchor_config *out)
{
    const struct se_anchor_config *a = &cfg->anchor;

    memset(out, 0, sizeof(*out));
    se_addr_ip_str(&a->inside, out->inside, sizeof(out->inside));
    se_addr_ip_str(&a->outside, out->outside, sizeof(out->outside));
    se_addr_ip_str(&a->inside_adv, out->inside_adv, sizeof(out->inside_adv));
    se_addr_ip_str(&a->outside_adv, out->outside_adv, sizeof(out->outside_adv));
    out->min_port = a->min_port;
    out->max_port = a->max_port;
    out->max_sessions = a->max_sessions;
    out->max_sessions_per_user = a->max_sessions_per_user;
    out->setup_timeout = a->setup_timeout;
    out->threads = a->threads;
    out->session_update = cfg->session_update;
    out->rec_end_required = se_config_rec_end_call(cfg, true);
    out->rec_end_optional = se_config_rec_end_call(cfg, false);
}

/* ---- jobs ---- */

struct call {
    atomic_int refs;
    GMutex mu;
    GCond cv;
    int state;
    int rc;
    struct anchor_session *s;
    anchor_job_fn fn;
    void *arg;
};

static void call_unref(struct call *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    g_mutex_clear(&c->mu);
    g_cond_clear(&c->cv);
    anchor_session_unref(c->s);
    free(c);
}

static gboolean call_run(gpointer p)
{
    struct call *c = p;

    g_mutex_lock(&c->mu);
    if (c->state == CALL_ABANDONED) {
        g_mutex_unlock(&c->mu);
        return G_SOURCE_REMOVE;
    }
    c->state = CALL_RUNNING;
    g_mutex_unlock(&c->mu);
    int rc = c->s->ending ? SE_ERR_NOTFOUND : c->fn(c->s, c->arg);
    g_mutex_lock(&c->mu);
    c->rc = rc;
    c->state = CALL_DONE;
    g_cond_signal(&c->cv);
    g_mutex_unlock(&c->mu);
    return G_SOURCE_REMOVE;
}

static void call_free_cb(gpointer p)
{
    call_unref(p);
}

int anchor_call(struct anchor_session *s, anchor_job_fn fn, void *arg)
{
    struct call *c = calloc(1, sizeof(*c));
    int rc;

    if (!c)
        return SE_ERR_NOMEM;
    atomic_init(&c->refs, 2);
    g_mutex_init(&c->mu);
    g_cond_init(&c->cv);
    anchor_session_ref(s);
    c->s = s;
    c->fn = fn;
    c->arg = arg;
    GSource *src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_HIGH); /* before the next packets */
    g_source_set_callback(src, call_run, c, call_free_cb);
    g_source_attach(src, s->t->ctx);
    g_source_unref(src);

    gint64 deadline = g_get_monotonic_time() + (gint64)ANCHOR_CALL_TIMEOUT_MS * 1000;
    g_mutex_lock(&c->mu);
    while (c->state == CALL_QUEUED)
        if (!g_cond_wait_until(&c->cv, &c->mu, deadline) && c->state == CALL_QUEUED) {
            c->state = CALL_ABANDONED;
            break;
        }
    while (c->state == CALL_RUNNING) /* a job runs to its end: never half-done */
        g_cond_wait(&c->cv, &c->mu);
    rc = c->state == CALL_DONE ? c->rc : SE_ERR_AGAIN;
    g_mutex_unlock(&c->mu);
    if (rc == SE_ERR_AGAIN)
        se_warn("anchor: thread %d did not take a job within %d ms (overloaded?)", s->t->index,
                ANCHOR_CALL_TIMEOUT_MS);
    call_unref(c);
    return rc;
}

/* ---- sessions ---- */

void anchor_session_ref(struct anchor_session *s)
{
    atomic_fetch_add(&s->refs, 1);
}

void anchor_session_unref(struct anchor_session *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    anchor_sdp_free(s->ctl_offer);
    free(s->ctl_desc[0]);
    free(s->ctl_desc[1]);
    free(s);
}

/* Count a new session against the limits. 0, SE_ERR_LIMIT or SE_ERR_FULL. */
static int reserve(struct anchor_server *a, const char *user)
{
    int rc = 0;

    g_mutex_lock(&a->lock);
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(a->per_user, user));
    if (a->n_live >= a->conf.max_sessions)
        rc = SE_ERR_LIMIT;
    else if (n >= a->conf.max_sessions_per_user)
        rc = SE_ERR_FULL;
    else {
        a->n_live++;
        g_hash_table_replace(a->per_user, g_strdup(user), GUINT_TO_POINTER(n + 1));
    }
    g_mutex_unlock(&a->lock);
    if (rc)
        atomic_fetch_add(&a->refused, 1);
    return rc;
}

static void release(struct anchor_server *a, const char *user)
{
    g_mutex_lock(&a->lock);
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(a->per_user, user));
    if (n <= 1)
        g_hash_table_remove(a->per_user, user);
    else
        g_hash_table_replace(a->per_user, g_strdup(user), GUINT_TO_POINTER(n - 1));
    if (a->n_live > 0)
        a->n_live--;
    g_mutex_unlock(&a->lock);
}

void anchor_forget(struct anchor_session *s)
{
    struct anchor_server *a = s->srv;
    bool counted;

    g_mutex_lock(&a->lock); /* with the removal: a scrape counts a call once */
    if (g_hash_table_lookup(a->table, s->id) == s) {
        for (int i = 0; i < 2; i++) {
            const struct anchor_leg *l = &s->leg[i];
            atomic_fetch_add(&a->gone_pkts_out, atomic_load(&l->pkts_out));
            atomic_fetch_add(&a->gone_auth_fail, atomic_load(&l->auth_fail));
            atomic_fetch_add(&a->gone_replay, atomic_load(&l->replay));
            atomic_fetch_add(&a->gone_dropped, atomic_load(&l->dropped));
        }
    }
    char user[ANCHOR_USER_MAX];
    snprintf(user, sizeof(user), "%s", s->user);
    counted = g_hash_table_remove(a->table, s->id); /* drops the table's reference */
    g_mutex_unlock(&a->lock);
    if (counted)
        release(a, user);
    atomic_fetch_add(&a->ended, 1);
}

/* The session id of user (any user when user is NULL), with a reference. */
static struct anchor_session *lookup(struct anchor_server *a, const char *id, const char *user)
{
    struct anchor_session *s;

    g_mutex_lock(&a->lock);
    s = g_hash_table_lookup(a->table, id);
    if (s && user && strcmp(s->user, user) != 0)
        s = NULL; /* someone else's: as if it did not exist */
    if (s)
        anchor_session_ref(s);
    g_mutex_unlock(&a->lock);
    return s;
}

static struct anchor_thread *pick_thread(struct anchor_server *a)
{
    struct anchor_thread *best = &a->threads[0];

    for (int i = 1; i < a->n_threads; i++)
        if (atomic_load(&a->threads[i].n_sessions) < atomic_load(&best->n_sessions))
            best = &a->threads[i];
    return best;
}

/* ---- events ---- */

void anchor_post(struct anchor_server *a, struct anchor_event *e)
{
    if (!e)
        return;
    if (se_queue_push(a->events, e) < 0) {
        static struct se_log_rl rl;
        atomic_fetch_add(&a->events_dropped, 1);
        se_log_rl(&rl, SE_LOG_WARN, "anchor: session event dropped: the control thread is behind");
        free(e);
        return;
    }
    if (a->notify)
        a->notify(a->notify_arg);
}

static void party(const struct anchor_leg *l, char *out, size_t len)
{
    if (l->remote_addr[0])
        snprintf(out, len, "udp:%s", l->remote_addr);
    else
        out[0] = 0;
}

struct anchor_event *anchor_event_new(struct anchor_session *s, int type, const char *reason)
{
    struct anchor_event *e = calloc(1, sizeof(*e));
    char a[SE_ADDR_STRLEN], b[SE_ADDR_STRLEN];

    if (!e)
        return NULL;
    e->type = type;
    snprintf(e->sid, sizeof(e->sid), "%s", s->id);
    e->at = type == ANCHOR_EV_START ? s->started_wall : (int64_t)time(NULL);
    snprintf(e->user, sizeof(e->user), "%s", s->user);
    snprintf(e->origin, sizeof(e->origin), "%s", s->origin);
    party(&s->leg[ANCHOR_INSIDE], e->inside, sizeof(e->inside));
    party(&s->leg[ANCHOR_OUTSIDE], e->outside, sizeof(e->outside));
    snprintf(e->local, sizeof(e->local), "%s,%s",
             se_addr_str(&s->leg[ANCHOR_INSIDE].local, a, sizeof(a)),
             se_addr_str(&s->leg[ANCHOR_OUTSIDE].local, b, sizeof(b)));
    e->rule_id = s->rule_id;
    snprintf(e->rule_name, sizeof(e->rule_name), "%s", s->rule_name);
    e->record = s->record;
    const struct anchor_leg *in = &s->leg[ANCHOR_INSIDE], *out = &s->leg[ANCHOR_OUTSIDE];
    e->in_bytes_from = atomic_load_explicit(&in->bytes_in, memory_order_relaxed);
    e->in_bytes_to = atomic_load_explicit(&in->bytes_out, memory_order_relaxed);
    e->in_pkts_from = atomic_load_explicit(&in->pkts_in, memory_order_relaxed);
    e->in_pkts_to = atomic_load_explicit(&in->pkts_out, memory_order_relaxed);
    e->out_bytes_from = atomic_load_explicit(&out->bytes_in, memory_order_relaxed);
    e->out_bytes_to = atomic_load_explicit(&out->bytes_out, memory_order_relaxed);
    e->out_pkts_from = atomic_load_explicit(&out->pkts_in, memory_order_relaxed);
    e->out_pkts_to = atomic_load_explicit(&out->pkts_out, memory_order_relaxed);
    if (s->rec)
        snprintf(e->recording, sizeof(e->recording), "%s", anchor_rec_id(s->rec));
    if (reason)
        snprintf(e->reason, sizeof(e->reason), "%s", reason);
    return e;
}

size_t anchor_take_events(struct anchor_server *a, struct anchor_event **out, size_t max)
{
    return a ? se_queue_pop(a->events, (void **)out, max) : 0;
}

/* ---- threads ---- */

static gboolean tick_cb(gpointer p)
{
    struct anchor_thread *t = p;
    int64_t now = anchor_now_ms();

    for (struct anchor_session *s = t->sessions, *next; s; s = next) {
        next = s->tnext;
        anchor_session_tick(s, now);
    }
    return G_SOURCE_CONTINUE;
}

static gpointer thread_main(gpointer p)
{
    struct anchor_thread *t = p;

    g_main_context_push_thread_default(t->ctx);
    g_main_loop_run(t->loop);
    g_main_context_pop_thread_default(t->ctx);
    return NULL;
}

static gboolean stop_cb(gpointer p)
{
    struct anchor_thread *t = p;

    while (t->sessions)
        anchor_session_teardown(t->sessions, "shutdown");
    g_main_loop_quit(t->loop);
    return G_SOURCE_REMOVE;
}

/* libnice and GLib log through g_log: into sedge's log, warnings kept. */
static void glib_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer arg)
{
    static struct se_log_rl rl;
    (void)arg;
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
        se_log_rl(&rl, SE_LOG_WARN, "%s: %s", domain ? domain : "glib", msg);
    else
        se_debug("%s: %s", domain ? domain : "glib", msg);
}

int anchor_server_new(const struct anchor_config *c, anchor_notify_fn notify, void *arg,
                      struct anchor_server **out, char *err, size_t errlen)
{
    struct anchor_server *a = calloc(1, sizeof(*a));
    int rc;

    *out = NULL;
    if (!a) {
        snprintf(err, errlen, "anchor: out of memory");
        return SE_ERR_NOMEM;
    }
    a->conf = *c;
    a->notify = notify;
    a->notify_arg = arg;
    g_mutex_init(&a->lock);
    g_log_set_handler("libnice", G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION,
                      glib_log, NULL);
    a->table = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                     (GDestroyNotify)anchor_session_unref);
    a->per_user = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    a->events = se_queue_new(ANCHOR_EVENT_QUEUE);
    if (!a->events) {
        snprintf(err, errlen, "anchor: out of memory");
        rc = SE_ERR_NOMEM;
        goto fail;
    }
    if ((rc = anchor_cert_new(&a->cert, err, errlen)) < 0 ||
        (rc = anchor_recorder_new(c, a, &a->recorder, err, errlen)) < 0)
        goto fail;
    a->n_threads = (int)(c->threads ? c->threads : 1);
    a->threads = calloc((size_t)a->n_threads, sizeof(*a->threads));
    if (!a->threads) {
        snprintf(err, errlen, "anchor: out of memory");
        rc = SE_ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < a->n_threads; i++) {
        struct anchor_thread *t = &a->threads[i];
        char name[32];
        t->srv = a;
        t->index = i;
        t->ctx = g_main_context_new();
        t->loop = g_main_loop_new(t->ctx, FALSE);
        t->tick = g_timeout_source_new(ANCHOR_TICK_MS);
        g_source_set_callback(t->tick, tick_cb, t, NULL);
        g_source_attach(t->tick, t->ctx);
        snprintf(name, sizeof(name), "sedge-anchor%d", i);
        t->thread = g_thread_new(name, thread_main, t);
    }
    se_info("anchor: inside %s%s%s, outside %s%s%s, ports %u-%u, %d thread%s, fingerprint %s, "
            "recording %s",
            c->inside, strcmp(c->inside, c->inside_adv) ? " advertised " : "",
            strcmp(c->inside, c->inside_adv) ? c->inside_adv : "", c->outside,
            strcmp(c->outside, c->outside_adv) ? " advertised " : "",
            strcmp(c->outside, c->outside_adv) ? c->outside_adv : "", c->min_port, c->max_port,
            a->n_threads, a->n_threads == 1 ? "" : "s", anchor_cert_fingerprint(a->cert),
            anchor_recorder_ready(a->recorder) ? anchor_recorder_dir(a->recorder)
                                               : "off (recording.dir not set)");
    *out = a;
    return 0;
fail:
    anchor_server_free(a);
    return rc;
}

void anchor_server_stop(struct anchor_server *a)
{
    if (!a || !a->threads)
        return;
    for (int i = 0; i < a->n_threads; i++) {
        struct anchor_thread *t = &a->threads[i];
        if (!t->thread)
            continue;
        GSource *src = g_idle_source_new();
        g_source_set_priority(src, G_PRIORITY_HIGH);
        g_source_set_callback(src, stop_cb, t, NULL);
        g_source_attach(src, t->ctx);
        g_source_unref(src);
        g_thread_join(t->thread);
        t->thread = NULL;
    }
    anchor_recorder_free(a->recorder); /* seals what is still open, posts their END */
    a->recorder = NULL;
}

void anchor_server_free(struct anchor_server *a)
{
    struct anchor_event *ev[64];
    size_t n;

    if (!a)
        return;
    anchor_server_stop(a);
    for (int i = 0; a->threads && i < a->n_threads; i++) {
        struct anchor_thread *t = &a->threads[i];
        if (t->tick) {
            g_source_destroy(t->tick);
            g_source_unref(t->tick);
        }
        if (t->loop)
            g_main_loop_unref(t->loop);
        if (t->ctx)
            g_main_context_unref(t->ctx);
    }
    free(a->threads);
    if (a->table)
        g_hash_table_destroy(a->table);
    if (a->per_user)
        g_hash_table_destroy(a->per_user);
    while (a->events && (n = se_queue_pop(a->events, (void **)ev, 64)) > 0)
        for (size_t i = 0; i < n; i++)
            free(ev[i]);
    se_queue_free(a->events);
    anchor_cert_free(a->cert);
    g_mutex_clear(&a->lock);
    free(a);
}

void anchor_server_reconfigure(struct anchor_server *a, const struct anchor_config *c)
{
    if (!a)
        return;
    g_mutex_lock(&a->lock);
    a->conf.max_sessions = c->max_sessions;
    a->conf.max_sessions_per_user = c->max_sessions_per_user;
    a->conf.setup_timeout = c->setup_timeout;
    a->conf.session_update = c->session_update;
    a->conf.rec_end_required = c->rec_end_required;
    a->conf.rec_end_optional = c->rec_end_optional;
    g_mutex_unlock(&a->lock);
}

bool anchor_can_record(const struct anchor_server *a)
{
    return a && anchor_recorder_ready(a->recorder);
}

const char *anchor_fingerprint(const struct anchor_server *a)
{
    return anchor_cert_fingerprint(a->cert);
}

void anchor_server_stats(struct anchor_server *a, struct anchor_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!a)
        return;
    out->pkts_out = atomic_load(&a->gone_pkts_out);
    out->auth_failures = atomic_load(&a->gone_auth_fail);
    out->replays = atomic_load(&a->gone_replay);
    out->dropped = atomic_load(&a->gone_dropped);
    g_mutex_lock(&a->lock);
    out->live = a->n_live;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, a->table);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        const struct anchor_session *s = v;
        for (int i = 0; i < 2; i++) {
            const struct anchor_leg *l = &s->leg[i];
            out->pkts_out += atomic_load_explicit(&l->pkts_out, memory_order_relaxed);
            out->auth_failures += atomic_load_explicit(&l->auth_fail, memory_order_relaxed);
            out->replays += atomic_load_explicit(&l->replay, memory_order_relaxed);
            out->dropped += atomic_load_explicit(&l->dropped, memory_order_relaxed);
        }
    }
    g_mutex_unlock(&a->lock);
    out->created = atomic_load(&a->created);
    out->refused = atomic_load(&a->refused);
    out->ended = atomic_load(&a->ended);
    out->events_dropped = atomic_load(&a->events_dropped);
}

/* ---- descriptions ---- */

/* Rewrite sdp for the party of the other side with sedge's transport d. */
static char *rewrite(const struct anchor_sdp *sdp, const struct anchor_desc *d, char *err,
                     size_t errlen)
{
    const char *cand[ANCHOR_LOCAL_CANDS];
    struct anchor_local l = {
        .ufrag = d->ufrag,
        .pwd = d->pwd,
        .fingerprint = d->fingerprint,
        .setup = d->setup,
        .addr = d->addr,
        .v6 = d->v6,
        .port = d->port,
        .cand = cand,
        .n_cand = d->n_cand,
    };
    for (int i = 0; i < d->n_cand; i++)
        cand[i] = d->cand[i];
    return anchor_sdp_rewrite(sdp, &l, err, errlen);
}

static void new_id(char *id)
{
    uint8_t r[12];

    if (RAND_bytes(r, sizeof(r)) != 1)
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (uint8_t)g_random_int();
    int o = snprintf(id, ANCHOR_ID_LEN, "an-");
    for (size_t i = 0; i < sizeof(r); i++)
        o += snprintf(id + o, (size_t)(ANCHOR_ID_LEN - o), "%02x", r[i]);
}

int anchor_create(struct anchor_server *a, const struct anchor_request *rq, char *id,
                  char **sdp_out, char *err, size_t errlen)
{
    struct anchor_transport *t = NULL;
    struct anchor_sdp *offer = NULL;
    struct anchor_session *s = NULL;
    struct anchor_desc d;
    int rc;

    *sdp_out = NULL;
    id[0] = 0;
    if (strlen(rq->user) >= ANCHOR_USER_MAX ||
        (rq->origin && strlen(rq->origin) >= ANCHOR_ORIGIN_MAX)) {
        snprintf(err, errlen, "user or origin too long");
        return SE_ERR_INVAL;
    }
    if ((rc = reserve(a, rq->user)) < 0) {
        snprintf(err, errlen, rc == SE_ERR_LIMIT ? "%u anchored calls in progress (anchor.max_sessions)"
                                                 : "%u anchored calls of this user in progress "
                                                   "(anchor.max_sessions_per_user)",
                 rc == SE_ERR_LIMIT ? a->conf.max_sessions : a->conf.max_sessions_per_user);
        return rc;
    }
    if (!(t = malloc(sizeof(*t))) || !(s = calloc(1, sizeof(*s)))) {
        snprintf(err, errlen, "out of memory");
        rc = SE_ERR_NOMEM;
        goto fail;
    }
    if ((rc = anchor_sdp_parse(rq->sdp, rq->sdp_len, &offer, t, err, errlen)) < 0)
        goto fail;
    atomic_init(&s->refs, 1); /* the table's */
    s->srv = a;
    s->t = pick_thread(a);
    new_id(s->id);
    snprintf(s->user, sizeof(s->user), "%s", rq->user);
    snprintf(s->origin, sizeof(s->origin), "%s", rq->origin ? rq->origin : "");
    if (rq->client)
        se_addr_ip_str(rq->client, s->api_client, sizeof(s->api_client));
    s->started_wall = (int64_t)time(NULL);
    s->rule_id = rq->rule_id;
    snprintf(s->rule_name, sizeof(s->rule_name), "%s", rq->rule_name ? rq->rule_name : "");
    s->record = rq->record;
    s->ctl_offer_side = -1;
    g_mutex_lock(&a->lock);
    g_hash_table_insert(a->table, s->id, s);
    s->ctl_counted = true;
    g_mutex_unlock(&a->lock);
    anchor_session_ref(s); /* ours: its thread may end it any time from now */

    struct anchor_create_job job = {.side = rq->side, .t = t, .out = &d};
    if ((rc = anchor_call(s, anchor_job_create, &job)) < 0) {
        snprintf(err, errlen, "%s", job.err[0] ? job.err : se_err(rc));
        anchor_forget(s); /* the job left nothing running */
        goto out;
    }
    if (!(*sdp_out = rewrite(offer, &d, err, errlen))) {
        anchor_kill(a, s->id, "cannot write the offer");
        rc = SE_ERR_NOMEM;
        goto out;
    }
    s->ctl_offer = offer;
    s->ctl_offer_side = rq->side;
    offer = NULL;
    memcpy(id, s->id, ANCHOR_ID_LEN);
    atomic_fetch_add(&a->created, 1);
    anchor_post(a, anchor_event_new(s, ANCHOR_EV_START, NULL));
    rc = 0;
    goto out;
fail:
    release(a, rq->user);
    free(s);
    s = NULL;
out:
    anchor_session_unref(s);
    free(t);
    anchor_sdp_free(offer);
    return rc;
}

/* A renegotiation of a recorded call changed its recordable streams (a
 * track added, a codec changed): the call's recording goes on in a new
 * one with the new streams, the old one is sealed. */
static void next_recording(struct anchor_server *a, struct anchor_session *s,
                           const char *const old[2])
{
    struct anchor_rec *rec = NULL;
    char err[256];

    if (!anchor_can_record(a) || anchor_rec_same_streams(old, (const char *const *)s->ctl_desc) ||
        anchor_call(s, anchor_job_recording, NULL) != 1)
        return;
    struct anchor_info *in = calloc(1, sizeof(*in));
    if (!in || anchor_call(s, anchor_job_info, in) < 0) {
        free(in);
        return;
    }
    char inside[80], outside[80];
    snprintf(inside, sizeof(inside), "udp:%s", in->leg[ANCHOR_INSIDE].remote);
    snprintf(outside, sizeof(outside), "udp:%s", in->leg[ANCHOR_OUTSIDE].remote);
    free(in);
    if (anchor_rec_open(a->recorder, s, (const char *const *)s->ctl_desc, inside, outside, &rec,
                        err, sizeof(err)) < 0) {
        char why[300];
        se_err_log("anchor: %s: cannot record the renegotiated streams: %s", s->id, err);
        snprintf(why, sizeof(why), "recording failed: %s", err);
        anchor_kill(a, s->id, why); /* fail closed */
        return;
    }
    if (anchor_call(s, anchor_job_swap, rec) < 0)
        anchor_rec_discard(a->recorder, rec);
}

static int describe(struct anchor_server *a, const char *id, const char *user, int side,
                    bool is_offer, const char *sdp, size_t len, char **sdp_out, char *err,
                    size_t errlen)
{
    struct anchor_session *s = lookup(a, id, user);
    struct anchor_transport *t = NULL;
    struct anchor_sdp *desc = NULL;
    struct anchor_desc d;
    int rc;

    *sdp_out = NULL;
    if (!s) {
        snprintf(err, errlen, "no anchored call %s", id);
        return SE_ERR_NOTFOUND;
    }
    if (!is_offer) {
        if (s->ctl_offer_side < 0) {
            snprintf(err, errlen, "no offer is waiting for an answer");
            rc = SE_ERR_INVAL;
            goto out;
        }
        side = !s->ctl_offer_side;
    } else if (s->ctl_offer_side >= 0) {
        snprintf(err, errlen, "the %s party's offer is still waiting for an answer",
                 s->ctl_offer_side == ANCHOR_INSIDE ? "inside" : "outside");
        rc = SE_ERR_INVAL;
        goto out;
    }
    if (!(t = malloc(sizeof(*t)))) {
        rc = SE_ERR_NOMEM;
        goto out;
    }
    if ((rc = anchor_sdp_parse(sdp, len, &desc, t, err, errlen)) < 0)
        goto out;
    if (!is_offer && (rc = anchor_sdp_answers(s->ctl_offer, desc, err, errlen)) < 0)
        goto out;
    if (!is_offer && t->setup == ANCHOR_SETUP_ACTPASS) {
        snprintf(err, errlen, "an answer must say a=setup:active or passive, not actpass");
        rc = SE_ERR_UNSUPP;
        goto out;
    }
    struct anchor_desc_job job = {.side = side, .is_offer = is_offer, .t = t, .out = &d};
    if ((rc = anchor_call(s, anchor_job_describe, &job)) < 0) {
        snprintf(err, errlen, "%s", job.err[0] ? job.err : se_err(rc));
        goto out;
    }
    if (!(*sdp_out = rewrite(desc, &d, err, errlen))) {
        rc = SE_ERR_NOMEM;
        goto out;
    }
    if (is_offer) {
        anchor_sdp_free(s->ctl_offer);
        s->ctl_offer = desc;
        s->ctl_offer_side = side;
        desc = NULL;
    } else {
        /* Both parties' descriptions of this exchange: the recorder's. */
        char *old[2] = {s->ctl_desc[0], s->ctl_desc[1]};
        s->ctl_desc[s->ctl_offer_side] = anchor_sdp_text(s->ctl_offer);
        s->ctl_desc[side] = anchor_sdp_text(desc);
        anchor_sdp_free(s->ctl_offer);
        s->ctl_offer = NULL;
        s->ctl_offer_side = -1;
        if (old[0] && old[1] && s->ctl_desc[0] && s->ctl_desc[1])
            next_recording(a, s, (const char *const *)old);
        free(old[0]);
        free(old[1]);
    }
    rc = 0;
out:
    free(t);
    anchor_sdp_free(desc);
    anchor_session_unref(s);
    return rc;
}

int anchor_answer(struct anchor_server *a, const char *id, const char *user, const char *sdp,
                  size_t len, char **sdp_out, char *err, size_t errlen)
{
    return describe(a, id, user, -1, false, sdp, len, sdp_out, err, errlen);
}

int anchor_offer(struct anchor_server *a, const char *id, const char *user, int side,
                 const char *sdp, size_t len, char **sdp_out, char *err, size_t errlen)
{
    return describe(a, id, user, side, true, sdp, len, sdp_out, err, errlen);
}

int anchor_candidate(struct anchor_server *a, const char *id, const char *user, int side,
                     const char *cand, const char *mid, char *err, size_t errlen)
{
    struct anchor_session *s = lookup(a, id, user);
    struct anchor_cand_job job = {.side = side, .cand = cand, .mid = mid};
    int rc;

    if (!s) {
        snprintf(err, errlen, "no anchored call %s", id);
        return SE_ERR_NOTFOUND;
    }
    rc = anchor_call(s, anchor_job_candidate, &job);
    if (rc < 0)
        snprintf(err, errlen, "%s", job.err[0] ? job.err : se_err(rc));
    anchor_session_unref(s);
    return rc;
}

int anchor_kill(struct anchor_server *a, const char *id, const char *reason)
{
    struct anchor_session *s = a ? lookup(a, id, NULL) : NULL;
    int rc;

    if (!s)
        return SE_ERR_NOTFOUND;
    rc = anchor_call(s, anchor_job_end, (void *)reason);
    anchor_session_unref(s);
    return rc;
}

int anchor_delete(struct anchor_server *a, const char *id, const char *user)
{
    struct anchor_session *s = lookup(a, id, user);
    int rc;

    if (!s)
        return SE_ERR_NOTFOUND;
    rc = anchor_call(s, anchor_job_end, (void *)"ended through the API");
    anchor_session_unref(s);
    return rc;
}

int anchor_get(struct anchor_server *a, const char *id, const char *user,
               struct anchor_info *out)
{
    struct anchor_session *s = lookup(a, id, user);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!s)
        return SE_ERR_NOTFOUND;
    rc = anchor_call(s, anchor_job_info, out);
    anchor_session_unref(s);
    return rc;
}

/* ---- policy ---- */

void anchor_recheck(struct anchor_server *a, anchor_policy_fn fn, void *arg)
{
    GPtrArray *all;

    if (!a || !fn)
        return;
    all = g_ptr_array_new();
    g_mutex_lock(&a->lock);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, a->table);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        anchor_session_ref(v);
        g_ptr_array_add(all, v);
    }
    g_mutex_unlock(&a->lock);
    for (guint i = 0; i < all->len; i++) {
        struct anchor_session *s = g_ptr_array_index(all, i);
        struct anchor_verdict vd = {.allow = true, .rule_name = ""};
        struct se_addr client, *cp = NULL;
        /* The inside party's address as the relay would see the client. */
        if (se_addr_parse_ip(&client, s->api_client, 0) == 0)
            cp = &client;
        fn(arg, s->user, s->origin[0] ? s->origin : NULL, cp, &vd);
        struct anchor_policy_job job = {.v = vd};
        anchor_call(s, anchor_job_policy, &job);
        anchor_session_unref(s);
    }
    g_ptr_array_free(all, TRUE);
}

void anchor_handle_event(struct anchor_server *a, const struct anchor_event *e)
{
    struct anchor_session *s;
    struct anchor_rec *rec = NULL;
    char err[256];

    if (!a || e->type != ANCHOR_EV_RECORD || !(s = lookup(a, e->sid, NULL)))
        return;
    if (!s->ctl_desc[0] || !s->ctl_desc[1]) {
        anchor_kill(a, s->id, "recording required but no description to record from");
    } else if (anchor_rec_open(a->recorder, s, (const char *const *)s->ctl_desc, e->inside,
                               e->outside, &rec, err, sizeof(err)) < 0) {
        se_err_log("anchor: %s: cannot record: %s", s->id, err);
        char why[300];
        snprintf(why, sizeof(why), "recording failed: %s", err);
        anchor_kill(a, s->id, why);
    } else if (anchor_call(s, anchor_job_attach, rec) < 0) {
        anchor_rec_discard(a->recorder, rec);
    }
    anchor_session_unref(s);
}
