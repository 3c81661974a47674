/* One worker thread and its loop. Set-up happens on the caller's thread (so a bind error is
 * reported before minewall says it is ready); from mw_worker_start() on, only the worker's
 * thread touches its state, and the control loop reaches it through the wakeup async with
 * the two posted fields under the mutex.
 *
 * Shutdown: listeners close at once (nothing new is accepted), pending fetches get up to
 * GRACE_MS to answer their clients, then everything is closed in reverse order of creation
 * and the loop runs out of handles. */
#include "minewall/worker.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/answerdiff.h"
#include "minewall/blocklog.h"
#include "minewall/config.h"
#include "minewall/detect.h"
#include "minewall/dga.h"
#include "minewall/dnstext.h"
#include "minewall/dotconn.h"
#include "minewall/hash.h"
#include "minewall/listener.h"
#include "minewall/log.h"
#include "minewall/qgroup.h"
#include "minewall/query.h"
#include "minewall/ratelimit.h"
#include "minewall/regmemo.h"
#include "minewall/snapshot.h"
#include "minewall/tap.h"
#include "minewall/thrname.h"
#include "minewall/upstream.h"

#define GRACE_MS 1500
/* Freed bytes after which the worker asks glibc to hand free pages back to the kernel: its
 * per-thread arenas otherwise keep a burst's memory for good. */
#define TRIM_AFTER_BYTES (1u << 20)

/* The rate limiter of cfg (NULL when off or out of memory). Loopback is never limited: a
 * per-host stub's own clients are the host itself. */
static struct mw_ratelimit *make_ratelimit(const struct mw_config *cfg)
{
    if (!cfg->ratelimit.enabled)
        return NULL;
    struct mw_cidr exempt[2];
    mw_cidr_parse("127.0.0.0/8", &exempt[0]);
    mw_cidr_parse("::1/128", &exempt[1]);
    struct mw_ratelimit_params p;
    mw_ratelimit_params_init(&p);
    p.qps = cfg->ratelimit.qps;
    p.burst = cfg->ratelimit.burst;
    p.prefix_v4 = cfg->ratelimit.prefix_v4;
    p.prefix_v6 = cfg->ratelimit.prefix_v6;
    p.max_entries = cfg->ratelimit.max_clients;
    p.exempt = exempt;
    p.n_exempt = 2;
    return mw_ratelimit_new(&p);
}

void mw_worker_cache_params(const struct mw_config *cfg, struct mw_cache_params *p)
{
    p->shards = 0; /* kept by set_params; mw_cache_new's caller sets it */
    p->max_entries = cfg->cache.size;
    p->max_bytes = cfg->cache.max_bytes;
    p->min_ttl = cfg->cache.min_ttl;
    p->max_ttl = cfg->cache.max_ttl;
    p->serve_stale = cfg->cache.serve_stale;
}

void mw_worker_handle_closed(uv_handle_t *h)
{
    struct mw_worker *w = h->data;
    w->open_handles--;
}

static void close_listeners(struct mw_worker *w)
{
    struct mw_listener *l = w->listeners;
    w->listeners = NULL;
    while (l) {
        struct mw_listener *next = l->next;
        mw_listener_close(l);
        l = next;
    }
}

static int open_listeners(struct mw_worker *w, const struct mw_config *cfg,
                          const struct mw_addr **bad)
{
    for (size_t i = 0; i < cfg->n_listen; i++) {
        struct mw_listener *l;
        int rc = mw_listener_open(w, &cfg->listen[i], &l);
        if (rc < 0) {
            if (bad)
                *bad = &cfg->listen[i];
            return rc;
        }
        l->next = w->listeners;
        w->listeners = l;
    }
    return 0;
}

