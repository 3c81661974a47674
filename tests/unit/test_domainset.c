/* Unit tests for domainset.c: subtree, exact and wildcard semantics at label boundaries, the
 * most specific rule winning, allow beating block only at equal specificity, duplicates, root
 * and TLD rules, maximum-length names, the overlay of a delta on a base, memory accounting, and
 * a randomised comparison with a brute-force reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/domainset.h"

static int wire(const char *text, uint8_t *buf)
{
    int n = mw_dname_from_text(text, buf, MW_DNAME_MAX + 1);
    assert_true(n > 0);
    return n;
}

static void add(struct mw_domainset_builder *b, const char *name, int kind, uint16_t list,
                uint32_t line, uint8_t flags, uint8_t action)
{
    uint8_t w[MW_DNAME_MAX + 1];
    int n = wire(name, w);
    struct mw_rule r = {.line = line, .list = list, .flags = flags, .action = action};
    assert_int_equal(mw_domainset_builder_add(b, w, (size_t)n, kind, &r), 0);
}

static void del(struct mw_domainset_builder *b, const char *name, int kind)
{
    uint8_t w[MW_DNAME_MAX + 1];
    int n = wire(name, w);
    assert_int_equal(mw_domainset_builder_remove(b, w, (size_t)n, kind, NULL), 0);
}

static struct mw_domainset *build(struct mw_domainset_builder *b)
{
    struct mw_domainset *s = NULL;
    assert_int_equal(mw_domainset_build(b, &s), 0);
    assert_non_null(s);
    return s;
}

/* Match qname over (base, delta); returns the matched line or 0, and the matched suffix. */
static uint32_t match2(const struct mw_domainset *s, const struct mw_domainset *d, const char *q,
                       struct mw_domain_match *out, char *matched)
{
    uint8_t w[MW_DNAME_MAX + 1];
    int n = wire(q, w);
    struct mw_domain_match m;
    memset(&m, 0xee, sizeof(m));
    if (!mw_domainset_overlay_match(s, d, w, (size_t)n, &m))
        return 0;
    assert_true(m.offset < n);
    if (out)
        *out = m;
    if (matched)
        assert_true(mw_dname_to_text(w + m.offset, (size_t)n - m.offset, matched, 300) >= 0);
    return m.rule.line;
}

static uint32_t match(const struct mw_domainset *s, const char *q)
{
    uint8_t w[MW_DNAME_MAX + 1];
    int n = wire(q, w);
    struct mw_domain_match m;
    if (!mw_domainset_match(s, w, (size_t)n, &m))
        return 0;
    assert_int_equal(match2(s, NULL, q, NULL, NULL), m.rule.line);
    return m.rule.line;
}

static void test_empty(void **state)
{
    (void)state;
    struct mw_domainset *s = build(mw_domainset_builder_new(0));
    assert_int_equal(mw_domainset_count(s), 0);
    assert_int_equal(match(s, "example.com"), 0);
    assert_int_equal(match(s, "."), 0);
    assert_true(mw_domainset_bytes(s) > 0 && mw_domainset_bytes(s) < 4096);
    struct mw_rule r;
    uint8_t w[MW_DNAME_MAX + 1];
    int n = wire("example.com", w);
    assert_false(mw_domainset_get(s, w, (size_t)n, MW_DOMAIN_SUBTREE, &r));
    mw_domainset_free(s);
    mw_domainset_free(NULL);
    mw_domainset_builder_free(NULL);
}

static void test_kinds(void **state)
{
    (void)state;
    struct mw_domainset_builder *b = mw_domainset_builder_new(4);
    add(b, "example.com", MW_DOMAIN_SUBTREE, 0, 1, 0, 0);
    add(b, "exact.org", MW_DOMAIN_EXACT, 0, 2, 0, 0);
    add(b, "wild.net", MW_DOMAIN_WILDCARD, 0, 3, 0, 0);
    struct mw_domainset *s = build(b);
    assert_int_equal(mw_domainset_count(s), 3);

    struct mw_domain_match m;
    char txt[300];
    assert_int_equal(match2(s, NULL, "Example.COM", &m, txt), 1);
    assert_int_equal(m.kind, MW_DOMAIN_SUBTREE);
    assert_int_equal(m.offset, 0);
    assert_int_equal(match2(s, NULL, "a.b.example.com", &m, txt), 1);
    assert_int_equal(m.offset, 4);
    assert_string_equal(txt, "example.com");
    assert_int_equal(match(s, "xexample.com"), 0);
    assert_int_equal(match(s, "example.com.au"), 0);
    assert_int_equal(match(s, "com"), 0);
    assert_int_equal(match(s, "example.org"), 0);

    assert_int_equal(match(s, "exact.org"), 2);
    assert_int_equal(match(s, "www.exact.org"), 0);
    assert_int_equal(match(s, "nexact.org"), 0);

    assert_int_equal(match(s, "wild.net"), 0);
    assert_int_equal(match2(s, NULL, "a.wild.net", &m, txt), 3);
    assert_int_equal(m.kind, MW_DOMAIN_WILDCARD);
    assert_string_equal(txt, "wild.net");
    assert_int_equal(match(s, "b.a.wild.net"), 3);
    assert_int_equal(match(s, "awild.net"), 0);
    mw_domainset_free(s);
}

