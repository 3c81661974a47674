/* Client queries of one worker, from arrival to answer. The path of a query:
 *
 *   listener.c  receives a datagram or a TCP message -> w->on_udp/on_tcp, which worker.c
 *               wires to mw_query_from_udp/_tcp() (the listener does not include query.h)
 *   query.c     handle(): parse, access check, the client's group (qgroup.h: decided once,
 *               carried by the query and its waiter; every verdict below is the group's),
 *               rate limit; local data and local zones
 *               (localzone.c: one lookup decides, and a local answer is final: written here,
 *               authoritative, never checked against the lists, cached or forwarded); qname
 *               filter, a block is answered
 *               here; else the cache: a hit is rendered into the worker's scratch buffer and
 *               sent (no allocation). A miss goes to resolve(): the waiter (a copy of what
 *               the reply must echo, plus where to send it) joins the pending question with
 *               the same key, or a new pending question is made and upstream.c asked once:
 *               mw_fetch_start(question, flags, fetch_done, pending). Over a fetch.* bound
 *               (pending questions, waiters per question, waiters in all) the miss is
 *               answered at once by overflow(): stale, SERVFAIL or nothing.
 *   upstream.c  sends (to the member upset.c picks), retries, falls back to TCP, and calls
 *               fetch_done() once with the prepared response, who answered, or a failure.
 *   query.c     fetch_done(): the response (question name too) against the lists in force,
 *               journal, cache insert, then every waiter is answered from the cached copy
 *               (or, on failure, a stale entry with TTL 30 per RFC 8767, checked the same
 *               way, or SERVFAIL) through listener.c's mw_reply_send/mw_reply_done.
 *
 * query.c owns the pending questions (the coalescing table) and their waiters, both pooled;
 * upstream.c owns the fetches. Neither calls into the other's objects.
 *
 * Workers share the cache, and with it one fetch per key: a new pending question claims its
 * key in the cache (an in-flight mark, cache.h). When another worker holds the key's mark the
 * question is parked (it waits with no fetch of its own; this worker's later askers join it
 * as usual); the owner inserts the answer, unclaims, and posts the parked workers a notice
 * (mw_worker_post_ready), on which they answer from the cache (mw_query_ready) or, when the
 * answer could not be cached, fetch it themselves. */
#include "minewall/query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "minewall/answerdiff.h"
#include "minewall/blocklog.h"
#include "minewall/cache.h"
#include "minewall/config.h"
#include "minewall/detect.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/events.h"
#include "minewall/filter.h"
#include "minewall/hash.h"
#include "minewall/jlog.h"
#include "minewall/journal.h"
#include "minewall/listener.h"
#include "minewall/lists.h"
#include "minewall/localzone.h"
#include "minewall/qgroup.h"
#include "minewall/qlogw.h"
#include "minewall/querylog.h"
#include "minewall/ratelimit.h"
#include "minewall/snapshot.h"
#include "minewall/tap.h"
#include "minewall/upstream.h"
#include "minewall/worker.h"

#define STALE_TTL 30         /* RFC 8767 section 4 recommends 30 seconds */
#define PENDING_BUCKETS 4096 /* fetch.max-per-worker entries at ~1 per chain by default */
/* Idle objects the pools always keep, so a quiet resolver does not allocate per miss. */
#define PENDING_RESERVE 64
#define WAITER_RESERVE 256

struct mw_waiter {
    struct mw_waiter *next;
    struct mw_dns_client c; /* c.qsec points at qsec below */
    uint8_t qsec[MW_DNS_HDR + 256 + 4];
    struct mw_reply r;   /* held: where the answer goes */
    struct mw_addr from; /* storage of r's UDP client address */
    unsigned group;      /* the client's group (qgroup.h): its own verdict on the answer */
    uint64_t group_tag;  /* and its tag, to find it again after a reload (0: default) */
    uint8_t ql_verdict;  /* the query log's verdict (pass, allow, log, paused) so far */
};

/* A question sent upstream and the clients waiting for its answer. */
struct pending {
    struct pending *next; /* bucket chain or free list */
    struct mw_queries *qs;
    struct mw_fetch *fetch; /* upstream.c's, until it calls fetch_done */
    struct mw_cache_key key;
    uint64_t key_hash;
    struct mw_dns_question q;
    bool cd;
    bool watched;                 /* track: listed and the qname is on a watch-names list */
    bool allowed;                 /* an allow rule matched the qname: never blocked by a detector */
    struct mw_detect_pending det; /* what the detectors keep until the answer */
    uint64_t start_ms;
    struct mw_waiter *waiters; /* owned */
    unsigned n_waiters;
    /* Workers: the key's in-flight mark in the shared cache while this fetch is the one
     * other workers wait for; parked: no fetch of its own, another worker's is awaited. */
    struct mw_cache_mark mark;
    bool parked;
    unsigned fetch_flags; /* MW_FETCH_*, for a parked question that must fetch after all */
};

/* The query state of one worker: pending questions by key, and the pools. */
struct mw_queries {
    struct mw_worker *w;
    struct pending **by_key; /* owned: PENDING_BUCKETS chains */
    unsigned n_pending;
    unsigned peak_pending; /* the most pending at once since start (metrics) */
    /* Pools: owned free lists, objects in use, and the most in use since the last trim. */
    struct pending *free_pending;
    struct mw_waiter *free_waiters;
    unsigned n_free_pending, n_free_waiters;
    unsigned used_pending, used_waiters;
    unsigned tick_peak_pending, tick_peak_waiters;
    /* What the query log says of the answer being sent: reset where a query arrives (handle)
     * and where a fetch ends (fetch_done), set per waiter, filled in on the way, read by
     * send_answer. */
    struct mw_querylog_note note;
    /* The detectors' last result: the note above may point at its verdicts until the next
     * query (a verdict on the stack would be gone when an answer is sent after the check). */
    struct mw_detect_result det;
};

/* The query log: every answer sent passes here once (from send_answer), unless the client's
 * group has `log-queries: false`. */
static void log_answer(struct mw_worker *w, const struct mw_reply *to, uint16_t qtype,
                       const uint8_t *buf, size_t len)
{
    const struct mw_querylog_note *n = &w->queries->note;
    if (!mw_config_group_logs_queries(w->snap->cfg, n->group))
        return;
    mw_qlogw_put(w->snap->qlog, w->index, n, mw_config_group_name(w->snap->cfg, n->group),
                 mw_reply_client(to), mw_reply_is_tcp(to), qtype, buf, len, mw_worker_now(w));
}

