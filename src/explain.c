/* --explain: see explain.h. The decision comes from the same filter functions the resolver
 * runs over all lists together; to find every list that holds the input (the combined sets
 * keep one rule per name, whichever list it came from), each list is also loaded alone and
 * asked the same question. That parses every list twice, which a one-shot operator command can
 * afford and the resolver never does. For a name it also prints the generated-domain (DGA)
 * score of its registered-domain label (regdom.c finds it, dga.c's model scores it). */
#include "minewall/explain.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <idn2.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/config.h"
#include "minewall/dga.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/dnstext.h"
#include "minewall/error.h"
#include "minewall/filter.h"
#include "minewall/geo.h"
#include "minewall/groups.h"
#include "minewall/lists.h"
#include "minewall/localzone.h"
#include "minewall/rebind.h"
#include "minewall/regdom.h"
#include "minewall/rlist.h"
#include "minewall/server.h"

#define MAX_SYNCED 256
#define MAX_HOLDERS 512

enum input_kind { IN_NAME, IN_ADDR, IN_ASN };

struct input {
    enum input_kind kind;
    char text[MW_DNAME_MAX * 4 + 1]; /* the name as looked up (A-labels), or the address */
    struct mw_dns_question q;        /* IN_NAME */
    int family;                      /* IN_ADDR */
    uint8_t addr[16];
    uint32_t asn; /* IN_ASN */
};

/* One list that holds the input. */
struct holder {
    char name[MW_LIST_NAME_MAX + 1];
    char category[MW_CATEGORY_MAX + 1];
    const char *origin; /* "file" or "redis" */
    char source[4200];  /* "PATH:LINE" or "redis list NAME (state PATH)" */
    char rule[280];
    enum mw_filter_result r;
    enum mw_action action;
    int spec; /* how specific the rule is: labels of a name, prefix length; 0 patterns */
};

