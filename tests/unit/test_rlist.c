/* Unit tests for rlist.c and its use by lists.c and filter.c: bases built from normalised
 * entries of each type (wrong-type and bad entries rejected and counted), deltas (idempotent,
 * last operation wins, canonical keys), versions of a base with a delta applied (contents and
 * entry counts for domain, IP and AS-number lists; a base shared by versions and released in
 * either order), the state-directory files (round trip of meta and contents, bad and missing
 * files, no temporary file left), and generations derived from a file generation with Redis
 * lists: list indexes and origin, precedence across file and Redis sets, removed entries, an
 * answer address in a Redis IP list, no chaining of derived generations. Run under ASan for
 * the refcounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/error.h"
#include "minewall/filter.h"
#include "minewall/lists.h"
#include "minewall/rlist.h"

static char tmpdir[64];

/* ---- helpers ---- */

static void tpath(char *buf, size_t cap, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", tmpdir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static void write_file(const char *name, const char *text)
{
    char p[256];
    tpath(p, sizeof(p), name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static struct mw_rlist_meta mkmeta(const char *name, const char *category, enum mw_list_type t,
                                   enum mw_action action)
{
    struct mw_rlist_meta m;
    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "%s", name);
    snprintf(m.category, sizeof(m.category), "%s", category);
    m.type = t;
    m.action = action;
    return m;
}

/* A base of type t from a NULL-terminated list of entries, all of which must be accepted. */
static struct mw_rbase *mkbase(enum mw_list_type t, const char *const *entries)
{
    struct mw_rbase_builder *b = mw_rbase_builder_new(t);
    assert_non_null(b);
    for (size_t i = 0; entries && entries[i]; i++) {
        int rc = mw_rbase_builder_add(b, entries[i]);
        if (rc != 0)
            fprintf(stderr, "mkbase: '%s': %d\n", entries[i], rc);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(mw_rbase_builder_rejected(b), 0);
    struct mw_rbase *r = mw_rbase_build(b);
    assert_non_null(r);
    return r;
}

/* A version of a fresh base with no delta; the caller's base reference is dropped. */
static struct mw_rlist *mkversion(const struct mw_rlist_meta *m, const char *const *entries,
                                  const struct mw_rdelta *d)
{
    struct mw_rbase *b = mkbase(m->type, entries);
    struct mw_rlist *l = mw_rlist_new(m, b, d);
    assert_non_null(l);
    mw_rbase_unref(b);
    return l;
}

static void delta_ops(struct mw_rdelta *d, const char *const *ops)
{
    /* "+entry" adds, "-entry" deletes. */
    for (size_t i = 0; ops[i]; i++) {
        int rc = mw_rdelta_apply(d, ops[i][0] == '+', ops[i] + 1);
        if (rc != 0)
            fprintf(stderr, "delta_ops: '%s': %d\n", ops[i], rc);
        assert_int_equal(rc, 0);
    }
}

static void expect_contains(const struct mw_rlist *l, const char *const *yes, const char *const *no)
{
    for (size_t i = 0; yes && yes[i]; i++) {
        if (!mw_rlist_contains(l, yes[i]))
            fprintf(stderr, "expected '%s' in %s\n", yes[i], l->meta.name);
        assert_true(mw_rlist_contains(l, yes[i]));
    }
    for (size_t i = 0; no && no[i]; i++) {
        if (mw_rlist_contains(l, no[i]))
            fprintf(stderr, "expected '%s' not in %s\n", no[i], l->meta.name);
        assert_false(mw_rlist_contains(l, no[i]));
    }
}

static bool tmp_exists(const char *path)
{
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    return access(tmp, F_OK) == 0;
}

/* ---- bases ---- */

static void test_base_domain(void **state)
{
    (void)state;
    struct mw_rbase_builder *b = mw_rbase_builder_new(MW_LIST_DOMAIN);
    assert_non_null(b);
    assert_int_equal(mw_rbase_builder_add(b, "example.com"), 0);
    assert_int_equal(mw_rbase_builder_add(b, "*.Sub.Example.org."), 0);
    assert_int_equal(mw_rbase_builder_rejected(b), 0);
    /* Other types and bad entries. */
    static const char *const bad[] = {"10.0.0.0/8", "192.0.2.1", "AS64500", "xmr-*.example.net",
                                      "com",        "bad..name", "",        "a b.example",
                                      "10.0.0.1/8"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mw_rbase_builder_add(b, bad[i]) != -EINVAL)
            fprintf(stderr, "accepted '%s'\n", bad[i]);
        assert_int_equal(mw_rbase_builder_rejected(b), i + 1);
    }
    struct mw_rbase *base = mw_rbase_build(b);
    assert_non_null(base);
    assert_int_equal(mw_rbase_count(base), 2);
    assert_non_null(mw_rbase_domains(base));

    struct mw_rlist_meta m = mkmeta("d", "mining", MW_LIST_DOMAIN, MW_ACTION_DEFAULT);
    struct mw_rlist *l = mw_rlist_new(&m, base, NULL);
    assert_non_null(l);
    mw_rbase_unref(base);
    assert_int_equal(l->entries, 2);
    assert_false(l->allow);
    assert_false(l->stale);
    assert_null(l->delta);
    static const char *const yes[] = {"example.com",     "Example.COM.",      "sub.example.org",
                                      "SUB.example.ORG", "*.sub.example.org", NULL};
    /* contains() is about entries, not matching: names below an entry are not entries. */
    static const char *const no[] = {
        "www.example.com", "example.org", "example.net", "10.0.0.0/8", "AS64500", "", "com", NULL};
    expect_contains(l, yes, no);
    mw_rlist_unref(l);
    mw_rlist_unref(NULL);
    mw_rbase_unref(NULL);
    mw_rbase_builder_free(NULL);

    /* A builder freed without building. */
    b = mw_rbase_builder_new(MW_LIST_DOMAIN);
    assert_int_equal(mw_rbase_builder_add(b, "example.com"), 0);
    mw_rbase_builder_free(b);
}

static void test_base_ip(void **state)
{
    (void)state;
    struct mw_rbase_builder *b = mw_rbase_builder_new(MW_LIST_IP);
    assert_non_null(b);
    assert_int_equal(mw_rbase_builder_add(b, "10.0.0.0/8"), 0);
    assert_int_equal(mw_rbase_builder_add(b, "192.0.2.1"), 0);
    assert_int_equal(mw_rbase_builder_add(b, "2001:db8::/32"), 0);
    static const char *const bad[] = {"example.com", "AS64500",     "10.0.0.1/8",
                                      "300.1.2.3",   "10.0.0.0/33", "*.x.y.*"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mw_rbase_builder_add(b, bad[i]) != -EINVAL)
            fprintf(stderr, "accepted '%s'\n", bad[i]);
        assert_int_equal(mw_rbase_builder_rejected(b), i + 1);
    }
    struct mw_rbase *base = mw_rbase_build(b);
    assert_non_null(base);
    assert_int_equal(mw_rbase_count(base), 3);
    assert_null(mw_rbase_domains(base));
    struct mw_rlist_meta m = mkmeta("i", "c2", MW_LIST_IP, MW_ACTION_NXDOMAIN);
    struct mw_rlist *l = mw_rlist_new(&m, base, NULL);
    mw_rbase_unref(base);
    assert_non_null(l);
    assert_int_equal(l->entries, 3);
    assert_non_null(l->ips);
    static const char *const yes[] = {"10.0.0.0/8", "192.0.2.1", "192.0.2.1/32", "2001:db8::/32",
                                      NULL};
    static const char *const no[] = {"10.0.0.0/16", "10.1.2.3",    "192.0.2.2", "192.0.2.0/24",
                                     "2001:db8::1", "example.com", "AS1",       NULL};
    expect_contains(l, yes, no);
    mw_rlist_unref(l);
}

static void test_base_asn(void **state)
{
    (void)state;
    struct mw_rbase_builder *b = mw_rbase_builder_new(MW_LIST_ASN);
    assert_non_null(b);
    assert_int_equal(mw_rbase_builder_add(b, "AS64500"), 0);
    assert_int_equal(mw_rbase_builder_add(b, "AS13335"), 0);
    assert_int_equal(mw_rbase_builder_add(b, "as65001"), 0);
    static const char *const bad[] = {"64500", "example.com", "10.0.0.0/8",
                                      "AS",    "ASx1",        "AS99999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mw_rbase_builder_add(b, bad[i]) != -EINVAL)
            fprintf(stderr, "accepted '%s'\n", bad[i]);
        assert_int_equal(mw_rbase_builder_rejected(b), i + 1);
    }
    struct mw_rbase *base = mw_rbase_build(b);
    assert_non_null(base);
    assert_int_equal(mw_rbase_count(base), 3);
    struct mw_rlist_meta m = mkmeta("a", "c2", MW_LIST_ASN, MW_ACTION_DEFAULT);
    struct mw_rlist *l = mw_rlist_new(&m, base, NULL);
    mw_rbase_unref(base);
    assert_non_null(l);
    assert_int_equal(l->entries, 3);
    assert_int_equal(l->n_asns, 3);
    /* Sorted. */
    assert_true(l->asns[0].asn == 13335 && l->asns[1].asn == 64500 && l->asns[2].asn == 65001);
    static const char *const yes[] = {"AS64500", "as13335", "AS65001", NULL};
    static const char *const no[] = {"AS64501", "AS0", "example.com", "10.0.0.0/8", NULL};
    expect_contains(l, yes, no);
    mw_rlist_unref(l);
}

/* The same entry twice (in any spelling) is one entry, for the base count and the version's
 * entries alike. All three types are checked before failing. */
static void test_base_duplicates(void **state)
{
    (void)state;
    int bad = 0;
    static const char *const dom[] = {"example.com", "Example.COM.", "*.example.com",
                                      "other.example", NULL};
    struct mw_rlist_meta m = mkmeta("d", "mining", MW_LIST_DOMAIN, MW_ACTION_DEFAULT);
    struct mw_rlist *l = mkversion(&m, dom, NULL);
    assert_int_equal(mw_domainset_count(mw_rbase_domains(l->base)), 2);
    if (l->entries != 2 || mw_rbase_count(l->base) != 2) {
        fprintf(stderr, "domain duplicates: entries %zu, base count %zu (want 2)\n", l->entries,
                mw_rbase_count(l->base));
        bad++;
    }
    /* Removing the duplicated entry leaves one. */
    struct mw_rdelta *d = mw_rdelta_new();
    assert_int_equal(mw_rdelta_apply(d, false, "example.com"), 0);
    struct mw_rlist *l2 = mw_rlist_new(&m, l->base, d);
    mw_rdelta_free(d);
    assert_false(mw_rlist_contains(l2, "example.com"));
    if (l2->entries != 1) {
        fprintf(stderr, "domain duplicates, one removed: entries %zu (want 1)\n", l2->entries);
        bad++;
    }
    mw_rlist_unref(l2);
    mw_rlist_unref(l);

    static const char *const ip[] = {"192.0.2.1", "192.0.2.1/32", "10.0.0.0/8", NULL};
    m = mkmeta("i", "c2", MW_LIST_IP, MW_ACTION_DEFAULT);
    l = mkversion(&m, ip, NULL);
    if (l->entries != 2 || mw_rbase_count(l->base) != 2) {
        fprintf(stderr, "ip duplicates: entries %zu, base count %zu (want 2)\n", l->entries,
                mw_rbase_count(l->base));
        bad++;
    }
    mw_rlist_unref(l);

    static const char *const asn[] = {"AS64500", "as64500", "AS1", NULL};
    m = mkmeta("a", "c2", MW_LIST_ASN, MW_ACTION_DEFAULT);
    l = mkversion(&m, asn, NULL);
    if (l->entries != 2 || l->n_asns != 2 || mw_rbase_count(l->base) != 2) {
        fprintf(stderr, "asn duplicates: entries %zu, n_asns %zu, base count %zu (want 2)\n",
                l->entries, l->n_asns, mw_rbase_count(l->base));
        bad++;
    }
    mw_rlist_unref(l);
    assert_int_equal(bad, 0);
}

/* contains() of a prefix that a longer listed prefix shares its first address with. */
static void test_contains_nested_prefix(void **state)
{
    (void)state;
    static const char *const ip[] = {"10.0.0.0/8", "10.0.0.0/16", "10.0.0.0/24", NULL};
    struct mw_rlist_meta m = mkmeta("n", "c2", MW_LIST_IP, MW_ACTION_DEFAULT);
    struct mw_rlist *l = mkversion(&m, ip, NULL);
    assert_int_equal(l->entries, 3);
    int bad = 0;
    for (int i = 0; ip[i]; i++)
        if (!mw_rlist_contains(l, ip[i])) {
            fprintf(stderr, "contains('%s') false although listed\n", ip[i]);
            bad++;
        }
    assert_false(mw_rlist_contains(l, "10.0.0.0/12"));
    mw_rlist_unref(l);
    assert_int_equal(bad, 0);
}

/* ---- deltas ---- */

static void test_delta(void **state)
{
    (void)state;
    assert_int_equal(mw_rdelta_size(NULL), 0);
    mw_rdelta_free(NULL);
    struct mw_rdelta *d = mw_rdelta_new();
    assert_non_null(d);
    assert_int_equal(mw_rdelta_size(d), 0);

    /* Canonical keys: one key however spelled. */
    assert_int_equal(mw_rdelta_apply(d, true, "Example.COM."), 0);
    assert_int_equal(mw_rdelta_size(d), 1);
    assert_int_equal(mw_rdelta_apply(d, true, "example.com"), 0);
    assert_int_equal(mw_rdelta_apply(d, true, "*.example.com"), 0);
    assert_int_equal(mw_rdelta_apply(d, false, " example.com "), 0);
    assert_int_equal(mw_rdelta_size(d), 1);
    assert_int_equal(mw_rdelta_apply(d, true, "192.0.2.1"), 0);
    assert_int_equal(mw_rdelta_apply(d, false, "192.0.2.1/32"), 0);
    assert_int_equal(mw_rdelta_size(d), 2);
    assert_int_equal(mw_rdelta_apply(d, true, "2001:DB8::/32"), 0);
    assert_int_equal(mw_rdelta_apply(d, true, "2001:db8:0::/32"), 0);
    assert_int_equal(mw_rdelta_size(d), 3);
    assert_int_equal(mw_rdelta_apply(d, true, "as64500"), 0);
    assert_int_equal(mw_rdelta_apply(d, false, "AS64500"), 0);
    assert_int_equal(mw_rdelta_size(d), 4);

    /* Entries that do not parse change nothing. */
    static const char *const bad[] = {"", "bad..name", "com", "10.0.0.1/8", "xmr-*.net", "AS"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mw_rdelta_apply(d, true, bad[i]), -EINVAL);
        assert_int_equal(mw_rdelta_apply(d, false, bad[i]), -EINVAL);
    }
    assert_int_equal(mw_rdelta_size(d), 4);

    /* Many keys: the table grows and keeps every key once. */
    char e[64];
    for (int i = 0; i < 500; i++) {
        snprintf(e, sizeof(e), "host%d.example.net", i);
        assert_int_equal(mw_rdelta_apply(d, i % 2 == 0, e), 0);
    }
    assert_int_equal(mw_rdelta_size(d), 504);
    for (int i = 0; i < 500; i++) {
        snprintf(e, sizeof(e), "HOST%d.example.net.", i);
        assert_int_equal(mw_rdelta_apply(d, true, e), 0);
    }
    assert_int_equal(mw_rdelta_size(d), 504);
    mw_rdelta_free(d);
}

