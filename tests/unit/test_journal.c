/* Unit tests for journal.c: RFC 3339 timestamps, JSON string escaping (quotes, control
 * characters, UTF-8 passed through, invalid UTF-8 replaced), the exact lines of all four event
 * types, the file line limits, -ENOSPC without partial lines, ASN and country flags and the
 * same-ASN churn test against databases written by tests/tools/mkmmdb.pl, and the queue: its
 * bounds, drop counter, batch swap and pushes from several threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "minewall/answerdiff.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/error.h"
#include "minewall/geo.h"
#include "minewall/journal.h"

#ifndef MW_TEST_SRCDIR
#define MW_TEST_SRCDIR "tests"
#endif

#define MKMMDB MW_TEST_SRCDIR "/tools/mkmmdb.pl"
#define TS_LEAP 1709251199999ull /* 2024-02-29T23:59:59.999Z */

static char tmpdir[64];
static char asn_db[128];
static char country_db[128];
static struct mw_geo *geo;

static char line[MW_JOURNAL_LINE_MAX];

static void test_timestamp(void **state)
{
    (void)state;
    char ts[MW_JOURNAL_TS_LEN];
    assert_int_equal(mw_journal_timestamp(0, ts), 0);
    assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
    assert_int_equal(mw_journal_timestamp(951782400123ull, ts), 0);
    assert_string_equal(ts, "2000-02-29T00:00:00.123Z");
    assert_int_equal(mw_journal_timestamp(TS_LEAP, ts), 0);
    assert_string_equal(ts, "2024-02-29T23:59:59.999Z");
    assert_int_equal(mw_journal_timestamp(253402300799999ull, ts), 0);
    assert_string_equal(ts, "9999-12-31T23:59:59.999Z");
    assert_int_equal(mw_journal_timestamp(253402300800000ull, ts), -EINVAL);
}

static void test_quote(void **state)
{
    (void)state;
    char buf[256];
    /* Quote, backslash, newline, tab, control bytes, DEL; é, ü, €, an emoji pass through;
     * 0xff, an overlong '/', a UTF-16 surrogate and a cut sequence become U+FFFD. */
    const char in[] = "a\"b\\c\n\t\x01\x1f\x7f \xc3\xa9\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80"
                      " \xff \xc0\xaf \xed\xa0\x80 \xe2\x82";
    int n = mw_journal_quote(in, sizeof(in) - 1, buf, sizeof(buf));
    const char *want = "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\\u007f \xc3\xa9\xc3\xbc\xe2\x82\xac"
                       "\xf0\x9f\x98\x80 \\ufffd \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd "
                       "\\ufffd\\ufffd\"";
    assert_string_equal(buf, want);
    assert_int_equal(n, (int)strlen(want));
    /* An embedded NUL. */
    n = mw_journal_quote("a\0b", 3, buf, sizeof(buf));
    assert_string_equal(buf, "\"a\\u0000b\"");
    /* Too small: -ENOSPC and an empty buffer, never a partial string. */
    assert_int_equal(mw_journal_quote("abc", 3, buf, 5), -ENOSPC);
    assert_string_equal(buf, "");
    assert_int_equal(mw_journal_quote("abc", 3, buf, 6), 5);
}

/* An A change of www.example built by hand; strings from the arrays. */
static void make_change(struct mw_answer_change *ch, const char *const *old_v, int n_old,
                        const char *const *new_v, int n_new)
{
    memset(ch, 0, sizeof(*ch));
    int n = mw_dname_from_text("www.example", ch->qname, sizeof(ch->qname));
    assert_true(n > 0);
    ch->qname_len = (uint16_t)n;
    ch->qtype = MW_TYPE_A;
    for (int i = 0; i < n_old; i++)
        ch->old_set.v[ch->old_set.n++] = old_v[i];
    for (int i = 0; i < n_new; i++)
        ch->new_set.v[ch->new_set.n++] = new_v[i];
    /* added/removed by brute force; these tests keep the sets tiny. */
    for (int i = 0; i < n_new; i++) {
        bool in = false;
        for (int j = 0; j < n_old; j++)
            in |= strcmp(new_v[i], old_v[j]) == 0;
        if (!in)
            ch->added.v[ch->added.n++] = new_v[i];
    }
    for (int i = 0; i < n_old; i++) {
        bool in = false;
        for (int j = 0; j < n_new; j++)
            in |= strcmp(old_v[i], new_v[j]) == 0;
        if (!in)
            ch->removed.v[ch->removed.n++] = old_v[i];
    }
    ch->values_changed = ch->added.n || ch->removed.n;
    ch->ttl = 300;
}

