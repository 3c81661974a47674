/* Answer sets per (name, type) and their changes: the table. A response is read into a binary
 * set by answerscan.c; the text of a change is made by answertext.c.
 *
 * Each tracked pair is one block sized to its data: the entry header, the wire name, then the
 * chain targets and the values in that binary form, with a seeded 64-bit hash of both. An
 * unchanged answer (the common case) costs the scan, the hash and one memcmp; a first sight
 * one malloc. Text is made only for a change, into a buffer of the tracker (allocated at the
 * first change), which is what the caller's mw_answer_change points into. A changed set is
 * written over the old block when it fits. The scratch space is allocated once with the
 * tracker. */
#include "minewall/answerdiff.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/answerscan.h"
#include "minewall/answertext.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/dnstext.h"
#include "minewall/hash.h"
#include "minewall/lru.h"

#define MAX_BUCKETS ((size_t)1 << 26)

struct entry {
    struct mw_lru_node node; /* head of the LRU list is the most recently seen */
    uint64_t vhash;          /* seeded hash of the chain and the values */
    uint64_t seen_ms;
    uint32_t hash; /* of (name, type); its low bits pick the bucket */
    uint32_t ttl;
    uint16_t qtype;
    uint16_t used, cap; /* bytes of chain and values after the name, and room for them */
    uint8_t name_len;
    uint8_t n_chain;
    uint8_t n_vals;
    bool truncated;
    uint8_t data[]; /* name, chain targets (wire), values (keys, back to back) */
};

#define ENTRY_SIZE(name_len, cap) (offsetof(struct entry, data) + (size_t)(name_len) + (cap))

struct mw_answerdiff {
    size_t max_names;
    struct mw_lru t;          /* owns the buckets; the entries are freed here */
    struct mw_answerscan *sc; /* owned scratch */
    char *texts;              /* owned: MW_ANSWERTEXT_BUF, allocated at the first change */
    uint64_t seed;
    struct mw_answerdiff_stats st;
};

/* ---- types and hashing ---- */

bool mw_answerdiff_tracks(uint16_t qtype)
{
    return mw_answerdiff_type_name(qtype) != NULL;
}

const char *mw_answerdiff_type_name(uint16_t qtype)
{
    switch (qtype) {
    case MW_TYPE_A:
    case MW_TYPE_AAAA:
    case MW_TYPE_CNAME:
    case MW_TYPE_NS:
    case MW_TYPE_MX:
        return mw_dnstext_type(qtype, NULL, 0);
    default:
        return NULL;
    }
}

static uint32_t key_hash(uint64_t seed, const uint8_t *name, size_t len, uint16_t qtype)
{
    return (uint32_t)mw_hash_bytes(seed, qtype, name, len);
}

static inline struct entry *entry_of(struct mw_lru_node *n)
{
    return mw_lru_entry(n, struct entry, node);
}

/* ---- table and LRU ---- */

/* Take e out of the table and the LRU list; the caller frees it. */
static void detach(struct mw_answerdiff *ad, struct entry *e)
{
    mw_lru_remove(&ad->t, &e->node, e->hash);
    ad->st.names--;
    ad->st.bytes -= ENTRY_SIZE(e->name_len, e->cap);
}

static void attach(struct mw_answerdiff *ad, struct entry *e)
{
    mw_lru_insert(&ad->t, &e->node, e->hash);
    ad->st.names++;
    ad->st.bytes += ENTRY_SIZE(e->name_len, e->cap);
}

static struct entry *find(const struct mw_answerdiff *ad, const uint8_t *name, size_t len,
                          uint16_t qtype, uint32_t h)
{
    for (struct mw_lru_node *n = mw_lru_bucket(&ad->t, h); n; n = n->hnext) {
        struct entry *e = entry_of(n);
        if (e->hash == h && e->qtype == qtype && e->name_len == len &&
            memcmp(e->data, name, len) == 0)
            return e;
    }
    return NULL;
}

struct mw_answerdiff *mw_answerdiff_new(size_t max_names)
{
    if (max_names == 0)
        return NULL;
    struct mw_answerdiff *ad = calloc(1, sizeof(*ad));
    if (!ad)
        return NULL;
    ad->sc = mw_answerscan_new();
    if (!ad->sc ||
        mw_lru_init(&ad->t, max_names < MAX_BUCKETS ? max_names : MAX_BUCKETS, NULL) < 0) {
        mw_answerdiff_free(ad);
        return NULL;
    }
    ad->max_names = max_names;
    ad->st.table_bytes =
        sizeof(*ad) + (ad->t.mask + 1) * sizeof(*ad->t.buckets) + mw_answerscan_size();
    ad->seed = mw_hash_seed();
    return ad;
}

void mw_answerdiff_free(struct mw_answerdiff *ad)
{
    if (!ad)
        return;
    for (struct mw_lru_node *n = ad->t.head, *next; n; n = next) {
        next = n->next;
        free(entry_of(n));
    }
    mw_lru_deinit(&ad->t);
    mw_answerscan_free(ad->sc);
    free(ad->texts);
    free(ad);
}

size_t mw_answerdiff_count(const struct mw_answerdiff *ad)
{
    return ad ? ad->st.names : 0;
}

void mw_answerdiff_get_stats(const struct mw_answerdiff *ad, struct mw_answerdiff_stats *out)
{
    *out = ad->st;
    out->bytes_per_name = out->names ? out->bytes / out->names : 0;
}

