/* The DGA detector's check: registered domains found and their labels scored, names that are
 * not public left alone, the memo answering repeats (of any name under the same registered
 * domain) with the score the model gave, evictions counted when a full memo takes a new
 * domain, and a cleared memo scoring again. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "minewall/dga.h"
#include "minewall/dgacheck.h"
#include "minewall/dname.h"
#include "minewall/error.h"
#include "minewall/regdom.h"

#ifndef MW_TEST_SRCDIR
#define MW_TEST_SRCDIR "tests"
#endif
#define MODEL MW_TEST_SRCDIR "/../conf/dga.model"

struct fix {
    struct mw_dga_model *m;
    struct mw_regdom *rd;
};

static int setup(void **state)
{
    static struct fix f;
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    if (mw_dga_load(MODEL, &f.m, &errs) < 0)
        return -1;
    mw_errlist_deinit(&errs);
    f.rd = mw_regdom_new(NULL);
    *state = &f;
    return f.rd ? 0 : -1;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    mw_dga_free(f->m);
    mw_regdom_free(f->rd);
    return 0;
}

static int check(struct fix *f, struct mw_dga_memo *memo, const char *text,
                 struct mw_dga_check *out)
{
    uint8_t w[256];
    int n = mw_dname_from_text(text, w, sizeof(w));
    assert_true(n > 0);
    mw_dname_lower(w, (size_t)n);
    return mw_dga_check(f->m, f->rd, memo, w, (size_t)n, out);
}

static void test_scores_registered_label(void **state)
{
    struct fix *f = *state;
    struct mw_dga_check a, b;
    /* The label scored is the one left of the public suffix: "example" for both. */
    assert_int_equal(check(f, NULL, "www.example.co.uk", &a), 1);
    assert_int_equal(check(f, NULL, "example.com", &b), 1);
    assert_int_equal(a.score, b.score);
    assert_int_equal(a.regdom_off, 4);
    assert_false(a.memoized);
    struct mw_dga_result r;
    assert_int_equal(mw_dga_score(f->m, "example", 7, &r), 0);
    assert_int_equal(a.score, r.score);
    assert_int_equal(a.level, r.level);
}

static void test_not_public_not_scored(void **state)
{
    struct fix *f = *state;
    struct mw_dga_check c;
    assert_int_equal(check(f, NULL, "xkqjzvwpfh.lan", &c), 0);
    assert_int_equal(check(f, NULL, "ip-10-0-0-1.ec2.internal", &c), 0);
    assert_int_equal(check(f, NULL, "localhost", &c), 0);
    assert_int_equal(check(f, NULL, "co.uk", &c), 0); /* a public suffix itself */
    assert_int_equal(check(f, NULL, "x.home.arpa", &c), 0);
    assert_int_equal(mw_dga_check(NULL, f->rd, NULL, (const uint8_t *)"", 1, &c), -EINVAL);
}

static void test_memo_hits_and_evictions(void **state)
{
    struct fix *f = *state;
    struct mw_dga_memo *memo = mw_dga_memo_new(1); /* clamped up to MW_DGA_MEMO_MIN */
    assert_non_null(memo);
    struct mw_dga_memo_stats st;
    mw_dga_memo_stats(memo, &st);
    assert_int_equal(st.capacity, MW_DGA_MEMO_MIN);
    struct mw_dga_check a, b;
    assert_int_equal(check(f, memo, "qxvbzjkwhtrp.com", &a), 1);
    assert_false(a.memoized);
    assert_int_equal(check(f, memo, "mail.qxvbzjkwhtrp.com", &b), 1);
    assert_true(b.memoized);
    assert_int_equal(a.score, b.score);
    assert_int_equal(a.level, b.level);
    /* Many more registered domains than entries: every one past capacity evicts one. */
    char name[64];
    unsigned evicted = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "host%dname.org", i);
        struct mw_dga_check c;
        assert_int_equal(check(f, memo, name, &c), 1);
        assert_false(c.memoized);
        evicted += c.evicted;
    }
    mw_dga_memo_stats(memo, &st);
    assert_int_equal(st.scored, 1001);
    /* libpsl asked for the parents com, qxvbzjkwhtrp.com and org, and again for org when its
     * entry was given up for a score (a 64-entry memo); each check looks up one parent and
     * one score. */
    assert_true(st.psl >= 3 && st.psl < 100);
    assert_int_equal(st.hits, 1 + (1002 - st.psl));
    assert_int_equal(st.evictions, evicted);
    assert_int_equal(st.entries + st.evictions, st.scored + st.psl);
    assert_true(st.entries <= MW_DGA_MEMO_MIN);
    mw_dga_memo_clear(memo);
    assert_int_equal(check(f, memo, "host999name.org", &a), 1);
    assert_false(a.memoized);
    mw_dga_memo_free(memo);
    mw_dga_memo_free(NULL);
}

/* The memo of libpsl's answers by parent domain gives what libpsl gives, for names under
 * ICANN and private suffixes, wildcard rules, and deep names, asked in any order. */
static void test_parent_memo_agrees_with_psl(void **state)
{
    struct fix *f = *state;
    static const char *const names[] = {
        "www.example.co.uk",  "mail.example.co.uk",    "a.b.example.co.uk",       "example.co.uk",
        "abc.cloudfront.net", "def.cloudfront.net",    "x.y.cloudfront.net",      "www.bbc.co.uk",
        "host.lan",           "a.b.c.d.e.example.com", "f.d.e.example.com",       "qq.github.io",
        "zz.github.io",       "www.city.kawasaki.jp",  "a.b.kawasaki.jp",         "c.b.kawasaki.jp",
        "n1-ircount.com",     "n2-ircount.com",        "bucket.s3.amazonaws.com",
    };
    struct mw_dga_memo *memo = mw_dga_memo_new(4096);
    assert_non_null(memo);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            struct mw_dga_check a = {0}, b = {0};
            int ra = check(f, NULL, names[i], &a), rb = check(f, memo, names[i], &b);
            assert_int_equal(ra, rb);
            if (ra == 1) {
                if (a.regdom_off != b.regdom_off)
                    fail_msg("%s: regdom at %zu without memo, %zu with", names[i], a.regdom_off,
                             b.regdom_off);
                assert_int_equal(a.score, b.score);
            }
        }
    }
    mw_dga_memo_free(memo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores_registered_label),
        cmocka_unit_test(test_not_public_not_scored),
        cmocka_unit_test(test_memo_hits_and_evictions),
        cmocka_unit_test(test_parent_memo_agrees_with_psl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