static void test_answer_line(void **state)
{
    (void)state;
    struct mw_answer_change ch;
    const char *o[] = {"192.0.2.1"}, *nw[] = {"192.0.2.1", "198.51.100.1"};
    make_change(&ch, o, 1, nw, 2);
    const char *want =
        "{\"ts\":\"2024-02-29T23:59:59.999Z\",\"type\":\"answer_change\",\"host\":\"gw\\\"1\","
        "\"name\":\"www.example\",\"qtype\":\"A\",\"old\":[\"192.0.2.1\"],"
        "\"new\":[\"192.0.2.1\",\"198.51.100.1\"],\"added\":[\"198.51.100.1\"],\"removed\":[],"
        "\"ttl\":300,\"upstream\":\"192.0.2.53:53\",\"truncated\":false,"
        "\"cname_changed\":false,\"old_cname\":[],\"new_cname\":[],\"asn_changed\":null,"
        "\"country_changed\":null}\n"; /* no geo: unknown, never false */
    int n =
        mw_journal_format_answer(line, sizeof(line), TS_LEAP, "gw\"1", &ch, "192.0.2.53:53", NULL);
    assert_string_equal(line, want);
    assert_int_equal(n, (int)strlen(want));

    /* A CNAME retarget, no upstream, no host. */
    const char *a[] = {"192.0.2.1"};
    make_change(&ch, a, 1, a, 1);
    ch.cname_changed = true;
    ch.old_chain[0] = "a.cdn.example";
    ch.old_chain_n = 1;
    ch.new_chain[0] = "b.cdn.example";
    ch.new_chain[1] = "edge.cdn.example";
    ch.new_chain_n = 2;
    n = mw_journal_format_answer(line, sizeof(line), 0, NULL, &ch, NULL, NULL);
    assert_true(n > 0);
    assert_non_null(strstr(line, "\"host\":null,"));
    assert_non_null(strstr(line, "\"upstream\":null,"));
    assert_non_null(strstr(line, "\"cname_changed\":true,\"old_cname\":[\"a.cdn.example\"],"
                                 "\"new_cname\":[\"b.cdn.example\",\"edge.cdn.example\"],"));

    /* Every buffer shorter than the line fails whole; the exact size works. */
    make_change(&ch, o, 1, nw, 2);
    size_t len = strlen(want);
    for (size_t cap = 1; cap <= len; cap++) {
        assert_int_equal(
            mw_journal_format_answer(line, cap, TS_LEAP, "gw\"1", &ch, "192.0.2.53:53", NULL),
            -ENOSPC);
        assert_string_equal(line, "");
    }
    assert_int_equal(
        mw_journal_format_answer(line, len + 1, TS_LEAP, "gw\"1", &ch, "192.0.2.53:53", NULL),
        (int)len);
    assert_int_equal(mw_journal_format_answer(line, sizeof(line), 0, NULL, NULL, NULL, NULL),
                     -EINVAL);
}

