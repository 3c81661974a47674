/* A persistent asynchronous Redis connection on a libuv loop (hiredis 0.14.1 underneath, with
 * our own event glue: hiredis's adapters/libuv.h is not used).
 *
 * An rconn connects, authenticates (AUTH when the URL has a password), selects the database
 * (SELECT when the URL has one) and checks the server answers (PING) before it reports up.
 * While up it sends a PING every ping_interval_ms and drops the connection when a PING, or
 * a connect attempt with its handshake, is not answered within timeout_ms: this catches a
 * half-dead TCP connection or a stopped server. After a failure or a loss it reconnects by
 * itself, waiting 100 ms doubling to 10 s with +-20% jitter; the wait resets once up.
 *
 * Commands are never queued while the connection is down: mw_rconn_command() returns
 * -ENOTCONN, and the caller decides what to do. A command's callback is called exactly once:
 * with the reply, or with NULL when the connection is lost or the rconn is closed.
 *
 * A blocking command (XREAD BLOCK, BLPOP) stops a connection from answering PING: run it on
 * a separate rconn with ping_interval_ms = 0 and keep its own timeout above the BLOCK time.
 * SUBSCRIBE, MONITOR and other commands that change the reply protocol are not supported.
 *
 * One rconn belongs to one loop and one thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/redisurl.h"

struct mw_rconn;
struct redisReply;
typedef struct uv_loop_s uv_loop_t;

/* ---- connection ---- */

/* Called after connect, AUTH, SELECT and the first PING succeeded. */
typedef void (*mw_rconn_up_cb)(void *arg);
/* Called when an up connection is lost or a connect attempt fails; a retry is then scheduled.
 * reason is borrowed, valid during the call only. */
typedef void (*mw_rconn_down_cb)(void *arg, const char *reason);
/* A command's reply. r is NULL when the connection was lost or the rconn closed before the
 * reply came; otherwise r (any type, REDIS_REPLY_ERROR included) is owned by hiredis and
 * freed when the callback returns: copy what you keep. */
typedef void (*mw_rconn_reply_cb)(const struct redisReply *r, void *privdata);
/* End of mw_rconn_close(): every handle is closed and the rconn is freed. */
typedef void (*mw_rconn_close_cb)(void *arg);

struct mw_rconn_cbs {
    mw_rconn_up_cb on_up;     /* may be NULL */
    mw_rconn_down_cb on_down; /* may be NULL */
};

/* Timing; a zero field takes the default shown. */
struct mw_rconn_params {
    uint32_t ping_interval_ms;   /* 1000; MW_RCONN_NO_PING disables the liveness PING */
    uint32_t timeout_ms;         /* 2000: PING reply deadline */
    uint32_t connect_timeout_ms; /* timeout_ms: connect + AUTH + SELECT + PING deadline */
    uint32_t backoff_min_ms;     /* 100 */
    uint32_t backoff_max_ms;     /* 10000 */
};
#define MW_RCONN_NO_PING UINT32_MAX

/* Counters for metrics; monotonic over the rconn's life. */
struct mw_rconn_stats {
    uint64_t connects;    /* times up (on_up calls) */
    uint64_t disconnects; /* on_down calls: losses and failed attempts */
    uint64_t commands;    /* commands accepted by mw_rconn_command*() */
    uint64_t errors;      /* accepted commands answered by an error reply or by NULL */
};

/* Create an rconn on loop; it stays idle until mw_rconn_start(). url is copied; cbs is copied;
 * arg is passed to every callback of cbs and to the close callback. Defaults for the
 * params (see mw_rconn_set_params). Returns 0 with *out owned by the caller, to be released
 * only by mw_rconn_close(), or -ENOMEM / -EINVAL (bad url port) / a libuv error, with nothing
 * allocated. Never calls back. */
int mw_rconn_new(uv_loop_t *loop, const struct mw_redis_url *url, const struct mw_rconn_cbs *cbs,
                 void *arg, struct mw_rconn **out);

/* Replace the timing (p borrowed, copied). Only before mw_rconn_start(): -EBUSY after it. */
int mw_rconn_set_params(struct mw_rconn *c, const struct mw_rconn_params *p);

/* Begin connecting; the first attempt runs from the loop, never from inside this call.
 * Returns 0, -EALREADY when started, -ECANCELED when closing. */
int mw_rconn_start(struct mw_rconn *c);

/* Close asynchronously. From the next loop iteration on, pending command callbacks are called
 * with NULL (exactly once each), then every handle is closed, then done(arg) is called and c
 * is freed. No on_up/on_down after this call; commands get -ENOTCONN. May be called from any
 * callback of this rconn. Returns 0, or -EALREADY when already closing (done is then not
 * called again). done may be NULL. */
int mw_rconn_close(struct mw_rconn *c, mw_rconn_close_cb done);

/* Send a command while up. fmt is hiredis's (%s, %b with pointer and size_t length, %d...;
 * not printf's, hence no format attribute).
 * Returns 0 when the command is queued: cb (may be NULL) will be called exactly once, from
 * the loop, never from inside this call. Returns -ENOTCONN when not up (connecting, down or
 * closing), -EINVAL for a bad format, -ENOMEM; cb is then never called. */
int mw_rconn_command(struct mw_rconn *c, mw_rconn_reply_cb cb, void *privdata, const char *fmt,
                     ...);
/* The same with argc arguments of argvlen[i] bytes each (argvlen NULL: NUL-terminated strings).
 * Binary safe; arguments are copied before return. */
int mw_rconn_command_argv(struct mw_rconn *c, mw_rconn_reply_cb cb, void *privdata, int argc,
                          const char **argv, const size_t *argvlen);

/* True between on_up and the matching on_down (or close). */
bool mw_rconn_is_up(const struct mw_rconn *c);
/* Copy the counters to out. */
void mw_rconn_stats(const struct mw_rconn *c, struct mw_rconn_stats *out);
/* The URL as shown in messages ("redis://HOST:PORT/DB"), borrowed. */
const char *mw_rconn_name(const struct mw_rconn *c);
