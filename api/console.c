/*
 * console.c - the compliance console at /console/: four static files
 * (api/console/) built into the binary with the assembler's .incbin, so
 * sedge ships them with no install step and no build step beyond the
 * compiler (no internet, no bundler).
 *
 * The page needs no token to load; it asks for one and calls the JSON
 * API with it. Its responses carry a Content-Security-Policy that allows
 * only sedge's own origin (scripts, styles, media, fetches) and no
 * framing, so nothing from the catalog can run as code in the page.
 */
#include "api/api_internal.h"

#include <event2/http.h>
#include <string.h>

/* Each file: its bytes between <sym> and <sym>_end, in .rodata. */
#define CONSOLE_FILE(sym, path)                                                                    \
    __asm__(".section .rodata\n"                                                                  \
            ".balign 16\n"                                                                          \
            ".global " #sym "\n" #sym ":\n"                                                         \
            ".incbin \"" path "\"\n"                                                                \
            ".global " #sym "_end\n" #sym "_end:\n"                                                 \
            ".byte 0\n"                                                                             \
            ".previous\n");                                                                         \
    extern const char sym[], sym##_end[]

CONSOLE_FILE(se_console_index_html, "api/console/index.html");
CONSOLE_FILE(se_console_js, "api/console/console.js");
CONSOLE_FILE(se_console_css, "api/console/console.css");
CONSOLE_FILE(se_console_icon, "api/console/favicon.svg");

static const struct {
    const char *name, *type;
    const char *start, *end;
} files[] = {
    {"index.html", "text/html; charset=utf-8", se_console_index_html, se_console_index_html_end},
    {"console.js", "text/javascript; charset=utf-8", se_console_js, se_console_js_end},
    {"console.css", "text/css; charset=utf-8", se_console_css, se_console_css_end},
    {"favicon.svg", "image/svg+xml", se_console_icon, se_console_icon_end},
};

void api_h_console(struct api_req *r)
{
    const char *name = r->params[0][0] ? r->params[0] : "index.html";
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    if (!strcmp(r->path, "/console")) { /* relative links need the slash */
        evhttp_add_header(h, "Location", "/console/");
        api_reply_json(r, 301, json_pack("{s:s}", "location", "/console/"));
        return;
    }
    if (!strcmp(r->path, "/console/"))
        name = "index.html";
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (strcmp(name, files[i].name) != 0)
            continue;
        evhttp_add_header(h, "Content-Security-Policy",
                          "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "media-src 'self'; connect-src 'self'; img-src 'self'; "
                          "form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
        evhttp_add_header(h, "Referrer-Policy", "no-referrer");
        evhttp_add_header(h, "X-Frame-Options", "DENY");
        api_reply_text(r, 200, files[i].type, files[i].start,
                       (size_t)(files[i].end - files[i].start));
        return;
    }
    api_reply_error(r, 404, "not_found", "no such console file: %.64s", name);
}
