/* Unit tests for patternset.c: each metacharacter, bracket expressions, escapes, case folding,
 * syntax errors, precedence, the empty set, and 10,000 patterns compared with a brute-force
 * fnmatch(3) reference on random and pattern-derived names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/patternset.h"

static void add(struct mw_patternset_builder *b, const char *g, uint16_t list, uint32_t line,
                uint8_t flags)
{
    struct mw_rule r = {.line = line, .list = list, .flags = flags};
    assert_int_equal(mw_patternset_builder_add(b, g, &r), 0);
}

static struct mw_patternset *build(struct mw_patternset_builder *b)
{
    struct mw_patternset *s = NULL;
    assert_int_equal(mw_patternset_build(b, &s), 0);
    assert_non_null(s);
    return s;
}

static uint32_t match(const struct mw_patternset *s, const char *name)
{
    struct mw_pattern_match m;
    if (!mw_patternset_match(s, name, strlen(name), &m))
        return 0;
    assert_non_null(m.pattern);
    return m.rule.line;
}

/* One pattern, one name. */
static bool one(const char *g, const char *name)
{
    struct mw_patternset_builder *b = mw_patternset_builder_new(1);
    add(b, g, 0, 1, 0);
    struct mw_patternset *s = build(b);
    bool r = match(s, name) == 1;
    mw_patternset_free(s);
    return r;
}

static void test_empty(void **state)
{
    (void)state;
    struct mw_patternset *s = build(mw_patternset_builder_new(0));
    assert_int_equal(mw_patternset_count(s), 0);
    assert_int_equal(match(s, "example.com"), 0);
    assert_int_equal(match(s, ""), 0);
    assert_true(mw_patternset_bytes(s) > 0);
    mw_patternset_free(s);
    mw_patternset_free(NULL);
    mw_patternset_builder_free(NULL);
}

static void test_metachars(void **state)
{
    (void)state;
    assert_true(one("*", "anything.at.all"));
    assert_true(one("*", ""));
    assert_true(one("*.xmr-pool-*.*", "a.xmr-pool-1.example.com"));
    assert_false(one("*.xmr-pool-*.*", "xmr-pool-1.example.com"));
    assert_true(one("xmrig-*.*", "xmrig-6.21.com"));
    assert_false(one("xmrig-*.*", "axmrig-6.com"));
    assert_false(one("xmrig-*.*", "xmrig-6"));
    assert_true(one("pool?.minexmr.*", "pool1.minexmr.com"));
    assert_false(one("pool?.minexmr.*", "pool.minexmr.com"));
    assert_false(one("pool?.minexmr.*", "pool12.minexmr.com"));
    assert_true(one("*-mine-[0-9]*.com", "x-mine-7a.com"));
    assert_false(one("*-mine-[0-9]*.com", "x-mine-a7.com"));
    assert_false(one("*-mine-[0-9]*.com", "x-mine-7.net"));
    assert_true(one("[!a]b", "xb"));
    assert_false(one("[!a]b", "ab"));
    assert_true(one("[^a]b", "xb"));
    assert_true(one("[]a]", "]"));
    assert_true(one("[a-]", "-"));
    assert_true(one("[a-c]x", "bx"));
    assert_false(one("[a-c]x", "dx"));
    assert_true(one("\\*.com", "*.com"));
    assert_false(one("\\*.com", "a.com"));
    assert_true(one("a\\?", "a?"));
    assert_false(one("a\\?", "ab"));
    assert_true(one("[\\]]", "]"));
    assert_true(one("EXAMPLE.*", "example.org"));
    assert_true(one("[A-C]x", "bx"));
    assert_true(one("a**b", "ab"));
    assert_true(one("*a*b*c*", "xaxbxcx"));
    assert_false(one("*a*b*c*", "xcxbxax"));
    assert_true(one("", ""));
    assert_false(one("", "a"));
    assert_true(one("a", "a"));
    assert_false(one("a", "ab"));
    assert_true(one("?", "a"));
    assert_false(one("?", ""));
}

static void test_syntax_errors(void **state)
{
    (void)state;
    struct mw_patternset_builder *b = mw_patternset_builder_new(0);
    struct mw_rule r = {0};
    assert_int_equal(mw_patternset_builder_add(b, "[abc", &r), -EINVAL);
    assert_int_equal(mw_patternset_builder_add(b, "[", &r), -EINVAL);
    assert_int_equal(mw_patternset_builder_add(b, "abc\\", &r), -EINVAL);
    assert_int_equal(mw_patternset_builder_add(b, "[[:digit:]]", &r), -EINVAL);
    assert_int_equal(mw_patternset_builder_add(b, "[a-[:x:]]", &r), -EINVAL);
    assert_int_equal(mw_patternset_builder_add(b, NULL, &r), -EINVAL);
    assert_int_equal(mw_patternset_builder_add(b, "a", NULL), -EINVAL);
    char big[1100];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(mw_patternset_builder_add(b, big, &r), -EINVAL);
    big[1024] = '\0';
    assert_int_equal(mw_patternset_builder_add(b, big, &r), 0);
    add(b, "ok.*", 0, 2, 0);
    struct mw_patternset *s = build(b);
    assert_int_equal(mw_patternset_count(s), 2);
    assert_int_equal(match(s, "ok.com"), 2);
    mw_patternset_free(s);
}