static void test_specificity(void **state)
{
    (void)state;
    struct mw_domainset_builder *b = mw_domainset_builder_new(0);
    add(b, "example.com", MW_DOMAIN_SUBTREE, 0, 1, 0, 0);
    add(b, "www.example.com", MW_DOMAIN_SUBTREE, 1, 2, MW_RULE_ALLOW, 0);
    add(b, "ads.www.example.com", MW_DOMAIN_SUBTREE, 2, 3, 0, 7);
    /* Allow at the same name as a block, different kinds. */
    add(b, "shop.com", MW_DOMAIN_SUBTREE, 0, 10, 0, 0);
    add(b, "shop.com", MW_DOMAIN_EXACT, 5, 11, MW_RULE_ALLOW, 0);
    /* Two block rules at one name: lower list wins. */
    add(b, "two.net", MW_DOMAIN_SUBTREE, 3, 20, 0, 0);
    add(b, "two.net", MW_DOMAIN_EXACT, 1, 21, 0, 0);
    /* An allowed parent does not protect a blocked child. */
    add(b, "safe.org", MW_DOMAIN_SUBTREE, 0, 30, MW_RULE_ALLOW, 0);
    add(b, "bad.safe.org", MW_DOMAIN_EXACT, 9, 31, 0, 0);
    struct mw_domainset *s = build(b);

    struct mw_domain_match m;
    assert_int_equal(match(s, "foo.example.com"), 1);
    assert_int_equal(match2(s, NULL, "x.www.example.com", &m, NULL), 2);
    assert_true(m.rule.flags & MW_RULE_ALLOW);
    assert_int_equal(m.rule.list, 1);
    assert_int_equal(match2(s, NULL, "a.ads.www.example.com", &m, NULL), 3);
    assert_int_equal(m.rule.action, 7);
    assert_int_equal(m.rule.list, 2);

    assert_int_equal(match2(s, NULL, "shop.com", &m, NULL), 11);
    assert_int_equal(m.kind, MW_DOMAIN_EXACT);
    assert_int_equal(match(s, "www.shop.com"), 10);

    assert_int_equal(match(s, "two.net"), 21);
    assert_int_equal(match(s, "a.two.net"), 20);

    assert_int_equal(match(s, "bad.safe.org"), 31);
    assert_int_equal(match(s, "x.bad.safe.org"), 30);
    assert_int_equal(match(s, "safe.org"), 30);
    mw_domainset_free(s);
}

static void test_duplicates(void **state)
{
    (void)state;
    struct mw_domainset_builder *b = mw_domainset_builder_new(0);
    add(b, "dup.com", MW_DOMAIN_SUBTREE, 0, 1, 0, 0);
    add(b, "DUP.com", MW_DOMAIN_SUBTREE, 1, 2, 0, 0);
    add(b, "dup.com", MW_DOMAIN_SUBTREE, 2, 3, MW_RULE_ALLOW, 0);
    add(b, "dup.com", MW_DOMAIN_SUBTREE, 3, 4, MW_RULE_ALLOW, 0);
    add(b, "first.com", MW_DOMAIN_EXACT, 4, 5, 0, 1);
    add(b, "first.com", MW_DOMAIN_EXACT, 0, 6, 0, 2);
    for (int i = 0; i < 100; i++)
        add(b, "many.com", MW_DOMAIN_WILDCARD, 0, (uint32_t)(100 + i), 0, 0);
    struct mw_domainset *s = build(b);
    assert_int_equal(mw_domainset_count(s), 3);
    assert_int_equal(match(s, "dup.com"), 3);
    assert_int_equal(match(s, "first.com"), 5);
    assert_int_equal(match(s, "x.many.com"), 100);

    struct mw_rule r;
    uint8_t w[MW_DNAME_MAX + 1];
    int n = wire("first.com", w);
    assert_true(mw_domainset_get(s, w, (size_t)n, MW_DOMAIN_EXACT, &r));
    assert_int_equal(r.line, 5);
    assert_int_equal(r.action, 1);
    assert_false(mw_domainset_get(s, w, (size_t)n, MW_DOMAIN_SUBTREE, &r));
    mw_domainset_free(s);
}

