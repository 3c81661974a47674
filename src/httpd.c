/* The embedded HTTP/1.1 server of the metrics endpoint. It owns one listening TCP handle and a
 * struct conn per accepted connection (a TCP handle and a timer, both embedded; the conn is
 * freed when both are closed). A connection reads into a fixed MW_HTTP_HEAD_MAX buffer, parses
 * complete heads in order (pipelining), answers each through the handler with one uv_write of a
 * copied response, and at any time has exactly one deadline on its timer: the header deadline
 * while a head is incomplete, the idle deadline otherwise, the linger deadline while draining.
 * When a response ends the connection, the server shuts down its side after the write and
 * discards input until EOF or the linger deadline, so the client reads the response instead of
 * a reset. A client that does not read its responses stops being read (write-queue high-water
 * mark), so memory per connection is bounded. It does not parse bodies, decode percent escapes,
 * do TLS or chunked responses; the server is closed only through mw_httpd_close(). */
#include "minewall/httpd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "minewall/log.h"
#include "minewall/netaddr.h"

#define TAG "httpd"
#define METHOD_MAX 32
#define LINGER_MS 2000
#define WQ_HIGH (1u << 20) /* stop reading a client with this much unsent */
#define WQ_LOW (256u << 10)
#define CTYPE_MAX 200
#define DEFAULT_CTYPE "text/plain; charset=utf-8"

/* ---- Parser ---- */

static bool tchar(unsigned char c)
{
    /* RFC 9110 5.6.2 token characters. */
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool ieq(const char *a, size_t alen, const char *lit)
{
    return alen == strlen(lit) && strncasecmp(a, lit, alen) == 0;
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Request line: method SP request-target SP HTTP-version (RFC 9112 3), single spaces. */
static int parse_request_line(const char *s, size_t n, struct mw_http_request *out)
{
    const char *sp1 = memchr(s, ' ', n);
    if (!sp1 || sp1 == s || sp1 - s > METHOD_MAX)
        return -EBADMSG;
    for (const char *p = s; p < sp1; p++)
        if (!tchar((unsigned char)*p))
            return -EBADMSG;
    out->method_text = s;
    out->method_len = (size_t)(sp1 - s);
    if (ieq(s, out->method_len, "GET") && memcmp(s, "GET", 3) == 0)
        out->method = MW_HTTP_GET;
    else if (ieq(s, out->method_len, "HEAD") && memcmp(s, "HEAD", 4) == 0)
        out->method = MW_HTTP_HEAD;
    else if (ieq(s, out->method_len, "POST") && memcmp(s, "POST", 4) == 0)
        out->method = MW_HTTP_POST;
    else
        out->method = MW_HTTP_OTHER; /* methods are case-sensitive: "get" is another method */

    const char *t = sp1 + 1, *end = s + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t)
        return -EBADMSG;
    for (const char *p = t; p < sp2; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '#')
            return -EBADMSG;
    /* absolute-form (RFC 9112 3.2.2) must be accepted: keep only its path and query. */
    size_t tl = (size_t)(sp2 - t);
    if (tl > 7 && (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0)) {
        const char *a = (const char *)memchr(t, '/', tl) + 2, *q = a;
        while (q < sp2 && *q != '/' && *q != '?')
            q++;
        if (q == a)
            return -EBADMSG;
        t = q;
    } else if (*t != '/') {
        return -EBADMSG; /* authority- and asterisk-form are for CONNECT and OPTIONS */
    }
    const char *qm = memchr(t, '?', (size_t)(sp2 - t));
    const char *pend = qm ? qm : sp2;
    if (pend == t || *t != '/') {
        out->path = "/"; /* "http://host" or "http://host?x" */
        out->path_len = 1;
    } else {
        out->path = t;
        out->path_len = (size_t)(pend - t);
    }
    if (qm) {
        out->query = qm + 1;
        out->query_len = (size_t)(sp2 - qm - 1);
    }

    const char *v = sp2 + 1;
    if (end - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return -EBADMSG;
    if (v[5] != '1')
        return -EPROTONOSUPPORT;
    out->version_minor = v[7] == '0' ? 0 : 1;
    return 0;
}

struct hdr_state {
    bool conn_close, conn_keep_alive, have_cl;
    unsigned hosts;
};

static void parse_connection(const char *v, size_t n, struct hdr_state *st)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (ows(v[i]) || v[i] == ','))
            i++;
        size_t b = i;
        while (i < n && v[i] != ',' && !ows(v[i]))
            i++;
        if (ieq(v + b, i - b, "close"))
            st->conn_close = true;
        else if (ieq(v + b, i - b, "keep-alive"))
            st->conn_keep_alive = true;
    }
}

