/* The control loop: signals, config (re)loads and the workers; see server.h. */
#include "minewall/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "minewall/blocklog.h"
#include "minewall/cache.h"
#include "minewall/config.h"
#include "minewall/ctlapi.h"
#include "minewall/error.h"
#include "minewall/events.h"
#include "minewall/geo.h"
#include "minewall/health.h"
#include "minewall/hostwatch.h"
#include "minewall/httpd.h"
#include "minewall/jlog.h"
#include "minewall/journal.h"
#include "minewall/listener.h"
#include "minewall/lists.h"
#include "minewall/log.h"
#include "minewall/metrics.h"
#include "minewall/nodsvc.h"
#include "minewall/privdrop.h"
#include "minewall/prober.h"
#include "minewall/qlogw.h"
#include "minewall/redis_sync.h"
#include "minewall/regdom.h"
#include "minewall/snapshot.h"
#include "minewall/tap.h"
#include "minewall/upset.h"
#include "minewall/worker.h"

/* A watch on the directory of one list file: editors and feed tools replace files by rename,
 * which only the directory sees. Freed in its close callback. */
struct list_watch {
    uv_fs_event_t h;
    struct mw_server *s;
    struct list_watch *next;
    char name[]; /* basename of the list file */
};

struct mw_server {
    uv_loop_t *loop;
    uv_signal_t sig_term, sig_int, sig_hup;
    const struct mw_overrides *o; /* borrowed */
    struct mw_snapshot *snap;     /* owned ref */
    uint64_t generation;
    struct mw_worker **workers; /* owned */
    unsigned n_workers;
    struct mw_cache *cache; /* owned: the answer cache all workers share; freed after they end */
    bool stopping;
    /* Reload: lists are built on the libuv thread pool so the control loop stays free. */
    uv_work_t reload_work;
    bool reloading;
    bool reload_again;                 /* another SIGHUP arrived while building */
    struct mw_config *pending_cfg;     /* owned while reloading; NULL: lists only */
    const struct mw_config *build_cfg; /* what the work builds lists from */
    bool lists_again;                  /* a list file changed while building */
    struct list_watch *watches;        /* owned list */
    struct mw_lists *files;            /* owned reference: the file lists of the running config */
    struct mw_rsync *rs;               /* owned; NULL without redis.url */
    struct mw_events *ev; /* owned; the Redis events publisher, NULL without redis.url */
    struct mw_jlog *jlog; /* owned; NULL without journal.path */
    /* owned; the query log writer, made when a config first sets log.queries and kept to the
     * end (its rings are the workers'); snapshots of a config without it do not see it. */
    struct mw_qlogw *qlog;
    struct mw_hostwatch *hw; /* owned; with the journal */
    struct mw_geo *jgeo;     /* owned; the journal's geo databases, or NULL */
    struct mw_tap *tap;      /* owned; the dnstap output (settings of the start), or NULL */
    /* owned; the Public Suffix List, loaded once at start (not on reload: Debian updates the
     * file with the package, and a restart follows a package upgrade); every file generation
     * borrows it. NULL when it could not be loaded: every name counts as public. */
    struct mw_regdom *regdom;
    struct mw_httpd *httpd;     /* owned; metrics, health and status, or NULL */
    struct mw_ctlapi *ctl;      /* owned; the control API (minewall-ctl), or NULL */
    struct mw_prober *prober;   /* owned; upstream health checks (closes itself) */
    struct mw_nodsvc *nod;      /* owned; detect.new-domains, or NULL */
    uint64_t started_ms;        /* loop time at start, for the uptime */
    char host[256];             /* gethostname once at start ("unknown" without), for events */
    uint64_t lists_loaded_unix; /* wall time the lists in force were published */
    /* Reloads (SIGHUP or a list file change) by outcome; a failed one keeps the running
     * config and lists, and last_reload_ok stays false until one succeeds. */
    uint64_t reloads_ok, reloads_failed;
    bool last_reload_failed;
    uv_timer_t settle;              /* a burst of file events becomes one reload */
    struct mw_lists *pending_lists; /* result of the work */
    struct mw_lists *build_prev;    /* owned ref while building: the file lists in force */
    bool pending_reused;            /* the work found the inputs unchanged: no rebuild */
    struct mw_errlist pending_errs;
    size_t pending_warnings;
};

struct mw_config *mw_server_load_config(const struct mw_overrides *o, struct mw_errlist *errs)
{
    struct mw_config *cfg =
        o->config_path ? mw_config_load(o->config_path, errs) : mw_config_new_default();
    if (!cfg)
        return NULL;
    if ((o->n_listen && mw_config_set_listen(cfg, o->listen, o->n_listen) < 0) ||
        (o->n_upstreams && mw_config_set_upstreams(cfg, o->upstreams, o->n_upstreams) < 0)) {
        mw_errlist_add(errs, "out of memory");
        mw_config_free(cfg);
        return NULL;
    }
    for (size_t i = 0; i < o->n_tls_ups; i++) {
        int rc = mw_config_add_tls_upstream(cfg, &o->tls_ups[i]);
        if (rc < 0) {
            char a[MW_UPSTREAM_LABEL];
            mw_upset_label(&o->tls_ups[i].addr, &o->tls_ups[i], a, sizeof(a));
            mw_errlist_add(errs, "--upstream %s: %s", a,
                           rc == -EEXIST ? "the config gives this address another name or "
                                           "transport"
                                         : "out of memory");
            mw_config_free(cfg);
            return NULL;
        }
    }
    if (o->user) {
        free(cfg->user);
        if (!(cfg->user = strdup(o->user))) {
            mw_errlist_add(errs, "out of memory");
            mw_config_free(cfg);
            return NULL;
        }
    }
    if (cfg->n_upstreams == 0) {
        struct mw_addr *ups = NULL;
        int n = mw_config_read_resolv(o->resolv_conf, cfg->listen, cfg->n_listen, &ups);
        if (n > 0 && mw_config_set_upstreams(cfg, ups, (size_t)n) == 0)
            cfg->upstreams_from_resolv = true;
        free(ups);
        if (!cfg->upstreams_from_resolv) {
            mw_errlist_add(errs, "%s: no upstreams configured and no usable nameserver in %s%s%s",
                           o->config_path ? o->config_path : "<defaults>", o->resolv_conf,
                           n < 0 ? ": " : "", n < 0 ? strerror(-n) : "");
            mw_config_free(cfg);
            return NULL;
        }
    }
    return cfg;
}

