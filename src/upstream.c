/* Upstream resolution of one worker; see upstream.h for the model.
 *
 * Spoofing defences (RFC 5452): every query carries an ID from the kernel's CSPRNG (rand.h:
 * fetched in blocks, per worker) and leaves from one of a pool of sockets bound to random ports; a
 * socket is replaced after MW_USOCK_ROTATE queries so its port does not stay guessable. A
 * response is accepted only when its (socket, ID) names a pending attempt, it comes from that
 * attempt's upstream address and port, and its question is ours. Earlier attempts of a fetch
 * stay registered after a retry, so a late but genuine answer still completes the fetch.
 *
 * Health is shared by the workers (health.h): the prober on the control loop (prober.c)
 * probes every upstream and keeps the up/down state on the config's board; this file reports
 * failed client queries to it and copies its state into the worker's set every SYNC_TICK_MS
 * (mw_upset_sync), so the hot path reads nothing shared. A worker that sees health-check
 * down-after failures in a row from an upstream stops choosing it at once. Among healthy
 * upstreams the lowest smoothed RTT wins, with one query in 32 sent to another so RTTs stay
 * fresh (upset.c). */
#include "minewall/upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/dot.h"
#include "minewall/dotconn.h"
#include "minewall/health.h"
#include "minewall/log.h"
#include "minewall/rand.h"
#include "minewall/snapshot.h"
#include "minewall/socket.h"
#include "minewall/tap.h"
#include "minewall/upset.h"
#include "minewall/worker.h"

#define POOL_SIZE 16 /* sockets per address family */
#ifndef MW_USOCK_ROTATE
#define MW_USOCK_ROTATE 4096 /* queries before a socket is replaced */
#endif
#define PENDING_BUCKETS 8192
/* Health state is copied from the board this often (it bounds how stale a worker's view is):
 * the rate the per-worker probe tick had, so no more wake-ups than before. */
#define SYNC_TICK_MS 250
#define RECV_SLOTS 8
#define MAX_ATTEMPTS 6
#define FETCH_RESERVE 64 /* idle fetch objects always kept (see mw_upstreams_trim) */

/* One sent copy of a fetch's question: a pending-table entry. */
struct mw_attempt {
    struct mw_attempt *hnext; /* pending-table chain */
    struct mw_fetch *f;
    struct mw_usock *s; /* socket it left from (holds an in-flight count) */
    uint16_t id;
    uint16_t up; /* index in the fetch's upset */
    bool live;
    uint64_t sent_ms;
    uint64_t tap_sent; /* dnstap: when it was sent (tap.h), 0: not taken */
};

/* One question being resolved, or a free object in the pool. */
struct mw_fetch {
    struct mw_fetch *next;                /* free list */
    struct mw_fetch *all_next, *all_prev; /* every fetch object of the worker, for teardown */
    struct mw_upstreams *ups;
    bool active;
    struct mw_dns_question q;
    bool cd, do_bit;
    mw_fetch_cb cb;
    void *arg;
    char answered_by[64]; /* label of the upstream whose answer completed it, or "" */
    struct mw_upset *set; /* ref held while active */
    const struct mw_upgroup *group;
    uint64_t deadline_ms;
    uint32_t tried; /* bit i: group member i was tried (first 32) */
    unsigned n_tries;
    struct mw_attempt att[MAX_ATTEMPTS];
    unsigned n_att;
    struct mw_utcp *tcp; /* TCP exchange in progress, or NULL */
    int tcp_up;
    struct mw_dot_req *dot; /* DNS-over-TLS query in flight (dotconn.h), or NULL */
    uint16_t dot_up;
    uint64_t dot_sent_ms;
    uint64_t dot_tap_sent; /* dnstap: when the DoT query was sent (tap.h) */
    uv_timer_t timer;      /* attempt timeout; open for the fetch object's lifetime */
    uint8_t last_rcode;
};

struct mw_usock {
    uv_udp_t h;
    struct mw_upstreams *ups;
    int family;
    uint32_t uses;
    uint32_t inflight;
    bool retired;
    bool closing;
    struct mw_addr local; /* the bound address (dnstap's forwarder frames) */
};

struct mw_utcp {
    uv_tcp_t h;
    uv_connect_t connect;
    uv_write_t write;
    struct mw_fetch *f; /* NULL once the fetch gave up on it */
    struct mw_upstreams *ups;
    uint16_t id;
    uint8_t out[2 + 512];
    size_t out_len;
    uint8_t *in;
    size_t in_len, in_cap;
    bool closing;
    struct mw_addr local; /* the connection's own address (dnstap's forwarder frames) */
    uint64_t tap_sent;    /* dnstap: when the query was sent (tap.h) */
};

