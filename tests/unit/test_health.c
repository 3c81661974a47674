/* Unit tests for the active health checks (health.c): the state machine of one upstream
 * (probes, reports, down and up, pacing, timeouts), the 3 s bound for an idle upstream that
 * dies, driven through a simulated prober clock, and the board (slots, probe questions,
 * state kept across a rebuild). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minewall/config.h"
#include "minewall/health.h"
#include "minewall/netaddr.h"

static const struct mw_hcheck_params P = {
    .interval_ms = 1000, .down_after = 3, .up_after = 2, .timeout_ms = 1500};

static void test_probe_results(void **state)
{
    (void)state;
    struct mw_hcheck h;
    mw_hcheck_init(&h, 100);
    assert_true(mw_hcheck_due(&h, 100));
    assert_false(mw_hcheck_due(&h, 99));
    mw_hcheck_sent(&h);
    assert_false(mw_hcheck_due(&h, 5000)); /* one outstanding at a time */
    assert_int_equal(mw_hcheck_timeout(&h, &P), MW_HCHECK_UNKNOWN_MS);
    assert_int_equal(mw_hcheck_probe_done(&h, &P, true, 10, 110), MW_HCHECK_SAME);
    assert_int_equal(h.next_ms, 1110); /* healthy and idle: once an interval */
    assert_int_equal(mw_hcheck_timeout(&h, &P), 10 * 4 + MW_HCHECK_MARGIN_MS);
    /* Two failures: suspect, probed again at once; the third marks it down. */
    mw_hcheck_sent(&h);
    assert_int_equal(mw_hcheck_probe_done(&h, &P, false, 0, 2000), MW_HCHECK_SAME);
    assert_int_equal(h.next_ms, 2000 + MW_HCHECK_SUSPECT_MS);
    mw_hcheck_sent(&h);
    assert_int_equal(mw_hcheck_probe_done(&h, &P, false, 0, 2500), MW_HCHECK_SAME);
    /* A success in between starts the count over. */
    mw_hcheck_sent(&h);
    assert_int_equal(mw_hcheck_probe_done(&h, &P, true, 10, 2600), MW_HCHECK_SAME);
    for (int i = 0; i < 2; i++) {
        mw_hcheck_sent(&h);
        assert_int_equal(mw_hcheck_probe_done(&h, &P, false, 0, 3000), MW_HCHECK_SAME);
    }
    mw_hcheck_sent(&h);
    assert_int_equal(mw_hcheck_probe_done(&h, &P, false, 0, 3100), MW_HCHECK_DOWN);
    assert_true(h.down);
    assert_int_equal(h.next_ms, 4100); /* down: once an interval */
    mw_hcheck_sent(&h);
    assert_int_equal(mw_hcheck_probe_done(&h, &P, false, 0, 4100), MW_HCHECK_SAME); /* once */
    /* up_after successes in a row bring it back; a failure between them starts over. */
    mw_hcheck_sent(&h);
    assert_int_equal(mw_hcheck_probe_done(&h, &P, true, 1, 5100), MW_HCHECK_SAME);
    assert_int_equal(h.next_ms, 5100 + MW_HCHECK_SUSPECT_MS); /* coming back: confirm soon */
    mw_hcheck_sent(&h);
    assert_int_equal(mw_hcheck_probe_done(&h, &P, false, 0, 5200), MW_HCHECK_SAME);
    mw_hcheck_sent(&h);
    assert_int_equal(mw_hcheck_probe_done(&h, &P, true, 1, 6200), MW_HCHECK_SAME);
    mw_hcheck_sent(&h);
    assert_int_equal(mw_hcheck_probe_done(&h, &P, true, 1, 6300), MW_HCHECK_UP);
    assert_false(h.down);
    assert_int_equal(h.probes, 12);
    assert_int_equal(h.probe_failures, 7);
}

static void test_reports(void **state)
{
    (void)state;
    struct mw_hcheck h;
    mw_hcheck_init(&h, 0);
    h.next_ms = 900;
    /* Busy and healthy: answers push the probe back an interval. */
    assert_int_equal(mw_hcheck_reports(&h, &P, 0, false, true, 500), MW_HCHECK_SAME);
    assert_int_equal(h.next_ms, 1500);
    /* A failed client query makes it suspect: probed at the next tick. */
    assert_int_equal(mw_hcheck_reports(&h, &P, 1, false, true, 600), MW_HCHECK_SAME);
    assert_int_equal(h.next_ms, 600);
    /* A worker saw down_after failures in a row: down now. */
    assert_int_equal(mw_hcheck_reports(&h, &P, 3, true, false, 700), MW_HCHECK_DOWN);
    assert_true(h.down);
    assert_int_equal(mw_hcheck_reports(&h, &P, 3, true, false, 800), MW_HCHECK_SAME);
    /* Every upstream was down, clients asked this one and it answered: one success a tick. */
    assert_int_equal(mw_hcheck_reports(&h, &P, 0, false, true, 900), MW_HCHECK_SAME);
    assert_int_equal(mw_hcheck_reports(&h, &P, 0, false, true, 1000), MW_HCHECK_UP);
    assert_false(h.down);
    assert_int_equal(mw_hcheck_reports(&h, &P, 0, false, false, 1100), MW_HCHECK_SAME);
}

/* An idle upstream with a 1 ms RTT that answered its first probe dies at any moment of its
 * probe cycle: a prober ticking every MW_HCHECK_SUSPECT_MS (probes sent and timeouts seen on
 * ticks only, as prober.c does) marks it down within 3 s. (One dead from the start has no RTT
 * yet: its probes wait MW_HCHECK_UNKNOWN_MS each.) */
