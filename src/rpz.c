/* RPZ zone reader. Three parts meet in one record handler (apply):
 *
 * - The splitter (rr_read) cuts the buffer into records: one line, or several joined by
 *   parentheses. It skips comments and blank lines, knows quoted strings and '\' escapes,
 *   counts lines and keeps the first tokens. A lexical error (unbalanced parenthesis,
 *   unterminated string) costs that record only: the next one starts at the next line outside
 *   parentheses, so one bad record never stops the zone.
 * - The fast path (fast) takes the records that make nearly all of a real policy zone: no
 *   quote or escape, type CNAME, A or AAAA with one data token (on one line or several).
 *   It is hand-written because it is the whole cost of loading a large zone: ldns reads a
 *   1M-record zone in 2.4 s against 0.2 s here, most of it in per-record allocations (a line
 *   buffer and a handful of rdfs per record).
 * - Everything else goes to ldns (slow): SOA, and CNAME/A/AAAA records with quoted strings,
 *   names with escapes or characters the fast path does not take, extra data tokens. Other
 *   types are not policy data: their type is checked and they are skipped unparsed. Type and
 *   class mnemonics always come from ldns's tables (dnstext.c).
 *
 * Both paths hand the record to apply() as wire data (type, lowercase absolute target,
 * address), so their results can be compared: with MW_RPZ_NO_FAST every record goes through
 * ldns, and the unit test and the fuzzer read zones both ways. $ORIGIN and $TTL are read here
 * (with ldns's name and period parsers) because the fast path needs the origin as wire.
 *
 * Local data (A/AAAA) of a trigger may be spread over the zone: each record is kept (key and
 * address, no entry struct) and at the end of the zone the records are sorted by trigger and
 * merged into one SINKHOLE entry each, emitted in the order of their first record. */
#include "minewall/rpz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listfile_internal.h"
#include "minewall/dname.h"
#include "minewall/dnstext.h"
#include "minewall/error.h"
#include "minewall/netaddr.h"

#define RR_TOKENS 8      /* tokens of a record kept; more are counted only */
#define RECORD_MAX 65535 /* characters of one record handed to ldns */
#define WHY_MAX MW_LISTFILE__WHY_MAX

enum { OWN_NONE = 0, OWN_BAD, OWN_NAME };
enum { KEY_EXACT = 0, KEY_WILD, KEY_IP };

struct span {
    const char *p;
    size_t n;
};

struct rr {
    uint32_t line;
    bool cont;   /* owner omitted: the record began with a blank */
    bool simple; /* no quote or escape: the tokens are the words as written */
    size_t ntok; /* tokens seen; the first RR_TOKENS are kept */
    struct span tok[RR_TOKENS];
    const char *end; /* end of the record's last token or ')' */
    const char *err;
};

/* A record's data as wire, from either path. */
struct rdata {
    uint16_t type;
    struct span text;    /* the data as written, for messages */
    uint16_t target_len; /* CNAME: lowercase absolute target */
    uint8_t target[MW_DNAME_MAX + 1];
    struct mw_cidr addr; /* A, AAAA: prefix 32 or 128 */
};

struct trigger {
    bool ip, wild;
    uint16_t len;
    uint8_t wire[MW_DNAME_MAX + 1]; /* relative to the apex */
    struct mw_cidr cidr;
};

/* One A/AAAA record held until the end of the zone. */
struct local {
    uint32_t seq; /* arrival order */
    uint32_t line;
    uint32_t key; /* offset of the trigger's key in ctx.keys */
    uint16_t key_len;
    struct mw_cidr addr;
};

struct ctx {
    struct mw_listfile__out o; /* o.line: the record being handled */
    unsigned flags;
    uint32_t scan; /* the line the splitter is on */
    bool origin_seen, apex_set, soa_seen;
    uint16_t cur_len, apex_len;
    uint8_t cur[MW_DNAME_MAX + 1], apex[MW_DNAME_MAX + 1];
    ldns_rdf *origin; /* owned: cur for ldns, made on first need, dropped when cur changes */
    int own_state;
    bool own_wild;
    uint16_t own_len;
    uint8_t own[MW_DNAME_MAX + 1]; /* absolute, without the "*" label of a wildcard */
    char why[WHY_MAX];
    char *text; /* owned: one record's text for ldns */
    size_t text_cap;
    struct local *loc; /* owned */
    size_t n_loc, loc_cap;
    uint8_t *keys; /* owned: trigger keys of loc, back to back */
    size_t keys_len, keys_cap;
};

static void nomem(struct ctx *c)
{
    if (!c->o.rc)
        c->o.rc = -ENOMEM;
}

/* ---- the splitter ---- */

static inline bool rr_stop(char ch)
{
    return blank(ch) || ch == '\n' || ch == ';' || ch == '(' || ch == ')' || ch == '"';
}

/* Read the next record from buf[*pos..len). Comments and blank lines are skipped; a lexical
 * error is kept in rr->err and the rest of the record is skipped. Returns false at the end of
 * the input. */
