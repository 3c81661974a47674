/* Unit tests for answertext.c: value texts of every tracked type (addresses, names with bytes
 * that need escapes, MX with its preference; values are written by ldns), the difference of two
 * sets (added, removed, both sorted), truncation flags, the chains and whether they are the same.
 * Sets are written here in the binary form answerscan.h defines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "minewall/answerdiff.h"
#include "minewall/answertext.h"
#include "minewall/dnsmsg.h"

static char *BUF;
static struct mw_answer_change CH;

static struct mw_answerscan_set set_of(const void *p, size_t len, uint8_t n_chain, uint8_t n_vals)
{
    return (struct mw_answerscan_set){
        .p = p, .len = len, .n_chain = n_chain, .n_vals = n_vals, .truncated = false};
}

static const char *join(const char *const *v, size_t n)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    b[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(b, ",");
        strcat(b, v[i]);
    }
    return b;
}

#define LIST(l) join((l).v, (l).n)

static void test_addresses(void **state)
{
    (void)state;
    static const uint8_t o[] = {192, 0, 2, 1, 192, 0, 2, 9};
    static const uint8_t n[] = {192, 0, 2, 9, 192, 0, 2, 10};
    struct mw_answerscan_set so = set_of(o, sizeof(o), 0, 2), sn = set_of(n, sizeof(n), 0, 2);
    memset(&CH, 0, sizeof(CH));
    assert_true(mw_answertext_fill(BUF, MW_TYPE_A, &so, &sn, &CH));
    assert_string_equal(LIST(CH.old_set), "192.0.2.1,192.0.2.9");
    assert_string_equal(LIST(CH.new_set), "192.0.2.9,192.0.2.10");
    assert_string_equal(LIST(CH.added), "192.0.2.10");
    assert_string_equal(LIST(CH.removed), "192.0.2.1");
    assert_true(CH.values_changed);
    assert_false(CH.added.truncated);

    uint8_t six[32] = {0};
    six[0] = 0x20, six[1] = 0x01, six[2] = 0x0d, six[3] = 0xb8, six[15] = 1;
    six[16] = 0x20, six[17] = 0x01, six[18] = 0x0d, six[19] = 0xb8, six[31] = 2;
    so = set_of(six, 16, 0, 1);
    sn = set_of(six, 32, 0, 2);
    sn.truncated = true;
    memset(&CH, 0, sizeof(CH));
    mw_answertext_fill(BUF, MW_TYPE_AAAA, &so, &sn, &CH);
    assert_string_equal(LIST(CH.new_set), "2001:db8::1,2001:db8::2");
    assert_string_equal(LIST(CH.added), "2001:db8::2");
    assert_int_equal(CH.removed.n, 0);
    assert_true(CH.new_set.truncated && !CH.old_set.truncated);
    assert_true(CH.added.truncated && CH.removed.truncated);

    /* The same set: nothing changed. */
    memset(&CH, 0, sizeof(CH));
    assert_true(mw_answertext_fill(BUF, MW_TYPE_AAAA, &sn, &sn, &CH));
    assert_false(CH.values_changed);
}

static void test_names_and_chain(void **state)
{
    (void)state;
    /* Old: chain b.example, values mx 10 mx.example. New: chain c.example, values 5 a\.b.ex,
     * 10 mx.example. */
    static const uint8_t o[] = "\1b\7example\0\0\12\2mx\7example";
    static const uint8_t n[] = "\1c\7example\0\0\5\3a.b\2ex\0\0\12\2mx\7example";
    struct mw_answerscan_set so = set_of(o, sizeof(o), 1, 1), sn = set_of(n, sizeof(n), 1, 2);
    memset(&CH, 0, sizeof(CH));
    assert_false(mw_answertext_fill(BUF, MW_TYPE_MX, &so, &sn, &CH));
    assert_string_equal(join(CH.old_chain, CH.old_chain_n), "b.example");
    assert_string_equal(join(CH.new_chain, CH.new_chain_n), "c.example");
    assert_string_equal(LIST(CH.old_set), "10 mx.example");
    assert_string_equal(LIST(CH.new_set), "5 a\\.b.ex,10 mx.example");
    assert_string_equal(LIST(CH.added), "5 a\\.b.ex");
    assert_int_equal(CH.removed.n, 0);

    /* NS names; the same chain. */
    static const uint8_t c[] = "\1b\7example\0\3ns1\7example\0\3ns2\7example";
    so = set_of(c, 11 + 13, 1, 1);
    sn = set_of(c, sizeof(c), 1, 2);
    memset(&CH, 0, sizeof(CH));
    assert_true(mw_answertext_fill(BUF, MW_TYPE_NS, &so, &sn, &CH));
    assert_string_equal(LIST(CH.new_set), "ns1.example,ns2.example");
    assert_string_equal(LIST(CH.added), "ns2.example");
    /* Every text points into the buffer. */
    assert_true(CH.added.v[0] >= BUF && CH.added.v[0] < BUF + MW_ANSWERTEXT_BUF);
}

static int setup(void **state)
{
    (void)state;
    BUF = malloc(MW_ANSWERTEXT_BUF);
    return BUF ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(BUF);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_names_and_chain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
