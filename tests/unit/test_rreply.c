/* Unit tests for reading Redis replies (rreply.c), with the shapes the list sync reads and
 * the rschema readers it hands them to, as redis_sync.c does. Replies are made by the hiredis
 * reader from RESP text, as the connections make them. */
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
#include "minewall/rschema.h"

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

/* A list's meta hash, read as on_meta and on_meta_poll read it: rschema through the getter. */
static void test_meta(void **state)
{
    (void)state;
    struct mw_rlist_meta m;
    redisReply *r = parse("*10\r\n$8\r\ncategory\r\n$2\r\nc2\r\n$6\r\naction\r\n$8\r\nnxdomain\r\n"
                          "$4\r\ntype\r\n$2\r\nip\r\n$7\r\nupdated\r\n:5\r\n"
                          "$8\r\ncategory\r\n$2\r\nc3\r\n");
    assert_int_equal(mw_rreply_hash(r), 5);
    assert_int_equal(mw_rschema_meta("x", mw_rreply_get, r, &m), 0);
    assert_string_equal(m.name, "x");
    assert_string_equal(m.category, "c2"); /* the first of a repeated field */
    assert_int_equal(m.action, MW_ACTION_NXDOMAIN);
    assert_int_equal(m.type, MW_LIST_IP);
    assert_int_equal(m.updated, 0); /* an integer where a string belongs is ignored */
    assert_null(mw_rreply_field(r, "updated"));
    assert_null(mw_rreply_field(r, "c2")); /* values are not names */
    freeReplyObject(r);
    r = parse("*2\r\n$8\r\ncategory\r\n$64\r\n"
              "0123456789012345678901234567890123456789012345678901234567890123\r\n");
    assert_int_equal(mw_rreply_hash(r), 1);
    assert_int_equal(mw_rschema_meta("x", mw_rreply_get, r, &m), -E2BIG);
    freeReplyObject(r);
    r = parse("*0\r\n");
    assert_int_equal(mw_rreply_hash(r), 0);
    assert_int_equal(mw_rschema_meta("x", mw_rreply_get, r, &m), 0);
    assert_string_equal(m.category, "unknown");
    assert_int_equal(m.action, MW_ACTION_DEFAULT);
    assert_int_equal(m.type, MW_LIST_DOMAIN);
    freeReplyObject(r);
    r = parse("-WRONGTYPE not a hash\r\n");
    assert_int_equal(mw_rreply_hash(r), -EBADMSG);
    assert_null(mw_rreply_field(r, "category"));
    assert_string_equal(mw_rreply_error(r), "WRONGTYPE not a hash");
    assert_string_equal(mw_rreply_why(r), "WRONGTYPE not a hash");
    freeReplyObject(r);
    /* Names that are not strings, odd counts: skipped, the last name has no value. */
    r = parse("*5\r\n:1\r\n$1\r\nv\r\n*0\r\n$1\r\nw\r\n$2\r\nop\r\n");
    assert_null(mw_rreply_field(r, "op"));
    assert_null(mw_rreply_error(r));
    assert_string_equal(mw_rreply_why(r), "unexpected reply");
    assert_string_equal(mw_rreply_why(NULL), "unexpected reply");
    freeReplyObject(r);
}

static void test_scalars(void **state)
{
    (void)state;
    long long v = 7;
    redisReply *r = parse(":42\r\n");
    assert_true(mw_rreply_integer(r, &v));
    assert_int_equal(v, 42);
    assert_null(mw_rreply_str(r));
    freeReplyObject(r);
    r = parse("+OK\r\n");
    assert_false(mw_rreply_integer(r, &v));
    assert_int_equal(v, 42);
    assert_string_equal(mw_rreply_str(r), "OK");
    freeReplyObject(r);
    assert_false(mw_rreply_integer(NULL, &v));
}

