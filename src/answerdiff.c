/* Answer sets per (name, type) and their changes. A response is read in two passes over its
 * answer section: the first collects the CNAME records (at most MAX_CNAMES) and follows the
 * chain from the question name, the second collects the records of the asked type owned by the
 * chain's end. Values are sorted by a binary key (the address octets; the MX preference, then
 * the lowercase wire name), so that addresses sort numerically, and only the kept ones are
 * turned into text. The scratch space for this is allocated once with the tracker.
 *
 * Each tracked pair is one block: the entry header, the wire name, the chain texts and the
 * values (key and text). A change builds a new block and swaps it in; the old block is kept as
 * "retired" until the next call so that the caller's mw_answer_change can point into both. */
#include "minewall/answerdiff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "minewall/dname.h"
#include "minewall/dnsmsg.h"

#define MAX_CNAMES 64     /* CNAME records of one response considered for the chain */
#define MAX_SCAN 256      /* records of the asked type considered per response */
#define KEY_MAX (2 + 256) /* MX: preference and wire name (unpack wants 256) */
#define TEXT_MAX 1040     /* "65535 " and a name of 255 octets with every byte as \DDD */
#define MAX_BUCKETS ((size_t)1 << 26)

struct entry {
    struct entry *hnext;       /* bucket chain */
    struct entry *prev, *next; /* LRU: head is the most recently seen */
    uint64_t hash;
    uint64_t seen_ms;
    uint32_t size; /* bytes of this block */
    uint32_t ttl;
    uint16_t qtype;
    uint8_t name_len;
    uint8_t n_chain;
    uint8_t n_vals;
    bool truncated;
    uint8_t data[]; /* name, chain texts (NUL-ended), values: u16 key length, key, text, NUL */
};

struct item {
    const uint8_t *key; /* into scan.keys */
    uint16_t len;
};

struct cname {
    uint8_t owner[256], target[256];
    uint16_t owner_len, target_len;
    uint32_t ttl;
};

/* What one response says, before it is compared or stored. Lives in the tracker. */
struct scan {
    struct item items[MAX_SCAN];
    uint16_t n_items;
    bool truncated;
    uint32_t ttl;
    bool any_ttl;
    size_t keys_used;
    uint8_t keys[MAX_SCAN * KEY_MAX];
    struct cname cn[MAX_CNAMES];
    uint16_t n_cn;
    uint16_t chain_idx[MW_ANSWERDIFF_MAX_CHAIN]; /* into cn */
    uint8_t n_chain;
    char chain_text[MW_ANSWERDIFF_MAX_CHAIN][TEXT_MAX];
    char text[MW_ANSWERDIFF_MAX_VALUES][TEXT_MAX];
};

struct mw_answerdiff {
    size_t max_names;
    struct entry **buckets; /* owned */
    size_t mask;
    struct entry *head, *tail;
    struct entry *retired; /* owned: the block replaced by the last change */
    struct scan *sc;       /* owned scratch */
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
        return "A";
    case MW_TYPE_AAAA:
        return "AAAA";
    case MW_TYPE_CNAME:
        return "CNAME";
    case MW_TYPE_NS:
        return "NS";
    case MW_TYPE_MX:
        return "MX";
    default:
        return NULL;
    }
}

static inline uint64_t mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)(r >> 64) ^ (uint64_t)r;
}

/* Keyed multiply-fold over the wire name and type; the seed keeps clients from choosing names
 * that collide in one bucket. */
static uint64_t key_hash(uint64_t seed, const uint8_t *name, size_t len, uint16_t qtype)
{
    const uint64_t p0 = 0xa0761d6478bd642full, p1 = 0xe7037ed1a0b428dbull;
    const uint64_t p2 = 0x8ebc6af09c88c6e3ull;
    uint64_t h = mum(seed ^ p0, ((uint64_t)qtype << 16 | len) ^ p1);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, name, 8);
        h = mum(v ^ seed ^ p1, h ^ p2);
        name += 8;
        len -= 8;
    }
    uint64_t t = 0;
    memcpy(&t, name, len);
    h = mum(t ^ seed ^ p2, h ^ p0);
    return mum(h ^ p1, seed ^ p2);
}

