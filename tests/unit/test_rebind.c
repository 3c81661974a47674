/* Unit tests for rebind.c: every range of the guard's address classes at its edges (the first
 * and last address inside, the neighbours outside), the metadata addresses ahead of the
 * link-local and shared ranges that hold them, IPv4 embedded in IPv6 (mapped, NAT64
 * well-known prefix, IPv4-compatible) classified as the IPv4 address, and which classes each
 * setting of the guard acts on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "minewall/rebind.h"

static enum mw_rebind_class cls(const char *text)
{
    uint8_t a[16];
    int family = strchr(text, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(family, text, a), 1);
    return mw_rebind_classify(family, a);
}

#define EXPECT(text, c)                                                                            \
    do {                                                                                           \
        if (cls(text) != (c))                                                                      \
            fail_msg("%s: class %s, expected %s", text, mw_rebind_class_name(cls(text)),           \
                     mw_rebind_class_name(c));                                                     \
    } while (0)

static void test_v4(void **state)
{
    (void)state;
    EXPECT("169.254.169.254", MW_REBIND_METADATA);
    EXPECT("169.254.170.2", MW_REBIND_METADATA);
    EXPECT("100.100.100.200", MW_REBIND_METADATA);
    EXPECT("169.254.169.253", MW_REBIND_LINKLOCAL); /* beside metadata: only link-local */
    EXPECT("169.254.170.3", MW_REBIND_LINKLOCAL);
    EXPECT("100.100.100.201", MW_REBIND_PRIVATE); /* RFC 6598 shared space */
    EXPECT("169.254.0.0", MW_REBIND_LINKLOCAL);
    EXPECT("169.254.255.255", MW_REBIND_LINKLOCAL);
    EXPECT("169.253.255.255", MW_REBIND_NONE);
    EXPECT("169.255.0.0", MW_REBIND_NONE);
    EXPECT("127.0.0.1", MW_REBIND_LOOPBACK);
    EXPECT("127.255.255.255", MW_REBIND_LOOPBACK);
    EXPECT("0.0.0.0", MW_REBIND_LOOPBACK);
    EXPECT("0.255.255.255", MW_REBIND_LOOPBACK);
    EXPECT("1.0.0.0", MW_REBIND_NONE);
    EXPECT("126.255.255.255", MW_REBIND_NONE);
    EXPECT("128.0.0.0", MW_REBIND_NONE);
    EXPECT("10.0.0.0", MW_REBIND_PRIVATE);
    EXPECT("10.255.255.255", MW_REBIND_PRIVATE);
    EXPECT("9.255.255.255", MW_REBIND_NONE);
    EXPECT("11.0.0.0", MW_REBIND_NONE);
    EXPECT("172.16.0.0", MW_REBIND_PRIVATE);
    EXPECT("172.31.255.255", MW_REBIND_PRIVATE);
    EXPECT("172.15.255.255", MW_REBIND_NONE);
    EXPECT("172.32.0.0", MW_REBIND_NONE);
    EXPECT("192.168.0.0", MW_REBIND_PRIVATE);
    EXPECT("192.168.255.255", MW_REBIND_PRIVATE);
    EXPECT("192.167.255.255", MW_REBIND_NONE);
    EXPECT("192.169.0.0", MW_REBIND_NONE);
    EXPECT("100.64.0.0", MW_REBIND_PRIVATE);
    EXPECT("100.127.255.255", MW_REBIND_PRIVATE);
    EXPECT("100.63.255.255", MW_REBIND_NONE);
    EXPECT("100.128.0.0", MW_REBIND_NONE);
    EXPECT("192.0.2.1", MW_REBIND_NONE);
    EXPECT("8.8.8.8", MW_REBIND_NONE);
    EXPECT("255.255.255.255", MW_REBIND_NONE);
}

