/* The immutable state every worker reads: the config (and, with later work, the lists).
 * Built whole on the control loop, published to workers, never edited; each holder keeps a
 * reference and the last unref frees it. Atomic refcount, so workers on other threads may
 * drop their references freely. */
#pragma once

#include <stdint.h>

struct mw_config;
struct mw_lists;
struct mw_blocklog;
struct mw_journal_queue;
struct mw_events;
struct mw_geo;
struct mw_health;
struct mw_qlogw;
struct mw_tap;
struct mw_nodsvc;

/* A config shared by the snapshots that differ only in their lists. */
struct mw_cfgbox {
    int refs;              /* atomic */
    struct mw_config *cfg; /* owned */
    /* Owned reference: the upstreams' health board of cfg (health.h), set by the server before
     * the first snapshot of this config is published; NULL until then. */
    struct mw_health *health;
};

struct mw_snapshot {
    int refs;                     /* atomic */
    uint64_t generation;          /* 1 for the first load, +1 per successful reload */
    struct mw_config *cfg;        /* borrowed from box */
    struct mw_cfgbox *box;        /* owned reference */
    struct mw_lists *lists;       /* owned reference; never NULL */
    struct mw_blocklog *blocklog; /* owned reference; NULL without log.blocks */
    /* Borrowed: the server's Redis events publisher (outlives every snapshot); NULL without
     * redis. Workers hand it block events with mw_events_block(). */
    struct mw_events *events;
    /* Borrowed from the server, like events: the routing journal's queue (NULL without
     * journal.path) and the geo databases for its answer changes (may be NULL). */
    struct mw_journal_queue *journal;
    struct mw_geo *jgeo;
    /* Borrowed from the server, like events: the newly-observed-domain detector (nodsvc.h),
     * NULL when detect.new-domains is off. */
    struct mw_nodsvc *nod;
    /* Borrowed from the server: this host's name for journal events, read once at start. */
    const char *host;
    /* Borrowed from the server (outlives the workers): the query log writer; NULL without
     * log.queries. */
    struct mw_qlogw *qlog;
    /* Borrowed from the server, like events: the dnstap output (tap.h), NULL without one. */
    struct mw_tap *tap;
};

/* Takes ownership of cfg and of one reference each to lists and blocklog (also on failure).
 * Returns NULL on ENOMEM. refs starts at 1. */
struct mw_snapshot *mw_snapshot_new(struct mw_config *cfg, struct mw_lists *lists,
                                    struct mw_blocklog *blocklog, uint64_t generation);
/* The same config as old with new lists (a list file changed on disk). Takes one reference
 * each to lists and blocklog. Returns NULL on ENOMEM. */
struct mw_snapshot *mw_snapshot_with_lists(const struct mw_snapshot *old, struct mw_lists *lists,
                                           struct mw_blocklog *blocklog, uint64_t generation);
struct mw_snapshot *mw_snapshot_ref(struct mw_snapshot *s);
/* NULL is a no-op. */
void mw_snapshot_unref(struct mw_snapshot *s);
