/* A small embedded HTTP/1.1 server for the metrics endpoint. It runs on the resolver's control
 * loop (never on a DNS worker), answers GET, HEAD and POST (without a body: the control API's
 * actions) through one synchronous handler, and refuses everything else: other methods (405),
 * request bodies (413/400), heads over
 * MW_HTTP_HEAD_MAX (431), garbage (400). Keep-alive, pipelining (answered in order), an idle
 * timeout, a header timeout and a connection limit keep a misbehaving client to its own
 * connection. The request parser is pure and exported for the unit tests. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/netaddr.h"

struct mw_addr;
struct mw_httpd;
struct uv_loop_s; /* uv_loop_t; the header does not need <uv.h> */

/* Largest request head (request line + headers + blank line) accepted, in bytes. */
#define MW_HTTP_HEAD_MAX 8192
/* Largest response body a handler may build. */
#define MW_HTTP_BODY_MAX (64u << 20)

/* ---- Request parser (pure) ---- */

enum mw_http_method {
    MW_HTTP_GET = 1,
    MW_HTTP_HEAD = 2,
    MW_HTTP_OTHER = 3, /* a syntactically valid method we do not serve: 405 */
    MW_HTTP_POST = 4,  /* only without a body (Content-Length 0 or absent) */
};

/* A parsed request head. Every pointer points into the buffer given to the parser (borrowed;
 * nothing is NUL-terminated). */
struct mw_http_request {
    enum mw_http_method method;
    const char *method_text;
    size_t method_len;
    const char *path; /* starts with '/'; absolute-form targets are reduced to their path
                         (the constant "/" when they have none, outside the buffer) */
    size_t path_len;
    const char *query; /* after '?', without it; NULL when the target has no '?' */
    size_t query_len;
    int version_minor;         /* HTTP/1.<minor>: 0 or 1 (a higher minor is read as 1) */
    bool keep_alive;           /* from the version and the Connection header tokens */
    bool has_host;             /* a Host header was present */
    bool chunked;              /* Transfer-Encoding present (any coding): a body follows */
    uint64_t content_length;   /* 0 when absent */
    const char *authorization; /* the Authorization header's value, or NULL (two: -EBADMSG) */
    size_t authorization_len;
};

/* Parse the request head at the start of buf[0..len). Leading empty lines are skipped
 * (RFC 9112 2.2). Line ends must be CRLF. Returns:
 *   > 0  the length of the head including the final CRLFCRLF; *out is filled;
 *   0    the head is incomplete (and everything seen so far is valid);
 *   -EMSGSIZE         the head is or will be longer than MW_HTTP_HEAD_MAX;
 *   -EPROTONOSUPPORT  an HTTP version other than 1.x (answer 505);
 *   -EBADMSG          anything malformed: bad request line or target, a header line without a
 *                     colon or with whitespace before it, obsolete line folding, control bytes,
 *                     an invalid or conflicting Content-Length, HTTP/1.1 without exactly one
 *                     Host. Errors in complete lines are reported before the head ends. */
int mw_http_parse_request(const char *buf, size_t len, struct mw_http_request *out);

/* ---- Responses ---- */

/* What a handler fills. The module resets it before each call. */
struct mw_http_response {
    int status;               /* 200..599; defaults to 200 */
    const char *content_type; /* borrowed, must live until the handler returns; defaults to
                                 "text/plain; charset=utf-8"; no control characters */
    char *body;               /* owned by the module; use the functions below */
    size_t body_len;
    size_t body_cap;
    int err; /* first append error; a set err turns the response into a 500 */
    /* Set by the module before the call, for handlers that authenticate (the control API):
     * the Authorization header (NUL-terminated, valid during the call) or NULL, and the
     * client's address (family 0 when unknown). */
    const char *authorization;
    struct mw_addr peer;
    bool head; /* a HEAD request: a handler must not act on it, only describe */
    enum mw_http_method method;
    /* A handler that answers 405 names the methods the path takes here ("POST"); borrowed,
     * printable ASCII, sent as the Allow header. */
    const char *allow;
};

