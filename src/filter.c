/* Filtering decisions over one generation of lists; see filter.h. The query-name check runs
 * on every query (cache hits included), so it is one domain-set lookup and, only when pattern
 * lists exist, one pattern-set lookup over the text form of the name. The answer check runs
 * once per upstream answer (and once per cached answer after a list reload); it walks the wire
 * by hand, not with ldns, because ldns would allocate the packet and every record. */
#include "minewall/filter.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/geo.h"
#include "minewall/ipset.h"
#include "minewall/listfile.h"
#include "minewall/lists.h"
#include "minewall/patternset.h"
#include "minewall/rebind.h"
#include "minewall/regdom.h"
#include "minewall/rlist.h"

const char *mw_where_name(enum mw_where w)
{
    switch (w) {
    case MW_WHERE_QNAME:
        return "qname";
    case MW_WHERE_CNAME:
        return "cname";
    case MW_WHERE_ANSWER_IP:
        return "answer-ip";
    case MW_WHERE_ASN:
        return "asn";
    case MW_WHERE_PATTERN:
        return "pattern";
    case MW_WHERE_ANSWER_NAME:
        return "answer-name";
    }
    return "?";
}

/* ---- client groups ---- */

/* Does list index list take part in group g's verdicts? NULL (the default group) and a group
 * without `lists:` take every list; detectors are not lists and always do. Only asked once a
 * rule matched, so the pass path never pays for it. */
static bool in_group(const struct mw_lists *l, const struct mw_group_conf *g, uint16_t list)
{
    if (!g || g->all_lists || list >= MW_LIST_DETECT)
        return true;
    const struct mw_list_info *info = mw_lists_info(l, list);
    if (!info)
        return false;
    for (size_t i = 0; i < g->n_lists; i++)
        if (strcmp(g->is_cat[i] ? info->category : info->name, g->lists[i]) == 0)
            return true;
    return false;
}

/* The action group g gives the list of index list in place of the list's own (`actions:`),
 * a list name before a category; fallback when the group overrides neither. */
static enum mw_action group_action(const struct mw_lists *l, const struct mw_group_conf *g,
                                   uint16_t list, enum mw_action fallback)
{
    if (!g || !g->n_actions || (!l && list < MW_LIST_DETECT))
        return fallback;
    static const struct mw_lists none = {0};
    const struct mw_list_info *info = mw_lists_info(l ? l : &none, list);
    if (!info)
        return fallback;
    enum mw_action by_cat = MW_ACTION_DEFAULT;
    for (size_t i = 0; i < g->n_actions; i++) {
        const struct mw_group_action *a = &g->actions[i];
        if (!a->category && strcmp(a->name, info->name) == 0)
            return a->action;
        if (a->category && !by_cat && strcmp(a->name, info->category) == 0)
            by_cat = a->action;
    }
    return by_cat ? by_cat : fallback;
}

enum mw_action mw_filter_group_action(const struct mw_lists *l, const struct mw_group_conf *g,
                                      uint16_t list, enum mw_action fallback)
{
    return group_action(l, g, list, fallback);
}

/* The action a rule asks for: a monitor-mode list records only, whatever its rules say;
 * otherwise an RPZ rule's own action, else the list's. */
static void resolve_action(const struct mw_lists *l, const struct mw_group_conf *g,
                           const struct mw_rule *r, struct mw_verdict *v)
{
    const struct mw_list_info *info = &l->lists[r->list];
    v->rule = *r;
    v->sink4 = v->sink6 = NULL;
    v->action = group_action(l, g, r->list, info->action);
    if (v->action == MW_ACTION_LOG)
        return;
    switch (r->action) {
    case MW_LISTFILE_ACT_NXDOMAIN:
        v->action = MW_ACTION_NXDOMAIN;
        break;
    case MW_LISTFILE_ACT_NODATA:
        v->action = MW_ACTION_NODATA;
        break;
    case MW_LISTFILE_ACT_DROP:
        v->action = MW_ACTION_DROP;
        break;
    case MW_LISTFILE_ACT_SINKHOLE: {
        v->action = MW_ACTION_SINKHOLE;
        const struct mw_local_data *d = mw_lists_local_data(l, r);
        if (d) {
            v->sink4 = d->n4 ? d->v4 : NULL;
            v->sink6 = d->n6 ? d->v6 : NULL;
        }
        break;
    }
    default:
        break;
    }
}