static bool rr_read(struct ctx *c, const char *buf, size_t len, size_t *pos, struct rr *rr)
{
    size_t i = *pos;
    int paren = 0;
    bool at_start = true;
    rr->ntok = 0;
    rr->err = NULL;
    rr->cont = false;
    rr->simple = true;
    rr->line = c->scan;
    rr->end = buf + i;
    while (i < len) {
        char ch = buf[i];
        if (ch == '\n') {
            c->scan++;
            i++;
            if (paren > 0)
                continue;
            if (rr->ntok > 0 || rr->err)
                break;
            rr->line = c->scan;
            rr->cont = false;
            at_start = true;
            continue;
        }
        if (blank(ch)) {
            if (at_start && rr->ntok == 0 && paren == 0)
                rr->cont = true;
            at_start = false;
            i++;
            continue;
        }
        at_start = false;
        if (ch == ';') {
            while (i < len && buf[i] != '\n')
                i++;
            continue;
        }
        if (rr->err) {
            i++;
            continue;
        }
        if (ch == '(' || ch == ')') {
            if (ch == ')' && paren == 0)
                rr->err = "unbalanced ')'";
            paren += ch == '(' ? 1 : -1;
            if (paren < 0)
                paren = 0;
            i++;
            rr->end = buf + i;
            continue;
        }
        size_t s = i;
        if (ch == '"') {
            rr->simple = false;
            for (i++; i < len && buf[i] != '"' && buf[i] != '\n'; i++) {
                if (buf[i] == '\\' && i + 1 < len && buf[i + 1] != '\n')
                    i++;
            }
            if (i >= len || buf[i] != '"') {
                rr->err = "unterminated quoted string";
                paren = 0;
                continue;
            }
            i++;
        } else {
            for (; i < len && !rr_stop(buf[i]); i++) {
                if (buf[i] == '\\' && i + 1 < len && buf[i + 1] != '\n') {
                    rr->simple = false;
                    i++;
                }
            }
        }
        if (rr->ntok < RR_TOKENS)
            rr->tok[rr->ntok] = (struct span){buf + s, i - s};
        rr->ntok++;
        rr->end = buf + i;
    }
    *pos = i;
    if (paren > 0 && !rr->err)
        rr->err = "unbalanced '(' at the end of the file";
    return rr->ntok > 0 || rr->err;
}

/* ---- names ---- */

static const char *ldns_reason(ldns_status st)
{
    switch (st) {
    case LDNS_STATUS_EMPTY_LABEL:
        return "empty label (\"..\")";
    case LDNS_STATUS_LABEL_OVERFLOW:
        return "label longer than 63 octets";
    case LDNS_STATUS_DOMAINNAME_OVERFLOW:
        return "name longer than 255 octets";
    case LDNS_STATUS_MEM_ERR:
        return "out of memory";
    default:
        return ldns_get_errorstr_by_id(st);
    }
}

/* Origin completion: a relative wire name w[0..len) gets c->cur in place of its root label. */
static int with_origin(struct ctx *c, uint8_t *w, int len)
{
    if ((size_t)len - 1 + c->cur_len > MW_DNAME_MAX)
        return mw_listfile__fail(c->why, sizeof(c->why),
                                 "name longer than 255 octets with the origin");
    memcpy(w + len - 1, c->cur, c->cur_len);
    return len - 1 + c->cur_len;
}

/* A name in master-file syntax (escapes, any printable character) through ldns. */
static int name_ldns(struct ctx *c, const char *p, size_t n, uint8_t *w)
{
    char tmp[MW_DNAME_MAX * 4 + 2]; /* "\DDD" for every octet at most */
    if (n >= sizeof(tmp))
        return mw_listfile__fail(c->why, sizeof(c->why), "name longer than 255 octets");
    for (size_t i = 0; i < n; i++) {
        /* Master files write these as \DDD; ldns would take them raw (and NUL ends its text). */
        if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
            return mw_listfile__fail(c->why, sizeof(c->why), "invalid character 0x%02x",
                                     (unsigned char)p[i]);
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    ldns_rdf *d = NULL;
    ldns_status st = ldns_str2rdf_dname(&d, tmp);
    if (st != LDNS_STATUS_OK)
        return mw_listfile__fail(c->why, sizeof(c->why), "%s", ldns_reason(st));
    int len = (int)ldns_rdf_size(d);
    memcpy(w, ldns_rdf_data(d), (size_t)len);
    ldns_rdf_deep_free(d);
    mw_dname_lower(w, (size_t)len);
    return ldns_dname_str_absolute(tmp) ? len : with_origin(c, w, len);
}

static bool has_8bit(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] >= 0x80)
            return true;
    }
    return false;
}

/* Text name to absolute lowercase wire in w: relative names are completed with the current
 * $ORIGIN (RFC 1035 5.1). Names of letters, digits, '-', '_' (and IDN names) are converted
 * here; escapes and other characters go to ldns. Returns the wire length or -EINVAL with the
 * reason in c->why. */