static int parse_header(const char *s, size_t n, struct mw_http_request *out, struct hdr_state *st)
{
    if (ows(s[0]))
        return -EBADMSG; /* obs-fold: RFC 9112 5.2 lets a server reject it with 400 */
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s)
        return -EBADMSG;
    for (const char *p = s; p < colon; p++)
        if (!tchar((unsigned char)*p))
            return -EBADMSG; /* includes whitespace before the colon (RFC 9112 5.1) */
    size_t nl = (size_t)(colon - s);
    const char *v = colon + 1, *ve = s + n;
    while (v < ve && ows(*v))
        v++;
    while (ve > v && ows(ve[-1]))
        ve--;
    for (const char *p = v; p < ve; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -EBADMSG;
    }
    size_t vl = (size_t)(ve - v);
    if (ieq(s, nl, "Content-Length")) {
        if (vl == 0)
            return -EBADMSG;
        uint64_t x = 0;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -EBADMSG; /* also rejects the list form "5, 5" */
            unsigned d = (unsigned)(v[i] - '0');
            x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
        }
        if (st->have_cl && x != out->content_length)
            return -EBADMSG;
        st->have_cl = true;
        out->content_length = x;
    } else if (ieq(s, nl, "Transfer-Encoding")) {
        out->chunked = true;
    } else if (ieq(s, nl, "Connection")) {
        parse_connection(v, vl, st);
    } else if (ieq(s, nl, "Host")) {
        st->hosts++;
    } else if (ieq(s, nl, "Authorization")) {
        if (out->authorization)
            return -EBADMSG; /* two credentials: which one would count is ambiguous */
        out->authorization = v;
        out->authorization_len = vl;
    }
    return 0;
}

/* What to say when no CRLF ends the data: invalid so far, too long, or wait. */
static int incomplete(const char *buf, size_t len, size_t line, bool request_line)
{
    if (request_line) {
        if (line + 1 == len && buf[line] == '\r')
            return 0; /* half of a leading empty line */
        for (size_t i = line; i < len && buf[i] != ' '; i++)
            if (!tchar((unsigned char)buf[i]) || i - line >= METHOD_MAX)
                return -EBADMSG; /* garbage is refused before its first CRLF */
    } else if (line < len && ows(buf[line])) {
        return -EBADMSG;
    }
    return len >= MW_HTTP_HEAD_MAX ? -EMSGSIZE : 0;
}

int mw_http_parse_request(const char *buf, size_t len, struct mw_http_request *out)
{
    memset(out, 0, sizeof(*out));
    size_t limit = len < MW_HTTP_HEAD_MAX ? len : MW_HTTP_HEAD_MAX;
    size_t pos = 0;
    while (pos + 1 < limit && buf[pos] == '\r' && buf[pos + 1] == '\n')
        pos += 2; /* RFC 9112 2.2: ignore empty lines before the request line */
    struct hdr_state st = {0};
    bool first = true;
    for (;;) {
        const char *nl = pos < limit ? memchr(buf + pos, '\n', limit - pos) : NULL;
        if (!nl)
            return incomplete(buf, len, pos, first);
        size_t eol = (size_t)(nl - buf);
        if (eol == pos || buf[eol - 1] != '\r')
            return -EBADMSG; /* bare LF */
        size_t n = eol - 1 - pos;
        int rc;
        if (first) {
            rc = parse_request_line(buf + pos, n, out);
            first = false;
        } else if (n == 0) {
            break;
        } else {
            rc = parse_header(buf + pos, n, out, &st);
        }
        if (rc < 0)
            return rc;
        pos = eol + 1;
    }
    /* RFC 9112 3.2: a 1.1 request without Host, or with several, gets a 400. */
    if (st.hosts > 1 || (out->version_minor == 1 && st.hosts == 0))
        return -EBADMSG;
    out->has_host = st.hosts == 1;
    out->keep_alive =
        out->version_minor == 1 ? !st.conn_close : st.conn_keep_alive && !st.conn_close;
    return (int)pos + 2;
}

