/* Building a generation of lists: each enabled list file is parsed once (listfile.c) straight
 * into the shared builders, so memory holds the compact sets and no intermediate copy. The
 * list's type forces the file format where the type leaves no choice (ip, asn, pattern);
 * domain lists may still carry addresses (urlhaus-style plain lists, RPZ rpz-ip triggers),
 * which go to the answer-address set with the same list index. */
#include "minewall/lists.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minewall/error.h"
#include "minewall/geo.h"
#include "minewall/ipset.h"
#include "minewall/listfile.h"
#include "minewall/patternset.h"
#include "minewall/rlist.h"
#include "minewall/strbuf.h"

struct build {
    struct mw_lists *l;
    struct mw_domainset_builder *dom;
    struct mw_ipset_builder *ip;
    struct mw_patternset_builder *pat;
    size_t asn_cap, local_cap;
    uint16_t list;
    bool allow;
    enum mw_list_type type;
    size_t wrong_type;
};

static int add_local(struct build *b, const struct mw_listfile_entry *e)
{
    struct mw_lists *l = b->l;
    if (l->n_local == b->local_cap) {
        size_t cap = b->local_cap ? b->local_cap * 2 : 64;
        struct mw_local_data *n = realloc(l->local, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        l->local = n;
        b->local_cap = cap;
    }
    struct mw_local_data *d = &l->local[l->n_local++];
    memset(d, 0, sizeof(*d));
    d->list = b->list;
    d->line = e->line;
    for (uint8_t i = 0; i < e->naddrs; i++) {
        const struct mw_cidr *a = &e->addrs[i];
        if (a->family == AF_INET && d->n4++ == 0)
            memcpy(d->v4, a->addr, 4);
        else if (a->family == AF_INET6 && d->n6++ == 0)
            memcpy(d->v6, a->addr, 16);
    }
    return 0;
}

static int add_asn(struct build *b, uint32_t asn, const struct mw_rule *r)
{
    struct mw_lists *l = b->l;
    if (l->n_asns == b->asn_cap) {
        size_t cap = b->asn_cap ? b->asn_cap * 2 : 64;
        struct mw_asn_rule *n = realloc(l->asns, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        l->asns = n;
        b->asn_cap = cap;
    }
    l->asns[l->n_asns].asn = asn;
    l->asns[l->n_asns].rule = *r;
    l->n_asns++;
    return 0;
}

static int on_entry(const struct mw_listfile_entry *e, void *arg)
{
    struct build *b = arg;
    struct mw_rule r = {.line = e->line,
                        .list = b->list,
                        .flags = (b->allow || e->allow) ? MW_RULE_ALLOW : 0,
                        .action = (uint8_t)e->action};
    switch (e->type) {
    case MW_LISTFILE_ENTRY_DOMAIN:
        if (b->type != MW_LIST_DOMAIN)
            break;
        if (e->action == MW_LISTFILE_ACT_SINKHOLE && e->naddrs && add_local(b, e) < 0)
            return -ENOMEM;
        if (e->allow && !b->allow)
            b->l->lists[b->list].exceptions++;
        return mw_domainset_builder_add(b->dom, e->name, e->name_len, (int)e->kind, &r);
    case MW_LISTFILE_ENTRY_IP:
        if (b->type != MW_LIST_DOMAIN && b->type != MW_LIST_IP)
            break;
        return mw_ipset_builder_add(b->ip, &e->cidr, &r);
    case MW_LISTFILE_ENTRY_ASN:
        if (b->type != MW_LIST_ASN)
            break;
        return add_asn(b, e->asn, &r);
    case MW_LISTFILE_ENTRY_PATTERN:
        if (b->type != MW_LIST_PATTERN)
            break;
        return mw_patternset_builder_add(b->pat, e->pattern, &r);
    }
    b->wrong_type++;
    return 0;
}

static int forced_format(const struct mw_list_conf *lc)
{
    if (lc->format)
        return lc->format;
    switch (lc->type) {
    case MW_LIST_IP:
        return MW_LISTFILE_FMT_IP;
    case MW_LIST_ASN:
        return MW_LISTFILE_FMT_ASN;
    case MW_LIST_PATTERN:
        return MW_LISTFILE_FMT_PATTERN;
    default:
        return MW_LISTFILE_FMT_AUTO;
    }
}

static int asn_cmp(const void *a, const void *b)
{
    const struct mw_asn_rule *x = a, *y = b;
    if (x->asn != y->asn)
        return x->asn < y->asn ? -1 : 1;
    /* Same AS twice: allow first, then the earlier list, so lookups find the winner. */
    int ax = !(x->rule.flags & MW_RULE_ALLOW), ay = !(y->rule.flags & MW_RULE_ALLOW);
    if (ax != ay)
        return ax - ay;
    return (int)x->rule.list - (int)y->rule.list;
}

static int local_cmp(const void *a, const void *b)
{
    const struct mw_local_data *x = a, *y = b;
    if (x->list != y->list)
        return (int)x->list - (int)y->list;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int load_one(struct build *b, const struct mw_list_conf *lc, struct mw_list_info *info,
                    struct mw_errlist *errs, size_t *warnings)
{
    struct mw_listfile_report rep;
    memset(&rep, 0, sizeof(rep));
    b->allow = lc->allow;
    b->type = lc->type;
    b->wrong_type = 0;
    int rc = mw_listfile_parse_file(lc->path, (enum mw_listfile_format)forced_format(lc), on_entry,
                                    b, &rep, errs);
    if (rc < 0)
        return rc;
    if (b->wrong_type)
        mw_errlist_add(errs, "%s: %zu entries of another type than the list's (%s) ignored",
                       lc->path, b->wrong_type, mw_list_type_name(lc->type));
    info->format = rep.format;
    info->content_hash = rep.content_hash;
    info->entries = rep.entries - b->wrong_type;
    info->bad = rep.bad;
    info->skipped = rep.skipped;
    if (warnings)
        *warnings += rep.bad + (b->wrong_type ? 1 : 0);
    return 0;
}

/* "minewall: <category>/<name>", the EDE extra text of a list's blocks. Names are capped
 * (config.h), so it always fits whole. */
_Static_assert(sizeof(((struct mw_list_info *)0)->ede_text) >
                   sizeof("minewall: /") + MW_CATEGORY_MAX + MW_LIST_NAME_MAX,
               "the EDE text holds names at their caps");
static void set_ede_text(struct mw_list_info *info, const char *category, const char *name)
{
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, info->ede_text, sizeof(info->ede_text));
    mw_strbuf_printf(&sb, "minewall: %s/%s", category, name);
}

static int fill_info(struct mw_list_info *info, const struct mw_list_conf *lc,
                     const struct mw_config *cfg)
{
    info->name = strdup(lc->name);
    info->category = strdup(lc->category);
    info->path = strdup(lc->path);
    info->origin = strdup("file");
    info->type = lc->type;
    info->allow = lc->allow;
    info->action = lc->action != MW_ACTION_DEFAULT ? lc->action : cfg->sinkhole.action;
    set_ede_text(info, lc->category, lc->name);
    return info->name && info->category && info->path && info->origin ? 0 : -ENOMEM;
}

/* A growing byte buffer for the input description. */
struct desc {
    uint8_t *p;
    size_t len, cap;
    int err;
};

static void put(struct desc *d, const void *v, size_t n)
{
    if (d->err)
        return;
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 512;
        while (cap < d->len + n)
            cap *= 2;
        uint8_t *q = realloc(d->p, cap);
        if (!q) {
            d->err = -ENOMEM;
            return;
        }
        d->p = q;
        d->cap = cap;
    }
    memcpy(d->p + d->len, v, n);
    d->len += n;
}

static void put_str(struct desc *d, const char *s)
{
    put(d, s ? s : "", s ? strlen(s) + 1 : 1);
}

static void put_file(struct desc *d, const char *path)
{
    struct stat st;
    put_str(d, path);
    if (!path)
        return;
    if (stat(path, &st) < 0) {
        if (!d->err)
            d->err = -errno;
        return;
    }
    int64_t v[7] = {(int64_t)st.st_dev,          (int64_t)st.st_ino,
                    (int64_t)st.st_size,         (int64_t)st.st_mtim.tv_sec,
                    (int64_t)st.st_mtim.tv_nsec, (int64_t)st.st_ctim.tv_sec,
                    (int64_t)st.st_ctim.tv_nsec};
    put(d, v, sizeof(v));
}

int mw_lists_inputs(const struct mw_config *cfg, uint8_t **out, size_t *len)
{
    struct desc d = {0};
    int action = cfg->sinkhole.action;
    put(&d, &action, sizeof(action));
    for (size_t i = 0; i < cfg->n_lists; i++) {
        const struct mw_list_conf *lc = &cfg->lists[i];
        if (!lc->enabled)
            continue;
        int v[4] = {(int)lc->action, (int)lc->type, lc->format, lc->allow};
        put_str(&d, lc->name);
        put_str(&d, lc->category);
        put(&d, v, sizeof(v));
        put_file(&d, lc->path);
    }
    put_file(&d, cfg->geoip.asn);
    put_file(&d, cfg->geoip.country);
    if (d.err) {
        free(d.p);
        return d.err;
    }
    *out = d.p;
    *len = d.len;
    return 0;
}

/* The settings part of the description, then each list file by content: what a rebuild
 * would parse. hashes[i] is the fingerprint of the i-th enabled list's file. */
static int describe_content(const struct mw_config *cfg, const uint64_t *hashes, struct desc *d)
{
    int action = cfg->sinkhole.action;
    put(d, &action, sizeof(action));
    size_t k = 0;
    for (size_t i = 0; i < cfg->n_lists; i++) {
        const struct mw_list_conf *lc = &cfg->lists[i];
        if (!lc->enabled)
            continue;
        int v[4] = {(int)lc->action, (int)lc->type, lc->format, lc->allow};
        put_str(d, lc->name);
        put_str(d, lc->category);
        put(d, v, sizeof(v));
        put_str(d, lc->path);
        put(d, &hashes[k++], sizeof(uint64_t));
    }
    put_file(d, cfg->geoip.asn);
    put_file(d, cfg->geoip.country);
    return d->err;
}

bool mw_lists_same_content(const struct mw_lists *l, const struct mw_config *cfg)
{
    if (l->files)
        l = l->files;
    if (!l->content_len)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_lists; i++)
        n += cfg->lists[i].enabled;
    uint64_t *h = calloc(n ? n : 1, sizeof(*h));
    if (!h)
        return false;
    bool same = false;
    size_t k = 0;
    for (size_t i = 0; i < cfg->n_lists; i++) {
        if (cfg->lists[i].enabled && mw_listfile_hash_file(cfg->lists[i].path, &h[k++]) < 0)
            goto out;
    }
    struct desc d = {0};
    same = describe_content(cfg, h, &d) == 0 && d.len == l->content_len &&
           memcmp(d.p, l->content, d.len) == 0;
    free(d.p);
out:
    free(h);
    return same;
}

