/* The per-thread cache of registered domains by parent name; see regcache.h. An entry holds
 * where the registered domain of a child of the parent begins, as its length in octets from the
 * end of the name (the same for every child when it lies within the parent), or 0 when each
 * child is its own registered domain. A hit costs one hash of the parent and one load: no walk
 * of the labels. */
#include "minewall/regcache.h"

#include <errno.h>
#include <stdlib.h>

#include "minewall/dname.h"
#include "minewall/hash.h"
#include "minewall/regdom.h"

struct entry {
    uint64_t key; /* hash of the parent; 0: empty */
    uint32_t tag; /* the caller's (see mw_regcache_find) */
    uint8_t plen; /* octets of the parent, checked with the key */
    uint8_t rlen; /* octets of a child's registered domain, or 0: the child itself */
};

struct mw_regcache {
    uint64_t seed;
    struct mw_regcache_stats st;
    struct entry tab[MW_REGCACHE_SIZE];
};

struct mw_regcache *mw_regcache_new(void)
{
    struct mw_regcache *c = calloc(1, sizeof(*c));
    if (c)
        c->seed = mw_hash_seed();
    return c;
}

void mw_regcache_free(struct mw_regcache *c)
{
    free(c);
}

int mw_regcache_find(struct mw_regcache *c, const struct mw_regdom *rd, const uint8_t *name,
                     size_t len, uint32_t **tag)
{
    if (tag)
        *tag = NULL;
    size_t at = 1u + name[0]; /* where the parent begins */
    /* The root, a single label (its parent is the root), a name too long or not wire. */
    if (!name[0] || name[0] > 63 || at + 1 >= len || len > MW_DNAME_MAX)
        return mw_regdom_find(rd, name, len);
    size_t plen = len - at;
    /* The parent as one string through the label hash (it takes any length, 16 octets a
     * step): about 20 instructions for a typical parent, a third of mw_hash_bytes. */
    uint64_t key = mw_hash_label(c->seed, name + at, plen) | 1;
    struct entry *e = &c->tab[key & (MW_REGCACHE_SIZE - 1)];
    if (e->key == key && e->plen == plen) {
        c->st.hits++;
        if (!e->rlen)
            return 0;
        if (tag)
            *tag = &e->tag;
        return (int)(len - e->rlen);
    }
    c->st.misses++;
    int off = mw_regdom_find(rd, name, len);
    if (off < 0)
        return off; /* never cached: see regcache.h */
    /* off is at a label: 0 (the child itself) or within the parent. */
    e->key = key;
    e->plen = (uint8_t)plen;
    e->rlen = off ? (uint8_t)(len - (size_t)off) : 0;
    e->tag = 0;
    if (tag && off)
        *tag = &e->tag;
    return off;
}

void mw_regcache_stats(const struct mw_regcache *c, struct mw_regcache_stats *out)
{
    *out = c->st;
}