static void test_host_config_line(void **state)
{
    (void)state;
    uint8_t old_sha[32];
    for (int i = 0; i < 32; i++)
        old_sha[i] = (uint8_t)i;
    const char *add[] = {"nameserver 192.0.2.1"}, *rem[] = {"nameserver 127.0.0.1"};
    const char *nso[] = {"127.0.0.1"}, *nsn[] = {"192.0.2.1"};
    struct mw_journal_host_config ev = {
        .file = "/etc/resolv.conf",
        .kind = MW_JOURNAL_FILE_RESOLV,
        .old_sha256 = old_sha,
        .new_sha256 = NULL,
        .lines_added = {add, 1},
        .lines_removed = {rem, 1},
        .nameservers_old = {nso, 1},
        .nameservers_new = {nsn, 1},
        .resolver_bypass = true,
    };
    const char *want =
        "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"type\":\"host_config_change\",\"host\":\"h\","
        "\"file\":\"/etc/resolv.conf\",\"kind\":\"resolv.conf\","
        "\"old_sha256\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\","
        "\"new_sha256\":null,\"lines_added\":1,\"lines_removed\":1,"
        "\"added_lines\":[\"nameserver 192.0.2.1\"],\"removed_lines\":[\"nameserver 127.0.0.1\"],"
        "\"lines_truncated\":false,\"nameservers_old\":[\"127.0.0.1\"],"
        "\"nameservers_new\":[\"192.0.2.1\"],\"resolver_bypass\":true,"
        "\"resolver_bypass_old\":false}\n";
    int n = mw_journal_format_host_config(line, sizeof(line), 0, "h", &ev);
    assert_string_equal(line, want);
    assert_int_equal(n, (int)strlen(want));

    /* Hosts: 40 added lines are counted, 32 listed; a long line is cut before a character. */
    static char lines[40][300];
    const char *lv[40];
    for (int i = 0; i < 40; i++) {
        snprintf(lines[i], sizeof(lines[i]), "127.0.0.1 pool%02d.rival.example", i);
        lv[i] = lines[i];
    }
    memset(lines[0], 'x', 255);
    memcpy(lines[0] + 255, "\xc3\xa9tail", 7);
    const char *names[] = {"pool.rival.example"};
    struct mw_journal_host_config hv = {
        .file = "/etc/hosts",
        .kind = MW_JOURNAL_FILE_HOSTS,
        .lines_added = {lv, 40},
        .names_changed = {names, 1},
    };
    n = mw_journal_format_host_config(line, sizeof(line), 0, "h", &hv);
    assert_true(n > 0);
    assert_non_null(strstr(line, "\"kind\":\"hosts\",\"old_sha256\":null,\"new_sha256\":null,"
                                 "\"lines_added\":40,\"lines_removed\":0,"));
    char cut[400] = "\"added_lines\":[\"";
    size_t cl = strlen(cut);
    memset(cut + cl, 'x', 255);
    strcpy(cut + cl + 255, "\",\"127.0.0.1 pool01.rival.example\"");
    assert_non_null(strstr(line, cut));
    assert_non_null(strstr(line, "\"127.0.0.1 pool31.rival.example\"],\"removed_lines\":[],"
                                 "\"lines_truncated\":true,"
                                 "\"names_changed\":[\"pool.rival.example\"]}\n"));
    assert_null(strstr(line, "pool32"));
    assert_null(strstr(line, "nameservers"));
}

static void test_upstream_config_lines(void **state)
{
    (void)state;
    const struct mw_journal_route routes[] = {
        {"corp.example", "192.0.2.53:53"},
        {".", NULL},
    };
    struct mw_journal_upstream up = {
        .upstream = "192.0.2.53:53",
        .up = false,
        .reason = "3 timeouts",
        .routes = routes,
        .n_routes = 2,
    };
    int n = mw_journal_format_upstream(line, sizeof(line), 1000, "h", &up);
    const char *want = "{\"ts\":\"1970-01-01T00:00:01.000Z\",\"type\":\"upstream_change\","
                       "\"host\":\"h\",\"upstream\":\"192.0.2.53:53\",\"state\":\"down\","
                       "\"reason\":\"3 timeouts\","
                       "\"zones\":{\"corp.example\":\"192.0.2.53:53\",\".\":null}}\n";
    assert_string_equal(line, want);
    assert_int_equal(n, (int)strlen(want));

    const char *la[] = {"127.0.0.1:53", "[::1]:53"}, *ur[] = {"198.51.100.53:53"};
    const struct mw_journal_list_delta lists[] = {{"ads", 10, 2}, {"mal\tware", 0, 7}};
    struct mw_journal_config cfg = {
        .listeners_added = {la, 2},
        .upstreams_removed = {ur, 1},
        .lists = lists,
        .n_lists = 2,
    };
    n = mw_journal_format_config(line, sizeof(line), 1000, "h", &cfg);
    want = "{\"ts\":\"1970-01-01T00:00:01.000Z\",\"type\":\"config_change\",\"host\":\"h\","
           "\"listeners_added\":[\"127.0.0.1:53\",\"[::1]:53\"],\"listeners_removed\":[],"
           "\"upstreams_added\":[],\"upstreams_removed\":[\"198.51.100.53:53\"],"
           "\"zones_added\":[],\"zones_removed\":[],"
           "\"lists\":[{\"list\":\"ads\",\"added\":10,\"removed\":2},"
           "{\"list\":\"mal\\tware\",\"added\":0,\"removed\":7}]}\n";
    assert_string_equal(line, want);
    assert_int_equal(n, (int)strlen(want));
}

