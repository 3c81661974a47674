/* The answer cache of one worker: a chained hash table of prepared responses with an
 * intrusive LRU list. Each entry is one allocation holding the key, the wire packet and its
 * TTL table, so a hit is a hash, one or two key compares and pointers into that block, and
 * eviction is one free. The table has a power-of-two bucket count of at least twice the entry
 * limit and is only rebuilt when the limit grows. Expired entries are removed when looked up
 * past their stale window or evicted as least recently used; there is no sweeping timer. The
 * key hash is keyed with a random seed of each cache so that clients cannot choose names that
 * collide. The table and the list are lru.c's, the hash is hash.c's. Time comes from the
 * caller; nothing here logs. */
#include "minewall/cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dnsmsg.h"
#include "minewall/hash.h"
#include "minewall/lru.h"

#define MAX_BUCKETS ((size_t)1 << 30)

struct mw_cache_entry {
    struct mw_lru_node node;
    uint64_t hash;
    uint64_t inserted_ms, expire_ms;
    uint64_t stamp; /* caller's mark (lists generation the answer was checked against) */
    uint32_t len;
    uint16_t n_ttls;
    uint16_t key_len;
    uint32_t *ttl;     /* into data */
    uint16_t *ttl_off; /* into data */
    uint8_t *key;      /* into data */
    uint8_t *pkt;      /* into data */
    uint8_t data[];    /* ttl[n], ttl_off[n], key, pkt */
};

struct mw_cache {
    struct mw_cache_params p;
    struct mw_lru t; /* owns the bucket array; the entries are freed here */
    uint64_t seed;   /* keys the hash: random per cache */
    struct mw_cache_stats st;
};

static inline struct mw_cache_entry *entry_of(struct mw_lru_node *n)
{
    return mw_lru_entry(n, struct mw_cache_entry, node);
}

/* ---- key and hash ---- */

static inline size_t key_len(const struct mw_cache_key *k)
{
    return k->len < sizeof(k->data) ? k->len : sizeof(k->data);
}

void mw_cache_key_make(const struct mw_dns_question *q, bool do_bit, struct mw_cache_key *k)
{
    size_t n = q->qname_len < sizeof(q->qname) ? q->qname_len : sizeof(q->qname);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = q->qname[i];
        k->data[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
    }
    mw_dns_put16(k->data + n, q->qtype);
    mw_dns_put16(k->data + n + 2, q->qclass);
    k->data[n + 4] = do_bit ? 1 : 0;
    k->len = (uint16_t)(n + 5);
}

uint64_t mw_cache_key_hash(const struct mw_cache *c, const struct mw_cache_key *k)
{
    return mw_hash_bytes(c->seed, 0, k->data, key_len(k));
}

bool mw_cache_key_equal(const struct mw_cache_key *a, const struct mw_cache_key *b)
{
    return a->len == b->len && memcmp(a->data, b->data, key_len(a)) == 0;
}

/* ---- table and LRU ---- */

static inline size_t entry_size(const struct mw_cache_entry *e)
{
    return sizeof(*e) + (size_t)e->n_ttls * 6 + e->key_len + e->len;
}

static void remove_entry(struct mw_cache *c, struct mw_cache_entry *e)
{
    mw_lru_remove(&c->t, &e->node, e->hash);
    c->st.bytes -= entry_size(e);
    free(e);
    c->st.entries--;
}

static struct mw_cache_entry *find(const struct mw_cache *c, const struct mw_cache_key *k,
                                   uint64_t h)
{
    size_t n = key_len(k);
    for (struct mw_lru_node *p = mw_lru_bucket(&c->t, h); p; p = p->hnext) {
        struct mw_cache_entry *e = entry_of(p);
        if (e->hash == h && e->key_len == n && memcmp(e->key, k->data, n) == 0)
            return e;
    }
    return NULL;
}

