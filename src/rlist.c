/* Redis-synced lists: bases, deltas and versions; see rlist.h.
 *
 * Delta keys are canonical entry texts (the name without trailing dot, the prefix as
 * mw_cidr_format writes it, "AS<n>"), so "Example.COM." and "example.com" are one key and
 * the last operation on it wins: replaying an overlapping stretch of the change log is
 * harmless. */
#include "minewall/rlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/dname.h"
#include "minewall/domainset.h"
#include "minewall/file.h"
#include "minewall/hash.h"
#include "minewall/ipset.h"
#include "minewall/listfile.h"
#include "minewall/lists.h"

#define ENTRY_MAX 300

struct mw_rbase {
    int refs; /* atomic */
    enum mw_list_type type;
    struct mw_domainset *dom; /* type domain */
    struct mw_ipset *ips;     /* type ip */
    struct mw_asn_rule *asns; /* type asn, sorted */
    size_t n_asns;
    size_t count;
};

struct mw_rbase_builder {
    enum mw_list_type type;
    struct mw_domainset_builder *dom;
    struct mw_ipset_builder *ips;
    struct mw_asn_rule *asns;
    size_t n_asns, cap_asns;
    size_t count, rejected;
};

struct delta_op {
    char *key;
    bool add;
};

struct mw_rdelta {
    struct delta_op *ops; /* open addressing, power-of-two size */
    size_t cap, n;
};

/* ---- entries ---- */

/* Parse entry and write its canonical text; returns the entry type or -EINVAL. */
static int canonical(const char *entry, struct mw_listfile_entry *e, char *key, size_t cap)
{
    if (mw_listfile_parse_entry(entry, e, NULL, 0) < 0)
        return -EINVAL;
    switch (e->type) {
    case MW_LISTFILE_ENTRY_DOMAIN:
        if (mw_dname_to_text(e->name, e->name_len, key, cap) < 0)
            return -EINVAL;
        break;
    case MW_LISTFILE_ENTRY_IP:
        if (mw_cidr_format(&e->cidr, key, cap) < 0)
            return -EINVAL;
        break;
    case MW_LISTFILE_ENTRY_ASN:
        snprintf(key, cap, "AS%u", e->asn);
        break;
    default:
        return -EINVAL; /* patterns are not published through Redis */
    }
    return (int)e->type;
}

static bool type_fits(enum mw_list_type t, int etype)
{
    return (t == MW_LIST_DOMAIN && etype == MW_LISTFILE_ENTRY_DOMAIN) ||
           (t == MW_LIST_IP && etype == MW_LISTFILE_ENTRY_IP) ||
           (t == MW_LIST_ASN && etype == MW_LISTFILE_ENTRY_ASN);
}

static int asn_cmp(const void *a, const void *b)
{
    const struct mw_asn_rule *x = a, *y = b;
    return x->asn < y->asn ? -1 : x->asn > y->asn;
}

/* Sort by AS number and drop repeats; returns the new count. */
static size_t sort_unique(struct mw_asn_rule *a, size_t n)
{
    if (n == 0)
        return 0;
    qsort(a, n, sizeof(*a), asn_cmp);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (a[i].asn != a[k - 1].asn)
            a[k++] = a[i];
    return k;
}

static const struct mw_rule RULE = {.line = 0, .list = 0, .flags = 0, .action = 0};

/* ---- base ---- */

struct mw_rbase_builder *mw_rbase_builder_new(enum mw_list_type type)
{
    struct mw_rbase_builder *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->type = type;
    if (type == MW_LIST_DOMAIN)
        b->dom = mw_domainset_builder_new(0);
    else if (type == MW_LIST_IP)
        b->ips = mw_ipset_builder_new(0);
    if ((type == MW_LIST_DOMAIN && !b->dom) || (type == MW_LIST_IP && !b->ips)) {
        mw_rbase_builder_free(b);
        return NULL;
    }
    return b;
}

