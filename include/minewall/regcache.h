/* A per-thread cache of registered-domain answers (regdom.h), for the miss path of the
 * detectors: libpsl looks every suffix of a name up in its DAFSA, about 12,500 instructions for
 * a name of four labels, which is more than the whole miss path of a query. Cached by the
 * parent of the name (every label but the first): the registered domain of x.P is, for almost
 * every label x, the same number of labels counted from the right as for any other child of P,
 * so one libpsl answer for a child of P serves every later child of P for one hash and one
 * table load (the CDN's <hash>.cloudfront.net, a service's <id>.example.com, a TTL refresh).
 *
 * What it gets wrong, by design: a name that is itself a Public Suffix List entry below a
 * parent that is not a wildcard rule ("s3.amazonaws.com" asked directly, after another child of
 * amazonaws.com was cached) is given its parent's answer (amazonaws.com) instead of "no
 * registered domain"; and an exception entry ("!www.ck") asked first makes its siblings look
 * registrable. Names below such an entry have their own parent and are answered exactly.
 * A libpsl answer of "no registered domain" is never cached, so one public suffix asked first
 * cannot hide the registered domains of its siblings.
 *
 * Direct-mapped, MW_REGCACHE_SIZE entries of 16 bytes keyed by a seeded 64-bit hash of the
 * parent (a collision only evicts). Not thread-safe: one per worker. Pure. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define MW_REGCACHE_SIZE 4096

struct mw_regcache;
struct mw_regdom;

/* NULL on ENOMEM. */
struct mw_regcache *mw_regcache_new(void);
/* NULL is a no-op. */
void mw_regcache_free(struct mw_regcache *c);

/* As mw_regdom_find(rd, name, len), from the cache when the name's parent is in it. With tag
 * not NULL, *tag is set to a word of the caller's stored with the parent's entry when every
 * child of that parent has the registered domain just found (it is a suffix of the parent),
 * else to NULL. The word starts at 0 when an entry is filled; a detector keeps there what it
 * knows about that registered domain (the new-domains filter: "seen in this epoch"), so that
 * the next child of the parent costs it nothing. */
int mw_regcache_find(struct mw_regcache *c, const struct mw_regdom *rd, const uint8_t *name,
                     size_t len, uint32_t **tag);

struct mw_regcache_stats {
    uint64_t hits, misses;
};
void mw_regcache_stats(const struct mw_regcache *c, struct mw_regcache_stats *out);
