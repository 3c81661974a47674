/* Fleet list sync from Redis; see redis_sync.h for the protocol and rsync_full.h for the
 * phases of a list. This file owns the two connections, the lists followed (names, state
 * files, retirement), the catalog and the index poll, and following the logs with one XREAD
 * BLOCK; the full sync of one list is rsync_full.c's. */
#include "minewall/redis_sync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minewall/config.h"
#include "minewall/hash.h"
#include "minewall/log.h"
#include "minewall/rconn.h"
#include "minewall/rlist.h"
#include "minewall/rreply.h"
#include "minewall/rschema.h"
#include "minewall/rsync_full.h"

#define XREAD_BLOCK_MS "1000"
#define XREAD_COUNT "1000"
/* The fallback poll: lists added by writers that only touch the index SET, and vanished
 * keys. New, changed and retired lists come through the catalog within a second. */
#define CHECK_MS 5000
#define CATALOG_KEY MW_RSCHEMA_CATALOG
#define MAX_LISTS 1024     /* lists followed at most: a hostile index cannot grow it */
#define SAVE_DELAY_MS 1000 /* state files are written at most once a second per list */
#define COMPACT_MIN 50000  /* a delta larger than this and than base/4 triggers a resync */

/* ---- names ---- */

#define STR_(x) #x
#define STR(x) STR_(x)

/* Log and count the refusal of a name once: the periodic check sees it again every few
 * seconds. The memory of refused names is bounded; names beyond it are refused silently. */
static void refuse_name(struct mw_rsync *rs, const char *name, const char *why)
{
    uint64_t h = mw_hash_bytes(0, 0, name, strlen(name)) | 1; /* 0 marks a free slot */
    size_t i = 0, n = sizeof(rs->refused) / sizeof(rs->refused[0]);
    while (i < n && rs->refused[i] && rs->refused[i] != h)
        i++;
    if (i == n || rs->refused[i] == h)
        return;
    rs->refused[i] = h;
    rs->st.lists_refused++;
    mw_log_error("redis", "refusing list name '%.80s%s' from Redis: %s", name,
                 strlen(name) > 80 ? "..." : "", why);
}

/* ---- versions ---- */

void mw_rsync_publish(struct mw_rsync *rs)
{
    size_t k = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->lists[i]->cur)
            rs->versions[k++] = rs->lists[i]->cur;
    rs->n_versions = k;
    rs->cb(rs->arg);
}

size_t mw_rsync_lists(const struct mw_rsync *rs, struct mw_rlist *const **out)
{
    *out = rs->versions;
    return rs->n_versions;
}

void mw_rsync_set_version(struct mw_rsync_list *l, struct mw_rlist *v)
{
    if (!v)
        return;
    mw_rlist_unref(l->cur);
    l->cur = v;
    snprintf(v->last_id, sizeof(v->last_id), "%s", l->last_id);
    l->dirty = true;
}

static struct mw_rsync_list *find_list(struct mw_rsync *rs, const char *name)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->lists[i]->name, name) == 0)
            return rs->lists[i];
    return NULL;
}

static struct mw_rsync_list *add_list(struct mw_rsync *rs, const char *name)
{
    struct mw_rsync_list *found = find_list(rs, name);
    if (found)
        return found;
    const char *why = mw_rschema_name_problem(name);
    if (!why && rs->n >= MAX_LISTS)
        why = "more than " STR(MAX_LISTS) " lists are followed";
    if (why) {
        refuse_name(rs, name, why);
        return NULL;
    }
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 8;
        struct mw_rsync_list **n = realloc(rs->lists, cap * sizeof(*n));
        struct mw_rlist **v = realloc(rs->versions, cap * sizeof(*v));
        if (n)
            rs->lists = n;
        if (v)
            rs->versions = v;
        if (!n || !v)
            return NULL;
        rs->cap = cap;
    }
    struct mw_rsync_list *l = calloc(1, sizeof(*l));
    if (!l || !(l->delta = mw_rdelta_new())) {
        free(l);
        return NULL;
    }
    l->rs = rs;
    snprintf(l->name, sizeof(l->name), "%s", name);
    snprintf(l->k_meta, sizeof(l->k_meta), "minewall:list:{%s}:meta", name);
    snprintf(l->k_entries, sizeof(l->k_entries), "minewall:list:{%s}:entries", name);
    snprintf(l->k_log, sizeof(l->k_log), "minewall:list:{%s}:log", name);
    snprintf(l->last_id, sizeof(l->last_id), "0-0");
    rs->lists[rs->n++] = l;
    return l;
}

