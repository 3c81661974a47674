/* Active health of the upstreams, shared by every worker (config `health-check:`).
 *
 * Two parts. struct mw_hcheck is the state machine of one upstream: pure, driven by the
 * results of probes (a real DNS question sent by prober.c) and by what the workers report of
 * client queries; it says when the next probe is due and when the upstream goes down or comes
 * back up. struct mw_health is the board that carries those states to the workers: one slot
 * per distinct upstream address of a config (the same addresses mw_upset_build() gathers),
 * built with the config and refcounted by the snapshot's config box and by every worker's
 * upstream set that points into it.
 *
 * Threads: one writer, the prober on the control loop, owns each slot's hc and stores `down`;
 * workers read `down` (relaxed atomic load) once per sync tick, never per query, and add to
 * the report counters on the failure path and once per tick with answers. A reload builds a
 * new board on the control loop that keeps the state of the addresses that stay.
 *
 * Rules (README, health-check): a probe or a client query that fails counts against the
 * upstream; down_after consecutive failed probes, or down_after consecutive failed client
 * queries seen by one worker, mark it down; up_after consecutive successful probes (a round
 * of reports in which a down upstream answered client queries counts as one) bring it back.
 * Probes are sent every interval while the upstream is idle, MW_HCHECK_SUSPECT_MS after a
 * failed probe and as soon as a failed client query is reported while it is suspect (a
 * failure since its last success), and every interval while it is down; an upstream that
 * answered client queries within the last interval and reported no failure is not probed:
 * the answers are the proof. One probe per upstream is outstanding at a time. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "minewall/dnsmsg.h"
#include "minewall/netaddr.h"

struct mw_config;

/* The settings of one state machine (from cfg->health and cfg->upstream.timeout_ms). */
struct mw_hcheck_params {
    uint32_t interval_ms; /* idle probe period, and the period while down */
    uint32_t down_after;  /* consecutive failures to mark down (>= 1) */
    uint32_t up_after;    /* consecutive successes to mark up (>= 1) */
    uint32_t timeout_ms;  /* cap of one probe's wait (upstream-timeout) */
};

/* A failed probe of an upstream that is not down yet is followed by the next this soon. */
#define MW_HCHECK_SUSPECT_MS 100
/* A probe waits for an answer 4 smoothed RTTs + this, or this cap while the RTT is unknown
 * (both at most the upstream-timeout). */
#define MW_HCHECK_MARGIN_MS 250
#define MW_HCHECK_UNKNOWN_MS 1000

/* One upstream as the prober sees it. Plain fields: only the prober thread touches them. */
struct mw_hcheck {
    bool down;
    bool in_flight;   /* a probe is outstanding (at most one) */
    unsigned fails;   /* consecutive failed probes since the last success */
    unsigned oks;     /* consecutive successes while down */
    uint64_t next_ms; /* when the next probe is due */
    double srtt_ms;   /* smoothed probe RTT; 0 until the first answer */
    uint64_t probes, probe_failures;
};

/* What a probe result or a tick of reports did to the state. */
enum mw_hcheck_change { MW_HCHECK_SAME = 0, MW_HCHECK_DOWN, MW_HCHECK_UP };

/* A fresh state (up): the first probe is due at now. */
void mw_hcheck_init(struct mw_hcheck *h, uint64_t now);
/* Whether a probe should be sent now (none outstanding and its time has come). */
static inline bool mw_hcheck_due(const struct mw_hcheck *h, uint64_t now)
{
    return !h->in_flight && now >= h->next_ms;
}
/* How long the probe sent now may wait for its answer. */
uint64_t mw_hcheck_timeout(const struct mw_hcheck *h, const struct mw_hcheck_params *p);
/* A probe was sent (counted, outstanding until mw_hcheck_probe_done). */
void mw_hcheck_sent(struct mw_hcheck *h);
/* The outstanding probe ended at now: ok (an answer that shows a working server, after rtt
 * ms) or failed (timeout, SERVFAIL, REFUSED, a send error). Schedules the next one. */
enum mw_hcheck_change mw_hcheck_probe_done(struct mw_hcheck *h, const struct mw_hcheck_params *p,
                                           bool ok, uint64_t rtt, uint64_t now);
/* What the workers reported since the last tick: failures (client queries that failed),
 * worker_down (a worker saw down_after of them in a row), answered (client queries were
 * answered). Marks down on worker_down, makes the upstream suspect on failures, and lets
 * answers stand for a probe (see the top of this file). */
enum mw_hcheck_change mw_hcheck_reports(struct mw_hcheck *h, const struct mw_hcheck_params *p,
                                        unsigned failures, bool worker_down, bool answered,
                                        uint64_t now);

