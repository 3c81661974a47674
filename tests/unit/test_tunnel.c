/* Unit tests for tunnel.c: the per-name features (hex, base32 and word labels), a tunnel-like
 * stream detected within its first queries and blocked for the client only, for block-for;
 * hashed telemetry and CDN names at a tunnel's rate left alone; the table bounds counted;
 * stale answer tickets ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/tunnel.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void rand_label(char *out, size_t n, const char *alphabet)
{
    size_t a = strlen(alphabet);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[next() % a];
    out[n] = 0;
}

#define B32 "abcdefghijklmnopqrstuvwxyz012345"
#define HEX "0123456789abcdef"
#define B64 "abcdefghijklmnopqrstuvwxyz0123456789-_"

/* Wire form of text; *off receives the offset of the registered domain, given as its text. */
static size_t wire(const char *text, const char *regdom, uint8_t *w, size_t *off)
{
    int n = mw_dname_from_text(text, w, 256);
    assert_true(n > 0);
    mw_dname_lower(w, (size_t)n);
    size_t tl = strlen(text), rl = strlen(regdom);
    assert_true(tl >= rl);
    *off = (size_t)n - (rl + 2);
    return (size_t)n;
}

static const struct mw_tunnel_params params = {.max_entries = 1024,
                                               .max_blocks = 64,
                                               .window_ms = 60000,
                                               .block_ms = 600000,
                                               .min_distinct = 30,
                                               .threshold = 60};

static const uint8_t client_a[4] = {10, 0, 0, 1}, client_b[4] = {10, 0, 0, 2};

/* Send n names of maker's shape from client a, 50 ms apart, each answered with down octets;
 * returns the query number of the first detection (1-based), 0 for none. */
static int stream(struct mw_tunnel *t, int n, void (*maker)(char *, int), const char *regdom,
                  uint16_t qtype, size_t down, uint64_t *now, struct mw_tunnel_features *f)
{
    for (int i = 0; i < n; i++) {
        char text[300];
        maker(text, i);
        uint8_t w[256];
        size_t off;
        size_t len = wire(text, regdom, w, &off);
        uint32_t ticket;
        *now += 50;
        if (mw_tunnel_observe(t, client_a, 4, w, len, off, qtype, 1, *now, &ticket, f) == 1)
            return i + 1;
        mw_tunnel_answer(t, ticket, down);
    }
    return 0;
}

static void iodine_like(char *out, int i)
{
    char a[64], b[64];
    rand_label(a, 57, B32);
    rand_label(b, 57, B32);
    snprintf(out, 300, "%c%s.%s.t.example.com", 'a' + i % 26, a, b);
}

static void dns2tcp_like(char *out, int i)
{
    (void)i;
    char a[64];
    rand_label(a, 48, B64);
    snprintf(out, 300, "%s.=auth.dom.example.net", a);
}

static void telemetry(char *out, int i)
{
    (void)i;
    char a[41], b[33];
    rand_label(a, 40, HEX);
    rand_label(b, 32, HEX);
    snprintf(out, 300, "%s.%s.events.data.microsoft.com", a, b);
}

static void telemetry32(char *out, int i)
{
    (void)i;
    char a[33];
    rand_label(a, 32, HEX);
    snprintf(out, 300, "v10.%s.telemetry.example.org", a);
}

/* Windows' TPM attestation hosts: a 40-hex hash between a constant prefix and suffix, one long
 * label (Umbrella's list has 65 of them, which a replay of the list asks in a burst). */
static void keyid(char *out, int i)
{
    static const char *const pre[] = {"stm", "ifx", "ntc", "intc"};
    char a[41];
    rand_label(a, 40, HEX);
    snprintf(out, 300, "%s-keyid-%s%s.microsoftaik.azure.net", pre[i % 4], a, i % 3 ? "" : "-v2");
}

static void cdn(char *out, int i)
{
    char a[16];
    rand_label(a, 8, "abcdefghijklmnopqrstuvwxyz0123456789");
    snprintf(out, 300, "r%d---sn-%s.googlevideo.com", i % 9, a);
}