static void test_v6(void **state)
{
    (void)state;
    EXPECT("fd00:ec2::254", MW_REBIND_METADATA);
    EXPECT("fd00:ec2::253", MW_REBIND_PRIVATE); /* the rest of the ULA around it */
    EXPECT("::1", MW_REBIND_LOOPBACK);
    EXPECT("::", MW_REBIND_LOOPBACK);
    EXPECT("fe80::1", MW_REBIND_LINKLOCAL);
    EXPECT("febf:ffff::1", MW_REBIND_LINKLOCAL);
    EXPECT("fe7f:ffff::1", MW_REBIND_NONE);
    EXPECT("fc00::", MW_REBIND_PRIVATE);
    EXPECT("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", MW_REBIND_PRIVATE);
    EXPECT("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", MW_REBIND_NONE);
    EXPECT("fec0::1", MW_REBIND_PRIVATE); /* deprecated site-local */
    EXPECT("2001:db8::1", MW_REBIND_NONE);
    EXPECT("2600:1f18::254", MW_REBIND_NONE);
    EXPECT("ff02::1", MW_REBIND_NONE);
}

static void test_embedded(void **state)
{
    (void)state;
    /* IPv4-mapped (::ffff:0:0/96). */
    EXPECT("::ffff:169.254.169.254", MW_REBIND_METADATA);
    EXPECT("::ffff:100.100.100.200", MW_REBIND_METADATA);
    EXPECT("::ffff:127.0.0.1", MW_REBIND_LOOPBACK);
    EXPECT("::ffff:10.1.2.3", MW_REBIND_PRIVATE);
    EXPECT("::ffff:169.254.1.1", MW_REBIND_LINKLOCAL);
    EXPECT("::ffff:8.8.8.8", MW_REBIND_NONE);
    EXPECT("::fffe:169.254.169.254", MW_REBIND_NONE); /* not the mapped prefix */
    /* NAT64 well-known prefix (64:ff9b::/96). */
    EXPECT("64:ff9b::169.254.169.254", MW_REBIND_METADATA);
    EXPECT("64:ff9b::a9fe:aa02", MW_REBIND_METADATA); /* 169.254.170.2 in hex */
    EXPECT("64:ff9b::192.168.1.1", MW_REBIND_PRIVATE);
    EXPECT("64:ff9b::127.0.0.1", MW_REBIND_LOOPBACK);
    EXPECT("64:ff9b::8.8.8.8", MW_REBIND_NONE);
    EXPECT("64:ff9b:1::169.254.169.254", MW_REBIND_NONE); /* not the /96 */
    /* IPv4-compatible (::/96, deprecated). */
    EXPECT("::169.254.169.254", MW_REBIND_METADATA);
    EXPECT("::10.0.0.1", MW_REBIND_PRIVATE);
    EXPECT("::0.0.0.2", MW_REBIND_LOOPBACK); /* 0.0.0.0/8 */
}

static void test_guarded(void **state)
{
    (void)state;
    /* The default: metadata on, private ranges off. */
    assert_true(mw_rebind_guarded(MW_REBIND_METADATA, true, false));
    assert_false(mw_rebind_guarded(MW_REBIND_LOOPBACK, true, false));
    assert_false(mw_rebind_guarded(MW_REBIND_LINKLOCAL, true, false));
    assert_false(mw_rebind_guarded(MW_REBIND_PRIVATE, true, false));
    assert_false(mw_rebind_guarded(MW_REBIND_NONE, true, true));
    assert_true(mw_rebind_guarded(MW_REBIND_PRIVATE, true, true));
    assert_true(mw_rebind_guarded(MW_REBIND_LOOPBACK, false, true));
    assert_false(mw_rebind_guarded(MW_REBIND_METADATA, false, true));
    assert_int_equal(mw_rebind_classify(AF_UNIX, (const uint8_t *)"\0\0\0\0"), MW_REBIND_NONE);
    assert_string_equal(mw_rebind_class_name(MW_REBIND_LINKLOCAL), "link-local");
    assert_string_equal(mw_rebind_class_name(MW_REBIND_METADATA), "metadata");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4),
        cmocka_unit_test(test_v6),
        cmocka_unit_test(test_embedded),
        cmocka_unit_test(test_guarded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