static void rule_name(const struct mw_domain_match *m, const uint8_t *name, size_t len,
                      struct mw_verdict *v)
{
    v->rule_wire = NULL;
    char text[MW_DNAME_MAX * 4 + 1];
    if (mw_dname_to_text(name + m->offset, len - m->offset, text, sizeof(text)) < 0)
        snprintf(text, sizeof(text), "?");
    snprintf(v->rule_text, sizeof(v->rule_text), "%s%.*s",
             m->kind == MW_DOMAIN_WILDCARD ? "*." : "", (int)sizeof(v->rule_text) - 3, text);
}

/* Is a better than b? More specific (a longer matched suffix, so a smaller offset) wins; at
 * equal specificity an allow rule wins. */
static bool better(const struct mw_domain_match *a, const struct mw_domain_match *b)
{
    if (a->offset != b->offset)
        return a->offset < b->offset;
    return (a->rule.flags & MW_RULE_ALLOW) && !(b->rule.flags & MW_RULE_ALLOW);
}

/* The group as a rule filter (mw_rule_keep_cb) for the sets' _if lookups. */
struct member {
    const struct mw_lists *l;
    const struct mw_group_conf *g;
};

static bool is_member(const struct mw_rule *r, void *arg)
{
    const struct member *m = arg;
    return in_group(m->l, m->g, r->list);
}

/* The file lists' deciding rule for group g when the rule for everyone (best, found at
 * best->offset) is of a list outside the group: the rules of each suffix from there to the
 * root, read one (name, kind) at a time as a set of the group's lists alone would hold them
 * (mw_domainset_get_if: a name two lists hold keeps the other list's rule aside), the first
 * suffix with a rule of the group's lists deciding. Exact: no suffix before best->offset has
 * a rule of any list. A slow path: only a name that a list outside the group holds takes
 * it. */
static bool match_in_group(const struct mw_lists *l, const struct mw_group_conf *g,
                           const uint8_t *name, size_t len, struct mw_domain_match *best)
{
    struct member mb = {l, g};
    for (size_t pos = best->offset; pos < len;) {
        int kinds[2] = {pos == 0 ? MW_DOMAIN_EXACT : MW_DOMAIN_WILDCARD, MW_DOMAIN_SUBTREE};
        bool found = false;
        for (int k = 0; k < 2; k++) {
            struct mw_rule r;
            if (!mw_domainset_get_if(l->domains, name + pos, len - pos, kinds[k], is_member, &mb,
                                     &r))
                continue;
            if (!found || mw_rule_before(&r, &best->rule)) {
                best->rule = r;
                best->kind = (uint8_t)kinds[k];
                best->offset = (uint8_t)pos;
                found = true;
            }
        }
        if (found)
            return true;
        if (name[pos] == 0)
            break;
        pos += 1 + (size_t)name[pos];
    }
    return false;
}

/* The deciding domain rule over the file lists and every Redis domain list. */
static bool match_domains(const struct mw_lists *l, const struct mw_group_conf *g,
                          const uint8_t *name, size_t len, struct mw_domain_match *best)
{
    bool found = mw_domainset_match(l->domains, name, len, best);
    if (found && !in_group(l, g, best->rule.list))
        found = match_in_group(l, g, name, len, best);
    for (uint16_t i = 0; i < l->n_rlists; i++) {
        const struct mw_rlist *r = l->rlists[i];
        struct mw_domain_match m;
        if (r->meta.type != MW_LIST_DOMAIN || !in_group(l, g, (uint16_t)(l->rlist_base + i)) ||
            !mw_domainset_overlay_match(mw_rbase_domains(r->base), r->delta, name, len, &m))
            continue;
        m.rule.list = (uint16_t)(l->rlist_base + i);
        m.rule.flags = r->allow ? MW_RULE_ALLOW : 0;
        if (!found || better(&m, best)) {
            *best = m;
            found = true;
        }
    }
    return found;
}

const char *mw_verdict_rule_text(struct mw_verdict *v)
{
    if (v->rule_wire) {
        struct mw_domain_match m = {.kind = v->rule_kind, .offset = 0};
        rule_name(&m, v->rule_wire, v->rule_wire_len, v);
    }
    return v->rule_text;
}

