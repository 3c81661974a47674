/* The newly-observed-domain detector's shell; see nodsvc.h. Three pieces of state are shared
 * with the workers: the filter (atomic bits, nod.c), the report queue (two arrays swapped under
 * a mutex, as the events publisher's) and the timed blocks (a small open-addressing table under
 * a mutex, consulted only while some block is in force: blocks_until is the latest end of any
 * block, read with one atomic load on the miss path). Everything else belongs to the control
 * loop. */
#include "minewall/nodsvc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/events.h"
#include "minewall/geo.h"
#include "minewall/hash.h"
#include "minewall/httpd.h"
#include "minewall/journal.h"
#include "minewall/log.h"
#include "minewall/nod.h"
#include "minewall/nodevent.h"
#include "minewall/rconn.h"
#include "minewall/redisurl.h"

#define TICK_MS 1000 /* rotation, the day, the periodic save; reports wake the loop */
/* After a wakeup the loop drains the queue again every POLL_MS while reports keep coming, and
 * workers do not wake it meanwhile: at most 1000 / POLL_MS wakeups a second however many new
 * domains arrive (each wakeup is a context switch and an eventfd round trip, more than a
 * report costs), events at most POLL_MS late, and an idle resolver still never woken. */
#define POLL_MS 20
#define PROBES 16 /* slots of the block table looked at per name */
#define DAY_S 86400

/* New when SADD added it to today's set and no earlier day's set holds it. EXPIRE on every
 * call keeps the day set for fleet-days after its last write. */
static const char SCRIPT[] = "local n = redis.call('SADD', KEYS[1], ARGV[1]) "
                             "redis.call('EXPIRE', KEYS[1], ARGV[2]) "
                             "if n == 0 then return 0 end "
                             "for i = 2, #KEYS do "
                             "if redis.call('SISMEMBER', KEYS[i], ARGV[1]) == 1 then return 0 end "
                             "end "
                             "return 1";

struct slot {
    uint64_t key; /* hash of the domain; 0: empty */
    uint64_t until;
};

/* A fleet check in flight. */
struct pend {
    struct mw_nodsvc *s;
    struct mw_nod_event e;
};

struct mw_nodsvc {
    uv_loop_t *loop;
    char host[256];
    char path[4096];
    struct mw_nod *nod;               /* owned */
    struct mw_journal_queue *journal; /* borrowed, may be NULL */
    struct mw_events *ev;             /* borrowed, may be NULL */
    const struct mw_geo *geo;         /* borrowed, may be NULL */
    struct mw_rconn *conn;            /* owned; NULL without the fleet check */
    uint32_t fleet_days, max_in_flight;
    uint64_t save_ms;
    uv_timer_t timer;
    uv_async_t wake; /* a worker queued the first report of a batch */
    uv_timer_t poll; /* the drains after a wakeup, while reports come */
    unsigned open;   /* the timers, the async and the rconn, until their close callbacks */
    bool closing;
    bool stopped; /* the fleet connection is closing: no more checks */
    /* Saving on the thread pool: one at a time; the close saves once more after it. */
    uv_work_t save_req;
    bool saving, save_at_end;
    int save_rc;
    uint64_t last_save_ms, saved_sig;
    long day; /* days since the epoch (UTC) of the today filter */

    pthread_mutex_t mu;         /* guards q, n_q, q_dropped, polling */
    struct mw_nod_event *q;     /* owned, MW_NODSVC_QUEUE: filled by workers */
    struct mw_nod_event *batch; /* owned, MW_NODSVC_QUEUE: drained by the loop */
    size_t n_q;
    uint64_t q_dropped;
    bool polling; /* a wakeup was sent and the poll timer drains until the queue stays empty */

    pthread_mutex_t bmu; /* guards blocks and blocks_evicted */
    struct slot *blocks; /* owned, MW_NODSVC_BLOCKS */
    uint64_t bseed;
    uint64_t blocks_evicted;
    _Atomic uint64_t blocks_until; /* the latest end of any block */

