/* The builder of a set of local data (see localzone.h and localzone_internal.h): record text
 * through ldns into owned blocks (owner and uncompressed rdata), PTR records made from A/AAAA,
 * the checks across records (a CNAME beside other data, data below a redirect zone's apex, the
 * size of one name's records), then the table of nodes with each node's enclosing zone, the
 * empty non-terminals, the SOA of each zone and the prefilters of the lookup. Every problem is
 * reported with its config line and the build goes on, so that one run shows them all. */
#include <errno.h>
#include <ldns/ldns.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "localzone_internal.h"
#include "minewall/array.h"
#include "minewall/dname.h"
#include "minewall/error.h"
#include "minewall/localzone.h"

/* The SOA of a local zone that has none in local data: "localhost. nobody.invalid. 1 3600
 * 1200 604800 60", whose MINIMUM and TTL bound how long clients cache a negative answer. */
static const uint8_t SYNTH_SOA[] = "\x09localhost\x00"
                                   "\x06nobody\x07invalid\x00"
                                   "\x00\x00\x00\x01"
                                   "\x00\x00\x0e\x10"
                                   "\x00\x00\x04\xb0"
                                   "\x00\x09\x3a\x80"
                                   "\x00\x00\x00\x3c";

/* ---- builder ---- */

__attribute__((format(printf, 3, 4))) static void report(struct mw_localzone_builder *b, int line,
                                                         const char *fmt, ...)
{
    b->n_errors++;
    if (!b->errs)
        return;
    va_list ap;
    va_start(ap, fmt);
    mw_errlist_vadd_at(b->errs, b->name, line, fmt, ap);
    va_end(ap);
}

/* s for a message: control bytes as '?', cut with "..." after SHOWN characters. */
static const char *shown(const char *s, char buf[SHOWN + 4])
{
    size_t i = 0;
    for (; s[i] && i < SHOWN; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (s[i]) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static void name_text(const uint8_t *wire, size_t len, char *buf, size_t cap)
{
    if (mw_dname_to_text(wire, len, buf, cap) < 0)
        snprintf(buf, cap, "?");
}

struct mw_localzone_builder *mw_localzone_builder_new(const char *name, struct mw_errlist *errs)
{
    struct mw_localzone_builder *b = calloc(1, sizeof(*b));
    if (b) {
        b->name = name;
        b->errs = errs;
    }
    return b;
}

static void free_recs(struct brec *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].owner);
}

static void builder_clear(struct mw_localzone_builder *b)
{
    if (!b->moved)
        free_recs(b->recs, b->n_recs);
    b->moved = false;
    free(b->recs);
    free_zones(b->zones, b->n_zones);
    b->recs = NULL;
    b->zones = NULL;
    b->n_recs = b->cap_recs = b->n_configured = b->n_zones = b->cap_zones = 0;
}

void mw_localzone_builder_free(struct mw_localzone_builder *b)
{
    if (!b)
        return;
    builder_clear(b);
    free(b);
}

/* Append a record with a fresh block holding owner and rdata. */
static int push_rec(struct mw_localzone_builder *b, const uint8_t *owner, size_t owner_len,
                    uint16_t type, uint32_t ttl, const uint8_t *rdata, size_t rdlen, int line,
                    bool made)
{
    if (mw_array_grow((void **)&b->recs, &b->cap_recs, b->n_recs + 1, sizeof(*b->recs)) < 0)
        return -ENOMEM;
    uint8_t *blk = malloc(owner_len + rdlen);
    if (!blk)
        return -ENOMEM;
    memcpy(blk, owner, owner_len);
    mw_dname_lower(blk, owner_len);
    memcpy(blk + owner_len, rdata, rdlen);
    b->recs[b->n_recs++] = (struct brec){
        .owner = blk,
        .rdata = blk + owner_len,
        .owner_len = (uint16_t)owner_len,
        .rdlen = (uint16_t)rdlen,
        .type = type,
        .ttl = ttl,
        .line = line,
        .made = made,
    };
    return 0;
}

/* Types that are questions or transport, never data to serve. */
static bool meta_type(uint16_t t)
{
    return t == 0 || t == 41 /* OPT */ || (t >= 128 && t <= 255) /* RFC 6895 meta and qtypes */;
}

