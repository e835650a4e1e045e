/*
 * listen.c - the API's HTTPS listeners and their connections.
 *
 * There is one listener on api.address and, with api.management, a
 * second one with its own connection budget for admin endpoints and
 * /metrics. Each is an evhttp of its own (evhttp's accept hook and
 * request callback are per evhttp), both on the control thread's loop
 * and sharing one TLS context.
 *
 * libevent 2.1's evhttp has no connection limit, so each accepted socket
 * gets an SSL object whose ex_data free hook counts the connection out
 * when evhttp frees it, however it ends. Past max_conns a listener keeps
 * accepting API_PROBE_RESERVE more connections, marked reserve: they
 * have API_PROBE_DEADLINE_MS to deliver one request, only /healthz and
 * /readyz are served on them (http.c answers anything else 503 "busy"),
 * and they close after that answer. So a listener full of idle or slow
 * clients still answers a health check at once; only when the reserve
 * is full too does it pause accepting (the kernel backlog holds
 * newcomers) until a connection closes.
 *
 * evhttp closes connections idle past api.timeout, but its timer
 * restarts with every byte: a once-a-second sweep also closes
 * connections that have not delivered a complete request by their
 * deadline (api.timeout after accept or after the previous request), so
 * a client dripping bytes cannot hold a slot. A connection streaming a
 * response (a recording's file or export, stream.c) has no request
 * deadline until the stream ends; evhttp's write timeout still applies.
 */
#include "api/api_internal.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int ssl_conn_idx = -1;

/* One accepted connection; freed by the SSL ex_data hook. */
struct api_conn {
    struct api_listener *l;
    struct bufferevent *bev;
    int64_t deadline_ms;
    bool reserve;   /* accepted past max_conns: probes only */
    bool streaming; /* a response body is being streamed: no request deadline */
    struct api_conn *prev, *next;
};

int64_t api_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct api_conn *c = ptr;
    struct api_listener *l;

    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (!c)
        return;
    l = c->l;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conn_list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    if (l->conns > 0)
        l->conns--;
    if (l->paused && !l->api->closing && l->conns < l->max_conns + API_PROBE_RESERVE) {
        l->paused = false;
        evconnlistener_enable(l->lis);
    }
}

static struct api_conn *conn_of(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = req ? evhttp_request_get_connection(req) : NULL;
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

    return ssl ? SSL_get_ex_data(ssl, ssl_conn_idx) : NULL;
}

bool api_conn_reserved(struct evhttp_request *req)
{
    struct api_conn *c = conn_of(req);
    return c && c->reserve;
}

void api_conn_answered(struct evhttp_request *req)
{
    struct api_conn *c = conn_of(req);

    if (c) /* the next request gets api.timeout from now */
        c->deadline_ms = api_now_ms() + (int64_t)c->l->api->conf.timeout * 1000;
}

void api_conn_streaming(struct evhttp_request *req, bool on)
{
    struct api_conn *c = conn_of(req);

    if (c) {
        c->streaming = on;
        if (!on)
            c->deadline_ms = api_now_ms() + (int64_t)c->l->api->conf.timeout * 1000;
    }
}

void api_conn_abort(struct evhttp_request *req)
{
    struct api_conn *c = conn_of(req);

    if (c && c->bev) /* evhttp frees the connection on this event, as on a timeout */
        bufferevent_trigger_event(c->bev, BEV_EVENT_WRITING | BEV_EVENT_ERROR, 0);
}

