/* Unit tests for geo.c against databases written at run time by tests/tools/mkmmdb.pl
 * (MaxMind::DB::Writer, Debian libmaxmind-db-writer-perl, a required test dependency): ASN,
 * organisation and country for IPv4, IPv4-mapped and IPv6 addresses, overlapping networks,
 * 32-bit ASNs, UTF-8 organisations cut at a character boundary, unknown addresses, open errors
 * and their messages, NULL paths, and concurrent lookups from four threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "minewall/error.h"
#include "minewall/geo.h"

#ifndef MW_TEST_SRCDIR
#define MW_TEST_SRCDIR "tests"
#endif

#define MKMMDB MW_TEST_SRCDIR "/tools/mkmmdb.pl"

/* 94 ASCII bytes, then a 3-byte character (the euro sign) across the 95-byte limit of as_org. */
#define A10 "aaaaaaaaaa"
#define LONG_UTF8 A10 A10 A10 A10 A10 A10 A10 A10 A10 "aaaa\u20actail"
/* "Ünïcode Org"; gcc encodes string literals as UTF-8. */
#define UNI_ORG "\u00dcn\u00efcode Org"
#define B50 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define LONG_ASCII B50 B50 B50

static char tmpdir[64];
static char asn_db[128];
static char country_db[128];
static char junk_db[128];

static int make_databases(void)
{
    char *check[] = {"perl", "-MMaxMind::DB::Writer::Tree", "-e", "1", NULL};
    if (mw_test_run(check) != 0) {
        fprintf(stderr, "test_geo: FATAL: the Perl module MaxMind::DB::Writer::Tree is missing; "
                        "install libmaxmind-db-writer-perl (tools/setup does)\n");
        return -1;
    }
    char *asn[] = {"perl",
                   MKMMDB,
                   asn_db,
                   "asn",
                   "192.0.2.0/24=64500:Example Org",
                   "198.51.100.0/24=64501:" UNI_ORG,
                   "198.51.100.128/25=64502:Overlap Inc",
                   "10.0.0.0/8=65000",
                   "203.0.113.0/25=64503:" LONG_UTF8,
                   "203.0.113.128/25=64504:" LONG_ASCII,
                   "2001:db8::/32=64510:Doc Six",
                   "2001:db8:1::/48=4200000000:Four Byte",
                   NULL};
    char *country[] = {"perl",
                       MKMMDB,
                       country_db,
                       "country",
                       "192.0.2.0/24=DE",
                       "198.51.100.0/24=fr",
                       "203.0.113.0/24=JP",
                       "2001:db8::/32=NL",
                       NULL};
    if (mw_test_run(asn) != 0 || mw_test_run(country) != 0) {
        fprintf(stderr, "test_geo: FATAL: %s failed\n", MKMMDB);
        return -1;
    }
    FILE *f = fopen(junk_db, "w");
    int wr = f ? fputs("this is not a MaxMind database\n", f) : -1;
    if (!f || (fclose(f) | (wr < 0 ? -1 : 0)) != 0) {
        fprintf(stderr, "test_geo: FATAL: cannot write %s\n", junk_db);
        return -1;
    }
    return 0;
}

static struct mw_geo *open_both(void)
{
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_geo *g = NULL;
    assert_int_equal(mw_geo_open(&g, asn_db, country_db, &e), 0);
    assert_non_null(g);
    assert_int_equal(e.n, 0);
    mw_errlist_deinit(&e);
    return g;
}

/* Look up a textual address; the return code of mw_geo_lookup. */
static int look(const struct mw_geo *g, const char *ip, struct mw_geo_info *out)
{
    uint8_t a[16];
    int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(fam, ip, a), 1);
    memset(out, 0x5a, sizeof(*out)); /* must be cleared by the lookup */
    return mw_geo_lookup(g, fam, a, out);
}

static void expect(const struct mw_geo *g, const char *ip, uint32_t asn, const char *org,
                   const char *country)
{
    struct mw_geo_info info;
    assert_int_equal(look(g, ip, &info), 0);
    assert_int_equal(info.found_asn, asn != 0);
    assert_true(info.asn == asn);
    assert_string_equal(info.as_org, org);
    assert_int_equal(info.found_country, country[0] != '\0');
    assert_string_equal(info.country, country);
}

static void test_v4(void **state)
{
    (void)state;
    struct mw_geo *g = open_both();
    expect(g, "192.0.2.0", 64500, "Example Org", "DE");
    expect(g, "192.0.2.1", 64500, "Example Org", "DE");
    expect(g, "192.0.2.255", 64500, "Example Org", "DE");
    expect(g, "198.51.100.1", 64501, UNI_ORG, "FR");
    expect(g, "198.51.100.200", 64502, "Overlap Inc", "FR");
    /* In the ASN database without an organisation, absent from the country one. */
    expect(g, "10.1.2.3", 65000, "", "");
    /* IPv4-mapped IPv6 is looked up as IPv4. */
    expect(g, "::ffff:192.0.2.7", 64500, "Example Org", "DE");
    expect(g, "::ffff:198.51.100.129", 64502, "Overlap Inc", "FR");
    mw_geo_free(g);
}