    struct mw_nod_event *backlog; /* owned, MW_NODSVC_BACKLOG: fleet checks not yet sent */
    size_t bl_head, bl_n;
    struct mw_nodsvc_stats st; /* loop side */
    char line[4096];           /* the loop's event line */
    long keys_day;             /* the day (since the epoch, UTC) keys[] were made for, -1: none */
    char keys[366][32];        /* the fleet check's day set keys, that day first */
    size_t key_len[366];
};

static uint64_t wall_ms(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static uint64_t signature(const struct mw_nod *nod)
{
    struct mw_nod_stats ns;
    mw_nod_stats(nod, &ns);
    return ns.names[0] * 31 + ns.names[1] * 7 + ns.rotations;
}

/* Load the saved filter, or make a new one and say why. */
static int load(struct mw_nodsvc *s, const struct mw_config *cfg)
{
    uint64_t cap = cfg->detect.new_domains.capacity;
    double fp = cfg->detect.new_domains.fp_rate;
    int rc = mw_nod_load(s->path, cap, fp, &s->nod);
    if (rc == 0) {
        struct mw_nod_stats ns;
        mw_nod_stats(s->nod, &ns);
        mw_log_info("nod", "%s: %llu + %llu domains remembered (capacity %llu)", s->path,
                    (unsigned long long)ns.names[0], (unsigned long long)ns.names[1],
                    (unsigned long long)cap);
        s->saved_sig = signature(s->nod);
        return 0;
    }
    if (rc == -ENOENT)
        mw_log_info("nod", "%s: no saved filter; every domain is new once", s->path);
    else if (rc == -ESTALE)
        mw_log_warn("nod", "%s: made for another capacity or fp-rate; starting empty", s->path);
    else if (rc == -EPROTONOSUPPORT)
        mw_log_warn("nod",
                    "%s: a filter of an older format (before the blocked layout); starting "
                    "empty and replacing it: every domain is new once",
                    s->path);
    else
        mw_log_warn("nod", "%s: %s; starting empty and replacing it", s->path,
                    rc == -EBADMSG ? "corrupt or truncated" : strerror(-rc));
    if (rc != -ENOENT)
        s->st.load_failures++;
    if ((rc = mw_nod_new(cap, fp, 0, &s->nod)) < 0)
        return rc;
    /* Written now: a bad file does not stay, and an unwritable directory shows at start. */
    if ((rc = mw_nod_save(s->nod, s->path)) < 0) {
        s->st.save_errors++;
        mw_log_warn("nod", "%s: cannot save: %s", s->path, strerror(-rc));
    }
    return 0;
}

static void on_wake(uv_async_t *a);

int mw_nodsvc_new(uv_loop_t *loop, const struct mw_config *cfg, const char *host,
                  struct mw_journal_queue *journal, struct mw_events *ev, const struct mw_geo *geo,
                  struct mw_nodsvc **out, char *why, size_t why_len)
{
    const char *dir = cfg->detect.new_domains.state_dir;
    struct mw_nodsvc *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->loop = loop;
    snprintf(s->host, sizeof(s->host), "%s", host);
    if ((size_t)snprintf(s->path, sizeof(s->path), "%s/%s", dir, MW_NODSVC_FILE) >=
        sizeof(s->path) - 8) {
        snprintf(why, why_len, "detect.new-domains.state-dir: path too long");
        free(s);
        return -ENAMETOOLONG;
    }
    s->journal = journal;
    s->ev = ev;
    s->geo = geo;
    s->fleet_days = cfg->detect.new_domains.fleet_days;
    s->max_in_flight = cfg->detect.new_domains.max_in_flight;
    s->save_ms = cfg->detect.new_domains.save_ms;
    s->bseed = mw_hash_seed();
    s->q = malloc(MW_NODSVC_QUEUE * sizeof(*s->q));
    s->batch = malloc(MW_NODSVC_QUEUE * sizeof(*s->batch));
    s->blocks = calloc(MW_NODSVC_BLOCKS, sizeof(*s->blocks));
    s->backlog = malloc(MW_NODSVC_BACKLOG * sizeof(*s->backlog));
    int rc = s->q && s->batch && s->blocks && s->backlog ? 0 : -ENOMEM;
    mkdir(dir, 0750); /* an existing directory is fine */
    if (rc == 0)
        rc = load(s, cfg);
    if (rc == 0 && cfg->detect.new_domains.redis && cfg->redis.url) {
        struct mw_redis_url url;
        static const struct mw_rconn_cbs cbs = {0};
        if (mw_redis_url_parse(cfg->redis.url, &url, why, why_len) < 0)
            rc = -EINVAL;
        else if ((rc = mw_rconn_new(loop, &url, &cbs, s, &s->conn)) < 0)
            snprintf(why, why_len, "new-domains: cannot set up the Redis connection: %s",
                     strerror(-rc));
    }
    if (rc == 0 && pthread_mutex_init(&s->mu, NULL) != 0)
        rc = -ENOMEM;
    if (rc == 0 && pthread_mutex_init(&s->bmu, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        rc = -ENOMEM;
    }
    if (rc < 0) {
        if (!*why)
            snprintf(why, why_len, "new-domains: %s", strerror(-rc));
        if (s->conn) {
            /* Never started: closing it runs no callback that needs s. */
            mw_rconn_close(s->conn, NULL);
        }
        mw_nod_free(s->nod);
        free(s->q);
        free(s->batch);
        free(s->blocks);
        free(s->backlog);
        free(s);
        return rc;
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_async_init(loop, &s->wake, on_wake);
    s->wake.data = s;
    uv_timer_init(loop, &s->poll);
    s->poll.data = s;
    s->open = 3 + (s->conn != NULL);
    s->day = (long)(wall_ms() / 1000 / DAY_S);
    s->keys_day = -1;
    s->last_save_ms = uv_now(loop);
    mw_log_info("nod", "new-domains: %zu bytes of filter, fleet check %s", mw_nod_bytes(s->nod),
                s->conn ? "on" : "off");
    *out = s;
    return 0;
}

struct mw_nod *mw_nodsvc_filter(struct mw_nodsvc *s)
{
    return s->nod;
}

bool mw_nodsvc_fleet(const struct mw_nodsvc *s)
{
    return s->conn != NULL;
}

void mw_nodsvc_report(struct mw_nodsvc *s, const struct mw_nod_event *e)
{
    bool first = false;
    pthread_mutex_lock(&s->mu);
    if (s->n_q == MW_NODSVC_QUEUE || s->closing) {
        s->q_dropped++;
    } else {
        first = s->n_q == 0 && !s->polling;
        s->polling = s->polling || first;
        s->q[s->n_q++] = *e;
    }
    pthread_mutex_unlock(&s->mu);
    /* One wakeup per batch and per POLL_MS at most: the loop takes everything queued until it
     * runs, then polls while reports come. An idle resolver is not woken at all. */
    if (first)
        uv_async_send(&s->wake);
}

/* ---- timed blocks ---- */

static uint64_t block_key(const struct mw_nodsvc *s, const uint8_t *name, size_t len)
{
    uint64_t h = mw_hash_bytes(s->bseed, 0x626c6bu, name, len);
    return h ? h : 1;
}

void mw_nodsvc_block(struct mw_nodsvc *s, const uint8_t *name, size_t len, uint64_t now_ms,
                     uint64_t until_ms)
{
    uint64_t key = block_key(s, name, len);
    pthread_mutex_lock(&s->bmu);
    size_t at = key % MW_NODSVC_BLOCKS, pick = at;
    for (size_t i = 0; i < PROBES; i++) {
        struct slot *sl = &s->blocks[(at + i) % MW_NODSVC_BLOCKS];
        if (sl->key == key || sl->key == 0) {
            pick = (at + i) % MW_NODSVC_BLOCKS;
            break;
        }
        /* Else the block ending first gives way (an expired one first of all). */
        if (sl->until < s->blocks[pick].until)
            pick = (at + i) % MW_NODSVC_BLOCKS;
    }
    struct slot *sl = &s->blocks[pick];
    if (sl->key && sl->key != key && sl->until > now_ms)
        s->blocks_evicted++; /* a block still in force, cut short */
    sl->key = key;
    sl->until = until_ms;
    if (atomic_load(&s->blocks_until) < until_ms)
        atomic_store(&s->blocks_until, until_ms);
    pthread_mutex_unlock(&s->bmu);
}

bool mw_nodsvc_blocking(const struct mw_nodsvc *s, uint64_t now_ms)
{
    return atomic_load_explicit(&s->blocks_until, memory_order_relaxed) > now_ms;
}

bool mw_nodsvc_blocked(struct mw_nodsvc *s, const uint8_t *name, size_t len, uint64_t now_ms)
{
    uint64_t key = block_key(s, name, len);
    bool hit = false;
    pthread_mutex_lock(&s->bmu);
    size_t at = key % MW_NODSVC_BLOCKS;
    for (size_t i = 0; i < PROBES; i++) {
        const struct slot *sl = &s->blocks[(at + i) % MW_NODSVC_BLOCKS];
        if (sl->key == key) {
            hit = sl->until > now_ms;
            break;
        }
    }
    pthread_mutex_unlock(&s->bmu);
    return hit;
}

/* ---- events and the fleet check (control loop) ---- */

static void emit(struct mw_nodsvc *s, const struct mw_nod_event *e, const char *scope)
{
    if (!s->journal && !s->ev)
        return; /* counted by the caller; nowhere to write it */
    struct mw_geo_info gi, *g = NULL;
    if (s->geo && e->family && mw_geo_lookup(s->geo, e->family, e->addr, &gi) == 0)
        g = &gi;
    int n = mw_nod_event_format(s->line, sizeof(s->line), s->host, e, scope, g);
    if (n <= 0) {
        s->st.events_dropped++;
        return;
    }
    if (s->journal) {
        if (mw_journal_queue_push(s->journal, MW_JOURNAL_NEW_DOMAIN, s->line, (size_t)n) < 0)
            s->st.events_dropped++;
    } else if (s->ev) {
        struct mw_routing_event re = {
            .type = MW_JOURNAL_NEW_DOMAIN, .json = s->line, .len = (size_t)n - 1};
        mw_events_routing(s->ev, &re);
    }
}

static void pump(struct mw_nodsvc *s);

static void on_check(const redisReply *r, void *privdata)
{
    struct pend *p = privdata;
    struct mw_nodsvc *s = p->s;
    s->st.redis_in_flight--;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        s->st.redis_errors++;
    } else if (r->integer == 1 && p->e.local_new && !s->closing) {
        s->st.new_fleet++;
        emit(s, &p->e, "fleet");
    }
    free(p);
    pump(s); /* a slot is free */
}

/* The day sets' keys of the day of unix second t: made once a day, not per check (30
 * gmtime_r and strftime calls were about 31,000 instructions a check). */
static void day_keys(struct mw_nodsvc *s, time_t t)
{
    long day = (long)(t / DAY_S);
    if (day == s->keys_day)
        return;
    s->keys_day = day;
    for (uint32_t d = 0; d < s->fleet_days; d++) {
        time_t k = t - (time_t)d * DAY_S;
        struct tm tm;
        gmtime_r(&k, &tm);
        s->key_len[d] = strftime(s->keys[d], sizeof(s->keys[d]), "minewall:nod:%Y%m%d", &tm);
    }
}

/* One EVAL: today's set and the fleet_days - 1 days before it. */
static void check_fleet(struct mw_nodsvc *s, const struct mw_nod_event *e)
{
    char domain[MW_DNAME_MAX * 4 + 2], ttl[24], nk[8];
    const char *argv[3 + 366 + 2];
    size_t lens[3 + 366 + 2];
    int argc = 0;
    size_t off = e->regdom_off < e->qname_len ? e->regdom_off : 0;
    int dl = mw_dname_to_text(e->qname + off, e->qname_len - off, domain, sizeof(domain));
    if (dl < 0)
        return;
    day_keys(s, (time_t)(e->wall_ms / 1000));
    int nkl = snprintf(nk, sizeof(nk), "%u", (unsigned)s->fleet_days);
    int ttll = snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)s->fleet_days * DAY_S);
    lens[argc] = 4;
    argv[argc++] = "EVAL";
    lens[argc] = sizeof(SCRIPT) - 1;
    argv[argc++] = SCRIPT;
    lens[argc] = (size_t)nkl;
    argv[argc++] = nk;
    for (uint32_t d = 0; d < s->fleet_days; d++) {
        lens[argc] = s->key_len[d];
        argv[argc++] = s->keys[d];
    }
    lens[argc] = (size_t)dl;
    argv[argc++] = domain;
    lens[argc] = (size_t)ttll;
    argv[argc++] = ttl;
    struct pend *p = malloc(sizeof(*p));
    if (!p) {
        s->st.redis_dropped++;
        return;
    }
    p->s = s;
    p->e = *e;
    if (mw_rconn_command_argv(s->conn, on_check, p, argc, argv, lens) < 0) {
        free(p);
        s->st.redis_dropped++;
        return;
    }
    s->st.redis_in_flight++;
}

