/* The control API's actions; see ctlapi.h. Every request goes through handle(): parse (once,
 * control.c), act, answer, record. An action that finishes later (flush, reload on the UNIX
 * socket) keeps its request in a waiter and is recorded when it ends. */
#include "minewall/ctlapi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "minewall/config.h"
#include "minewall/control.h"
#include "minewall/ctlsrv.h"
#include "minewall/explain.h"
#include "minewall/filter.h"
#include "minewall/httpd.h"
#include "minewall/journal.h"
#include "minewall/jsonw.h"
#include "minewall/lists.h"
#include "minewall/log.h"
#include "minewall/qgroup.h"
#include "minewall/rlist.h"
#include "minewall/snapshot.h"
#include "minewall/worker.h"

#define TAG "ctl"
/* The largest answer (an explanation of a name many lists hold, a status with many lists). */
#define BODY_MAX (1u << 20)
/* How long the workers may take to confirm a flush. */
#define FLUSH_WAIT_MS 5000

/* Who asked. */
struct origin {
    const char *via; /* "unix", "http" or "timer" */
    bool get;        /* over HTTP with GET: reports only (an action needs POST) */
    long uid, pid;
    char peer[64];
};

/* A request whose answer comes later. */
struct waiter {
    bool used;
    int skip; /* reloads: ends to let pass (one that was running when this was asked) */
    struct mw_ctl_call *call; /* NULL over HTTP (answered 202 already) */
    struct mw_control_req req;
    struct origin o;
    char line[MW_CONTROL_REQ_MAX + 1];
};

struct mw_ctlapi {
    struct mw_ctlapi_env env;
    struct mw_ctlsrv *srv; /* owned; NULL when the socket could not be made */
    char token[512];
    size_t token_len; /* 0: no control over HTTP */
    uv_timer_t pause_timer, flush_timer;
    uv_async_t notify; /* workers: a flush is done */
    unsigned open;
    bool closing;
    bool paused;
    uint64_t pause_until; /* loop ms */
    /* Groups paused on their own (pause --group G): by name, with their tag (mw_group_tag)
     * and end; the workers get the tags. pause_timer fires at the earliest end of all. */
    struct {
        char name[64];
        uint64_t tag, until;
    } gp[MW_PAUSE_GROUPS];
    unsigned n_gp;
    bool flush_busy;
    uint64_t flush_seq, flushed_before;
    struct waiter flush_w;
    struct waiter reloads[MW_CONTROL_MAX_CONNS + 1];
    uint64_t ok, failed, bad, unauthorized; /* requests by outcome */
    unsigned jobs;                          /* explanations running on the thread pool */
};

/* An explanation for the UNIX socket, run on the thread pool: it builds each list alone,
 * seconds for large lists, which the control loop must not spend. It holds references to the
 * snapshot and the Redis lists it reads. */
struct explain_job {
    uv_work_t work;
    struct mw_ctlapi *c;
    struct mw_ctl_call *call;
    struct mw_control_req req;
    struct mw_snapshot *snap;
    struct mw_rlist **rl;
    size_t nrl;
    int status;
    char *body; /* BODY_MAX */
    size_t len;
};

/* ---- recording ---- */

static void who_text(const struct origin *o, char *buf, size_t cap)
{
    if (strcmp(o->via, "unix") == 0)
        snprintf(buf, cap, "uid %ld pid %ld", o->uid, o->pid);
    else if (strcmp(o->via, "http") == 0)
        snprintf(buf, cap, "http %s", o->peer);
    else
        snprintf(buf, cap, "%s", o->via);
}

/* Log the action and journal it as a "control" event. msg: the answer's text (one line is
 * enough: it is cut at the first newline). */
static void record(struct mw_ctlapi *c, const struct origin *o, const char *cmd, const char *line,
                   bool ok, const char *msg)
{
    char who[96], first[512];
    who_text(o, who, sizeof(who));
    snprintf(first, sizeof(first), "%s", strncmp(msg, "error: ", 7) == 0 ? msg + 7 : msg);
    first[strcspn(first, "\n")] = 0;
    if (strcmp(o->via, "timer") != 0) { /* requests only: the end of a pause is none */
        if (ok)
            c->ok++;
        else
            c->failed++;
    }
    mw_log_info(TAG, "%s: %s: %s%s", who, line, ok ? "" : "failed: ", first);
    struct mw_journal_queue *q = c->env.journal ? c->env.journal(c->env.arg) : NULL;
    if (!q)
        return;
    struct mw_journal_control ev = {
        .via = o->via,
        .uid = o->uid,
        .pid = o->pid,
        .peer = o->peer[0] ? o->peer : NULL,
        .command = cmd,
        .request = line,
        .ok = ok,
        .result = first,
    };
    static char buf[8192];
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    int n = mw_journal_format_control(buf, sizeof(buf),
                                      (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000,
                                      c->env.host, &ev);
    if (n > 0)
        mw_journal_queue_push(q, MW_JOURNAL_CONTROL, buf, (size_t)n);
}

/* Answer a waiter (when it has a caller) and record it. */
static void finish(struct mw_ctlapi *c, struct waiter *w, int status, const char *text)
{
    char body[1024];
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, body, sizeof(body));
    bool ok = status < 300;
    if (ok)
        mw_control_done(&sb, &w->req, text);
    else
        mw_control_error(&sb, w->req.json, text);
    if (w->call)
        mw_ctlsrv_reply(w->call, status, body, sb.len);
    record(c, &w->o, mw_control_cmd_name(w->req.cmd), w->line, ok, text);
    w->used = false;
    w->call = NULL;
}