static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
    struct api_listener *l = arg;
    struct api_server *api = l->api;
    SSL *ssl = SSL_new(api->tls);
    struct api_conn *c = calloc(1, sizeof(*c));
    struct bufferevent *bev;

    /* Without an SSL object evhttp would fall back to a plain socket;
     * on_request() refuses to serve such a connection. */
    if (!ssl || !c) {
        SSL_free(ssl);
        free(c);
        return NULL;
    }
    c->l = l;
    c->reserve = l->conns >= l->max_conns;
    c->deadline_ms = api_now_ms() + (c->reserve ? API_PROBE_DEADLINE_MS
                                                : (int64_t)api->conf.timeout * 1000);
    c->next = l->conn_list;
    if (c->next)
        c->next->prev = c;
    l->conn_list = c;
    SSL_set_ex_data(ssl, ssl_conn_idx, c); /* from here SSL_free() frees c */
    if (++l->conns == l->max_conns) {
        se_warn("api: %u connections open on the %s listener (its limit): further ones are "
                "served health checks only",
                l->conns, l->management ? "management" : "public");
        api->ctr.accept_paused++;
    }
    /* Backpressure: with the reserve full too, stop accepting; the kernel
     * backlog holds (and past it drops) new connections until one closes. */
    if (l->conns >= l->max_conns + API_PROBE_RESERVE && l->lis && !l->paused) {
        l->paused = true;
        evconnlistener_disable(l->lis);
    }
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    c->bev = bev;
    return bev;
}

/* Once a second: close connections past their request deadline, the way
 * evhttp's own timeout does (it frees the connection on this event). */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    static struct se_log_rl rl;
    struct api_listener *l = arg;
    int64_t now = api_now_ms();

    (void)fd;
    (void)what;
    for (struct api_conn *c = l->conn_list, *next; c; c = next) {
        next = c->next; /* the trigger below may free c */
        if (c->streaming || c->deadline_ms > now || !c->bev)
            continue;
        l->api->ctr.slow_closed++;
        se_log_rl(&rl, SE_LOG_INFO, "api: closing a connection that sent no complete request "
                                    "within api.timeout");
        c->deadline_ms = INT64_MAX;
        bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
    }
}

void api_listener_limits(struct api_listener *l, const struct se_api_config *a)
{
    if (!l->http)
        return;
    evhttp_set_max_body_size(l->http, (ev_ssize_t)a->max_body * API_BODY_HARD_FACTOR);
    evhttp_set_max_headers_size(l->http, a->max_headers);
    evhttp_set_timeout(l->http, (int)a->timeout);
}

int api_listener_open(struct api_listener *l, struct api_server *api, bool management,
                      const struct se_addr *addr, unsigned max_conns,
                      void (*on_request)(struct evhttp_request *, void *), char *err,
                      size_t errlen)
{
    struct evhttp_bound_socket *bound;
    char as[SE_ADDR_STRLEN], ip[SE_ADDR_STRLEN];
    struct timeval one_s = {1, 0};

    memset(l, 0, sizeof(*l));
    l->api = api;
    l->management = management;
    l->max_conns = max_conns;
    if (ssl_conn_idx < 0)
        ssl_conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone);
    if (ssl_conn_idx < 0 || !(l->http = evhttp_new(api->base)) ||
        !(l->sweep_ev = event_new(api->base, -1, EV_PERSIST, sweep_cb, l)) ||
        event_add(l->sweep_ev, &one_s) < 0) {
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    api_listener_limits(l, &api->conf);
    evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_bevcb(l->http, bev_cb, l);
    evhttp_set_gencb(l->http, on_request, l);
    bound = evhttp_bind_socket_with_handle(l->http, se_addr_ip_str(addr, ip, sizeof(ip)),
                                           addr->port);
    if (!bound || !(l->lis = evhttp_bound_socket_get_listener(bound))) {
        snprintf(err, errlen, "api: cannot listen on %s%s: %s", se_addr_str(addr, as, sizeof(as)),
                 management ? " (api.management)" : "", strerror(errno));
        return SE_ERR_IO;
    }
    /* Accepted sockets inherit it (Linux): replies are small and written
     * in pieces, and Nagle + delayed ACK would add 40 ms to each. */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

void api_listener_close(struct api_listener *l)
{
    if (l->sweep_ev)
        event_free(l->sweep_ev);
    if (l->http)
        evhttp_free(l->http); /* frees connections: conn_gone() still sees l */
    l->sweep_ev = NULL;
    l->http = NULL;
    l->lis = NULL;
}