static int rpz_name(struct ctx *c, const char *p, size_t n, uint8_t *w)
{
    if (n == 1 && p[0] == '.') {
        w[0] = 0;
        return 1;
    }
    if (n == 1 && p[0] == '@') {
        memcpy(w, c->cur, c->cur_len);
        return c->cur_len;
    }
    if ((c->flags & MW_RPZ_NO_FAST) && !has_8bit(p, n))
        return name_ldns(c, p, n, w);
    int len = mw_listfile__name(p, n, w, MW_LISTFILE__NAME_RPZ | MW_LISTFILE__NAME_ESC, c->why,
                                sizeof(c->why));
    if (len == -EILSEQ)
        return name_ldns(c, p, n, w);
    if (len < 0 || p[n - 1] == '.')
        return len;
    return with_origin(c, w, len);
}

static void rpz_owner(struct ctx *c, struct span o)
{
    const char *p = o.p;
    size_t n = o.n;
    c->own_state = OWN_BAD;
    c->own_wild = false;
    if (n >= 1 && p[0] == '*' && (n == 1 || p[1] == '.')) {
        c->own_wild = true;
        p += n == 1 ? 1 : 2;
        n -= n == 1 ? 1 : 2;
        if (n == 0) {
            p = "@"; /* "*" alone: everything below the origin */
            n = 1;
        }
    }
    int len = rpz_name(c, p, n, c->own);
    if (len < 0) {
        mw_listfile__bad(&c->o, c->why, o.p, o.n);
        return;
    }
    c->own_len = (uint16_t)len;
    c->own_state = OWN_NAME;
}

static void set_origin(struct ctx *c, const uint8_t *w, size_t len)
{
    memcpy(c->cur, w, len);
    c->cur_len = (uint16_t)len;
    ldns_rdf_deep_free(c->origin);
    c->origin = NULL;
}

static void rpz_directive(struct ctx *c, const struct rr *rr)
{
    struct span d = rr->tok[0];
    if (span_ieq(d.p, d.n, "$TTL")) {
        char tmp[32];
        const char *end = tmp;
        if (rr->ntok >= 2 && rr->tok[1].n < sizeof(tmp)) {
            memcpy(tmp, rr->tok[1].p, rr->tok[1].n);
            tmp[rr->tok[1].n] = '\0';
            ldns_str2period(tmp, &end);
        }
        if (end == tmp || *end)
            mw_listfile__bad(&c->o, rr->ntok >= 2 ? "invalid $TTL" : "$TTL without a value", d.p,
                             d.n);
        return; /* RPZ answers carry the list's TTL, not the zone's */
    }
    if (span_ieq(d.p, d.n, "$INCLUDE")) {
        mw_listfile__bad(&c->o, "$INCLUDE is not supported", d.p, d.n);
        return;
    }
    if (!span_ieq(d.p, d.n, "$ORIGIN")) {
        mw_listfile__bad(&c->o, "unknown directive", d.p, d.n);
        return;
    }
    uint8_t w[MW_DNAME_MAX + 1];
    int len = rr->ntok >= 2 ? rpz_name(c, rr->tok[1].p, rr->tok[1].n, w) : -1;
    if (len < 0) {
        mw_listfile__bad(&c->o, rr->ntok >= 2 ? c->why : "$ORIGIN without a name", d.p, d.n);
        return;
    }
    set_origin(c, w, (size_t)len);
    c->origin_seen = true;
    if (!c->apex_set) {
        memcpy(c->apex, w, (size_t)len);
        c->apex_len = (uint16_t)len;
        c->apex_set = true;
    }
}

/* ---- triggers ---- */

static bool label_dec(const uint8_t *l, size_t n, unsigned max, unsigned *out)
{
    unsigned v = 0;
    if (n == 0 || n > 3)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!digit((char)l[i]))
            return false;
        v = v * 10 + (unsigned)(l[i] - '0');
    }
    *out = v;
    return v <= max;
}

/* "<prefix>.<address labels, least significant first>.rpz-ip" (relative wire, the "rpz-ip"
 * label included) to a prefix. IPv6 groups are hex, "zz" stands for the run of zeros. */