/* A change-log record: "op" and space-separated entries, bad and overlong entries counted. */
static void test_delta_record(void **state)
{
    (void)state;
    struct mw_rdelta *d = mw_rdelta_new();
    assert_non_null(d);
    size_t bad = 99;
    assert_int_equal(mw_rdelta_apply_record(d, "add", "  a.example  b.example 10.0.0.0/8 ", &bad),
                     0);
    assert_int_equal(bad, 0);
    assert_int_equal(mw_rdelta_size(d), 3);
    char big[700];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    big[10] = ' ';
    assert_int_equal(mw_rdelta_apply_record(d, "del", big, &bad), 0);
    assert_int_equal(bad, 2); /* "aaaaaaaaaa" is one label (a TLD), the rest too long */
    assert_int_equal(mw_rdelta_apply_record(d, "del", "a.example not_a_name!", NULL), 0);
    assert_int_equal(mw_rdelta_size(d), 3);
    assert_int_equal(mw_rdelta_apply_record(d, "put", "c.example", &bad), -EINVAL);
    assert_int_equal(mw_rdelta_apply_record(d, NULL, "c.example", &bad), -EINVAL);
    assert_int_equal(mw_rdelta_apply_record(d, "add", NULL, &bad), -EINVAL);
    assert_int_equal(mw_rdelta_apply_record(d, "add", "", &bad), 0);
    assert_int_equal(mw_rdelta_size(d), 3);
    mw_rdelta_free(d);
}

