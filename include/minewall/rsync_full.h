/* Inside the fleet list sync (redis_sync.h is its interface): the state redis_sync.c (the
 * connections, the catalog, following the logs, state files) and rsync_full.c (the full sync
 * of one list: log head, meta, SSCAN batches, the base built on the thread pool) share, and
 * the calls between them. Not for other modules.
 *
 * Per list the phases are: IDLE (nothing in flight), SYNC (a full sync or a resume check)
 * and FOLLOW (its log is part of the XREAD BLOCK on the second connection). Every reply
 * callback checks the list's epoch, so a reply that outlived a disconnect or a restarted sync
 * is ignored. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "minewall/redis_sync.h"
#include "minewall/rlist.h"

struct redisReply;
struct mw_rconn;

enum mw_rsync_phase { IDLE, SYNC, FOLLOW };

struct mw_rsync_list {
    struct mw_rsync *rs;
    char name[128];
    char k_meta[200], k_entries[200], k_log[200];
    enum mw_rsync_phase phase;
    unsigned epoch;
    struct mw_rlist *cur;    /* owned reference; NULL before the first sync or state file */
    struct mw_rdelta *delta; /* changes since cur->base */
    char last_id[48];
    /* full sync in progress */
    struct mw_rlist_meta meta;
    struct mw_rbase_builder *builder;
    char start_id[48];
    bool meta_found;
    bool meta_refused;   /* its meta was refused (logged once until it changes) */
    bool dirty;          /* a state file save is due */
    bool retired;        /* dropped on purpose ("retire" record): not enforced, no state file */
    bool retire_seen;    /* full sync: the log's newest record is "retire" */
    unsigned life;       /* counts retirements: a base built before one is dropped */
    unsigned build_life; /* life when the build was queued */
    unsigned log_seq;    /* bumped whenever log records are applied */
    bool building;       /* the base is being built on the thread pool (work in use) */
    uv_work_t work;
    struct mw_rbase *built;
};

struct mw_rsync {
    uv_loop_t *loop;
    struct mw_rconn *cmd, *blk;
    char *state_dir;
    bool all;
    struct mw_rsync_list **lists;
    size_t n, cap;
    struct mw_rlist **versions; /* parallel to lists with a version, for readers */
    size_t n_versions;
    mw_rsync_change_cb cb;
    void *arg;
    uv_timer_t check, save;
    uint64_t refused[32]; /* hashes of refused list names: each is logged once */
    bool xread_pending;
    unsigned follow_gen; /* bumped when a stream joins the followed set */
    unsigned xread_gen;  /* follow_gen when the pending XREAD was sent */
    long long blk_id;    /* CLIENT ID of blk: CLIENT UNBLOCK ends a pending XREAD early */
    bool unblock_sent;
    bool catalog_ready;    /* catalog_id is known: the catalog is part of the XREAD */
    char catalog_id[48];   /* the last catalog record seen */
    char index_cursor[32]; /* SSCAN cursor over minewall:lists, one step per poll */
    bool closing;
    unsigned open; /* rconns and timers not yet closed */
    void (*done)(void *);
    void *done_arg;
    struct mw_rsync_stats st;
};

/* What a reply callback needs to know whether its reply still counts. */
struct cb_ctx {
    struct mw_rsync_list *l;
    unsigned epoch;
    unsigned log_seq; /* l->log_seq when sent */
};

/* A context for a command about l, or NULL on ENOMEM (free it when the command is not
 * sent). */
struct cb_ctx *mw_rsync_ctx_new(struct mw_rsync_list *l);
/* Frees privdata (a cb_ctx). Returns the list of a reply, or NULL when the reply belongs to
 * an abandoned attempt; a NULL reply (connection lost) resets the list to IDLE. */
struct mw_rsync_list *mw_rsync_ctx_take(void *privdata, const struct redisReply *r);
/* Start a full sync of l unless one runs, its base is being built or Redis is down. */
void mw_rsync_full_sync(struct mw_rsync_list *l);

/* redis_sync.c: hand the current versions to the readers (calls the change callback). */
void mw_rsync_publish(struct mw_rsync *rs);
/* redis_sync.c: make v (owned, may be NULL: nothing happens) l's version in force. */
void mw_rsync_set_version(struct mw_rsync_list *l, struct mw_rlist *v);
/* redis_sync.c: keep one XREAD BLOCK outstanding over every followed log. */
void mw_rsync_follow(struct mw_rsync *rs);
/* redis_sync.c: drop l (a "retire" record). Returns true when a version was dropped: the
 * caller publishes. */
bool mw_rsync_retire(struct mw_rsync_list *l);
/* redis_sync.c: one of the handles (or a base build) holding the sync open has finished. */
void mw_rsync_closed_one(struct mw_rsync *rs);
