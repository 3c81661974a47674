/* Unit tests for redisurl.c, the one Redis URL parser of minewall and minewall-feed: the
 * forms that parse (defaults, user and password, %XX in either case, a raw '@' or ':' in the
 * password, IPv6 in brackets, ports and databases at their bounds) and the shown form that
 * never carries the credentials; then every malformed form, each with a reason that does not
 * quote the password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "minewall/redisurl.h"

static struct mw_redis_url U;

static void ok(const char *text)
{
    char why[128] = "";
    int r = mw_redis_url_parse(text, &U, why, sizeof(why));
    if (r != 0)
        fail_msg("%s: %s", text, why);
}

static void test_defaults(void **state)
{
    (void)state;
    ok("redis://127.0.0.1");
    assert_string_equal(U.host, "127.0.0.1");
    assert_int_equal(U.port, MW_REDIS_DEFAULT_PORT);
    assert_int_equal(U.db, 0);
    assert_string_equal(U.user, "");
    assert_string_equal(U.pass, "");
    assert_string_equal(U.shown, "redis://127.0.0.1:6379");
    ok("redis://h/");
    assert_int_equal(U.db, 0);
    ok("redis://redis.example:1/1000000");
    assert_int_equal(U.port, 1);
    assert_int_equal(U.db, 1000000);
    assert_string_equal(U.shown, "redis://redis.example:1/1000000");
    ok("redis://h:65535/0");
    assert_int_equal(U.port, 65535);
    assert_string_equal(U.shown, "redis://h:65535");
}

static void test_credentials(void **state)
{
    (void)state;
    ok("redis://:s%40c:r%2Ft@10.0.0.1:7000/3");
    assert_string_equal(U.host, "10.0.0.1");
    assert_int_equal(U.port, 7000);
    assert_int_equal(U.db, 3);
    assert_string_equal(U.user, "");
    assert_string_equal(U.pass, "s@c:r/t");
    assert_string_equal(U.shown, "redis://10.0.0.1:7000/3");

    ok("redis://bob:pw@[::1]:6380/");
    assert_string_equal(U.user, "bob");
    assert_string_equal(U.pass, "pw");
    assert_string_equal(U.host, "::1");
    assert_int_equal(U.port, 6380);
    assert_string_equal(U.shown, "redis://[::1]:6380");

    /* Hex digits in either case; an escaped user name. */
    ok("redis://b%6Fb%6f:%7e%7E@h");
    assert_string_equal(U.user, "bobo");
    assert_string_equal(U.pass, "~~");
    /* A raw '@' in the password: the last '@' ends the credentials. A raw ':' too. */
    ok("redis://:a@b@h:1");
    assert_string_equal(U.pass, "a@b");
    assert_string_equal(U.host, "h");
    ok("redis://:a:b@h");
    assert_string_equal(U.pass, "a:b");
    /* A raw '/' before the '@' is part of the password. */
    ok("redis://:a/b@h/2");
    assert_string_equal(U.pass, "a/b");
    assert_int_equal(U.db, 2);
    /* An empty password is no password. */
    ok("redis://:@h");
    assert_string_equal(U.pass, "");
    /* IPv6 without a port. */
    ok("redis://[2001:db8::1]");
    assert_string_equal(U.host, "2001:db8::1");
    assert_string_equal(U.shown, "redis://[2001:db8::1]:6379");
}

static void test_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        NULL,
        "",
        "http://h",
        "REDIS://h",
        "redis://",
        "redis://:6379",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:12x",
        "redis://h:",
        "redis://h:-1",
        "redis://h/x",
        "redis://h/-1",
        "redis://h/1/",
        "redis://h/1000001",
        "redis://[::1",
        "redis://[::1]x",
        "redis://[]",
        "redis://pw@h",     /* the ':' is required: "pw" would be a user or a password */
        "redis://:%zz@h",   /* not hex */
        "redis://:%4@h",    /* one digit */
        "redis://:abc%@h",  /* '%' at the end */
        "redis://:a%00b@h", /* NUL would cut the password */
        "redis://u%g0:p@h", /* in the user name too */
        "redis://:secret@", /* no host */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char why[128] = "";
        if (mw_redis_url_parse(bad[i], &U, why, sizeof(why)) != -EINVAL)
            fail_msg("accepted: %s", bad[i] ? bad[i] : "(null)");
        assert_true(why[0] != '\0');
        assert_null(strstr(why, "secret"));
    }
    /* Over-long host, user and password; no reason buffer is fine. */
    char longhost[400] = "redis://";
    memset(longhost + 8, 'a', 300);
    assert_int_equal(mw_redis_url_parse(longhost, &U, NULL, 0), -EINVAL);
    char longpass[400] = "redis://:";
    memset(longpass + 9, 'p', 300);
    strcat(longpass, "@h");
    assert_int_equal(mw_redis_url_parse(longpass, &U, NULL, 0), -EINVAL);
    char longuser[400] = "redis://";
    memset(longuser + 8, 'u', 200);
    strcat(longuser, ":p@h");
    assert_int_equal(mw_redis_url_parse(longuser, &U, NULL, 0), -EINVAL);
    /* The longest password that fits does parse. */
    char fits[400] = "redis://:";
    memset(fits + 9, 'p', sizeof(U.pass) - 1);
    strcat(fits, "@h");
    ok(fits);
    assert_int_equal(strlen(U.pass), sizeof(U.pass) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