/* The last operation on an entry wins, and replaying a stretch of operations is harmless. */
static void test_delta_last_wins(void **state)
{
    (void)state;
    static const char *const base[] = {"keep.example", NULL};
    struct mw_rlist_meta m = mkmeta("d", "mining", MW_LIST_DOMAIN, MW_ACTION_DEFAULT);
    struct mw_rbase *b = mkbase(MW_LIST_DOMAIN, base);
    struct mw_rdelta *d = mw_rdelta_new();
    static const char *const ops[] = {"+x.example", "-x.example", "+X.Example.", "+y.example",
                                      "-y.example", "+z.example", NULL};
    delta_ops(d, ops);
    delta_ops(d, ops); /* replayed */
    assert_int_equal(mw_rdelta_size(d), 3);
    struct mw_rlist *l = mw_rlist_new(&m, b, d);
    assert_non_null(l);
    static const char *const yes[] = {"keep.example", "x.example", "z.example", NULL};
    static const char *const no[] = {"y.example", NULL};
    expect_contains(l, yes, no);
    assert_int_equal(l->entries, 3);
    mw_rlist_unref(l);
    mw_rdelta_free(d);
    mw_rbase_unref(b);
}

/* ---- versions ---- */

static const char *const dom_base[] = {"a.example", "b.example",        "c.example",
                                       "d.example", "sub.zone.example", NULL};
/* b removed; c removed then added; new added; gone added then removed; a added again (already
 * in base); never.example removed though never listed. */
static const char *const dom_ops[] = {"-b.example",   "-c.example",     "+C.Example.",
                                      "+new.example", "+gone.example",  "-gone.example",
                                      "+a.example",   "-never.example", NULL};

static void test_version_domain(void **state)
{
    (void)state;
    struct mw_rlist_meta m = mkmeta("d", "mining", MW_LIST_DOMAIN, MW_ACTION_DEFAULT);
    struct mw_rbase *b = mkbase(MW_LIST_DOMAIN, dom_base);

    /* No delta and an empty delta. */
    struct mw_rlist *v0 = mw_rlist_new(&m, b, NULL);
    assert_non_null(v0);
    assert_int_equal(v0->entries, 5);
    struct mw_rdelta *d = mw_rdelta_new();
    struct mw_rlist *v1 = mw_rlist_new(&m, b, d);
    assert_non_null(v1);
    assert_int_equal(v1->entries, 5);
    expect_contains(v1, dom_base, NULL);

    delta_ops(d, dom_ops);
    struct mw_rlist *v2 = mw_rlist_new(&m, b, d);
    assert_non_null(v2);
    static const char *const yes[] = {"a.example",        "c.example",   "d.example",
                                      "sub.zone.example", "new.example", NULL};
    static const char *const no[] = {"b.example", "gone.example", "never.example", "zone.example",
                                     NULL};
    expect_contains(v2, yes, no);
    assert_int_equal(v2->entries, 5); /* -b +new */
    /* Earlier versions are unchanged. */
    expect_contains(v0, dom_base, no + 1);
    assert_false(mw_rlist_contains(v0, "new.example"));
    assert_true(mw_rlist_contains(v0, "b.example"));

    /* A delta that only removes. */
    struct mw_rdelta *d2 = mw_rdelta_new();
    static const char *const rm[] = {"-a.example", "-b.example", "-sub.zone.example", NULL};
    delta_ops(d2, rm);
    struct mw_rlist *v3 = mw_rlist_new(&m, b, d2);
    assert_int_equal(v3->entries, 2);
    static const char *const yes3[] = {"c.example", "d.example", NULL};
    expect_contains(v3, yes3, NULL);
    assert_false(mw_rlist_contains(v3, "a.example"));
    assert_false(mw_rlist_contains(v3, "sub.zone.example"));

    /* Entries of another type in a delta are ignored by a domain list. */
    struct mw_rdelta *d3 = mw_rdelta_new();
    static const char *const other[] = {"+192.0.2.1", "+AS1", "-10.0.0.0/8", NULL};
    delta_ops(d3, other);
    struct mw_rlist *v4 = mw_rlist_new(&m, b, d3);
    assert_non_null(v4);
    assert_int_equal(v4->entries, 5);
    assert_false(mw_rlist_contains(v4, "192.0.2.1"));

    mw_rbase_unref(b);
    mw_rlist_unref(v0);
    mw_rlist_unref(v1);
    mw_rlist_unref(v2);
    mw_rlist_unref(v3);
    mw_rlist_unref(v4);
    mw_rdelta_free(d);
    mw_rdelta_free(d2);
    mw_rdelta_free(d3);
}

static void test_version_ip(void **state)
{
    (void)state;
    static const char *const base[] = {"10.0.0.0/8",    "192.0.2.1",       "192.0.2.2",
                                       "2001:db8::/32", "198.51.100.0/24", NULL};
    static const char *const ops[] = {
        "-192.0.2.1",    "-198.51.100.0/24", "+198.51.100.0/24", "+203.0.113.0/24", "+192.0.2.9",
        "-192.0.2.9/32", "+10.0.0.0/8",      "+2001:DB8:1::/48", "-172.16.0.0/12",  NULL};
    struct mw_rlist_meta m = mkmeta("i", "c2", MW_LIST_IP, MW_ACTION_DEFAULT);
    struct mw_rbase *b = mkbase(MW_LIST_IP, base);
    struct mw_rdelta *d = mw_rdelta_new();
    delta_ops(d, ops);
    struct mw_rlist *v = mw_rlist_new(&m, b, d);
    assert_non_null(v);
    static const char *const yes[] = {
        "10.0.0.0/8",      "192.0.2.2", "2001:db8::/32", "198.51.100.0/24", "203.0.113.0/24",
        "2001:db8:1::/48", NULL};
    static const char *const no[] = {"192.0.2.1", "192.0.2.9", "172.16.0.0/12", NULL};
    expect_contains(v, yes, no);
    assert_int_equal(v->entries, 6); /* 5 - 1 + 2 */

    /* Domain and AS entries in a delta are ignored by an IP list. */
    struct mw_rdelta *d2 = mw_rdelta_new();
    static const char *const other[] = {"+example.com", "+AS1", NULL};
    delta_ops(d2, other);
    struct mw_rlist *v2 = mw_rlist_new(&m, b, d2);
    assert_int_equal(v2->entries, 5);
    expect_contains(v2, base, NULL);

    mw_rlist_unref(v);
    mw_rlist_unref(v2);
    mw_rbase_unref(b);
    mw_rdelta_free(d);
    mw_rdelta_free(d2);
}

