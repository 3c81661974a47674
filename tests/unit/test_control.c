/* Unit tests for control.c: durations, request parsing (every refusal says why), the CLI's
 * argv -> request line and back, and the answers as text and as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "minewall/control.h"
#include "minewall/topn.h"

static void test_duration(void **state)
{
    (void)state;
    uint64_t ms;
    assert_int_equal(mw_control_duration("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(mw_control_duration("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(mw_control_duration("90", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(mw_control_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(mw_control_duration("2d", &ms), 0);
    assert_int_equal(ms, 2 * 86400000ull);
    const char *bad[] = {"", "m", "5x", "5m3", "-5m", "1y", "5 m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(mw_control_duration(bad[i], &ms), -EINVAL);
    const char *range[] = {"0", "0s", "99999999999999999999s", "400d"};
    for (size_t i = 0; i < sizeof(range) / sizeof(range[0]); i++)
        assert_int_equal(mw_control_duration(range[i], &ms), -ERANGE);
    char b[32];
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, b, sizeof(b));
    mw_control_format_duration(&sb, 3723000);
    assert_string_equal(b, "1h2m3s");
    mw_strbuf_init(&sb, b, sizeof(b));
    mw_control_format_duration(&sb, 400);
    assert_string_equal(b, "0s");
}

static int parse(const char *line, struct mw_control_req *r, char *why)
{
    return mw_control_parse(line, strlen(line), r, why, 200);
}

static void test_parse_ok(void **state)
{
    (void)state;
    struct mw_control_req r;
    char why[200];
    assert_int_equal(parse("status", &r, why), 0);
    assert_int_equal(r.cmd, MW_CTL_STATUS);
    assert_false(r.json);
    assert_false(r.changes);
    assert_int_equal(parse("pause?for=1h30m&group=default&format=json", &r, why), 0);
    assert_int_equal(r.cmd, MW_CTL_PAUSE);
    assert_true(r.changes);
    assert_true(r.json);
    assert_int_equal(r.for_ms, 5400000);
    assert_int_equal(parse("pause", &r, why), 0);
    assert_int_equal(r.for_ms, MW_CONTROL_PAUSE_DEFAULT_MS);
    assert_string_equal(r.group, "default");
    assert_int_equal(parse("flush?name=WWW.Example.COM", &r, why), 0);
    assert_false(r.all);
    assert_int_equal(r.qname_len, 17);
    assert_memory_equal(r.qname, "\3www\7example\3com", 17);
    assert_int_equal(parse("flush?all", &r, why), 0);
    assert_true(r.all);
    assert_int_equal(parse("top-names?n=3", &r, why), 0);
    assert_int_equal(r.cmd, MW_CTL_TOP_NAMES);
    assert_int_equal(r.n, 3);
    assert_int_equal(parse("explain?name=x.example&client=2001%3Adb8%3A%3A1", &r, why), 0);
    assert_string_equal(r.client, "2001:db8::1");
    assert_string_equal(r.name, "x.example");
    assert_int_equal(parse("reload?", &r, why), 0);
    assert_int_equal(parse("lists?&&format=text", &r, why), 0);
}

static void test_parse_refused(void **state)
{
    (void)state;
    struct mw_control_req r;
    char why[200];
    struct {
        const char *line, *why;
    } bad[] = {
        {"", "unknown command"},
        {"shutdown", "unknown command 'shutdown'"},
        {"pause?group=no%20way", "not a group name"},
        {"pause?for=5x", "expected a duration"},
        {"pause?for=25h", "at most 24h"},
        {"flush", "needs a name or all"},
        {"flush?all&name=x.example", "needs a name or all"},
        {"flush?name=a..b", "not a domain name"},
        {"explain", "explain needs a name"},
        {"explain?name=x&client=nope", "not an IPv4 or IPv6 address"},
        {"top-names?n=0", "expected 1 to"},
        {"top-names?n=101", "expected 1 to"},
        {"status?for=5m", "status does not take 'for'"},
        {"status?format=xml", "expected text or json"},
        {"status?x=%zz", "malformed argument"},
        {"status?x=%0a", "malformed argument"},
        {"status?x=%4", "malformed argument"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = 0;
        assert_int_equal(parse(bad[i].line, &r, why), -EINVAL);
        if (!strstr(why, bad[i].why))
            fail_msg("%s: '%s' lacks '%s'", bad[i].line, why, bad[i].why);
    }
    /* A line with a NUL inside is refused, not cut. */
    assert_int_equal(mw_control_parse("status\0x", 8, &r, why, sizeof(why)), -EINVAL);
}

