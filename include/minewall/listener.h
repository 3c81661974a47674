/* Client-facing sockets of one worker: a UDP and a TCP listener per listen address, both
 * SO_REUSEPORT so every worker binds the same address, and the TCP client connections (RFC
 * 7766: length-prefixed messages, several in flight per connection, answers in completion
 * order, idle timeout, a cap on connections). Listeners hand every message to query.c and
 * send what it answers. */
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
    unsigned open;     /* handles not yet closed */
    unsigned refs;     /* 1 while open + 1 per query in flight */
    unsigned inflight;
    bool closing;
    bool reading;
    bool draining; /* inside conn_drain: completions must not re-enter it */
    struct mw_addr peer;
    uint8_t *rbuf; /* owned */
    size_t rlen, rcap;
};

/* Ask for 4 MiB socket buffers on a UDP socket (capped by the kernel's rmem_max/wmem_max). */
void mw_socket_buffers(int fd);

/* Bind UDP and TCP on addr and start receiving. Returns 0 or a negative errno (nothing is
 * left open). */
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
