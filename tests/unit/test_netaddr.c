/* Unit tests for netaddr.c: address parsing and formatting round trips, strictness on bad
 * input, CIDR parsing and matching including IPv4-mapped IPv6 clients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "minewall/netaddr.h"

/* Parse s and format it back; the result must be want. */
static void round_trip(const char *s, uint16_t def_port, const char *want)
{
    struct mw_addr a;
    char buf[128];
    assert_int_equal(mw_addr_parse(s, def_port, &a), 0);
    assert_int_equal(mw_addr_format(&a, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
    /* The formatted text parses to an equal address. */
    struct mw_addr b;
    assert_int_equal(mw_addr_parse(buf, 1, &b), 0);
    assert_true(mw_addr_equal(&a, &b));
}

static void test_parse_format_v4(void **state)
{
    (void)state;
    round_trip("1.2.3.4", 53, "1.2.3.4:53");
    round_trip("1.2.3.4:5353", 53, "1.2.3.4:5353");
    round_trip("0.0.0.0:53", 9, "0.0.0.0:53");
    round_trip("255.255.255.255:65535", 53, "255.255.255.255:65535");

    struct mw_addr a;
    assert_int_equal(mw_addr_parse("10.1.2.3:99", 53, &a), 0);
    assert_int_equal(a.u.sa.sa_family, AF_INET);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    assert_int_equal(mw_addr_port(&a), 99);
    char ip[64];
    assert_int_equal(mw_addr_format_ip(&a, ip, sizeof(ip)), 0);
    assert_string_equal(ip, "10.1.2.3");
}

static void test_parse_format_v6(void **state)
{
    (void)state;
    round_trip("::1", 53, "[::1]:53");
    round_trip("[::1]", 53, "[::1]:53");
    round_trip("[::1]:5353", 53, "[::1]:5353");
    round_trip("2001:DB8::1", 53, "[2001:db8::1]:53");
    round_trip("[2001:db8:0:0:0:0:0:1]:853", 53, "[2001:db8::1]:853");
    round_trip("::ffff:1.2.3.4", 53, "[::ffff:1.2.3.4]:53");
    round_trip("fe80::1%7", 53, "[fe80::1%7]:53");
    round_trip("[fe80::1%3]:5300", 53, "[fe80::1%3]:5300");

    struct mw_addr a;
    assert_int_equal(mw_addr_parse("[::1]:5353", 53, &a), 0);
    assert_int_equal(a.u.sa.sa_family, AF_INET6);
    assert_int_equal(a.len, sizeof(struct sockaddr_in6));
    char ip[64];
    assert_int_equal(mw_addr_format_ip(&a, ip, sizeof(ip)), 0);
    assert_string_equal(ip, "::1");
    /* The loopback interface exists everywhere; its name is a valid scope. */
    assert_int_equal(mw_addr_parse("fe80::1%lo", 53, &a), 0);
    assert_true(a.u.in6.sin6_scope_id > 0);
}

static void test_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        ":53",
        "1.2.3.4:99999",
        "1.2.3.4:0",
        "1.2.3.4:",
        "1.2.3.4:53x",
        "1.2.3.4:+53",
        "[::1",
        "[::1]x",
        "[::1]:",
        "[1.2.3.4]:53",
        "[]:53",
        "1.2.3.256",
        "1.2.3",
        "01.2.3.4x",
        "example.com",
        "example.com:53",
        " 1.2.3.4",
        "1.2.3.4 ",
        "::1:53:",
        "fe80::1%",
        "fe80::1%no-such-interface0",
        "1.2.3.4%eth0",
        "1:2:3:4:5:6:7:8:9",
        "[::1]:53:53",
    };
    struct mw_addr a;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mw_addr_parse(bad[i], 53, &a) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    }
    char longtext[300];
    memset(longtext, '1', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    assert_int_equal(mw_addr_parse(longtext, 53, &a), -EINVAL);
}

static void test_parse_ip(void **state)
{
    (void)state;
    struct mw_addr a;
    assert_int_equal(mw_addr_parse_ip("192.0.2.1", 53, &a), 0);
    assert_int_equal(mw_addr_port(&a), 53);
    assert_int_equal(mw_addr_parse_ip("2001:db8::53", 5353, &a), 0);
    assert_int_equal(mw_addr_port(&a), 5353);
    assert_int_equal(mw_addr_parse_ip("1.2.3.4:53", 53, &a), -EINVAL);
    assert_int_equal(mw_addr_parse_ip("[::1]", 53, &a), -EINVAL);
    assert_int_equal(mw_addr_parse_ip("[::1]:53", 53, &a), -EINVAL);
}

static void test_format_nospace(void **state)
{
    (void)state;
    struct mw_addr a;
    char buf[64];
    assert_int_equal(mw_addr_parse("[2001:db8::1]:53", 53, &a), 0);
    assert_int_equal(mw_addr_format(&a, buf, 10), -ENOSPC);
    assert_int_equal(mw_addr_format(&a, buf, strlen("[2001:db8::1]:53")), -ENOSPC);
    assert_int_equal(mw_addr_format(&a, buf, strlen("[2001:db8::1]:53") + 1), 0);
    assert_int_equal(mw_addr_format_ip(&a, buf, 4), -ENOSPC);
}