static void test_name_features(void **state)
{
    (void)state;
    uint8_t w[256];
    size_t off;
    uint32_t len, label, ent;
    bool enc;
    wire("5f1e0c9a3b7d2e4f6a8b9c0d1e2f3a4b.example.org", "example.org", w, &off);
    mw_tunnel_name_features(w, off, &len, &label, &ent, &enc);
    assert_int_equal(len, 32);
    assert_int_equal(label, 32);
    assert_true(enc);
    assert_true(ent < 4000); /* hex: at most 4 bits a character */
    wire("nbswy3dpeb3w64tmmqqgc3ttnfzxizltebswy3dpeb3w64tmmq.t.example.com", "example.com", w,
         &off);
    mw_tunnel_name_features(w, off, &len, &label, &ent, &enc);
    assert_int_equal(label, 50);
    assert_true(enc);
    assert_true(ent > 4000);
    wire("download-center-2024.update.example.com", "example.com", w, &off);
    mw_tunnel_name_features(w, off, &len, &label, &ent, &enc);
    assert_false(enc); /* words have vowels */
    wire("www.example.com", "example.com", w, &off);
    mw_tunnel_name_features(w, off, &len, &label, &ent, &enc);
    assert_int_equal(len, 3);
    assert_false(enc);
    /* Short labels: octets no hostname has make one encoded (dns2tcp's polls: base64 with '/'),
     * a service label's underscore does not. */
    wire("/hgaaaabba.d2t.example", "d2t.example", w, &off);
    mw_tunnel_name_features(w, off, &len, &label, &ent, &enc);
    assert_true(enc);
    wire("_dmarc.mail.example.com", "example.com", w, &off);
    mw_tunnel_name_features(w, off, &len, &label, &ent, &enc);
    assert_false(enc);
}

static void test_wants(void **state)
{
    (void)state;
    struct mw_tunnel *t = mw_tunnel_new(&params);
    uint8_t w[256];
    size_t off;
    size_t len = wire("www.example.com", "example.com", w, &off);
    assert_int_equal(mw_tunnel_wants(w, len, 1), 0);
    assert_int_equal(mw_tunnel_wants(w, len, 28), 0);
    assert_int_equal(mw_tunnel_wants(w, len, 16), 1); /* TXT: every one */
    assert_int_equal(mw_tunnel_wants(w, len, 10), 1); /* NULL */
    assert_int_equal(mw_tunnel_wants(w, len, 65399), 1);
    len = wire("paaaprlq.tun.test", "tun.test", w, &off);
    assert_int_equal(mw_tunnel_wants(w, len, 1), 0);
    /* A and AAAA names with a 16-character label, or long: one in MW_TUNNEL_SAMPLE, weighted. */
    unsigned sampled = 0;
    for (int i = 0; i < 4000; i++) {
        char text[80];
        snprintf(text, sizeof(text), "%016x.example.com", (unsigned)i * 2654435761u);
        len = wire(text, "example.com", w, &off);
        assert_int_equal(mw_tunnel_wants(w, len, 1), MW_TUNNEL_SAMPLE);
        sampled += mw_tunnel_sampled(t, w);
    }
    assert_true(sampled > 800 && sampled < 1200);
    mw_tunnel_free(t);
}