static void test_version_asn(void **state)
{
    (void)state;
    static const char *const base[] = {"AS64500", "AS64501", "AS64502", "AS13335", NULL};
    static const char *const ops[] = {"-AS64501", "-as64502", "+AS64502", "+AS65000", "+AS65001",
                                      "-AS65001", "+AS13335", "-AS1",     NULL};
    struct mw_rlist_meta m = mkmeta("a", "c2", MW_LIST_ASN, MW_ACTION_DEFAULT);
    struct mw_rbase *b = mkbase(MW_LIST_ASN, base);
    struct mw_rdelta *d = mw_rdelta_new();
    delta_ops(d, ops);
    struct mw_rlist *v = mw_rlist_new(&m, b, d);
    assert_non_null(v);
    static const char *const yes[] = {"AS64500", "AS64502", "AS13335", "AS65000", NULL};
    static const char *const no[] = {"AS64501", "AS65001", "AS1", NULL};
    expect_contains(v, yes, no);
    assert_int_equal(v->entries, 4);
    assert_int_equal(v->n_asns, 4);
    for (size_t i = 1; i < v->n_asns; i++)
        assert_true(v->asns[i - 1].asn < v->asns[i].asn);

    /* Everything removed. */
    struct mw_rdelta *d2 = mw_rdelta_new();
    static const char *const all[] = {"-AS64500", "-AS64501", "-AS64502", "-AS13335", NULL};
    delta_ops(d2, all);
    struct mw_rlist *v2 = mw_rlist_new(&m, b, d2);
    assert_non_null(v2);
    assert_int_equal(v2->entries, 0);
    expect_contains(v2, NULL, base);

    mw_rlist_unref(v);
    mw_rlist_unref(v2);
    mw_rbase_unref(b);
    mw_rdelta_free(d);
    mw_rdelta_free(d2);
}

/* A large delta over a large base: every add and every removal seen. */
static void test_version_large(void **state)
{
    (void)state;
    struct mw_rbase_builder *bb = mw_rbase_builder_new(MW_LIST_DOMAIN);
    char e[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(e, sizeof(e), "b%d.example.net", i);
        assert_int_equal(mw_rbase_builder_add(bb, e), 0);
    }
    struct mw_rbase *b = mw_rbase_build(bb);
    assert_int_equal(mw_rbase_count(b), 2000);
    struct mw_rdelta *d = mw_rdelta_new();
    for (int i = 0; i < 300; i++) {
        snprintf(e, sizeof(e), "b%d.example.net", i * 3);
        assert_int_equal(mw_rdelta_apply(d, false, e), 0);
        snprintf(e, sizeof(e), "n%d.example.net", i);
        assert_int_equal(mw_rdelta_apply(d, true, e), 0);
    }
    struct mw_rlist_meta m = mkmeta("big", "mining", MW_LIST_DOMAIN, MW_ACTION_DEFAULT);
    struct mw_rlist *l = mw_rlist_new(&m, b, d);
    assert_non_null(l);
    assert_int_equal(l->entries, 2000);
    for (int i = 0; i < 900; i++) {
        snprintf(e, sizeof(e), "b%d.example.net", i);
        assert_int_equal(mw_rlist_contains(l, e), i % 3 != 0);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(e, sizeof(e), "n%d.example.net", i);
        assert_true(mw_rlist_contains(l, e));
    }
    mw_rlist_unref(l);
    mw_rdelta_free(d);
    mw_rbase_unref(b);
}

/* Versions share their base; whichever is released last frees it (ASan checks both orders). */
static void test_version_shared_base(void **state)
{
    (void)state;
    for (int order = 0; order < 2; order++) {
        for (int t = MW_LIST_DOMAIN; t <= MW_LIST_ASN; t++) {
            static const char *const dom[] = {"a.example", "b.example", NULL};
            static const char *const ip[] = {"10.0.0.0/8", "192.0.2.1", NULL};
            static const char *const asn[] = {"AS1", "AS2", NULL};
            const char *const *ents = t == MW_LIST_DOMAIN ? dom : t == MW_LIST_IP ? ip : asn;
            struct mw_rlist_meta m = mkmeta("s", "mining", (enum mw_list_type)t, 0);
            struct mw_rbase *b = mkbase((enum mw_list_type)t, ents);
            struct mw_rlist *old = mw_rlist_new(&m, b, NULL);
            mw_rbase_unref(b); /* the versions hold it now */
            struct mw_rdelta *d = mw_rdelta_new();
            assert_int_equal(mw_rdelta_apply(d, false, ents[0]), 0);
            struct mw_rlist *new = mw_rlist_new(&m, old->base, d);
            mw_rdelta_free(d);
            assert_non_null(old);
            assert_non_null(new);
            assert_ptr_equal(old->base, new->base);
            assert_true(mw_rlist_contains(old, ents[0]));
            assert_false(mw_rlist_contains(new, ents[0]));
            assert_true(mw_rlist_contains(new, ents[1]));
            assert_int_equal(old->entries, 2);
            assert_int_equal(new->entries, 1);
            /* An extra reference on a version. */
            assert_ptr_equal(mw_rlist_ref(new), new);
            assert_int_equal(new->refs, 2);
            mw_rlist_unref(new);
            if (order == 0) {
                mw_rlist_unref(old);
                assert_true(mw_rlist_contains(new, ents[1]));
                mw_rlist_unref(new);
            } else {
                mw_rlist_unref(new);
                assert_true(mw_rlist_contains(old, ents[0]));
                mw_rlist_unref(old);
            }
        }
    }
}

/* ---- state files ---- */

static void expect_meta_equal(const struct mw_rlist *a, const struct mw_rlist *b)
{
    assert_string_equal(a->meta.name, b->meta.name);
    assert_string_equal(a->meta.category, b->meta.category);
    assert_int_equal(a->meta.action, b->meta.action);
    assert_int_equal(a->meta.type, b->meta.type);
    assert_true(a->meta.updated == b->meta.updated);
    assert_string_equal(a->last_id, b->last_id);
    assert_int_equal(a->allow, b->allow);
    assert_int_equal(a->entries, b->entries);
}

static void test_state_domain(void **state)
{
    (void)state;
    struct mw_rlist_meta m = mkmeta("feed-mining", "mining", MW_LIST_DOMAIN, MW_ACTION_NXDOMAIN);
    snprintf(m.description, sizeof(m.description), "Mining pools\nexample.net\r\n# x");
    m.updated = 1700000000123ULL;
    struct mw_rbase *b = mkbase(MW_LIST_DOMAIN, dom_base);
    struct mw_rdelta *d = mw_rdelta_new();
    delta_ops(d, dom_ops);
    struct mw_rlist *l = mw_rlist_new(&m, b, d);
    mw_rbase_unref(b);
    mw_rdelta_free(d);
    snprintf(l->last_id, sizeof(l->last_id), "1700000000000-42");

    char p[256];
    tpath(p, sizeof(p), "feed-mining.list");
    assert_int_equal(mw_rlist_save(l, p), 0);
    assert_false(tmp_exists(p));

    /* The file: magic first, the description on one line, every entry once. */
    const char *text = read_all(p);
    assert_true(strncmp(text, "# minewall-state v1\n", 20) == 0);
    assert_null(strstr(text, "\nexample.net"));
    assert_null(strstr(text, "\n# x"));
    assert_non_null(strstr(text, "\nnew.example\n"));
    assert_null(strstr(text, "b.example"));
    assert_null(strstr(text, "gone.example"));
    assert_null(strstr(text, "never.example"));
    const char *a = strstr(text, "\na.example\n");
    assert_non_null(a);
    assert_null(strstr(a + 1, "\na.example\n")); /* in base and re-added: written once */
    const char *c = strstr(text, "\nc.example\n");
    assert_non_null(c);
    assert_null(strstr(c + 1, "\nc.example\n"));

    int err = 1;
    struct mw_rlist *r = mw_rlist_load(p, &err);
    assert_non_null(r);
    assert_int_equal(err, 0);
    expect_meta_equal(l, r);
    assert_int_equal(r->entries, 5);
    assert_false(r->stale);
    assert_null(r->delta);
    assert_null(strchr(r->meta.description, '\n'));
    assert_null(strchr(r->meta.description, '\r'));
    assert_true(strncmp(r->meta.description, "Mining pools", 12) == 0);
    assert_non_null(strstr(r->meta.description, "example.net"));
    static const char *const yes[] = {"a.example",        "c.example",   "d.example",
                                      "sub.zone.example", "new.example", NULL};
    static const char *const no[] = {
        "b.example", "gone.example", "never.example", "zone.example", "example.net", "x", NULL};
    expect_contains(r, yes, no);

    /* Save the loaded version over the same file: same contents. */
    assert_int_equal(mw_rlist_save(r, p), 0);
    assert_false(tmp_exists(p));
    struct mw_rlist *r2 = mw_rlist_load(p, &err);
    assert_non_null(r2);
    expect_meta_equal(r, r2);
    expect_contains(r2, yes, no);
    mw_rlist_unref(r2);
    mw_rlist_unref(r);
    mw_rlist_unref(l);
}

