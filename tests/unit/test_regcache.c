/* Unit tests for regcache.c: answers equal to libpsl's (regdom.c) for names under suffixes of
 * one, two and three labels, public suffixes themselves, a private-section suffix, unknown
 * top-level labels and odd octets, asked cold and again warm (through cached parents); hits
 * counted; the documented difference for a name that is itself a list entry below a parent
 * that is not one; a public suffix asked first does not hide its siblings' domains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/regcache.h"
#include "minewall/regdom.h"

static struct mw_regdom *RD;

static int setup(void **state)
{
    (void)state;
    RD = mw_regdom_new(NULL);
    return RD ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mw_regdom_free(RD);
    return 0;
}

static int both(struct mw_regcache *c, const char *text, int *exact)
{
    uint8_t w[256];
    int n = mw_dname_from_text(text, w, sizeof(w));
    assert_true(n > 0);
    mw_dname_lower(w, (size_t)n);
    *exact = mw_regdom_find(RD, w, (size_t)n);
    return mw_regcache_find(c, RD, w, (size_t)n, NULL);
}

static void test_same_as_libpsl(void **state)
{
    (void)state;
    static const char *const names[] = {
        "www.example.com",
        "a.www.example.com",
        "b.www.example.com",
        "example.com",
        "com",
        "www.example.co.uk",
        "x.www.example.co.uk",
        "example.co.uk",
        "co.uk",
        "user.github.io",
        "a.user.github.io",
        "b.user.github.io",
        "github.io",
        "n1.miss.ircount.test",
        "n2.miss.ircount.test",
        "host.lan",
        "a.host.lan",
        "localhost",
        "a.b.c.d.e.f.example.org",
        "z.b.c.d.e.f.example.org",
        "foo.city.kawasaki.jp",
        "bar.foo.city.kawasaki.jp",
        "x.y.kawasaki.jp",
        "deep.x.y.kawasaki.jp",
    };
    struct mw_regcache *c = mw_regcache_new();
    assert_non_null(c);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            int exact;
            int got = both(c, names[i], &exact);
            if (got != exact)
                fail_msg("%s: cache %d, libpsl %d (round %d)", names[i], got, exact, round);
        }
    }
    struct mw_regcache_stats st;
    mw_regcache_stats(c, &st);
    assert_true(st.hits >= 20);
    mw_regcache_free(c);
    mw_regcache_free(NULL);
}

/* Siblings under one parent: one libpsl call serves them all. */
static void test_siblings_hit(void **state)
{
    (void)state;
    struct mw_regcache *c = mw_regcache_new();
    char name[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "h%d.cdn.example.net", i);
        int exact;
        int got = both(c, name, &exact);
        assert_int_equal(got, exact);
        assert_int_equal(got, (int)strlen(name) - (int)strlen("example.net"));
    }
    struct mw_regcache_stats st;
    mw_regcache_stats(c, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 999);
    mw_regcache_free(c);
}

/* "s3.amazonaws.com" is a list entry under amazonaws.com, which is not: asked after a sibling,
 * the cache gives the sibling's answer (amazonaws.com); asked first, "no registered domain" is
 * not cached, so the siblings stay right. */
static void test_entry_below_plain_parent(void **state)
{
    (void)state;
    struct mw_regcache *c = mw_regcache_new();
    int exact;
    assert_int_equal(both(c, "s3.amazonaws.com", &exact), -ENOENT);
    assert_int_equal(exact, -ENOENT);
    assert_int_equal(both(c, "foo.amazonaws.com", &exact), 4);
    assert_int_equal(exact, 4);
    assert_int_equal(both(c, "s3.amazonaws.com", &exact), 3); /* the documented difference */
    assert_int_equal(exact, -ENOENT);
    int got = both(c, "bucket.s3.amazonaws.com", &exact);
    assert_int_equal(got, exact);
    mw_regcache_free(c);
}

/* The caller's word: shared by the children of a parent whose registered domain is above it,
 * absent when each child is its own registered domain, zero again when an entry is refilled. */
static void test_tag(void **state)
{
    (void)state;
    struct mw_regcache *c = mw_regcache_new();
    uint8_t w[256];
    uint32_t *t1, *t2;
    int n = mw_dname_from_text("a.www.example.com", w, sizeof(w));
    assert_int_equal(mw_regcache_find(c, RD, w, (size_t)n, &t1), 6);
    assert_non_null(t1);
    assert_int_equal(*t1, 0);
    *t1 = 7;
    n = mw_dname_from_text("b.www.example.com", w, sizeof(w));
    assert_int_equal(mw_regcache_find(c, RD, w, (size_t)n, &t2), 6);
    assert_ptr_equal(t1, t2);
    assert_int_equal(*t2, 7);
    /* example.com and other.com: children of "com", each its own domain: no shared word. */
    n = mw_dname_from_text("example.com", w, sizeof(w));
    assert_int_equal(mw_regcache_find(c, RD, w, (size_t)n, &t1), 0);
    assert_null(t1);
    n = mw_dname_from_text("other.com", w, sizeof(w));
    assert_int_equal(mw_regcache_find(c, RD, w, (size_t)n, &t1), 0);
    assert_null(t1);
    mw_regcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_libpsl),
        cmocka_unit_test(test_siblings_hit),
        cmocka_unit_test(test_entry_below_plain_parent),
        cmocka_unit_test(test_tag),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