static void test_root_and_tld(void **state)
{
    (void)state;
    struct mw_domainset_builder *b = mw_domainset_builder_new(0);
    add(b, ".", MW_DOMAIN_WILDCARD, 0, 1, 0, 0);
    add(b, "com", MW_DOMAIN_SUBTREE, 0, 2, 0, 0);
    add(b, "ok.com", MW_DOMAIN_SUBTREE, 0, 3, MW_RULE_ALLOW, 0);
    add(b, "zz", MW_DOMAIN_EXACT, 0, 4, 0, 0);
    struct mw_domainset *s = build(b);
    assert_int_equal(match(s, "."), 0);
    assert_int_equal(match(s, "org"), 1);
    assert_int_equal(match(s, "example.org"), 1);
    assert_int_equal(match(s, "com"), 2);
    assert_int_equal(match(s, "a.com"), 2);
    assert_int_equal(match(s, "x.ok.com"), 3);
    assert_int_equal(match(s, "zz"), 4);
    assert_int_equal(match(s, "a.zz"), 1);
    mw_domainset_free(s);

    b = mw_domainset_builder_new(0);
    add(b, ".", MW_DOMAIN_EXACT, 0, 5, 0, 0);
    s = build(b);
    assert_int_equal(match(s, "."), 5);
    assert_int_equal(match(s, "com"), 0);
    mw_domainset_free(s);

    b = mw_domainset_builder_new(0);
    add(b, ".", MW_DOMAIN_SUBTREE, 0, 6, 0, 0);
    s = build(b);
    assert_int_equal(match(s, "."), 6);
    assert_int_equal(match(s, "a.b.c"), 6);
    mw_domainset_free(s);
}

/* A name of n one-octet labels "a.a.a...." (wire 2n + 1 octets). */
static int long_name(uint8_t *w, int labels, char c)
{
    for (int i = 0; i < labels; i++) {
        w[2 * i] = 1;
        w[2 * i + 1] = (uint8_t)c;
    }
    w[2 * labels] = 0;
    return 2 * labels + 1;
}

static void test_long_names(void **state)
{
    (void)state;
    uint8_t w[MW_DNAME_MAX + 1], q[MW_DNAME_MAX + 1];
    struct mw_rule r = {.line = 1};
    struct mw_domainset_builder *b = mw_domainset_builder_new(0);

    int n = long_name(w, 127, 'a'); /* 255 octets */
    assert_int_equal(n, 255);
    assert_int_equal(mw_domainset_builder_add(b, w, (size_t)n, MW_DOMAIN_EXACT, &r), 0);
    /* Four 63-octet labels minus one: 1+63 + 1+63 + 1+63 + 1+61 + 1 = 255. */
    uint8_t big[MW_DNAME_MAX + 1];
    size_t o = 0;
    for (int i = 0; i < 4; i++) {
        int l = i == 3 ? 61 : 63;
        big[o++] = (uint8_t)l;
        memset(big + o, 'b' + i, (size_t)l);
        o += (size_t)l;
    }
    big[o++] = 0;
    assert_int_equal(o, 255);
    r.line = 2;
    assert_int_equal(mw_domainset_builder_add(b, big, o, MW_DOMAIN_SUBTREE, &r), 0);
    /* Suffix of the long name: the last 10 labels. */
    r.line = 3;
    assert_int_equal(mw_domainset_builder_add(b, w + 234, 21, MW_DOMAIN_WILDCARD, &r), 0);
    /* Too long, bad labels. */
    uint8_t bad[300];
    memset(bad, 0, sizeof(bad));
    long_name(bad, 128, 'x');
    assert_int_equal(mw_domainset_builder_add(b, bad, 257, MW_DOMAIN_EXACT, &r), -EINVAL);
    assert_int_equal(mw_domainset_builder_add(b, (const uint8_t *)"\100", 1, 0, &r), -EINVAL);
    assert_int_equal(mw_domainset_builder_add(b, (const uint8_t *)"\3ab\0", 4, 0, &r), -EINVAL);
    assert_int_equal(mw_domainset_builder_add(b, (const uint8_t *)"\1a\0x", 4, 0, &r), -EINVAL);
    assert_int_equal(mw_domainset_builder_add(b, (const uint8_t *)"\0", 1, 3, &r), -EINVAL);
    assert_int_equal(mw_domainset_builder_add(b, (const uint8_t *)"\0", 1, 0, NULL), -EINVAL);
    struct mw_domainset *s = build(b);
    assert_int_equal(mw_domainset_count(s), 3);

    struct mw_domain_match m;
    assert_true(mw_domainset_match(s, w, 255, &m));
    assert_int_equal(m.rule.line, 1);
    assert_true(mw_domainset_match(s, big, 255, &m));
    assert_int_equal(m.rule.line, 2);
    /* 126 labels: below the 10-label suffix, not the 127-label exact name. */
    assert_true(mw_domainset_match(s, w + 2, 253, &m));
    assert_int_equal(m.rule.line, 3);
    assert_int_equal(m.offset, 232);
    assert_false(mw_domainset_match(s, w + 234, 21, &m));
    n = long_name(q, 127, 'c');
    assert_false(mw_domainset_match(s, q, (size_t)n, &m));
    /* Malformed query names are misses, never reads out of bounds. */
    assert_false(mw_domainset_match(s, bad, 257, &m));
    assert_false(mw_domainset_match(s, (const uint8_t *)"\5ab", 3, &m));
    assert_false(mw_domainset_match(s, (const uint8_t *)"", 0, &m));
    assert_false(mw_domainset_match(s, w, 254, &m));
    mw_domainset_free(s);
}

