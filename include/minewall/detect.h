/* The detectors' side of a worker's query path (DGA, tunnel, new domains): the one
 * registered-domain memo a worker owns (regmemo.h), made on the first miss that needs it and
 * sized for the config in force, and the registered domain of a query's name looked up once
 * and handed to every detector, so a query crosses libpsl and the memo at most once on its
 * miss. Shell code (it reads the worker's snapshot); the detectors themselves are pure
 * (dga.h, tunnel.h, nod.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/config.h"
#include "minewall/regmemo.h"

struct mw_tunnel;
struct mw_worker;

/* The registered domain of one query's name, for every detector of that query. */
struct mw_detect_rd {
    int off; /* where it starts in the name; -ENOENT: none; 1: not looked up yet */
    struct mw_regmemo_words *words; /* its memo words (valid until the next lookup), or &own */
    struct mw_regmemo_words own;    /* words of this query only, when the worker has no memo */
};

/* Entries of the worker's memo for cfg: 4096, or detect.dga.cache-size when the DGA
 * detector is on and wants more. */
size_t mw_detect_memo_entries(const struct mw_config *cfg);

/* Not looked up yet. */
static inline void mw_detect_rd_init(struct mw_detect_rd *rd)
{
    rd->off = 1;
    rd->words = NULL;
}

/* The registered domain of the lowercase wire name (len octets) through the worker's memo,
 * looked up on the first call for rd and remembered in it: its offset, or -ENOENT. A name
 * whose left labels hold octets the list cannot (iodine's 8-bit encoding) has the registered
 * domain of the labels right of the last such label. rd->words is set with an offset. */
int mw_detect_regdom(struct mw_worker *w, const uint8_t *name, size_t len, struct mw_detect_rd *rd);

/* The worker's tunnel detector (tunnel.h) for the config in force: made on first use, made
 * again (its state lost) when a reload changed its bounds or thresholds, freed when a reload
 * turned it off. NULL when off or out of memory. Owned by the worker (w->tunnel). */
struct mw_tunnel *mw_detect_tunnel(struct mw_worker *w);

/* May the detector whose list name is list ("tunnel", "new-domains"; action: its own
 * `action:`) block for some client group: its action, or a group's `actions:` for the list
 * or for category detect? Walks the groups: for the rare paths (a detection, a block). */
bool mw_detect_may_block(const struct mw_config *cfg, const char *list, enum mw_action action);