/* Append len bytes to the body. Returns 0, -ENOMEM, or -EMSGSIZE past MW_HTTP_BODY_MAX
 * (the error is also kept in resp->err). */
int mw_http_body_append(struct mw_http_response *resp, const void *data, size_t len);
/* Append formatted text to the body; same returns. */
int mw_http_body_printf(struct mw_http_response *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int mw_http_body_vprintf(struct mw_http_response *resp, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* The reason phrase of a status code ("OK", "Not Found", ...; "Unknown" otherwise). */
const char *mw_http_reason(int status);

/* ---- Server ---- */

/* Called synchronously, on the loop, for each complete GET, HEAD or POST request, in order per
 * connection. path is the raw request path (NUL-terminated, not percent-decoded), query the
 * raw text after '?' ("" when none); both are valid only during the call. Fill resp (for HEAD
 * too: the module sends the headers and drops the body). Return 0, or a negative errno to
 * answer 500. The handler must not block; it may call mw_httpd_close(). */
typedef int (*mw_httpd_handler_cb)(void *arg, const char *path, const char *query,
                                   struct mw_http_response *resp);
/* Called once, from the loop, when mw_httpd_close() has finished. */
typedef void (*mw_httpd_done_cb)(void *arg);

struct mw_httpd_params {
    uint64_t idle_timeout_ms;   /* no request and nothing sent for this long: close; 10000 */
    uint64_t header_timeout_ms; /* first byte of a head to its end: at most this; 5000 */
    unsigned max_conns;         /* more concurrent connections are accepted and closed; 64 */
    int backlog;                /* listen(2) backlog; 128 */
};

/* Fill p with the defaults above. */
void mw_httpd_params_init(struct mw_httpd_params *p);

struct mw_httpd_stats {
    uint64_t requests;       /* requests answered, by the handler or refused by the module */
    uint64_t bad_requests;   /* refused by the module: 400, 405, 413, 431, 505 */
    uint64_t connections;    /* connections accepted and served */
    uint64_t conns_rejected; /* connections closed at once because max_conns were open */
    uint64_t timeouts;       /* connections closed by the idle or header timeout */
    unsigned conns_open;     /* connections open now */
};

/* Bind a TCP socket to listen (SO_REUSEADDR; port 0 picks a free port, see
 * mw_httpd_local_addr) and start accepting on loop (borrowed; must outlive the server).
 * handler and arg are borrowed until the done callback of mw_httpd_close(). Returns 0 and
 * *out, or a negative errno (-EINVAL, -EADDRINUSE, -EADDRNOTAVAIL, -EACCES, -EAFNOSUPPORT,
 * -ENOMEM, ...) with the socket closed and *out untouched. Binding happens before libuv sees
 * the socket, so these leave nothing on the loop; only a failure inside libuv afterwards (not
 * expected) leaves a closing handle that frees itself on the next loop iteration. Never calls
 * the handler synchronously. */
int mw_httpd_new(struct uv_loop_s *loop, const struct mw_addr *listen, mw_httpd_handler_cb handler,
                 void *arg, struct mw_httpd **out);
/* The same with explicit parameters; params NULL means the defaults. */
int mw_httpd_new_params(struct uv_loop_s *loop, const struct mw_addr *listen,
                        const struct mw_httpd_params *params, mw_httpd_handler_cb handler,
                        void *arg, struct mw_httpd **out);

/* Stop listening, close every connection (pending responses are dropped) and free the server
 * asynchronously; done (may be NULL) is called from the loop once every handle is closed, after
 * which h is gone. Never calls done synchronously. Idempotent: a second call is ignored. NULL
 * is a no-op. */
void mw_httpd_close(struct mw_httpd *h, mw_httpd_done_cb done, void *arg);

/* The bound address (useful after binding port 0). Returns 0 or a negative errno. */
int mw_httpd_local_addr(const struct mw_httpd *h, struct mw_addr *out);
void mw_httpd_stats(const struct mw_httpd *h, struct mw_httpd_stats *out);