/* ---- state files ---- */

static void state_path(const struct mw_rsync_list *l, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s.list", l->rs->state_dir, l->name);
}

static void save_dirty(uv_timer_t *t)
{
    struct mw_rsync *rs = t->data;
    for (size_t i = 0; rs->state_dir && i < rs->n; i++) {
        struct mw_rsync_list *l = rs->lists[i];
        if (!l->dirty || !l->cur)
            continue;
        char path[4096];
        state_path(l, path, sizeof(path));
        int rc = mw_rlist_save(l->cur, path);
        if (rc < 0)
            mw_log_error("redis", "%s: cannot save list state: %s", path, strerror(-rc));
        l->dirty = false;
    }
}

/* A "retire" record: the publisher dropped the list on purpose. Stop enforcing it, forget
 * its log position and its state file; a later publication starts it afresh. Anything in
 * flight for it (replies, a base being built) is abandoned. Returns true when a version was
 * dropped: the caller publishes. */
bool mw_rsync_retire(struct mw_rsync_list *l)
{
    struct mw_rsync *rs = l->rs;
    l->epoch++;
    l->life++;
    l->phase = IDLE;
    mw_rbase_builder_free(l->builder);
    l->builder = NULL;
    snprintf(l->last_id, sizeof(l->last_id), "0-0");
    if (l->retired && !l->cur)
        return false;
    l->retired = true;
    l->dirty = false;
    struct mw_rdelta *fresh = mw_rdelta_new();
    if (fresh) {
        mw_rdelta_free(l->delta);
        l->delta = fresh;
    }
    if (rs->state_dir) {
        char path[4096];
        state_path(l, path, sizeof(path));
        if (unlink(path) < 0 && errno != ENOENT)
            mw_log_error("redis", "%s: cannot remove the state of a retired list: %s", path,
                         strerror(errno));
    }
    if (l->cur) {
        rs->st.lists_retired++;
        mw_log_info("redis",
                    "list %s: retired in Redis by its publisher; no longer enforced "
                    "(%zu entries dropped)",
                    l->name, l->cur->entries);
        mw_rlist_unref(l->cur);
        l->cur = NULL;
        return true;
    }
    return false;
}

/* Every "NAME.list" of the state directory, before Redis is asked anything. */
static void load_state(struct mw_rsync *rs, const struct mw_config *cfg)
{
    if (!rs->state_dir)
        return;
    for (size_t i = 0; i < cfg->redis.n_lists; i++)
        add_list(rs, cfg->redis.lists[i]);
    if (rs->all) {
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "%s", rs->state_dir);
        uv_fs_t req;
        if (uv_fs_scandir(NULL, &req, cmd, 0, NULL) >= 0) {
            uv_dirent_t ent;
            while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
                size_t len = strlen(ent.name);
                if (len > 5 && strcmp(ent.name + len - 5, ".list") == 0 &&
                    len - 5 <= MW_LIST_NAME_MAX) {
                    char name[MW_LIST_NAME_MAX + 1];
                    memcpy(name, ent.name, len - 5);
                    name[len - 5] = 0;
                    if (!mw_rschema_name_problem(name))
                        add_list(rs, name);
                }
            }
        }
        uv_fs_req_cleanup(&req);
    }
    for (size_t i = 0; i < rs->n; i++) {
        struct mw_rsync_list *l = rs->lists[i];
        char path[4096];
        state_path(l, path, sizeof(path));
        int err = 0;
        struct mw_rlist *v = mw_rlist_load(path, &err);
        if (!v) {
            if (err != -ENOENT)
                mw_log_error("redis", "%s: cannot load list state: %s", path, strerror(-err));
            continue;
        }
        snprintf(l->last_id, sizeof(l->last_id), "%s", v->last_id[0] ? v->last_id : "0-0");
        l->cur = v;
        mw_log_info("redis", "list %s: %zu entries from the state directory (log id %s)", l->name,
                    v->entries, l->last_id);
    }
}

/* ---- following the logs ---- */

/* XINFO STREAM of a list's log: may we follow on from last_id? Not when the log starts after
 * it, when it was emptied after entries beyond it were written, or when it is gone. */
