/* DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 8): every message on the stream is preceded by
 * its length as two octets in network order. The listener keeps the bytes it read in one buffer
 * and takes whole messages out of it with mw_tcpframe_next; what remains (a partial length or a
 * partial message) waits for the next read. Pure: no I/O, no allocation. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Bytes a stream buffer needs to hold any one message with its length prefix. */
#define MW_TCPFRAME_MAX (2 + 65535)

/* The next whole message in buf[*off..len). Returns 1 with *msg (borrowed from buf) and *mlen
 * set and *off moved past the message; 0, with nothing changed, when the bytes from *off do
 * not hold a whole message yet (or *off >= len). A zero length prefix yields a message of
 * length 0 (the caller's parser drops it). Never reads outside buf[0..len). */
int mw_tcpframe_next(const uint8_t *buf, size_t len, size_t *off, const uint8_t **msg,
                     size_t *mlen);
