/* Unit tests for nod.c and nodevent.c: parameters, first and later sights, the false "already
 * seen" rate measured at a scaled size (200,000 names, both generations full: the worst moment)
 * against the configured 1%, no forgetting of recent names across rotations and the carrying of
 * names still in use, the today filter, the file (round trip, missing, truncated, a flipped bit,
 * bad magic, other parameters), and the new_domain event line. tests/nod_fprate.c measures the
 * rate at the default 10M names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/geo.h"
#include "minewall/nod.h"
#include "minewall/nodevent.h"

/* The wire form of "n<i>.<tag>.example" (a distinct registered-domain-like name per i). */
static size_t name_of(uint8_t *w, uint32_t i, const char *tag)
{
    char text[64];
    snprintf(text, sizeof(text), "n%u.%s.example", i, tag);
    int n = mw_dname_from_text(text, w, 256);
    assert_true(n > 0);
    return (size_t)n;
}

static bool observe(struct mw_nod *n, uint32_t i, const char *tag)
{
    uint8_t w[256];
    size_t len = name_of(w, i, tag);
    return mw_nod_observe(n, w, len);
}

static bool contains(const struct mw_nod *n, uint32_t i, const char *tag)
{
    uint8_t w[256];
    size_t len = name_of(w, i, tag);
    return mw_nod_contains(n, w, len);
}

static void test_params(void **state)
{
    (void)state;
    struct mw_nod *n;
    assert_int_equal(mw_nod_new(10, 0.01, 0, &n), -EINVAL);
    assert_null(n);
    assert_int_equal(mw_nod_new(100000, 0, 0, &n), -EINVAL);
    assert_int_equal(mw_nod_new(100000, 0.5, 0, &n), -EINVAL);
    assert_int_equal(mw_nod_new(MW_NOD_CAPACITY_MAX + 1, 0.01, 0, &n), -EINVAL);
    assert_int_equal(mw_nod_new(100000, 0.01, 0, &n), 0);
    struct mw_nod_stats st;
    mw_nod_stats(n, &st);
    /* 50,000 names at 0.45% per generation, blocked (512-bit blocks): 11.83 bits and 8
     * probes a name (a classic filter: 11.24 and 8), in whole blocks. */
    assert_int_equal(st.k, 8);
    assert_true(st.bits >= 590000 && st.bits <= 592000 && st.bits % 512 == 0);
    assert_true(mw_nod_bytes(n) < 2 * 592000 / 8 + 20000);
    mw_nod_free(n);
    mw_nod_free(NULL);
}

static void test_first_sight_once(void **state)
{
    (void)state;
    struct mw_nod *n;
    assert_int_equal(mw_nod_new(10000, 0.01, 0, &n), 0);
    assert_false(contains(n, 1, "a"));
    assert_true(observe(n, 1, "a"));
    assert_false(observe(n, 1, "a"));
    assert_true(contains(n, 1, "a"));
    assert_true(observe(n, 2, "a"));
    struct mw_nod_stats st;
    mw_nod_stats(n, &st);
    assert_int_equal(st.names[0], 2);
    assert_true(st.fill[0] > 0 && st.fill[0] < 0.01);
    assert_false(mw_nod_maintain(n)); /* far from capacity / 2 */
    mw_nod_free(n);
}

/* The hashed forms are the name forms: a name observed by its hash (prefetched first, as at a
 * miss) is known by its name and the other way round; the today filter likewise. */
