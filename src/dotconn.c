/* DNS-over-TLS connections of one worker; see dotconn.h.
 *
 * Bounds: tls.max-connections connections per upstream, tls.max-pipeline queries in flight on
 * each (so at most their product per upstream; beyond it a query is refused with -EBUSY and
 * counted, and upstream.c tries another upstream), one received message of at most 64 KiB
 * being reassembled per connection. Requests come from a free list, so a query allocates
 * nothing once the pool is warm. A connection opened for a query carries the queries that
 * arrive during its handshake too (they wait in its queue and are written when it is ready). */
#include "minewall/dotconn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "minewall/config.h"
#include "minewall/dnsmsg.h"
#include "minewall/doh.h"
#include "minewall/dohconn.h"
#include "minewall/dot.h"
#include "minewall/log.h"
#include "minewall/netaddr.h"
#include "minewall/tls.h"

#define MAX_QUERY 1024 /* a padded query: a name of 255 bytes fits with room */
#define READ_BUF 16384
/* Plaintext reassembly: the largest message and its prefix always fit, with room for the
 * start of the next one. */
#define IN_CAP (2 + 65535 + 4096)
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000

struct mw_dot_req {
    struct mw_dot_req *next, *prev; /* on the connection's queue or sent list, or free list */
    struct dconn *c;                /* NULL once detached */
    mw_dot_cb cb;
    void *arg;
    uint16_t id;
    bool sent;
    bool moved;     /* already moved once off a connection the server closed */
    int32_t stream; /* DoH: its HTTP/2 stream once sent */
    uint16_t len;
    uint8_t buf[2 + MAX_QUERY]; /* length prefix and query */
};

struct pool;

struct dconn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* connect/handshake deadline, then idle timeout */
    uv_connect_t creq;
    struct pool *p; /* valid until closing: a pool may go before the handles close */
    const struct mw_dot_host *host; /* the mw_dot's, which outlives its handles */
    struct dconn *next;             /* in the pool */
    struct mw_tls *tls;
    struct mw_dohconn *h2;   /* DoH: the HTTP/2 session on this connection; NULL for DoT */
    struct mw_dot_req *reqs; /* waiting to be written, then waiting for the answer */
    unsigned n_reqs;
    unsigned closed_handles;
    uint64_t queries;
    int64_t keepalive_ms; /* the server's, -1 unknown */
    bool ready, retired, closing, broken;
    uint8_t *in; /* plaintext being reassembled: 2-byte length and message */
    size_t in_len;
};

struct pool {
    struct pool *next;
    struct mw_dot *d;
    struct mw_addr addr;
    char auth_name[MW_DOT_NAME_MAX + 1];
    uint8_t (*pins)[32]; /* owned copy of the pins the connections were made with */
    size_t n_pins;
    /* DoH: the URL's request parts and where its host is now (updated by each query). */
    bool doh, get;
    struct mw_addr connect;
    char authority[MW_DOH_HOST_MAX + 10];
    char path[MW_DOH_PATH_MAX + 1];
    struct dconn *conns;
    unsigned n_conns;
    struct mw_tls_session *session; /* owned; the newest resumable one */
    uint64_t backoff_ms;            /* after failed connections: 0, then 250 ms doubling to 30 s */
    uint64_t retry_at;              /* no new connection before (loop time) */
    bool configured;                /* in the current config */
    struct mw_dot_stats st;
};

struct mw_dot {
    struct mw_dot_host host;
    struct mw_tls_ctx *ctx; /* NULL: no tls upstream, or the anchors failed to load */
    char *ca_file;          /* owned; what ctx was made from */
    struct pool *pools;
    struct mw_dot_req *free_reqs;
    uint32_t max_conns, max_pipeline, idle_ms, connect_ms;
    uint64_t stray;
    bool closing;
    uint8_t rbuf[READ_BUF];
    uint8_t obuf[READ_BUF];
    /* DoH: the frames of one mw_dohconn_send gathered into one TLS record (HEADERS and DATA
     * of a query in one SSL_write: a record costs more than its bytes). Not obuf: a stream's
     * callback, while obuf holds the input being parsed, may send on another connection. */
    uint8_t hbuf[READ_BUF];
    size_t hlen;
};