/* One upstream address on the board. */
struct mw_health_slot {
    struct mw_addr addr;
    char label[MW_UPSTREAM_LABEL]; /* "127.0.0.1:53", as the upstream set labels it */
    bool tls;                      /* a tls:// upstream (probed over TLS: prober.c) */
    struct mw_dns_question q;      /* what probes ask: ". NS", or a zone-only upstream's zone */
    uint8_t down;                  /* atomic; written by the prober only */
    uint32_t up_gen;               /* atomic; the prober adds one each time it comes back up */
    uint32_t fail_reports;         /* atomic; workers add, the prober takes */
    uint32_t down_reports;         /* atomic; as fail_reports */
    uint32_t answer_reports;       /* atomic; as fail_reports */
    uint32_t srtt_us;    /* atomic; the workers' shared smoothed RTT of client queries (0: none) */
    struct mw_hcheck hc; /* the prober's */
    /* A DoH upstream named by host name: the address its bootstrap (dohboot.c, on the
     * prober's loop) resolved last, behind a sequence lock (res_seq odd while written, 0
     * while never resolved): workers copy it when they send, never wait for it. */
    uint32_t res_seq;
    struct mw_addr resolved;
    uint64_t res_next_ms;    /* the prober's: when to resolve again (TTL, or a backoff) */
    uint32_t res_backoff_ms; /* the prober's: after a failed resolution, 1 s doubling to 60 s */
};

/* The board of one config. */
struct mw_health {
    int refs;                    /* atomic */
    struct mw_health_slot *slot; /* owned array */
    uint16_t n;
};

/* The board for cfg's distinct upstream addresses (those of `upstreams`, then of each forward
 * zone, in config order), with refs 1. Addresses old (may be NULL) knows keep their state and
 * counters; new ones start up with their first probe due at now. A probe asks ". NS" of an
 * upstream listed in `upstreams` and "ZONE NS" of one that only serves forward zones (the
 * first such zone: an authoritative server answers for its zone, not for the root). Returns
 * NULL on ENOMEM or more than 65535 addresses. */
struct mw_health *mw_health_build(const struct mw_config *cfg, const struct mw_health *old,
                                  uint64_t now);
struct mw_health *mw_health_ref(struct mw_health *h);
/* NULL is a no-op; any thread. */
void mw_health_unref(struct mw_health *h);
/* The slot of address a, or NULL. */
struct mw_health_slot *mw_health_find(const struct mw_health *h, const struct mw_addr *a);

/* Reads and reports for the workers (any thread). */
static inline bool mw_health_down(const struct mw_health_slot *s)
{
    return __atomic_load_n(&s->down, __ATOMIC_RELAXED) != 0;
}
/* A client query to s failed; run_down: it made a run of down_after failures in a row. */
static inline void mw_health_report_fail(struct mw_health_slot *s, bool run_down)
{
    __atomic_add_fetch(&s->fail_reports, 1, __ATOMIC_RELAXED);
    if (run_down)
        __atomic_add_fetch(&s->down_reports, 1, __ATOMIC_RELAXED);
}
/* s answered client queries (reported once per worker tick, not per answer). */
static inline void mw_health_report_answers(struct mw_health_slot *s)
{
    __atomic_add_fetch(&s->answer_reports, 1, __ATOMIC_RELAXED);
}
/* The prober: take slot s's reports and apply them (mw_hcheck_reports), store the new state
 * for the workers. */
enum mw_hcheck_change mw_health_tick(struct mw_health_slot *s, const struct mw_hcheck_params *p,
                                     uint64_t now);
/* The prober: a probe of s ended (mw_hcheck_probe_done), the new state stored. */
enum mw_hcheck_change mw_health_probe_done(struct mw_health_slot *s,
                                           const struct mw_hcheck_params *p, bool ok, uint64_t rtt,
                                           uint64_t now);
/* Copy slot s's resolved address into out (any thread). Returns false while there is none. */
static inline bool mw_health_resolved(const struct mw_health_slot *s, struct mw_addr *out)
{
    for (;;) {
        uint32_t a = __atomic_load_n(&s->res_seq, __ATOMIC_ACQUIRE);
        if (a == 0)
            return false;
        if (a & 1)
            continue;
        memcpy(out, &s->resolved, sizeof(*out));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->res_seq, __ATOMIC_RELAXED) == a)
            return true;
    }
}
/* The prober: slot s's host now resolves to a. */
void mw_health_set_resolved(struct mw_health_slot *s, const struct mw_addr *a);
/* The parameters cfg gives. */
void mw_health_params(const struct mw_config *cfg, struct mw_hcheck_params *p);
