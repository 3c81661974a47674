/* The journal writer: routing-change events (JSON lines) come from any thread through a
 * bounded queue (workers never block on it; overflow is counted) and are written to the
 * journal file by the control loop every 200 ms, then handed to an optional forwarder (the
 * Redis stream minewall:events:routing). A journal file that cannot be opened or written does
 * not stop minewall: the lost lines are counted. The file is reopened on SIGHUP. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "minewall/journal.h"

struct mw_jlog;
struct mw_journal_queue;
struct mw_routing_event;

/* Called on the control loop for every line taken from the queue, after it was written; ev
 * and its line are borrowed for the call. */
typedef void (*mw_jlog_forward_cb)(void *arg, const struct mw_routing_event *ev);

struct mw_jlog_stats {
    uint64_t by_type[MW_JOURNAL_TYPES]; /* events taken from the queue, by type */
    uint64_t written;                   /* lines written to the file */
    uint64_t lost;    /* lines that could not be written (file not open, write error) */
    uint64_t dropped; /* lines refused by the full queue */
    uint64_t pushed;
};

/* Open path (append, create) and start the flush timer on loop. An open failure is logged
 * and counted as lost lines later, not returned. Returns 0 or -ENOMEM. */
int mw_jlog_new(uv_loop_t *loop, const char *path, struct mw_jlog **out);
/* The queue producers push lines into (valid until mw_jlog_close completes). */
struct mw_journal_queue *mw_jlog_queue(struct mw_jlog *j);
void mw_jlog_set_forward(struct mw_jlog *j, mw_jlog_forward_cb cb, void *arg);
/* Reopen the file (log rotation). */
void mw_jlog_reopen(struct mw_jlog *j);
/* Write what is queued now (also done by the timer). */
void mw_jlog_flush(struct mw_jlog *j);
void mw_jlog_stats(struct mw_jlog *j, struct mw_jlog_stats *out);
/* Flush, stop and free once the timer is closed. Producers must be gone. */
void mw_jlog_close(struct mw_jlog *j);
