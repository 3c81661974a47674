/* The client group matcher; see groups.h for the rule. A table of slots, one per distinct
 * (family, prefix length, network address), each pointing at the run of entries (group and
 * listener bits) for that prefix, restricted entries first so the first entry that admits the
 * arrival listener decides. The table is at most half full, so a probe for an absent key ends
 * at an empty slot after about two reads; the lookup tries the prefix lengths that occur,
 * longest first, and stops at the first slot with an entry that applies. Keys come from the
 * trusted config only, so the hash needs no secret seed: a client chooses what it looks up,
 * never what is stored. */
#include "minewall/groups.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/hash.h"

struct slot {
    uint64_t k0, k1;
    uint32_t first; /* index of the first entry */
    uint16_t n;     /* entries; 0: empty slot */
    uint16_t tag;   /* family (4 or 6) << 8 | prefix length */
};

struct ent {
    uint64_t lmask; /* listener bits; 0: any listener */
    uint16_t group;
};

struct mw_groups {
    struct slot *slots; /* owned; cap slots */
    size_t cap;         /* power of two */
    struct ent *ents;   /* owned */
    size_t n_ents, n_keys;
    uint8_t len4[33], n4;  /* IPv4 prefix lengths present, longest first */
    uint8_t len6[129], n6; /* IPv6 */
    struct mw_addr listeners[MW_GROUPS_MAX_LISTENERS];
    size_t n_listeners;
};

static inline uint64_t slot_hash(uint16_t tag, uint64_t k0, uint64_t k1)
{
    return mw_hash_mix(k0 ^ 0x9e3779b97f4a7c15ull ^ ((uint64_t)tag << 48),
                       k1 ^ 0xc2b2ae3d27d4eb4full);
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The prefix's key: the network address as one or two host-order words. */
static void cidr_key(const struct mw_cidr *c, uint16_t *tag, uint64_t *k0, uint64_t *k1)
{
    if (c->family == AF_INET) {
        *tag = (uint16_t)(4 << 8 | c->prefix);
        *k0 = (uint64_t)c->addr[0] << 24 | (uint64_t)c->addr[1] << 16 | (uint64_t)c->addr[2] << 8 |
              c->addr[3];
        *k1 = 0;
    } else {
        *tag = (uint16_t)(6 << 8 | c->prefix);
        *k0 = be64(c->addr);
        *k1 = be64(c->addr + 8);
    }
}

struct rec {
    uint64_t k0, k1, lmask;
    uint16_t tag, group;
    size_t idx; /* the rule's index, for messages */
};

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    if (x->k0 != y->k0)
        return x->k0 < y->k0 ? -1 : 1;
    if (x->k1 != y->k1)
        return x->k1 < y->k1 ? -1 : 1;
    bool rx = x->lmask != 0, ry = y->lmask != 0; /* restricted first */
    if (rx != ry)
        return rx ? -1 : 1;
    if (x->idx != y->idx)
        return x->idx < y->idx ? -1 : 1;
    return 0;
}

void mw_groups_free(struct mw_groups *g)
{
    if (!g)
        return;
    free(g->slots);
    free(g->ents);
    free(g);
}

/* The bit of listener a in g's table, adding it; -E2BIG past the bound. */
static int listener_bit(struct mw_groups *g, const struct mw_addr *a)
{
    for (size_t i = 0; i < g->n_listeners; i++)
        if (mw_addr_equal(&g->listeners[i], a))
            return (int)i;
    if (g->n_listeners == MW_GROUPS_MAX_LISTENERS)
        return -E2BIG;
    g->listeners[g->n_listeners] = *a;
    return (int)g->n_listeners++;
}

static int fill_recs(struct mw_groups *g, const struct mw_groups_rule *rules, size_t n,
                     struct rec *recs)
{
    for (size_t i = 0; i < n; i++) {
        const struct mw_groups_rule *r = &rules[i];
        if (r->group == 0 || r->group > MW_GROUPS_MAX ||
            (r->cidr.family != AF_INET && r->cidr.family != AF_INET6) ||
            r->cidr.prefix > (r->cidr.family == AF_INET ? 32 : 128))
            return -EINVAL;
        struct rec *x = &recs[i];
        cidr_key(&r->cidr, &x->tag, &x->k0, &x->k1);
        x->group = r->group;
        x->idx = i;
        x->lmask = 0;
        for (size_t j = 0; j < r->n_listeners; j++) {
            int bit = listener_bit(g, &r->listeners[j]);
            if (bit < 0)
                return bit;
            x->lmask |= 1ull << bit;
        }
    }
    return 0;
}

/* Two rules of one prefix conflict when they are of different groups and could both apply
 * to one query. */
static bool conflict(const struct rec *a, const struct rec *b)
{
    return a->group != b->group && ((!a->lmask && !b->lmask) || (a->lmask & b->lmask));
}

static void insert(struct mw_groups *g, const struct rec *r, size_t first, size_t count)
{
    size_t i = slot_hash(r->tag, r->k0, r->k1) & (g->cap - 1);
    while (g->slots[i].n)
        i = (i + 1) & (g->cap - 1);
    g->slots[i] = (struct slot){
        .k0 = r->k0, .k1 = r->k1, .first = (uint32_t)first, .n = (uint16_t)count, .tag = r->tag};
}

