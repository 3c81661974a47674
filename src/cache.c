/* The answer cache of the process, shared by the worker threads: shards, each a chained hash
 * table of prepared responses with an intrusive LRU list under its own mutex. Each entry is one
 * allocation holding the key, the wire packet and its TTL table, so a hit is a hash, a lock, one
 * or two key compares, a reference taken and pointers into that block; the caller renders the
 * reply after the lock is released and drops the reference, and eviction unlinks the entry and
 * drops the table's reference (the last one frees it). A shard's table has a power-of-two bucket
 * count of at least twice its entry limit and is only rebuilt when the limit grows. Expired
 * entries are removed when looked up past their stale window or evicted as least recently used;
 * there is no sweeping timer. The key hash is keyed with a random seed of each cache so that
 * clients cannot choose names that collide; its low bits pick the bucket, its top bits the
 * shard. Why shards and a mutex rather than a read-mostly table: every hit moves its entry to
 * the LRU front, a write, so readers would need a lock or a sampled LRU anyway; an uncontended
 * mutex costs two atomic instructions, and with four shards per thread two workers rarely meet
 * on one. The table and the list are lru.c's, the hash is hash.c's. Time comes from the
 * caller; nothing here logs. */
#include "minewall/cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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
    uint64_t stamp;   /* caller's mark (lists generation the answer was checked against): atomic */
    atomic_uint refs; /* the table's while linked, plus one per holder; 0: freed */
    uint32_t len;
    uint16_t n_ttls;
    uint16_t key_len;
    uint32_t *ttl;     /* into data */
    uint16_t *ttl_off; /* into data */
    uint8_t *key;      /* into data */
    uint8_t *pkt;      /* into data */
    uint8_t data[];    /* ttl[n], ttl_off[n], key, pkt */
};

/* One shard: everything in it is under its lock. Aligned so that two shards never share a
 * cache line (their locks are written by different threads). */
#define MARK_BUCKETS 64 /* per shard: fetch.max-per-worker x threads marks at most */

struct shard {
    _Alignas(64) pthread_mutex_t lock;
    struct mw_cache_params p; /* the whole cache's, with this shard's part of the two bounds */
    struct mw_lru t;          /* owns the bucket array; the entries are freed here */
    struct mw_cache_stats st;
    struct mw_cache_mark *marks[MARK_BUCKETS]; /* claimed keys (the claimers' storage) */
};