static void test_v6(void **state)
{
    (void)state;
    struct mw_geo *g = open_both();
    expect(g, "2001:db8::1", 64510, "Doc Six", "NL");
    expect(g, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 64510, "Doc Six", "NL");
    expect(g, "2001:db8:1::5", 4200000000u, "Four Byte", "NL");
    expect(g, "2001:db8:2::5", 64510, "Doc Six", "NL");
    mw_geo_free(g);
}

static void test_unknown(void **state)
{
    (void)state;
    struct mw_geo *g = open_both();
    expect(g, "8.8.8.8", 0, "", "");
    expect(g, "192.0.3.0", 0, "", "");
    expect(g, "0.0.0.0", 0, "", "");
    expect(g, "255.255.255.255", 0, "", "");
    expect(g, "2001:db9::1", 0, "", "");
    expect(g, "::1", 0, "", "");
    expect(g, "::", 0, "", "");
    expect(g, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, "", "");

    uint8_t a[16] = {192, 0, 2, 1};
    struct mw_geo_info info;
    memset(&info, 0x5a, sizeof(info));
    assert_int_equal(mw_geo_lookup(g, AF_UNIX, a, &info), -EAFNOSUPPORT);
    assert_false(info.found_asn);
    assert_false(info.found_country);
    assert_string_equal(info.as_org, "");
    mw_geo_free(g);
}

static void test_org_truncated(void **state)
{
    (void)state;
    struct mw_geo *g = open_both();
    struct mw_geo_info info;

    /* The euro sign would end at byte 97: it is dropped whole, not cut after one byte. */
    assert_int_equal(look(g, "203.0.113.1", &info), 0);
    assert_true(info.asn == 64503);
    assert_int_equal(strlen(info.as_org), 94);
    assert_memory_equal(info.as_org, LONG_UTF8, 94);
    assert_string_equal(info.country, "JP");

    /* Plain ASCII fills the buffer: 95 bytes and the NUL. */
    assert_int_equal(look(g, "203.0.113.200", &info), 0);
    assert_true(info.asn == 64504);
    assert_int_equal(strlen(info.as_org), MW_GEO_ORG_LEN - 1);
    assert_memory_equal(info.as_org, LONG_ASCII, MW_GEO_ORG_LEN - 1);
    mw_geo_free(g);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct mw_errlist e;
    mw_errlist_init(&e);
    char want[256];

    struct mw_geo *g = (struct mw_geo *)&e; /* must be reset to NULL */
    assert_int_equal(mw_geo_open(&g, "/nonexistent/asn.mmdb", NULL, &e), -ENOENT);
    assert_null(g);
    assert_int_equal(e.n, 1);
    snprintf(want, sizeof(want), "/nonexistent/asn.mmdb: cannot open MaxMind database: %s",
             MMDB_strerror(MMDB_FILE_OPEN_ERROR));
    assert_string_equal(e.msgs[0], want);
    mw_errlist_deinit(&e);

    /* A good ASN file and a missing country file: fails as a whole. */
    assert_int_equal(mw_geo_open(&g, asn_db, "/nonexistent/c.mmdb", &e), -ENOENT);
    assert_null(g);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.msgs[0], "/nonexistent/c.mmdb: cannot open MaxMind database: "));
    mw_errlist_deinit(&e);

    /* Both bad: both reported, the first error returned. */
    assert_int_equal(mw_geo_open(&g, junk_db, "/nonexistent/c.mmdb", &e), -EBADMSG);
    assert_null(g);
    assert_int_equal(e.n, 2);
    snprintf(want, sizeof(want), "%s: cannot open MaxMind database: %s", junk_db,
             MMDB_strerror(MMDB_INVALID_METADATA_ERROR));
    assert_string_equal(e.msgs[0], want);
    assert_non_null(strstr(e.msgs[1], "/nonexistent/c.mmdb: cannot open MaxMind database: "));
    mw_errlist_deinit(&e);

    /* A directory: open(2) succeeds, so the error is the library's. */
    assert_true(mw_geo_open(&g, NULL, tmpdir, &e) < 0);
    assert_null(g);
    assert_int_equal(e.n, 1);
    mw_errlist_deinit(&e);

    /* errs may be NULL. */
    assert_int_equal(mw_geo_open(&g, "/nonexistent/asn.mmdb", NULL, NULL), -ENOENT);
    assert_null(g);
    assert_int_equal(mw_geo_open(NULL, asn_db, NULL, NULL), -EINVAL);
}

