/* The upstreams of one config as one worker sees them, and their health: which forwarder to
 * ask. A set is built from the config at start and on reload (keeping the health and RTT of
 * addresses that stay) and refcounted by the fetches that use it, so a reload never changes
 * the set an in-flight fetch walks. Health: three consecutive failures mark an upstream down
 * (probed back in on a backoff of 1 s doubling to 8 s by upstream.c); among healthy members
 * the lowest smoothed RTT wins, with one question in 32 sent to another so RTTs stay fresh.
 * Pure: no libuv, no I/O, time passed in; one worker's sets are used by that worker only. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "minewall/netaddr.h"

struct mw_config;

/* One forwarder as seen by one worker. */
struct mw_upstream {
    struct mw_addr addr;
    char label[64]; /* "127.0.0.1:53" */
    bool down;
    unsigned fails; /* consecutive */
    double srtt_ms; /* 0 until the first answer */
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

/* The set for cfg, with refs 1, keeping health and RTT of the addresses that old (may be
 * NULL) already knew. Returns NULL on ENOMEM or more than 65535 upstreams. */
struct mw_upset *mw_upset_build(const struct mw_config *cfg, const struct mw_upset *old);
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
 * healthy member). */
int mw_upset_pick(const struct mw_upset *s, const struct mw_upgroup *g, uint32_t *tried,
                  unsigned n_tries, bool retry);
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

/* u failed (a timeout, an error, SERVFAIL/REFUSED) at now. Returns true when this marks it
 * down (its first probe is then due in 1 s): the caller logs and journals it. */
bool mw_upset_failed(struct mw_upstream *u, uint64_t now);
/* u answered after rtt ms: counted, RTT smoothed, failures reset. Returns true when it was
 * down and is now up again: the caller logs and journals it. */
static inline bool mw_upset_answered(struct mw_upstream *u, uint64_t rtt)
{
    u->answers++;
    u->fails = 0;
    u->srtt_ms = u->srtt_ms == 0 ? (double)rtt + 0.1 : u->srtt_ms * 0.875 + (double)rtt * 0.125;
    if (!u->down)
        return false;
    u->down = false;
    return true;
}
/* A probe of the down upstream u failed at now: the next one waits twice as long (at most
 * 8 s). */
void mw_upset_probe_failed(struct mw_upstream *u, uint64_t now);
