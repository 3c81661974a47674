/* Local data and local zones (see localzone.h). The set is one open-addressing hash table of
 * nodes keyed by lowercase wire name: every name with local data, every local zone's apex, and
 * the empty non-terminals between a name with data and the apex of its zone (so a static zone
 * answers NODATA, not NXDOMAIN, for a name that exists only because something below it does,
 * RFC 8020). Each node knows its nearest enclosing zone, computed at build time, so the lookup
 * of a name with a node is one probe; a name without a node walks its suffixes, but only at
 * the label depths where some zone apex sits, and the first node found up the tree tells the
 * enclosing zone (any zone between would have been found first, zone apexes being nodes).
 * Names hash from the root down a label at a time, so one pass gives every suffix's hash, and
 * a one-bit-per-name filter (16 bits a node) answers most probes for names without a node
 * before the table is touched.
 * Before any of that, a name whose top-level label is none of the set's (a short list, when
 * there are at most 16 and no zone at the root) passes without a hash: most queries of a
 * resolver with local data under a private TLD cost a label walk and a compare or two. Then a
 * name whose last two labels are no node's (a second bit filter, when every zone has two
 * labels or more) passes after hashing just those two labels.
 *
 * The records of a node are contiguous and sorted by type, already in the form the reply
 * writer takes (struct mw_dns_rrw, owner pointing at the question), so an answer is written
 * straight from them with no conversion per query. Record blocks (owner and rdata, one
 * allocation per record) are made by the builder and handed to the set whole. */
#include "minewall/localzone.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "localzone_internal.h"

static const char *const type_names[] = {"none", "static", "transparent", "refuse", "redirect"};

int mw_localzone_type_parse(const char *s, enum mw_localzone_type *out)
{
    for (int t = MW_LZ_STATIC; t <= MW_LZ_REDIRECT; t++) {
        if (strcmp(s, type_names[t]) == 0) {
            *out = (enum mw_localzone_type)t;
            return 0;
        }
    }
    return -EINVAL;
}

const char *mw_localzone_type_name(enum mw_localzone_type t)
{
    return (unsigned)t <= MW_LZ_REDIRECT ? type_names[t] : "?";
}

const char *mw_local_action_name(enum mw_local_action a)
{
    static const char *const names[] = {"pass", "answer", "nodata", "nxdomain", "refused"};
    return (unsigned)a <= MW_LOCAL_REFUSED ? names[a] : "?";
}

/* The nearest zone enclosing a name (its label offsets and suffix hashes given) from the
 * suffix below the name up: the encl of the first node met. Only depths where a zone apex
 * sits are looked at. */
static int32_t walk(const struct mw_localzone *lz, const uint8_t *name, size_t len,
                    const uint16_t *off, const uint64_t *hs, int labels)
{
    if (!lz->n_zones)
        return -1;
    int i = labels - lz->max_zl > 1 ? labels - lz->max_zl : 1;
    for (; i <= labels - lz->min_zl; i++) {
        if (!maybe_node(lz, hs[i]))
            continue;
        const struct node *n = find(lz, name + off[i], len - off[i], hs[i]);
        if (n)
            return n->encl;
    }
    return -1;
}

/* Is the top-level label of name (NULL: the root) one of the set's? Only asked when the TLD
 * prefilter is on, which a zone at the root turns off: nothing local is at the root then. A
 * bitmap of (length, first and last octet) answers for most other TLDs; the labels are then
 * compared octet by octet (short, and no call). */
static bool tld_known(const struct mw_localzone *lz, const uint8_t *name, size_t len)
{
    size_t o = 0, last = len;
    while (o < len && name[o]) {
        last = o;
        o += 1 + (size_t)name[o];
    }
    if (last >= len)
        return false;
    const uint8_t *l = name + last;
    unsigned key = tld_key(l);
    if (!((lz->tld_bits[key >> 6] >> (key & 63)) & 1))
        return false;
    for (unsigned k = 0; k < lz->n_tlds; k++) {
        const uint8_t *t = lz->tld[k];
        unsigned j = 0;
        while (j <= l[0] && t[j] == l[j])
            j++;
        if (j > l[0])
            return true;
    }
    return false;
}

void mw_localzone_free(struct mw_localzone *lz)
{
    if (!lz)
        return;
    for (size_t i = 0; i < lz->n_blocks; i++)
        free(lz->blocks[i]);
    free(lz->blocks);
    free(lz->nodes);
    free(lz->slots);
    free(lz->bloom);
    free(lz->sld);
    free(lz->rr);
    free(lz->rr_line);
    free(lz->rr_made);
    free_zones(lz->zones, lz->n_zones);
    free(lz);
}

/* ---- lookup ---- */

/* The answer from the records of node d for qtype: the RRset of that type, every record for
 * ANY, the CNAME for any other type (not followed: the client asks for its target), else
 * NODATA. */
static enum mw_local_action answer(const struct mw_localzone *lz, const struct node *d,
                                   uint16_t qtype, struct mw_local_result *r)
{
    const struct mw_dns_rrw *rr = &lz->rr[d->first];
    r->owner = d->name;
    r->owner_len = d->len;
    r->line = lz->rr_line[d->first];
    uint32_t i = 0, cname = UINT32_MAX;
    for (; i < d->n && rr[i].type != qtype; i++)
        if (rr[i].type == 5)
            cname = i;
    if (i < d->n) {
        uint32_t j = i;
        while (j < d->n && rr[j].type == qtype)
            j++;
        r->an = rr + i;
        r->n_an = j - i;
        r->line = lz->rr_line[d->first + i];
    } else if (qtype == 255) {
        r->an = rr;
        r->n_an = d->n;
    } else if (cname != UINT32_MAX) {
        r->an = rr + cname;
        r->n_an = 1;
        r->line = lz->rr_line[d->first + cname];
    } else {
        return r->action = MW_LOCAL_NODATA;
    }
    return r->action = MW_LOCAL_ANSWER;
}