/* ---- pause ---- */

static void pause_over(uv_timer_t *t);

/* Arm the timer for the earliest end among the pause of everyone and those of groups. */
static void pause_arm(struct mw_ctlapi *c)
{
    uint64_t next = c->paused ? c->pause_until : UINT64_MAX;
    for (unsigned i = 0; i < c->n_gp; i++)
        next = c->gp[i].until < next ? c->gp[i].until : next;
    uint64_t now = uv_now(c->env.loop);
    if (next == UINT64_MAX)
        uv_timer_stop(&c->pause_timer);
    else
        uv_timer_start(&c->pause_timer, pause_over, next > now ? next - now : 0, 0);
}

static void groups_publish(struct mw_ctlapi *c)
{
    uint64_t tags[MW_PAUSE_GROUPS];
    for (unsigned i = 0; i < c->n_gp; i++)
        tags[i] = c->gp[i].tag;
    for (unsigned i = 0; i < c->env.n_workers; i++)
        mw_qgroup_set_paused(c->env.workers[i], tags, c->n_gp);
}

static void set_paused(struct mw_ctlapi *c, bool on, uint64_t ms)
{
    c->paused = on;
    for (unsigned i = 0; i < c->env.n_workers; i++)
        mw_worker_set_paused(c->env.workers[i], on);
    if (on)
        c->pause_until = uv_now(c->env.loop) + ms;
    pause_arm(c);
}

