/* Client queries of one worker. The hit path is parse -> access check -> cache lookup ->
 * render into the worker's scratch buffer -> send, with no allocation. A miss attaches a
 * waiter (a copy of what the reply must echo, plus where to send it) to the fetch for the same
 * question, starting one if none is pending: identical concurrent questions reach the upstream
 * once. When the fetch ends, every waiter is answered from its response, or on failure from a
 * stale cache entry (RFC 8767, TTL 30), or with SERVFAIL. */
#include "minewall/query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "minewall/blocklog.h"
#include "minewall/cache.h"
#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/events.h"
#include "minewall/answerdiff.h"
#include "minewall/jlog.h"
#include "minewall/journal.h"
#include "minewall/filter.h"
#include "minewall/lists.h"
#include "minewall/ratelimit.h"
#include "minewall/dnsmsg.h"
#include "minewall/listener.h"
#include "minewall/log.h"
#include "minewall/snapshot.h"
#include "minewall/upstream.h"
#include "minewall/worker.h"

#define STALE_TTL 30 /* RFC 8767 section 4 recommends 30 seconds */
#define FETCH_BUCKETS 4096
#define POOL_CHUNK 64

struct mw_waiter {
    struct mw_waiter *next;
    struct mw_dns_client c; /* c.qsec points at qsec below */
    uint8_t qsec[MW_DNS_HDR + 256 + 4];
    struct mw_reply r;   /* held: where the answer goes */
    struct mw_addr from; /* storage of r's UDP client address */
};

static void send_reply(struct mw_worker *w, const struct mw_reply *to, const uint8_t *buf, int len)
{
    if (len <= 0) {
        w->stats.send_errors++;
        return;
    }
    uint8_t rcode = buf[3] & 0x0f;
    /* Metrics: by transport, query type (read after the echoed question name) and rcode. */
    unsigned qt = MW_M_QTYPES - 1;
    if (len > MW_DNS_HDR && mw_dns_get16(buf + 4) == 1) {
        size_t off = MW_DNS_HDR;
        while (off < (size_t)len && buf[off] && buf[off] < 64)
            off += (size_t)buf[off] + 1;
        if (off + 3 <= (size_t)len && !buf[off])
            qt = mw_qtype_index(mw_dns_get16(buf + off + 1));
    }
    static const unsigned rc_index[16] = {0, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6};
    w->responses[mw_reply_is_tcp(to) ? 1 : 0][qt][rc_index[rcode]]++;
    if (rcode == MW_RCODE_NOERROR)
        w->stats.answers_noerror++;
    else if (rcode == MW_RCODE_NXDOMAIN)
        w->stats.answers_nxdomain++;
    else if (rcode == MW_RCODE_SERVFAIL)
        w->stats.answers_servfail++;
    else
        w->stats.answers_other++;
    mw_reply_send(to, buf, (size_t)len);
}

static void send_error(struct mw_worker *w, const struct mw_reply *to,
                       const struct mw_dns_client *c, uint8_t rcode)
{
    int n = mw_dns_build_error(c, rcode, -1, NULL, w->out, sizeof(w->out));
    send_reply(w, to, w->out, n);
}

/* ---- filtering ---- */

#define EDE_BLOCKED 15  /* RFC 8914: the query name is on a blocklist */
#define EDE_FILTERED 17 /* RFC 8914: the answer was filtered */

/* Queue the hit for the Redis blocks stream, once per (client, name) and second. */
static void queue_event(struct mw_worker *w, const struct mw_block_event *e)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const uint8_t *a = (const uint8_t *)e->client;
    size_t alen = e->client->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                   : sizeof(struct sockaddr_in);
    for (size_t i = 4; i < alen; i++) /* skip family and port */
        h = (h ^ a[i]) * 0x100000001b3ULL;
    for (size_t i = 0; i < e->qname_len; i++)
        h = (h ^ e->qname[i]) * 0x100000001b3ULL;
    /* One slot per hash bucket: the time (ms) in the high bits, 8 more hash bits below. */
    uint64_t now = mw_worker_now(w), *seen = &w->event_seen[h & 255], tag = (h >> 8) & 0xff;
    if (*seen && (*seen & 0xff) == tag && now - (*seen >> 8) < 1000)
        return;
    *seen = (now << 8) | tag;
    mw_events_block(w->snap->events, e);
}

