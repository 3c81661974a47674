/* The full sync of one list (see rsync_full.h): the log's newest id first (following from it
 * cannot miss a change), then the meta hash, then the entries in SSCAN batches into a base
 * builder, then the base built on the thread pool and made the version in force. A list
 * whose keys are gone keeps its last copy (stale); one whose log ends with "retire" is
 * dropped. */
#include "minewall/rsync_full.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/config.h"
#include "minewall/log.h"
#include "minewall/rconn.h"
#include "minewall/rreply.h"
#include "minewall/rschema.h"

#define SSCAN_COUNT "5000"

struct cb_ctx *mw_rsync_ctx_new(struct mw_rsync_list *l)
{
    struct cb_ctx *c = malloc(sizeof(*c));
    if (c) {
        c->l = l;
        c->epoch = l->epoch;
        c->log_seq = l->log_seq;
    }
    return c;
}

/* The list of a reply, or NULL when the reply belongs to an abandoned attempt. */
struct mw_rsync_list *mw_rsync_ctx_take(void *privdata, const struct redisReply *r)
{
    struct cb_ctx *c = privdata;
    struct mw_rsync_list *l = c->l;
    bool live = c->epoch == l->epoch && !l->rs->closing;
    free(c);
    if (!live)
        return NULL;
    if (!r) { /* connection lost: start over when it is back */
        mw_rbase_builder_free(l->builder);
        l->builder = NULL;
        l->phase = IDLE;
        l->epoch++;
        return NULL;
    }
    return l;
}

static void sync_failed(struct mw_rsync_list *l, const char *what, const struct redisReply *r)
{
    mw_log_error("redis", "list %s: %s failed: %s", l->name, what, mw_rreply_why(r));
    mw_rbase_builder_free(l->builder);
    l->builder = NULL;
    l->phase = IDLE;
    l->epoch++;
}

static void built_work(uv_work_t *w)
{
    struct mw_rsync_list *l = w->data;
    l->built = mw_rbase_build(l->builder);
    l->builder = NULL;
}

static void built_done(uv_work_t *w, int status)
{
    struct mw_rsync_list *l = w->data;
    struct mw_rsync *rs = l->rs;
    struct mw_rbase *base = l->built;
    l->built = NULL;
    l->building = false;
    if (rs->closing) {
        mw_rbase_unref(base);
        mw_rsync_closed_one(rs); /* the build held the sync open */
        return;
    }
    rs->open--;
    if (status < 0 || !base || l->build_life != l->life) {
        mw_rbase_unref(base);
        if (l->build_life == l->life)
            l->phase = IDLE;
        return;
    }
    l->retired = false;
    struct mw_rdelta *fresh = mw_rdelta_new();
    struct mw_rlist *v = fresh ? mw_rlist_new(&l->meta, base, NULL) : NULL;
    mw_rbase_unref(base);
    if (!v) {
        mw_rdelta_free(fresh);
        mw_log_error("redis", "list %s: out of memory", l->name);
        l->phase = IDLE;
        return;
    }
    mw_rdelta_free(l->delta);
    l->delta = fresh;
    if (l->cur && l->cur->stale)
        mw_log_info("redis", "list %s is back in Redis: full resync, %zu entries", l->name,
                    v->entries);
    snprintf(l->last_id, sizeof(l->last_id), "%s", l->start_id);
    mw_rsync_set_version(l, v);
    l->phase = FOLLOW;
    rs->follow_gen++;
    rs->st.full_syncs++;
    mw_log_info("redis", "list %s: %zu entries synced (log id %s)", l->name, v->entries,
                l->last_id);
    mw_rsync_publish(rs);
    mw_rsync_follow(rs);
}

static void on_sscan(const struct redisReply *r, void *privdata);

static int send_sscan(struct mw_rsync_list *l, const char *cursor)
{
    struct cb_ctx *c = mw_rsync_ctx_new(l);
    const char *argv[] = {"SSCAN", l->k_entries, cursor, "COUNT", SSCAN_COUNT};
    if (!c)
        return -ENOMEM;
    int rc = mw_rconn_command_argv(l->rs->cmd, on_sscan, c, 5, argv, NULL);
    if (rc < 0)
        free(c);
    return rc;
}