static int rpz_ip(const uint8_t *w, struct mw_cidr *out, char *why, size_t wl)
{
    const uint8_t *lab[40];
    size_t ll[40], nl = 0;
    for (size_t pos = 0; w[pos]; pos += 1 + (size_t)w[pos]) {
        if (nl == 40)
            return mw_listfile__fail(why, wl, "rpz-ip trigger with too many labels");
        lab[nl] = w + pos + 1;
        ll[nl++] = w[pos];
    }
    nl--; /* "rpz-ip" */
    unsigned prefix, v;
    if (nl < 2 || !label_dec(lab[0], ll[0], 128, &prefix))
        return mw_listfile__fail(why, wl, "rpz-ip trigger without a prefix length and an address");
    uint8_t addr[16] = {0};
    unsigned max = 32;
    size_t zz = 0;
    for (size_t i = 1; i < nl; i++)
        zz += ll[i] == 2 && lab[i][0] == 'z' && lab[i][1] == 'z';
    if (nl - 1 == 4 && zz == 0) {
        for (size_t i = 0; i < 4; i++) {
            if (!label_dec(lab[1 + i], ll[1 + i], 255, &v))
                return mw_listfile__fail(why, wl, "rpz-ip: invalid IPv4 address label");
            addr[3 - i] = (uint8_t)v;
        }
    } else {
        max = 128;
        size_t groups = nl - 1 - zz;
        if (zz > 1 || (zz == 0 && groups != 8) || groups > 8 || (zz && groups > 7))
            return mw_listfile__fail(why, wl, "rpz-ip: invalid IPv6 address");
        size_t g = 0;
        for (size_t i = nl - 1; i >= 1; i--) {
            if (ll[i] == 2 && lab[i][0] == 'z' && lab[i][1] == 'z') {
                g += 8 - groups;
                continue;
            }
            if (ll[i] == 0 || ll[i] > 4)
                return mw_listfile__fail(why, wl, "rpz-ip: invalid IPv6 group");
            v = 0;
            for (size_t k = 0; k < ll[i]; k++) {
                uint8_t ch = lab[i][k];
                int d = digit((char)ch) ? ch - '0' : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : -1;
                if (d < 0)
                    return mw_listfile__fail(why, wl, "rpz-ip: invalid IPv6 group");
                v = v * 16 + (unsigned)d;
            }
            addr[2 * g] = (uint8_t)(v >> 8);
            addr[2 * g + 1] = (uint8_t)v;
            g++;
        }
    }
    if (prefix < 1 || prefix > max)
        return mw_listfile__fail(why, wl, "rpz-ip: prefix length out of range");
    for (unsigned bit = prefix; bit < max; bit++) {
        if (addr[bit / 8] & (0x80 >> (bit % 8)))
            return mw_listfile__fail(why, wl, "rpz-ip: address has bits set beyond the prefix");
    }
    out->family = max == 32 ? AF_INET : AF_INET6;
    out->prefix = (uint8_t)prefix;
    memcpy(out->addr, addr, sizeof(out->addr));
    return 0;
}

static bool wire_is(const uint8_t *w, size_t len, const char *lit)
{
    size_t l = strlen(lit);
    return len == l + 2 && w[0] == l && memcmp(w + 1, lit, l) == 0;
}

/* The trigger of the current owner: its name relative to the apex, or an rpz-ip prefix.
 * Returns 1 for a trigger, 0 when the record is to be left alone (apex, skipped trigger). */
static int rpz_trigger(struct ctx *c, struct trigger *t, struct span owner)
{
    const uint8_t *apex = c->apex_set ? c->apex : (const uint8_t *)"";
    size_t alen = c->apex_set ? c->apex_len : 1;
    t->wild = c->own_wild;
    t->ip = false;
    if (c->own_len == alen && memcmp(c->own, apex, alen) == 0) {
        if (!t->wild) {
            c->o.rep->ignored++; /* SOA, NS and other data of the zone itself */
            return 0;
        }
        mw_listfile__bad(&c->o, "would match every name", owner.p, owner.n);
        return 0;
    }
    if (!mw_dname_is_subdomain(c->own, c->own_len, apex, alen)) {
        mw_listfile__bad(&c->o, "owner name outside the zone", owner.p, owner.n);
        return 0;
    }
    t->len = (uint16_t)(c->own_len - alen + 1);
    memcpy(t->wire, c->own, t->len - 1u);
    t->wire[t->len - 1] = 0;
    size_t last = 0;
    for (size_t pos = 0; t->wire[pos]; pos += 1 + (size_t)t->wire[pos])
        last = pos;
    const uint8_t *l = t->wire + last;
    size_t ln = t->len - last;
    if (wire_is(l, ln, "rpz-nsdname") || wire_is(l, ln, "rpz-nsip") ||
        wire_is(l, ln, "rpz-client-ip")) {
        mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_RPZ_TRIGGER);
        return 0;
    }
    if (wire_is(l, ln, "rpz-ip")) {
        if (t->wild) {
            mw_listfile__bad(&c->o, "wildcard rpz-ip trigger", owner.p, owner.n);
            return 0;
        }
        if (rpz_ip(t->wire, &t->cidr, c->why, sizeof(c->why)) < 0) {
            mw_listfile__bad(&c->o, c->why, owner.p, owner.n);
            return 0;
        }
        t->ip = true;
    }
    return 1;
}

/* ---- actions ---- */