static void test_hashed_forms(void **state)
{
    (void)state;
    struct mw_nod *n;
    assert_int_equal(mw_nod_new(10000, 0.01, 0, &n), 0);
    for (uint32_t i = 0; i < 200; i++) {
        uint8_t w[256];
        size_t len = name_of(w, i, "h");
        uint64_t h = mw_nod_hash(n, w, len);
        mw_nod_prefetch(n, h, i & 1);
        if (i & 1) {
            assert_true(mw_nod_observe(n, w, len));
            assert_false(mw_nod_observe_hash(n, h));
            assert_true(mw_nod_today_first_hash(n, h));
            assert_false(mw_nod_today_first(n, w, len));
        } else {
            assert_true(mw_nod_observe_hash(n, h));
            assert_false(mw_nod_observe(n, w, len));
            assert_true(mw_nod_today_first(n, w, len));
            assert_false(mw_nod_today_first_hash(n, h));
        }
        assert_true(mw_nod_contains(n, w, len));
    }
    mw_nod_free(n);
}

/* Fill to capacity with rotations as the service does (maintain after every name), measure the
 * false "already seen" rate with both generations full, check that no name of the last
 * capacity/2 was forgotten. */
static void test_fp_rate_scaled(void **state)
{
    (void)state;
    const uint32_t cap = 200000, probes = 200000;
    struct mw_nod *n;
    assert_int_equal(mw_nod_new(cap, 0.01, 0, &n), 0);
    uint32_t fresh = 0, rotations = 0;
    for (uint32_t i = 0; i < cap; i++) {
        fresh += observe(n, i, "in");
        if (i + 1 < cap)
            rotations += mw_nod_maintain(n);
    }
    assert_int_equal(rotations, 1);
    /* Names that were new but taken for seen are false positives of the inserts too. */
    assert_true(fresh > cap - cap / 100);
    struct mw_nod_stats st;
    mw_nod_stats(n, &st);
    assert_true(st.names[0] >= cap / 2 - cap / 100 && st.names[1] >= cap / 2 - cap / 100);
    assert_true(st.fill[0] > 0.42 && st.fill[0] < 0.55); /* 1 - e^(-8/11.83): 0.49 */
    uint32_t fp = 0;
    for (uint32_t i = 0; i < probes; i++)
        fp += contains(n, i, "out");
    double rate = (double)fp / probes;
    printf("false 'already seen' at %u names: %.4f%% (%u of %u)\n", cap, rate * 100, fp, probes);
    assert_true(rate <= 0.01);  /* 1% configured; ~0.9% expected, 0.02% standard error */
    assert_true(rate >= 0.006); /* sized for 1%, not for far less */
    for (uint32_t i = cap / 2; i < cap; i++)
        assert_true(contains(n, i, "in"));
    mw_nod_free(n);
}

/* A name still in use is carried into the current generation and survives the rotation that
 * drops its old generation; an unused one is forgotten after two rotations. */
static void test_rotation_keeps_names_in_use(void **state)
{
    (void)state;
    const uint32_t cap = 2000;
    struct mw_nod *n;
    assert_int_equal(mw_nod_new(cap, 0.01, 0, &n), 0);
    assert_true(observe(n, 0, "used"));
    assert_true(observe(n, 0, "idle"));
    uint32_t i = 0;
    while (!mw_nod_maintain(n))
        observe(n, i++, "fill1");
    /* Both now in the previous generation; "used" is seen again and carried. */
    assert_false(observe(n, 0, "used"));
    while (!mw_nod_maintain(n))
        observe(n, i++, "fill2");
    assert_true(contains(n, 0, "used"));
    assert_false(contains(n, 0, "idle"));
    struct mw_nod_stats st;
    mw_nod_stats(n, &st);
    assert_int_equal(st.rotations, 2);
    mw_nod_free(n);
}

/* The epoch changes at a rotation and at a new day, and only then. */
static void test_epoch(void **state)
{
    (void)state;
    struct mw_nod *n;
    assert_int_equal(mw_nod_new(2000, 0.01, 0, &n), 0);
    uint32_t e0 = mw_nod_epoch(n);
    assert_true(e0 != 0);
    for (uint32_t i = 0; i < 100; i++)
        observe(n, i, "e");
    assert_false(mw_nod_maintain(n));
    assert_int_equal(mw_nod_epoch(n), e0);
    mw_nod_new_day(n);
    uint32_t e1 = mw_nod_epoch(n);
    assert_true(e1 != e0 && e1 != 0);
    uint32_t i = 100;
    while (!mw_nod_maintain(n))
        observe(n, i++, "e");
    assert_true(mw_nod_epoch(n) != e1 && mw_nod_epoch(n) != e0);
    mw_nod_free(n);
}