static void test_detects_tunnels(void **state)
{
    (void)state;
    struct mw_tunnel *t = mw_tunnel_new(&params);
    assert_non_null(t);
    uint64_t now = 1000000;
    struct mw_tunnel_features f;
    int at = stream(t, 200, iodine_like, "example.com", 10 /* NULL */, 1100, &now, &f);
    assert_true(at > 0 && at <= 40);
    assert_true(f.score >= 60);
    assert_true(f.encoded_pct >= 90);
    assert_int_equal(f.types_pct, 100);
    char text[280];
    mw_tunnel_features_text(&f, text, sizeof(text));
    assert_non_null(strstr(text, "score="));
    assert_non_null(strstr(text, "types=100%"));

    /* Blocked: the registered domain and every name under it, for client a only. */
    uint8_t w[256];
    size_t off = 99;
    size_t len = wire("x.y.example.com", "example.com", w, &off);
    assert_true(mw_tunnel_any_blocks(t));
    assert_true(mw_tunnel_blocked(t, client_a, 4, w, len, now + 1, &off));
    assert_int_equal(off, 4); /* "example.com" starts after x and y */
    assert_false(mw_tunnel_blocked(t, client_b, 4, w, len, now + 1, NULL));
    len = wire("example.org", "example.org", w, &off);
    assert_false(mw_tunnel_blocked(t, client_a, 4, w, len, now + 1, NULL));
    /* Quiet while blocked (action log lets queries through: one event per block). */
    assert_int_equal(stream(t, 100, iodine_like, "example.com", 10, 1100, &now, &f), 0);
    /* block-for ends; the sweep gives the slot back. */
    len = wire("x.y.example.com", "example.com", w, &off);
    assert_false(mw_tunnel_blocked(t, client_a, 4, w, len, now + 600001, NULL));
    assert_false(mw_tunnel_any_blocks(t));
    /* Still a tunnel after block-for: detected again (with action log, the next alert). */
    now += 600001;
    at = stream(t, 200, iodine_like, "example.com", 10, 1100, &now, &f);
    assert_true(at > 0 && at <= 40);

    /* dns2tcp: TXT, base64 labels (lowercased), mid-size answers. */
    at = stream(t, 200, dns2tcp_like, "example.net", 16 /* TXT */, 300, &now, &f);
    assert_true(at > 0 && at <= 40);
    /* A tunnel of A queries only (base32 labels): its names are sampled one in 4 with weight
     * 4, and it is still detected within 200 names. */
    int i = 0, hit = 0;
    for (; i < 200 && !hit; i++) {
        char a[64], b[64], name[200];
        rand_label(a, 57, B32);
        rand_label(b, 57, B32);
        snprintf(name, sizeof(name), "%s.%s.t.example.org", a, b);
        uint8_t w2[256];
        size_t off2;
        size_t len2 = wire(name, "example.org", w2, &off2);
        unsigned weight = mw_tunnel_sampled(t, w2) ? mw_tunnel_wants(w2, len2, 1) : 0;
        uint32_t ticket;
        now += 50;
        if (weight)
            hit = mw_tunnel_observe(t, client_a, 4, w2, len2, off2, 1, weight, now, &ticket, &f);
    }
    assert_int_equal(hit, 1);
    assert_true(i <= 200);
    assert_true(f.score >= 60 &&
                f.mean_data > 80); /* two long labels a name: (nearly) not damped */
    struct mw_tunnel_stats st;
    mw_tunnel_stats(t, &st);
    assert_int_equal(st.detections, 4);
    mw_tunnel_free(t);
}

/* Hashed labels at a tunnel's rate (far above a telemetry client's): A queries, small
 * answers. Not detected; nor a tunnel with too few distinct names in the window. */
static void test_benign_shapes(void **state)
{
    (void)state;
    struct mw_tunnel *t = mw_tunnel_new(&params);
    uint64_t now = 1000000;
    struct mw_tunnel_features f;
    assert_int_equal(stream(t, 300, telemetry, "microsoft.com", 1, 120, &now, &f), 0);
    assert_int_equal(stream(t, 300, telemetry32, "example.org", 28, 140, &now, &f), 0);
    assert_int_equal(stream(t, 300, cdn, "googlevideo.com", 1, 200, &now, &f), 0);
    assert_int_equal(stream(t, 300, keyid, "azure.net", 1, 100, &now, &f), 0);
    struct mw_tunnel_stats st;
    mw_tunnel_stats(t, &st);
    assert_int_equal(st.detections, 0);
    assert_false(mw_tunnel_any_blocks(t));
    mw_tunnel_free(t);

    /* With a margin: one hash a name scores well below 60 without a data type, although the
     * name features (length, encoded, distinct, rate) are at their full points. */
    struct mw_tunnel_params p50 = params;
    p50.threshold = 50;
    t = mw_tunnel_new(&p50);
    assert_int_equal(stream(t, 300, keyid, "azure.net", 1, 100, &now, &f), 0);
    assert_int_equal(stream(t, 300, telemetry32, "example.org", 28, 140, &now, &f), 0);
    mw_tunnel_free(t);

    /* The rate gate: 20 tunnel names a minute never reach min-distinct 30 in a window. */
    t = mw_tunnel_new(&params);
    for (int i = 0; i < 100; i++) {
        uint64_t step = 3000;
        assert_int_equal(stream(t, 1, iodine_like, "example.com", 10, 1100, &now, &f), 0);
        now += step;
    }
    mw_tunnel_free(t);
}

