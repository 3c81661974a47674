/* One client query from arrival to answer: parse and check it, apply access control, answer
 * from the cache, or attach to a fetch (identical concurrent questions share one) and answer
 * every waiter when the fetch completes, from its response, a stale cache entry (RFC 8767) or
 * SERVFAIL. Waiters and fetches come from per-worker pools. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct mw_worker;
struct mw_listener;
struct mw_tcp_conn;

/* A datagram from a client; from is its source. */
void mw_query_from_udp(struct mw_worker *w, struct mw_listener *l, const uint8_t *pkt,
                       size_t len, const struct sockaddr *from);
/* One message (without the length prefix) from a TCP client. */
void mw_query_from_tcp(struct mw_worker *w, struct mw_tcp_conn *c, const uint8_t *pkt,
                       size_t len);

/* Set up the worker's coalescing table. Returns 0 or -ENOMEM. */
int mw_query_init(struct mw_worker *w);
/* Shutdown: abort every pending fetch, drop its waiters, and free both pools after the loop
 * closed the fetch timers. */
void mw_query_abort_all(struct mw_worker *w);
void mw_query_deinit(struct mw_worker *w);

struct mw_fetch;
/* A pooled fetch object for upstream.c's health probes (returned via mw_query_fetch_done).
 * NULL on ENOMEM. */
struct mw_fetch *mw_query_fetch_get(struct mw_worker *w);