static int check_rr(struct mw_localzone_builder *b, const ldns_rr *rr, const char *text, int line)
{
    char s[SHOWN + 4];
    const ldns_rdf *owner = ldns_rr_owner(rr);
    uint16_t type = (uint16_t)ldns_rr_get_type(rr);
    if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
        report(b, line, "local-data: '%s': only class IN is served", shown(text, s));
        return -EINVAL;
    }
    if (!owner || ldns_rdf_size(owner) <= 1) {
        report(b, line, "local-data: '%s': no record at the root", shown(text, s));
        return -EINVAL;
    }
    const uint8_t *w = ldns_rdf_data(owner);
    if (w[0] == 1 && w[1] == '*') {
        report(b, line, "local-data: '%s': wildcard owners are not served; use a redirect zone",
               shown(text, s));
        return -EINVAL;
    }
    if (meta_type(type)) {
        report(b, line, "local-data: '%s': not a data type", shown(text, s));
        return -EINVAL;
    }
    if (ldns_rr_rd_count(rr) == 0) {
        report(b, line, "local-data: '%s': the record has no data", shown(text, s));
        return -EINVAL;
    }
    if (ldns_rr_ttl(rr) > TTL_MAX) {
        report(b, line, "local-data: '%s': TTL over 2147483647", shown(text, s));
        return -EINVAL;
    }
    return 0;
}

/* Is the type token of record text (after the owner, a TTL and a class) IPSECKEY? */
static bool is_ipseckey(const char *text)
{
    const char *p = text;
    for (int tok = 0; tok < 4; tok++) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *t = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        size_t n = (size_t)(p - t);
        if (tok == 0)
            continue; /* the owner */
        if (n && t[0] >= '0' && t[0] <= '9')
            continue; /* a TTL */
        if ((n == 2 &&
             (!strncasecmp(t, "IN", 2) || !strncasecmp(t, "CH", 2) || !strncasecmp(t, "HS", 2))) ||
            (n > 5 && !strncasecmp(t, "CLASS", 5)))
            continue;
        return n == 8 && strncasecmp(t, "IPSECKEY", 8) == 0;
    }
    return false;
}

int mw_localzone_add_record(struct mw_localzone_builder *b, const char *text, int line)
{
    char s[SHOWN + 4];
    if (b->n_configured >= MW_LOCALZONE_MAX_RECORDS) {
        if (b->n_configured++ == MW_LOCALZONE_MAX_RECORDS)
            report(b, line, "local-data: more than %d records", MW_LOCALZONE_MAX_RECORDS);
        else
            b->n_errors++;
        return -EINVAL;
    }
    b->n_configured++;
    size_t tl = strlen(text);
    if (tl > MW_LOCALZONE_MAX_TEXT) {
        report(b, line, "local-data: record longer than %d characters", MW_LOCALZONE_MAX_TEXT);
        return -EINVAL;
    }
    /* An owner left out would be the previous record's in a zone file; here it must be given. */
    if (tl == 0 || text[0] == ' ' || text[0] == '\t' || text[0] == '@' || text[0] == '$' ||
        text[0] == ';') {
        report(b, line, "local-data: '%s': expected 'NAME [TTL] [IN] TYPE DATA'", shown(text, s));
        return -EINVAL;
    }
    /* A record is one line of text: a control character (a newline from a YAML escape) is
     * refused before ldns sees it, whose tokenizer (1.8.3) writes past its buffer on a
     * newline inside parentheses. */
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            report(b, line, "local-data: '%s': control character in the record", shown(text, s));
            return -EINVAL;
        }
    /* ldns leaks memory on some malformed IPSECKEY text (see rpz.c): refused unparsed. */
    if (is_ipseckey(text)) {
        report(b, line, "local-data: '%s': IPSECKEY is not served", shown(text, s));
        return -EINVAL;
    }
    ldns_rr *rr = NULL;
    ldns_status st = ldns_rr_new_frm_str(&rr, text, MW_LOCALZONE_DEFAULT_TTL, NULL, NULL);
    if (st != LDNS_STATUS_OK || !rr) {
        report(b, line, "local-data: cannot parse '%s': %s", shown(text, s),
               ldns_get_errorstr_by_id(st));
        ldns_rr_free(rr);
        return -EINVAL;
    }
    int rc = check_rr(b, rr, text, line);
    ldns_buffer *buf = rc == 0 ? ldns_buffer_new(256) : NULL;
    if (rc == 0 && (!buf || ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK)) {
        report(b, line, "local-data: '%s': cannot encode the data", shown(text, s));
        rc = -EINVAL;
    } else if (rc == 0 && ldns_buffer_position(buf) > 0xffff) {
        report(b, line, "local-data: '%s': data over 65535 octets", shown(text, s));
        rc = -EINVAL;
    }
    if (rc == 0) {
        const ldns_rdf *o = ldns_rr_owner(rr);
        rc = push_rec(b, ldns_rdf_data(o), ldns_rdf_size(o), (uint16_t)ldns_rr_get_type(rr),
                      ldns_rr_ttl(rr), ldns_buffer_begin(buf), ldns_buffer_position(buf), line,
                      false);
        if (rc < 0)
            report(b, line, "local-data: out of memory");
    }
    ldns_buffer_free(buf);
    ldns_rr_free(rr);
    return rc < 0 ? -EINVAL : 0;
}