int mw_groups_new(const struct mw_groups_rule *rules, size_t n, struct mw_groups **out,
                  size_t *dup_a, size_t *dup_b)
{
    *out = NULL;
    if (n > MW_GROUPS_MAX_CIDRS)
        return -E2BIG;
    struct mw_groups *g = calloc(1, sizeof(*g));
    struct rec *recs = calloc(n ? n : 1, sizeof(*recs));
    int rc = -ENOMEM;
    if (!g || !recs)
        goto fail;
    if ((rc = fill_recs(g, rules, n, recs)) < 0)
        goto fail;
    qsort(recs, n, sizeof(*recs), rec_cmp);
    g->cap = 16;
    while (g->cap < 2 * n)
        g->cap <<= 1;
    g->slots = calloc(g->cap, sizeof(*g->slots));
    g->ents = calloc(n ? n : 1, sizeof(*g->ents));
    rc = -ENOMEM;
    if (!g->slots || !g->ents)
        goto fail;
    bool has4[33] = {0}, has6[129] = {0};
    for (size_t i = 0; i < n;) {
        size_t j = i;
        size_t first = g->n_ents;
        for (; j < n && recs[j].tag == recs[i].tag && recs[j].k0 == recs[i].k0 &&
               recs[j].k1 == recs[i].k1;
             j++) {
            for (size_t k = i; k < j; k++) {
                if (conflict(&recs[k], &recs[j])) {
                    *dup_a = recs[k].idx < recs[j].idx ? recs[k].idx : recs[j].idx;
                    *dup_b = recs[k].idx < recs[j].idx ? recs[j].idx : recs[k].idx;
                    rc = -EEXIST;
                    goto fail;
                }
            }
            g->ents[g->n_ents++] = (struct ent){.lmask = recs[j].lmask, .group = recs[j].group};
        }
        if (j - i > UINT16_MAX) {
            rc = -E2BIG;
            goto fail;
        }
        insert(g, &recs[i], first, j - i);
        g->n_keys++;
        uint8_t plen = (uint8_t)(recs[i].tag & 0xff);
        if (recs[i].tag >> 8 == 4)
            has4[plen] = true;
        else
            has6[plen] = true;
        i = j;
    }
    for (int l = 32; l >= 0; l--)
        if (has4[l])
            g->len4[g->n4++] = (uint8_t)l;
    for (int l = 128; l >= 0; l--)
        if (has6[l])
            g->len6[g->n6++] = (uint8_t)l;
    free(recs);
    *out = g;
    return 0;
fail:
    free(recs);
    mw_groups_free(g);
    return rc;
}

bool mw_groups_uses_listeners(const struct mw_groups *g)
{
    return g && g->n_listeners > 0;
}

/* The group of the slot for (tag, k0, k1) that admits listener bit lbit, or 0. */
static inline unsigned probe(const struct mw_groups *g, uint16_t tag, uint64_t k0, uint64_t k1,
                             uint64_t lbit)
{
    size_t i = slot_hash(tag, k0, k1) & (g->cap - 1);
    for (;;) {
        const struct slot *s = &g->slots[i];
        if (!s->n)
            return 0;
        if (s->tag == tag && s->k0 == k0 && s->k1 == k1) {
            for (const struct ent *e = g->ents + s->first; e < g->ents + s->first + s->n; e++)
                if (!e->lmask || (e->lmask & lbit))
                    return e->group;
            return 0;
        }
        i = (i + 1) & (g->cap - 1);
    }
}

static unsigned match4(const struct mw_groups *g, uint32_t a, uint64_t lbit)
{
    for (unsigned i = 0; i < g->n4; i++) {
        unsigned l = g->len4[i];
        uint32_t m = l ? a & (0xffffffffu << (32 - l)) : 0;
        unsigned r = probe(g, (uint16_t)(4 << 8 | l), m, 0, lbit);
        if (r)
            return r;
    }
    return 0;
}

static unsigned match6(const struct mw_groups *g, const uint8_t *addr, uint64_t lbit)
{
    uint64_t hi = be64(addr), lo = be64(addr + 8);
    for (unsigned i = 0; i < g->n6; i++) {
        unsigned l = g->len6[i];
        uint64_t k0 = l == 0 ? 0 : l >= 64 ? hi : hi & (~0ull << (64 - l));
        uint64_t k1 = l <= 64 ? 0 : l == 128 ? lo : lo & (~0ull << (128 - l));
        unsigned r = probe(g, (uint16_t)(6 << 8 | l), k0, k1, lbit);
        if (r)
            return r;
    }
    return 0;
}

unsigned mw_groups_match(const struct mw_groups *g, const struct sockaddr *client,
                         const struct mw_addr *listener)
{
    if (!g || !g->n_keys)
        return 0;
    uint64_t lbit = 0;
    if (listener && g->n_listeners) {
        for (size_t i = 0; i < g->n_listeners; i++)
            if (mw_addr_equal(&g->listeners[i], listener))
                lbit = 1ull << i;
    }
    if (client->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)client;
        return g->n4 ? match4(g, ntohl(in->sin_addr.s_addr), lbit) : 0;
    }
    if (client->sa_family != AF_INET6)
        return 0;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)client)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
        const uint8_t *b = a6->s6_addr + 12;
        return g->n4 ? match4(g,
                              (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
                                  b[3],
                              lbit)
                     : 0;
    }
    return g->n6 ? match6(g, a6->s6_addr, lbit) : 0;
}

void mw_groups_counts(const struct mw_groups *g, size_t *prefixes, size_t *lengths)
{
    *prefixes = g ? g->n_keys : 0;
    *lengths = g ? (size_t)g->n4 + g->n6 : 0;
}
