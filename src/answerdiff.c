/* Answer sets per (name, type) and their changes, kept in binary. A response is read in one
 * pass over its answer section that validates every record, collects the CNAME records (at
 * most MAX_CNAMES) and the records of the asked type owned by the question name; only when a
 * CNAME chain leads away from the question name is a second pass made for the chain's end.
 * Values are binary keys (the address octets; the lowercase wire name; the MX preference, then
 * the name), sorted and de-duplicated as bytes, so that addresses sort numerically.
 *
 * Each tracked pair is one block sized to its data: the entry header, the wire name, then the
 * chain targets and the values in that binary form, with a seeded 64-bit hash of both. An
 * unchanged answer (the common case) costs the scan, the hash and one memcmp; a first sight
 * one malloc. Text is made only for a change, into a buffer of the tracker (allocated at the
 * first change), which is what the caller's mw_answer_change points into. A changed set is
 * written over the old block when it fits. The scratch space is allocated once with the
 * tracker. The scan is hand-written, not ldns, because it runs on every upstream answer of a
 * tracked type (ldns_wire2pkt would allocate the packet and every record); the text of a change
 * is ldns's (dnstext.c). */
#include "minewall/answerdiff.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "minewall/dname.h"
#include "minewall/dnstext.h"
#include "minewall/dnsmsg.h"
#include "minewall/hash.h"
#include "minewall/lru.h"

#define MAX_CNAMES 64     /* CNAME records of one response considered for the chain */
#define MAX_SCAN 256      /* records of the asked type considered per response */
#define KEY_MAX (2 + 256) /* MX: preference and wire name (unpack wants 256) */
#define TEXT_MAX 1040     /* "65535 " and a name of 255 octets with every byte as \DDD */
#define MAX_BUCKETS ((size_t)1 << 26)
/* Chain and values of one set in binary: at most 16 names and 64 MX keys (< 65536). */
#define BLOB_MAX                                                                                   \
    (MW_ANSWERDIFF_MAX_CHAIN * MW_DNAME_MAX + MW_ANSWERDIFF_MAX_VALUES * (2 + MW_DNAME_MAX))
/* Texts of one change: both sets and both chains. */
#define TEXTS_MAX ((2 * MW_ANSWERDIFF_MAX_VALUES + 2 * MW_ANSWERDIFF_MAX_CHAIN) * TEXT_MAX)