struct mw_upstreams {
    struct mw_worker *w;
    struct mw_upset *cur; /* ref held */
    struct mw_usock *pool4[POOL_SIZE];
    struct mw_usock *pool6[POOL_SIZE];
    struct mw_attempt *pending[PENDING_BUCKETS];
    uv_timer_t sync; /* health: SYNC_TICK_MS */
    bool closing;
    uint8_t qbuf[512];
    uint8_t *rbuf; /* shared receive buffer: callbacks run one at a time */
    size_t rbuf_len;
    /* Fetch objects: recycled through the free list; all of them on the all list. */
    struct mw_fetch *free_fetches;
    struct mw_fetch *all_fetches;
    unsigned n_free_fetches, used_fetches, tick_peak_fetches;
    unsigned n_tcp;     /* TCP fallback connections not yet closed (fetch.max-tcp) */
    struct mw_dot *dot; /* owned; DNS-over-TLS connections */
    /* A response prepared for the callback (borrowed by it; one callback at a time). */
    uint8_t prep[MW_DNS_MAXMSG + 512];
    uint16_t prep_ttl_off[MW_DNS_MAX_TTLS];
    uint32_t prep_ttl[MW_DNS_MAX_TTLS];
    struct mw_rand rand; /* IDs, socket picks, exploration: this worker's draws */
};

static void fetch_next(struct mw_fetch *f, uint64_t now);
static void fetch_complete(struct mw_fetch *f, int status, const struct mw_dns_response *info,
                           size_t len);

/* ---- sockets ---- */

static void rbuf_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct mw_usock *s = h->data;
    (void)suggested;
    buf->base = (char *)s->ups->rbuf;
    buf->len = s->ups->rbuf_len;
}

static void usock_closed(uv_handle_t *h)
{
    struct mw_usock *s = h->data;
    struct mw_worker *w = s->ups->w;
    w->open_handles--;
    free(s);
    mw_worker_maybe_done(w);
}

static void usock_close(struct mw_usock *s)
{
    if (s->closing)
        return;
    s->closing = true;
    uv_close((uv_handle_t *)&s->h, usock_closed);
}

static void usock_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                       unsigned flags);

/* A socket's own address for dnstap, or NULL when getsockname failed. */
static const struct sockaddr *local_sa(const struct mw_addr *a)
{
    return a->len ? &a->u.sa : NULL;
}

/* A socket bound to a random port (mw_socket_udp_random_port). */
static struct mw_usock *usock_new(struct mw_upstreams *ups, int family)
{
    struct mw_worker *w = ups->w;
    int fd = mw_socket_udp_random_port(family);
    if (fd < 0)
        return NULL;
    struct mw_usock *s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        return NULL;
    }
    s->ups = ups;
    s->family = family;
    uv_udp_init_ex(&w->loop, &s->h, AF_UNSPEC | UV_UDP_RECVMMSG);
    s->h.data = s;
    w->open_handles++;
    if (uv_udp_open(&s->h, fd) < 0) {
        close(fd);
        usock_close(s);
        return NULL;
    }
    int alen = sizeof(s->local.u.ss);
    if (uv_udp_getsockname(&s->h, &s->local.u.sa, &alen) == 0)
        s->local.len = (socklen_t)alen;
    if (uv_udp_recv_start(&s->h, rbuf_alloc, usock_recv) < 0) {
        usock_close(s);
        return NULL;
    }
    return s;
}

/* A socket for the next query to an upstream of this family, rotating worn-out ones. */
static struct mw_usock *usock_pick(struct mw_upstreams *ups, int family)
{
    struct mw_usock **pool = family == AF_INET ? ups->pool4 : ups->pool6;
    unsigned i = mw_rand_uniform(&ups->rand, POOL_SIZE);
    struct mw_usock *s = pool[i];
    if (s && s->uses >= MW_USOCK_ROTATE) {
        s->retired = true;
        if (s->inflight == 0)
            usock_close(s);
        pool[i] = s = NULL;
        ups->w->stats.usock_rotations++;
    }
    if (!s)
        s = pool[i] = usock_new(ups, family);
    return s;
}

static void usock_release(struct mw_usock *s)
{
    s->inflight--;
    if (s->retired && s->inflight == 0)
        usock_close(s);
}

/* ---- pending table ---- */

static unsigned pending_bucket(const struct mw_usock *s, uint16_t id)
{
    uint64_t h = ((uint64_t)(uintptr_t)s >> 4) * 0x9E3779B97F4A7C15ULL ^ id;
    return (unsigned)(h ^ (h >> 29)) & (PENDING_BUCKETS - 1);
}

static struct mw_attempt *pending_find(struct mw_upstreams *ups, const struct mw_usock *s,
                                       uint16_t id)
{
    for (struct mw_attempt *a = ups->pending[pending_bucket(s, id)]; a; a = a->hnext)
        if (a->s == s && a->id == id)
            return a;
    return NULL;
}

static void attempt_kill(struct mw_upstreams *ups, struct mw_attempt *a)
{
    if (!a->live)
        return;
    for (struct mw_attempt **pp = &ups->pending[pending_bucket(a->s, a->id)]; *pp;
         pp = &(*pp)->hnext) {
        if (*pp == a) {
            *pp = a->hnext;
            break;
        }
    }
    a->live = false;
    usock_release(a->s);
    a->s = NULL;
}