static void fill(struct ctx *c, const struct trigger *t, enum mw_listfile_action act)
{
    c->o.e.type = t->ip ? MW_LISTFILE_ENTRY_IP : MW_LISTFILE_ENTRY_DOMAIN;
    c->o.e.line = c->o.line;
    c->o.e.action = act;
    c->o.e.allow = act == MW_LISTFILE_ACT_PASSTHRU;
    c->o.e.important = false;
    c->o.e.naddrs = 0;
    if (t->ip) {
        c->o.e.cidr = t->cidr;
    } else {
        c->o.e.kind = t->wild ? MW_LISTFILE_WILDCARD : MW_LISTFILE_EXACT;
        c->o.e.name_len = t->len;
        memcpy(c->o.e.name, t->wire, t->len);
    }
}

static void rpz_cname(struct ctx *c, const struct trigger *t, const struct rdata *d)
{
    enum mw_listfile_action act = MW_LISTFILE_ACT_CNAME;
    const uint8_t *w = d->target;
    size_t len = d->target_len;
    if (len == 1) {
        act = MW_LISTFILE_ACT_NXDOMAIN;
    } else if (w[0] == 1 && w[1] == '*') {
        if (len > 3) {
            mw_listfile__skip(
                &c->o, MW_LISTFILE_SKIP_RPZ_ACTION); /* local data: qname appended to the target */
            return;
        }
        act = MW_LISTFILE_ACT_NODATA;
    } else if (wire_is(w, len, "rpz-passthru")) {
        act = MW_LISTFILE_ACT_PASSTHRU;
    } else if (wire_is(w, len, "rpz-drop")) {
        act = MW_LISTFILE_ACT_DROP;
    } else if (wire_is(w, len, "rpz-tcp-only")) {
        mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_RPZ_ACTION);
        return;
    } else if (!t->ip && !t->wild && len == c->own_len && memcmp(w, c->own, len) == 0) {
        act = MW_LISTFILE_ACT_PASSTHRU; /* the older form: CNAME to the name itself */
    }
    fill(c, t, act);
    if (act == MW_LISTFILE_ACT_CNAME) {
        c->o.e.target_len = (uint16_t)len;
        memcpy(c->o.e.target, w, len);
    }
    mw_listfile__emit(&c->o);
}

/* Keep one local address of a trigger for the end of the zone. */
static void rpz_local(struct ctx *c, const struct trigger *t, const struct rdata *d)
{
    if (c->n_loc >= MW_RPZ_LOCAL_MAX) {
        mw_listfile__bad(&c->o, "too many local data records in one zone (1048576)", d->text.p,
                         d->text.n);
        return;
    }
    size_t klen = 1 + (t->ip ? 2 + sizeof(t->cidr.addr) : t->len);
    if (c->n_loc == c->loc_cap) {
        size_t cap = c->loc_cap ? c->loc_cap * 2 : 64;
        struct local *n = realloc(c->loc, cap * sizeof(*n));
        if (!n) {
            nomem(c);
            return;
        }
        c->loc = n;
        c->loc_cap = cap;
    }
    if (c->keys_len + klen > c->keys_cap) {
        size_t cap = c->keys_cap ? c->keys_cap * 2 : 4096;
        uint8_t *n = realloc(c->keys, cap);
        if (!n) {
            nomem(c);
            return;
        }
        c->keys = n;
        c->keys_cap = cap;
    }
    uint8_t *k = c->keys + c->keys_len;
    k[0] = t->ip ? KEY_IP : t->wild ? KEY_WILD : KEY_EXACT;
    if (t->ip) {
        k[1] = t->cidr.family == AF_INET ? 4 : 6;
        k[2] = t->cidr.prefix;
        memcpy(k + 3, t->cidr.addr, sizeof(t->cidr.addr));
    } else {
        memcpy(k + 1, t->wire, t->len);
    }
    size_t i = c->n_loc++;
    c->loc[i] = (struct local){.seq = (uint32_t)i,
                               .line = c->o.line,
                               .key = (uint32_t)c->keys_len,
                               .key_len = (uint16_t)klen,
                               .addr = d->addr};
    c->keys_len += klen;
}

static bool same_key(const uint8_t *keys, const struct local *x, const struct local *y)
{
    return x->key_len == y->key_len && memcmp(keys + x->key, keys + y->key, x->key_len) == 0;
}

