/* One HTTP/2 client session for DNS over HTTPS (RFC 8484, RFC 9113), as a state machine over
 * plaintext bytes: what TLS decrypted goes in with mw_dohconn_recv, the frames to encrypt come
 * out through mw_dohconn_send. No sockets, no TLS, no event loop: dotconn.c carries the bytes
 * over its TLS connections (tls.c), so DoT and DoH share the pool, the verification, the
 * session resumption and the backoff. The HTTP/2 framing is libnghttp2 (Debian's libnghttp2-14):
 * HPACK, flow control and stream states are a protocol of their own, and nghttp2 is what
 * Unbound, curl and h2o use on Debian.
 *
 * One DNS query is one stream: a POST with the message as body (application/dns-message), or a
 * GET with it base64url-encoded in `?dns=`. The query carries DNS ID 0 (RFC 8484 section 4.1:
 * the stream, not the ID, matches the answer). An answer is accepted only with HTTP status 200,
 * Content-Type application/dns-message and a body of 12 to 65535 bytes; a larger body resets
 * the stream. Streams are bounded by the caller (mw_dohconn_max_streams gives the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS); server push is disabled. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_dohconn;

/* A stream ended. req is what mw_dohconn_submit was given; status 0: pkt (len bytes, borrowed
 * for the call) is the answer; -EBADMSG: an HTTP status other than 200 (http_status says which),
 * a wrong Content-Type or a body too short for DNS; -EMSGSIZE: a body over 65535 bytes;
 * -ECONNRESET: the stream was reset or refused (GOAWAY) before its answer. */
typedef void (*mw_dohconn_cb)(void *arg, void *req, int status, int http_status, const uint8_t *pkt,
                              size_t len);

/* Writes bytes to the peer (through TLS); returns 0 or a negative errno. */
typedef int (*mw_dohconn_write)(void *arg, const uint8_t *buf, size_t len);

/* A session whose streams end in cb(arg, ...). The connection preface and our SETTINGS
 * (no push) are queued: send them with mw_dohconn_send after the TLS handshake. Returns 0 or
 * -ENOMEM. */
int mw_dohconn_new(mw_dohconn_cb cb, void *arg, struct mw_dohconn **out);
/* Free the session; open streams end without callbacks. NULL is a no-op. */
void mw_dohconn_free(struct mw_dohconn *h);

/* Open a stream for DNS query q (len bytes, copied; its ID should be 0) to authority and
 * path, as a GET when get, else a POST. req comes back in the callback. Returns the stream
 * id (> 0), -ENOSPC when the query does not fit a GET path, -EAGAIN when the session can
 * open no more streams (GOAWAY, IDs exhausted: use another connection), -ENOMEM. Never
 * calls back from here. Frames go out at the next mw_dohconn_send. */
int32_t mw_dohconn_submit(struct mw_dohconn *h, const char *authority, const char *path, bool get,
                          const uint8_t *q, size_t len, void *req);
/* Forget stream id: RST_STREAM(CANCEL) is queued, no callback; a late answer is dropped. */
void mw_dohconn_cancel(struct mw_dohconn *h, int32_t id);

/* Bytes from the peer: frames are parsed, streams that end call back (the callback may
 * submit and cancel, but not free the session). Returns 0, or -EPROTO on an HTTP/2 connection
 * error or when the session is over (after a GOAWAY, its last stream ended): the session is
 * then unusable, and the streams still open have not called back and never will. */
int mw_dohconn_recv(struct mw_dohconn *h, const uint8_t *buf, size_t len);
/* Hand every queued frame to write. Does nothing while mw_dohconn_recv is running (call it
 * after). Returns 0, the writer's error, or -EPROTO when the session is over (a connection
 * error whose GOAWAY is now written: as for mw_dohconn_recv). */
int mw_dohconn_send(struct mw_dohconn *h, mw_dohconn_write write, void *arg);

/* The server's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited, 2^32 - 1, until its SETTINGS
 * arrive: the caller's own bound applies meanwhile). */
uint32_t mw_dohconn_max_streams(const struct mw_dohconn *h);
/* Can new streams be opened (no GOAWAY received, no fatal error)? */
bool mw_dohconn_usable(const struct mw_dohconn *h);
/* Streams open (submitted, not yet ended or cancelled). */
unsigned mw_dohconn_open_streams(const struct mw_dohconn *h);
