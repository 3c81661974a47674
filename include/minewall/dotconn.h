/* DNS-over-TLS connections of one worker (RFC 7858): a bounded pool per upstream, queries
 * pipelined on a connection and answers matched by DNS ID in any order, TLS sessions resumed
 * on the next connection, idle connections closed after tls.idle-timeout or the
 * edns-tcp-keepalive timeout the server announces (RFC 7828), whichever is shorter. The TLS
 * itself is tls.c (OpenSSL over memory BIOs); this file is the libuv shell that moves its
 * bytes over TCP. It knows nothing of fetches: upstream.c sends a query and gets exactly one
 * callback per query, never from inside mw_dot_query(). Strict (RFC 8310): a connection whose
 * peer fails verification fails its queries with -EPERM; nothing is ever sent in clear text.
 *
 * DNS over HTTPS (RFC 8484) rides the same pools: a target with a DoH URL gets connections
 * that offer ALPN "h2" (and fail unless the server selects it) and carry an HTTP/2 session
 * (dohconn.c) instead of the 2-byte framing; a query is a stream, its DNS ID is 0, and the
 * streams in flight on one connection are bounded by tls.max-pipeline and by the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS. Everything else (verification, pins, resumption, backoff,
 * idle close, the pool bound) is shared with DoT. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_config;
struct uv_loop_s;
struct mw_addr;
struct mw_dot;
struct mw_dot_req;

/* Counters of one upstream in one worker (kept across reloads while it stays configured). */
struct mw_dot_stats {
    uint64_t handshakes;      /* completed handshakes (full or resumed) */
    uint64_t resumptions;     /* handshakes that resumed a session */
    uint64_t verify_failures; /* handshakes refused: chain, name, expiry or pins */
    uint64_t conn_failures;   /* connections that failed otherwise (refused, reset, timeout) */
    uint64_t queries;         /* queries written */
    uint64_t reused;          /* of them, on a connection that had carried a query before */
    uint64_t busy;            /* queries refused: every connection full (tls.max-pipeline) */
    uint64_t backoff;         /* queries refused: no connection, and the last ones failed */
    uint64_t moved;           /* queries moved off a connection the server closed */
    uint64_t http_errors;     /* DoH answers refused: HTTP status not 200, wrong Content-Type */
    uint64_t oversize;        /* DoH answers refused: body over 65535 bytes (stream reset) */
    uint64_t resets;          /* DoH streams reset or refused by the server before an answer */
    uint64_t open;            /* connections open now */
};

struct mw_tls_upstream;
struct mw_doh_url;

/* Where a query goes: borrowed for the call only. */
struct mw_dot_target {
    const struct mw_addr *addr;
    const char *auth_name;     /* "" : the certificate must name the address */
    const uint8_t (*pins)[32]; /* n_pins SPKI SHA-256 (copied); NULL when none */
    size_t n_pins;
    const struct mw_doh_url *doh;  /* DNS over HTTPS to this URL; NULL: DNS over TLS */
    bool doh_get;                  /* DoH: GET with ?dns= instead of POST */
    bool by_name;                  /* addr is a stand-in (a host name): connect must be given */
    const struct mw_addr *connect; /* where to connect; NULL: addr (DoH: NULL while the host
                                    * name is unresolved, and the query fails) */
};

/* The target of configured upstream t of cfg (addr is t's identity; pins by its name),
 * connecting to resolved (borrowed; used for a DoH upstream named by host name). */
void mw_dot_target_of(const struct mw_config *cfg, const struct mw_tls_upstream *t,
                      const struct mw_addr *resolved, struct mw_dot_target *out);

/* status 0: pkt (len bytes, borrowed for the call) is the answer to the query; otherwise
 * -EPERM (verification failed), -ETIMEDOUT (connect or handshake too slow), -ECONNRESET,
 * -EPROTO or another negative errno: the connection failed before the answer. */
typedef void (*mw_dot_cb)(void *arg, int status, const uint8_t *pkt, size_t len);

/* The loop a mw_dot runs on and its owner's handle count (a worker's, the prober's). */
struct mw_dot_host {
    struct uv_loop_s *loop;
    unsigned *open_handles;    /* raised as handles open, lowered as they close */
    void (*closed)(void *arg); /* after each handle closed (the owner may finish closing) */
    void *arg;
};

/* The DoT machinery of one loop for cfg (trust anchors loaded only when cfg has tls
 * upstreams); host is copied. Returns 0, -ENOMEM, or -EINVAL when the anchors cannot be
 * loaded (why says why; the object is made anyway and its queries fail). */
int mw_dot_new(const struct mw_dot_host *host, const struct mw_config *cfg, struct mw_dot **out,
               char *why, size_t why_len);
/* A reload: new trust anchors when tls.ca-file changed (every connection is then retired:
 * it takes no new query and closes when its last answer is in), limits from cfg, pools of
 * upstreams that are gone dropped once idle. Same returns as mw_dot_new. */
int mw_dot_configure(struct mw_dot *d, const struct mw_config *cfg, char *why, size_t why_len);
/* Send the DNS query q (len bytes, without the length prefix; its ID is replaced by one
 * unique on the connection) to t. Returns 0 with *out the request (valid until its callback
 * or mw_dot_cancel), -EBUSY when the pool is full, -ECONNREFUSED when t has no connection and
 * its last ones failed (a backoff from 250 ms doubling to 30 s, reset by a handshake),
 * -ENOMEM, -EHOSTUNREACH (a DoH host name not resolved yet), or -EINVAL (no trust anchors);
 * cb is then never called. A DoH query fails in its callback with -EBADMSG (HTTP status or
 * Content-Type wrong), -EMSGSIZE (answer too large) or -ECONNRESET (stream reset). */
int mw_dot_query(struct mw_dot *d, const struct mw_dot_target *t, const uint8_t *q, size_t len,
                 mw_dot_cb cb, void *arg, struct mw_dot_req **out);
/* The DNS ID a request's query carries on its connection. */
uint16_t mw_dot_req_id(const struct mw_dot_req *r);
/* Forget a request: no callback; a late answer is dropped. */
void mw_dot_cancel(struct mw_dot_req *r);
/* The counters of upstream a (zeros when it has no pool). */
void mw_dot_stats(const struct mw_dot *d, const struct mw_addr *a, struct mw_dot_stats *out);
/* out += in, field by field: the one place that knows every counter of the struct. */
void mw_dot_stats_add(struct mw_dot_stats *out, const struct mw_dot_stats *in);
/* Answers that matched no request on their connection (a late answer, or a bad server). */
uint64_t mw_dot_stray(const struct mw_dot *d);
/* Close every connection (requests dropped without callbacks). */
void mw_dot_close(struct mw_dot *d);
/* Free after the loop ran the close callbacks; NULL is a no-op. */
void mw_dot_free(struct mw_dot *d);