/* Every answer to a client leaves here, to the query log and dnstap too (v: the verdict of a
 * blocked query, else NULL). */
static void send_answer(struct mw_worker *w, const struct mw_reply *to, uint16_t qtype,
                        const uint8_t *buf, int len, const struct mw_verdict *v)
{
    if (len <= 0) {
        w->stats.send_errors++;
        return;
    }
    uint8_t rcode = buf[3] & 0x0f;
    unsigned qt = mw_qtype_index(qtype);
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
    if (w->snap->qlog)
        log_answer(w, to, qtype, buf, (size_t)len);
    mw_reply_send(to, buf, (size_t)len);
    if (w->snap->tap)
        mw_tap_client_response(w, to, buf, (size_t)len, v,
                               v ? mw_config_group_name(w->snap->cfg, w->queries->note.group)
                                 : NULL);
}

static void send_reply(struct mw_worker *w, const struct mw_reply *to, uint16_t qtype,
                       const uint8_t *buf, int len)
{
    send_answer(w, to, qtype, buf, len, NULL);
}

static void send_error(struct mw_worker *w, const struct mw_reply *to, uint16_t qtype,
                       const struct mw_dns_client *c, uint8_t rcode)
{
    int n = mw_dns_build_error(c, rcode, -1, NULL, w->out, sizeof(w->out));
    send_reply(w, to, qtype, w->out, n);
}

/* ---- filtering ---- */

#define EDE_BLOCKED 15  /* RFC 8914: the query name is on a blocklist */
#define EDE_FILTERED 17 /* RFC 8914: the answer was filtered */

/* Queue the hit for the Redis blocks stream, once per (client, name) and second. */
static void queue_event(struct mw_worker *w, const struct mw_block_event *e)
{
    const uint8_t *a = (const uint8_t *)e->client;
    size_t alen =
        e->client->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    /* The address without family and port, then the name. */
    uint64_t h = mw_hash_bytes(0, mw_hash_bytes(0, 0, a + 4, alen - 4), e->qname, e->qname_len);
    /* One slot per hash bucket: the time (ms) in the high bits, 8 more hash bits below. */
    uint64_t now = mw_worker_now(w), *seen = &w->event_seen[h & 255], tag = (h >> 8) & 0xff;
    if (*seen && (*seen & 0xff) == tag && now - (*seen >> 8) < 1000)
        return;
    *seen = (now << 8) | tag;
    mw_events_block(w->snap->events, e);
}

/* Whether a blocking verdict is carried out: not for a list that only logs, nor while the
 * control API has paused blocking (the hit is then recorded as "paused" and resolved). */
static bool enforced(struct mw_worker *w, const struct mw_verdict *v, unsigned gi)
{
    return v->action != MW_ACTION_LOG && !mw_qgroup_paused(w, gi);
}

static void record_hit(struct mw_worker *w, struct mw_verdict *v, const struct sockaddr *client,
                       const struct mw_dns_question *q, unsigned gi)
{
    bool paused = v->action != MW_ACTION_LOG && !enforced(w, v, gi);
    w->stats.paused_hits += paused;
    w->stats.group_blocks[mw_qgroup_label(gi)]++;
    w->queries->note.v = v;
    w->queries->note.verdict = v->action == MW_ACTION_LOG ? MW_QL_LOG
                               : paused                   ? MW_QL_PAUSED
                                                          : MW_QL_BLOCK;
    const struct mw_list_info *lhit = mw_lists_info(w->snap->lists, v->rule.list);
    mw_worker_count_block(w, lhit->name, lhit->category, v->action, v->where);
    if (v->rule.list == MW_LIST_DETECT + MW_DETECT_REBINDING && v->detect_class < MW_REBIND_COUNT)
        w->stats.rebinding[v->detect_class]++;
    else if (v->rule.list == MW_LIST_DETECT + MW_DETECT_DGA && v->detect_class < 4)
        w->stats.dga[v->detect_class]++;
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
    const struct mw_list_info *li = lhit;
    struct mw_block_event e = {
        .wall_ms = mw_blocklog_wall_ms(),
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
        .paused = paused,
        .group = mw_config_group_name(w->snap->cfg, gi),
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
    const char *text = mw_lists_info(w->snap->lists, v->rule.list)->ede_text;
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
        send_answer(w, to, q->qtype, w->out, n, v);
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
    send_answer(w, to, q->qtype, w->out, n, v);
}

/* Answer from local data when the config's local set decides the question; false: go on.
 * Local data is the operator's own: it wins over every list (a name the operator wrote is
 * never blocked, its answer never filtered) and is never cached or forwarded. */
static bool reply_local(struct mw_worker *w, const struct mw_localzone *lz,
                        const struct mw_reply *to, const struct mw_dns_client *c,
                        const struct mw_dns_question *q)
{
    struct mw_local_result r;
    uint8_t rcode = MW_RCODE_NOERROR;
    switch (mw_localzone_lookup(lz, q, &r)) {
    case MW_LOCAL_PASS:
        return false;
    case MW_LOCAL_REFUSED:
        w->stats.local_refused++;
        send_error(w, to, q->qtype, c, MW_RCODE_REFUSED);
        return true;
    case MW_LOCAL_ANSWER:
        w->stats.local_answer++;
        break;
    case MW_LOCAL_NODATA:
        w->stats.local_nodata++;
        break;
    case MW_LOCAL_NXDOMAIN:
        w->stats.local_nxdomain++;
        rcode = MW_RCODE_NXDOMAIN;
        break;
    }
    int n = mw_dns_build_local(c, rcode, r.an, r.n_an, r.has_soa ? &r.soa : NULL, r.has_soa ? 1 : 0,
                               w->out, sizeof(w->out));
    if (n < 0)
        n = mw_dns_build_error(c, MW_RCODE_SERVFAIL, -1, NULL, w->out, sizeof(w->out));
    send_reply(w, to, q->qtype, w->out, n);
    return true;
}

/* ---- pools and the table of pending questions ---- */

/* Waiters and pending questions are malloc'ed on first need and recycled through free lists:
 * the pools grow to the peak number in flight. */
static struct mw_waiter *waiter_get(struct mw_queries *qs)
{
    struct mw_waiter *wt = qs->free_waiters;
    if (wt) {
        qs->free_waiters = wt->next;
        qs->n_free_waiters--;
        wt->next = NULL;
    } else if (!(wt = calloc(1, sizeof(*wt)))) {
        return NULL;
    }
    if (++qs->used_waiters > qs->tick_peak_waiters)
        qs->tick_peak_waiters = qs->used_waiters;
    return wt;
}

static void waiter_put(struct mw_queries *qs, struct mw_waiter *wt)
{
    if (wt->r.held) {
        mw_reply_done(&wt->r);
        wt->r = (struct mw_reply){0};
    }
    wt->next = qs->free_waiters;
    qs->free_waiters = wt;
    qs->n_free_waiters++;
    qs->used_waiters--;
}

/* Let go of every waiter of p without answering (shutdown, or answered elsewhere). */
static void drop_waiters(struct mw_queries *qs, struct pending *p)
{
    struct mw_waiter *wt = p->waiters;
    p->waiters = NULL;
    p->n_waiters = 0;
    while (wt) {
        struct mw_waiter *next = wt->next;
        waiter_put(qs, wt);
        wt = next;
    }
}

static struct pending *pending_get(struct mw_queries *qs)
{
    struct pending *p = qs->free_pending;
    if (p) {
        qs->free_pending = p->next;
        qs->n_free_pending--;
        p->next = NULL;
    } else if ((p = calloc(1, sizeof(*p)))) {
        p->qs = qs;
    } else {
        return NULL;
    }
    if (++qs->used_pending > qs->tick_peak_pending)
        qs->tick_peak_pending = qs->used_pending;
    return p;
}

static void release_mark(struct mw_worker *w, struct pending *p, bool ok);

static void pending_put(struct mw_queries *qs, struct pending *p)
{
    release_mark(qs->w, p, false); /* a fetch that ends without an answer: the parked try */
    p->fetch = NULL;
    p->parked = false;
    p->next = qs->free_pending;
    qs->free_pending = p;
    qs->n_free_pending++;
    qs->used_pending--;
}

static struct pending **bucket_of(struct mw_queries *qs, uint64_t hash)
{
    return &qs->by_key[hash & (PENDING_BUCKETS - 1)];
}

static struct pending *pending_find(struct mw_queries *qs, const struct mw_cache_key *k,
                                    uint64_t hash, bool cd)
{
    for (struct pending *p = *bucket_of(qs, hash); p; p = p->next)
        if (p->key_hash == hash && p->cd == cd && mw_cache_key_equal(&p->key, k))
            return p;
    return NULL;
}

static void pending_remove(struct mw_queries *qs, struct pending *p)
{
    for (struct pending **pp = bucket_of(qs, p->key_hash); *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            p->next = NULL;
            qs->n_pending--;
            return;
        }
    }
}