static void log_errors(const struct mw_errlist *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        mw_log_error("config", "%s", errs->msgs[i]);
}

static void log_ready(const struct mw_server *s)
{
    const struct mw_config *cfg = s->snap->cfg;
    for (size_t i = 0; i < cfg->n_listen; i++) {
        char a[64];
        mw_addr_format(&cfg->listen[i], a, sizeof(a));
        mw_log_info("server", "listening on %s (udp, tcp)", a);
    }
    for (size_t i = 0; i < cfg->n_upstreams; i++) {
        char a[MW_UPSTREAM_LABEL];
        const struct mw_tls_upstream *t = mw_config_tls_upstream(cfg, &cfg->upstreams[i]);
        mw_upset_label(&cfg->upstreams[i], t, a, sizeof(a));
        mw_log_info("server", "upstream %s%s%s", a, t && !t->doh && t->auth_name[0] ? " #" : "",
                    t && !t->doh                 ? t->auth_name
                    : cfg->upstreams_from_resolv ? " (from resolv.conf)"
                                                 : "");
    }
}

static void log_list_warnings(const struct mw_errlist *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        mw_log_warn("lists", "%s", errs->msgs[i]);
}

/* The block log of a new config: the running one when the path is the same (reopened, for
 * rotation), else a new file. Returns 0, or a negative errno with the reason logged. */
static int blocklog_for(const struct mw_config *cfg, struct mw_blocklog *cur,
                        struct mw_blocklog **out)
{
    *out = NULL;
    if (!cfg->blocks_log)
        return 0;
    if (cur && strcmp(mw_blocklog_path(cur), cfg->blocks_log) == 0) {
        int rc = mw_blocklog_reopen(cur);
        if (rc < 0)
            mw_log_error("server", "%s: cannot reopen block log: %s", cfg->blocks_log,
                         strerror(-rc));
        *out = mw_blocklog_ref(cur);
        return 0;
    }
    int rc = mw_blocklog_open(cfg->blocks_log, out);
    if (rc < 0)
        mw_log_error("server", "%s: cannot open block log: %s", cfg->blocks_log, strerror(-rc));
    return rc;
}

/* The generation to publish for the file lists files: with the Redis lists when syncing.
 * Takes a reference to files for s->files. Returns a new reference, or NULL on ENOMEM. */
static struct mw_lists *combine(struct mw_server *s, struct mw_lists *files, uint64_t generation,
                                const struct mw_config *cfg)
{
    struct mw_lists *old = s->files;
    s->files = mw_lists_ref(files);
    mw_lists_unref(old);
    if (!s->rs && files->generation == generation)
        return mw_lists_ref(files);
    if (!s->rs) /* reused file lists under a new generation: cached answers are checked again */
        return mw_lists_derive(files, NULL, 0, generation, cfg);
    struct mw_rlist *const *rl;
    size_t n = mw_rsync_lists(s->rs, &rl);
    return mw_lists_derive(files, rl, (uint16_t)n, generation, cfg);
}

/* The query log writer for cfg: made on first need, else pointed at cfg's path and rate.
 * Returns NULL without log.queries, or when it cannot be made (logged). */
static struct mw_qlogw *qlog_for(struct mw_server *s, const struct mw_config *cfg)
{
    if (!cfg->querylog.path)
        return NULL;
    if (s->qlog) {
        mw_qlogw_configure(s->qlog, cfg->querylog.path, cfg->querylog.sample);
        return s->qlog;
    }
    unsigned n = s->n_workers ? s->n_workers : (cfg->threads ? cfg->threads : 1);
    int rc =
        mw_qlogw_new(cfg->querylog.path, n, cfg->querylog.queue, cfg->querylog.sample, &s->qlog);
    if (rc < 0)
        mw_log_error("server", "%s: cannot open the query log: %s", cfg->querylog.path,
                     strerror(-rc));
    return rc < 0 ? NULL : s->qlog;
}

static void publish(struct mw_server *s, struct mw_snapshot *snap)
{
    s->lists_loaded_unix = (uint64_t)time(NULL);
    snap->qlog = qlog_for(s, snap->cfg);
    snap->events = s->ev;
    snap->journal = s->jlog ? mw_jlog_queue(s->jlog) : NULL;
    snap->jgeo = s->jgeo;
    snap->host = s->host;
    snap->tap = s->tap;
    snap->nod = s->nod;
    if (s->prober)
        mw_prober_set(s->prober, snap);
    for (unsigned i = 0; i < s->n_workers; i++)
        mw_worker_post_snapshot(s->workers[i], snap);
    mw_snapshot_unref(s->snap);
    s->snap = snap;
    mw_ctlapi_set_config(s->ctl, snap->cfg); /* the token as read with this config */
}

static void reload_result(struct mw_server *s, bool ok)
{
    if (ok)
        s->reloads_ok++;
    else
        s->reloads_failed++;
    s->last_reload_failed = !ok;
    mw_ctlapi_reload_done(s->ctl, ok);
}

/* The reload guard of mw_lists_emptied: true (with the reasons logged) when lists, a new file
 * generation, would replace a list that has entries with an empty one. */
static bool emptied(struct mw_server *s, const struct mw_lists *lists)
{
    struct mw_errlist e;
    mw_errlist_init(&e);
    size_t n = mw_lists_emptied(s->files, lists, &e);
    log_errors(&e);
    mw_errlist_deinit(&e);
    return n > 0;
}