static unsigned live_attempts(const struct mw_fetch *f)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->n_att; i++)
        n += f->att[i].live;
    return n;
}

/* ---- health ---- */

/* A client query to u failed: counted in u's run, reported to the board (health.h). */
static void up_failed(struct mw_worker *w, struct mw_upstream *u)
{
    bool run = mw_upset_failed(u, w->snap->cfg->health.down_after);
    if (run)
        mw_log_debug("upstr", "worker %u: upstream %s failed %u times in a row", w->index, u->label,
                     u->fails);
    if (u->hs)
        mw_health_report_fail(u->hs, run);
}

static void up_answered(struct mw_upstream *u, uint64_t rtt)
{
    u->lat[mw_lat_bucket(rtt)]++;
    mw_upset_answered(u, rtt);
}

/* ---- sending ---- */

static void fetch_timer(uv_timer_t *t);

static int send_udp(struct mw_fetch *f, uint16_t up, uint64_t now)
{
    struct mw_upstreams *ups = f->ups;
    struct mw_upstream *u = &f->set->u[up];
    if (f->n_att >= MAX_ATTEMPTS)
        return -ENOSPC;
    struct mw_usock *s = usock_pick(ups, u->addr.u.sa.sa_family);
    if (!s)
        return -ENOMEM;
    uint16_t id;
    do
        id = (uint16_t)mw_rand_u32(&ups->rand);
    while (pending_find(ups, s, id));
    int n = mw_dns_build_query(&f->q, id, f->cd, f->do_bit, ups->qbuf, sizeof(ups->qbuf));
    if (n < 0)
        return n;
    uv_buf_t b = uv_buf_init((char *)ups->qbuf, (unsigned)n);
    int rc = uv_udp_try_send(&s->h, &b, 1, &u->addr.u.sa);
    u->queries++;
    if (rc < 0) {
        u->errors++;
        return rc;
    }
    uint64_t tap_sent = mw_tap_forwarder_query(ups->w, &u->addr.u.sa, local_sa(&s->local), false,
                                               ups->qbuf, (size_t)n);
    s->uses++;
    s->inflight++;
    struct mw_attempt *a = &f->att[f->n_att++];
    a->f = f;
    a->s = s;
    a->id = id;
    a->up = up;
    a->live = true;
    a->sent_ms = now;
    a->tap_sent = tap_sent;
    unsigned b_ix = pending_bucket(s, id);
    a->hnext = ups->pending[b_ix];
    ups->pending[b_ix] = a;
    uint64_t to = mw_upset_timeout(f->ups->w->snap->cfg->upstream.timeout_ms, u);
    if (now + to > f->deadline_ms)
        to = f->deadline_ms > now ? f->deadline_ms - now : 1;
    uv_timer_start(&f->timer, fetch_timer, to, 0);
    return 0;
}

static void on_response(struct mw_fetch *f, uint16_t up, const uint8_t *pkt, size_t len,
                        uint64_t sent_ms, bool tcp, const struct sockaddr *local,
                        uint64_t tap_sent);

/* The answer (status 0) or the failure of f's DoT query. A verification failure is a failed
 * upstream like a timeout (strict, RFC 8310): the fetch moves on to another member, never to
 * the same server in clear text. */
static void dot_done(void *arg, int status, const uint8_t *pkt, size_t len)
{
    struct mw_fetch *f = arg;
    uint16_t up = f->dot_up;
    f->dot = NULL;
    uv_timer_stop(&f->timer);
    if (status == 0) {
        on_response(f, up, pkt, len, f->dot_sent_ms, true, NULL, f->dot_tap_sent);
        return;
    }
    struct mw_upstream *u = &f->set->u[up];
    u->errors++;
    up_failed(f->ups->w, u);
    /* Like SERVFAIL: another member may do better, this one gets no second try in this
     * fetch (a failed handshake would fail again at once). */
    f->last_rcode = MW_RCODE_SERVFAIL;
    fetch_next(f, mw_worker_now(f->ups->w));
}

/* Ask member up over TLS: one DoT query per fetch at a time (its connection is the
 * retransmission), timed like a UDP attempt. */