struct mw_cache {
    uint64_t seed; /* keys the hash: random per cache */
    bool locking;  /* false: one thread uses the cache (params.one_thread), no locks */
    unsigned n_shards;
    unsigned shift;       /* hash >> shift is the shard (64 with one shard: see shard_of) */
    struct shard *shards; /* owned: n_shards */
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

static inline void lock(const struct mw_cache *c, struct shard *sh)
{
    if (c->locking)
        pthread_mutex_lock(&sh->lock);
}

static inline void unlock(const struct mw_cache *c, struct shard *sh)
{
    if (c->locking)
        pthread_mutex_unlock(&sh->lock);
}

static inline struct shard *shard_of(const struct mw_cache *c, uint64_t h)
{
    return &c->shards[c->n_shards == 1 ? 0 : h >> c->shift];
}

static inline void unref(struct mw_cache_entry *e)
{
    /* acq_rel: the thread that frees sees every other holder's reads done. */
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        free(e);
}

static void remove_entry(struct shard *sh, struct mw_cache_entry *e)
{
    mw_lru_remove(&sh->t, &e->node, e->hash);
    sh->st.bytes -= entry_size(e);
    sh->st.entries--;
    unref(e);
}

static struct mw_cache_entry *find(const struct shard *sh, const struct mw_cache_key *k, uint64_t h)
{
    size_t n = key_len(k);
    for (struct mw_lru_node *p = mw_lru_bucket(&sh->t, h); p; p = p->hnext) {
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
static void evict_to(struct shard *sh, size_t limit, size_t bytes_limit)
{
    while ((sh->st.entries > limit || sh->st.bytes > bytes_limit) && mw_lru_oldest(&sh->t)) {
        if (sh->st.entries <= limit)
            sh->st.evictions_bytes++;
        remove_entry(sh, entry_of(mw_lru_oldest(&sh->t)));
        sh->st.evictions++;
    }
}

static size_t bytes_bound(const struct mw_cache_params *p)
{
    return p->max_bytes ? p->max_bytes : SIZE_MAX;
}

unsigned mw_cache_shards_for(unsigned threads, size_t size)
{
    if (threads <= 1)
        return 1;
    unsigned n = 1;
    while (n < 4 * threads && n < MW_CACHE_MAX_SHARDS)
        n *= 2;
    while (n > 1 && size / n < 256)
        n /= 2;
    return n;
}

/* Shard i's part of the whole cache's bounds: an equal share, the remainder to the first. */
static void shard_params(const struct mw_cache *c, unsigned i, const struct mw_cache_params *p,
                         struct mw_cache_params *out)
{
    size_t n = c->n_shards;
    *out = *p;
    out->shards = c->n_shards;
    out->max_entries = p->max_entries / n + (i < p->max_entries % n);
    if (p->max_bytes) { /* 0 (no bound) stays 0; a bound never becomes 0 (no bound) */
        out->max_bytes = p->max_bytes / n + (i < p->max_bytes % n);
        if (out->max_bytes == 0)
            out->max_bytes = 1;
    }
}

struct mw_cache *mw_cache_new(const struct mw_cache_params *p)
{
    struct mw_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    unsigned n = 1, bits = 0;
    while (n * 2 <= p->shards && n < MW_CACHE_MAX_SHARDS) {
        n *= 2;
        bits++;
    }
    c->n_shards = n;
    c->shift = 64 - bits;
    c->locking = !p->one_thread;
    c->seed = mw_hash_seed();
    c->shards = aligned_alloc(_Alignof(struct shard), n * sizeof(struct shard));
    if (!c->shards) {
        free(c);
        return NULL;
    }
    memset(c->shards, 0, n * sizeof(struct shard));
    for (unsigned i = 0; i < n; i++) {
        struct shard *sh = &c->shards[i];
        shard_params(c, i, p, &sh->p);
        if (mw_lru_init(&sh->t, buckets_for(sh->p.max_entries), node_hash) < 0) {
            while (i--) {
                mw_lru_deinit(&c->shards[i].t);
                pthread_mutex_destroy(&c->shards[i].lock);
            }
            free(c->shards);
            free(c);
            return NULL;
        }
        pthread_mutex_init(&sh->lock, NULL);
    }
    return c;
}

static size_t shard_clear(struct shard *sh)
{
    size_t n = sh->st.entries;
    struct mw_lru_node *p = sh->t.head;
    while (p) {
        struct mw_lru_node *next = p->next;
        unref(entry_of(p));
        p = next;
    }
    mw_lru_forget_all(&sh->t);
    sh->st.entries = 0;
    sh->st.bytes = 0;
    return n;
}

size_t mw_cache_clear(struct mw_cache *c)
{
    size_t n = 0;
    for (unsigned i = 0; i < c->n_shards; i++) {
        struct shard *sh = &c->shards[i];
        lock(c, sh);
        n += shard_clear(sh);
        unlock(c, sh);
    }
    return n;
}

size_t mw_cache_remove_name(struct mw_cache *c, const uint8_t *qname, size_t len)
{
    /* A walk of the whole list: a control command, never on the query path. The key starts
     * with the lowercase name; qtype, qclass and DO (5 octets) follow, and for an answer from a
     * client group's forward zone the group's tag (8 octets, qgroup.c). The name's entries
     * hash to any shard (the type is in the key), so every shard is walked, one lock at a
     * time. */
    size_t n = 0;
    for (unsigned i = 0; i < c->n_shards; i++) {
        struct shard *sh = &c->shards[i];
        lock(c, sh);
        struct mw_lru_node *p = sh->t.head;
        while (p) {
            struct mw_lru_node *next = p->next;
            struct mw_cache_entry *e = entry_of(p);
            if ((e->key_len == len + 5 || e->key_len == len + 5 + 8) &&
                memcmp(e->key, qname, len) == 0) {
                remove_entry(sh, e);
                n++;
            }
            p = next;
        }
        unlock(c, sh);
    }
    return n;
}

void mw_cache_free(struct mw_cache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->n_shards; i++) {
        /* The entries only: the bucket arrays are freed, not cleared first (16 MB of
         * writes at exit with the default size). */
        for (struct mw_lru_node *p = c->shards[i].t.head, *next; p; p = next) {
            next = p->next;
            unref(entry_of(p));
        }
        mw_lru_deinit(&c->shards[i].t);
        pthread_mutex_destroy(&c->shards[i].lock);
    }
    free(c->shards);
    free(c);
}

void mw_cache_set_params(struct mw_cache *c, const struct mw_cache_params *p)
{
    for (unsigned i = 0; i < c->n_shards; i++) {
        struct shard *sh = &c->shards[i];
        lock(c, sh);
        shard_params(c, i, p, &sh->p);
        evict_to(sh, sh->p.max_entries, bytes_bound(&sh->p));
        mw_lru_resize(&sh->t, buckets_for(sh->p.max_entries)); /* on ENOMEM chains get longer */
        unlock(c, sh);
    }
}

/* ---- insert and lookup ---- */

static inline uint32_t clamp_ttl(const struct mw_cache_params *p, uint32_t v)
{
    if (v < p->min_ttl)
        v = p->min_ttl;
    return v > p->max_ttl ? p->max_ttl : v; /* max wins when min > max */
}

/* ---- in-flight marks ---- */

/* The mark chain of hash: bits below the shard's (top) and apart from the buckets' (low). */
static inline struct mw_cache_mark **marks_of(struct shard *sh, uint64_t hash)
{
    return &sh->marks[(hash >> 40) & (MARK_BUCKETS - 1)];
}

enum mw_cache_claim mw_cache_claim(struct mw_cache *c, const struct mw_cache_key *key,
                                   uint64_t hash, uint8_t variant, uint64_t now_ms, unsigned me,
                                   struct mw_cache_mark *m)
{
    struct shard *sh = shard_of(c, hash);
    enum mw_cache_claim r = MW_CACHE_CLAIM_OWNED;
    lock(c, sh);
    struct mw_cache_entry *e = find(sh, key, hash);
    if (e && now_ms < e->expire_ms) {
        r = MW_CACHE_CLAIM_HIT;
        goto out;
    }
    struct mw_cache_mark **chain = marks_of(sh, hash);
    for (struct mw_cache_mark *o = *chain; o; o = o->next) {
        if (o->hash == hash && o->variant == variant && mw_cache_key_equal(o->key, key)) {
            if (o->owner == me || me >= 64) {
                r = MW_CACHE_CLAIM_NONE;
            } else {
                o->waiting |= (uint64_t)1 << me;
                r = MW_CACHE_CLAIM_PARKED;
            }
            goto out;
        }
    }
    m->key = key;
    m->hash = hash;
    m->waiting = 0;
    m->owner = me;
    m->variant = variant;
    m->linked = true;
    m->next = *chain;
    *chain = m;
out:
    unlock(c, sh);
    return r;
}

uint64_t mw_cache_unclaim(struct mw_cache *c, struct mw_cache_mark *m)
{
    if (!m->linked)
        return 0;
    struct shard *sh = shard_of(c, m->hash);
    lock(c, sh);
    for (struct mw_cache_mark **pp = marks_of(sh, m->hash); *pp; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    }
    uint64_t waiting = m->waiting;
    m->linked = false;
    m->next = NULL;
    unlock(c, sh);
    return waiting;
}

/* The stored view of e for a caller. */
static void view(const struct mw_cache_entry *e, struct mw_dns_stored *s)
{
    s->pkt = e->pkt;
    s->len = e->len;
    s->ttl_off = e->ttl_off;
    s->ttl = e->ttl;
    s->n_ttls = e->n_ttls;
    s->stamp = (uint64_t *)&e->stamp;
}

/* How long the answer lives (s), clamped under p, or 0 when it is not cached. */
static uint32_t lifetime(const struct mw_cache_params *p, const struct mw_dns_response *info,
                         const uint32_t *ttl, bool *negative)
{
    bool positive = info->rcode == MW_RCODE_NOERROR && info->ancount > 0;
    *negative =
        info->rcode == MW_RCODE_NXDOMAIN || (info->rcode == MW_RCODE_NOERROR && info->ancount == 0);
    if (positive) {
        if (info->n_ttls == 0)
            return 0;
        uint32_t life = UINT32_MAX;
        for (unsigned i = 0; i < info->n_ttls; i++) {
            uint32_t v = clamp_ttl(p, ttl[i]);
            life = v < life ? v : life;
        }
        return life;
    }
    if (*negative && info->has_soa) /* RFC 2308 5: no SOA, no negative caching */
        return clamp_ttl(p, info->neg_ttl);
    return 0;
}

/* The insert under sh's lock: the shard's params (a reload may change them) decide. */
static int insert_locked(struct shard *sh, const struct mw_cache_key *k, uint64_t hash,
                         const uint8_t *pkt, size_t len, const struct mw_dns_response *info,
                         const uint16_t *ttl_off, const uint32_t *ttl, uint64_t now_ms,
                         struct mw_cache_entry **out)
{
    const struct mw_cache_params *p = &sh->p;
    if (p->max_entries == 0)
        return -EINVAL;
    bool negative;
    uint32_t life = lifetime(p, info, ttl, &negative);
    if (life == 0)
        return -EINVAL;
    size_t n = info->n_ttls, klen = k->len;
    size_t size = sizeof(struct mw_cache_entry) + n * 4 + n * 2 + klen + len;
    if (size > bytes_bound(p))
        return -EINVAL; /* larger than the whole shard may hold */
    struct mw_cache_entry *e = malloc(size);
    if (!e)
        return -ENOMEM;
    e->ttl = (uint32_t *)(void *)e->data;
    e->ttl_off = (uint16_t *)(void *)(e->data + n * 4);
    e->key = e->data + n * 6;
    e->pkt = e->key + klen;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = clamp_ttl(p, ttl[i]);
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
    e->hash = hash;
    e->stamp = 0;
    atomic_init(&e->refs, out ? 2u : 1u);