static void test_argv(void **state)
{
    (void)state;
    char out[256], why[200];
    char *a1[] = {"pause", "--for", "5m", "--group", "default"};
    assert_int_equal(mw_control_argv_line(5, a1, true, out, sizeof(out), why, sizeof(why)), 0);
    assert_string_equal(out, "pause?for=5m&group=default&format=json");
    char *a2[] = {"explain", "a b&c.example", "--client", "10.0.0.1"};
    assert_int_equal(mw_control_argv_line(4, a2, false, out, sizeof(out), why, sizeof(why)), 0);
    assert_string_equal(out, "explain?name=a%20b%26c.example&client=10.0.0.1");
    struct mw_control_req r;
    assert_int_equal(mw_control_parse(out, strlen(out), &r, why, sizeof(why)), 0);
    assert_string_equal(r.name, "a b&c.example");
    char *a3[] = {"flush", "--all"};
    assert_int_equal(mw_control_argv_line(2, a3, false, out, sizeof(out), why, sizeof(why)), 0);
    assert_string_equal(out, "flush?all");
    char *a4[] = {"pause", "--for"};
    assert_int_equal(mw_control_argv_line(2, a4, false, out, sizeof(out), why, sizeof(why)),
                     -EINVAL);
    assert_non_null(strstr(why, "needs a value"));
    char *a5[] = {"status", "--bogus"};
    assert_int_equal(mw_control_argv_line(2, a5, false, out, sizeof(out), why, sizeof(why)),
                     -EINVAL);
    char *a6[] = {"flush", "a.example", "b.example"};
    assert_int_equal(mw_control_argv_line(3, a6, false, out, sizeof(out), why, sizeof(why)),
                     -EINVAL);
    assert_int_equal(mw_control_argv_line(0, a6, false, out, sizeof(out), why, sizeof(why)),
                     -EINVAL);
    char *a7[] = {"explain", "x.example"};
    assert_int_equal(mw_control_argv_line(2, a7, false, out, 10, why, sizeof(why)), -EINVAL);
}

static void test_answers(void **state)
{
    (void)state;
    static char b[8192];
    struct mw_strbuf sb;
    struct mw_control_req r;
    char why[200];
    assert_int_equal(parse("pause?format=json", &r, why), 0);
    mw_strbuf_init(&sb, b, sizeof(b));
    struct mw_control_pause p = {.paused = true, .left_ms = 299500};
    mw_control_pause_result(&sb, &r, &p);
    assert_string_equal(b, "{\"ok\":true,\"command\":\"pause\",\"group\":\"default\","
                           "\"paused\":true,\"remaining_s\":300}\n");
    r.json = false;
    mw_strbuf_init(&sb, b, sizeof(b));
    mw_control_pause_result(&sb, &r, &p);
    assert_string_equal(b, "blocking paused for group default: resumes in 5m\n");
    mw_strbuf_init(&sb, b, sizeof(b));
    mw_control_error(&sb, true, "bad \"thing\"");
    assert_string_equal(b, "{\"ok\":false,\"error\":\"bad \\\"thing\\\"\"}\n");
    struct mw_control_list l[2] = {
        {"ads", "file", "ads", "nxdomain", 12, false},
        {"feed", "redis", "malware", "allow", 3, true},
    };
    mw_strbuf_init(&sb, b, sizeof(b));
    mw_control_lists(&sb, true, l, 2);
    assert_non_null(strstr(b, "{\"name\":\"feed\",\"origin\":\"redis\",\"entries\":3,"
                              "\"category\":\"malware\",\"action\":\"allow\",\"stale\":true}"));
    mw_strbuf_init(&sb, b, sizeof(b));
    mw_control_lists(&sb, false, l, 2);
    assert_non_null(strstr(b, "feed"));
    assert_non_null(strstr(b, "yes"));
    struct mw_topn_item it[2] = {0};
    memcpy(it[0].key, "\x0a\x00\x00\x07", 4);
    it[0].key_len = 4;
    it[0].count = 9;
    memcpy(it[1].key, "\3www\7example\0", 13);
    it[1].key_len = 13;
    it[1].count = 4;
    mw_strbuf_init(&sb, b, sizeof(b));
    mw_control_top(&sb, true, MW_TOP_CLIENTS, it, 1, 20);
    assert_string_equal(b, "{\"ok\":true,\"command\":\"top-clients\",\"total\":20,"
                           "\"top\":[{\"client\":\"10.0.0.7\",\"count\":9,\"error\":0}]}\n");
    mw_strbuf_init(&sb, b, sizeof(b));
    mw_control_top(&sb, false, MW_TOP_NAMES, it + 1, 1, 20);
    assert_non_null(strstr(b, "www.example"));
    struct mw_control_status st = {.version = "0.1.0",
                                   .workers = 2,
                                   .queries = 5,
                                   .top_clients = it,
                                   .n_top_clients = 1,
                                   .top_names = it + 1,
                                   .n_top_names = 1};
    mw_strbuf_init(&sb, b, sizeof(b));
    mw_control_status(&sb, true, &st);
    assert_false(sb.trunc);
    assert_non_null(strstr(b, "\"paused\":false"));
    assert_non_null(strstr(b, "\"top_names\":[{\"name\":\"www.example"));
    mw_strbuf_init(&sb, b, sizeof(b));
    mw_control_status(&sb, false, &st);
    assert_non_null(strstr(b, "blocking: active"));
    assert_non_null(strstr(b, "10.0.0.7 (9)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration),      cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_refused), cmocka_unit_test(test_argv),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
