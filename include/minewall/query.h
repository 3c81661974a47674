/* One client query from arrival to answer: parse and check it, apply access control, answer
 * from the cache, or wait on a pending question (identical concurrent questions share one
 * upstream fetch) and answer every waiter when upstream.c calls back, from its response, a
 * stale cache entry (RFC 8767) or SERVFAIL. query.c owns the pending questions and their
 * waiters (per-worker pools); the path is written out at the top of query.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct mw_worker;
struct mw_listener;
struct mw_tcp_conn;

/* A datagram from a client; from is its source. */
void mw_query_from_udp(struct mw_worker *w, struct mw_listener *l, const uint8_t *pkt, size_t len,
                       const struct sockaddr *from);
/* One message (without the length prefix) from a TCP client. */
void mw_query_from_tcp(struct mw_worker *w, struct mw_tcp_conn *c, const uint8_t *pkt, size_t len);

/* Set up the worker's pending-question table and pools (w->queries). Returns 0 or -ENOMEM. */
int mw_query_init(struct mw_worker *w);
/* Questions waiting for upstream (shutdown waits for 0). */
unsigned mw_query_pending(const struct mw_worker *w);
/* Free idle pool objects beyond what the last interval needed (called once a second).
 * Returns the bytes handed back to malloc. */
size_t mw_query_trim(struct mw_worker *w);
struct mw_fetch_gauges;
/* Fill in_flight, in_flight_peak, waiting and pooled (pending and waiter objects). */
void mw_query_gauges(const struct mw_worker *w, struct mw_fetch_gauges *g);
/* Shutdown: cancel every pending fetch and drop its waiters unanswered. */
void mw_query_abort_all(struct mw_worker *w);
/* Another worker's fetch of the key with hash and CD bit cd ended (ok: answered): the
 * questions parked on
 * it are answered from the cache (or, failed, from a stale entry or with SERVFAIL), or fetched
 * here when the answer was not cached. mw_query_ready_all: every parked question (notices
 * were lost to the inbox bound). */
void mw_query_ready(struct mw_worker *w, uint64_t hash, bool cd, bool ok);
void mw_query_ready_all(struct mw_worker *w);
/* Free the table and pools. NULL-safe (w->queries may be unset). */
void mw_query_deinit(struct mw_worker *w);