int mw_query_init(struct mw_worker *w)
{
    struct mw_queries *qs = calloc(1, sizeof(*qs));
    if (!qs)
        return -ENOMEM;
    qs->w = w;
    qs->by_key = calloc(PENDING_BUCKETS, sizeof(*qs->by_key));
    if (!qs->by_key) {
        free(qs);
        return -ENOMEM;
    }
    w->queries = qs;
    return 0;
}

unsigned mw_query_pending(const struct mw_worker *w)
{
    return w->queries ? w->queries->n_pending : 0;
}

/* Keep what the last interval needed (its peak in use, less what is in use now) or the
 * reserve, whichever is more: a steady load keeps its objects, a burst's go back. */
static unsigned pool_keep(unsigned peak, unsigned used, unsigned reserve)
{
    unsigned want = peak > used ? peak - used : 0;
    return want > reserve ? want : reserve;
}

size_t mw_query_trim(struct mw_worker *w)
{
    struct mw_queries *qs = w->queries;
    if (!qs)
        return 0;
    size_t freed = 0;
    unsigned keep = pool_keep(qs->tick_peak_pending, qs->used_pending, PENDING_RESERVE);
    while (qs->n_free_pending > keep) {
        struct pending *p = qs->free_pending;
        qs->free_pending = p->next;
        qs->n_free_pending--;
        free(p);
        freed += sizeof(*p);
    }
    keep = pool_keep(qs->tick_peak_waiters, qs->used_waiters, WAITER_RESERVE);
    while (qs->n_free_waiters > keep) {
        struct mw_waiter *wt = qs->free_waiters;
        qs->free_waiters = wt->next;
        qs->n_free_waiters--;
        free(wt);
        freed += sizeof(*wt);
    }
    qs->tick_peak_pending = qs->used_pending;
    qs->tick_peak_waiters = qs->used_waiters;
    return freed;
}

void mw_query_gauges(const struct mw_worker *w, struct mw_fetch_gauges *g)
{
    const struct mw_queries *qs = w->queries;
    if (!qs)
        return;
    g->in_flight = qs->n_pending;
    g->in_flight_peak = qs->peak_pending;
    g->waiting = qs->used_waiters;
    g->pooled = qs->n_free_pending + qs->n_free_waiters;
}

/* ---- the query path ---- */

/* The detectors' verdicts on q (detect.h), recorded as list hits in order; the last one
 * answers the query when it blocks (true: the caller is done). */
static bool act_on_detection(struct mw_worker *w, struct mw_detect_result *res,
                             const struct mw_dns_question *q, const struct mw_dns_client *c,
                             const struct mw_reply *to, const struct sockaddr *from, unsigned gi)
{
    for (unsigned i = 0; i < res->n; i++) {
        struct mw_verdict *v = &res->hit[i].v;
        record_hit(w, v, from, q, gi);
        if (i + 1 == res->n && res->block) {
            w->stats.blocked_qname++;
            reply_blocked(w, to, c, q, v, res->hit[i].filtered);
            return true;
        }
        w->stats.monitor_hits++;
    }
    return false;
}

/* Answer from a cache entry. An entry last checked against an older generation of the lists
 * is checked again first, once: its stamp remembers the generation that passed it. */
