/* DNS over TCP framing; see tcpframe.h. Kept apart from listener.c so the fuzz harness and the
 * unit test exercise exactly the code that reads client bytes. */
#include "minewall/tcpframe.h"

#include <errno.h>

int mw_tcpframe_next(const uint8_t *buf, size_t len, struct mw_tcpframe *out, size_t *need)
{
    if (len < 2) {
        if (need)
            *need = 2;
        return 0;
    }
    size_t mlen = (size_t)buf[0] << 8 | buf[1];
    if (len - 2 < mlen) {
        if (need)
            *need = 2 + mlen;
        return 0;
    }
    out->msg = buf + 2;
    out->len = mlen;
    out->consumed = 2 + mlen;
    return 1;
}

int mw_tcpframe_put_prefix(uint8_t out[2], size_t len)
{
    if (len > 65535)
        return -EMSGSIZE;
    out[0] = (uint8_t)(len >> 8);
    out[1] = (uint8_t)len;
    return 0;
}