static void test_precedence(void **state)
{
    (void)state;
    struct mw_patternset_builder *b = mw_patternset_builder_new(0);
    add(b, "*.example.*", 3, 10, 0);
    add(b, "ads.*", 1, 20, 0);
    add(b, "ads.example.com", 2, 5, MW_RULE_ALLOW);
    add(b, "*", 9, 1, 0);
    add(b, "*track*", 1, 30, 0);
    add(b, "*track*", 1, 30, MW_RULE_ALLOW);
    add(b, "*track*", 1, 29, 0);
    add(b, "x*", 0, 100, 0);
    add(b, "x*", 0, 99, 0);
    struct mw_patternset *s = build(b);
    struct mw_pattern_match m;
    assert_true(mw_patternset_match(s, "ads.example.com", 15, &m));
    assert_int_equal(m.rule.line, 5);
    assert_string_equal(m.pattern, "ads.example.com");
    assert_int_equal(match(s, "ads.example.org"), 20);
    assert_int_equal(match(s, "www.example.org"), 10);
    assert_int_equal(match(s, "benign.org"), 1);
    assert_int_equal(match(s, "tracker.net"), 30); /* the allow one */
    assert_true(mw_patternset_match(s, "tracker.net", 11, &m));
    assert_true(m.rule.flags & MW_RULE_ALLOW);
    assert_int_equal(match(s, "xyz.org"), 99);
    mw_patternset_free(s);
}

struct walk {
    int n;
    char first[32];
};

static int walk_cb(const char *p, const struct mw_rule *r, void *arg)
{
    struct walk *w = arg;
    (void)r;
    if (!w->n++)
        snprintf(w->first, sizeof(w->first), "%s", p);
    return 0;
}

static void test_foreach(void **state)
{
    (void)state;
    struct mw_patternset_builder *b = mw_patternset_builder_new(0);
    add(b, "B*", 2, 1, 0);
    add(b, "A*", 1, 1, 0);
    add(b, "C*", 5, 1, MW_RULE_ALLOW);
    struct mw_patternset *s = build(b);
    struct walk w = {0};
    assert_int_equal(mw_patternset_foreach(s, walk_cb, &w), 0);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.first, "C*"); /* kept as added, allow first */
    mw_patternset_free(s);
}

/* ---- randomised comparison with fnmatch(3) ----------------------------------------------- */

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)((rng >> 11) % n);
}

static const char *words[] = {"xmr",   "pool",  "mine", "coin", "hive", "nice", "hash",
                              "miner", "crypt", "eth",  "btc",  "ads",  "cdn",  "a1"};
static const char *tlds[] = {"com", "net", "org", "io"};

static void rand_piece(char *out)
{
    static const char *pieces[] = {"*",    "?",   "[0-9]", "[a-c]", "[!a]", "[^.]", "[]x]",
                                   "[a-]", "\\*", "-",     ".",     "1",    "a",    "b"};
    strcat(out, pieces[rnd(14)]);
}

/* Realistic shapes, then fully random ones. */
static void gen_pattern(char *out, int i)
{
    const char *w = words[rnd(14)], *w2 = words[rnd(14)], *t = tlds[rnd(4)];
    int n = rnd(1000);
    out[0] = '\0';
    switch (i % 8) {
    case 0:
        sprintf(out, "*.%s-%s-*.*", w, w2);
        break;
    case 1:
        sprintf(out, "%s%d-*.*", w, n);
        break;
    case 2:
        sprintf(out, "%s?.%s%d.*", w, w2, n);
        break;
    case 3:
        sprintf(out, "*-%s%d-[0-9]*.%s", w, n, t);
        break;
    case 4:
        sprintf(out, "*%s%s%d*", w, w2, n);
        break;
    case 5:
        sprintf(out, "%s[a-c]%d.*.%s", w, n, t);
        break;
    default:
        /* Random pieces around at least one literal character. */
        for (int k = 0, m = (int)rnd(4); k < m; k++)
            rand_piece(out);
        strcat(out, (const char *[]){"a", "b", "1", "-", ".", "ab", "b.1"}[rnd(7)]);
        for (int k = 0, m = (int)rnd(4); k < m; k++)
            rand_piece(out);
        break;
    }
}

/* Patterns without any literal, tried for every name; last in precedence. */
static const char *no_literal[] = {"*", "?*", "*.*", "[a-c]*", "??", "*[0-9]?"};

