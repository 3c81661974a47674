/* Per worker: the top-N tables' capacity, and how many of each a worker publishes. */
#define MW_WORKER_TOP_CAP 256
#define MW_WORKER_TOP_PUB 100
/* Above this many queries a second a worker counts one query in MW_WORKER_TOP_SAMPLE for its
 * top-N (with that weight): the estimates of heavy hitters stay good, the cost falls by that
 * factor. Below it, every query is counted exactly. */
#define MW_WORKER_TOP_EXACT_QPS 2000
#define MW_WORKER_TOP_SAMPLE 8
enum { MW_WORKER_TOP_CLIENTS, MW_WORKER_TOP_NAMES };

/* A worker: one thread, one libuv loop, and everything that loop drives — client listeners
 * (SO_REUSEPORT, so every worker binds the same addresses), TCP client connections, the
 * upstream sockets, the query pools and the counters. Nothing here is shared with another
 * worker except the snapshot (immutable, refcounted), the answer cache (cache.h: sharded, a
 * mutex per shard) and the upstreams' health board its config carries (health.h: atomics written by
 * the one prober, read by the workers once per sync tick, never per query). The control loop in
 * server.c talks to a worker only through mw_worker_post_snapshot() and mw_worker_stop(). */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "minewall/cache.h"
#include "minewall/dnsmsg.h"
#include "minewall/dotconn.h"
#include "minewall/netaddr.h"
#include "minewall/rebind.h"
#include "minewall/topn.h"
#include "minewall/tunnel.h"

struct mw_snapshot;
struct mw_listener;
struct mw_upstreams;
struct mw_queries;
struct mw_tcp_conn;
struct mw_regmemo;

/* Metric labels of client groups: default, the first MW_GROUP_LABELS - 2 groups in config order
 * by name, and "other" for the rest, so the label set stays bounded however many groups. */
#define MW_GROUP_LABELS 66
/* Notices of other workers' fetches a worker queues between two wakeups. */
#define MW_WORKER_READY_CAP 256
/* Groups paused at once by minewall-ctl pause --group. */
#define MW_PAUSE_GROUPS 16

/* Counters of one worker; written only by its thread, summed by readers at scrape time. */
struct mw_worker_stats {
    uint64_t queries_udp, queries_tcp;
    uint64_t answers_noerror, answers_nxdomain, answers_servfail, answers_other;
    uint64_t cache_hits, cache_misses, stale_served, coalesced;
    uint64_t coalesced_workers; /* misses that waited for another worker's fetch of the key */
    uint64_t drop_malformed;    /* unparseable client packets dropped */
    uint64_t formerr, notimp, refused_access;
    uint64_t upstream_spoofed; /* responses that failed address/port/id/question checks */
    uint64_t upstream_stray;   /* responses for no pending query */
    uint64_t upstream_malformed;
    uint64_t upstream_tcp_fallback;
    uint64_t send_errors;
    uint64_t tcp_conns, tcp_rejected, tcp_idle_closed;
    uint64_t usock_rotations;
    uint64_t blocked_qname, blocked_answer, monitor_hits, allowed;
    /* Queries answered from local data / local zones (localzone.c), by what they got. */
    uint64_t local_answer, local_nodata, local_nxdomain, local_refused;
    uint64_t journal_answer_changes, journal_dropped;
    uint64_t ratelimited;
    /* Output bounds (listener.c): reading paused for unsent output; connections closed at
     * tcp.output-limit and at tcp.worker-output-limit; UDP answers dropped at udp.send-queue. */
    uint64_t tcp_out_paused, tcp_out_closed, tcp_worker_out_closed, udp_send_dropped;
    /* Gauges set when publishing: output waiting for TCP clients and for UDP socket room. */
    uint64_t tcp_out_bytes, udp_queued_bytes;
    /* Fetch-side bounds (fetch.*): queries over a bound, and what became of them. */
    uint64_t fetch_overflow;        /* misses over fetch.max-per-worker */
    uint64_t waiters_overflow;      /* misses over fetch.max-waiters */
    uint64_t queries_overflow;      /* misses over fetch.max-queries */
    uint64_t overflow_stale;        /* of those, answered from a stale cache entry */
    uint64_t upstream_tcp_overflow; /* truncated answers not retried: fetch.max-tcp */
    uint64_t pool_freed;            /* bytes of idle pool objects freed after a burst */
    uint64_t malloc_trims;          /* malloc_trim() calls after large frees */
    /* Rebinding guard detections (blocked or, with action log, recorded) by address class
     * (enum mw_rebind_class; [0] unused). */
    uint64_t rebinding[MW_REBIND_COUNT];
    /* DGA detector (detect.dga): detections by enum mw_dga_level ([0] unused), labels scored
     * by the model, lookups the memo answered, memo entries evicted for new ones. */
    uint64_t dga[4];
    uint64_t dga_scored, dga_memo_hits, dga_memo_evictions;
    uint64_t paused_hits; /* blocks not enforced: minewall-ctl pause */
    /* Client groups (qgroup.h): queries and block hits by group label (MW_GROUP_LABELS). */
    uint64_t group_queries[MW_GROUP_LABELS], group_blocks[MW_GROUP_LABELS];
    /* Tunnel detection (tunnel.h): detections, queries met by a block in force, and the
     * table's bound (states and blocks evicted) and gauges, set when publishing. */
    uint64_t tunnel_detections, tunnel_blocked;
    uint64_t tunnel_evicted, tunnel_blocks_evicted, tunnel_entries, tunnel_blocks;
};

