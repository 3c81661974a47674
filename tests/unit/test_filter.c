/* Unit tests for filter.c and lists.c: a generation of lists is built from a config parsed
 * from YAML whose lists are files written into a temporary directory (plain, allow, RPZ,
 * pattern, IP, ASN and a monitor-mode RPZ list, and a disabled list whose file does not
 * exist), plus an ASN database written by tests/tools/mkmmdb.pl. Query names are checked for
 * subtree, exact and wildcard semantics, precedence between allow and block rules, patterns
 * and the action each rule resolves to; upstream answers are built with ldns (which
 * compresses names) and checked for blocked CNAME targets, answer addresses and AS numbers,
 * then broken and truncated. Ends with the build errors: missing files and databases, bad
 * lines, entries of the wrong type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/error.h"
#include "minewall/filter.h"
#include "minewall/ipset.h"
#include "minewall/lists.h"
#include "minewall/rebind.h"
#include "minewall/regdom.h"

#ifndef MW_TEST_SRCDIR
#define MW_TEST_SRCDIR "tests"
#endif

#define MKMMDB MW_TEST_SRCDIR "/tools/mkmmdb.pl"

static char tmpdir[64];

/* The fixture: one config and one generation shared by the read-only tests. */
static struct mw_config *cfg;
static struct mw_lists *lists;

/* List indexes in the generation (the disabled list takes none). */
enum { L_MINING, L_ALLOW, L_C2, L_PAT, L_ALLOWPAT, L_IPS, L_ASN, L_MON, L_COUNT };

static const char mining_txt[] = "# mining pools\n"    /* 1 */
                                 "pool.example\n"      /* 2 */
                                 "a.b.example\n"       /* 3 */
                                 "d.example\n"         /* 4 */
                                 "e.f.example\n"       /* 5 */
                                 "evil-cdn.example\n"; /* 6 */

static const char allow_txt[] = "b.example\n"         /* 1 */
                                "c.d.example\n"       /* 2 */
                                "e.f.example\n"       /* 3 */
                                "good-cdn.example\n"; /* 4 */

static const char c2_rpz[] = "$TTL 300\n"                               /* 1 */
                             "@ SOA ns.example. h.example. 1 2 3 4 5\n" /* 2 */
                             "exact.example CNAME .\n"                  /* 3 */
                             "*.wild.example CNAME .\n"                 /* 4 */
                             "nodata.example CNAME *.\n"                /* 5 */
                             "drop.example CNAME rpz-drop.\n"           /* 6 */
                             "pass.d.example CNAME rpz-passthru.\n"     /* 7 */
                             "sink.example A 192.0.2.55\n"              /* 8 */
                             "sink.example AAAA 2001:db8::55\n"         /* 9 */
                             "garden.example CNAME walled.garden.\n"    /* 10 */
                             "24.0.113.0.203.rpz-ip CNAME .\n";         /* 11 */

static const char pat_txt[] = "# globs\n"           /* 1 */
                              "xmr-*.example.net\n" /* 2 */
                              "*.coinhive-?.*\n";   /* 3 */

static const char allowpat_txt[] = "xmr-good.example.net\n"; /* 1 */

static const char ips_txt[] = "# bad hosts\n"        /* 1 */
                              "192.0.2.128/25\n"     /* 2 */
                              "2001:db8:bad::/48\n"; /* 3 */

static const char asn_txt[] = "AS64500\n" /* 1 */
                              "64501\n";  /* 2 */

static const char mon_rpz[] = "logged.example CNAME .\n"           /* 1 */
                              "logdrop.example CNAME rpz-drop.\n"; /* 2 */

/* ---- helpers ---- */

static void tpath(char *buf, size_t cap, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", tmpdir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static int write_file(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    if (!f)
        return -1;
    int wr = fputs(text, f);
    return (fclose(f) | (wr < 0 ? -1 : 0)) == 0 ? 0 : -1;
}

/* Replace every "@D@" in tmpl by the temporary directory. */
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

static struct mw_config *parse_cfg(const char *tmpl)
{
    char text[4096];
    expand(tmpl, text, sizeof(text));
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_config *c = mw_config_parse(text, strlen(text), "<string>", &e);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "config: %s\n", e.msgs[i]);
    mw_errlist_deinit(&e);
    return c;
}

static bool errs_have(const struct mw_errlist *e, const char *needle)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->msgs[i] && strstr(e->msgs[i], needle))
            return true;
    return false;
}

static void print_errs(const struct mw_errlist *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "  err[%zu]: %s\n", i, e->msgs[i]);
}

static void mkq(struct mw_dns_question *q, const char *name, uint16_t qtype)
{
    memset(q, 0, sizeof(*q));
    int n = mw_dname_from_text(name, q->qname, sizeof(q->qname));
    assert_true(n > 0);
    q->qname_len = (uint16_t)n;
    q->qtype = qtype;
    q->qclass = 1;
}

static enum mw_filter_result qn(const char *name, struct mw_verdict *v)
{
    /* The verdict's rule text is formatted from the question on demand, so the question
     * must outlive the call: format it here, as the block log does. */
    struct mw_dns_question q;
    mkq(&q, name, MW_TYPE_A);
    memset(v, 0x5a, sizeof(*v));
    v->rule_text[0] = v->matched[0] = 0;
    enum mw_filter_result r = mw_filter_qname(lists, cfg, &q, v);
    if (r == MW_FILTER_BLOCK) {
        if (v->rule_wire) /* a domain rule: not formatted on the hot path */
            assert_int_equal(v->rule_text[0], 0);
        mw_verdict_rule_text(v);
        v->rule_wire = NULL;
    }
    return r;
}

/* A block verdict on the query name with its action, rule text and source. */
static void expect_block(const char *name, enum mw_action action, enum mw_where where,
                         const char *rule_text, uint16_t list, uint32_t line)
{
    struct mw_verdict v;
    enum mw_filter_result r = qn(name, &v);
    if (r != MW_FILTER_BLOCK)
        fprintf(stderr, "%s: result %d\n", name, (int)r);
    assert_int_equal(r, MW_FILTER_BLOCK);
    if (v.action != action || strcmp(v.rule_text, rule_text) != 0 || v.rule.list != list ||
        v.rule.line != line)
        fprintf(stderr, "%s: action %d rule '%s' list %u line %u\n", name, (int)v.action,
                v.rule_text, (unsigned)v.rule.list, (unsigned)v.rule.line);
    assert_int_equal(v.action, action);
    assert_int_equal(v.where, where);
    assert_string_equal(v.rule_text, rule_text);
    assert_int_equal(v.rule.list, list);
    assert_int_equal(v.rule.line, line);
    assert_string_equal(v.matched, "");
    assert_false(v.rule.flags & MW_RULE_ALLOW);
}

static void expect_allow(const char *name, uint16_t list, uint32_t line)
{
    struct mw_verdict v;
    assert_int_equal(qn(name, &v), MW_FILTER_ALLOW);
    assert_true(v.rule.flags & MW_RULE_ALLOW);
    assert_int_equal(v.rule.list, list);
    assert_int_equal(v.rule.line, line);
}

static void expect_pass(const char *name)
{
    struct mw_verdict v;
    enum mw_filter_result r = qn(name, &v);
    if (r != MW_FILTER_PASS)
        fprintf(stderr, "%s: result %d rule '%s'\n", name, (int)r, v.rule_text);
    assert_int_equal(r, MW_FILTER_PASS);
}

/* ---- fixture ---- */

