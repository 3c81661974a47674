/* Unit tests for regmemo.c: the memo gives what libpsl (regdom.c) gives, for names under
 * plain, deep, wildcard, exception, private-section and internationalised rules, unknown
 * top-level domains, public suffixes themselves and long names; names that differ only on the
 * left share one entry; and without the list file it is still exact. MW_REGMEMO_NAMES=FILE
 * checks every name of a file (one a line, e.g. Umbrella's list) the same way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/regdom.h"
#include "minewall/regmemo.h"

static const char *const names[] = {
    "www.google.com",
    "a.b.c.example.co.uk",
    "co.uk",
    "com",
    "example.com",
    "x.y.s3.amazonaws.com",
    "bucket.s3.dualstack.us-east-1.amazonaws.com",
    "a.b.s3.dualstack.us-east-1.amazonaws.com",
    "x.compute-1.amazonaws.com",
    "a.b.c.d.e.elb.amazonaws.com",
    "foo.bar.kawasaki.jp",
    "a.foo.bar.kawasaki.jp",
    "city.kawasaki.jp",
    "a.city.kawasaki.jp",
    "www.ck",
    "a.b.www.ck",
    "foo.ck",
    "a.foo.ck",
    "x.y.xn--55qx5d.cn",
    "paaaprlq.tun.test",
    "a.b.c.d.tun.test",
    "host.lan",
    "localhost",
    "x.github.io",
    "a.b.x.github.io",
    "a.blogspot.com",
    "5f1e0c9a3b7d2e4f6a8b9c0d1e2f3a4b.events.data.microsoft.com",
    "r4---sn-ab5l6nzr.googlevideo.com",
    "1.0.0.127.in-addr.arpa",
    "printer.home.arpa",
    "x.y.home.arpa",
    "a.example.lan",
    "b.example.lan",
    "www.example.com",
    "www.example2.com",
    /* In this order, each name under the one before: the last-domain shortcut must not
     * answer for a deeper name whose walk goes on (a node below, a wildcard, an exception). */
    "amazonaws.com",
    "s3.amazonaws.com",
    "x.s3.amazonaws.com",
    "y.x.s3.amazonaws.com",
    "github.io",
    "x.github.io",
    "y.x.github.io",
    "kawasaki.jp",
    "city.kawasaki.jp",
    "a.city.kawasaki.jp",
    "b.a.city.kawasaki.jp",
    "ck",
    "www.ck",
    "a.www.ck",
    "x.y.www.ck",
    "example.com",
    "www.example.com",
    "a.b.example.com",
};

static void check(struct mw_regmemo *m, const struct mw_regdom *rd, const char *text)
{
    uint8_t w[256];
    int n = mw_dname_from_text(text, w, sizeof(w));
    if (n <= 0)
        return;
    mw_dname_lower(w, (size_t)n);
    int want = mw_regdom_find(rd, w, (size_t)n);
    for (int round = 0; round < 2; round++) { /* the miss, then the memo's hit */
        int got = mw_regmemo_find(m, w, (size_t)n, NULL);
        if (got != want)
            fail_msg("%s: memo %d, libpsl %d (round %d)", text, got, want, round);
        /* The words' public flag: libpsl's, though the memo asks it once per TLD. */
        struct mw_regmemo_words *words;
        got = mw_regmemo_find(m, w, (size_t)n, &words);
        if (got != want || (got >= 0 && !words))
            fail_msg("%s: memo %d with words, libpsl %d", text, got, want);
        if (got >= 0 && words->public != mw_regdom_is_public(rd, w + got, (size_t)(n - got)))
            fail_msg("%s: public %d, libpsl %d", text, words->public,
                     mw_regdom_is_public(rd, w + got, (size_t)(n - got)));
    }
}