static int send_tls(struct mw_fetch *f, uint16_t up, uint64_t now)
{
    struct mw_upstreams *ups = f->ups;
    struct mw_upstream *u = &f->set->u[up];
    const struct mw_config *cfg = ups->w->snap->cfg;
    if (f->dot) {
        mw_dot_cancel(f->dot); /* the previous one timed out */
        f->dot = NULL;
    }
    const struct mw_tls_upstream *te = mw_config_tls_upstream(cfg, &u->addr);
    if (!te)
        return -ENOENT;
    int n = mw_dns_build_query(&f->q, 0, f->cd, f->do_bit, ups->qbuf, sizeof(ups->qbuf));
    if (n >= 0) /* DoH: padding only (tcp-keepalive is a TCP option, HTTP/2 has its own) */
        n = mw_dot_finish_query_opt(ups->qbuf, (size_t)n, sizeof(ups->qbuf), !te->doh);
    if (n < 0)
        return n;
    struct mw_addr at;
    bool resolved = te->by_name && u->hs && mw_health_resolved(u->hs, &at);
    struct mw_dot_target t;
    mw_dot_target_of(cfg, te, resolved ? &at : NULL, &t);
    u->queries++;
    int rc = mw_dot_query(ups->dot, &t, ups->qbuf, (size_t)n, dot_done, f, &f->dot);
    if (rc < 0) {
        u->errors++;
        return rc;
    }
    mw_dns_put16(ups->qbuf, mw_dot_req_id(f->dot)); /* dnstap shows the query as sent */
    f->dot_tap_sent = mw_tap_forwarder_query(ups->w, t.connect ? &t.connect->u.sa : &u->addr.u.sa,
                                             NULL, true, ups->qbuf, (size_t)n);
    f->dot_up = up;
    f->dot_sent_ms = now;
    uint64_t to = mw_upset_timeout(cfg->upstream.timeout_ms, u);
    if (!u->answers) /* the first query also waits for the connection and the handshake */
        to = cfg->upstream.timeout_ms;
    if (now + to > f->deadline_ms)
        to = f->deadline_ms > now ? f->deadline_ms - now : 1;
    uv_timer_start(&f->timer, fetch_timer, to, 0);
    return 0;
}

/* Send f's question to the next upstream that takes it: the group member mw_upset_pick
 * chooses (retry: members already asked may be asked again, after timeouts). A failed send counts
 * as a try, and one call makes at most MAX_ATTEMPTS of them, so sockets that keep failing cannot
 * spin the loop. Returns 0 when one was sent, -EIO when nothing is left to try. */
static int send_next(struct mw_fetch *f, bool retry, uint64_t now)
{
    for (unsigned n = 0; n < MAX_ATTEMPTS && now < f->deadline_ms && f->n_att < MAX_ATTEMPTS; n++) {
        int m = mw_upset_pick(f->set, f->group, &f->tried, f->n_tries, retry, &f->ups->rand);
        if (m < 0)
            break;
        uint16_t up = f->group->idx[m];
        if (m < 32)
            f->tried |= 1u << m;
        f->n_tries++;
        if ((f->set->u[up].tls ? send_tls(f, up, now) : send_udp(f, up, now)) == 0)
            return 0;
    }
    return -EIO;
}

/* Ask the next upstream; fail the fetch when nothing is left to try. Retrying a member
 * already asked only makes sense after timeouts (loss); an upstream that answered SERVFAIL or
 * REFUSED gets no second chance. */
static void fetch_next(struct mw_fetch *f, uint64_t now)
{
    if (send_next(f, f->last_rcode == 0, now) == 0)
        return;
    if (live_attempts(f) == 0 && !f->tcp && !f->dot)
        fetch_complete(f, -ETIMEDOUT, NULL, 0);
}

/* ---- TCP fallback ---- */

static void utcp_closed(uv_handle_t *h)
{
    struct mw_utcp *t = h->data;
    struct mw_worker *w = t->ups->w;
    w->open_handles--;
    t->ups->n_tcp--;
    free(t->in);
    free(t);
    mw_worker_maybe_done(w);
}

static void utcp_close(struct mw_utcp *t)
{
    if (t->f) {
        t->f->tcp = NULL;
        t->f = NULL;
    }
    if (t->closing)
        return;
    t->closing = true;
    uv_close((uv_handle_t *)&t->h, utcp_closed);
}

static void on_response(struct mw_fetch *f, uint16_t up, const uint8_t *pkt, size_t len,
                        uint64_t sent_ms, bool tcp, const struct sockaddr *local,
                        uint64_t tap_sent);

static void utcp_failed(struct mw_utcp *t)
{
    struct mw_fetch *f = t->f;
    utcp_close(t);
    if (!f)
        return;
    uint64_t now = mw_worker_now(f->ups->w);
    struct mw_upstream *u = &f->set->u[f->tcp_up];
    u->errors++;
    up_failed(f->ups->w, u);
    fetch_next(f, now);
}

static void utcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct mw_utcp *t = h->data;
    (void)suggested;
    if (t->in_cap - t->in_len < 4096 && t->in_cap < 2 + 65535) {
        size_t ncap = t->in_cap ? t->in_cap * 2 : 4096;
        if (ncap > 2 + 65535)
            ncap = 2 + 65535;
        uint8_t *n = realloc(t->in, ncap);
        if (n) {
            t->in = n;
            t->in_cap = ncap;
        }
    }
    buf->base = (char *)t->in + t->in_len;
    buf->len = t->in_cap - t->in_len;
}

static void utcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct mw_utcp *t = st->data;
    (void)buf;
    if (nread < 0 || !t->f) {
        utcp_failed(t);
        return;
    }
    t->in_len += (size_t)nread;
    if (t->in_len < 2 || t->in_len < 2 + (size_t)mw_dns_get16(t->in))
        return;
    size_t mlen = mw_dns_get16(t->in);
    struct mw_fetch *f = t->f;
    if (mlen < MW_DNS_HDR || mw_dns_get16(t->in + 2) != t->id) {
        f->ups->w->stats.upstream_spoofed++;
        utcp_failed(t);
        return;
    }
    uint16_t up = (uint16_t)f->tcp_up;
    utcp_close(t);
    on_response(f, up, t->in + 2, mlen, 0, true, local_sa(&t->local), t->tap_sent);
}

