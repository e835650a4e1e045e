/*
 * sdp.h - the descriptions the two parties of an anchored call exchange:
 * checked, their transport read out, and rewritten (RFC 8866 SDP, RFC 8839
 * ICE attributes, RFC 8842 DTLS setup, RFC 8122 fingerprints, RFC 8843
 * BUNDLE, RFC 5761 rtcp-mux).
 *
 * A description is first checked as text (size, UTF-8, line syntax,
 * number of m-lines, line length), then parsed with GStreamer's
 * GstSDPMessage, then checked for what anchoring needs: every active
 * m-line DTLS-protected and bundled, RTP m-lines rtcp-mux, ICE
 * credentials, a fingerprint and a setup role. The transport of the
 * BUNDLE tag (the group's first mid) is what the anchor talks to.
 *
 * The rewrite gives the other party the same description with only the
 * transport attributes replaced by sedge's (ice-ufrag/pwd, ice-options,
 * ice-lite, candidates, end-of-candidates, fingerprint, setup, rtcp,
 * connection lines, m= ports): codecs, extensions, msid, ssrc, simulcast
 * and data channel lines are kept byte for byte.
 *
 * Pure functions of their input (no sockets, no threads): fuzzed by
 * tests/fuzz/fuzz_anchor_sdp.c.
 */
#ifndef SE_ANCHOR_SDP_H
#define SE_ANCHOR_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ANCHOR_SDP_MAX = 65536,    /* bytes of one description */
    ANCHOR_SDP_LINE_MAX = 4096, /* bytes of one line */
    ANCHOR_MAX_MLINES = 32,
    ANCHOR_MAX_CANDS = 32,     /* remote candidates taken from one description */
    ANCHOR_CAND_LEN = 256,     /* one candidate attribute value */
    ANCHOR_MAX_FP = 4,
    ANCHOR_UFRAG_MAX = 256,    /* RFC 8839 §5.4 */
    ANCHOR_PWD_MAX = 256,
    ANCHOR_MID_MAX = 64,
};

enum anchor_setup { ANCHOR_SETUP_ACTPASS = 1, ANCHOR_SETUP_ACTIVE = 2, ANCHOR_SETUP_PASSIVE = 3 };

/* A certificate fingerprint (RFC 8122 §5): hash algorithm and digest. */
struct anchor_fp {
    int nid;        /* OpenSSL NID of the hash (NID_sha256, ...) */
    uint8_t len;
    uint8_t md[64];
};

/* What one party's description says about its transport. */
struct anchor_transport {
    char ufrag[ANCHOR_UFRAG_MAX + 1], pwd[ANCHOR_PWD_MAX + 1];
    char mid[ANCHOR_MID_MAX + 1]; /* the BUNDLE tag */
    int tag;                      /* its m-line index */
    int setup;                    /* enum anchor_setup */
    struct anchor_fp fp[ANCHOR_MAX_FP];
    int n_fp;
    char cand[ANCHOR_MAX_CANDS][ANCHOR_CAND_LEN]; /* "candidate:..." (UDP only) */
    int n_cand;
    bool end_of_candidates, ice_lite;
    int n_mlines;
};

struct anchor_sdp;

/*
 * Check and parse a description. On success *out is the parsed form
 * (caller frees with anchor_sdp_free) and t is filled. On failure returns
 * SE_ERR_PARSE (malformed), SE_ERR_TOOBIG (past a bound) or SE_ERR_UNSUPP
 * (well-formed but not anchorable: no DTLS, no BUNDLE, no rtcp-mux, ...),
 * with one line for the caller in err.
 */
int anchor_sdp_parse(const char *text, size_t len, struct anchor_sdp **out,
                     struct anchor_transport *t, char *err, size_t errlen);
void anchor_sdp_free(struct anchor_sdp *s);

/* An answer must answer the offer: as many m-lines, same kinds and mids.
 * 0 or SE_ERR_UNSUPP with err. */
int anchor_sdp_answers(const struct anchor_sdp *offer, const struct anchor_sdp *answer, char *err,
                       size_t errlen);

/* sedge's transport on one leg, for a rewrite. */
struct anchor_local {
    const char *ufrag, *pwd;
    const char *fingerprint; /* "sha-256 AB:CD:..." */
    int setup;               /* enum anchor_setup */
    const char *addr;        /* c= address (advertised) */
    bool v6;
    uint16_t port;           /* m= port of active m-lines */
    const char *const *cand; /* candidate attribute values, "candidate:..." */
    int n_cand;
};

/*
 * s with its transport replaced by l. Returns a NUL-terminated string the
 * caller frees with free(), or NULL (SE_ERR_NOMEM or a GStreamer refusal,
 * err says).
 */
char *anchor_sdp_rewrite(const struct anchor_sdp *s, const struct anchor_local *l, char *err,
                         size_t errlen);

/* The description as text (caller frees with free()), or NULL. */
char *anchor_sdp_text(const struct anchor_sdp *s);

/* "sha-256 AB:CD:..." (RFC 8122 §5) into fp. 0, SE_ERR_PARSE, or
 * SE_ERR_UNSUPP for a hash other than SHA-1/224/256/384/512. */
int anchor_fp_parse(const char *text, struct anchor_fp *fp);

/* Setup role name ("actpass", "active", "passive"). */
const char *anchor_setup_name(int setup);

#endif