static int group_index(struct mw_ctlapi *c, const char *name)
{
    for (unsigned i = 0; i < c->n_gp; i++)
        if (strcmp(c->gp[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void group_unpause(struct mw_ctlapi *c, unsigned i)
{
    c->gp[i] = c->gp[--c->n_gp];
}

/* Pause (on) or resume one group by name. Returns 0, or -ENOSPC when MW_PAUSE_GROUPS groups
 * are paused already. */
static int set_group_paused(struct mw_ctlapi *c, const char *name, bool on, uint64_t ms)
{
    int i = group_index(c, name);
    if (on) {
        if (i < 0 && c->n_gp == MW_PAUSE_GROUPS)
            return -ENOSPC;
        if (i < 0) {
            i = (int)c->n_gp++;
            snprintf(c->gp[i].name, sizeof(c->gp[i].name), "%s", name);
            c->gp[i].tag = mw_group_tag(name);
        }
        c->gp[i].until = uv_now(c->env.loop) + ms;
    } else if (i >= 0) {
        group_unpause(c, (unsigned)i);
    }
    groups_publish(c);
    pause_arm(c);
    return 0;
}

static void pause_over(uv_timer_t *t)
{
    struct mw_ctlapi *c = t->data;
    uint64_t now = uv_now(c->env.loop);
    struct origin o = {.via = "timer", .uid = -1, .pid = -1};
    if (c->paused && c->pause_until <= now) {
        set_paused(c, false, 0);
        record(c, &o, "resume", "resume (the pause ended)", true,
               "blocking resumed: the pause ended");
    }
    for (unsigned i = 0; i < c->n_gp;) {
        if (c->gp[i].until > now) {
            i++;
            continue;
        }
        char msg[160];
        snprintf(msg, sizeof(msg), "blocking resumed for group %s: the pause ended", c->gp[i].name);
        group_unpause(c, i);
        record(c, &o, "resume", "resume (the pause ended)", true, msg);
    }
    groups_publish(c);
    pause_arm(c);
}

static void pause_state(struct mw_ctlapi *c, struct mw_control_pause *p)
{
    uint64_t now = uv_now(c->env.loop);
    p->paused = c->paused;
    p->left_ms = c->paused && c->pause_until > now ? c->pause_until - now : 0;
}

/* The pause state of one group: paused with everyone, or on its own. */
static void group_pause_state(struct mw_ctlapi *c, const char *name, struct mw_control_pause *p)
{
    pause_state(c, p);
    int i = group_index(c, name);
    uint64_t now = uv_now(c->env.loop);
    if (i >= 0 && !p->paused) {
        p->paused = true;
        p->left_ms = c->gp[i].until > now ? c->gp[i].until - now : 0;
    }
}

/* ---- flush ---- */

static uint64_t flushed_sum(struct mw_ctlapi *c)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < c->env.n_workers; i++)
        n += atomic_load(&c->env.workers[i]->flushed);
    return n;
}

static void flush_check(uv_async_t *a)
{
    struct mw_ctlapi *c = a->data;
    if (!c->flush_busy)
        return;
    for (unsigned i = 0; i < c->env.n_workers; i++)
        if (atomic_load(&c->env.workers[i]->flush_done) < c->flush_seq)
            return;
    uv_timer_stop(&c->flush_timer);
    c->flush_busy = false;
    char msg[1200];
    snprintf(msg, sizeof(msg), "flushed %llu cache entries (%s) on %u worker%s",
             (unsigned long long)(flushed_sum(c) - c->flushed_before),
             c->flush_w.req.all ? "all names" : c->flush_w.req.name, c->env.n_workers,
             c->env.n_workers == 1 ? "" : "s");
    finish(c, &c->flush_w, 200, msg);
}

static void flush_late(uv_timer_t *t)
{
    struct mw_ctlapi *c = t->data;
    if (!c->flush_busy)
        return;
    c->flush_busy = false;
    finish(c, &c->flush_w, 504, "the workers did not confirm the flush within 5 s");
}

/* ---- answers ---- */

static void lists_answer(struct mw_ctlapi *c, struct mw_strbuf *sb, bool json)
{
    const struct mw_lists *l = c->env.snapshot(c->env.arg)->lists;
    struct mw_control_list *v = calloc(l->n_lists ? l->n_lists : 1, sizeof(*v));
    if (!v) {
        mw_control_error(sb, json, "out of memory");
        return;
    }
    for (uint16_t i = 0; i < l->n_lists; i++) {
        const struct mw_list_info *li = &l->lists[i];
        v[i] = (struct mw_control_list){
            li->name,    li->origin, li->category, li->allow ? "allow" : mw_action_name(li->action),
            li->entries, li->stale};
    }
    mw_control_lists(sb, json, v, l->n_lists);
    free(v);
}

/* The merged top-N of every worker (each published at most a second ago). */
static size_t top_merged(struct mw_ctlapi *c, int which, struct mw_topn_item **out, size_t cap,
                         uint64_t *total)
{
    size_t per = MW_WORKER_TOP_PUB, n = 0;
    struct mw_topn_item *items =
        malloc((c->env.n_workers ? c->env.n_workers : 1) * per * sizeof(*items));
    *total = 0;
    *out = items;
    if (!items)
        return 0;
    for (unsigned i = 0; i < c->env.n_workers; i++) {
        uint64_t t = 0;
        n += mw_worker_top_read(c->env.workers[i], which, items + n, per, &t);
        *total += t;
    }
    return mw_topn_merge(items, n, items, cap);
}

static void top_answer(struct mw_ctlapi *c, struct mw_strbuf *sb, const struct mw_control_req *req)
{
    int which = req->cmd == MW_CTL_TOP_CLIENTS ? MW_WORKER_TOP_CLIENTS : MW_WORKER_TOP_NAMES;
    struct mw_topn_item *items;
    uint64_t total;
    size_t n = top_merged(c, which, &items, req->n, &total);
    if (!items)
        mw_control_error(sb, req->json, "out of memory");
    else
        mw_control_top(sb, req->json,
                       which == MW_WORKER_TOP_CLIENTS ? MW_TOP_CLIENTS : MW_TOP_NAMES, items, n,
                       total);
    free(items);
}

static void status_answer(struct mw_ctlapi *c, struct mw_strbuf *sb, bool json)
{
    const struct mw_snapshot *snap = c->env.snapshot(c->env.arg);
    struct mw_control_status st = {.version = MW_VERSION, .workers = c->env.n_workers};
    st.generation = snap->generation;
    st.lists = snap->lists->n_lists;
    st.entries = snap->lists->total_entries;
    c->env.counts(c->env.arg, &st.reloads_ok, &st.reloads_failed, &st.last_reload_failed,
                  &st.uptime_s);
    pause_state(c, &st.pause);
    uint64_t now = uv_now(c->env.loop);
    for (unsigned i = 0; i < c->n_gp && i < 16; i++) {
        st.paused_groups[st.n_paused_groups] = c->gp[i].name;
        st.paused_groups_left_ms[st.n_paused_groups++] =
            c->gp[i].until > now ? c->gp[i].until - now : 0;
    }
    struct mw_worker_pub *p = malloc(sizeof(*p));
    for (unsigned i = 0; p && i < c->env.n_workers; i++) {
        mw_worker_pub_read(c->env.workers[i], p);
        st.queries += p->stats.queries_udp + p->stats.queries_tcp;
        st.cache_hits += p->stats.cache_hits;
        st.cache_misses += p->stats.cache_misses;
        st.blocked += p->stats.blocked_qname + p->stats.blocked_answer;
        st.monitor_hits += p->stats.monitor_hits;
    }
    free(p);
    struct mw_topn_item *tc, *tn;
    uint64_t total;
    st.n_top_clients = top_merged(c, MW_WORKER_TOP_CLIENTS, &tc, 5, &total);
    st.n_top_names = top_merged(c, MW_WORKER_TOP_NAMES, &tn, 5, &total);
    st.top_clients = tc;
    st.top_names = tn;
    if (!tc || !tn)
        st.n_top_clients = st.n_top_names = 0;
    mw_control_status(sb, json, &st);
    free(tc);
    free(tn);
}

static int explain_answer(struct mw_strbuf *sb, const struct mw_control_req *req,
                          struct mw_snapshot *snap, struct mw_rlist *const *rl, size_t nrl)
{
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    if (!f) {
        mw_control_error(sb, req->json, "out of memory");
        return 500;
    }
    struct mw_explain_summary sum;
    char why[256] = "";
    int rc = mw_explain_lists_for(
        snap->cfg, snap->lists, rl, nrl, req->name, req->client[0] ? req->client : NULL,
        req->listener[0] ? req->listener : NULL, f, &sum, why, sizeof(why));
    fclose(f);
    if (rc < 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "'%.64s': %s", req->name, why);
        mw_control_error(sb, req->json, msg);
        free(text);
        return 400;
    }
    if (req->json) {
        mw_strbuf_puts(sb, "{\"ok\":true,\"command\":\"explain\"");
        mw_jsonw_kstr(sb, "input", sum.input);
        mw_jsonw_kstr(sb, "client", req->client[0] ? req->client : NULL);
        mw_jsonw_kstr(sb, "listener", req->listener[0] ? req->listener : NULL);
        mw_jsonw_kstr(sb, "group", sum.group);
        mw_jsonw_kstr(sb, "decision", sum.decision);
        mw_jsonw_kstr(sb, "list", sum.list[0] ? sum.list : NULL);
        mw_jsonw_kstr(sb, "rule", sum.rule[0] ? sum.rule : NULL);
        mw_jsonw_kstr(sb, "action", sum.action);
        mw_jsonw_ku64(sb, "holders", sum.holders);
        mw_jsonw_key(sb, "text");
        mw_jsonw_strn(sb, text, tlen, SIZE_MAX, NULL);
        mw_strbuf_puts(sb, "}\n");
    } else {
        mw_strbuf_put(sb, text, tlen);
    }
    free(text);
    return 200;
}

static void maybe_free(struct mw_ctlapi *c)
{
    if (c->closing && c->open == 0 && c->jobs == 0)
        free(c);
}

static void explain_work(uv_work_t *w)
{
    struct explain_job *j = w->data;
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, j->body, BODY_MAX);
    j->status = explain_answer(&sb, &j->req, j->snap, j->rl, j->nrl);
    if (sb.trunc) {
        mw_strbuf_rewind(&sb, 0);
        sb.trunc = false;
        mw_control_error(&sb, j->req.json, "the answer is too large");
        j->status = 500;
    }
    j->len = sb.len;
}