static void reply_cached(struct mw_worker *w, const struct mw_reply *to,
                         const struct mw_dns_client *c, const struct mw_dns_question *q,
                         struct mw_dns_stored *st, uint32_t elapsed, int64_t fixed_ttl,
                         bool allowed, const struct sockaddr *from, unsigned gi)
{
    const struct mw_lists *lists = w->snap->lists;
    const struct mw_config *cfg = w->snap->cfg;
    /* The stamp is for one policy: default's, or a group's that differs from it. */
    uint64_t stamp = lists->generation ^ mw_qgroup_policy(cfg, gi);
    if (!allowed && mw_cache_stamp_get(st->stamp) != stamp) {
        struct mw_verdict v;
        if (mw_filter_answer_in(lists, cfg, mw_qgroup_conf(cfg, gi), st->pkt, st->len, &v) ==
            MW_FILTER_BLOCK) {
            record_hit(w, &v, from, q, gi);
            if (enforced(w, &v, gi)) {
                w->stats.blocked_answer++;
                reply_blocked(w, to, c, q, &v, true);
                return;
            }
            w->stats.monitor_hits++;
        } else {
            /* An entry checked under another policy (a group whose `actions:` differ, or
             * older lists) gets this one's DGA check too, once (the memo has its score);
             * under the same policy it was checked on its miss. */
            struct mw_detect_result *det = &w->queries->det;
            if (mw_detect_recheck(w, q, gi, det) && act_on_detection(w, det, q, c, to, from, gi))
                return;
            mw_cache_stamp_set(st->stamp, stamp);
        }
    }
    int n = mw_dns_render(st, c, elapsed, fixed_ttl, w->out, sizeof(w->out));
    if (n < 0)
        n = mw_dns_build_error(c, MW_RCODE_SERVFAIL, -1, NULL, w->out, sizeof(w->out));
    send_reply(w, to, q->qtype, w->out, n);
}

/* A miss over a fetch bound: a stale answer when the cache still has one (RFC 8767), else
 * SERVFAIL or nothing, as fetch.overflow says. Only the overflow pays for the second lookup. */
static void overflow(struct mw_worker *w, const struct mw_dns_query *q,
                     const struct mw_dns_client *c, const struct mw_reply *to,
                     const struct sockaddr *from, const struct mw_cache_key *k, uint64_t now,
                     bool allowed, unsigned gi)
{
    struct mw_dns_stored st;
    uint32_t elapsed;
    struct mw_cache_entry *ref;
    if (mw_cache_lookup_hold(w->cache, k, mw_cache_key_hash(w->cache, k), now, true, &st, &elapsed,
                             &ref) != MW_CACHE_MISS) {
        w->stats.stale_served++;
        w->stats.overflow_stale++;
        w->queries->note.cache = MW_QL_STALE;
        reply_cached(w, to, c, &q->q, &st, elapsed, STALE_TTL, allowed, from, gi);
        mw_cache_release(w->cache, ref);
    } else if (!w->snap->cfg->fetch.overflow_drop) {
        send_error(w, to, q->q.qtype, c, MW_RCODE_SERVFAIL);
    }
    mw_reply_done(to);
}

static void attach_waiter(struct mw_worker *w, struct pending *p, const struct mw_dns_client *c,
                          const struct mw_reply *to, unsigned gi)
{
    struct mw_waiter *wt = waiter_get(w->queries);
    if (!wt) {
        send_error(w, to, p->q.qtype, c, MW_RCODE_SERVFAIL);
        mw_reply_done(to);
        return;
    }
    wt->c = *c;
    memcpy(wt->qsec, c->qsec, c->qsec_len);
    wt->c.qsec = wt->qsec;
    wt->r = *to;
    wt->group = gi;
    wt->group_tag = mw_qgroup_tag(w->snap->cfg, gi);
    wt->ql_verdict = w->queries->note.verdict;
    mw_reply_hold(&wt->r, &wt->from);
    wt->next = p->waiters;
    p->waiters = wt;
    p->n_waiters++;
}

static void fetch_done(void *arg, const struct mw_fetch_result *r);
static void answer_from_cache(struct mw_worker *w, struct pending *p, uint64_t now);

/* ---- newly observed domains: the waiters of a domain in its block time ---- */

/* An upstream answer as the stored form answer_waiters serves (not cached: no stamp). */
static struct mw_dns_stored stored_of(const struct mw_fetch_result *r)
{
    return (struct mw_dns_stored){.pkt = r->pkt,
                                  .len = r->len,
                                  .ttl_off = r->ttl_off,
                                  .ttl = r->ttl,
                                  .n_ttls = r->info->n_ttls};
}

static void answer_waiters(struct mw_worker *w, struct pending *p, const struct mw_dns_stored *st,
                           uint32_t elapsed, int64_t fixed_ttl);
static void track_answer(struct mw_worker *w, const struct pending *p,
                         const struct mw_fetch_result *r);

/* A new domain that blocks: every waiter whose group blocks gets the blocked reply (and the
 * hit is recorded); the others get the answer, which is not cached, so that no client of a
 * blocking group is served it from the cache during the block time. */
static void nod_block_waiters(struct mw_worker *w, struct pending *p,
                              const struct mw_fetch_result *r)
{
    struct mw_waiter **link = &p->waiters;
    while (*link) {
        struct mw_waiter *wt = *link;
        struct mw_verdict v;
        mw_detect_nod_verdict(w, wt->group, &p->q, &p->det, &v);
        if (v.action != MW_ACTION_LOG) {
            record_hit(w, &v, mw_reply_client(&wt->r), &p->q, wt->group);
            if (enforced(w, &v, wt->group)) {
                w->stats.blocked_answer++;
                reply_blocked(w, &wt->r, &wt->c, &p->q, &v, false);
                *link = wt->next;
                p->n_waiters--;
                waiter_put(w->queries, wt);
                continue;
            }
            w->stats.monitor_hits++;
        }
        link = &wt->next;
    }
    if (!p->waiters)
        return;
    track_answer(w, p, r);
    struct mw_dns_stored st = stored_of(r);
    answer_waiters(w, p, &st, 0, -1);
}

/* A NOERROR answer from upstream, to the new-domain detector (detect.h) with its first asker
 * (waiters are pushed in front: the last one asked first). True when its registered domain is
 * in its block time: the waiters are answered here, per group. */
static bool new_domain(struct mw_worker *w, struct pending *p, const struct mw_fetch_result *r)
{
    const struct mw_waiter *first = p->waiters;
    while (first && first->next)
        first = first->next;
    if (!mw_detect_new_domain(w, &p->det, &p->q, p->allowed,
                              first ? mw_reply_client(&first->r) : NULL, first ? first->group : 0,
                              r))
        return false;
    nod_block_waiters(w, p, r);
    return true;
}