/* The group's own best pattern, when the best for everyone is of a list outside it. Kept out
 * of check_one: the default path does not carry its frame. */
static __attribute__((noinline)) bool group_pattern(const struct mw_lists *l,
                                                    const struct mw_group_conf *g, const char *text,
                                                    size_t len, struct mw_pattern_match *pm)
{
    struct member mb = {l, g};
    return mw_patternset_match_if(l->patterns, text, len, is_member, &mb, pm);
}

/* One name (qname or answer target) against the domain sets, then the patterns. With defer,
 * the rule text of a domain match is left for mw_verdict_rule_text (name outlives v's use). */
static enum mw_filter_result check_one(const struct mw_lists *l, const struct mw_group_conf *g,
                                       const uint8_t *name, size_t len, enum mw_where where,
                                       struct mw_verdict *v, bool explain, bool defer)
{
    struct mw_domain_match m;
    v->rule_wire = NULL;
    if (match_domains(l, g, name, len, &m)) {
        if (m.rule.flags & MW_RULE_ALLOW) {
            v->rule = m.rule;
            if (explain)
                rule_name(&m, name, len, v);
            return MW_FILTER_ALLOW;
        }
        resolve_action(l, g, &m.rule, v);
        v->where = where;
        if (defer) {
            v->rule_wire = name + m.offset;
            v->rule_wire_len = (uint8_t)(len - m.offset);
            v->rule_kind = m.kind;
            v->rule_text[0] = 0;
        } else {
            rule_name(&m, name, len, v);
        }
        return MW_FILTER_BLOCK;
    }
    if (!l->patterns || mw_patternset_count(l->patterns) == 0)
        return MW_FILTER_PASS;
    char text[MW_DNAME_MAX * 4 + 1];
    int tl = mw_dname_to_text(name, len, text, sizeof(text));
    struct mw_pattern_match pm;
    if (tl <= 0 || !mw_patternset_match(l->patterns, text, (size_t)tl, &pm) ||
        (!in_group(l, g, pm.rule.list) && !group_pattern(l, g, text, (size_t)tl, &pm)))
        return MW_FILTER_PASS;
    if (pm.rule.flags & MW_RULE_ALLOW) {
        v->rule = pm.rule;
        snprintf(v->rule_text, sizeof(v->rule_text), "%.*s", (int)sizeof(v->rule_text) - 1,
                 pm.pattern);
        return MW_FILTER_ALLOW;
    }
    resolve_action(l, g, &pm.rule, v);
    v->where = where == MW_WHERE_QNAME ? MW_WHERE_PATTERN : where;
    snprintf(v->rule_text, sizeof(v->rule_text), "%.*s", (int)sizeof(v->rule_text) - 1, pm.pattern);
    return MW_FILTER_BLOCK;
}

/* The name as software that handles names as text would read it: the labels joined with dots,
 * cut at the first NUL octet (a C string), then split again at every dot (a "." inside a label
 * ends it there; empty labels are dropped). "pool\.evil.test" (one label "pool.evil") and
 * "pool.evil.test\000.x.example" are different names on the wire, but a resolver or cache
 * downstream or upstream that goes through text could resolve them as "pool.evil.test".
 * Writes the lowercase wire form to alt and returns its length, or 0 when the name has no such
 * octet (the common case: one pass over the labels) or its text form is not a name. */
static int flat_name(const uint8_t *name, size_t len, uint8_t *alt)
{
    bool odd = false;
    for (size_t pos = 0; pos < len && name[pos] && !odd; pos += 1 + (size_t)name[pos])
        for (size_t i = 1; i <= name[pos] && pos + i < len && !odd; i++)
            odd = name[pos + i] == '.' || name[pos + i] == 0;
    if (!odd)
        return 0;
    size_t out = 0, lab = 0; /* alt[lab] is the length octet of the label being written */
    alt[0] = 0;
    out = 1;
    for (size_t pos = 0; pos < len && name[pos]; pos += 1 + (size_t)name[pos]) {
        for (size_t i = 1; i <= name[pos] && pos + i < len; i++) {
            uint8_t c = name[pos + i];
            if (c == 0)
                goto end;
            if (c == '.') {
                if (alt[lab]) {
                    lab = out++;
                    alt[lab] = 0;
                }
                continue;
            }
            if (alt[lab] == 63 || out + 2 > MW_DNAME_MAX)
                return 0;
            alt[out++] = c;
            alt[lab]++;
        }
        if (alt[lab]) { /* the wire label boundary is a dot in text form too */
            lab = out++;
            alt[lab] = 0;
        }
    }
end:
    if (alt[lab]) {
        if (out + 1 > MW_DNAME_MAX)
            return 0;
        alt[out++] = 0;
    }
    return (int)out;
}

