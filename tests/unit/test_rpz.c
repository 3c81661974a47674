/* Unit tests for rpz.c: the semantics of a policy zone (actions, exact and wildcard triggers,
 * rpz-ip, origins, local data anywhere in the zone), master-file syntax read through ldns
 * ($ORIGIN, $TTL, parentheses, quoted strings, escapes, relative names, every type), bad
 * records in the middle of a zone reported as FILE:LINE while the rest loads, and agreement of
 * the two paths: every zone here is read twice, once with the fast path and once with
 * MW_RPZ_NO_FAST (ldns for every record), and the entries must be the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/error.h"
#include "minewall/listfile.h"
#include "minewall/rpz.h"

struct coll {
    size_t n, cap;
    struct mw_listfile_entry *e; /* owned */
};

static int collect(const struct mw_listfile_entry *e, void *arg)
{
    struct coll *c = arg;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->e = realloc(c->e, c->cap * sizeof(*c->e));
        assert_non_null(c->e);
    }
    c->e[c->n++] = *e;
    return 0;
}

struct run {
    struct coll c;
    struct mw_listfile_report r;
    struct mw_errlist errs;
    int rc;
};

/* The members of an entry that carry meaning for its type and action. */
static void assert_same_entry(const struct mw_listfile_entry *a, const struct mw_listfile_entry *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->line, b->line);
    assert_int_equal(a->action, b->action);
    assert_int_equal(a->allow, b->allow);
    if (a->type == MW_LISTFILE_ENTRY_IP) {
        assert_memory_equal(&a->cidr, &b->cidr, sizeof(a->cidr));
    } else {
        assert_int_equal(a->kind, b->kind);
        assert_int_equal(a->name_len, b->name_len);
        assert_memory_equal(a->name, b->name, a->name_len);
    }
    if (a->action == MW_LISTFILE_ACT_SINKHOLE) {
        assert_int_equal(a->naddrs, b->naddrs);
        assert_memory_equal(a->addrs, b->addrs, a->naddrs * sizeof(a->addrs[0]));
    }
    if (a->action == MW_LISTFILE_ACT_CNAME) {
        assert_int_equal(a->target_len, b->target_len);
        assert_memory_equal(a->target, b->target, a->target_len);
    }
}

/* Parse text as zone "t" with flags into a heap struct run (freed by done()). */
static struct run *run_flags(const char *text, size_t len, unsigned flags)
{
    struct run *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    mw_errlist_init(&x->errs);
    x->rc = mw_rpz_parse("t", text, len, flags, collect, &x->c, &x->r, &x->errs);
    assert_int_equal(x->rc, 0);
    assert_int_equal(x->r.entries, x->c.n);
    return x;
}

static void done(struct run *x)
{
    free(x->c.e);
    mw_errlist_deinit(&x->errs);
    free(x);
}

/* Both paths read text; they must agree on every entry and every count. */
static struct run *run_len(const char *text, size_t len)
{
    struct run *x = run_flags(text, len, 0), *y = run_flags(text, len, MW_RPZ_NO_FAST);
    assert_int_equal(x->c.n, y->c.n);
    for (size_t i = 0; i < x->c.n; i++)
        assert_same_entry(&x->c.e[i], &y->c.e[i]);
    assert_int_equal(x->r.lines, y->r.lines);
    assert_int_equal(x->r.bad, y->r.bad);
    assert_int_equal(x->r.ignored, y->r.ignored);
    assert_memory_equal(x->r.skip, y->r.skip, sizeof(x->r.skip));
    done(y);
    return x;
}

static struct run *run(const char *text)
{
    return run_len(text, strlen(text));
}

static const char *name_text(const struct mw_listfile_entry *e)
{
    static char buf[1024];
    assert_true(mw_dname_to_text(e->name, e->name_len, buf, sizeof(buf)) > 0);
    return buf;
}

static void assert_domain(const struct mw_listfile_entry *e, const char *name,
                          enum mw_listfile_kind kind, uint32_t line)
{
    assert_int_equal(e->type, MW_LISTFILE_ENTRY_DOMAIN);
    assert_string_equal(name_text(e), name);
    assert_int_equal(e->kind, kind);
    assert_int_equal(e->line, line);
}