/* ---- table and LRU ---- */

static void lru_unlink(struct mw_answerdiff *ad, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        ad->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        ad->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct mw_answerdiff *ad, struct entry *e)
{
    e->prev = NULL;
    e->next = ad->head;
    if (ad->head)
        ad->head->prev = e;
    else
        ad->tail = e;
    ad->head = e;
}

static struct entry **bucket_slot(struct mw_answerdiff *ad, const struct entry *e)
{
    struct entry **pp = &ad->buckets[e->hash & ad->mask];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    return pp;
}

/* Take e out of the table and the LRU list; the caller frees or retires it. */
static void detach(struct mw_answerdiff *ad, struct entry *e)
{
    struct entry **pp = bucket_slot(ad, e);
    if (*pp)
        *pp = e->hnext;
    lru_unlink(ad, e);
    ad->st.names--;
    ad->st.bytes -= e->size;
}

static void attach(struct mw_answerdiff *ad, struct entry *e)
{
    struct entry **b = &ad->buckets[e->hash & ad->mask];
    e->hnext = *b;
    *b = e;
    lru_push_front(ad, e);
    ad->st.names++;
    ad->st.bytes += e->size;
}

static struct entry *find(const struct mw_answerdiff *ad, const uint8_t *name, size_t len,
                          uint16_t qtype, uint64_t h)
{
    for (struct entry *e = ad->buckets[h & ad->mask]; e; e = e->hnext) {
        if (e->hash == h && e->qtype == qtype && e->name_len == len &&
            memcmp(e->data, name, len) == 0)
            return e;
    }
    return NULL;
}

static void retire(struct mw_answerdiff *ad, struct entry *e)
{
    free(ad->retired);
    ad->retired = e;
}

struct mw_answerdiff *mw_answerdiff_new(size_t max_names)
{
    if (max_names == 0)
        return NULL;
    struct mw_answerdiff *ad = calloc(1, sizeof(*ad));
    if (!ad)
        return NULL;
    size_t nb = 16;
    while (nb < max_names && nb < MAX_BUCKETS)
        nb <<= 1;
    ad->buckets = calloc(nb, sizeof(*ad->buckets));
    ad->sc = malloc(sizeof(*ad->sc));
    if (!ad->buckets || !ad->sc) {
        mw_answerdiff_free(ad);
        return NULL;
    }
    ad->mask = nb - 1;
    ad->max_names = max_names;
    ad->st.table_bytes = sizeof(*ad) + nb * sizeof(*ad->buckets) + sizeof(*ad->sc);
    if (getrandom(&ad->seed, sizeof(ad->seed), GRND_NONBLOCK) != (ssize_t)sizeof(ad->seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ad->seed = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)ad;
    }
    return ad;
}