static void test_today(void **state)
{
    (void)state;
    struct mw_nod *n;
    assert_int_equal(mw_nod_new(10000, 0.01, 0, &n), 0);
    uint8_t w[256];
    size_t len = name_of(w, 7, "t");
    assert_true(mw_nod_today_first(n, w, len));
    assert_false(mw_nod_today_first(n, w, len));
    mw_nod_new_day(n);
    assert_true(mw_nod_today_first(n, w, len));
    mw_nod_free(n);
}

static char *tmpfile_path(void)
{
    static char p[64];
    snprintf(p, sizeof(p), "/tmp/test_nod.%d.bloom", (int)getpid());
    return p;
}

static void test_save_load(void **state)
{
    (void)state;
    const char *path = tmpfile_path();
    struct mw_nod *n, *m;
    assert_int_equal(mw_nod_new(20000, 0.01, 0, &n), 0);
    for (uint32_t i = 0; i < 15000; i++) {
        observe(n, i, "s");
        mw_nod_maintain(n);
    }
    assert_int_equal(mw_nod_save(n, path), 0);
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed away */
    assert_int_equal(mw_nod_load(path, 20000, 0.01, &m), 0);
    struct mw_nod_stats a, b;
    mw_nod_stats(n, &a);
    mw_nod_stats(m, &b);
    assert_int_equal(a.names[0], b.names[0]);
    assert_int_equal(a.names[1], b.names[1]);
    assert_int_equal(a.rotations, b.rotations);
    assert_true(a.fill[0] == b.fill[0] && a.fill[1] == b.fill[1]);
    for (uint32_t i = 0; i < 15000; i++)
        assert_int_equal(contains(n, i, "s"), contains(m, i, "s"));
    for (uint32_t i = 5000; i < 15000; i++)
        assert_true(contains(m, i, "s"));
    /* The current generation stays the current one: its names count toward the rotation. */
    assert_false(observe(m, 14999, "s"));
    mw_nod_free(m);
    assert_int_equal(mw_nod_load(path, 40000, 0.01, &m), -ESTALE);
    assert_int_equal(mw_nod_load(path, 20000, 0.02, &m), -ESTALE);
    assert_null(m);
    mw_nod_free(n);
    unlink(path);
    assert_int_equal(mw_nod_load(path, 20000, 0.01, &m), -ENOENT);
}

static void test_corrupt_files(void **state)
{
    (void)state;
    const char *path = tmpfile_path();
    struct mw_nod *n, *m;
    assert_int_equal(mw_nod_new(20000, 0.01, 0, &n), 0);
    for (uint32_t i = 0; i < 100; i++)
        observe(n, i, "c");
    assert_int_equal(mw_nod_save(n, path), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    /* Cut short: in the bits, and inside the header. */
    assert_int_equal(truncate(path, sb.st_size - 1), 0);
    assert_int_equal(mw_nod_load(path, 20000, 0.01, &m), -EBADMSG);
    assert_int_equal(truncate(path, 10), 0);
    assert_int_equal(mw_nod_load(path, 20000, 0.01, &m), -EBADMSG);
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(mw_nod_load(path, 20000, 0.01, &m), -EBADMSG);
    /* One flipped bit in the bits: the checksum. */
    assert_int_equal(mw_nod_save(n, path), 0);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, sb.st_size - 17), 1);
    b ^= 0x10;
    assert_int_equal(pwrite(fd, &b, 1, sb.st_size - 17), 1);
    assert_int_equal(mw_nod_load(path, 20000, 0.01, &m), -EBADMSG);
    /* A file of format version 1 (k scattered bits, before the blocked layout): refused as
     * such, never read as blocks. */
    assert_int_equal(mw_nod_save(n, path), 0);
    close(fd);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint32_t version;
    assert_int_equal(pread(fd, &version, 4, 8), 4);
    assert_int_equal(version, 2);
    version = 1;
    assert_int_equal(pwrite(fd, &version, 4, 8), 4);
    assert_int_equal(mw_nod_load(path, 20000, 0.01, &m), -EPROTONOSUPPORT);
    assert_null(m);
    /* Bad magic. */
    assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
    close(fd);
    assert_int_equal(mw_nod_load(path, 20000, 0.01, &m), -EBADMSG);
    assert_null(m);
    /* A save over a bad file replaces it. */
    assert_int_equal(mw_nod_save(n, path), 0);
    assert_int_equal(mw_nod_load(path, 20000, 0.01, &m), 0);
    assert_true(contains(m, 50, "c"));
    mw_nod_free(m);
    unlink(path);
    /* A directory that does not exist: an error. */
    assert_int_equal(mw_nod_save(n, "/nonexistent-dir/x.bloom"), -ENOENT);
    mw_nod_free(n);
}