/* ---- Responses ---- */

/* Make room for add more bytes and a NUL; errors stick in r->err. */
static int reserve(struct mw_http_response *r, size_t add)
{
    if (r->err)
        return r->err;
    if (add > MW_HTTP_BODY_MAX - r->body_len)
        return r->err = -EMSGSIZE;
    if (r->body_len + add + 1 <= r->body_cap)
        return 0;
    size_t cap = r->body_cap ? r->body_cap : 4096;
    while (cap < r->body_len + add + 1)
        cap *= 2;
    char *nb = realloc(r->body, cap);
    if (!nb)
        return r->err = -ENOMEM;
    r->body = nb;
    r->body_cap = cap;
    return 0;
}

int mw_http_body_append(struct mw_http_response *r, const void *data, size_t len)
{
    int rc = reserve(r, len);
    if (rc)
        return rc;
    if (len)
        memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

int mw_http_body_vprintf(struct mw_http_response *r, const char *fmt, va_list ap)
{
    if (r->err)
        return r->err;
    /* Format in place when it fits, else grow once and format again. */
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = r->body_cap - r->body_len;
    int n = vsnprintf(room ? r->body + r->body_len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return r->err = -EINVAL;
    if ((size_t)n >= room) {
        int rc = reserve(r, (size_t)n);
        if (rc)
            return rc;
        vsnprintf(r->body + r->body_len, (size_t)n + 1, fmt, ap);
    }
    r->body_len += (size_t)n;
    return 0;
}

int mw_http_body_printf(struct mw_http_response *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = mw_http_body_vprintf(r, fmt, ap);
    va_end(ap);
    return rc;
}

const char *mw_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* ---- Server ---- */

struct conn {
    struct conn *prev, *next; /* in mw_httpd.conns */
    struct mw_httpd *h;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    unsigned open;   /* of tcp and timer, not yet closed */
    unsigned writes; /* uv_write requests in flight */
    bool closing;
    bool reading;
    bool paused;   /* reading stopped: the client is not taking its responses */
    bool draining; /* the last response is queued; shutdown follows, input is discarded */
    bool shut_done;
    bool eof;
    uint64_t head_ms;   /* first byte of the incomplete head in buf */
    uint64_t active_ms; /* accept, last request, last write completed */
    uint64_t shut_ms;
    size_t len;
    char buf[MW_HTTP_HEAD_MAX];
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    char data[];
};

/* A connection over max_conns: accepted only to be closed. */
struct reject {
    uv_tcp_t tcp;
    struct mw_httpd *h;
};

struct mw_httpd {
    uv_loop_t *loop; /* borrowed */
    uv_tcp_t listener;
    struct mw_httpd_params p;
    mw_httpd_handler_cb handler; /* borrowed with arg */
    void *arg;
    mw_httpd_done_cb done;
    void *done_arg;
    struct conn *conns; /* owned, open or closing */
    unsigned nconns;
    unsigned open; /* listener and rejects not yet closed */
    bool closing;
    struct mw_httpd_stats st;
    struct mw_http_response resp;       /* reused for every request; body owned */
    char scratch[MW_HTTP_HEAD_MAX + 3]; /* NUL-terminated path, query and authorization */
};

static void maybe_done(struct mw_httpd *h)
{
    if (!h->closing || h->open || h->nconns)
        return;
    mw_httpd_done_cb done = h->done;
    void *arg = h->done_arg;
    free(h->resp.body);
    free(h);
    if (done)
        done(arg);
}

static void conn_closed(uv_handle_t *hd)
{
    struct conn *c = hd->data;
    if (--c->open)
        return;
    struct mw_httpd *h = c->h;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    free(c);
    maybe_done(h);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (!c->draining) {
        c->h->st.timeouts++;
        mw_log_debug(TAG, "connection timed out (%s)", c->len ? "head" : "idle");
    }
    conn_close(c);
}

/* One deadline at a time; see the file comment. */
static void arm(struct conn *c, uint64_t now)
{
    if (c->closing)
        return;
    const struct mw_httpd_params *p = &c->h->p;
    uint64_t at;
    if (c->draining)
        at = c->shut_done ? c->shut_ms + LINGER_MS : c->active_ms + p->idle_timeout_ms;
    else if (c->paused || c->len == 0)
        at = c->active_ms + p->idle_timeout_ms;
    else
        at = c->head_ms + p->header_timeout_ms;
    uv_timer_start(&c->timer, on_timer, at > now ? at - now : 0, 0);
}

static void on_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *b)
{
    (void)hint;
    struct conn *c = hd->data;
    if (c->draining) /* discarded input */
        *b = uv_buf_init(c->buf, sizeof(c->buf));
    else
        *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void on_write(uv_write_t *req, int status);

static void read_start(struct conn *c)
{
    if (c->reading || c->eof || c->closing)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
    else
        c->reading = true;
}

static void read_stop(struct conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (c->closing)
        return; /* UV_ECANCELED from uv_close */
    c->shut_done = true;
    if (status < 0 || c->eof) {
        conn_close(c);
        return;
    }
    c->shut_ms = uv_now(c->h->loop);
    arm(c, c->shut_ms);
}

/* End the connection gracefully: after the queued writes, send FIN; discard input until the
 * client's EOF or the linger deadline, so a client still sending does not get a reset that
 * would destroy the response in its receive buffer. */
static void begin_drain(struct conn *c, uint64_t now)
{
    if (c->closing || c->draining)
        return;
    c->draining = true;
    c->paused = false;
    c->len = 0;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        conn_close(c);
        return;
    }
    read_start(c);
    arm(c, now);
}

static void send_response(struct conn *c, int status, const char *ctype, const char *extra,
                          const char *body, size_t blen, bool head_only, bool keep, uint64_t now)
{
    char hdr[512];
    int hl = snprintf(hdr, sizeof(hdr),
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                      "Connection: %s\r\n\r\n",
                      status, mw_http_reason(status), ctype, blen, extra ? extra : "",
                      keep ? "keep-alive" : "close");
    size_t bl = head_only ? 0 : blen;
    struct wreq *w =
        hl > 0 && (size_t)hl < sizeof(hdr) ? malloc(sizeof(*w) + (size_t)hl + bl) : NULL;
    if (!w) {
        conn_close(c);
        return;
    }
    memcpy(w->data, hdr, (size_t)hl);
    if (bl)
        memcpy(w->data + hl, body, bl);
    w->c = c;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)((size_t)hl + bl));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        free(w);
        conn_close(c);
        return;
    }
    c->writes++;
    if (!keep)
        begin_drain(c, now);
}