bool mw_lists_same_inputs(const struct mw_lists *l, const uint8_t *inputs, size_t len)
{
    if (l->files)
        l = l->files;
    return l->inputs_len && l->inputs_len == len && memcmp(l->inputs, inputs, len) == 0;
}

struct mw_lists *mw_lists_build(const struct mw_config *cfg, uint64_t generation,
                                struct mw_errlist *errs, size_t *warnings)
{
    if (warnings)
        *warnings = 0;
    struct build b = {0};
    struct mw_lists *l = calloc(1, sizeof(*l));
    if (!l)
        goto nomem;
    b.l = l;
    l->refs = 1;
    l->generation = generation;
    l->lists = calloc(cfg->n_lists ? cfg->n_lists : 1, sizeof(*l->lists));
    /* Described before any file is read: a change made while building shows at the next. */
    if (mw_lists_inputs(cfg, &l->inputs, &l->inputs_len) < 0) {
        l->inputs = NULL;
        l->inputs_len = 0;
    }
    b.dom = mw_domainset_builder_new(0);
    b.ip = mw_ipset_builder_new(0);
    b.pat = mw_patternset_builder_new(0);
    if (!l->lists || !b.dom || !b.ip || !b.pat)
        goto nomem;
    bool failed = false;
    /* List indexes stay below the detectors' (MW_LIST_DETECT). */
    for (size_t i = 0; i < cfg->n_lists && i < MW_LIST_DETECT; i++) {
        const struct mw_list_conf *lc = &cfg->lists[i];
        if (!lc->enabled)
            continue;
        struct mw_list_info *info = &l->lists[l->n_lists];
        b.list = l->n_lists++;
        if (fill_info(info, lc, cfg) < 0)
            goto nomem;
        int rc = load_one(&b, lc, info, errs, warnings);
        if (rc == -ENOMEM)
            goto nomem;
        if (rc < 0)
            failed = true; /* the parser reported it; go on to report every missing file */
        l->total_entries += info->entries;
    }
    if (cfg->geoip.asn || cfg->geoip.country) {
        if (mw_geo_open(&l->geo, cfg->geoip.asn, cfg->geoip.country, errs) < 0)
            failed = true;
    }
    if (failed)
        goto fail;
    int rc = mw_domainset_build(b.dom, &l->domains);
    b.dom = NULL;
    if (rc == 0) {
        rc = mw_ipset_build(b.ip, &l->ips);
        b.ip = NULL;
    }
    if (rc == 0) {
        rc = mw_patternset_build(b.pat, &l->patterns);
        b.pat = NULL;
    }
    if (rc < 0)
        goto nomem;
    if (l->n_asns)
        qsort(l->asns, l->n_asns, sizeof(*l->asns), asn_cmp);
    if (l->n_local)
        qsort(l->local, l->n_local, sizeof(*l->local), local_cmp);
    /* By content too, from the hashes of the bytes parsed: a file rewritten with the same
     * bytes is then known unchanged without a rebuild. */
    size_t enabled = 0;
    for (size_t i = 0; i < cfg->n_lists; i++)
        enabled += cfg->lists[i].enabled;
    uint64_t *h = enabled == l->n_lists ? calloc(enabled ? enabled : 1, sizeof(*h)) : NULL;
    struct desc d = {0};
    if (h) {
        for (uint16_t i = 0; i < l->n_lists; i++)
            h[i] = l->lists[i].content_hash;
        if (describe_content(cfg, h, &d) == 0) {
            l->content = d.p;
            l->content_len = d.len;
        } else {
            free(d.p);
        }
        free(h);
    }
    return l;
nomem:
    mw_errlist_add(errs, "out of memory loading lists");
fail:
    mw_domainset_builder_free(b.dom);
    mw_ipset_builder_free(b.ip);
    mw_patternset_builder_free(b.pat);
    mw_lists_unref(l);
    return NULL;
}