static const char fixture_yaml[] =
    "sinkhole: {action: nodata, ipv4: 10.1.2.3, ttl: 42}\n"
    "geoip: {asn: @D@/asn.mmdb}\n"
    "lists:\n"
    "  - {name: mining, category: mining, path: @D@/mining.txt}\n"
    "  - {name: off, category: mining, path: @D@/does-not-exist.txt, enabled: false}\n"
    "  - {name: allow, category: allow, path: @D@/allow.txt}\n"
    "  - {name: c2, category: c2, path: @D@/c2.rpz, format: rpz, action: refused}\n"
    "  - {name: pat, category: mining, path: @D@/pat.txt, type: pattern, action: drop}\n"
    "  - {name: allowpat, category: allow, path: @D@/allowpat.txt, type: pattern}\n"
    "  - {name: ips, category: c2, path: @D@/ips.txt, type: ip, action: nxdomain}\n"
    "  - {name: asn, category: c2, path: @D@/asn.txt, type: asn}\n"
    "  - {name: mon, category: test, path: @D@/mon.rpz, format: rpz, action: log}\n";

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mw-filter-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return -1;
    }
    char db[128];
    snprintf(db, sizeof(db), "%s/asn.mmdb", tmpdir);
    char *argv[] = {"perl",
                    MKMMDB,
                    db,
                    "asn",
                    "198.51.100.0/24=64500:Evil",
                    "100.64.0.0/24=64999:Fine",
                    "2001:db8:64::/48=64501:Evil Six",
                    NULL};
    if (mw_test_run(argv) != 0) {
        fprintf(stderr, "test_filter: FATAL: %s failed (needs libmaxmind-db-writer-perl)\n",
                MKMMDB);
        return -1;
    }
    if (write_file("mining.txt", mining_txt) || write_file("allow.txt", allow_txt) ||
        write_file("c2.rpz", c2_rpz) || write_file("pat.txt", pat_txt) ||
        write_file("allowpat.txt", allowpat_txt) || write_file("ips.txt", ips_txt) ||
        write_file("asn.txt", asn_txt) || write_file("mon.rpz", mon_rpz)) {
        fprintf(stderr, "test_filter: FATAL: cannot write list files\n");
        return -1;
    }
    cfg = parse_cfg(fixture_yaml);
    if (!cfg)
        return -1;
    struct mw_errlist e;
    mw_errlist_init(&e);
    size_t warnings = 99;
    lists = mw_lists_build(cfg, 7, &e, &warnings);
    print_errs(&e);
    size_t nerr = e.n;
    mw_errlist_deinit(&e);
    if (!lists || warnings != 0 || nerr != 0) {
        fprintf(stderr, "test_filter: FATAL: fixture lists: %p, %zu warnings, %zu errors\n",
                (void *)lists, warnings, nerr);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    mw_lists_unref(lists);
    mw_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the generation ---- */

static void test_generation(void **state)
{
    (void)state;
    assert_int_equal(lists->generation, 7);
    assert_int_equal(lists->n_lists, L_COUNT);
    static const char *const names[L_COUNT] = {"mining",   "allow", "c2",  "pat",
                                               "allowpat", "ips",   "asn", "mon"};
    for (int i = 0; i < L_COUNT; i++) {
        assert_string_equal(lists->lists[i].name, names[i]);
        assert_string_equal(lists->lists[i].origin, "file");
        assert_int_equal(lists->lists[i].bad, 0);
        assert_true(strstr(lists->lists[i].path, tmpdir) == lists->lists[i].path);
    }
    /* Actions resolved: unset -> sinkhole.action (nodata here). */
    assert_int_equal(lists->lists[L_MINING].action, MW_ACTION_NODATA);
    assert_int_equal(lists->lists[L_ASN].action, MW_ACTION_NODATA);
    assert_int_equal(lists->lists[L_C2].action, MW_ACTION_REFUSED);
    assert_int_equal(lists->lists[L_PAT].action, MW_ACTION_DROP);
    assert_int_equal(lists->lists[L_IPS].action, MW_ACTION_NXDOMAIN);
    assert_int_equal(lists->lists[L_MON].action, MW_ACTION_LOG);
    assert_true(lists->lists[L_ALLOW].allow);
    assert_true(lists->lists[L_ALLOWPAT].allow);
    assert_false(lists->lists[L_MINING].allow);
    assert_int_equal(lists->lists[L_PAT].type, MW_LIST_PATTERN);
    assert_int_equal(lists->lists[L_IPS].type, MW_LIST_IP);
    assert_int_equal(lists->lists[L_ASN].type, MW_LIST_ASN);
    assert_string_equal(lists->lists[L_C2].category, "c2");

    /* Entries per list. */
    assert_int_equal(lists->lists[L_MINING].entries, 5);
    assert_int_equal(lists->lists[L_ALLOW].entries, 4);
    assert_int_equal(lists->lists[L_C2].entries, 8); /* A and AAAA of sink merge */
    assert_int_equal(lists->lists[L_PAT].entries, 2);
    assert_int_equal(lists->lists[L_ALLOWPAT].entries, 1);
    assert_int_equal(lists->lists[L_IPS].entries, 2);
    assert_int_equal(lists->lists[L_ASN].entries, 2);
    assert_int_equal(lists->lists[L_MON].entries, 2);
    assert_int_equal(lists->total_entries, 5 + 4 + 8 + 2 + 1 + 2 + 2 + 2);
    assert_non_null(lists->geo);

    /* The disabled list's file does not exist; its name appears nowhere. */
    for (int i = 0; i < L_COUNT; i++)
        assert_string_not_equal(lists->lists[i].name, "off");

    /* Refcounting. */
    assert_ptr_equal(mw_lists_ref(lists), lists);
    assert_int_equal(lists->refs, 2);
    mw_lists_unref(lists);
    assert_int_equal(lists->refs, 1);
    mw_lists_unref(NULL);
}

static void test_lookups(void **state)
{
    (void)state;
    const struct mw_asn_rule *a = mw_lists_asn(lists, 64500);
    assert_non_null(a);
    assert_true(a->asn == 64500);
    assert_int_equal(a->rule.list, L_ASN);
    assert_int_equal(a->rule.line, 1);
    a = mw_lists_asn(lists, 64501);
    assert_non_null(a);
    assert_int_equal(a->rule.line, 2);
    assert_null(mw_lists_asn(lists, 64499));
    assert_null(mw_lists_asn(lists, 0));
    assert_null(mw_lists_asn(lists, UINT32_MAX));

    struct mw_rule r = {.list = L_C2, .line = 8};
    const struct mw_local_data *d = mw_lists_local_data(lists, &r);
    assert_non_null(d);
    assert_int_equal(d->list, L_C2);
    assert_int_equal(d->line, 8);
    assert_int_equal(d->n4, 1);
    assert_int_equal(d->n6, 1);
    assert_memory_equal(d->v4, "\xc0\x00\x02\x37", 4);
    assert_memory_equal(d->v6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x55", 16);
    r.line = 9;
    assert_null(mw_lists_local_data(lists, &r));
    r.line = 3;
    assert_null(mw_lists_local_data(lists, &r));
    r = (struct mw_rule){.list = L_MINING, .line = 8};
    assert_null(mw_lists_local_data(lists, &r));
}

/* ---- query names ---- */

static void test_qname_subtree(void **state)
{
    (void)state;
    expect_block("pool.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "pool.example", L_MINING, 2);
    expect_block("x.pool.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "pool.example", L_MINING, 2);
    expect_block("a.b.c.pool.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "pool.example", L_MINING,
                 2);
    /* Case is folded by mw_dname_from_text. */
    expect_block("X.Pool.EXAMPLE.", MW_ACTION_NODATA, MW_WHERE_QNAME, "pool.example", L_MINING, 2);
    /* Label boundaries. */
    expect_pass("xpool.example");
    expect_pass("pool.example.net");
    expect_pass("poolexample");
    expect_pass("example");
    expect_pass(".");
    expect_pass("ool.example");
}

/* A "." or NUL inside a label: a different name on the wire, but the same name to software
 * that goes through text, so its text reading is checked too. */
static void test_qname_text_reading(void **state)
{
    (void)state;
    expect_block("x\\.pool.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "pool.example", L_MINING, 2);
    expect_block("pool\\.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "pool.example", L_MINING, 2);
    expect_block("pool.example\\000.x.test", MW_ACTION_NODATA, MW_WHERE_QNAME, "pool.example",
                 L_MINING, 2);
    expect_block("a\\.b.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "a.b.example", L_MINING, 3);
    /* The text reading is "pool" (a C string ends at the NUL): not listed. */
    expect_pass("pool\\000x.example");
    /* An allow rule matching only the text reading does not allow the name... */
    expect_pass("c\\.d.example");
    /* ...and names without such octets are read once. */
    expect_pass("pool-example.net");
}

static void test_qname_rpz_exact_wildcard(void **state)
{
    (void)state;
    expect_block("exact.example", MW_ACTION_NXDOMAIN, MW_WHERE_QNAME, "exact.example", L_C2, 3);
    expect_pass("www.exact.example");
    expect_pass("a.b.exact.example");

    expect_pass("wild.example");
    expect_block("x.wild.example", MW_ACTION_NXDOMAIN, MW_WHERE_QNAME, "*.wild.example", L_C2, 4);
    expect_block("a.b.wild.example", MW_ACTION_NXDOMAIN, MW_WHERE_QNAME, "*.wild.example", L_C2, 4);
    expect_pass("xwild.example");
}

static void test_qname_precedence(void **state)
{
    (void)state;
    /* Block a.b.example is more specific than allow b.example. */
    expect_block("a.b.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "a.b.example", L_MINING, 3);
    expect_block("x.a.b.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "a.b.example", L_MINING, 3);
    expect_allow("b.example", L_ALLOW, 1);
    expect_allow("c.b.example", L_ALLOW, 1);

    /* The reverse: allow c.d.example inside block d.example. */
    expect_block("d.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "d.example", L_MINING, 4);
    expect_block("e.d.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "d.example", L_MINING, 4);
    expect_allow("c.d.example", L_ALLOW, 2);
    expect_allow("x.c.d.example", L_ALLOW, 2);

    /* Equal specificity: allow beats block whatever the list order. */
    expect_allow("e.f.example", L_ALLOW, 3);
    expect_allow("z.e.f.example", L_ALLOW, 3);
    expect_pass("f.example");

    /* RPZ passthru is an allow rule, more specific than block d.example. */
    expect_allow("pass.d.example", L_C2, 7);
    /* ... and exact: below it d.example blocks again. */
    expect_block("x.pass.d.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "d.example", L_MINING, 4);

    /* mw_filter_explain also names the allow rule. */
    struct mw_dns_question q;
    struct mw_verdict v;
    mkq(&q, "x.c.d.example", MW_TYPE_AAAA);
    assert_int_equal(mw_filter_explain(lists, &q, &v), MW_FILTER_ALLOW);
    assert_string_equal(v.rule_text, "c.d.example");
    assert_int_equal(v.rule.list, L_ALLOW);
    mkq(&q, "x.wild.example", MW_TYPE_A);
    assert_int_equal(mw_filter_explain(lists, &q, &v), MW_FILTER_BLOCK);
    assert_string_equal(v.rule_text, "*.wild.example");
    mkq(&q, "clean.example", MW_TYPE_A);
    assert_int_equal(mw_filter_explain(lists, &q, &v), MW_FILTER_PASS);
}

static void test_qname_patterns(void **state)
{
    (void)state;
    expect_block("xmr-eu1.example.net", MW_ACTION_DROP, MW_WHERE_PATTERN, "xmr-*.example.net",
                 L_PAT, 2);
    expect_block("a.coinhive-1.org", MW_ACTION_DROP, MW_WHERE_PATTERN, "*.coinhive-?.*", L_PAT, 3);
    expect_pass("a.coinhive-12.org.x"); /* '?' is one character; '*' needs the dots */
    expect_pass("xmr.example.net");
    /* An allow pattern beats a block pattern. */
    expect_allow("xmr-good.example.net", L_ALLOWPAT, 1);
    struct mw_verdict v;
    assert_int_equal(qn("xmr-good.example.net", &v), MW_FILTER_ALLOW);
    assert_string_equal(v.rule_text, "xmr-good.example.net");
    /* A domain rule (allow included) is checked before patterns. */
    assert_int_equal(qn("xmr-a.example.net", &v), MW_FILTER_BLOCK);
}

static void test_qname_actions(void **state)
{
    (void)state;
    /* RPZ actions override the list's (refused). */
    expect_block("nodata.example", MW_ACTION_NODATA, MW_WHERE_QNAME, "nodata.example", L_C2, 5);
    expect_block("drop.example", MW_ACTION_DROP, MW_WHERE_QNAME, "drop.example", L_C2, 6);
    /* An RPZ CNAME to a real target is not rewritten: the list's action applies. */
    expect_block("garden.example", MW_ACTION_REFUSED, MW_WHERE_QNAME, "garden.example", L_C2, 10);

    /* Local data: sinkhole with the zone's addresses. */
    struct mw_verdict v;
    assert_int_equal(qn("sink.example", &v), MW_FILTER_BLOCK);
    assert_int_equal(v.action, MW_ACTION_SINKHOLE);
    assert_int_equal(v.rule.list, L_C2);
    assert_int_equal(v.rule.line, 8);
    assert_string_equal(v.rule_text, "sink.example");
    assert_non_null(v.sink4);
    assert_non_null(v.sink6);
    assert_memory_equal(v.sink4, "\xc0\x00\x02\x37", 4);
    assert_memory_equal(v.sink6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x55", 16);

    /* Other verdicts clear the sink pointers. */
    assert_int_equal(qn("pool.example", &v), MW_FILTER_BLOCK);
    assert_null(v.sink4);
    assert_null(v.sink6);

    /* Monitor mode: LOG whatever the RPZ rule says. */
    expect_block("logged.example", MW_ACTION_LOG, MW_WHERE_QNAME, "logged.example", L_MON, 1);
    expect_block("logdrop.example", MW_ACTION_LOG, MW_WHERE_QNAME, "logdrop.example", L_MON, 2);
    assert_int_equal(qn("logdrop.example", &v), MW_FILTER_BLOCK);
    assert_null(v.sink4);

    /* No lists: everything passes. */
    struct mw_dns_question q;
    mkq(&q, "pool.example", MW_TYPE_A);
    assert_int_equal(mw_filter_qname(NULL, cfg, &q, &v), MW_FILTER_PASS);
    assert_int_equal(mw_filter_answer(NULL, cfg, (const uint8_t *)"", 0, &v), MW_FILTER_PASS);
}

static void test_where_names(void **state)
{
    (void)state;
    assert_string_equal(mw_where_name(MW_WHERE_QNAME), "qname");
    assert_string_equal(mw_where_name(MW_WHERE_CNAME), "cname");
    assert_string_equal(mw_where_name(MW_WHERE_ANSWER_IP), "answer-ip");
    assert_string_equal(mw_where_name(MW_WHERE_ASN), "asn");
    assert_string_equal(mw_where_name(MW_WHERE_PATTERN), "pattern");
}

/* ---- answers ---- */

struct resp {
    uint8_t b[4096];
    size_t n;
};

/* A response to qname/qtype with answer records in zone-file syntax (NULL-terminated). */
static void mkresp(struct resp *r, const char *qname, const char *qtype, const char *const *rrs)
{
    ldns_pkt *p = ldns_pkt_new();
    assert_non_null(p);
    ldns_pkt_set_id(p, 0x4242);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_rd(p, true);
    ldns_pkt_set_ra(p, true);
    char qs[300];
    snprintf(qs, sizeof(qs), "%s IN %s", qname, qtype);
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

/* As mkresp, with records in the authority (ns) and additional (ar) sections too. */
static void mkresp3(struct resp *r, const char *qname, const char *const *an, const char *const *ns,
                    const char *const *ar)
{
    ldns_pkt *p = ldns_pkt_new();
    assert_non_null(p);
    ldns_pkt_set_id(p, 0x4243);
    ldns_pkt_set_qr(p, true);
    char qs[300];
    snprintf(qs, sizeof(qs), "%s IN A", qname);
    ldns_rr *q = NULL;
    assert_int_equal(ldns_rr_new_question_frm_str(&q, qs, NULL, NULL), LDNS_STATUS_OK);
    assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q));
    const char *const *secs[3] = {an, ns, ar};
    const ldns_pkt_section which[3] = {LDNS_SECTION_ANSWER, LDNS_SECTION_AUTHORITY,
                                       LDNS_SECTION_ADDITIONAL};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; secs[k] && secs[k][i]; i++) {
            ldns_rr *rr = NULL;
            ldns_status st = ldns_rr_new_frm_str(&rr, secs[k][i], 300, NULL, NULL);
            if (st != LDNS_STATUS_OK)
                fprintf(stderr, "%s: %s\n", secs[k][i], ldns_get_errorstr_by_id(st));
            assert_int_equal(st, LDNS_STATUS_OK);
            assert_true(ldns_pkt_push_rr(p, which[k], rr));
        }
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

static enum mw_filter_result ans(const struct resp *r, struct mw_verdict *v)
{
    memset(v, 0x5a, sizeof(*v));
    v->rule_text[0] = v->matched[0] = 0;
    return mw_filter_answer(lists, cfg, r->b, r->n, v);
}

static void test_answer_cname(void **state)
{
    (void)state;
    struct resp r;
    struct mw_verdict v;
    const char *const rrs[] = {"www.victim.example. CNAME edge.victim.example.",
                               "edge.victim.example. CNAME X.Evil-CDN.example.",
                               "x.evil-cdn.example. A 192.0.2.1", NULL};
    mkresp(&r, "www.victim.example.", "A", rrs);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_CNAME);
    assert_int_equal(v.action, MW_ACTION_NODATA);
    assert_string_equal(v.rule_text, "evil-cdn.example");
    assert_string_equal(v.matched, "x.evil-cdn.example");
    assert_int_equal(v.rule.list, L_MINING);
    assert_int_equal(v.rule.line, 6);

    /* A wildcard RPZ rule and a pattern on a target; where stays "cname". */
    const char *const rrs2[] = {"www.victim.example. CNAME a.wild.example.", NULL};
    mkresp(&r, "www.victim.example.", "A", rrs2);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_CNAME);
    assert_int_equal(v.action, MW_ACTION_NXDOMAIN);
    assert_string_equal(v.rule_text, "*.wild.example");
    assert_string_equal(v.matched, "a.wild.example");
    const char *const rrs3[] = {"www.victim.example. CNAME xmr-us.example.net.", NULL};
    mkresp(&r, "www.victim.example.", "A", rrs3);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_CNAME);
    assert_int_equal(v.action, MW_ACTION_DROP);
    assert_string_equal(v.rule_text, "xmr-*.example.net");
    assert_string_equal(v.matched, "xmr-us.example.net");

    /* DNAME targets are checked too. */
    const char *const rrs4[] = {"victim.example. DNAME pool.example.", NULL};
    mkresp(&r, "www.victim.example.", "A", rrs4);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_CNAME);
    assert_string_equal(v.matched, "pool.example");

    /* An allowed target alone passes. */
    const char *const rrs5[] = {"www.victim.example. CNAME x.good-cdn.example.",
                                "x.good-cdn.example. A 192.0.2.1", NULL};
    mkresp(&r, "www.victim.example.", "A", rrs5);
    assert_int_equal(ans(&r, &v), MW_FILTER_PASS);
}

/* Records outside the CNAME chain, in any section, at any depth. */
static void test_answer_sections(void **state)
{
    (void)state;
    struct resp r;
    struct mw_verdict v;
    memset(&v, 0, sizeof(v));
    /* A chain of 40 CNAMEs ending at a listed name: no depth limit. */
    static char chain[41][128];
    const char *rrs[42];
    for (int i = 0; i < 40; i++) {
        snprintf(chain[i], sizeof(chain[i]), "c%d.victim.test. CNAME c%d.victim.test.", i, i + 1);
        rrs[i] = chain[i];
    }
    snprintf(chain[39], sizeof(chain[39]), "c39.victim.test. CNAME x.pool.example.");
    snprintf(chain[40], sizeof(chain[40]), "x.pool.example. A 192.0.2.1");
    rrs[40] = chain[40];
    rrs[41] = NULL;
    mkresp3(&r, "c0.victim.test.", rrs, NULL, NULL);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_CNAME);
    assert_string_equal(v.matched, "x.pool.example");

    /* A record for a listed name beside the real answer (out of the chain). */
    const char *const an[] = {"host.test. A 192.0.2.1", "x.pool.example. A 192.0.2.2", NULL};
    mkresp3(&r, "host.test.", an, NULL, NULL);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ANSWER_NAME);
    assert_string_equal(v.matched, "x.pool.example");
    assert_string_equal(v.rule_text, "pool.example");
    assert_string_equal(mw_where_name(MW_WHERE_ANSWER_NAME), "answer-name");

    /* The same in the additional section; an address of a listed range there. */
    const char *const ok[] = {"host.test. A 192.0.2.1", NULL};
    const char *const ar[] = {"pool.example. A 192.0.2.2", NULL};
    mkresp3(&r, "host.test.", ok, NULL, ar);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ANSWER_NAME);
    const char *const ar_ip[] = {"ns.host.test. A 192.0.2.200", NULL};
    mkresp3(&r, "host.test.", ok, NULL, ar_ip);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ANSWER_IP);

    /* A CNAME to a listed name in the authority section. */
    const char *const ns_cn[] = {"host.test. CNAME pool.example.", NULL};
    mkresp3(&r, "host.test.", ok, ns_cn, NULL);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_CNAME);

    /* Authority owners are zones: an RPZ exact rule on a parent keeps its meaning. */
    const char *const soa[] = {"exact.example. SOA ns.x. h.x. 1 2 3 4 5", NULL};
    mkresp3(&r, "www.exact.example.", NULL, soa, NULL);
    assert_int_equal(ans(&r, &v), MW_FILTER_PASS);

    /* A CNAME target read as text ("pool\.example" is one label). */
    const char *const esc[] = {"host.test. CNAME pool\\.example.", NULL};
    mkresp3(&r, "host.test.", esc, NULL, NULL);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_CNAME);

    /* SVCB/HTTPS: the target name and the address hints. */
    const char *const h1[] = {"svc.test. HTTPS 1 x.pool.example. alpn=h2", NULL};
    mkresp3(&r, "svc.test.", h1, NULL, NULL);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ANSWER_NAME);
    const char *const h2[] = {"svc.test. HTTPS 1 . alpn=h2 ipv4hint=192.0.2.1,192.0.2.200", NULL};
    mkresp3(&r, "svc.test.", h2, NULL, NULL);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ANSWER_IP);
    assert_string_equal(v.matched, "192.0.2.200");
    const char *const h3[] = {"svc.test. SVCB 1 svc2.test. ipv6hint=2001:db8:bad::9", NULL};
    mkresp3(&r, "svc.test.", h3, NULL, NULL);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_string_equal(v.matched, "2001:db8:bad::9");
    const char *const h4[] = {"svc.test. HTTPS 1 . alpn=h2 ipv4hint=192.0.2.1", NULL};
    mkresp3(&r, "svc.test.", h4, NULL, NULL);
    assert_int_equal(ans(&r, &v), MW_FILTER_PASS);
}