/* check_one on the name and, when the name holds a "." or NUL inside a label and nothing
 * matched it, on its text reading (flat_name): a block of either blocks. An allow rule matching
 * only the text reading does not allow the name (it is not the name the rule was written for),
 * so the answer is still checked. */
static enum mw_filter_result check_name(const struct mw_lists *l, const struct mw_group_conf *g,
                                        const uint8_t *name, size_t len, enum mw_where where,
                                        struct mw_verdict *v, bool explain, bool defer)
{
    enum mw_filter_result r = check_one(l, g, name, len, where, v, explain, defer);
    if (r != MW_FILTER_PASS)
        return r;
    uint8_t alt[MW_DNAME_MAX + 1];
    int al = flat_name(name, len, alt);
    if (al <= 1)
        return r;
    /* alt lives on this stack: the rule text is written now, never deferred. */
    r = check_one(l, g, alt, (size_t)al, where, v, explain, false);
    return r == MW_FILTER_BLOCK ? r : MW_FILTER_PASS;
}

enum mw_filter_result mw_filter_qname(const struct mw_lists *l, const struct mw_config *cfg,
                                      const struct mw_dns_question *q, struct mw_verdict *v)
{
    return mw_filter_qname_in(l, cfg, NULL, q, v);
}

enum mw_filter_result mw_filter_qname_in(const struct mw_lists *l, const struct mw_config *cfg,
                                         const struct mw_group_conf *g,
                                         const struct mw_dns_question *q, struct mw_verdict *v)
{
    (void)cfg;
    if (!l || l->n_lists == 0)
        return MW_FILTER_PASS;
    enum mw_filter_result r =
        check_name(l, g, q->qname, q->qname_len, MW_WHERE_QNAME, v, false, true);
    if (r == MW_FILTER_BLOCK)
        v->matched[0] = 0;
    return r;
}

enum mw_filter_result mw_filter_explain(const struct mw_lists *l, const struct mw_dns_question *q,
                                        struct mw_verdict *v)
{
    return mw_filter_explain_in(l, NULL, q, v);
}

enum mw_filter_result mw_filter_explain_in(const struct mw_lists *l, const struct mw_group_conf *g,
                                           const struct mw_dns_question *q, struct mw_verdict *v)
{
    memset(v, 0, sizeof(*v));
    if (!l || l->n_lists == 0)
        return MW_FILTER_PASS;
    return check_name(l, g, q->qname, q->qname_len, MW_WHERE_QNAME, v, true, false);
}

/* The deciding IP rule over the file lists and the Redis IP lists: longest prefix, then
 * allow. */
static bool match_ips(const struct mw_lists *l, const struct mw_group_conf *g, int family,
                      const uint8_t *addr, struct mw_ip_match *best)
{
    bool found = mw_ipset_match(l->ips, family, addr, best);
    if (found && !in_group(l, g, best->rule.list)) { /* the group's own longest prefix */
        struct member mb = {l, g};
        found = mw_ipset_match_if(l->ips, family, addr, is_member, &mb, best);
    }
    for (uint16_t i = 0; i < l->n_rlists; i++) {
        const struct mw_rlist *r = l->rlists[i];
        struct mw_ip_match m;
        if (r->meta.type != MW_LIST_IP || !in_group(l, g, (uint16_t)(l->rlist_base + i)) ||
            !r->ips || !mw_ipset_match(r->ips, family, addr, &m))
            continue;
        m.rule.list = (uint16_t)(l->rlist_base + i);
        m.rule.flags = r->allow ? MW_RULE_ALLOW : 0;
        if (!found || m.prefix.prefix > best->prefix.prefix ||
            (m.prefix.prefix == best->prefix.prefix && (m.rule.flags & MW_RULE_ALLOW) &&
             !(best->rule.flags & MW_RULE_ALLOW))) {
            *best = m;
            found = true;
        }
    }
    return found;
}

