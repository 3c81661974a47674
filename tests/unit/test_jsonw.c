/* Unit tests for jsonw.c: escaping (quote, backslash, every control character, DEL, NUL),
 * UTF-8 passed through and invalid bytes replaced by \ufffd, cuts at character boundaries,
 * keys and arrays, and a whole object cut at every buffer size: never a byte past the buffer,
 * and trunc set exactly when the object did not fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "minewall/jsonw.h"

static char out[4096];

static const char *quote(const char *s, size_t len, size_t max, bool *cut)
{
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, out, sizeof(out));
    mw_jsonw_strn(&sb, s, len, max, cut);
    assert_false(sb.trunc);
    return out;
}

static void test_escapes(void **state)
{
    (void)state;
    assert_string_equal(quote("a\"b\\c/", 6, SIZE_MAX, NULL), "\"a\\\"b\\\\c/\"");
    assert_string_equal(quote("\n\r\t\b\f", 5, SIZE_MAX, NULL), "\"\\n\\r\\t\\b\\f\"");
    assert_string_equal(quote("x\0y", 3, SIZE_MAX, NULL), "\"x\\u0000y\"");
    assert_string_equal(quote("\x7f", 1, SIZE_MAX, NULL), "\"\\u007f\"");
    /* Every other control character as \u00XX. */
    for (unsigned c = 1; c < 0x20; c++) {
        if (strchr("\n\r\t\b\f", (int)c))
            continue;
        char in[1] = {(char)c}, want[16];
        snprintf(want, sizeof(want), "\"\\u%04x\"", c);
        assert_string_equal(quote(in, 1, SIZE_MAX, NULL), want);
    }
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, out, sizeof(out));
    mw_jsonw_str(&sb, NULL);
    mw_strbuf_putc(&sb, ' ');
    mw_jsonw_str(&sb, "");
    assert_string_equal(out, "null \"\"");
}

