/* Block log folding (issue 11 item 10): repeats fold per (client, name, qtype), the folded line
 * is stamped when written and carries the first and last repeat times, lines stay in time
 * order. A real file in a temporary directory; times are passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/blocklog.h"
#include "minewall/dname.h"

#define WALL0 1700000000000ULL /* 2023-11-14T22:13:20.000Z */

static char path[256];
static struct sockaddr_in client;
static uint8_t qname[MW_DNAME_MAX + 1];
static int qname_len;

static int setup(void **state)
{
    (void)state;
    char dir[] = "/tmp/mwt-blocklog-XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/blocks.jsonl", dir);
    client.sin_family = AF_INET;
    client.sin_port = htons(40000);
    inet_pton(AF_INET, "192.0.2.9", &client.sin_addr);
    qname_len = mw_dname_from_text("pool.evil.test", qname, sizeof(qname));
    assert_true(qname_len > 0);
    return 0;
}

static void hit(struct mw_blocklog *b, struct mw_blockfold *f, uint16_t qtype, uint64_t mono,
                uint64_t wall)
{
    struct mw_block_event e = {.wall_ms = wall,
                               .client = (struct sockaddr *)&client,
                               .qname = qname,
                               .qname_len = (size_t)qname_len,
                               .qtype = qtype,
                               .list = "mining",
                               .category = "mining",
                               .action = "sinkhole",
                               .rule = "pool.evil.test",
                               .where = "qname",
                               .matched = ""};
    mw_blocklog_hit(b, f, &e, mono);
}

/* The lines written so far, one per entry of out (at most cap), NUL-terminated. */
static size_t read_lines(char out[][1024], size_t cap)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = 0;
    while (n < cap && fgets(out[n], 1024, fp))
        n++;
    fclose(fp);
    return n;
}

static void test_fold_per_qtype_with_times(void **state)
{
    (void)state;
    unlink(path);
    struct mw_blocklog *b;
    assert_int_equal(mw_blocklog_open(path, &b), 0);
    struct mw_blockfold *f = mw_blockfold_new();
    assert_non_null(f);
    /* A at 0 ms, AAAA at 100, A again at 200 and 300, AAAA at 400: two first lines at once. */
    hit(b, f, 1, 1000, WALL0);
    hit(b, f, 28, 1100, WALL0 + 100);
    hit(b, f, 1, 1200, WALL0 + 200);
    hit(b, f, 1, 1300, WALL0 + 300);
    hit(b, f, 28, 1400, WALL0 + 400);
    char lines[8][1024];
    assert_int_equal(read_lines(lines, 8), 2);
    assert_non_null(strstr(lines[0], "\"ts\":\"2023-11-14T22:13:20.000Z\""));
    assert_non_null(strstr(lines[0], "\"qtype\":\"A\""));
    assert_non_null(strstr(lines[0], "\"first_ts\":\"2023-11-14T22:13:20.000Z\","
                                     "\"last_ts\":\"2023-11-14T22:13:20.000Z\",\"count\":1}"));
    assert_non_null(strstr(lines[1], "\"qtype\":\"AAAA\""));
    /* Nothing before the window is over; then one folded line per qtype. */
    mw_blockfold_flush(b, f, 1999, WALL0 + 999, false);
    assert_int_equal(read_lines(lines, 8), 2);
    mw_blockfold_flush(b, f, 2500, WALL0 + 1500, false);
    assert_int_equal(read_lines(lines, 8), 4);
    const char *a = strstr(lines[2], "\"qtype\":\"A\"") ? lines[2] : lines[3];
    const char *aaaa = a == lines[2] ? lines[3] : lines[2];
    assert_non_null(strstr(a, "\"qtype\":\"A\""));
    assert_non_null(strstr(a, "\"first_ts\":\"2023-11-14T22:13:20.200Z\","
                              "\"last_ts\":\"2023-11-14T22:13:20.300Z\",\"count\":2,"
                              "\"folded\":true}"));
    /* Stamped with the wall clock of the write. */
    assert_non_null(strstr(a, "{\"ts\":\"2023-11-14T22:13:21.500Z\",\"client\":\"192.0.2.9\""));
    assert_non_null(strstr(aaaa, "\"qtype\":\"AAAA\""));
    assert_non_null(strstr(aaaa, "\"first_ts\":\"2023-11-14T22:13:20.400Z\","
                                 "\"last_ts\":\"2023-11-14T22:13:20.400Z\",\"count\":1,"
                                 "\"folded\":true}"));
    /* Every line's ts is no earlier than the line before it. */
    for (int i = 1; i < 4; i++)
        assert_true(strncmp(strstr(lines[i], "\"ts\":"), strstr(lines[i - 1], "\"ts\":"), 31) >= 0);
    uint64_t written, failed;
    mw_blocklog_counts(b, &written, &failed);
    assert_true(written == 4 && failed == 0);
    mw_blockfold_free(f);
    mw_blocklog_unref(b);
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    char *slash = strrchr(path, '/');
    *slash = 0;
    rmdir(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold_per_qtype_with_times),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