static int asn_key_cmp(const void *a, const void *b)
{
    const struct mw_asn_rule *x = a, *y = b;
    return x->asn < y->asn ? -1 : x->asn > y->asn;
}

/* The AS rule for asn over the file lists and the Redis AS lists: allow wins. */
static bool match_asn(const struct mw_lists *l, const struct mw_group_conf *g, uint32_t asn,
                      struct mw_asn_rule *out)
{
    const struct mw_asn_rule *fr = mw_lists_asn(l, asn);
    /* Every rule of an AS is kept, in precedence order (allow, list): the group's is the first
     * of its lists. */
    while (fr && !in_group(l, g, fr->rule.list))
        fr = fr + 1 < l->asns + l->n_asns && fr[1].asn == asn ? fr + 1 : NULL;
    bool found = fr != NULL;
    if (fr)
        *out = *fr;
    struct mw_asn_rule key = {.asn = asn};
    for (uint16_t i = 0; i < l->n_rlists && !(found && (out->rule.flags & MW_RULE_ALLOW)); i++) {
        const struct mw_rlist *r = l->rlists[i];
        if (r->meta.type != MW_LIST_ASN || !r->n_asns ||
            !in_group(l, g, (uint16_t)(l->rlist_base + i)) ||
            !bsearch(&key, r->asns, r->n_asns, sizeof(key), asn_key_cmp))
            continue;
        if (!found || r->allow) {
            out->asn = asn;
            out->rule = (struct mw_rule){.list = (uint16_t)(l->rlist_base + i),
                                         .flags = r->allow ? MW_RULE_ALLOW : 0};
            found = true;
        }
    }
    return found;
}

static bool has_asn_rules(const struct mw_lists *l)
{
    if (l->n_asns)
        return true;
    for (uint16_t i = 0; i < l->n_rlists; i++)
        if (l->rlists[i]->meta.type == MW_LIST_ASN && l->rlists[i]->n_asns)
            return true;
    return false;
}

static enum mw_filter_result check_addr(const struct mw_lists *l, const struct mw_group_conf *g,
                                        int family, const uint8_t *addr, struct mw_verdict *v)
{
    struct mw_ip_match m;
    char text[INET6_ADDRSTRLEN];
    v->rule_wire = NULL; /* the rule text is always written here */
    if (match_ips(l, g, family, addr, &m)) {
        if (m.rule.flags & MW_RULE_ALLOW)
            return MW_FILTER_ALLOW;
        resolve_action(l, g, &m.rule, v);
        v->where = MW_WHERE_ANSWER_IP;
        mw_cidr_format(&m.prefix, v->rule_text, sizeof(v->rule_text));
        inet_ntop(family, addr, text, sizeof(text));
        snprintf(v->matched, sizeof(v->matched), "%s", text);
        return MW_FILTER_BLOCK;
    }
    struct mw_geo_info gi;
    if (!l->geo || !has_asn_rules(l) || mw_geo_lookup(l->geo, family, addr, &gi) < 0 ||
        !gi.found_asn)
        return MW_FILTER_PASS;
    struct mw_asn_rule ar;
    if (!match_asn(l, g, gi.asn, &ar))
        return MW_FILTER_PASS;
    if (ar.rule.flags & MW_RULE_ALLOW)
        return MW_FILTER_ALLOW;
    resolve_action(l, g, &ar.rule, v);
    v->where = MW_WHERE_ASN;
    snprintf(v->rule_text, sizeof(v->rule_text), "AS%u", ar.asn);
    inet_ntop(family, addr, text, sizeof(text));
    snprintf(v->matched, sizeof(v->matched), "%s", text);
    return MW_FILTER_BLOCK;
}

enum mw_filter_result mw_filter_explain_addr(const struct mw_lists *l, int family,
                                             const uint8_t *addr, struct mw_verdict *v)
{
    return mw_filter_explain_addr_in(l, NULL, family, addr, v);
}

