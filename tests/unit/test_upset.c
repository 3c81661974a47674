/* Unit tests for the upstream sets and their health (upset.c): building a set from a config
 * keeps what an earlier set learned, selection prefers healthy fast members, failures and
 * answers move an upstream down and up, probes back off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minewall/config.h"
#include "minewall/netaddr.h"
#include "minewall/upset.h"

static struct mw_addr addrs[3];

static void make_cfg(struct mw_config *cfg, size_t n)
{
    memset(cfg, 0, sizeof(*cfg));
    assert_int_equal(mw_addr_parse("127.0.0.1:53", 53, &addrs[0]), 0);
    assert_int_equal(mw_addr_parse("127.0.0.2:53", 53, &addrs[1]), 0);
    assert_int_equal(mw_addr_parse("127.0.0.1:53", 53, &addrs[2]), 0); /* a repeat */
    cfg->upstreams = addrs;
    cfg->n_upstreams = n;
    cfg->upstream.timeout_ms = 1500;
}

static void test_build_keeps_health(void **state)
{
    (void)state;
    struct mw_config cfg;
    make_cfg(&cfg, 3);
    struct mw_upset *s = mw_upset_build(&cfg, NULL);
    assert_non_null(s);
    assert_int_equal(s->n, 2); /* distinct addresses */
    assert_int_equal(s->def.n, 3);
    assert_int_equal(s->def.idx[2], 0);
    assert_string_equal(s->u[1].label, "127.0.0.2:53");
    s->u[1].srtt_ms = 7;
    s->u[1].probe_in_flight = true;
    struct mw_upset *t = mw_upset_build(&cfg, s);
    assert_non_null(t);
    assert_true(t->u[1].srtt_ms == 7);
    assert_false(t->u[1].probe_in_flight); /* the probe belongs to the old set's fetch */
    mw_upset_unref(s);
    mw_upset_unref(t);
    mw_upset_unref(NULL);
}

static void test_pick_and_health(void **state)
{
    (void)state;
    struct mw_config cfg;
    make_cfg(&cfg, 2);
    struct mw_upset *s = mw_upset_build(&cfg, NULL);
    assert_non_null(s);
    s->u[0].srtt_ms = 50;
    s->u[1].srtt_ms = 5;
    uint32_t tried = 0;
    /* The faster one, except for the one question in 32 that measures another: after a first
     * try, never random. */
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 1, false), 1);
    tried = 2;
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 1, false), 0);
    tried = 3;
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 2, false), -1);
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 2, true), 1);
    assert_int_equal(tried, 0);

    assert_false(mw_upset_failed(&s->u[1], 100));
    assert_false(mw_upset_failed(&s->u[1], 100));
    assert_true(mw_upset_failed(&s->u[1], 100));
    assert_true(s->u[1].down);
    assert_int_equal(s->u[1].next_probe_ms, 1100);
    assert_false(mw_upset_failed(&s->u[1], 200)); /* already down: said once */
    tried = 0;
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 1, false), 0); /* the healthy one */
    tried = 1;
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 1, false), 1); /* then the down one */
    mw_upset_probe_failed(&s->u[1], 1000);
    assert_int_equal(s->u[1].probe_backoff_ms, 2000);
    assert_int_equal(s->u[1].next_probe_ms, 3000);
    for (int i = 0; i < 5; i++)
        mw_upset_probe_failed(&s->u[1], 1000);
    assert_int_equal(s->u[1].probe_backoff_ms, 8000);
    assert_true(mw_upset_answered(&s->u[1], 20));
    assert_false(s->u[1].down);
    assert_int_equal(s->u[1].fails, 0);
    assert_false(mw_upset_answered(&s->u[1], 20));
    mw_upset_unref(s);
}

static void test_timeout(void **state)
{
    (void)state;
    struct mw_config cfg;
    make_cfg(&cfg, 1);
    struct mw_upstream u = {0};
    assert_int_equal(mw_upset_timeout(cfg.upstream.timeout_ms, &u), 1500);
    u.srtt_ms = 10;
    assert_int_equal(mw_upset_timeout(cfg.upstream.timeout_ms, &u), 290);
    u.srtt_ms = 1000;
    assert_int_equal(mw_upset_timeout(cfg.upstream.timeout_ms, &u), 1500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_keeps_health),
        cmocka_unit_test(test_pick_and_health),
        cmocka_unit_test(test_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