static int local_cmp(const void *a, const void *b, void *arg)
{
    const struct local *x = a, *y = b;
    const uint8_t *keys = arg;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    int r = memcmp(keys + x->key, keys + y->key, x->key_len);
    if (r)
        return r;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void emit_local(struct ctx *c, const struct local *run, size_t n)
{
    const uint8_t *k = c->keys + run->key;
    c->o.e.type = k[0] == KEY_IP ? MW_LISTFILE_ENTRY_IP : MW_LISTFILE_ENTRY_DOMAIN;
    c->o.e.line = run->line;
    c->o.e.action = MW_LISTFILE_ACT_SINKHOLE;
    c->o.e.allow = c->o.e.important = false;
    if (k[0] == KEY_IP) {
        c->o.e.cidr.family = k[1] == 4 ? AF_INET : AF_INET6;
        c->o.e.cidr.prefix = k[2];
        memcpy(c->o.e.cidr.addr, k + 3, sizeof(c->o.e.cidr.addr));
    } else {
        c->o.e.kind = k[0] == KEY_WILD ? MW_LISTFILE_WILDCARD : MW_LISTFILE_EXACT;
        c->o.e.name_len = (uint16_t)(run->key_len - 1);
        memcpy(c->o.e.name, k + 1, c->o.e.name_len);
    }
    c->o.e.naddrs = 0;
    for (size_t i = 0; i < n; i++) {
        if (c->o.e.naddrs == MW_LISTFILE_ADDRS_MAX) {
            char a[INET6_ADDRSTRLEN];
            inet_ntop(run[i].addr.family, run[i].addr.addr, a, sizeof(a));
            c->o.line = run[i].line;
            mw_listfile__bad(&c->o, "more than 16 local addresses for one trigger", a, strlen(a));
            continue;
        }
        c->o.e.addrs[c->o.e.naddrs++] = run[i].addr;
    }
    mw_listfile__emit(&c->o);
}

/* The end of the zone: one SINKHOLE entry per trigger with local data, in the order of each
 * trigger's first record. */
static void flush_local(struct ctx *c)
{
    if (c->n_loc == 0 || c->o.rc)
        return;
    qsort_r(c->loc, c->n_loc, sizeof(*c->loc), local_cmp, c->keys);
    /* Each run (one trigger) is filed under the arrival number of its first record, which is
     * unique: walking that array gives the runs in zone order without a second sort. */
    struct local **first = calloc(c->n_loc, sizeof(*first));
    if (!first) {
        nomem(c);
        return;
    }
    for (size_t i = 0; i < c->n_loc; i++) {
        if (i == 0 || !same_key(c->keys, &c->loc[i - 1], &c->loc[i]))
            first[c->loc[i].seq] = &c->loc[i];
    }
    const struct local *end = c->loc + c->n_loc;
    for (size_t r = 0; r < c->n_loc && !c->o.rc; r++) {
        const struct local *s = first[r], *e;
        if (!s)
            continue;
        for (e = s + 1; e < end && same_key(c->keys, s, e); e++)
            ;
        emit_local(c, s, (size_t)(e - s));
    }
    free(first);
}

/* ---- records ---- */

/* The record as wire data without ldns: no quote or escape, type CNAME, A or AAAA, one data token.
 * Returns 1 (d filled), 0 (not taken: ldns reads it) or -1 (bad, reported). */
static int fast(struct ctx *c, const struct rr *rr, size_t k, struct rdata *d)
{
    /* The data token must be one of the kept ones (a record of more than RR_TOKENS tokens,
     * say many TTL and class words, goes to ldns: found by fuzz_rpz). */
    if ((c->flags & MW_RPZ_NO_FAST) || !rr->simple || rr->ntok != k + 2 || k + 1 >= RR_TOKENS)
        return 0;
    struct span t = rr->tok[k], v = rr->tok[k + 1];
    if (span_ieq(t.p, t.n, "CNAME")) {
        d->type = LDNS_RR_TYPE_CNAME;
        if (v.n == 1 && v.p[0] == '.') {
            d->target[0] = 0;
            d->target_len = 1;
            return 1;
        }
        if (v.n == 2 && v.p[0] == '*' && v.p[1] == '.') {
            memcpy(d->target, "\001*", 3);
            d->target_len = 3;
            return 1;
        }
        int len = rpz_name(c, v.p, v.n, d->target);
        if (len < 0) {
            mw_listfile__bad(&c->o, c->why, v.p, v.n);
            return -1;
        }
        d->target_len = (uint16_t)len;
        return 1;
    }
    bool a = span_ieq(t.p, t.n, "A");
    if (!a && !span_ieq(t.p, t.n, "AAAA"))
        return 0;
    d->type = a ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA;
    d->addr.family = a ? AF_INET : AF_INET6;
    d->addr.prefix = a ? 32 : 128;
    memset(d->addr.addr, 0, sizeof(d->addr.addr));
    if (!mw_listfile__addr(v.p, v.n, d->addr.family, d->addr.addr)) {
        mw_listfile__bad(&c->o, a ? "invalid A address" : "invalid AAAA address", v.p, v.n);
        return -1;
    }
    return 1;
}

static ldns_rdf *origin_rdf(struct ctx *c)
{
    if (!c->origin)
        c->origin = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, c->cur_len, c->cur);
    return c->origin;
}

/* Why ldns refused a record's data. */
static void ldns_bad(struct ctx *c, ldns_status st, ldns_rr_type type, struct span data)
{
    if (st == LDNS_STATUS_MEM_ERR) {
        nomem(c);
        return;
    }
    bool addr = st != LDNS_STATUS_SYNTAX_SUPERFLUOUS_TEXT_ERR &&
                (type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_AAAA);
    if (addr) {
        mw_listfile__bad(&c->o,
                         type == LDNS_RR_TYPE_A ? "invalid A address" : "invalid AAAA address",
                         data.p, data.n);
        return;
    }
    const ldns_rr_descriptor *desc = ldns_rr_descript(type);
    snprintf(c->why, sizeof(c->why), "invalid %s record: %s",
             desc && desc->_name ? desc->_name : "", ldns_reason(st));
    mw_listfile__bad(&c->o, c->why, data.p, data.n);
}

