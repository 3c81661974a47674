/* Reading a response into an answer set; see answerscan.h. One pass over the answer section
 * (the record iterator of dnsmsg.c) validates every record, collects the CNAME records (at most
 * MAX_CNAMES) and the records of the asked type owned by the question name; only when a CNAME
 * chain leads away from the question name is a second pass made for the chain's end. Keys of
 * addresses point into the packet, names are unpacked into the scanner's key space; then the
 * keys are sorted, de-duplicated and written back to back after the chain. Hand-written, not
 * ldns, because it runs on every upstream answer of a tracked type (ldns_wire2pkt would
 * allocate the packet and every record). */
#include "minewall/answerscan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/dnsmsg.h"

#define MAX_CNAMES 64     /* CNAME records of one response considered for the chain */
#define MAX_SCAN 256      /* records of the asked type considered per response */
#define KEY_MAX (2 + 256) /* MX: preference and wire name (unpack wants 256) */
/* Chain and values of one set in binary: at most 16 names and 64 MX keys (< 65536). */
#define BLOB_MAX                                                                                   \
    (MW_ANSWERSCAN_MAX_CHAIN * MW_DNAME_MAX + MW_ANSWERSCAN_MAX_VALUES * (2 + MW_DNAME_MAX))

struct item {
    const uint8_t *key; /* into the packet (addresses) or scan.keys (names) */
    uint16_t len;
};

struct cname {
    uint8_t owner[256], target[256];
    uint16_t owner_len, target_len;
    uint32_t ttl;
};

/* What one response says, before it is compared or stored. */
struct mw_answerscan {
    struct item items[MAX_SCAN];
    uint16_t n_items;
    bool truncated;
    bool bad; /* a record of the set was malformed (counts only if it stays in the set) */
    bool any_vttl, any_cttl;
    uint32_t vttl, cttl; /* smallest TTL of the values, of the chain */
    size_t keys_used;
    uint16_t n_cn;
    uint8_t n_chain;
    uint16_t chain_idx[MW_ANSWERSCAN_MAX_CHAIN]; /* into cn */
    size_t blob_len;
    struct cname cn[MAX_CNAMES];
    uint8_t blob[BLOB_MAX];
    uint8_t keys[MAX_SCAN * KEY_MAX];
};

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
static int rdata_name(const uint8_t *pkt, size_t len, const struct mw_dns_rr *rr, size_t at,
                      uint8_t *out)
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
static int take_value(struct mw_answerscan *sc, const uint8_t *pkt, size_t len,
                      const struct mw_dns_rr *rr, uint16_t qtype)
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
static int read_answers(struct mw_answerscan *sc, const uint8_t *pkt, size_t len, size_t off,
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
static const uint8_t *follow_chain(struct mw_answerscan *sc, const uint8_t *qname, size_t qname_len,
                                   size_t *final_len)
{
    /* A loop just runs into the hop limit: the chain is what it is, bounded. */
    const uint8_t *cur = qname;
    size_t cur_len = qname_len;
    while (sc->n_chain < MW_ANSWERSCAN_MAX_CHAIN) {
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

int mw_answerscan_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

static int item_cmp(const void *x, const void *y)
{
    const struct item *a = x, *b = y;
    return mw_answerscan_key_cmp(a->key, a->len, b->key, b->len);
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

/* Read the response into ad->sc: sorted unique keys (at most MW_ANSWERSCAN_MAX_VALUES), the
 * chain, both back to back in sc->blob, and the TTLs. Returns 1, 0 (skip) or -EBADMSG. */
static int scan_response(struct mw_answerscan *sc, const uint8_t *qname, size_t qname_len,
                         uint16_t qtype, const uint8_t *pkt, size_t len)
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
        if (sc->n_chain && read_answers(sc, pkt, len, off, an, qtype, final, final_len,
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
        if (k == MW_ANSWERSCAN_MAX_VALUES) {
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

static uint32_t scan_ttl(const struct mw_answerscan *sc)
{
    if (sc->any_cttl && (!sc->any_vttl || sc->cttl < sc->vttl))
        return sc->cttl;
    return sc->any_vttl ? sc->vttl : 0;
}

struct mw_answerscan *mw_answerscan_new(void)
{
    return malloc(sizeof(struct mw_answerscan));
}

void mw_answerscan_free(struct mw_answerscan *sc)
{
    free(sc);
}

size_t mw_answerscan_size(void)
{
    return sizeof(struct mw_answerscan);
}

int mw_answerscan_read(struct mw_answerscan *sc, const uint8_t *qname, size_t qname_len,
                       uint16_t qtype, const uint8_t *pkt, size_t len,
                       struct mw_answerscan_set *out)
{
    int r = scan_response(sc, qname, qname_len, qtype, pkt, len);
    if (r <= 0)
        return r;
    *out = (struct mw_answerscan_set){.p = sc->blob,
                                      .len = sc->blob_len,
                                      .n_chain = sc->n_chain,
                                      .n_vals = (uint8_t)sc->n_items,
                                      .truncated = sc->truncated,
                                      .ttl = scan_ttl(sc)};
    return 1;
}

size_t mw_answerscan_name_len(const uint8_t *w)
{
    size_t n = 0;
    while (w[n])
        n += 1 + (size_t)w[n];
    return n + 1;
}

size_t mw_answerscan_val_len(uint16_t qtype, const uint8_t *p)
{
    switch (qtype) {
    case MW_TYPE_A:
        return 4;
    case MW_TYPE_AAAA:
        return 16;
    case MW_TYPE_MX:
        return 2 + mw_answerscan_name_len(p + 2);
    default:
        return mw_answerscan_name_len(p);
    }
}