/* Send checks from the backlog while fewer than max_in_flight wait for Redis. */
static void pump(struct mw_nodsvc *s)
{
    while (s->bl_n && s->st.redis_in_flight < s->max_in_flight && !s->stopped &&
           mw_rconn_is_up(s->conn)) {
        const struct mw_nod_event *e = &s->backlog[s->bl_head];
        s->bl_head = (s->bl_head + 1) % MW_NODSVC_BACKLOG;
        s->bl_n--;
        check_fleet(s, e);
    }
}

/* Queue a fleet check: dropped (and counted) while Redis is away or the backlog is full. */
static void want_check(struct mw_nodsvc *s, const struct mw_nod_event *e)
{
    if (!mw_rconn_is_up(s->conn) || s->bl_n == MW_NODSVC_BACKLOG) {
        s->st.redis_dropped++;
        return;
    }
    s->backlog[(s->bl_head + s->bl_n) % MW_NODSVC_BACKLOG] = *e;
    s->bl_n++;
}

static void drain(struct mw_nodsvc *s, bool fleet)
{
    pthread_mutex_lock(&s->mu);
    struct mw_nod_event *b = s->q;
    size_t n = s->n_q;
    s->q = s->batch;
    s->batch = b;
    s->n_q = 0;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        const struct mw_nod_event *e = &s->batch[i];
        if (e->local_new) {
            s->st.new_local++;
            emit(s, e, "local");
        }
        if (fleet && s->conn && !s->stopped)
            want_check(s, e);
    }
    if (fleet && s->conn)
        pump(s);
}