static void assert_cidr(const struct mw_cidr *c, const char *want)
{
    char buf[64];
    assert_int_equal(mw_cidr_format(c, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
}

static void assert_ip(const struct mw_listfile_entry *e, const char *cidr, uint32_t line)
{
    assert_int_equal(e->type, MW_LISTFILE_ENTRY_IP);
    assert_cidr(&e->cidr, cidr);
    assert_int_equal(e->line, line);
}

static void assert_err(const struct run *x, size_t i, const char *want)
{
    assert_true(i < x->errs.n);
    assert_string_equal(x->errs.msgs[i], want);
}

static void assert_target(const struct mw_listfile_entry *e, const char *want)
{
    char buf[1024];
    assert_int_equal(e->action, MW_LISTFILE_ACT_CNAME);
    assert_true(mw_dname_to_text(e->target, e->target_len, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, want);
}

static const char rpz_zone[] =
    "; test policy zone\n"                                         /* 1 */
    "$TTL 300\n"                                                   /* 2 */
    "@ IN SOA ns.example. hostmaster.example. ( 1 3600 ; serial\n" /* 3 */
    "        600 86400 60 )\n"                                     /* 4 */
    "  NS localhost.\n"                                            /* 5 */
    "nx.example.com CNAME .\n"                                     /* 6 */
    "*.nx.example.com CNAME .\n"                                   /* 7 */
    "nodata.example.com 60 IN CNAME *.\n"                          /* 8 */
    "pass.example.com IN 60 CNAME rpz-passthru.\n"                 /* 9 */
    "drop.example.com CNAME rpz-drop.\n"                           /* 10 */
    "tcp.example.com CNAME rpz-tcp-only.\n"                        /* 11 */
    "sink.example.com A 10.0.0.1\n"                                /* 12 */
    "                 A 10.0.0.2\n"                                /* 13 */
    "sink.example.com AAAA 2001:db8::1\n"                          /* 14 */
    "local.example.com CNAME walled.garden.example.\n"             /* 15 */
    "txt.example.com TXT \"hello ; not a comment\"\n"              /* 16 */
    "32.4.3.2.1.rpz-ip CNAME .\n"                                  /* 17 */
    "24.0.2.0.192.rpz-ip CNAME rpz-passthru.\n"                    /* 18 */
    "128.1.zz.db8.2001.rpz-ip CNAME .\n"                           /* 19 */
    "48.zz.db8.2001.rpz-ip A 10.0.0.9\n"                           /* 20 */
    "ns.example.com.rpz-nsdname CNAME .\n"                         /* 21 */
    "32.1.0.0.127.rpz-nsip CNAME .\n"                              /* 22 */
    "32.1.0.0.10.rpz-client-ip CNAME .\n"                          /* 23 */
    "com CNAME .\n"                                                /* 24 */
    "Self.Example.com CNAME self.example.com.\n"                   /* 25 */
    "syn.example.com CNAME *.garden.example.\n"                    /* 26 */
    "mx.example.com MX 10 mail.example.\n"                         /* 27 */
    "128.8.7.6.5.4.3.2.1.rpz-ip CNAME *.\n";                       /* 28 */

static void test_rpz(void **state)
{
    (void)state;
    struct run *x = run(rpz_zone);
    assert_int_equal(x->r.format, MW_LISTFILE_FMT_RPZ);
    assert_int_equal(x->r.bad, 0);
    assert_int_equal(x->r.lines, 28);
    assert_int_equal(x->r.ignored, 2);
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_RPZ_ACTION], 2);
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_RPZ_TRIGGER], 3);
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_RPZ_DATA], 2);
    assert_int_equal(x->c.n, 14);
    const struct mw_listfile_entry *e = x->c.e;

    assert_domain(&e[0], "nx.example.com", MW_LISTFILE_EXACT, 6);
    assert_int_equal(e[0].action, MW_LISTFILE_ACT_NXDOMAIN);
    assert_domain(&e[1], "nx.example.com", MW_LISTFILE_WILDCARD, 7);
    assert_int_equal(e[1].action, MW_LISTFILE_ACT_NXDOMAIN);
    assert_domain(&e[2], "nodata.example.com", MW_LISTFILE_EXACT, 8);
    assert_int_equal(e[2].action, MW_LISTFILE_ACT_NODATA);
    assert_domain(&e[3], "pass.example.com", MW_LISTFILE_EXACT, 9);
    assert_int_equal(e[3].action, MW_LISTFILE_ACT_PASSTHRU);
    assert_true(e[3].allow);
    assert_domain(&e[4], "drop.example.com", MW_LISTFILE_EXACT, 10);
    assert_int_equal(e[4].action, MW_LISTFILE_ACT_DROP);
    assert_false(e[4].allow);

    assert_domain(&e[5], "local.example.com", MW_LISTFILE_EXACT, 15);
    assert_int_equal(e[5].action, MW_LISTFILE_ACT_CNAME);
    char buf[256];
    assert_true(mw_dname_to_text(e[5].target, e[5].target_len, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "walled.garden.example");

    assert_ip(&e[6], "1.2.3.4/32", 17);
    assert_int_equal(e[6].action, MW_LISTFILE_ACT_NXDOMAIN);
    assert_ip(&e[7], "192.0.2.0/24", 18);
    assert_int_equal(e[7].action, MW_LISTFILE_ACT_PASSTHRU);
    assert_true(e[7].allow);
    assert_ip(&e[8], "2001:db8::1/128", 19);
    /* A single label is fine in RPZ: the zone decides. */
    assert_domain(&e[9], "com", MW_LISTFILE_EXACT, 24);
    assert_int_equal(e[9].action, MW_LISTFILE_ACT_NXDOMAIN);
    /* The older passthru form: a CNAME to the name itself. */
    assert_domain(&e[10], "self.example.com", MW_LISTFILE_EXACT, 25);
    assert_int_equal(e[10].action, MW_LISTFILE_ACT_PASSTHRU);
    assert_ip(&e[11], "1:2:3:4:5:6:7:8/128", 28);
    assert_int_equal(e[11].action, MW_LISTFILE_ACT_NODATA);
    /* Local data comes last, one entry per trigger with the line of its first record: the A
     * records of line 12 and 13 and the AAAA record of line 14. */
    assert_domain(&e[12], "sink.example.com", MW_LISTFILE_EXACT, 12);
    assert_int_equal(e[12].action, MW_LISTFILE_ACT_SINKHOLE);
    assert_int_equal(e[12].naddrs, 3);
    assert_cidr(&e[12].addrs[0], "10.0.0.1/32");
    assert_cidr(&e[12].addrs[1], "10.0.0.2/32");
    assert_cidr(&e[12].addrs[2], "2001:db8::1/128");
    assert_ip(&e[13], "2001:db8::/48", 20);
    assert_int_equal(e[13].action, MW_LISTFILE_ACT_SINKHOLE);
    assert_int_equal(e[13].naddrs, 1);
    assert_cidr(&e[13].addrs[0], "10.0.0.9/32");
    done(x);
}