/* A response: question www.example.com A, then CNAME and A records in the answer. */
static const uint8_t RESP[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
                               /* question */
                               3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o',
                               'm', 0, 0, 1, 0, 1,
                               /* www CNAME example.com */
                               0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 16,
                               /* example.com A 192.0.2.7 */
                               0xc0, 16, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7};

static void test_event(void **state)
{
    (void)state;
    static struct mw_nod_event e;
    memset(&e, 0, sizeof(e));
    e.wall_ms = 1714564800123ull; /* 2024-05-01T12:00:00.123Z */
    assert_int_equal(mw_addr_parse("10.0.0.5", 0, &e.client), 0);
    int n = mw_dname_from_text("www.example.com", e.qname, sizeof(e.qname));
    e.qname_len = (uint16_t)n;
    e.regdom_off = 4;
    e.qtype = 1;
    e.action = MW_ACTION_NXDOMAIN;
    e.block_for_ms = 600000;
    e.blocked = true;
    /* The address from the TTL offsets a prepared response records (the CNAME's skipped). */
    uint8_t pkt[sizeof(RESP)];
    struct mw_dns_response info;
    uint16_t ttl_off[MW_DNS_MAX_TTLS];
    uint32_t ttl[MW_DNS_MAX_TTLS];
    int plen = mw_dns_prepare_response(RESP, sizeof(RESP), pkt, sizeof(pkt), &info, ttl_off, ttl);
    assert_int_equal(plen, (int)sizeof(RESP));
    assert_int_equal(info.ancount, 2);
    mw_nod_event_address(&e, pkt, (size_t)plen, ttl_off, info.ancount);
    assert_int_equal(e.family, AF_INET);
    assert_memory_equal(e.addr, "\xc0\x00\x02\x07", 4);
    /* Only the CNAME among the records given: none. */
    mw_nod_event_address(&e, pkt, (size_t)plen, ttl_off, 1);
    assert_int_equal(e.family, 0);
    mw_nod_event_address(&e, pkt, (size_t)plen, ttl_off, info.ancount);
    struct mw_geo_info gi = {.asn = 64500, .found_asn = true, .found_country = true};
    snprintf(gi.as_org, sizeof(gi.as_org), "Doc \"Org\"");
    memcpy(gi.country, "DE", 3);
    char buf[2048];
    int len = mw_nod_event_format(buf, sizeof(buf), "gw1", &e, "local", &gi);
    assert_true(len > 0);
    assert_string_equal(
        buf, "{\"ts\":\"2024-05-01T12:00:00.123Z\",\"type\":\"new_domain\",\"host\":\"gw1\","
             "\"scope\":\"local\",\"client\":\"10.0.0.5\",\"registered_domain\":\"example.com\","
             "\"qname\":\"www.example.com\",\"qtype\":\"A\",\"address\":\"192.0.2.7\","
             "\"asn\":64500,\"as_org\":\"Doc \\\"Org\\\"\",\"country\":\"DE\","
             "\"action\":\"nxdomain\",\"blocked_for_s\":600}\n");
    /* No address, no geo, no client: nulls. A response cut short has no address. */
    mw_nod_event_address(&e, pkt, (size_t)plen - 1, ttl_off, info.ancount);
    assert_int_equal(e.family, 0);
    memset(&e.client, 0, sizeof(e.client));
    e.blocked = false;
    e.action = MW_ACTION_LOG;
    len = mw_nod_event_format(buf, sizeof(buf), "gw1", &e, "fleet", NULL);
    assert_true(len > 0);
    assert_non_null(strstr(buf, "\"scope\":\"fleet\",\"client\":null,"));
    assert_non_null(strstr(buf, "\"address\":null,\"asn\":null,\"as_org\":null,\"country\":null,"
                                "\"action\":\"log\"}\n"));
    assert_int_equal(mw_nod_event_format(buf, 40, "gw1", &e, "fleet", NULL), -ENOSPC);
}