static void save_work(uv_work_t *req)
{
    struct mw_nodsvc *s = req->data;
    s->save_rc = mw_nod_save(s->nod, s->path);
}

static void save_sync(struct mw_nodsvc *s)
{
    int rc = mw_nod_save(s->nod, s->path);
    if (rc < 0) {
        s->st.save_errors++;
        mw_log_warn("nod", "%s: cannot save: %s", s->path, strerror(-rc));
    } else {
        s->st.saves++;
    }
}

static void save_done(uv_work_t *req, int status)
{
    struct mw_nodsvc *s = req->data;
    s->saving = false;
    if (status == 0 && s->save_rc == 0) {
        s->st.saves++;
    } else {
        s->st.save_errors++;
        mw_log_warn("nod", "%s: cannot save: %s", s->path,
                    strerror(status < 0 ? -status : -s->save_rc));
    }
    if (s->save_at_end)
        save_sync(s); /* the close came while this save ran: the final state too */
}

static void on_poll(uv_timer_t *t)
{
    struct mw_nodsvc *s = t->data;
    if (s->closing)
        return;
    pthread_mutex_lock(&s->mu);
    bool more = s->n_q > 0;
    s->polling = more; /* nothing came: the next report wakes the loop again */
    pthread_mutex_unlock(&s->mu);
    if (!more)
        return;
    drain(s, true);
    uv_timer_start(&s->poll, on_poll, POLL_MS, 0);
}