static void test_rpz_origin(void **state)
{
    (void)state;
    struct run *x = run("$ORIGIN rpz.example.\n"                     /* 1 */
                        "@ SOA ns.example. h.example. 1 2 3 4 5\n"   /* 2 */
                        "@ NS ns.example.\n"                         /* 3 */
                        "rel.example.net CNAME .\n"                  /* 4 */
                        "abs.example.net.rpz.example. CNAME .\n"     /* 5 */
                        "*.wild.example.net.rpz.example. CNAME *.\n" /* 6 */
                        "x.other. CNAME .\n"                         /* 7 */
                        "rpz.example. TXT \"apex data\"\n"           /* 8 */
                        "$ORIGIN rpz-ip.rpz.example.\n"              /* 9 */
                        "32.4.3.2.1 CNAME .\n"                       /* 10 */
                        "$ORIGIN example.org.rpz.example.\n"         /* 11 */
                        "www CNAME target\n");                       /* 12 */
    assert_int_equal(x->r.format, MW_LISTFILE_FMT_RPZ);
    assert_int_equal(x->c.n, 5);
    assert_domain(&x->c.e[0], "rel.example.net", MW_LISTFILE_EXACT, 4);
    assert_domain(&x->c.e[1], "abs.example.net", MW_LISTFILE_EXACT, 5);
    assert_domain(&x->c.e[2], "wild.example.net", MW_LISTFILE_WILDCARD, 6);
    assert_int_equal(x->c.e[2].action, MW_LISTFILE_ACT_NODATA);
    assert_ip(&x->c.e[3], "1.2.3.4/32", 10);
    assert_domain(&x->c.e[4], "www.example.org", MW_LISTFILE_EXACT, 12);
    assert_int_equal(x->c.e[4].action, MW_LISTFILE_ACT_CNAME);
    char buf[256];
    assert_true(mw_dname_to_text(x->c.e[4].target, x->c.e[4].target_len, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "target.example.org.rpz.example");
    assert_int_equal(x->r.ignored, 3);
    assert_int_equal(x->r.bad, 1);
    assert_err(x, 0, "t:7: owner name outside the zone: \"x.other.\"");
    done(x);

    /* Without $ORIGIN an absolute SOA owner sets the apex. */
    x = run("rpz.local. 3600 IN SOA ns. h. 1 2 3 4 5\n"
            "bad.com.rpz.local. CNAME .\n"
            "also.bad.com CNAME .\n");
    assert_int_equal(x->c.n, 2);
    assert_domain(&x->c.e[0], "bad.com", MW_LISTFILE_EXACT, 2);
    assert_domain(&x->c.e[1], "also.bad.com", MW_LISTFILE_EXACT, 3);
    done(x);
}

static void test_rpz_bad(void **state)
{
    (void)state;
    struct run *x = run("$TTL 60\n"                      /* 1 */
                        "@ SOA ns. h. ( 1 2 3 4 5\n"     /* 2 */
                        "a.example CNAME .\n"            /* 3: inside the ( */
                        "b.example CNAME . )\n"          /* 4 */
                        "c.example CNAME . )\n"          /* 5 */
                        "d.example FOO bar\n"            /* 6 */
                        "e.example A 300.1.1.1\n"        /* 7 */
                        "f.example AAAA 10.0.0.1\n"      /* 8 */
                        "24.4.3.2.1.rpz-ip CNAME .\n"    /* 9: host bits */
                        "33.4.3.2.1.rpz-ip CNAME .\n"    /* 10 */
                        "32.3.2.1.rpz-ip CNAME .\n"      /* 11 */
                        "* CNAME .\n"                    /* 12 */
                        "g.example 300 IN\n"             /* 13 */
                        "$INCLUDE other.zone\n"          /* 14 */
                        "h..example CNAME .\n"           /* 15 */
                        "  CNAME .\n"                    /* 16: owner was bad */
                        "i.example CNAME\n"              /* 17 */
                        "j.example TXT \"unterminated\n" /* 18 */
                        "*.128.zz.rpz-ip CNAME .\n"      /* 19 */
                        "k.example CNAME bad..target.\n" /* 20 */
                        "ok.example CNAME .\n");         /* 21 */
    assert_int_equal(x->c.n, 1);
    assert_domain(&x->c.e[0], "ok.example", MW_LISTFILE_EXACT, 21);
    assert_int_equal(x->r.bad, 16);
    size_t i = 0;
    /* The "(" of line 2 takes lines 3 and 4 into the SOA record, which ldns then refuses. */
    assert_err(x, i++,
               "t:2: invalid SOA record: Syntax error, superfluous text present: "
               "\"ns. h. ( 1 2 3 4 5\\x0aa.example CNAME .\\x0ab.example CNAME . )\"");
    assert_err(x, i++, "t:5: unbalanced ')': \"c.example\"");
    assert_err(x, i++, "t:6: unknown record type: \"FOO\"");
    assert_err(x, i++, "t:7: invalid A address: \"300.1.1.1\"");
    assert_err(x, i++, "t:8: invalid AAAA address: \"10.0.0.1\"");
    assert_err(x, i++,
               "t:9: rpz-ip: address has bits set beyond the prefix: \"24.4.3.2.1.rpz-ip\"");
    assert_err(x, i++, "t:10: rpz-ip: prefix length out of range: \"33.4.3.2.1.rpz-ip\"");
    assert_err(x, i++, "t:11: rpz-ip: invalid IPv6 address: \"32.3.2.1.rpz-ip\"");
    assert_err(x, i++, "t:12: would match every name: \"*\"");
    assert_err(x, i++, "t:13: missing record type: \"g.example\"");
    assert_err(x, i++, "t:14: $INCLUDE is not supported: \"$INCLUDE\"");
    assert_err(x, i++, "t:15: empty label (\"..\"): \"h..example\"");
    assert_err(x, i++, "t:17: record without data: \"CNAME\"");
    assert_err(x, i++, "t:18: unterminated quoted string: \"j.example\"");
    assert_err(x, i++, "t:19: wildcard rpz-ip trigger: \"*.128.zz.rpz-ip\"");
    assert_err(x, i++, "t:20: empty label (\"..\"): \"bad..target.\"");
    done(x);

    x = run("a.example CNAME . (\nb.example CNAME .\n");
    assert_int_equal(x->c.n, 0);
    assert_int_equal(x->r.bad, 1);
    assert_err(x, 0, "t:1: unbalanced '(' at the end of the file: \"a.example\"");
    done(x);

    x = run("  CNAME .\n");
    assert_int_equal(x->r.bad, 1);
    assert_err(x, 0, "t:1: record without an owner name: \"CNAME\"");
    done(x);
}

static void test_rpz_many_addrs(void **state)
{
    (void)state;
    char text[4096] = "s.example A 10.0.0.0\n";
    for (int i = 1; i <= MW_LISTFILE_ADDRS_MAX; i++) {
        char l[64];
        snprintf(l, sizeof(l), " A 10.0.0.%d\n", i);
        strcat(text, l);
    }
    strcat(text, "s.example CNAME .\n");
    struct run *x = run(text);
    assert_int_equal(x->c.n, 2);
    assert_int_equal(x->c.e[0].action, MW_LISTFILE_ACT_NXDOMAIN);
    assert_int_equal(x->c.e[1].naddrs, MW_LISTFILE_ADDRS_MAX);
    assert_int_equal(x->c.e[1].line, 1);
    assert_int_equal(x->r.bad, 1);
    assert_err(x, 0, "t:17: more than 16 local addresses for one trigger: \"10.0.0.16\"");
    done(x);
}

/* Master-file syntax that the old hand-written reader refused or ignored, now read by ldns. */
static void test_rpz_syntax(void **state)
{
    (void)state;
    struct run *x = run("$TTL 1h\n"                                    /* 1 */
                        "$ORIGIN rpz.example.\n"                       /* 2 */
                        "@ SOA ns h ( 1 2\n"                           /* 3 */
                        "   3 4 5 ) ; the serial\n"                    /* 4 */
                        "paren.example ( CNAME\n"                      /* 5 */
                        "   . )\n"                                     /* 6 */
                        "a\\.b.example CNAME .\n"                      /* 7 */
                        "\\065bc.example CNAME *.\n"                   /* 8 */
                        "class.example IN 300 CNAME rpz-drop.\n"       /* 9 */
                        "ttl.example 1d IN CNAME rpz-passthru.\n"      /* 10 */
                        "txt.example TXT \"a ; b\" ( \"c\"\n"          /* 11 */
                        "   \"d\" )\n"                                 /* 12 */
                        " CNAME .\n"                                   /* 13 */
                        "gen.example TYPE65534 \\# 2 abcd\n"           /* 14 */
                        "mx.example MX 10 mail\n"                      /* 15 */
                        "rel.example CNAME garden\r\n"                 /* 16 */
                        "$ORIGIN sub\n"                                /* 17 */
                        "x CNAME .\n"                                  /* 18 */
                        "esc.example CNAME walled\\.garden.example.\n" /* 19 */
                        "plus+sign.example CNAME .\n"                  /* 20 */
                        "generic.example CNAME \\# 1 00\n");           /* 21 */
    assert_int_equal(x->r.bad, 0);
    assert_int_equal(x->r.lines, 21);
    assert_int_equal(x->r.ignored, 1);
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_RPZ_DATA], 3);
    assert_int_equal(x->c.n, 11);
    const struct mw_listfile_entry *e = x->c.e;
    assert_domain(&e[0], "paren.example", MW_LISTFILE_EXACT, 5);
    assert_int_equal(e[0].action, MW_LISTFILE_ACT_NXDOMAIN);
    assert_domain(&e[1], "a\\046b.example", MW_LISTFILE_EXACT, 7);
    assert_domain(&e[2], "abc.example", MW_LISTFILE_EXACT, 8);
    assert_int_equal(e[2].action, MW_LISTFILE_ACT_NODATA);
    assert_domain(&e[3], "class.example", MW_LISTFILE_EXACT, 9);
    assert_int_equal(e[3].action, MW_LISTFILE_ACT_DROP);
    assert_domain(&e[4], "ttl.example", MW_LISTFILE_EXACT, 10);
    assert_int_equal(e[4].action, MW_LISTFILE_ACT_PASSTHRU);
    /* The blank owner of line 13 is the TXT record's. */
    assert_domain(&e[5], "txt.example", MW_LISTFILE_EXACT, 13);
    assert_domain(&e[6], "rel.example", MW_LISTFILE_EXACT, 16);
    assert_target(&e[6], "garden.rpz.example");
    /* A relative $ORIGIN is completed with the one before it. */
    assert_domain(&e[7], "x.sub", MW_LISTFILE_EXACT, 18);
    assert_domain(&e[8], "esc.example.sub", MW_LISTFILE_EXACT, 19);
    assert_target(&e[8], "walled\\046garden.example");
    /* Characters the fast path does not take are ldns's to read. */
    assert_domain(&e[9], "plus\\043sign.example.sub", MW_LISTFILE_EXACT, 20);
    /* RFC 3597 generic data: a CNAME to the root, NXDOMAIN. */
    assert_domain(&e[10], "generic.example.sub", MW_LISTFILE_EXACT, 21);
    assert_int_equal(e[10].action, MW_LISTFILE_ACT_NXDOMAIN);
    done(x);
}

