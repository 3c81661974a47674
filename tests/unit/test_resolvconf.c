/* Unit tests for resolvconf.c, the one resolv.conf reader: nameserver lines among other
 * keywords, comments with '#' and ';' at the start and after the address, blanks of every
 * kind, CRLF line ends, a last line without '\n', IPv6 (with a scope), lines that do not parse
 * (reported and skipped, the walk goes on), a NUL byte, and the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "minewall/netaddr.h"
#include "minewall/resolvconf.h"

/* Walk text; the results (1 as the address text, -EINVAL as "bad") joined by ','. */
static void walk(const char *text, size_t len, char *out, size_t cap)
{
    const char *p = text, *end = text + len;
    struct mw_addr a;
    int r;
    out[0] = '\0';
    int guard = 0;
    while ((r = mw_resolvconf_next(&p, end, &a)) != 0) {
        assert_true(++guard < 100);
        char one[80];
        if (r < 0) {
            assert_int_equal(r, -EINVAL);
            strcpy(one, "bad");
        } else {
            assert_int_equal(r, 1);
            assert_int_equal(mw_addr_port(&a), 53);
            assert_int_equal(mw_addr_format_ip(&a, one, sizeof(one)) < 0, 0);
        }
        if (out[0])
            strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, one, cap - strlen(out) - 1);
    }
    assert_true(p == end);
}

#define WALK(lit, out) walk(lit, sizeof(lit) - 1, out, sizeof(out))

static void test_lines(void **state)
{
    (void)state;
    char got[512];
    WALK("# generated\n"
         "search example.com\n"
         "nameserver 192.0.2.1\n"
         "options ndots:2\n"
         "  nameserver\t198.51.100.7   # the second\n"
         "nameserver 2001:db8::53;x\n"
         "; nameserver 192.0.2.99\n"
         "#nameserver 192.0.2.98\n"
         "nameserver 203.0.113.5\r\n"
         "nameserver\v\f192.0.2.2",
         got);
    assert_string_equal(got, "192.0.2.1,198.51.100.7,2001:db8::53,203.0.113.5,192.0.2.2");
}

static void test_bad_lines(void **state)
{
    (void)state;
    char got[512];
    /* Missing or unparsable addresses are reported, and the walk goes on. */
    WALK("nameserver\n"
         "nameserver # nothing\n"
         "nameserver 192.0.2.300\n"
         "nameserver example.com\n"
         "nameserver 192.0.2.1:53\n"
         "nameserver 192.0.2.3\n"
         "nameservers 192.0.2.4\n" /* another keyword */
         "NAMESERVER 192.0.2.5\n"  /* keywords are lowercase */
         "xnameserver 192.0.2.6\n",
         got);
    assert_string_equal(got, "bad,bad,bad,bad,bad,192.0.2.3");
    /* An address longer than any address. */
    char lng[200] = "nameserver ";
    memset(lng + 11, '1', 150);
    walk(lng, strlen(lng), got, sizeof(got));
    assert_string_equal(got, "bad");
    /* A NUL byte ends the line's content like a comment. */
    WALK("nameserver 192.0.2.7\0junk\nnameserver \0 192.0.2.8\n", got);
    assert_string_equal(got, "192.0.2.7,bad");
    /* Nothing at all, blank lines only, comments only. */
    WALK("", got);
    assert_string_equal(got, "");
    WALK("\n\n   \n", got);
    assert_string_equal(got, "");
    WALK("# only\n; comments", got);
    assert_string_equal(got, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_bad_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