/* Meta values come from a Redis hash: a newline in any of them must not inject entries. */
static void test_state_meta_newlines(void **state)
{
    (void)state;
    struct mw_rlist_meta m =
        mkmeta("inj", "mining\ninjected-cat.example", MW_LIST_DOMAIN, MW_ACTION_DEFAULT);
    snprintf(m.description, sizeof(m.description), "d\ninjected-desc.example");
    static const char *const ents[] = {"real.example", NULL};
    struct mw_rlist *l = mkversion(&m, ents, NULL);
    snprintf(l->last_id, sizeof(l->last_id), "1700000000000-0");
    char p[256];
    tpath(p, sizeof(p), "inj.list");
    assert_int_equal(mw_rlist_save(l, p), 0);
    int err = 1;
    struct mw_rlist *r = mw_rlist_load(p, &err);
    assert_non_null(r);
    int bad = 0;
    static const char *const inj[] = {"injected-desc.example", "injected-cat.example"};
    for (size_t i = 0; i < 2; i++)
        if (mw_rlist_contains(r, inj[i])) {
            fprintf(stderr, "state file: '%s' injected as an entry\n", inj[i]);
            bad++;
        }
    assert_true(mw_rlist_contains(r, "real.example"));
    if (r->entries != 1)
        fprintf(stderr, "state file: %zu entries (want 1)\n", r->entries);
    mw_rlist_unref(r);
    mw_rlist_unref(l);
    assert_int_equal(bad, 0);
}

static void test_state_ip_asn(void **state)
{
    (void)state;
    static const char *const ipb[] = {"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", NULL};
    static const char *const ipops[] = {"-192.0.2.1", "+203.0.113.0/24", "+2001:db8:1::1", NULL};
    struct mw_rlist_meta m = mkmeta("ips", "allow", MW_LIST_IP, MW_ACTION_DEFAULT);
    m.updated = 5;
    struct mw_rbase *b = mkbase(MW_LIST_IP, ipb);
    struct mw_rdelta *d = mw_rdelta_new();
    delta_ops(d, ipops);
    struct mw_rlist *l = mw_rlist_new(&m, b, d);
    mw_rbase_unref(b);
    mw_rdelta_free(d);
    assert_true(l->allow);
    char p[256];
    tpath(p, sizeof(p), "ips.list");
    assert_int_equal(mw_rlist_save(l, p), 0);
    assert_false(tmp_exists(p));
    int err = 1;
    struct mw_rlist *r = mw_rlist_load(p, &err);
    assert_non_null(r);
    assert_int_equal(err, 0);
    expect_meta_equal(l, r);
    assert_int_equal(r->meta.action, MW_ACTION_DEFAULT);
    assert_true(r->allow);
    assert_int_equal(r->entries, 4);
    static const char *const yes[] = {"10.0.0.0/8", "2001:db8::/32", "203.0.113.0/24",
                                      "2001:db8:1::1", NULL};
    static const char *const no[] = {"192.0.2.1", NULL};
    expect_contains(r, yes, no);
    mw_rlist_unref(r);
    mw_rlist_unref(l);

    static const char *const asb[] = {"AS64500", "AS64501", NULL};
    static const char *const asops[] = {"-AS64501", "+AS4200000000", NULL};
    m = mkmeta("asns", "c2", MW_LIST_ASN, MW_ACTION_DROP);
    b = mkbase(MW_LIST_ASN, asb);
    d = mw_rdelta_new();
    delta_ops(d, asops);
    l = mw_rlist_new(&m, b, d);
    mw_rbase_unref(b);
    mw_rdelta_free(d);
    snprintf(l->last_id, sizeof(l->last_id), "1-1");
    tpath(p, sizeof(p), "asns.list");
    assert_int_equal(mw_rlist_save(l, p), 0);
    r = mw_rlist_load(p, &err);
    assert_non_null(r);
    expect_meta_equal(l, r);
    assert_int_equal(r->meta.action, MW_ACTION_DROP);
    assert_int_equal(r->entries, 2);
    static const char *const ayes[] = {"AS64500", "AS4200000000", NULL};
    static const char *const ano[] = {"AS64501", NULL};
    expect_contains(r, ayes, ano);
    mw_rlist_unref(r);
    mw_rlist_unref(l);
}

static void test_state_empty(void **state)
{
    (void)state;
    for (int t = MW_LIST_DOMAIN; t <= MW_LIST_ASN; t++) {
        struct mw_rlist_meta m = mkmeta("empty", "mining", (enum mw_list_type)t, 0);
        struct mw_rlist *l = mkversion(&m, NULL, NULL);
        assert_int_equal(l->entries, 0);
        char p[256];
        tpath(p, sizeof(p), "empty.list");
        assert_int_equal(mw_rlist_save(l, p), 0);
        assert_false(tmp_exists(p));
        int err = 1;
        struct mw_rlist *r = mw_rlist_load(p, &err);
        assert_non_null(r);
        assert_int_equal(err, 0);
        expect_meta_equal(l, r);
        assert_int_equal(r->entries, 0);
        assert_false(mw_rlist_contains(r, "example.com"));
        assert_false(mw_rlist_contains(r, "10.0.0.0/8"));
        assert_false(mw_rlist_contains(r, "AS1"));
        mw_rlist_unref(r);
        mw_rlist_unref(l);
    }
    /* A domain list whose delta removed everything. */
    static const char *const one[] = {"only.example", NULL};
    struct mw_rlist_meta m = mkmeta("gone", "mining", MW_LIST_DOMAIN, 0);
    struct mw_rdelta *d = mw_rdelta_new();
    assert_int_equal(mw_rdelta_apply(d, false, "only.example"), 0);
    struct mw_rlist *l = mkversion(&m, one, d);
    mw_rdelta_free(d);
    assert_int_equal(l->entries, 0);
    char p[256];
    tpath(p, sizeof(p), "gone.list");
    assert_int_equal(mw_rlist_save(l, p), 0);
    int err = 1;
    struct mw_rlist *r = mw_rlist_load(p, &err);
    assert_non_null(r);
    assert_int_equal(r->entries, 0);
    assert_false(mw_rlist_contains(r, "only.example"));
    mw_rlist_unref(r);
    mw_rlist_unref(l);
}