/* All the A/AAAA records of one trigger make one entry, wherever they are in the zone. */
static void test_rpz_local_spread(void **state)
{
    (void)state;
    struct run *x = run("$ORIGIN rpz.\n"                   /* 1 */
                        "s.example A 10.0.0.1\n"           /* 2 */
                        "*.s.example A 10.0.0.3\n"         /* 3 */
                        "t.example CNAME .\n"              /* 4 */
                        "s.example AAAA 2001:db8::1\n"     /* 5 */
                        "32.1.0.0.10.rpz-ip A 192.0.2.1\n" /* 6 */
                        "S.Example. A 10.0.0.9\n"          /* 7: another zone's name */
                        "s.example ( A\n 10.0.0.2 )\n"     /* 8 */
                        "32.1.0.0.10.rpz-ip AAAA ::1\n");  /* 10 */
    assert_int_equal(x->r.bad, 1);
    assert_err(x, 0, "t:7: owner name outside the zone: \"S.Example.\"");
    assert_int_equal(x->c.n, 4);
    const struct mw_listfile_entry *e = x->c.e;
    assert_domain(&e[0], "t.example", MW_LISTFILE_EXACT, 4);
    assert_domain(&e[1], "s.example", MW_LISTFILE_EXACT, 2);
    assert_int_equal(e[1].action, MW_LISTFILE_ACT_SINKHOLE);
    assert_int_equal(e[1].naddrs, 3);
    assert_cidr(&e[1].addrs[0], "10.0.0.1/32");
    assert_cidr(&e[1].addrs[1], "2001:db8::1/128");
    assert_cidr(&e[1].addrs[2], "10.0.0.2/32");
    assert_domain(&e[2], "s.example", MW_LISTFILE_WILDCARD, 3);
    assert_int_equal(e[2].naddrs, 1);
    assert_ip(&e[3], "10.0.0.1/32", 6);
    assert_int_equal(e[3].action, MW_LISTFILE_ACT_SINKHOLE);
    assert_int_equal(e[3].naddrs, 2);
    assert_cidr(&e[3].addrs[1], "::1/128");
    done(x);
}