/* Fetch-side gauges of a worker, published with its counters. */
struct mw_fetch_gauges {
    uint64_t in_flight;      /* questions waiting for upstream (one fetch each) */
    uint64_t in_flight_peak; /* the most at once since start */
    uint64_t waiting;        /* client queries waiting on them */
    uint64_t pooled;         /* idle objects kept by the pools */
    uint64_t upstream_tcp;   /* TCP fallback connections open */
};

/* Response counts by transport (udp, tcp), query type and rcode, for metrics. */
enum { MW_M_QTYPES = 11, MW_M_RCODES = 7, MW_M_LAT = 12, MW_M_BLOCKS = 256, MW_M_UPS = 32 };

/* Block hits by (list, category, action, where): a fixed table the worker fills and never
 * moves, so a scrape can copy it. */
struct mw_block_counter {
    char list[96], category[64];
    uint8_t action, where;
    uint64_t count;
};

/* Upstream counters as published. */
struct mw_upstream_pub {
    char label[MW_UPSTREAM_LABEL];
    bool up;
    double srtt_ms;
    uint64_t queries, answers, timeouts, errors;
    uint64_t lat[MW_M_LAT];  /* answer RTT histogram, buckets of MW_LAT_BOUNDS_MS */
    bool tls;                /* a DNS-over-TLS or -HTTPS upstream: dot applies */
    struct mw_dot_stats dot; /* its connection pools' counters, as dotconn.h keeps them */
};

/* One recent block hit (for the status page). */
struct mw_worker_hit {
    uint8_t qname[256]; /* wire: formatted only when a scrape asks */
    uint16_t qname_len;
    uint16_t list; /* index in the lists of the worker's snapshot at the time */
    struct mw_addr client;
};
#define MW_M_RECENT 16

/* What a worker publishes once a second for scrapes (under pub_lock). */
struct mw_worker_pub {
    struct mw_worker_stats stats;
    struct mw_fetch_gauges fetch;
    struct mw_cache_stats cache;
    uint64_t responses[2][MW_M_QTYPES][MW_M_RCODES];
    uint64_t client_lat[MW_M_LAT];
    struct mw_block_counter blocks[MW_M_BLOCKS];
    unsigned n_blocks;
    struct mw_upstream_pub ups[MW_M_UPS];
    unsigned n_ups;
    struct mw_worker_hit recent[MW_M_RECENT]; /* ring, newest at recent_pos - 1 */
    unsigned n_recent, recent_pos;
};

struct mw_worker {
    unsigned index;
    uv_loop_t loop;
    uv_thread_t thread;
    bool thread_started;
    uv_async_t wakeup;          /* snapshot posted or stop requested */
    uv_timer_t grace;           /* shutdown: how long in-flight queries may finish */
    uv_mutex_t lock;            /* guards the posted fields below only */
    struct mw_snapshot *posted; /* owned ref, taken under lock */
    bool stop_requested;        /* under lock */

    struct mw_snapshot *snap; /* owned ref; the config this worker serves */
    bool stopping;

    /* Where listeners hand each client message: query.c's entry points, wired here by
     * mw_worker_init so that the listener does not call up into query.c. */
    void (*on_udp)(struct mw_worker *w, struct mw_listener *l, const uint8_t *pkt, size_t len,
                   const struct sockaddr *from);
    void (*on_tcp)(struct mw_worker *w, struct mw_tcp_conn *c, const uint8_t *pkt, size_t len);

