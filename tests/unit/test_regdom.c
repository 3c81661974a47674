/* Unit tests for regdom.c: the registered domain of names under ICANN suffixes of one, two and
 * three labels, a wildcard and an exception rule, a private-section suffix, an unknown
 * top-level label (the implicit "*" rule), names that are public suffixes themselves, names
 * with octets no list entry holds; which names count as public (listed top-level label, not
 * home.arpa); the Debian data files and the fallback to libpsl's built-in list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "minewall/dname.h"
#include "minewall/regdom.h"

static struct mw_regdom *RD;

/* The registered domain of text as text, or "" when it has none. */
static const char *reg(const char *text)
{
    static char out[1024];
    uint8_t w[256];
    int n = mw_dname_from_text(text, w, sizeof(w));
    assert_true(n > 0);
    int off = mw_regdom_find(RD, w, (size_t)n);
    if (off < 0) {
        assert_int_equal(off, -ENOENT);
        return "";
    }
    assert_true(mw_dname_to_text(w + off, (size_t)n - (size_t)off, out, sizeof(out)) > 0);
    return out;
}

static bool pub(const char *text)
{
    uint8_t w[256];
    int n = mw_dname_from_text(text, w, sizeof(w));
    assert_true(n > 0);
    return mw_regdom_is_public(RD, w, (size_t)n);
}

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

static void test_find(void **state)
{
    (void)state;
    assert_string_equal(reg("www.example.com"), "example.com");
    assert_string_equal(reg("example.com"), "example.com");
    assert_string_equal(reg("a.b.c.example.co.uk"), "example.co.uk");
    assert_string_equal(reg("x.y.city.kawasaki.jp"), "city.kawasaki.jp"); /* !city.kawasaki.jp */
    assert_string_equal(reg("a.b.foo.kawasaki.jp"), "b.foo.kawasaki.jp"); /* *.kawasaki.jp */
    assert_string_equal(reg("deep.user.github.io"), "user.github.io");    /* private section */
    assert_string_equal(reg("nas.lan"), "nas.lan");                       /* implicit "*" rule */
    assert_string_equal(reg("WWW.Example.COM"), "example.com");           /* lowercased first */
    assert_string_equal(reg("com"), "");
    assert_string_equal(reg("co.uk"), "");
    assert_string_equal(reg("localhost"), "");
    assert_string_equal(reg("."), "");
    assert_string_equal(reg("a\\.b.example.com"), ""); /* a dot inside a label */
    assert_string_equal(reg("a\\000b.example.com"), "");
    assert_string_equal(reg("caf\\195\\169.example.com"), ""); /* raw UTF-8: not a host name */
    assert_string_equal(reg("xn--caf-dma.example.com"), "example.com");
}

static void test_public(void **state)
{
    (void)state;
    assert_true(pub("evil.example.com"));
    assert_true(pub("a.b.example.co.uk"));
    assert_true(pub("x.github.io"));
    assert_true(pub("1.0.0.127.in-addr.arpa")); /* arpa is listed */
    assert_false(pub("localhost"));
    assert_false(pub("app.localhost"));
    assert_false(pub("nas.lan"));
    assert_false(pub("printer.local"));
    assert_false(pub("metadata.google.internal"));
    assert_false(pub("ip-10-0-0-5.ec2.internal"));
    assert_false(pub("router.home.arpa"));
    assert_false(pub("home.arpa"));
    assert_true(pub("xhome.arpa"));
    assert_false(pub("host"));
    assert_false(pub("."));
}

static void test_sources(void **state)
{
    (void)state;
    /* Debian's publicsuffix package puts both files there (tools/setup installs it). */
    assert_int_equal(access(MW_REGDOM_DAFSA, R_OK), 0);
    assert_string_equal(mw_regdom_source(RD), "file " MW_REGDOM_DAFSA);
    struct mw_regdom *t = mw_regdom_new(MW_REGDOM_DAT);
    assert_non_null(t);
    assert_string_equal(mw_regdom_source(t), "file " MW_REGDOM_DAT);
    uint8_t w[256];
    int n = mw_dname_from_text("a.b.example.co.uk", w, sizeof(w));
    assert_int_equal(mw_regdom_find(t, w, (size_t)n), 4); /* "b.example.co.uk" is at 2 */
    mw_regdom_free(t);
    /* A file that cannot be read: the list built into libpsl. */
    t = mw_regdom_new("/nonexistent/public_suffix_list.dat");
    assert_non_null(t);
    assert_string_equal(mw_regdom_source(t), "libpsl built-in");
    assert_int_equal(mw_regdom_find(t, w, (size_t)n), 4);
    mw_regdom_free(t);
    mw_regdom_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_public),
        cmocka_unit_test(test_sources),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