/* ---- geo ---- */

static int geo_setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/mw_journal_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(asn_db, sizeof(asn_db), "%s/asn.mmdb", tmpdir);
    snprintf(country_db, sizeof(country_db), "%s/country.mmdb", tmpdir);
    char *asn[] = {"perl",
                   MKMMDB,
                   asn_db,
                   "asn",
                   "192.0.2.0/24=64500:Example \"Q\" Org",
                   "198.51.100.0/24=64500:Example Org",
                   "203.0.113.0/24=64501:Other Net",
                   NULL};
    char *country[] = {"perl",
                       MKMMDB,
                       country_db,
                       "country",
                       "192.0.2.0/24=DE",
                       "198.51.100.0/24=NL",
                       "203.0.113.0/24=FR",
                       NULL};
    if (mw_test_run(asn) != 0 || mw_test_run(country) != 0) {
        fprintf(stderr, "test_journal: FATAL: %s failed (libmaxmind-db-writer-perl missing?)\n",
                MKMMDB);
        return -1;
    }
    struct mw_errlist e;
    mw_errlist_init(&e);
    int r = mw_geo_open(&geo, asn_db, country_db, &e);
    mw_errlist_deinit(&e);
    return r == 0 ? 0 : -1;
}

static int geo_teardown(void **state)
{
    (void)state;
    mw_geo_free(geo);
    unlink(asn_db);
    unlink(country_db);
    rmdir(tmpdir);
    return 0;
}

struct flags {
    bool asn, country, churn, asn_known;
};

static struct flags geo_flags(const char *from, const char *to)
{
    struct mw_answer_change ch;
    struct mw_journal_answer_geo g;
    make_change(&ch, &from, 1, &to, 1);
    assert_int_equal(mw_journal_answer_geo(&ch, geo, &g), 0);
    assert_true(g.looked_up);
    return (struct flags){g.asn_changed, g.country_changed, mw_journal_same_asn_churn(&ch, &g),
                          g.asn_known};
}

static void test_geo_flags(void **state)
{
    (void)state;
    /* Churn inside one network: same ASN, same country. */
    struct flags f = geo_flags("192.0.2.1", "192.0.2.2");
    assert_false(f.asn);
    assert_false(f.country);
    assert_true(f.churn);
    /* Same ASN, other country: still same-ASN churn, but country_changed. */
    f = geo_flags("192.0.2.1", "198.51.100.1");
    assert_false(f.asn);
    assert_true(f.country);
    assert_true(f.churn);
    /* Another ASN. */
    f = geo_flags("192.0.2.1", "203.0.113.1");
    assert_true(f.asn);
    assert_true(f.country);
    assert_false(f.churn);
    assert_true(f.asn_known);
    /* Unknown addresses are never churn, and an unknown ASN is no verdict either way: the
     * line writes null (issue 11 item 10). */
    f = geo_flags("192.0.2.1", "10.0.0.1");
    assert_false(f.asn_known);
    assert_false(f.churn);
    f = geo_flags("10.0.0.1", "10.0.0.2");
    assert_false(f.asn_known);
    assert_false(f.churn);

    /* The geo fields of the line, the organisation escaped. */
    struct mw_answer_change ch;
    struct mw_journal_answer_geo g;
    const char *o[] = {"192.0.2.1"}, *nw[] = {"10.0.0.1", "203.0.113.1"};
    make_change(&ch, o, 1, nw, 2);
    assert_int_equal(mw_journal_answer_geo(&ch, geo, &g), 0);
    int n = mw_journal_format_answer(line, sizeof(line), 0, "h", &ch, NULL, &g);
    assert_true(n > 0);
    const char *want =
        "\"asn_changed\":null,\"country_changed\":null,"
        "\"old_geo\":[{\"ip\":\"192.0.2.1\",\"asn\":64500,\"as_org\":\"Example \\\"Q\\\" Org\","
        "\"country\":\"DE\"}],"
        "\"new_geo\":[{\"ip\":\"10.0.0.1\",\"asn\":null,\"as_org\":null,\"country\":null},"
        "{\"ip\":\"203.0.113.1\",\"asn\":64501,\"as_org\":\"Other Net\",\"country\":\"FR\"}]}\n";
    assert_non_null(strstr(line, want));

    /* No geo, or not an address type: nothing looked up, no churn. */
    assert_int_equal(mw_journal_answer_geo(&ch, NULL, &g), 0);
    assert_false(g.looked_up);
    assert_false(mw_journal_same_asn_churn(&ch, &g));
    ch.qtype = MW_TYPE_MX;
    assert_int_equal(mw_journal_answer_geo(&ch, geo, &g), 0);
    assert_false(g.looked_up);
    assert_false(mw_journal_same_asn_churn(&ch, NULL));
}