int mw_localzone_add_zone(struct mw_localzone_builder *b, const char *name, const char *type,
                          int line)
{
    char s[SHOWN + 4];
    struct zone z = {.line = line};
    int wl = mw_dname_from_text(name, z.wire, sizeof(z.wire));
    if (wl < 0) {
        report(b, line, "local-zones: invalid zone name '%s'", shown(name, s));
        return -EINVAL;
    }
    z.len = (uint16_t)wl;
    z.labels = (uint8_t)mw_dname_labels(z.wire, z.len);
    if (mw_localzone_type_parse(type, &z.type) < 0) {
        report(b, line,
               "local-zones: zone '%s': expected static, transparent, refuse or redirect, found "
               "'%s'",
               shown(name, s), type);
        return -EINVAL;
    }
    for (size_t i = 0; i < b->n_zones; i++) {
        if (b->zones[i].len == z.len && memcmp(b->zones[i].wire, z.wire, z.len) == 0) {
            report(b, line, "local-zones: duplicate zone '%s' (first on line %d)", shown(name, s),
                   b->zones[i].line);
            return -EINVAL;
        }
    }
    if (b->n_zones >= MW_LOCALZONE_MAX_ZONES) {
        report(b, line, "local-zones: more than %d zones", MW_LOCALZONE_MAX_ZONES);
        return -EINVAL;
    }
    char text[4 * MW_DNAME_MAX + 2];
    name_text(z.wire, z.len, text, sizeof(text));
    z.text = strdup(text);
    if (!z.text ||
        mw_array_grow((void **)&b->zones, &b->cap_zones, b->n_zones + 1, sizeof(*b->zones)) < 0) {
        free(z.text);
        report(b, line, "local-zones: out of memory");
        return -EINVAL;
    }
    b->zones[b->n_zones++] = z;
    return 0;
}

void mw_localzone_set_ptr(struct mw_localzone_builder *b, bool on)
{
    b->ptr = on;
}

/* The reverse name of an IPv4 (in-addr.arpa) or IPv6 (ip6.arpa, one label per nibble)
 * address into wire; returns its length. */
static size_t reverse_name(const uint8_t *a, size_t alen, uint8_t *wire)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (alen == 4) {
        for (int i = 3; i >= 0; i--) {
            int l = snprintf((char *)wire + n + 1, 4, "%u", a[i]);
            wire[n] = (uint8_t)l;
            n += 1 + (size_t)l;
        }
        memcpy(wire + n,
               "\x07in-addr\x04"
               "arpa",
               14);
        return n + 14;
    }
    for (int i = 15; i >= 0; i--) {
        wire[n++] = 1;
        wire[n++] = (uint8_t)hex[a[i] & 15];
        wire[n++] = 1;
        wire[n++] = (uint8_t)hex[a[i] >> 4];
    }
    memcpy(wire + n,
           "\x03ip6\x04"
           "arpa",
           10);
    return n + 10;
}