int mw_answerdiff_forget(struct mw_answerdiff *ad, const uint8_t *qname, size_t qname_len,
                         uint16_t qtype)
{
    uint8_t name[256];
    if (!ad || !qname || qname_len == 0 || qname_len > MW_DNAME_MAX)
        return -EINVAL;
    memcpy(name, qname, qname_len);
    mw_dname_lower(name, qname_len);
    struct entry *e = find(ad, name, qname_len, qtype, key_hash(ad->seed, name, qname_len, qtype));
    if (!e)
        return -ENOENT;
    detach(ad, e);
    free(e);
    return 0;
}

static void entry_store(struct entry *e, const struct mw_answerscan_set *set, uint64_t vhash,
                        uint64_t now_ms)
{
    e->vhash = vhash;
    e->seen_ms = now_ms;
    e->ttl = set->ttl;
    e->used = (uint16_t)set->len;
    e->n_chain = set->n_chain;
    e->n_vals = set->n_vals;
    e->truncated = set->truncated;
    memcpy(e->data + e->name_len, set->p, set->len);
}

/* The set changed: report it and store the new one (in place when it fits). */
static int change(struct mw_answerdiff *ad, struct entry *old, const struct mw_answerscan_set *sn,
                  uint64_t vhash, uint64_t now_ms, struct mw_answer_change *out)
{
    struct entry *e = old;
    if (sn->len > old->cap) {
        e = malloc(ENTRY_SIZE(old->name_len, sn->len));
        if (!e)
            return -ENOMEM;
    }
    if (!ad->texts) {
        ad->texts = malloc(MW_ANSWERTEXT_BUF);
        if (!ad->texts) {
            if (e != old)
                free(e);
            return -ENOMEM;
        }
        ad->st.table_bytes += MW_ANSWERTEXT_BUF;
    }
    uint16_t qtype = old->qtype;
    struct mw_answerscan_set so = {.p = old->data + old->name_len,
                                   .len = old->used,
                                   .n_chain = old->n_chain,
                                   .n_vals = old->n_vals,
                                   .truncated = old->truncated,
                                   .ttl = old->ttl};
    bool chain_same = mw_answertext_fill(ad->texts, qtype, &so, sn, out);
    out->cname_changed = qtype == MW_TYPE_CNAME ? out->values_changed : !chain_same;
    out->ttl = sn->ttl;
    out->old_ttl = old->ttl;
    out->old_seen_ms = old->seen_ms;
    if (e != old) {
        detach(ad, old);
        memcpy(e, old, ENTRY_SIZE(old->name_len, 0));
        e->cap = (uint16_t)sn->len;
        free(old);
        attach(ad, e);
    } else {
        mw_lru_touch(&ad->t, &e->node);
    }
    entry_store(e, sn, vhash, now_ms);
    ad->st.changes++;
    return 1;
}

int mw_answerdiff_observe(struct mw_answerdiff *ad, const uint8_t *qname, size_t qname_len,
                          uint16_t qtype, const uint8_t *pkt, size_t len, uint64_t now_ms,
                          struct mw_answer_change *out)
{
    if (!ad || !qname || !pkt || !out || qname_len == 0 || qname_len > MW_DNAME_MAX)
        return -EINVAL;
    out->old_set.n = out->new_set.n = out->added.n = out->removed.n = 0;
    out->old_set.truncated = out->new_set.truncated = false;
    out->added.truncated = out->removed.truncated = false;
    out->old_chain_n = out->new_chain_n = 0;
    out->values_changed = out->cname_changed = false;
    out->ttl = out->old_ttl = 0;
    out->old_seen_ms = 0;
    memcpy(out->qname, qname, qname_len);
    mw_dname_lower(out->qname, qname_len);
    out->qname_len = (uint16_t)qname_len;
    out->qtype = qtype;

    if (!mw_answerdiff_tracks(qtype)) {
        ad->st.skipped++;
        return 0;
    }
    struct mw_answerscan_set set;
    int r = mw_answerscan_read(ad->sc, out->qname, qname_len, qtype, pkt, len, &set);
    if (r < 0) {
        ad->st.errors++;
        return r;
    }
    if (r == 0) {
        ad->st.skipped++;
        return 0;
    }
    ad->st.observed++;
    uint64_t vhash =
        mw_hash_bytes(ad->seed, (uint64_t)set.n_chain << 8 | set.n_vals, set.p, set.len);
    uint32_t h = key_hash(ad->seed, out->qname, qname_len, qtype);
    struct entry *old = find(ad, out->qname, qname_len, qtype, h);
    if (old) {
        /* The hash decides; the bytes are compared too since that is cheaper than being
         * wrong once in 2^64. */
        if (old->vhash == vhash && old->n_chain == set.n_chain && old->n_vals == set.n_vals &&
            old->used == set.len && memcmp(old->data + old->name_len, set.p, set.len) == 0) {
            old->seen_ms = now_ms;
            old->ttl = set.ttl;
            mw_lru_touch(&ad->t, &old->node);
            return 0;
        }
        return change(ad, old, &set, vhash, now_ms, out);
    }
    struct entry *e = malloc(ENTRY_SIZE(qname_len, set.len));
    if (!e)
        return -ENOMEM;
    e->hash = h;
    e->qtype = qtype;
    e->name_len = (uint8_t)qname_len;
    e->cap = (uint16_t)set.len;
    memcpy(e->data, out->qname, qname_len);
    entry_store(e, &set, vhash, now_ms);
    attach(ad, e);
    ad->st.first_seen++;
    while (ad->st.names > ad->max_names && mw_lru_oldest(&ad->t) != &e->node) {
        struct entry *victim = entry_of(mw_lru_oldest(&ad->t));
        detach(ad, victim);
        free(victim);
        ad->st.evictions++;
    }
    return 0;
}
