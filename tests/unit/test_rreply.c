/* Unit tests for reading the list sync's Redis replies (rreply.c). Replies are made by the
 * hiredis reader from RESP text, as the connections make them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "minewall/config.h"
#include "minewall/rlist.h"
#include "minewall/rreply.h"

static redisReply *parse(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    void *r = NULL;
    assert_int_equal(redisReaderGetReply(rd, &r), REDIS_OK);
    assert_non_null(r);
    redisReaderFree(rd);
    return r;
}

static void test_meta(void **state)
{
    (void)state;
    struct mw_rlist_meta m;
    const char *lc;
    redisReply *r = parse("*8\r\n$8\r\ncategory\r\n$2\r\nc2\r\n$6\r\naction\r\n$8\r\nnxdomain\r\n"
                          "$4\r\ntype\r\n$2\r\nip\r\n$7\r\nupdated\r\n:5\r\n");
    assert_int_equal(mw_rreply_meta(r, "x", &m, &lc), 8);
    assert_string_equal(m.name, "x");
    assert_string_equal(m.category, "c2");
    assert_int_equal(m.action, MW_ACTION_NXDOMAIN);
    assert_int_equal(m.type, MW_LIST_IP);
    assert_int_equal(m.updated, 0); /* an integer where a string belongs is ignored */
    assert_null(lc);
    freeReplyObject(r);
    r = parse("*2\r\n$8\r\ncategory\r\n$64\r\n"
              "0123456789012345678901234567890123456789012345678901234567890123\r\n");
    assert_int_equal(mw_rreply_meta(r, "x", &m, &lc), 2);
    assert_non_null(lc);
    assert_int_equal(strlen(lc), 64);
    assert_string_equal(m.category, "unknown");
    freeReplyObject(r);
    r = parse("*0\r\n");
    assert_int_equal(mw_rreply_meta(r, "x", &m, &lc), 0);
    assert_string_equal(m.category, "unknown");
    assert_int_equal(m.action, MW_ACTION_DEFAULT);
    assert_int_equal(m.type, MW_LIST_DOMAIN);
    freeReplyObject(r);
    r = parse("-ERR wrong type\r\n");
    assert_int_equal(mw_rreply_meta(r, "x", &m, &lc), -EBADMSG);
    freeReplyObject(r);
}

static void test_sscan(void **state)
{
    (void)state;
    const char *cur;
    redisReply *r = parse("*2\r\n$2\r\n17\r\n*3\r\n$1\r\na\r\n:4\r\n$-1\r\n");
    assert_int_equal(mw_rreply_sscan(r, &cur), 3);
    assert_string_equal(cur, "17");
    assert_string_equal(mw_rreply_sscan_item(r, 0), "a");
    assert_null(mw_rreply_sscan_item(r, 1));
    assert_null(mw_rreply_sscan_item(r, 2));
    assert_null(mw_rreply_sscan_item(r, 3));
    freeReplyObject(r);
    static const char *const bad[] = {"*2\r\n:1\r\n*0\r\n", "*2\r\n$1\r\n0\r\n$1\r\na\r\n",
                                      "*1\r\n$1\r\n0\r\n", "$1\r\n0\r\n", "*-1\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = parse(bad[i]);
        assert_int_equal(mw_rreply_sscan(r, &cur), -EBADMSG);
        freeReplyObject(r);
    }
}

static void test_xinfo_head(void **state)
{
    (void)state;
    const char *first, *last;
    redisReply *r = parse("*4\r\n$17\r\nlast-generated-id\r\n$3\r\n5-1\r\n$11\r\nfirst-entry\r\n"
                          "*2\r\n$3\r\n2-0\r\n*0\r\n");
    assert_int_equal(mw_rreply_xinfo(r, &first, &last), 0);
    assert_string_equal(first, "2-0");
    assert_string_equal(last, "5-1");
    freeReplyObject(r);
    r = parse("*2\r\n:1\r\n$-1\r\n"); /* odd shapes: nothing found, no crash */
    assert_int_equal(mw_rreply_xinfo(r, &first, &last), 0);
    assert_null(first);
    assert_null(last);
    assert_null(mw_rreply_log_head(r));
    freeReplyObject(r);
    r = parse("-ERR no such key\r\n");
    assert_int_equal(mw_rreply_xinfo(r, &first, &last), -ENOENT);
    freeReplyObject(r);
    r = parse("*1\r\n*2\r\n$3\r\n9-9\r\n*0\r\n");
    assert_string_equal(mw_rreply_log_head(r), "9-9");
    freeReplyObject(r);
    assert_true(mw_rreply_id_cmp("10-0", "9-5") > 0);
    assert_true(mw_rreply_id_cmp("9-5", "9-10") < 0);
    assert_int_equal(mw_rreply_id_cmp("junk", "0-0"), 0);
}

static void test_xread(void **state)
{
    (void)state;
    /* Two streams: a good one with a good record, a nil record and a record without fields,
     * and one whose records are an integer. */
    redisReply *r =
        parse("*3\r\n"
              "*2\r\n$3\r\nlog\r\n*3\r\n"
              "*2\r\n$3\r\n1-1\r\n*4\r\n$2\r\nop\r\n$3\r\nadd\r\n$7\r\nentries\r\n$3\r\na b\r\n"
              "$-1\r\n"
              "*2\r\n$3\r\n1-2\r\n$-1\r\n"
              "*2\r\n$4\r\nlog2\r\n:7\r\n"
              ":3\r\n");
    assert_int_equal(mw_rreply_xread_streams(r), 3);
    const char *key, *id, *op, *entries;
    size_t n;
    assert_int_equal(mw_rreply_xread_stream(r, 0, &key, &n), 0);
    assert_string_equal(key, "log");
    assert_int_equal(n, 3);
    assert_int_equal(mw_rreply_xread_record(r, 0, 0, &id, &op, &entries), 0);
    assert_string_equal(id, "1-1");
    assert_string_equal(op, "add");
    assert_string_equal(entries, "a b");
    assert_int_equal(mw_rreply_xread_record(r, 0, 1, &id, &op, &entries), -EBADMSG);
    assert_int_equal(mw_rreply_xread_record(r, 0, 2, &id, &op, &entries), 0);
    assert_null(op);
    assert_int_equal(mw_rreply_xread_record(r, 0, 3, &id, &op, &entries), -EBADMSG);
    assert_int_equal(mw_rreply_xread_stream(r, 1, &key, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(mw_rreply_xread_stream(r, 2, &key, &n), -EBADMSG);
    assert_int_equal(mw_rreply_xread_stream(r, 3, &key, &n), -EBADMSG);
    freeReplyObject(r);
    r = parse("*-1\r\n");
    assert_int_equal(mw_rreply_xread_streams(r), 0);
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_sscan),
        cmocka_unit_test(test_xinfo_head),
        cmocka_unit_test(test_xread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