/* The record through ldns: "@ TYPE DATA..." with the current origin, so that relative names in
 * the data are completed as the zone says (the owner is ours, read before). Returns 1 (d
 * filled) or -1 (bad, reported). */
static int slow(struct ctx *c, const struct rr *rr, size_t k, struct rdata *d)
{
    struct span t = rr->tok[k];
    int type = mw_dnstext_type_parse(t.p, t.n);
    if (type < 0) {
        mw_listfile__bad(&c->o, "unknown record type", t.p, t.n);
        return -1;
    }
    if (type != LDNS_RR_TYPE_CNAME && type != LDNS_RR_TYPE_A && type != LDNS_RR_TYPE_AAAA &&
        type != LDNS_RR_TYPE_SOA) {
        /* Not policy data (apply() skips it after checking the owner), so its text is never
         * handed to ldns: less parser for a hostile zone to reach (ldns leaked memory on some
         * malformed IPSECKEY text, found by fuzz_rpz: a zone could grow every reload). */
        d->type = (uint16_t)type;
        return 1;
    }
    size_t rest = (size_t)(rr->end - t.p);
    if (rest > RECORD_MAX) {
        mw_listfile__bad(&c->o, "record longer than 65535 characters", t.p, t.n);
        return -1;
    }
    if (rest + 3 > c->text_cap) {
        char *n = realloc(c->text, rest + 3);
        if (!n) {
            nomem(c);
            return -1;
        }
        c->text = n;
        c->text_cap = rest + 3;
    }
    /* One line as ldns's own zone reader makes it: parentheses, newlines and comments become
     * blanks (ldns_rr_new_frm_str takes a parenthesis only inside the data), and so do the
     * blanks ldns does not know ('\v', '\f'). */
    char *o = c->text;
    *o++ = '@';
    *o++ = ' ';
    bool q = false;
    for (const char *p = t.p; p < rr->end; p++) {
        char ch = *p;
        if (ch == '\\' && p + 1 < rr->end) {
            *o++ = ch;
            *o++ = *++p;
            continue;
        }
        if (ch == '"')
            q = !q;
        if (!q && ch == ';') {
            while (p + 1 < rr->end && p[1] != '\n')
                p++;
            continue;
        }
        if (ch == '\0') {
            mw_listfile__bad(&c->o, "invalid character 0x00", d->text.p, d->text.n);
            return -1;
        }
        *o++ = !q && (ch == '(' || ch == ')' || ch == '\n' || blank(ch)) ? ' ' : ch;
    }
    *o = '\0';
    ldns_rdf *origin = origin_rdf(c);
    if (!origin) {
        nomem(c);
        return -1;
    }
    ldns_rr *r = NULL;
    ldns_status st = ldns_rr_new_frm_str(&r, c->text, 0, origin, NULL);
    if (st != LDNS_STATUS_OK) {
        ldns_bad(c, st, type, d->text);
        return -1;
    }
    d->type = (uint16_t)ldns_rr_get_type(r);
    const ldns_rdf *f = ldns_rr_rd_count(r) > 0 ? ldns_rr_rdf(r, 0) : NULL;
    int rc = 1;
    struct span v = k + 1 < RR_TOKENS ? rr->tok[k + 1] : t;
    if (d->type == LDNS_RR_TYPE_CNAME && f && k + 1 < RR_TOKENS &&
        !(v.n == 2 && v.p[0] == '\\' && v.p[1] == '#')) {
        /* The target as the fast path reads it (IDN, the same characters refused), through
         * ldns when it is not a plain name: both paths agree on every name. RFC 3597 data
         * ("\# 1 00") is ldns's alone. */
        int len = rpz_name(c, v.p, v.n, d->target);
        if (len < 0) {
            mw_listfile__bad(&c->o, c->why, v.p, v.n);
            rc = -1;
        }
        d->target_len = (uint16_t)(len < 0 ? 0 : len);
    } else if (d->type == LDNS_RR_TYPE_CNAME && f && ldns_rdf_size(f) <= MW_DNAME_MAX) {
        d->target_len = (uint16_t)ldns_rdf_size(f);
        memcpy(d->target, ldns_rdf_data(f), d->target_len);
        mw_dname_lower(d->target, d->target_len);
    } else if ((d->type == LDNS_RR_TYPE_A || d->type == LDNS_RR_TYPE_AAAA) && f &&
               ldns_rdf_size(f) == (d->type == LDNS_RR_TYPE_A ? 4u : 16u)) {
        d->addr.family = d->type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;
        d->addr.prefix = d->type == LDNS_RR_TYPE_A ? 32 : 128;
        memset(d->addr.addr, 0, sizeof(d->addr.addr));
        memcpy(d->addr.addr, ldns_rdf_data(f), ldns_rdf_size(f));
    } else if (d->type == LDNS_RR_TYPE_CNAME || d->type == LDNS_RR_TYPE_A ||
               d->type == LDNS_RR_TYPE_AAAA) {
        mw_listfile__bad(&c->o, "record without data", t.p, t.n); /* "\# 0" */
        rc = -1;
    }
    ldns_rr_free(r);
    return rc;
}

