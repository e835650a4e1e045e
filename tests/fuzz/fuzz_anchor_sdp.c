/*
 * fuzz_anchor_sdp.c - libFuzzer target for the descriptions a party hands
 * the anchor (relay/anchor/sdp.c): the whole input as one description,
 * checked and parsed; when it parses, its transport must be bounded, it
 * is rewritten with sedge's transport, and the rewrite must parse again
 * with sedge's transport in it (the other party will read it) and still
 * answer the original. max_len (tests/fuzz/anchor_sdp.options) is one byte
 * past ANCHOR_SDP_MAX, so the size bound itself is exercised; the seeds
 * are real Chromium and aiortc offers and descriptions near the bound.
 */
#include "core/err.h"
#include "core/log.h"
#include "relay/anchor/sdp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct anchor_transport t, t2;
    static const char *const cand[] = {
        "candidate:1 1 udp 2015363839 198.51.100.7 40001 typ host",
        "candidate:2 1 udp 2015363838 2001:db8::7 40001 typ host",
    };
    static const struct anchor_local l = {
        .ufrag = "Sedg",
        .pwd = "sedgesedgesedgesedge22",
        .fingerprint = "sha-256 01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:"
                       "11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20",
        .setup = ANCHOR_SETUP_ACTIVE,
        .addr = "198.51.100.7",
        .port = 40001,
        .cand = cand,
        .n_cand = 2,
    };
    struct anchor_sdp *s = NULL, *s2 = NULL;
    char err[256];

    se_log_set_level(SE_LOG_ERR);
    if (anchor_sdp_parse((const char *)data, size, &s, &t, err, sizeof(err)) != 0) {
        if (s)
            abort(); /* a refusal leaves nothing behind */
        return 0;
    }
    if (t.n_cand > ANCHOR_MAX_CANDS || t.n_fp < 1 || t.n_fp > ANCHOR_MAX_FP ||
        t.tag < 0 || t.tag >= t.n_mlines || t.n_mlines > ANCHOR_MAX_MLINES ||
        strlen(t.ufrag) < 4 || strlen(t.pwd) < 22)
        abort();
    char *out = anchor_sdp_rewrite(s, &l, err, sizeof(err));
    if (out) {
        /* What sedge writes the other party reads: it must parse, carry
         * sedge's transport, and keep every m-line. (A rewrite may grow
         * past the size bound only if the input was already near it.) */
        int rc = anchor_sdp_parse(out, strlen(out), &s2, &t2, err, sizeof(err));
        if (rc == 0 && (strcmp(t2.ufrag, "Sedg") != 0 || t2.setup != ANCHOR_SETUP_ACTIVE ||
                        t2.n_mlines != t.n_mlines || anchor_sdp_answers(s, s2, err, sizeof(err)) != 0))
            abort();
        if (rc != 0 && rc != SE_ERR_TOOBIG)
            abort();
        anchor_sdp_free(s2);
        free(out);
    }
    char *text = anchor_sdp_text(s);
    free(text);
    anchor_sdp_free(s);
    return 0;
}
