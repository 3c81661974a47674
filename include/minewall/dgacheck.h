/* The DGA detector on live queries: the registered domain of a query name (regdom.h), its
 * label scored by the model (dga.h), and a per-worker memo of the scores by registered domain
 * so a domain is scored once however many names under it are asked, and of libpsl's answers
 * by parent domain (libpsl costs more than the rest of a cache miss: see dgacheck.c). The memo is a
 * fixed set-associative table (4 ways a set) sized at creation: it never grows and never allocates
 * after mw_dga_memo_new; a full set gives up its oldest entry (counted as an eviction). Entries
 * are keyed by a seeded 64-bit hash of the registered domain's wire form, not by the name
 * itself (16 bytes an entry): two registered domains share an entry only on a 64-bit hash
 * collision. Pure: no libuv; one memo belongs to one thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/dga.h"

struct mw_regdom;
struct mw_dga_memo;

/* Bounds of a memo's entry count (detect.dga.cache-size). */
#define MW_DGA_MEMO_MIN 64
#define MW_DGA_MEMO_MAX (1u << 24)

struct mw_dga_memo_stats {
    uint64_t scored;    /* labels the model scored (memo misses) */
    uint64_t psl;       /* names libpsl was asked about (parent-domain memo misses) */
    uint64_t hits;      /* lookups the memo answered (scores and parent domains) */
    uint64_t evictions; /* entries given up for a new one in a full set */
    uint64_t entries;   /* gauge: entries in use */
    uint64_t capacity;  /* gauge: entries the memo holds at most */
};

/* A memo of at least entries entries (rounded up to a power of two, clamped to
 * MW_DGA_MEMO_MIN..MW_DGA_MEMO_MAX), zeroed. Returns NULL on ENOMEM. */
struct mw_dga_memo *mw_dga_memo_new(size_t entries);
/* NULL is a no-op. */
void mw_dga_memo_free(struct mw_dga_memo *memo);
/* Forget every entry (a new model scores differently); the counters stay. */
void mw_dga_memo_clear(struct mw_dga_memo *memo);
void mw_dga_memo_stats(const struct mw_dga_memo *memo, struct mw_dga_memo_stats *out);

struct mw_dga_check {
    enum mw_dga_level level;
    int32_t score;
    size_t regdom_off; /* where the registered domain starts in the wire name */
    bool memoized;     /* the score came from the memo */
    unsigned evicted;  /* memo entries given up to memoize this check (0..2) */
};

/* Score the registered-domain label of the lowercase wire name (len octets, root included)
 * with model m, through memo (NULL: no memo, libpsl asked every time). Names that are not
 * public (rd says so: single labels, .lan, .internal, home.arpa) and names without a
 * registered domain are not scored. With a memo, a name that is itself a rule of the Public
 * Suffix List may be scored by its parent's registered domain (see dgacheck.c).
 * Returns 1 with *out filled, 0 when the name is not scored, -EINVAL for a NULL argument.
 * Allocates nothing. */
int mw_dga_check(const struct mw_dga_model *m, const struct mw_regdom *rd, struct mw_dga_memo *memo,
                 const uint8_t *name, size_t len, struct mw_dga_check *out);