/* A TTL or a class mnemonic (ldns's table), checked cheaply for the common tokens first. */
static bool is_ttl_or_class(struct span t)
{
    if (digit(t.p[0]) || span_ieq(t.p, t.n, "IN"))
        return true;
    if (span_ieq(t.p, t.n, "CNAME") || span_ieq(t.p, t.n, "A") || span_ieq(t.p, t.n, "AAAA"))
        return false;
    return mw_dnstext_class_parse(t.p, t.n) > 0;
}

/* What a record means for the policy, whichever path read it. */
static void apply(struct ctx *c, struct span owner, const struct rdata *d)
{
    if (d->type == LDNS_RR_TYPE_SOA) {
        if (!c->soa_seen) {
            memcpy(c->apex, c->own, c->own_len);
            c->apex_len = c->own_len;
            c->apex_set = c->soa_seen = true;
            /* No $ORIGIN yet: the zone's own name is the origin of relative names. */
            if (!c->origin_seen)
                set_origin(c, c->own, c->own_len);
        }
        c->o.rep->ignored++;
        return;
    }
    struct trigger t;
    if (rpz_trigger(c, &t, owner) == 0)
        return;
    switch (d->type) {
    case LDNS_RR_TYPE_CNAME:
        rpz_cname(c, &t, d);
        break;
    case LDNS_RR_TYPE_A:
    case LDNS_RR_TYPE_AAAA:
        rpz_local(c, &t, d);
        break;
    default:
        mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_RPZ_DATA);
    }
}

static void rpz_record(struct ctx *c, const struct rr *rr)
{
    c->o.line = rr->line;
    if (rr->err) {
        mw_listfile__bad(&c->o, rr->err, rr->ntok ? rr->tok[0].p : "", rr->ntok ? rr->tok[0].n : 0);
        return;
    }
    size_t k = 0, ntok = rr->ntok < RR_TOKENS ? rr->ntok : RR_TOKENS;
    struct span owner = rr->tok[0];
    if (!rr->cont) {
        if (owner.p[0] == '$') {
            rpz_directive(c, rr);
            return;
        }
        rpz_owner(c, owner);
        k = 1;
    }
    if (c->own_state != OWN_NAME) {
        if (c->own_state == OWN_NONE)
            mw_listfile__bad(&c->o, "record without an owner name", owner.p, owner.n);
        return; /* OWN_BAD: reported with the owner */
    }
    while (k < ntok && is_ttl_or_class(rr->tok[k]))
        k++; /* TTL and class, in either order (ldns takes the class only after the TTL) */
    if (k >= ntok) {
        mw_listfile__bad(&c->o, "missing record type", owner.p, owner.n);
        return;
    }
    if (k + 1 >= rr->ntok) {
        mw_listfile__bad(&c->o, "record without data", rr->tok[k].p, rr->tok[k].n);
        return;
    }
    struct rdata d;
    d.text = k + 1 < ntok ? (struct span){rr->tok[k + 1].p, (size_t)(rr->end - rr->tok[k + 1].p)}
                          : rr->tok[k];
    int r = fast(c, rr, k, &d);
    if (r == 0)
        r = slow(c, rr, k, &d);
    if (r > 0)
        apply(c, owner, &d);
}

int mw_rpz_parse(const char *name, const char *buf, size_t len, unsigned flags,
                 mw_listfile_entry_cb cb, void *arg, struct mw_listfile_report *rep,
                 struct mw_errlist *errs)
{
    memset(rep, 0, sizeof(*rep));
    rep->format = MW_LISTFILE_FMT_RPZ;
    if (!buf && len)
        return -EINVAL;
    if (!buf)
        buf = "";
    struct ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    mw_listfile__out_init(&c->o, name ? name : "(buffer)", cb, arg, rep, errs);
    c->flags = flags;
    c->scan = 1;
    c->cur[0] = 0;
    c->cur_len = 1;
    size_t pos = 0;
    struct rr rr;
    while (!c->o.rc && rr_read(c, buf, len, &pos, &rr))
        rpz_record(c, &rr);
    uint32_t last = c->scan - (len > 0 && buf[len - 1] == '\n' ? 1 : 0);
    flush_local(c);
    rep->lines = len == 0 ? 0 : last;
    mw_listfile__finish(&c->o);
    int rc = c->o.rc;
    ldns_rdf_deep_free(c->origin);
    free(c->text);
    free(c->loc);
    free(c->keys);
    free(c);
    return rc;
}