/* Lists whose inputs did not change since the running generation was built (a SIGHUP for a
 * config edit, a touched file) are reused rather than rebuilt: no parse, and no second copy of
 * a large list in memory while the new one is built. */
static void reload_work(uv_work_t *req)
{
    struct mw_server *s = req->data;
    uint8_t *in = NULL;
    size_t len = 0;
    s->pending_reused = false;
    if (s->build_prev && ((mw_lists_inputs(s->build_cfg, &in, &len) == 0 &&
                           mw_lists_same_inputs(s->build_prev, in, len)) ||
                          mw_lists_same_content(s->build_prev, s->build_cfg))) {
        s->pending_lists =
            mw_lists_ref(s->build_prev->files ? s->build_prev->files : s->build_prev);
        s->pending_reused = true;
    } else {
        s->pending_lists =
            mw_lists_build(s->build_cfg, s->generation + 1, &s->pending_errs, &s->pending_warnings);
        if (s->pending_lists) /* not published yet: no other thread reads it */
            s->pending_lists->regdom = s->regdom;
    }
    free(in);
}

static void reload(struct mw_server *s);
static void reload_lists(struct mw_server *s);
static void journal_config(struct mw_server *s, const struct mw_config *old,
                           const struct mw_lists *old_l, const struct mw_config *cfg,
                           const struct mw_lists *l);
static void watch_lists(struct mw_server *s);

/* A list file changed: same config, new lists. */
static void lists_done(struct mw_server *s, struct mw_lists *lists)
{
    if (!lists || s->stopping || emptied(s, lists)) {
        if (!s->stopping) {
            log_errors(&s->pending_errs);
            mw_log_error("server", "list reload failed; keeping the running lists");
            reload_result(s, false);
        }
        mw_lists_unref(lists);
        return;
    }
    log_list_warnings(&s->pending_errs);
    struct mw_blocklog *bl = s->snap->blocklog ? mw_blocklog_ref(s->snap->blocklog) : NULL;
    struct mw_lists *files = lists;
    lists = combine(s, files, s->generation + 1, s->snap->cfg);
    mw_lists_unref(files);
    if (!lists) {
        mw_blocklog_unref(bl);
        mw_log_error("server", "list reload failed: out of memory");
        reload_result(s, false);
        return;
    }
    size_t entries = lists->total_entries;
    journal_config(s, s->snap->cfg, s->snap->lists, s->snap->cfg, lists);
    struct mw_snapshot *snap = mw_snapshot_with_lists(s->snap, lists, bl, ++s->generation);
    if (!snap) {
        mw_log_error("server", "list reload failed: out of memory");
        reload_result(s, false);
        return;
    }
    publish(s, snap);
    reload_result(s, true);
    mw_log_info("server", "lists reloaded (generation %llu, %zu entries)",
                (unsigned long long)s->generation, entries);
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool redis_changed(const struct mw_config *a, const struct mw_config *b)
{
    if (!same_str(a->redis.url, b->redis.url) ||
        !same_str(a->redis.state_dir, b->redis.state_dir) || a->redis.all != b->redis.all ||
        a->redis.n_lists != b->redis.n_lists)
        return true;
    for (size_t i = 0; i < a->redis.n_lists; i++)
        if (strcmp(a->redis.lists[i], b->redis.lists[i]) != 0)
            return true;
    return false;
}

static void forward_routing(void *arg, const struct mw_routing_event *ev)
{
    struct mw_server *s = arg;
    if (s->ev)
        mw_events_routing(s->ev, ev);
}

static int on_http(void *arg, const char *path, const char *query, struct mw_http_response *r)
{
    struct mw_server *s = arg;
    if (strncmp(path, "/control/", 9) == 0)
        return mw_ctlapi_http(s->ctl, path, query, r);
    if (r->method == MW_HTTP_POST) { /* only the control API acts */
        r->status = 405;
        r->allow = "GET, HEAD";
        return 0;
    }
    struct mw_metrics_extra x = {
        .uptime_s = (uv_now(s->loop) - s->started_ms) / 1000,
        .lists_loaded_unix = s->lists_loaded_unix,
        .reloads_ok = s->reloads_ok,
        .reloads_failed = s->reloads_failed,
        .last_reload_failed = s->last_reload_failed,
        .redis_configured = s->rs != NULL,
    };
    if (s->rs)
        mw_rsync_stats(s->rs, &x.redis);
    if (s->ev)
        mw_events_stats(s->ev, &x.events);
    if (s->jlog)
        mw_jlog_stats(s->jlog, &x.journal);
    if (s->prober)
        mw_prober_stats(s->prober, &x.prober);
    if (s->tap) {
        x.tap_configured = true;
        mw_tap_stats(s->tap, &x.tap);
    }
    if (strcmp(path, "/metrics") == 0) {
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        int rc = mw_metrics_render(r, s->workers, s->n_workers, s->snap, &x);
        mw_ctlapi_metrics(s->ctl, r);
        mw_qlogw_metrics(s->qlog, r);
        mw_nodsvc_metrics(s->nod, r);
        return rc ? rc : r->err;
    }
    if (strcmp(path, "/healthz") == 0)
        return mw_metrics_health(r, s->workers, s->n_workers, s->snap);
    if (strcmp(path, "/status") == 0) {
        char ctl[32768];
        mw_ctlapi_status_json(s->ctl, ctl, sizeof(ctl));
        x.status_extra = ctl;
        return mw_metrics_status(r, s->workers, s->n_workers, s->snap, &x);
    }
    r->status = 404;
    mw_http_body_printf(r, "not found: try /metrics, /healthz or /status\n");
    return 0;
}

/* The dnstap output (tap.h), when configured; its settings stay those of the start. */
static int start_tap(struct mw_server *s)
{
    const struct mw_config *cfg = s->snap->cfg;
    if (!cfg->dnstap.enabled)
        return 0;
    char why[256] = "";
    if (mw_tap_new(cfg, s->host, cfg->threads, &s->tap, why, sizeof(why)) < 0) {
        mw_log_error("dnstap", "%s", why);
        return -1;
    }
    mw_log_info("dnstap", "dnstap to %s", mw_tap_target(s->tap));
    return 0;
}

/* The journal: writer, geo databases and host file watches (journal settings are read at
 * start; a reload that changes them says so). Returns 0 or -1 with the reason logged. */
static int start_journal(struct mw_server *s)
{
    const struct mw_config *cfg = s->snap->cfg;
    if (!cfg->journal.path)
        return 0;
    if (mw_jlog_new(s->loop, cfg->journal.path, &s->jlog) < 0)
        return -1;
    mw_jlog_set_forward(s->jlog, forward_routing, s);
    if (cfg->journal.geo_asn || cfg->journal.geo_country) {
        struct mw_errlist errs;
        mw_errlist_init(&errs);
        if (mw_geo_open(&s->jgeo, cfg->journal.geo_asn, cfg->journal.geo_country, &errs) < 0) {
            log_errors(&errs);
            mw_errlist_deinit(&errs);
            return -1;
        }
        mw_errlist_deinit(&errs);
    }
    if (mw_hostwatch_new(s->loop, cfg->journal.watch, cfg->journal.watch_kind, cfg->journal.n_watch,
                         cfg->listen, cfg->n_listen, mw_jlog_queue(s->jlog), s->host, &s->hw) < 0)
        return -1;
    mw_log_info("journl", "journal %s (track %s, watching %zu files)", cfg->journal.path,
                cfg->journal.track == MW_TRACK_ALL      ? "all"
                : cfg->journal.track == MW_TRACK_LISTED ? "listed"
                                                        : "none",
                cfg->journal.n_watch);
    return 0;
}

/* Texts of the addresses in a that are not in b. */
/* The addresses of a missing from b, as text; with cfg (a's config), a DoH member by its URL
 * (its address is a stand-in, doh.h; cut at 63 bytes). */
static size_t addr_diff(const struct mw_addr *a, size_t na, const struct mw_addr *b, size_t nb,
                        char (*out)[64], const char **v, size_t cap, const struct mw_config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < na && n < cap; i++) {
        bool found = false;
        for (size_t j = 0; j < nb && !found; j++)
            found = mw_addr_equal(&a[i], &b[j]);
        if (!found) {
            const struct mw_tls_upstream *t = cfg ? mw_config_tls_upstream(cfg, &a[i]) : NULL;
            if (t && t->doh)
                mw_doh_label(&t->url, out[n], 64);
            else
                mw_addr_format(&a[i], out[n], 64);
            v[n] = out[n];
            n++;
        }
    }
    return n;
}