struct collect {
    int n, removed;
    char seen[16][340];
};

static int collect_cb(const struct mw_domain_rule *r, void *arg)
{
    struct collect *c = arg;
    char txt[300];
    assert_true(mw_dname_to_text(r->name, r->name_len, txt, sizeof(txt)) >= 0);
    assert_true(c->n < 16);
    snprintf(c->seen[c->n++], sizeof(c->seen[0]), "%s/%d/%u/%u/%d", txt, r->kind, r->rule.line,
             r->rule.list, r->removed);
    c->removed += r->removed;
    return 0;
}

static int stop_cb(const struct mw_domain_rule *r, void *arg)
{
    (void)r;
    return ++*(int *)arg == 2 ? 42 : 0;
}

static bool seen(const struct collect *c, const char *s)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->seen[i], s) == 0)
            return true;
    return false;
}

static void test_foreach(void **state)
{
    (void)state;
    struct mw_domainset_builder *b = mw_domainset_builder_new(0);
    add(b, "a.example.com", MW_DOMAIN_SUBTREE, 1, 10, 0, 0);
    add(b, "a.example.com", MW_DOMAIN_EXACT, 2, 11, 0, 0);
    add(b, "x.y", MW_DOMAIN_WILDCARD, 3, 12, 0, 0);
    add(b, "other.com", MW_DOMAIN_SUBTREE, 4, 13, 0, 0);
    add(b, ".", MW_DOMAIN_EXACT, 5, 14, 0, 0);
    del(b, "gone.com", MW_DOMAIN_SUBTREE);
    struct mw_domainset *s = build(b);
    assert_int_equal(mw_domainset_count(s), 5);
    struct collect c = {0};
    assert_int_equal(mw_domainset_foreach(s, collect_cb, &c), 0);
    assert_int_equal(c.n, 6);
    assert_int_equal(c.removed, 1);
    assert_true(seen(&c, "a.example.com/0/10/1/0"));
    assert_true(seen(&c, "a.example.com/1/11/2/0"));
    assert_true(seen(&c, "x.y/2/12/3/0"));
    assert_true(seen(&c, "other.com/0/13/4/0"));
    assert_true(seen(&c, "./1/14/5/0"));
    assert_true(seen(&c, "gone.com/0/0/0/1"));
    int calls = 0;
    assert_int_equal(mw_domainset_foreach(s, stop_cb, &calls), 42);
    assert_int_equal(calls, 2);
    /* A tombstone alone never matches. */
    assert_int_equal(match(s, "gone.com"), 0);
    mw_domainset_free(s);
}

static uint32_t oget(const struct mw_domainset *s, const struct mw_domainset *d, const char *n,
                     int kind)
{
    uint8_t w[MW_DNAME_MAX + 1];
    int len = wire(n, w);
    struct mw_rule r;
    return mw_domainset_overlay_get(s, d, w, (size_t)len, kind, &r) ? r.line : 0;
}