static void record_hit(struct mw_worker *w, struct mw_verdict *v,
                       const struct sockaddr *client, const struct mw_dns_question *q)
{
    const struct mw_list_info *lhit = &w->snap->lists->lists[v->rule.list];
    mw_worker_count_block(w, lhit->name, lhit->category, v->action, v->where);
    struct mw_worker_hit *h = &w->recent[w->recent_pos]; /* for the status page: raw copies */
    w->recent_pos = (w->recent_pos + 1) % MW_M_RECENT;
    if (w->n_recent < MW_M_RECENT)
        w->n_recent++;
    memcpy(h->qname, q->qname, q->qname_len);
    h->qname_len = q->qname_len;
    h->list = v->rule.list;
    mw_addr_from_sa(client, &h->client);
    struct mw_blocklog *bl = w->snap->blocklog;
    if (!bl && !w->snap->events)
        return;
    const struct mw_list_info *li = &w->snap->lists->lists[v->rule.list];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct mw_block_event e = {
        .wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
        .client = client,
        .qname = q->qname,
        .qname_len = q->qname_len,
        .qtype = q->qtype,
        .list = li->name,
        .category = li->category,
        .action = mw_action_name(v->action),
        .rule = mw_verdict_rule_text(v),
        .where = mw_where_name(v->where),
        .matched = v->matched,
    };
    if (bl)
        mw_blocklog_hit(bl, w->fold, &e, mw_worker_now(w));
    if (w->snap->events)
        queue_event(w, &e);
}

/* Answer a blocked query as its verdict says. Synthesized answers are never cached. */
static void reply_blocked(struct mw_worker *w, const struct mw_reply *to,
                          const struct mw_dns_client *c, const struct mw_dns_question *q,
                          const struct mw_verdict *v, bool answer_side)
{
    const struct mw_config *cfg = w->snap->cfg;
    const char *text = w->snap->lists->lists[v->rule.list].ede_text;
    int ede = answer_side ? EDE_FILTERED : EDE_BLOCKED;
    uint32_t ttl = cfg->sinkhole.ttl;
    const uint8_t *addr = NULL;
    size_t alen = 0;
    uint8_t rcode = MW_RCODE_NOERROR;
    switch (v->action) {
    case MW_ACTION_DROP:
        return;
    case MW_ACTION_REFUSED: {
        int n = mw_dns_build_error(c, MW_RCODE_REFUSED, ede, text, w->out, sizeof(w->out));
        send_reply(w, to, w->out, n);
        return;
    }
    case MW_ACTION_NXDOMAIN:
        rcode = MW_RCODE_NXDOMAIN;
        break;
    case MW_ACTION_NODATA:
        break;
    default: /* sinkhole: A and AAAA get the sinkhole address, other types NODATA */
        if (q->qtype == MW_TYPE_A) {
            addr = v->sink4 ? v->sink4 : cfg->sinkhole.ipv4;
            alen = 4;
        } else if (q->qtype == MW_TYPE_AAAA) {
            addr = v->sink6 ? v->sink6 : cfg->sinkhole.ipv6;
            alen = 16;
        }
        break;
    }
    int n = mw_dns_build_synth(c, q, rcode, addr, alen, ttl, ede, text, w->out, sizeof(w->out));
    send_reply(w, to, w->out, n);
}

/* ---- pools ---- */

/* Waiters are malloc'ed on first need and recycled through the free list: the pool grows to
 * the peak number in flight and never shrinks until the worker ends. */
static struct mw_waiter *waiter_get(struct mw_worker *w)
{
    struct mw_waiter *wt = w->free_waiters;
    if (wt) {
        w->free_waiters = wt->next;
        wt->next = NULL;
        return wt;
    }
    return calloc(1, sizeof(*wt));
}

static void waiter_put(struct mw_worker *w, struct mw_waiter *wt)
{
    if (wt->r.held) {
        mw_reply_done(&wt->r);
        wt->r = (struct mw_reply){0};
    }
    wt->next = w->free_waiters;
    w->free_waiters = wt;
}

static void fetch_closed(uv_handle_t *h)
{
    struct mw_fetch *f = h->data;
    f->w->open_handles--;
    free(f);
}