/* Twice the entry limit: chains stay short at full load. */
static size_t buckets_for(size_t max_entries)
{
    return max_entries > MAX_BUCKETS / 2 ? MAX_BUCKETS : max_entries * 2;
}

static uint64_t node_hash(const struct mw_lru_node *n)
{
    return mw_lru_entry(n, const struct mw_cache_entry, node)->hash;
}

/* Evict least recently used entries until at most limit entries and bytes_limit bytes
 * remain. */
static void evict_to(struct mw_cache *c, size_t limit, size_t bytes_limit)
{
    while ((c->st.entries > limit || c->st.bytes > bytes_limit) && mw_lru_oldest(&c->t)) {
        if (c->st.entries <= limit)
            c->st.evictions_bytes++;
        remove_entry(c, entry_of(mw_lru_oldest(&c->t)));
        c->st.evictions++;
    }
}

static size_t bytes_bound(const struct mw_cache_params *p)
{
    return p->max_bytes ? p->max_bytes : SIZE_MAX;
}

struct mw_cache *mw_cache_new(const struct mw_cache_params *p)
{
    struct mw_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->p = *p;
    c->seed = mw_hash_seed();
    if (mw_lru_init(&c->t, buckets_for(p->max_entries), node_hash) < 0) {
        free(c);
        return NULL;
    }
    return c;
}

void mw_cache_clear(struct mw_cache *c)
{
    struct mw_lru_node *n = c->t.head;
    while (n) {
        struct mw_lru_node *next = n->next;
        free(entry_of(n));
        n = next;
    }
    mw_lru_forget_all(&c->t);
    c->st.entries = 0;
    c->st.bytes = 0;
}

size_t mw_cache_remove_name(struct mw_cache *c, const uint8_t *qname, size_t len)
{
    /* A walk of the whole list: a control command, never on the query path. The key starts
     * with the lowercase name; qtype, qclass and DO (5 octets) follow, and for an answer from a
     * client group's forward zone the group's tag (8 octets, qgroup.c). */
    size_t n = 0;
    struct mw_lru_node *p = c->t.head;
    while (p) {
        struct mw_lru_node *next = p->next;
        struct mw_cache_entry *e = entry_of(p);
        if ((e->key_len == len + 5 || e->key_len == len + 5 + 8) &&
            memcmp(e->key, qname, len) == 0) {
            remove_entry(c, e);
            n++;
        }
        p = next;
    }
    return n;
}

void mw_cache_free(struct mw_cache *c)
{
    if (!c)
        return;
    mw_cache_clear(c);
    mw_lru_deinit(&c->t);
    free(c);
}

void mw_cache_set_params(struct mw_cache *c, const struct mw_cache_params *p)
{
    c->p = *p;
    evict_to(c, p->max_entries, bytes_bound(p));
    mw_lru_resize(&c->t, buckets_for(p->max_entries)); /* on ENOMEM chains get longer */
}

/* ---- insert and lookup ---- */

static inline uint32_t clamp_ttl(const struct mw_cache_params *p, uint32_t v)
{
    if (v < p->min_ttl)
        v = p->min_ttl;
    return v > p->max_ttl ? p->max_ttl : v; /* max wins when min > max */
}