static void refuse(struct conn *c, int status, bool head_only, bool keep, uint64_t now)
{
    c->h->st.requests++;
    c->h->st.bad_requests++;
    mw_log_debug(TAG, "refused request: %d", status);
    char body[64];
    int n = snprintf(body, sizeof(body), "%s\n", mw_http_reason(status));
    send_response(c, status, DEFAULT_CTYPE, status == 405 ? "Allow: GET, HEAD, POST\r\n" : NULL,
                  body, (size_t)n, head_only, keep, now);
}

static bool ctype_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f || n >= CTYPE_MAX)
            return false;
    return n > 0;
}

static void serve(struct conn *c, const struct mw_http_request *rq, uint64_t now)
{
    struct mw_httpd *h = c->h;
    bool head = rq->method == MW_HTTP_HEAD;
    /* We never read bodies, so the connection cannot go on after one was announced. */
    if (rq->chunked) {
        refuse(c, 400, head, false, now);
        return;
    }
    if (rq->content_length > 0) {
        refuse(c, 413, head, false, now);
        return;
    }
    if (rq->method == MW_HTTP_OTHER) {
        refuse(c, 405, false, rq->keep_alive, now);
        return;
    }
    h->st.requests++;
    struct mw_http_response *r = &h->resp;
    r->status = 200;
    r->content_type = NULL;
    r->body_len = 0;
    r->err = 0;
    if (r->body)
        r->body[0] = '\0';
    char *path = h->scratch, *query = h->scratch + rq->path_len + 1;
    memcpy(path, rq->path, rq->path_len);
    path[rq->path_len] = '\0';
    if (rq->query_len)
        memcpy(query, rq->query, rq->query_len);
    query[rq->query_len] = '\0';
    char *auth = query + rq->query_len + 1;
    memcpy(auth, rq->authorization ? rq->authorization : "", rq->authorization_len);
    auth[rq->authorization_len] = '\0';
    r->authorization = rq->authorization ? auth : NULL;
    r->head = head;
    r->method = rq->method;
    r->allow = NULL;
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    memset(&r->peer, 0, sizeof(r->peer));
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        mw_addr_from_sa((struct sockaddr *)&ss, &r->peer);
    mw_log_debug(TAG, "%.*s %s", (int)rq->method_len, rq->method_text, path);
    int rc = h->handler(h->arg, path, query, r);
    if (c->closing)
        return; /* the handler closed the server */
    const char *ctype = r->content_type ? r->content_type : DEFAULT_CTYPE;
    if (rc < 0 || r->err || r->status < 200 || r->status > 599 || !ctype_ok(ctype)) {
        static const char ise[] = "Internal Server Error\n";
        send_response(c, 500, DEFAULT_CTYPE, NULL, ise, sizeof(ise) - 1, head, rq->keep_alive, now);
        return;
    }
    char allow[64];
    bool with_allow =
        r->status == 405 && r->allow && ctype_ok(r->allow) &&
        (size_t)snprintf(allow, sizeof(allow), "Allow: %s\r\n", r->allow) < sizeof(allow);
    send_response(c, r->status, ctype, with_allow ? allow : NULL, r->body, r->body_len, head,
                  rq->keep_alive, now);
    if (r->body_cap > (4u << 20)) { /* the response was copied: do not keep a huge buffer */
        free(r->body);
        r->body = NULL;
        r->body_cap = 0;
    }
}

