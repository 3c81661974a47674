/* The block log: one JSON object per line for every filtering hit (time, client, qname,
 * qtype, list, category, action, rule, where it matched). Shared by all workers: each line is
 * one write(2) to an O_APPEND descriptor, so lines from several threads never interleave.
 * Repeats of the same (client address, name, qtype) within a second are folded: the first hit
 * is written at once, the repeats are counted and written as one line with "count" and
 * "folded": true when the second is over (mw_blockfold_flush), stamped ("ts") when written and
 * carrying the first and last repeat times ("first_ts", "last_ts"; on a first hit both are its
 * "ts"). reopen() serves log rotation on SIGHUP. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

struct mw_blocklog;
struct mw_blockfold;

struct mw_block_event {
    uint64_t wall_ms;              /* wall clock, ms since the epoch */
    const struct sockaddr *client; /* AF_INET/AF_INET6 */
    const uint8_t *qname;          /* lowercase wire */
    size_t qname_len;
    uint16_t qtype;
    const char *list, *category, *action, *rule, *where;
    const char *matched; /* CNAME target or address for answer-side hits; "" otherwise */
    /* The control API paused blocking (minewall-ctl pause): the query was answered as if
     * allowed. The line then says "paused":true with the action that would have applied. */
    bool paused;
    const char *group; /* the client's group (NULL: no "group" field) */
};

/* Open (create, append) path. Returns 0 or a negative errno. */
int mw_blocklog_open(const char *path, struct mw_blocklog **out);
/* Reopen the same path (after rotation); on failure the old descriptor stays. */
int mw_blocklog_reopen(struct mw_blocklog *b);
const char *mw_blocklog_path(const struct mw_blocklog *b);
struct mw_blocklog *mw_blocklog_ref(struct mw_blocklog *b);
void mw_blocklog_unref(struct mw_blocklog *b);
/* Lines written and lines lost to write errors. */
void mw_blocklog_counts(const struct mw_blocklog *b, uint64_t *written, uint64_t *failed);

/* The wall clock in milliseconds, as block lines are stamped. */
static inline uint64_t mw_blocklog_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Per-worker fold state. */
struct mw_blockfold *mw_blockfold_new(void);
void mw_blockfold_free(struct mw_blockfold *f);

/* Record one hit at monotonic time now_ms: written now, or counted as a repeat. */
void mw_blocklog_hit(struct mw_blocklog *b, struct mw_blockfold *f, const struct mw_block_event *e,
                     uint64_t now_ms);
/* Write the folded repeats of windows that ended before now_ms (all of them when force),
 * stamped wall_now (the wall clock in ms, read by the caller for this write). */
void mw_blockfold_flush(struct mw_blocklog *b, struct mw_blockfold *f, uint64_t now_ms,
                        uint64_t wall_now, bool force);