/* SSCAN of a list's entries (on_sscan) and of the index SET (on_members). */
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
    static const char *const bad[] = {"*2\r\n:1\r\n*0\r\n",
                                      "*2\r\n$1\r\n0\r\n$1\r\na\r\n",
                                      "*1\r\n$1\r\n0\r\n",
                                      "$1\r\n0\r\n",
                                      "*-1\r\n",
                                      "-ERR no\r\n",
                                      "*0\r\n",
                                      "*3\r\n$1\r\n0\r\n*0\r\n*0\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = parse(bad[i]);
        assert_int_equal(mw_rreply_sscan(r, &cur), -EBADMSG);
        freeReplyObject(r);
    }
}

/* XINFO STREAM (on_xinfo) and XREVRANGE ... COUNT 1 (on_log_head, on_catalog_head). */
static void test_xinfo_head(void **state)
{
    (void)state;
    struct mw_rreply_xinfo xi;
    redisReply *r = parse("*6\r\n$17\r\nlast-generated-id\r\n$3\r\n5-1\r\n$11\r\nfirst-entry\r\n"
                          "*2\r\n$3\r\n2-0\r\n*0\r\n$10\r\nlast-entry\r\n"
                          "*2\r\n$3\r\n5-1\r\n*2\r\n$2\r\nop\r\n$6\r\nretire\r\n");
    assert_int_equal(mw_rreply_xinfo(r, &xi), 0);
    assert_string_equal(xi.first, "2-0");
    assert_string_equal(xi.last_gen, "5-1");
    assert_non_null(xi.last_fields);
    assert_int_equal(mw_rschema_log_op(mw_rreply_get, (void *)xi.last_fields),
                     MW_RSCHEMA_OP_RETIRE);
    freeReplyObject(r);
    const char *id = NULL;
    const redisReply *fields = NULL;
    r = parse("*2\r\n:1\r\n$-1\r\n"); /* odd shapes: nothing found, no crash */
    assert_int_equal(mw_rreply_xinfo(r, &xi), 0);
    assert_null(xi.first);
    assert_null(xi.last_gen);
    assert_null(xi.last_fields);
    assert_int_equal(mw_rreply_log_head(r, &id, &fields), -ENOENT);
    freeReplyObject(r);
    r = parse("*4\r\n$10\r\nlast-entry\r\n$-1\r\n$11\r\nfirst-entry\r\n:3\r\n");
    assert_int_equal(mw_rreply_xinfo(r, &xi), 0);
    assert_null(xi.first);
    assert_null(xi.last_fields);
    freeReplyObject(r);
    r = parse("-ERR no such key\r\n");
    assert_int_equal(mw_rreply_xinfo(r, &xi), -ENOENT);
    assert_int_equal(mw_rreply_log_head(r, &id, &fields), -EBADMSG);
    freeReplyObject(r);
    r = parse("*1\r\n*2\r\n$3\r\n9-9\r\n*2\r\n$2\r\nop\r\n$6\r\nretire\r\n");
    assert_int_equal(mw_rreply_log_head(r, &id, &fields), 0);
    assert_string_equal(id, "9-9");
    assert_int_equal(mw_rschema_log_op(mw_rreply_get, (void *)fields), MW_RSCHEMA_OP_RETIRE);
    freeReplyObject(r);
    r = parse("*1\r\n*1\r\n$3\r\n9-8\r\n"); /* a head without fields: its id still counts */
    assert_int_equal(mw_rreply_log_head(r, &id, &fields), 0);
    assert_string_equal(id, "9-8");
    assert_null(fields);
    assert_int_equal(mw_rschema_log_op(mw_rreply_get, (void *)fields), MW_RSCHEMA_OP_NONE);
    freeReplyObject(r);
    r = parse("*0\r\n");
    assert_true(mw_rreply_is_array(r));
    assert_int_equal(mw_rreply_log_head(r, &id, &fields), -ENOENT);
    freeReplyObject(r);
    r = parse("*1\r\n*2\r\n$48\r\n123456789012345678901234567890123456789012345678\r\n*0\r\n");
    assert_int_equal(mw_rreply_log_head(r, &id, &fields), -ENOENT); /* not an id */
    freeReplyObject(r);
    assert_true(mw_rreply_id_cmp("10-0", "9-5") > 0);
    assert_true(mw_rreply_id_cmp("9-5", "9-10") < 0);
    assert_int_equal(mw_rreply_id_cmp("junk", "0-0"), 0);
}

