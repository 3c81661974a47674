/* Unit tests for the DNS over TCP framing (tcpframe.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "minewall/tcpframe.h"

static void test_whole_and_partial(void **state)
{
    (void)state;
    static const uint8_t s[] = {0, 3, 'a', 'b', 'c', 0, 0, 0, 2, 'x'};
    const uint8_t *m;
    size_t off = 0, n;
    assert_int_equal(mw_tcpframe_next(s, sizeof(s), &off, &m, &n), 1);
    assert_ptr_equal(m, s + 2);
    assert_int_equal(n, 3);
    assert_int_equal(off, 5);
    /* A zero length prefix is a message of length 0. */
    assert_int_equal(mw_tcpframe_next(s, sizeof(s), &off, &m, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(off, 7);
    /* The third message lacks one octet: nothing changes. */
    assert_int_equal(mw_tcpframe_next(s, sizeof(s), &off, &m, &n), 0);
    assert_int_equal(off, 7);
    assert_int_equal(mw_tcpframe_next(s, 8, &off, &m, &n), 0); /* half a length */
    off = 10;
    assert_int_equal(mw_tcpframe_next(s, sizeof(s), &off, &m, &n), 0);
    off = 11; /* past the end */
    assert_int_equal(mw_tcpframe_next(s, sizeof(s), &off, &m, &n), 0);
}

static void test_largest(void **state)
{
    (void)state;
    static uint8_t s[MW_TCPFRAME_MAX];
    s[0] = 0xff;
    s[1] = 0xff;
    const uint8_t *m;
    size_t off = 0, n;
    assert_int_equal(mw_tcpframe_next(s, sizeof(s) - 1, &off, &m, &n), 0);
    assert_int_equal(mw_tcpframe_next(s, sizeof(s), &off, &m, &n), 1);
    assert_int_equal(n, 65535);
    assert_int_equal(off, sizeof(s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_and_partial),
        cmocka_unit_test(test_largest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