static void explain_done(uv_work_t *w, int status)
{
    struct explain_job *j = w->data;
    struct mw_ctlapi *c = j->c;
    if (status < 0)
        j->status = 500;
    if (j->status < 300)
        c->ok++;
    else
        c->failed++;
    if (status < 0)
        mw_ctlsrv_reply(j->call, 500, "error: cancelled\n", 17);
    else
        mw_ctlsrv_reply(j->call, j->status, j->body, j->len);
    for (size_t i = 0; i < j->nrl; i++)
        mw_rlist_unref(j->rl[i]);
    free(j->rl);
    mw_snapshot_unref(j->snap);
    free(j->body);
    free(j);
    c->jobs--;
    maybe_free(c);
}

/* Queue an explanation for call. Returns 0 (answered later) or 500 with sb filled. */
static int explain_queue(struct mw_ctlapi *c, const struct mw_control_req *req,
                         struct mw_ctl_call *call, struct mw_strbuf *sb)
{
    struct explain_job *j = calloc(1, sizeof(*j));
    struct mw_rlist *const *rl = NULL;
    size_t nrl = c->env.synced ? c->env.synced(c->env.arg, &rl) : 0;
    if (j) {
        j->body = malloc(BODY_MAX);
        j->rl = calloc(nrl ? nrl : 1, sizeof(*j->rl));
    }
    if (!j || !j->body || !j->rl) {
        if (j) {
            free(j->body);
            free(j->rl);
        }
        free(j);
        mw_control_error(sb, req->json, "out of memory");
        return 500;
    }
    for (size_t i = 0; i < nrl; i++)
        j->rl[i] = mw_rlist_ref(rl[i]);
    j->nrl = nrl;
    j->c = c;
    j->call = call;
    j->req = *req;
    j->snap = mw_snapshot_ref(c->env.snapshot(c->env.arg));
    j->work.data = j;
    c->jobs++;
    int rc = uv_queue_work(c->env.loop, &j->work, explain_work, explain_done);
    if (rc < 0) {
        j->call = NULL;
        c->jobs--;
        for (size_t i = 0; i < nrl; i++)
            mw_rlist_unref(j->rl[i]);
        mw_snapshot_unref(j->snap);
        free(j->rl);
        free(j->body);
        free(j);
        mw_control_error(sb, req->json, "cannot queue the explanation");
        return 500;
    }
    return 0;
}

