/* The events publisher: block hits and routing changes go to the Redis streams
 *
 *   minewall:events:blocks   fields host ts client qname qtype list category action rule
 *                            where matched (ts in unix seconds)
 *   minewall:events:routing  fields host type event (the journal's JSON line)
 *
 * (MAXLEN ~ 100000 each), on the events-url connection or, without one, a connection to the
 * sync's url. Producers hand over typed events: a struct mw_block_event (blocklog.h) from any
 * worker, a struct mw_routing_event from the journal writer on the control loop. Block events
 * are copied into a bounded queue (bounded fields: a longer rule or match is cut and counted)
 * and sent in batches every 200 ms; nothing ever waits for Redis: while it is away, and when
 * the queue is full, events are dropped and counted. Runs on the control loop. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "minewall/journal.h"

struct mw_block_event;
struct mw_config;
struct mw_events;

/* One routing-change event: a journal line of the given type. */
struct mw_routing_event {
    enum mw_journal_type type;
    const char *json; /* borrowed for the call: the line, without its '\n' */
    size_t len;
};

struct mw_events_stats {
    uint64_t sent;      /* XADDs Redis accepted */
    uint64_t dropped;   /* lost: queue full, Redis away or an error reply */
    uint64_t truncated; /* block events sent with a field cut to its bound */
};

/* Create the publisher for cfg->redis (events-url, else url); events name host (this host's
 * name, copied). Returns 0, or a negative errno with a message in why. */
int mw_events_new(uv_loop_t *loop, const struct mw_config *cfg, const char *host,
                  struct mw_events **out, char *why, size_t why_len);
int mw_events_start(struct mw_events *ev);
/* Send what is queued (when Redis is up), then close the connection and the timer
 * asynchronously. Producers may still push until mw_events_free; pushes are then dropped. */
void mw_events_close(struct mw_events *ev);
/* Free after the loop has run the close through and no producer is left. NULL is a no-op. */
void mw_events_free(struct mw_events *ev);

/* Queue a block hit (copied; e is borrowed). Any thread; never blocks beyond a mutex and
 * never calls back. Returns 0, or -ENOSPC when the queue is full (dropped and counted). */
int mw_events_block(struct mw_events *ev, const struct mw_block_event *e);

/* Send a routing-change event now (pipelined). Control loop only; dropped and counted while
 * Redis is away. */
void mw_events_routing(struct mw_events *ev, const struct mw_routing_event *e);

void mw_events_stats(struct mw_events *ev, struct mw_events_stats *out);