static void test_bounds(void **state)
{
    (void)state;
    struct mw_tunnel_params p = params;
    p.max_entries = 16;
    struct mw_tunnel *t = mw_tunnel_new(&p);
    uint8_t w[256];
    size_t off;
    uint32_t first = 0, ticket;
    struct mw_tunnel_features f;
    for (int i = 0; i < 100; i++) {
        char text[64];
        snprintf(text, sizeof(text), "www.d%d.example", i);
        char rd[32];
        snprintf(rd, sizeof(rd), "d%d.example", i);
        size_t len = wire(text, rd, w, &off);
        assert_int_equal(
            mw_tunnel_observe(t, client_a, 4, w, len, off, 1, 1, 1000 + i, &ticket, &f), 0);
        assert_true(ticket != 0);
        if (i == 0)
            first = ticket;
    }
    struct mw_tunnel_stats st;
    mw_tunnel_stats(t, &st);
    /* Every name kept: in a free way, or in place of a live state, counted. */
    assert_true(st.entries <= 16 && st.entries >= 8);
    assert_int_equal(st.entries + st.evicted, 100);
    mw_tunnel_answer(t, first, 5000); /* evicted: ignored, no crash */
    mw_tunnel_answer(t, 0xffffff00u, 5000);
    /* A registered domain alone carries nothing: not kept. */
    size_t len = wire("example.com", "example.com", w, &off);
    assert_int_equal(off, 0);
    assert_int_equal(mw_tunnel_observe(t, client_a, 4, w, len, off, 1, 1, 5000, &ticket, &f), 0);
    assert_int_equal(ticket, 0);
    mw_tunnel_free(t);

    /* Bad parameters. */
    p = params;
    p.max_blocks = 4;
    assert_null(mw_tunnel_new(&p));
    p = params;
    p.threshold = 0;
    assert_null(mw_tunnel_new(&p));
    mw_tunnel_free(NULL);
}

/* MW_TUNNEL_SHOW=1: print the features each shape reaches (threshold 1), for tuning. */
static void test_show(void **state)
{
    (void)state;
    if (!getenv("MW_TUNNEL_SHOW"))
        return;
    void (*makers[])(char *, int) = {iodine_like, dns2tcp_like, telemetry, telemetry32, cdn, keyid};
    const char *doms[] = {"example.com", "example.net",     "microsoft.com",
                          "example.org", "googlevideo.com", "azure.net"};
    uint16_t types[] = {10, 16, 1, 28, 1, 1};
    size_t down[] = {1100, 300, 120, 140, 200, 100};
    for (int m = 0; m < 6; m++) {
        struct mw_tunnel_params p = params;
        p.threshold = 1;
        struct mw_tunnel *t = mw_tunnel_new(&p);
        uint64_t now = 1000000;
        struct mw_tunnel_features f;
        int at = stream(t, 100, makers[m], doms[m], types[m], down[m], &now, &f);
        char text[280];
        printf("%s at %d: %s\n", doms[m], at, mw_tunnel_features_text(&f, text, sizeof(text)));
        mw_tunnel_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_features),   cmocka_unit_test(test_wants),
        cmocka_unit_test(test_detects_tunnels), cmocka_unit_test(test_benign_shapes),
        cmocka_unit_test(test_bounds),          cmocka_unit_test(test_show),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