/* Close everything that is still open; the loop then runs out of handles. */
static void finish(struct mw_worker *w)
{
    uv_mutex_lock(&w->lock);
    w->inbox_closed = true; /* before the async closes: no sibling sends to it after this */
    uv_mutex_unlock(&w->lock);
    mw_query_abort_all(w);
    close_listeners(w);
    while (w->conns)
        mw_tcp_conn_close(w->conns);
    if (w->ups)
        mw_upstreams_close(w->ups);
    mw_query_deinit(w);
    if (w->snap && w->snap->blocklog && w->fold)
        mw_blockfold_flush(w->snap->blocklog, w->fold, mw_worker_now(w), mw_blocklog_wall_ms(),
                           true);
    uv_close((uv_handle_t *)&w->fold_timer, mw_worker_handle_closed);
    uv_close((uv_handle_t *)&w->pub_timer, mw_worker_handle_closed);
    uv_close((uv_handle_t *)&w->grace, mw_worker_handle_closed);
    uv_close((uv_handle_t *)&w->wakeup, mw_worker_handle_closed);
    uv_close((uv_handle_t *)&w->tap_turn, mw_worker_handle_closed);
}

static bool finishing(struct mw_worker *w)
{
    return uv_is_closing((uv_handle_t *)&w->wakeup);
}

void mw_worker_maybe_done(struct mw_worker *w)
{
    if (w->stopping && !finishing(w) && mw_query_pending(w) == 0)
        finish(w);
}

static void grace_over(uv_timer_t *t)
{
    struct mw_worker *w = t->data;
    if (!finishing(w))
        finish(w);
}

static void begin_stop(struct mw_worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    close_listeners(w);
    uv_timer_start(&w->grace, grace_over, GRACE_MS, 0);
    mw_worker_maybe_done(w);
}

/* Reload: close the listeners of addresses cfg dropped and open those it added; the others
 * stay as they are (no gap in service, and no rebind of a port below 1024 after the privilege
 * drop). The server probed the added addresses before posting cfg. */
static void relisten(struct mw_worker *w, const struct mw_config *cfg)
{
    struct mw_listener **pl = &w->listeners;
    while (*pl) {
        struct mw_listener *l = *pl;
        bool keep = false;
        for (size_t i = 0; i < cfg->n_listen && !keep; i++)
            keep = mw_addr_equal(&l->addr, &cfg->listen[i]);
        if (keep) {
            pl = &l->next;
            continue;
        }
        *pl = l->next;
        mw_listener_close(l);
    }
    for (size_t i = 0; i < cfg->n_listen; i++) {
        bool have = false;
        for (struct mw_listener *l = w->listeners; l && !have; l = l->next)
            have = mw_addr_equal(&l->addr, &cfg->listen[i]);
        struct mw_listener *l;
        int rc = have ? 0 : mw_listener_open(w, &cfg->listen[i], &l);
        if (rc < 0) {
            char a[64] = "?";
            mw_addr_format(&cfg->listen[i], a, sizeof(a));
            mw_log_error("worker", "worker %u: cannot listen on %s: %s", w->index, a,
                         uv_strerror(rc));
        } else if (!have) {
            l->next = w->listeners;
            w->listeners = l;
        }
    }
}

static bool same_zones(const struct mw_config *a, const struct mw_config *b)
{
    if (a->n_zones != b->n_zones)
        return false;
    for (size_t i = 0; i < a->n_zones; i++)
        if (strcmp(a->zones[i].name, b->zones[i].name) != 0 ||
            a->zones[i].group != b->zones[i].group)
            return false;
    return true;
}