void mw_rbase_builder_free(struct mw_rbase_builder *b)
{
    if (!b)
        return;
    mw_domainset_builder_free(b->dom);
    mw_ipset_builder_free(b->ips);
    free(b->asns);
    free(b);
}

static int push_asn(struct mw_asn_rule **arr, size_t *n, size_t *cap, uint32_t asn)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct mw_asn_rule *a = realloc(*arr, ncap * sizeof(*a));
        if (!a)
            return -ENOMEM;
        *arr = a;
        *cap = ncap;
    }
    (*arr)[*n].asn = asn;
    (*arr)[*n].rule = RULE;
    (*n)++;
    return 0;
}

int mw_rbase_builder_add(struct mw_rbase_builder *b, const char *entry)
{
    struct mw_listfile_entry e;
    char key[ENTRY_MAX];
    int t = canonical(entry, &e, key, sizeof(key));
    if (t < 0 || !type_fits(b->type, t)) {
        b->rejected++;
        return -EINVAL;
    }
    int rc = 0;
    if (t == MW_LISTFILE_ENTRY_DOMAIN)
        rc = mw_domainset_builder_add(b->dom, e.name, e.name_len, MW_DOMAIN_SUBTREE, &RULE);
    else if (t == MW_LISTFILE_ENTRY_IP)
        rc = mw_ipset_builder_add(b->ips, &e.cidr, &RULE);
    else
        rc = push_asn(&b->asns, &b->n_asns, &b->cap_asns, e.asn);
    if (rc == 0)
        b->count++;
    return rc;
}

size_t mw_rbase_builder_rejected(const struct mw_rbase_builder *b)
{
    return b->rejected;
}

struct mw_rbase *mw_rbase_build(struct mw_rbase_builder *b)
{
    struct mw_rbase *r = calloc(1, sizeof(*r));
    int rc = r ? 0 : -ENOMEM;
    if (rc == 0) {
        r->refs = 1;
        r->type = b->type;
        r->count = b->count;
        /* Counts come from the built sets, which merge duplicate entries. */
        if (b->dom) {
            rc = mw_domainset_build(b->dom, &r->dom);
            b->dom = NULL;
            r->count = rc == 0 ? mw_domainset_count(r->dom) : 0;
        } else if (b->ips) {
            rc = mw_ipset_build(b->ips, &r->ips);
            b->ips = NULL;
            r->count = rc == 0 ? mw_ipset_count(r->ips) : 0;
        } else {
            r->n_asns = sort_unique(b->asns, b->n_asns);
            r->asns = b->asns;
            r->count = r->n_asns;
            b->asns = NULL;
        }
    }
    mw_rbase_builder_free(b);
    if (rc < 0) {
        mw_rbase_unref(r);
        return NULL;
    }
    return r;
}

void mw_rbase_unref(struct mw_rbase *b)
{
    if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    mw_domainset_free(b->dom);
    mw_ipset_free(b->ips);
    free(b->asns);
    free(b);
}

size_t mw_rbase_count(const struct mw_rbase *b)
{
    return b->count;
}

const struct mw_domainset *mw_rbase_domains(const struct mw_rbase *b)
{
    return b->dom;
}

/* ---- delta ---- */

static uint64_t key_hash(const char *s)
{
    return mw_hash_bytes(0, 0, s, strlen(s)); /* entries come from our Redis: no seed */
}

struct mw_rdelta *mw_rdelta_new(void)
{
    return calloc(1, sizeof(struct mw_rdelta));
}

void mw_rdelta_free(struct mw_rdelta *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->cap; i++)
        free(d->ops[i].key);
    free(d->ops);
    free(d);
}