static void test_same_as_libpsl(void **state)
{
    (void)state;
    struct mw_regdom *rd = mw_regdom_new(MW_REGDOM_DAT);
    assert_non_null(rd);
    struct mw_regmemo *m = mw_regmemo_new(rd, MW_REGDOM_DAT, 4096);
    assert_non_null(m);
    struct mw_regmemo_stats st;
    mw_regmemo_stats(m, &st);
    assert_true(st.nodes > 5000);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        check(m, rd, names[i]);
    /* Without the node set: every name its own entry, same answers. */
    struct mw_regmemo *bare = mw_regmemo_new(rd, "/nonexistent/psl.dat", 64);
    assert_non_null(bare);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        check(bare, rd, names[i]);
    mw_regmemo_free(bare);

    /* MW_REGMEMO_NAMES=FILE[:FILE...]: the last field of each line (after a comma or a
     * space, "||" and "^" taken off: CSV ranks, hosts files, AdBlock lines). */
    const char *files = getenv("MW_REGMEMO_NAMES");
    char *list = files ? strdup(files) : NULL, *save = NULL;
    size_t count = 0;
    for (char *file = list ? strtok_r(list, ":", &save) : NULL; file;
         file = strtok_r(NULL, ":", &save)) {
        FILE *f = fopen(file, "r");
        assert_non_null(f);
        char line[512];
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\r\n^")] = 0;
            if (line[0] == '#' || line[0] == '!' || line[0] == ';')
                continue;
            char *s = strrchr(line, ',') ? strrchr(line, ',') + 1 : line;
            s = strrchr(s, ' ') ? strrchr(s, ' ') + 1 : s;
            s += strncmp(s, "||", 2) == 0 ? 2 : 0;
            check(m, rd, s);
            count++;
        }
        fclose(f);
    }
    if (list)
        printf("checked %zu names\n", count);
    free(list);
    mw_regmemo_free(m);
    mw_regdom_free(rd);
}

/* A tunnel's names differ in their left labels only: one libpsl call for all of them. */
static void test_left_labels_share_an_entry(void **state)
{
    (void)state;
    struct mw_regdom *rd = mw_regdom_new(MW_REGDOM_DAT);
    struct mw_regmemo *m = mw_regmemo_new(rd, MW_REGDOM_DAT, 64);
    for (int i = 0; i < 1000; i++) {
        char text[128];
        snprintf(text, sizeof(text), "d%08x.e%d.tun.example.co.uk", (unsigned)i * 2654435761u, i);
        uint8_t w[256];
        int n = mw_dname_from_text(text, w, sizeof(w));
        int off = mw_regmemo_find(m, w, (size_t)n, NULL);
        assert_true(off > 0);
        assert_string_equal((const char *)w + off, "\x07"
                                                   "example\x02"
                                                   "co\x02uk");
    }
    struct mw_regmemo_stats st;
    mw_regmemo_stats(m, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 999);
    /* Bounded: 64 entries, many domains. */
    for (int i = 0; i < 500; i++) {
        char text[64];
        snprintf(text, sizeof(text), "www.d%d.com", i);
        uint8_t w[256];
        int n = mw_dname_from_text(text, w, sizeof(w));
        assert_int_equal(mw_regmemo_find(m, w, (size_t)n, NULL), 4);
    }
    mw_regmemo_stats(m, &st);
    if (st.evicted < 400)
        fail_msg("evicted %llu, hits %llu, misses %llu", (unsigned long long)st.evicted,
                 (unsigned long long)st.hits, (unsigned long long)st.misses);
    uint8_t root[1] = {0};
    assert_int_equal(mw_regmemo_find(m, root, 1, NULL), -ENOENT);
    mw_regmemo_free(m);
    mw_regmemo_free(NULL);
    mw_regdom_free(rd);
}

static int find_text(struct mw_regmemo *m, const char *text, struct mw_regmemo_words **words)
{
    uint8_t w[256];
    int n = mw_dname_from_text(text, w, sizeof(w));
    assert_true(n > 0);
    mw_dname_lower(w, (size_t)n);
    return mw_regmemo_find(m, w, (size_t)n, words);
}

/* The detectors' words (folded from the DGA memo's and the new-domain cache's tests): one set
 * per registered domain whatever name under it is asked, zero when new, public as libpsl says,
 * gone after mw_regmemo_forget, and a bounded memo evicting. */