    struct mw_cache_entry *old = find(sh, k, hash);
    if (old)
        remove_entry(sh, old);
    evict_to(sh, p->max_entries - 1, bytes_bound(p) - size);

    mw_lru_insert(&sh->t, &e->node, hash);
    sh->st.entries++;
    sh->st.bytes += size;
    sh->st.inserts++;
    if (out)
        *out = e;
    return 0;
}

static int insert(struct mw_cache *c, const struct mw_cache_key *k, const uint8_t *pkt, size_t len,
                  const struct mw_dns_response *info, const uint16_t *ttl_off, const uint32_t *ttl,
                  uint64_t now_ms, struct mw_cache_entry **out)
{
    if ((info->flags & MW_DNS_TC) || info->ttls_overflow)
        return -EINVAL;
    if (len < MW_DNS_HDR || len > MW_DNS_MAXMSG || info->n_ttls > MW_DNS_MAX_TTLS || k->len == 0 ||
        k->len > sizeof(k->data))
        return -EINVAL;
    /* Hashed and allocated under the lock: the miss path only, and one lock taken. */
    uint64_t hash = mw_cache_key_hash(c, k);
    struct shard *sh = shard_of(c, hash);
    lock(c, sh);
    int rc = insert_locked(sh, k, hash, pkt, len, info, ttl_off, ttl, now_ms, out);
    unlock(c, sh);
    return rc;
}

int mw_cache_insert(struct mw_cache *c, const struct mw_cache_key *k, const uint8_t *pkt,
                    size_t len, const struct mw_dns_response *info, const uint16_t *ttl_off,
                    const uint32_t *ttl, uint64_t now_ms)
{
    return insert(c, k, pkt, len, info, ttl_off, ttl, now_ms, NULL);
}

int mw_cache_insert_hold(struct mw_cache *c, const struct mw_cache_key *k, const uint8_t *pkt,
                         size_t len, const struct mw_dns_response *info, const uint16_t *ttl_off,
                         const uint32_t *ttl, uint64_t now_ms, struct mw_dns_stored *s,
                         struct mw_cache_entry **ref)
{
    *ref = NULL;
    int rc = insert(c, k, pkt, len, info, ttl_off, ttl, now_ms, ref);
    if (rc == 0)
        view(*ref, s);
    return rc;
}

enum mw_cache_result mw_cache_lookup_hold(struct mw_cache *c, const struct mw_cache_key *k,
                                          uint64_t hash, uint64_t now_ms, bool allow_stale,
                                          struct mw_dns_stored *s, uint32_t *elapsed,
                                          struct mw_cache_entry **ref)
{
    struct shard *sh = shard_of(c, hash);
    lock(c, sh);
    struct mw_cache_entry *e = find(sh, k, hash);
    enum mw_cache_result r = MW_CACHE_HIT;
    if (!e) {
        r = MW_CACHE_MISS;
    } else if (now_ms >= e->expire_ms) {
        if (now_ms - e->expire_ms >= (uint64_t)sh->p.serve_stale * 1000) {
            remove_entry(sh, e);
            sh->st.expired++;
            r = MW_CACHE_MISS;
        } else if (!allow_stale) {
            r = MW_CACHE_MISS;
        } else {
            r = MW_CACHE_STALE;
            sh->st.stale_hits++;
        }
    } else {
        sh->st.hits++;
    }
    if (r == MW_CACHE_MISS) {
        sh->st.misses++;
        unlock(c, sh);
        if (ref)
            *ref = NULL;
        return r;
    }
    mw_lru_touch(&sh->t, &e->node);
    if (ref) /* under the lock: the table's reference keeps e alive until here */
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    uint64_t inserted = e->inserted_ms;
    unlock(c, sh);
    view(e, s);
    uint64_t age = now_ms > inserted ? (now_ms - inserted) / 1000 : 0;
    *elapsed = age > UINT32_MAX ? UINT32_MAX : (uint32_t)age;
    if (ref)
        *ref = e;
    return r;
}

enum mw_cache_result mw_cache_lookup(struct mw_cache *c, const struct mw_cache_key *k,
                                     uint64_t now_ms, bool allow_stale, struct mw_dns_stored *s,
                                     uint32_t *elapsed)
{
    return mw_cache_lookup_hold(c, k, mw_cache_key_hash(c, k), now_ms, allow_stale, s, elapsed,
                                NULL);
}

void mw_cache_release(struct mw_cache *c, struct mw_cache_entry *ref)
{
    (void)c;
    if (ref)
        unref(ref);
}

void mw_cache_get_stats(struct mw_cache *c, struct mw_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < c->n_shards; i++) {
        struct shard *sh = &c->shards[i];
        lock(c, sh);
        const struct mw_cache_stats *st = &sh->st;
        out->hits += st->hits;
        out->misses += st->misses;
        out->stale_hits += st->stale_hits;
        out->inserts += st->inserts;
        out->evictions += st->evictions;
        out->expired += st->expired;
        out->evictions_bytes += st->evictions_bytes;
        out->entries += st->entries;
        out->bytes += st->bytes;
        unlock(c, sh);
    }
}