/* A response checked as a whole: the question under the lists in force, then the records. */
static void test_response(void **state)
{
    (void)state;
    struct resp r;
    struct mw_verdict v;
    struct mw_dns_question q;
    const char *const clean[] = {"host.test. A 192.0.2.1", NULL};
    const char *const bad[] = {"host.test. CNAME pool.example.", NULL};
    /* A listed question decides, whatever the records. */
    mkq(&q, "x.pool.example", MW_TYPE_A);
    mkresp3(&r, "x.pool.example.", clean, NULL, NULL);
    assert_int_equal(mw_filter_response(lists, cfg, &q, r.b, r.n, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_QNAME);
    assert_string_equal(mw_verdict_rule_text(&v), "pool.example");
    /* An allowed question ends the check. */
    mkq(&q, "c.d.example", MW_TYPE_A);
    mkresp3(&r, "c.d.example.", bad, NULL, NULL);
    assert_int_equal(mw_filter_response(lists, cfg, &q, r.b, r.n, &v), MW_FILTER_ALLOW);
    /* A monitored question: the records still decide. */
    mkq(&q, "logged.example", MW_TYPE_A);
    mkresp3(&r, "logged.example.", bad, NULL, NULL);
    assert_int_equal(mw_filter_response(lists, cfg, &q, r.b, r.n, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_CNAME);
    mkresp3(&r, "logged.example.", clean, NULL, NULL);
    assert_int_equal(mw_filter_response(lists, cfg, &q, r.b, r.n, &v), MW_FILTER_PASS);
    /* An unlisted question with a listed target. */
    mkq(&q, "host.test", MW_TYPE_A);
    mkresp3(&r, "host.test.", bad, NULL, NULL);
    assert_int_equal(mw_filter_response(lists, cfg, &q, r.b, r.n, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_CNAME);
}

static void test_answer_ip(void **state)
{
    (void)state;
    struct resp r;
    struct mw_verdict v;
    const char *const rrs[] = {"host.example. A 192.0.2.1", "host.example. A 192.0.2.200", NULL};
    mkresp(&r, "host.example.", "A", rrs);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ANSWER_IP);
    assert_int_equal(v.action, MW_ACTION_NXDOMAIN);
    assert_string_equal(v.rule_text, "192.0.2.128/25");
    assert_string_equal(v.matched, "192.0.2.200");
    assert_int_equal(v.rule.list, L_IPS);
    assert_int_equal(v.rule.line, 2);

    const char *const rrs6[] = {"host.example. AAAA 2001:db8::1",
                                "host.example. AAAA 2001:db8:bad:1::7", NULL};
    mkresp(&r, "host.example.", "AAAA", rrs6);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ANSWER_IP);
    assert_string_equal(v.rule_text, "2001:db8:bad::/48");
    assert_string_equal(v.matched, "2001:db8:bad:1::7");
    assert_int_equal(v.rule.line, 3);

    /* An RPZ rpz-ip trigger (in a domain list) with its RPZ action. */
    const char *const rrsz[] = {"host.example. A 203.0.113.9", NULL};
    mkresp(&r, "host.example.", "A", rrsz);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ANSWER_IP);
    assert_int_equal(v.action, MW_ACTION_NXDOMAIN);
    assert_string_equal(v.rule_text, "203.0.113.0/24");
    assert_int_equal(v.rule.list, L_C2);
    assert_int_equal(v.rule.line, 11);

    /* Clean answers. */
    const char *const clean[] = {
        "host.example. A 192.0.2.127",        "host.example. A 100.64.0.1",
        "host.example. AAAA 2001:db8:bae::1", "host.example. TXT \"192.0.2.200\"",
        "host.example. MX 10 pool.example.",  NULL};
    mkresp(&r, "host.example.", "A", clean);
    assert_int_equal(ans(&r, &v), MW_FILTER_PASS);
    mkresp(&r, "host.example.", "A", NULL);
    assert_int_equal(ans(&r, &v), MW_FILTER_PASS);

    /* An allowed CNAME target does not hide a later blocked address. */
    const char *const mixed[] = {"www.victim.example. CNAME x.good-cdn.example.",
                                 "x.good-cdn.example. A 192.0.2.130", NULL};
    mkresp(&r, "www.victim.example.", "A", mixed);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ANSWER_IP);
    assert_string_equal(v.matched, "192.0.2.130");
}

