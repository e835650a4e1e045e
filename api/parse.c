/*
 * parse.c - the API's pure request parsers: Authorization headers, the
 * body's media type, JSON bodies, route patterns, CORS origins, query
 * strings.
 *
 * Each is a bounded reader over caller-owned text with no I/O, so the
 * fuzz target can drive them directly. Anything not exactly in the
 * expected form is refused rather than repaired.
 */
#include "api/api_internal.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard padded base64 (RFC 4648 §4). Returns the length or -1. */
static int b64_decode(const char *in, size_t len, char *out, size_t outlen)
{
    size_t o = 0;

    if (len == 0 || len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            if (in[i + j] == '=' && i + 4 == len && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = b64_val(in[i + j])) < 0) {
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        if (o + 3 - (size_t)pad >= outlen)
            return -1;
        out[o++] = (char)(w >> 16);
        if (pad < 2)
            out[o++] = (char)(w >> 8);
        if (pad < 1)
            out[o++] = (char)w;
    }
    out[o] = '\0';
    return (int)o;
}

int api_parse_basic(const char *hdr, char *user, size_t ulen, char *pw, size_t plen)
{
    char buf[512];
    const char *colon;
    int n;

    if (!hdr || strncasecmp(hdr, "Basic ", 6) != 0)
        return SE_ERR_PARSE;
    hdr += 6;
    while (*hdr == ' ')
        hdr++;
    if ((n = b64_decode(hdr, strlen(hdr), buf, sizeof(buf))) <= 0 ||
        memchr(buf, '\0', (size_t)n) || !(colon = memchr(buf, ':', (size_t)n)))
        return SE_ERR_PARSE;
    size_t u = (size_t)(colon - buf), p = (size_t)n - u - 1;
    if (u == 0 || u >= ulen || p >= plen)
        return SE_ERR_PARSE;
    memcpy(user, buf, u);
    user[u] = '\0';
    memcpy(pw, colon + 1, p);
    pw[p] = '\0';
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

int api_parse_bearer(const char *hdr, const char **tok, size_t *len)
{
    if (!hdr || strncasecmp(hdr, "Bearer ", 7) != 0)
        return SE_ERR_PARSE;
    hdr += 7;
    while (*hdr == ' ')
        hdr++;
    size_t n = strlen(hdr);
    while (n > 0 && hdr[n - 1] == ' ')
        n--;
    if (n == 0)
        return SE_ERR_PARSE;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)hdr[i] <= ' ' || (unsigned char)hdr[i] >= 0x7f)
            return SE_ERR_PARSE;
    *tok = hdr;
    *len = n;
    return 0;
}

json_t *api_json_object(const char *body, size_t len, char *why, size_t whylen)
{
    json_error_t e;
    json_t *o;

    if (len == 0) {
        snprintf(why, whylen, "empty body, expected a JSON object");
        return NULL;
    }
    /* jansson refuses trailing garbage unless told otherwise; NUL bytes
     * inside strings stay refused (JSON_ALLOW_NUL is not given). */
    o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!o) {
        snprintf(why, whylen, "malformed JSON at line %d column %d: %s", e.line, e.column,
                 e.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        snprintf(why, whylen, "expected a JSON object");
        return NULL;
    }
    return o;
}

bool api_path_match(const char *pattern, const char *path, char params[][API_PARAM_MAX])
{
    int np = 0;

    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= API_PARAM_MAX || np >= API_MAX_PARAMS)
                return false;
            memcpy(params[np], path, n);
            params[np][n] = '\0';
            np++;
            path += n;
            pattern++;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

bool api_cors_allowed(const struct se_api_config *c, const char *origin)
{
    size_t olen = strlen(origin);

    if (olen == 0 || olen >= 256)
        return false;
    for (int i = 0; i < c->n_cors; i++) {
        const char *pat = c->cors[i];
        size_t plen = strlen(pat);
        if (plen > 0 && pat[plen - 1] == '*') {
            /* "chrome-extension:" + "//" + star: any non-empty rest without a path */
            if (olen > plen - 1 && strncmp(origin, pat, plen - 1) == 0 &&
                !strchr(origin + plen - 1, '/'))
                return true;
        } else if (strcasecmp(origin, pat) == 0) {
            return true;
        }
    }
    return false;
}