static void utcp_written(uv_write_t *req, int status)
{
    struct mw_utcp *t = req->data;
    if (status < 0)
        utcp_failed(t);
}

static void utcp_connected(uv_connect_t *req, int status)
{
    struct mw_utcp *t = req->data;
    if (status < 0 || !t->f) {
        utcp_failed(t);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)t->out, (unsigned)t->out_len);
    t->write.data = t;
    if (uv_write(&t->write, (uv_stream_t *)&t->h, &b, 1, utcp_written) < 0 ||
        uv_read_start((uv_stream_t *)&t->h, utcp_alloc, utcp_read) < 0)
        utcp_failed(t);
}

/* The upstream said TC: ask it again over TCP (RFC 7766), dropping the UDP attempts. */
static void start_tcp(struct mw_fetch *f, uint16_t up, uint64_t now)
{
    struct mw_worker *w = f->ups->w;
    for (unsigned i = 0; i < f->n_att; i++)
        attempt_kill(f->ups, &f->att[i]);
    w->stats.upstream_tcp_fallback++;
    /* Each connection may hold a 64 KiB answer: their number is bounded. Over the bound the
     * fetch fails (its waiters get a stale answer or SERVFAIL) rather than waiting. */
    if (f->ups->n_tcp >= w->snap->cfg->fetch.max_tcp) {
        w->stats.upstream_tcp_overflow++;
        uv_timer_stop(&f->timer);
        fetch_complete(f, -EBUSY, NULL, 0);
        return;
    }
    struct mw_utcp *t = calloc(1, sizeof(*t));
    if (!t)
        goto fail;
    t->ups = f->ups;
    t->id = (uint16_t)mw_rand_u32(&f->ups->rand);
    int n = mw_dns_build_query(&f->q, t->id, f->cd, f->do_bit, t->out + 2, sizeof(t->out) - 2);
    if (n < 0) {
        free(t);
        goto fail;
    }
    mw_dns_put16(t->out, (uint16_t)n);
    t->out_len = (size_t)n + 2;
    uv_tcp_init(&w->loop, &t->h);
    t->h.data = t;
    w->open_handles++;
    f->ups->n_tcp++;
    t->f = f;
    f->tcp = t;
    f->tcp_up = up;
    t->connect.data = t;
    if (uv_tcp_connect(&t->connect, &t->h, &f->set->u[up].addr.u.sa, utcp_connected) < 0) {
        utcp_close(t);
        goto fail;
    }
    int alen = sizeof(t->local.u.ss); /* the kernel picked it at connect() */
    if (uv_tcp_getsockname(&t->h, &t->local.u.sa, &alen) == 0)
        t->local.len = (socklen_t)alen;
    t->tap_sent = mw_tap_forwarder_query(w, &f->set->u[up].addr.u.sa, local_sa(&t->local), true,
                                         t->out + 2, (size_t)n);
    uint64_t to = f->ups->w->snap->cfg->upstream.timeout_ms;
    if (now + to > f->deadline_ms)
        to = f->deadline_ms > now ? f->deadline_ms - now : 1;
    uv_timer_start(&f->timer, fetch_timer, to, 0);
    return;
fail:
    fetch_next(f, now);
}

/* ---- responses ---- */

static void take_response(struct mw_fetch *f, uint16_t up, const uint8_t *pkt, size_t len,
                          uint64_t sent_ms, bool tcp);

/* An answer that passed the address and ID checks (or came over our TCP connection). */
static void on_response(struct mw_fetch *f, uint16_t up, const uint8_t *pkt, size_t len,
                        uint64_t sent_ms, bool tcp, const struct sockaddr *local, uint64_t tap_sent)
{
    struct mw_worker *w = f->ups->w;
    mw_tap_forwarder_response(w, &f->set->u[up].addr.u.sa, local, tcp, pkt, len, tap_sent);
    take_response(f, up, pkt, len, sent_ms, tcp); /* may end f */
}