static void test_answer_asn(void **state)
{
    (void)state;
    struct resp r;
    struct mw_verdict v;
    const char *const rrs[] = {"host.example. A 100.64.0.9", "host.example. A 198.51.100.7", NULL};
    mkresp(&r, "host.example.", "A", rrs);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ASN);
    assert_int_equal(v.action, MW_ACTION_NODATA);
    assert_string_equal(v.rule_text, "AS64500");
    assert_string_equal(v.matched, "198.51.100.7");
    assert_int_equal(v.rule.list, L_ASN);
    assert_int_equal(v.rule.line, 1);

    const char *const rrs6[] = {"host.example. AAAA 2001:db8:64::1", NULL};
    mkresp(&r, "host.example.", "AAAA", rrs6);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.where, MW_WHERE_ASN);
    assert_string_equal(v.rule_text, "AS64501");
    assert_string_equal(v.matched, "2001:db8:64::1");
    assert_int_equal(v.rule.line, 2);

    /* AS64999 is in the database but not listed; 192.0.2.1 is in neither. */
    const char *const fine[] = {"host.example. A 100.64.0.200", "host.example. A 192.0.2.1", NULL};
    mkresp(&r, "host.example.", "A", fine);
    assert_int_equal(ans(&r, &v), MW_FILTER_PASS);
}