static struct mw_fetch *fetch_get(struct mw_worker *w)
{
    struct mw_fetch *f = w->free_fetches;
    if (f) {
        w->free_fetches = f->next;
        f->next = NULL;
        return f;
    }
    f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    if (mw_fetch_init(w, f) < 0) {
        free(f);
        return NULL;
    }
    w->open_handles++;
    f->all_next = w->all_fetches;
    w->all_fetches = f;
    return f;
}

static void fetch_put(struct mw_worker *w, struct mw_fetch *f)
{
    f->next = w->free_fetches;
    w->free_fetches = f;
}

/* ---- coalescing table ---- */

static struct mw_fetch **bucket_of(struct mw_worker *w, uint64_t hash)
{
    return &w->fetch_by_key[hash & (w->fetch_buckets - 1)];
}

static struct mw_fetch *pending_find(struct mw_worker *w, const struct mw_cache_key *k,
                                     uint64_t hash, bool cd)
{
    for (struct mw_fetch *f = *bucket_of(w, hash); f; f = f->next)
        if (f->key_hash == hash && f->cd == cd && mw_cache_key_equal(&f->key, k))
            return f;
    return NULL;
}

static void pending_remove(struct mw_worker *w, struct mw_fetch *f)
{
    for (struct mw_fetch **pp = bucket_of(w, f->key_hash); *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            f->next = NULL;
            w->n_fetches--;
            return;
        }
    }
}

int mw_query_init(struct mw_worker *w)
{
    w->fetch_buckets = FETCH_BUCKETS;
    w->fetch_by_key = calloc(FETCH_BUCKETS, sizeof(*w->fetch_by_key));
    return w->fetch_by_key ? 0 : -ENOMEM;
}

/* ---- the query path ---- */

static void attach_waiter(struct mw_worker *w, struct mw_fetch *f, const struct mw_dns_client *c,
                          const struct mw_reply *to)
{
    struct mw_waiter *wt = waiter_get(w);
    if (!wt) {
        send_error(w, to, c, MW_RCODE_SERVFAIL);
        mw_reply_done(to);
        return;
    }
    wt->c = *c;
    memcpy(wt->qsec, c->qsec, c->qsec_len);
    wt->c.qsec = wt->qsec;
    wt->r = *to;
    mw_reply_hold(&wt->r, &wt->from);
    wt->next = f->waiters;
    f->waiters = wt;
    f->n_waiters++;
}

/* A miss: join the pending fetch for this question or start one. */
static void resolve(struct mw_worker *w, const struct mw_dns_query *q,
                    const struct mw_dns_client *c, const struct mw_reply *to,
                    const struct mw_cache_key *k, uint64_t hash, uint64_t now, bool allowed,
                    bool watched)
{
    bool cd = (q->flags & MW_DNS_CD) != 0;
    struct mw_fetch *f = pending_find(w, k, hash, cd);
    if (f) {
        w->stats.coalesced++;
        attach_waiter(w, f, c, to);
        return;
    }
    f = fetch_get(w);
    if (!f)
        goto fail;
    f->key = *k;
    f->key_hash = hash;
    f->q = q->q;
    f->cd = cd;
    f->do_bit = q->do_bit;
    f->allowed = allowed;
    f->watched = watched;
    f->probe_up = -1;
    f->waiters = NULL;
    f->n_waiters = 0;
    if (mw_fetch_start(w->ups, f, w->snap->cfg, now) < 0) {
        fetch_put(w, f);
        goto fail;
    }
    f->next = *bucket_of(w, hash);
    *bucket_of(w, hash) = f;
    w->n_fetches++;
    attach_waiter(w, f, c, to);
    return;
fail:
    send_error(w, to, c, MW_RCODE_SERVFAIL);
    mw_reply_done(to);
}