/* Bad records anywhere: each is reported with its line and the text, and the rest loads. */
static void test_rpz_bad_midfile(void **state)
{
    (void)state;
    struct run *x = run("$ORIGIN rpz.\n"                /* 1 */
                        "a.example CNAME .\n"           /* 2 */
                        "b.example MX mail\n"           /* 3 */
                        "c.example CNAME . extra\n"     /* 4 */
                        "d.example A 1.2.3.4 5.6.7.8\n" /* 5 */
                        "e\\.example CNAME bad\\\n"     /* 6 */
                        "f.example CNAME .\n"           /* 7 */
                        "$TTL\n"                        /* 8 */
                        "$TTL soon\n"                   /* 9 */
                        "$ORIGIN\n"                     /* 10 */
                        "$FOO bar\n"                    /* 11 */
                        "g.example CNAME .\n"           /* 12 */
                        "h.example TXT \"x\" )\n"       /* 13 */
                        "i.example CNAME .\n");         /* 14 */
    assert_int_equal(x->c.n, 4);
    assert_domain(&x->c.e[0], "a.example", MW_LISTFILE_EXACT, 2);
    assert_domain(&x->c.e[1], "f.example", MW_LISTFILE_EXACT, 7);
    assert_domain(&x->c.e[2], "g.example", MW_LISTFILE_EXACT, 12);
    assert_domain(&x->c.e[3], "i.example", MW_LISTFILE_EXACT, 14);
    /* Line 3: not policy data, so its text is not parsed: skipped, not reported. */
    assert_int_equal(x->r.skip[MW_LISTFILE_SKIP_RPZ_DATA], 1);
    assert_int_equal(x->r.bad, 8);
    size_t i = 0;
    assert_err(x, i++,
               "t:4: invalid CNAME record: Syntax error, superfluous text present: \". extra\"");
    assert_err(
        x, i++,
        "t:5: invalid A record: Syntax error, superfluous text present: \"1.2.3.4 5.6.7.8\"");
    assert_true(strncmp(x->errs.msgs[i++], "t:6: ", 5) == 0);
    assert_err(x, i++, "t:8: $TTL without a value: \"$TTL\"");
    assert_err(x, i++, "t:9: invalid $TTL: \"$TTL\"");
    assert_err(x, i++, "t:10: $ORIGIN without a name: \"$ORIGIN\"");
    assert_err(x, i++, "t:11: unknown directive: \"$FOO\"");
    assert_err(x, i++, "t:13: unbalanced ')': \"h.example\"");
    done(x);
}

