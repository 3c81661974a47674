/* Unit tests for groups.c (the client group matcher) and config_groups.c (`groups:`): the most
 * specific prefix wins, IPv6 and IPv4-mapped clients, listener-restricted groups before
 * unrestricted ones at equal prefix and never on another listener, conflicting prefixes
 * refused; the config's groups with their lists, actions, zones, local data and rate limit,
 * and every config error with its FILE:LINE. Prints (does not assert) the cost of a lookup in
 * 10,000 prefixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/error.h"
#include "minewall/groups.h"
#include "minewall/netaddr.h"

static struct mw_groups_rule rule(const char *cidr, uint16_t group)
{
    struct mw_groups_rule r = {.group = group};
    assert_int_equal(mw_cidr_parse(cidr, &r.cidr), 0);
    return r;
}

static unsigned match_on(const struct mw_groups *g, const char *ip, const struct mw_addr *l)
{
    struct mw_addr a;
    assert_int_equal(mw_addr_parse_ip(ip, 4444, &a), 0);
    return mw_groups_match(g, &a.u.sa, l);
}

static unsigned match(const struct mw_groups *g, const char *ip)
{
    return match_on(g, ip, NULL);
}

static void test_most_specific(void **state)
{
    (void)state;
    struct mw_groups_rule r[] = {
        rule("10.0.0.0/8", 1), rule("10.1.0.0/16", 2), rule("10.1.2.3", 3),
        rule("0.0.0.0/0", 4),  rule("10.1.0.0/16", 2), /* again in its own group: harmless */
    };
    struct mw_groups *g;
    size_t a, b;
    assert_int_equal(mw_groups_new(r, 5, &g, &a, &b), 0);
    assert_int_equal(match(g, "10.1.2.3"), 3);
    assert_int_equal(match(g, "10.1.2.4"), 2);
    assert_int_equal(match(g, "10.2.0.1"), 1);
    assert_int_equal(match(g, "192.0.2.1"), 4);
    assert_int_equal(match(g, "::ffff:10.1.2.3"), 3); /* IPv4-mapped is IPv4 */
    assert_int_equal(match(g, "2001:db8::1"), 0);     /* no IPv6 prefix: default */
    size_t np, nl;
    mw_groups_counts(g, &np, &nl);
    assert_int_equal(np, 4);
    assert_int_equal(nl, 4);
    mw_groups_free(g);
    assert_int_equal(match(NULL, "10.1.2.3"), 0);
}

static void test_v6(void **state)
{
    (void)state;
    struct mw_groups_rule r[] = {
        rule("2001:db8::/32", 1), rule("2001:db8:1::/48", 2), rule("2001:db8:1:0:8000::/65", 3),
        rule("2001:db8:1::7", 4), rule("10.0.0.0/8", 5),
    };
    struct mw_groups *g;
    size_t a, b;
    assert_int_equal(mw_groups_new(r, 5, &g, &a, &b), 0);
    assert_int_equal(match(g, "2001:db8:1::7"), 4);
    assert_int_equal(match(g, "2001:db8:1::8"), 2);
    assert_int_equal(match(g, "2001:db8:1:0:8000::1"), 3);
    assert_int_equal(match(g, "2001:db8:1:0:7fff::1"), 2);
    assert_int_equal(match(g, "2001:db8:2::1"), 1);
    assert_int_equal(match(g, "2001:db9::1"), 0);
    assert_int_equal(match(g, "10.9.9.9"), 5);
    mw_groups_free(g);
}

