/* The health prober on the control loop; see prober.h for what it owns and health.h for the
 * rules it applies. Everything runs on one timer: reports are folded in, outstanding probes
 * past their timeout fail, and due probes are sent; then the timer is set for the next thing
 * due (a probe, a timeout) or at most FOLD_MS away, so the workers' reports are read four
 * times a second and an idle process wakes little more than that. A tick costs a walk over
 * the configured upstreams, nothing per client query. */
#include "minewall/prober.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/dohboot.h"
#include "minewall/dot.h"
#include "minewall/dotconn.h"
#include "minewall/health.h"
#include "minewall/hostfile.h"
#include "minewall/journal.h"
#include "minewall/log.h"
#include "minewall/snapshot.h"
#include "minewall/socket.h"

#ifndef MW_PROBER_ROTATE
#define MW_PROBER_ROTATE 256 /* probes before a socket is replaced (when none is waiting) */
#endif
#define MAX_ROUTES 65 /* zones written in an upstream_change, as upstream.c wrote them */
#define FOLD_MS 250   /* longest wait before the workers' reports are read */

/* A probe socket: one per address family, replaced once worn (its port stops being fresh). */
struct psock {
    uv_udp_t h;
    struct mw_prober *p;
    uint32_t uses;
    unsigned inflight;
    bool retired, closing;
};

/* The outstanding probe of board slot i (parallel to the board's slots). */
struct pend {
    struct mw_prober *p;
    struct psock *s;        /* a probe over UDP outstanding from this socket, or NULL */
    struct mw_dot_req *dot; /* a probe over TLS outstanding (a tls:// upstream), or NULL */
    uint16_t id;
    uint64_t sent_ms, timeout_ms;
    /* The bootstrap of a DoH upstream named by host name (dohboot.h): one question to a
     * plain upstream outstanding at a time. */
    struct psock *bs;        /* outstanding from this socket, or NULL */
    struct mw_dot_req *bdot; /* outstanding over DoT (no plain upstream), or NULL */
    uint16_t bid, bqtype;
    uint64_t bsent;
    struct mw_addr bto;
};

struct mw_prober {
    uv_loop_t *loop;
    uv_timer_t tick;
    struct mw_snapshot *snap; /* owned ref: config, board, journal queue, host */
    struct mw_health *board;  /* borrowed from snap */
    struct pend *pend;        /* owned; board->n entries */
    struct mw_dot *dot;       /* owned; TLS connections to tls:// upstreams, NULL until one */
    struct psock *sock4, *sock6;
    unsigned open_handles;
    bool closing;
    struct mw_prober_stats st;
    uint8_t qbuf[512];
    uint8_t rbuf[MW_DNS_MAXMSG]; /* one datagram at a time */
    uint16_t ttl_off[MW_DNS_MAX_TTLS];
    uint32_t ttl[MW_DNS_MAX_TTLS];
};

static void maybe_free(struct mw_prober *p)
{
    if (!p->closing || p->open_handles)
        return;
    mw_dot_free(p->dot);
    mw_snapshot_unref(p->snap);
    free(p->pend);
    free(p);
}

/* ---- sockets ---- */

static void psock_closed(uv_handle_t *h)
{
    struct psock *s = h->data;
    struct mw_prober *p = s->p;
    free(s);
    p->open_handles--;
    maybe_free(p);
}

static void psock_close(struct psock *s)
{
    if (s->closing)
        return;
    s->closing = true;
    uv_close((uv_handle_t *)&s->h, psock_closed);
}

static void psock_release(struct psock *s)
{
    s->inflight--;
    if (s->retired && s->inflight == 0)
        psock_close(s);
}

static void rbuf_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct psock *s = h->data;
    (void)suggested;
    buf->base = (char *)s->p->rbuf;
    buf->len = sizeof(s->p->rbuf);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags);