/* ---- queue ---- */

static void test_control_line(void **state)
{
    (void)state;
    char buf[4096];
    struct mw_journal_control ev = {.via = "unix",
                                    .uid = 0,
                                    .pid = 4242,
                                    .command = "pause",
                                    .request = "pause?for=5m",
                                    .ok = true,
                                    .result = "blocking \"paused\""};
    int n = mw_journal_format_control(buf, sizeof(buf), 1714564800123ull, "gw1", &ev);
    assert_true(n > 0);
    assert_string_equal(buf, "{\"ts\":\"2024-05-01T12:00:00.123Z\",\"type\":\"control\","
                             "\"host\":\"gw1\",\"via\":\"unix\",\"uid\":0,\"pid\":4242,"
                             "\"peer\":null,\"command\":\"pause\",\"request\":\"pause?for=5m\","
                             "\"ok\":true,\"result\":\"blocking \\\"paused\\\"\"}\n");
    ev = (struct mw_journal_control){.via = "http",
                                     .uid = -1,
                                     .pid = -1,
                                     .peer = "127.0.0.1:5",
                                     .command = "reload",
                                     .ok = false};
    n = mw_journal_format_control(buf, sizeof(buf), 1714564800123ull, NULL, &ev);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "\"uid\":null,\"pid\":null,\"peer\":\"127.0.0.1:5\""));
    assert_non_null(strstr(buf, "\"request\":\"\",\"ok\":false,\"result\":\"\"}"));
    assert_int_equal(mw_journal_format_control(buf, 20, 1714564800123ull, "gw1", &ev), -ENOSPC);
    assert_int_equal(mw_journal_format_control(buf, sizeof(buf), 0, "gw1", NULL), -EINVAL);
    assert_string_equal(mw_journal_type_name(MW_JOURNAL_CONTROL), "control");
}

