/* Unit tests for tcpframe.c: complete, partial and empty frames, several frames in one buffer,
 * and the prefix writer's bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "minewall/tcpframe.h"

static void test_partial(void **state)
{
    (void)state;
    const uint8_t buf[] = {0x00, 0x05, 'a', 'b', 'c', 'd', 'e', 0x01};
    struct mw_tcpframe f = {0};
    size_t need = 0;
    assert_int_equal(mw_tcpframe_next(buf, 0, &f, &need), 0);
    assert_int_equal(need, 2);
    assert_int_equal(mw_tcpframe_next(buf, 1, &f, &need), 0);
    assert_int_equal(need, 2);
    for (size_t n = 2; n < 7; n++) {
        assert_int_equal(mw_tcpframe_next(buf, n, &f, &need), 0);
        assert_int_equal(need, 7);
    }
    assert_null(f.msg); /* untouched while incomplete */
    assert_int_equal(mw_tcpframe_next(buf, 7, &f, NULL), 1);
    assert_ptr_equal(f.msg, buf + 2);
    assert_int_equal(f.len, 5);
    assert_int_equal(f.consumed, 7);
    /* The next frame starts with one byte of its prefix. */
    assert_int_equal(mw_tcpframe_next(buf + 7, 1, &f, &need), 0);
    assert_int_equal(need, 2);
}

static void test_sequence_and_empty(void **state)
{
    (void)state;
    const uint8_t buf[] = {0x00, 0x00, 0x00, 0x01, 'x', 0x00, 0x02, 'y', 'z'};
    size_t off = 0, lens[3], n = 0;
    struct mw_tcpframe f;
    while (mw_tcpframe_next(buf + off, sizeof(buf) - off, &f, NULL) == 1) {
        lens[n++] = f.len;
        off += f.consumed;
    }
    assert_int_equal(n, 3);
    assert_int_equal(lens[0], 0);
    assert_int_equal(lens[1], 1);
    assert_int_equal(lens[2], 2);
    assert_int_equal(off, sizeof(buf));
}

static void test_largest(void **state)
{
    (void)state;
    static uint8_t buf[MW_TCPFRAME_MAX];
    assert_int_equal(mw_tcpframe_put_prefix(buf, 65535), 0);
    assert_int_equal(buf[0], 0xff);
    assert_int_equal(buf[1], 0xff);
    struct mw_tcpframe f;
    size_t need;
    assert_int_equal(mw_tcpframe_next(buf, sizeof(buf) - 1, &f, &need), 0);
    assert_int_equal(need, MW_TCPFRAME_MAX);
    assert_int_equal(mw_tcpframe_next(buf, sizeof(buf), &f, NULL), 1);
    assert_int_equal(f.len, 65535);
    uint8_t p[2] = {7, 7};
    assert_int_equal(mw_tcpframe_put_prefix(p, 65536), -EMSGSIZE);
    assert_int_equal(p[0], 7); /* nothing written */
    assert_int_equal(mw_tcpframe_put_prefix(p, 300), 0);
    assert_int_equal(p[0], 1);
    assert_int_equal(p[1], 44);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_sequence_and_empty),
        cmocka_unit_test(test_largest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