static struct psock *psock_new(struct mw_prober *p, int family)
{
    int fd = mw_socket_udp_random_port(family);
    if (fd < 0)
        return NULL;
    struct psock *s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        return NULL;
    }
    s->p = p;
    uv_udp_init(p->loop, &s->h);
    s->h.data = s;
    p->open_handles++;
    if (uv_udp_open(&s->h, fd) < 0) {
        close(fd);
        psock_close(s);
        return NULL;
    }
    if (uv_udp_recv_start(&s->h, rbuf_alloc, on_recv) < 0) {
        psock_close(s);
        return NULL;
    }
    return s;
}

/* The socket for a probe to family, replacing a worn one (kept open while probes wait). */
static struct psock *psock_pick(struct mw_prober *p, int family)
{
    struct psock **slot = family == AF_INET ? &p->sock4 : &p->sock6;
    struct psock *s = *slot;
    if (s && s->uses >= MW_PROBER_ROTATE) {
        s->retired = true;
        if (s->inflight == 0)
            psock_close(s);
        *slot = s = NULL;
    }
    if (!s)
        s = *slot = psock_new(p, family);
    return s;
}

/* ---- state changes ---- */

/* Where the zone group of addresses a[0..n) goes now: its first member that is up. */
static const char *route_of(const struct mw_health *b, const struct mw_addr *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct mw_health_slot *s = mw_health_find(b, &a[i]);
        if (s && !s->hc.down)
            return s->label;
    }
    return NULL;
}

