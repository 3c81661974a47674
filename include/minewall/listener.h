/* Client-facing sockets of one worker: a UDP and a TCP listener per listen address, and the
 * TCP client connections (RFC 7766: length-prefixed messages, several in flight per
 * connection, answers in completion order, idle timeout, a cap on connections). Listeners hand
 * every message to query.c, which answers through the mw_reply interface below.
 *
 * Binding: nothing else may share a listen address (a foreign socket there would take a share
 * of the queries past the filter). mw_listen_probe() checks an address before the workers bind
 * it; with one worker the sockets carry no SO_REUSEPORT at all, and with several the group is
 * closed to other processes (see mw_listener_open).
 *
 * Output is bounded: a connection whose unsent answers pass tcp.output-pause is not read until
 * they fall below half of it, one that passes tcp.output-limit is closed, and when a worker's
 * connections together pass tcp.worker-output-limit the one with the most unsent output is
 * closed. UDP answers queued while a socket's send buffer is full are capped per worker by
 * udp.send-queue; beyond it they are dropped. Every bound hit is counted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "minewall/netaddr.h"

struct mw_worker;

struct mw_listener {
    struct mw_listener *next;
    struct mw_worker *w;
    struct mw_addr addr;
    uv_udp_t udp;
    uv_tcp_t tcp;
    unsigned open; /* handles not yet closed */
    unsigned refs; /* queries waiting to answer through this listener */
    bool closing;
    uint8_t *rbuf; /* owned receive buffer (room for a recvmmsg batch) */
    size_t rbuf_len;
};

struct mw_tcp_conn {
    struct mw_tcp_conn *next, *prev; /* worker's list */
    struct mw_worker *w;
    uv_tcp_t h;
    uv_timer_t idle;
    unsigned open; /* handles not yet closed */
    unsigned refs; /* 1 while open + 1 per query in flight */
    unsigned inflight;
    bool closing;
    bool reading;
    bool draining;     /* inside conn_drain: completions must not re-enter it */
    bool out_paused;   /* not read because too much output waits for the client */
    size_t out_queued; /* bytes of answers not yet taken by the kernel (counted in the worker) */
    struct mw_addr peer;
    struct mw_addr local; /* the listen address it was accepted on */
    uint8_t *rbuf;        /* owned */
    size_t rlen, rcap;
};

/* Check that nothing else serves addr, UDP or TCP: bind both without SO_REUSEPORT (UDP also
 * without SO_REUSEADDR) and close again. Returns 0, or a negative errno with why filled with
 * "ADDR/PROTO: reason", naming the process that holds the address when /proc tells. Call it
 * for addresses minewall does not hold yet (at start, and for addresses a reload adds). */
int mw_listen_probe(const struct mw_addr *addr, char *why, size_t why_len);

/* Whether this process can create the sockets of a SO_REUSEPORT group under a uid of its own
 * (it has CAP_SETUID), so that no other process can join the group. */
bool mw_listener_group_private(void);

/* Bind UDP and TCP on addr and start receiving. With threads > 1 in the worker's config the
 * sockets join a SO_REUSEPORT group; the group is created under a file-system uid of this
 * process's own (when minewall may set it: root) so that the kernel refuses any other
 * process's socket. Returns 0 or a negative errno (nothing is left open). */
int mw_listener_open(struct mw_worker *w, const struct mw_addr *addr, struct mw_listener **out);
/* Stop receiving and close both sockets; the listener frees itself in the close callback. */
void mw_listener_close(struct mw_listener *l);

/* Queries hold a reference while they wait, so a listener closed by a reload outlives them. */
void mw_listener_ref(struct mw_listener *l);
void mw_listener_unref(struct mw_listener *l);

/* Send one datagram; try a direct send first and queue a copy only if the socket is busy. */
void mw_listener_send_udp(struct mw_listener *l, const struct sockaddr *to, const uint8_t *buf,
                          size_t len);

/* Send one message on a client connection (framed; copied). Dropped if the connection closed. */
void mw_tcp_conn_send(struct mw_tcp_conn *c, const uint8_t *buf, size_t len);
/* A query of this connection completed (answered or dropped): resume reading if paused. */
void mw_tcp_conn_query_done(struct mw_tcp_conn *c);
struct mw_tcp_conn *mw_tcp_conn_ref(struct mw_tcp_conn *c);
void mw_tcp_conn_unref(struct mw_tcp_conn *c);
/* Close (idempotent). */
void mw_tcp_conn_close(struct mw_tcp_conn *c);

/* ---- replies: how query.c answers a client ----
 *
 * listener.c hands every query to query.c with a reply (mw_reply_udp / mw_reply_tcp). query.c
 * answers with mw_reply_send() (any number of times, usually once) and ends the query with
 * mw_reply_done() exactly once, answered or not. A query answered inside the receive callback
 * needs nothing else. A query that waits (a cache miss) first copies its reply into storage
 * of its own and calls mw_reply_hold() on the copy: that copies the client's address into
 * store and keeps the listener or connection alive until mw_reply_done(). */
struct mw_reply {
    struct mw_listener *l;         /* UDP: the listener the query came in on; NULL for TCP */
    struct mw_tcp_conn *conn;      /* TCP: the connection; NULL for UDP */
    const struct sockaddr *client; /* UDP: borrowed until held, then points at the store */
    bool held;
    /* dnstap: when the query arrived (Unix seconds and nanoseconds; seconds 0: not taken),
     * for its CLIENT_RESPONSE's query_time (tap.h). */
    uint32_t tap_qsec, tap_qnsec;
};

static inline struct mw_reply mw_reply_udp(struct mw_listener *l, const struct sockaddr *client)
{
    return (struct mw_reply){.l = l, .client = client};
}

static inline struct mw_reply mw_reply_tcp(struct mw_tcp_conn *c)
{
    return (struct mw_reply){.conn = c, .client = &c->peer.u.sa};
}

static inline bool mw_reply_is_tcp(const struct mw_reply *r)
{
    return r->conn != NULL;
}

/* The client's address (for TCP the connection's peer). */
static inline const struct sockaddr *mw_reply_client(const struct mw_reply *r)
{
    return r->client;
}

/* Send one answer (copied; framed for TCP). Never calls back. Dropped and counted when the
 * connection is closed or a bound is hit. Inline: on the cache-hit path. */
static inline void mw_reply_send(const struct mw_reply *r, const uint8_t *buf, size_t len)
{
    if (r->conn)
        mw_tcp_conn_send(r->conn, buf, len);
    else
        mw_listener_send_udp(r->l, r->client, buf, len);
}
/* Keep r valid past the current callback; store is caller storage (UDP client address) that
 * lives as long as r. Call once, on the copy the caller keeps. */
void mw_reply_hold(struct mw_reply *r, struct mw_addr *store);
/* The query of r is over: a TCP connection may read its next message; held references are
 * released. Call exactly once per query. May close and free nothing synchronously that r's
 * caller still uses (the connection is freed only after its handles close). */
void mw_reply_done(const struct mw_reply *r);