static struct delta_op *slot_of(struct delta_op *ops, size_t cap, const char *key)
{
    size_t i = key_hash(key) & (cap - 1);
    while (ops[i].key && strcmp(ops[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &ops[i];
}

static int grow(struct mw_rdelta *d)
{
    size_t cap = d->cap ? d->cap * 2 : 64;
    struct delta_op *ops = calloc(cap, sizeof(*ops));
    if (!ops)
        return -ENOMEM;
    for (size_t i = 0; i < d->cap; i++)
        if (d->ops[i].key)
            *slot_of(ops, cap, d->ops[i].key) = d->ops[i];
    free(d->ops);
    d->ops = ops;
    d->cap = cap;
    return 0;
}

int mw_rdelta_apply(struct mw_rdelta *d, bool add, const char *entry)
{
    struct mw_listfile_entry e;
    char key[ENTRY_MAX];
    if (canonical(entry, &e, key, sizeof(key)) < 0)
        return -EINVAL;
    if ((d->n + 1) * 4 > d->cap * 3 && grow(d) < 0)
        return -ENOMEM;
    struct delta_op *op = slot_of(d->ops, d->cap, key);
    if (!op->key) {
        op->key = strdup(key);
        if (!op->key)
            return -ENOMEM;
        d->n++;
    }
    op->add = add;
    return 0;
}

int mw_rdelta_apply_record(struct mw_rdelta *d, const char *op, const char *entries, size_t *bad)
{
    size_t nbad = 0;
    if (bad)
        *bad = 0;
    if (!op || !entries || (strcmp(op, "add") != 0 && strcmp(op, "del") != 0))
        return -EINVAL;
    bool add = op[0] == 'a';
    char buf[512];
    for (const char *p = entries; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n >= sizeof(buf)) {
            nbad++;
        } else if (n) {
            memcpy(buf, p, n);
            buf[n] = 0;
            int rc = mw_rdelta_apply(d, add, buf);
            if (rc == -ENOMEM)
                return rc;
            nbad += rc < 0;
        }
        p += n;
    }
    if (bad)
        *bad = nbad;
    return 0;
}

size_t mw_rdelta_size(const struct mw_rdelta *d)
{
    return d ? d->n : 0;
}

static bool delta_says(const struct mw_rdelta *d, const char *key, bool *add)
{
    if (!d || !d->n)
        return false;
    const struct delta_op *op = slot_of(d->ops, d->cap, key);
    if (!op->key)
        return false;
    *add = op->add;
    return true;
}

/* ---- versions ---- */

struct ip_rebuild {
    struct mw_ipset_builder *b;
    const struct mw_rdelta *d;
    size_t count;
    int rc;
};

static int keep_ip(const struct mw_cidr *prefix, const struct mw_rule *rule, void *arg)
{
    struct ip_rebuild *r = arg;
    char key[ENTRY_MAX];
    bool add;
    (void)rule;
    mw_cidr_format(prefix, key, sizeof(key));
    if (delta_says(r->d, key, &add))
        return 0; /* the delta decides about it below */
    r->rc = mw_ipset_builder_add(r->b, prefix, &RULE);
    r->count++;
    return r->rc;
}

/* Rebuild an IP list whole: base entries the delta does not mention, then the delta's adds. */
static int build_ips(struct mw_rlist *l, const struct mw_rdelta *d)
{
    struct ip_rebuild r = {.b = mw_ipset_builder_new(0), .d = d};
    if (!r.b)
        return -ENOMEM;
    if (mw_ipset_foreach(l->base->ips, keep_ip, &r) != 0 && r.rc < 0) {
        mw_ipset_builder_free(r.b);
        return r.rc;
    }
    for (size_t i = 0; d && i < d->cap; i++) {
        struct mw_listfile_entry e;
        if (!d->ops[i].key || !d->ops[i].add ||
            mw_listfile_parse_entry(d->ops[i].key, &e, NULL, 0) < 0 ||
            e.type != MW_LISTFILE_ENTRY_IP)
            continue;
        if (mw_ipset_builder_add(r.b, &e.cidr, &RULE) < 0) {
            mw_ipset_builder_free(r.b);
            return -ENOMEM;
        }
        r.count++;
    }
    l->entries = r.count;
    return mw_ipset_build(r.b, &l->ips);
}

static int build_asns(struct mw_rlist *l, const struct mw_rdelta *d)
{
    size_t cap = 0;
    for (size_t i = 0; i < l->base->n_asns; i++) {
        char key[24];
        bool add;
        snprintf(key, sizeof(key), "AS%u", l->base->asns[i].asn);
        if (!delta_says(d, key, &add) &&
            push_asn(&l->asns, &l->n_asns, &cap, l->base->asns[i].asn) < 0)
            return -ENOMEM;
    }
    for (size_t i = 0; d && i < d->cap; i++) {
        struct mw_listfile_entry e;
        if (!d->ops[i].key || !d->ops[i].add ||
            mw_listfile_parse_entry(d->ops[i].key, &e, NULL, 0) < 0 ||
            e.type != MW_LISTFILE_ENTRY_ASN)
            continue;
        if (push_asn(&l->asns, &l->n_asns, &cap, e.asn) < 0)
            return -ENOMEM;
    }
    l->n_asns = sort_unique(l->asns, l->n_asns);
    l->entries = l->n_asns;
    return 0;
}

/* The domain delta as an overlay set: removals are tombstones, adds are rules. */
static int build_domains(struct mw_rlist *l, const struct mw_rdelta *d)
{
    l->entries = l->base->count;
    if (!d || !d->n)
        return 0;
    struct mw_domainset_builder *b = mw_domainset_builder_new(d->n);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < d->cap; i++) {
        struct mw_listfile_entry e;
        if (!d->ops[i].key || mw_listfile_parse_entry(d->ops[i].key, &e, NULL, 0) < 0 ||
            e.type != MW_LISTFILE_ENTRY_DOMAIN)
            continue;
        struct mw_rule have;
        bool in_base = mw_domainset_get(l->base->dom, e.name, e.name_len, MW_DOMAIN_SUBTREE, &have);
        int rc = d->ops[i].add
                     ? mw_domainset_builder_add(b, e.name, e.name_len, MW_DOMAIN_SUBTREE, &RULE)
                     : mw_domainset_builder_remove(b, e.name, e.name_len, MW_DOMAIN_SUBTREE, &RULE);
        if (rc < 0) {
            mw_domainset_builder_free(b);
            return rc;
        }
        if (d->ops[i].add && !in_base)
            l->entries++;
        else if (!d->ops[i].add && in_base)
            l->entries--;
    }
    return mw_domainset_build(b, &l->delta);
}

struct mw_rlist *mw_rlist_new(const struct mw_rlist_meta *meta, struct mw_rbase *base,
                              const struct mw_rdelta *delta)
{
    struct mw_rlist *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->refs = 1;
    l->meta = *meta;
    l->allow = strcmp(meta->category, "allow") == 0;
    __atomic_add_fetch(&base->refs, 1, __ATOMIC_RELAXED);
    l->base = base;
    int rc;
    if (base->type == MW_LIST_IP)
        rc = build_ips(l, delta);
    else if (base->type == MW_LIST_ASN)
        rc = build_asns(l, delta);
    else
        rc = build_domains(l, delta);
    if (rc < 0) {
        mw_rlist_unref(l);
        return NULL;
    }
    return l;
}

struct mw_rlist *mw_rlist_ref(struct mw_rlist *l)
{
    __atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
    return l;
}

void mw_rlist_unref(struct mw_rlist *l)
{
    if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    mw_rbase_unref(l->base);
    mw_domainset_free(l->delta);
    mw_ipset_free(l->ips);
    free(l->asns);
    free(l);
}

static int same_prefix(const struct mw_cidr *prefix, const struct mw_rule *rule, void *arg)
{
    const struct mw_cidr *want = arg;
    (void)rule;
    return prefix->family == want->family && prefix->prefix == want->prefix &&
           memcmp(prefix->addr, want->addr, want->family == AF_INET ? 4 : 16) == 0;
}

bool mw_rlist_contains(const struct mw_rlist *l, const char *entry)
{
    struct mw_listfile_entry e;
    char key[ENTRY_MAX];
    int t = canonical(entry, &e, key, sizeof(key));
    if (t < 0 || !type_fits(l->base->type, t))
        return false;
    if (t == MW_LISTFILE_ENTRY_DOMAIN) {
        struct mw_rule r;
        return mw_domainset_overlay_get(l->base->dom, l->delta, e.name, e.name_len,
                                        MW_DOMAIN_SUBTREE, &r);
    }
    if (t == MW_LISTFILE_ENTRY_IP)
        return mw_ipset_foreach(l->ips, same_prefix, &e.cidr) != 0;
    struct mw_asn_rule k = {.asn = e.asn};
    return l->n_asns && bsearch(&k, l->asns, l->n_asns, sizeof(k), asn_cmp) != NULL;
}

/* ---- state directory ---- */

#define STATE_MAGIC "# minewall-state v1"
#define STATE_MAX ((size_t)1 << 30) /* as list files */

struct save_ctx {
    FILE *f;
    const struct mw_domainset *base, *delta;
    bool delta_pass;
};

/* Base pass: rules the overlay still has. Delta pass: added rules the base lacks. */
static int save_domain(const struct mw_domain_rule *r, void *arg)
{
    struct save_ctx *c = arg;
    char key[ENTRY_MAX];
    struct mw_rule have;
    if (r->removed)
        return 0;
    if (c->delta_pass
            ? mw_domainset_get(c->base, r->name, r->name_len, r->kind, &have)
            : !mw_domainset_overlay_get(c->base, c->delta, r->name, r->name_len, r->kind, &have))
        return 0;
    if (mw_dname_to_text(r->name, r->name_len, key, sizeof(key)) < 0)
        return 0;
    return fprintf(c->f, "%s\n", key) < 0 ? -EIO : 0;
}

static int save_ip(const struct mw_cidr *prefix, const struct mw_rule *rule, void *arg)
{
    struct save_ctx *c = arg;
    char key[ENTRY_MAX];
    (void)rule;
    mw_cidr_format(prefix, key, sizeof(key));
    return fprintf(c->f, "%s\n", key) < 0 ? -EIO : 0;
}

static void header_value(char *dst, size_t cap, const char *s)
{
    /* One line each: a newline in a description must not start a new entry. */
    size_t n = 0;
    for (; *s && n + 1 < cap; s++)
        dst[n++] = (*s == '\n' || *s == '\r') ? ' ' : *s;
    dst[n] = 0;
}

static int write_state(FILE *f, const struct mw_rlist *l)
{
    /* Every header value is one line: a newline (say in a category read from Redis) must
     * not turn the rest of the value into an entry. */
    char desc[sizeof(l->meta.description)], name[sizeof(l->meta.name)];
    char cat[sizeof(l->meta.category)], id[sizeof(l->last_id)];
    header_value(desc, sizeof(desc), l->meta.description);
    header_value(name, sizeof(name), l->meta.name);
    header_value(cat, sizeof(cat), l->meta.category);
    header_value(id, sizeof(id), l->last_id);
    fprintf(f,
            "%s\n# name: %s\n# category: %s\n# action: %s\n# type: %s\n# updated: %llu\n"
            "# last-id: %s\n# description: %s\n",
            STATE_MAGIC, name, cat,
            l->meta.action == MW_ACTION_DEFAULT ? "default" : mw_action_name(l->meta.action),
            mw_list_type_name(l->meta.type), (unsigned long long)l->meta.updated, id, desc);
    struct save_ctx c = {.f = f, .base = l->base->dom, .delta = l->delta};
    if (l->base->type == MW_LIST_DOMAIN) {
        int rc = mw_domainset_foreach(l->base->dom, save_domain, &c);
        if (rc == 0 && l->delta) {
            c.delta_pass = true;
            rc = mw_domainset_foreach(l->delta, save_domain, &c);
        }
        return rc;
    }
    if (l->base->type == MW_LIST_IP)
        return mw_ipset_foreach(l->ips, save_ip, &c);
    for (size_t i = 0; i < l->n_asns; i++)
        if (fprintf(f, "AS%u\n", l->asns[i].asn) < 0)
            return -EIO;
    return 0;
}

int mw_rlist_save(const struct mw_rlist *l, const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    int rc = write_state(f, l);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = rc ? rc : -errno;
    if (fclose(f) != 0)
        rc = rc ? rc : -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

static void header_field(const char *line, const char *name, char *dst, size_t cap)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) != 0)
        return;
    size_t len = strnlen(line + n, cap - 1); /* longer values are cut */
    memcpy(dst, line + n, len);
    dst[len] = 0;
}

