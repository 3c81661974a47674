/* DNS over TCP framing: the two-octet length prefix of RFC 1035 4.2.2. Kept apart from the
 * libuv listener so the framing can be unit-tested and fuzzed on its own. */
#include "minewall/tcpframe.h"

int mw_tcpframe_next(const uint8_t *buf, size_t len, size_t *off, const uint8_t **msg, size_t *mlen)
{
    size_t o = *off;
    if (o >= len || len - o < 2)
        return 0;
    size_t n = (size_t)buf[o] << 8 | buf[o + 1];
    if (len - o - 2 < n)
        return 0;
    *msg = buf + o + 2;
    *mlen = n;
    *off = o + 2 + n;
    return 1;
}