/* Random records over a small alphabet of owners, types and data, read by both paths
 * (run() compares them): a deterministic fuzz of the fast path against ldns. */
static void test_rpz_paths_agree(void **state)
{
    (void)state;
    static const char *const owners[] = {"a.example",
                                         "B.Example",
                                         "*.c.example",
                                         "d-e_f.example",
                                         "@",
                                         "*",
                                         "x.example.rpz.",
                                         "y.other.",
                                         "32.4.3.2.1.rpz-ip",
                                         "24.0.2.0.192.rpz-ip",
                                         "48.zz.db8.2001.rpz-ip",
                                         "1",
                                         "",
                                         "h..x",
                                         "ns.rpz-nsdname",
                                         "toolonglabel-toolonglabel-toolonglabel-toolonglabel-x"
                                         "xxxxxxxxxxxx.example"};
    static const char *const mid[] = {"", "300 ", "IN ", "300 IN ", "IN 300 ", "1h "};
    static const char *const data[] = {"CNAME .",
                                       "CNAME *.",
                                       "CNAME rpz-passthru.",
                                       "CNAME rpz-drop.",
                                       "CNAME rpz-tcp-only.",
                                       "CNAME garden",
                                       "CNAME Garden.Example.",
                                       "CNAME *.garden.",
                                       "CNAME a.example",
                                       "CNAME bad..x.",
                                       "A 10.0.0.1",
                                       "A 300.0.0.1",
                                       "A 10.0.0",
                                       "AAAA 2001:db8::1",
                                       "AAAA 10.0.0.1",
                                       "AAAA ::ffff:1.2.3.4",
                                       "cname .",
                                       "a 10.0.0.2",
                                       "TXT x",
                                       "CNAME",
                                       "CNAME . .",
                                       "A 1.2.3.4 x",
                                       "NS ns1"};
    static const char *const ctl[] = {"$ORIGIN rpz.", "$ORIGIN sub.rpz.",
                                      "rpz. SOA ns. h. 1 2 3 4 5", "$TTL 60"};
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len = (size_t)snprintf(text, cap, "$ORIGIN rpz.\n");
    uint64_t s = 15;
    for (int i = 0; i < 4000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(s >> 33);
        int n;
        if (r % 50 == 0)
            n = snprintf(text + len, cap - len, "%s\n", ctl[(r / 50) % 4]);
        else
            n = snprintf(text + len, cap - len, "%s %s%s\n",
                         owners[(r / 7) % (sizeof(owners) / sizeof(owners[0]))],
                         mid[(r / 131) % (sizeof(mid) / sizeof(mid[0]))],
                         data[(r / 1031) % (sizeof(data) / sizeof(data[0]))]);
        assert_true(n > 0 && (size_t)n < cap - len);
        len += (size_t)n;
    }
    struct run *x = run_len(text, len);
    /* Both kinds of record are there in numbers: the comparison is not vacuous. */
    assert_true(x->c.n > 500);
    assert_true(x->r.bad > 500);
    assert_true(x->r.skipped > 100);
    done(x);
    free(text);
}