static void test_answer_broken(void **state)
{
    (void)state;
    struct resp r;
    struct mw_verdict v;
    /* The blocking record is the last octets of the message, so any prefix must pass. */
    const char *const rrs[] = {"www.victim.example. CNAME edge.victim.example.",
                               "edge.victim.example. CNAME x.good-cdn.example.",
                               "x.good-cdn.example. A 192.0.2.131", NULL};
    mkresp(&r, "www.victim.example.", "A", rrs);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    for (size_t len = 0; len < r.n; len++)
        assert_int_equal(mw_filter_answer(lists, cfg, r.b, len, &v), MW_FILTER_PASS);

    /* Counts larger than the records present. */
    struct resp m = r;
    mw_dns_put16(m.b + 6, 0xffff);
    assert_int_equal(ans(&m, &v), MW_FILTER_BLOCK); /* the records before the end still count */
    m = r;
    mw_dns_put16(m.b + 4, 0xffff);
    assert_int_equal(ans(&m, &v), MW_FILTER_PASS);

    /* A CNAME whose target is a compression loop or points forward. */
    const char *const cn[] = {"www.victim.test. CNAME pool.example.", NULL};
    mkresp(&r, "www.victim.test.", "A", cn);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    m = r;
    size_t rd = m.n - 14; /* rdata: \4pool\7example\0 = 14 octets, uncompressed */
    assert_memory_equal(m.b + rd, "\4pool\7example", 14);
    m.b[rd] = 0xc0;
    m.b[rd + 1] = (uint8_t)rd; /* points at itself */
    assert_int_equal(ans(&m, &v), MW_FILTER_PASS);
    m.b[rd + 1] = (uint8_t)(rd + 4); /* forwards */
    assert_int_equal(ans(&m, &v), MW_FILTER_PASS);

    /* A and AAAA with the wrong rdata length are not read as addresses. */
    const char *const a[] = {"host.example. A 192.0.2.200", NULL};
    mkresp(&r, "host.example.", "A", a);
    assert_int_equal(ans(&r, &v), MW_FILTER_BLOCK);
    m = r;
    mw_dns_put16(m.b + m.n - 6, 3);
    m.n--;
    assert_int_equal(ans(&m, &v), MW_FILTER_PASS);
    mw_dns_put16(m.b + m.n - 5, 28); /* type AAAA */
    assert_int_equal(ans(&m, &v), MW_FILTER_PASS);

    /* Garbage. */
    uint8_t junk[600];
    memset(junk, 0xff, sizeof(junk));
    assert_int_equal(mw_filter_answer(lists, cfg, junk, sizeof(junk), &v), MW_FILTER_PASS);
    memset(junk, 0, sizeof(junk));
    assert_int_equal(mw_filter_answer(lists, cfg, junk, sizeof(junk), &v), MW_FILTER_PASS);
    mw_dns_put16(junk + 6, 50); /* 50 answers of root owner, type 0, rdlength 0 */
    assert_int_equal(mw_filter_answer(lists, cfg, junk, sizeof(junk), &v), MW_FILTER_PASS);
    assert_int_equal(mw_filter_answer(lists, cfg, junk, 11, &v), MW_FILTER_PASS);
    uint32_t seed = 12345;
    for (int i = 0; i < 20000; i++) {
        size_t len = 12 + (size_t)(i % 200);
        for (size_t k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            junk[k] = (uint8_t)(seed >> 16);
        }
        junk[4] = 0;
        junk[5] = (uint8_t)(i & 1);
        junk[6] = 0;
        (void)mw_filter_answer(lists, cfg, junk, len, &v);
    }
    /* Random mutations of a real response that blocks. */
    mkresp(&r, "www.victim.example.", "A", rrs);
    for (int i = 0; i < 20000; i++) {
        m = r;
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % m.n;
        m.b[at] ^= (uint8_t)(1u << ((seed >> 4) % 8));
        if (i % 3 == 0)
            m.n = at + 1;
        (void)ans(&m, &v);
    }
}

/* ---- build errors ---- */

static struct mw_lists *build(const char *yaml, struct mw_errlist *e, size_t *warnings)
{
    struct mw_config *c = parse_cfg(yaml);
    assert_non_null(c);
    mw_errlist_init(e);
    struct mw_lists *l = mw_lists_build(c, 1, e, warnings);
    mw_config_free(c);
    return l;
}

static void test_build_missing(void **state)
{
    (void)state;
    struct mw_errlist e;
    size_t w = 99;
    char p1[256], p2[256];
    tpath(p1, sizeof(p1), "nope-1.txt");
    tpath(p2, sizeof(p2), "nope-2.txt");
    struct mw_lists *l = build("lists:\n"
                               "  - {name: a, category: x, path: @D@/nope-1.txt}\n"
                               "  - {name: b, category: x, path: @D@/mining.txt}\n"
                               "  - {name: c, category: x, path: @D@/nope-2.txt}\n",
                               &e, &w);
    assert_null(l);
    print_errs(&e);
    /* Both missing files are named. */
    char want[300];
    snprintf(want, sizeof(want), "%s: cannot read: ", p1);
    assert_true(errs_have(&e, want));
    snprintf(want, sizeof(want), "%s: cannot read: ", p2);
    assert_true(errs_have(&e, want));
    assert_true(errs_have(&e, "No such file"));
    mw_errlist_deinit(&e);

    /* A missing ASN database. */
    l = build("geoip: {asn: @D@/nope.mmdb}\n"
              "lists:\n"
              "  - {name: b, category: x, path: @D@/mining.txt}\n",
              &e, NULL);
    assert_null(l);
    tpath(p1, sizeof(p1), "nope.mmdb");
    snprintf(want, sizeof(want), "%s: cannot open MaxMind database", p1);
    assert_true(errs_have(&e, want));
    mw_errlist_deinit(&e);

    /* No lists at all: an empty generation, and nothing is filtered. */
    l = build("threads: 1\n", &e, &w);
    assert_non_null(l);
    assert_int_equal(e.n, 0);
    assert_int_equal(w, 0);
    assert_int_equal(l->n_lists, 0);
    struct mw_dns_question q;
    struct mw_verdict v;
    mkq(&q, "pool.example", MW_TYPE_A);
    assert_int_equal(mw_filter_qname(l, NULL, &q, &v), MW_FILTER_PASS);
    assert_null(mw_lists_asn(l, 64500));
    mw_lists_unref(l);
    mw_errlist_deinit(&e);
}

