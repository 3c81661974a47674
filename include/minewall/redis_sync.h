/* Fleet list sync: the lists named in `redis.lists` (or every published list with "*") are
 * loaded from the state directory at start, then fully synced from Redis (the change log's
 * newest id is taken BEFORE the SSCAN, so following the log from it afterwards misses
 * nothing; replaying an overlap is harmless because applying a change is idempotent), then
 * followed with XREAD BLOCK on a second connection. Changes go into each list's delta, so a
 * change never rebuilds a large list; a delta that grows past a bound triggers a full resync.
 * Redis is never the outage: while it is away the last versions stay in force; a list whose
 * keys vanish keeps its copy and is reported stale; a log trimmed past the last id seen
 * triggers a full resync. Runs on the control loop; the query path never waits on it. The
 * events streams are events.c's. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct mw_config;
struct mw_rlist;
struct mw_rsync;

/* Called on the control loop whenever the set of list versions changed. */
typedef void (*mw_rsync_change_cb)(void *arg);

/* Create the sync for cfg->redis and load every state file found (synchronously, before
 * Redis answers). Returns 0 or a negative errno with a message in why. */
int mw_rsync_new(uv_loop_t *loop, const struct mw_config *cfg, mw_rsync_change_cb cb, void *arg,
                 struct mw_rsync **out, char *why, size_t why_len);
int mw_rsync_start(struct mw_rsync *rs);
/* Asynchronous; done(arg) when every connection is closed. */
void mw_rsync_close(struct mw_rsync *rs, void (*done)(void *arg), void *arg);

/* The current versions (borrowed; valid until the next change callback). */
size_t mw_rsync_lists(const struct mw_rsync *rs, struct mw_rlist *const **out);

struct mw_rsync_stats {
    uint64_t full_syncs, deltas_applied, resyncs_gap, stale_lists;
    uint64_t lists_refused;   /* names (bad, over 1024 lists) or metas refused, once each */
    uint64_t meta_changes;    /* "meta" log records applied */
    uint64_t lists_retired;   /* lists dropped by a "retire" record */
    uint64_t catalog_ignored; /* catalog records that were not create/meta/retire of a name */
    int up;
};
void mw_rsync_stats(const struct mw_rsync *rs, struct mw_rsync_stats *out);
