/* Unit tests for the upstream sets (upset.c): building a set from a config keeps what an
 * earlier set learned and points into the health board, selection prefers healthy fast
 * members, a run of failures takes a member out for the worker and is reported to the board,
 * and the sync tick follows the board. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minewall/config.h"
#include "minewall/health.h"
#include "minewall/netaddr.h"
#include "minewall/rand.h"
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
    struct mw_health *hb = mw_health_build(&cfg, NULL, 0);
    assert_non_null(hb);
    struct mw_upset *s = mw_upset_build(&cfg, NULL, hb);
    assert_non_null(s);
    assert_int_equal(s->n, 2); /* distinct addresses */
    assert_int_equal(s->def.n, 3);
    assert_int_equal(s->def.idx[2], 0);
    assert_string_equal(s->u[1].label, "127.0.0.2:53");
    assert_ptr_equal(s->u[1].hs, &hb->slot[1]);
    s->u[1].srtt_ms = 7;
    /* A new board (reload): the set's members point into it, the RTT stays. */
    struct mw_health *hb2 = mw_health_build(&cfg, hb, 0);
    assert_non_null(hb2);
    struct mw_upset *t = mw_upset_build(&cfg, s, hb2);
    assert_non_null(t);
    assert_true(t->u[1].srtt_ms == 7);
    assert_ptr_equal(t->u[1].hs, &hb2->slot[1]);
    struct mw_upset *n = mw_upset_build(&cfg, t, NULL);
    assert_non_null(n);
    assert_null(n->u[1].hs); /* no board: nothing borrowed from the old one */
    mw_upset_unref(s);
    mw_upset_unref(t);
    mw_upset_unref(n);
    mw_upset_unref(NULL);
    /* The sets held references: the boards are still ours to drop (ASan sees a leak or a
     * double free otherwise). */
    assert_int_equal(hb->refs, 1);
    assert_int_equal(hb2->refs, 1);
    mw_health_unref(hb);
    mw_health_unref(hb2);
}

static void test_pick_and_health(void **state)
{
    (void)state;
    struct mw_rand rng;
    mw_rand_init(&rng);
    struct mw_config cfg;
    make_cfg(&cfg, 2);
    struct mw_health *hb = mw_health_build(&cfg, NULL, 0);
    assert_non_null(hb);
    struct mw_upset *s = mw_upset_build(&cfg, NULL, hb);
    assert_non_null(s);
    s->u[0].srtt_ms = 50;
    s->u[1].srtt_ms = 5;
    uint32_t tried = 0;
    /* The faster one, except for the one question in 32 that measures another: after a first
     * try, never random. */
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 1, false, &rng), 1);
    tried = 2;
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 1, false, &rng), 0);
    tried = 3;
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 2, false, &rng), -1);
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 2, true, &rng), 1);
    assert_int_equal(tried, 0);
    /* A first try: the faster one but for about one in 64 (one in 32 explores, half of those
     * land on the faster one again). */
    unsigned slow = 0;
    for (int i = 0; i < 6400; i++) {
        tried = 0;
        slow += mw_upset_pick(s, &s->def, &tried, 0, false, &rng) == 0;
    }
    assert_in_range(slow, 40, 200);

    /* Three failures in a row: down for this worker at once. */
    assert_false(mw_upset_failed(&s->u[1], 3));
    assert_false(mw_upset_failed(&s->u[1], 3));
    assert_true(mw_upset_failed(&s->u[1], 3));
    assert_true(s->u[1].down);
    assert_false(mw_upset_failed(&s->u[1], 3)); /* the run was reported once */
    tried = 0;
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 1, false, &rng), 0); /* the healthy one */
    tried = 1;
    assert_int_equal(mw_upset_pick(s, &s->def, &tried, 1, false, &rng), 1); /* then the down one */
    /* The board has not taken the report yet: the sync keeps the member down and reports the
     * run again, so it cannot be lost. */
    mw_upset_sync(s, 3);
    assert_true(s->u[1].down);
    assert_int_equal(hb->slot[1].down_reports, 1);
    /* The prober marks it down, later up: the sync follows and the run starts over. */
    struct mw_hcheck_params hp = {
        .interval_ms = 1000, .down_after = 3, .up_after = 1, .timeout_ms = 1500};
    assert_int_equal(mw_health_tick(&hb->slot[1], &hp, 10), MW_HCHECK_DOWN);
    assert_true(mw_health_down(&hb->slot[1]));
    mw_upset_sync(s, 3);
    assert_true(s->u[1].down);
    assert_int_equal(hb->slot[1].down_reports, 0);
    mw_hcheck_sent(&hb->slot[1].hc);
    assert_int_equal(mw_health_probe_done(&hb->slot[1], &hp, true, 1, 20), MW_HCHECK_UP);
    mw_upset_sync(s, 3);
    assert_false(s->u[1].down);
    assert_int_equal(s->u[1].fails, 0);
    /* Answers: counted, and reported to the board once per sync, not per answer. */
    mw_upset_answered(&s->u[0], 20);
    mw_upset_answered(&s->u[0], 20);
    mw_upset_sync(s, 3);
    assert_int_equal(hb->slot[0].answer_reports, 1);
    mw_upset_sync(s, 3);
    assert_int_equal(hb->slot[0].answer_reports, 1);
    mw_health_unref(hb);
    mw_upset_unref(s);
}