static void handle(struct mw_worker *w, const uint8_t *pkt, size_t len, const struct mw_reply *to,
                   const struct sockaddr *from, bool tcp)
{
    struct mw_dns_query q;
    enum mw_dns_parse pr = mw_dns_parse_query(pkt, len, &q);
    if (pr == MW_PARSE_DROP) {
        w->stats.drop_malformed++;
        goto done;
    }
    struct mw_dns_client c;
    mw_dns_client_from_query(&q, tcp, &c);
    const struct mw_config *cfg = w->snap->cfg;
    if (!mw_cidr_match_any(cfg->access, cfg->n_access, from)) {
        w->stats.refused_access++;
        send_error(w, to, &c, MW_RCODE_REFUSED);
        goto done;
    }
    if (w->rl && !mw_ratelimit_allow(w->rl, from, mw_worker_now(w))) {
        w->stats.ratelimited++;
        if (cfg->ratelimit.refuse)
            send_error(w, to, &c, MW_RCODE_REFUSED);
        goto done;
    }
    switch (pr) {
    case MW_PARSE_OK:
        break;
    case MW_PARSE_FORMERR:
        w->stats.formerr++;
        send_error(w, to, &c, MW_RCODE_FORMERR);
        goto done;
    case MW_PARSE_NOTIMP:
        w->stats.notimp++;
        send_error(w, to, &c, MW_RCODE_NOTIMP);
        goto done;
    case MW_PARSE_BADVERS:
        send_error(w, to, &c, MW_RCODE_BADVERS);
        goto done;
    default:
        send_error(w, to, &c, MW_RCODE_REFUSED);
        goto done;
    }

    const struct mw_lists *lists = w->snap->lists;
    struct mw_verdict v;
    enum mw_filter_result fr = mw_filter_qname(lists, cfg, &q.q, &v);
    if (fr == MW_FILTER_BLOCK) {
        record_hit(w, &v, from, &q.q);
        if (v.action != MW_ACTION_LOG) {
            w->stats.blocked_qname++;
            reply_blocked(w, to, &c, &q.q, &v, false);
            goto done;
        }
        w->stats.monitor_hits++;
    } else if (fr == MW_FILTER_ALLOW) {
        w->stats.allowed++;
    }
    /* journal track: listed follows only the names of lists in category "watch-names". */
    bool watched = fr != MW_FILTER_PASS && cfg->journal.track == MW_TRACK_LISTED &&
                   strcmp(lists->lists[v.rule.list].category, "watch-names") == 0;

    uint64_t now = mw_worker_now(w);
    struct mw_cache_key k;
    mw_cache_key_make(&q.q, q.do_bit, &k);
    struct mw_dns_stored st;
    uint32_t elapsed;
    if (mw_cache_lookup(w->cache, &k, now, false, &st, &elapsed) == MW_CACHE_HIT) {
        w->stats.cache_hits++;
        w->client_lat[0]++; /* answered within the millisecond it arrived */
        /* Lists changed since this answer was checked: check it again, once. */
        if (fr != MW_FILTER_ALLOW && *st.stamp != lists->generation) {
            if (mw_filter_answer(lists, cfg, st.pkt, st.len, &v) == MW_FILTER_BLOCK) {
                record_hit(w, &v, from, &q.q);
                if (v.action != MW_ACTION_LOG) {
                    w->stats.blocked_answer++;
                    reply_blocked(w, to, &c, &q.q, &v, true);
                    goto done;
                }
                w->stats.monitor_hits++;
            } else {
                *st.stamp = lists->generation;
            }
        }
        int n = mw_dns_render(&st, &c, elapsed, -1, w->out, sizeof(w->out));
        if (n < 0)
            n = mw_dns_build_error(&c, MW_RCODE_SERVFAIL, -1, NULL, w->out, sizeof(w->out));
        send_reply(w, to, w->out, n);
        goto done;
    }
    w->stats.cache_misses++;
    /* resolve() owns the completion of a TCP query from here on. */
    resolve(w, &q, &c, to, &k, mw_cache_key_hash(&k), now, fr == MW_FILTER_ALLOW, watched);
    return;
done:
    mw_reply_done(to);
}

void mw_query_from_udp(struct mw_worker *w, struct mw_listener *l, const uint8_t *pkt,
                       size_t len, const struct sockaddr *from)
{
    w->stats.queries_udp++;
    struct mw_reply to = mw_reply_udp(l, from);
    handle(w, pkt, len, &to, from, false);
}

void mw_query_from_tcp(struct mw_worker *w, struct mw_tcp_conn *c, const uint8_t *pkt,
                       size_t len)
{
    w->stats.queries_tcp++;
    struct mw_reply to = mw_reply_tcp(c);
    handle(w, pkt, len, &to, &c->peer.u.sa, true);
}