/* The names come from one text conversion (the registered domain's is the end of the name's),
 * the addresses without inet_ntop: each field as the two conversions and inet_ntop wrote it,
 * labels with dots, quotes and backslashes in them included, IPv6 and scoped clients too. */
static void test_event_fields(void **state)
{
    (void)state;
    static const struct {
        const char *wire; /* labels as length-prefixed octets, without the root */
        size_t rd_labels_left;
        const char *client, *rd, *qname;
    } cases[] = {
        {"\3www\7example\3com", 1, "2001:db8::1", "example.com", "www.example.com"},
        {"\3a.b\2c\\\7example\3com", 2, "fe80::1%3", "example.com",
         "a\\\\046b.c\\\\092.example.com"},
        {"\1x\4ex\"a\2co\2uk", 1, "::ffff:10.1.2.3", "ex\\\\034a.co.uk", "x.ex\\\\034a.co.uk"},
        {"\7example\3com", 0, "192.0.2.200", "example.com", "example.com"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        static struct mw_nod_event e;
        memset(&e, 0, sizeof(e));
        e.wall_ms = 1714564800123ull;
        size_t len = strlen(cases[i].wire);
        memcpy(e.qname, cases[i].wire, len + 1);
        e.qname_len = (uint16_t)(len + 1);
        size_t off = 0;
        for (size_t k = 0; k < cases[i].rd_labels_left; k++)
            off += 1 + e.qname[off];
        e.regdom_off = (uint16_t)off;
        if (strchr(cases[i].client, '%')) {
            assert_int_equal(mw_addr_parse("fe80::1", 0, &e.client), 0);
            e.client.u.in6.sin6_scope_id = 3;
        } else {
            assert_int_equal(mw_addr_parse(cases[i].client, 0, &e.client), 0);
        }
        e.family = AF_INET6;
        memcpy(e.addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
        e.qtype = 28;
        char buf[2048], want[512];
        assert_true(mw_nod_event_format(buf, sizeof(buf), "gw1", &e, "local", NULL) > 0);
        snprintf(want, sizeof(want),
                 "\"client\":\"%s\",\"registered_domain\":\"%s\",\"qname\":\"%s\","
                 "\"qtype\":\"AAAA\",\"address\":\"2001:db8::2\",",
                 cases[i].client, cases[i].rd, cases[i].qname);
        if (!strstr(buf, want))
            fail_msg("case %zu: %s lacks %s", i, buf, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_first_sight_once),
        cmocka_unit_test(test_hashed_forms),
        cmocka_unit_test(test_fp_rate_scaled),
        cmocka_unit_test(test_rotation_keeps_names_in_use),
        cmocka_unit_test(test_epoch),
        cmocka_unit_test(test_today),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_event_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
