/* localzone.c: records and zones into a set, every lookup decision (answer, CNAME, ANY,
 * NODATA with and without SOA, static NXDOMAIN and empty non-terminals, transparent, refuse,
 * redirect, made PTRs), errors with their lines, the config keys, and the authoritative reply
 * mw_dns_build_local() writes from a result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/error.h"
#include "minewall/localzone.h"

static struct mw_localzone *build(const char *const *recs, const char *const *zones, bool ptr,
                                  struct mw_errlist *errs)
{
    struct mw_localzone_builder *b = mw_localzone_builder_new("t.yaml", errs);
    assert_non_null(b);
    int line = 1;
    for (size_t i = 0; recs && recs[i]; i++)
        mw_localzone_add_record(b, recs[i], line++);
    for (size_t i = 0; zones && zones[i]; i += 2)
        mw_localzone_add_zone(b, zones[i], zones[i + 1], line++);
    mw_localzone_set_ptr(b, ptr);
    struct mw_localzone *lz = NULL;
    int r = mw_localzone_build(b, &lz);
    mw_localzone_builder_free(b);
    if (r < 0)
        assert_null(lz);
    return lz;
}

static enum mw_local_action look(const struct mw_localzone *lz, const char *name, uint16_t type,
                                 struct mw_local_result *r)
{
    struct mw_dns_question q = {.qtype = type, .qclass = 1};
    int n = mw_dname_from_text(name, q.qname, sizeof(q.qname));
    assert_true(n > 0);
    q.qname_len = (uint16_t)n;
    return mw_localzone_lookup(lz, &q, r);
}

static const char *const RECS[] = {
    "printer.corp.internal. 300 A 10.0.0.7",
    "printer.corp.internal. 300 A 10.0.0.8",
    "Printer.Corp.Internal. 300 AAAA 2001:db8::7",
    "a.b.c.corp.internal. TXT \"hello world\"",
    "www.corp.internal. CNAME printer.corp.internal.",
    "mail.corp.internal. MX 10 mx.corp.internal.",
    "_sip._tcp.corp.internal. SRV 10 5 5060 sip.corp.internal.",
    "redir.example. 60 A 192.0.2.55",
    "host.fwd.example. A 192.0.2.66",
    "lone.test. A 192.0.2.77",
    "lone.test. A 192.0.2.77", /* a duplicate: served once */
    NULL,
};
static const char *const ZONES[] = {
    "corp.internal", "static",        "fwd.example", "transparent", "bad.example",
    "refuse",        "redir.example", "redirect",    NULL,
};