static void test_overlay(void **state)
{
    (void)state;
    struct mw_domainset_builder *b = mw_domainset_builder_new(0);
    add(b, "example.com", MW_DOMAIN_SUBTREE, 0, 1, 0, 0);
    add(b, "ads.example.com", MW_DOMAIN_SUBTREE, 0, 2, 0, 0);
    add(b, "keep.net", MW_DOMAIN_SUBTREE, 0, 3, 0, 0);
    add(b, "change.org", MW_DOMAIN_EXACT, 0, 4, 0, 1);
    add(b, "allow.org", MW_DOMAIN_SUBTREE, 0, 5, 0, 0);
    add(b, "base-allow.org", MW_DOMAIN_SUBTREE, 0, 6, MW_RULE_ALLOW, 0);
    struct mw_domainset *base = build(b);

    b = mw_domainset_builder_new(0);
    del(b, "ads.example.com", MW_DOMAIN_SUBTREE); /* exposes example.com */
    del(b, "keep.net", MW_DOMAIN_EXACT);          /* other kind: no effect */
    add(b, "new.io", MW_DOMAIN_SUBTREE, 1, 100, 0, 0);
    del(b, "change.org", MW_DOMAIN_EXACT);
    add(b, "change.org", MW_DOMAIN_EXACT, 1, 101, 0, 2);
    add(b, "allow.org", MW_DOMAIN_SUBTREE, 1, 102, MW_RULE_ALLOW, 0);
    add(b, "keep.net", MW_DOMAIN_SUBTREE, 1, 103, 0, 0); /* base stays first */
    add(b, "base-allow.org", MW_DOMAIN_SUBTREE, 1, 104, 0, 0);
    add(b, "x.example.com", MW_DOMAIN_EXACT, 1, 105, MW_RULE_ALLOW, 0);
    del(b, "never.com", MW_DOMAIN_SUBTREE);
    struct mw_domainset *delta = build(b);

    struct mw_domain_match m;
    assert_int_equal(match2(base, delta, "ads.example.com", &m, NULL), 1);
    assert_int_equal(match2(base, NULL, "ads.example.com", &m, NULL), 2);
    assert_int_equal(match2(base, delta, "keep.net", &m, NULL), 3);
    assert_int_equal(match2(base, delta, "a.new.io", &m, NULL), 100);
    assert_int_equal(match2(base, delta, "change.org", &m, NULL), 101);
    assert_int_equal(m.rule.action, 2);
    assert_int_equal(match2(base, delta, "allow.org", &m, NULL), 102);
    assert_int_equal(match2(base, delta, "base-allow.org", &m, NULL), 6);
    assert_int_equal(match2(base, delta, "x.example.com", &m, NULL), 105);
    assert_int_equal(match2(base, delta, "y.x.example.com", &m, NULL), 1);
    assert_int_equal(match2(base, delta, "never.com", &m, NULL), 0);
    assert_int_equal(match2(delta, NULL, "new.io", &m, NULL), 100);

    assert_int_equal(oget(base, delta, "ads.example.com", MW_DOMAIN_SUBTREE), 0);
    assert_int_equal(oget(base, NULL, "ads.example.com", MW_DOMAIN_SUBTREE), 2);
    assert_int_equal(oget(base, delta, "change.org", MW_DOMAIN_EXACT), 101);
    assert_int_equal(oget(base, delta, "keep.net", MW_DOMAIN_SUBTREE), 3);
    assert_int_equal(oget(base, delta, "allow.org", MW_DOMAIN_SUBTREE), 102);
    assert_int_equal(oget(base, delta, "new.io", MW_DOMAIN_SUBTREE), 100);
    assert_int_equal(oget(base, delta, "new.io", MW_DOMAIN_EXACT), 0);
    mw_domainset_free(base);
    mw_domainset_free(delta);
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void gen_name(char *out, int maxlabels)
{
    static const char *labs[] = {"a", "b", "ab", "ba", "abc", "x-y", "0"};
    static const char *tlds[] = {"com", "net", "a", "org"};
    int n = (int)rnd((uint32_t)maxlabels + 1);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        strcat(out, labs[rnd(7)]);
        strcat(out, ".");
    }
    if (n || rnd(8))
        strcat(out, tlds[rnd(4)]);
    else
        strcpy(out, ".");
}

struct ref_rule {
    uint8_t w[MW_DNAME_MAX + 1];
    int len, kind;
    bool removed;
    struct mw_rule r;
};

static bool allow(const struct mw_rule *r)
{
    return r->flags & MW_RULE_ALLOW;
}

/* The deduplicated rule for (name, kind) among rules[0..n): allow beats block, else first. */
static const struct mw_rule *ref_get(const struct ref_rule *rules, int n, const uint8_t *w, int len,
                                     int kind, bool removed)
{
    const struct mw_rule *best = NULL;
    for (int i = 0; i < n; i++) {
        const struct ref_rule *x = &rules[i];
        if (x->kind != kind || x->removed != removed || x->len != len ||
            memcmp(x->w, w, (size_t)len))
            continue;
        if (!best || (allow(&x->r) && !allow(best)))
            best = &x->r;
    }
    return best;
}

static bool ref_better(const struct mw_rule *a, const struct mw_rule *b)
{
    if (allow(a) != allow(b))
        return allow(a);
    if (a->list != b->list)
        return a->list < b->list;
    return a->line < b->line;
}

/* Brute force over (base, delta) rule arrays. */
static uint32_t ref_match(const struct ref_rule *base, int nb, const struct ref_rule *delta, int nd,
                          const uint8_t *q, int qlen)
{
    int off = 0;
    for (;;) {
        const struct mw_rule *win = NULL;
        for (int kind = 0; kind < 3; kind++) {
            if ((off == 0 && kind == MW_DOMAIN_WILDCARD) || (off > 0 && kind == MW_DOMAIN_EXACT))
                continue;
            const struct mw_rule *c = ref_get(base, nb, q + off, qlen - off, kind, false);
            if (c && ref_get(delta, nd, q + off, qlen - off, kind, true))
                c = NULL;
            const struct mw_rule *d = ref_get(delta, nd, q + off, qlen - off, kind, false);
            if (d && (!c || (allow(d) && !allow(c))))
                c = d;
            if (c && (!win || ref_better(c, win)))
                win = c;
        }
        if (win)
            return win->line;
        if (q[off] == 0)
            return 0;
        off += q[off] + 1;
    }
}