static void on_wake(uv_async_t *a)
{
    struct mw_nodsvc *s = a->data;
    if (s->closing)
        return;
    drain(s, true);
    uv_timer_start(&s->poll, on_poll, POLL_MS, 0);
}

static void tick(uv_timer_t *t)
{
    struct mw_nodsvc *s = t->data;
    drain(s, true);
    /* Once a second: rotation, the day of the today filter, and the periodic save. */
    if (mw_nod_maintain(s->nod))
        mw_log_info("nod", "filter generation full: the oldest half of the domains forgotten");
    long day = (long)(wall_ms() / 1000 / DAY_S);
    if (day != s->day) {
        s->day = day;
        mw_nod_new_day(s->nod);
    }
    uint64_t now = uv_now(s->loop), sig = signature(s->nod);
    if (!s->saving && sig != s->saved_sig && now - s->last_save_ms >= s->save_ms) {
        s->saved_sig = sig;
        s->last_save_ms = now;
        s->save_req.data = s;
        if (uv_queue_work(s->loop, &s->save_req, save_work, save_done) == 0)
            s->saving = true;
    }
}

int mw_nodsvc_start(struct mw_nodsvc *s)
{
    uv_timer_start(&s->timer, tick, TICK_MS, TICK_MS);
    return s->conn ? mw_rconn_start(s->conn) : 0;
}