static int status_of(int err)
{
    return err == -EMSGSIZE ? 431 : err == -EPROTONOSUPPORT ? 505 : 400;
}

/* Answer every complete head in buf, in order, until the head is incomplete, the connection
 * ends, or the client has too much unread (then reading stops until writes drain). */
static void process(struct conn *c, uint64_t now)
{
    while (!c->closing && !c->draining && !c->paused && c->len > 0) {
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > WQ_HIGH) {
            c->paused = true;
            read_stop(c);
            break;
        }
        struct mw_http_request rq;
        int n = mw_http_parse_request(c->buf, c->len, &rq);
        if (n == 0)
            break;
        if (n < 0) {
            refuse(c, status_of(n), false, false, now);
            break;
        }
        serve(c, &rq, now);
        if (c->closing || c->draining)
            break;
        c->len -= (size_t)n;
        memmove(c->buf, c->buf + n, c->len);
        c->head_ms = c->active_ms = now;
    }
    arm(c, now);
}

static void on_eof(struct conn *c)
{
    read_stop(c);
    c->eof = true;
    /* A half-closed client may still read: finish its responses, then close. */
    if (c->draining) {
        if (c->shut_done)
            conn_close(c);
    } else if (c->writes == 0) {
        conn_close(c);
    } else {
        begin_drain(c, uv_now(c->h->loop));
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct conn *c = s->data;
    if (c->closing || nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_EOF)
            on_eof(c);
        else
            conn_close(c);
        return;
    }
    if (c->draining)
        return;
    uint64_t now = uv_now(c->h->loop);
    if (c->len == 0)
        c->head_ms = now;
    c->len += (size_t)nread;
    process(c, now);
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;
    free(w);
    c->writes--;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    uint64_t now = uv_now(c->h->loop);
    c->active_ms = now;
    if (c->paused && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <= WQ_LOW) {
        c->paused = false;
        process(c, now);
        if (!c->paused && !c->draining)
            read_start(c);
    }
    arm(c, now);
}

static void reject_closed(uv_handle_t *hd)
{
    struct reject *r = hd->data;
    struct mw_httpd *h = r->h;
    free(r);
    h->open--;
    maybe_done(h);
}

/* Over the limit: accept (or the listener stalls on the pending connection) and close. */
static void reject(struct mw_httpd *h)
{
    struct reject *r = malloc(sizeof(*r));
    if (!r) {
        mw_log_debug(TAG, "out of memory rejecting a connection");
        return;
    }
    r->h = h;
    uv_tcp_init(h->loop, &r->tcp);
    r->tcp.data = r;
    h->open++;
    h->st.conns_rejected++;
    uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)&r->tcp);
    uv_close((uv_handle_t *)&r->tcp, reject_closed);
}