int mw_cache_insert(struct mw_cache *c, const struct mw_cache_key *k, const uint8_t *pkt,
                    size_t len, const struct mw_dns_response *info, const uint16_t *ttl_off,
                    const uint32_t *ttl, uint64_t now_ms)
{
    if (c->p.max_entries == 0 || (info->flags & MW_DNS_TC) || info->ttls_overflow)
        return -EINVAL;
    if (len < MW_DNS_HDR || len > MW_DNS_MAXMSG || info->n_ttls > MW_DNS_MAX_TTLS || k->len == 0 ||
        k->len > sizeof(k->data))
        return -EINVAL;

    bool positive = info->rcode == MW_RCODE_NOERROR && info->ancount > 0;
    bool negative =
        info->rcode == MW_RCODE_NXDOMAIN || (info->rcode == MW_RCODE_NOERROR && info->ancount == 0);
    uint32_t life;
    if (positive) {
        life = UINT32_MAX;
        for (unsigned i = 0; i < info->n_ttls; i++) {
            uint32_t v = clamp_ttl(&c->p, ttl[i]);
            life = v < life ? v : life;
        }
        if (info->n_ttls == 0)
            return -EINVAL;
    } else if (negative) {
        if (!info->has_soa) /* RFC 2308 5: no SOA, no negative caching */
            return -EINVAL;
        life = clamp_ttl(&c->p, info->neg_ttl);
    } else {
        return -EINVAL;
    }
    if (life == 0)
        return -EINVAL;

    size_t n = info->n_ttls, klen = k->len;
    size_t size = sizeof(struct mw_cache_entry) + n * 4 + n * 2 + klen + len;
    if (size > bytes_bound(&c->p))
        return -EINVAL; /* larger than the whole cache may hold */
    struct mw_cache_entry *e = malloc(size);
    if (!e)
        return -ENOMEM;
    e->ttl = (uint32_t *)(void *)e->data;
    e->ttl_off = (uint16_t *)(void *)(e->data + n * 4);
    e->key = e->data + n * 6;
    e->pkt = e->key + klen;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = clamp_ttl(&c->p, ttl[i]);
        e->ttl[i] = (negative && v > life) ? life : v; /* RFC 2308 5 */
    }
    if (n)
        memcpy(e->ttl_off, ttl_off, n * 2);
    memcpy(e->key, k->data, klen);
    memcpy(e->pkt, pkt, len);
    e->key_len = (uint16_t)klen;
    e->len = (uint32_t)len;
    e->n_ttls = (uint16_t)n;
    e->inserted_ms = now_ms;
    e->expire_ms = now_ms + (uint64_t)life * 1000;
    e->hash = mw_cache_key_hash(c, k);

    struct mw_cache_entry *old = find(c, k, e->hash);
    if (old)
        remove_entry(c, old);
    evict_to(c, c->p.max_entries - 1, bytes_bound(&c->p) - size);

    mw_lru_insert(&c->t, &e->node, e->hash);
    c->st.entries++;
    c->st.bytes += size;
    c->st.inserts++;
    return 0;
}

enum mw_cache_result mw_cache_lookup(struct mw_cache *c, const struct mw_cache_key *k,
                                     uint64_t now_ms, bool allow_stale, struct mw_dns_stored *s,
                                     uint32_t *elapsed)
{
    struct mw_cache_entry *e = find(c, k, mw_cache_key_hash(c, k));
    if (!e) {
        c->st.misses++;
        return MW_CACHE_MISS;
    }
    enum mw_cache_result r = MW_CACHE_HIT;
    if (now_ms >= e->expire_ms) {
        if (now_ms - e->expire_ms >= (uint64_t)c->p.serve_stale * 1000) {
            remove_entry(c, e);
            c->st.expired++;
            c->st.misses++;
            return MW_CACHE_MISS;
        }
        if (!allow_stale) {
            c->st.misses++;
            return MW_CACHE_MISS;
        }
        r = MW_CACHE_STALE;
        c->st.stale_hits++;
    } else {
        c->st.hits++;
    }
    mw_lru_touch(&c->t, &e->node);
    s->pkt = e->pkt;
    s->len = e->len;
    s->ttl_off = e->ttl_off;
    s->ttl = e->ttl;
    s->n_ttls = e->n_ttls;
    s->stamp = &e->stamp;
    uint64_t age = now_ms > e->inserted_ms ? (now_ms - e->inserted_ms) / 1000 : 0;
    *elapsed = age > UINT32_MAX ? UINT32_MAX : (uint32_t)age;
    return r;
}

void mw_cache_get_stats(const struct mw_cache *c, struct mw_cache_stats *out)
{
    *out = c->st;
}