static void test_state_bad(void **state)
{
    (void)state;
    char p[256];
    int err = 0;
    tpath(p, sizeof(p), "does-not-exist.list");
    assert_null(mw_rlist_load(p, &err));
    assert_int_equal(err, -ENOENT);

    /* A plain list is not a state file. */
    write_file("plain.list", "example.com\nexample.net\n");
    tpath(p, sizeof(p), "plain.list");
    err = 0;
    assert_null(mw_rlist_load(p, &err));
    assert_int_equal(err, -EBADMSG);

    /* A comment that is not the magic. */
    write_file("comment.list", "# name: x\n# category: y\nexample.com\n");
    tpath(p, sizeof(p), "comment.list");
    err = 0;
    assert_null(mw_rlist_load(p, &err));
    assert_int_equal(err, -EBADMSG);

    /* Empty file. */
    write_file("zero.list", "");
    tpath(p, sizeof(p), "zero.list");
    err = 0;
    assert_null(mw_rlist_load(p, &err));
    assert_int_equal(err, -EBADMSG);

    /* The magic without a name or category. */
    write_file("noname.list", "# minewall-state v1\n# category: mining\nexample.com\n");
    tpath(p, sizeof(p), "noname.list");
    err = 0;
    assert_null(mw_rlist_load(p, &err));
    assert_int_equal(err, -EBADMSG);
    write_file("nocat.list", "# minewall-state v1\n# name: x\n");
    tpath(p, sizeof(p), "nocat.list");
    err = 0;
    assert_null(mw_rlist_load(p, &err));
    assert_int_equal(err, -EBADMSG);

    /* A hand-written state file with a bad line: the good entries load. */
    write_file("hand.list", "# minewall-state v1\n# name: h\n# category: mining\n"
                            "# type: domain\n# action: refused\n\nok.example\nbad..x\n"
                            "10.0.0.0/8\nalso.example\n");
    tpath(p, sizeof(p), "hand.list");
    err = 1;
    struct mw_rlist *r = mw_rlist_load(p, &err);
    assert_non_null(r);
    assert_int_equal(err, 0);
    assert_int_equal(r->meta.action, MW_ACTION_REFUSED);
    assert_int_equal(r->entries, 2);
    assert_true(mw_rlist_contains(r, "ok.example"));
    assert_true(mw_rlist_contains(r, "also.example"));

    /* Saving into a directory that does not exist fails and leaves nothing. */
    char q[256];
    tpath(q, sizeof(q), "no-such-dir/x.list");
    assert_int_equal(mw_rlist_save(r, q), -ENOENT);
    assert_false(tmp_exists(q));
    mw_rlist_unref(r);
}

/* ---- derived generations and the filter ---- */

static const char files_yaml[] =
    "sinkhole: {action: nodata}\n"
    "lists:\n"
    "  - {name: fmining, category: mining, path: @D@/fmining.txt}\n"
    "  - {name: fallow, category: allow, path: @D@/fallow.txt}\n"
    "  - {name: fips, category: c2, path: @D@/fips.txt, type: ip, action: refused}\n";

static const char fmining_txt[] = "pool.example\n"    /* 1 */
                                  "bad.cdn.example\n" /* 2 */
                                  "tie.example\n";    /* 3 */
static const char fallow_txt[] = "ok.spec.example\n"  /* 1 */
                                 "tie2.example\n";    /* 2 */
static const char fips_txt[] = "192.0.2.0/24\n";      /* 1 */

enum { F_MINING, F_ALLOW, F_IPS, F_COUNT };
enum { R_MINING, R_ALLOW, R_IPS, R_COUNT };

static struct mw_config *fcfg;
static struct mw_lists *files;
static struct mw_rlist *rl[R_COUNT];

static void expand(const char *tmpl, char *out, size_t cap)
{
    size_t n = 0, dl = strlen(tmpdir);
    for (const char *s = tmpl; *s; s++) {
        if (strncmp(s, "@D@", 3) == 0) {
            assert_true(n + dl < cap);
            memcpy(out + n, tmpdir, dl);
            n += dl;
            s += 2;
        } else {
            assert_true(n + 1 < cap);
            out[n++] = *s;
        }
    }
    out[n] = 0;
}

static void mkq(struct mw_dns_question *q, const char *name)
{
    memset(q, 0, sizeof(*q));
    int n = mw_dname_from_text(name, q->qname, sizeof(q->qname));
    assert_true(n > 0);
    q->qname_len = (uint16_t)n;
    q->qtype = MW_TYPE_A;
    q->qclass = 1;
}

static enum mw_filter_result qn(const struct mw_lists *l, const char *name, struct mw_verdict *v)
{
    struct mw_dns_question q;
    mkq(&q, name);
    memset(v, 0x5a, sizeof(*v));
    v->rule_text[0] = v->matched[0] = 0;
    enum mw_filter_result r = mw_filter_qname(l, fcfg, &q, v);
    if (r == MW_FILTER_BLOCK) { /* the rule text is formatted from q: do it while q lives */
        mw_verdict_rule_text(v);
        v->rule_wire = NULL;
    }
    return r;
}

static void expect_block(const struct mw_lists *l, const char *name, uint16_t list,
                         const char *rule_text, enum mw_action action)
{
    struct mw_verdict v;
    enum mw_filter_result r = qn(l, name, &v);
    if (r != MW_FILTER_BLOCK || v.rule.list != list || strcmp(v.rule_text, rule_text) != 0)
        fprintf(stderr, "%s: result %d list %u rule '%s'\n", name, (int)r, (unsigned)v.rule.list,
                v.rule_text);
    assert_int_equal(r, MW_FILTER_BLOCK);
    assert_int_equal(v.rule.list, list);
    assert_string_equal(v.rule_text, rule_text);
    assert_int_equal(v.action, action);
    assert_int_equal(v.where, MW_WHERE_QNAME);
    assert_false(v.rule.flags & MW_RULE_ALLOW);
}

static void expect_allow(const struct mw_lists *l, const char *name, uint16_t list)
{
    struct mw_verdict v;
    enum mw_filter_result r = qn(l, name, &v);
    if (r != MW_FILTER_ALLOW || v.rule.list != list)
        fprintf(stderr, "%s: result %d list %u\n", name, (int)r, (unsigned)v.rule.list);
    assert_int_equal(r, MW_FILTER_ALLOW);
    assert_int_equal(v.rule.list, list);
    assert_true(v.rule.flags & MW_RULE_ALLOW);
}

static void expect_pass(const struct mw_lists *l, const char *name)
{
    struct mw_verdict v;
    enum mw_filter_result r = qn(l, name, &v);
    if (r != MW_FILTER_PASS)
        fprintf(stderr, "%s: result %d list %u rule '%s'\n", name, (int)r, (unsigned)v.rule.list,
                v.rule_text);
    assert_int_equal(r, MW_FILTER_PASS);
}

struct resp {
    uint8_t b[4096];
    size_t n;
};

static void mkresp(struct resp *r, const char *qname, const char *const *rrs)
{
    ldns_pkt *p = ldns_pkt_new();
    assert_non_null(p);
    ldns_pkt_set_id(p, 0x4242);
    ldns_pkt_set_qr(p, true);
    char qs[300];
    snprintf(qs, sizeof(qs), "%s IN A", qname);
    ldns_rr *q = NULL;
    assert_int_equal(ldns_rr_new_question_frm_str(&q, qs, NULL, NULL), LDNS_STATUS_OK);
    assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q));
    for (size_t i = 0; rrs && rrs[i]; i++) {
        ldns_rr *rr = NULL;
        assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i], 300, NULL, NULL), LDNS_STATUS_OK);
        assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr));
    }
    uint8_t *wire = NULL;
    size_t n = 0;
    assert_int_equal(ldns_pkt2wire(&wire, p, &n), LDNS_STATUS_OK);
    assert_true(n <= sizeof(r->b));
    memcpy(r->b, wire, n);
    r->n = n;
    LDNS_FREE(wire);
    ldns_pkt_free(p);
}

static enum mw_filter_result ans(const struct mw_lists *l, const char *rr, struct mw_verdict *v)
{
    struct resp r;
    const char *const rrs[] = {rr, NULL};
    mkresp(&r, "host.example.", rrs);
    memset(v, 0x5a, sizeof(*v));
    v->rule_text[0] = v->matched[0] = 0;
    return mw_filter_answer(l, fcfg, r.b, r.n, v);
}