/* Reload: swap the snapshot and adapt what depends on it. */
static void apply(struct mw_worker *w, struct mw_snapshot *snap)
{
    const struct mw_config *old = w->snap->cfg, *cfg = snap->cfg;
    struct mw_cache_params cp;
    mw_worker_cache_params(cfg, &cp);
    mw_cache_set_params(w->cache, &cp); /* the shared cache: each worker sets the same bounds */
    /* Answers cached for a zone may have come from other upstreams than the new config
     * names: start over when the routing of names changed. Every worker clears the shared
     * cache as it takes the new config, so the last clear follows the last old-config insert
     * of a worker's own (as when each worker had its own cache). */
    if (!same_zones(old, cfg))
        mw_cache_clear(w->cache);
    if (mw_upstreams_reconfigure(w->ups, cfg, snap->box->health) < 0)
        mw_log_error("worker", "worker %u: out of memory applying upstreams", w->index);
    relisten(w, cfg);
    /* The DGA check runs on cache misses only: when its verdict may differ now, cached
     * answers are dropped so that every name is checked again on its next query. A model
     * that scores differently also empties the memo of scores. */
    const bool dga_model_same = mw_dga_equal(old->detect.dga.loaded, cfg->detect.dga.loaded);
    if (cfg->detect.dga.enabled &&
        (!old->detect.dga.enabled || old->detect.dga.action != cfg->detect.dga.action ||
         old->detect.dga.level != cfg->detect.dga.level || !dga_model_same))
        mw_cache_clear(w->cache);
    if (!dga_model_same && w->regmemo)
        mw_regmemo_forget(w->regmemo);
    if (w->regmemo && mw_regmemo_capacity(w->regmemo) < mw_detect_memo_entries(cfg)) {
        struct mw_regmemo_stats rs;
        mw_regmemo_stats(w->regmemo, &rs);
        w->stats.dga_memo_evictions += rs.evicted; /* the counter goes on across memos */
        mw_regmemo_free(w->regmemo);               /* made again, larger, on the next miss */
        w->regmemo = NULL;
    }
    if (memcmp(&old->ratelimit, &cfg->ratelimit, sizeof(cfg->ratelimit)) != 0) {
        mw_ratelimit_free(w->rl);
        w->rl = make_ratelimit(cfg);
    }
    /* The groups' limiters belong to the old config's groups: dropped while it is still held,
     * so the next config (even at the same address) starts afresh. */
    if (old != cfg)
        mw_qgroup_deinit(w);
    if (w->snap->blocklog && w->snap->blocklog != snap->blocklog)
        mw_blockfold_flush(w->snap->blocklog, w->fold, mw_worker_now(w), mw_blocklog_wall_ms(),
                           true);
    mw_snapshot_unref(w->snap);
    w->snap = snap;
}

/* A flush posted by the control API: done here, on the worker's own thread. The cache is
 * shared now, so the first worker removes the entries and the others find none (the sum is
 * right); a flush still goes to every worker, and the control API answers once all have taken
 * it. The server learns of it through flush_done and its notify async. */
static void flush(struct mw_worker *w, uint64_t seq, bool all, const uint8_t *name, size_t len)
{
    size_t n = all ? mw_cache_clear(w->cache) : mw_cache_remove_name(w->cache, name, len);
    atomic_fetch_add(&w->flushed, n);
    atomic_store(&w->flush_done, seq);
    /* Under the lock: the control API clears notify under it before closing the async. */
    uv_mutex_lock(&w->lock);
    if (w->notify)
        uv_async_send(w->notify);
    uv_mutex_unlock(&w->lock);
}

static void wakeup(uv_async_t *a)
{
    struct mw_worker *w = a->data;
    uint8_t name[256];
    uint64_t ready[MW_WORKER_READY_CAP];
    uint8_t ready_how[MW_WORKER_READY_CAP];
    uv_mutex_lock(&w->lock);
    unsigned n_ready = w->n_ready;
    bool ready_all = w->ready_all;
    memcpy(ready, w->ready, n_ready * sizeof(*ready));
    memcpy(ready_how, w->ready_how, n_ready * sizeof(*ready_how));
    w->n_ready = 0;
    w->ready_all = false;
    struct mw_snapshot *snap = w->posted;
    w->posted = NULL;
    bool stop = w->stop_requested;
    uint64_t fseq = w->flush_seq;
    bool fall = w->flush_all;
    size_t flen = w->flush_len;
    memcpy(name, w->flush_name, flen);
    uv_mutex_unlock(&w->lock);
    if (snap && !w->stopping)
        apply(w, snap);
    else
        mw_snapshot_unref(snap);
    if (fseq > atomic_load(&w->flush_done))
        flush(w, fseq, fall, name, flen);
    for (unsigned i = 0; i < n_ready; i++)
        mw_query_ready(w, ready[i], ready_how[i] & 2, ready_how[i] & 1);
    if (ready_all)
        mw_query_ready_all(w);
    if (stop)
        begin_stop(w);
}