static void on_xinfo(const struct redisReply *r, void *privdata)
{
    struct mw_rsync_list *l = mw_rsync_ctx_take(privdata, r);
    if (!l)
        return;
    struct mw_rreply_xinfo xi;
    bool gone = mw_rreply_xinfo(r, &xi) == -ENOENT;
    if (xi.last_fields &&
        mw_rschema_log_op(mw_rreply_get, (void *)xi.last_fields) == MW_RSCHEMA_OP_RETIRE) {
        /* Retired while we were away (the log was trimmed to its "retire" record), or
         * published again without a log record since: a full sync tells which. */
        l->phase = IDLE;
        mw_rsync_full_sync(l);
        return;
    }
    bool gap = gone || (xi.first && mw_rreply_id_cmp(xi.first, l->last_id) > 0) ||
               (!xi.first && xi.last_gen && mw_rreply_id_cmp(xi.last_gen, l->last_id) > 0);
    if (gap) {
        /* The log no longer reaches back to the last change we saw: replaying cannot catch
         * up, a full sync can. */
        l->rs->st.resyncs_gap++;
        mw_log_warn("redis", "list %s: change log no longer reaches back to %s: full resync",
                    l->name, l->last_id);
        l->phase = IDLE;
        mw_rsync_full_sync(l);
        return;
    }
    l->phase = FOLLOW;
    l->rs->follow_gen++;
    mw_rsync_follow(l->rs);
}

/* After a reconnect or a restart: follow on from the last id when the log still allows it. */
static void resume(struct mw_rsync_list *l)
{
    if (l->phase != IDLE || l->building || l->retired || !mw_rconn_is_up(l->rs->cmd))
        return;
    if (!l->cur || l->cur->stale || strcmp(l->last_id, "0-0") == 0) {
        mw_rsync_full_sync(l);
        return;
    }
    l->epoch++;
    l->phase = SYNC;
    struct cb_ctx *c = mw_rsync_ctx_new(l);
    const char *argv[] = {"XINFO", "STREAM", l->k_log};
    if (!c || mw_rconn_command_argv(l->rs->cmd, on_xinfo, c, 3, argv, NULL) < 0) {
        free(c);
        l->phase = IDLE;
    }
}

static struct mw_rsync_list *by_log_key(struct mw_rsync *rs, const char *key)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->lists[i]->k_log, key) == 0)
            return rs->lists[i];
    return NULL;
}

/* One log record: op add|del and space-separated entries. */
static void apply_record(struct mw_rsync_list *l, const struct redisReply *fields)
{
    size_t bad;
    int rc = mw_rdelta_apply_record(l->delta, mw_rreply_field(fields, "op"),
                                    mw_rreply_field(fields, "entries"), &bad);
    if (rc == -EINVAL)
        return;
    if (rc == -ENOMEM)
        mw_log_error("redis", "list %s: out of memory applying a log record", l->name);
    if (bad)
        mw_log_debug("redis", "list %s: ignoring %zu bad entries", l->name, bad);
    l->rs->st.deltas_applied++;
}

/* Catalog records: "create" and "meta" start a sync of a followed list that is not being
 * followed yet (its own log carries the changes of a followed one), "retire" drops it. */
static bool apply_catalog(struct mw_rsync *rs, const struct redisReply *recs)
{
    bool changed = false;
    for (size_t i = 0; i < mw_rreply_records(recs); i++) {
        const char *id, *name;
        const struct redisReply *fields;
        if (mw_rreply_record(recs, i, &id, &fields) < 0)
            continue;
        snprintf(rs->catalog_id, sizeof(rs->catalog_id), "%s", id);
        enum mw_rschema_op op = mw_rschema_catalog(mw_rreply_get, (void *)fields, &name);
        if (op == MW_RSCHEMA_OP_NONE) {
            rs->st.catalog_ignored++;
            continue;
        }
        bool retire = op == MW_RSCHEMA_OP_RETIRE;
        struct mw_rsync_list *l = rs->all && !retire ? add_list(rs, name) : find_list(rs, name);
        if (!l)
            continue;
        if (retire) {
            changed |= mw_rsync_retire(l);
            continue;
        }
        if (l->phase == IDLE && !l->building) {
            l->retired = false;
            mw_log_debug("redis", "list %s: catalog record '%s': syncing", l->name,
                         op == MW_RSCHEMA_OP_CREATE ? "create" : "meta");
            resume(l);
        }
    }
    return changed;
}