enum mw_filter_result mw_filter_explain_addr_in(const struct mw_lists *l,
                                                const struct mw_group_conf *g, int family,
                                                const uint8_t *addr, struct mw_verdict *v)
{
    memset(v, 0, sizeof(*v));
    if (!l || l->n_lists == 0)
        return MW_FILTER_PASS;
    struct mw_ip_match m;
    if (match_ips(l, g, family, addr, &m) && (m.rule.flags & MW_RULE_ALLOW)) {
        /* check_addr stops at an allow rule without text: --explain wants the rule. */
        v->rule = m.rule;
        v->where = MW_WHERE_ANSWER_IP;
        mw_cidr_format(&m.prefix, v->rule_text, sizeof(v->rule_text));
        return MW_FILTER_ALLOW;
    }
    struct mw_geo_info gi;
    struct mw_asn_rule ar;
    if (!match_ips(l, g, family, addr, &m) && l->geo &&
        mw_geo_lookup(l->geo, family, addr, &gi) == 0 && gi.found_asn &&
        match_asn(l, g, gi.asn, &ar) && (ar.rule.flags & MW_RULE_ALLOW)) {
        v->rule = ar.rule;
        v->where = MW_WHERE_ASN;
        snprintf(v->rule_text, sizeof(v->rule_text), "AS%u", ar.asn);
        return MW_FILTER_ALLOW;
    }
    return check_addr(l, g, family, addr, v);
}

enum mw_filter_result mw_filter_explain_asn(const struct mw_lists *l, uint32_t asn,
                                            struct mw_verdict *v)
{
    return mw_filter_explain_asn_in(l, NULL, asn, v);
}

enum mw_filter_result mw_filter_explain_asn_in(const struct mw_lists *l,
                                               const struct mw_group_conf *g, uint32_t asn,
                                               struct mw_verdict *v)
{
    memset(v, 0, sizeof(*v));
    struct mw_asn_rule ar;
    if (!l || l->n_lists == 0 || !match_asn(l, g, asn, &ar))
        return MW_FILTER_PASS;
    v->where = MW_WHERE_ASN;
    snprintf(v->rule_text, sizeof(v->rule_text), "AS%u", ar.asn);
    if (ar.rule.flags & MW_RULE_ALLOW) {
        v->rule = ar.rule;
        return MW_FILTER_ALLOW;
    }
    resolve_action(l, g, &ar.rule, v);
    return MW_FILTER_BLOCK;
}

/* A name found in an answer record (CNAME/DNAME target, owner, SVCB target) at pkt[*pos]. */
static enum mw_filter_result check_rr_name(const struct mw_lists *l, const struct mw_group_conf *g,
                                           const uint8_t *pkt, size_t len, size_t pos,
                                           enum mw_where where, struct mw_verdict *v)
{
    uint8_t name[MW_DNAME_MAX + 1];
    int nl = mw_dname_unpack(pkt, len, &pos, name, sizeof(name));
    if (nl <= 1) /* unreadable, or the root (an SVCB target "." stands for the owner) */
        return MW_FILTER_PASS;
    enum mw_filter_result r = check_name(l, g, name, (size_t)nl, where, v, false, false);
    if (r == MW_FILTER_BLOCK &&
        mw_dname_to_text(name, (size_t)nl, v->matched, sizeof(v->matched)) < 0)
        v->matched[0] = 0;
    return r;
}

/* One walk over a response: what is checked, and the guard's lazily computed exemption of the
 * question name. */
struct walk {
    const struct mw_lists *l;
    const struct mw_group_conf *g; /* the client's group, NULL: default */
    const struct mw_config *cfg;
    const uint8_t *pkt;
    size_t len;
    bool lists;          /* there are lists to check names and addresses against */
    bool metadata, priv; /* the guard's classes */
    int8_t q_exempt;     /* -1 not yet known, 0 guarded, 1 exempt */
};

static bool is_public(const struct mw_lists *l, const uint8_t *name, size_t len)
{
    if (l && l->regdom)
        return mw_regdom_is_public(l->regdom, name, len);
    return len > 1 && (size_t)name[0] + 2 < len; /* two labels or more */
}

/* Is an answer owned by the name at pkt[owner] exempt from the guard: its question name is
 * not public or is under an internal zone, or the owner itself is under an internal zone (a
 * public name CNAMEd into the VPC's private zone)? Only asked once an address is guarded. */
