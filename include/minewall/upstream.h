/* Upstream resolution for one worker: which forwarder to ask (health and smoothed RTT), the
 * outgoing UDP sockets (a pool bound to random ports, rotated), random IDs from the CSPRNG,
 * strict matching of responses (source address and port, ID, question), retries on other
 * upstreams, TCP when an answer comes back truncated, and probing dead upstreams back in.
 *
 * A fetch is one question being resolved; query.c attaches client waiters to it (coalescing)
 * and gets mw_query_fetch_done() exactly once per fetch. Fetch objects are pooled with their
 * timer kept open, so a miss costs no handle setup. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "minewall/cache.h"
#include "minewall/dnsmsg.h"
#include "minewall/netaddr.h"

struct mw_worker;
struct mw_config;
struct mw_waiter;
struct mw_usock;
struct mw_upset;
struct mw_utcp;

#define MW_FETCH_MAX_ATTEMPTS 6

/* One forwarder as seen by one worker. */
struct mw_upstream {
    struct mw_addr addr;
    char label[64]; /* "127.0.0.1:53" */
    bool down;
    unsigned fails;        /* consecutive */
    double srtt_ms;        /* 0 until the first answer */
    uint64_t next_probe_ms;
    uint32_t probe_backoff_ms;
    bool probe_in_flight;
    uint64_t queries, answers, timeouts, errors;
    uint64_t lat[12]; /* answer RTT histogram (MW_M_LAT buckets of worker.h) */
};

/* A set of upstream indexes: the default ones or one forward zone's. */
struct mw_upgroup {
    uint16_t *idx; /* owned */
    uint16_t n;
};

/* The upstreams of one config, refcounted by the fetches that use it. */
struct mw_upset {
    unsigned refs;
    struct mw_upstream *u; /* owned array of distinct addresses */
    uint16_t n;
    struct mw_upgroup def;
    struct mw_upgroup *zones; /* owned; parallel to cfg->zones */
    uint16_t n_zones;
};

/* One sent copy of a fetch's question: a pending-table entry. */
struct mw_attempt {
    struct mw_attempt *hnext; /* pending-table chain */
    struct mw_fetch *f;
    struct mw_usock *s; /* socket it left from (holds an in-flight count) */
    uint16_t id;
    uint16_t up; /* index in the fetch's upset */
    bool live;
    uint64_t sent_ms;
};

struct mw_fetch {
    struct mw_fetch *next;    /* coalescing chain or free list */
    struct mw_fetch *all_next; /* every fetch object of the worker, for teardown */
    struct mw_worker *w;
    bool active;
    struct mw_cache_key key;
    uint64_t key_hash;
    struct mw_dns_question q;
    bool cd, do_bit;
    bool allowed;             /* an allow rule matched the qname: skip the answer check */
    bool watched;             /* track: listed and the qname is on a watch-names list */
    char answered_by[64];     /* label of the upstream whose answer completed it, or "" */
    struct mw_upset *set;     /* ref held while active */
    const struct mw_upgroup *group;
    int probe_up;             /* >= 0: a health probe pinned to this upstream; no waiters */
    uint64_t start_ms, deadline_ms;
    uint32_t tried;           /* bit i: group member i was tried (first 32) */
    unsigned n_tries;
    struct mw_attempt att[MW_FETCH_MAX_ATTEMPTS];
    unsigned n_att;
    struct mw_utcp *tcp;      /* TCP exchange in progress, or NULL */
    int tcp_up;
    uv_timer_t timer;         /* attempt timeout; open for the fetch object's lifetime */
    struct mw_waiter *waiters; /* owned by query.c */
    unsigned n_waiters;
    uint8_t last_rcode;
};

/* Outcome handed to mw_query_fetch_done(). */
enum mw_fetch_result {
    MW_FETCH_ANSWER, /* w->prep holds a prepared response (info in *resp) */
    MW_FETCH_FAILED, /* every attempt failed or the budget ran out */
};

struct mw_upstreams;

/* Create the worker's upstream machinery for cfg. Returns 0 or a negative errno. */
int mw_upstreams_new(struct mw_worker *w, const struct mw_config *cfg, struct mw_upstreams **out);
/* Switch to cfg's upstreams (reload); health of addresses that stay is kept. In-flight
 * fetches finish on the set they started with. */
int mw_upstreams_reconfigure(struct mw_upstreams *ups, const struct mw_config *cfg);
/* Stop timers and close sockets; in-flight fetches must be gone (mw_fetch_abort). */
void mw_upstreams_close(struct mw_upstreams *ups);
/* Free after the loop has run the close callbacks. NULL is a no-op. */
void mw_upstreams_free(struct mw_upstreams *ups);

/* Initialise a fetch object's timer on the worker loop (once per pooled object). */
int mw_fetch_init(struct mw_worker *w, struct mw_fetch *f);
/* Begin resolving f->q (key, cd, do_bit set by the caller) via the group for the qname.
 * Never calls mw_query_fetch_done() synchronously. Returns 0, or a negative errno (then the
 * fetch was not started). */
int mw_fetch_start(struct mw_upstreams *ups, struct mw_fetch *f, const struct mw_config *cfg,
                   uint64_t now_ms);
/* Cancel an active fetch without calling back (shutdown). */
void mw_fetch_abort(struct mw_fetch *f);

/* Read-only view for status/metrics. */
const struct mw_upset *mw_upstreams_current(const struct mw_upstreams *ups);

/* Implemented by query.c: the fetch finished; after this returns the fetch is inactive and
 * query.c returns it to the pool. resp is set for MW_FETCH_ANSWER. */
void mw_query_fetch_done(struct mw_worker *w, struct mw_fetch *f, enum mw_fetch_result res,
                         const struct mw_dns_response *resp, size_t resp_len);