const double MW_LAT_BOUNDS_MS[MW_M_LAT] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 0};

unsigned mw_lat_bucket(uint64_t ms)
{
    unsigned i = 0;
    while (i < MW_M_LAT - 1 && (double)ms > MW_LAT_BOUNDS_MS[i])
        i++;
    return i;
}

/* The query types counted one by one in metrics; their names come from dnstext (ldns). */
static const uint16_t QTYPES[MW_M_QTYPES - 1] = {1, 28, 5, 15, 16, 12, 2, 6, 33, 65};

unsigned mw_qtype_index(uint16_t qtype)
{
    for (unsigned i = 0; i < MW_M_QTYPES - 1; i++)
        if (QTYPES[i] == qtype)
            return i;
    return MW_M_QTYPES - 1;
}

const char *mw_qtype_index_name(unsigned i)
{
    return i < MW_M_QTYPES - 1 ? mw_dnstext_type(QTYPES[i], NULL, 0) : "other";
}

void mw_worker_count_block(struct mw_worker *w, const char *list, const char *category,
                           unsigned action, unsigned where)
{
    for (unsigned i = 0; i < w->n_blocks; i++) {
        struct mw_block_counter *b = &w->blocks[i];
        if (b->action == action && b->where == where && strcmp(b->list, list) == 0 &&
            strcmp(b->category, category) == 0) {
            b->count++;
            return;
        }
    }
    if (w->n_blocks == MW_M_BLOCKS)
        return; /* more combinations than a dashboard wants: the rest is not broken down */
    struct mw_block_counter *b = &w->blocks[w->n_blocks++];
    snprintf(b->list, sizeof(b->list), "%s", list);
    snprintf(b->category, sizeof(b->category), "%s", category);
    b->action = (uint8_t)action;
    b->where = (uint8_t)where;
    b->count = 1;
}

/* Once a second, after a burst: pools free their idle objects beyond what the last second
 * needed; a second later (the loop has closed the freed fetch timers by then) malloc_trim()
 * returns the free pages. Nothing happens on a steady load. */
static void trim_tick(struct mw_worker *w)
{
    if (w->trim_bytes >= TRIM_AFTER_BYTES) {
        malloc_trim(0);
        w->stats.malloc_trims++;
        w->trim_bytes = 0;
    }
    size_t freed = mw_query_trim(w);
    if (w->ups)
        freed += mw_upstreams_trim(w->ups);
    w->trim_bytes += freed;
    w->stats.pool_freed += freed;
}

