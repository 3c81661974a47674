/* libFuzzer harness for DNS over TCP framing as the listener runs it: the input is the byte
 * stream a client sends, delivered in reads whose sizes come from the first input byte; after
 * every read the whole messages are taken out (mw_tcpframe_next), handed to the query parser,
 * and the rest moved to the front of the buffer. The messages seen must be exactly those of
 * framing the whole stream at once, however the reads cut it. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/dnsmsg.h"
#include "minewall/tcpframe.h"

static uint8_t rbuf[MW_TCPFRAME_MAX + 4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t seed = data[0] * 2654435761u + 1;
    data++;
    size--;

    /* Reference: the whole stream at once. */
    size_t ref_off = 0, n_ref = 0;
    const uint8_t *msg;
    size_t mlen;
    while (mw_tcpframe_next(data, size, &ref_off, &msg, &mlen)) {
        FZ_CHECK(msg >= data && msg + mlen <= data + size);
        n_ref++;
    }

    size_t in = 0, rlen = 0, done = 0, n_seen = 0;
    while (in < size) {
        seed = seed * 1103515245u + 12345u;
        size_t chunk = 1 + (seed >> 16) % 700;
        if (chunk > size - in)
            chunk = size - in;
        if (chunk > sizeof(rbuf) - rlen)
            chunk = sizeof(rbuf) - rlen;
        memcpy(rbuf + rlen, data + in, chunk);
        in += chunk;
        rlen += chunk;
        size_t off = 0;
        while (mw_tcpframe_next(rbuf, rlen, &off, &msg, &mlen)) {
            FZ_CHECK(msg + mlen <= rbuf + rlen);
            /* The same message as in the reference framing, at the same stream offset. */
            FZ_CHECK(memcmp(msg, data + done + (size_t)(msg - rbuf), mlen) == 0);
            struct mw_dns_query q;
            (void)mw_dns_parse_query(msg, mlen, &q);
            n_seen++;
        }
        FZ_CHECK(off <= rlen);
        memmove(rbuf, rbuf + off, rlen - off);
        rlen -= off;
        done += off;
        FZ_CHECK(rlen < MW_TCPFRAME_MAX); /* a partial message always fits */
    }
    FZ_CHECK(n_seen == n_ref && done == ref_off);
    return 0;
}