static void test_answers(void **state)
{
    (void)state;
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_localzone *lz = build(RECS, ZONES, false, &e);
    assert_int_equal(e.n, 0);
    assert_non_null(lz);
    struct mw_local_result r;

    assert_int_equal(look(lz, "printer.corp.internal", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.n_an, 2);
    assert_int_equal(r.an[0].type, MW_TYPE_A);
    assert_int_equal(r.an[0].ttl, 300);
    assert_int_equal(r.line, 1);
    assert_int_equal(r.zone_type, MW_LZ_STATIC);
    assert_string_equal(r.zone, "corp.internal");
    /* Owner names are case-insensitive. */
    assert_int_equal(look(lz, "PRINTER.corp.internal", MW_TYPE_AAAA, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.n_an, 1);
    assert_int_equal(r.an[0].rdlen, 16);
    assert_int_equal(look(lz, "a.b.c.corp.internal", MW_TYPE_TXT, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.an[0].ttl, MW_LOCALZONE_DEFAULT_TTL);
    assert_int_equal(look(lz, "mail.corp.internal", MW_TYPE_MX, &r), MW_LOCAL_ANSWER);
    assert_int_equal(look(lz, "_sip._tcp.corp.internal", MW_TYPE_SRV, &r), MW_LOCAL_ANSWER);
    /* A CNAME answers every type, alone (not followed). */
    assert_int_equal(look(lz, "www.corp.internal", MW_TYPE_AAAA, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.n_an, 1);
    assert_int_equal(r.an[0].type, MW_TYPE_CNAME);
    /* ANY: every record of the name. */
    assert_int_equal(look(lz, "printer.corp.internal", MW_TYPE_ANY, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.n_an, 3);
    /* Duplicates are served once. */
    assert_int_equal(look(lz, "lone.test", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.n_an, 1);
    assert_int_equal(r.zone_type, MW_LZ_NONE);

    /* NODATA: with the zone's SOA under a zone, without outside one (as Unbound). */
    assert_int_equal(look(lz, "printer.corp.internal", MW_TYPE_TXT, &r), MW_LOCAL_NODATA);
    assert_true(r.has_soa);
    assert_int_equal(r.soa.type, MW_TYPE_SOA);
    assert_int_equal(r.soa.ttl, MW_LOCALZONE_NEG_TTL);
    assert_null(r.soa.owner);
    assert_int_equal(r.soa.qoff, 8); /* "printer." */
    assert_int_equal(look(lz, "lone.test", MW_TYPE_AAAA, &r), MW_LOCAL_NODATA);
    assert_false(r.has_soa);

    mw_localzone_free(lz);
    mw_errlist_deinit(&e);
}

static void test_zones(void **state)
{
    (void)state;
    struct mw_localzone *lz = build(RECS, ZONES, false, NULL);
    assert_non_null(lz);
    struct mw_local_result r;
    /* static: NXDOMAIN for what does not exist, NODATA for empty non-terminals and the apex. */
    assert_int_equal(look(lz, "nope.corp.internal", MW_TYPE_A, &r), MW_LOCAL_NXDOMAIN);
    assert_true(r.has_soa);
    assert_int_equal(look(lz, "x.printer.corp.internal", MW_TYPE_A, &r), MW_LOCAL_NXDOMAIN);
    assert_int_equal(look(lz, "b.c.corp.internal", MW_TYPE_A, &r), MW_LOCAL_NODATA);
    assert_int_equal(look(lz, "c.corp.internal", MW_TYPE_A, &r), MW_LOCAL_NODATA);
    assert_int_equal(look(lz, "_tcp.corp.internal", MW_TYPE_A, &r), MW_LOCAL_NODATA);
    assert_int_equal(look(lz, "corp.internal", MW_TYPE_A, &r), MW_LOCAL_NODATA);
    assert_int_equal(look(lz, "corp.internal", MW_TYPE_SOA, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.an[0].type, MW_TYPE_SOA);
    /* Not below by label. */
    assert_int_equal(look(lz, "xcorp.internal", MW_TYPE_A, &r), MW_LOCAL_PASS);
    assert_int_equal(look(lz, "internal", MW_TYPE_A, &r), MW_LOCAL_PASS);
    /* transparent: data answered, the rest passes, also the apex. */
    assert_int_equal(look(lz, "host.fwd.example", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
    assert_int_equal(look(lz, "host.fwd.example", MW_TYPE_TXT, &r), MW_LOCAL_NODATA);
    assert_int_equal(look(lz, "other.fwd.example", MW_TYPE_A, &r), MW_LOCAL_PASS);
    assert_int_equal(look(lz, "fwd.example", MW_TYPE_A, &r), MW_LOCAL_PASS);
    /* refuse */
    assert_int_equal(look(lz, "x.bad.example", MW_TYPE_A, &r), MW_LOCAL_REFUSED);
    assert_int_equal(look(lz, "bad.example", MW_TYPE_A, &r), MW_LOCAL_REFUSED);
    assert_int_equal(r.zone_type, MW_LZ_REFUSE);
    /* redirect: the apex's data for every name below. */
    assert_int_equal(look(lz, "a.b.redir.example", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.an[0].ttl, 60);
    assert_int_equal(r.owner_len, 15);
    assert_int_equal(look(lz, "redir.example", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
    assert_int_equal(look(lz, "x.redir.example", MW_TYPE_AAAA, &r), MW_LOCAL_NODATA);
    assert_int_equal(r.soa.qoff, 2);
    /* Other classes and unrelated names pass. */
    struct mw_dns_question q = {.qtype = 1, .qclass = 3};
    q.qname_len = (uint16_t)mw_dname_from_text("printer.corp.internal", q.qname, 256);
    assert_int_equal(mw_localzone_lookup(lz, &q, &r), MW_LOCAL_PASS);
    assert_int_equal(look(lz, "example.com", MW_TYPE_A, &r), MW_LOCAL_PASS);
    assert_int_equal(look(NULL, "example.com", MW_TYPE_A, &r), MW_LOCAL_PASS);
    assert_int_equal(look(lz, ".", MW_TYPE_NS, &r), MW_LOCAL_PASS);
    mw_localzone_free(lz);
}

static void test_nested_zones(void **state)
{
    (void)state;
    const char *recs[] = {"h.lab.corp.test. A 10.9.9.9", NULL};
    const char *zones[] = {
        "corp.test", "static", "lab.corp.test", "transparent", "deep.x.lab.corp.test",
        "refuse",    NULL};
    struct mw_localzone *lz = build(recs, zones, false, NULL);
    assert_non_null(lz);
    struct mw_local_result r;
    assert_int_equal(look(lz, "other.lab.corp.test", MW_TYPE_A, &r), MW_LOCAL_PASS);
    assert_int_equal(look(lz, "a.b.c.lab.corp.test", MW_TYPE_A, &r), MW_LOCAL_PASS);
    assert_int_equal(look(lz, "other.corp.test", MW_TYPE_A, &r), MW_LOCAL_NXDOMAIN);
    assert_int_equal(look(lz, "q.deep.x.lab.corp.test", MW_TYPE_A, &r), MW_LOCAL_REFUSED);
    /* x.lab.corp.test exists only as the way to a zone: transparent passes it. */
    assert_int_equal(look(lz, "x.lab.corp.test", MW_TYPE_A, &r), MW_LOCAL_PASS);
    assert_int_equal(look(lz, "h.lab.corp.test", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.zone_type, MW_LZ_TRANSPARENT);
    mw_localzone_free(lz);
    /* A zone inside a static zone makes the names between exist there. */
    const char *zones2[] = {"corp.test", "static", "a.b.corp.test", "refuse", NULL};
    lz = build(NULL, zones2, false, NULL);
    assert_int_equal(look(lz, "b.corp.test", MW_TYPE_A, &r), MW_LOCAL_NODATA);
    assert_int_equal(look(lz, "c.corp.test", MW_TYPE_A, &r), MW_LOCAL_NXDOMAIN);
    assert_int_equal(look(lz, "x.a.b.corp.test", MW_TYPE_A, &r), MW_LOCAL_REFUSED);
    mw_localzone_free(lz);
}

/* The TLD prefilter: on with few TLDs, off with many or with a zone at the root; the answers
 * are the same either way. */
static void test_tld_filter(void **state)
{
    (void)state;
    char buf[20][64];
    const char *recs[21];
    for (int i = 0; i < 20; i++) {
        snprintf(buf[i], sizeof(buf[i]), "h.x%d. A 192.0.2.%d", i, i + 1);
        recs[i] = buf[i];
    }
    struct mw_local_result r;
    for (int n = 1; n <= 20; n += 19) {
        recs[n] = NULL;
        struct mw_localzone *lz = build(recs, NULL, false, NULL);
        assert_int_equal(look(lz, "h.x0", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
        assert_int_equal(look(lz, n > 1 ? "h.x19" : "h.x0", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
        assert_int_equal(look(lz, "h.y0", MW_TYPE_A, &r), MW_LOCAL_PASS);
        assert_int_equal(look(lz, "h.x0.x0", MW_TYPE_A, &r), MW_LOCAL_PASS);
        assert_int_equal(look(lz, ".", MW_TYPE_A, &r), MW_LOCAL_PASS);
        mw_localzone_free(lz);
        recs[n] = n < 20 ? buf[n] : NULL;
    }
    /* The two-label stage: other second-level names under a TLD in use pass; a zone of one
     * label turns the stage off and takes its whole TLD. */
    {
        const char *d[] = {"h.a.test. A 192.0.2.1", "b.test. A 192.0.2.2", NULL};
        const char *z[] = {"z.test", "static", NULL};
        struct mw_localzone *l2 = build(d, z, false, NULL);
        assert_int_equal(look(l2, "h.a.test", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
        assert_int_equal(look(l2, "b.test", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
        assert_int_equal(look(l2, "q.r.z.test", MW_TYPE_A, &r), MW_LOCAL_NXDOMAIN);
        assert_int_equal(look(l2, "x.c.test", MW_TYPE_A, &r), MW_LOCAL_PASS);
        assert_int_equal(look(l2, "test", MW_TYPE_A, &r), MW_LOCAL_PASS);
        mw_localzone_free(l2);
        const char *z1[] = {"test", "static", NULL};
        l2 = build(d, z1, false, NULL);
        assert_int_equal(look(l2, "x.c.test", MW_TYPE_A, &r), MW_LOCAL_NXDOMAIN);
        assert_int_equal(look(l2, "a.test", MW_TYPE_A, &r), MW_LOCAL_NODATA);
        assert_int_equal(look(l2, "h.a.test", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
        mw_localzone_free(l2);
    }
    /* A zone at the root takes every name. */
    const char *zones[] = {".", "static", NULL};
    const char *one[] = {"h.x0. A 192.0.2.1", NULL};
    struct mw_localzone *lz = build(one, zones, false, NULL);
    assert_int_equal(look(lz, "h.x0", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
    assert_int_equal(look(lz, "example.com", MW_TYPE_A, &r), MW_LOCAL_NXDOMAIN);
    assert_int_equal(look(lz, "x0", MW_TYPE_A, &r), MW_LOCAL_NODATA);
    assert_int_equal(look(lz, ".", MW_TYPE_NS, &r), MW_LOCAL_NODATA);
    assert_int_equal(r.soa.qoff, 0);
    mw_localzone_free(lz);
}

static void test_ptr(void **state)
{
    (void)state;
    const char *recs[] = {
        "printer.corp.internal. 300 A 10.0.0.7",
        "Scanner.corp.internal. AAAA 2001:db8::7",
        "other.corp.internal. A 10.0.0.9",
        "9.0.0.10.in-addr.arpa. PTR explicit.corp.internal.",
        NULL,
    };
    const char *zones[] = {"20.in-addr.arpa", "redirect", NULL};
    struct mw_localzone *lz = build(recs, NULL, true, NULL);
    assert_non_null(lz);
    struct mw_local_result r;
    assert_int_equal(look(lz, "7.0.0.10.in-addr.arpa", MW_TYPE_PTR, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.n_an, 1);
    assert_int_equal(r.an[0].ttl, 300);
    assert_int_equal(r.line, 1); /* the A record's line */
    char text[300];
    assert_true(mw_dname_to_text(r.an[0].rdata, r.an[0].rdlen, text, sizeof(text)) > 0);
    assert_string_equal(text, "printer.corp.internal");
    assert_int_equal(look(lz,
                          "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6."
                          "arpa",
                          MW_TYPE_PTR, &r),
                     MW_LOCAL_ANSWER);
    /* An explicit PTR wins over the made one. */
    assert_int_equal(look(lz, "9.0.0.10.in-addr.arpa", MW_TYPE_PTR, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.n_an, 1);
    assert_int_equal(r.line, 4);
    const struct mw_dns_rrw *rrs;
    int lines[4];
    bool made[4];
    uint8_t w[256];
    int wl = mw_dname_from_text("7.0.0.10.in-addr.arpa", w, sizeof(w));
    assert_int_equal(mw_localzone_records(lz, w, (size_t)wl, &rrs, lines, made, 4), 1);
    assert_true(made[0]);
    assert_int_equal(lines[0], 1);
    mw_localzone_free(lz);

    /* Off: no PTR. */
    lz = build(recs, NULL, false, NULL);
    assert_int_equal(look(lz, "7.0.0.10.in-addr.arpa", MW_TYPE_PTR, &r), MW_LOCAL_PASS);
    mw_localzone_free(lz);
    /* A made PTR below a redirect zone is never served (no error: the operator did not write
     * it). */
    const char *recs2[] = {"p.test. A 20.1.2.3", NULL};
    lz = build(recs2, zones, true, NULL);
    assert_non_null(lz);
    assert_int_equal(look(lz, "3.2.1.20.in-addr.arpa", MW_TYPE_PTR, &r), MW_LOCAL_NODATA);
    mw_localzone_free(lz);
}

static void assert_error(const char *const *recs, const char *const *zones, const char *want)
{
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_localzone *lz = build(recs, zones, false, &e);
    assert_null(lz);
    bool found = false;
    for (size_t i = 0; i < e.n; i++)
        found = found || strstr(e.msgs[i], want);
    if (!found)
        fail_msg("no error containing '%s' (%zu errors, first '%s')", want, e.n,
                 e.n ? e.msgs[0] : "");
    mw_errlist_deinit(&e);
}

static void test_errors(void **state)
{
    (void)state;
    const char *bad1[] = {"ok.test. A 192.0.2.1", "bad.test. A not-an-address", NULL};
    assert_error(bad1, NULL, "t.yaml:2: local-data: cannot parse 'bad.test. A not-an-address'");
    const char *bad2[] = {"x.test. CH TXT \"a\"", NULL};
    assert_error(bad2, NULL, "t.yaml:1: local-data: 'x.test. CH TXT \"a\"': only class IN");
    const char *bad3[] = {"*.x.test. A 192.0.2.1", NULL};
    assert_error(bad3, NULL, "wildcard");
    const char *bad4[] = {"x.test. A", NULL};
    assert_error(bad4, NULL, "t.yaml:1:");
    const char *bad5[] = {"c.test. CNAME a.test.", "c.test. A 192.0.2.1", NULL};
    assert_error(bad5, NULL, "t.yaml:2: local-data: c.test has a CNAME (line 1) and other data");
    const char *bad6[] = {"c.test. CNAME a.test.", "c.test. CNAME b.test.", NULL};
    assert_error(bad6, NULL, "a second CNAME");
    const char *bad7[] = {"x.r.test. A 192.0.2.1", NULL};
    const char *rz[] = {"r.test", "redirect", NULL};
    assert_error(bad7, rz, "t.yaml:1: local-data: x.r.test is below the redirect zone r.test");
    const char *z1[] = {"a.test", "static", "A.TEST.", "refuse", NULL};
    assert_error(NULL, z1, "t.yaml:2: local-zones: duplicate zone 'A.TEST.' (first on line 1)");
    const char *z2[] = {"a.test", "deny", NULL};
    assert_error(NULL, z2, "expected static, transparent, refuse or redirect, found 'deny'");
    const char *z3[] = {"a..test", "static", NULL};
    assert_error(NULL, z3, "invalid zone name");
    const char *bad8[] = {" x.test. A 192.0.2.1", NULL};
    assert_error(bad8, NULL, "expected 'NAME [TTL] [IN] TYPE DATA'");
    const char *bad9[] = {"x.test. ANY 192.0.2.1", NULL};
    assert_error(bad9, NULL, "t.yaml:1:");
    const char *bad10[] = {"x.test. IPSECKEY 10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJ",
                           NULL};
    assert_error(bad10, NULL, "IPSECKEY is not served");
    /* A newline inside parentheses made ldns 1.8.3's tokenizer write past its buffer. */
    const char *bad11[] = {"x9.internal. TXT (\"a \nb\")", NULL};
    assert_error(bad11, NULL, "t.yaml:1: local-data: 'x9.internal. TXT");
    assert_error(bad11, NULL, "control character in the record");
    /* Data of many types, mostly malformed: refused or taken, never a crash, and (under ASan)
     * nothing leaked by ldns. */
    static const char *const types[] = {
        "A",          "AAAA",   "NS",         "CNAME", "SOA",   "PTR",   "MX",
        "TXT",        "SRV",    "NAPTR",      "CAA",   "HTTPS", "SVCB",  "SSHFP",
        "TLSA",       "DS",     "DNSKEY",     "RRSIG", "NSEC",  "NSEC3", "LOC",
        "HINFO",      "WKS",    "APL",        "HIP",   "CERT",  "DNAME", "URI",
        "OPENPGPKEY", "SMIMEA", "NSEC3PARAM", "CDS",   "AFSDB", "RP",    "TYPE65280",
    };
    static const char *const junk[] = {"",
                                       "x",
                                       "1 2",
                                       "\\# 3 abcd",
                                       "999999999999 x.",
                                       "\"unterminated",
                                       "( 1 2",
                                       "10 . x y z w v"};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        for (size_t j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
            char text[128];
            snprintf(text, sizeof(text), "j.test. %s %s", types[t], junk[j]);
            struct mw_localzone_builder *b = mw_localzone_builder_new("t.yaml", NULL);
            mw_localzone_add_record(b, text, 1);
            struct mw_localzone *lz = NULL;
            mw_localzone_build(b, &lz);
            mw_localzone_free(lz);
            mw_localzone_builder_free(b);
        }
    }
    /* An owner called ipseckey is fine. */
    const char *ok[] = {"ipseckey.test. A 192.0.2.1", NULL};
    struct mw_localzone *lz = build(ok, NULL, false, NULL);
    assert_non_null(lz);
    mw_localzone_free(lz);
    /* Nothing configured: no set, no error. */
    assert_null(build(NULL, NULL, false, NULL));
}

static void test_cap(void **state)
{
    (void)state;
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_localzone_builder *b = mw_localzone_builder_new("t.yaml", &e);
    char text[64];
    int fails = 0;
    for (int i = 0; i < MW_LOCALZONE_MAX_RECORDS + 3; i++) {
        snprintf(text, sizeof(text), "h%d.test. A 192.0.2.1", i);
        fails += mw_localzone_add_record(b, text, i + 1) < 0;
    }
    assert_int_equal(fails, 3);
    assert_int_equal(e.n, 1); /* said once */
    assert_non_null(strstr(e.msgs[0], "more than 65536 records"));
    struct mw_localzone *lz = NULL;
    assert_int_equal(mw_localzone_build(b, &lz), -EINVAL);
    assert_null(lz);
    mw_localzone_builder_free(b);
    mw_errlist_deinit(&e);

    /* The largest set builds, and the lookup still finds every name. */
    b = mw_localzone_builder_new("t.yaml", NULL);
    for (int i = 0; i < MW_LOCALZONE_MAX_RECORDS; i++) {
        snprintf(text, sizeof(text), "h%d.big.test. A 192.0.2.1", i);
        assert_int_equal(mw_localzone_add_record(b, text, i + 1), 0);
    }
    mw_localzone_add_zone(b, "big.test", "static", 1);
    assert_int_equal(mw_localzone_build(b, &lz), 0);
    mw_localzone_builder_free(b);
    struct mw_local_result r;
    assert_int_equal(look(lz, "h65535.big.test", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
    assert_int_equal(look(lz, "h0.big.test", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
    assert_int_equal(look(lz, "h65536.big.test", MW_TYPE_A, &r), MW_LOCAL_NXDOMAIN);
    size_t nr, nn, nz;
    mw_localzone_counts(lz, &nr, &nn, &nz);
    assert_int_equal(nr, MW_LOCALZONE_MAX_RECORDS);
    assert_int_equal(nn, MW_LOCALZONE_MAX_RECORDS);
    assert_int_equal(nz, 1);
    mw_localzone_free(lz);
}

/* The reply for a result, read back by ldns. */
static ldns_pkt *reply(const struct mw_localzone *lz, const char *name, ldns_rr_type type,
                       bool edns, uint16_t max_size)
{
    ldns_pkt *q = NULL;
    assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
                     LDNS_STATUS_OK);
    uint8_t *wire = NULL;
    size_t wl = 0;
    assert_int_equal(ldns_pkt2wire(&wire, q, &wl), LDNS_STATUS_OK);
    ldns_pkt_free(q);
    struct mw_dns_query pq;
    assert_int_equal(mw_dns_parse_query(wire, wl, &pq), MW_PARSE_OK);
    pq.edns = edns;
    struct mw_dns_client c;
    mw_dns_client_from_query(&pq, false, &c);
    c.max_size = max_size;
    struct mw_local_result r;
    mw_localzone_lookup(lz, &pq.q, &r);
    static uint8_t out[70000];
    int n = mw_dns_build_local(&c, r.action == MW_LOCAL_NXDOMAIN ? MW_RCODE_NXDOMAIN : 0, r.an,
                               r.n_an, r.has_soa ? &r.soa : NULL, r.has_soa, out, sizeof(out));
    free(wire);
    assert_true(n > 0);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, out, (size_t)n), LDNS_STATUS_OK);
    return p;
}

static void test_reply(void **state)
{
    (void)state;
    struct mw_localzone *lz = build(RECS, ZONES, false, NULL);
    ldns_pkt *p = reply(lz, "Printer.corp.internal.", LDNS_RR_TYPE_A, true, 1232);
    assert_true(ldns_pkt_aa(p));
    assert_true(ldns_pkt_qr(p));
    assert_true(ldns_pkt_ra(p));
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(p), 2);
    assert_int_equal(ldns_pkt_arcount(p), 0); /* ldns takes the OPT out of the count */
    assert_true(ldns_pkt_edns(p));
    ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
    char *owner = ldns_rdf2str(ldns_rr_owner(rr));
    assert_string_equal(owner, "Printer.corp.internal."); /* the client's own spelling */
    free(owner);
    assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
    ldns_pkt_free(p);

    p = reply(lz, "nope.corp.internal.", LDNS_RR_TYPE_A, false, 512);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_true(ldns_pkt_aa(p));
    assert_int_equal(ldns_pkt_nscount(p), 1);
    rr = ldns_rr_list_rr(ldns_pkt_authority(p), 0);
    owner = ldns_rdf2str(ldns_rr_owner(rr));
    assert_string_equal(owner, "corp.internal.");
    free(owner);
    assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_SOA);
    assert_false(ldns_pkt_edns(p));
    ldns_pkt_free(p);

    p = reply(lz, "mail.corp.internal.", LDNS_RR_TYPE_MX, false, 512);
    rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
    char *text = ldns_rr2str(rr);
    assert_non_null(strstr(text, "MX\t10 mx.corp.internal."));
    free(text);
    ldns_pkt_free(p);
    mw_localzone_free(lz);

    /* Too big for the client: TC with the question only. */
    const char *many[40];
    char buf[40][64];
    for (int i = 0; i < 39; i++) {
        snprintf(buf[i], sizeof(buf[i]), "many.test. TXT \"%040d\"", i);
        many[i] = buf[i];
    }
    many[39] = NULL;
    lz = build(many, NULL, false, NULL);
    p = reply(lz, "many.test.", LDNS_RR_TYPE_TXT, false, 512);
    assert_true(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 0);
    ldns_pkt_free(p);
    p = reply(lz, "many.test.", LDNS_RR_TYPE_TXT, false, 65535);
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 39);
    ldns_pkt_free(p);
    mw_localzone_free(lz);
}

static void test_config(void **state)
{
    (void)state;
    const char *text = "local-data-ptr: true\n"
                       "local-zones:\n"
                       "  corp.internal: static\n"
                       "  x.example: nonsense\n"
                       "local-data:\n"
                       "  - \"printer.corp.internal. 300 A 10.0.0.7\"\n"
                       "  - \"bad.corp.internal. A 300.1.1.1\"\n"
                       "  - [not, a, record]\n";
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_config *cfg = mw_config_parse(text, strlen(text), "c.yaml", &e);
    assert_null(cfg);
    assert_int_equal(e.n, 3);
    assert_non_null(strstr(e.msgs[0], "c.yaml:4: local-zones: zone 'x.example'"));
    assert_non_null(strstr(e.msgs[1], "c.yaml:7: local-data: cannot parse"));
    assert_non_null(strstr(e.msgs[2], "c.yaml:8: local-data: expected a record"));
    mw_errlist_deinit(&e);

    const char *good = "local-data:\n"
                       "  - \"printer.corp.internal. 300 A 10.0.0.7\"\n"
                       "local-zones: {corp.internal: static}\n"
                       "local-data-ptr: true\n";
    mw_errlist_init(&e);
    cfg = mw_config_parse(good, strlen(good), "c.yaml", &e);
    assert_non_null(cfg);
    assert_true(cfg->local_data_ptr);
    struct mw_local_result r;
    assert_int_equal(look(cfg->local, "7.0.0.10.in-addr.arpa", MW_TYPE_PTR, &r), MW_LOCAL_ANSWER);
    assert_int_equal(look(cfg->local, "printer.corp.internal", MW_TYPE_A, &r), MW_LOCAL_ANSWER);
    assert_int_equal(r.line, 2);
    assert_int_equal(r.zone_line, 3);
    mw_config_free(cfg);
    /* No local keys: no set. */
    cfg = mw_config_parse("threads: 1\n", 11, "c.yaml", &e);
    assert_null(cfg->local);
    mw_config_free(cfg);
    mw_errlist_deinit(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),      cmocka_unit_test(test_zones),
        cmocka_unit_test(test_nested_zones), cmocka_unit_test(test_tld_filter),
        cmocka_unit_test(test_ptr),          cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cap),          cmocka_unit_test(test_reply),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