static int filter_setup(void **state)
{
    (void)state;
    char p[256];
    const struct {
        const char *name, *text;
    } fl[] = {{"fmining.txt", fmining_txt}, {"fallow.txt", fallow_txt}, {"fips.txt", fips_txt}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", tmpdir, fl[i].name);
        FILE *f = fopen(p, "w");
        if (!f || fputs(fl[i].text, f) < 0 || fclose(f) != 0)
            return -1;
    }
    char text[2048];
    expand(files_yaml, text, sizeof(text));
    struct mw_errlist e;
    mw_errlist_init(&e);
    fcfg = mw_config_parse(text, strlen(text), "<string>", &e);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "config: %s\n", e.msgs[i]);
    mw_errlist_deinit(&e);
    if (!fcfg)
        return -1;
    mw_errlist_init(&e);
    size_t warnings = 99;
    files = mw_lists_build(fcfg, 1, &e, &warnings);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "lists: %s\n", e.msgs[i]);
    mw_errlist_deinit(&e);
    if (!files || warnings != 0 || files->n_lists != F_COUNT)
        return -1;

    /* Redis lists. */
    static const char *const rmin[] = {"redis-only.example", "spec.example",         "tie2.example",
                                       "removed.example",    "deep.bad.cdn.example", NULL};
    static const char *const rallow[] = {"safe.pool.example", "cdn.example", "tie.example", NULL};
    static const char *const rips[] = {"198.18.0.0/15", "203.0.113.7", "192.0.2.128/25", NULL};
    struct mw_rlist_meta m = mkmeta("rmining", "mining", MW_LIST_DOMAIN, MW_ACTION_REFUSED);
    snprintf(m.description, sizeof(m.description), "redis mining feed");
    struct mw_rdelta *d = mw_rdelta_new();
    if (!d || mw_rdelta_apply(d, false, "removed.example") != 0 ||
        mw_rdelta_apply(d, true, "added.example") != 0)
        return -1;
    rl[R_MINING] = mkversion(&m, rmin, d);
    mw_rdelta_free(d);
    m = mkmeta("rallow", "allow", MW_LIST_DOMAIN, MW_ACTION_DEFAULT);
    rl[R_ALLOW] = mkversion(&m, rallow, NULL);
    m = mkmeta("rips", "c2", MW_LIST_IP, MW_ACTION_NXDOMAIN);
    d = mw_rdelta_new();
    if (!d || mw_rdelta_apply(d, false, "203.0.113.7") != 0)
        return -1;
    rl[R_IPS] = mkversion(&m, rips, d);
    mw_rdelta_free(d);
    return 0;
}

static int filter_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < R_COUNT; i++)
        mw_rlist_unref(rl[i]);
    mw_lists_unref(files);
    mw_config_free(fcfg);
    return 0;
}

static void test_derive(void **state)
{
    (void)state;
    assert_null(files->files);
    assert_int_equal(files->refs, 1);
    struct mw_lists *l = mw_lists_derive(files, rl, R_COUNT, 2, fcfg);
    assert_non_null(l);
    assert_ptr_equal(l->files, files);
    assert_int_equal(files->refs, 2);
    assert_true(l->generation == 2);
    assert_int_equal(l->n_lists, F_COUNT + R_COUNT);
    assert_int_equal(l->n_rlists, R_COUNT);
    assert_int_equal(l->rlist_base, F_COUNT);
    for (int i = 0; i < R_COUNT; i++) {
        assert_ptr_equal(l->rlists[i], rl[i]);
        assert_int_equal(rl[i]->refs, 2);
    }
    static const char *const names[] = {"fmining", "fallow", "fips", "rmining", "rallow", "rips"};
    for (int i = 0; i < F_COUNT + R_COUNT; i++) {
        assert_string_equal(l->lists[i].name, names[i]);
        assert_string_equal(l->lists[i].origin, i < F_COUNT ? "file" : "redis");
    }
    assert_string_equal(l->lists[F_COUNT + R_MINING].category, "mining");
    assert_int_equal(l->lists[F_COUNT + R_MINING].action, MW_ACTION_REFUSED);
    assert_int_equal(l->lists[F_COUNT + R_ALLOW].action, MW_ACTION_NODATA); /* sinkhole.action */
    assert_true(l->lists[F_COUNT + R_ALLOW].allow);
    assert_false(l->lists[F_COUNT + R_MINING].allow);
    assert_int_equal(l->lists[F_COUNT + R_IPS].type, MW_LIST_IP);
    assert_int_equal(l->lists[F_COUNT + R_MINING].entries, 5); /* -removed +added */
    assert_int_equal(l->lists[F_COUNT + R_ALLOW].entries, 3);
    assert_int_equal(l->lists[F_COUNT + R_IPS].entries, 2);
    assert_true(l->total_entries == files->total_entries + 10);
    /* The file generation is untouched. */
    assert_int_equal(files->n_lists, F_COUNT);
    assert_true(files->generation == 1);

    /* Deriving from a derived generation does not chain. */
    rl[R_ALLOW]->stale = true;
    struct mw_lists *l2 = mw_lists_derive(l, rl, 2, 3, fcfg);
    rl[R_ALLOW]->stale = false;
    assert_non_null(l2);
    assert_ptr_equal(l2->files, files);
    assert_int_equal(files->refs, 3);
    assert_int_equal(l2->n_lists, F_COUNT + 2);
    assert_int_equal(l2->rlist_base, F_COUNT);
    /* The origin stays "redis" (a metric label); staleness is its own flag. */
    assert_string_equal(l2->lists[F_COUNT + R_ALLOW].origin, "redis");
    assert_true(l2->lists[F_COUNT + R_ALLOW].stale);
    assert_false(l2->lists[F_COUNT + R_MINING].stale);
    assert_true(l2->generation == 3);

    /* No Redis lists at all. */
    struct mw_lists *l3 = mw_lists_derive(l2, NULL, 0, 4, fcfg);
    assert_non_null(l3);
    assert_ptr_equal(l3->files, files);
    assert_int_equal(l3->n_lists, F_COUNT);
    expect_pass(l3, "redis-only.example");
    expect_block(l3, "pool.example", F_MINING, "pool.example", MW_ACTION_NODATA);

    /* Release the middle one first: the rest still work. */
    mw_lists_unref(l);
    expect_allow(l2, "tie.example", F_COUNT + R_ALLOW);
    mw_lists_unref(l3);
    mw_lists_unref(l2);
    assert_int_equal(files->refs, 1);
    for (int i = 0; i < R_COUNT; i++)
        assert_int_equal(rl[i]->refs, 1);
}

static void test_filter_redis_qname(void **state)
{
    (void)state;
    struct mw_lists *l = mw_lists_derive(files, rl, R_COUNT, 2, fcfg);
    assert_non_null(l);
    const uint16_t rm = F_COUNT + R_MINING, ra = F_COUNT + R_ALLOW;

    /* Only in the Redis list: blocked by it, with its action; not by the file generation. */
    expect_block(l, "redis-only.example", rm, "redis-only.example", MW_ACTION_REFUSED);
    expect_block(l, "x.Redis-Only.example", rm, "redis-only.example", MW_ACTION_REFUSED);
    expect_pass(files, "redis-only.example");
    struct mw_verdict v;
    assert_int_equal(qn(l, "redis-only.example", &v), MW_FILTER_BLOCK);
    assert_string_equal(l->lists[v.rule.list].origin, "redis");
    assert_string_equal(l->lists[v.rule.list].name, "rmining");

    /* Added by the delta blocks; removed by it no longer does. */
    expect_block(l, "added.example", rm, "added.example", MW_ACTION_REFUSED);
    expect_block(l, "www.added.example", rm, "added.example", MW_ACTION_REFUSED);
    expect_pass(l, "removed.example");
    expect_pass(l, "www.removed.example");

    /* The most specific rule wins across file and Redis sets. */
    expect_block(l, "x.spec.example", rm, "spec.example", MW_ACTION_REFUSED);
    expect_allow(l, "ok.spec.example", F_ALLOW); /* file allow below Redis block */
    expect_allow(l, "a.ok.spec.example", F_ALLOW);
    expect_block(l, "pool.example", F_MINING, "pool.example", MW_ACTION_NODATA);
    expect_block(l, "x.pool.example", F_MINING, "pool.example", MW_ACTION_NODATA);
    expect_allow(l, "safe.pool.example", ra); /* Redis allow below file block */
    expect_allow(l, "a.safe.pool.example", ra);
    expect_allow(l, "cdn.example", ra);
    expect_block(l, "bad.cdn.example", F_MINING, "bad.cdn.example", MW_ACTION_NODATA);
    expect_block(l, "x.bad.cdn.example", F_MINING, "bad.cdn.example", MW_ACTION_NODATA);
    expect_block(l, "deep.bad.cdn.example", rm, "deep.bad.cdn.example", MW_ACTION_REFUSED);

    /* Equal specificity: allow beats block, whichever side it is on. */
    expect_allow(l, "tie.example", ra); /* Redis allow, file block */
    expect_allow(l, "x.tie.example", ra);
    expect_allow(l, "tie2.example", F_ALLOW); /* file allow, Redis block */
    expect_allow(l, "x.tie2.example", F_ALLOW);
    /* Without the Redis allow list the file block stands. */
    expect_block(files, "tie.example", F_MINING, "tie.example", MW_ACTION_NODATA);

    /* explain names the Redis allow rule. */
    struct mw_dns_question q;
    mkq(&q, "a.safe.pool.example");
    assert_int_equal(mw_filter_explain(l, &q, &v), MW_FILTER_ALLOW);
    assert_int_equal(v.rule.list, ra);
    assert_string_equal(v.rule_text, "safe.pool.example");

    expect_pass(l, "clean.example");
    expect_pass(l, "example");
    mw_lists_unref(l);
}

