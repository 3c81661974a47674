/* The answer cache of one worker: a chained hash table of prepared responses with an
 * intrusive LRU list. Each entry is one allocation holding the key, the wire packet and its
 * TTL table, so a hit is a hash, one or two key compares and pointers into that block, and
 * eviction is one free. The table has a power-of-two bucket count of at least twice the entry
 * limit and is only rebuilt when the limit grows. Expired entries are removed when looked up
 * past their stale window or evicted as least recently used; there is no sweeping timer. The
 * key hash is keyed with a per-process random seed so that clients cannot choose names that
 * collide. Time comes from the caller; nothing here logs. */
#include "minewall/cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "minewall/dnsmsg.h"

#define MIN_BUCKETS 16
#define MAX_BUCKETS ((size_t)1 << 30)

struct mw_cache_entry {
    struct mw_cache_entry *hnext;       /* bucket chain */
    struct mw_cache_entry *prev, *next; /* LRU: head is the most recently used */
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
    struct mw_cache_entry **buckets; /* owned */
    size_t mask;
    struct mw_cache_entry *head, *tail;
    struct mw_cache_stats st;
};

/* ---- key and hash ---- */

static uint64_t g_seed;

static void seed_init(void)
{
    if (__atomic_load_n(&g_seed, __ATOMIC_RELAXED))
        return;
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
    }
    r |= 1;
    uint64_t zero = 0;
    __atomic_compare_exchange_n(&g_seed, &zero, r, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static inline uint64_t mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)(r >> 64) ^ (uint64_t)r;
}

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

/* A wyhash-style multiply-fold over 8-byte words, with the secret seed in every step. */
uint64_t mw_cache_key_hash(const struct mw_cache_key *k)
{
    const uint64_t p0 = 0xa0761d6478bd642full, p1 = 0xe7037ed1a0b428dbull;
    const uint64_t p2 = 0x8ebc6af09c88c6e3ull, p3 = 0x589965cc75374cc3ull;
    uint64_t s = __atomic_load_n(&g_seed, __ATOMIC_RELAXED);
    size_t n = key_len(k);
    const uint8_t *p = k->data;
    uint64_t h = s ^ mum(n ^ p0, s ^ p1);

    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = mum(v ^ s ^ p1, h ^ p2);
        p += 8;
        n -= 8;
    }
    uint64_t t = 0;
    memcpy(&t, p, n);
    h = mum(t ^ s ^ p3, h ^ p0);
    return mum(h ^ p1, s ^ p2);
}

bool mw_cache_key_equal(const struct mw_cache_key *a, const struct mw_cache_key *b)
{
    return a->len == b->len && memcmp(a->data, b->data, key_len(a)) == 0;
}

/* ---- table and LRU ---- */

static void lru_unlink(struct mw_cache *c, struct mw_cache_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct mw_cache *c, struct mw_cache_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    else
        c->tail = e;
    c->head = e;
}

static void remove_entry(struct mw_cache *c, struct mw_cache_entry *e)
{
    struct mw_cache_entry **pp = &c->buckets[e->hash & c->mask];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(c, e);
    free(e);
    c->st.entries--;
}

static struct mw_cache_entry *find(const struct mw_cache *c, const struct mw_cache_key *k,
                                   uint64_t h)
{
    size_t n = key_len(k);
    for (struct mw_cache_entry *e = c->buckets[h & c->mask]; e; e = e->hnext) {
        if (e->hash == h && e->key_len == n && memcmp(e->key, k->data, n) == 0)
            return e;
    }
    return NULL;
}

static size_t buckets_for(size_t max_entries)
{
    size_t want = max_entries > MAX_BUCKETS / 2 ? MAX_BUCKETS : max_entries * 2;
    size_t n = MIN_BUCKETS;
    while (n < want)
        n <<= 1;
    return n;
}

/* Move every entry into a new bucket array; on ENOMEM the old one stays (chains get longer). */
static void rehash(struct mw_cache *c, size_t nb)
{
    struct mw_cache_entry **b = calloc(nb, sizeof(*b));
    if (!b)
        return;
    for (struct mw_cache_entry *e = c->head; e; e = e->next) {
        e->hnext = b[e->hash & (nb - 1)];
        b[e->hash & (nb - 1)] = e;
    }
    free(c->buckets);
    c->buckets = b;
    c->mask = nb - 1;
}

static void evict_to(struct mw_cache *c, size_t limit)
{
    while (c->st.entries > limit && c->tail) {
        remove_entry(c, c->tail);
        c->st.evictions++;
    }
}

struct mw_cache *mw_cache_new(const struct mw_cache_params *p)
{
    seed_init();
    struct mw_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->p = *p;
    size_t nb = buckets_for(p->max_entries);
    c->buckets = calloc(nb, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->mask = nb - 1;
    return c;
}

void mw_cache_clear(struct mw_cache *c)
{
    struct mw_cache_entry *e = c->head;
    while (e) {
        struct mw_cache_entry *next = e->next;
        free(e);
        e = next;
    }
    c->head = c->tail = NULL;
    memset(c->buckets, 0, (c->mask + 1) * sizeof(*c->buckets));
    c->st.entries = 0;
}

void mw_cache_free(struct mw_cache *c)
{
    if (!c)
        return;
    mw_cache_clear(c);
    free(c->buckets);
    free(c);
}

void mw_cache_set_params(struct mw_cache *c, const struct mw_cache_params *p)
{
    c->p = *p;
    evict_to(c, p->max_entries);
    size_t nb = buckets_for(p->max_entries);
    if (nb > c->mask + 1)
        rehash(c, nb);
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
    e->hash = mw_cache_key_hash(k);

    struct mw_cache_entry *old = find(c, k, e->hash);
    if (old)
        remove_entry(c, old);
    evict_to(c, c->p.max_entries - 1);

    struct mw_cache_entry **b = &c->buckets[e->hash & c->mask];
    e->hnext = *b;
    *b = e;
    lru_push_front(c, e);
    c->st.entries++;
    c->st.inserts++;
    return 0;
}

enum mw_cache_result mw_cache_lookup(struct mw_cache *c, const struct mw_cache_key *k,
                                     uint64_t now_ms, bool allow_stale, struct mw_dns_stored *s,
                                     uint32_t *elapsed)
{
    struct mw_cache_entry *e = find(c, k, mw_cache_key_hash(k));
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
    if (c->head != e) {
        lru_unlink(c, e);
        lru_push_front(c, e);
    }
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