/* ---- completion ---- */

static void answer_waiters(struct mw_worker *w, struct mw_fetch *f,
                           const struct mw_dns_stored *st, uint32_t elapsed, int64_t fixed_ttl)
{
    struct mw_waiter *wt = f->waiters;
    f->waiters = NULL;
    while (wt) {
        struct mw_waiter *next = wt->next;
        const struct mw_reply *to = &wt->r;
        w->client_lat[mw_lat_bucket(mw_worker_now(w) - f->start_ms)]++;
        if (st) {
            int n = mw_dns_render(st, &wt->c, elapsed, fixed_ttl, w->out, sizeof(w->out));
            send_reply(w, to, w->out, n);
        } else {
            send_error(w, to, &wt->c, MW_RCODE_SERVFAIL);
        }
        waiter_put(w, wt);
        wt = next;
    }
    f->n_waiters = 0;
}

/* Journal: compare the answer with the last one seen for (name, type); a change becomes an
 * answer_change event. Only for answers from upstream (misses), so cache hits cost nothing. */
static void track_answer(struct mw_worker *w, struct mw_fetch *f, size_t len)
{
    const struct mw_snapshot *snap = w->snap;
    const struct mw_config *cfg = snap->cfg;
    if (!snap->journal || cfg->journal.track == MW_TRACK_NONE ||
        (cfg->journal.track == MW_TRACK_LISTED && !f->watched) ||
        !mw_answerdiff_tracks(f->q.qtype))
        return;
    if (!w->ad && !(w->ad = mw_answerdiff_new(cfg->journal.max_names)))
        return;
    struct mw_answer_change ch;
    if (mw_answerdiff_observe(w->ad, f->q.qname, f->q.qname_len, f->q.qtype, w->prep, len,
                              mw_worker_now(w), &ch) != 1)
        return;
    /* Large (two sets of 64 lookups): kept off the stack of the query path. */
    static __thread struct mw_journal_answer_geo g;
    static __thread char line[32768];
    mw_journal_answer_geo(&ch, snap->jgeo, &g);
    if (cfg->journal.ignore_same_asn && mw_journal_same_asn_churn(&ch, &g))
        return;
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    const char *up = f->answered_by[0] ? f->answered_by : NULL;
    int n = mw_journal_format_answer(line, sizeof(line),
                                     (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000,
                                     mw_jlog_host(), &ch, up, &g);
    if (n > 0 && mw_journal_queue_push(snap->journal, MW_JOURNAL_ANSWER, line, (size_t)n) == 0)
        w->stats.journal_answer_changes++;
    else
        w->stats.journal_dropped++;
}

/* The answer of a fetch matched a list: record the hit for every waiter and, unless the list
 * only monitors, answer each with the blocked reply instead. */
static void answer_filtered(struct mw_worker *w, struct mw_fetch *f, struct mw_verdict *v)
{
    bool block = v->action != MW_ACTION_LOG;
    struct mw_waiter *wt = f->waiters;
    for (; wt; wt = wt->next) {
        const struct sockaddr *client = mw_reply_client(&wt->r);
        record_hit(w, v, client, &f->q);
        if (block) {
            w->stats.blocked_answer++;
            reply_blocked(w, &wt->r, &wt->c, &f->q, v,
                          v->where != MW_WHERE_QNAME && v->where != MW_WHERE_PATTERN);
        } else {
            w->stats.monitor_hits++;
        }
    }
    if (!block)
        return;
    wt = f->waiters;
    f->waiters = NULL;
    f->n_waiters = 0;
    while (wt) {
        struct mw_waiter *next = wt->next;
        waiter_put(w, wt);
        wt = next;
    }
}

void mw_query_fetch_done(struct mw_worker *w, struct mw_fetch *f, enum mw_fetch_result res,
                         const struct mw_dns_response *resp, size_t resp_len)
{
    if (f->probe_up >= 0) { /* health probe: nobody waits */
        fetch_put(w, f);
        mw_worker_maybe_done(w);
        return;
    }
    pending_remove(w, f);
    uint64_t now = mw_worker_now(w);
    if (res == MW_FETCH_ANSWER) {
        const struct mw_lists *lists = w->snap->lists;
        struct mw_verdict v;
        bool monitor = false;
        /* The question too: the lists may have changed since it was asked. */
        if (mw_filter_response(lists, w->snap->cfg, &f->q, w->prep, resp_len, &v) ==
            MW_FILTER_BLOCK) {
            answer_filtered(w, f, &v);
            if (v.action != MW_ACTION_LOG) {
                fetch_put(w, f);
                mw_worker_maybe_done(w);
                return;
            }
            monitor = true;
        }
        track_answer(w, f, resp_len);
        struct mw_dns_stored st = {.pkt = w->prep,
                                   .len = resp_len,
                                   .ttl_off = w->prep_ttl_off,
                                   .ttl = w->prep_ttl,
                                   .n_ttls = resp->n_ttls};
        uint32_t elapsed = 0;
        /* Answer from the cached copy when there is one, so the first client sees the same
         * clamped TTLs (and RFC 2308 negative TTL) as the ones after it. A monitored hit is
         * left unstamped so every later cache hit is recorded too. */
        if (mw_cache_insert(w->cache, &f->key, w->prep, resp_len, resp, w->prep_ttl_off,
                            w->prep_ttl, now) == 0 &&
            mw_cache_lookup(w->cache, &f->key, now, false, &st, &elapsed) != MW_CACHE_MISS &&
            !monitor)
            *st.stamp = lists->generation;
        answer_waiters(w, f, &st, elapsed, -1);
    } else {
        struct mw_dns_stored st;
        uint32_t elapsed;
        enum mw_cache_result cr = mw_cache_lookup(w->cache, &f->key, now, true, &st, &elapsed);
        struct mw_verdict v;
        /* A stale answer may predate the lists in force: check it as a new one. */
        if (cr != MW_CACHE_MISS && mw_filter_response(w->snap->lists, w->snap->cfg, &f->q, st.pkt,
                                                      st.len, &v) == MW_FILTER_BLOCK) {
            answer_filtered(w, f, &v);
            if (v.action != MW_ACTION_LOG) {
                fetch_put(w, f);
                mw_worker_maybe_done(w);
                return;
            }
        }
        if (cr == MW_CACHE_STALE) {
            w->stats.stale_served += f->n_waiters;
            answer_waiters(w, f, &st, elapsed, STALE_TTL);
        } else if (cr == MW_CACHE_HIT) {
            answer_waiters(w, f, &st, elapsed, -1);
        } else {
            answer_waiters(w, f, NULL, 0, -1);
        }
    }
    fetch_put(w, f);
    mw_worker_maybe_done(w);
}

void mw_query_abort_all(struct mw_worker *w)
{
    for (unsigned b = 0; b < w->fetch_buckets; b++) {
        while (w->fetch_by_key[b]) {
            struct mw_fetch *f = w->fetch_by_key[b];
            w->fetch_by_key[b] = f->next;
            w->n_fetches--;
            mw_fetch_abort(f);
            struct mw_waiter *wt = f->waiters;
            f->waiters = NULL;
            while (wt) {
                struct mw_waiter *next = wt->next;
                waiter_put(w, wt);
                wt = next;
            }
            f->n_waiters = 0;
            fetch_put(w, f);
        }
    }
    /* Health probes are not in the table; they are the only other active fetches. */
    for (struct mw_fetch *f = w->all_fetches; f; f = f->all_next) {
        if (f->active) {
            mw_fetch_abort(f);
            fetch_put(w, f);
        }
    }
}

void mw_query_deinit(struct mw_worker *w)
{
    /* Fetch timers close through the loop; the objects free themselves in fetch_closed. */
    struct mw_fetch *f = w->all_fetches;
    w->all_fetches = NULL;
    w->free_fetches = NULL;
    while (f) {
        struct mw_fetch *next = f->all_next;
        f->timer.data = f;
        uv_close((uv_handle_t *)&f->timer, fetch_closed);
        f = next;
    }
    struct mw_waiter *wt = w->free_waiters;
    w->free_waiters = NULL;
    while (wt) {
        struct mw_waiter *next = wt->next;
        free(wt);
        wt = next;
    }
    free(w->fetch_by_key);
    w->fetch_by_key = NULL;
}

/* Probe fetches come from the same pool; upstream.c takes and returns them through these. */
struct mw_fetch *mw_query_fetch_get(struct mw_worker *w)
{
    return fetch_get(w);
}