struct mw_lists *mw_lists_ref(struct mw_lists *l)
{
    __atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
    return l;
}

struct mw_lists *mw_lists_derive(struct mw_lists *files, struct mw_rlist *const *rlists,
                                 uint16_t n_rlists, uint64_t generation,
                                 const struct mw_config *cfg)
{
    if (files->files) /* derive from the file generation itself, never chain */
        files = files->files;
    struct mw_lists *l = calloc(1, sizeof(*l));
    size_t n = (size_t)files->n_lists + n_rlists;
    if (!l || n >= MW_LIST_DETECT) /* list indexes stay below the detectors' */
        goto fail;
    *l = *files; /* borrow every file member */
    l->refs = 1;
    l->inputs = NULL; /* the files' own, asked through l->files */
    l->inputs_len = 0;
    l->content = NULL;
    l->content_len = 0;
    l->generation = generation;
    l->files = mw_lists_ref(files);
    l->lists = calloc(n ? n : 1, sizeof(*l->lists));
    l->rlists = calloc(n_rlists ? n_rlists : 1, sizeof(*l->rlists));
    if (!l->lists || !l->rlists) {
        free(l->lists);
        free(l->rlists);
        mw_lists_unref(files);
        goto fail;
    }
    memcpy(l->lists, files->lists, files->n_lists * sizeof(*l->lists));
    l->rlist_base = files->n_lists;
    l->n_lists = (uint16_t)n;
    for (uint16_t i = 0; i < n_rlists; i++) {
        struct mw_rlist *r = rlists[i];
        struct mw_list_info *info = &l->lists[files->n_lists + i];
        l->rlists[l->n_rlists++] = mw_rlist_ref(r);
        /* Strings are borrowed from the rlist, which this generation holds. */
        info->name = r->meta.name;
        info->category = r->meta.category;
        info->path = r->meta.description;
        info->origin = "redis"; /* fixed: a metric label must not change with the state */
        info->stale = r->stale;
        info->type = r->meta.type;
        info->allow = r->allow;
        info->action = r->meta.action != MW_ACTION_DEFAULT ? r->meta.action : cfg->sinkhole.action;
        info->entries = r->entries;
        set_ede_text(info, r->meta.category, r->meta.name);
        l->total_entries += r->entries;
    }
    return l;
fail:
    free(l);
    return NULL;
}

