/* The newly-observed-domain detector on the control loop (detect.new-domains): owns the filter
 * (nod.h) and its file, the timed blocks of new domains, the fleet check in Redis and the
 * new_domain events (nodevent.h). Made at start from the start config; changes of the section
 * other than action and block-for take effect on restart.
 *
 * Workers (any thread) call mw_nod_observe() on the shared filter for the registered domain of
 * every NOERROR answer from upstream (never on a cache hit), hand the new ones and the daily
 * fleet refreshes to mw_nodsvc_report() (a mutex and a copy into a bounded queue), and, when
 * the action blocks, ask mw_nodsvc_blocked() on the miss path. The first report of a batch
 * wakes the control loop (uv_async), which drains the queue: a local event goes to the journal
 * queue (or, without a journal, straight to the Redis routing stream), and with Redis a fleet
 * check is queued in a backlog and sent, at most max-in-flight at a time, the next as each reply
 * comes; a check is dropped and counted while Redis is away or when the backlog is full. The
 * check is one EVAL:
 *
 *   SADD minewall:nod:YYYYMMDD DOMAIN; EXPIRE it fleet-days days; new when SADD added it and
 *   none of the previous fleet-days - 1 day sets holds it
 *
 * and a domain new to this resolver that the fleet did not know either becomes a "fleet"
 * event when the reply comes. Each resolver adds every domain it uses to the day's set once a
 * day (the filter's today part), so the fleet's memory of a domain in use never expires.
 *
 * The filter is saved to STATE-DIR/new-domains.bloom every save-interval when it changed (on
 * the thread pool), and at close; at start it is loaded, and a file that is corrupt, cut
 * short or made for another capacity or fp-rate is reported and replaced by a new filter. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct mw_config;
struct mw_events;
struct mw_geo;
struct mw_http_response;
struct mw_journal_queue;
struct mw_nod;
struct mw_nod_event;
struct mw_nodsvc;

#define MW_NODSVC_FILE "new-domains.bloom"
#define MW_NODSVC_QUEUE 1024   /* reports between two drains (each wakes the loop) */
#define MW_NODSVC_BACKLOG 4096 /* fleet checks waiting for a free in-flight slot */
#define MW_NODSVC_BLOCKS 4096  /* domains blocked at once (timed blocks) */

struct mw_nodsvc_stats {
    uint64_t new_local, new_fleet; /* events */
    uint64_t queue_dropped;        /* reports refused: the queue was full */
    uint64_t redis_dropped;        /* fleet checks not sent: Redis away, or the backlog full */
    uint64_t redis_errors;         /* checks answered by an error or lost with the connection */
    uint64_t redis_in_flight;
    uint64_t events_dropped; /* lines the journal queue refused, or too long */
    uint64_t blocks_evicted; /* timed blocks pushed out by a full table */
    uint64_t saves, save_errors, load_failures;
};

/* Load or make the filter (logging what happened with the file) and, with
 * new_domains.redis, the fleet connection to redis.url. journal (may be NULL) receives the
 * event lines; without it ev (may be NULL) sends them to the routing stream. geo (may be NULL)
 * annotates addresses. All are borrowed and must outlive the service. Returns 0, or a negative
 * errno with a message in why. */
int mw_nodsvc_new(uv_loop_t *loop, const struct mw_config *cfg, const char *host,
                  struct mw_journal_queue *journal, struct mw_events *ev, const struct mw_geo *geo,
                  struct mw_nodsvc **out, char *why, size_t why_len);
int mw_nodsvc_start(struct mw_nodsvc *s);
/* Shutdown begins: close the fleet connection (checks in flight are lost) and let the loop
 * end without waiting for the timer. NULL is a no-op. */
void mw_nodsvc_stop(struct mw_nodsvc *s);
/* Drain what is queued, save the filter, close the timer (and the connection when not stopped)
 * asynchronously. Call after the workers stopped. NULL is a no-op. */
void mw_nodsvc_close(struct mw_nodsvc *s);
/* After the loop ran the close through. NULL is a no-op. */
void mw_nodsvc_free(struct mw_nodsvc *s);

/* The shared filter (borrowed; lives as long as s). */
struct mw_nod *mw_nodsvc_filter(struct mw_nodsvc *s);
/* Does the service check the fleet (redis on)? Workers then report daily refreshes too. */
bool mw_nodsvc_fleet(const struct mw_nodsvc *s);

/* Queue an event or a refresh (copied). Any thread; never blocks beyond a mutex. */
void mw_nodsvc_report(struct mw_nodsvc *s, const struct mw_nod_event *e);

/* Timed blocks of new domains (any thread). The registered domain name (lowercase wire) is
 * blocked until until_ms (the workers' loop clock, uv_now; now_ms is that clock now). */
void mw_nodsvc_block(struct mw_nodsvc *s, const uint8_t *name, size_t len, uint64_t now_ms,
                     uint64_t until_ms);
/* Is any domain blocked at now_ms? One atomic load: the miss path asks this first. */
bool mw_nodsvc_blocking(const struct mw_nodsvc *s, uint64_t now_ms);
bool mw_nodsvc_blocked(struct mw_nodsvc *s, const uint8_t *name, size_t len, uint64_t now_ms);

/* Do the detect.new-domains settings of two configs differ in anything but action and
 * block-for, which a reload applies? */
bool mw_nodsvc_restart_needed(const struct mw_config *old, const struct mw_config *cfg);

void mw_nodsvc_stats(struct mw_nodsvc *s, struct mw_nodsvc_stats *out);
/* Append the detector's families to /metrics. NULL s writes nothing. */
void mw_nodsvc_metrics(struct mw_nodsvc *s, struct mw_http_response *r);