static void test_null_paths(void **state)
{
    (void)state;
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_geo *g = NULL;

    assert_int_equal(mw_geo_open(&g, NULL, NULL, &e), 0);
    assert_non_null(g);
    expect(g, "192.0.2.1", 0, "", "");
    expect(g, "2001:db8::1", 0, "", "");
    mw_geo_free(g);

    assert_int_equal(mw_geo_open(&g, asn_db, NULL, &e), 0);
    expect(g, "192.0.2.1", 64500, "Example Org", "");
    expect(g, "2001:db8::1", 64510, "Doc Six", "");
    mw_geo_free(g);

    assert_int_equal(mw_geo_open(&g, NULL, country_db, &e), 0);
    expect(g, "192.0.2.1", 0, "", "DE");
    expect(g, "2001:db8::1", 0, "", "NL");
    mw_geo_free(g);

    /* The same file given for both: only the fields of each layout are read. */
    assert_int_equal(mw_geo_open(&g, country_db, asn_db, &e), 0);
    expect(g, "192.0.2.1", 0, "", "");
    mw_geo_free(g);

    assert_int_equal(e.n, 0);
    expect(NULL, "192.0.2.1", 0, "", "");
    mw_geo_free(NULL);
    mw_errlist_deinit(&e);
}

struct case_ {
    const char *ip;
    uint32_t asn;
    const char *org;
    const char *country;
    int family;
    uint8_t addr[16];
};

static struct case_ cases[] = {
    {"192.0.2.9", 64500, "Example Org", "DE", 0, {0}},
    {"198.51.100.3", 64501, UNI_ORG, "FR", 0, {0}},
    {"198.51.100.250", 64502, "Overlap Inc", "FR", 0, {0}},
    {"10.200.0.1", 65000, "", "", 0, {0}},
    {"8.8.4.4", 0, "", "", 0, {0}},
    {"::ffff:192.0.2.77", 64500, "Example Org", "DE", 0, {0}},
    {"2001:db8::53", 64510, "Doc Six", "NL", 0, {0}},
    {"2001:db8:1::1", 4200000000u, "Four Byte", "NL", 0, {0}},
    {"2a00:1450::1", 0, "", "", 0, {0}},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))
#define LOOKUPS 100000

struct worker {
    const struct mw_geo *g;
    unsigned seed;
    long bad; /* wrong results, written by the thread only */
};

/* No cmocka asserts here: they are not thread-safe. Count mismatches instead. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (long i = 0; i < LOOKUPS; i++) {
        const struct case_ *c = &cases[(i + w->seed) % NCASES];
        struct mw_geo_info info;
        int r = mw_geo_lookup(w->g, c->family, c->addr, &info);
        if (r != 0 || info.asn != c->asn || info.found_asn != (c->asn != 0) ||
            strcmp(info.as_org, c->org) != 0 || strcmp(info.country, c->country) != 0 ||
            info.found_country != (c->country[0] != '\0'))
            w->bad++;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    struct mw_geo *g = open_both();
    for (size_t i = 0; i < NCASES; i++) {
        cases[i].family = strchr(cases[i].ip, ':') ? AF_INET6 : AF_INET;
        assert_int_equal(inet_pton(cases[i].family, cases[i].ip, cases[i].addr), 1);
        expect(g, cases[i].ip, cases[i].asn, cases[i].org, cases[i].country);
    }

    pthread_t th[4];
    struct worker w[4];
    for (unsigned i = 0; i < 4; i++) {
        w[i] = (struct worker){.g = g, .seed = i * 7, .bad = 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
    }
    mw_geo_free(g);
}

static void cleanup(void)
{
    unlink(asn_db);
    unlink(country_db);
    unlink(junk_db);
    rmdir(tmpdir);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/mw-geo-XXXXXX",
             base && *base && strlen(base) < 40 ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "test_geo: FATAL: mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    snprintf(asn_db, sizeof(asn_db), "%s/asn.mmdb", tmpdir);
    snprintf(country_db, sizeof(country_db), "%s/country.mmdb", tmpdir);
    snprintf(junk_db, sizeof(junk_db), "%s/junk.mmdb", tmpdir);
    if (make_databases() != 0) {
        cleanup();
        return 1;
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4),          cmocka_unit_test(test_v6),
        cmocka_unit_test(test_unknown),     cmocka_unit_test(test_org_truncated),
        cmocka_unit_test(test_open_errors), cmocka_unit_test(test_null_paths),
        cmocka_unit_test(test_concurrent),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cleanup();
    return rc;
}