/* The reload guard: a list that had entries and parses to none now is reported. */
static void test_build_emptied(void **state)
{
    (void)state;
    static const char yaml[] = "lists:\n"
                               "  - {name: a, category: x, path: @D@/em_a.txt}\n"
                               "  - {name: b, category: x, path: @D@/em_b.txt}\n"
                               "  - {name: c, category: allow, path: @D@/em_c.txt}\n";
    assert_int_equal(write_file("em_a.txt", "a.example\n"), 0);
    assert_int_equal(write_file("em_b.txt", "b.example\n"), 0);
    assert_int_equal(write_file("em_c.txt", "# nothing allowed yet\n"), 0);
    struct mw_errlist e;
    struct mw_lists *before = build(yaml, &e, NULL);
    assert_non_null(before);
    mw_errlist_deinit(&e);
    /* b is truncated, a replaced by garbage; c was empty and stays so. */
    assert_int_equal(write_file("em_a.txt", "\x01\x02 <html> !!\n"), 0);
    assert_int_equal(write_file("em_b.txt", ""), 0);
    struct mw_lists *after = build(yaml, &e, NULL);
    assert_non_null(after);
    mw_errlist_deinit(&e);
    mw_errlist_init(&e);
    assert_int_equal(mw_lists_emptied(before, after, &e), 2);
    assert_int_equal(e.n, 2);
    assert_true(errs_have(&e, "list a has no entries now (1 before"));
    assert_true(errs_have(&e, "list b has no entries now"));
    mw_errlist_deinit(&e);
    /* Same lists with entries, a NULL side: nothing to report. */
    mw_errlist_init(&e);
    assert_int_equal(mw_lists_emptied(before, before, &e), 0);
    assert_int_equal(mw_lists_emptied(NULL, after, &e), 0);
    assert_int_equal(e.n, 0);
    mw_errlist_deinit(&e);
    mw_lists_unref(before);
    mw_lists_unref(after);
}

static void test_build_bad_lines(void **state)
{
    (void)state;
    assert_int_equal(write_file("bad.txt", "good.example\n"      /* 1 */
                                           "bad_na me.example\n" /* 2 */
                                           "ok.example\n"        /* 3 */
                                           "two..dots.example\n" /* 4 */
                                           "last.example\n"),    /* 5 */
                     0);
    assert_int_equal(write_file("bad.asn", "AS1\nASX\n3\n"), 0);
    struct mw_errlist e;
    size_t w = 99;
    struct mw_lists *l = build("lists:\n"
                               "  - {name: bad, category: x, path: @D@/bad.txt}\n"
                               "  - {name: off, category: x, path: @D@/none.txt, enabled: false}\n"
                               "  - {name: asn, category: x, path: @D@/bad.asn, type: asn}\n",
                               &e, &w);
    print_errs(&e);
    assert_non_null(l);
    assert_int_equal(w, 3);
    assert_int_equal(l->n_lists, 2);
    assert_int_equal(l->lists[0].entries, 3);
    assert_int_equal(l->lists[0].bad, 2);
    assert_int_equal(l->lists[1].entries, 2);
    assert_int_equal(l->lists[1].bad, 1);
    assert_string_equal(l->lists[1].name, "asn");
    char p[256], want[300];
    tpath(p, sizeof(p), "bad.txt");
    snprintf(want, sizeof(want), "%s:2: ", p);
    assert_true(errs_have(&e, want));
    assert_true(errs_have(&e, "bad_na me.example"));
    snprintf(want, sizeof(want), "%s:4: ", p);
    assert_true(errs_have(&e, want));
    tpath(p, sizeof(p), "bad.asn");
    snprintf(want, sizeof(want), "%s:2: ", p);
    assert_true(errs_have(&e, want));
    assert_int_equal(e.n, 3);

    /* The good lines are loaded. */
    struct mw_dns_question q;
    struct mw_verdict v;
    const char *good[] = {"good.example", "ok.example", "x.last.example"};
    for (size_t i = 0; i < 3; i++) {
        mkq(&q, good[i], MW_TYPE_A);
        assert_int_equal(mw_filter_qname(l, NULL, &q, &v), MW_FILTER_BLOCK);
        assert_int_equal(v.rule.line, (uint32_t)(i * 2 + 1));
        assert_int_equal(v.action, MW_ACTION_SINKHOLE); /* the default sinkhole.action */
    }
    mkq(&q, "dots.example", MW_TYPE_A);
    assert_int_equal(mw_filter_qname(l, NULL, &q, &v), MW_FILTER_PASS);
    assert_non_null(mw_lists_asn(l, 1));
    assert_non_null(mw_lists_asn(l, 3));
    assert_null(mw_lists_asn(l, 2));
    mw_lists_unref(l);
    mw_errlist_deinit(&e);

    /* Entries of another type than the list's are ignored, with one warning. */
    assert_int_equal(write_file("mixed.txt", "a.example\n192.0.2.1\nb.example\n"), 0);
    l = build("lists:\n"
              "  - {name: m, category: x, path: @D@/mixed.txt, type: ip, format: plain}\n",
              &e, &w);
    print_errs(&e);
    assert_non_null(l);
    assert_int_equal(w, 1);
    assert_int_equal(l->lists[0].entries, 1);
    assert_true(errs_have(&e, "2 entries of another type than the list's (ip) ignored"));
    mkq(&q, "a.example", MW_TYPE_A);
    assert_int_equal(mw_filter_qname(l, NULL, &q, &v), MW_FILTER_PASS);
    struct resp r;
    const char *const rrs[] = {"host.example. A 192.0.2.1", NULL};
    mkresp(&r, "host.example.", "A", rrs);
    assert_int_equal(mw_filter_answer(l, NULL, r.b, r.n, &v), MW_FILTER_BLOCK);
    mw_lists_unref(l);
    mw_errlist_deinit(&e);
}

/* The rebinding guard in the answer walk: a public question answered with a guarded address
 * (A, AAAA, IPv4 embedded in IPv6, SVCB/HTTPS hints, an additional record), the verdict it
 * gives, what it leaves alone (authority glue, private ranges by default, names that are not
 * public, internal zones as question or as CNAME target owner, an address an IP allow rule
 * vouches for), and the settings. */
static enum mw_filter_result gans(const struct mw_lists *l, const struct mw_config *c,
                                  const char *qname, const char *const *an, const char *const *ar,
                                  struct mw_verdict *v)
{
    struct resp r;
    mkresp3(&r, qname, an, NULL, ar);
    memset(v, 0x5a, sizeof(*v));
    v->rule_text[0] = v->matched[0] = 0;
    return mw_filter_answer(l, c, r.b, r.n, v);
}