struct entry {
    struct mw_lru_node node;   /* head of the LRU list is the most recently seen */
    uint64_t vhash;            /* seeded hash of the chain and the values */
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

struct item {
    const uint8_t *key; /* into the packet (addresses) or scan.keys (names) */
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
    bool bad; /* a record of the set was malformed (counts only if it stays in the set) */
    bool any_vttl, any_cttl;
    uint32_t vttl, cttl; /* smallest TTL of the values, of the chain */
    size_t keys_used;
    uint16_t n_cn;
    uint8_t n_chain;
    uint16_t chain_idx[MW_ANSWERDIFF_MAX_CHAIN]; /* into cn */
    size_t blob_len;
    struct cname cn[MAX_CNAMES];
    uint8_t blob[BLOB_MAX];
    uint8_t keys[MAX_SCAN * KEY_MAX];
};

struct mw_answerdiff {
    size_t max_names;
    struct mw_lru t; /* owns the buckets; the entries are freed here */
    struct scan *sc; /* owned scratch */
    char *texts;     /* owned: TEXTS_MAX, allocated at the first change */
    size_t texts_used;
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
    ad->sc = malloc(sizeof(*ad->sc));
    if (!ad->sc || mw_lru_init(&ad->t, max_names < MAX_BUCKETS ? max_names : MAX_BUCKETS,
                               NULL) < 0) {
        mw_answerdiff_free(ad);
        return NULL;
    }
    ad->max_names = max_names;
    ad->st.table_bytes =
        sizeof(*ad) + (ad->t.mask + 1) * sizeof(*ad->t.buckets) + sizeof(*ad->sc);
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
    free(ad->sc);
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

/* ---- reading the response ---- */

static uint32_t rr_ttl(uint32_t t)
{
    return t & 0x80000000u ? 0 : t; /* RFC 2181 8: a TTL with the top bit set counts as 0 */
}

static void min_ttl(uint32_t *ttl, bool *any, uint32_t t)
{
    if (!*any || t < *ttl)
        *ttl = t;
    *any = true;
}

/* A (possibly compressed) name inside rdata, which must end within the rdata. */
static int rdata_name(const uint8_t *pkt, size_t len, const struct mw_dns_rr *rr, size_t at, uint8_t *out)
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

/* Is w a well-formed uncompressed wire name of exactly len octets? */
static bool wire_ok(const uint8_t *w, size_t len)
{
    size_t n = 0;
    while (n < len && w[n] && w[n] <= 63)
        n += 1 + (size_t)w[n];
    return n + 1 == len && w[n] == 0;
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
    /* Usually the question is qname as asked, already in lowercase: one memcmp. */
    int same = 1;
    if (len - MW_DNS_HDR >= qname_len && wire_ok(qname, qname_len) &&
        memcmp(pkt + MW_DNS_HDR, qname, qname_len) == 0)
        *off += qname_len;
    else
        same = mw_dname_equal_at(pkt, len, off, qname, qname_len);
    if (same != 1 || len - *off < 4 || mw_dns_get16(pkt + *off) != qtype ||
        mw_dns_get16(pkt + *off + 2) != 1)
        return -EBADMSG;
    *off += 4;
    return 1;
}

/* One record of qtype at the wanted owner: its binary key into sc. Returns 0 or -EBADMSG. */
static int take_value(struct scan *sc, const uint8_t *pkt, size_t len, const struct mw_dns_rr *rr,
                      uint16_t qtype)
{
    const uint8_t *key;
    size_t klen;
    int n;
    uint8_t *k = sc->keys + sc->keys_used;
    switch (qtype) {
    case MW_TYPE_A:
    case MW_TYPE_AAAA:
        klen = qtype == MW_TYPE_A ? 4 : 16;
        if (rr->rdlen != klen)
            return -EBADMSG;
        key = pkt + rr->rdata; /* the packet outlives the scan */
        break;
    case MW_TYPE_MX:
        if (rr->rdlen < 3 || (n = rdata_name(pkt, len, rr, 2, k + 2)) < 0)
            return -EBADMSG;
        memcpy(k, pkt + rr->rdata, 2);
        key = k;
        klen = 2 + (size_t)n;
        break;
    default: /* NS, CNAME */
        if ((n = rdata_name(pkt, len, rr, 0, k)) < 0)
            return -EBADMSG;
        key = k;
        klen = (size_t)n;
        break;
    }
    min_ttl(&sc->vttl, &sc->any_vttl, rr_ttl(rr->ttl));
    if (sc->n_items == MAX_SCAN) {
        sc->truncated = true;
        return 0;
    }
    if (key == k)
        sc->keys_used += klen;
    sc->items[sc->n_items++] = (struct item){key, (uint16_t)klen};
    return 0;
}

/* One pass over the answer section: every record is validated, the records of qtype owned by
 * want are collected (a malformed one sets sc->bad), and with cnames the CNAME records too.
 * want_is_q: want is the question name (both lowercase wire, so equal bytes). */
static int read_answers(struct scan *sc, const uint8_t *pkt, size_t len, size_t off,
                        uint16_t ancount, uint16_t qtype, const uint8_t *want, size_t want_len,
                        bool want_is_q, bool cnames)
{
    struct mw_dns_iter it;
    struct mw_dns_rr rr;
    sc->n_items = 0;
    sc->keys_used = 0;
    sc->truncated = false;
    sc->bad = false;
    sc->any_vttl = false;
    sc->vttl = 0;
    /* read_head found the question equal to qname: owners pointing at it need no compare. */
    mw_dns_iter_begin(&it, pkt, len, off, ancount, 0, 0);
    mw_dns_iter_match(&it, want, want_len, want_is_q); /* cannot fail with 0 or 1 */
    int r;
    while ((r = mw_dns_iter_next(&it, &rr)) > 0) {
        if (rr.cls != 1)
            continue;
        if (cnames && rr.type == MW_TYPE_CNAME && sc->n_cn < MAX_CNAMES) {
            struct cname *c = &sc->cn[sc->n_cn];
            size_t owner_at = rr.owner;
            int o = mw_dname_unpack(pkt, len, &owner_at, c->owner, sizeof(c->owner));
            int t = rdata_name(pkt, len, &rr, 0, c->target);
            if (o < 0 || t < 0)
                return -EBADMSG;
            c->owner_len = (uint16_t)o;
            c->target_len = (uint16_t)t;
            c->ttl = rr_ttl(rr.ttl);
            sc->n_cn++;
        }
        if (rr.owner_eq && rr.type == qtype && take_value(sc, pkt, len, &rr, qtype) < 0)
            sc->bad = true;
    }
    return r < 0 ? -EBADMSG : 0;
}

/* The chain from qname through the collected CNAMEs; returns its end. */
static const uint8_t *follow_chain(struct scan *sc, const uint8_t *qname, size_t qname_len,
                                   size_t *final_len)
{
    /* A loop just runs into the hop limit: the chain is what it is, bounded. */
    const uint8_t *cur = qname;
    size_t cur_len = qname_len;
    while (sc->n_chain < MW_ANSWERDIFF_MAX_CHAIN) {
        uint16_t k = 0;
        while (k < sc->n_cn && !name_eq(sc->cn[k].owner, sc->cn[k].owner_len, cur, cur_len))
            k++;
        if (k == sc->n_cn)
            break;
        sc->chain_idx[sc->n_chain++] = k;
        min_ttl(&sc->cttl, &sc->any_cttl, sc->cn[k].ttl);
        cur = sc->cn[k].target;
        cur_len = sc->cn[k].target_len;
    }
    *final_len = cur_len;
    return cur;
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

static void sort_items(struct item *it, uint16_t n)
{
    if (n > 16) {
        qsort(it, n, sizeof(*it), item_cmp);
        return;
    }
    for (uint16_t i = 1; i < n; i++) {
        struct item x = it[i];
        uint16_t j = i;
        for (; j > 0 && item_cmp(&it[j - 1], &x) > 0; j--)
            it[j] = it[j - 1];
        it[j] = x;
    }
}

/* Read the response into ad->sc: sorted unique keys (at most MW_ANSWERDIFF_MAX_VALUES), the
 * chain, both back to back in sc->blob, and the TTLs. Returns 1, 0 (skip) or -EBADMSG. */
static int scan_response(struct scan *sc, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                         const uint8_t *pkt, size_t len)
{
    size_t off;
    uint16_t an = 0;
    int r = read_head(pkt, len, qname, qname_len, qtype, &off, &an);
    if (r <= 0)
        return r;
    sc->n_cn = 0;
    sc->n_chain = 0;
    sc->any_cttl = false;
    sc->cttl = 0;
    bool cnames = qtype != MW_TYPE_CNAME;
    if (read_answers(sc, pkt, len, off, an, qtype, qname, qname_len, true, cnames) < 0)
        return -EBADMSG;
    if (cnames && sc->n_cn) {
        size_t final_len;
        const uint8_t *final = follow_chain(sc, qname, qname_len, &final_len);
        if (sc->n_chain &&
            read_answers(sc, pkt, len, off, an, qtype, final, final_len,
                         name_eq(final, final_len, qname, qname_len), false) < 0)
            return -EBADMSG;
    }
    if (sc->bad)
        return -EBADMSG;

    sort_items(sc->items, sc->n_items);
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
    uint8_t *p = sc->blob;
    for (uint8_t i = 0; i < sc->n_chain; i++) {
        const struct cname *c = &sc->cn[sc->chain_idx[i]];
        memcpy(p, c->target, c->target_len);
        p += c->target_len;
    }
    for (uint16_t i = 0; i < k; i++) {
        memcpy(p, sc->items[i].key, sc->items[i].len);
        p += sc->items[i].len;
    }
    sc->blob_len = (size_t)(p - sc->blob);
    return 1;
}

static uint32_t scan_ttl(const struct scan *sc)
{
    if (sc->any_cttl && (!sc->any_vttl || sc->cttl < sc->vttl))
        return sc->cttl;
    return sc->any_vttl ? sc->vttl : 0;
}

/* ---- stored sets and their text ---- */

static size_t wire_len(const uint8_t *w)
{
    size_t n = 0;
    while (w[n])
        n += 1 + (size_t)w[n];
    return n + 1;
}

/* Length of the stored key at p (keys are stored back to back, their length implied). */
static size_t val_len(uint16_t qtype, const uint8_t *p)
{
    switch (qtype) {
    case MW_TYPE_A:
        return 4;
    case MW_TYPE_AAAA:
        return 16;
    case MW_TYPE_MX:
        return 2 + wire_len(p + 2);
    default:
        return wire_len(p);
    }
}

/* A stored or scanned set: chain targets, then value keys, back to back. */
struct set {
    const uint8_t *p;
    uint8_t n_chain, n_vals;
    bool truncated;
};

static const char *put_text(struct mw_answerdiff *ad, const char *s, int rc)
{
    char *t = ad->texts + ad->texts_used;
    if (rc < 0) /* not expected: TEXT_MAX holds any key */
        s = "?";
    size_t n = strlen(s) + 1;
    memmove(t, s, n);
    ad->texts_used += n;
    return t;
}

static const char *name_text(struct mw_answerdiff *ad, const uint8_t *w, size_t wlen)
{
    char *t = ad->texts + ad->texts_used;
    return put_text(ad, t, mw_dname_to_text(w, wlen, t, TEXT_MAX));
}

static const char *value_text(struct mw_answerdiff *ad, uint16_t qtype, const uint8_t *key,
                              size_t klen)
{
    /* A stored key is the record data in uncompressed wire form: ldns writes its text. */
    char *t = ad->texts + ad->texts_used;
    return put_text(ad, t, mw_dnstext_rdata(qtype, key, klen, t, TEXT_MAX));
}

/* Texts of a chain into chain, its bytes into *bytes; returns where the values start. */
static const uint8_t *chain_texts(struct mw_answerdiff *ad, const struct set *st,
                                  const char **chain, size_t *bytes)
{
    const uint8_t *p = st->p;
    for (uint8_t i = 0; i < st->n_chain; i++) {
        size_t n = wire_len(p);
        chain[i] = name_text(ad, p, n);
        p += n;
    }
    *bytes = (size_t)(p - st->p);
    return p;
}

static void value_texts(struct mw_answerdiff *ad, uint16_t qtype, const uint8_t *p, uint8_t n,
                        struct mw_answer_list *l)
{
    for (uint8_t i = 0; i < n; i++) {
        size_t k = val_len(qtype, p);
        l->v[i] = value_text(ad, qtype, p, k);
        p += k;
    }
    l->n = n;
}

/* Fill out with the texts of the old and the new set (both sorted by key); returns whether
 * the chains are the same. */
static bool fill_change(struct mw_answerdiff *ad, uint16_t qtype, const struct set *o,
                        const struct set *n, struct mw_answer_change *out)
{
    ad->texts_used = 0;
    size_t ob, nb;
    const uint8_t *po = chain_texts(ad, o, out->old_chain, &ob);
    const uint8_t *pn = chain_texts(ad, n, out->new_chain, &nb);
    out->old_chain_n = o->n_chain;
    out->new_chain_n = n->n_chain;
    value_texts(ad, qtype, po, o->n_vals, &out->old_set);
    value_texts(ad, qtype, pn, n->n_vals, &out->new_set);
    out->old_set.truncated = o->truncated;
    out->new_set.truncated = n->truncated;
    out->added.truncated = out->removed.truncated = o->truncated || n->truncated;
    uint8_t i = 0, j = 0;
    while (i < o->n_vals || j < n->n_vals) {
        size_t ol = i < o->n_vals ? val_len(qtype, po) : 0;
        size_t nl = j < n->n_vals ? val_len(qtype, pn) : 0;
        int c = i == o->n_vals ? 1 : j == n->n_vals ? -1 : key_cmp(po, ol, pn, nl);
        if (c <= 0)
            po += ol;
        if (c >= 0)
            pn += nl;
        if (c < 0)
            out->removed.v[out->removed.n++] = out->old_set.v[i++];
        else if (c > 0)
            out->added.v[out->added.n++] = out->new_set.v[j++];
        else
            i++, j++;
    }
    out->values_changed = out->added.n || out->removed.n;
    return o->n_chain == n->n_chain && ob == nb && memcmp(o->p, n->p, ob) == 0;
}

static void entry_store(struct entry *e, const struct scan *sc, uint64_t vhash, uint64_t now_ms)
{
    e->vhash = vhash;
    e->seen_ms = now_ms;
    e->ttl = scan_ttl(sc);
    e->used = (uint16_t)sc->blob_len;
    e->n_chain = sc->n_chain;
    e->n_vals = (uint8_t)sc->n_items;
    e->truncated = sc->truncated;
    memcpy(e->data + e->name_len, sc->blob, sc->blob_len);
}

/* The set changed: report it and store the new one (in place when it fits). */
static int change(struct mw_answerdiff *ad, struct entry *old, const struct scan *sc,
                  uint64_t vhash, uint64_t now_ms, struct mw_answer_change *out)
{
    struct entry *e = old;
    if (sc->blob_len > old->cap) {
        e = malloc(ENTRY_SIZE(old->name_len, sc->blob_len));
        if (!e)
            return -ENOMEM;
    }
    if (!ad->texts) {
        ad->texts = malloc(TEXTS_MAX);
        if (!ad->texts) {
            if (e != old)
                free(e);
            return -ENOMEM;
        }
        ad->st.table_bytes += TEXTS_MAX;
    }
    uint16_t qtype = old->qtype;
    struct set so = {old->data + old->name_len, old->n_chain, old->n_vals, old->truncated};
    struct set sn = {sc->blob, sc->n_chain, (uint8_t)sc->n_items, sc->truncated};
    bool chain_same = fill_change(ad, qtype, &so, &sn, out);
    out->cname_changed = qtype == MW_TYPE_CNAME ? out->values_changed : !chain_same;
    out->ttl = scan_ttl(sc);
    out->old_ttl = old->ttl;
    out->old_seen_ms = old->seen_ms;
    if (e != old) {
        detach(ad, old);
        memcpy(e, old, ENTRY_SIZE(old->name_len, 0));
        e->cap = (uint16_t)sc->blob_len;
        free(old);
        attach(ad, e);
    } else {
        mw_lru_touch(&ad->t, &e->node);
    }
    entry_store(e, sc, vhash, now_ms);
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
    uint64_t vhash =
        mw_hash_bytes(ad->seed, (uint64_t)sc->n_chain << 8 | sc->n_items, sc->blob, sc->blob_len);
    uint32_t h = key_hash(ad->seed, out->qname, qname_len, qtype);
    struct entry *old = find(ad, out->qname, qname_len, qtype, h);
    if (old) {
        /* The hash decides; the bytes are compared too since that is cheaper than being
         * wrong once in 2^64. */
        if (old->vhash == vhash && old->n_chain == sc->n_chain && old->n_vals == sc->n_items &&
            old->used == sc->blob_len &&
            memcmp(old->data + old->name_len, sc->blob, sc->blob_len) == 0) {
            old->seen_ms = now_ms;
            old->ttl = scan_ttl(sc);
            mw_lru_touch(&ad->t, &old->node);
            return 0;
        }
        return change(ad, old, sc, vhash, now_ms, out);
    }
    struct entry *e = malloc(ENTRY_SIZE(qname_len, sc->blob_len));
    if (!e)
        return -ENOMEM;
    e->hash = h;
    e->qtype = qtype;
    e->name_len = (uint8_t)qname_len;
    e->cap = (uint16_t)sc->blob_len;
    memcpy(e->data, out->qname, qname_len);
    entry_store(e, sc, vhash, now_ms);
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
