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
#include <stdlib.h>
#include <string.h>

#include "minewall/answerdiff.h"
#include "minewall/blocklog.h"
#include "minewall/ratelimit.h"
#include "minewall/config.h"
#include "minewall/listener.h"
#include "minewall/log.h"
#include "minewall/query.h"
#include "minewall/snapshot.h"
#include "minewall/upstream.h"

#define GRACE_MS 1500

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

static void cache_params(const struct mw_config *cfg, struct mw_cache_params *p)
{
    p->max_entries = cfg->cache.size;
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
    mw_query_abort_all(w);
    close_listeners(w);
    while (w->conns)
        mw_tcp_conn_close(w->conns);
    if (w->ups)
        mw_upstreams_close(w->ups);
    mw_query_deinit(w);
    if (w->snap && w->snap->blocklog && w->fold)
        mw_blockfold_flush(w->snap->blocklog, w->fold, mw_worker_now(w), true);
    uv_close((uv_handle_t *)&w->fold_timer, mw_worker_handle_closed);
    uv_close((uv_handle_t *)&w->grace, mw_worker_handle_closed);
    uv_close((uv_handle_t *)&w->wakeup, mw_worker_handle_closed);
}

static bool finishing(struct mw_worker *w)
{
    return uv_is_closing((uv_handle_t *)&w->wakeup);
}

void mw_worker_maybe_done(struct mw_worker *w)
{
    if (w->stopping && !finishing(w) && w->n_fetches == 0)
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

static bool same_listen(const struct mw_config *a, const struct mw_config *b)
{
    if (a->n_listen != b->n_listen)
        return false;
    for (size_t i = 0; i < a->n_listen; i++)
        if (!mw_addr_equal(&a->listen[i], &b->listen[i]))
            return false;
    return true;
}

static bool same_zones(const struct mw_config *a, const struct mw_config *b)
{
    if (a->n_zones != b->n_zones)
        return false;
    for (size_t i = 0; i < a->n_zones; i++)
        if (strcmp(a->zones[i].name, b->zones[i].name) != 0)
            return false;
    return true;
}

/* Reload: swap the snapshot and adapt what depends on it. */
static void apply(struct mw_worker *w, struct mw_snapshot *snap)
{
    const struct mw_config *old = w->snap->cfg, *cfg = snap->cfg;
    struct mw_cache_params cp;
    cache_params(cfg, &cp);
    mw_cache_set_params(w->cache, &cp);
    /* Answers cached for a zone may have come from other upstreams than the new config
     * names: start over when the routing of names changed. */
    if (!same_zones(old, cfg))
        mw_cache_clear(w->cache);
    if (mw_upstreams_reconfigure(w->ups, cfg) < 0)
        mw_log_error("worker", "worker %u: out of memory applying upstreams", w->index);
    if (!same_listen(old, cfg)) {
        close_listeners(w);
        const struct mw_addr *bad = NULL;
        int rc = open_listeners(w, cfg, &bad);
        if (rc < 0) {
            char a[64] = "?";
            if (bad)
                mw_addr_format(bad, a, sizeof(a));
            mw_log_error("worker", "worker %u: cannot listen on %s: %s", w->index, a,
                         uv_strerror(rc));
        }
    }
    if (memcmp(&old->ratelimit, &cfg->ratelimit, sizeof(cfg->ratelimit)) != 0) {
        mw_ratelimit_free(w->rl);
        w->rl = make_ratelimit(cfg);
    }
    if (w->snap->blocklog && w->snap->blocklog != snap->blocklog)
        mw_blockfold_flush(w->snap->blocklog, w->fold, mw_worker_now(w), true);
    mw_snapshot_unref(w->snap);
    w->snap = snap;
}

static void wakeup(uv_async_t *a)
{
    struct mw_worker *w = a->data;
    uv_mutex_lock(&w->lock);
    struct mw_snapshot *snap = w->posted;
    w->posted = NULL;
    bool stop = w->stop_requested;
    uv_mutex_unlock(&w->lock);
    if (snap && !w->stopping)
        apply(w, snap);
    else
        mw_snapshot_unref(snap);
    if (stop)
        begin_stop(w);
}

static void fold_tick(uv_timer_t *t)
{
    struct mw_worker *w = t->data;
    if (w->snap->blocklog)
        mw_blockfold_flush(w->snap->blocklog, w->fold, mw_worker_now(w), false);
}

static void release(struct mw_worker *w)
{
    mw_blockfold_free(w->fold);
    w->fold = NULL;
    mw_answerdiff_free(w->ad);
    w->ad = NULL;
    mw_ratelimit_free(w->rl);
    w->rl = NULL;
    mw_upstreams_free(w->ups);
    w->ups = NULL;
    mw_cache_free(w->cache);
    w->cache = NULL;
    mw_snapshot_unref(w->snap);
    w->snap = NULL;
    mw_snapshot_unref(w->posted);
    w->posted = NULL;
    uv_mutex_destroy(&w->lock);
    if (uv_loop_close(&w->loop) != 0)
        mw_log_error("worker", "worker %u: loop closed with %u handles open", w->index,
                     w->open_handles);
}

int mw_worker_init(struct mw_worker *w, unsigned index, struct mw_snapshot *snap,
                   const struct mw_addr **bad_listen)
{
    memset(w, 0, sizeof(*w));
    w->index = index;
    int rc = uv_loop_init(&w->loop);
    if (rc < 0)
        return rc;
    uv_mutex_init(&w->lock);
    w->snap = mw_snapshot_ref(snap);
    uv_async_init(&w->loop, &w->wakeup, wakeup);
    uv_timer_init(&w->loop, &w->grace);
    uv_timer_init(&w->loop, &w->fold_timer);
    w->wakeup.data = w;
    w->grace.data = w;
    w->fold_timer.data = w;
    w->open_handles = 3;
    w->fold = mw_blockfold_new();
    if (w->fold)
        uv_timer_start(&w->fold_timer, fold_tick, 1000, 1000);
    struct mw_cache_params cp;
    cache_params(snap->cfg, &cp);
    w->cache = mw_cache_new(&cp);
    w->rl = make_ratelimit(snap->cfg);
    rc = w->cache && w->fold && (w->rl || !snap->cfg->ratelimit.enabled) ? mw_query_init(w)
                                                                          : -ENOMEM;
    if (rc == 0)
        rc = mw_upstreams_new(w, snap->cfg, &w->ups);
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
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

int mw_worker_start(struct mw_worker *w)
{
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
    }
    release(w);
}

void mw_worker_stats_add(const struct mw_worker *w, struct mw_worker_stats *sum)
{
    const uint64_t *src = (const uint64_t *)&w->stats;
    uint64_t *dst = (uint64_t *)sum;
    for (size_t i = 0; i < sizeof(w->stats) / sizeof(uint64_t); i++)
        dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