static void fill_random(struct mw_domainset_builder *b, struct ref_rule *rules, int n,
                        bool with_removes, uint32_t line0)
{
    for (int i = 0; i < n; i++) {
        char txt[300];
        gen_name(txt, 3);
        struct ref_rule *x = &rules[i];
        x->len = wire(txt, x->w);
        x->kind = (int)rnd(3);
        x->removed = with_removes && rnd(3) == 0;
        x->r = (struct mw_rule){.line = line0 + (uint32_t)i,
                                .list = (uint16_t)rnd(4),
                                .flags = rnd(4) == 0 ? MW_RULE_ALLOW : 0,
                                .action = (uint8_t)rnd(3)};
        if (x->removed) {
            x->r.flags = x->r.action = 0;
            assert_int_equal(mw_domainset_builder_remove(b, x->w, (size_t)x->len, x->kind, &x->r),
                             0);
        } else {
            assert_int_equal(mw_domainset_builder_add(b, x->w, (size_t)x->len, x->kind, &x->r), 0);
        }
    }
}

static void test_random_reference(void **state)
{
    (void)state;
    enum { NB = 400, ND = 60, NQ = 4000 };
    struct ref_rule *base = calloc(NB, sizeof(*base)), *delta = calloc(ND, sizeof(*delta));
    assert_non_null(base);
    assert_non_null(delta);
    for (int round = 0; round < 5; round++) {
        struct mw_domainset_builder *b = mw_domainset_builder_new(0);
        fill_random(b, base, NB, false, 1);
        struct mw_domainset *s = build(b);
        b = mw_domainset_builder_new(0);
        fill_random(b, delta, ND, true, 10000);
        struct mw_domainset *d = build(b);
        for (int i = 0; i < NQ; i++) {
            char txt[300];
            gen_name(txt, 5);
            uint8_t q[MW_DNAME_MAX + 1];
            int qlen = wire(txt, q);
            struct mw_domain_match m;
            uint32_t got = mw_domainset_match(s, q, (size_t)qlen, &m) ? m.rule.line : 0;
            uint32_t want = ref_match(base, NB, NULL, 0, q, qlen);
            if (got != want)
                fail_msg("%s: got line %u, want %u", txt, got, want);
            got = mw_domainset_overlay_match(s, d, q, (size_t)qlen, &m) ? m.rule.line : 0;
            want = ref_match(base, NB, delta, ND, q, qlen);
            if (got != want)
                fail_msg("overlay %s: got line %u, want %u", txt, got, want);
        }
        mw_domainset_free(s);
        mw_domainset_free(d);
    }
    free(base);
    free(delta);
}

/* Names with octets outside [a-z0-9-] (escaped in the packed form), names whose packed form
 * is long (extended entries), a dot or a zero octet inside a label, uppercase (folded): each
 * matches itself only, and foreach gives back the exact wire name. */
struct rt {
    int n;
    uint8_t names[64][MW_DNAME_MAX + 1];
    size_t lens[64];
};

static int rt_cb(const struct mw_domain_rule *r, void *arg)
{
    struct rt *t = arg;
    assert_true(t->n < 64);
    memcpy(t->names[t->n], r->name, r->name_len);
    t->lens[t->n++] = r->name_len;
    return 0;
}

