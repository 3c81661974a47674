/* The DGA model: the shipped conf/dga.model (format version 3) loads, scores well-known names
 * low and generated labels high, the same whatever the case, and gives the training script's
 * score to every name of its sample (and a version 2 file to its own); bad labels and every
 * kind of bad model file, of either version, are refused with a message. The generated labels come
 * from this file's own generators (the training data is not in the repository); the figures per
 * malware family are measured by tools/dga-train and tests/integration/test_dga.py. Prints the cost
 * per label. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "minewall/dga.h"
#include "minewall/error.h"
#include "minewall/file.h"
#include "minewall/regmemo.h"

#ifndef MW_TEST_SRCDIR
#define MW_TEST_SRCDIR "tests"
#endif
#define MODEL MW_TEST_SRCDIR "/../conf/dga.model"
/* A small format version 2 model (2^10 weights, a fuzz seed): version 2 files still load. */
#define MODEL_V2 MW_TEST_SRCDIR "/fuzz/corpus/dga/seed1.model"
/* tools/dga-train --sample: its own scores of a sample of held-out and odd names. */
#define SAMPLE MW_TEST_SRCDIR "/unit/dga_sample.tsv"
#define SAMPLE_V2 MW_TEST_SRCDIR "/unit/dga_sample_v2.tsv"