static void test_equal_and_from_sa(void **state)
{
    (void)state;
    struct mw_addr a, b, c;
    assert_int_equal(mw_addr_parse("1.2.3.4:53", 53, &a), 0);
    assert_int_equal(mw_addr_parse("1.2.3.4:54", 53, &b), 0);
    assert_false(mw_addr_equal(&a, &b));
    assert_true(mw_addr_equal_ip(&a, &b));
    assert_int_equal(mw_addr_parse("::ffff:1.2.3.4", 53, &c), 0);
    assert_false(mw_addr_equal_ip(&a, &c)); /* different families */

    struct sockaddr_in6 sin6;
    memset(&sin6, 0xab, sizeof(sin6)); /* junk in flowinfo must not leak into the copy */
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(5353);
    sin6.sin6_scope_id = 0;
    inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
    assert_int_equal(mw_addr_from_sa((struct sockaddr *)&sin6, &a), 0);
    assert_int_equal(mw_addr_parse("[2001:db8::7]:5353", 53, &b), 0);
    assert_true(mw_addr_equal(&a, &b));
    assert_int_equal(memcmp(&a, &b, sizeof(a)), 0);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(53)};
    inet_pton(AF_INET, "9.9.9.9", &sin.sin_addr);
    assert_int_equal(mw_addr_from_sa((struct sockaddr *)&sin, &a), 0);
    assert_int_equal(mw_addr_parse("9.9.9.9", 53, &b), 0);
    assert_true(mw_addr_equal(&a, &b));

    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(mw_addr_from_sa(&un, &a), -EAFNOSUPPORT);
}

static void cidr_round_trip(const char *s, const char *want)
{
    struct mw_cidr c;
    char buf[64];
    if (mw_cidr_parse(s, &c) != 0)
        fail_msg("rejected '%s'", s);
    assert_int_equal(mw_cidr_format(&c, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
}

static void test_cidr_parse(void **state)
{
    (void)state;
    cidr_round_trip("10.0.0.0/8", "10.0.0.0/8");
    cidr_round_trip("172.16.0.0/12", "172.16.0.0/12");
    cidr_round_trip("0.0.0.0/0", "0.0.0.0/0");
    cidr_round_trip("192.0.2.7", "192.0.2.7/32");
    cidr_round_trip("192.0.2.7/32", "192.0.2.7/32");
    cidr_round_trip("fc00::/7", "fc00::/7");
    cidr_round_trip("::1", "::1/128");
    cidr_round_trip("::/0", "::/0");
    cidr_round_trip("2001:DB8::/32", "2001:db8::/32");

    struct mw_cidr c;
    assert_int_equal(mw_cidr_parse("10.0.0.0/8", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);

    static const char *const bad[] = {
        "10.0.0.1/8", /* host bits set */
        "fd00::1/8",  /* host bits set */
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/8x",
        "10.0.0.0/08x",
        "/8",
        "10.0.0/8",
        "1.2.3.256",
        "[::1]/128",
        "::1%lo/128",
        "10.0.0.0/0008",
        "",
        "fe80::/10/1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mw_cidr_parse(bad[i], &c) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    }
}

static bool match(const char *cidr, const char *addr)
{
    struct mw_cidr c;
    struct mw_addr a;
    assert_int_equal(mw_cidr_parse(cidr, &c), 0);
    assert_int_equal(mw_addr_parse(addr, 53, &a), 0);
    return mw_cidr_match(&c, &a.u.sa);
}

static void test_cidr_match(void **state)
{
    (void)state;
    assert_true(match("10.0.0.0/8", "10.255.1.2"));
    assert_false(match("10.0.0.0/8", "11.0.0.1"));
    assert_true(match("172.16.0.0/12", "172.31.255.255"));
    assert_false(match("172.16.0.0/12", "172.32.0.0"));
    assert_true(match("0.0.0.0/0", "203.0.113.9"));
    assert_true(match("192.0.2.7", "192.0.2.7"));
    assert_false(match("192.0.2.7", "192.0.2.6"));
    assert_true(match("fc00::/7", "fd12:3456::1"));
    assert_false(match("fc00::/7", "fe80::1"));
    assert_true(match("::1/128", "::1"));
    assert_false(match("::1/128", "::2"));
    /* Families never cross, except IPv4-mapped IPv6 against IPv4 prefixes. */
    assert_false(match("::/0", "127.0.0.1"));
    assert_false(match("0.0.0.0/0", "::1"));
    assert_true(match("127.0.0.0/8", "::ffff:127.0.0.1"));
    assert_true(match("192.168.0.0/16", "[::ffff:192.168.4.5]:53"));
    assert_false(match("192.168.0.0/16", "::ffff:192.169.4.5"));
    assert_false(match("127.0.0.0/8", "::127.0.0.1")); /* IPv4-compatible is not mapped */
    assert_true(match("::ffff:0:0/96", "::ffff:10.0.0.1"));

    struct mw_cidr list[2];
    assert_int_equal(mw_cidr_parse("10.0.0.0/8", &list[0]), 0);
    assert_int_equal(mw_cidr_parse("fc00::/7", &list[1]), 0);
    struct mw_addr a;
    assert_int_equal(mw_addr_parse("fd00::5", 53, &a), 0);
    assert_true(mw_cidr_match_any(list, 2, &a.u.sa));
    assert_int_equal(mw_addr_parse("192.168.1.1", 53, &a), 0);
    assert_false(mw_cidr_match_any(list, 2, &a.u.sa));
    assert_false(mw_cidr_match_any(list, 0, &a.u.sa));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format_v4), cmocka_unit_test(test_parse_format_v6),
        cmocka_unit_test(test_parse_bad),       cmocka_unit_test(test_parse_ip),
        cmocka_unit_test(test_format_nospace),  cmocka_unit_test(test_equal_and_from_sa),
        cmocka_unit_test(test_cidr_parse),      cmocka_unit_test(test_cidr_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