/* ---- requests ---- */

static struct waiter *free_reload_slot(struct mw_ctlapi *c)
{
    for (size_t i = 0; i < sizeof(c->reloads) / sizeof(c->reloads[0]); i++)
        if (!c->reloads[i].used)
            return &c->reloads[i];
    return NULL;
}

static void keep(struct waiter *w, struct mw_ctl_call *call, const struct mw_control_req *req,
                 const struct origin *o, const char *line)
{
    w->used = true;
    w->skip = 0;
    w->call = call;
    w->req = *req;
    w->o = *o;
    snprintf(w->line, sizeof(w->line), "%s", line);
}

/* Act on a parsed request. Returns the status with the answer in sb, or 0 when the answer
 * comes later through call (UNIX only: call is NULL over HTTP, and those answer 202). */
static int act(struct mw_ctlapi *c, const struct mw_control_req *req, const struct origin *o,
               const char *line, struct mw_ctl_call *call, struct mw_strbuf *sb)
{
    struct mw_control_pause p;
    switch (req->cmd) {
    case MW_CTL_STATUS:
        status_answer(c, sb, req->json);
        return 200;
    case MW_CTL_PAUSE:
    case MW_CTL_RESUME: {
        bool on = req->cmd == MW_CTL_PAUSE;
        if (!req->group_set) { /* everyone; a resume ends the groups' pauses too */
            set_paused(c, on, req->for_ms);
            if (!on) {
                c->n_gp = 0;
                groups_publish(c);
            }
            pause_state(c, &p);
            mw_control_pause_result(sb, req, &p);
            return 200;
        }
        const struct mw_config *cfg = c->env.snapshot(c->env.arg)->cfg;
        if (mw_config_group_find(cfg, req->group) < 0) {
            char msg[160];
            snprintf(msg, sizeof(msg), "group '%s': no such group in the configuration",
                     req->group);
            mw_control_error(sb, req->json, msg);
            return 404;
        }
        if (set_group_paused(c, req->group, on, req->for_ms) < 0) {
            char msg[160];
            snprintf(msg, sizeof(msg), "%d groups are paused already; resume one first",
                     MW_PAUSE_GROUPS);
            mw_control_error(sb, req->json, msg);
            return 409;
        }
        group_pause_state(c, req->group, &p);
        mw_control_pause_result(sb, req, &p);
        return 200;
    }
    case MW_CTL_FLUSH:
        if (c->flush_busy) {
            mw_control_error(sb, req->json, "a flush is in progress; try again");
            return 409;
        }
        c->flush_busy = true;
        c->flush_seq++;
        c->flushed_before = flushed_sum(c);
        keep(&c->flush_w, call, req, o, line);
        uv_timer_start(&c->flush_timer, flush_late, FLUSH_WAIT_MS, 0);
        for (unsigned i = 0; i < c->env.n_workers; i++)
            mw_worker_post_flush(c->env.workers[i], c->flush_seq, req->all ? NULL : req->qname,
                                 req->qname_len);
        if (call)
            return 0;
        mw_control_done(sb, req, "flush started");
        return 202;
    case MW_CTL_RELOAD: {
        struct waiter *w = free_reload_slot(c);
        if (!w) {
            mw_control_error(sb, req->json, "too many reloads awaited; try again");
            return 503;
        }
        keep(w, call, req, o, line);
        w->skip = c->env.reloading(c->env.arg) ? 1 : 0;
        c->env.reload(c->env.arg); /* may end at once (a config error): w is answered then */
        if (call)
            return 0;
        mw_control_done(sb, req, "reload started");
        return 202;
    }
    case MW_CTL_LISTS:
        lists_answer(c, sb, req->json);
        return 200;
    case MW_CTL_TOP_CLIENTS:
    case MW_CTL_TOP_NAMES:
        top_answer(c, sb, req);
        return 200;
    case MW_CTL_EXPLAIN: {
        if (call)
            return explain_queue(c, req, call, sb);
        /* Over HTTP the handler answers at once: on the loop, for lists of a size an operator
         * explains interactively. */
        struct mw_rlist *const *rl = NULL;
        size_t nrl = c->env.synced ? c->env.synced(c->env.arg, &rl) : 0;
        return explain_answer(sb, req, c->env.snapshot(c->env.arg), rl, nrl);
    }
    case MW_CTL_N:
        break;
    }
    mw_control_error(sb, req->json, "unknown command");
    return 400;
}