static bool exempt(struct walk *w, size_t owner)
{
    uint8_t name[MW_DNAME_MAX + 1];
    if (w->q_exempt < 0) {
        size_t pos = MW_DNS_HDR;
        int nl = mw_dname_unpack(w->pkt, w->len, &pos, name, sizeof(name));
        w->q_exempt = nl > 0 && (!is_public(w->l, name, (size_t)nl) ||
                                 mw_config_is_internal(w->cfg, name, (size_t)nl));
    }
    if (w->q_exempt)
        return true;
    int nl = mw_dname_unpack(w->pkt, w->len, &owner, name, sizeof(name));
    return nl > 0 && mw_config_is_internal(w->cfg, name, (size_t)nl);
}

/* An address of an answer or additional record (or an SVCB hint) owned by pkt[owner]: the IP
 * and AS rules, then, when none decided, the rebinding guard. */
static enum mw_filter_result check_answer_addr(struct walk *w, int family, const uint8_t *addr,
                                               size_t owner, struct mw_verdict *v)
{
    if (w->lists) {
        enum mw_filter_result r = check_addr(w->l, w->g, family, addr, v);
        if (r != MW_FILTER_PASS) /* an IP or AS allow rule vouches for the address */
            return r;
    }
    enum mw_rebind_class c = mw_rebind_classify(family, addr);
    if (!mw_rebind_guarded(c, w->metadata, w->priv) || exempt(w, owner))
        return MW_FILTER_PASS;
    v->rule = (struct mw_rule){.list = MW_LIST_DETECT + MW_DETECT_REBINDING};
    v->action = group_action(w->l, w->g, v->rule.list, w->cfg->detect.rebinding.action);
    v->where = MW_WHERE_ANSWER_IP;
    v->rule_wire = NULL;
    v->sink4 = v->sink6 = NULL;
    v->detect_class = (uint8_t)c;
    snprintf(v->rule_text, sizeof(v->rule_text), "rebinding:%s", mw_rebind_class_name(c));
    if (!inet_ntop(family, addr, v->matched, sizeof(v->matched)))
        v->matched[0] = 0;
    return MW_FILTER_BLOCK;
}

/* SVCB/HTTPS rdata (RFC 9460): priority, TargetName (never compressed), then SvcParams as
 * (key, length, value); ipv4hint (4) and ipv6hint (6) are addresses a client may connect to
 * without asking for A/AAAA, so they are checked as answer addresses. */
static enum mw_filter_result check_svcb(struct walk *w, size_t owner, size_t rd, size_t rdlen,
                                        struct mw_verdict *v)
{
    const uint8_t *pkt = w->pkt;
    size_t end = rd + rdlen, pos = rd + 2;
    if (rdlen < 3)
        return MW_FILTER_PASS;
    enum mw_filter_result r = MW_FILTER_PASS;
    if (w->lists)
        r = check_rr_name(w->l, w->g, pkt, end, pos, MW_WHERE_ANSWER_NAME, v);
    if (r == MW_FILTER_BLOCK || mw_dname_skip(pkt, end, &pos) < 0)
        return r;
    while (end - pos >= 4) {
        uint16_t key = mw_dns_get16(pkt + pos);
        size_t vl = mw_dns_get16(pkt + pos + 2), val = pos + 4;
        if (vl > end - val)
            return MW_FILTER_PASS;
        size_t step = key == 4 ? 4 : key == 6 ? 16 : 0;
        for (size_t a = 0; step && a + step <= vl; a += step) {
            if (check_answer_addr(w, step == 4 ? AF_INET : AF_INET6, pkt + val + a, owner, v) ==
                MW_FILTER_BLOCK)
                return MW_FILTER_BLOCK;
        }
        pos = val + vl;
    }
    return MW_FILTER_PASS;
}

enum mw_filter_result mw_filter_answer(const struct mw_lists *l, const struct mw_config *cfg,
                                       const uint8_t *pkt, size_t len, struct mw_verdict *v)
{
    return mw_filter_answer_in(l, cfg, NULL, pkt, len, v);
}