/* AS64500, as64500 or 64500 (the whole text, at most 2^32 - 1). */
static bool parse_asn(const char *s, uint32_t *out)
{
    if ((s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's'))
        s += 2;
    if (!*s || strlen(s) > 10)
        return false;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    unsigned long long v = strtoull(s, NULL, 10);
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

static int parse_input(const char *s, struct input *in, char *why, size_t why_len)
{
    memset(in, 0, sizeof(*in));
    if (parse_asn(s, &in->asn)) {
        in->kind = IN_ASN;
        snprintf(in->text, sizeof(in->text), "AS%u", in->asn);
        return 0;
    }
    if (inet_pton(AF_INET, s, in->addr) == 1 || inet_pton(AF_INET6, s, in->addr) == 1) {
        in->kind = IN_ADDR;
        in->family = strchr(s, ':') ? AF_INET6 : AF_INET;
        inet_ntop(in->family, in->addr, in->text, sizeof(in->text));
        return 0;
    }
    in->kind = IN_NAME;
    bool ascii = true;
    for (const char *p = s; *p; p++)
        ascii = ascii && !((unsigned char)*p & 0x80);
    if (ascii) {
        snprintf(in->text, sizeof(in->text), "%s", s);
    } else {
        /* As list entries are converted (listfile.c), so the name meets its entry. */
        char *a = NULL;
        int rc = idn2_to_ascii_8z(s, &a, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
        if (rc != IDN2_OK) {
            snprintf(why, why_len, "IDN conversion failed: %s", idn2_strerror(rc));
            return -EINVAL;
        }
        snprintf(in->text, sizeof(in->text), "%s", a);
        idn2_free(a);
    }
    int n = mw_dname_from_text(in->text, in->q.qname, sizeof(in->q.qname));
    if (n < 0) {
        snprintf(why, why_len, "not a name, an address or an AS number");
        return -EINVAL;
    }
    in->q.qname_len = (uint16_t)n;
    in->q.qtype = MW_TYPE_A;
    in->q.qclass = 1;
    return 0;
}

/* The verdict of group g (NULL: default) over the lists l. */
static enum mw_filter_result decide(const struct mw_lists *l, const struct input *in,
                                    struct mw_verdict *v, const struct mw_group_conf *g)
{
    switch (in->kind) {
    case IN_NAME: {
        enum mw_filter_result r = mw_filter_explain_in(l, g, &in->q, v);
        if (r == MW_FILTER_BLOCK)
            mw_verdict_rule_text(v);
        return r;
    }
    case IN_ADDR:
        return mw_filter_explain_addr_in(l, g, in->family, in->addr, v);
    case IN_ASN:
        return mw_filter_explain_asn_in(l, g, in->asn, v);
    }
    return MW_FILTER_PASS;
}

/* Labels of a name rule ("*.x.example" counts as below x.example), a prefix's length. */
static int specificity(const struct input *in, const char *rule)
{
    if (in->kind == IN_ASN)
        return 0;
    if (in->kind == IN_ADDR) {
        const char *slash = strchr(rule, '/');
        return slash ? atoi(slash + 1) : (strchr(rule, ':') ? 128 : 32);
    }
    if (strpbrk(rule, "?[") || (strchr(rule, '*') && strncmp(rule, "*.", 2) != 0) ||
        (strncmp(rule, "*.", 2) == 0 && strchr(rule + 2, '*')))
        return 0; /* a pattern: checked only when no domain rule matches */
    int n = 1;
    for (const char *p = rule; *p; p++)
        n += *p == '.';
    return n;
}

static void add_holder(struct holder *h, size_t *n, const struct mw_lists *one, uint16_t idx,
                       const struct input *in, const char *state_dir)
{
    struct mw_verdict v;
    enum mw_filter_result r = decide(one, in, &v, NULL);
    if (r == MW_FILTER_PASS || *n >= MAX_HOLDERS)
        return;
    const struct mw_list_info *li = &one->lists[v.rule.list < one->n_lists ? v.rule.list : idx];
    struct holder *x = &h[(*n)++];
    snprintf(x->name, sizeof(x->name), "%s", li->name);
    snprintf(x->category, sizeof(x->category), "%s", li->category);
    x->r = r;
    x->action = v.action;
    snprintf(x->rule, sizeof(x->rule), "%s", v.rule_text);
    x->spec = specificity(in, x->rule);
    if (state_dir) {
        x->origin = "redis";
        snprintf(x->source, sizeof(x->source), "redis list %s (state %s/%s.list)", li->name,
                 state_dir, li->name);
    } else {
        x->origin = "file";
        snprintf(x->source, sizeof(x->source), "%s:%u", li->path, v.rule.line);
    }
}

/* Each enabled file list built alone, through a shallow copy of the config that names only
 * that list (cfg may be the running one: it is never written). */
static void file_holders(const struct mw_config *cfg, const struct input *in, struct holder *h,
                         size_t *n)
{
    for (size_t i = 0; i < cfg->n_lists; i++) {
        if (!cfg->lists[i].enabled)
            continue;
        struct mw_config one_cfg = *cfg;
        one_cfg.lists = &cfg->lists[i];
        one_cfg.n_lists = 1;
        struct mw_errlist errs;
        mw_errlist_init(&errs); /* already reported by the full build */
        struct mw_lists *one = mw_lists_build(&one_cfg, 1, &errs, NULL);
        mw_errlist_deinit(&errs);
        if (one)
            add_holder(h, n, one, 0, in, NULL);
        mw_lists_unref(one);
    }
}

static void redis_holders(const struct mw_config *cfg, struct mw_rlist *const *synced,
                          size_t n_synced, const struct input *in, struct holder *h, size_t *n)
{
    if (!n_synced)
        return;
    struct mw_config none_cfg = *cfg;
    none_cfg.n_lists = 0; /* a file generation with no list (geoip still opened) */
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    struct mw_lists *none = mw_lists_build(&none_cfg, 1, &errs, NULL);
    mw_errlist_deinit(&errs);
    for (size_t i = 0; none && i < n_synced; i++) {
        struct mw_lists *one = mw_lists_derive(none, (struct mw_rlist **)&synced[i], 1, 2, cfg);
        if (one)
            add_holder(h, n, one, one->rlist_base, in, cfg->redis.state_dir);
        mw_lists_unref(one);
    }
    mw_lists_unref(none);
}

/* The Redis lists as last synced into the state directory (what the resolver enforces at
 * start). Returns how many were loaded into out (at most cap). */
static size_t load_synced(const struct mw_config *cfg, struct mw_rlist **out, size_t cap)
{
    size_t n = 0;
    DIR *d = cfg->redis.url && cfg->redis.state_dir ? opendir(cfg->redis.state_dir) : NULL;
    struct dirent *de;
    while (d && n < cap && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || strcmp(de->d_name + len - 5, ".list") != 0)
            continue;
        bool wanted = cfg->redis.all;
        for (size_t i = 0; !wanted && i < cfg->redis.n_lists; i++)
            wanted = strlen(cfg->redis.lists[i]) == len - 5 &&
                     strncmp(cfg->redis.lists[i], de->d_name, len - 5) == 0;
        if (!wanted)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", cfg->redis.state_dir, de->d_name);
        int err;
        if ((out[n] = mw_rlist_load(path, &err)))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Why the deciding rule beat the other holders, in one sentence. */
static void why_won(const struct holder *h, size_t n, const struct holder *w,
                    const struct input *in, FILE *out)
{
    size_t less = 0, equal_block = 0, equal_same = 0;
    const struct holder *beaten = NULL;
    for (size_t i = 0; i < n; i++) {
        if (&h[i] == w)
            continue;
        if (h[i].spec < w->spec) {
            less++;
            beaten = beaten ? beaten : &h[i];
        } else if (h[i].spec == w->spec && w->r == MW_FILTER_ALLOW && h[i].r == MW_FILTER_BLOCK) {
            equal_block++;
        } else {
            equal_same++;
        }
    }
    if (n == 1) {
        fprintf(out, "  why:    '%s' is the only list that holds %s\n", w->name, in->text);
    } else if (in->kind == IN_ASN) {
        fprintf(out, "  why:    %s\n",
                w->r == MW_FILTER_ALLOW ? "an allow rule for an AS number beats block rules"
                                        : "several AS lists hold it: the first loaded decides");
    } else if (equal_block) {
        fprintf(out, "  why:    at equal specificity an allow rule beats a block rule%s\n",
                less ? ", and it is more specific than the others" : "");
    } else if (less && !equal_same && beaten->spec == 0 && in->kind == IN_NAME) {
        fprintf(out, "  why:    a domain rule decides before any pattern (%s in %s)\n",
                beaten->rule, beaten->name);
    } else if (less && !equal_same) {
        fprintf(out, "  why:    the most specific rule wins: %s is more specific than %s (%s)\n",
                w->rule, beaten->rule, beaten->name);
    } else if (w->spec == 0 && in->kind == IN_NAME) {
        fprintf(out, "  why:    no domain rule holds it; the first matching pattern decides\n");
    } else {
        fprintf(out, "  why:    rules of equal specificity%s: the list loaded first decides\n",
                w->r == MW_FILTER_ALLOW ? " (all allow)" : "");
    }
}

/* The records a sinkholed A or AAAA query gets: the rule's RPZ local data, else the
 * configured addresses, in presentation format (ldns's, through dnstext). */
static void print_sinkhole(const struct mw_config *cfg, const struct mw_verdict *v, FILE *out)
{
    char a[64], aaaa[64];
    if (mw_dnstext_rdata(MW_TYPE_A, v->sink4 ? v->sink4 : cfg->sinkhole.ipv4, 4, a, sizeof(a)) <
            0 ||
        mw_dnstext_rdata(MW_TYPE_AAAA, v->sink6 ? v->sink6 : cfg->sinkhole.ipv6, 16, aaaa,
                         sizeof(aaaa)) < 0)
        return;
    fprintf(out, "  answer: A %s, AAAA %s (TTL %u%s)\n", a, aaaa, (unsigned)cfg->sinkhole.ttl,
            v->sink4 || v->sink6 ? ", local data of the rule" : "");
}

/* The registered domain of a name and what the rebinding guard makes of it; for an address,
 * its guard class. */
static void report_detect(const struct mw_config *cfg, const struct mw_lists *l,
                          const struct input *in, FILE *out)
{
    const struct mw_regdom *rd = l->regdom;
    const char *guard = cfg->detect.rebinding.private_ranges
                            ? "metadata, loopback, link-local and private addresses"
                        : cfg->detect.rebinding.metadata ? "metadata addresses"
                                                         : "off";
    if (in->kind == IN_ADDR) {
        enum mw_rebind_class c = mw_rebind_classify(in->family, in->addr);
        if (c == MW_REBIND_NONE)
            return;
        bool on = mw_rebind_guarded(c, cfg->detect.rebinding.metadata,
                                    cfg->detect.rebinding.private_ranges);
        fprintf(out, "%s: %s address: %s for public names (detect.rebinding, action %s)\n",
                in->text, mw_rebind_class_name(c), on ? "blocked" : "not guarded",
                mw_action_name(cfg->detect.rebinding.action));
        return;
    }
    if (in->kind != IN_NAME)
        return;
    const uint8_t *w = in->q.qname;
    size_t wl = in->q.qname_len;
    int off = rd ? mw_regdom_find(rd, w, wl) : -ENOENT;
    char text[MW_DNAME_MAX * 4 + 1];
    if (off >= 0 && mw_dname_to_text(w + off, wl - (size_t)off, text, sizeof(text)) >= 0)
        fprintf(out, "%s: registered domain %s (public suffix list: %s)\n", in->text, text,
                mw_regdom_source(rd));
    else
        fprintf(out, "%s: no registered domain (public suffix list: %s)\n", in->text,
                rd ? mw_regdom_source(rd) : "none loaded");
    const char *why = NULL;
    if (rd && !mw_regdom_is_public(rd, w, wl))
        why = "exempt, not a public name";
    else if (mw_config_is_internal(cfg, w, wl))
        why = "exempt, under detect.rebinding.internal-zones";
    fprintf(out, "%s: rebinding guard (%s): %s\n", in->text, guard,
            why ? why : "its answers are checked");
}

/* The DGA score of the name's registered-domain label (the registered domain as
 * report_detect found it), one line. A model that does not load is reported on stderr and
 * does not change the exit code: the lists were explained. */
static void report_dga(const struct mw_config *cfg, const struct mw_regdom *rd,
                       const struct input *in, FILE *out)
{
    const uint8_t *w = in->q.qname;
    int off = rd ? mw_regdom_find(rd, w, in->q.qname_len) : -ENOENT;
    if (off < 0) {
        fprintf(out, "%s: DGA score: none (no registered domain)\n", in->text);
        return;
    }
    const char *label = (const char *)w + off + 1; /* the first label of the wire name */
    size_t label_len = w[off];
    char path[PATH_MAX + 32];
    if (cfg->detect.dga.model)
        snprintf(path, sizeof(path), "%s", cfg->detect.dga.model);
    else
        mw_dga_default_path(path, sizeof(path));
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    struct mw_dga_model *m = NULL;
    struct mw_dga_result r;
    if (mw_dga_load(path, &m, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "minewall: --explain: %s\n", errs.msgs[i]);
        fprintf(out, "%s: DGA score: none, the model did not load (%s)\n", in->text, path);
    } else if (mw_dga_score_wire(m, w + off, in->q.qname_len - (size_t)off, &r) == 0) {
        fprintf(out,
                "%s: DGA score of '%.*s' %d (log-odds %.2f), level %s (LOW from %d, MEDIUM "
                "from %d, HIGH from %d; model %s)\n",
                in->text, (int)label_len, label, r.score, r.logit, mw_dga_level_name(r.level),
                mw_dga_threshold(m, MW_DGA_LOW), mw_dga_threshold(m, MW_DGA_MEDIUM),
                mw_dga_threshold(m, MW_DGA_HIGH), path);
    }
    mw_errlist_deinit(&errs);
    mw_dga_free(m);
}

/* One local record as "NAME TTL TYPE DATA (FILE:LINE)". */
static void print_local_record(const struct mw_config *cfg, const char *owner,
                               const struct mw_dns_rrw *rr, int line, bool made, FILE *out)
{
    char type[32], data[1024];
    if (mw_dnstext_rdata(rr->type, rr->rdata, rr->rdlen, data, sizeof(data)) < 0)
        snprintf(data, sizeof(data), "(%u octets)", (unsigned)rr->rdlen);
    fprintf(out, "  data:   %s %u %s %s (%s%s:%d)\n", owner, (unsigned)rr->ttl,
            mw_dnstext_type(rr->type, type, sizeof(type)), data,
            made ? "made from the A/AAAA record at " : "", cfg->path, line);
}

/* Local data and local zones decide before any list: what they do with the name (an A query
 * and the other types). Returns true when they decide it, so the lists are never asked. */
static bool report_local(const struct mw_config *cfg, const struct mw_localzone *lz,
                         const struct input *in, size_t n_holders, FILE *out)
{
    struct mw_local_result r = {.zone_type = MW_LZ_NONE};
    enum mw_local_action a = mw_localzone_lookup(lz, &in->q, &r);
    if (a == MW_LOCAL_PASS && (!lz || r.zone_type == MW_LZ_NONE))
        return false;
    if (r.zone)
        fprintf(out, "%s: in local zone %s (%s, %s:%d)\n", in->text, r.zone,
                mw_localzone_type_name(r.zone_type), cfg->path, r.zone_line);
    if (a == MW_LOCAL_PASS) {
        fprintf(out,
                "%s: no local data; the transparent zone lets it through to the lists and "
                "upstream\n",
                in->text);
        return false;
    }
    const uint8_t *name = r.owner ? r.owner : in->q.qname;
    size_t len = r.owner ? r.owner_len : in->q.qname_len;
    char owner[MW_DNAME_MAX * 4 + 1];
    if (mw_dname_to_text(name, len, owner, sizeof(owner)) < 0)
        snprintf(owner, sizeof(owner), "%s", in->text);
    const struct mw_dns_rrw *rrs;
    int lines[64];
    bool made[64];
    size_t n = mw_localzone_records(lz, name, len, &rrs, lines, made, 64);
    fprintf(out, "%s: decided by local data, never forwarded: an A query gets %s", in->text,
            mw_local_action_name(a));
    if (a == MW_LOCAL_ANSWER && r.an && r.an[0].type != MW_TYPE_A)
        fprintf(out, " (%s)", r.an[0].type == MW_TYPE_CNAME ? "its CNAME, not followed" : "SOA");
    if (r.zone_type == MW_LZ_REDIRECT)
        fprintf(out, " (redirect: the data of %s for every name below it)", owner);
    fprintf(out, "\n");
    for (size_t i = 0; i < n && i < 64; i++)
        print_local_record(cfg, owner, &rrs[i], lines[i], made[i], out);
    if (n > 64)
        fprintf(out, "  ... %zu more records\n", n - 64);
    if (n)
        fprintf(out, "  other types: %s\n",
                r.zone ? "NODATA with the zone's SOA unless a record of the type is listed"
                       : "NODATA unless a record of the type is listed");
    fprintf(out, "  lists:  not consulted (local data wins over every list)%s\n",
            n_holders ? "; held by lists as below" : "");
    return true;
}

static void report(const struct mw_config *cfg, const struct mw_lists *l, const struct input *in,
                   const char *shown, const struct holder *h, size_t n, FILE *out,
                   struct mw_explain_summary *sum, const struct mw_group_conf *g)
{
    if (strcmp(shown, in->text) != 0)
        fprintf(out, "%s: looked up as %s\n", shown, in->text);
    if (in->kind == IN_NAME && ((g && g->local && report_local(cfg, g->local, in, n, out)) ||
                                report_local(cfg, cfg->local, in, n, out))) {
        for (size_t i = 0; i < n; i++)
            fprintf(out, "  - %s (category %s): %s %s at %s\n", h[i].name, h[i].category,
                    h[i].r == MW_FILTER_ALLOW ? "allow" : "rule", h[i].rule, h[i].source);
        return;
    }
    report_detect(cfg, l, in, out);
    if (in->kind == IN_NAME)
        report_dga(cfg, l->regdom, in, out);
    if (in->kind == IN_ADDR && l->geo) {
        struct mw_geo_info gi;
        if (mw_geo_lookup(l->geo, in->family, in->addr, &gi) == 0 && gi.found_asn)
            fprintf(out, "%s: AS%u (%s)\n", in->text, gi.asn, gi.as_org);
        else
            fprintf(out, "%s: no AS number known (geoip)\n", in->text);
    }
    fprintf(out, "%s: held by %zu list%s\n", in->text, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  - %s (category %s, origin %s): %s %s at %s%s%s\n", h[i].name, h[i].category,
                h[i].origin, h[i].r == MW_FILTER_ALLOW ? "allow" : "rule", h[i].rule, h[i].source,
                h[i].r == MW_FILTER_BLOCK ? ", action " : "",
                h[i].r == MW_FILTER_BLOCK ? mw_action_name(h[i].action) : "");

    struct mw_verdict v;
    enum mw_filter_result r = decide(l, in, &v, g);
    snprintf(sum->input, sizeof(sum->input), "%s", in->text);
    sum->holders = n;
    if (r == MW_FILTER_PASS) {
        fprintf(out, "%s: no list %smatches (resolved normally)\n", in->text,
                g && !g->all_lists ? "of the group " : "");
        return;
    }
    const struct mw_list_info *li = &l->lists[v.rule.list];
    /* A list with action log matches without blocking: the query is answered as usual. */
    bool monitored = r == MW_FILTER_BLOCK && v.action == MW_ACTION_LOG;
    const char *decision = r == MW_FILTER_ALLOW ? "allowed" : monitored ? "monitored" : "blocked";
    sum->decision = decision;
    snprintf(sum->list, sizeof(sum->list), "%s", li->name);
    snprintf(sum->rule, sizeof(sum->rule), "%s", v.rule_text);
    sum->action = r == MW_FILTER_BLOCK ? mw_action_name(v.action) : NULL;
    fprintf(out, "%s: %s by list '%s' (category %s, origin %s%s)%s%s%s\n", in->text, decision,
            li->name, li->category, li->origin, li->stale ? ", stale" : "", g ? " for group " : "",
            g ? g->name : "", monitored ? ": answered as usual, the hit is recorded" : "");
    const struct holder *w = NULL;
    for (size_t i = 0; i < n && !w; i++)
        if (strcmp(h[i].name, li->name) == 0)
            w = &h[i];
    fprintf(out, "  rule:   %s\n  source: %s\n", v.rule_text, w ? w->source : li->path);
    if (r == MW_FILTER_BLOCK)
        fprintf(out, "  action: %s%s\n", mw_action_name(v.action),
                v.where == MW_WHERE_PATTERN ? " (pattern)" : "");
    if (r == MW_FILTER_BLOCK && v.action == MW_ACTION_SINKHOLE)
        print_sinkhole(cfg, &v, out);
    if (w)
        why_won(h, n, w, in, out);
}

/* The group of client (text) for a query on listener (text or NULL) under cfg, chosen by the
 * matcher a query goes through (mw_groups_match), printed with what sets it apart. Returns the
 * group (NULL for default), or -EINVAL in *rc for a client (-EDESTADDRREQ for a listener)
 * that does not parse. */
static const struct mw_group_conf *report_group(const struct mw_config *cfg, const char *client,
                                                const char *listener, FILE *out,
                                                struct mw_explain_summary *sum, int *rc)
{
    *rc = 0;
    snprintf(sum->group, sizeof(sum->group), "default");
    if (!client)
        return NULL;
    struct mw_addr a, la;
    if (mw_addr_parse_ip(client, 0, &a) < 0) {
        *rc = -EINVAL;
        return NULL;
    }
    if (listener && mw_addr_parse(listener, 53, &la) < 0) {
        *rc = -EDESTADDRREQ;
        return NULL;
    }
    unsigned gi = mw_groups_match(cfg->group_match, &a.u.sa, listener ? &la : NULL);
    const struct mw_group_conf *g = gi && gi <= cfg->n_groups ? &cfg->groups[gi - 1] : NULL;
    snprintf(sum->group, sizeof(sum->group), "%s", mw_config_group_name(cfg, gi));
    char on[80] = "";
    if (listener) {
        char t[64] = "?";
        mw_addr_format(&la, t, sizeof(t));
        snprintf(on, sizeof(on), " on listener %s", t);
    }
    if (!g) {
        fprintf(out, "client %s%s: group default (the top-level settings)%s\n", client, on,
                mw_groups_uses_listeners(cfg->group_match) && !listener
                    ? "; groups restricted to listeners are not considered (--listener "
                      "ADDR[:PORT] names the arrival listener)"
                    : "");
        return NULL;
    }
    fprintf(out, "client %s%s: group %s (%s:%d)%s\n", client, on, g->name, cfg->path, g->line,
            g->n_listeners ? ", for queries on its listeners" : "");
    if (!g->all_lists) {
        fprintf(out, "  lists:");
        for (size_t i = 0; i < g->n_lists; i++)
            fprintf(out, " %s%s", g->is_cat[i] ? "category:" : "", g->lists[i]);
        fprintf(out, " (no other list applies)\n");
    }
    for (size_t i = 0; i < g->n_actions; i++)
        fprintf(out, "  action: %s%s -> %s\n", g->actions[i].category ? "category:" : "",
                g->actions[i].name, mw_action_name(g->actions[i].action));
    return g;
}

int mw_explain_lists(const struct mw_config *cfg, const struct mw_lists *l,
                     struct mw_rlist *const *synced, size_t n_synced, const char *input, FILE *out,
                     struct mw_explain_summary *sum, char *why, size_t why_len)
{
    return mw_explain_lists_for(cfg, l, synced, n_synced, input, NULL, NULL, out, sum, why,
                                why_len);
}

int mw_explain_lists_for(const struct mw_config *cfg, const struct mw_lists *l,
                         struct mw_rlist *const *synced, size_t n_synced, const char *input,
                         const char *client, const char *listener, FILE *out,
                         struct mw_explain_summary *sum, char *why, size_t why_len)
{
    struct input in;
    struct mw_explain_summary dummy;
    sum = sum ? sum : &dummy;
    memset(sum, 0, sizeof(*sum));
    sum->decision = "none";
    if (parse_input(input, &in, why, why_len) < 0)
        return -EINVAL;
    int grc;
    const struct mw_group_conf *g = report_group(cfg, client, listener, out, sum, &grc);
    if (grc == -EDESTADDRREQ) {
        snprintf(why, why_len, "listener '%.64s' is not ADDR[:PORT]", listener);
        return -EINVAL;
    }
    if (grc < 0) {
        snprintf(why, why_len, "client '%.64s' is not an IPv4 or IPv6 address", client);
        return -EINVAL;
    }
    /* Large (holders with their sources): off the stack, one at a time. */
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static struct holder holders[MAX_HOLDERS];
    pthread_mutex_lock(&mu);
    size_t n = 0;
    file_holders(cfg, &in, holders, &n);
    redis_holders(cfg, synced, n_synced, &in, holders, &n);
    report(cfg, l, &in, input, holders, n, out, sum, g);
    pthread_mutex_unlock(&mu);
    return 0;
}

int mw_explain_run(const struct mw_overrides *o, const char *input, FILE *out)
{
    return mw_explain_run_for(o, input, NULL, NULL, out);
}

int mw_explain_run_for(const struct mw_overrides *o, const char *input, const char *client,
                       const char *listener, FILE *out)
{
    struct input in;
    char why[128];
    if (parse_input(input, &in, why, sizeof(why)) < 0) {
        fprintf(stderr, "minewall: --explain: invalid input '%s': %s\n", input, why);
        return 2;
    }
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    struct mw_config *cfg = mw_server_load_config(o, &errs);
    struct mw_lists *files = cfg ? mw_lists_build(cfg, 1, &errs, NULL) : NULL;
    struct mw_regdom *rd = files ? mw_regdom_new(NULL) : NULL;
    if (files)
        files->regdom = rd;
    struct mw_rlist *synced[MAX_SYNCED];
    size_t n_synced = files ? load_synced(cfg, synced, MAX_SYNCED) : 0;
    struct mw_lists *l = files ? mw_lists_derive(files, synced, (uint16_t)n_synced, 2, cfg) : NULL;
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    mw_errlist_deinit(&errs);
    int rc = 1;
    if (l && mw_explain_lists_for(cfg, l, synced, n_synced, input, client, listener, out, NULL, why,
                                  sizeof(why)) == 0)
        rc = 0;
    else if (l)
        fprintf(stderr, "minewall: --explain: %s\n", why);
    for (size_t i = 0; i < n_synced; i++)
        mw_rlist_unref(synced[i]);
    mw_lists_unref(files);
    mw_lists_unref(l);
    mw_regdom_free(rd);
    mw_config_free(cfg);
    return rc;
}
