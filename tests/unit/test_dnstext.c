/* Unit tests for dnstext.c: type mnemonics both ways (common, meta and unknown types) and
 * record data in presentation format for the types the journal stores, with the bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "minewall/dnstext.h"

static void test_type(void **state)
{
    (void)state;
    char buf[16];
    static const struct {
        uint16_t t;
        const char *name;
    } known[] = {{1, "A"},      {2, "NS"},     {5, "CNAME"}, {6, "SOA"},  {12, "PTR"},
                 {15, "MX"},    {16, "TXT"},   {28, "AAAA"}, {33, "SRV"}, {64, "SVCB"},
                 {65, "HTTPS"}, {252, "AXFR"}, {255, "ANY"}, {257, "CAA"}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        assert_string_equal(mw_dnstext_type(known[i].t, buf, sizeof(buf)), known[i].name);
        assert_string_equal(mw_dnstext_type(known[i].t, NULL, 0), known[i].name);
        assert_int_equal(mw_dnstext_type_parse(known[i].name, strlen(known[i].name)), known[i].t);
    }
    assert_string_equal(mw_dnstext_type(65534, buf, sizeof(buf)), "TYPE65534");
    assert_string_equal(mw_dnstext_type(0, buf, sizeof(buf)), "TYPE0");
    assert_null(mw_dnstext_type(1000, NULL, 0));
    assert_int_equal(mw_dnstext_type_parse("aaaa", 4), 28);
    assert_int_equal(mw_dnstext_type_parse("AAAA junk", 4), 28);
    assert_int_equal(mw_dnstext_type_parse("TYPE28", 6), 28);
    assert_int_equal(mw_dnstext_type_parse("TYPE65534", 9), 65534);
    assert_int_equal(mw_dnstext_type_parse("FOO", 3), -EINVAL);
    assert_int_equal(mw_dnstext_type_parse("A\0", 2), -EINVAL);
    assert_int_equal(mw_dnstext_type_parse("", 0), -EINVAL);
    assert_int_equal(mw_dnstext_type_parse(NULL, 0), -EINVAL);
    assert_int_equal(mw_dnstext_class_parse("in", 2), 1);
    assert_int_equal(mw_dnstext_class_parse("CH", 2), 3);
    assert_int_equal(mw_dnstext_class_parse("HS", 2), 4);
    assert_int_equal(mw_dnstext_class_parse("CLASS7", 6), 7);
    assert_int_equal(mw_dnstext_class_parse("CNAME", 5), -EINVAL);
    assert_int_equal(mw_dnstext_class_parse("300", 3), -EINVAL);
}

static void test_rdata(void **state)
{
    (void)state;
    char buf[128];
    static const uint8_t a[] = {192, 0, 2, 1};
    assert_int_equal(mw_dnstext_rdata(1, a, 4, buf, sizeof(buf)), 9);
    assert_string_equal(buf, "192.0.2.1");
    static const uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    assert_true(mw_dnstext_rdata(28, aaaa, 16, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "2001:db8::1");
    static const uint8_t mx[] = {0,   10,  4,   'm', 'a', 'i', 'l', 7,
                                 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
    assert_true(mw_dnstext_rdata(15, mx, sizeof(mx), buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "10 mail.example");
    static const uint8_t root[] = {0};
    assert_true(mw_dnstext_rdata(5, root, 1, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, ".");
    static const uint8_t dot[] = {3, 'a', '.', 'b', 0};
    assert_true(mw_dnstext_rdata(2, dot, sizeof(dot), buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "a\\.b");
    static const uint8_t txt[] = {5, 'h', 'e', 'l', 'l', 'o'};
    assert_true(mw_dnstext_rdata(16, txt, sizeof(txt), buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "\"hello\"");
    /* Data that does not fit its type, and a buffer that is too small. */
    assert_int_equal(mw_dnstext_rdata(1, a, 3, buf, sizeof(buf)), -EBADMSG);
    assert_int_equal(mw_dnstext_rdata(15, mx, 5, buf, sizeof(buf)), -EBADMSG);
    assert_int_equal(mw_dnstext_rdata(15, mx, sizeof(mx), buf, 8), -ENOSPC);
    assert_string_equal(buf, "");
    assert_int_equal(mw_dnstext_rdata(1, a, 4, buf, 0), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_rdata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