/* Parse, act, and (unless deferred) record. Returns the status, 0 when deferred. */
static int handle(struct mw_ctlapi *c, const char *line, size_t len, const struct origin *o,
                  struct mw_ctl_call *call, struct mw_strbuf *sb)
{
    struct mw_control_req req;
    char why[256];
    if (mw_control_parse(line, len, &req, why, sizeof(why)) < 0) {
        c->bad++;
        mw_control_error(sb, memmem(line, len, "format=json", 11) != NULL, why);
        char who[96];
        who_text(o, who, sizeof(who));
        mw_log_info(TAG, "%s: refused request: %s", who, why);
        return 400;
    }
    if (o->get && req.changes) {
        c->bad++;
        mw_control_error(sb, req.json, "this command changes minewall's state: use POST");
        return 405;
    }
    int status = act(c, &req, o, line, call, sb);
    if (sb->trunc) {
        mw_strbuf_rewind(sb, 0);
        sb->trunc = false;
        mw_control_error(sb, req.json, "the answer is too large");
        status = 500;
    }
    /* Reports are counted, not recorded (they change nothing); actions are recorded (and
     * counted) when they end. */
    if (status && !req.changes) {
        if (status < 300)
            c->ok++;
        else
            c->failed++;
    }
    if (status && status != 202 && req.changes) {
        char msg[512];
        struct mw_strbuf m;
        mw_strbuf_init(&m, msg, sizeof(msg));
        if (status < 300 && (req.cmd == MW_CTL_PAUSE || req.cmd == MW_CTL_RESUME)) {
            struct mw_control_req text = req; /* the journal gets the sentence, not JSON */
            struct mw_control_pause p;
            text.json = false;
            pause_state(c, &p);
            mw_control_pause_result(&m, &text, &p);
        } else {
            mw_strbuf_puts(&m, sb->b);
        }
        record(c, o, mw_control_cmd_name(req.cmd), line, status < 300, msg);
    }
    return status;
}

static void on_unix(void *arg, struct mw_ctl_call *call, const char *line, size_t len, long uid,
                    long pid)
{
    struct mw_ctlapi *c = arg;
    struct origin o = {.via = "unix", .uid = uid, .pid = pid};
    char *buf = malloc(BODY_MAX);
    if (!buf) {
        mw_ctlsrv_reply(call, 500, "error: out of memory\n", 21);
        return;
    }
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, BODY_MAX);
    int status = handle(c, line, len, &o, call, &sb);
    if (status)
        mw_ctlsrv_reply(call, status, sb.b, sb.len);
    free(buf);
}

