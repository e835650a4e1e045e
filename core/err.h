/*
 * err.h - the one error space of sedge.
 *
 * Every function that can fail returns 0 (or a non-negative count) on
 * success and a negative SE_ERR_* on failure; se_err() gives the text.
 * Protocol error codes (STUN 4xx, HTTP 4xx) are response data chosen by
 * the protocol layer, not members of this space.
 */
#ifndef SE_ERR_H
#define SE_ERR_H

enum se_err_code {
    SE_OK = 0,
    SE_ERR_NOMEM = -1,    /* allocation failed */
    SE_ERR_INVAL = -2,    /* bad argument or setting */
    SE_ERR_PARSE = -3,    /* malformed input */
    SE_ERR_TRUNC = -4,    /* input shorter than it claims */
    SE_ERR_TOOBIG = -5,   /* input or output past a bound */
    SE_ERR_IO = -6,       /* system call failed (errno logged by caller) */
    SE_ERR_NOTFOUND = -7, /* no such object */
    SE_ERR_EXISTS = -8,   /* object already exists */
    SE_ERR_AUTH = -9,     /* authentication failed */
    SE_ERR_STALE = -10,   /* credential or nonce expired */
    SE_ERR_DENIED = -11,  /* refused by policy */
    SE_ERR_LIMIT = -12,   /* quota or capacity reached */
    SE_ERR_DB = -13,      /* database error */
    SE_ERR_CONFIG = -14,  /* configuration error */
    SE_ERR_TLS = -15,     /* TLS library error */
    SE_ERR_FULL = -16,    /* queue or buffer full, item dropped */
    SE_ERR_UNSUPP = -17,  /* valid but not supported */
    SE_ERR_CRYPTO = -18,  /* crypto library error */
    SE_ERR_AGAIN = -19,   /* try again later */
    SE_ERR__LAST = -20
};

/* Text for an SE_ERR_* code; never NULL. */
const char *se_err(int code);

#endif