static void closed_one(void *arg)
{
    struct mw_nodsvc *s = arg;
    s->open--;
}

static void handle_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

void mw_nodsvc_stop(struct mw_nodsvc *s)
{
    if (!s || s->stopped)
        return;
    s->stopped = true;
    uv_unref((uv_handle_t *)&s->timer);
    uv_unref((uv_handle_t *)&s->wake);
    uv_unref((uv_handle_t *)&s->poll);
    if (s->conn)
        mw_rconn_close(s->conn, closed_one);
}

void mw_nodsvc_close(struct mw_nodsvc *s)
{
    if (!s || s->closing)
        return;
    mw_nodsvc_stop(s);
    drain(s, false); /* the events still queued; no new fleet check */
    pthread_mutex_lock(&s->mu);
    s->closing = true;
    pthread_mutex_unlock(&s->mu);
    if (s->saving)
        s->save_at_end = true;
    else
        save_sync(s);
    uv_close((uv_handle_t *)&s->timer, handle_closed);
    uv_close((uv_handle_t *)&s->wake, handle_closed);
    uv_close((uv_handle_t *)&s->poll, handle_closed);
}

void mw_nodsvc_free(struct mw_nodsvc *s)
{
    if (!s || s->open || s->saving)
        return; /* never before the loop closed the handles and the save is through */
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->bmu);
    mw_nod_free(s->nod);
    free(s->q);
    free(s->batch);
    free(s->blocks);
    free(s->backlog);
    free(s);
}

bool mw_nodsvc_restart_needed(const struct mw_config *old, const struct mw_config *cfg)
{
    const __typeof__(old->detect.new_domains) *a = &old->detect.new_domains,
                                              *b = &cfg->detect.new_domains;
    if (!a->enabled && !b->enabled)
        return false;
    return a->enabled != b->enabled || a->capacity != b->capacity || a->fp_rate != b->fp_rate ||
           a->redis != b->redis || a->fleet_days != b->fleet_days ||
           a->max_in_flight != b->max_in_flight || a->save_ms != b->save_ms ||
           strcmp(a->state_dir ? a->state_dir : "", b->state_dir ? b->state_dir : "") != 0;
}

