/* Unit tests for sockowner.c: lines of /proc/net/{udp,tcp}[6] as the kernel prints them, the
 * header and damaged lines, and finding this test's own bound socket and process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minewall/netaddr.h"
#include "minewall/sockowner.h"

static void test_parse_v4(void **state)
{
    (void)state;
    struct mw_addr a;
    unsigned st;
    uint64_t ino;
    assert_int_equal(
        mw_sockowner_parse_line("   12: 0100007F:0035 00000000:0000 07 00000000:00000000 "
                                "00:00000000 00000000   105        0 123456 2 "
                                "0000000000000000 0\n",
                                false, &a, &st, &ino),
        0);
    char buf[64];
    mw_addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "127.0.0.1:53");
    assert_int_equal(st, 7);
    assert_true(ino == 123456);
    assert_int_equal(mw_sockowner_parse_line("  sl  local_address rem_address   st tx_queue "
                                             "rx_queue tr tm->when retrnsmt   uid  timeout inode",
                                             false, &a, &st, &ino),
                     -EINVAL);
    assert_int_equal(mw_sockowner_parse_line("   1: 0100007G:0035", false, &a, &st, &ino), -EINVAL);
    assert_int_equal(
        mw_sockowner_parse_line("   1: 0100007F:0035 00000000:0000", false, &a, &st, &ino),
        -EINVAL);
    assert_int_equal(mw_sockowner_parse_line("", false, &a, &st, &ino), -EINVAL);
}

static void test_parse_v6(void **state)
{
    (void)state;
    struct mw_addr a;
    unsigned st;
    uint64_t ino;
    assert_int_equal(mw_sockowner_parse_line("    3: 00000000000000000000000001000000:14E9 "
                                             "00000000000000000000000000000000:0000 0A 00000000:"
                                             "00000000 00:00000000 00000000     0        0 99 1 "
                                             "0000000000000000 100 0 0 10 0\n",
                                             true, &a, &st, &ino),
                     0);
    char buf[64];
    mw_addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "[::1]:5353");
    assert_int_equal(st, 0x0A);
    assert_true(ino == 99);
}

/* A UDP socket of this process is found with its inode and this pid. */
static void test_find_self(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t sl = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    struct mw_addr a;
    memset(&a, 0, sizeof(a));
    memcpy(&a.u.in4, &sin, sizeof(sin));
    a.len = sizeof(sin);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    struct mw_sockowner o;
    assert_int_equal(mw_sockowner_find(&a, SOCK_DGRAM, &o), 0);
    assert_true(o.inode == (uint64_t)sb.st_ino);
    assert_int_equal(o.pid, getpid());
    assert_true(o.comm[0] != '\0');
    /* Not a listening TCP socket on that port. */
    assert_int_equal(mw_sockowner_find(&a, SOCK_STREAM, &o), -ENOENT);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v4),
        cmocka_unit_test(test_parse_v6),
        cmocka_unit_test(test_find_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