/* Past the TLD prefilter: the two-label stage, the node, the zone, the decision. Kept out of
 * line so that the common case above pays for no stack frame of this size. */
__attribute__((noinline)) static enum mw_local_action lookup_name(const struct mw_localzone *lz,
                                                                  const struct mw_dns_question *q,
                                                                  struct mw_local_result *r)
{
    uint16_t off[128];
    uint64_t hs[128];
    int labels = label_offsets(q->qname, q->qname_len, off);
    /* The suffix hashes from the root down, checking the two-label suffix on the way. */
    hs[labels] = HASH_TAG;
    int i = labels - 1;
    if (lz->sld && labels >= 2) {
        hs[i] = label_step(hs[i + 1], q->qname + off[i]);
        i--;
        hs[i] = label_step(hs[i + 1], q->qname + off[i]);
        uint64_t b = hs[i] >> 32;
        if (!((lz->sld[(b >> 6) & lz->bloom_mask] >> (b & 63)) & 1))
            return MW_LOCAL_PASS;
        i--;
    }
    for (; i >= 0; i--)
        hs[i] = label_step(hs[i + 1], q->qname + off[i]);
    const struct node *n = maybe_node(lz, hs[0]) ? find(lz, q->qname, q->qname_len, hs[0]) : NULL;
    int32_t z = n ? n->encl : walk(lz, q->qname, q->qname_len, off, hs, labels);
    if (z < 0 && !(n && n->n))
        return MW_LOCAL_PASS; /* the common case: nothing local about this name */

    const struct zone *zz = z >= 0 ? &lz->zones[z] : NULL;
    r->an = NULL;
    r->n_an = 0;
    r->has_soa = false;
    r->owner = NULL;
    r->owner_len = 0;
    r->line = 0;
    r->zone_type = zz ? zz->type : MW_LZ_NONE;
    r->zone = zz ? zz->text : NULL;
    r->zone_line = zz ? zz->line : 0;
    const struct node *d = zz && zz->type == MW_LZ_REDIRECT ? &lz->nodes[zz->node] : n;
    if (d && d->n && answer(lz, d, q->qtype, r) == MW_LOCAL_ANSWER)
        return MW_LOCAL_ANSWER;
    if (!(d && d->n)) {
        if (!zz || zz->type == MW_LZ_TRANSPARENT)
            return r->action = MW_LOCAL_PASS;
        if (zz->type == MW_LZ_REFUSE)
            return r->action = MW_LOCAL_REFUSED;
        if (zz->type == MW_LZ_STATIC && q->qtype == 6 && n == &lz->nodes[zz->node]) {
            /* The apex of a static zone without its own SOA answers with the made one. */
            r->soa = zz->soa;
            r->soa.owner = NULL;
            r->soa.qoff = 0;
            r->an = &r->soa;
            r->n_an = 1;
            return r->action = MW_LOCAL_ANSWER;
        }
        /* static: the name exists when it has a node (apex, empty non-terminal); a redirect
         * zone without apex data makes every name below exist with no data. */
        r->action = n || zz->type == MW_LZ_REDIRECT ? MW_LOCAL_NODATA : MW_LOCAL_NXDOMAIN;
    }
    if (zz) {
        r->has_soa = true;
        r->soa = zz->soa;
        r->soa.owner = NULL;
        r->soa.qoff = (uint16_t)(q->qname_len - zz->len);
    }
    return r->action;
}

enum mw_local_action mw_localzone_lookup(const struct mw_localzone *lz,
                                         const struct mw_dns_question *q, struct mw_local_result *r)
{
    r->action = MW_LOCAL_PASS;
    if (!lz || q->qclass != 1 || q->qname_len == 0 || q->qname_len > MW_DNAME_MAX)
        return MW_LOCAL_PASS;
    if (lz->n_tlds && !tld_known(lz, q->qname, q->qname_len))
        return MW_LOCAL_PASS; /* the common case: nothing local under this TLD */
    return lookup_name(lz, q, r);
}

size_t mw_localzone_records(const struct mw_localzone *lz, const uint8_t *name, size_t len,
                            const struct mw_dns_rrw **rrs, int *lines, bool *made, size_t cap)
{
    *rrs = NULL;
    const struct node *n =
        lz && len && len <= MW_DNAME_MAX ? find(lz, name, len, name_hash(name, len)) : NULL;
    if (!n || !n->n)
        return 0;
    *rrs = &lz->rr[n->first];
    for (size_t i = 0; i < n->n && i < cap; i++) {
        if (lines)
            lines[i] = lz->rr_line[n->first + i];
        if (made)
            made[i] = lz->rr_made[n->first + i];
    }
    return n->n;
}

void mw_localzone_counts(const struct mw_localzone *lz, size_t *records, size_t *names,
                         size_t *zones)
{
    size_t names_n = 0;
    for (size_t i = 0; lz && i < lz->n_data; i++)
        names_n += lz->nodes[i].n > 0;
    *records = lz ? lz->n_rr : 0;
    *names = names_n;
    *zones = lz ? lz->n_zones : 0;
}