/* One list's new log records, applied into one version: entries and meta changes of a
 * transaction become visible together. Returns true when a new version was made. */
static bool apply_log(struct mw_rsync_list *l, const struct redisReply *recs)
{
    if (l->cur->stale) {
        l->phase = IDLE;
        mw_rsync_full_sync(l);
        return false;
    }
    unsigned applied = 0;
    struct mw_rlist_meta meta = l->cur->meta;
    size_t n = mw_rreply_records(recs);
    for (size_t i = 0; i < n; i++) {
        const char *id;
        const struct redisReply *fields;
        if (mw_rreply_record(recs, i, &id, &fields) < 0 || mw_rreply_id_cmp(id, l->last_id) <= 0)
            continue;
        enum mw_rschema_op op = mw_rschema_log_op(mw_rreply_get, (void *)fields);
        if (op == MW_RSCHEMA_OP_RETIRE) {
            bool dropped = mw_rsync_retire(l);
            if (i + 1 < n) /* published again right after */
                mw_rsync_full_sync(l);
            return dropped;
        }
        if (op == MW_RSCHEMA_OP_META) {
            struct mw_rlist_meta m;
            if (mw_rschema_meta(l->name, mw_rreply_get, (void *)fields, &m) < 0) {
                /* A category over its cap: the list keeps its meta (see on_meta). */
                if (!l->meta_refused) {
                    l->rs->st.lists_refused++;
                    mw_log_error("redis",
                                 "list %s: refusing a meta change: category longer "
                                 "than %d bytes",
                                 l->name, MW_CATEGORY_MAX);
                }
                l->meta_refused = true;
                snprintf(l->last_id, sizeof(l->last_id), "%s", id);
                continue;
            }
            l->meta_refused = false;
            if (m.type != meta.type) {
                /* A new type replaces every entry: a full sync builds the new base while
                 * the old version stays in force. */
                mw_log_info("redis", "list %s: type changed to %s: full resync", l->name,
                            mw_list_type_name(m.type));
                l->phase = IDLE;
                mw_rsync_full_sync(l);
                return false;
            }
            meta = m;
            l->rs->st.meta_changes++;
        } else {
            apply_record(l, fields);
        }
        snprintf(l->last_id, sizeof(l->last_id), "%s", id);
        applied++;
    }
    if (!applied)
        return false;
    l->log_seq++;
    mw_log_debug("redis", "list %s: %u log records applied in one version", l->name, applied);
    if (!mw_rschema_meta_same(&meta, &l->cur->meta))
        mw_log_info("redis", "list %s: meta now category %s, action %s", l->name, meta.category,
                    meta.action == MW_ACTION_DEFAULT ? "default" : mw_action_name(meta.action));
    mw_rsync_set_version(l, mw_rlist_new(&meta, l->cur->base, l->delta));
    return true;
}

static void on_xread(const struct redisReply *r, void *privdata)
{
    struct mw_rsync *rs = privdata;
    rs->xread_pending = false;
    rs->unblock_sent = false;
    if (!r || rs->closing)
        return;
    bool changed = false;
    size_t streams = mw_rreply_xread_streams(r);
    for (size_t s = 0; s < streams; s++) {
        const char *key;
        const struct redisReply *recs;
        if (mw_rreply_xread_stream(r, s, &key, &recs) < 0)
            continue;
        if (strcmp(key, CATALOG_KEY) == 0) {
            changed |= apply_catalog(rs, recs);
            continue;
        }
        struct mw_rsync_list *l = by_log_key(rs, key);
        if (!l || l->phase != FOLLOW || !l->cur)
            continue;
        bool made = apply_log(l, recs);
        changed |= made;
        if (!made || !l->cur || l->phase != FOLLOW) /* nothing, retired, resyncing */
            continue;
        size_t base = l->cur->entries;
        if (mw_rdelta_size(l->delta) > COMPACT_MIN && mw_rdelta_size(l->delta) > base / 4) {
            l->phase = IDLE; /* fold the delta into a new base */
            mw_rsync_full_sync(l);
        }
    }
    if (!streams && mw_rreply_error(r))
        mw_log_error("redis", "XREAD failed: %s", mw_rreply_error(r));
    if (changed)
        mw_rsync_publish(rs);
    mw_rsync_follow(rs);
}

