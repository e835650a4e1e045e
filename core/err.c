/*
 * err.c - text for the SE_ERR_* codes.
 */
#include "core/err.h"

static const char *const se_err_text[] = {
    [0] = "success",
    [1] = "out of memory",
    [2] = "invalid argument",
    [3] = "malformed input",
    [4] = "truncated input",
    [5] = "too large",
    [6] = "I/O error",
    [7] = "not found",
    [8] = "already exists",
    [9] = "authentication failed",
    [10] = "expired",
    [11] = "denied by policy",
    [12] = "limit reached",
    [13] = "database error",
    [14] = "configuration error",
    [15] = "TLS error",
    [16] = "queue full",
    [17] = "not supported",
    [18] = "crypto error",
    [19] = "try again",
};

const char *se_err(int code)
{
    if (code > 0 || code <= SE_ERR__LAST)
        return "unknown error";
    return se_err_text[-code];
}