enum mw_filter_result mw_filter_answer_in(const struct mw_lists *l, const struct mw_config *cfg,
                                          const struct mw_group_conf *g, const uint8_t *pkt,
                                          size_t len, struct mw_verdict *v)
{
    v->rule_wire = NULL;
    struct walk w = {.l = l, .g = g, .cfg = cfg, .pkt = pkt, .len = len, .q_exempt = -1};
    w.lists = l && l->n_lists > 0;
    if (cfg) {
        w.metadata = cfg->detect.rebinding.metadata;
        w.priv = cfg->detect.rebinding.private_ranges;
    }
    if ((!w.lists && !w.metadata && !w.priv) || len < MW_DNS_HDR)
        return MW_FILTER_PASS;
    struct mw_dns_iter it;
    struct mw_dns_rr rr;
    if (mw_dns_iter_init(&it, pkt, len) < 0)
        return MW_FILTER_PASS;
    /* Every section, whatever the chain: a client or a cache downstream may use any record of
     * the message, so no depth limit and no "is it in the chain" test. Answer and additional
     * owner names are checked too (a record for a listed name slipped in beside the answer
     * would otherwise reach a caching stub such as systemd-resolved); authority owners are the
     * zones of the names above and are not, so an RPZ exact rule on a parent keeps its
     * meaning. The walk stops at the first unreadable record: mw_dns_prepare_response has
     * validated every stored message, so that only happens to input that is never served.
     * The rebinding guard leaves the authority section alone too: glue of a name server is
     * not an address a client is told to connect to. */
    uint16_t last_ptr = 0xc000 | MW_DNS_HDR; /* the question name: the caller checks it */
    while (mw_dns_iter_next(&it, &rr) > 0) {
        size_t owner = rr.owner, rd = rr.rdata, rdlen = rr.rdlen;
        uint16_t type = rr.type;
        bool authority = rr.section == MW_SECTION_AUTHORITY;
        enum mw_filter_result r = MW_FILTER_PASS;
        /* Owners are nearly always a pointer to the question or repeat the previous one:
         * such a repeat is not looked up again. */
        uint16_t ptr =
            owner + 2 <= len && (pkt[owner] & 0xc0) == 0xc0 ? mw_dns_get16(pkt + owner) : 0;
        if (w.lists && !authority && type != MW_TYPE_OPT && (!ptr || ptr != last_ptr))
            r = check_rr_name(l, g, pkt, len, owner, MW_WHERE_ANSWER_NAME, v);
        if (ptr && !authority)
            last_ptr = ptr;
        if (r == MW_FILTER_BLOCK)
            return r;
        int family = type == MW_TYPE_A && rdlen == 4       ? AF_INET
                     : type == MW_TYPE_AAAA && rdlen == 16 ? AF_INET6
                                                           : 0;
        if ((type == MW_TYPE_CNAME || type == MW_TYPE_DNAME) && w.lists)
            r = check_rr_name(l, g, pkt, len, rd, MW_WHERE_CNAME, v);
        else if (family && authority && w.lists)
            r = check_addr(l, g, family, pkt + rd, v);
        else if (family && !authority)
            r = check_answer_addr(&w, family, pkt + rd, owner, v);
        else if ((type == MW_TYPE_SVCB || type == MW_TYPE_HTTPS) && !authority)
            r = check_svcb(&w, owner, rd, rdlen, v);
        /* An allowed target or address only vouches for itself: keep checking the rest. */
        if (r == MW_FILTER_BLOCK)
            return r;
    }
    return MW_FILTER_PASS;
}

enum mw_filter_result mw_filter_response(const struct mw_lists *l, const struct mw_config *cfg,
                                         const struct mw_dns_question *q, const uint8_t *pkt,
                                         size_t len, struct mw_verdict *v)
{
    return mw_filter_response_in(l, cfg, NULL, q, pkt, len, v);
}

enum mw_filter_result mw_filter_response_in(const struct mw_lists *l, const struct mw_config *cfg,
                                            const struct mw_group_conf *g,
                                            const struct mw_dns_question *q, const uint8_t *pkt,
                                            size_t len, struct mw_verdict *v)
{
    enum mw_filter_result r = mw_filter_qname_in(l, cfg, g, q, v);
    if (r == MW_FILTER_ALLOW || (r == MW_FILTER_BLOCK && v->action != MW_ACTION_LOG))
        return r;
    /* A monitored query name was recorded when it was asked; its answer is still checked. */
    return mw_filter_answer_in(l, cfg, g, pkt, len, v);
}