/* Keep one XREAD BLOCK outstanding over every followed log. */
void mw_rsync_follow(struct mw_rsync *rs)
{
    if (rs->xread_pending && rs->xread_gen != rs->follow_gen && rs->blk_id > 0 &&
        !rs->unblock_sent && !rs->closing && mw_rconn_is_up(rs->cmd)) {
        /* A stream joined (a new list synced): end the pending XREAD BLOCK now rather than at
         * its timeout, so the new list's next change is seen at once. The XREAD returns nil
         * and on_xread sends the new set. Without the permission, the timeout does it. */
        char id[24];
        snprintf(id, sizeof(id), "%lld", rs->blk_id);
        const char *argv[] = {"CLIENT", "UNBLOCK", id};
        if (mw_rconn_command_argv(rs->cmd, NULL, NULL, 3, argv, NULL) == 0)
            rs->unblock_sent = true;
    }
    if (rs->xread_pending || rs->closing || !mw_rconn_is_up(rs->blk))
        return;
    size_t n = rs->catalog_ready;
    for (size_t i = 0; i < rs->n; i++)
        n += rs->lists[i]->phase == FOLLOW;
    if (!n)
        return;
    const char **argv = calloc(6 + 2 * n, sizeof(*argv));
    if (!argv)
        return;
    int argc = 0;
    argv[argc++] = "XREAD";
    argv[argc++] = "COUNT";
    argv[argc++] = XREAD_COUNT;
    argv[argc++] = "BLOCK";
    argv[argc++] = XREAD_BLOCK_MS;
    argv[argc++] = "STREAMS";
    if (rs->catalog_ready)
        argv[argc++] = CATALOG_KEY;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->lists[i]->phase == FOLLOW)
            argv[argc++] = rs->lists[i]->k_log;
    if (rs->catalog_ready)
        argv[argc++] = rs->catalog_id;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->lists[i]->phase == FOLLOW)
            argv[argc++] = rs->lists[i]->last_id;
    if (mw_rconn_command_argv(rs->blk, on_xread, rs, argc, argv, NULL) == 0) {
        rs->xread_pending = true;
        rs->xread_gen = rs->follow_gen;
    }
    free(argv);
}

/* ---- periodic checks ---- */

/* The poll's HGETALL of a followed list's meta. Empty: the meta is gone, retired (its log
 * ends with "retire") or vanished (stale); the full sync tells which, and a re-created log is
 * never applied onto a stale copy. Different from the version in force while no log record
 * was applied since the HGETALL was sent: a writer changed the hash without a "meta" record
 * (an older pipeline); apply it, as a full sync would. A log record applied meanwhile may be
 * newer than the reply: then the log decides. */
static void on_meta_poll(const struct redisReply *r, void *privdata)
{
    unsigned sent_seq = ((struct cb_ctx *)privdata)->log_seq;
    struct mw_rsync_list *l = mw_rsync_ctx_take(privdata, r);
    int fields = l ? mw_rreply_hash(r) : -EBADMSG;
    if (fields < 0 || !l->cur)
        return;
    if (fields == 0) {
        if (!l->cur->stale && l->phase == FOLLOW) {
            l->phase = IDLE;
            mw_rsync_full_sync(l);
        }
        return;
    }
    if (l->cur->stale && l->phase != SYNC) {
        mw_log_info("redis", "list %s is back in Redis: full resync", l->name);
        l->phase = IDLE;
        mw_rsync_full_sync(l);
        return;
    }
    struct mw_rlist_meta m;
    if (l->phase != FOLLOW || sent_seq != l->log_seq ||
        mw_rschema_meta(l->name, mw_rreply_get, (void *)r, &m) < 0 ||
        mw_rschema_meta_same(&m, &l->cur->meta))
        return;
    mw_log_warn("redis",
                "list %s: its meta hash changed without a meta log record; applying "
                "it from the poll (writers should append one, see the README)",
                l->name);
    if (m.type != l->cur->meta.type) {
        l->phase = IDLE;
        mw_rsync_full_sync(l);
        return;
    }
    l->rs->st.meta_changes++;
    mw_rsync_set_version(l, mw_rlist_new(&m, l->cur->base, l->delta));
    mw_rsync_publish(l->rs);
}

/* One SSCAN step over the index per poll (bounded replies however large the SET is); the
 * cursor goes on at the next poll. Lists that only a writer touching the SET created (no
 * catalog record), and retired lists published again, are found here. */