static void test_packed_names(void **state)
{
    (void)state;
    enum { N = 48 };
    static uint8_t w[N][MW_DNAME_MAX + 1];
    size_t len[N];
    for (int i = 0; i < N; i++) {
        /* Labels of random length over all octets (uppercase excluded: it is folded). */
        size_t o = 0;
        int labels = 1 + (int)rnd(i < 8 ? 4 : 6);
        for (int l = 0; l < labels && o < 200; l++) {
            size_t ll = 1 + rnd(i < 8 ? 63 : 20);
            if (o + ll + 2 > MW_DNAME_MAX)
                break;
            w[i][o++] = (uint8_t)ll;
            for (size_t k = 0; k < ll; k++) {
                uint8_t c = (uint8_t)rnd(256);
                if (c >= 'A' && c <= 'Z')
                    c = (uint8_t)(c + 32);
                if (i % 3 == 1)
                    c = (uint8_t)("az09-_."[rnd(7)]);
                w[i][o++] = c;
            }
        }
        if (i % 4 == 0) { /* a dictionary last label for some */
            memcpy(w[i] + o, "\3com", 4);
            o += 4;
        }
        w[i][o++] = 0;
        len[i] = o;
    }
    struct mw_domainset_builder *b = mw_domainset_builder_new(0);
    for (int i = 0; i < N; i++) {
        struct mw_rule r = {.line = (uint32_t)i + 1, .list = (uint16_t)(i % 5)};
        assert_int_equal(mw_domainset_builder_add(b, w[i], len[i], MW_DOMAIN_EXACT, &r), 0);
    }
    /* Names that differ only in where a dot sits, and a zero octet inside a label. */
    struct mw_rule r1 = {.line = 1001}, r2 = {.line = 1002}, r3 = {.line = 1003};
    assert_int_equal(mw_domainset_builder_add(b, (const uint8_t *)"\3a.b\3com", 9, 1, &r1), 0);
    assert_int_equal(mw_domainset_builder_add(b, (const uint8_t *)"\3a\0b\3com", 9, 1, &r2), 0);
    assert_int_equal(mw_domainset_builder_add(b, (const uint8_t *)"\3AbC\3cOm", 9, 1, &r3), 0);
    struct mw_domainset *s = build(b);
    struct mw_domain_match m;
    for (int i = 0; i < N; i++) {
        assert_true(mw_domainset_match(s, w[i], len[i], &m));
        assert_int_equal(m.rule.line, (uint32_t)i + 1);
        assert_int_equal(m.offset, 0);
    }
    assert_true(mw_domainset_match(s, (const uint8_t *)"\3a.b\3com", 9, &m));
    assert_int_equal(m.rule.line, 1001);
    assert_true(mw_domainset_match(s, (const uint8_t *)"\3a\0b\3com", 9, &m));
    assert_int_equal(m.rule.line, 1002);
    assert_true(mw_domainset_match(s, (const uint8_t *)"\3abc\3com", 9, &m));
    assert_int_equal(m.rule.line, 1003);
    assert_false(mw_domainset_match(s, (const uint8_t *)"\1a\1b\3com", 9, &m));
    assert_false(mw_domainset_match(s, (const uint8_t *)"\3a\1b\3com", 9, &m));
    assert_false(mw_domainset_match(s, (const uint8_t *)"\3a-b\3com", 9, &m));

    struct rt *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    assert_int_equal(mw_domainset_foreach(s, rt_cb, t), 0);
    assert_int_equal(t->n, N + 3);
    for (int i = 0; i < N; i++) {
        bool found = false;
        for (int j = 0; j < t->n && !found; j++)
            found = t->lens[j] == len[i] && memcmp(t->names[j], w[i], len[i]) == 0;
        if (!found)
            fail_msg("name %d not given back by foreach", i);
    }
    free(t);
    mw_domainset_free(s);
}

/* foreach gives names back that get finds with the same rule. */
struct back {
    const struct mw_domainset *s;
    int n;
};

static int back_cb(const struct mw_domain_rule *r, void *arg)
{
    struct back *bk = arg;
    struct mw_rule got;
    assert_true(mw_domainset_get(bk->s, r->name, r->name_len, r->kind, &got));
    assert_int_equal(got.line, r->rule.line);
    bk->n++;
    return 0;
}

/* Many distinct last labels: more than the builder tracks (the rest stay among the symbols),
 * ids past one octet, labels seen twice but left out of the set's dictionary (repacked with
 * their names), labels seen once. Every name is found, no other, and foreach gives them all. */
static void test_many_tlds(void **state)
{
    (void)state;
    enum { REP = 600, UNIQ = 3500 };
    struct mw_domainset_builder *b = mw_domainset_builder_new(0);
    char txt[64];
    for (int i = 0; i < REP; i++) {
        snprintf(txt, sizeof(txt), "m%d.w%d", i, i % (REP / 2));
        add(b, txt, MW_DOMAIN_SUBTREE, 0, (uint32_t)i + 1, 0, 0);
    }
    for (int i = 0; i < UNIQ; i++) {
        snprintf(txt, sizeof(txt), "n%d.t%d", i, i);
        add(b, txt, MW_DOMAIN_EXACT, 1, (uint32_t)(REP + i + 1), 0, 0);
    }
    struct mw_domainset *s = build(b);
    assert_int_equal(mw_domainset_count(s), REP + UNIQ);
    for (int i = 0; i < REP; i++) {
        snprintf(txt, sizeof(txt), "x.m%d.w%d", i, i % (REP / 2));
        assert_int_equal(match(s, txt), (uint32_t)i + 1);
        snprintf(txt, sizeof(txt), "m%d.w%d", i, (i + 1) % (REP / 2));
        assert_int_equal(match(s, txt), 0);
    }
    for (int i = 0; i < UNIQ; i++) {
        snprintf(txt, sizeof(txt), "n%d.t%d", i, i);
        assert_int_equal(match(s, txt), (uint32_t)(REP + i + 1));
        snprintf(txt, sizeof(txt), "x.n%d.t%d", i, i);
        assert_int_equal(match(s, txt), 0);
    }
    struct back bk = {.s = s};
    assert_int_equal(mw_domainset_foreach(s, back_cb, &bk), 0);
    assert_int_equal(bk.n, REP + UNIQ);
    mw_domainset_free(s);
}