/* A name that matches pattern g when it can, by instantiating its metacharacters. */
static void instantiate(const char *g, char *out)
{
    size_t o = 0;
    for (size_t i = 0; g[i] && o < 200; i++) {
        if (g[i] == '*') {
            for (int k = (int)rnd(4); k > 0; k--)
                out[o++] = "ab1.-x"[rnd(6)];
        } else if (g[i] == '?') {
            out[o++] = "ab1.-"[rnd(5)];
        } else if (g[i] == '[') {
            out[o++] = "0ab9.-x]"[rnd(8)];
            while (g[i + 1] && g[i + 1] != ']')
                i++;
            if (g[i + 1] == ']' && (g[i] == '[' || g[i] == '!' || g[i] == '^'))
                i++; /* "[]x]" */
            while (g[i + 1] && g[i + 1] != ']')
                i++;
            if (g[i + 1])
                i++;
        } else if (g[i] == '\\' && g[i + 1]) {
            out[o++] = g[++i];
        } else {
            out[o++] = g[i];
        }
    }
    out[o] = '\0';
}

static void rand_name(char *out)
{
    int k = (int)rnd(3);
    if (k == 0) {
        int n = (int)rnd(14);
        for (int i = 0; i < n; i++)
            out[i] = "ab1.-x*]09"[rnd(10)];
        out[n] = '\0';
    } else {
        sprintf(out, "%s%s%d.%s", k == 1 ? "www." : "", words[rnd(14)], (int)rnd(1000),
                tlds[rnd(4)]);
    }
}

struct refpat {
    char text[64];
    struct mw_rule r;
    int seq;
};

static int ref_cmp(const void *x, const void *y)
{
    const struct refpat *a = x, *b = y;
    bool aa = a->r.flags & MW_RULE_ALLOW, ba = b->r.flags & MW_RULE_ALLOW;
    if (aa != ba)
        return aa ? -1 : 1;
    if (a->r.list != b->r.list)
        return a->r.list < b->r.list ? -1 : 1;
    if (a->r.line != b->r.line)
        return a->r.line < b->r.line ? -1 : 1;
    return a->seq - b->seq;
}

static void test_fnmatch_reference(void **state)
{
    (void)state;
    enum { N = 10000, Q = 3000 };
    struct refpat *p = calloc(N, sizeof(*p));
    assert_non_null(p);
    struct mw_patternset_builder *b = mw_patternset_builder_new(N);
    for (int i = 0; i < N; i++) {
        gen_pattern(p[i].text, i);
        p[i].r = (struct mw_rule){.line = rnd(5000) + 1,
                                  .list = (uint16_t)rnd(4),
                                  .flags = rnd(10) == 0 ? MW_RULE_ALLOW : 0};
        p[i].seq = i;
        if (i >= N - 6) {
            strcpy(p[i].text, no_literal[N - 1 - i]);
            p[i].r = (struct mw_rule){.line = 9000 + (uint32_t)i, .list = 4};
        }
        assert_int_equal(mw_patternset_builder_add(b, p[i].text, &p[i].r), 0);
    }
    struct mw_patternset *s = build(b);
    assert_int_equal(mw_patternset_count(s), N);
    struct refpat *sorted = malloc(N * sizeof(*sorted));
    assert_non_null(sorted);
    memcpy(sorted, p, N * sizeof(*sorted));
    qsort(sorted, N, sizeof(*sorted), ref_cmp);

    int hits = 0, specific = 0;
    for (int q = 0; q < Q; q++) {
        char name[256];
        if (q % 2)
            instantiate(p[rnd(N)].text, name);
        else
            rand_name(name);
        const struct refpat *want = NULL;
        for (int i = 0; i < N && !want; i++)
            if (fnmatch(sorted[i].text, name, 0) == 0)
                want = &sorted[i];
        struct mw_pattern_match m;
        bool got = mw_patternset_match(s, name, strlen(name), &m);
        if (got != (want != NULL))
            fail_msg("%s: got %d (%s), want %s", name, got, got ? m.pattern : "",
                     want ? want->text : "none");
        if (want) {
            hits++;
            specific += want->r.list < 4;
            if (strcmp(m.pattern, want->text) || m.rule.line != want->r.line ||
                m.rule.list != want->r.list || m.rule.flags != want->r.flags)
                fail_msg("%s: got %s/%u, want %s/%u", name, m.pattern, m.rule.line, want->text,
                         want->r.line);
        }
    }
    assert_true(hits > Q / 2);
    assert_true(specific > Q / 3);
    mw_patternset_free(s);
    free(sorted);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),         cmocka_unit_test(test_metachars),
        cmocka_unit_test(test_syntax_errors), cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_foreach),       cmocka_unit_test(test_fnmatch_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