static void on_members(const struct redisReply *r, void *privdata)
{
    struct mw_rsync *rs = privdata;
    const char *cursor;
    int n = r && !rs->closing ? mw_rreply_sscan(r, &cursor) : -EBADMSG;
    if (n < 0 || strlen(cursor) >= sizeof(rs->index_cursor))
        return;
    snprintf(rs->index_cursor, sizeof(rs->index_cursor), "%s", cursor);
    for (int i = 0; i < n; i++) {
        const char *name = mw_rreply_sscan_item(r, (size_t)i);
        if (!name)
            continue;
        struct mw_rsync_list *l = rs->all ? add_list(rs, name) : find_list(rs, name);
        if (l && !l->cur && l->phase == IDLE && !l->building) {
            l->retired = false;
            mw_rsync_full_sync(l);
        }
    }
}

static void scan_index(struct mw_rsync *rs)
{
    const char *argv[] = {"SSCAN", "minewall:lists", rs->index_cursor, "COUNT", "1000"};
    mw_rconn_command_argv(rs->cmd, on_members, rs, 5, argv, NULL);
}

/* The catalog's newest id, taken before the index is scanned: following the catalog from it
 * misses no list created after the scan. */
static void on_catalog_head(const struct redisReply *r, void *privdata)
{
    struct mw_rsync *rs = privdata;
    const char *id;
    const struct redisReply *fields;
    int rc = r && !rs->closing ? mw_rreply_log_head(r, &id, &fields) : -EBADMSG;
    if (rc == -EBADMSG)
        return;
    snprintf(rs->catalog_id, sizeof(rs->catalog_id), "%s", rc == 0 ? id : "0-0");
    rs->catalog_ready = true;
    mw_log_info("redis", "following the catalog from id %s", rs->catalog_id);
    rs->follow_gen++;
    mw_rsync_follow(rs);
}

static void check_tick(uv_timer_t *t)
{
    struct mw_rsync *rs = t->data;
    if (!mw_rconn_is_up(rs->cmd))
        return;
    scan_index(rs);
    for (size_t i = 0; i < rs->n; i++) {
        struct mw_rsync_list *l = rs->lists[i];
        if (l->phase == IDLE) {
            resume(l);
            continue;
        }
        if (l->phase != FOLLOW)
            continue;
        struct cb_ctx *c = mw_rsync_ctx_new(l);
        const char *argv[] = {"HGETALL", l->k_meta};
        if (c && mw_rconn_command_argv(rs->cmd, on_meta_poll, c, 2, argv, NULL) < 0)
            free(c);
    }
}

/* ---- connections ---- */

static void cmd_up(void *arg)
{
    struct mw_rsync *rs = arg;
    mw_log_info("redis", "connected to %s", mw_rconn_name(rs->cmd));
    rs->st.up = 1;
    /* Once known, the catalog is followed on from the last record seen, across reconnects. */
    if (!rs->catalog_ready)
        mw_rconn_command(rs->cmd, on_catalog_head, rs, "XREVRANGE " CATALOG_KEY " + - COUNT 1");
    snprintf(rs->index_cursor, sizeof(rs->index_cursor), "0");
    scan_index(rs);
    for (size_t i = 0; i < rs->n; i++)
        resume(rs->lists[i]);
}

static void cmd_down(void *arg, const char *reason)
{
    struct mw_rsync *rs = arg;
    if (rs->st.up)
        mw_log_warn("redis", "lost %s (%s): enforcing the lists as last synced",
                    mw_rconn_name(rs->cmd), reason);
    rs->st.up = 0;
    for (size_t i = 0; i < rs->n; i++) {
        struct mw_rsync_list *l = rs->lists[i];
        l->epoch++;
        if (!l->building) /* a base being built stays valid: it finishes on its own */
            l->phase = IDLE;
    }
}

static void on_client_id(const struct redisReply *r, void *privdata)
{
    struct mw_rsync *rs = privdata;
    long long id;
    if (r && !rs->closing && mw_rreply_integer(r, &id))
        rs->blk_id = id;
}

static void blk_up(void *arg)
{
    struct mw_rsync *rs = arg;
    rs->blk_id = 0;
    mw_rconn_command(rs->blk, on_client_id, rs, "CLIENT ID");
    mw_rsync_follow(rs);
}

static void blk_down(void *arg, const char *reason)
{
    struct mw_rsync *rs = arg;
    (void)reason;
    rs->xread_pending = false;
    rs->unblock_sent = false;
    rs->blk_id = 0;
}