static void test_words_per_registered_domain(void **state)
{
    (void)state;
    struct mw_regdom *rd = mw_regdom_new(MW_REGDOM_DAT);
    struct mw_regmemo *m = mw_regmemo_new(rd, MW_REGDOM_DAT, 4096);
    assert_non_null(m);
    assert_int_equal(mw_regmemo_capacity(m), 4096);
    struct mw_regmemo_words *a, *b, *c;
    assert_int_equal(find_text(m, "www.example.co.uk", &a), 4);
    assert_non_null(a);
    assert_true(a->public);
    assert_int_equal(a->nod_epoch, 0);
    assert_false(a->dga_scored);
    a->nod_epoch = 7;
    a->dga_scored = true;
    a->dga_score = -123;
    /* Other names under example.co.uk: another suffix entry, the same words. */
    assert_int_equal(find_text(m, "a.b.mail.example.co.uk", &b), 9);
    assert_ptr_equal(a, b);
    assert_int_equal(find_text(m, "example.co.uk", &b), 0);
    assert_ptr_equal(a, b);
    assert_int_equal(b->nod_epoch, 7);
    assert_int_equal(b->dga_score, -123);
    /* The entry's key finds the same words later, after other lookups; nothing for 0. */
    uint64_t key = mw_regmemo_key_of(a);
    assert_true(key != 0);
    assert_int_equal(find_text(m, "www.example.com", &c), 4);
    assert_ptr_equal(mw_regmemo_words_of(m, key), a);
    assert_ptr_equal(mw_regmemo_words_of(m, mw_regmemo_key_of(c)), c);
    assert_null(mw_regmemo_words_of(m, 0));
    /* Another registered domain has its own words; names that are not public say so. */
    assert_int_equal(find_text(m, "www.example.com", &c), 4);
    assert_true(c != a && c->nod_epoch == 0 && c->public);
    assert_int_equal(find_text(m, "printer.office.lan", &c), 8);
    assert_false(c->public);
    assert_int_equal(find_text(m, "x.home.arpa", &c), 2);
    assert_false(c->public);
    assert_int_equal(find_text(m, "co.uk", &c), -ENOENT);
    assert_null(c);
    mw_regmemo_forget(m);
    assert_null(mw_regmemo_words_of(m, key));
    assert_int_equal(find_text(m, "www.example.co.uk", &a), 4);
    assert_int_equal(a->nod_epoch, 0);
    assert_false(a->dga_scored);
    mw_regmemo_free(m);
    /* 64 entries, 1000 registered domains: bounded, evictions counted. */
    m = mw_regmemo_new(rd, MW_REGDOM_DAT, 1);
    assert_int_equal(mw_regmemo_capacity(m), MW_REGMEMO_MIN);
    for (int i = 0; i < 1000; i++) {
        char name[64];
        snprintf(name, sizeof(name), "www.host%dname.org", i);
        assert_int_equal(find_text(m, name, &a), 4);
        assert_non_null(a);
    }
    /* An evicted entry's key finds nothing (www.host0name.org's, 999 domains ago). */
    assert_int_equal(find_text(m, "www.host0name.org", &a), 4);
    key = mw_regmemo_key_of(a);
    for (int i = 1; i < 1000; i++) {
        char name[64];
        snprintf(name, sizeof(name), "www.host%dname.org", i);
        assert_int_equal(find_text(m, name, &b), 4);
    }
    assert_null(mw_regmemo_words_of(m, key));
    struct mw_regmemo_stats st;
    mw_regmemo_stats(m, &st);
    assert_true(st.evicted >= 1000 - MW_REGMEMO_MIN);
    /* One libpsl call for www.host0name.org; the other domains are answered by the class of
     * names under "org" (libpsl again only when an eviction took the class's entry). */
    if (st.psl > 60 || st.classed + st.psl != st.misses)
        fail_msg("psl %llu, classed %llu, misses %llu", (unsigned long long)st.psl,
                 (unsigned long long)st.classed, (unsigned long long)st.misses);
    mw_regmemo_free(m);
    mw_regdom_free(rd);
}

/* Names made from every rule of the list: the rule itself, names under it, under a wildcard's
 * child, under an exception, each checked against libpsl on the whole name, through one memo
 * so that each class's answer (learnt from one name) is tested on the others. */
static void test_every_rule(void **state)
{
    (void)state;
    struct mw_regdom *rd = mw_regdom_new(MW_REGDOM_DAT);
    struct mw_regmemo *m = mw_regmemo_new(rd, MW_REGDOM_DAT, 1u << 16);
    assert_non_null(m);
    FILE *f = fopen(MW_REGDOM_DAT, "r");
    assert_non_null(f);
    static const char *const left[] = {"", "x.", "y.x.", "www.", "a-b.c9.www.", "0.", "_tcp.x."};
    char line[512];
    size_t rules = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, " \t\r\n")] = 0;
        if (line[0] == 0 || line[0] == '/')
            continue;
        const char *rule = line;
        while (*rule == '!' || *rule == '*' || *rule == '.')
            rule++;
        bool ascii = true;
        for (const char *p = rule; *p; p++)
            ascii = ascii && (unsigned char)*p < 0x80;
        if (!ascii) /* the internationalised rules: their A-labels are in names[] */
            continue;
        for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
            char name[600];
            snprintf(name, sizeof(name), "%s%s", left[i], rule);
            check(m, rd, name);
        }
        rules++;
    }
    fclose(f);
    assert_true(rules > 5000);
    struct mw_regmemo_stats st;
    mw_regmemo_stats(m, &st);
    assert_true(st.classed > 0);
    mw_regmemo_free(m);
    mw_regdom_free(rd);
}