/* The next line of [*p, end), NUL-terminated in place without its "\n" or "\r\n"; NULL at
 * the end. */
static char *next_line(char **p, char *end)
{
    if (*p >= end)
        return NULL;
    char *line = *p, *nl = memchr(line, '\n', (size_t)(end - line));
    char *le = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    *le = '\0'; /* the reader's terminating NUL when there is no '\n' */
    line[strcspn(line, "\r")] = '\0';
    return line;
}

struct mw_rlist *mw_rlist_load(const char *path, int *err)
{
    char *text, *line;
    size_t len;
    *err = mw_file_read(path, STATE_MAX, &text, &len);
    if (*err < 0)
        return NULL;
    char *p = text, *end = text + len;
    char action[32] = "", type[32] = "", updated[32] = "", last_id[48] = "";
    struct mw_rlist_meta meta;
    memset(&meta, 0, sizeof(meta));
    struct mw_rbase_builder *b = NULL;
    bool header = true;
    *err = -EBADMSG;
    if (!(line = next_line(&p, end)) || strncmp(line, STATE_MAGIC, strlen(STATE_MAGIC)) != 0)
        goto fail;
    while ((line = next_line(&p, end))) {
        if (header && line[0] == '#') {
            header_field(line, "# name: ", meta.name, sizeof(meta.name));
            header_field(line, "# category: ", meta.category, sizeof(meta.category));
            header_field(line, "# description: ", meta.description, sizeof(meta.description));
            header_field(line, "# action: ", action, sizeof(action));
            header_field(line, "# type: ", type, sizeof(type));
            header_field(line, "# updated: ", updated, sizeof(updated));
            header_field(line, "# last-id: ", last_id, sizeof(last_id));
            continue;
        }
        if (header) {
            header = false;
            meta.type = strcmp(type, "ip") == 0    ? MW_LIST_IP
                        : strcmp(type, "asn") == 0 ? MW_LIST_ASN
                                                   : MW_LIST_DOMAIN;
            if (!meta.name[0] || !meta.category[0])
                goto fail;
            b = mw_rbase_builder_new(meta.type);
            if (!b) {
                *err = -ENOMEM;
                goto fail;
            }
        }
        if (line[0] && mw_rbase_builder_add(b, line) == -ENOMEM) {
            *err = -ENOMEM;
            goto fail;
        }
    }
    if (header) { /* an empty list: header only */
        meta.type = strcmp(type, "ip") == 0    ? MW_LIST_IP
                    : strcmp(type, "asn") == 0 ? MW_LIST_ASN
                                               : MW_LIST_DOMAIN;
        if (!meta.name[0] || !meta.category[0] || !(b = mw_rbase_builder_new(meta.type)))
            goto fail;
    }
    free(text);
    text = NULL;
    if (mw_action_parse(action, &meta.action) < 0)
        meta.action = MW_ACTION_DEFAULT;
    meta.updated = strtoull(updated, NULL, 10);
    struct mw_rbase *base = mw_rbase_build(b);
    b = NULL;
    struct mw_rlist *l = base ? mw_rlist_new(&meta, base, NULL) : NULL;
    mw_rbase_unref(base);
    if (!l) {
        *err = -ENOMEM;
        return NULL;
    }
    snprintf(l->last_id, sizeof(l->last_id), "%s", last_id);
    *err = 0;
    return l;
fail:
    mw_rbase_builder_free(b);
    free(text);
    return NULL;
}
