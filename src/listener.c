/* Client sockets of one worker. The UDP socket receives in recvmmsg batches into one buffer
 * owned by the listener and answers with a direct send from inside the receive callback, so
 * a cache hit costs one receive share and one send and no allocation. TCP connections carry
 * length-prefixed messages; each connection counts its queries in flight and pauses reading
 * at the pipeline cap. A connection is freed only when its handles are closed and no query
 * still refers to it. */
#include "minewall/listener.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include "minewall/config.h"
#include "minewall/error.h"
#include "minewall/log.h"
#include "minewall/snapshot.h"
#include "minewall/socket.h"
#include "minewall/sockowner.h"
#include "minewall/tcpframe.h"
#include "minewall/worker.h"

/* libuv hands recvmmsg a buffer of this many 64 KiB slots (it caps the batch at 20). */
#define UDP_BATCH 16
#define UDP_SLOT 65536

/* The file-system uid the sockets of a SO_REUSEPORT group are created under. Linux lets a
 * socket join a reuseport group only when its owner uid (the creator's fsuid) matches the
 * group's, so a uid no other process uses closes the group to them: a second minewall or any
 * other program gets EADDRINUSE instead of a share of the queries. Derived from the pid, so
 * it is unique among running processes and needs no state. Setting it takes CAP_SETUID; without
 * it the group carries minewall's own uid (processes of that user could then join). */
static uid_t group_uid(void)
{
    return (uid_t)(0x6d770000u + (unsigned)getpid());
}

/* socket() under the group uid when possible; *tagged says whether it was. */
static int group_socket(int family, int type, bool *tagged)
{
    uid_t want = group_uid();
    uid_t prev = (uid_t)setfsuid(want);
    *tagged = (uid_t)setfsuid(want) == want; /* setfsuid returns the uid now in force */
    int fd = socket(family, type, 0);
    int err = errno;
    setfsuid(prev);
    errno = err;
    return fd;
}

/* A socket bound to a. UDP never gets SO_REUSEADDR (on Linux it lets another UDP socket bind
 * the same address and take the datagrams); TCP gets it so a restart is not refused over
 * connections in TIME_WAIT (it never lets a second listener in). reuseport: join the workers'
 * SO_REUSEPORT group, created under the group uid. */