/* Once a second: copy the counters for scrapes (the only lock a worker takes). */
static void pub_tick(uv_timer_t *t)
{
    struct mw_worker *w = t->data;
    mw_tap_flush(w);
    if (!w->stopping)
        trim_tick(w);
    const struct mw_upset *set = w->ups ? mw_upstreams_current(w->ups) : NULL;
    struct mw_fetch_gauges fg = {0};
    mw_query_gauges(w, &fg);
    if (w->ups)
        mw_upstreams_gauges(w->ups, &fg);
    uv_mutex_lock(&w->pub_lock);
    struct mw_worker_pub *p = &w->pub;
    p->stats = w->stats;
    p->stats.tcp_out_bytes = w->tcp_out_queued;
    p->stats.udp_queued_bytes = w->udp_queued;
    if (w->regmemo) { /* the detectors' registered-domain memo (detect.h) */
        struct mw_regmemo_stats rs;
        mw_regmemo_stats(w->regmemo, &rs);
        p->stats.dga_memo_evictions += rs.evicted;
    }
    if (w->tunnel) {
        struct mw_tunnel_stats ts;
        mw_tunnel_stats(w->tunnel, &ts);
        p->stats.tunnel_evicted = ts.evicted;
        p->stats.tunnel_blocks_evicted = ts.blocks_evicted;
        p->stats.tunnel_entries = ts.entries;
        p->stats.tunnel_blocks = ts.blocks;
    }
    p->fetch = fg;
    /* One cache for all workers: the first publishes it, so that a scrape's sum counts it once. */
    if (w->index == 0)
        mw_cache_get_stats(w->cache, &p->cache);
    memcpy(p->responses, w->responses, sizeof(p->responses));
    memcpy(p->client_lat, w->client_lat, sizeof(p->client_lat));
    memcpy(p->blocks, w->blocks, w->n_blocks * sizeof(*p->blocks));
    p->n_blocks = w->n_blocks;
    uint64_t q = w->stats.queries_udp + w->stats.queries_tcp;
    w->top_every = q - w->top_last_queries > MW_WORKER_TOP_EXACT_QPS ? MW_WORKER_TOP_SAMPLE : 1;
    w->top_last_queries = q;
    for (int i = 0; i < 2; i++)
        w->n_top_pub[i] = w->top[i] ? mw_topn_top(w->top[i], w->top_pub[i], MW_WORKER_TOP_PUB) : 0;
    w->top_total_pub = w->top[0] ? mw_topn_total(w->top[0]) : 0;
    memcpy(p->recent, w->recent, sizeof(p->recent));
    p->n_recent = w->n_recent;
    p->recent_pos = w->recent_pos;
    p->n_ups = 0;
    for (uint16_t i = 0; set && i < set->n && p->n_ups < MW_M_UPS; i++) {
        const struct mw_upstream *u = &set->u[i];
        struct mw_upstream_pub *o = &p->ups[p->n_ups++];
        memcpy(o->label, u->label, sizeof(o->label));
        o->up = !u->down;
        o->srtt_ms = u->srtt_ms;
        o->queries = u->queries;
        o->answers = u->answers;
        o->timeouts = u->timeouts;
        o->errors = u->errors;
        memcpy(o->lat, u->lat, sizeof(o->lat));
        o->tls = u->tls;
        if (u->tls)
            mw_upstreams_tls_stats(w->ups, &u->addr, &o->dot);
        else
            memset(&o->dot, 0, sizeof(o->dot));
    }
    uv_mutex_unlock(&w->pub_lock);
}

void mw_worker_pub_read(struct mw_worker *w, struct mw_worker_pub *out)
{
    uv_mutex_lock(&w->pub_lock);
    *out = w->pub;
    uv_mutex_unlock(&w->pub_lock);
}

void mw_worker_set_paused(struct mw_worker *w, bool paused)
{
    atomic_store_explicit(&w->paused, paused, memory_order_relaxed);
}

void mw_worker_set_notify(struct mw_worker *w, uv_async_t *notify)
{
    uv_mutex_lock(&w->lock);
    w->notify = notify;
    uv_mutex_unlock(&w->lock);
}

void mw_worker_post_ready(struct mw_worker *w, uint64_t hash, bool cd, bool ok)
{
    /* The send under the lock, as flush's notify: once finish() set inbox_closed the async
     * may be closed and the loop released, so nothing may reach it after. */
    uv_mutex_lock(&w->lock);
    if (!w->inbox_closed) {
        if (w->n_ready < MW_WORKER_READY_CAP) {
            w->ready[w->n_ready] = hash;
            w->ready_how[w->n_ready++] = (uint8_t)((cd ? 2 : 0) | (ok ? 1 : 0));
        } else {
            w->ready_all = true;
        }
        uv_async_send(&w->wakeup);
    }
    uv_mutex_unlock(&w->lock);
}