/* Random names: labels drawn from the list's rules (so that they meet its deep, wildcard and
 * exception rules) and random ones (letters, digits, '-', '_', up to 63 octets), up to 255
 * octets, through a small memo (evictions) and a large one, against libpsl. */
static void test_random_names(void **state)
{
    (void)state;
    struct mw_regdom *rd = mw_regdom_new(MW_REGDOM_DAT);
    FILE *f = fopen(MW_REGDOM_DAT, "r");
    assert_non_null(f);
    static char pool[4096][64];
    size_t n_pool = 0;
    char line[512];
    while (fgets(line, sizeof(line), f) && n_pool < 4096) {
        line[strcspn(line, " \t\r\n")] = 0;
        if (line[0] == 0 || line[0] == '/' || (unsigned char)line[0] >= 0x80)
            continue;
        for (char *save = NULL, *l = strtok_r(line, ".", &save); l && n_pool < 4096;
             l = strtok_r(NULL, ".", &save)) {
            bool ascii = strlen(l) < 64;
            for (const char *p = l; *p; p++)
                ascii = ascii && (unsigned char)*p < 0x80;
            if (ascii && (n_pool == 0 || strcmp(pool[n_pool - 1], l) != 0))
                snprintf(pool[n_pool++], sizeof(pool[0]), "%s", l);
        }
    }
    fclose(f);
    assert_true(n_pool > 1000);
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t size = 64; size <= (1u << 16); size *= 1024) {
        struct mw_regmemo *m = mw_regmemo_new(rd, MW_REGDOM_DAT, size);
        for (int i = 0; i < 100000; i++) {
            char name[300] = "";
            size_t len = 0;
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int labels = 1 + (int)(x % 6);
            /* Built from the right: the top-level label first, mostly the list's. */
            char tmp[300];
            for (int k = 0; k < labels; k++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                char label[64];
                if (x % 4 != 0 || k == 0) {
                    snprintf(label, sizeof(label), "%s", pool[(x >> 8) % n_pool]);
                } else {
                    size_t l = 1 + (x >> 8) % ((x >> 20) % 8 == 0 ? 63 : 12);
                    for (size_t c = 0; c < l; c++)
                        label[c] = chars[(x >> (c % 40)) % (sizeof(chars) - 1) ^ (c & 1)];
                    label[l] = 0;
                }
                if (len + strlen(label) + 2 > 250)
                    break;
                snprintf(tmp, sizeof(tmp), "%s%s%s", label, len ? "." : "", name);
                memcpy(name, tmp, sizeof(name));
                len = strlen(name);
            }
            check(m, rd, name);
        }
        mw_regmemo_free(m);
    }
    mw_regdom_free(rd);
}

/* Octets libpsl cannot read: in the labels it would read (the registered domain's) the name
 * has none, as libpsl says; further left they are not read (a tunnel's 8-bit labels). The
 * class of names under "com" learnt first, so that these come from it. */
static void test_unreadable_octets(void **state)
{
    (void)state;
    struct mw_regdom *rd = mw_regdom_new(MW_REGDOM_DAT);
    struct mw_regmemo *m = mw_regmemo_new(rd, MW_REGDOM_DAT, 4096);
    uint8_t w[64];
    int n = mw_dname_from_text("learn.com", w, sizeof(w));
    assert_int_equal(mw_regmemo_find(m, w, (size_t)n, NULL), 0);
    static const uint8_t bad1[] = "\004a\200bc\003com";
    static const uint8_t bad2[] = "\001x\004a bc\003com";
    static const uint8_t left[] = "\002\377\001\003abc\003com";
    assert_int_equal(mw_regmemo_find(m, bad1, sizeof(bad1), NULL), -ENOENT);
    assert_int_equal(mw_regdom_find(rd, bad1, sizeof(bad1)), -ENOENT);
    assert_int_equal(mw_regmemo_find(m, bad2, sizeof(bad2), NULL), -ENOENT);
    assert_int_equal(mw_regmemo_find(m, left, sizeof(left), NULL), 3);
    struct mw_regmemo_stats st;
    mw_regmemo_stats(m, &st);
    assert_int_equal(st.psl, 1);
    mw_regmemo_free(m);
    mw_regdom_free(rd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_libpsl),
        cmocka_unit_test(test_left_labels_share_an_entry),
        cmocka_unit_test(test_words_per_registered_domain),
        cmocka_unit_test(test_every_rule),
        cmocka_unit_test(test_random_names),
        cmocka_unit_test(test_unreadable_octets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
