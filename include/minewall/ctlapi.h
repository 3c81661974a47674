/* The control API's actions (minewall-ctl): pause and resume blocking, flush the workers'
 * caches, reload, and report status, lists, top clients and names, and explanations. It owns
 * the control socket (ctlsrv.c), the pause timer, the flush in flight and the reloads awaited,
 * and answers the /control/ paths of the metrics server when a token is configured. Requests
 * are parsed and answers formatted by control.c; every action is logged and, with a journal,
 * becomes a "control" event.
 *
 * Runs on the server's control loop. The server hands it what it needs once (mw_ctlapi_env)
 * and tells it when a reload ends. Over the UNIX socket, flush and reload answer when done
 * (the outcome of the reload is the answer); over HTTP, whose handler answers at once, they
 * answer 202 when started. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_ctlapi;
struct mw_config;
struct mw_http_response;
struct mw_journal_queue;
struct mw_rlist;
struct mw_snapshot;
struct mw_worker;
struct uv_loop_s;

/* What the server lends: all borrowed, valid until mw_ctlapi_close. */
struct mw_ctlapi_env {
    struct uv_loop_s *loop;
    struct mw_worker *const *workers; /* started; the array does not change */
    unsigned n_workers;
    const char *host; /* for journal events */
    void *arg;        /* for the callbacks */
    /* The snapshot in force (borrowed for the call). */
    struct mw_snapshot *(*snapshot)(void *arg);
    /* The journal queue, or NULL without one. */
    struct mw_journal_queue *(*journal)(void *arg);
    /* The Redis lists in force (for explain): count and array (borrowed for the call). */
    size_t (*synced)(void *arg, struct mw_rlist *const **out);
    /* Start a reload as SIGHUP does; the server calls mw_ctlapi_reload_done when it ends. */
    void (*reload)(void *arg);
    /* True while a reload runs: the next end is that one's, not the one asked for. */
    bool (*reloading)(void *arg);
    /* Reload counts and uptime for status. */
    void (*counts)(void *arg, uint64_t *reloads_ok, uint64_t *reloads_failed, bool *last_failed,
                   uint64_t *uptime_s);
};

/* Start: the control socket at cfg's control.socket (or MW_CONTROL_SOCKET_DEFAULT; a socket
 * that cannot be made is a warning, not a failure) and the token of control.token-file (read
 * and checked by mw_config_load). env is copied. */
int mw_ctlapi_new(const struct mw_ctlapi_env *env, const struct mw_config *cfg,
                  struct mw_ctlapi **out);

/* A reload put cfg in force: take its token (a rotated token file, or none). The socket stays
 * the one of the start. */
void mw_ctlapi_set_config(struct mw_ctlapi *c, const struct mw_config *cfg);

/* A reload (SIGHUP, list change or asked for) ended. */
void mw_ctlapi_reload_done(struct mw_ctlapi *c, bool ok);

/* The metrics server's handler for paths under /control/: 401 without the bearer token (or
 * with no token configured: 404); a command that changes something (pause, resume, flush,
 * reload) needs POST (GET and HEAD: 405), reports take GET or POST. Returns 0 or r->err. */
int mw_ctlapi_http(struct mw_ctlapi *c, const char *path, const char *query,
                   struct mw_http_response *r);

/* Append the control API's metrics (Prometheus text) to r. */
void mw_ctlapi_metrics(struct mw_ctlapi *c, struct mw_http_response *r);

/* The JSON members for /status ("control":{...}) without braces around, into buf; "" when c
 * is NULL. */
void mw_ctlapi_status_json(struct mw_ctlapi *c, char *buf, size_t cap);

/* Answer what is still awaited (503), remove the socket, close the timers; freed once closed.
 * NULL is a no-op. */
void mw_ctlapi_close(struct mw_ctlapi *c);