/* XREAD over the catalog and the logs (on_xread, apply_catalog, apply_log). */
static void test_xread(void **state)
{
    (void)state;
    /* Four streams: a log with a good record, a nil record, a record whose fields are nil,
     * and a record with a too long id; the catalog; one whose records are an integer; an
     * integer. */
    redisReply *r =
        parse("*4\r\n"
              "*2\r\n$3\r\nlog\r\n*4\r\n"
              "*2\r\n$3\r\n1-1\r\n*4\r\n$2\r\nop\r\n$3\r\nadd\r\n$7\r\nentries\r\n$3\r\na b\r\n"
              "$-1\r\n"
              "*2\r\n$3\r\n1-2\r\n$-1\r\n"
              "*2\r\n$48\r\n123456789012345678901234567890123456789012345678\r\n*0\r\n"
              "*2\r\n$16\r\nminewall:catalog\r\n*1\r\n"
              "*2\r\n$3\r\n3-0\r\n*4\r\n$2\r\nop\r\n$6\r\ncreate\r\n$4\r\nlist\r\n$2\r\nl1\r\n"
              "*2\r\n$4\r\nlog2\r\n:7\r\n"
              ":3\r\n");
    assert_int_equal(mw_rreply_xread_streams(r), 4);
    const char *key, *id, *name;
    const redisReply *recs, *fields;
    assert_int_equal(mw_rreply_xread_stream(r, 0, &key, &recs), 0);
    assert_string_equal(key, "log");
    assert_int_equal(mw_rreply_records(recs), 4);
    assert_int_equal(mw_rreply_record(recs, 0, &id, &fields), 0);
    assert_string_equal(id, "1-1");
    assert_int_equal(mw_rschema_log_op(mw_rreply_get, (void *)fields), MW_RSCHEMA_OP_ADD);
    assert_string_equal(mw_rreply_field(fields, "entries"), "a b");
    assert_int_equal(mw_rreply_record(recs, 1, &id, &fields), -EBADMSG);
    assert_int_equal(mw_rreply_record(recs, 2, &id, &fields), 0);
    assert_null(mw_rreply_field(fields, "op"));
    assert_int_equal(mw_rreply_record(recs, 3, &id, &fields), -EBADMSG);
    assert_int_equal(mw_rreply_record(recs, 4, &id, &fields), -EBADMSG);
    assert_int_equal(mw_rreply_xread_stream(r, 1, &key, &recs), 0);
    assert_string_equal(key, "minewall:catalog");
    assert_int_equal(mw_rreply_record(recs, 0, &id, &fields), 0);
    assert_int_equal(mw_rschema_catalog(mw_rreply_get, (void *)fields, &name),
                     MW_RSCHEMA_OP_CREATE);
    assert_string_equal(name, "l1");
    assert_int_equal(mw_rreply_xread_stream(r, 2, &key, &recs), 0);
    assert_int_equal(mw_rreply_records(recs), 0);
    assert_int_equal(mw_rreply_record(recs, 0, &id, &fields), -EBADMSG);
    assert_int_equal(mw_rreply_xread_stream(r, 3, &key, &recs), -EBADMSG);
    assert_int_equal(mw_rreply_xread_stream(r, 4, &key, &recs), -EBADMSG);
    freeReplyObject(r);
    r = parse("*-1\r\n"); /* XREAD BLOCK timed out */
    assert_int_equal(mw_rreply_xread_streams(r), 0);
    assert_null(mw_rreply_error(r));
    assert_false(mw_rreply_is_array(r));
    freeReplyObject(r);
    r = parse("*1\r\n*2\r\n:5\r\n*0\r\n"); /* a key that is not a string */
    assert_int_equal(mw_rreply_xread_stream(r, 0, &key, &recs), -EBADMSG);
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta),  cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_sscan), cmocka_unit_test(test_xinfo_head),
        cmocka_unit_test(test_xread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