void mw_worker_post_flush(struct mw_worker *w, uint64_t seq, const uint8_t *name, size_t len)
{
    uv_mutex_lock(&w->lock);
    w->flush_seq = seq;
    w->flush_all = name == NULL;
    w->flush_len = name && len <= sizeof(w->flush_name) ? (uint16_t)len : 0;
    if (name)
        memcpy(w->flush_name, name, w->flush_len);
    uv_mutex_unlock(&w->lock);
    uv_async_send(&w->wakeup);
}

void mw_worker_count_top(struct mw_worker *w, const struct sockaddr *from, const uint8_t *qname,
                         size_t qname_len)
{
    if (!w->top[0])
        return;
    uint32_t weight = w->top_every;
    if (weight > 1) {
        if (++w->top_skip < weight)
            return;
        w->top_skip = 0;
    }
    if (from->sa_family == AF_INET)
        mw_topn_add_addr(w->top[0], (const uint8_t *)&((const struct sockaddr_in *)from)->sin_addr,
                         4, weight);
    else if (from->sa_family == AF_INET6)
        mw_topn_add_addr(w->top[0],
                         (const uint8_t *)&((const struct sockaddr_in6 *)from)->sin6_addr, 16,
                         weight);
    mw_topn_add_name(w->top[1], qname, qname_len, weight); /* lowercase already (dnsmsg.c) */
}

size_t mw_worker_top_read(struct mw_worker *w, int which, struct mw_topn_item *out, size_t cap,
                          uint64_t *total)
{
    uv_mutex_lock(&w->pub_lock);
    size_t n = w->n_top_pub[which] < cap ? w->n_top_pub[which] : cap;
    memcpy(out, w->top_pub[which], n * sizeof(*out));
    *total = w->top_total_pub;
    uv_mutex_unlock(&w->pub_lock);
    return n;
}

static void fold_tick(uv_timer_t *t)
{
    struct mw_worker *w = t->data;
    if (w->snap->blocklog)
        mw_blockfold_flush(w->snap->blocklog, w->fold, mw_worker_now(w), mw_blocklog_wall_ms(),
                           false);
}

/* The last step of a worker, once its loop has run every close callback: it is called once,
 * and the owner frees w right after (server.c), so nothing here is left for a second call. */
static void release(struct mw_worker *w)
{
    mw_blockfold_free(w->fold);
    mw_topn_free(w->top[0]);
    mw_topn_free(w->top[1]);
    mw_answerdiff_free(w->ad);
    mw_tunnel_free(w->tunnel);
    mw_regmemo_free(w->regmemo);
    mw_ratelimit_free(w->rl);
    mw_qgroup_deinit(w);
    mw_upstreams_free(w->ups);
    mw_snapshot_unref(w->snap);
    mw_snapshot_unref(w->posted);
    uv_mutex_destroy(&w->lock);
    uv_mutex_destroy(&w->pub_lock);
    if (uv_loop_close(&w->loop) != 0)
        mw_log_error("worker", "worker %u: loop closed with %u handles open", w->index,
                     w->open_handles);
}

static void tap_turn(uv_prepare_t *h)
{
    ((struct mw_worker *)h->data)->tap_now = 0;
}