/* Log the change of slot s and journal it with the routes in effect after it. */
static void changed(struct mw_prober *p, const struct mw_health_slot *s, bool by_probes)
{
    if (s->hc.down)
        mw_log_warn("upstr", "upstream %s is down after %u failed %s", s->label,
                    p->snap->cfg->health.down_after, by_probes ? "probes" : "client queries");
    else
        mw_log_info("upstr", "upstream %s is back up", s->label);
    struct mw_journal_queue *q = p->snap->journal;
    if (!q)
        return;
    const struct mw_config *cfg = p->snap->cfg;
    struct mw_journal_route routes[MAX_ROUTES];
    size_t n = 0;
    for (size_t z = 0; z <= cfg->n_zones && n < MAX_ROUTES; z++, n++) {
        routes[n].zone = z == 0 ? "." : cfg->zones[z - 1].name;
        routes[n].upstream =
            z == 0 ? route_of(p->board, cfg->upstreams, cfg->n_upstreams)
                   : route_of(p->board, cfg->zones[z - 1].upstreams, cfg->zones[z - 1].n_upstreams);
    }
    /* The reasons are those upstream.c journaled before the prober existed: a consumer keys on
     * them. */
    struct mw_journal_upstream ev = {.upstream = s->label,
                                     .up = !s->hc.down,
                                     .reason =
                                         s->hc.down ? "consecutive failures" : "answered again",
                                     .routes = routes,
                                     .n_routes = n};
    char line[8192];
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    int len = mw_journal_format_upstream(line, sizeof(line),
                                         (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000,
                                         p->snap->host, &ev);
    if (len <= 0 || mw_journal_queue_push(q, MW_JOURNAL_UPSTREAM, line, (size_t)len) < 0)
        p->st.journal_dropped++;
}

/* ---- probes ---- */

static const struct mw_hcheck_params *params(struct mw_prober *p, struct mw_hcheck_params *hp)
{
    mw_health_params(p->snap->cfg, hp);
    return hp;
}

/* A probe of slot i ended at now: ok, or failed. */
static void probe_result(struct mw_prober *p, uint16_t i, bool ok, uint64_t rtt, uint64_t now)
{
    struct mw_hcheck_params hp;
    struct mw_health_slot *s = &p->board->slot[i];
    if (mw_health_probe_done(s, params(p, &hp), ok, rtt, now) != MW_HCHECK_SAME)
        changed(p, s, true);
}

/* The outstanding probe of slot i got its answer or timed out. */
static void probe_done(struct mw_prober *p, uint16_t i, bool ok, uint64_t now)
{
    struct pend *e = &p->pend[i];
    uint64_t rtt = now > e->sent_ms ? now - e->sent_ms : 0;
    if (e->s)
        psock_release(e->s);
    e->s = NULL;
    mw_dot_cancel(e->dot);
    e->dot = NULL;
    probe_result(p, i, ok, rtt, now);
}

/* The answer or failure of a probe over TLS (dotconn.h): a verification failure, like any
 * failed connection, is a failed probe. */
static void probe_tls_done(void *arg, int status, const uint8_t *pkt, size_t len)
{
    struct pend *e = arg;
    struct mw_prober *p = e->p;
    uint16_t i = (uint16_t)(e - p->pend);
    e->dot = NULL;
    bool ok = false;
    if (status == 0 && len <= sizeof(p->rbuf)) {
        struct mw_dns_response info;
        memcpy(p->rbuf, pkt, len);
        int n = mw_dns_prepare_response(p->rbuf, len, p->rbuf, len, &info, p->ttl_off, p->ttl);
        ok = n >= 0 && mw_dns_question_equal(&info.q, &p->board->slot[i].q) &&
             (info.rcode == MW_RCODE_NOERROR || info.rcode == MW_RCODE_NXDOMAIN);
    }
    probe_done(p, i, ok, uv_now(p->loop));
}

static void dot_closed(void *arg)
{
    maybe_free(arg);
}

/* The prober's DoT pool, made at the first need. Returns 0 or -ENOMEM. */
static int dot_make(struct mw_prober *p)
{
    if (p->dot)
        return 0;
    char why[256] = "";
    struct mw_dot_host host = {
        .loop = p->loop, .open_handles = &p->open_handles, .closed = dot_closed, .arg = p};
    int rc = mw_dot_new(&host, p->snap->cfg, &p->dot, why, sizeof(why));
    if (rc < 0) {
        mw_log_error("upstr", "health checks over TLS: %s", why);
        if (rc == -ENOMEM) {
            mw_dot_free(p->dot);
            p->dot = NULL;
            return rc;
        }
    }
    return 0;
}

/* Probe slot i's tls:// upstream over TLS, on a connection kept between probes (the same
 * pool as a worker's: tls.idle-timeout, keepalive, resumption). Returns 0 or a negative
 * errno (nothing outstanding). */
static int probe_tls(struct mw_prober *p, uint16_t i)
{
    const struct mw_config *cfg = p->snap->cfg;
    struct mw_health_slot *s = &p->board->slot[i];
    struct pend *e = &p->pend[i];
    int rc = dot_make(p);
    if (rc < 0)
        return rc;
    const struct mw_tls_upstream *t = mw_config_tls_upstream(cfg, &s->addr);
    if (!t)
        return -ENOENT;
    int n = mw_dns_build_query(&s->q, 0, false, false, p->qbuf, sizeof(p->qbuf));
    if (n >= 0)
        n = mw_dot_finish_query_opt(p->qbuf, (size_t)n, sizeof(p->qbuf), !t->doh);
    if (n < 0)
        return n;
    struct mw_addr at;
    bool resolved = t->by_name && mw_health_resolved(s, &at);
    struct mw_dot_target tg;
    mw_dot_target_of(cfg, t, resolved ? &at : NULL, &tg);
    e->p = p;
    return mw_dot_query(p->dot, &tg, p->qbuf, (size_t)n, probe_tls_done, e, &e->dot);
}

static void probe_send(struct mw_prober *p, uint16_t i, uint64_t now)
{
    struct mw_health_slot *s = &p->board->slot[i];
    struct pend *e = &p->pend[i];
    struct mw_hcheck_params hp;
    mw_hcheck_sent(&s->hc);
    e->sent_ms = now;
    e->timeout_ms = mw_hcheck_timeout(&s->hc, params(p, &hp));
    if (s->tls) {
        if (probe_tls(p, i) == 0)
            return;
        p->st.send_errors++;
        probe_result(p, i, false, 0, now);
        return;
    }
    struct psock *so = psock_pick(p, s->addr.u.sa.sa_family);
    int n = -ENOMEM;
    if (so) {
        e->id = (uint16_t)arc4random();
        n = mw_dns_build_query(&s->q, e->id, false, false, p->qbuf, sizeof(p->qbuf));
    }
    if (n >= 0) {
        uv_buf_t b = uv_buf_init((char *)p->qbuf, (unsigned)n);
        n = uv_udp_try_send(&so->h, &b, 1, &s->addr.u.sa);
    }
    so = n >= 0 ? so : NULL;
    if (so) {
        so->uses++;
        so->inflight++;
        e->s = so;
        return;
    }
    /* Not sent: a failed probe (an unreachable network is a dead upstream too). */
    p->st.send_errors++;
    probe_result(p, i, false, 0, now);
}

/* ---- DoH bootstrap ---- */

#define BOOT_TIMEOUT_MS 2000
#define BOOT_BACKOFF_MIN_MS 1000
#define BOOT_BACKOFF_MAX_MS 60000

/* The https:// entry of slot i when its HOST is a name (the ones to bootstrap), or NULL. */
static const struct mw_tls_upstream *boot_entry(struct mw_prober *p, uint16_t i)
{
    const struct mw_tls_upstream *t = mw_config_tls_upstream(p->snap->cfg, &p->board->slot[i].addr);
    return t && t->by_name ? t : NULL;
}

static void boot_release(struct pend *e)
{
    if (e->bs)
        psock_release(e->bs);
    e->bs = NULL;
    mw_dot_cancel(e->bdot);
    e->bdot = NULL;
}

static void boot_set(struct mw_prober *p, uint16_t i, const struct mw_addr *a, uint64_t until,
                     const char *from)
{
    struct mw_health_slot *s = &p->board->slot[i];
    struct mw_addr old;
    if (!mw_health_resolved(s, &old) || !mw_addr_equal(&old, a)) {
        char t[64];
        mw_addr_format(a, t, sizeof(t));
        mw_log_info("upstr", "upstream %s: host resolved to %s (%s)", s->label, t, from);
        mw_health_set_resolved(s, a);
    }
    s->res_next_ms = until;
    s->res_backoff_ms = 0;
    p->pend[i].bqtype = 0;
}

/* No address this time: ask again after a backoff (1 s doubling to 60 s). The upstream keeps
 * the address it had (if any); without one its queries and probes fail, so the health checks
 * mark it down and failover takes over. */
static void boot_fail(struct mw_prober *p, uint16_t i, const char *why, uint64_t now)
{
    struct mw_health_slot *s = &p->board->slot[i];
    if (s->res_backoff_ms == 0)
        mw_log_warn("upstr", "upstream %s: cannot resolve its host (%s), trying again", s->label,
                    why);
    s->res_backoff_ms = s->res_backoff_ms ? s->res_backoff_ms * 2 : BOOT_BACKOFF_MIN_MS;
    if (s->res_backoff_ms > BOOT_BACKOFF_MAX_MS)
        s->res_backoff_ms = BOOT_BACKOFF_MAX_MS;
    s->res_next_ms = now + s->res_backoff_ms;
    p->pend[i].bqtype = 0;
}

static void boot_tls_done(void *arg, int status, const uint8_t *pkt, size_t len);

/* Resolve slot i's host: the hosts file, else a question to the first plain upstream of
 * `upstreams` that is not down, else to its first DoT upstream given by address (never
 * minewall, never a DoH upstream). */
static void boot_start(struct mw_prober *p, uint16_t i, const struct mw_tls_upstream *t,
                       uint64_t now)
{
    const struct mw_config *cfg = p->snap->cfg;
    struct pend *e = &p->pend[i];
    struct mw_addr a;
    /* A hosts file is a few KiB, read at most once per MW_DOHBOOT_HOSTS_TTL_S per name: a
     * blocking read on the control loop costs less than a thread-pool round trip. */
    struct mw_hostfile_snap *hf = NULL;
    const char *path = cfg->tls.hosts_file ? cfg->tls.hosts_file : "/etc/hosts";
    int found = 0;
    if (mw_hostfile_read(path, &hf) == 0 && hf->exists)
        found = mw_dohboot_hosts(hf->data, hf->len, t->url.host, t->url.port, &a);
    mw_hostfile_snap_free(hf);
    if (found == 1) {
        boot_set(p, i, &a, now + MW_DOHBOOT_HOSTS_TTL_S * 1000ull, path);
        return;
    }
    /* A plain upstream, else a DoT one given by address (never one by name: it would need
     * a bootstrap of its own). */
    const struct mw_addr *to = NULL;
    const struct mw_tls_upstream *dot = NULL;
    for (size_t k = 0; k < cfg->n_upstreams && !to; k++) {
        const struct mw_health_slot *u = mw_health_find(p->board, &cfg->upstreams[k]);
        const struct mw_tls_upstream *tu = mw_config_tls_upstream(cfg, &cfg->upstreams[k]);
        if (u && u->hc.down)
            continue;
        if (!tu)
            to = &cfg->upstreams[k];
        else if (!dot && !tu->doh && !tu->by_name)
            dot = tu;
    }
    if (!to && !dot) {
        boot_fail(p, i, "not in the hosts file, no plain or DoT upstream to ask", now);
        return;
    }
    struct mw_dns_question q = {.qclass = 1};
    int wl = mw_dname_from_text(t->url.host, q.qname, sizeof(q.qname));
    q.qname_len = (uint16_t)(wl > 0 ? wl : 0);
    q.qtype = e->bqtype ? e->bqtype : MW_TYPE_A;
    e->bqtype = q.qtype;
    e->p = p;
    if (!to) {
        int n = wl > 0 ? mw_dns_build_query(&q, 0, false, false, p->qbuf, sizeof(p->qbuf)) : -1;
        if (n >= 0)
            n = mw_dot_finish_query(p->qbuf, (size_t)n, sizeof(p->qbuf));
        struct mw_dot_target tg;
        mw_dot_target_of(cfg, dot, NULL, &tg);
        if (n < 0 || dot_make(p) < 0 ||
            mw_dot_query(p->dot, &tg, p->qbuf, (size_t)n, boot_tls_done, e, &e->bdot) < 0) {
            boot_fail(p, i, "cannot ask the DoT upstream", now);
            return;
        }
        e->bto = dot->addr;
        e->bsent = now;
        return;
    }
    struct psock *so = wl > 0 ? psock_pick(p, to->u.sa.sa_family) : NULL;
    if (!so) {
        boot_fail(p, i, "no socket", now);
        return;
    }
    e->bid = (uint16_t)arc4random();
    int n = mw_dns_build_query(&q, e->bid, false, false, p->qbuf, sizeof(p->qbuf));
    if (n >= 0) {
        uv_buf_t b = uv_buf_init((char *)p->qbuf, (unsigned)n);
        n = uv_udp_try_send(&so->h, &b, 1, &to->u.sa);
    }
    if (n < 0) {
        boot_fail(p, i, "send failed", now);
        return;
    }
    so->uses++;
    so->inflight++;
    e->bs = so;
    e->bto = *to;
    e->bsent = now;
}

/* A datagram that may answer a bootstrap question: true when it was one (used). */
/* The answer pkt (len bytes) to slot i's bootstrap question, from the upstream at from.
 * Returns false when it is not an answer to that question (nothing changed). */
static bool boot_answer(struct mw_prober *p, uint16_t i, const uint8_t *pkt, size_t len,
                        const struct mw_addr *from, const char *how)
{
    struct pend *e = &p->pend[i];
    const struct mw_tls_upstream *t = boot_entry(p, i);
    struct mw_dns_question q = {.qclass = 1, .qtype = e->bqtype};
    int wl = t ? mw_dname_from_text(t->url.host, q.qname, sizeof(q.qname)) : -1;
    struct mw_dns_response info;
    int n = len <= sizeof(p->rbuf) ? mw_dns_prepare_response(pkt, len, p->rbuf, sizeof(p->rbuf),
                                                             &info, p->ttl_off, p->ttl)
                                   : -EMSGSIZE;
    q.qname_len = (uint16_t)(wl > 0 ? wl : 0);
    if (wl <= 0 || n < 0 || !mw_dns_question_equal(&info.q, &q))
        return false;
    uint64_t now = uv_now(p->loop);
    boot_release(e);
    struct mw_addr a;
    uint32_t ttl = 0;
    int r = info.rcode == MW_RCODE_NOERROR
                ? mw_dohboot_answer(p->rbuf, (size_t)n, q.qtype, t->url.port, &a, &ttl)
                : 0;
    char from_text[96], at[64];
    mw_addr_format(from, at, sizeof(at));
    snprintf(from_text, sizeof(from_text), "asked %s%s", how, at);
    if (r == 1) {
        boot_set(p, i, &a, now + ttl * 1000ull, from_text);
    } else if (r == 0 && q.qtype == MW_TYPE_A && info.rcode == MW_RCODE_NOERROR) {
        e->bqtype = MW_TYPE_AAAA; /* no IPv4 address: ask for IPv6 at once */
        p->board->slot[i].res_next_ms = now;
    } else {
        boot_fail(p, i, r < 0 ? "malformed answer" : "no address", now);
    }
    return true;
}

static bool boot_recv(struct mw_prober *p, struct psock *so, const uint8_t *pkt, size_t len,
                      const struct mw_addr *from)
{
    uint16_t id = mw_dns_get16(pkt);
    for (uint16_t i = 0; i < p->board->n; i++) {
        struct pend *e = &p->pend[i];
        if (e->bs == so && e->bid == id && mw_addr_equal(&e->bto, from))
            return boot_answer(p, i, pkt, len, from, ""); /* false: keep waiting (RFC 5452) */
    }
    return false;
}

/* The answer or failure of a bootstrap question over DoT (the connection matched it). */
static void boot_tls_done(void *arg, int status, const uint8_t *pkt, size_t len)
{
    struct pend *e = arg;
    struct mw_prober *p = e->p;
    uint16_t i = (uint16_t)(e - p->pend);
    e->bdot = NULL;
    if (status != 0 || !boot_answer(p, i, pkt, len, &e->bto, "tls://"))
        boot_fail(p, i, status == -EPERM ? "the DoT upstream failed verification" : "no answer",
                  uv_now(p->loop));
}

/* Slot i's bootstrap at now: start it when due, fail it when its answer is late. Returns
 * when it next needs attention (UINT64_MAX: not a named DoH upstream). */
static uint64_t boot_tick(struct mw_prober *p, uint16_t i, uint64_t now)
{
    const struct mw_tls_upstream *t = boot_entry(p, i);
    if (!t)
        return UINT64_MAX;
    struct pend *e = &p->pend[i];
    struct mw_health_slot *s = &p->board->slot[i];
    bool out = e->bs || e->bdot;
    if (out && now >= e->bsent + BOOT_TIMEOUT_MS) {
        boot_release(e);
        boot_fail(p, i, "no answer", now);
        out = false;
    }
    if (!out && now >= s->res_next_ms)
        boot_start(p, i, t, now);
    return e->bs || e->bdot ? e->bsent + BOOT_TIMEOUT_MS : s->res_next_ms;
}

/* A datagram on a probe socket: the answer of the probe it names, or a stray. */
static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    struct psock *so = h->data;
    struct mw_prober *p = so->p;
    (void)flags;
    if (nread <= 0 || !addr || !p->board)
        return;
    struct mw_addr from;
    int i = -1;
    if (nread >= MW_DNS_HDR && mw_addr_from_sa(addr, &from) == 0) {
        if (boot_recv(p, so, (const uint8_t *)buf->base, (size_t)nread, &from))
            return;
        uint16_t id = mw_dns_get16((const uint8_t *)buf->base);
        for (uint16_t k = 0; k < p->board->n && i < 0; k++)
            if (p->pend[k].s == so && p->pend[k].id == id &&
                mw_addr_equal(&from, &p->board->slot[k].addr))
                i = k;
    }
    if (i < 0) {
        p->st.stray++;
        return;
    }
    struct mw_dns_response info;
    uint8_t *pkt = (uint8_t *)buf->base;
    int n =
        mw_dns_prepare_response(pkt, (size_t)nread, pkt, (size_t)nread, &info, p->ttl_off, p->ttl);
    if (n >= 0 && !mw_dns_question_equal(&info.q, &p->board->slot[i].q)) {
        p->st.stray++; /* not the question we asked: keep waiting for the real answer */
        return;
    }
    /* A working server answers NOERROR or NXDOMAIN (truncated or not); SERVFAIL, REFUSED and
     * a malformed message are failures, as they are for client queries. */
    bool ok = n >= 0 && (info.rcode == MW_RCODE_NOERROR || info.rcode == MW_RCODE_NXDOMAIN);
    probe_done(p, (uint16_t)i, ok, uv_now(p->loop));
}

