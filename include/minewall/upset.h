/* The upstreams of one config as one worker sees them: which forwarder to ask. A set is built
 * from the config at start and on reload (keeping the RTT and counters of addresses that stay)
 * and refcounted by the fetches that use it, so a reload never changes the set an in-flight
 * fetch walks. Health is shared by every worker (health.h): each member points to its slot on
 * the config's health board and copies the slot's up/down state once per sync tick
 * (mw_upset_sync), so picking a member reads only this worker's memory. A worker that sees
 * down_after failures in a row from a member marks it down for itself at once and reports it
 * to the board. Among healthy members the lowest smoothed RTT wins, with one question in 32
 * sent to another so RTTs stay fresh. The RTT is shared through the board too, once per sync
 * tick: a worker that had answers averages its RTT with the board's and publishes it, one that
 * had none takes the board's (one cache means a worker may see few misses). Pure: no libuv, no I/O;
 * one worker's sets are used by that worker only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/netaddr.h"

struct mw_rand;
struct mw_config;
struct mw_health;
struct mw_health_slot;
struct mw_tls_upstream;

/* One forwarder as seen by one worker. */
struct mw_upstream {
    struct mw_addr addr;
    char label[MW_UPSTREAM_LABEL]; /* "127.0.0.1:53", "tls://127.0.0.1:853", "https://..." */
    bool tls;                      /* asked over TLS (a tls:// entry of the config) */
    char auth_name[254];           /* its authentication name; "" : the address */
    bool down;                     /* for this worker: the board's state, or a run of failures */
    uint32_t up_gen;               /* the board's count of returns at the last sync */
    unsigned fails;                /* consecutive failed client queries */
    double srtt_ms;                /* 0 until the first answer */
    struct mw_health_slot *hs;     /* borrowed from the set's board; NULL without one */
    uint64_t answers_synced;       /* answers at the last sync */
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
    struct mw_health *health; /* owned reference; may be NULL (tests) */
};

/* The set for cfg, with refs 1, keeping RTT and counters of the addresses that old (may be
 * NULL) already knew; each member points to its slot on health (may be NULL: no shared
 * health), of which the set takes a reference. Returns NULL on ENOMEM or more than 65535
 * upstreams. */
struct mw_upset *mw_upset_build(const struct mw_config *cfg, const struct mw_upset *old,
                                struct mw_health *health);
/* The label of an upstream at a: "127.0.0.1:53", "tls://127.0.0.1:853" when t (its tls entry,
 * NULL for plain) is DoT, the URL "https://HOST:PORT/PATH" when DoH (truncated to len). */
void mw_upset_label(const struct mw_addr *a, const struct mw_tls_upstream *t, char *buf,
                    size_t len);
/* Drop a reference; the last one frees the set. NULL is a no-op. */
void mw_upset__free(struct mw_upset *s);
/* Inline: every fetch holds the set it was started on and drops it when it ends. */
static inline void mw_upset_unref(struct mw_upset *s)
{
    if (s && --s->refs == 0)
        mw_upset__free(s);
}

/* The member of group g (of set s) to ask next, or -1. Untried healthy members first (lowest
 * RTT; unknown counts as 0 so new upstreams get measured), then untried down ones, then, when
 * retry is set, any member again (*tried is cleared for that). tried: bit i set when member i
 * was asked (the first 32); n_tries: questions sent so far (the first one may go to a random
 * healthy member, drawn from r). */
int mw_upset_pick(const struct mw_upset *s, const struct mw_upgroup *g, uint32_t *tried,
                  unsigned n_tries, bool retry, struct mw_rand *r);
/* How long to wait for u: the cap (upstream.timeout) while its RTT is unknown, else a margin
 * over its smoothed RTT (so a slow moment does not send a duplicate at once, yet a dead
 * upstream is left quickly), at most the cap. Inline with mw_upset_answered: both run on
 * every forwarded query. */
static inline uint64_t mw_upset_timeout(uint64_t cap_ms, const struct mw_upstream *u)
{
    if (u->srtt_ms > 0) {
        uint64_t adaptive = (uint64_t)(u->srtt_ms * 4) + 250;
        if (adaptive < cap_ms)
            return adaptive;
    }
    return cap_ms;
}

/* u failed (a timeout, an error, REFUSED) for a client query. Returns true when this failure
 * makes a run of down_after in a row: u is then down for this worker until the board says
 * otherwise, and the caller reports it to the board (mw_health_report_fail). */
static inline bool mw_upset_failed(struct mw_upstream *u, unsigned down_after)
{
    if (++u->fails != down_after)
        return false;
    u->down = true;
    return true;
}
/* u answered after rtt ms: counted, RTT smoothed, its run of failures ended. Whether a down
 * upstream is back is the board's call (the next sync). */
static inline void mw_upset_answered(struct mw_upstream *u, uint64_t rtt)
{
    u->answers++;
    u->fails = 0;
    u->srtt_ms = u->srtt_ms == 0 ? (double)rtt + 0.1 : u->srtt_ms * 0.875 + (double)rtt * 0.125;
}
/* The sync tick of a worker (every 250 ms, never per query): each member takes the board's
 * state (a member the board brought back up since the last sync starts a new run of
 * failures; a run the board has not taken yet is reported again), and members that answered
 * since the last sync are reported to the board once, with their RTT averaged with the
 * board's; members with no answers take the board's RTT. */
void mw_upset_sync(struct mw_upset *s, unsigned down_after);
