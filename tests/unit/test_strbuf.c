/* Unit tests for strbuf.c: appends, printf and numbers cut at every buffer size without a byte
 * written past the buffer, sticky truncation, rewind, a zero-size buffer, and the UTF-8
 * sequence check (RFC 3629 cases: overlong forms, surrogates, above U+10FFFF, cut sequences). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "minewall/strbuf.h"

#define GUARD 0xa5
#define BIG 128

/* Build whole = the text the appends of fill() write, then for every cap from 0 to past its
 * length: the result is the longest prefix that fits, trunc says whether it was cut, it is
 * NUL-terminated, and not one byte after cap was touched. */
static void every_cap(void (*fill)(struct mw_strbuf *), const char *whole)
{
    size_t wl = strlen(whole);
    for (size_t cap = 0; cap <= wl + 2; cap++) {
        unsigned char buf[BIG];
        memset(buf, GUARD, sizeof(buf));
        struct mw_strbuf sb;
        mw_strbuf_init(&sb, (char *)buf, cap);
        fill(&sb);
        for (size_t i = cap; i < sizeof(buf); i++)
            assert_int_equal(buf[i], GUARD);
        if (cap == 0) {
            assert_true(sb.trunc);
            assert_int_equal(sb.len, 0);
            continue;
        }
        size_t want = wl < cap - 1 ? wl : cap - 1;
        assert_int_equal(sb.len, want);
        assert_int_equal(buf[sb.len], 0);
        assert_memory_equal(buf, whole, want);
        assert_int_equal(sb.trunc, wl > cap - 1);
    }
}

static void fill_put(struct mw_strbuf *sb)
{
    mw_strbuf_puts(sb, "hello");
    mw_strbuf_putc(sb, ' ');
    mw_strbuf_put(sb, "world!!", 5);
    mw_strbuf_puts(sb, NULL);
    mw_strbuf_put(sb, "", 0);
}

static void fill_printf(struct mw_strbuf *sb)
{
    mw_strbuf_printf(sb, "%s=%d;", "answer", 42);
    mw_strbuf_printf(sb, "%05u|%x", 7u, 0xbeefu);
}

static void fill_u64(struct mw_strbuf *sb)
{
    mw_strbuf_u64(sb, 0);
    mw_strbuf_putc(sb, ',');
    mw_strbuf_u64(sb, UINT64_MAX);
    mw_strbuf_putc(sb, ',');
    mw_strbuf_u64(sb, 1000);
}

static void test_every_boundary(void **state)
{
    (void)state;
    every_cap(fill_put, "hello world");
    every_cap(fill_printf, "answer=42;00007|beef");
    every_cap(fill_u64, "0,18446744073709551615,1000");
}

static void test_sticky_and_rewind(void **state)
{
    (void)state;
    char buf[8];
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, sizeof(buf));
    mw_strbuf_puts(&sb, "abc");
    size_t mark = sb.len;
    mw_strbuf_puts(&sb, "defghij"); /* 7 more, room for 4 */
    assert_true(sb.trunc);
    assert_string_equal(buf, "abcdefg");
    mw_strbuf_puts(&sb, "x"); /* never continues after a cut */
    mw_strbuf_printf(&sb, "%d", 1);
    assert_string_equal(buf, "abcdefg");
    assert_int_equal(mw_strbuf_room(&sb), 0);
    mw_strbuf_rewind(&sb, mark);
    assert_false(sb.trunc);
    assert_string_equal(buf, "abc");
    assert_int_equal(mw_strbuf_room(&sb), 4);
    mw_strbuf_rewind(&sb, 100); /* beyond len: ignored */
    assert_string_equal(buf, "abc");
    mw_strbuf_puts(&sb, "1234");
    assert_false(sb.trunc);
    assert_string_equal(buf, "abc1234");
    mw_strbuf_putc(&sb, '5');
    assert_true(sb.trunc);
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n, want;
    } cases[] = {
        {"a", 1, 1},
        {"\x7f", 1, 1},
        {"\xc3\xa9", 2, 2},         /* U+00E9 */
        {"\xe2\x82\xac", 3, 3},     /* U+20AC */
        {"\xf0\x9f\x98\x80", 4, 4}, /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF */
        {"\x80", 1, 0},             /* a continuation byte alone */
        {"\xc0\xaf", 2, 0},         /* overlong '/' */
        {"\xc1\xbf", 2, 0},
        {"\xe0\x80\xaf", 3, 0},     /* overlong */
        {"\xf0\x80\x80\xaf", 4, 0}, /* overlong */
        {"\xed\xa0\x80", 3, 0},     /* surrogate U+D800 */
        {"\xed\xbf\xbf", 3, 0},     /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", 4, 0}, /* U+110000 */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xff", 1, 0},
        {"\xc3", 1, 0}, /* cut short */
        {"\xe2\x82", 2, 0},
        {"\xc3\x28", 2, 0}, /* bad continuation */
        {"\xe2\x28\xa1", 3, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(mw_utf8_len((const unsigned char *)cases[i].s, cases[i].n), cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_boundary),
        cmocka_unit_test(test_sticky_and_rewind),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