static void take_response(struct mw_fetch *f, uint16_t up, const uint8_t *pkt, size_t len,
                          uint64_t sent_ms, bool tcp)
{
    struct mw_worker *w = f->ups->w;
    uint64_t now = mw_worker_now(w);
    struct mw_dns_response info;
    struct mw_upstreams *ups = f->ups;
    int n = mw_dns_prepare_response(pkt, len, ups->prep, sizeof(ups->prep), &info,
                                    ups->prep_ttl_off, ups->prep_ttl);
    struct mw_upstream *u = &f->set->u[up];
    if (n < 0) {
        w->stats.upstream_malformed++;
        u->errors++;
        up_failed(w, u);
        if (live_attempts(f) == 0 && !f->tcp && !f->dot)
            fetch_next(f, now);
        return;
    }
    if (!mw_dns_question_equal(&info.q, &f->q)) {
        w->stats.upstream_spoofed++;
        if (tcp)
            fetch_next(f, now);
        return;
    }
    unsigned run = u->fails;
    up_answered(u, sent_ms == 0 || now < sent_ms ? 0 : now - sent_ms);
    memcpy(f->answered_by, u->label, sizeof(f->answered_by));
    if ((info.flags & MW_DNS_TC) && !tcp) {
        start_tcp(f, up, now);
        return;
    }
    if (info.rcode == MW_RCODE_NOERROR || info.rcode == MW_RCODE_NXDOMAIN) {
        fetch_complete(f, 0, &info, (size_t)n);
        return;
    }
    /* SERVFAIL, REFUSED, ...: another upstream may do better. REFUSED means the upstream
     * will not serve us at all, which counts against its health; SERVFAIL does not. */
    u->errors++;
    if (info.rcode != MW_RCODE_SERVFAIL) {
        u->fails = run; /* a refusal continues the run of failures the answer ended */
        up_failed(w, u);
    }
    f->last_rcode = info.rcode;
    for (unsigned i = 0; i < f->n_att; i++)
        attempt_kill(f->ups, &f->att[i]);
    uv_timer_stop(&f->timer);
    fetch_next(f, now);
}

static void usock_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                       unsigned flags)
{
    struct mw_usock *s = h->data;
    struct mw_upstreams *ups = s->ups;
    struct mw_worker *w = ups->w;
    (void)flags;
    if (nread <= 0 || !addr)
        return;
    const uint8_t *pkt = (const uint8_t *)buf->base;
    if (nread < MW_DNS_HDR) {
        w->stats.upstream_malformed++;
        return;
    }
    struct mw_attempt *a = pending_find(ups, s, mw_dns_get16(pkt));
    if (!a) {
        w->stats.upstream_stray++;
        return;
    }
    struct mw_fetch *f = a->f;
    struct mw_addr from;
    if (mw_addr_from_sa(addr, &from) < 0 || !mw_addr_equal(&from, &f->set->u[a->up].addr)) {
        w->stats.upstream_spoofed++;
        return;
    }
    uint16_t up = a->up;
    uint64_t sent = a->sent_ms, tap_sent = a->tap_sent;
    attempt_kill(ups, a);
    on_response(f, up, pkt, (size_t)nread, sent, false, local_sa(&s->local), tap_sent);
}

static void fetch_timer(uv_timer_t *t)
{
    struct mw_fetch *f = t->data;
    struct mw_worker *w = f->ups->w;
    uint64_t now = mw_worker_now(w);
    if (f->tcp) {
        struct mw_utcp *tc = f->tcp;
        f->set->u[f->tcp_up].timeouts++;
        utcp_failed(tc);
        return;
    }
    if (f->dot) {
        /* The DoT query timed out: counted, and dropped (a late answer is a stray) unless
         * it is retried on the same member, whose connection keeps it. */
        struct mw_upstream *u = &f->set->u[f->dot_up];
        u->timeouts++;
        up_failed(w, u);
        mw_dot_cancel(f->dot);
        f->dot = NULL;
    } else if (f->n_att > 0) {
        /* The newest attempt timed out; older ones stay live for a late answer. */
        struct mw_upstream *u = &f->set->u[f->att[f->n_att - 1].up];
        u->timeouts++;
        up_failed(w, u);
    }
    if (now >= f->deadline_ms || f->n_att >= MAX_ATTEMPTS) {
        fetch_complete(f, -ETIMEDOUT, NULL, 0);
        return;
    }
    fetch_next(f, now);
}

/* ---- fetch lifecycle ---- */

static void fetch_closed(uv_handle_t *h)
{
    struct mw_fetch *f = h->data;
    f->ups->w->open_handles--;
    free(f);
}

/* A fetch object from the pool, or a new one with its timer opened. NULL on ENOMEM. */
static struct mw_fetch *fetch_get(struct mw_upstreams *ups)
{
    struct mw_fetch *f = ups->free_fetches;
    if (f) {
        ups->free_fetches = f->next;
        ups->n_free_fetches--;
        f->next = NULL;
    } else {
        if (!(f = calloc(1, sizeof(*f))))
            return NULL;
        f->ups = ups;
        if (uv_timer_init(&ups->w->loop, &f->timer) < 0) {
            free(f);
            return NULL;
        }
        f->timer.data = f;
        ups->w->open_handles++;
        f->all_next = ups->all_fetches;
        if (f->all_next)
            f->all_next->all_prev = f;
        ups->all_fetches = f;
    }
    if (++ups->used_fetches > ups->tick_peak_fetches)
        ups->tick_peak_fetches = ups->used_fetches;
    return f;
}

static void fetch_put(struct mw_upstreams *ups, struct mw_fetch *f)
{
    f->cb = NULL;
    f->arg = NULL;
    f->next = ups->free_fetches;
    ups->free_fetches = f;
    ups->n_free_fetches++;
    ups->used_fetches--;
}