static size_t zone_diff(const struct mw_config *a, const struct mw_config *b, const char **v,
                        size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_zones && n < cap; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n_zones && !found; j++)
            found = strcmp(a->zones[i].name, b->zones[j].name) == 0;
        if (!found)
            v[n++] = a->zones[i].name;
    }
    return n;
}

/* Journal a reload that changed listeners, upstreams, forward zones or lists (entry counts
 * per list: a list that grew counts as added, one that shrank as removed). */
static void journal_config(struct mw_server *s, const struct mw_config *old,
                           const struct mw_lists *old_l, const struct mw_config *cfg,
                           const struct mw_lists *l)
{
    if (!s->jlog)
        return;
    enum { CAP = 64 };
    char la[CAP][64], lr[CAP][64], ua[CAP][64], ur[CAP][64];
    const char *vla[CAP], *vlr[CAP], *vua[CAP], *vur[CAP], *vza[CAP], *vzr[CAP];
    struct mw_journal_config ev = {
        .listeners_added = {vla, addr_diff(cfg->listen, cfg->n_listen, old->listen, old->n_listen,
                                           la, vla, CAP, NULL)},
        .listeners_removed = {vlr, addr_diff(old->listen, old->n_listen, cfg->listen, cfg->n_listen,
                                             lr, vlr, CAP, NULL)},
        .upstreams_added = {vua, addr_diff(cfg->upstreams, cfg->n_upstreams, old->upstreams,
                                           old->n_upstreams, ua, vua, CAP, cfg)},
        .upstreams_removed = {vur, addr_diff(old->upstreams, old->n_upstreams, cfg->upstreams,
                                             cfg->n_upstreams, ur, vur, CAP, old)},
        .zones_added = {vza, zone_diff(cfg, old, vza, CAP)},
        .zones_removed = {vzr, zone_diff(old, cfg, vzr, CAP)},
    };
    struct mw_journal_list_delta deltas[128];
    size_t nd = 0;
    for (uint16_t i = 0; i < l->n_lists && nd < 128; i++) {
        size_t before = 0;
        for (uint16_t j = 0; j < old_l->n_lists; j++)
            if (strcmp(old_l->lists[j].name, l->lists[i].name) == 0)
                before = old_l->lists[j].entries;
        if (before != l->lists[i].entries)
            deltas[nd++] = (struct mw_journal_list_delta){
                l->lists[i].name, l->lists[i].entries > before ? l->lists[i].entries - before : 0,
                before > l->lists[i].entries ? before - l->lists[i].entries : 0};
    }
    for (uint16_t j = 0; j < old_l->n_lists && nd < 128; j++) {
        bool kept = false;
        for (uint16_t i = 0; i < l->n_lists && !kept; i++)
            kept = strcmp(old_l->lists[j].name, l->lists[i].name) == 0;
        if (!kept)
            deltas[nd++] =
                (struct mw_journal_list_delta){old_l->lists[j].name, 0, old_l->lists[j].entries};
    }
    ev.lists = deltas;
    ev.n_lists = nd;
    if (!ev.listeners_added.n && !ev.listeners_removed.n && !ev.upstreams_added.n &&
        !ev.upstreams_removed.n && !ev.zones_added.n && !ev.zones_removed.n && !nd)
        return;
    char line[65536];
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    int n = mw_journal_format_config(
        line, sizeof(line), (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000, s->host, &ev);
    if (n > 0)
        mw_journal_queue_push(mw_jlog_queue(s->jlog), MW_JOURNAL_CONFIG, line, (size_t)n);
}

/* The Redis lists changed: publish them with the running file lists. */
static void on_rsync_change(void *arg)
{
    struct mw_server *s = arg;
    if (s->stopping || !s->files)
        return;
    struct mw_lists *files = mw_lists_ref(s->files);
    struct mw_lists *lists = combine(s, files, s->generation + 1, s->snap->cfg);
    mw_lists_unref(files);
    struct mw_blocklog *bl = s->snap->blocklog ? mw_blocklog_ref(s->snap->blocklog) : NULL;
    struct mw_snapshot *snap =
        lists ? mw_snapshot_with_lists(s->snap, lists, bl, ++s->generation) : NULL;
    if (!snap) {
        if (!lists)
            mw_blocklog_unref(bl);
        mw_log_error("redis", "cannot apply the synced lists: out of memory");
        return;
    }
    publish(s, snap);
    mw_log_debug("redis", "synced lists published (generation %llu)",
                 (unsigned long long)s->generation);
}

/* Refuse listen addresses that something else already serves (issue 10: a second resolver
 * sharing the address through SO_REUSEPORT would answer part of the queries unfiltered).
 * Only the addresses of cfg that old (the running config, or NULL at start) lacks. */
static int probe_listen(const struct mw_config *old, const struct mw_config *cfg)
{
    for (size_t i = 0; i < cfg->n_listen; i++) {
        bool held = false;
        for (size_t j = 0; old && j < old->n_listen && !held; j++)
            held = mw_addr_equal(&old->listen[j], &cfg->listen[i]);
        char why[256];
        int rc = held ? 0 : mw_listen_probe(&cfg->listen[i], why, sizeof(why));
        if (rc < 0) {
            mw_log_error("server", "cannot listen on %s", why);
            return rc;
        }
    }
    return 0;
}

static void reload_done(uv_work_t *req, int status)
{
    struct mw_server *s = req->data;
    struct mw_config *cfg = s->pending_cfg;
    struct mw_lists *lists = s->pending_lists;
    s->pending_cfg = NULL;
    s->pending_lists = NULL;
    s->reloading = false;
    mw_lists_unref(s->build_prev);
    s->build_prev = NULL;
    if (s->pending_reused && lists && !s->stopping)
        mw_log_info("server", "list files unchanged since generation %llu: reused, not rebuilt",
                    (unsigned long long)lists->generation);
    struct mw_blocklog *bl = NULL;
    if (!cfg) {
        lists_done(s, status < 0 ? (mw_lists_unref(lists), NULL) : lists);
    } else if (status < 0 || !lists || s->stopping || emptied(s, lists) ||
               probe_listen(s->snap->cfg, cfg) < 0 ||
               blocklog_for(cfg, s->snap->blocklog, &bl) < 0) {
        if (!lists)
            log_errors(&s->pending_errs);
        if (!s->stopping) {
            mw_log_error("server", "reload failed; keeping the running configuration and lists");
            reload_result(s, false);
        }
        mw_config_free(cfg);
        mw_lists_unref(lists);
    } else {
        log_list_warnings(&s->pending_errs);
        if (cfg->threads != s->snap->cfg->threads)
            mw_log_warn("server", "threads changed from %u to %u: takes effect on restart",
                        s->snap->cfg->threads, cfg->threads);
        mw_log_set_level(cfg->log_level);
        if (redis_changed(s->snap->cfg, cfg))
            mw_log_warn("server", "redis settings changed: they take effect on restart");
        if (mw_nodsvc_restart_needed(s->snap->cfg, cfg))
            mw_log_warn("nod", "detect.new-domains changed beyond action and block-for: the "
                               "rest takes effect on restart");
        if (!same_str(s->snap->cfg->control.socket, cfg->control.socket))
            mw_log_warn("server", "control.socket changed: it takes effect on restart");
        if (s->snap->cfg->dnstap.enabled != cfg->dnstap.enabled ||
            !same_str(s->snap->cfg->dnstap.socket, cfg->dnstap.socket) ||
            !mw_addr_equal(&s->snap->cfg->dnstap.address, &cfg->dnstap.address))
            mw_log_warn("server", "dnstap settings changed: they take effect on restart");
        struct mw_lists *files = lists;
        lists = combine(s, files, s->generation + 1, cfg);
        mw_lists_unref(files);
        size_t entries = lists ? lists->total_entries : 0;
        if (!lists) {
            mw_blocklog_unref(bl);
            mw_config_free(cfg);
        }
        if (lists)
            journal_config(s, s->snap->cfg, s->snap->lists, cfg, lists);
        struct mw_snapshot *snap = lists ? mw_snapshot_new(cfg, lists, bl, ++s->generation) : NULL;
        /* The new config's health board keeps the state of the upstreams that stay. */
        if (snap && !(snap->box->health =
                          mw_health_build(snap->cfg, s->snap->box->health, uv_now(s->loop)))) {
            mw_snapshot_unref(snap);
            snap = NULL;
        }
        if (!snap) {
            mw_log_error("server", "reload failed: out of memory");
            reload_result(s, false);
        } else {
            publish(s, snap);
            reload_result(s, true);
            watch_lists(s);
            mw_log_info("server", "configuration reloaded (generation %llu, %zu list entries)",
                        (unsigned long long)s->generation, entries);
        }
    }
    mw_errlist_deinit(&s->pending_errs);
    if (s->stopping)
        return;
    mw_sd_notify("READY=1");
    if (s->reload_again) {
        s->reload_again = false;
        s->lists_again = false;
        reload(s);
    } else if (s->lists_again) {
        s->lists_again = false;
        reload_lists(s);
    }
}

static int queue_build(struct mw_server *s, struct mw_config *cfg)
{
    s->pending_cfg = cfg;
    s->build_cfg = cfg ? cfg : s->snap->cfg;
    s->build_prev = s->files ? mw_lists_ref(s->files) : NULL;
    s->pending_warnings = 0;
    s->reloading = true;
    s->reload_work.data = s;
    int rc = uv_queue_work(s->loop, &s->reload_work, reload_work, reload_done);
    if (rc < 0) {
        mw_lists_unref(s->build_prev);
        s->build_prev = NULL;
        s->reloading = false;
        s->pending_cfg = NULL;
        mw_config_free(cfg);
        mw_errlist_deinit(&s->pending_errs);
        mw_log_error("server", "reload failed: cannot queue the list build");
        reload_result(s, false);
    }
    return rc;
}

static void reload_lists(struct mw_server *s)
{
    if (s->reloading) {
        s->lists_again = true;
        return;
    }
    mw_errlist_init(&s->pending_errs);
    queue_build(s, NULL);
}

static void settle_over(uv_timer_t *t)
{
    reload_lists(t->data);
}

static void on_list_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct list_watch *lw = h->data;
    struct mw_server *s = lw->s;
    (void)events;
    if (status < 0 || s->stopping || (filename && strcmp(filename, lw->name) != 0))
        return;
    uv_timer_start(&s->settle, settle_over, 300, 0);
}