static int bound_socket(const struct mw_addr *a, int type, bool reuseport)
{
    int stype = type | SOCK_NONBLOCK | SOCK_CLOEXEC;
    bool tagged = false;
    int fd = reuseport ? group_socket(a->u.sa.sa_family, stype, &tagged)
                       : socket(a->u.sa.sa_family, stype, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (a->u.sa.sa_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        goto fail;
    if (type == SOCK_DGRAM)
        mw_socket_buffers(fd);
    if (bind(fd, &a->u.sa, a->len) < 0)
        goto fail;
    return fd;
fail:;
    int err = -errno;
    close(fd);
    return err;
}

bool mw_listener_group_private(void)
{
    bool tagged;
    int fd = group_socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, &tagged);
    if (fd >= 0)
        close(fd);
    return tagged;
}

/* Bind a probe socket without any sharing option: it fails with EADDRINUSE whatever the holder
 * set (SO_REUSEPORT or SO_REUSEADDR or neither), so a foreign socket is found before the
 * workers bind. TCP keeps SO_REUSEADDR for TIME_WAIT; that still fails against a listener. */
static int probe_one(const struct mw_addr *a, int type)
{
    int fd = socket(a->u.sa.sa_family, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, rc = 0;
    if ((type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
        (a->u.sa.sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, &a->u.sa, a->len) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int mw_listen_probe(const struct mw_addr *addr, char *why, size_t why_len)
{
    char a[64] = "?";
    mw_addr_format(addr, a, sizeof(a));
    static const int types[2] = {SOCK_DGRAM, SOCK_STREAM};
    for (int i = 0; i < 2; i++) {
        int rc = probe_one(addr, types[i]);
        if (rc == 0)
            continue;
        const char *proto = types[i] == SOCK_DGRAM ? "udp" : "tcp";
        struct mw_sockowner o;
        if (rc != -EADDRINUSE)
            snprintf(why, why_len, "%s (%s): %s", a, proto, strerror(-rc));
        else if (mw_sockowner_find(addr, types[i], &o) == 0 && o.pid)
            snprintf(why, why_len, "%s (%s): address already in use by pid %ld (%s)", a, proto,
                     (long)o.pid, o.comm[0] ? o.comm : "?");
        else
            snprintf(why, why_len,
                     "%s (%s): address already in use (by a process not visible "
                     "from here)",
                     a, proto);
        return rc;
    }
    return 0;
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct mw_listener *l = h->data;
    (void)suggested;
    buf->base = (char *)l->rbuf;
    buf->len = l->rbuf_len;
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags)
{
    struct mw_listener *l = h->data;
    (void)flags;
    if (nread <= 0 || !addr) /* end of a batch, EAGAIN, or an error: nothing to answer */
        return;
    l->w->on_udp(l->w, l, (const uint8_t *)buf->base, (size_t)nread, addr);
}

struct udp_send_req {
    uv_udp_send_t req;
    struct mw_worker *w;
    size_t size; /* counted in w->udp_queued */
    uint8_t data[];
};

static void udp_sent(uv_udp_send_t *req, int status)
{
    struct udp_send_req *r = (struct udp_send_req *)req;
    (void)status;
    r->w->udp_queued -= r->size;
    free(r);
}

void mw_listener_send_udp(struct mw_listener *l, const struct sockaddr *to, const uint8_t *buf,
                          size_t len)
{
    if (l->closing)
        return;
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int rc = uv_udp_try_send(&l->udp, &b, 1, to);
    if (rc >= 0)
        return;
    struct mw_worker *w = l->w;
    if (rc != UV_EAGAIN) {
        w->stats.send_errors++;
        return;
    }
    /* Socket buffer full: queue a copy rather than lose the answer, up to udp.send-queue
     * bytes per worker. Beyond that the client is not keeping up (or is not there: spoofed
     * sources) and the answer is dropped: UDP loses datagrams anyway, memory must not grow. */
    size_t size = sizeof(struct udp_send_req) + len; /* what the queue really holds */
    if (w->udp_queued + size > w->snap->cfg->udp.send_queue) {
        w->stats.udp_send_dropped++;
        return;
    }
    struct udp_send_req *r = malloc(size);
    if (!r) {
        w->stats.send_errors++;
        return;
    }
    r->w = w;
    r->size = size;
    memcpy(r->data, buf, len);
    b = uv_buf_init((char *)r->data, (unsigned)len);
    if (uv_udp_send(&r->req, &l->udp, &b, 1, to, udp_sent) < 0) {
        w->stats.send_errors++;
        free(r);
        return;
    }
    w->udp_queued += size;
}

/* ---- TCP client connections ---- */

static void conn_free_if_done(struct mw_tcp_conn *c)
{
    if (c->open || c->refs)
        return;
    free(c->rbuf);
    free(c);
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct mw_tcp_conn *c = h->data;
    c->w->open_handles--;
    c->open--;
    if (c->open == 0) {
        struct mw_worker *w = c->w;
        c->refs--; /* the reference of the open connection */
        conn_free_if_done(c);
        mw_worker_maybe_done(w);
    }
}

void mw_tcp_conn_close(struct mw_tcp_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct mw_worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    /* Its queued answers are cancelled with the handle: they no longer count. */
    w->tcp_out_queued -= c->out_queued;
    c->out_queued = 0;
    uv_close((uv_handle_t *)&c->h, conn_handle_closed);
    uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

struct mw_tcp_conn *mw_tcp_conn_ref(struct mw_tcp_conn *c)
{
    c->refs++;
    return c;
}

void mw_tcp_conn_unref(struct mw_tcp_conn *c)
{
    c->refs--;
    conn_free_if_done(c);
}

static void conn_idle(uv_timer_t *t)
{
    struct mw_tcp_conn *c = t->data;
    if (c->inflight) /* still working for the client: not idle */
        return;
    c->w->stats.tcp_idle_closed++;
    mw_tcp_conn_close(c);
}

static void conn_touch(struct mw_tcp_conn *c)
{
    const struct mw_config *cfg = c->w->snap->cfg;
    uv_timer_start(&c->idle, conn_idle, cfg->tcp.idle_timeout_ms, cfg->tcp.idle_timeout_ms);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct mw_tcp_conn *c = h->data;
    (void)suggested;
    if (c->rcap - c->rlen < 4096 && c->rcap < 2 + 65535 + 4096) {
        size_t ncap = c->rcap ? c->rcap * 2 : 4096;
        if (ncap > 2 + 65535 + 4096)
            ncap = 2 + 65535 + 4096;
        uint8_t *n = realloc(c->rbuf, ncap);
        if (n) {
            c->rbuf = n;
            c->rcap = ncap;
        }
    }
    buf->base = (char *)c->rbuf + c->rlen;
    buf->len = c->rcap - c->rlen;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_pause(struct mw_tcp_conn *c, bool pause)
{
    if (c->closing)
        return;
    if (pause && c->reading) {
        uv_read_stop((uv_stream_t *)&c->h);
        c->reading = false;
    } else if (!pause && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read) == 0)
            c->reading = true;
    }
}

/* Hand every complete message in the buffer to query.c, up to the pipeline cap and while the
 * client takes its answers: above tcp.output-pause the connection is not read any more (the
 * client's queries wait in its own socket buffers, not in our memory) until conn_written sees
 * the output fall below half of the mark. */
static void conn_drain(struct mw_tcp_conn *c)
{
    const struct mw_config *cfg = c->w->snap->cfg;
    size_t off = 0;
    c->draining = true;
    const uint8_t *msg;
    size_t mlen;
    while (!c->closing && c->inflight < cfg->tcp.max_pipeline &&
           c->out_queued < cfg->tcp.output_pause &&
           mw_tcpframe_next(c->rbuf, c->rlen, &off, &msg, &mlen)) {
        c->inflight++;
        c->w->on_tcp(c->w, c, msg, mlen);
    }
    if (off) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    c->draining = false;
    if (!c->closing && !c->out_paused && c->out_queued >= cfg->tcp.output_pause) {
        c->out_paused = true;
        c->w->stats.tcp_out_paused++;
    }
    conn_pause(c, c->inflight >= cfg->tcp.max_pipeline || c->out_paused);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct mw_tcp_conn *c = s->data;
    (void)buf;
    if (nread < 0) {
        mw_tcp_conn_close(c); /* EOF or error; answers still in flight are dropped */
        return;
    }
    c->rlen += (size_t)nread;
    conn_touch(c);
    mw_tcp_conn_ref(c);
    conn_drain(c);
    mw_tcp_conn_unref(c);
}

void mw_tcp_conn_query_done(struct mw_tcp_conn *c)
{
    c->inflight--;
    if (c->closing || c->draining) /* answered synchronously: the running drain goes on */
        return;
    conn_touch(c);
    conn_drain(c); /* messages may be waiting behind the pipeline cap */
}

struct tcp_write_req {
    uv_write_t req;
    size_t queued; /* bytes of this write counted in out_queued */
    uint8_t data[];
};

static void conn_written(uv_write_t *req, int status)
{
    struct tcp_write_req *r = (struct tcp_write_req *)req;
    struct mw_tcp_conn *c = req->handle->data; /* alive: close callbacks come after this */
    (void)status;
    size_t queued = r->queued;
    free(r);
    if (c->closing) /* cancelled by the close, which already uncounted it */
        return;
    c->out_queued -= queued;
    c->w->tcp_out_queued -= queued;
    if (c->out_paused && c->out_queued <= c->w->snap->cfg->tcp.output_pause / 2) {
        c->out_paused = false;
        mw_tcp_conn_ref(c);
        conn_drain(c); /* messages may be waiting in the buffer; resumes reading */
        mw_tcp_conn_unref(c);
    }
}

/* The connection with the most unsent output (only searched when the worker's bound is hit). */
static struct mw_tcp_conn *largest_output(struct mw_worker *w)
{
    struct mw_tcp_conn *big = w->conns;
    for (struct mw_tcp_conn *c = w->conns; c; c = c->next)
        if (c->out_queued > big->out_queued)
            big = c;
    return big;
}

void mw_tcp_conn_send(struct mw_tcp_conn *c, const uint8_t *buf, size_t len)
{
    if (c->closing || len > 65535)
        return;
    struct mw_worker *w = c->w;
    const struct mw_config *cfg = w->snap->cfg;
    size_t size = 2 + len;
    if (c->out_queued + size > cfg->tcp.output_limit) {
        /* The client sends but does not read: its answers would pile up without end. */
        w->stats.tcp_out_closed++;
        mw_tcp_conn_close(c);
        return;
    }
    /* Too much output for the whole worker: close the connection with the most of it, which
     * protects the clients that do read their answers. */
    while (w->tcp_out_queued + size > cfg->tcp.worker_output_limit && !c->closing) {
        w->stats.tcp_worker_out_closed++;
        mw_tcp_conn_close(largest_output(w));
    }
    if (c->closing)
        return;
    struct tcp_write_req *r = malloc(sizeof(*r) + size);
    if (!r) {
        w->stats.send_errors++;
        return;
    }
    mw_dns_put16(r->data, (uint16_t)len);
    memcpy(r->data + 2, buf, len);
    uv_buf_t b = uv_buf_init((char *)r->data, (unsigned)size);
    uv_stream_t *s = (uv_stream_t *)&c->h;
    /* libuv writes at once when nothing is queued; what the kernel did not take stays in the
     * write queue and is what we count (a field read, no syscall). */
    size_t before = uv_stream_get_write_queue_size(s);
    if (uv_write(&r->req, s, &b, 1, conn_written) < 0) {
        free(r);
        w->stats.send_errors++;
        mw_tcp_conn_close(c);
        return;
    }
    size_t after = uv_stream_get_write_queue_size(s);
    r->queued = after > before ? after - before : 0;
    c->out_queued += r->queued;
    w->tcp_out_queued += r->queued;
}

/* ---- replies ---- */

void mw_reply_hold(struct mw_reply *r, struct mw_addr *store)
{
    mw_require(!r->held);
    r->held = true;
    if (r->conn) {
        mw_tcp_conn_ref(r->conn);
        return;
    }
    mw_listener_ref(r->l);
    mw_addr_from_sa(r->client, store);
    r->client = &store->u.sa;
}

void mw_reply_done(const struct mw_reply *r)
{
    if (r->conn) {
        struct mw_tcp_conn *c = r->conn;
        mw_tcp_conn_query_done(c);
        if (r->held)
            mw_tcp_conn_unref(c);
    } else if (r->held) {
        mw_listener_unref(r->l);
    }
}

static void tcp_accept(uv_stream_t *server, int status)
{
    struct mw_listener *l = server->data;
    struct mw_worker *w = l->w;
    if (status < 0)
        return;
    struct mw_tcp_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->w = w;
    uv_tcp_init(&w->loop, &c->h);
    uv_timer_init(&w->loop, &c->idle);
    c->h.data = c;
    c->idle.data = c;
    c->open = 2;
    c->refs = 1;
    w->open_handles += 2;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->h) < 0) {
        mw_tcp_conn_close(c);
        return;
    }
    if (w->n_conns > w->snap->cfg->tcp.max_connections || w->stopping) {
        w->stats.tcp_rejected++;
        mw_tcp_conn_close(c);
        return;
    }
    w->stats.tcp_conns++;
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (uv_tcp_getpeername(&c->h, (struct sockaddr *)&ss, &sl) == 0)
        mw_addr_from_sa((struct sockaddr *)&ss, &c->peer);
    c->local = l->addr; /* the listen address: client groups may be restricted to it */
    uv_tcp_nodelay(&c->h, 1);
    conn_touch(c);
    conn_pause(c, false);
}

/* ---- listeners ---- */

static void listener_handle_closed(uv_handle_t *h)
{
    struct mw_listener *l = h->data;
    struct mw_worker *w = l->w;
    w->open_handles--;
    if (--l->open == 0 && l->refs == 0) {
        free(l->rbuf);
        free(l);
    }
    mw_worker_maybe_done(w);
}

void mw_listener_ref(struct mw_listener *l)
{
    l->refs++;
}

void mw_listener_unref(struct mw_listener *l)
{
    if (--l->refs == 0 && l->open == 0) {
        free(l->rbuf);
        free(l);
    }
}

void mw_listener_close(struct mw_listener *l)
{
    if (l->closing)
        return;
    l->closing = true;
    uv_close((uv_handle_t *)&l->udp, listener_handle_closed);
    uv_close((uv_handle_t *)&l->tcp, listener_handle_closed);
}

int mw_listener_open(struct mw_worker *w, const struct mw_addr *addr, struct mw_listener **out)
{
    /* One worker needs no sharing at all; several share through a closed reuseport group. */
    bool reuseport = w->reuseport;
    int ufd = bound_socket(addr, SOCK_DGRAM, reuseport);
    if (ufd < 0)
        return ufd;
    int tfd = bound_socket(addr, SOCK_STREAM, reuseport);
    if (tfd < 0) {
        close(ufd);
        return tfd;
    }
    struct mw_listener *l = calloc(1, sizeof(*l));
    uint8_t *rbuf = malloc((size_t)UDP_BATCH * UDP_SLOT);
    if (!l || !rbuf) {
        free(l);
        free(rbuf);
        close(ufd);
        close(tfd);
        return -ENOMEM;
    }
    l->w = w;
    l->addr = *addr;
    l->rbuf = rbuf;
    l->rbuf_len = (size_t)UDP_BATCH * UDP_SLOT;
    /* Both handles exist from here on, so every failure below closes through the callbacks. */
    uv_udp_init_ex(&w->loop, &l->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
    uv_tcp_init(&w->loop, &l->tcp);
    l->udp.data = l;
    l->tcp.data = l;
    l->open = 2;
    w->open_handles += 2;
    int rc = uv_udp_open(&l->udp, ufd);
    if (rc < 0) {
        close(ufd);
        close(tfd);
        goto fail;
    }
    /* uv_udp_open() sets SO_REUSEADDR, which on Linux would let any other UDP socket with it
     * bind the same address and take the datagrams: clear it again (checked at every later
     * bind, so clearing after our own bind closes the address). */
    int zero = 0;
    if (setsockopt(ufd, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof(zero)) < 0) {
        rc = -errno;
        close(tfd);
        goto fail;
    }
    rc = uv_tcp_open(&l->tcp, tfd);
    if (rc < 0) {
        close(tfd);
        goto fail;
    }
    rc = uv_listen((uv_stream_t *)&l->tcp, 1024, tcp_accept);
    if (rc < 0)
        goto fail;
    rc = uv_udp_recv_start(&l->udp, udp_alloc, udp_recv);
    if (rc < 0)
        goto fail;
    *out = l;
    return 0;
fail:
    mw_listener_close(l);
    return rc;
}
