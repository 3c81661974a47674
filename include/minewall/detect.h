/* The detectors' side of a worker's query path (DGA, tunnel, new domains): the one
 * registered-domain memo a worker owns (regmemo.h), made on the first miss that needs it and
 * sized for the config in force, and the registered domain of a query's name looked up once
 * and handed to every detector, so a query crosses libpsl and the memo at most once on its
 * miss; and every detector's verdict on a query: its action for the client's group, its rule
 * text and features, its counters and the new-domain event. query.c calls one entry point
 * per step of a query (before the cache, on a miss, on an answer) and acts on one result:
 * it records the verdicts (record_hit, as for a list) and answers a blocked query; it never
 * looks inside a detector. Shell code (it reads the worker's snapshot); the detectors
 * themselves are pure (dga.h, tunnel.h, nod.h). The rebinding guard is an answer check of
 * filter.c and does not come here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/config.h"
#include "minewall/filter.h"
#include "minewall/regmemo.h"

struct mw_dns_question;
struct mw_fetch_result;
struct sockaddr;
struct mw_tunnel;
struct mw_worker;

/* The registered domain of one query's name, for every detector of that query. */
struct mw_detect_rd {
    int off; /* where it starts in the name; -ENOENT: none; 1: not looked up yet */
    struct mw_regmemo_words *words; /* its memo words (valid until the next lookup), or &own */
    struct mw_regmemo_words own;    /* words of this query only, when the worker has no memo */
};

/* Entries of the worker's memo for cfg: 65536, or detect.dga.cache-size when the DGA
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

/* ---- verdicts for the query path ---- */

#define MW_DETECT_MAX_HITS 3 /* DGA (logged), tunnel (logged or blocking), new domain (block) */

/* A detector's verdict on a query: recorded by the caller as a list hit. */
struct mw_detect_hit {
    struct mw_verdict v;
    bool filtered; /* answered with EDE 17 (Filtered) when blocked, else 15 (Blocked) */
};

/* What the detectors make of one query. The caller's storage (query.c keeps one per worker
 * until its next query, so that the query log may point at a verdict after the check). */
struct mw_detect_result {
    unsigned n;                                   /* verdicts, in the order to record them */
    bool block;                                   /* the last verdict answers the query */
    struct mw_detect_hit hit[MW_DETECT_MAX_HITS]; /* hit[0 .. n-1] */
    struct mw_detect_rd rd;                       /* the query's registered domain, if looked up */
    uint32_t tunnel_ticket;                       /* mw_tunnel_observe's, 0: none */
};

/* What a question sent upstream carries for the detectors until its answer (query.c's
 * pending question embeds it). */
struct mw_detect_pending {
    int16_t regdom_off;     /* the registered domain in the qname, -1: none or not looked up */
    bool nod_known;         /* new-domains: the memo knew the registered domain this epoch */
    uint32_t tunnel_ticket; /* mw_tunnel_observe's, for the answer size; 0: none */
    /* new-domains, when not known (set only then): */
    uint64_t memo_key; /* the domain's memo entry (0: none): its words again in one probe */
    uint64_t nod_hash; /* its filter hash (mw_nod_hash), its blocks prefetched at the miss */
};

/* Before the cache, on every query that no allow rule matched while the worker has a tunnel
 * detector (w->tunnel): a client blocked for the registered domain of q after a detection.
 * Fills res (res->block: answer it as blocked); false when there is nothing to record. */
bool mw_detect_before_cache(struct mw_worker *w, const struct mw_dns_question *q,
                            const struct sockaddr *from, unsigned gi, struct mw_detect_result *res);

/* On a cache miss, before the question goes upstream: the DGA score, the tunnel state of
 * (client, registered domain) and the new-domain block time, each detector that is on, in
 * that order, stopping at the first verdict that blocks (res->block). allowed: an allow
 * rule matched the name (no detector may block it; nothing is scored). Fills res; returns
 * res->n. */
unsigned mw_detect_miss(struct mw_worker *w, const struct mw_dns_question *q,
                        const struct sockaddr *from, unsigned gi, bool allowed,
                        struct mw_detect_result *res);

/* A cache entry checked under another policy (a group's actions, older lists) gets the
 * asking group's DGA check, once (the memo has the score). As mw_detect_miss otherwise. */
unsigned mw_detect_recheck(struct mw_worker *w, const struct mw_dns_question *q, unsigned gi,
                           struct mw_detect_result *res);

/* What a question sent upstream after mw_detect_miss(res) keeps for its answer. */
void mw_detect_pending_init(struct mw_worker *w, const struct mw_dns_question *q,
                            struct mw_detect_result *res, struct mw_detect_pending *out);

/* The answer to a pending question came (len octets): the tunnel state's bytes down. */
void mw_detect_answered(struct mw_worker *w, const struct mw_detect_pending *d, size_t len);

/* The answer r (an answer from upstream, as upstream.h hands it over) to question q of a
 * pending question that the lists passed for some waiter: is its registered domain new? A new one
 * is reported (the event, with the first asker from/group, its group's action and the answer's
 * first address) and, when some group blocks new domains, blocked for block-for from now; a known
 * one is reported once a day for the fleet's refresh. True: the domain is in its block time, the
 * caller answers each waiter with mw_detect_nod_verdict's verdict for its group (and does not cache
 * the answer). */
bool mw_detect_new_domain(struct mw_worker *w, const struct mw_detect_pending *d,
                          const struct mw_dns_question *q, bool allowed,
                          const struct sockaddr *first, unsigned first_group,
                          const struct mw_fetch_result *r);

/* The new-domain detector's verdict for group gi on the registered domain of q (d's): its
 * action is the group's `actions:` entry for "new-domains" (or category "detect"), else
 * detect.new-domains.action. */
void mw_detect_nod_verdict(struct mw_worker *w, unsigned gi, const struct mw_dns_question *q,
                           const struct mw_detect_pending *d, struct mw_verdict *v);
