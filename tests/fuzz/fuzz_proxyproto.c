/*
 * fuzz_proxyproto.c - libFuzzer target for the PROXY protocol header
 * reader, the first bytes sedge reads on a TCP/TLS listener behind a load
 * balancer. Inputs up to PROXY_V2_MAX + a little (a v2 header with 64 KiB
 * of TLVs is legal). Checks, besides memory safety: a complete header's
 * length is within the input; every shorter prefix of a complete header
 * asks for more bytes (the reader never decides early); a header that was
 * complete cannot become an error when one more byte arrives.
 */
#include "core/err.h"
#include "relay/proxyproto.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_info pi;
    int rc = proxy_parse(data, size, &pi);

    if (rc > 0) {
        if ((size_t)rc > size || (pi.version != 1 && pi.version != 2))
            abort();
        if (!pi.local && pi.src.family != AF_INET && pi.src.family != AF_INET6)
            abort();
        /* A handful of prefixes (all of them for short headers). */
        size_t step = rc > 256 ? (size_t)rc / 64 : 1;
        for (size_t k = 0; k < (size_t)rc; k += step)
            if (proxy_parse(data, k, &pi) != 0)
                abort();
    } else if (rc == SE_ERR_PARSE) {
        /* A header complete one byte earlier cannot turn into an error
         * because one more byte arrived. */
        if (size > 1 && proxy_parse(data, size - 1, &pi) > 0)
            abort();
    } else if (rc != 0) {
        abort();
    }
    return 0;
}
