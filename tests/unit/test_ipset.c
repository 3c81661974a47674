/* Unit tests for ipset.c: longest-prefix match in IPv4 and IPv6, /0, /32 and /128, the two
 * families kept apart, duplicates and allow precedence, invalid prefixes, the empty set, and a
 * randomised comparison with a brute-force reference (with and without the range index). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/ipset.h"

static void add(struct mw_ipset_builder *b, const char *cidr, uint32_t line, uint8_t flags)
{
    struct mw_cidr c;
    assert_int_equal(mw_cidr_parse(cidr, &c), 0);
    struct mw_rule r = {.line = line, .list = 1, .flags = flags, .action = 3};
    assert_int_equal(mw_ipset_builder_add(b, &c, &r), 0);
}

static struct mw_ipset *build(struct mw_ipset_builder *b)
{
    struct mw_ipset *s = NULL;
    assert_int_equal(mw_ipset_build(b, &s), 0);
    assert_non_null(s);
    return s;
}

/* The matched line, or 0; *plen the matched prefix length. */
static uint32_t match(const struct mw_ipset *s, const char *ip, int *plen)
{
    uint8_t a[16];
    int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(fam, ip, a), 1);
    struct mw_ip_match m;
    if (!mw_ipset_match(s, fam, a, &m))
        return 0;
    assert_int_equal(m.prefix.family, fam);
    assert_int_equal(m.rule.list, 1);
    if (plen)
        *plen = m.prefix.prefix;
    return m.rule.line;
}

static void test_empty(void **state)
{
    (void)state;
    struct mw_ipset *s = build(mw_ipset_builder_new(0));
    assert_int_equal(mw_ipset_count(s), 0);
    assert_int_equal(match(s, "1.2.3.4", NULL), 0);
    assert_int_equal(match(s, "::1", NULL), 0);
    assert_true(mw_ipset_bytes(s) > 0);
    uint8_t a[16] = {0};
    struct mw_ip_match m;
    assert_false(mw_ipset_match(s, AF_UNIX, a, &m));
    mw_ipset_free(s);
    mw_ipset_free(NULL);
    mw_ipset_builder_free(NULL);
}

static void test_v4(void **state)
{
    (void)state;
    struct mw_ipset_builder *b = mw_ipset_builder_new(8);
    add(b, "10.0.0.0/8", 1, 0);
    add(b, "10.1.0.0/16", 2, MW_RULE_ALLOW);
    add(b, "10.1.2.0/24", 3, 0);
    add(b, "10.1.2.3/32", 4, 0);
    add(b, "192.168.0.0/16", 5, 0);
    add(b, "255.255.255.255/32", 6, 0);
    add(b, "0.0.0.0/32", 7, 0);
    struct mw_ipset *s = build(b);
    assert_int_equal(mw_ipset_count(s), 7);
    int plen;
    assert_int_equal(match(s, "10.200.0.1", &plen), 1);
    assert_int_equal(plen, 8);
    assert_int_equal(match(s, "10.1.200.1", &plen), 2);
    assert_int_equal(plen, 16);
    assert_int_equal(match(s, "10.1.2.2", NULL), 3);
    assert_int_equal(match(s, "10.1.2.3", &plen), 4);
    assert_int_equal(plen, 32);
    assert_int_equal(match(s, "10.1.2.4", NULL), 3);
    assert_int_equal(match(s, "10.1.3.0", NULL), 2);
    assert_int_equal(match(s, "10.2.0.0", NULL), 1);
    assert_int_equal(match(s, "10.255.255.255", NULL), 1);
    assert_int_equal(match(s, "11.0.0.0", NULL), 0);
    assert_int_equal(match(s, "9.255.255.255", NULL), 0);
    assert_int_equal(match(s, "192.168.255.255", NULL), 5);
    assert_int_equal(match(s, "192.169.0.0", NULL), 0);
    assert_int_equal(match(s, "255.255.255.255", NULL), 6);
    assert_int_equal(match(s, "255.255.255.254", NULL), 0);
    assert_int_equal(match(s, "0.0.0.0", NULL), 7);
    assert_int_equal(match(s, "0.0.0.1", NULL), 0);
    /* Families apart: no IPv6 rules at all, and mapped addresses are IPv6. */
    assert_int_equal(match(s, "::ffff:10.1.2.3", NULL), 0);
    assert_int_equal(match(s, "a00::", NULL), 0);
    mw_ipset_free(s);
}