/* ---- one fetch per key for all workers (the cache's in-flight marks) ---- */

/* Claim p's key for this worker (only with other workers to coordinate with). */
static enum mw_cache_claim claim(struct mw_worker *w, struct pending *p, uint64_t now)
{
    p->parked = false;
    p->mark.linked = false;
    if (w->n_siblings <= 1)
        return MW_CACHE_CLAIM_NONE;
    return mw_cache_claim(w->cache, &p->key, p->key_hash, p->cd, now, w->index, &p->mark);
}

/* p's fetch ended (ok: answered, inserted if cacheable): unclaim its key and tell the workers
 * parked on it. */
static void release_mark(struct mw_worker *w, struct pending *p, bool ok)
{
    if (!p->mark.linked)
        return;
    uint64_t waiting = mw_cache_unclaim(w->cache, &p->mark);
    for (unsigned i = 0; waiting && i < w->n_siblings; i++, waiting >>= 1)
        if ((waiting & 1) && i != w->index)
            mw_worker_post_ready(w->siblings[i], p->key_hash, p->cd, ok);
}

/* A fresh answer for k after all: answered as a hit (true), or false when it is gone. */
static bool reply_hit(struct mw_worker *w, const struct mw_dns_query *q,
                      const struct mw_dns_client *c, const struct mw_reply *to,
                      const struct sockaddr *from, const struct mw_cache_key *k, uint64_t hash,
                      uint64_t now, bool allowed, unsigned gi)
{
    struct mw_dns_stored st;
    uint32_t elapsed;
    struct mw_cache_entry *ref;
    if (mw_cache_lookup_hold(w->cache, k, hash, now, false, &st, &elapsed, &ref) != MW_CACHE_HIT)
        return false;
    w->queries->note.cache = MW_QL_HIT;
    reply_cached(w, to, c, &q->q, &st, elapsed, -1, allowed, from, gi);
    mw_cache_release(w->cache, ref);
    mw_reply_done(to);
    return true;
}

/* A miss: join the pending question with this key or ask upstream. */
static void resolve(struct mw_worker *w, const struct mw_dns_query *q,
                    const struct mw_dns_client *c, const struct mw_reply *to,
                    const struct sockaddr *from, const struct mw_cache_key *k, uint64_t now,
                    bool allowed, bool watched, unsigned gi)
{
    struct mw_queries *qs = w->queries;
    const struct mw_config *cfg = w->snap->cfg;
    uint64_t hash = mw_cache_key_hash(w->cache, k);
    bool cd = (q->flags & MW_DNS_CD) != 0;
    /* The client queries waiting, all fetches together (Unbound counts these too): without
     * it, max-per-worker x max-waiters could be reached by repeating each of many names. */
    if (qs->used_waiters >= cfg->fetch.max_queries) {
        w->stats.queries_overflow++;
        overflow(w, q, c, to, from, k, now, allowed, gi);
        return;
    }
    struct pending *p = pending_find(qs, k, hash, cd);
    if (p) {
        if (p->n_waiters >= cfg->fetch.max_waiters) {
            w->stats.waiters_overflow++;
            overflow(w, q, c, to, from, k, now, allowed, gi);
            return;
        }
        w->stats.coalesced++;
        attach_waiter(w, p, c, to, gi);
        return;
    }
    /* Unbound's num-queries-per-thread: the pending table, the fetches and their waiters
     * stay bounded however many distinct names arrive. */
    if (qs->n_pending >= cfg->fetch.max_per_worker) {
        w->stats.fetch_overflow++;
        overflow(w, q, c, to, from, k, now, allowed, gi);
        return;
    }
    p = pending_get(qs);
    if (!p)
        goto fail;
    mw_cache_key_copy(&p->key, k);
    p->key_hash = hash;
    mw_dns_question_copy(&p->q, &q->q);
    p->cd = cd;
    p->watched = watched;
    p->allowed = allowed;
    mw_detect_pending_init(w, &q->q, &qs->det, &p->det);
    p->start_ms = now;
    p->waiters = NULL;
    p->n_waiters = 0;
    unsigned flags = (cd ? MW_FETCH_CD : 0) | (q->do_bit ? MW_FETCH_DO : 0);
    p->fetch_flags = flags;
    switch (claim(w, p, now)) {
    case MW_CACHE_CLAIM_HIT: /* another worker's answer came in since the lookup */
        if (reply_hit(w, q, c, to, from, k, hash, now, allowed, gi)) {
            pending_put(qs, p);
            return;
        }
        break; /* evicted already (rare): fetched without a mark */
    case MW_CACHE_CLAIM_PARKED:
        p->parked = true;
        w->stats.coalesced_workers++;
        break;
    default:
        break;
    }
    /* Forwarded in the client's case (its question section starts with the name, never
     * compressed): the key above, the lists and the cache ignore case, the peer may not. */
    const uint8_t *asked = c->qsec && c->qsec_len >= q->q.qname_len ? c->qsec : NULL;
    if (!p->parked &&
        mw_fetch_start_in(w->ups, &q->q, asked, flags, gi, fetch_done, p, &p->fetch) < 0) {
        pending_put(qs, p);
        goto fail;
    }
    p->next = *bucket_of(qs, hash);
    *bucket_of(qs, hash) = p;
    if (++qs->n_pending > qs->peak_pending)
        qs->peak_pending = qs->n_pending;
    attach_waiter(w, p, c, to, gi);
    return;
fail:
    send_error(w, to, q->q.qtype, c, MW_RCODE_SERVFAIL);
    mw_reply_done(to);
}