static void watch_closed(uv_handle_t *h)
{
    free(h->data);
}

static void unwatch_lists(struct mw_server *s)
{
    while (s->watches) {
        struct list_watch *lw = s->watches;
        s->watches = lw->next;
        uv_close((uv_handle_t *)&lw->h, watch_closed);
    }
}

static void watch_lists(struct mw_server *s)
{
    unwatch_lists(s);
    const struct mw_config *cfg = s->snap->cfg;
    for (size_t i = 0; i < cfg->n_lists; i++) {
        const struct mw_list_conf *lc = &cfg->lists[i];
        const char *slash = strrchr(lc->path, '/');
        if (!lc->enabled || !slash)
            continue;
        struct list_watch *lw = calloc(1, sizeof(*lw) + strlen(slash + 1) + 1);
        char *dir = strndup(lc->path, (size_t)(slash - lc->path));
        if (!lw || !dir) {
            free(lw);
            free(dir);
            continue;
        }
        strcpy(lw->name, slash + 1);
        lw->s = s;
        uv_fs_event_init(s->loop, &lw->h);
        lw->h.data = lw;
        if (uv_fs_event_start(&lw->h, on_list_event, *dir ? dir : "/", 0) < 0)
            mw_log_warn("lists", "%s: cannot watch for changes; reload with SIGHUP", lc->path);
        lw->next = s->watches;
        s->watches = lw;
        free(dir);
    }
}