/* A new version replacing an old one in a new generation; the old generation still sees the
 * old version. */
static void test_filter_new_version(void **state)
{
    (void)state;
    struct mw_lists *g1 = mw_lists_derive(files, rl, R_COUNT, 2, fcfg);
    struct mw_rdelta *d = mw_rdelta_new();
    assert_int_equal(mw_rdelta_apply(d, false, "removed.example"), 0);
    assert_int_equal(mw_rdelta_apply(d, true, "added.example"), 0);
    assert_int_equal(mw_rdelta_apply(d, false, "redis-only.example"), 0);
    assert_int_equal(mw_rdelta_apply(d, true, "removed.example"), 0); /* back again */
    struct mw_rlist *v2 = mw_rlist_new(&rl[R_MINING]->meta, rl[R_MINING]->base, d);
    mw_rdelta_free(d);
    assert_non_null(v2);
    assert_int_equal(v2->entries, 5);
    struct mw_rlist *set[R_COUNT] = {v2, rl[R_ALLOW], rl[R_IPS]};
    struct mw_lists *g2 = mw_lists_derive(g1, set, R_COUNT, 3, fcfg);
    mw_rlist_unref(v2); /* g2 holds it */
    assert_non_null(g2);
    const uint16_t rm = F_COUNT + R_MINING;
    expect_pass(g2, "redis-only.example");
    expect_block(g2, "removed.example", rm, "removed.example", MW_ACTION_REFUSED);
    expect_block(g2, "added.example", rm, "added.example", MW_ACTION_REFUSED);
    expect_block(g1, "redis-only.example", rm, "redis-only.example", MW_ACTION_REFUSED);
    expect_pass(g1, "removed.example");
    /* Old generation released first, then the new one. */
    mw_lists_unref(g1);
    expect_block(g2, "added.example", rm, "added.example", MW_ACTION_REFUSED);
    mw_lists_unref(g2);
    assert_int_equal(files->refs, 1);
}

static void test_filter_redis_answer(void **state)
{
    (void)state;
    struct mw_lists *l = mw_lists_derive(files, rl, R_COUNT, 2, fcfg);
    assert_non_null(l);
    const uint16_t ri = F_COUNT + R_IPS;
    struct mw_verdict v;
    assert_int_equal(ans(l, "host.example. A 198.19.5.5", &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ANSWER_IP);
    assert_int_equal(v.rule.list, ri);
    assert_int_equal(v.action, MW_ACTION_NXDOMAIN);
    assert_string_equal(v.rule_text, "198.18.0.0/15");
    assert_string_equal(v.matched, "198.19.5.5");
    assert_string_equal(l->lists[v.rule.list].origin, "redis");

    /* Removed by the delta. */
    assert_int_equal(ans(l, "host.example. A 203.0.113.7", &v), MW_FILTER_PASS);
    /* Longest prefix across file (192.0.2.0/24) and Redis (192.0.2.128/25) sets. */
    assert_int_equal(ans(l, "host.example. A 192.0.2.200", &v), MW_FILTER_BLOCK);
    assert_int_equal(v.rule.list, ri);
    assert_string_equal(v.rule_text, "192.0.2.128/25");
    assert_int_equal(ans(l, "host.example. A 192.0.2.5", &v), MW_FILTER_BLOCK);
    assert_int_equal(v.rule.list, F_IPS);
    assert_int_equal(v.action, MW_ACTION_REFUSED);
    assert_string_equal(v.rule_text, "192.0.2.0/24");
    /* Clean, and not blocked by the file generation alone. */
    assert_int_equal(ans(l, "host.example. A 198.20.0.1", &v), MW_FILTER_PASS);
    assert_int_equal(ans(files, "host.example. A 198.19.5.5", &v), MW_FILTER_PASS);
    /* A CNAME target in the Redis domain list. */
    const char *const rrs[] = {"host.example. CNAME x.added.example.", NULL};
    struct resp r;
    mkresp(&r, "host.example.", rrs);
    assert_int_equal(mw_filter_answer(l, fcfg, r.b, r.n, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_CNAME);
    assert_int_equal(v.rule.list, F_COUNT + R_MINING);
    assert_string_equal(v.matched, "x.added.example");
    mw_lists_unref(l);
}

/* Generations released in every order: derived then file, and file then derived. */
static void test_derive_unref_order(void **state)
{
    (void)state;
    for (int order = 0; order < 2; order++) {
        struct mw_errlist e;
        mw_errlist_init(&e);
        struct mw_lists *f = mw_lists_build(fcfg, 10, &e, NULL);
        mw_errlist_deinit(&e);
        assert_non_null(f);
        struct mw_rlist_meta m = mkmeta("tmp", "mining", MW_LIST_DOMAIN, 0);
        static const char *const ents[] = {"tmp.example", NULL};
        struct mw_rlist *r = mkversion(&m, ents, NULL);
        struct mw_lists *d = mw_lists_derive(f, &r, 1, 11, fcfg);
        mw_rlist_unref(r);
        assert_non_null(d);
        expect_block(d, "tmp.example", F_COUNT, "tmp.example", MW_ACTION_NODATA);
        if (order == 0) {
            mw_lists_unref(d);
            mw_lists_unref(f);
        } else {
            mw_lists_unref(f);
            expect_block(d, "pool.example", F_MINING, "pool.example", MW_ACTION_NODATA);
            mw_lists_unref(d);
        }
    }
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mw-rlist-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_domain),
        cmocka_unit_test(test_base_ip),
        cmocka_unit_test(test_base_asn),
        cmocka_unit_test(test_base_duplicates),
        cmocka_unit_test(test_contains_nested_prefix),
        cmocka_unit_test(test_delta),
        cmocka_unit_test(test_delta_record),
        cmocka_unit_test(test_delta_last_wins),
        cmocka_unit_test(test_version_domain),
        cmocka_unit_test(test_version_ip),
        cmocka_unit_test(test_version_asn),
        cmocka_unit_test(test_version_large),
        cmocka_unit_test(test_version_shared_base),
        cmocka_unit_test(test_state_domain),
        cmocka_unit_test(test_state_meta_newlines),
        cmocka_unit_test(test_state_ip_asn),
        cmocka_unit_test(test_state_empty),
        cmocka_unit_test(test_state_bad),
        cmocka_unit_test_setup_teardown(test_derive, filter_setup, filter_teardown),
        cmocka_unit_test_setup_teardown(test_filter_redis_qname, filter_setup, filter_teardown),
        cmocka_unit_test_setup_teardown(test_filter_new_version, filter_setup, filter_teardown),
        cmocka_unit_test_setup_teardown(test_filter_redis_answer, filter_setup, filter_teardown),
        cmocka_unit_test_setup_teardown(test_derive_unref_order, filter_setup, filter_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
