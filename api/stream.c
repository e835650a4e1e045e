/*
 * stream.c - sending a large body (a recording's file, an export archive)
 * from disk with backpressure, then auditing what was sent.
 *
 * The body is a list of parts (record/export.h): bytes in memory or a
 * range of an open file. The stream reads at most API_STREAM_CHUNK bytes,
 * hands them to evhttp and asks to be called back when they have left
 * the connection's output buffer; only then does it read the next chunk.
 * So a download costs one chunk of memory however large the file and
 * however slow the client, and never loads a whole file. The files were
 * opened before the first byte was sent, so a purge that removes them
 * meanwhile does not cut the body short.
 *
 * Ends: all sent (evhttp_send_reply_end), the client went away (the
 * connection's close callback: evhttp may have detached the request, in
 * which case ending it frees it), or a read failed (the connection is
 * dropped: the client sees a short body, never wrong bytes). Each end
 * writes one audit row with the bytes actually handed to the connection.
 */
#include "api/api_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"
#include "record/export.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { API_STREAM_CHUNK = 256 * 1024, API_STREAM_READ = 64 * 1024 };

struct api_stream {
    struct api_server *api;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct rec_export x; /* the parts; owned */
    size_t part;
    uint64_t part_off, sent;
    int status;
    char actor[128], action[32], object[80], detail[320];
};

static void stream_end(struct api_stream *s, const char *how)
{
    char detail[480];
    int rc;

    snprintf(detail, sizeof(detail), "%s status=%d bytes=%llu%s%s", s->detail, s->status,
             (unsigned long long)s->sent, how ? " " : "", how ? how : "");
    pol_db_set_actor(s->api->db, s->actor);
    rc = pol_db_audit(s->api->db, s->action, s->object, detail);
    pol_db_set_actor(s->api->db, "serve");
    if (rc < 0)
        se_err_log("api: cannot write the audit row for %s %s by %s", s->action, s->object,
                   s->actor);
    rec_export_free(&s->x);
    free(s);
}

/* The connection closed before the body was sent. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct api_stream *s = arg;

    (void)evcon;
    evhttp_connection_set_closecb(s->evcon, NULL, NULL);
    /* A request evhttp detached (EOF, timeout) is ours to end, which frees
     * it; one still attached is freed with the connection. */
    if (evhttp_request_get_connection(s->req) == NULL)
        evhttp_send_reply_end(s->req);
    stream_end(s, "aborted=client");
}

static void on_sent(struct evhttp_connection *evcon, void *arg);

/* Read the next chunk into an evbuffer. 1: more follows, 0: done, <0: error. */
static int fill(struct api_stream *s, struct evbuffer *b)
{
    size_t got = 0;

    while (got < API_STREAM_CHUNK && s->part < s->x.n) {
        const struct rec_export_part *p = &s->x.parts[s->part];
        uint64_t left = p->len - s->part_off;
        size_t want =
            left < (uint64_t)(API_STREAM_CHUNK - got) ? (size_t)left : API_STREAM_CHUNK - got;
        if (p->blob) {
            if (evbuffer_add(b, p->blob + s->part_off, want) < 0)
                return SE_ERR_NOMEM;
        } else {
            uint8_t tmp[API_STREAM_READ];
            if (want > sizeof(tmp))
                want = sizeof(tmp);
            ssize_t r = pread(p->fd, tmp, want, (off_t)(p->off + s->part_off));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) /* the file shrank or failed under us */
                return SE_ERR_IO;
            want = (size_t)r;
            if (evbuffer_add(b, tmp, want) < 0)
                return SE_ERR_NOMEM;
        }
        got += want;
        s->part_off += want;
        if (s->part_off == p->len) {
            s->part++;
            s->part_off = 0;
        }
    }
    s->sent += got;
    return got > 0;
}

static void send_more(struct api_stream *s)
{
    struct evbuffer *b = evbuffer_new();
    int r = b ? fill(s, b) : SE_ERR_NOMEM;

    if (r > 0) {
        evhttp_send_reply_chunk_with_cb(s->req, b, on_sent, s);
        evbuffer_free(b);
        return;
    }
    evbuffer_free(b);
    evhttp_connection_set_closecb(s->evcon, NULL, NULL);
    api_conn_streaming(s->req, false);
    if (r == 0) {
        evhttp_send_reply_end(s->req);
        stream_end(s, NULL);
        return;
    }
    se_err_log("api: %s %s: reading failed after %llu bytes; dropping the connection", s->action,
               s->object, (unsigned long long)s->sent);
    struct evhttp_request *req = s->req;
    stream_end(s, "aborted=read_error");
    /* The body cannot be completed: drop the connection (the client sees
     * a short body). evhttp detaches the unfinished request, ours to end. */
    api_conn_abort(req);
    if (evhttp_request_get_connection(req) == NULL)
        evhttp_send_reply_end(req);
}

static void on_sent(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    send_more(arg);
}

void api_stream_start(struct api_req *r, int status, struct rec_export *x, const char *action,
                      const char *object, const char *detail)
{
    struct api_stream *s = calloc(1, sizeof(*s));

    if (!s) {
        rec_export_free(x);
        api_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    s->api = r->api;
    s->req = r->req;
    s->evcon = evhttp_request_get_connection(r->req);
    s->x = *x;
    memset(x, 0, sizeof(*x));
    s->status = status;
    snprintf(s->actor, sizeof(s->actor), "%s", r->actor);
    snprintf(s->action, sizeof(s->action), "%s", action);
    snprintf(s->object, sizeof(s->object), "%s", object);
    snprintf(s->detail, sizeof(s->detail), "%s", detail);
    char len[32];
    snprintf(len, sizeof(len), "%llu", (unsigned long long)s->x.total);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Length", len);
    api_reply_start(r, status);
    if (!s->evcon) {
        evhttp_send_reply_end(r->req);
        stream_end(s, "aborted=no_connection");
        return;
    }
    api_conn_streaming(r->req, true);
    evhttp_connection_set_closecb(s->evcon, on_close, s);
    send_more(s);
}