#define GUARD(l, c, qname, rr, want)                                                               \
    do {                                                                                           \
        const char *const an_[] = {rr, NULL};                                                      \
        if (gans(l, c, qname, an_, NULL, &v) != (want))                                            \
            fail_msg("%s / %s: not %s", qname, rr, #want);                                         \
    } while (0)

static void test_rebinding(void **state)
{
    (void)state;
    struct mw_verdict v;
    struct mw_regdom *rd = mw_regdom_new(NULL);
    assert_non_null(rd);
    lists->regdom = rd;

    /* Defaults: metadata addresses only, answered nxdomain. */
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. A 169.254.169.254", MW_FILTER_BLOCK);
    assert_int_equal(v.rule.list, MW_LIST_DETECT + MW_DETECT_REBINDING);
    assert_int_equal(v.action, MW_ACTION_NXDOMAIN);
    assert_int_equal(v.where, MW_WHERE_ANSWER_IP);
    assert_int_equal(v.detect_class, MW_REBIND_METADATA);
    assert_null(v.rule_wire);
    assert_string_equal(v.rule_text, "rebinding:metadata");
    assert_string_equal(v.matched, "169.254.169.254");
    const struct mw_list_info *li = mw_lists_info(lists, v.rule.list);
    assert_non_null(li);
    assert_string_equal(li->name, "rebinding");
    assert_string_equal(li->category, "detect");
    assert_string_equal(li->ede_text, "minewall: detect/rebinding");
    assert_null(mw_lists_info(lists, MW_LIST_DETECT + MW_DETECT_COUNT));
    assert_null(mw_lists_info(lists, lists->n_lists));

    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. A 169.254.170.2", MW_FILTER_BLOCK);
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. A 100.100.100.200", MW_FILTER_BLOCK);
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. AAAA fd00:ec2::254", MW_FILTER_BLOCK);
    assert_string_equal(v.matched, "fd00:ec2::254");
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. AAAA ::ffff:169.254.169.254",
          MW_FILTER_BLOCK);
    assert_string_equal(v.matched, "::ffff:169.254.169.254");
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. AAAA 64:ff9b::a9fe:a9fe",
          MW_FILTER_BLOCK);
    GUARD(lists, cfg, "evil.example.com.",
          "evil.example.com. HTTPS 1 . alpn=h2 ipv4hint=192.0.2.1,169.254.169.254",
          MW_FILTER_BLOCK);
    assert_string_equal(v.matched, "169.254.169.254");
    GUARD(lists, cfg, "evil.example.com.",
          "evil.example.com. SVCB 1 s.example.net. ipv6hint=fd00:ec2::254", MW_FILTER_BLOCK);
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. HTTPS 1 . ipv6hint=::ffff:a9fe:a9fe",
          MW_FILTER_BLOCK);
    /* Through a CNAME chain: the address, whoever owns it. */
    const char *const chain[] = {"evil.example.com. CNAME x.attacker.net.",
                                 "x.attacker.net. A 169.254.169.254", NULL};
    assert_int_equal(gans(lists, cfg, "evil.example.com.", chain, NULL, &v), MW_FILTER_BLOCK);
    /* An additional record too; not authority glue. */
    const char *const ok[] = {"evil.example.com. A 192.0.2.1", NULL};
    const char *const ar[] = {"ns.example.com. A 169.254.169.254", NULL};
    assert_int_equal(gans(lists, cfg, "evil.example.com.", ok, ar, &v), MW_FILTER_BLOCK);
    struct resp r;
    mkresp3(&r, "evil.example.com.", ok, ar, NULL);
    assert_int_equal(mw_filter_answer(lists, cfg, r.b, r.n, &v), MW_FILTER_PASS);

    /* Private ranges are left alone by default; so are global addresses. */
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. A 10.0.0.1", MW_FILTER_PASS);
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. A 127.0.0.1", MW_FILTER_PASS);
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. A 169.254.1.1", MW_FILTER_PASS);
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. AAAA 2001:db8::1", MW_FILTER_PASS);
    /* Names that are not public: localhost, unlisted top-level labels, home.arpa. */
    GUARD(lists, cfg, "metadata.google.internal.", "metadata.google.internal. A 169.254.169.254",
          MW_FILTER_PASS);
    GUARD(lists, cfg, "localhost.", "localhost. A 169.254.169.254", MW_FILTER_PASS);
    GUARD(lists, cfg, "meta.home.arpa.", "meta.home.arpa. A 169.254.169.254", MW_FILTER_PASS);
    /* An IP list rule decides first: a listed address is the list's block. */
    GUARD(lists, cfg, "evil.example.com.", "evil.example.com. A 192.0.2.200", MW_FILTER_BLOCK);
    assert_true(v.rule.list < lists->n_lists);
    /* Without lists and without a config. */
    GUARD(NULL, cfg, "evil.example.com.", "evil.example.com. A 169.254.169.254", MW_FILTER_BLOCK);
    GUARD(lists, NULL, "evil.example.com.", "evil.example.com. A 169.254.169.254", MW_FILTER_PASS);

    /* private: true, internal zones, action log. */
    struct mw_config *c2 = parse_cfg("detect:\n"
                                     "  rebinding:\n"
                                     "    private: true\n"
                                     "    action: log\n"
                                     "    internal-zones: [corp.example.com]\n");
    assert_non_null(c2);
    GUARD(lists, c2, "evil.example.com.", "evil.example.com. A 10.0.0.1", MW_FILTER_BLOCK);
    assert_int_equal(v.action, MW_ACTION_LOG);
    assert_int_equal(v.detect_class, MW_REBIND_PRIVATE);
    assert_string_equal(v.rule_text, "rebinding:private");
    GUARD(lists, c2, "evil.example.com.", "evil.example.com. A 127.0.0.1", MW_FILTER_BLOCK);
    assert_string_equal(v.rule_text, "rebinding:loopback");
    GUARD(lists, c2, "evil.example.com.", "evil.example.com. A 0.0.0.0", MW_FILTER_BLOCK);
    GUARD(lists, c2, "evil.example.com.", "evil.example.com. AAAA fe80::1", MW_FILTER_BLOCK);
    assert_string_equal(v.rule_text, "rebinding:link-local");
    GUARD(lists, c2, "evil.example.com.", "evil.example.com. AAAA fd12::1", MW_FILTER_BLOCK);
    GUARD(lists, c2, "evil.example.com.", "evil.example.com. AAAA 64:ff9b::192.168.1.1",
          MW_FILTER_BLOCK);
    GUARD(lists, c2, "evil.example.com.", "evil.example.com. A 169.254.169.254", MW_FILTER_BLOCK);
    assert_string_equal(v.rule_text, "rebinding:metadata");
    GUARD(lists, c2, "db.corp.example.com.", "db.corp.example.com. A 10.0.0.1", MW_FILTER_PASS);
    GUARD(lists, c2, "corp.example.com.", "corp.example.com. A 169.254.169.254", MW_FILTER_PASS);
    GUARD(lists, c2, "nas.lan.", "nas.lan. A 192.168.1.10", MW_FILTER_PASS);
    /* A public name CNAMEd into an internal zone is the operator's; into localhost is not. */
    const char *const into[] = {"www.example.com. CNAME db.corp.example.com.",
                                "db.corp.example.com. A 10.0.0.5", NULL};
    assert_int_equal(gans(lists, c2, "www.example.com.", into, NULL, &v), MW_FILTER_PASS);
    const char *const lo[] = {"www.example.com. CNAME localhost.", "localhost. A 127.0.0.1", NULL};
    assert_int_equal(gans(lists, c2, "www.example.com.", lo, NULL, &v), MW_FILTER_BLOCK);
    /* Without a public suffix list every name of two labels counts as public. */
    lists->regdom = NULL;
    GUARD(lists, c2, "nas.lan.", "nas.lan. A 192.168.1.10", MW_FILTER_BLOCK);
    GUARD(lists, c2, "localhost.", "localhost. A 127.0.0.1", MW_FILTER_PASS);
    lists->regdom = rd;
    mw_config_free(c2);

    /* Both classes off: nothing, even with no lists. */
    struct mw_config *c3 = parse_cfg("detect: {rebinding: {metadata: false}}\n");
    assert_non_null(c3);
    GUARD(lists, c3, "evil.example.com.", "evil.example.com. A 169.254.169.254", MW_FILTER_PASS);
    GUARD(NULL, c3, "evil.example.com.", "evil.example.com. A 169.254.169.254", MW_FILTER_PASS);
    mw_config_free(c3);

    lists->regdom = NULL;
    mw_regdom_free(rd);
}

/* ---- client groups over lists that share rules ---- */

/* A group's verdict is what it would be with only its lists loaded, also where the merged sets
 * keep one rule for an input several lists hold: the same name, prefix, AS number or pattern
 * in two lists (the group has only the second), an allowlist outside the group, and a longer
 * prefix of a list outside the group over the group's own. */
static const char overlap_yaml[] =
    "lists:\n"
    "  - {name: first, category: mining, path: @D@/ov_first.txt}\n"
    "  - {name: okay, category: allow, path: @D@/ov_okay.txt}\n"
    "  - {name: second, category: c2, path: @D@/ov_second.txt, action: nxdomain}\n"
    "  - {name: ipa, category: c2, path: @D@/ov_ipa.txt, type: ip}\n"
    "  - {name: ipok, category: allow, path: @D@/ov_ipok.txt, type: ip}\n"
    "  - {name: ipb, category: c2, path: @D@/ov_ipb.txt, type: ip}\n"
    "  - {name: asna, category: c2, path: @D@/ov_asna.txt, type: asn}\n"
    "  - {name: asnb, category: c2, path: @D@/ov_asnb.txt, type: asn}\n"
    "  - {name: pata, category: mining, path: @D@/ov_pata.txt, type: pattern}\n"
    "  - {name: patb, category: mining, path: @D@/ov_patb.txt, type: pattern}\n"
    "groups:\n"
    "  g1: {clients: [10.1.0.0/16], lists: [first, ipa]}\n"
    "  g2: {clients: [10.2.0.0/16], lists: [second, ipb, asnb, patb]}\n"
    "  gok: {clients: [10.3.0.0/16], lists: [okay, second, ipok, ipb]}\n";