static void handle(struct mw_worker *w, const uint8_t *pkt, size_t len, struct mw_reply *to,
                   const struct sockaddr *from, bool tcp, const struct mw_addr *local)
{
    struct mw_dns_query q;
    enum mw_dns_parse pr = mw_dns_parse_query(pkt, len, &q);
    if (pr == MW_PARSE_DROP) {
        w->stats.drop_malformed++;
        goto done;
    }
    mw_tap_client_query(w, to, pkt, len); /* notes the time in *to: waiters copy it */
    uint16_t qt = q.qsec ? q.q.qtype : 0; /* what the reply's echoed question will say */
    w->queries->note = (struct mw_querylog_note){.start_ms = mw_worker_now(w)};
    struct mw_dns_client c;
    mw_dns_client_from_query(&q, tcp, &c);
    const struct mw_config *cfg = w->snap->cfg;
    if (!mw_cidr_match_any(cfg->access, cfg->n_access, from)) {
        w->stats.refused_access++;
        w->queries->note.verdict = MW_QL_REFUSED;
        send_error(w, to, qt, &c, MW_RCODE_REFUSED);
        goto done;
    }
    /* The client's group, decided once: it travels with the query from here on. */
    unsigned gi = mw_qgroup_of(w, from, local);
    w->queries->note.group = gi;
    const struct mw_group_conf *grp = mw_qgroup_conf(cfg, gi);
    bool refuse;
    struct mw_ratelimit *rl = mw_qgroup_ratelimit(w, gi, &refuse);
    if (rl && !mw_ratelimit_allow(rl, from, mw_worker_now(w))) {
        w->stats.ratelimited++;
        w->queries->note.verdict = MW_QL_RATELIMITED;
        if (refuse)
            send_error(w, to, qt, &c, MW_RCODE_REFUSED);
        goto done;
    }
    switch (pr) {
    case MW_PARSE_OK:
        break;
    case MW_PARSE_FORMERR:
        w->stats.formerr++;
        send_error(w, to, qt, &c, MW_RCODE_FORMERR);
        goto done;
    case MW_PARSE_NOTIMP:
        w->stats.notimp++;
        send_error(w, to, qt, &c, MW_RCODE_NOTIMP);
        goto done;
    case MW_PARSE_BADVERS:
        send_error(w, to, qt, &c, MW_RCODE_BADVERS);
        goto done;
    default:
        send_error(w, to, qt, &c, MW_RCODE_REFUSED);
        goto done;
    }

    mw_worker_count_top(w, from, q.q.qname, q.q.qname_len);
    if (grp && grp->local && reply_local(w, grp->local, to, &c, &q.q))
        goto done;
    if (cfg->local && reply_local(w, cfg->local, to, &c, &q.q))
        goto done;

    const struct mw_lists *lists = w->snap->lists;
    struct mw_verdict v;
    enum mw_filter_result fr = mw_filter_qname_in(lists, cfg, grp, &q.q, &v);
    if (fr == MW_FILTER_BLOCK) {
        record_hit(w, &v, from, &q.q, gi);
        if (enforced(w, &v, gi)) {
            w->stats.blocked_qname++;
            reply_blocked(w, to, &c, &q.q, &v, false);
            goto done;
        }
        w->stats.monitor_hits++;
    } else if (fr == MW_FILTER_ALLOW) {
        w->stats.allowed++;
        w->queries->note.verdict = MW_QL_ALLOW;
    }
    /* journal track: listed follows only the names of lists in category "watch-names". */
    bool watched = fr != MW_FILTER_PASS && cfg->journal.track == MW_TRACK_LISTED &&
                   strcmp(lists->lists[v.rule.list].category, "watch-names") == 0;

    /* One test while no tunnel was detected (w->tunnel is NULL until the first miss). */
    struct mw_detect_result *det = &w->queries->det;
    if (w->tunnel && fr != MW_FILTER_ALLOW && mw_detect_before_cache(w, &q.q, from, gi, det) &&
        act_on_detection(w, det, &q.q, &c, to, from, gi))
        goto done;

    uint64_t now = mw_worker_now(w);
    struct mw_cache_key k;
    mw_qgroup_key(cfg, gi, &q.q, q.do_bit, &k);
    struct mw_dns_stored st;
    uint32_t elapsed;
    struct mw_cache_entry *ref; /* the shared cache's entry, held while it is rendered */
    if (mw_cache_lookup_hold(w->cache, &k, mw_cache_key_hash(w->cache, &k), now, false, &st,
                             &elapsed, &ref) == MW_CACHE_HIT) {
        w->stats.cache_hits++;
        w->queries->note.cache = MW_QL_HIT;
        w->client_lat[0]++; /* answered within the millisecond it arrived */
        reply_cached(w, to, &c, &q.q, &st, elapsed, -1, fr == MW_FILTER_ALLOW, from, gi);
        mw_cache_release(w->cache, ref);
        goto done;
    }
    w->stats.cache_misses++;
    w->queries->note.cache = MW_QL_MISS;
    /* The detectors (detect.h): one result to record and maybe answer. */
    if (mw_detect_miss(w, &q.q, from, gi, fr == MW_FILTER_ALLOW, det) &&
        act_on_detection(w, det, &q.q, &c, to, from, gi))
        goto done;
    /* resolve() owns the completion of a TCP query from here on. */
    resolve(w, &q, &c, to, from, &k, now, fr == MW_FILTER_ALLOW, watched, gi);
    return;
done:
    mw_reply_done(to);
}

void mw_query_from_udp(struct mw_worker *w, struct mw_listener *l, const uint8_t *pkt, size_t len,
                       const struct sockaddr *from)
{
    w->stats.queries_udp++;
    struct mw_reply to = mw_reply_udp(l, from);
    handle(w, pkt, len, &to, from, false, &l->addr);
}

void mw_query_from_tcp(struct mw_worker *w, struct mw_tcp_conn *c, const uint8_t *pkt, size_t len)
{
    w->stats.queries_tcp++;
    struct mw_reply to = mw_reply_tcp(c);
    handle(w, pkt, len, &to, &c->peer.u.sa, true, &c->local);
}

/* ---- completion ---- */

/* The query log's note for a waiter about to be answered: its group and the verdict on its
 * question. A name on a list with action log was recorded when asked and is not matched again
 * on the answer: its rule is looked up again into *qv (only on that path). */
static void note_waiter(struct mw_worker *w, struct pending *p, struct mw_waiter *wt,
                        struct mw_verdict *qv)
{
    const struct mw_config *cfg = w->snap->cfg;
    struct mw_querylog_note *n = &w->queries->note;
    n->group = mw_qgroup_refind(cfg, wt->group, wt->group_tag);
    n->verdict = wt->ql_verdict;
    n->v = NULL;
    if (wt->ql_verdict == MW_QL_LOG &&
        mw_filter_qname_in(w->snap->lists, cfg, mw_qgroup_conf(cfg, n->group), &p->q, qv) ==
            MW_FILTER_BLOCK)
        n->v = qv;
}