static void on_connection(uv_stream_t *srv, int status)
{
    struct mw_httpd *h = srv->data;
    if (status < 0) {
        mw_log_debug(TAG, "accept: %s", uv_strerror(status));
        return;
    }
    if (h->nconns >= h->p.max_conns) {
        /* Full: make room by closing the connection idle the longest (no partial request, no
         * response in flight), so silent clients cannot lock health checks out; when every
         * connection is busy, refuse the new one. */
        struct conn *victim = NULL;
        for (struct conn *o = h->conns; o; o = o->next)
            if (!o->closing && o->len == 0 && o->writes == 0 &&
                (!victim || o->active_ms <= victim->active_ms)) /* the list is newest first */
                victim = o;
        if (!victim) {
            reject(h);
            return;
        }
        h->st.timeouts++;
        conn_close(victim);
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        reject(h);
        return;
    }
    c->h = h;
    uv_tcp_init(h->loop, &c->tcp);
    uv_timer_init(h->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open = 2;
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    h->nconns++;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    h->st.connections++;
    uv_tcp_nodelay(&c->tcp, 1);
    c->active_ms = uv_now(h->loop);
    read_start(c);
    arm(c, c->active_ms);
}

void mw_httpd_params_init(struct mw_httpd_params *p)
{
    p->idle_timeout_ms = 10000;
    p->header_timeout_ms = 5000;
    p->max_conns = 64;
    p->backlog = 128;
}

static void free_on_close(uv_handle_t *hd)
{
    free(hd->data);
}

int mw_httpd_new_params(uv_loop_t *loop, const struct mw_addr *addr,
                        const struct mw_httpd_params *params, mw_httpd_handler_cb handler,
                        void *arg, struct mw_httpd **out)
{
    struct mw_httpd_params p;
    if (params)
        p = *params;
    else
        mw_httpd_params_init(&p);
    if (!loop || !addr || !handler || !out || p.max_conns == 0 || p.idle_timeout_ms == 0 ||
        p.header_timeout_ms == 0 || p.backlog <= 0)
        return -EINVAL;
    int fam = addr->u.sa.sa_family;
    if (fam != AF_INET && fam != AF_INET6)
        return -EAFNOSUPPORT;
    /* The socket is bound and listening before libuv sees it, so every usual failure
     * (address in use, permission) leaves nothing behind on the loop. */
    int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, rc = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, &addr->u.sa, addr->len) < 0 || listen(fd, p.backlog) < 0)
        rc = -errno;
    struct mw_httpd *h = rc ? NULL : calloc(1, sizeof(*h));
    if (!h) {
        close(fd);
        return rc ? rc : -ENOMEM;
    }
    h->loop = loop;
    h->p = p;
    h->handler = handler;
    h->arg = arg;
    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    rc = uv_tcp_open(&h->listener, fd);
    if (rc < 0)
        close(fd); /* not taken by the handle */
    else
        rc = uv_listen((uv_stream_t *)&h->listener, p.backlog, on_connection);
    if (rc < 0) {
        /* Not expected with a listening socket; the handle frees h when closed. */
        uv_close((uv_handle_t *)&h->listener, free_on_close);
        return rc;
    }
    h->open = 1;
    *out = h;
    return 0;
}

int mw_httpd_new(uv_loop_t *loop, const struct mw_addr *addr, mw_httpd_handler_cb handler,
                 void *arg, struct mw_httpd **out)
{
    return mw_httpd_new_params(loop, addr, NULL, handler, arg, out);
}

static void listener_closed(uv_handle_t *hd)
{
    struct mw_httpd *h = hd->data;
    h->open--;
    maybe_done(h);
}

void mw_httpd_close(struct mw_httpd *h, mw_httpd_done_cb done, void *arg)
{
    if (!h || h->closing)
        return;
    h->closing = true;
    h->done = done;
    h->done_arg = arg;
    /* The listener's close callback is always still to come, so done is never synchronous. */
    uv_close((uv_handle_t *)&h->listener, listener_closed);
    for (struct conn *c = h->conns; c; c = c->next)
        conn_close(c);
}

int mw_httpd_local_addr(const struct mw_httpd *h, struct mw_addr *out)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc = uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len);
    return rc < 0 ? rc : mw_addr_from_sa((struct sockaddr *)&ss, out);
}

void mw_httpd_stats(const struct mw_httpd *h, struct mw_httpd_stats *out)
{
    *out = h->st;
    out->conns_open = h->nconns;
}