static void on_tick(uv_timer_t *t)
{
    struct mw_prober *p = t->data;
    if (p->closing || !p->board)
        return;
    uint64_t now = uv_now(p->loop);
    uint64_t next = now + FOLD_MS;
    struct mw_hcheck_params hp;
    params(p, &hp);
    for (uint16_t i = 0; i < p->board->n; i++) {
        struct mw_health_slot *s = &p->board->slot[i];
        if (mw_health_tick(s, &hp, now) != MW_HCHECK_SAME)
            changed(p, s, false);
        struct pend *e = &p->pend[i];
        bool out = e->s || e->dot;
        if (out && now >= e->sent_ms + e->timeout_ms) {
            probe_done(p, i, false, now);
            out = false;
        }
        if (!out && mw_hcheck_due(&s->hc, now)) {
            probe_send(p, i, now);
            out = e->s || e->dot;
        }
        uint64_t due = out ? e->sent_ms + e->timeout_ms : s->hc.next_ms;
        uint64_t boot = boot_tick(p, i, now);
        if (boot < due)
            due = boot;
        if (due < next)
            next = due > now ? due : now + 1;
    }
    uv_timer_start(&p->tick, on_tick, next - now, 0);
}

/* ---- lifecycle ---- */

static void tick_closed(uv_handle_t *h)
{
    struct mw_prober *p = h->data;
    p->open_handles--;
    maybe_free(p);
}