static void fetch_release(struct mw_fetch *f)
{
    struct mw_upstreams *ups = f->ups;
    for (unsigned i = 0; i < f->n_att; i++)
        attempt_kill(ups, &f->att[i]);
    f->n_att = 0;
    uv_timer_stop(&f->timer);
    if (f->tcp)
        utcp_close(f->tcp);
    if (f->dot) {
        mw_dot_cancel(f->dot);
        f->dot = NULL;
    }
    mw_upset_unref(f->set);
    f->set = NULL;
    f->active = false;
}

/* The fetch is over: back to the pool first, so the callback may start fetches of its own,
 * then tell the caller with everything it needs as arguments. */
static void fetch_complete(struct mw_fetch *f, int status, const struct mw_dns_response *info,
                           size_t len)
{
    struct mw_upstreams *ups = f->ups;
    char label[sizeof(f->answered_by)];
    memcpy(label, f->answered_by, sizeof(label));
    mw_fetch_cb cb = f->cb;
    void *arg = f->arg;
    fetch_release(f);
    fetch_put(ups, f);
    if (!cb)
        return;
    struct mw_fetch_result r = {.status = status};
    if (status == 0) {
        r.pkt = ups->prep;
        r.len = len;
        r.info = info;
        r.ttl_off = ups->prep_ttl_off;
        r.ttl = ups->prep_ttl;
    }
    r.upstream = label[0] ? label : NULL;
    cb(arg, &r);
}

/* Fill f (from the pool, its cb and arg set) for question q with flags (MW_FETCH_*), asked
 * through group g, and send it. Returns 0, or -EIO when nothing could be sent: f is released, and
 * the caller puts it back in the pool. */
static int fetch_begin(struct mw_fetch *f, const struct mw_dns_question *q, const uint8_t *asked,
                       unsigned flags, const struct mw_upgroup *g, uint64_t now)
{
    struct mw_upstreams *ups = f->ups;
    mw_dns_question_copy(&f->q, q);
    if (asked) /* the name sent, in the client's case; compared ignoring case */
        memcpy(f->q.qname, asked, f->q.qname_len);
    f->cd = (flags & MW_FETCH_CD) != 0;
    f->do_bit = (flags & MW_FETCH_DO) != 0;
    f->group = g;
    f->set = ups->cur;
    f->set->refs++;
    f->active = true;
    f->deadline_ms = now + ups->w->snap->cfg->upstream.total_ms;
    f->tried = 0;
    f->n_tries = 0;
    f->n_att = 0;
    f->tcp = NULL;
    f->dot = NULL;
    f->last_rcode = 0;
    f->answered_by[0] = 0;
    /* Send now; a fetch must never complete inside mw_fetch_start(), so when nothing could be
     * sent the fetch is released and the caller answers. */
    if (send_next(f, false, now) == 0)
        return 0;
    fetch_release(f);
    return -EIO;
}

int mw_fetch_start(struct mw_upstreams *ups, const struct mw_dns_question *q, const uint8_t *asked,
                   unsigned flags, mw_fetch_cb cb, void *arg, struct mw_fetch **out)
{
    return mw_fetch_start_in(ups, q, asked, flags, 0, cb, arg, out);
}

int mw_fetch_start_in(struct mw_upstreams *ups, const struct mw_dns_question *q,
                      const uint8_t *asked, unsigned flags, unsigned gi, mw_fetch_cb cb, void *arg,
                      struct mw_fetch **out)
{
    const struct mw_config *cfg = ups->w->snap->cfg;
    const struct mw_forward_zone *z = mw_config_zone_for_group(cfg, gi, q->qname, q->qname_len);
    const struct mw_upgroup *g = z ? &ups->cur->zones[z - cfg->zones] : &ups->cur->def;
    if (g->n == 0)
        return -ENOENT;
    struct mw_fetch *f = fetch_get(ups);
    if (!f)
        return -ENOMEM;
    f->cb = cb;
    f->arg = arg;
    int rc = fetch_begin(f, q, asked, flags, g, mw_worker_now(ups->w));
    if (rc < 0) {
        fetch_put(ups, f);
        return rc;
    }
    if (out)
        *out = f;
    return 0;
}

void mw_fetch_cancel(struct mw_fetch *f)
{
    if (!f->active)
        return;
    fetch_release(f);
    fetch_put(f->ups, f);
}

/* Free idle fetch objects beyond what the last interval needed (as query.c's pools do); the
 * timer of each closes first, the object is freed in fetch_closed. */
size_t mw_upstreams_trim(struct mw_upstreams *ups)
{
    unsigned want =
        ups->tick_peak_fetches > ups->used_fetches ? ups->tick_peak_fetches - ups->used_fetches : 0;
    unsigned keep = want > FETCH_RESERVE ? want : FETCH_RESERVE;
    size_t freed = 0;
    while (ups->n_free_fetches > keep && !ups->closing) {
        struct mw_fetch *f = ups->free_fetches;
        ups->free_fetches = f->next;
        ups->n_free_fetches--;
        if (f->all_prev)
            f->all_prev->all_next = f->all_next;
        else
            ups->all_fetches = f->all_next;
        if (f->all_next)
            f->all_next->all_prev = f->all_prev;
        uv_close((uv_handle_t *)&f->timer, fetch_closed);
        freed += sizeof(*f);
    }
    ups->tick_peak_fetches = ups->used_fetches;
    return freed;
}