struct wreq {
    uv_write_t w;
    struct dconn *c;
    size_t len;
    uint8_t data[];
};

static void conn_fail(struct dconn *c, int status);

/* ---- requests ---- */

static struct mw_dot_req *req_get(struct mw_dot *d)
{
    struct mw_dot_req *r = d->free_reqs;
    if (r) {
        d->free_reqs = r->next;
        return r;
    }
    return malloc(sizeof(*r));
}

static void req_put(struct mw_dot *d, struct mw_dot_req *r)
{
    r->next = d->free_reqs;
    d->free_reqs = r;
}

static void req_unlink(struct mw_dot_req *r)
{
    struct dconn *c = r->c;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    c->n_reqs--;
    r->c = NULL;
}

/* Put r (its query in r->buf) on c's queue under an ID unique on c. */
static void req_attach(struct dconn *c, struct mw_dot_req *r)
{
    uint16_t id = 0; /* DoH: RFC 8484 section 4.1, the stream matches the answer */
    bool unique = c->h2 != NULL;
    while (!unique) {
        id = (uint16_t)arc4random();
        unique = true;
        for (struct mw_dot_req *o = c->reqs; o && unique; o = o->next)
            unique = o->id != id;
    }
    r->c = c;
    r->id = id;
    r->sent = false;
    mw_dns_put16(r->buf + 2, id);
    r->prev = NULL;
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    c->n_reqs++;
}

static struct dconn *pick(struct pool *p);
static void h2_done(void *arg, void *req, int status, int http_status, const uint8_t *pkt,
                    size_t len);
static int write_queued(struct dconn *c);
static void idle_fired(uv_timer_t *t);

/* ---- connection ---- */

static void conn_handle_closed(uv_handle_t *h)
{
    struct dconn *c = h->data;
    const struct mw_dot_host *host = c->host;
    (*host->open_handles)--;
    if (++c->closed_handles < 2) {
        host->closed(host->arg);
        return;
    }
    mw_tls_free(c->tls);
    mw_dohconn_free(c->h2);
    free(c->in);
    free(c);
    host->closed(host->arg);
}