static int make_ptrs(struct mw_localzone_builder *b)
{
    size_t n = b->n_recs;
    for (size_t i = 0; i < n; i++) {
        const struct brec r = b->recs[i]; /* push_rec may move the array */
        if (!((r.type == 1 && r.rdlen == 4) || (r.type == 28 && r.rdlen == 16)))
            continue;
        uint8_t rev[MW_DNAME_MAX + 1];
        size_t rl = reverse_name(r.rdata, r.rdlen, rev);
        if (push_rec(b, rev, rl, 12, r.ttl, r.owner, r.owner_len, r.line, true) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Owner (wire order), type, configured before made, then data: duplicates end up adjacent. */
static int rec_cmp(const void *pa, const void *pb)
{
    const struct brec *a = pa, *b = pb;
    if (a->owner_len != b->owner_len)
        return a->owner_len < b->owner_len ? -1 : 1;
    int c = memcmp(a->owner, b->owner, a->owner_len);
    if (c)
        return c;
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    if (a->made != b->made)
        return a->made ? 1 : -1;
    if (a->rdlen != b->rdlen)
        return a->rdlen < b->rdlen ? -1 : 1;
    c = memcmp(a->rdata, b->rdata, a->rdlen);
    return c ? c : (a->line > b->line) - (a->line < b->line);
}

static bool same_owner(const struct brec *a, const struct brec *b)
{
    return a->owner_len == b->owner_len && memcmp(a->owner, b->owner, a->owner_len) == 0;
}

/* Check the records of one name recs[0..n): drop duplicates and the made PTRs an explicit PTR
 * or CNAME overrides; a CNAME beside other data and names with too much data are errors. */
static void check_name(struct mw_localzone_builder *b, struct brec *recs, size_t n)
{
    const struct brec *cname = NULL, *other = NULL, *ptr = NULL;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        struct brec *r = &recs[i];
        if (i > 0 && r->type == recs[i - 1].type && r->rdlen == recs[i - 1].rdlen &&
            memcmp(r->rdata, recs[i - 1].rdata, r->rdlen) == 0) {
            r->drop = true; /* an identical record: served once (made ones sort after) */
            continue;
        }
        if (r->made)
            continue;
        if (r->type == 5) {
            if (cname) {
                char t[4 * MW_DNAME_MAX + 2];
                name_text(r->owner, r->owner_len, t, sizeof(t));
                report(b, r->line, "local-data: a second CNAME for %s (first on line %d)", t,
                       cname->line);
            }
            cname = cname ? cname : r;
        } else if (r->type != 46 && r->type != 47) { /* RRSIG and NSEC may sit beside it */
            other = other ? other : r;
        }
        if (r->type == 12)
            ptr = r;
    }
    if (cname && other) {
        char t[4 * MW_DNAME_MAX + 2];
        name_text(cname->owner, cname->owner_len, t, sizeof(t));
        report(b, cname->line > other->line ? cname->line : other->line,
               "local-data: %s has a CNAME (line %d) and other data (line %d); a CNAME must be "
               "alone (RFC 1034 3.6.2)",
               t, cname->line, other->line);
    }
    for (size_t i = 0; i < n; i++) {
        struct brec *r = &recs[i];
        if (r->made && !r->drop && (cname || ptr))
            r->drop = true; /* the operator's own PTR or CNAME for that address wins */
        if (!r->drop)
            bytes += 12 + r->rdlen;
    }
    if (bytes > MW_LOCALZONE_MAX_NAME_DATA) {
        char t[4 * MW_DNAME_MAX + 2];
        name_text(recs[0].owner, recs[0].owner_len, t, sizeof(t));
        report(b, recs[n - 1].line, "local-data: %s has more than %d octets of records", t,
               MW_LOCALZONE_MAX_NAME_DATA);
    }
}

static int make_bloom(struct mw_localzone *lz)
{
    size_t words = 16;
    while (words < lz->n_nodes / 4 && words < (1u << 17))
        words *= 2;
    if (!(lz->bloom = calloc(words, sizeof(*lz->bloom))))
        return -ENOMEM;
    lz->bloom_mask = words - 1;
    for (size_t i = 0; i < lz->n_nodes; i++) {
        uint64_t b = lz->nodes[i].hash >> 32;
        lz->bloom[(b >> 6) & lz->bloom_mask] |= 1ULL << (b & 63);
    }
    return 0;
}

static void slot_put(struct mw_localzone *lz, uint32_t idx)
{
    size_t i = lz->nodes[idx].hash & lz->mask;
    while (lz->slots[i] != EMPTY)
        i = (i + 1) & lz->mask;
    lz->slots[i] = idx;
}

/* Append a node (the name must not be in the table yet); the table doubles to stay at most
 * half full. Returns its index or -ENOMEM. */
static long add_node(struct mw_localzone *lz, const uint8_t *name, size_t len, uint64_t h)
{
    if (mw_array_grow((void **)&lz->nodes, &lz->cap_nodes, lz->n_nodes + 1, sizeof(*lz->nodes)) < 0)
        return -ENOMEM;
    if ((lz->n_nodes + 1) * 2 > lz->mask + 1) {
        size_t size = (lz->mask + 1) * 2;
        uint32_t *s = malloc(size * sizeof(*s));
        if (!s)
            return -ENOMEM;
        memset(s, 0xff, size * sizeof(*s));
        free(lz->slots);
        lz->slots = s;
        lz->mask = size - 1;
        for (size_t i = 0; i < lz->n_nodes; i++)
            slot_put(lz, (uint32_t)i);
    }
    lz->nodes[lz->n_nodes] =
        (struct node){.name = name, .hash = h, .len = (uint16_t)len, .zone = -1, .encl = -1};
    slot_put(lz, (uint32_t)lz->n_nodes);
    return (long)lz->n_nodes++;
}

/* The zone with an apex at or above name, nearest first, among nodes whose zone is set (at
 * build time, before the empty non-terminals exist). */
static int32_t zone_above(const struct mw_localzone *lz, const uint8_t *name, size_t len)
{
    uint16_t off[128];
    uint64_t hs[128];
    int labels = suffix_hashes(name, len, off, hs);
    for (int i = 0; i <= labels; i++) {
        const uint8_t *s = name + off[i];
        size_t sl = len - off[i];
        const struct node *n = find(lz, s, sl, hs[i]);
        if (n && n->zone >= 0)
            return n->zone;
    }
    return -1;
}

/* The last label of name: its offset (of the length octet). The root has none: -1. */
static int last_label(const uint8_t *name, size_t len)
{
    size_t o = 0, last = 0;
    if (len < 2 || !name[0])
        return -1;
    while (o < len && name[o]) {
        last = o;
        o += 1 + (size_t)name[o];
    }
    return (int)last;
}

/* Collect the TLDs of the nodes for the prefilter; more than MAX_TLDS, or a zone at the root,
 * turns it off (every name is then looked up). */
static void collect_tlds(struct mw_localzone *lz)
{
    lz->n_tlds = 0;
    for (size_t i = 0; i < lz->n_nodes; i++) {
        int o = last_label(lz->nodes[i].name, lz->nodes[i].len);
        if (o < 0) {
            lz->n_tlds = 0;
            return;
        }
        const uint8_t *l = lz->nodes[i].name + o;
        bool known = false;
        for (unsigned k = 0; k < lz->n_tlds && !known; k++)
            known = memcmp(lz->tld[k], l, 1 + (size_t)l[0]) == 0;
        if (known)
            continue;
        if (lz->n_tlds == MAX_TLDS) {
            lz->n_tlds = 0;
            return;
        }
        memcpy(lz->tld[lz->n_tlds++], l, 1 + (size_t)l[0]);
        lz->tld_bits[tld_key(l) >> 6] |= 1ULL << (tld_key(l) & 63);
    }
}

/* The second stage: one bit per distinct two-label suffix of the node names, on when every
 * zone has two labels or more (a name under a shorter zone need not share its last two labels
 * with any node). A one-label name skips it. */
static int make_sld_filter(struct mw_localzone *lz)
{
    for (size_t i = 0; i < lz->n_zones; i++)
        if (lz->zones[i].labels < 2)
            return 0;
    if (!(lz->sld = calloc(lz->bloom_mask + 1, sizeof(*lz->sld))))
        return -ENOMEM;
    for (size_t i = 0; i < lz->n_nodes; i++) {
        uint16_t off[128];
        uint64_t hs[128];
        int labels = suffix_hashes(lz->nodes[i].name, lz->nodes[i].len, off, hs);
        if (labels >= 2) {
            uint64_t b = hs[labels - 2] >> 32;
            lz->sld[(b >> 6) & lz->bloom_mask] |= 1ULL << (b & 63);
        }
    }
    return 0;
}

/* ---- build ---- */

/* Records into the set's arrays and one node per name (the blocks change owner). */
static int take_records(struct mw_localzone_builder *b, struct mw_localzone *lz)
{
    size_t keep = 0;
    for (size_t i = 0; i < b->n_recs; i++)
        keep += !b->recs[i].drop;
    lz->rr = calloc(keep ? keep : 1, sizeof(*lz->rr));
    lz->rr_line = calloc(keep ? keep : 1, sizeof(*lz->rr_line));
    lz->rr_made = calloc(keep ? keep : 1, sizeof(*lz->rr_made));
    lz->blocks = calloc(b->n_recs ? b->n_recs : 1, sizeof(*lz->blocks));
    if (!lz->rr || !lz->rr_line || !lz->rr_made || !lz->blocks)
        return -ENOMEM;
    for (size_t i = 0; i < b->n_recs; i++)
        lz->blocks[lz->n_blocks++] = b->recs[i].owner; /* the set frees them from here on */
    b->moved = true;
    for (size_t i = 0; i < b->n_recs; i++) {
        struct brec *r = &b->recs[i];
        if (r->drop)
            continue;
        bool new_name = lz->n_rr == 0 || lz->nodes[lz->n_nodes - 1].len != r->owner_len ||
                        memcmp(lz->nodes[lz->n_nodes - 1].name, r->owner, r->owner_len) != 0;
        if (new_name) {
            long x = add_node(lz, r->owner, r->owner_len, name_hash(r->owner, r->owner_len));
            if (x < 0)
                return (int)x;
            lz->nodes[x].first = (uint32_t)lz->n_rr;
        }
        lz->nodes[lz->n_nodes - 1].n++;
        lz->rr_line[lz->n_rr] = r->line;
        lz->rr_made[lz->n_rr] = r->made;
        lz->rr[lz->n_rr++] = (struct mw_dns_rrw){
            .type = r->type, .rdlen = r->rdlen, .ttl = r->ttl, .rdata = r->rdata};
    }
    lz->n_data = lz->n_nodes;
    return 0;
}

static int add_zones(struct mw_localzone_builder *b, struct mw_localzone *lz)
{
    lz->zones = b->zones;
    lz->n_zones = b->n_zones;
    b->zones = NULL;
    b->n_zones = b->cap_zones = 0;
    lz->min_zl = 255;
    for (size_t i = 0; i < lz->n_zones; i++) {
        struct zone *z = &lz->zones[i];
        uint64_t h = name_hash(z->wire, z->len);
        const struct node *n = find(lz, z->wire, z->len, h);
        long x = n ? n - lz->nodes : add_node(lz, z->wire, z->len, h);
        if (x < 0)
            return (int)x;
        lz->nodes[x].zone = lz->nodes[x].encl = (int32_t)i;
        z->node = (uint32_t)x;
        lz->min_zl = z->labels < lz->min_zl ? z->labels : lz->min_zl;
        lz->max_zl = z->labels > lz->max_zl ? z->labels : lz->max_zl;
        /* The apex's own SOA, else the made one. */
        z->soa = (struct mw_dns_rrw){.owner = z->wire,
                                     .owner_len = z->len,
                                     .type = 6,
                                     .rdlen = sizeof(SYNTH_SOA) - 1,
                                     .ttl = MW_LOCALZONE_NEG_TTL,
                                     .rdata = SYNTH_SOA};
        for (uint32_t k = 0; k < lz->nodes[x].n; k++) {
            const struct mw_dns_rrw *r = &lz->rr[lz->nodes[x].first + k];
            if (r->type == 6) {
                z->soa.ttl = r->ttl;
                z->soa.rdlen = r->rdlen;
                z->soa.rdata = r->rdata;
                break;
            }
        }
    }
    return 0;
}

/* The empty non-terminals between name (below zone z) and z's apex: the ancestors of name
 * up to the apex, stopping at the first that exists (its own chain is made when its turn
 * comes, or was made already). Returns 0 or -ENOMEM. */
static int add_ents(struct mw_localzone *lz, const uint8_t *name, size_t len, int32_t z)
{
    size_t zlen = lz->zones[z].len, off = 1 + name[0];
    while (len - off > zlen) {
        const uint8_t *s = name + off;
        size_t sl = len - off;
        uint64_t h = name_hash(s, sl);
        if (find(lz, s, sl, h))
            break;
        long x = add_node(lz, s, sl, h);
        if (x < 0)
            return (int)x;
        lz->nodes[x].encl = z;
        off += 1 + s[0];
    }
    return 0;
}

/* Each name with data: its enclosing zone, the empty non-terminals up to that zone's apex, and
 * the rule that below a redirect zone's apex nothing is served. */
static int place_data(struct mw_localzone_builder *b, struct mw_localzone *lz)
{
    for (size_t i = 0; i < lz->n_data; i++) {
        int32_t z = zone_above(lz, lz->nodes[i].name, lz->nodes[i].len);
        lz->nodes[i].encl = z;
        if (z < 0)
            continue;
        const struct zone *zz = &lz->zones[z];
        if (zz->type == MW_LZ_REDIRECT && zz->node != i) {
            struct node *n = &lz->nodes[i];
            bool configured = false;
            for (uint32_t k = 0; k < n->n; k++)
                configured = configured || !lz->rr_made[n->first + k];
            if (configured) {
                char t[4 * MW_DNAME_MAX + 2];
                name_text(n->name, n->len, t, sizeof(t));
                report(b, lz->rr_line[n->first],
                       "local-data: %s is below the redirect zone %s (line %d), where only the "
                       "apex's data is served",
                       t, zz->text, zz->line);
            }
            n->n = 0; /* made PTRs there are never served */
        }
        if (add_ents(lz, lz->nodes[i].name, lz->nodes[i].len, z) < 0)
            return -ENOMEM;
    }
    /* A zone inside another zone exists in it as well: a static parent answers NODATA, not
     * NXDOMAIN, for the names between. */
    for (size_t i = 0; i < lz->n_zones; i++) {
        const struct zone *zz = &lz->zones[i];
        if (zz->len <= 1)
            continue;
        const uint8_t *parent = zz->wire + 1 + zz->wire[0];
        int32_t z = zone_above(lz, parent, zz->len - 1 - zz->wire[0]);
        if (z >= 0 && add_ents(lz, zz->wire, zz->len, z) < 0)
            return -ENOMEM;
    }
    return 0;
}

int mw_localzone_build(struct mw_localzone_builder *b, struct mw_localzone **out)
{
    *out = NULL;
    int rc = b->n_errors ? -EINVAL : 0;
    struct mw_localzone *lz = NULL;
    /* After errors in single records the checks across records still run, so that every
     * problem is reported at once. */
    if (!b->n_recs && !b->n_zones)
        goto out;
    rc = -ENOMEM;
    if (b->ptr && make_ptrs(b) < 0)
        goto out;
    if (b->n_recs > 1)
        qsort(b->recs, b->n_recs, sizeof(*b->recs), rec_cmp);
    for (size_t i = 0, j; i < b->n_recs; i = j) {
        for (j = i + 1; j < b->n_recs && same_owner(&b->recs[i], &b->recs[j]); j++)
            ;
        check_name(b, &b->recs[i], j - i);
    }
    lz = calloc(1, sizeof(*lz));
    if (!lz || !(lz->slots = malloc(16 * sizeof(*lz->slots))))
        goto out;
    memset(lz->slots, 0xff, 16 * sizeof(*lz->slots));
    lz->mask = 15;
    if (take_records(b, lz) < 0 || add_zones(b, lz) < 0 || place_data(b, lz) < 0)
        goto out;
    collect_tlds(lz);
    if (make_bloom(lz) < 0 || make_sld_filter(lz) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    rc = b->n_errors ? -EINVAL : 0;
    if (rc == 0) {
        *out = lz;
        lz = NULL;
    }
out:
    if (rc == -ENOMEM)
        report(b, 0, "local-data: out of memory");
    mw_localzone_free(lz);
    builder_clear(b);
    return rc;
}