static void test_v6_and_zero(void **state)
{
    (void)state;
    struct mw_ipset_builder *b = mw_ipset_builder_new(0);
    add(b, "::/0", 1, 0);
    add(b, "2001:db8::/32", 2, 0);
    add(b, "2001:db8::/64", 3, MW_RULE_ALLOW);
    add(b, "2001:db8::1/128", 4, 0);
    add(b, "2001:db8:0:0:8000::/65", 5, 0);
    add(b, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 6, 0);
    add(b, "0.0.0.0/0", 7, 0);
    add(b, "1.2.3.0/24", 8, 0);
    struct mw_ipset *s = build(b);
    int plen;
    assert_int_equal(match(s, "::", &plen), 1);
    assert_int_equal(plen, 0);
    assert_int_equal(match(s, "2001:db9::", NULL), 1);
    assert_int_equal(match(s, "2001:db8:1::", &plen), 2);
    assert_int_equal(plen, 32);
    assert_int_equal(match(s, "2001:db8::2", NULL), 3);
    assert_int_equal(match(s, "2001:db8::1", &plen), 4);
    assert_int_equal(plen, 128);
    assert_int_equal(match(s, "2001:db8::7fff:ffff:ffff:ffff", NULL), 3);
    assert_int_equal(match(s, "2001:db8::8000:0:0:0", &plen), 5);
    assert_int_equal(plen, 65);
    assert_int_equal(match(s, "2001:db8::ffff:ffff:ffff:ffff", NULL), 5);
    assert_int_equal(match(s, "2001:db8:0:1::", NULL), 2);
    assert_int_equal(match(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL), 6);
    assert_int_equal(match(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", NULL), 1);
    assert_int_equal(match(s, "::ffff:1.2.3.4", NULL), 1);
    assert_int_equal(match(s, "1.2.3.4", &plen), 8);
    assert_int_equal(plen, 24);
    assert_int_equal(match(s, "1.2.4.4", &plen), 7);
    assert_int_equal(plen, 0);
    mw_ipset_free(s);
}

static void test_duplicates_and_invalid(void **state)
{
    (void)state;
    struct mw_ipset_builder *b = mw_ipset_builder_new(0);
    add(b, "10.0.0.0/8", 1, 0);
    add(b, "10.0.0.0/8", 2, 0);
    add(b, "10.0.0.0/8", 3, MW_RULE_ALLOW);
    add(b, "10.0.0.0/8", 4, MW_RULE_ALLOW);
    add(b, "10.0.0.0/9", 5, 0);
    struct mw_cidr c = {.family = AF_INET, .prefix = 8, .addr = {10, 0, 0, 1}};
    struct mw_rule r = {0};
    assert_int_equal(mw_ipset_builder_add(b, &c, &r), -EINVAL);
    c = (struct mw_cidr){.family = AF_INET, .prefix = 33};
    assert_int_equal(mw_ipset_builder_add(b, &c, &r), -EINVAL);
    c = (struct mw_cidr){.family = AF_INET6, .prefix = 129};
    assert_int_equal(mw_ipset_builder_add(b, &c, &r), -EINVAL);
    c = (struct mw_cidr){.family = AF_INET6, .prefix = 127, .addr = {[15] = 1}};
    assert_int_equal(mw_ipset_builder_add(b, &c, &r), -EINVAL);
    c = (struct mw_cidr){.family = AF_UNIX, .prefix = 0};
    assert_int_equal(mw_ipset_builder_add(b, &c, &r), -EINVAL);
    c = (struct mw_cidr){.family = AF_INET, .prefix = 0};
    assert_int_equal(mw_ipset_builder_add(b, &c, NULL), -EINVAL);
    struct mw_ipset *s = build(b);
    assert_int_equal(mw_ipset_count(s), 2);
    assert_int_equal(match(s, "10.200.0.0", NULL), 3);
    assert_int_equal(match(s, "10.100.0.0", NULL), 5);
    mw_ipset_free(s);
}

struct walk {
    int n;
    uint32_t lines[8];
};

static int walk_cb(const struct mw_cidr *p, const struct mw_rule *r, void *arg)
{
    struct walk *w = arg;
    (void)p;
    w->lines[w->n++] = r->line;
    return w->n == 3 ? 9 : 0;
}

static void test_foreach(void **state)
{
    (void)state;
    struct mw_ipset_builder *b = mw_ipset_builder_new(0);
    add(b, "fd00::/8", 1, 0);
    add(b, "10.0.0.0/8", 2, 0);
    add(b, "1.0.0.0/8", 3, 0);
    add(b, "10.0.0.0/16", 4, 0);
    struct mw_ipset *s = build(b);
    struct walk w = {0};
    assert_int_equal(mw_ipset_foreach(s, walk_cb, &w), 9);
    assert_int_equal(w.n, 3);
    assert_int_equal(w.lines[0], 3);
    assert_int_equal(w.lines[1], 2);
    assert_int_equal(w.lines[2], 4);
    mw_ipset_free(s);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

struct ref {
    struct mw_cidr c;
    struct mw_rule r;
};

static bool covers(const struct mw_cidr *c, int fam, const uint8_t *a)
{
    if (c->family != fam)
        return false;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, a, (size_t)full))
        return false;
    return !rest || ((c->addr[full] ^ a[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Random prefixes clustered in a few regions so that they nest; addresses near them. */
static void random_prefix(struct mw_cidr *c, int fam)
{
    memset(c, 0, sizeof(*c));
    c->family = (uint8_t)fam;
    int bits = fam == AF_INET ? 32 : 128;
    c->addr[0] = fam == AF_INET ? (uint8_t)(10 + rnd() % 3) : 0x20;
    c->addr[1] = (uint8_t)(rnd() % 4);
    for (int i = 2; i < bits / 8; i++)
        c->addr[i] = (uint8_t)(rnd() % 3 == 0 ? rnd() : rnd() % 4);
    c->prefix = (uint8_t)(rnd() % 6 == 0 ? rnd() % (bits + 1) : rnd() % (bits / 2) + 4);
    for (int i = 0; i < bits; i++)
        if (i >= c->prefix)
            c->addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
}

static void run_reference(int nrules, int nq)
{
    struct ref *refs = calloc((size_t)nrules, sizeof(*refs));
    assert_non_null(refs);
    struct mw_ipset_builder *b = mw_ipset_builder_new(0);
    for (int i = 0; i < nrules; i++) {
        random_prefix(&refs[i].c, rnd() % 2 ? AF_INET : AF_INET6);
        refs[i].r =
            (struct mw_rule){.line = (uint32_t)i + 1, .flags = rnd() % 4 == 0 ? MW_RULE_ALLOW : 0};
        assert_int_equal(mw_ipset_builder_add(b, &refs[i].c, &refs[i].r), 0);
    }
    struct mw_ipset *s = build(b);
    for (int q = 0; q < nq; q++) {
        struct mw_cidr a;
        int fam = rnd() % 2 ? AF_INET : AF_INET6;
        random_prefix(&a, fam);
        if (rnd() % 2) /* an address inside a rule */
            memcpy(a.addr, refs[rnd() % (uint32_t)nrules].c.addr, 16);
        int bits = a.family == AF_INET ? 32 : 128;
        for (int i = 0; i < bits / 8; i++)
            if (rnd() % 4 == 0)
                a.addr[i] ^= (uint8_t)rnd();
        fam = a.family;
        const struct ref *best = NULL;
        for (int i = 0; i < nrules; i++) {
            const struct ref *x = &refs[i];
            if (!covers(&x->c, fam, a.addr))
                continue;
            if (!best || x->c.prefix > best->c.prefix ||
                (x->c.prefix == best->c.prefix && (x->r.flags & MW_RULE_ALLOW) &&
                 !(best->r.flags & MW_RULE_ALLOW)))
                best = x;
        }
        struct mw_ip_match m;
        bool hit = mw_ipset_match(s, fam, a.addr, &m);
        assert_int_equal(hit, best != NULL);
        if (best) {
            assert_int_equal(m.rule.line, best->r.line);
            assert_int_equal(m.prefix.prefix, best->c.prefix);
        }
    }
    mw_ipset_free(s);
    free(refs);
}

static void test_random_reference(void **state)
{
    (void)state;
    run_reference(20, 5000);    /* no index */
    run_reference(3000, 20000); /* indexed */
}

static void test_many_v4_hosts(void **state)
{
    (void)state;
    /* 100k /32s and /24s over the whole space: every one finds itself. */
    enum { N = 100000 };
    struct mw_cidr *c = malloc(N * sizeof(*c));
    assert_non_null(c);
    struct mw_ipset_builder *b = mw_ipset_builder_new(N);
    for (int i = 0; i < N; i++) {
        uint32_t a = rnd() ^ (rnd() << 16);
        int len = i % 2 ? 32 : 24;
        if (len == 24)
            a &= 0xffffff00u;
        c[i] = (struct mw_cidr){.family = AF_INET, .prefix = (uint8_t)len};
        uint32_t be = htonl(a);
        memcpy(c[i].addr, &be, 4);
        struct mw_rule r = {.line = (uint32_t)i + 1};
        assert_int_equal(mw_ipset_builder_add(b, &c[i], &r), 0);
    }
    struct mw_ipset *s = build(b);
    for (int i = 0; i < N; i++) {
        struct mw_ip_match m;
        assert_true(mw_ipset_match(s, AF_INET, c[i].addr, &m));
        assert_true(m.prefix.prefix >= c[i].prefix);
    }
    assert_true(mw_ipset_bytes(s) < 100 * (size_t)N);
    mw_ipset_free(s);
    free(c);
}

/* mw_ipset_match_if against its definition: for every subset of four lists, the match in a
 * set built from only those lists' rules (added in the same order). Few distinct prefixes, so
 * lists share many, with allow rules and prefixes nested across lists. */
static bool keep_mask(const struct mw_rule *r, void *arg)
{
    return (*(const unsigned *)arg >> r->list) & 1;
}

static void test_match_if_reference(void **state)
{
    (void)state;
    enum { N = 600 };
    struct ref *refs = calloc(N, sizeof(*refs));
    assert_non_null(refs);
    struct mw_ipset_builder *b = mw_ipset_builder_new(0);
    for (int i = 0; i < N; i++) {
        if (i >= 40 && rnd() % 2) /* the prefix of an earlier rule, maybe of another list */
            refs[i].c = refs[rnd() % 40].c;
        else
            random_prefix(&refs[i].c, rnd() % 2 ? AF_INET : AF_INET6);
        refs[i].r = (struct mw_rule){.line = (uint32_t)i + 1,
                                     .list = (uint16_t)(rnd() % 4),
                                     .flags = rnd() % 4 == 0 ? MW_RULE_ALLOW : 0,
                                     .action = (uint8_t)(rnd() % 3)};
        assert_int_equal(mw_ipset_builder_add(b, &refs[i].c, &refs[i].r), 0);
    }
    struct mw_ipset *full = build(b);
    assert_true(mw_ipset_dups(full) > 0);
    for (unsigned mask = 0; mask < 16; mask++) {
        struct mw_ipset_builder *sb = mw_ipset_builder_new(0);
        for (int i = 0; i < N; i++)
            if ((mask >> refs[i].r.list) & 1)
                assert_int_equal(mw_ipset_builder_add(sb, &refs[i].c, &refs[i].r), 0);
        struct mw_ipset *sub = build(sb);
        for (int q = 0; q < 3000; q++) {
            struct mw_cidr a = refs[rnd() % N].c;
            int bits = a.family == AF_INET ? 32 : 128;
            for (int i = 0; i < bits / 8; i++)
                if (rnd() % 3 == 0)
                    a.addr[i] ^= (uint8_t)(rnd() % 4);
            struct mw_ip_match want, got;
            bool w = mw_ipset_match(sub, a.family, a.addr, &want);
            bool g = mw_ipset_match_if(full, a.family, a.addr, keep_mask, &mask, &got);
            assert_int_equal(g, w);
            if (w) {
                assert_int_equal(got.rule.line, want.rule.line);
                assert_int_equal(got.rule.list, want.rule.list);
                assert_int_equal(got.rule.flags, want.rule.flags);
                assert_int_equal(got.prefix.prefix, want.prefix.prefix);
            }
        }
        mw_ipset_free(sub);
    }
    mw_ipset_free(full);
    free(refs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),         cmocka_unit_test(test_v4),
        cmocka_unit_test(test_v6_and_zero),   cmocka_unit_test(test_duplicates_and_invalid),
        cmocka_unit_test(test_foreach),       cmocka_unit_test(test_random_reference),
        cmocka_unit_test(test_many_v4_hosts), cmocka_unit_test(test_match_if_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