void mw_answerdiff_free(struct mw_answerdiff *ad)
{
    if (!ad)
        return;
    for (struct entry *e = ad->head, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    free(ad->retired);
    free(ad->buckets);
    free(ad->sc);
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
    retire(ad, e);
    return 0;
}

/* ---- reading the response ---- */

static uint32_t rr_ttl(const uint8_t *p)
{
    uint32_t t = mw_dns_get32(p);
    return t & 0x80000000u ? 0 : t; /* RFC 2181 8: a TTL with the top bit set counts as 0 */
}

static void take_ttl(struct scan *sc, uint32_t ttl)
{
    if (!sc->any_ttl || ttl < sc->ttl)
        sc->ttl = ttl;
    sc->any_ttl = true;
}

/* One resource record of the answer section, its owner already read into owner. */
struct rr {
    uint8_t owner[256];
    int owner_len;
    uint16_t type, cls;
    uint32_t ttl;
    size_t rdata, rdlen;
};

static int read_rr(const uint8_t *pkt, size_t len, size_t *off, struct rr *rr)
{
    rr->owner_len = mw_dname_unpack(pkt, len, off, rr->owner, sizeof(rr->owner));
    if (rr->owner_len < 0 || len - *off < 10)
        return -EBADMSG;
    rr->type = mw_dns_get16(pkt + *off);
    rr->cls = mw_dns_get16(pkt + *off + 2);
    rr->ttl = rr_ttl(pkt + *off + 4);
    rr->rdlen = mw_dns_get16(pkt + *off + 8);
    rr->rdata = *off + 10;
    if (len - rr->rdata < rr->rdlen)
        return -EBADMSG;
    *off = rr->rdata + rr->rdlen;
    return 0;
}

/* A (possibly compressed) name inside rdata, which must end within the rdata. */
static int rdata_name(const uint8_t *pkt, size_t len, const struct rr *rr, size_t at, uint8_t *out)
{
    size_t o = rr->rdata + at;
    int n = mw_dname_unpack(pkt, len, &o, out, 256);
    if (n < 0 || o > rr->rdata + rr->rdlen)
        return -EBADMSG;
    return n;
}

static bool name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Header and question. Returns 1 to use the answers, 0 to skip (not NOERROR, TC), -EBADMSG. */
static int read_head(const uint8_t *pkt, size_t len, const uint8_t *qname, size_t qname_len,
                     uint16_t qtype, size_t *off, uint16_t *ancount)
{
    if (len < MW_DNS_HDR || len > MW_DNS_MAXMSG)
        return -EBADMSG;
    uint16_t flags = mw_dns_get16(pkt + 2);
    if (!(flags & MW_DNS_QR))
        return -EBADMSG;
    if ((flags & 0x000f) != MW_RCODE_NOERROR || (flags & MW_DNS_TC))
        return 0;
    if (mw_dns_get16(pkt + 4) != 1)
        return -EBADMSG;
    *ancount = mw_dns_get16(pkt + 6);
    *off = MW_DNS_HDR;
    uint8_t q[256];
    int n = mw_dname_unpack(pkt, len, off, q, sizeof(q));
    if (n < 0 || len - *off < 4 || !name_eq(q, (size_t)n, qname, qname_len) ||
        mw_dns_get16(pkt + *off) != qtype || mw_dns_get16(pkt + *off + 2) != 1)
        return -EBADMSG;
    *off += 4;
    return 1;
}

/* First pass: the CNAME records, then the chain from qname; final and final_len: its end. */
static int follow_chain(struct scan *sc, const uint8_t *pkt, size_t len, size_t off,
                        uint16_t ancount, const uint8_t *qname, size_t qname_len,
                        const uint8_t **final, size_t *final_len)
{
    struct rr rr;
    sc->n_cn = 0;
    for (uint16_t i = 0; i < ancount; i++) {
        if (read_rr(pkt, len, &off, &rr) < 0)
            return -EBADMSG;
        if (rr.type != MW_TYPE_CNAME || rr.cls != 1 || sc->n_cn == MAX_CNAMES)
            continue;
        struct cname *c = &sc->cn[sc->n_cn];
        int t = rdata_name(pkt, len, &rr, 0, c->target);
        if (t < 0)
            return -EBADMSG;
        memcpy(c->owner, rr.owner, (size_t)rr.owner_len);
        c->owner_len = (uint16_t)rr.owner_len;
        c->target_len = (uint16_t)t;
        c->ttl = rr.ttl;
        sc->n_cn++;
    }
    /* A loop just runs into the hop limit: the chain is what it is, bounded. */
    const uint8_t *cur = qname;
    size_t cur_len = qname_len;
    sc->n_chain = 0;
    while (sc->n_chain < MW_ANSWERDIFF_MAX_CHAIN) {
        uint16_t k = 0;
        while (k < sc->n_cn && !name_eq(sc->cn[k].owner, sc->cn[k].owner_len, cur, cur_len))
            k++;
        if (k == sc->n_cn)
            break;
        sc->chain_idx[sc->n_chain++] = k;
        take_ttl(sc, sc->cn[k].ttl);
        cur = sc->cn[k].target;
        cur_len = sc->cn[k].target_len;
    }
    *final = cur;
    *final_len = cur_len;
    return 0;
}

static int add_item(struct scan *sc, const uint8_t *key, size_t klen)
{
    if (sc->n_items == MAX_SCAN) {
        sc->truncated = true;
        return 0;
    }
    uint8_t *k = sc->keys + sc->keys_used;
    memcpy(k, key, klen);
    sc->keys_used += klen;
    sc->items[sc->n_items++] = (struct item){k, (uint16_t)klen};
    return 0;
}

/* Second pass: records of qtype owned by the chain's end, as binary keys. */
static int collect(struct scan *sc, const uint8_t *pkt, size_t len, size_t off, uint16_t ancount,
                   uint16_t qtype, const uint8_t *owner, size_t owner_len)
{
    struct rr rr;
    for (uint16_t i = 0; i < ancount; i++) {
        if (read_rr(pkt, len, &off, &rr) < 0)
            return -EBADMSG;
        if (rr.type != qtype || rr.cls != 1 ||
            !name_eq(rr.owner, (size_t)rr.owner_len, owner, owner_len))
            continue;
        uint8_t key[KEY_MAX];
        size_t klen;
        int n;
        switch (qtype) {
        case MW_TYPE_A:
        case MW_TYPE_AAAA:
            klen = qtype == MW_TYPE_A ? 4 : 16;
            if (rr.rdlen != klen)
                return -EBADMSG;
            memcpy(key, pkt + rr.rdata, klen);
            break;
        case MW_TYPE_MX:
            if (rr.rdlen < 3 || (n = rdata_name(pkt, len, &rr, 2, key + 2)) < 0)
                return -EBADMSG;
            memcpy(key, pkt + rr.rdata, 2);
            klen = 2 + (size_t)n;
            break;
        default: /* NS, CNAME */
            if ((n = rdata_name(pkt, len, &rr, 0, key)) < 0)
                return -EBADMSG;
            klen = (size_t)n;
            break;
        }
        take_ttl(sc, rr.ttl);
        add_item(sc, key, klen);
    }
    return 0;
}

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

static int item_cmp(const void *x, const void *y)
{
    const struct item *a = x, *b = y;
    return key_cmp(a->key, a->len, b->key, b->len);
}

static int format_value(uint16_t qtype, const uint8_t *key, size_t klen, char *buf)
{
    switch (qtype) {
    case MW_TYPE_A:
        return inet_ntop(AF_INET, key, buf, TEXT_MAX) ? 0 : -EINVAL;
    case MW_TYPE_AAAA:
        return inet_ntop(AF_INET6, key, buf, TEXT_MAX) ? 0 : -EINVAL;
    case MW_TYPE_MX: {
        int n = snprintf(buf, TEXT_MAX, "%u ", (unsigned)mw_dns_get16(key));
        return mw_dname_to_text(key + 2, klen - 2, buf + n, TEXT_MAX - (size_t)n) < 0 ? -EINVAL : 0;
    }
    default:
        return mw_dname_to_text(key, klen, buf, TEXT_MAX) < 0 ? -EINVAL : 0;
    }
}

/* Read the response into ad->sc: sorted unique keys (at most MW_ANSWERDIFF_MAX_VALUES, with
 * their text), chain texts and the minimum TTL. Returns 1, 0 (skip) or -EBADMSG. */
static int scan_response(struct scan *sc, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                         const uint8_t *pkt, size_t len)
{
    size_t off;
    uint16_t an = 0;
    int r = read_head(pkt, len, qname, qname_len, qtype, &off, &an);
    if (r <= 0)
        return r;
    sc->n_items = 0;
    sc->keys_used = 0;
    sc->truncated = false;
    sc->any_ttl = false;
    sc->ttl = 0;
    sc->n_chain = 0;
    const uint8_t *final = qname;
    size_t final_len = qname_len;
    if (qtype != MW_TYPE_CNAME &&
        follow_chain(sc, pkt, len, off, an, qname, qname_len, &final, &final_len) < 0)
        return -EBADMSG;
    if (collect(sc, pkt, len, off, an, qtype, final, final_len) < 0)
        return -EBADMSG;

    qsort(sc->items, sc->n_items, sizeof(sc->items[0]), item_cmp);
    uint16_t k = 0;
    for (uint16_t i = 0; i < sc->n_items; i++) {
        if (k && item_cmp(&sc->items[k - 1], &sc->items[i]) == 0)
            continue;
        if (k == MW_ANSWERDIFF_MAX_VALUES) {
            sc->truncated = true;
            break;
        }
        sc->items[k++] = sc->items[i];
    }
    sc->n_items = k;
    for (uint16_t i = 0; i < k; i++) {
        if (format_value(qtype, sc->items[i].key, sc->items[i].len, sc->text[i]) < 0)
            return -EBADMSG;
    }
    for (uint8_t i = 0; i < sc->n_chain; i++) {
        const struct cname *c = &sc->cn[sc->chain_idx[i]];
        if (mw_dname_to_text(c->target, c->target_len, sc->chain_text[i], TEXT_MAX) < 0)
            return -EBADMSG;
    }
    return 1;
}

/* ---- entries ---- */

/* Pointers into an entry block: chain texts, value keys and texts. */
struct view {
    const char *chain[MW_ANSWERDIFF_MAX_CHAIN];
    const uint8_t *key[MW_ANSWERDIFF_MAX_VALUES];
    uint16_t klen[MW_ANSWERDIFF_MAX_VALUES];
    const char *text[MW_ANSWERDIFF_MAX_VALUES];
};

static void entry_view(const struct entry *e, struct view *v)
{
    const uint8_t *p = e->data + e->name_len;
    for (uint8_t i = 0; i < e->n_chain; i++) {
        v->chain[i] = (const char *)p;
        p += strlen((const char *)p) + 1;
    }
    for (uint8_t i = 0; i < e->n_vals; i++) {
        v->klen[i] = (uint16_t)(p[0] << 8 | p[1]);
        v->key[i] = p + 2;
        v->text[i] = (const char *)(p + 2 + v->klen[i]);
        p += 2 + v->klen[i] + strlen(v->text[i]) + 1;
    }
}

static struct entry *entry_build(const struct scan *sc, const uint8_t *name, size_t name_len,
                                 uint16_t qtype, uint64_t h)
{
    size_t size = sizeof(struct entry) + name_len;
    for (uint8_t i = 0; i < sc->n_chain; i++)
        size += strlen(sc->chain_text[i]) + 1;
    for (uint16_t i = 0; i < sc->n_items; i++)
        size += 2 + sc->items[i].len + strlen(sc->text[i]) + 1;
    struct entry *e = malloc(size);
    if (!e)
        return NULL;
    memset(e, 0, sizeof(*e));
    e->hash = h;
    e->size = (uint32_t)size;
    e->ttl = sc->ttl;
    e->qtype = qtype;
    e->name_len = (uint8_t)name_len;
    e->n_chain = sc->n_chain;
    e->n_vals = (uint8_t)sc->n_items;
    e->truncated = sc->truncated;
    uint8_t *p = e->data;
    memcpy(p, name, name_len);
    p += name_len;
    for (uint8_t i = 0; i < sc->n_chain; i++) {
        size_t n = strlen(sc->chain_text[i]) + 1;
        memcpy(p, sc->chain_text[i], n);
        p += n;
    }
    for (uint16_t i = 0; i < sc->n_items; i++) {
        p[0] = (uint8_t)(sc->items[i].len >> 8);
        p[1] = (uint8_t)sc->items[i].len;
        memcpy(p + 2, sc->items[i].key, sc->items[i].len);
        p += 2 + sc->items[i].len;
        size_t n = strlen(sc->text[i]) + 1;
        memcpy(p, sc->text[i], n);
        p += n;
    }
    return e;
}

static bool same_chain(const struct entry *e, const struct view *v, const struct scan *sc)
{
    if (e->n_chain != sc->n_chain)
        return false;
    for (uint8_t i = 0; i < e->n_chain; i++) {
        if (strcmp(v->chain[i], sc->chain_text[i]) != 0)
            return false;
    }
    return true;
}

static bool same_values(const struct entry *e, const struct view *v, const struct scan *sc)
{
    if (e->n_vals != sc->n_items)
        return false;
    for (uint16_t i = 0; i < e->n_vals; i++) {
        if (key_cmp(v->key[i], v->klen[i], sc->items[i].key, sc->items[i].len) != 0)
            return false;
    }
    return true;
}

/* Fill out from the old and the new block (both sorted by key). */
static void fill_change(const struct entry *o, const struct entry *n, uint64_t old_seen,
                        struct mw_answer_change *out)
{
    struct view vo, vn;
    entry_view(o, &vo);
    entry_view(n, &vn);
    for (uint8_t i = 0; i < o->n_chain; i++)
        out->old_chain[i] = vo.chain[i];
    for (uint8_t i = 0; i < n->n_chain; i++)
        out->new_chain[i] = vn.chain[i];
    out->old_chain_n = o->n_chain;
    out->new_chain_n = n->n_chain;
    for (uint8_t i = 0; i < o->n_vals; i++)
        out->old_set.v[i] = vo.text[i];
    for (uint8_t i = 0; i < n->n_vals; i++)
        out->new_set.v[i] = vn.text[i];
    out->old_set.n = o->n_vals;
    out->new_set.n = n->n_vals;
    out->old_set.truncated = o->truncated;
    out->new_set.truncated = n->truncated;
    out->added.truncated = out->removed.truncated = o->truncated || n->truncated;
    uint8_t i = 0, j = 0;
    while (i < o->n_vals || j < n->n_vals) {
        int c = i == o->n_vals   ? 1
                : j == n->n_vals ? -1
                                 : key_cmp(vo.key[i], vo.klen[i], vn.key[j], vn.klen[j]);
        if (c < 0)
            out->removed.v[out->removed.n++] = vo.text[i++];
        else if (c > 0)
            out->added.v[out->added.n++] = vn.text[j++];
        else
            i++, j++;
    }
    out->values_changed = out->added.n || out->removed.n;
    out->ttl = n->ttl;
    out->old_ttl = o->ttl;
    out->old_seen_ms = old_seen;
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
    /* The strings of the previous change are promised until this call. */
    retire(ad, NULL);

    if (!mw_answerdiff_tracks(qtype)) {
        ad->st.skipped++;
        return 0;
    }
    struct scan *sc = ad->sc;
    int r = scan_response(sc, out->qname, qname_len, qtype, pkt, len);
    if (r < 0) {
        ad->st.errors++;
        return r;
    }
    if (r == 0) {
        ad->st.skipped++;
        return 0;
    }
    ad->st.observed++;
    uint64_t h = key_hash(ad->seed, out->qname, qname_len, qtype);
    struct entry *old = find(ad, out->qname, qname_len, qtype, h);
    if (old) {
        struct view v;
        entry_view(old, &v);
        bool chain_same = same_chain(old, &v, sc), vals_same = same_values(old, &v, sc);
        if (chain_same && vals_same) {
            old->seen_ms = now_ms;
            old->ttl = sc->ttl;
            lru_unlink(ad, old);
            lru_push_front(ad, old);
            return 0;
        }
        struct entry *e = entry_build(sc, out->qname, qname_len, qtype, h);
        if (!e)
            return -ENOMEM;
        e->seen_ms = now_ms;
        uint64_t old_seen = old->seen_ms;
        detach(ad, old);
        attach(ad, e);
        retire(ad, old);
        fill_change(old, e, old_seen, out);
        out->cname_changed = qtype == MW_TYPE_CNAME ? !vals_same : !chain_same;
        ad->st.changes++;
        return 1;
    }
    struct entry *e = entry_build(sc, out->qname, qname_len, qtype, h);
    if (!e)
        return -ENOMEM;
    e->seen_ms = now_ms;
    attach(ad, e);
    ad->st.first_seen++;
    while (ad->st.names > ad->max_names && ad->tail != e) {
        struct entry *victim = ad->tail;
        detach(ad, victim);
        free(victim);
        ad->st.evictions++;
    }
    return 0;
}