static int stop_at_two(const struct mw_listfile_entry *e, void *arg)
{
    (void)e;
    int *n = arg;
    return ++*n == 2 ? -ECANCELED : 0;
}

static void test_rpz_callback_abort(void **state)
{
    (void)state;
    const char *zone = "a.example A 1.2.3.4\nb.example CNAME .\nc.example CNAME .\n"
                       "d.example CNAME .\n";
    int n = 0;
    struct mw_listfile_report r;
    assert_int_equal(mw_rpz_parse("t", zone, strlen(zone), 0, stop_at_two, &n, &r, NULL),
                     -ECANCELED);
    assert_int_equal(n, 2);
    assert_int_equal(r.entries, 1);
    /* Through the list file entry point, detected. */
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    assert_int_equal(
        mw_listfile_parse_buf("t", zone, strlen(zone), MW_LISTFILE_FMT_RPZ, NULL, NULL, &r, &errs),
        0);
    assert_int_equal(r.format, MW_LISTFILE_FMT_RPZ);
    assert_int_equal(r.entries, 4);
    mw_errlist_deinit(&errs);
}

/* A record with more words than the reader keeps (TTL and class repeated): both paths read
 * it alike, the fast one never past the kept tokens (found by fuzz_rpz). */
static void test_rpz_many_tokens(void **state)
{
    (void)state;
    struct run *x = run("x.example. 3 IN 30 2 30 IN CNAME .\n"
                        "y.example. 3 IN 30 2\0012 30 IN CNAME .\n");
    done(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rpz),
        cmocka_unit_test(test_rpz_origin),
        cmocka_unit_test(test_rpz_bad),
        cmocka_unit_test(test_rpz_many_addrs),
        cmocka_unit_test(test_rpz_syntax),
        cmocka_unit_test(test_rpz_local_spread),
        cmocka_unit_test(test_rpz_bad_midfile),
        cmocka_unit_test(test_rpz_paths_agree),
        cmocka_unit_test(test_rpz_callback_abort),
        cmocka_unit_test(test_rpz_many_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