static void test_utf8(void **state)
{
    (void)state;
    const char *ok = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    char want[64];
    snprintf(want, sizeof(want), "\"%s\"", ok);
    assert_string_equal(quote(ok, strlen(ok), SIZE_MAX, NULL), want);
    /* Each byte that is not part of valid UTF-8 becomes one U+FFFD. */
    assert_string_equal(quote("a\xff"
                              "b",
                              3, SIZE_MAX, NULL),
                        "\"a\\ufffdb\"");
    assert_string_equal(quote("\xc0\xaf", 2, SIZE_MAX, NULL), "\"\\ufffd\\ufffd\"");
    assert_string_equal(quote("\xed\xa0\x80", 3, SIZE_MAX, NULL), "\"\\ufffd\\ufffd\\ufffd\"");
    assert_string_equal(quote("x\xc3", 2, SIZE_MAX, NULL), "\"x\\ufffd\"");
    assert_string_equal(quote("\xf4\x90\x80\x80", 4, SIZE_MAX, NULL),
                        "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

static void test_cut_at_characters(void **state)
{
    (void)state;
    bool cut = false;
    /* "a" then a 2-byte character: a max of 2 input bytes cannot take half of it. */
    assert_string_equal(quote("a\xc3\xa9z", 4, 2, &cut), "\"a\"");
    assert_true(cut);
    cut = false;
    assert_string_equal(quote("a\xc3\xa9z", 4, 3, &cut), "\"a\xc3\xa9\"");
    assert_true(cut);
    cut = false;
    assert_string_equal(quote("a\xc3\xa9z", 4, 4, &cut), "\"a\xc3\xa9z\"");
    assert_false(cut);
    assert_string_equal(quote("abc", 3, 0, &cut), "\"\"");
    assert_true(cut);
}

static void object(struct mw_strbuf *sb)
{
    static const char *const v[] = {"x", NULL, "l\xc3\xa9ng"};
    bool t = false;
    mw_strbuf_putc(sb, '{');
    mw_jsonw_kstr(sb, "name", "ev\"il\n");
    mw_jsonw_ku64(sb, "n", 18446744073709551615ull);
    mw_jsonw_kbool(sb, "ok", true);
    mw_jsonw_kstr(sb, "none", NULL);
    mw_jsonw_kstrs(sb, "all", v, 3, SIZE_MAX, SIZE_MAX, &t);
    mw_jsonw_kstrs(sb, "two", v, 3, 2, SIZE_MAX, &t);
    mw_jsonw_kstrn(sb, "cut", "abcdef", 3, &t);
    mw_strbuf_putc(sb, '}');
}

static void test_object_every_cap(void **state)
{
    (void)state;
    static const char whole[] = "{\"name\":\"ev\\\"il\\n\",\"n\":18446744073709551615,\"ok\":true,"
                                "\"none\":null,\"all\":[\"x\",null,\"l\xc3\xa9ng\"],"
                                "\"two\":[\"x\",null],\"cut\":\"abc\"}";
    char buf[sizeof(whole) + 16];
    for (size_t cap = 0; cap <= sizeof(whole) + 1; cap++) {
        memset(buf, 0x5a, sizeof(buf));
        struct mw_strbuf sb;
        mw_strbuf_init(&sb, buf, cap);
        object(&sb);
        for (size_t i = cap; i < sizeof(buf); i++)
            assert_int_equal((unsigned char)buf[i], 0x5a);
        bool fits = cap >= sizeof(whole); /* the text and its NUL */
        assert_int_equal(sb.trunc, !fits);
        if (fits)
            assert_string_equal(buf, whole);
        else if (cap)
            assert_memory_equal(buf, whole, sb.len); /* a prefix, never garbage */
    }
}

/* MW_JSONW_KEY writes what mw_jsonw_key writes: no comma after '{', one after a value. */
static void test_literal_keys(void **state)
{
    (void)state;
    char a[64], b[64];
    struct mw_strbuf x, y;
    mw_strbuf_init(&x, a, sizeof(a));
    mw_strbuf_init(&y, b, sizeof(b));
    mw_strbuf_putc(&x, '{');
    mw_strbuf_putc(&y, '{');
    mw_jsonw_key(&x, "ts");
    MW_JSONW_KEY(&y, "ts");
    mw_jsonw_str(&x, "1");
    mw_jsonw_str(&y, "1");
    mw_jsonw_key(&x, "registered_domain");
    MW_JSONW_KEY(&y, "registered_domain");
    assert_string_equal(a, "{\"ts\":\"1\",\"registered_domain\":");
    assert_string_equal(a, b);
    /* Cut like any append. */
    mw_strbuf_init(&y, b, 6);
    mw_strbuf_putc(&y, '{');
    MW_JSONW_KEY(&y, "long_key");
    assert_true(y.trunc);
    assert_string_equal(b, "{\"lon");
}

static void test_arrays_report_cuts(void **state)
{
    (void)state;
    static const char *const v[] = {"abcdef", "gh"};
    struct mw_strbuf sb;
    bool t = false;
    mw_strbuf_init(&sb, out, sizeof(out));
    mw_strbuf_putc(&sb, '{');
    mw_jsonw_kstrs(&sb, "v", v, 2, SIZE_MAX, SIZE_MAX, &t);
    assert_false(t);
    mw_jsonw_kstrs(&sb, "w", v, 2, SIZE_MAX, 3, &t);
    assert_true(t);
    t = false;
    mw_jsonw_kstrs(&sb, "x", v, 2, 1, SIZE_MAX, &t);
    assert_true(t);
    mw_strbuf_putc(&sb, '}');
    assert_string_equal(out,
                        "{\"v\":[\"abcdef\",\"gh\"],\"w\":[\"abc\",\"gh\"],\"x\":[\"abcdef\"]}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),           cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_cut_at_characters), cmocka_unit_test(test_object_every_cap),
        cmocka_unit_test(test_literal_keys),      cmocka_unit_test(test_arrays_report_cuts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