static void test_memory(void **state)
{
    (void)state;
    enum { N = 200000 };
    static const char *tlds[] = {"com", "net", "org", "io", "de", "ru", "xyz", "info"};
    struct mw_domainset_builder *b = mw_domainset_builder_new(N);
    size_t raw = 0;
    char keep[80];
    for (int i = 0; i < N; i++) {
        char txt[64];
        int k = (int)rnd(10);
        if (k < 6)
            snprintf(txt, sizeof(txt), "d%07x.%s", (unsigned)i, tlds[rnd(8)]);
        else if (k < 9)
            snprintf(txt, sizeof(txt), "www.d%07x.%s", (unsigned)i, tlds[rnd(8)]);
        else
            snprintf(txt, sizeof(txt), "a.cdn.d%07x.%s", (unsigned)i, tlds[rnd(8)]);
        raw += strlen(txt) + 1;
        if (i == 7)
            snprintf(keep, sizeof(keep), "x.%s", txt);
        add(b, txt, MW_DOMAIN_SUBTREE, 0, (uint32_t)i + 1, 0, 0);
    }
    struct mw_domainset *s = build(b);
    assert_int_equal(mw_domainset_count(s), N);
    size_t bytes = mw_domainset_bytes(s);
    /* At most 16 octets per domain (packed names, one class), and not less than half the text. */
    assert_true(bytes <= 16 * (size_t)N);
    assert_true(bytes >= raw / 2);
    assert_int_equal(match(s, keep), 8);
    mw_domainset_free(s);
}

/* mw_domainset_get_if against its definition: for every subset of four lists, the rule of a
 * set built from only those lists' rules (added in the same order). Names from a small space,
 * so most are held by several lists, with allow rules and duplicates inside one list. */
static bool keep_mask(const struct mw_rule *r, void *arg)
{
    return (*(const unsigned *)arg >> r->list) & 1;
}

static void test_get_if_reference(void **state)
{
    (void)state;
    enum { N = 400 };
    struct ref_rule *rules = calloc(N, sizeof(*rules));
    assert_non_null(rules);
    struct mw_domainset_builder *b = mw_domainset_builder_new(0);
    for (int i = 0; i < N; i++) {
        char name[256];
        gen_name(name, 2);
        struct ref_rule *x = &rules[i];
        x->len = wire(name, x->w);
        x->kind = (int)rnd(3);
        x->r = (struct mw_rule){.line = (uint32_t)i + 1,
                                .list = (uint16_t)rnd(4),
                                .flags = rnd(4) == 0 ? MW_RULE_ALLOW : 0,
                                .action = (uint8_t)rnd(3)};
        assert_int_equal(mw_domainset_builder_add(b, x->w, (size_t)x->len, x->kind, &x->r), 0);
    }
    struct mw_domainset *full = build(b);
    assert_true(mw_domainset_hidden(full) > 0);
    for (unsigned mask = 0; mask < 16; mask++) {
        struct mw_domainset_builder *sb = mw_domainset_builder_new(0);
        for (int i = 0; i < N; i++)
            if ((mask >> rules[i].r.list) & 1)
                assert_int_equal(mw_domainset_builder_add(sb, rules[i].w, (size_t)rules[i].len,
                                                          rules[i].kind, &rules[i].r),
                                 0);
        struct mw_domainset *sub = build(sb);
        for (int i = 0; i < N; i++) {
            for (int k = 0; k < 3; k++) {
                struct mw_rule want, got;
                bool w = mw_domainset_get(sub, rules[i].w, (size_t)rules[i].len, k, &want);
                bool g = mw_domainset_get_if(full, rules[i].w, (size_t)rules[i].len, k, keep_mask,
                                             &mask, &got);
                assert_int_equal(g, w);
                if (w) {
                    assert_int_equal(got.line, want.line);
                    assert_int_equal(got.list, want.list);
                    assert_int_equal(got.flags, want.flags);
                    assert_int_equal(got.action, want.action);
                }
            }
        }
        mw_domainset_free(sub);
    }
    mw_domainset_free(full);
    free(rules);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_specificity),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_root_and_tld),
        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_overlay),
        cmocka_unit_test(test_random_reference),
        cmocka_unit_test(test_packed_names),
        cmocka_unit_test(test_many_tlds),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_get_if_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