/* Without a board the worker's own run of failures decides, and an answer ends it. */
static void test_no_board(void **state)
{
    (void)state;
    struct mw_config cfg;
    make_cfg(&cfg, 2);
    struct mw_upset *s = mw_upset_build(&cfg, NULL, NULL);
    assert_non_null(s);
    assert_false(mw_upset_failed(&s->u[0], 2));
    assert_true(mw_upset_failed(&s->u[0], 2));
    mw_upset_sync(s, 2);
    assert_true(s->u[0].down);
    mw_upset_answered(&s->u[0], 5);
    mw_upset_sync(s, 2);
    assert_false(s->u[0].down);
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

/* Two workers' sets on one board share the RTT at their sync ticks: the one with answers
 * publishes, the quiet one takes it; both with answers meet halfway. A reload keeps it. */
static void test_shared_rtt(void **state)
{
    (void)state;
    struct mw_config cfg;
    make_cfg(&cfg, 2);
    struct mw_health *hb = mw_health_build(&cfg, NULL, 0);
    assert_non_null(hb);
    struct mw_upset *a = mw_upset_build(&cfg, NULL, hb), *b = mw_upset_build(&cfg, NULL, hb);
    assert_non_null(a);
    assert_non_null(b);
    mw_upset_answered(&a->u[0], 20);
    mw_upset_sync(a, 3);
    mw_upset_sync(b, 3);
    assert_true(b->u[0].srtt_ms > 20 && b->u[0].srtt_ms < 20.2);
    assert_true(b->u[1].srtt_ms == 0); /* nobody measured it */
    mw_upset_answered(&b->u[0], 60);   /* 20.1 * 0.875 + 7.5 = 25.09 */
    mw_upset_sync(b, 3);               /* (25.09 + 20.1) / 2 */
    assert_true(b->u[0].srtt_ms > 22.5 && b->u[0].srtt_ms < 22.7);
    mw_upset_sync(a, 3); /* no answers since: a takes it */
    assert_true(a->u[0].srtt_ms > 22.5 && a->u[0].srtt_ms < 22.7);
    struct mw_health *hb2 = mw_health_build(&cfg, hb, 0);
    assert_non_null(hb2);
    assert_int_equal(hb2->slot[0].srtt_us, hb->slot[0].srtt_us);
    mw_upset_unref(a);
    mw_upset_unref(b);
    mw_health_unref(hb);
    mw_health_unref(hb2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_keeps_health), cmocka_unit_test(test_pick_and_health),
        cmocka_unit_test(test_no_board),           cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_shared_rtt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