int mw_worker_init(struct mw_worker *w, unsigned index, struct mw_snapshot *snap,
                   struct mw_cache *cache, const struct mw_addr **bad_listen)
{
    memset(w, 0, sizeof(*w));
    w->index = index;
    w->on_udp = mw_query_from_udp;
    w->on_tcp = mw_query_from_tcp;
    w->reuseport = snap->cfg->threads > 1; /* the server starts cfg->threads workers */
    int rc = uv_loop_init(&w->loop);
    if (rc < 0)
        return rc;
    uv_mutex_init(&w->lock);
    w->snap = mw_snapshot_ref(snap);
    uv_async_init(&w->loop, &w->wakeup, wakeup);
    uv_timer_init(&w->loop, &w->grace);
    uv_timer_init(&w->loop, &w->fold_timer);
    uv_timer_init(&w->loop, &w->pub_timer);
    uv_mutex_init(&w->pub_lock);
    w->wakeup.data = w;
    w->grace.data = w;
    w->fold_timer.data = w;
    w->pub_timer.data = w;
    w->open_handles = 5;
    /* dnstap's frames of one turn share a clock reading: the messages it handles were all
     * waiting when the poll returned, and a reading costs as much as a small frame. */
    uv_prepare_init(&w->loop, &w->tap_turn);
    w->tap_turn.data = w;
    if (snap->tap) {
        uv_prepare_start(&w->tap_turn, tap_turn);
        uv_unref((uv_handle_t *)&w->tap_turn);
    }
    w->fold = mw_blockfold_new();
    if (w->fold)
        uv_timer_start(&w->fold_timer, fold_tick, 1000, 1000);
    w->cache = cache;
    w->rl = make_ratelimit(snap->cfg);
    /* Without memory for them the top-N tables stay off; queries are served all the same. */
    w->top[0] = mw_topn_new(MW_WORKER_TOP_CAP, mw_hash_seed());
    w->top[1] = w->top[0] ? mw_topn_new(MW_WORKER_TOP_CAP, mw_hash_seed()) : NULL;
    w->top_every = 1;
    /* The published copies are touched now too (the worker itself is calloc'ed, so its large
     * arrays are untouched pages until first written): RSS does not grow when they fill. */
    memset(w->top_pub, 0, sizeof(w->top_pub));
    if (!w->top[1]) {
        mw_topn_free(w->top[0]);
        w->top[0] = NULL;
    }
    rc = w->cache && w->fold && (w->rl || !snap->cfg->ratelimit.enabled) ? mw_query_init(w)
                                                                         : -ENOMEM;
    if (rc == 0)
        rc = mw_upstreams_new(w, snap->cfg, snap->box->health, &w->ups);
    if (rc == 0)
        rc = open_listeners(w, snap->cfg, bad_listen);
    if (rc == 0)
        return 0;
    finish(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    release(w);
    return rc;
}

static void run(void *arg)
{
    struct mw_worker *w = arg;
    char name[16];
    snprintf(name, sizeof name, "mw-worker-%u", w->index);
    mw_thread_name(name);
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

int mw_worker_start(struct mw_worker *w)
{
    pub_tick(&w->pub_timer); /* scrapes before the first tick see the start state */
    uv_timer_start(&w->pub_timer, pub_tick, 1000, 1000);
    int rc = uv_thread_create(&w->thread, run, w);
    if (rc == 0)
        w->thread_started = true;
    return rc;
}

void mw_worker_post_snapshot(struct mw_worker *w, struct mw_snapshot *snap)
{
    uv_mutex_lock(&w->lock);
    mw_snapshot_unref(w->posted); /* an older post the worker has not taken yet */
    w->posted = mw_snapshot_ref(snap);
    uv_mutex_unlock(&w->lock);
    uv_async_send(&w->wakeup);
}

void mw_worker_stop(struct mw_worker *w)
{
    uv_mutex_lock(&w->lock);
    w->stop_requested = true;
    uv_mutex_unlock(&w->lock);
    uv_async_send(&w->wakeup);
}

void mw_worker_join(struct mw_worker *w)
{
    if (w->thread_started) {
        uv_thread_join(&w->thread);
        w->thread_started = false;
    } else {
        /* Set up but never started (start-up failed later): close its handles here. */
        if (!finishing(w))
            finish(w);
        uv_run(&w->loop, UV_RUN_DEFAULT);
    }
    release(w);
}