static enum mw_filter_result ov_name(const struct mw_lists *l, const struct mw_group_conf *g,
                                     const char *name, struct mw_verdict *v)
{
    struct mw_dns_question q;
    mkq(&q, name, MW_TYPE_A);
    return mw_filter_explain_in(l, g, &q, v);
}

static enum mw_filter_result ov_addr(const struct mw_lists *l, const struct mw_group_conf *g,
                                     const char *addr, struct mw_verdict *v)
{
    uint8_t a[16];
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(family, addr, a), 1);
    return mw_filter_explain_addr_in(l, g, family, a, v);
}

#define OV_EXPECT(call, want, list_, text)                                                         \
    do {                                                                                           \
        struct mw_verdict v_;                                                                      \
        enum mw_filter_result r_ = call;                                                           \
        if (r_ != (want) || (r_ != MW_FILTER_PASS &&                                               \
                             (v_.rule.list != (list_) || strcmp(v_.rule_text, text) != 0)))        \
            ov_bad +=                                                                              \
                fprintf(stderr, "%s: result %d list %u rule '%s'\n", #call, (int)r_,               \
                        (unsigned)v_.rule.list, r_ != MW_FILTER_PASS ? v_.rule_text : "") > 0;     \
    } while (0)

static void test_groups_overlap(void **state)
{
    (void)state;
    assert_int_equal(write_file("ov_first.txt", "pool.evil.test\nboth.example\n"), 0);
    assert_int_equal(write_file("ov_okay.txt", "both.example\n"), 0);
    assert_int_equal(write_file("ov_second.txt", "pool.evil.test\nboth.example\n"), 0);
    assert_int_equal(write_file("ov_ipa.txt", "192.0.2.0/24\n198.51.100.0/25\n"), 0);
    assert_int_equal(write_file("ov_ipok.txt", "203.0.113.0/24\n"), 0);
    assert_int_equal(write_file("ov_ipb.txt", "192.0.2.0/24\n198.51.100.0/24\n203.0.113.0/24\n"),
                     0);
    assert_int_equal(write_file("ov_asna.txt", "AS64500\n"), 0);
    assert_int_equal(write_file("ov_asnb.txt", "AS64500\n"), 0);
    assert_int_equal(write_file("ov_pata.txt", "*.mine.test\n"), 0);
    assert_int_equal(write_file("ov_patb.txt", "*.mine.test\n"), 0);
    struct mw_config *c = parse_cfg(overlap_yaml);
    assert_non_null(c);
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_lists *l = mw_lists_build(c, 1, &e, NULL);
    print_errs(&e);
    mw_errlist_deinit(&e);
    assert_non_null(l);
    const struct mw_group_conf *g1 = &c->groups[mw_config_group_find(c, "g1") - 1];
    const struct mw_group_conf *g2 = &c->groups[mw_config_group_find(c, "g2") - 1];
    const struct mw_group_conf *gok = &c->groups[mw_config_group_find(c, "gok") - 1];
    assert_string_equal(g2->name, "g2");
    int ov_bad = 0; /* every case is tried and each failure printed */
    /* What the merged sets keep aside: second's pool.evil.test, first's and second's
     * both.example; ipb's 192.0.2.0/24 and 203.0.113.0/24. */
    assert_int_equal(mw_domainset_hidden(l->domains), 3);
    assert_int_equal(mw_ipset_dups(l->ips), 2);

    /* Everyone: the first list's rule, the allowlist, the longest prefix, allow first. */
    OV_EXPECT(ov_name(l, NULL, "pool.evil.test", &v_), MW_FILTER_BLOCK, 0, "pool.evil.test");
    OV_EXPECT(ov_name(l, NULL, "both.example", &v_), MW_FILTER_ALLOW, 1, "both.example");
    OV_EXPECT(ov_addr(l, NULL, "198.51.100.1", &v_), MW_FILTER_BLOCK, 3, "198.51.100.0/25");
    OV_EXPECT(ov_addr(l, NULL, "203.0.113.9", &v_), MW_FILTER_ALLOW, 4, "203.0.113.0/24");

    /* g2 has only the second list of each pair. */
    OV_EXPECT(ov_name(l, g2, "pool.evil.test", &v_), MW_FILTER_BLOCK, 2, "pool.evil.test");
    OV_EXPECT(ov_name(l, g2, "www.pool.evil.test", &v_), MW_FILTER_BLOCK, 2, "pool.evil.test");
    OV_EXPECT(ov_name(l, g2, "both.example", &v_), MW_FILTER_BLOCK, 2, "both.example");
    OV_EXPECT(ov_addr(l, g2, "192.0.2.7", &v_), MW_FILTER_BLOCK, 5, "192.0.2.0/24");
    OV_EXPECT(ov_addr(l, g2, "198.51.100.1", &v_), MW_FILTER_BLOCK, 5, "198.51.100.0/24");
    OV_EXPECT(ov_addr(l, g2, "203.0.113.9", &v_), MW_FILTER_BLOCK, 5, "203.0.113.0/24");
    OV_EXPECT(mw_filter_explain_asn_in(l, g2, 64500, &v_), MW_FILTER_BLOCK, 7, "AS64500");
    OV_EXPECT(ov_name(l, g2, "x.mine.test", &v_), MW_FILTER_BLOCK, 9, "*.mine.test");
    /* gok names the allowlists: they allow for it. */
    OV_EXPECT(ov_name(l, gok, "both.example", &v_), MW_FILTER_ALLOW, 1, "both.example");
    OV_EXPECT(ov_addr(l, gok, "203.0.113.9", &v_), MW_FILTER_ALLOW, 4, "203.0.113.0/24");
    OV_EXPECT(ov_addr(l, gok, "198.51.100.200", &v_), MW_FILTER_BLOCK, 5, "198.51.100.0/24");

    /* g1 has the first lists: their rules, and nothing from the others. */
    OV_EXPECT(ov_name(l, g1, "both.example", &v_), MW_FILTER_BLOCK, 0, "both.example");
    OV_EXPECT(ov_addr(l, g1, "198.51.100.1", &v_), MW_FILTER_BLOCK, 3, "198.51.100.0/25");
    OV_EXPECT(ov_addr(l, g1, "198.51.100.200", &v_), MW_FILTER_PASS, 0, "");
    OV_EXPECT(ov_addr(l, g1, "203.0.113.9", &v_), MW_FILTER_PASS, 0, "");
    OV_EXPECT(mw_filter_explain_asn_in(l, g1, 64500, &v_), MW_FILTER_PASS, 0, "");
    OV_EXPECT(ov_name(l, g1, "x.mine.test", &v_), MW_FILTER_PASS, 0, "");
    assert_int_equal(ov_bad, 0);
    /* On the query path too, with the second list's action. */
    struct mw_dns_question q;
    struct mw_verdict v;
    mkq(&q, "pool.evil.test", MW_TYPE_A);
    assert_int_equal(mw_filter_qname_in(l, c, g2, &q, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.rule.list, 2);
    assert_int_equal(v.action, MW_ACTION_NXDOMAIN);
    struct resp r;
    const char *const rrs[] = {"host.example. A 192.0.2.7", NULL};
    mkresp(&r, "host.example.", "A", rrs);
    assert_int_equal(mw_filter_answer_in(l, c, g2, r.b, r.n, &v), MW_FILTER_BLOCK);
    assert_int_equal(v.rule.list, 5);
    assert_string_equal(v.matched, "192.0.2.7");

    mw_lists_unref(l);
    mw_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generation),         cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_qname_subtree),      cmocka_unit_test(test_qname_rpz_exact_wildcard),
        cmocka_unit_test(test_qname_text_reading), cmocka_unit_test(test_qname_precedence),
        cmocka_unit_test(test_qname_patterns),     cmocka_unit_test(test_qname_actions),
        cmocka_unit_test(test_where_names),        cmocka_unit_test(test_answer_cname),
        cmocka_unit_test(test_answer_ip),          cmocka_unit_test(test_answer_sections),
        cmocka_unit_test(test_response),           cmocka_unit_test(test_answer_asn),
        cmocka_unit_test(test_answer_broken),      cmocka_unit_test(test_build_missing),
        cmocka_unit_test(test_build_bad_lines),    cmocka_unit_test(test_build_emptied),
        cmocka_unit_test(test_rebinding),          cmocka_unit_test(test_groups_overlap),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