static struct mw_dga_model *load_path(const char *path)
{
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    struct mw_dga_model *m = NULL;
    int rc = mw_dga_load(path, &m, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    mw_errlist_deinit(&errs);
    assert_non_null(m);
    return m;
}

static struct mw_dga_model *load_shipped(void)
{
    return load_path(MODEL);
}

static struct mw_dga_result score(const struct mw_dga_model *m, const char *label)
{
    struct mw_dga_result r;
    assert_int_equal(mw_dga_score(m, label, strlen(label), &r), 0);
    return r;
}

static void test_benign_low(void **state)
{
    (void)state;
    struct mw_dga_model *m = load_shipped();
    static const char *const names[] = {
        "google.com",     "wikipedia.org",     "facebook.com", "amazon.co.uk",      "microsoft.com",
        "github.io",      "youtube.com",       "netflix.com",  "debian.org",        "kernel.org",
        "cloudflare.com", "openstreetmap.org", "bbc.co.uk",    "spiegel.de",        "ubuntu.com",
        "mozilla.org",    "apple.com",         "linkedin.com", "stackoverflow.com", "instagram.com",
        "reddit.com",     "bundestag.de",      "nlnetlabs.nl", "python.org",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct mw_dga_result r = score(m, names[i]);
        if (r.level != MW_DGA_NONE)
            fprintf(stderr, "%s: %d %s\n", names[i], r.score, mw_dga_level_name(r.level));
        assert_int_equal(r.level, MW_DGA_NONE);
        assert_true(r.score < mw_dga_threshold(m, MW_DGA_LOW));
    }
    /* Case does not matter. */
    assert_int_equal(score(m, "GitHub.COM").score, score(m, "github.com").score);
    mw_dga_free(m);
}

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* n labels of len bytes drawn uniformly from alphabet, under .com; returns how many reach
 * level. */
static int generated(const struct mw_dga_model *m, const char *alphabet, size_t len, int n,
                     enum mw_dga_level level, uint32_t seed)
{
    size_t k = strlen(alphabet);
    int hits = 0;
    for (int i = 0; i < n; i++) {
        char label[MW_DGA_LABEL_MAX + 5];
        for (size_t j = 0; j < len; j++)
            label[j] = alphabet[xorshift(&seed) % k];
        memcpy(label + len, ".com", 5);
        hits += score(m, label).level >= level;
    }
    return hits;
}

static void test_generated_high(void **state)
{
    (void)state;
    struct mw_dga_model *m = load_shipped();
    const char *letters = "abcdefghijklmnopqrstuvwxyz";
    const char *alnum = "abcdefghijklmnopqrstuvwxyz0123456789";
    const char *hex = "0123456789abcdef";
    /* Long uniform random strings, as hash- and PRNG-based generators make them: most are
     * flagged; the shorter, the closer to real names. */
    int a = generated(m, letters, 20, 200, MW_DGA_MEDIUM, 1);
    int b = generated(m, alnum, 26, 200, MW_DGA_MEDIUM, 2);
    int c = generated(m, hex, 16, 200, MW_DGA_MEDIUM, 3);
    int d = generated(m, letters, 12, 200, MW_DGA_LOW, 4);
    fprintf(stderr,
            "flagged of 200: letters(20) %d MEDIUM, alnum(26) %d MEDIUM, hex(16) %d "
            "MEDIUM, letters(12) %d LOW\n",
            a, b, c, d);
    assert_true(a >= 140);
    assert_true(b >= 140);
    assert_true(c >= 100);
    assert_true(d >= 120);
    mw_dga_free(m);
}

/* "label.suffix" in wire form (no root label): n octets at out. */
static size_t to_wire(const char *name, uint8_t *out)
{
    size_t n = 0;
    while (*name) {
        size_t l = strcspn(name, ".");
        out[n++] = (uint8_t)l;
        memcpy(out + n, name, l);
        n += l;
        name += l + (name[l] == '.');
    }
    return n;
}

/* The C scorer gives the training script's score to every name of its sample, in text and
 * in wire form: the features, the character and suffix tables, the trees (version 3) or the
 * hashed weights (version 2) are computed alike on both sides. */
static void expect_sample(const char *model, const char *sample, int want_lines)
{
    struct mw_dga_model *m = load_path(model);
    FILE *f = fopen(sample, "r");
    assert_non_null(f);
    char line[512];
    int lines = 0, bad = 0;
    while (fgets(line, sizeof(line), f)) {
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = 0;
        int32_t want = (int32_t)strtol(tab + 1, NULL, 10);
        struct mw_dga_result r, rw;
        assert_int_equal(mw_dga_score(m, line, strlen(line), &r), 0);
        uint8_t wire[320];
        assert_int_equal(mw_dga_score_wire(m, wire, to_wire(line, wire), &rw), 0);
        if (r.score != want || rw.score != want) {
            fprintf(stderr, "%s: %s: C %d (wire %d), trainer %d\n", sample, line, r.score, rw.score,
                    want);
            bad++;
        }
        lines++;
    }
    fclose(f);
    assert_int_equal(bad, 0);
    assert_int_equal(lines, want_lines);
    mw_dga_free(m);
}

static void test_scores_equal_trainer(void **state)
{
    (void)state;
    expect_sample(MODEL, SAMPLE, 339);
    expect_sample(MODEL_V2, SAMPLE_V2, 339);
}

/* mw_dga_check (folded from the DGA memo's tests): the registered domain's first label scored
 * once and kept in its memo words, later checks answered from them, names that are not public
 * never scored, and forgotten words scoring again. */
static void test_check_through_words(void **state)
{
    (void)state;
    struct mw_dga_model *m = load_shipped();
    const uint8_t reg[] = "\x0cqxvbzjkwhtrp\x03"
                          "com";
    struct mw_regmemo_words words = {.public = true};
    struct mw_dga_result a, b;
    bool memo;
    assert_int_equal(mw_dga_check(m, reg, sizeof(reg), &words, &a, &memo), 1);
    assert_false(memo);
    assert_true(words.dga_scored);
    struct mw_dga_result r = score(m, "qxvbzjkwhtrp.com");
    assert_int_equal(a.score, r.score);
    /* The suffix counts, in any case, and the wire form scores as the text form. */
    const uint8_t reg2[] = "\x0cqxvbzjkwhtrp\x02"
                           "CO\x02"
                           "uk";
    assert_int_equal(mw_dga_score_wire(m, reg2, sizeof(reg2), &b), 0);
    assert_int_equal(b.score, score(m, "qxvbzjkwhtrp.co.uk").score);
    assert_int_not_equal(b.score, a.score);
    /* Without a root label, the suffix ends with the buffer; a label past it is refused. */
    assert_int_equal(mw_dga_score_wire(m, reg2, sizeof(reg2) - 1, &r), 0);
    assert_int_equal(r.score, b.score);
    assert_int_equal(mw_dga_score_wire(m, reg2, sizeof(reg2) - 2, &r), -EINVAL);
    assert_int_equal(mw_dga_score_wire(m, reg2, 12, &r), -EINVAL);
    assert_int_equal(b.level, r.level);
    assert_int_equal(mw_dga_check(m, reg, sizeof(reg), &words, &b, &memo), 1);
    assert_true(memo);
    assert_int_equal(b.score, a.score);
    assert_int_equal(b.level, a.level);
    words = (struct mw_regmemo_words){.public = false};
    assert_int_equal(mw_dga_check(m, reg, sizeof(reg), &words, &b, &memo), 0);
    assert_false(words.dga_scored);
    assert_int_equal(mw_dga_check(m, reg, sizeof(reg), NULL, &b, &memo), -EINVAL);
    assert_int_equal(mw_dga_check(NULL, reg, sizeof(reg), &words, &b, &memo), -EINVAL);
    mw_dga_free(m);
}

static void test_levels_and_bad_labels(void **state)
{
    (void)state;
    struct mw_dga_model *m = load_shipped();
    int32_t lo = mw_dga_threshold(m, MW_DGA_LOW), me = mw_dga_threshold(m, MW_DGA_MEDIUM),
            hi = mw_dga_threshold(m, MW_DGA_HIGH);
    assert_true(lo <= me && me <= hi);
    assert_int_equal(mw_dga_threshold(m, MW_DGA_NONE), INT32_MIN);
    assert_string_equal(mw_dga_level_name(MW_DGA_HIGH), "HIGH");
    assert_string_equal(mw_dga_level_name(MW_DGA_NONE), "NONE");
    struct mw_dga_result r = {.score = 12345};
    char big[MW_DGA_LABEL_MAX + 1];
    memset(big, 'a', sizeof(big));
    assert_int_equal(mw_dga_score(m, "", 0, &r), -EINVAL);
    assert_int_equal(mw_dga_score(m, big, sizeof(big), &r), -EINVAL);
    assert_int_equal(r.score, 12345); /* untouched */
    assert_int_equal(mw_dga_score(m, big, MW_DGA_LABEL_MAX, &r), 0);
    assert_int_equal(mw_dga_score(m, ".com", 4, &r), -EINVAL); /* no label */
    char name[MW_DGA_LABEL_MAX + 2 + MW_DGA_SUFFIX_MAX];
    memset(name, 'a', sizeof(name));
    name[1] = '.';
    assert_int_equal(mw_dga_score(m, name, 2 + MW_DGA_SUFFIX_MAX, &r), 0);
    assert_int_equal(mw_dga_score(m, name, 3 + MW_DGA_SUFFIX_MAX, &r), -EINVAL);
    /* The level is the highest threshold reached. */
    r = score(m, "x");
    assert_int_equal(r.level, r.score >= hi   ? MW_DGA_HIGH
                              : r.score >= me ? MW_DGA_MEDIUM
                              : r.score >= lo ? MW_DGA_LOW
                                              : MW_DGA_NONE);
    mw_dga_free(m);
    mw_dga_free(NULL);
}

static void put32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static void fix_crc(char *buf, size_t len)
{
    put32(buf + len - 4, mw_dga_crc32(buf, len - 4));
}

static void expect_bad(const char *buf, size_t len, const char *msg)
{
    struct mw_dga_model *m = (void *)1;
    char why[160] = "";
    assert_int_equal(mw_dga_parse(buf, len, &m, why, sizeof(why)), -EBADMSG);
    assert_null(m);
    if (!strstr(why, msg)) { /* fputs: gcc -O2 with the sanitizers misreads a %s here */
        fputs("want: ", stderr);
        fputs(msg, stderr);
        fputs("\nin: ", stderr);
        fputs(why, stderr);
        fputc('\n', stderr);
    }
    assert_non_null(strstr(why, msg));
}

/* The checks both versions share, on the file orig of len bytes (b: a copy's room). */
static void corrupt_common(const char *orig, size_t len, char *b)
{
    struct mw_dga_model *m = NULL;
    assert_int_equal(mw_dga_parse(orig, len, &m, NULL, 0), 0);
    mw_dga_free(m);
    expect_bad(orig, 0, "truncated");
    expect_bad(orig, 40, "truncated");
    expect_bad(orig, len - 1, "truncated");
    memcpy(b, orig, len);
    b[len] = 0;
    expect_bad(b, len + 1, "trailing bytes");
    b[100] ^= 1; /* one weight or cost bit */
    expect_bad(b, len, "checksum mismatch");
    memcpy(b, orig, len);
    b[0] = 'X';
    expect_bad(b, len, "no MWDGA magic");
    memcpy(b, orig, len);
    put32(b + 8, 1); /* version 1 had no suffix features */
    fix_crc(b, len);
    expect_bad(b, len, "format version 1");
    memcpy(b, orig, len);
    put32(b + 8, 4);
    fix_crc(b, len);
    expect_bad(b, len, "format version 4, this minewall reads 2 and 3");
    memcpy(b, orig, len);
    put32(b + 44, (uint32_t)INT32_MIN); /* HIGH below MEDIUM */
    fix_crc(b, len);
    expect_bad(b, len, "at offset 44: threshold");
    memcpy(b, orig, len);
    put32(b + 28, 0x7FF00000); /* scale +inf */
    put32(b + 24, 0);
    fix_crc(b, len);
    expect_bad(b, len, "scale");
    memcpy(b, orig, len);
    put32(b + 32, 0x7FFFFFFF);
    fix_crc(b, len);
    expect_bad(b, len, "bias");
}

static uint32_t get32(const char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | (uint8_t)p[i];
    return v;
}

static void test_corrupt_refused(void **state)
{
    (void)state;
    char *orig;
    size_t len;
    /* Version 2: a table of 2^bits weights. */
    assert_int_equal(mw_file_read(MODEL_V2, MW_DGA_FILE_MAX, &orig, &len), 0);
    char *b = malloc(len + 1);
    assert_non_null(b);
    corrupt_common(orig, len, b);
    memcpy(b, orig, len);
    put32(b + 12, 21);
    fix_crc(b, len);
    expect_bad(b, len, "table bits 21");
    memcpy(b, orig, len);
    put32(b + 12, 11); /* a valid size, but not this file's */
    fix_crc(b, len);
    expect_bad(b, len, "truncated");
    memcpy(b, orig, len);
    put32(b + 16, 0);
    fix_crc(b, len);
    expect_bad(b, len, "n-gram order 0");
    free(b);
    free(orig);

    /* Version 3, the shipped model: character costs, suffix table, trees. */
    assert_int_equal(mw_file_read(MODEL, MW_DGA_FILE_MAX, &orig, &len), 0);
    assert_int_equal(get32(orig + 8), 3);
    b = malloc(len + 1);
    assert_non_null(b);
    corrupt_common(orig, len, b);
    static const struct {
        size_t off;
        uint32_t v;
        const char *msg;
    } bad3[] = {
        {12, 0, "0 trees"},
        {12, 513, "513 trees"},
        {12, 1, "trailing bytes"}, /* a valid count, not this file's */
        {16, 0, "tree depth 0"},
        {16, 9, "tree depth 9"},
        {20, 1, "unknown flags"},
        {48, 0, "character model order 0"},
        {48, 4, "character model order 4"},
        {48, 2, "trailing bytes"},
        {52, 3, "suffix table bits 3"},
        {52, 17, "suffix table bits 17"},
        {56, 13, "13 features"},
        {60, 1, "reserved field"},
    };
    for (size_t i = 0; i < sizeof(bad3) / sizeof(bad3[0]); i++) {
        memcpy(b, orig, len);
        put32(b + bad3[i].off, bad3[i].v);
        fix_crc(b, len);
        expect_bad(b, len, bad3[i].msg);
    }
    /* The first tree's first node, feature and leaf, after the costs and the suffix table. */
    uint32_t order = get32(orig + 48), sbits = get32(orig + 52), depth = get32(orig + 16);
    size_t nc = order == 3 ? 64000 : order == 2 ? 1600 : 40, inner = ((size_t)1 << depth) - 1;
    size_t tree = 64 + 4 * nc + ((size_t)2 << sbits);
    memcpy(b, orig, len);
    b[64 + 1] = (char)0x80; /* the first benign cost negative */
    fix_crc(b, len);
    expect_bad(b, len, "at offset 64: negative character cost");
    memcpy(b, orig, len);
    b[tree + 4 * inner] = 14; /* the root's feature */
    fix_crc(b, len);
    expect_bad(b, len, "feature 14 out of 0..13");
    memcpy(b, orig, len);
    put32(b + tree + 5 * inner, (uint32_t) - (1 << 20) - 1); /* the first leaf */
    fix_crc(b, len);
    expect_bad(b, len, "leaf -1048577 out of");
    /* Any root threshold loads: an integer compare has no bad value. */
    memcpy(b, orig, len);
    put32(b + tree, 0x80000000u);
    fix_crc(b, len);
    struct mw_dga_model *m = NULL;
    assert_int_equal(mw_dga_parse(b, len, &m, NULL, 0), 0);
    mw_dga_free(m);

    /* Through the file loader: the path leads the message. */
    char path[] = "/tmp/mw-dga-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, orig, len / 2), (ssize_t)(len / 2));
    close(fd);
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    m = (void *)1;
    assert_int_equal(mw_dga_load(path, &m, &errs), -EBADMSG);
    assert_null(m);
    assert_int_equal(errs.n, 1);
    assert_true(strncmp(errs.msgs[0], path, strlen(path)) == 0);
    assert_non_null(strstr(errs.msgs[0], "bad DGA model: truncated"));
    unlink(path);
    assert_int_equal(mw_dga_load(path, &m, &errs), -ENOENT);
    assert_int_equal(errs.n, 2);
    assert_non_null(strstr(errs.msgs[1], "cannot read DGA model"));
    mw_errlist_deinit(&errs);
    free(b);
    free(orig);
}

static void test_cost(void **state)
{
    (void)state;
    struct mw_dga_model *m = load_shipped();
    static const char *const labels[] = {"google.com",         "wikipedia.org",
                                         "xkcdqzpfmwtrbl.net", "a1b2c3d4e5f6.com",
                                         "bundesregierung.de", "qwmzlkdjfhgpoiuytrex.co.uk"};
    size_t n = sizeof(labels) / sizeof(labels[0]), total = 0, lens[6];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(labels[i]), total += lens[i];
    struct timespec t0, t1;
    long long sum = 0;
    int rounds = 50000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int k = 0; k < rounds; k++)
        for (size_t i = 0; i < n; i++) {
            struct mw_dga_result r;
            mw_dga_score(m, labels[i], lens[i], &r);
            sum += r.score;
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    fprintf(stderr, "dga: %.1f ns per domain (mean length %.1f, %d domains, checksum %lld)\n",
            ns / ((double)rounds * (double)n), (double)total / (double)n, rounds * (int)n, sum);
    mw_dga_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_benign_low),
        cmocka_unit_test(test_generated_high),
        cmocka_unit_test(test_levels_and_bad_labels),
        cmocka_unit_test(test_check_through_words),
        cmocka_unit_test(test_scores_equal_trainer),
        cmocka_unit_test(test_corrupt_refused),
        cmocka_unit_test(test_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