static void on_sscan(const struct redisReply *r, void *privdata)
{
    struct mw_rsync_list *l = mw_rsync_ctx_take(privdata, r);
    if (!l)
        return;
    const char *cursor;
    int n = mw_rreply_sscan(r, &cursor);
    if (n < 0) {
        sync_failed(l, "SSCAN", r);
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *item = mw_rreply_sscan_item(r, (size_t)i);
        if (item && mw_rbase_builder_add(l->builder, item) == -ENOMEM) {
            sync_failed(l, "SSCAN (out of memory)", NULL);
            return;
        }
    }
    if (strcmp(cursor, "0") != 0) {
        if (send_sscan(l, cursor) < 0)
            sync_failed(l, "SSCAN", NULL);
        return;
    }
    struct mw_rsync *rs = l->rs;
    if (!l->meta_found) {
        /* No meta: retired on purpose when the log ends with "retire"; otherwise the list's
         * keys are gone (flushed, restored empty). Never apply that as an empty list: keep
         * the copy in force and say it is stale. */
        mw_rbase_builder_free(l->builder);
        l->builder = NULL;
        l->phase = IDLE;
        if (l->retire_seen) {
            if (mw_rsync_retire(l))
                mw_rsync_publish(rs);
            return;
        }
        if (l->cur && !l->cur->stale) {
            l->cur->stale = true;
            rs->st.stale_lists++;
            mw_log_error("redis",
                         "list %s: its keys are gone from Redis; keeping the last "
                         "synced copy (%zu entries) and reporting it stale",
                         l->name, l->cur->entries);
            mw_rsync_publish(rs);
        }
        return;
    }
    size_t rejected = mw_rbase_builder_rejected(l->builder);
    if (rejected)
        mw_log_warn("redis", "list %s: %zu entries are not of type %s and were skipped", l->name,
                    rejected, mw_list_type_name(l->meta.type));
    l->work.data = l;
    l->build_life = l->life;
    if (uv_queue_work(rs->loop, &l->work, built_work, built_done) < 0) {
        sync_failed(l, "building the list", NULL);
        return;
    }
    l->building = true;
    rs->open++;
}

static void on_meta(const struct redisReply *r, void *privdata)
{
    struct mw_rsync_list *l = mw_rsync_ctx_take(privdata, r);
    if (!l)
        return;
    int fields = mw_rreply_hash(r);
    if (fields < 0) {
        sync_failed(l, "HGETALL", r);
        return;
    }
    int mrc = mw_rschema_meta(l->name, mw_rreply_get, (void *)r, &l->meta);
    l->meta_found = fields > 0;
    if (mrc == -E2BIG) {
        /* The list's category would be cut in every label and event: refuse the list (the
         * last synced copy stays in force) until its meta is fixed. */
        if (!l->meta_refused) {
            l->rs->st.lists_refused++;
            mw_log_error("redis",
                         "list %s: refusing its meta: category '%s...' is longer "
                         "than %d bytes",
                         l->name, l->meta.category, MW_CATEGORY_MAX);
        }
        l->meta_refused = true;
        l->phase = IDLE;
        l->epoch++;
        return;
    }
    l->meta_refused = false;
    mw_rbase_builder_free(l->builder);
    l->builder = mw_rbase_builder_new(l->meta.type);
    if (!l->builder || send_sscan(l, "0") < 0)
        sync_failed(l, "SSCAN", NULL);
}

static void on_log_head(const struct redisReply *r, void *privdata)
{
    struct mw_rsync_list *l = mw_rsync_ctx_take(privdata, r);
    if (!l)
        return;
    /* The newest log id, taken before the scan: following from it cannot miss a change. */
    const char *id;
    const struct redisReply *fields;
    int rc = mw_rreply_log_head(r, &id, &fields);
    if (rc == -EBADMSG) {
        sync_failed(l, "XREVRANGE", r);
        return;
    }
    snprintf(l->start_id, sizeof(l->start_id), "%s", rc == 0 ? id : "0-0");
    l->retire_seen =
        rc == 0 && mw_rschema_log_op(mw_rreply_get, (void *)fields) == MW_RSCHEMA_OP_RETIRE;
    struct cb_ctx *c = mw_rsync_ctx_new(l);
    const char *argv[] = {"HGETALL", l->k_meta};
    if (!c || mw_rconn_command_argv(l->rs->cmd, on_meta, c, 2, argv, NULL) < 0) {
        free(c);
        sync_failed(l, "HGETALL", NULL);
    }
}

void mw_rsync_full_sync(struct mw_rsync_list *l)
{
    if (l->phase == SYNC || l->building || !mw_rconn_is_up(l->rs->cmd))
        return;
    l->epoch++;
    l->phase = SYNC;
    struct cb_ctx *c = mw_rsync_ctx_new(l);
    const char *argv[] = {"XREVRANGE", l->k_log, "+", "-", "COUNT", "1"};
    if (!c || mw_rconn_command_argv(l->rs->cmd, on_log_head, c, 6, argv, NULL) < 0) {
        free(c);
        l->phase = IDLE;
    }
}