void mw_nodsvc_stats(struct mw_nodsvc *s, struct mw_nodsvc_stats *out)
{
    *out = s->st;
    pthread_mutex_lock(&s->mu);
    out->queue_dropped = s->q_dropped;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&s->bmu);
    out->blocks_evicted = s->blocks_evicted;
    pthread_mutex_unlock(&s->bmu);
}

void mw_nodsvc_metrics(struct mw_nodsvc *s, struct mw_http_response *r)
{
    if (!s)
        return;
    struct mw_nodsvc_stats st;
    struct mw_nod_stats ns;
    mw_nodsvc_stats(s, &st);
    mw_nod_stats(s->nod, &ns);
    mw_http_body_printf(
        r,
        "# HELP minewall_new_domains_total Registered domains new to this resolver (local) or "
        "to the fleet (fleet).\n"
        "# TYPE minewall_new_domains_total counter\n"
        "minewall_new_domains_total{scope=\"local\"} %llu\n"
        "minewall_new_domains_total{scope=\"fleet\"} %llu\n"
        "# HELP minewall_new_domains_filter_fill Fraction of the bits set in the current and "
        "previous generation of the filter (about 0.5 when a generation is full).\n"
        "# TYPE minewall_new_domains_filter_fill gauge\n"
        "minewall_new_domains_filter_fill{generation=\"current\"} %.9g\n"
        "minewall_new_domains_filter_fill{generation=\"previous\"} %.9g\n"
        "# HELP minewall_new_domains_remembered Domains added to each generation of the filter.\n"
        "# TYPE minewall_new_domains_remembered gauge\n"
        "minewall_new_domains_remembered{generation=\"current\"} %llu\n"
        "minewall_new_domains_remembered{generation=\"previous\"} %llu\n"
        "# HELP minewall_new_domains_redis_in_flight Fleet checks sent and not yet answered.\n"
        "# TYPE minewall_new_domains_redis_in_flight gauge\n"
        "minewall_new_domains_redis_in_flight %llu\n"
        "# HELP minewall_new_domains_dropped_total Work not done, by reason: redis (a fleet check "
        "while Redis is away or over the backlog), queue (reports over the queue bound), "
        "event (lines the journal refused), block (timed blocks pushed out of a full table).\n"
        "# TYPE minewall_new_domains_dropped_total counter\n"
        "minewall_new_domains_dropped_total{reason=\"redis\"} %llu\n"
        "minewall_new_domains_dropped_total{reason=\"queue\"} %llu\n"
        "minewall_new_domains_dropped_total{reason=\"event\"} %llu\n"
        "minewall_new_domains_dropped_total{reason=\"block\"} %llu\n"
        "# HELP minewall_new_domains_redis_errors_total Fleet checks answered by an error or "
        "lost with the connection.\n"
        "# TYPE minewall_new_domains_redis_errors_total counter\n"
        "minewall_new_domains_redis_errors_total %llu\n"
        "# HELP minewall_new_domains_saves_total Saves of the filter file by result.\n"
        "# TYPE minewall_new_domains_saves_total counter\n"
        "minewall_new_domains_saves_total{result=\"ok\"} %llu\n"
        "minewall_new_domains_saves_total{result=\"failed\"} %llu\n",
        (unsigned long long)st.new_local, (unsigned long long)st.new_fleet, ns.fill[0], ns.fill[1],
        (unsigned long long)ns.names[0], (unsigned long long)ns.names[1],
        (unsigned long long)st.redis_in_flight, (unsigned long long)st.redis_dropped,
        (unsigned long long)st.queue_dropped, (unsigned long long)st.events_dropped,
        (unsigned long long)st.blocks_evicted, (unsigned long long)st.redis_errors,
        (unsigned long long)st.saves, (unsigned long long)st.save_errors);
}