static void test_listener(void **state)
{
    (void)state;
    struct mw_addr l1, l2, l3;
    assert_int_equal(mw_addr_parse("127.0.0.1:5300", 53, &l1), 0);
    assert_int_equal(mw_addr_parse("127.0.0.1:5301", 53, &l2), 0);
    assert_int_equal(mw_addr_parse("127.0.0.1:5302", 53, &l3), 0);
    struct mw_groups_rule r[] = {
        rule("10.0.0.0/8", 1), rule("10.1.0.0/16", 2), rule("10.1.0.0/16", 3),
        rule("10.0.0.0/8", 4), rule("10.9.0.0/16", 5),
    };
    r[2].listeners = &l1; /* group 3: 10.1/16 on listener 1 only */
    r[2].n_listeners = 1;
    r[3].listeners = &l2; /* group 4: 10/8 on listener 2 only */
    r[3].n_listeners = 1;
    struct mw_addr both[2] = {l1, l2};
    r[4].listeners = both; /* group 5: 10.9/16 on listeners 1 and 2 */
    r[4].n_listeners = 2;
    struct mw_groups *g;
    size_t a, b;
    assert_int_equal(mw_groups_new(r, 5, &g, &a, &b), 0);
    assert_true(mw_groups_uses_listeners(g));
    /* Equal prefix: the restricted group on its listener, the unrestricted one elsewhere. */
    assert_int_equal(match_on(g, "10.1.2.3", &l1), 3);
    assert_int_equal(match_on(g, "10.1.2.3", &l2), 2);
    assert_int_equal(match_on(g, "10.1.2.3", &l3), 2);
    assert_int_equal(match_on(g, "10.1.2.3", NULL), 2);
    assert_int_equal(match_on(g, "10.2.0.1", &l2), 4);
    assert_int_equal(match_on(g, "10.2.0.1", &l1), 1);
    /* A restricted prefix on another listener falls back to the next shorter one. */
    assert_int_equal(match_on(g, "10.9.0.1", &l1), 5);
    assert_int_equal(match_on(g, "10.9.0.1", &l2), 5);
    assert_int_equal(match_on(g, "10.9.0.1", &l3), 1);
    mw_groups_free(g);
}

static void test_conflicts(void **state)
{
    (void)state;
    struct mw_addr l1, l2;
    assert_int_equal(mw_addr_parse("127.0.0.1:5300", 53, &l1), 0);
    assert_int_equal(mw_addr_parse("127.0.0.1:5301", 53, &l2), 0);
    struct mw_groups_rule r[] = {rule("10.0.0.0/8", 1), rule("192.0.2.0/24", 2),
                                 rule("10.0.0.0/8", 2)};
    struct mw_groups *g = NULL;
    size_t a = 9, b = 9;
    assert_int_equal(mw_groups_new(r, 3, &g, &a, &b), -EEXIST);
    assert_null(g);
    assert_int_equal(a, 0);
    assert_int_equal(b, 2);
    /* Disjoint listener sets: no conflict; a shared listener: conflict. */
    r[0].listeners = &l1;
    r[0].n_listeners = 1;
    r[2].listeners = &l2;
    r[2].n_listeners = 1;
    assert_int_equal(mw_groups_new(r, 3, &g, &a, &b), 0);
    mw_groups_free(g);
    r[2].listeners = &l1;
    assert_int_equal(mw_groups_new(r, 3, &g, &a, &b), -EEXIST);
    r[0].group = 0;
    assert_int_equal(mw_groups_new(r, 3, &g, &a, &b), -EINVAL);
}