static bool token_ok(const struct mw_ctlapi *c, const char *auth)
{
    if (!auth || strncmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *t = auth + 7;
    size_t n = strlen(t);
    /* Constant time over the token: no early exit on the first differing byte. */
    unsigned char d = n != c->token_len;
    for (size_t i = 0; i < c->token_len; i++)
        d |= (unsigned char)(c->token[i] ^ (i < n ? t[i] : 0));
    return d == 0;
}

int mw_ctlapi_http(struct mw_ctlapi *c, const char *path, const char *query,
                   struct mw_http_response *r)
{
    if (!c || !c->token_len) {
        r->status = 404;
        mw_http_body_printf(r, "not found: control over HTTP needs control.token-file\n");
        return 0;
    }
    struct origin o = {.via = "http", .get = r->method != MW_HTTP_POST, .uid = -1, .pid = -1};
    mw_addr_format(&r->peer, o.peer, sizeof(o.peer));
    if (!token_ok(c, r->authorization)) {
        c->unauthorized++;
        mw_log_info(TAG, "http %s: %s: refused: no valid bearer token", o.peer, path);
        r->status = 401;
        mw_http_body_printf(r, "error: an Authorization: Bearer token is required\n");
        return 0;
    }
    if (r->head) { /* HEAD must not pause or flush anything */
        r->status = 405;
        return 0;
    }
    char line[MW_CONTROL_REQ_MAX + 1];
    const char *verb = path + strlen("/control/");
    int n = snprintf(line, sizeof(line), "%s%s%s", verb, *query ? "?" : "", query);
    char *buf = malloc(BODY_MAX);
    if (!buf)
        return -ENOMEM;
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, BODY_MAX);
    int status;
    if (n < 0 || (size_t)n >= MW_CONTROL_REQ_MAX) {
        c->bad++;
        mw_control_error(&sb, false, "request longer than 1024 bytes");
        status = 413;
    } else {
        status = handle(c, line, (size_t)n, &o, NULL, &sb);
    }
    r->status = status;
    if (status == 405)
        r->allow = "POST";
    if (strstr(line, "format=json"))
        r->content_type = "application/json";
    mw_http_body_append(r, sb.b, sb.len);
    free(buf);
    return r->err;
}

void mw_ctlapi_reload_done(struct mw_ctlapi *c, bool ok)
{
    if (!c)
        return;
    for (size_t i = 0; i < sizeof(c->reloads) / sizeof(c->reloads[0]); i++) {
        struct waiter *w = &c->reloads[i];
        if (!w->used)
            continue;
        if (w->skip) {
            w->skip--;
            continue;
        }
        char msg[128];
        snprintf(msg, sizeof(msg), "%s",
                 ok ? "configuration and lists reloaded"
                    : "reload failed; the running configuration and "
                      "lists stay in force (see the log)");
        finish(c, w, ok ? 200 : 500, msg);
    }
}

void mw_ctlapi_metrics(struct mw_ctlapi *c, struct mw_http_response *r)
{
    if (!c)
        return;
    struct mw_ctlsrv_stats st = {0};
    if (c->srv)
        mw_ctlsrv_stats(c->srv, &st);
    uint64_t paused_hits = 0;
    struct mw_worker_pub *p = malloc(sizeof(*p));
    for (unsigned i = 0; p && i < c->env.n_workers; i++) {
        mw_worker_pub_read(c->env.workers[i], p);
        paused_hits += p->stats.paused_hits;
    }
    free(p);
    mw_http_body_printf(
        r,
        "# HELP minewall_control_requests_total Control API requests by outcome.\n"
        "# TYPE minewall_control_requests_total counter\n"
        "minewall_control_requests_total{result=\"ok\"} %llu\n"
        "minewall_control_requests_total{result=\"failed\"} %llu\n"
        "minewall_control_requests_total{result=\"bad_request\"} %llu\n"
        "minewall_control_requests_total{result=\"unauthorized\"} %llu\n"
        "# HELP minewall_control_refused_total Control connections closed at a bound.\n"
        "# TYPE minewall_control_refused_total counter\n"
        "minewall_control_refused_total{reason=\"connections\"} %llu\n"
        "minewall_control_refused_total{reason=\"oversized\"} %llu\n"
        "minewall_control_refused_total{reason=\"timeout\"} %llu\n"
        "# HELP minewall_control_paused Blocking is paused (minewall-ctl pause).\n"
        "# TYPE minewall_control_paused gauge\n"
        "minewall_control_paused %d\n"
        "# HELP minewall_paused_hits_total List hits not enforced because blocking was paused.\n"
        "# TYPE minewall_paused_hits_total counter\n"
        "minewall_paused_hits_total %llu\n",
        (unsigned long long)c->ok, (unsigned long long)c->failed, (unsigned long long)c->bad,
        (unsigned long long)c->unauthorized, (unsigned long long)st.rejected,
        (unsigned long long)st.oversized, (unsigned long long)st.timeouts, c->paused ? 1 : 0,
        (unsigned long long)paused_hits);
}