static void test_dead_within_3s(void **state)
{
    (void)state;
    for (uint64_t death = 1; death < 2000; death += 37) {
        struct mw_hcheck h;
        mw_hcheck_init(&h, 0);
        uint64_t sent = 0, down_at = 0;
        for (uint64_t now = 0; now < 20000 && !down_at; now += MW_HCHECK_SUSPECT_MS) {
            if (h.in_flight) {
                bool dead = sent >= death;
                if (!dead && now >= sent + 1)
                    mw_hcheck_probe_done(&h, &P, true, 1, now);
                else if (dead && now >= sent + mw_hcheck_timeout(&h, &P) &&
                         mw_hcheck_probe_done(&h, &P, false, 0, now) == MW_HCHECK_DOWN)
                    down_at = now;
            }
            if (mw_hcheck_due(&h, now)) {
                mw_hcheck_sent(&h);
                sent = now;
            }
        }
        assert_true(down_at > death);
        if (down_at - death > 3000)
            fail_msg("died at %llu ms, down at %llu ms", (unsigned long long)death,
                     (unsigned long long)down_at);
    }
}

static struct mw_addr A[3];

static void test_board(void **state)
{
    (void)state;
    assert_int_equal(mw_addr_parse("127.0.0.1:53", 53, &A[0]), 0);
    assert_int_equal(mw_addr_parse("127.0.0.2:53", 53, &A[1]), 0);
    assert_int_equal(mw_addr_parse("[::1]:5353", 53, &A[2]), 0);
    struct mw_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.upstreams = A;
    cfg.n_upstreams = 1;
    struct mw_forward_zone z[2];
    memset(z, 0, sizeof(z));
    z[0].name = "corp.example";
    memcpy(z[0].wire,
           "\x04"
           "corp\x07"
           "example",
           14);
    z[0].wire_len = 14;
    z[0].upstreams = A; /* a default upstream too: asked ". NS" */
    z[0].n_upstreams = 2;
    z[1].name = "lab";
    memcpy(z[1].wire, "\x03lab", 5);
    z[1].wire_len = 5;
    z[1].upstreams = &A[1]; /* already the first zone's */
    z[1].n_upstreams = 2;
    cfg.zones = z;
    cfg.n_zones = 2;
    cfg.health.interval_ms = 1000;
    cfg.health.down_after = 3;
    cfg.health.up_after = 2;
    cfg.upstream.timeout_ms = 1500;

    struct mw_health *b = mw_health_build(&cfg, NULL, 50);
    assert_non_null(b);
    assert_int_equal(b->n, 3);
    assert_string_equal(b->slot[0].label, "127.0.0.1:53");
    assert_int_equal(b->slot[0].q.qname_len, 1);
    assert_int_equal(b->slot[0].q.qtype, MW_TYPE_NS);
    assert_int_equal(b->slot[1].q.qname_len, 14); /* zone-only: its first zone */
    assert_memory_equal(b->slot[1].q.qname, z[0].wire, 14);
    assert_int_equal(b->slot[2].q.qname_len, 5);
    assert_ptr_equal(mw_health_find(b, &A[2]), &b->slot[2]);
    assert_int_equal(b->slot[2].hc.next_ms, 50);

    struct mw_hcheck_params hp;
    mw_health_params(&cfg, &hp);
    assert_int_equal(hp.down_after, 3);
    mw_health_report_fail(&b->slot[1], true);
    assert_int_equal(mw_health_tick(&b->slot[1], &hp, 100), MW_HCHECK_DOWN);
    assert_true(mw_health_down(&b->slot[1]));
    assert_int_equal(b->slot[1].fail_reports, 0);
    mw_hcheck_sent(&b->slot[1].hc);

    /* Reload without the first upstream: the others keep their state, the probe in flight
     * is the old board's, and a far probe time is brought near (a new config may have a
     * shorter interval). */
    cfg.upstreams = &A[1];
    z[0].upstreams = &A[1];
    z[0].n_upstreams = 1;
    b->slot[2].hc.next_ms = 99999;
    struct mw_health *c = mw_health_build(&cfg, b, 200);
    assert_non_null(c);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->slot[0].label, "127.0.0.2:53");
    assert_true(mw_health_down(&c->slot[0]));
    assert_true(c->slot[0].hc.down);
    assert_false(c->slot[0].hc.in_flight);
    assert_int_equal(c->slot[0].hc.probes, 1);
    assert_int_equal(c->slot[0].q.qname_len, 1); /* a default upstream now */
    assert_int_equal(c->slot[1].q.qname_len, 5);
    assert_int_equal(c->slot[1].hc.next_ms, 200 + MW_HCHECK_SUSPECT_MS);
    /* A host name's address (DoH bootstrap) is read back as written and kept on reload. */
    struct mw_addr r, got;
    assert_false(mw_health_resolved(&c->slot[1], &got));
    assert_int_equal(mw_addr_parse("192.0.2.7:443", 53, &r), 0);
    mw_health_set_resolved(&c->slot[1], &r);
    assert_true(mw_health_resolved(&c->slot[1], &got));
    assert_true(mw_addr_equal(&got, &r));
    c->slot[1].res_next_ms = 5000;
    struct mw_health *d = mw_health_build(&cfg, c, 300);
    assert_non_null(d);
    assert_true(mw_health_resolved(&d->slot[1], &got));
    assert_true(mw_addr_equal(&got, &r));
    assert_int_equal(d->slot[1].res_next_ms, 5000);
    assert_false(mw_health_resolved(&d->slot[0], &got));
    mw_health_unref(d);
    mw_health_unref(b);
    assert_ptr_equal(mw_health_ref(c), c);
    mw_health_unref(c);
    mw_health_unref(c);
    mw_health_unref(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_results),
        cmocka_unit_test(test_reports),
        cmocka_unit_test(test_dead_within_3s),
        cmocka_unit_test(test_board),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