/* 1,000 groups of 10 prefixes (/24 and /32 of 10.x.y.0, and /48 of IPv6): the lookup cost. */
static void test_scale(void **state)
{
    (void)state;
    size_t n = 10000;
    struct mw_groups_rule *r = calloc(n, sizeof(*r));
    assert_non_null(r);
    char t[64];
    for (size_t i = 0; i < n; i++) {
        size_t k = i % 3;
        if (k == 0)
            snprintf(t, sizeof(t), "10.%zu.%zu.0/24", (i >> 8) & 255, i & 255);
        else if (k == 1)
            snprintf(t, sizeof(t), "172.16.%zu.%zu", (i >> 8) & 255, i & 255);
        else
            snprintf(t, sizeof(t), "2001:db8:%zx::/48", i);
        r[i] = rule(t, (uint16_t)(i / 10 + 1));
    }
    struct mw_groups *g;
    size_t a, b;
    assert_int_equal(mw_groups_new(r, n, &g, &a, &b), 0);
    snprintf(t, sizeof(t), "10.%zu.%zu.77", (size_t)(9999 >> 8) & 255, (size_t)9999 & 255);
    assert_int_equal(match(g, t), 1000);
    struct mw_addr ad;
    assert_int_equal(mw_addr_parse_ip(t, 1, &ad), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned sum = 0;
    for (int i = 0; i < 1000000; i++)
        sum += mw_groups_match(g, &ad.u.sa, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(sum, 1000u * 1000000u);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e6;
    print_message("groups: %.1f ns per lookup in %zu prefixes of 1000 groups\n", ns, n);
    mw_groups_free(g);
    free(r);
}

/* ---- config ---- */

#define NAME "t.yaml"

static struct mw_config *parse(const char *text, struct mw_errlist *e)
{
    return mw_config_parse(text, strlen(text), NAME, e);
}

static void parse_error(const char *text, const char *want)
{
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_config *cfg = parse(text, &e);
    assert_null(cfg);
    bool ok = e.n >= 1 && strncmp(e.msgs[0], want, strlen(want)) == 0;
    if (!ok) {
        for (size_t i = 0; i < e.n; i++)
            print_error("  got: %s\n", e.msgs[i]);
        fail_msg("want %s", want);
    }
    mw_errlist_deinit(&e);
}

#define LISTS                                                                                      \
    "lists:\n"                                                                                     \
    "  - {name: pools, category: mining, path: /dev/null}\n"                                       \
    "  - {name: c2, category: c2, path: /dev/null}\n"

static void test_config_groups(void **state)
{
    (void)state;
    const char *text =
        "listen: ['127.0.0.1:5300', '127.0.0.1:5301']\n" LISTS
        "forward-zones: {corp.example: ['192.0.2.1']}\n"
        "groups:\n"
        "  builders:\n"
        "    clients: ['10.1.0.0/16', 'fd00:1::/32']\n"
        "    listeners: ['127.0.0.1:5301']\n"
        "    lists: [pools, 'category:c2']\n"
        "    actions: {mining: log, c2: nxdomain}\n"
        "    forward-zones: {corp.example: ['192.0.2.9'], b.example: ['192.0.2.8']}\n"
        "    local-data: ['printer.corp.internal. 300 A 10.0.0.7']\n"
        "    rate-limit: {qps: 5}\n"
        "    log-queries: false\n"
        "  prod:\n"
        "    clients: ['10.2.0.0/16']\n";
    struct mw_errlist e;
    mw_errlist_init(&e);
    struct mw_config *cfg = parse(text, &e);
    if (!cfg)
        fail_msg("%s", e.n ? e.msgs[0] : "?");
    mw_errlist_deinit(&e);
    assert_int_equal(cfg->n_groups, 2);
    const struct mw_group_conf *b = &cfg->groups[0], *p = &cfg->groups[1];
    assert_string_equal(b->name, "builders");
    assert_int_equal(b->n_clients, 2);
    assert_int_equal(b->n_listeners, 1);
    assert_false(b->all_lists);
    assert_int_equal(b->n_lists, 2);
    assert_string_equal(b->lists[1], "c2");
    assert_true(b->is_cat[1]);
    assert_int_equal(b->n_actions, 2);
    assert_true(b->actions[0].category); /* "mining" is a category, not a list */
    assert_int_equal(b->actions[0].action, MW_ACTION_LOG);
    assert_false(b->actions[1].category); /* "c2" is a list name first */
    assert_non_null(b->local);
    assert_true(b->has_ratelimit);
    assert_int_equal(b->ratelimit.qps, 5);
    assert_int_equal(b->ratelimit.burst, 10);
    assert_false(b->log_queries);
    assert_true(p->all_lists);
    assert_true(p->log_queries);
    assert_false(p->has_ratelimit);
    assert_null(p->local);
    assert_false(mw_config_group_logs_queries(cfg, 1));
    assert_true(mw_config_group_logs_queries(cfg, 2));
    assert_true(mw_config_group_logs_queries(cfg, 0));
    assert_string_equal(mw_config_group_name(cfg, 0), "default");
    assert_string_equal(mw_config_group_name(cfg, 2), "prod");
    assert_int_equal(mw_config_group_find(cfg, "prod"), 2);
    assert_int_equal(mw_config_group_find(cfg, "nope"), -ENOENT);
    /* Zones: the top-level one first, then the group's two. */
    assert_int_equal(cfg->n_zones, 3);
    assert_int_equal(b->n_zones, 2);
    assert_int_equal(p->n_zones, 0);
    uint8_t w[256];
    int wl = mw_dname_from_text("www.corp.example", w, sizeof(w));
    const struct mw_forward_zone *z = mw_config_zone_for_group(cfg, 1, w, (size_t)wl);
    assert_non_null(z);
    assert_int_equal(z->group, 1);
    z = mw_config_zone_for_group(cfg, 2, w, (size_t)wl);
    assert_int_equal(z->group, 0);
    z = mw_config_zone_for(cfg, w, (size_t)wl);
    assert_int_equal(z->group, 0);
    wl = mw_dname_from_text("x.b.example", w, sizeof(w));
    assert_null(mw_config_zone_for(cfg, w, (size_t)wl));
    assert_non_null(mw_config_zone_for_group(cfg, 1, w, (size_t)wl));
    /* The matcher, listener-restricted. */
    struct mw_addr l;
    assert_int_equal(mw_addr_parse("127.0.0.1:5301", 53, &l), 0);
    assert_int_equal(match_on(cfg->group_match, "10.1.0.1", &l), 1);
    assert_int_equal(match_on(cfg->group_match, "10.1.0.1", &cfg->listen[0]), 0);
    assert_int_equal(match_on(cfg->group_match, "10.2.0.1", &cfg->listen[0]), 2);
    mw_config_free(cfg);
}

static void test_config_errors(void **state)
{
    (void)state;
    parse_error(LISTS "groups:\n  default:\n    clients: ['10.0.0.0/8']\n",
                "t.yaml:5: groups: 'default' is the group");
    parse_error(LISTS "groups:\n  a:\n    clients: ['10.0.0.0/33']\n",
                "t.yaml:6: groups.clients: invalid prefix '10.0.0.0/33'");
    parse_error(LISTS "groups:\n  a:\n    clients: ['10.0.0.0/8']\n    lists: [pools, nope]\n",
                "t.yaml:7: groups.a.lists: unknown list 'nope'");
    parse_error(LISTS "groups:\n  a:\n    clients: ['10.0.0.0/8']\n    lists: ['category:x']\n",
                "t.yaml:7: groups.a.lists: unknown category 'x'");
    parse_error(LISTS "groups:\n  a:\n    clients: ['10.0.0.0/8']\n    actions: {zzz: log}\n",
                "t.yaml:7: groups.a.actions: unknown list or category 'zzz'");
    parse_error(LISTS "groups:\n  a:\n    clients: ['10.0.0.0/8']\n    actions: {c2: bogus}\n",
                "t.yaml:7: groups.actions");
    parse_error(LISTS "groups:\n"
                      "  a:\n    clients: ['10.0.0.0/8']\n"
                      "  b:\n    clients: ['192.0.2.0/24', '10.0.0.0/8']\n",
                "t.yaml:8: groups.b.clients: 10.0.0.0/8 is also a client prefix of group 'a' "
                "(line 6)");
    parse_error(LISTS "groups:\n  a:\n    clients: ['10.0.0.0/8']\n    listeners: ['127.0.0.9']\n",
                "t.yaml:5: groups.a.listeners: 127.0.0.9:53 is not one of the listen addresses");
    parse_error(LISTS "groups:\n  a:\n    clients: ['10.0.0.0/8']\n    colour: blue\n",
                "t.yaml:7: unknown key 'colour' in 'groups.a'");
    parse_error(LISTS "groups:\n  a:\n    lists: [pools]\n", "t.yaml:6: groups.a: no clients");
    parse_error(LISTS "groups:\n  a:\n    clients: ['10.0.0.0/8']\n"
                      "    local-data: ['x.example. A 300 1.2.3.4']\n",
                "t.yaml:7:");
    parse_error(LISTS "groups:\n  a:\n    clients: ['10.0.0.0/8']\n    rate-limit: {burst: 3}\n",
                "t.yaml:7: rate-limit");
    parse_error(LISTS "groups:\n  a b:\n    clients: ['10.0.0.0/8']\n",
                "t.yaml:5: groups: invalid group name 'a b'");
    parse_error(LISTS "groups:\n  a:\n    clients: ['10.0.0.0/8']\n    log-queries: maybe\n",
                "t.yaml:7: groups.log-queries: expected true or false");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_most_specific), cmocka_unit_test(test_v6),
        cmocka_unit_test(test_listener),      cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_scale),         cmocka_unit_test(test_config_groups),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