void mw_lists_unref(struct mw_lists *l)
{
    if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (l->files) {
        for (uint16_t i = 0; i < l->n_rlists; i++)
            mw_rlist_unref(l->rlists[i]);
        free(l->rlists);
        free(l->lists);
        mw_lists_unref(l->files);
        free(l);
        return;
    }
    for (uint16_t i = 0; i < l->n_lists; i++) {
        free(l->lists[i].name);
        free(l->lists[i].category);
        free(l->lists[i].path);
        free(l->lists[i].origin);
    }
    free(l->lists);
    mw_domainset_free(l->domains);
    mw_ipset_free(l->ips);
    mw_patternset_free(l->patterns);
    mw_geo_free(l->geo);
    free(l->asns);
    free(l->local);
    free(l->inputs);
    free(l->content);
    free(l);
}

const struct mw_local_data *mw_lists_local_data(const struct mw_lists *l, const struct mw_rule *r)
{
    struct mw_local_data key = {.list = r->list, .line = r->line};
    return l->n_local ? bsearch(&key, l->local, l->n_local, sizeof(key), local_cmp) : NULL;
}

const struct mw_asn_rule *mw_lists_asn(const struct mw_lists *l, uint32_t asn)
{
    size_t lo = 0, hi = l->n_asns;
    while (lo < hi) { /* the first entry of asn, which asn_cmp ordered to be the winner */
        size_t mid = (lo + hi) / 2;
        if (l->asns[mid].asn < asn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n_asns && l->asns[lo].asn == asn ? &l->asns[lo] : NULL;
}

size_t mw_lists_emptied(const struct mw_lists *prev, const struct mw_lists *next,
                        struct mw_errlist *errs)
{
    if (!prev || !next)
        return 0;
    size_t n = 0;
    for (uint16_t i = 0; i < next->n_lists; i++) {
        const struct mw_list_info *li = &next->lists[i];
        if (li->entries)
            continue;
        for (uint16_t j = 0; j < prev->n_lists; j++) {
            const struct mw_list_info *pj = &prev->lists[j];
            if (pj->entries && strcmp(pj->name, li->name) == 0 && pj->path && li->path &&
                strcmp(pj->path, li->path) == 0) {
                mw_errlist_add(errs,
                               "%s: list %s has no entries now (%zu before; %zu bad lines): "
                               "not applied",
                               li->path, li->name, pj->entries, li->bad);
                n++;
                break;
            }
        }
    }
    return n;
}

/* What the block path shows for a detector's verdict: the action is the detector's own (from
 * its config section, set in the verdict), never this entry's. */
static const struct mw_list_info detectors[MW_DETECT_COUNT] = {
    [MW_DETECT_REBINDING] = {.name = "rebinding",
                             .category = "detect",
                             .path = "detect.rebinding",
                             .origin = "detector",
                             .action = MW_ACTION_NXDOMAIN,
                             .ede_text = "minewall: detect/rebinding"},
    [MW_DETECT_DGA] = {.name = "dga",
                       .category = "detect",
                       .path = "detect.dga",
                       .origin = "detector",
                       .action = MW_ACTION_LOG,
                       .ede_text = "minewall: detect/dga"},
    [MW_DETECT_TUNNEL] = {.name = "tunnel",
                          .category = "detect",
                          .path = "detect.tunnel",
                          .origin = "detector",
                          .action = MW_ACTION_LOG,
                          .ede_text = "minewall: detect/tunnel"},
    [MW_DETECT_NEW_DOMAINS] = {.name = "new-domains",
                               .category = "detect",
                               .path = "detect.new-domains",
                               .origin = "detector",
                               .action = MW_ACTION_LOG,
                               .ede_text = "minewall: detect/new-domains"},
};

const struct mw_list_info *mw_lists_info(const struct mw_lists *l, uint16_t list)
{
    if (list < l->n_lists)
        return &l->lists[list];
    if (list >= MW_LIST_DETECT && list - MW_LIST_DETECT < MW_DETECT_COUNT)
        return &detectors[list - MW_LIST_DETECT];
    return NULL;
}