void mw_upstreams_gauges(const struct mw_upstreams *ups, struct mw_fetch_gauges *g)
{
    g->pooled += ups->n_free_fetches;
    g->upstream_tcp = ups->n_tcp;
}

/* ---- health ---- */

/* Copy the board's states into the current set and report its answers (upset.h). */
static void sync_tick(uv_timer_t *t)
{
    struct mw_upstreams *ups = t->data;
    if (!ups->w->stopping)
        mw_upset_sync(ups->cur, ups->w->snap->cfg->health.down_after);
}

static void dot_closed(void *arg)
{
    mw_worker_maybe_done(arg);
}

int mw_upstreams_new(struct mw_worker *w, const struct mw_config *cfg, struct mw_health *health,
                     struct mw_upstreams **out)
{
    struct mw_upstreams *ups = calloc(1, sizeof(*ups));
    if (!ups)
        return -ENOMEM;
    ups->w = w;
    mw_rand_init(&ups->rand);
    ups->rbuf_len = (size_t)RECV_SLOTS * 65536;
    ups->rbuf = malloc(ups->rbuf_len);
    ups->cur = mw_upset_build(cfg, NULL, health);
    if (!ups->rbuf || !ups->cur) {
        free(ups->rbuf);
        mw_upset_unref(ups->cur);
        free(ups);
        return -ENOMEM;
    }
    char why[256] = "";
    struct mw_dot_host host = {
        .loop = &w->loop, .open_handles = &w->open_handles, .closed = dot_closed, .arg = w};
    int rc = mw_dot_new(&host, cfg, &ups->dot, why, sizeof(why));
    if (rc == -ENOMEM) {
        mw_dot_free(ups->dot);
        free(ups->rbuf);
        mw_upset_unref(ups->cur);
        free(ups);
        return -ENOMEM;
    }
    if (rc < 0) /* the tls:// upstreams fail their queries; the others serve */
        mw_log_error("upstr", "worker %u: tls: %s", w->index, why);
    uv_timer_init(&w->loop, &ups->sync);
    ups->sync.data = ups;
    w->open_handles++;
    uv_timer_start(&ups->sync, sync_tick, SYNC_TICK_MS, SYNC_TICK_MS);
    *out = ups;
    return 0;
}

int mw_upstreams_reconfigure(struct mw_upstreams *ups, const struct mw_config *cfg,
                             struct mw_health *health)
{
    struct mw_upset *s = mw_upset_build(cfg, ups->cur, health);
    if (!s)
        return -ENOMEM;
    char why[256] = "";
    if (mw_dot_configure(ups->dot, cfg, why, sizeof(why)) < 0)
        mw_log_error("upstr", "worker %u: tls: %s (the previous trust anchors stay)", ups->w->index,
                     why);
    mw_upset_unref(ups->cur);
    ups->cur = s;
    return 0;
}

const struct mw_upset *mw_upstreams_current(const struct mw_upstreams *ups)
{
    return ups->cur;
}

static void sync_closed(uv_handle_t *h)
{
    struct mw_upstreams *ups = h->data;
    ups->w->open_handles--;
    mw_worker_maybe_done(ups->w);
}

void mw_upstreams_close(struct mw_upstreams *ups)
{
    if (ups->closing)
        return;
    ups->closing = true;
    /* Any fetch its caller left ends here; then every fetch timer closes and the
     * objects free themselves in fetch_closed. */
    for (struct mw_fetch *f = ups->all_fetches; f; f = f->all_next)
        mw_fetch_cancel(f);
    struct mw_fetch *f = ups->all_fetches;
    ups->all_fetches = NULL;
    ups->free_fetches = NULL;
    while (f) {
        struct mw_fetch *next = f->all_next;
        uv_close((uv_handle_t *)&f->timer, fetch_closed);
        f = next;
    }
    uv_close((uv_handle_t *)&ups->sync, sync_closed);
    mw_dot_close(ups->dot);
    for (int i = 0; i < POOL_SIZE; i++) {
        if (ups->pool4[i])
            usock_close(ups->pool4[i]);
        if (ups->pool6[i])
            usock_close(ups->pool6[i]);
        ups->pool4[i] = ups->pool6[i] = NULL;
    }
}

void mw_upstreams_free(struct mw_upstreams *ups)
{
    if (!ups)
        return;
    mw_upset_unref(ups->cur);
    mw_dot_free(ups->dot);
    free(ups->rbuf);
    free(ups);
}

void mw_upstreams_tls_stats(const struct mw_upstreams *ups, const struct mw_addr *a,
                            struct mw_dot_stats *out)
{
    mw_dot_stats(ups->dot, a, out);
}
