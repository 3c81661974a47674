/* DNS over TCP framing (RFC 1035 section 4.2.2, RFC 7766 section 8): every message is
 * preceded by its length as a 16-bit big-endian integer. Pure: no I/O, no allocation, safe on
 * any input, so the listener and the fuzz harnesses call the same code. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The largest frame: the length prefix and a 65535-byte message. */
#define MW_TCPFRAME_MAX (2 + 65535)

/* One complete message found at the start of a buffer. */
struct mw_tcpframe {
    const uint8_t *msg; /* borrowed: points into the buffer, after the length prefix */
    size_t len;         /* message length (0 is possible: an empty message, not valid DNS) */
    size_t consumed;    /* bytes of the buffer this frame takes: 2 + len */
};

/* Look for a complete frame at the start of buf[0..len). Returns 1 and fills *out when one is
 * there; 0 when more bytes are needed (*out untouched), in which case *need (if not NULL) gets
 * the total number of bytes the frame will take once complete (2 while the prefix is
 * incomplete). Never reads beyond buf[len - 1]; never fails otherwise. */
int mw_tcpframe_next(const uint8_t *buf, size_t len, struct mw_tcpframe *out, size_t *need);

/* Write the 2-byte prefix for a message of len bytes into out. Returns 0, or -EMSGSIZE when
 * len is above 65535 (nothing written). */
int mw_tcpframe_put_prefix(uint8_t out[2], size_t len);