    bool reuseport; /* other workers share the listen addresses (threads > 1 at start) */
    struct mw_listener *listeners; /* owned list */
    struct mw_tcp_conn *conns;     /* owned list of client connections */
    unsigned n_conns;
    uint64_t tcp_out_queued; /* unsent TCP answer bytes over all conns (tcp.worker-output-limit) */
    uint64_t udp_queued;     /* bytes of UDP answers waiting for socket room (udp.send-queue) */

    struct mw_cache *cache; /* borrowed: the server's, one for all workers (cache.h) */
    /* Every worker (server.c's array, this one too; borrowed, set before the threads start,
     * freed after every thread ended): a fetch that other workers' questions wait on (the
     * cache's in-flight marks) tells them through mw_worker_post_ready. n_siblings <= 1: no
     * marks at all. */
    struct mw_worker *const *siblings;
    unsigned n_siblings;
    /* Inbox of those notices, under lock: key hashes and whether the fetch answered; past
     * MW_WORKER_READY_CAP, ready_all has every parked question looked at again. */
    uint64_t ready[MW_WORKER_READY_CAP];
    uint8_t ready_how[MW_WORKER_READY_CAP]; /* bit 0: answered; bit 1: the CD variant */
    unsigned n_ready;
    bool ready_all;
    bool inbox_closed;        /* the wakeup async is closing: notices are dropped */
    struct mw_upstreams *ups; /* owned */

    struct mw_queries *queries; /* owned by query.c: pending questions, waiters, pools */

    unsigned open_handles; /* handles not yet closed, for a clean loop close */

    /* Metrics: written by this worker only; published once a second into pub. */
    uint64_t responses[2][MW_M_QTYPES][MW_M_RCODES]; /* transport, qtype index, rcode index */
    uint64_t client_lat[MW_M_LAT];                   /* miss latency as the client sees it */
    struct mw_block_counter blocks[MW_M_BLOCKS];
    unsigned n_blocks;
    struct mw_worker_hit recent[MW_M_RECENT];
    unsigned n_recent, recent_pos;
    uv_timer_t pub_timer; /* also trims the pools after a burst */
    size_t trim_bytes;    /* freed since the last malloc_trim() */
    uv_mutex_t pub_lock;
    struct mw_worker_pub pub; /* under pub_lock */

    struct mw_blockfold *fold;             /* owned; block-log repeat folding of this worker */
    struct mw_answerdiff *ad;              /* owned; last answer sets for the journal, or NULL */
    struct mw_ratelimit *rl;               /* owned; per-client rate limiting, or NULL when off */
    struct mw_tunnel *tunnel;              /* owned; detect.c makes it on the first miss, or NULL */
    struct mw_tunnel_params tunnel_params; /* what tunnel was made with */
    uint64_t tunnel_gen;                   /* the snapshot generation it was checked against */
    struct mw_regmemo *regmemo;            /* owned; registered domains for the detectors */
    uv_timer_t fold_timer;                 /* writes folded repeats once their second is over */
    uint64_t event_seen[256]; /* block events to Redis: last ms per (client, name) hash */

    struct mw_worker_stats stats;
    /* dnstap (tap.c): the clock reading the frames of this turn of the loop share (Unix
     * seconds << 32 | nanoseconds), 0: none taken yet. The first frame after the poll takes it;
     * tap_turn clears it before the next poll. */
    uint64_t tap_now;
    uv_prepare_t tap_turn; /* started when the snapshot has dnstap output (settings fixed) */

    /* Control API (server.c, control.h). paused is read where a verdict blocks, never on the
     * pass path. A flush is posted under lock (one at a time: the server waits for it) and
     * carried out on the next wakeup; the worker then sets flush_done and sends notify. */
    atomic_bool paused;
    /* Client groups paused (qgroup.h): the tags (mw_group_tag) of up to MW_PAUSE_GROUPS groups,
     * 0 for a free slot; n_paused_groups > 0 when any is set, read first. */
    _Atomic uint64_t paused_groups[MW_PAUSE_GROUPS];
    atomic_uint n_paused_groups;
    /* Per-group rate limiters (qgroup.c), made at a group's first query, for the config
     * group_rl_cfg; owned; n_group_rl entries. */
    struct mw_ratelimit **group_rl;
    size_t n_group_rl;
    const struct mw_config *group_rl_cfg;
    uint64_t flush_seq;          /* under lock: the last flush posted */
    bool flush_all;              /* under lock */
    uint8_t flush_name[256];     /* under lock: lowercase wire */
    uint16_t flush_len;          /* under lock */
    _Atomic uint64_t flush_done; /* the last flush carried out */
    _Atomic uint64_t flushed;    /* cache entries removed by flushes, in all */
    uv_async_t *notify;          /* under lock; borrowed, may be NULL: ctlapi.c's */
    struct mw_topn *top[2];      /* owned: clients, names (MW_WORKER_TOP_*) */
    struct mw_topn_item top_pub[2][MW_WORKER_TOP_PUB]; /* under pub_lock */
    size_t n_top_pub[2];                               /* under pub_lock */
    uint64_t top_total_pub;                            /* under pub_lock */
    uint32_t top_every; /* count 1 query in top_every (weight top_every): set once a second */
    uint32_t top_skip;
    uint64_t top_last_queries; /* queries at the last tick */