void mw_ctlapi_status_json(struct mw_ctlapi *c, char *buf, size_t cap)
{
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, cap);
    if (!c)
        return;
    struct mw_control_pause p;
    pause_state(c, &p);
    mw_strbuf_puts(&sb, "\"control\":{");
    mw_jsonw_kbool(&sb, "paused", p.paused);
    mw_jsonw_ku64(&sb, "pause_remaining_s", p.paused ? (p.left_ms + 999) / 1000 : 0);
    /* The groups paused on their own, as `status` lists them (minewall-top shows them). */
    uint64_t now = uv_now(c->env.loop);
    mw_jsonw_key(&sb, "paused_groups");
    mw_strbuf_putc(&sb, '[');
    for (unsigned i = 0; i < c->n_gp; i++) {
        mw_strbuf_puts(&sb, i ? ",{" : "{");
        mw_jsonw_kstr(&sb, "group", c->gp[i].name);
        mw_jsonw_ku64(&sb, "remaining_s",
                      (c->gp[i].until > now ? c->gp[i].until - now + 999 : 0) / 1000);
        mw_strbuf_putc(&sb, '}');
    }
    mw_strbuf_putc(&sb, ']');
    for (int which = 0; which < 2; which++) {
        struct mw_topn_item *items;
        uint64_t total;
        size_t n = top_merged(c, which, &items, 10, &total);
        enum mw_control_top_kind kind =
            which == MW_WORKER_TOP_CLIENTS ? MW_TOP_CLIENTS : MW_TOP_NAMES;
        mw_jsonw_key(&sb, kind == MW_TOP_CLIENTS ? "top_clients" : "top_names");
        mw_strbuf_putc(&sb, '[');
        for (size_t i = 0; items && i < n; i++) {
            char k[1100];
            mw_strbuf_puts(&sb, i ? ",{" : "{");
            mw_jsonw_kstr(&sb, kind == MW_TOP_CLIENTS ? "client" : "name",
                          mw_control_top_key(kind, &items[i], k, sizeof(k)));
            mw_jsonw_ku64(&sb, "count", items[i].count);
            mw_strbuf_putc(&sb, '}');
        }
        mw_strbuf_putc(&sb, ']');
        free(items);
    }
    mw_strbuf_putc(&sb, '}');
    if (sb.trunc)
        buf[0] = 0;
}

/* ---- life ---- */

void mw_ctlapi_set_config(struct mw_ctlapi *c, const struct mw_config *cfg)
{
    if (!c)
        return;
    const char *t = cfg->control.token;
    size_t n = t ? strlen(t) : 0;
    explicit_bzero(c->token, sizeof(c->token));
    if (n >= sizeof(c->token))
        n = 0; /* cannot happen: config.c checks MW_CONTROL_TOKEN_MAX */
    memcpy(c->token, t ? t : "", n);
    c->token_len = n;
}

static void handle_closed(uv_handle_t *h)
{
    struct mw_ctlapi *c = h->data;
    c->open--;
    maybe_free(c);
}

int mw_ctlapi_new(const struct mw_ctlapi_env *env, const struct mw_config *cfg,
                  struct mw_ctlapi **out)
{
    struct mw_ctlapi *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->env = *env;
    mw_ctlapi_set_config(c, cfg);
    uv_timer_init(env->loop, &c->pause_timer);
    uv_timer_init(env->loop, &c->flush_timer);
    uv_async_init(env->loop, &c->notify, flush_check);
    c->pause_timer.data = c->flush_timer.data = c->notify.data = c;
    c->open = 3;
    for (unsigned i = 0; i < env->n_workers; i++)
        mw_worker_set_notify(env->workers[i], &c->notify);
    const char *path = cfg->control.socket ? cfg->control.socket : MW_CONTROL_SOCKET_DEFAULT;
    char why[512];
    /* A resolver without its control socket still resolves and filters: say so and go on. */
    if (mw_ctlsrv_new(env->loop, path, on_unix, c, &c->srv, why, sizeof(why)) < 0)
        mw_log_warn(TAG, "no control socket (minewall-ctl will not reach this process): %s", why);
    else
        mw_log_info(TAG, "control socket %s", path);
    *out = c;
    return 0;
}

void mw_ctlapi_close(struct mw_ctlapi *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    for (unsigned i = 0; i < c->env.n_workers; i++)
        mw_worker_set_notify(c->env.workers[i], NULL);
    if (c->flush_busy) {
        c->flush_busy = false;
        finish(c, &c->flush_w, 503, "minewall is stopping");
    }
    for (size_t i = 0; i < sizeof(c->reloads) / sizeof(c->reloads[0]); i++)
        if (c->reloads[i].used)
            finish(c, &c->reloads[i], 503, "minewall is stopping");
    mw_ctlsrv_close(c->srv);
    c->srv = NULL;
    uv_close((uv_handle_t *)&c->pause_timer, handle_closed);
    uv_close((uv_handle_t *)&c->flush_timer, handle_closed);
    uv_close((uv_handle_t *)&c->notify, handle_closed);
}
