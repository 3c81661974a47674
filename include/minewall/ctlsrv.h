/* The control API's UNIX socket (control.socket): accepts connections on the control loop,
 * reads one request line per connection (at most MW_CONTROL_REQ_MAX bytes, within
 * MW_CTLSRV_READ_MS), learns the peer's uid and pid (SO_PEERCRED), hands the line to the
 * owner's callback, and writes the answer ("STATUS\n" and the body) when the owner replies, at
 * once or later (a reload answers when it is done). At most MW_CONTROL_MAX_CONNS connections
 * are open; more, oversized lines and slow clients are closed and counted. The line is not
 * interpreted here: control.c parses it, server.c acts.
 *
 * The socket file is created with mode 0660 before listen(2), so no connection is accepted
 * with wider permissions. A missing parent directory is created (mode 0755) when its own parent
 * exists; a stale socket left by a crash is replaced; a live one (another minewall answers on
 * it) and a path that is not a socket are left alone: mw_ctlsrv_new fails and the caller goes
 * on without a control socket. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct mw_ctlsrv;
struct mw_ctl_call;
struct uv_loop_s;

/* How long a client may take to send its line. */
#define MW_CTLSRV_READ_MS 5000

/* A request line (without '\n', NUL-terminated, valid during the call) from the peer uid/pid
 * (-1 when unknown). The owner must answer call exactly once with mw_ctlsrv_reply, during the
 * call or later; the call stays valid until then even if the client went away. */
typedef void (*mw_ctlsrv_request_cb)(void *arg, struct mw_ctl_call *call, const char *line,
                                     size_t len, long uid, long pid);

struct mw_ctlsrv_stats {
    uint64_t connections; /* accepted and served */
    uint64_t rejected;    /* closed at once: MW_CONTROL_MAX_CONNS were open */
    uint64_t oversized;   /* lines over MW_CONTROL_REQ_MAX (answered 413) */
    uint64_t timeouts;    /* no complete line within MW_CTLSRV_READ_MS */
    unsigned open;
};

/* Create the socket at path and listen on loop (borrowed). Returns 0 and *out, or a negative
 * errno with the reason in why (nothing is left open). */
int mw_ctlsrv_new(struct uv_loop_s *loop, const char *path, mw_ctlsrv_request_cb cb, void *arg,
                  struct mw_ctlsrv **out, char *why, size_t why_len);

/* Answer a call: status (200, 400, ...) and body; the connection closes after the write. The
 * body is copied. */
void mw_ctlsrv_reply(struct mw_ctl_call *call, int status, const char *body, size_t len);

void mw_ctlsrv_stats(const struct mw_ctlsrv *c, struct mw_ctlsrv_stats *out);

/* Stop listening, remove the socket file (when it is still the one created), close the
 * connections; calls awaiting a reply stay valid until replied to (the reply is dropped then).
 * Frees c once everything is closed and replied to. NULL is a no-op. */
void mw_ctlsrv_close(struct mw_ctlsrv *c);