/* RFC 9110 §5.6.2 tchar. */
static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* token: the end of it, or NULL if empty. */
static const char *token(const char *p)
{
    const char *s = p;
    while (tchar(*p))
        p++;
    return p > s ? p : NULL;
}

bool api_media_type_json(const char *ct)
{
    static const char json[] = "application/json";
    const char *p;

    if (!ct)
        return false;
    p = ows(ct);
    if (strncasecmp(p, json, sizeof(json) - 1) != 0)
        return false;
    p = ows(p + sizeof(json) - 1);
    /* parameters = *( OWS ";" OWS [ parameter ] ), RFC 9110 §5.6.6 */
    while (*p == ';') {
        p = ows(p + 1);
        if (*p == ';' || *p == '\0')
            continue;
        const char *name = p, *e = token(p);
        if (!e || *e != '=')
            return false;
        bool charset = (size_t)(e - name) == 7 && strncasecmp(name, "charset", 7) == 0;
        p = e + 1;
        const char *v = p;
        size_t vlen;
        if (*p == '"') { /* quoted-string */
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && !*++p)
                    return false;
            if (*p != '"')
                return false;
            v++;
            vlen = (size_t)(p - v);
            p++;
        } else if ((e = token(p))) {
            vlen = (size_t)(e - p);
            p = e;
        } else {
            return false;
        }
        /* JSON is UTF-8 (RFC 8259 §8.1): any other charset is a mistake. */
        if (charset && !(vlen == 5 && strncasecmp(v, "utf-8", 5) == 0))
            return false;
        p = ows(p);
    }
    return *p == '\0';
}

bool api_user_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n >= API_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        /* ':' separates REST username fields; control bytes confuse logs */
        if (c == ':' || c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

int api_query_get(const char *query, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);

    while (query && *query) {
        size_t n = strcspn(query, "&");
        if (n > klen && strncmp(query, key, klen) == 0 && query[klen] == '=') {
            size_t v = n - klen - 1;
            if (v >= outlen)
                return SE_ERR_TOOBIG;
            memcpy(out, query + klen + 1, v);
            out[v] = '\0';
            return 0;
        }
        query += n;
        if (*query == '&')
            query++;
    }
    return SE_ERR_NOTFOUND;
}

json_t *api_json_str(const char *s)
{
    json_t *j;
    char *m;

    if (!s)
        return json_null();
    if ((j = json_string(s)))
        return j;
    if (!(m = strdup(s)))
        return NULL;
    for (char *p = m; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
            *p = '?';
    j = json_string(m);
    free(m);
    return j;
}

/* Digits of a byte position (at most 18: no overflow). -1 if none. */
static int64_t range_pos(const char **p)
{
    int64_t v = 0;
    int n = 0;

    while (**p >= '0' && **p <= '9') {
        if (++n > 18)
            return -2;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return n ? v : -1;
}

int api_parse_range(const char *hdr, uint64_t size, uint64_t *start, uint64_t *end)
{
    const char *p;
    int64_t a, b;

    if (!hdr || strncasecmp(hdr, "bytes=", 6) != 0)
        return SE_ERR_NOTFOUND; /* another unit: RFC 9110 §14.2 says ignore it */
    p = hdr + 6;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strchr(p, ','))
        return SE_ERR_NOTFOUND; /* several ranges: the whole body instead */
    if (*p == '-') { /* the last N bytes */
        p++;
        if ((b = range_pos(&p)) < 0)
            return SE_ERR_PARSE;
        a = -1;
    } else {
        if ((a = range_pos(&p)) < 0 || *p++ != '-')
            return SE_ERR_PARSE;
        b = range_pos(&p);
        if (b == -2)
            return SE_ERR_PARSE;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p)
        return SE_ERR_PARSE;
    if (a < 0) { /* suffix */
        if (b == 0 || size == 0)
            return SE_ERR_LIMIT;
        *start = (uint64_t)b >= size ? 0 : size - (uint64_t)b;
        *end = size - 1;
        return 0;
    }
    if (b >= 0 && b < a)
        return SE_ERR_PARSE;
    if ((uint64_t)a >= size)
        return SE_ERR_LIMIT;
    *start = (uint64_t)a;
    *end = b < 0 || (uint64_t)b >= size ? size - 1 : (uint64_t)b;
    return 0;
}