int mw_rsync_new(uv_loop_t *loop, const struct mw_config *cfg, mw_rsync_change_cb cb, void *arg,
                 struct mw_rsync **out, char *why, size_t why_len)
{
    struct mw_redis_url url;
    if (mw_redis_url_parse(cfg->redis.url, &url, why, why_len) < 0)
        return -EINVAL;
    struct mw_rsync *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return -ENOMEM;
    snprintf(rs->index_cursor, sizeof(rs->index_cursor), "0");
    rs->loop = loop;
    rs->cb = cb;
    rs->arg = arg;
    rs->all = cfg->redis.all;
    if (cfg->redis.state_dir) {
        rs->state_dir = strdup(cfg->redis.state_dir);
        mkdir(cfg->redis.state_dir, 0750); /* an existing directory is fine */
    }
    for (size_t i = 0; i < cfg->redis.n_lists; i++)
        add_list(rs, cfg->redis.lists[i]);
    load_state(rs, cfg);
    static const struct mw_rconn_cbs cmd_cbs = {.on_up = cmd_up, .on_down = cmd_down};
    static const struct mw_rconn_cbs blk_cbs = {.on_up = blk_up, .on_down = blk_down};
    /* The blocking connection cannot answer PINGs while XREAD waits: its liveness is the
     * XREAD itself, which returns at least once a second. */
    struct mw_rconn_params bp = {.ping_interval_ms = MW_RCONN_NO_PING, .timeout_ms = 5000};
    int rc = mw_rconn_new(loop, &url, &cmd_cbs, rs, &rs->cmd);
    if (rc == 0)
        rc = mw_rconn_new(loop, &url, &blk_cbs, rs, &rs->blk);
    if (rc == 0)
        rc = mw_rconn_set_params(rs->blk, &bp);
    if (rc < 0) {
        snprintf(why, why_len, "cannot set up the Redis connection: %s", strerror(-rc));
        /* rconns not started yet close synchronously enough for start-up failure */
        if (rs->cmd)
            mw_rconn_close(rs->cmd, NULL);
        if (rs->blk)
            mw_rconn_close(rs->blk, NULL);
        free(rs->state_dir);
        free(rs);
        return rc;
    }
    uv_timer_init(loop, &rs->check);
    uv_timer_init(loop, &rs->save);
    rs->check.data = rs->save.data = rs;
    rs->open = 4;
    size_t k = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->lists[i]->cur)
            rs->versions[k++] = rs->lists[i]->cur;
    rs->n_versions = k;
    *out = rs;
    return 0;
}

int mw_rsync_start(struct mw_rsync *rs)
{
    uv_timer_start(&rs->check, check_tick, CHECK_MS, CHECK_MS);
    uv_timer_start(&rs->save, save_dirty, SAVE_DELAY_MS, SAVE_DELAY_MS);
    int rc = mw_rconn_start(rs->cmd);
    return rc < 0 ? rc : mw_rconn_start(rs->blk);
}

void mw_rsync_closed_one(struct mw_rsync *rs)
{
    if (--rs->open)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        struct mw_rsync_list *l = rs->lists[i];
        mw_rlist_unref(l->cur);
        mw_rdelta_free(l->delta);
        mw_rbase_builder_free(l->builder);
        free(l);
    }
    void (*done)(void *) = rs->done;
    void *arg = rs->done_arg;
    free(rs->lists);
    free(rs->versions);
    free(rs->state_dir);
    free(rs);
    if (done)
        done(arg);
}

static void rconn_closed(void *arg)
{
    mw_rsync_closed_one(arg);
}

static void timer_closed(uv_handle_t *h)
{
    mw_rsync_closed_one(h->data);
}

void mw_rsync_close(struct mw_rsync *rs, void (*done)(void *arg), void *arg)
{
    if (rs->closing)
        return;
    rs->closing = true;
    rs->done = done;
    rs->done_arg = arg;
    save_dirty(&rs->save); /* the last changes reach the state directory */
    uv_close((uv_handle_t *)&rs->check, timer_closed);
    uv_close((uv_handle_t *)&rs->save, timer_closed);
    mw_rconn_close(rs->cmd, rconn_closed);
    mw_rconn_close(rs->blk, rconn_closed);
}

void mw_rsync_stats(const struct mw_rsync *rs, struct mw_rsync_stats *out)
{
    *out = rs->st;
}