static void answer_waiters(struct mw_worker *w, struct pending *p, const struct mw_dns_stored *st,
                           uint32_t elapsed, int64_t fixed_ttl)
{
    struct mw_waiter *wt = p->waiters;
    p->waiters = NULL;
    while (wt) {
        struct mw_waiter *next = wt->next;
        const struct mw_reply *to = &wt->r;
        w->client_lat[mw_lat_bucket(mw_worker_now(w) - p->start_ms)]++;
        struct mw_verdict qv;
        if (w->snap->qlog)
            note_waiter(w, p, wt, &qv);
        if (st) {
            int n = mw_dns_render(st, &wt->c, elapsed, fixed_ttl, w->out, sizeof(w->out));
            send_reply(w, to, p->q.qtype, w->out, n);
        } else {
            send_error(w, to, p->q.qtype, &wt->c, MW_RCODE_SERVFAIL);
        }
        waiter_put(w->queries, wt);
        wt = next;
    }
    p->n_waiters = 0;
}

/* Journal: compare the answer with the last one seen for (name, type); a change becomes an
 * answer_change event. Only for answers from upstream (misses), so cache hits cost nothing. */
static void track_answer(struct mw_worker *w, const struct pending *p,
                         const struct mw_fetch_result *r)
{
    const struct mw_snapshot *snap = w->snap;
    const struct mw_config *cfg = snap->cfg;
    if (!snap->journal || cfg->journal.track == MW_TRACK_NONE ||
        (cfg->journal.track == MW_TRACK_LISTED && !p->watched) || !mw_answerdiff_tracks(p->q.qtype))
        return;
    if (!w->ad && !(w->ad = mw_answerdiff_new(cfg->journal.max_names)))
        return;
    struct mw_answer_change ch;
    if (mw_answerdiff_observe(w->ad, p->q.qname, p->q.qname_len, p->q.qtype, r->pkt, r->len,
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
    int n = mw_journal_format_answer(line, sizeof(line),
                                     (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000,
                                     snap->host, &ch, r->upstream, &g);
    if (n > 0 && mw_journal_queue_push(snap->journal, MW_JOURNAL_ANSWER, line, (size_t)n) == 0)
        w->stats.journal_answer_changes++;
    else
        w->stats.journal_dropped++;
}

/* One group's verdict on an answer, kept while the waiters of a fetch are filtered. */
struct group_verdict {
    uint64_t policy; /* mw_qgroup_policy: groups with equal policy get equal verdicts */
    enum mw_filter_result r;
    struct mw_verdict v;
};

/* The verdict of each waiter's group on the answer pkt (the question too: the lists may have
 * changed since it was asked), worked out once per policy among the waiters (a coalesced fetch
 * may serve clients of several groups). A waiter whose verdict blocks gets the blocked reply
 * and leaves the list, unless its list only monitors or blocking is paused for its group: the
 * hit is recorded and it is answered as usual. Returns whether waiters remain; *stamp is the
 * cache stamp to set when *stamp_ok (a remaining waiter's policy passed the answer without a
 * monitored hit). */
static bool filter_waiters(struct mw_worker *w, struct pending *p, const uint8_t *pkt, size_t len,
                           bool *stamp_ok, uint64_t *stamp)
{
    const struct mw_lists *lists = w->snap->lists;
    const struct mw_config *cfg = w->snap->cfg;
    struct group_verdict memo[4], extra;
    unsigned n_memo = 0;
    *stamp_ok = false;
    struct mw_waiter **link = &p->waiters;
    while (*link) {
        struct mw_waiter *wt = *link;
        wt->group = mw_qgroup_refind(cfg, wt->group, wt->group_tag); /* a reload meanwhile */
        uint64_t pol = mw_qgroup_policy(cfg, wt->group);
        struct group_verdict *gv = NULL;
        for (unsigned i = 0; i < n_memo && !gv; i++)
            gv = memo[i].policy == pol ? &memo[i] : NULL;
        if (!gv) {
            gv = n_memo < 4 ? &memo[n_memo++] : &extra;
            gv->policy = pol;
            gv->r = mw_filter_response_in(lists, cfg, mw_qgroup_conf(cfg, wt->group), &p->q, pkt,
                                          len, &gv->v);
        }
        w->queries->note.group = wt->group;
        if (gv->r == MW_FILTER_BLOCK) {
            struct mw_verdict *v = &gv->v;
            record_hit(w, v, mw_reply_client(&wt->r), &p->q, wt->group);
            wt->ql_verdict = w->queries->note.verdict; /* log or paused, if not blocked */
            if (enforced(w, v, wt->group)) {           /* read once: a pause may begin meanwhile */
                w->stats.blocked_answer++;
                reply_blocked(w, &wt->r, &wt->c, &p->q, v,
                              v->where != MW_WHERE_QNAME && v->where != MW_WHERE_PATTERN);
                *link = wt->next;
                p->n_waiters--;
                waiter_put(w->queries, wt);
                continue;
            }
            w->stats.monitor_hits++;
        } else {
            if (gv->r == MW_FILTER_ALLOW)
                wt->ql_verdict = MW_QL_ALLOW;
            if (!*stamp_ok) {
                *stamp_ok = true;
                *stamp = lists->generation ^ pol;
            }
        }
        link = &wt->next;
    }
    return p->waiters != NULL;
}

/* An answer: check it for every waiter's group, journal it, cache it, and answer the waiters
 * left from the cached copy when there is one, so the first client sees the same clamped TTLs
 * (and RFC 2308 negative TTL) as the ones after it. An answer blocked for every waiter is not
 * cached; one that some group's client receives is, and is filtered per group when served. */
static void complete_answer(struct mw_worker *w, struct pending *p, const struct mw_fetch_result *r,
                            uint64_t now)
{
    mw_detect_answered(w, &p->det, r->len);
    bool stamp_ok;
    uint64_t stamp = 0;
    if (!filter_waiters(w, p, r->pkt, r->len, &stamp_ok, &stamp))
        return;
    if (w->snap->nod && new_domain(w, p, r))
        return;
    track_answer(w, p, r);
    struct mw_dns_stored st;
    struct mw_cache_entry *ref = NULL; /* the entry stored, held while the waiters get it */
    if (mw_cache_insert_hold(w->cache, &p->key, r->pkt, r->len, r->info, r->ttl_off, r->ttl, now,
                             &st, &ref) < 0)
        st = stored_of(r);
    else if (stamp_ok) /* a monitored hit is left unstamped so every later hit is recorded too */
        mw_cache_stamp_set(st.stamp, stamp);
    answer_waiters(w, p, &st, 0, -1);
    mw_cache_release(w->cache, ref);
}

/* upstream.c's callback: the question of p is answered or failed. */
static void fetch_done(void *arg, const struct mw_fetch_result *r)
{
    struct pending *p = arg;
    struct mw_queries *qs = p->qs;
    struct mw_worker *w = qs->w;
    pending_remove(qs, p);
    p->fetch = NULL;
    uint64_t now = mw_worker_now(w);
    qs->note = (struct mw_querylog_note){.start_ms = p->start_ms,
                                         .cache = MW_QL_MISS,
                                         .upstream = r->status == 0 ? r->upstream : NULL};
    if (r->status == 0) {
        complete_answer(w, p, r, now);
        release_mark(w, p, true); /* after the insert: a later miss elsewhere finds it */
    } else {
        release_mark(w, p, false);
        answer_from_cache(w, p, now);
    }
    pending_put(qs, p);
    mw_worker_maybe_done(w);
}

/* A fetch failed (or another worker's fetch p waited on ended): answer p's waiters from the
 * cache, a stale entry with TTL 30 (RFC 8767), or SERVFAIL. */
static void answer_from_cache(struct mw_worker *w, struct pending *p, uint64_t now)
{
    struct mw_queries *qs = w->queries;
    struct mw_dns_stored st;
    uint32_t elapsed;
    struct mw_cache_entry *ref;
    enum mw_cache_result cr =
        mw_cache_lookup_hold(w->cache, &p->key, p->key_hash, now, true, &st, &elapsed, &ref);
    bool stamp_ok;
    uint64_t stamp;
    /* A stale answer may predate the lists in force: check it as a new one. */
    if (cr != MW_CACHE_MISS && !filter_waiters(w, p, st.pkt, st.len, &stamp_ok, &stamp)) {
        mw_cache_release(w->cache, ref);
        return;
    }
    qs->note.cache = cr == MW_CACHE_STALE ? MW_QL_STALE
                     : cr == MW_CACHE_HIT ? MW_QL_HIT
                                          : MW_QL_MISS;
    if (cr == MW_CACHE_STALE) {
        w->stats.stale_served += p->n_waiters;
        answer_waiters(w, p, &st, elapsed, STALE_TTL);
    } else if (cr == MW_CACHE_HIT) {
        answer_waiters(w, p, &st, elapsed, -1);
    } else {
        answer_waiters(w, p, NULL, 0, -1);
    }
    mw_cache_release(w->cache, ref);
}

/* A parked question whose awaited fetch ended. */
static void resume(struct mw_worker *w, struct pending *p, bool ok)
{
    struct mw_queries *qs = w->queries;
    uint64_t now = mw_worker_now(w);
    p->parked = false;
    if (ok && p->waiters) {
        /* Answered elsewhere but not cached (uncacheable, or blocked for the owner's clients):
         * fetched here after all. The fetch carries the first waiter's case and group. */
        struct mw_cache_entry *ref;
        struct mw_dns_stored st;
        uint32_t elapsed;
        if (mw_cache_lookup_hold(w->cache, &p->key, p->key_hash, now, false, &st, &elapsed, &ref) ==
            MW_CACHE_MISS) {
            const struct mw_waiter *wt = p->waiters;
            unsigned gi = mw_qgroup_refind(w->snap->cfg, wt->group, wt->group_tag);
            const uint8_t *asked = wt->c.qsec_len >= p->q.qname_len ? wt->c.qsec : NULL;
            if (mw_fetch_start_in(w->ups, &p->q, asked, p->fetch_flags, gi, fetch_done, p,
                                  &p->fetch) == 0)
                return;
        } else {
            mw_cache_release(w->cache, ref);
        }
    }
    pending_remove(qs, p);
    qs->note = (struct mw_querylog_note){.start_ms = p->start_ms, .cache = MW_QL_MISS};
    answer_from_cache(w, p, now);
    pending_put(qs, p);
    mw_worker_maybe_done(w);
}

void mw_query_ready(struct mw_worker *w, uint64_t hash, bool cd, bool ok)
{
    struct mw_queries *qs = w->queries;
    if (!qs)
        return;
    struct pending *p = *bucket_of(qs, hash);
    /* resume may take p out of the chain, and at shutdown the last one ends the worker's
     * queries (w->queries NULL): nothing is read after that. */
    while (p && w->queries) {
        struct pending *next = p->next;
        if (p->parked && p->key_hash == hash && p->cd == cd)
            resume(w, p, ok);
        p = next;
    }
}

void mw_query_ready_all(struct mw_worker *w)
{
    struct mw_queries *qs = w->queries;
    if (!qs)
        return;
    for (unsigned b = 0; b < PENDING_BUCKETS && w->queries; b++) {
        struct pending *p = qs->by_key[b];
        while (p && w->queries) {
            struct pending *next = p->next;
            if (p->parked)
                resume(w, p, true);
            p = next;
        }
    }
}

void mw_query_abort_all(struct mw_worker *w)
{
    struct mw_queries *qs = w->queries;
    if (!qs)
        return;
    for (unsigned b = 0; b < PENDING_BUCKETS; b++) {
        while (qs->by_key[b]) {
            struct pending *p = qs->by_key[b];
            qs->by_key[b] = p->next;
            qs->n_pending--;
            if (p->fetch)
                mw_fetch_cancel(p->fetch);
            drop_waiters(qs, p);
            pending_put(qs, p);
        }
    }
}

void mw_query_deinit(struct mw_worker *w)
{
    struct mw_queries *qs = w->queries;
    if (!qs)
        return;
    w->queries = NULL;
    while (qs->free_waiters) {
        struct mw_waiter *next = qs->free_waiters->next;
        free(qs->free_waiters);
        qs->free_waiters = next;
    }
    while (qs->free_pending) {
        struct pending *next = qs->free_pending->next;
        free(qs->free_pending);
        qs->free_pending = next;
    }
    free(qs->by_key);
    free(qs);
}