static void reload(struct mw_server *s)
{
    if (s->reloading) {
        s->reload_again = true;
        return;
    }
    mw_errlist_init(&s->pending_errs);
    struct mw_config *cfg = mw_server_load_config(s->o, &s->pending_errs);
    if (!cfg) {
        log_errors(&s->pending_errs);
        mw_log_error("server", "reload failed (%zu errors); keeping the running configuration",
                     s->pending_errs.n);
        reload_result(s, false);
        mw_errlist_deinit(&s->pending_errs);
        return;
    }
    queue_build(s, cfg);
}

static void stop(struct mw_server *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    mw_sd_notify("STOPPING=1");
    if (s->n_workers)
        mw_log_info("server", "stopping");
    for (unsigned i = 0; i < s->n_workers; i++)
        mw_worker_stop(s->workers[i]);
    /* The signal handles stay installed (unreferenced, so the loop can end) until the very
     * end: closing them would restore the default action, and a second SIGTERM during the
     * grace period would then kill the process instead of being ignored. */
    uv_unref((uv_handle_t *)&s->sig_term);
    uv_unref((uv_handle_t *)&s->sig_int);
    uv_unref((uv_handle_t *)&s->sig_hup);
    uv_close((uv_handle_t *)&s->settle, NULL);
    if (s->rs) {
        mw_rsync_close(s->rs, NULL, NULL);
        s->rs = NULL;
    }
    mw_events_close(s->ev); /* freed once the workers, its producers, are stopped */
    mw_nodsvc_stop(s->nod); /* its Redis connection; the rest closes after the workers */
    mw_hostwatch_close(s->hw);
    s->hw = NULL;
    mw_prober_close(s->prober);
    s->prober = NULL;
    if (s->httpd) {
        mw_httpd_close(s->httpd, NULL, NULL);
        s->httpd = NULL;
    }
    mw_ctlapi_close(s->ctl);
    s->ctl = NULL;
    unwatch_lists(s);
}

/* SIGHUP, or minewall-ctl reload. */
static void hup(struct mw_server *s)
{
    mw_sd_notify("RELOADING=1");
    if (s->jlog)
        mw_jlog_reopen(s->jlog);
    if (s->qlog)
        mw_qlogw_reopen(s->qlog);
    reload(s);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct mw_server *s = h->data;
    if (signum == SIGHUP) {
        if (!s->stopping) /* nothing to reload on the way down, or before a start is through */
            hup(s);
    } else
        stop(s);
}

/* ---- what the control API borrows (ctlapi.h) ---- */

static struct mw_snapshot *ctl_snapshot(void *arg)
{
    return ((struct mw_server *)arg)->snap;
}

static struct mw_journal_queue *ctl_journal(void *arg)
{
    struct mw_server *s = arg;
    return s->jlog ? mw_jlog_queue(s->jlog) : NULL;
}

static size_t ctl_synced(void *arg, struct mw_rlist *const **out)
{
    struct mw_server *s = arg;
    return s->rs ? mw_rsync_lists(s->rs, out) : 0;
}

static void ctl_reload(void *arg)
{
    hup(arg);
}

static bool ctl_reloading(void *arg)
{
    return ((struct mw_server *)arg)->reloading;
}

static void ctl_counts(void *arg, uint64_t *ok, uint64_t *failed, bool *last_failed,
                       uint64_t *uptime_s)
{
    struct mw_server *s = arg;
    *ok = s->reloads_ok;
    *failed = s->reloads_failed;
    *last_failed = s->last_reload_failed;
    *uptime_s = (uv_now(s->loop) - s->started_ms) / 1000;
}