/* Take c out of its pool and close its handles; its requests must be gone. */
static void conn_close(struct dconn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct pool *p = c->p;
    for (struct dconn **pp = &p->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    p->n_conns--;
    p->st.open = p->n_conns;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

/* The server closed a connection that had worked, with queries in flight (its idle timeout
 * crossing our query, RFC 7766 section 6.2.4): each moves once to another connection of the
 * pool, a new one if need be, instead of failing the upstream. What cannot move stays on c
 * and fails. */
static void move_reqs(struct dconn *c)
{
    struct pool *p = c->p;
    struct mw_dot_req *r = c->reqs;
    while (r) {
        struct mw_dot_req *next = r->next;
        struct dconn *to = r->moved ? NULL : pick(p);
        if (to) {
            req_unlink(r);
            r->moved = true;
            req_attach(to, r);
            p->st.moved++;
            if (to->ready && write_queued(to) < 0) {
                to->retired = to->broken = true;
                uv_timer_start(&to->timer, idle_fired, 0, 0);
            }
        }
        r = next;
    }
}

/* Fail every request of c with status (their callbacks may send again: c is closed first so
 * no new request lands on it). */
static void conn_fail(struct dconn *c, int status)
{
    struct mw_dot *d = c->p->d;
    if (!c->ready && !c->closing) {
        /* A server that cannot be reached or verified is not asked to handshake again for
         * each query: new connections wait out a backoff that doubles with each failure. */
        struct pool *p = c->p;
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (p->backoff_ms > BACKOFF_MAX_MS)
            p->backoff_ms = BACKOFF_MAX_MS;
        p->retry_at = uv_now(c->host->loop) + p->backoff_ms;
    }
    conn_close(c);
    if (c->ready && status == -ECONNRESET && c->reqs)
        move_reqs(c);
    while (c->reqs) {
        struct mw_dot_req *r = c->reqs;
        req_unlink(r);
        mw_dot_cb cb = r->cb;
        void *arg = r->arg;
        req_put(d, r);
        cb(arg, status, NULL, 0);
    }
}

static void wrote(uv_write_t *w, int status)
{
    struct wreq *wr = (struct wreq *)w;
    struct dconn *c = wr->c;
    free(wr);
    if (status < 0 && !c->closing)
        conn_fail(c, status);
}

/* Send what TLS has for the network. */
static int flush(struct dconn *c)
{
    size_t n = mw_tls_pending(c->tls);
    if (n == 0 || c->closing)
        return 0;
    struct wreq *wr = malloc(sizeof(*wr) + n);
    if (!wr)
        return -ENOMEM;
    wr->c = c;
    wr->len = mw_tls_take(c->tls, wr->data, n);
    uv_buf_t b = uv_buf_init((char *)wr->data, (unsigned)wr->len);
    int rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, wrote);
    if (rc < 0)
        free(wr);
    return rc;
}

static void idle_fired(uv_timer_t *t);

/* Arm the idle timer when nothing is in flight (an idle connection costs the server a slot:
 * the shorter of ours and the server's keepalive, RFC 7828 section 3.2.2). */
static void idle_check(struct dconn *c)
{
    if (c->closing || !c->ready || c->n_reqs > 0)
        return;
    struct mw_dot *d = c->p->d;
    if (c->retired || c->keepalive_ms == 0 || (c->h2 && !mw_dohconn_usable(c->h2))) {
        conn_close(c);
        return;
    }
    uint64_t ms = d->idle_ms;
    if (c->keepalive_ms > 0 && (uint64_t)c->keepalive_ms < ms)
        ms = (uint64_t)c->keepalive_ms;
    uv_timer_start(&c->timer, idle_fired, ms, 0);
}

static void idle_fired(uv_timer_t *t)
{
    struct dconn *c = t->data;
    if (c->broken) {
        conn_fail(c, -EIO);
        return;
    }
    if (!c->ready) {
        c->p->st.conn_failures++;
        conn_fail(c, -ETIMEDOUT);
        return;
    }
    if (c->n_reqs == 0)
        conn_close(c);
}

static int h2_write(void *arg, const uint8_t *buf, size_t len)
{
    struct dconn *c = arg;
    struct mw_dot *d = c->p->d;
    if (d->hlen + len > sizeof(d->hbuf)) {
        if (d->hlen && mw_tls_write(c->tls, d->hbuf, d->hlen) < 0)
            return -EPROTO;
        d->hlen = 0;
        if (len > sizeof(d->hbuf))
            return mw_tls_write(c->tls, buf, len);
    }
    memcpy(d->hbuf + d->hlen, buf, len);
    d->hlen += len;
    return 0;
}

/* Encrypt the frames c's HTTP/2 session has queued (then flush() sends them). */
static int h2_pump(struct dconn *c)
{
    struct mw_dot *d = c->p->d;
    d->hlen = 0;
    int rc = mw_dohconn_send(c->h2, h2_write, c);
    if (d->hlen && mw_tls_write(c->tls, d->hbuf, d->hlen) < 0 && rc == 0)
        rc = -EPROTO; /* what was gathered goes out even after an error: it is the GOAWAY */
    d->hlen = 0;
    return rc;
}

/* DoH: open a stream for each request not yet written, then encrypt the frames. */
static int write_queued_h2(struct dconn *c)
{
    struct pool *p = c->p;
    for (struct mw_dot_req *r = c->reqs; r; r = r->next) {
        if (r->sent)
            continue;
        int32_t id = mw_dohconn_submit(c->h2, p->authority, p->path, p->get, r->buf + 2, r->len, r);
        if (id < 0)
            return id;
        r->stream = id;
        r->sent = true;
        p->st.queries++;
        if (c->queries++ > 0)
            p->st.reused++;
    }
    int rc = h2_pump(c);
    return rc < 0 ? rc : flush(c);
}

/* Encrypt the requests not yet written. */
static int write_queued(struct dconn *c)
{
    if (c->h2)
        return write_queued_h2(c);
    for (struct mw_dot_req *r = c->reqs; r; r = r->next) {
        if (r->sent)
            continue;
        if (mw_tls_write(c->tls, r->buf, (size_t)r->len + 2) < 0)
            return -EPROTO;
        r->sent = true;
        c->p->st.queries++;
        if (c->queries++ > 0)
            c->p->st.reused++;
    }
    return flush(c);
}

/* DoH: a stream ended (dohconn.h). Its answer, or its failure, goes to the request's owner;
 * a refused answer is counted by why. */
static void h2_done(void *arg, void *req, int status, int http_status, const uint8_t *pkt,
                    size_t len)
{
    struct dconn *c = arg;
    struct mw_dot_req *r = req;
    struct pool *p = c->p;
    (void)http_status;
    if (status == -EBADMSG)
        p->st.http_errors++;
    else if (status == -EMSGSIZE)
        p->st.oversize++;
    else if (status == -ECONNRESET)
        p->st.resets++;
    req_unlink(r);
    if (status == -ECONNRESET && !r->moved && !c->closing) {
        /* A stream refused by GOAWAY (the server going idle or away) or reset: the query
         * moves once to another stream, on another connection when this one is going. */
        struct dconn *to = pick(p);
        if (to) {
            r->moved = true;
            req_attach(to, r);
            p->st.moved++;
            if (to->ready && write_queued(to) < 0) {
                to->retired = to->broken = true;
                uv_timer_start(&to->timer, idle_fired, 0, 0);
            }
            return;
        }
    }
    mw_dot_cb cb = r->cb;
    void *cb_arg = r->arg;
    req_put(p->d, r);
    cb(cb_arg, status, pkt, len);
}

static void keep_session(struct dconn *c)
{
    struct mw_tls_session *s = mw_tls_session_take(c->tls);
    if (!s)
        return;
    mw_tls_session_free(c->p->session);
    c->p->session = s;
}

/* Dispatch one complete message of c's buffer. */
static void deliver(struct dconn *c, const uint8_t *pkt, size_t len)
{
    struct mw_dot *d = c->p->d;
    if (len < MW_DNS_HDR) {
        d->stray++;
        return;
    }
    uint16_t id = mw_dns_get16(pkt);
    struct mw_dot_req *r = c->reqs;
    while (r && !(r->sent && r->id == id))
        r = r->next;
    if (!r) {
        d->stray++;
        return;
    }
    int64_t ka = mw_dot_keepalive_ms(pkt, len);
    if (ka >= 0)
        c->keepalive_ms = ka;
    req_unlink(r);
    mw_dot_cb cb = r->cb;
    void *arg = r->arg;
    req_put(d, r);
    cb(arg, 0, pkt, len);
}

/* Read what TLS decrypted as it comes (several messages, or part of one, per read: one
 * SSL_read per record rather than one per length prefix and body) and deliver each complete
 * message. Returns 0, or a negative errno when the connection is to fail. */
static int read_plain(struct dconn *c)
{
    if (c->h2) {
        uint8_t *buf = c->p->d->obuf;
        for (;;) {
            int n = mw_tls_read(c->tls, buf, sizeof(c->p->d->obuf));
            if (n == -EAGAIN)
                return h2_pump(c); /* WINDOW_UPDATE, SETTINGS ack, RST_STREAM */
            if (n == 0)
                return -ECONNRESET;
            if (n < 0)
                return n;
            if (mw_dohconn_recv(c->h2, buf, (size_t)n) < 0)
                return -EPROTO;
            if (c->closing)
                return 0;
        }
    }
    if (!c->in && !(c->in = malloc(IN_CAP)))
        return -ENOMEM;
    for (;;) {
        int n = mw_tls_read(c->tls, c->in + c->in_len, IN_CAP - c->in_len);
        if (n == -EAGAIN)
            return 0;
        if (n == 0)
            return -ECONNRESET; /* close_notify */
        if (n < 0)
            return n;
        c->in_len += (size_t)n;
        size_t at = 0;
        while (c->in_len - at >= 2 && c->in_len - at >= 2 + (size_t)mw_dns_get16(c->in + at)) {
            size_t len = mw_dns_get16(c->in + at);
            deliver(c, c->in + at + 2, len);
            if (c->closing)
                return 0;
            at += 2 + len;
        }
        if (at > 0) {
            memmove(c->in, c->in + at, c->in_len - at);
            c->in_len -= at;
        }
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct dconn *c = s->data;
    struct pool *p = c->p;
    (void)buf;
    if (c->closing)
        return;
    if (nread < 0) {
        if (!c->ready)
            p->st.conn_failures++;
        conn_fail(c, nread == UV_EOF ? -ECONNRESET : (int)nread);
        return;
    }
    if (mw_tls_feed(c->tls, p->d->rbuf, (size_t)nread) < 0) {
        conn_fail(c, -ENOMEM);
        return;
    }
    if (!c->ready) {
        char why[256] = "";
        int rc = mw_tls_handshake(c->tls, why, sizeof(why));
        if (rc == -EAGAIN) {
            if (flush(c) < 0)
                conn_fail(c, -EIO);
            return;
        }
        if (rc < 0) {
            char a[64];
            mw_addr_format(&p->connect, a, sizeof(a));
            if (rc == -EPERM)
                p->st.verify_failures++;
            else
                p->st.conn_failures++;
            if (p->doh)
                mw_log_warn("dot", "https://%s%s (%s): %s", p->authority, p->path, a, why);
            else
                mw_log_warn("dot", "tls://%s%s%s: %s", a, p->auth_name[0] ? "#" : "", p->auth_name,
                            why);
            flush(c); /* the alert */
            conn_fail(c, rc);
            return;
        }
        if (c->h2 && !mw_tls_alpn_is(c->tls, "h2")) {
            char a[64];
            mw_addr_format(&p->connect, a, sizeof(a));
            mw_log_warn("dot", "https://%s (%s): the server did not select HTTP/2 (ALPN h2)",
                        p->authority, a);
            p->st.conn_failures++;
            conn_fail(c, -EPROTO);
            return;
        }
        c->ready = true;
        p->backoff_ms = 0;
        p->st.handshakes++;
        if (mw_tls_resumed(c->tls))
            p->st.resumptions++;
        uv_timer_stop(&c->timer);
        if (write_queued(c) < 0) {
            conn_fail(c, -EIO);
            return;
        }
    }
    int rc = read_plain(c);
    if (c->closing)
        return;
    keep_session(c);
    if (rc < 0) {
        conn_fail(c, rc);
        return;
    }
    if (flush(c) < 0) {
        conn_fail(c, -EIO);
        return;
    }
    idle_check(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct dconn *c = h->data;
    (void)suggested;
    buf->base = (char *)c->p->d->rbuf;
    buf->len = sizeof(c->p->d->rbuf);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct dconn *c = req->data;
    if (c->closing)
        return;
    if (status < 0) {
        c->p->st.conn_failures++;
        conn_fail(c, status);
        return;
    }
    char why[256];
    int rc = mw_tls_handshake(c->tls, why, sizeof(why)); /* the ClientHello */
    if ((rc != -EAGAIN && rc != 0) || flush(c) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        c->p->st.conn_failures++;
        conn_fail(c, -EPROTO);
    }
}

/* A new connection of p, the handshake under way. NULL on failure. */
static struct dconn *conn_new(struct pool *p)
{
    struct mw_dot *d = p->d;
    struct dconn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->p = p;
    c->host = &d->host;
    c->keepalive_ms = -1;
    c->tls = mw_tls_new(d->ctx, p->auth_name, &p->connect, (const uint8_t(*)[32])p->pins, p->n_pins,
                        p->session);
    if (c->tls && p->doh &&
        (mw_tls_set_alpn(c->tls, (const uint8_t *)"\x02h2", 3) < 0 ||
         mw_dohconn_new(h2_done, c, &c->h2) < 0)) {
        mw_tls_free(c->tls);
        c->tls = NULL;
    }
    if (!c->tls) {
        free(c);
        return NULL;
    }
    uv_tcp_init(d->host.loop, &c->tcp);
    uv_timer_init(d->host.loop, &c->timer);
    c->tcp.data = c->timer.data = c->creq.data = c;
    *d->host.open_handles += 2;
    c->next = p->conns;
    p->conns = c;
    p->n_conns++;
    p->st.open = p->n_conns;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, idle_fired, d->connect_ms, 0);
    if (uv_tcp_connect(&c->creq, &c->tcp, &p->connect.u.sa, on_connect) < 0) {
        conn_close(c);
        return NULL;
    }
    return c;
}

/* ---- pools ---- */

static struct pool *pool_find(const struct mw_dot *d, const struct mw_addr *a, const char *name)
{
    for (struct pool *p = d->pools; p; p = p->next)
        if (mw_addr_equal(&p->addr, a) && (!name || strcmp(p->auth_name, name) == 0))
            return p;
    return NULL;
}

static void pool_retire(struct pool *p)
{
    for (struct dconn *c = p->conns, *next; c; c = next) {
        next = c->next;
        c->retired = true;
        idle_check(c);
    }
    mw_tls_session_free(p->session);
    p->session = NULL;
}

static struct pool *pool_get(struct mw_dot *d, const struct mw_dot_target *t)
{
    struct pool *p = pool_find(d, t->addr, t->auth_name);
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return NULL;
        p->d = d;
        p->addr = *t->addr;
        snprintf(p->auth_name, sizeof(p->auth_name), "%s", t->auth_name);
        p->configured = true;
        p->connect = *t->addr;
        p->next = d->pools;
        d->pools = p;
    }
    if (t->connect)
        p->connect = *t->connect; /* a re-resolved host: new connections go there */
    if (t->doh) {
        p->doh = true;
        p->get = t->doh_get;
        mw_doh_authority(t->doh, p->authority, sizeof(p->authority));
        snprintf(p->path, sizeof(p->path), "%s", t->doh->path);
    }
    if (p->n_pins != t->n_pins ||
        (t->n_pins && memcmp(p->pins, t->pins, t->n_pins * sizeof(*p->pins)) != 0)) {
        /* New pins (a reload): connections verified under the old ones take no new query. */
        uint8_t(*np)[32] = NULL;
        if (t->n_pins && !(np = malloc(t->n_pins * sizeof(*np))))
            return NULL;
        if (t->n_pins)
            memcpy(np, t->pins, t->n_pins * sizeof(*np));
        free(p->pins);
        p->pins = np;
        p->n_pins = t->n_pins;
        pool_retire(p);
    }
    return p;
}

/* Queries c may carry at once: tls.max-pipeline, and for DoH the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS too. */
static unsigned conn_cap(const struct dconn *c)
{
    unsigned cap = c->p->d->max_pipeline;
    if (c->h2) {
        uint32_t m = mw_dohconn_max_streams(c->h2);
        if (m < cap)
            cap = m;
    }
    return cap;
}

/* The connection for the next query of p: the open one with the fewest queries in flight,
 * a new one while the pool has room and every open one carries some, or NULL (full). */
static struct dconn *pick(struct pool *p)
{
    struct mw_dot *d = p->d;
    struct dconn *best = NULL;
    unsigned live = 0;
    for (struct dconn *c = p->conns; c; c = c->next) {
        if (c->retired || c->closing || (c->h2 && !mw_dohconn_usable(c->h2)))
            continue;
        live++;
        if (c->n_reqs < conn_cap(c) && (!best || c->n_reqs < best->n_reqs))
            best = c;
    }
    if (best && (best->n_reqs == 0 || live >= d->max_conns || !best->ready))
        return best;
    if (live < d->max_conns && uv_now(d->host.loop) >= p->retry_at) {
        struct dconn *c = conn_new(p);
        if (c)
            return c;
    }
    return best;
}

int mw_dot_query(struct mw_dot *d, const struct mw_dot_target *t, const uint8_t *q, size_t len,
                 mw_dot_cb cb, void *arg, struct mw_dot_req **out)
{
    if (!d->ctx || d->closing)
        return -EINVAL;
    if (len < MW_DNS_HDR || len > MAX_QUERY)
        return -EMSGSIZE;
    if (t->by_name && !t->connect)
        return -EHOSTUNREACH;
    struct pool *p = pool_get(d, t);
    if (!p)
        return -ENOMEM;
    struct dconn *c = pick(p);
    if (!c && p->retry_at > uv_now(d->host.loop)) {
        p->st.backoff++;
        return -ECONNREFUSED;
    }
    if (!c) {
        p->st.busy++;
        return -EBUSY;
    }
    struct mw_dot_req *r = req_get(d);
    if (!r)
        return -ENOMEM;
    r->cb = cb;
    r->arg = arg;
    r->moved = false;
    r->len = (uint16_t)len;
    mw_dns_put16(r->buf, (uint16_t)len);
    memcpy(r->buf + 2, q, len);
    req_attach(c, r);
    if (c->ready) {
        uv_timer_stop(&c->timer);
        if (write_queued(c) < 0) {
            /* Never call back from here: the request is taken back, the connection fails
             * its others from the loop's next turn via its timer. */
            req_unlink(r);
            req_put(d, r);
            c->retired = c->broken = true;
            uv_timer_start(&c->timer, idle_fired, 0, 0);
            return -EIO;
        }
    }
    *out = r;
    return 0;
}

uint16_t mw_dot_req_id(const struct mw_dot_req *r)
{
    return r->id;
}

void mw_dot_cancel(struct mw_dot_req *r)
{
    if (!r || !r->c)
        return;
    struct dconn *c = r->c;
    struct mw_dot *d = c->p->d;
    if (c->h2 && r->sent) {
        mw_dohconn_cancel(c->h2, r->stream);
        if (!c->closing && c->ready && (h2_pump(c) < 0 || flush(c) < 0)) {
            c->retired = c->broken = true;
            uv_timer_start(&c->timer, idle_fired, 0, 0);
        }
    }
    req_unlink(r);
    req_put(d, r);
    idle_check(c);
}

/* ---- lifecycle ---- */

static int load(struct mw_dot *d, const struct mw_config *cfg, char *why, size_t why_len)
{
    d->max_conns = cfg->tls.max_connections;
    d->max_pipeline = cfg->tls.max_pipeline;
    d->idle_ms = cfg->tls.idle_timeout_ms;
    d->connect_ms = cfg->upstream.timeout_ms;
    for (struct pool *p = d->pools; p; p = p->next)
        p->configured = mw_config_tls_upstream(cfg, &p->addr) != NULL;
    if (cfg->tls.n_ups == 0)
        return 0;
    const char *ca = cfg->tls.ca_file;
    if (d->ctx && ((!ca && !d->ca_file) || (ca && d->ca_file && strcmp(ca, d->ca_file) == 0)))
        return 0;
    struct mw_tls_ctx *ctx = NULL;
    int rc = mw_tls_ctx_new(ca, &ctx, why, why_len);
    char *copy = ca ? strdup(ca) : NULL;
    if (rc < 0 || (ca && !copy)) {
        mw_tls_ctx_free(ctx);
        free(copy);
        return rc < 0 ? rc : -ENOMEM;
    }
    /* New anchors: what was verified under the old ones is not reused. */
    for (struct pool *p = d->pools; p; p = p->next)
        pool_retire(p);
    mw_tls_ctx_free(d->ctx);
    free(d->ca_file);
    d->ctx = ctx;
    d->ca_file = copy;
    return 0;
}

int mw_dot_new(const struct mw_dot_host *host, const struct mw_config *cfg, struct mw_dot **out,
               char *why, size_t why_len)
{
    struct mw_dot *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->host = *host;
    *out = d;
    return load(d, cfg, why, why_len);
}

int mw_dot_configure(struct mw_dot *d, const struct mw_config *cfg, char *why, size_t why_len)
{
    /* Pools of upstreams no longer configured go once they have no connection. */
    for (struct pool **pp = &d->pools; *pp;) {
        struct pool *p = *pp;
        if (!mw_config_tls_upstream(cfg, &p->addr) && p->n_conns == 0) {
            *pp = p->next;
            mw_tls_session_free(p->session);
            free(p->pins);
            free(p);
            continue;
        }
        pp = &p->next;
    }
    return load(d, cfg, why, why_len);
}

void mw_dot_stats(const struct mw_dot *d, const struct mw_addr *a, struct mw_dot_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (const struct pool *p = d->pools; p; p = p->next) {
        if (mw_addr_equal(&p->addr, a))
            mw_dot_stats_add(out, &p->st);
    }
}

void mw_dot_stats_add(struct mw_dot_stats *out, const struct mw_dot_stats *in)
{
    out->handshakes += in->handshakes;
    out->resumptions += in->resumptions;
    out->verify_failures += in->verify_failures;
    out->conn_failures += in->conn_failures;
    out->queries += in->queries;
    out->reused += in->reused;
    out->busy += in->busy;
    out->backoff += in->backoff;
    out->moved += in->moved;
    out->http_errors += in->http_errors;
    out->oversize += in->oversize;
    out->resets += in->resets;
    out->open += in->open;
}

uint64_t mw_dot_stray(const struct mw_dot *d)
{
    return d->stray;
}

void mw_dot_close(struct mw_dot *d)
{
    if (d->closing)
        return;
    d->closing = true;
    for (struct pool *p = d->pools; p; p = p->next) {
        while (p->conns) {
            struct dconn *c = p->conns;
            while (c->reqs) {
                struct mw_dot_req *r = c->reqs;
                req_unlink(r);
                req_put(d, r);
            }
            conn_close(c);
        }
    }
}

void mw_dot_free(struct mw_dot *d)
{
    if (!d)
        return;
    while (d->pools) {
        struct pool *p = d->pools;
        d->pools = p->next;
        mw_tls_session_free(p->session);
        free(p->pins);
        free(p);
    }
    while (d->free_reqs) {
        struct mw_dot_req *r = d->free_reqs;
        d->free_reqs = r->next;
        free(r);
    }
    mw_tls_ctx_free(d->ctx);
    free(d->ca_file);
    free(d);
}

void mw_dot_target_of(const struct mw_config *cfg, const struct mw_tls_upstream *t,
                      const struct mw_addr *resolved, struct mw_dot_target *out)
{
    const struct mw_tls_pins *pins = t->auth_name[0] ? mw_config_tls_pins(cfg, t->auth_name) : NULL;
    *out = (struct mw_dot_target){.addr = &t->addr,
                                  .auth_name = t->auth_name,
                                  .pins = pins ? (const uint8_t(*)[32])pins->sha256 : NULL,
                                  .n_pins = pins ? pins->n : 0};
    out->by_name = t->by_name;
    if (t->doh) {
        out->doh = &t->url;
        out->doh_get = cfg->tls.doh_get;
        out->connect = t->url.is_ip ? &t->url.ip : resolved;
    } else if (t->by_name) {
        out->connect = resolved;
    }
}