    /* Scratch for rendering one reply; the loop runs one callback at a time. */
    uint8_t out[MW_DNS_MAXMSG + 512];
};

/* Set up a worker's loop, upstreams and listeners for snap (takes a new reference), answering
 * from cache (borrowed: shared by every worker, freed by the caller after the last join).
 * Binding errors are returned (negative errno) with *bad_listen set to the address that
 * failed; nothing is left open then. Runs on the calling thread; the loop does not run yet. */
int mw_worker_init(struct mw_worker *w, unsigned index, struct mw_snapshot *snap,
                   struct mw_cache *cache, const struct mw_addr **bad_listen);

/* The cache bounds and clamps of cfg (shards left 0). */
struct mw_config;
void mw_worker_cache_params(const struct mw_config *cfg, struct mw_cache_params *p);

/* Run the loop on a new thread. */
int mw_worker_start(struct mw_worker *w);

/* Thread-safe: hand a new snapshot to the worker (takes a reference). */
void mw_worker_post_snapshot(struct mw_worker *w, struct mw_snapshot *snap);

/* Thread-safe: stop accepting, let in-flight queries finish for up to grace_ms, then close
 * everything; the thread ends and mw_worker_join() returns. */
void mw_worker_stop(struct mw_worker *w);

/* Wait for the thread and release the loop. */
void mw_worker_join(struct mw_worker *w);

/* Copy what the worker last published (at most a second old). Thread-safe. */
void mw_worker_pub_read(struct mw_worker *w, struct mw_worker_pub *out);

/* Upper bounds (ms) of the latency histogram buckets; the last is +Inf. */
extern const double MW_LAT_BOUNDS_MS[MW_M_LAT];
/* The bucket of a latency. */
unsigned mw_lat_bucket(uint64_t ms);
/* Index of a query type among the common ones (MW_M_QTYPES - 1 is "other"), and its name. */
unsigned mw_qtype_index(uint16_t qtype);
const char *mw_qtype_index_name(unsigned i);
/* Count a block hit in the worker's table. */
void mw_worker_count_block(struct mw_worker *w, const char *list, const char *category,
                           unsigned action, unsigned where);

/* Thread-safe: blocking off (true) or on for this worker. */
void mw_worker_set_paused(struct mw_worker *w, bool paused);
/* Thread-safe: the async to send after each flush (NULL: none; once this returns, the old one
 * is not sent any more). */
void mw_worker_set_notify(struct mw_worker *w, uv_async_t *notify);
/* Thread-safe: another worker's fetch of the key with hash (and CD bit cd) ended (ok: answered, and
 * the answer inserted into the cache if it could be); w's questions parked on it are answered or
 * fetched on its next wakeup. Does nothing once w is finishing. */
void mw_worker_post_ready(struct mw_worker *w, uint64_t hash, bool cd, bool ok);
/* Thread-safe: remove name (lowercase wire, len octets; all when NULL) from the worker's cache
 * on its next wakeup, as flush number seq (increasing); flush_done reaches seq once done and
 * notify is sent. */
void mw_worker_post_flush(struct mw_worker *w, uint64_t seq, const uint8_t *name, size_t len);
/* Count a query of client from with question name qname (wire) in the top-N tables. */
void mw_worker_count_top(struct mw_worker *w, const struct sockaddr *from, const uint8_t *qname,
                         size_t qname_len);
/* Copy the published top-N of table which (MW_WORKER_TOP_*) into out (at most cap); *total is
 * the queries the worker counted. Thread-safe. Returns how many were copied. */
size_t mw_worker_top_read(struct mw_worker *w, int which, struct mw_topn_item *out, size_t cap,
                          uint64_t *total);

/* Close callback used by every handle a worker owns that has no other owner to free. */
void mw_worker_handle_closed(uv_handle_t *h);

/* Milliseconds of the loop clock, read once per callback by callers. */
static inline uint64_t mw_worker_now(struct mw_worker *w)
{
    return uv_now(&w->loop);
}

/* Called when the last pending work may have finished during shutdown. */
void mw_worker_maybe_done(struct mw_worker *w);