static int start_control(struct mw_server *s)
{
    struct mw_ctlapi_env env = {
        .loop = s->loop,
        .workers = s->workers,
        .n_workers = s->n_workers,
        .host = s->host,
        .arg = s,
        .snapshot = ctl_snapshot,
        .journal = ctl_journal,
        .synced = ctl_synced,
        .reload = ctl_reload,
        .reloading = ctl_reloading,
        .counts = ctl_counts,
    };
    return mw_ctlapi_new(&env, s->snap->cfg, &s->ctl);
}

static void stop_workers(struct mw_server *s)
{
    for (unsigned i = 0; i < s->n_workers; i++)
        mw_worker_stop(s->workers[i]);
    for (unsigned i = 0; i < s->n_workers; i++) {
        mw_worker_join(s->workers[i]);
        free(s->workers[i]);
    }
    free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
    mw_cache_free(s->cache);
    s->cache = NULL;
}

static int start_workers(struct mw_server *s)
{
    unsigned n = s->snap->cfg->threads ? s->snap->cfg->threads : 1;
    int prc = probe_listen(NULL, s->snap->cfg);
    if (prc < 0)
        return prc;
    if (n > 1 && !mw_listener_group_private())
        mw_log_warn("server",
                    "threads: %u without CAP_SETUID: processes of uid %ld could join "
                    "the listen sockets (SO_REUSEPORT)",
                    n, (long)geteuid());
    /* One cache for the process (cache.size and cache.max-bytes are its bounds), in shards so
     * that workers rarely wait for one another; the shard count is fixed here, at start. */
    struct mw_cache_params cp;
    mw_worker_cache_params(s->snap->cfg, &cp);
    cp.shards = mw_cache_shards_for(n, cp.max_entries);
    cp.one_thread = n == 1; /* one worker: every cache call is on its thread, no locks */
    s->cache = mw_cache_new(&cp);
    s->workers = calloc(n, sizeof(*s->workers));
    if (!s->workers || !s->cache)
        return -ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        /* Workers are large (scratch buffers) and must not move: one allocation each. */
        struct mw_worker *w = calloc(1, sizeof(*w));
        if (!w)
            return -ENOMEM;
        const struct mw_addr *bad = NULL;
        int rc = mw_worker_init(w, i, s->snap, s->cache, &bad);
        if (rc < 0) {
            char a[64] = "?";
            if (bad)
                mw_addr_format(bad, a, sizeof(a));
            mw_log_error("server", "cannot listen on %s: %s", a, uv_strerror(rc));
            free(w);
            return rc;
        }
        s->workers[s->n_workers++] = w;
    }
    const struct mw_config *cfg = s->snap->cfg;
    if (cfg->metrics.enabled) {
        int hrc = mw_httpd_new(s->loop, &cfg->metrics.listen, on_http, s, &s->httpd);
        if (hrc < 0) {
            char a[64];
            mw_addr_format(&cfg->metrics.listen, a, sizeof(a));
            mw_log_error("server", "metrics: cannot listen on %s: %s", a, uv_strerror(hrc));
            return hrc;
        }
    }
    /* The control socket before the privilege drop: /run/minewall is root's. */
    int crc = start_control(s);
    if (crc < 0)
        return crc;
    /* Every socket is bound: leave root before any worker thread runs. */
    char why[512] = "";
    int rc = mw_privdrop(s->snap->cfg, why, sizeof(why));
    if (rc == 0)
        rc = mw_privdrop_check_files(s->snap->cfg, why, sizeof(why));
    if (rc < 0) {
        mw_log_error("server", "%s", why);
        return rc;
    }
    /* Each worker knows the others, to tell them of the fetches they wait on (cache marks). */
    for (unsigned i = 0; i < s->n_workers; i++) {
        s->workers[i]->siblings = s->workers;
        s->workers[i]->n_siblings = s->n_workers;
    }
    for (unsigned i = 0; i < s->n_workers; i++) {
        rc = mw_worker_start(s->workers[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* After the workers are gone: remove the handlers and let the loop run their closes. */
static void close_signals(struct mw_server *s)
{
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_hup, NULL);
    uv_run(s->loop, UV_RUN_DEFAULT);
}

/* After the loop has run out: the one way down, for a start that failed and for a stop. */
static int teardown(struct mw_server *s)
{
    stop_workers(s);
    mw_qlogw_free(s->qlog);  /* after the workers: they fill its rings; writes what is queued */
    mw_tap_free(s->tap);     /* after the workers: they queue frames; flushes to a reader */
    mw_nodsvc_close(s->nod); /* after the workers, before the journal it writes to */
    if (s->jlog)
        mw_jlog_close(s->jlog); /* after the workers: they push into its queue */
    close_signals(s);           /* runs the loop to its end: the publisher's close is through */
    mw_nodsvc_free(s->nod);
    mw_events_free(s->ev);
    mw_geo_free(s->jgeo);
    mw_snapshot_unref(s->snap);
    mw_lists_unref(s->files);
    mw_regdom_free(s->regdom); /* after the last generation that borrowed it */
    return uv_loop_close(s->loop) == 0 ? 0 : 3;
}

/* A start that failed after the signal handlers were installed: what exists goes down the
 * same way as on a stop. */
static int fail_start(struct mw_server *s, int code)
{
    stop(s);
    uv_run(s->loop, UV_RUN_DEFAULT);
    teardown(s);
    return code;
}

int mw_server_run(const struct mw_overrides *o)
{
    struct mw_server s = {.loop = uv_default_loop(), .o = o};
    if (gethostname(s.host, sizeof(s.host) - 1) < 0)
        snprintf(s.host, sizeof(s.host), "unknown");
    signal(SIGPIPE, SIG_IGN);
    /* Handlers first: a signal that arrives once the workers answer must find them (libuv
     * queues it until the loop runs), and every failed start goes down through fail_start. */
    uv_signal_init(s.loop, &s.sig_term);
    uv_signal_init(s.loop, &s.sig_int);
    uv_signal_init(s.loop, &s.sig_hup);
    uv_timer_init(s.loop, &s.settle);
    s.settle.data = &s;
    s.sig_term.data = s.sig_int.data = s.sig_hup.data = &s;
    uv_signal_start(&s.sig_term, on_signal, SIGTERM);
    uv_signal_start(&s.sig_int, on_signal, SIGINT);
    uv_signal_start(&s.sig_hup, on_signal, SIGHUP);
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    struct mw_config *cfg = mw_server_load_config(o, &errs);
    if (!cfg) {
        log_errors(&errs);
        mw_errlist_deinit(&errs);
        return fail_start(&s, 1);
    }
    mw_log_set_level(cfg->log_level);
    mw_errlist_deinit(&errs);
    mw_errlist_init(&errs);
    size_t warnings = 0;
    struct mw_lists *lists = mw_lists_build(cfg, s.generation + 1, &errs, &warnings);
    if (!lists) {
        log_errors(&errs);
        mw_log_error("server", "cannot load the lists; not starting");
        mw_errlist_deinit(&errs);
        mw_config_free(cfg);
        return fail_start(&s, 1);
    }
    s.regdom = mw_regdom_new(NULL);
    if (s.regdom)
        mw_log_info("server", "public suffix list: %s", mw_regdom_source(s.regdom));
    else
        mw_log_warn("server", "no public suffix list: every name counts as public");
    lists->regdom = s.regdom;
    log_list_warnings(&errs);
    mw_errlist_deinit(&errs);
    struct mw_blocklog *bl = NULL;
    if (blocklog_for(cfg, NULL, &bl) < 0) {
        mw_lists_unref(lists);
        mw_config_free(cfg);
        return fail_start(&s, 1);
    }
    if (cfg->redis.url) {
        char why[256] = "";
        if (mw_rsync_new(s.loop, cfg, on_rsync_change, &s, &s.rs, why, sizeof(why)) < 0 ||
            mw_events_new(s.loop, cfg, s.host, &s.ev, why, sizeof(why)) < 0) {
            mw_log_error("redis", "%s", why);
            mw_blocklog_unref(bl);
            mw_lists_unref(lists);
            mw_config_free(cfg);
            return fail_start(&s, 1);
        }
    }
    struct mw_lists *files = lists;
    lists = combine(&s, files, s.generation + 1, cfg);
    mw_lists_unref(files);
    if (!lists) {
        mw_blocklog_unref(bl);
        mw_config_free(cfg);
        return fail_start(&s, 3);
    }
    for (uint16_t i = 0; i < lists->n_lists; i++) {
        mw_log_info("lists", "%s (%s, %s): %zu entries from %s", lists->lists[i].name,
                    lists->lists[i].category,
                    lists->lists[i].allow ? "allow" : mw_action_name(lists->lists[i].action),
                    lists->lists[i].entries, lists->lists[i].path);
        if (lists->lists[i].exceptions)
            mw_log_warn("lists",
                        "%s: %zu exception rules (@@, rpz-passthru) allow their names "
                        "against every list",
                        lists->lists[i].name, lists->lists[i].exceptions);
    }
    s.snap = mw_snapshot_new(cfg, lists, bl, ++s.generation);
    if (!s.snap)
        return fail_start(&s, 3);
    if (!(s.snap->box->health = mw_health_build(s.snap->cfg, NULL, uv_now(s.loop))))
        return fail_start(&s, 3);
    s.snap->events = s.ev;
    if (start_journal(&s) < 0)
        return fail_start(&s, 1);
    s.snap->journal = s.jlog ? mw_jlog_queue(s.jlog) : NULL;
    s.snap->jgeo = s.jgeo;
    s.snap->host = s.host;
    if (start_tap(&s) < 0)
        return fail_start(&s, 1);
    s.snap->tap = s.tap;
    if (cfg->detect.new_domains.enabled) {
        char why[256] = "";
        if (mw_nodsvc_new(s.loop, cfg, s.host, s.snap->journal, s.ev, s.jgeo, &s.nod, why,
                          sizeof(why)) < 0) {
            mw_log_error("nod", "%s", why);
            return fail_start(&s, 1);
        }
        s.snap->nod = s.nod;
    }
    s.started_ms = uv_now(s.loop);
    s.lists_loaded_unix = (uint64_t)time(NULL);
    /* Watch the list files before the workers answer: a change made as soon as minewall
     * answers must not fall before the watch exists. */
    watch_lists(&s);
    /* As the block log: a query log asked for and not writable stops the start (exit 1). */
    bool qlog_failed = s.snap->cfg->querylog.path && !(s.snap->qlog = qlog_for(&s, s.snap->cfg));
    int rc = qlog_failed ? -EACCES : start_workers(&s);
    if (rc < 0)
        return fail_start(&s, qlog_failed ? 1 : 3);
    if (mw_prober_new(s.loop, &s.prober) == 0)
        mw_prober_set(s.prober, s.snap);
    else
        mw_log_error("upstr", "out of memory: no upstream health checks");
    if (s.rs && mw_rsync_start(s.rs) < 0)
        mw_log_error("redis", "cannot start the Redis sync; enforcing the saved lists");
    if (s.ev && mw_events_start(s.ev) < 0)
        mw_log_error("redis", "cannot start the events publisher; events are dropped");
    if (s.nod && mw_nodsvc_start(s.nod) < 0)
        mw_log_error("nod", "cannot start the fleet check of new domains; local only");
    log_ready(&s);
    mw_sd_notify("READY=1");
    mw_log_info("server", "minewall %s ready (%u worker%s)", MW_VERSION, s.n_workers,
                s.n_workers == 1 ? "" : "s");
    uv_run(s.loop, UV_RUN_DEFAULT);
    rc = teardown(&s);
    mw_log_info("server", "stopped");
    return rc;
}