int mw_prober_new(uv_loop_t *loop, struct mw_prober **out)
{
    struct mw_prober *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->loop = loop;
    uv_timer_init(loop, &p->tick);
    p->tick.data = p;
    p->open_handles++;
    uv_timer_start(&p->tick, on_tick, FOLD_MS, 0);
    *out = p;
    return 0;
}

/* Forget the outstanding probes (their slots' in_flight was cleared by the board build). */
static void forget_pending(struct mw_prober *p)
{
    for (uint16_t i = 0; p->board && i < p->board->n; i++) {
        if (p->pend[i].s)
            psock_release(p->pend[i].s);
        else
            mw_dot_cancel(p->pend[i].dot);
        boot_release(&p->pend[i]);
    }
    free(p->pend);
    p->pend = NULL;
    p->board = NULL;
}

void mw_prober_set(struct mw_prober *p, struct mw_snapshot *snap)
{
    if (p->closing)
        return;
    mw_snapshot_ref(snap);
    struct mw_health *b = snap->box->health;
    if (b != p->board) {
        forget_pending(p);
        p->pend = b ? calloc(b->n ? b->n : 1, sizeof(*p->pend)) : NULL;
        p->board = p->pend ? b : NULL; /* out of memory: no probes until the next config */
        if (b && !p->pend)
            mw_log_error("upstr", "out of memory: health checks stopped");
    }
    mw_snapshot_unref(p->snap);
    p->snap = snap;
    char why[256] = "";
    if (p->dot && mw_dot_configure(p->dot, snap->cfg, why, sizeof(why)) < 0)
        mw_log_error("upstr", "health checks over TLS: %s (the previous trust anchors stay)", why);
    uv_timer_start(&p->tick, on_tick, 0, 0); /* a new board's probes are due now */
}

void mw_prober_close(struct mw_prober *p)
{
    if (!p || p->closing)
        return;
    forget_pending(p);
    p->closing = true;
    uv_close((uv_handle_t *)&p->tick, tick_closed);
    if (p->sock4)
        psock_close(p->sock4);
    if (p->sock6)
        psock_close(p->sock6);
    p->sock4 = p->sock6 = NULL;
    if (p->dot)
        mw_dot_close(p->dot);
}

void mw_prober_stats(const struct mw_prober *p, struct mw_prober_stats *out)
{
    *out = p->st;
}