static void test_queue_bounds(void **state)
{
    (void)state;
    assert_null(mw_journal_queue_new(0, 100));
    struct mw_journal_queue *q = mw_journal_queue_new(3, 64);
    assert_non_null(q);
    struct mw_journal_batch b = {0};
    assert_int_equal(mw_journal_queue_pop_all(q, &b), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(mw_journal_queue_push(q, MW_JOURNAL_ANSWER, "{\"a\":1}\n", 8), 0);
    /* '\n' added */
    assert_int_equal(mw_journal_queue_push(q, MW_JOURNAL_CONFIG, "{\"b\":2}", 7), 0);
    assert_int_equal(mw_journal_queue_push(q, MW_JOURNAL_OTHER, "{\"c\":3}\n", 8), 0);
    /* 3 lines */
    assert_int_equal(mw_journal_queue_push(q, MW_JOURNAL_OTHER, "{\"d\":4}\n", 8), -ENOSPC);
    assert_int_equal(mw_journal_queue_push(q, MW_JOURNAL_OTHER, "", 0), -EINVAL);
    assert_int_equal(mw_journal_queue_push(q, MW_JOURNAL_TYPES, "x", 1), -EINVAL);
    struct mw_journal_queue_stats st;
    mw_journal_queue_get_stats(q, &st);
    assert_int_equal(st.pushed, 3);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.lines, 3);
    assert_int_equal(st.bytes, 24);

    assert_int_equal(mw_journal_queue_pop_all(q, &b), 3);
    assert_int_equal(b.len, 24);
    assert_memory_equal(b.data, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", 24);
    /* Each line keeps its type: the writer never reads it back out of the JSON. */
    assert_int_equal(b.types[0], MW_JOURNAL_ANSWER);
    assert_int_equal(b.types[1], MW_JOURNAL_CONFIG);
    assert_int_equal(b.types[2], MW_JOURNAL_OTHER);
    mw_journal_queue_get_stats(q, &st);
    assert_int_equal(st.lines, 0);

    /* The byte bound: 64 bytes take two lines of 30, not a third; a line over 64 never fits. */
    char l30[31];
    memset(l30, 'x', 29);
    l30[29] = '\n';
    assert_int_equal(mw_journal_queue_push(q, MW_JOURNAL_OTHER, l30, 30), 0);
    assert_int_equal(mw_journal_queue_push(q, MW_JOURNAL_OTHER, l30, 30), 0);
    assert_int_equal(mw_journal_queue_push(q, MW_JOURNAL_OTHER, l30, 30), -ENOSPC);
    char big[65];
    memset(big, 'y', sizeof(big));
    assert_int_equal(mw_journal_queue_push(q, MW_JOURNAL_OTHER, big, sizeof(big)), -ENOSPC);
    mw_journal_queue_get_stats(q, &st);
    assert_int_equal(st.dropped, 3);
    assert_int_equal(mw_journal_queue_pop_all(q, &b), 2);
    assert_int_equal(b.len, 60);
    assert_int_equal(mw_journal_queue_pop_all(q, &b), 0);
    assert_int_equal(b.len, 0);
    mw_journal_batch_deinit(&b);
    mw_journal_queue_free(q);
    mw_journal_queue_free(NULL);
}

#define PRODUCERS 4
#define PER_PRODUCER 5000

static void *producer(void *arg)
{
    struct mw_journal_queue *q = arg;
    char buf[64];
    for (int i = 0; i < PER_PRODUCER; i++) {
        int n = snprintf(buf, sizeof(buf), "{\"i\":%d}\n", i);
        int r = mw_journal_queue_push(q, MW_JOURNAL_OTHER, buf, (size_t)n);
        if (r != 0 && r != -ENOSPC)
            abort();
    }
    return NULL;
}

static void test_queue_threads(void **state)
{
    (void)state;
    struct mw_journal_queue *q = mw_journal_queue_new(100, 4096);
    pthread_t t[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, producer, q), 0);
    struct mw_journal_batch b = {0};
    uint64_t taken = 0;
    bool done = false;
    while (!done) {
        struct mw_journal_queue_stats st;
        mw_journal_queue_get_stats(q, &st);
        done = st.pushed + st.dropped == PRODUCERS * PER_PRODUCER;
        int n = mw_journal_queue_pop_all(q, &b);
        assert_true(n >= 0);
        /* Whole lines only. */
        size_t nl = 0;
        for (size_t i = 0; i < b.len; i++)
            nl += b.data[i] == '\n';
        assert_int_equal(nl, (size_t)n);
        assert_true(b.len == 0 || b.data[b.len - 1] == '\n');
        taken += (uint64_t)n;
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    taken += (uint64_t)mw_journal_queue_pop_all(q, &b);
    struct mw_journal_queue_stats st;
    mw_journal_queue_get_stats(q, &st);
    assert_int_equal(st.pushed + st.dropped, PRODUCERS * PER_PRODUCER);
    assert_int_equal(taken, st.pushed);
    mw_journal_batch_deinit(&b);
    mw_journal_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_answer_line),
        cmocka_unit_test(test_host_config_line),
        cmocka_unit_test(test_upstream_config_lines),
        cmocka_unit_test_setup_teardown(test_geo_flags, geo_setup, geo_teardown),
        cmocka_unit_test(test_control_line),
        cmocka_unit_test(test_queue_bounds),
        cmocka_unit_test(test_queue_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
