/* libFuzzer harness for what minewall reads from Redis: the input is a RESP byte stream as a
 * server (or something posing as one) would send, cut into replies by the hiredis reader the
 * connections use. Each reply is read as every reply handler of the list sync (redis_sync.c)
 * reads it, through the same rreply.c and rschema.c calls: meta hash, SSCAN batch, log head,
 * XINFO STREAM, XREAD of the catalog and the logs (their records' ops, metas and entries). The
 * SSCAN items go into a list base and the log records into a delta, and a list version is
 * built from both and queried. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "fuzz_common.h"
#include "minewall/config.h"
#include "minewall/rlist.h"
#include "minewall/rreply.h"
#include "minewall/rschema.h"

/* The records of one log or of the catalog, read as apply_log and apply_catalog read them. */
static void use_records(const redisReply *recs, struct mw_rdelta *d, bool catalog)
{
    const char *last_id = "0-0";
    for (size_t i = 0; i < mw_rreply_records(recs); i++) {
        const char *id, *name;
        const redisReply *fields;
        if (mw_rreply_record(recs, i, &id, &fields) < 0 || mw_rreply_id_cmp(id, last_id) <= 0)
            continue;
        FZ_CHECK(strlen(id) <= MW_RREPLY_ID_MAX);
        last_id = id;
        if (catalog) {
            if (mw_rschema_catalog(mw_rreply_get, (void *)fields, &name) != MW_RSCHEMA_OP_NONE)
                FZ_CHECK(name && !mw_rschema_name_problem(name));
            continue;
        }
        struct mw_rlist_meta m;
        enum mw_rschema_op op = mw_rschema_log_op(mw_rreply_get, (void *)fields);
        if (op == MW_RSCHEMA_OP_META) {
            int rc = mw_rschema_meta("fz", mw_rreply_get, (void *)fields, &m);
            FZ_CHECK(rc == 0 || rc == -E2BIG);
        } else if (op != MW_RSCHEMA_OP_RETIRE) {
            size_t bad;
            int rc = mw_rdelta_apply_record(d, mw_rreply_field(fields, "op"),
                                            mw_rreply_field(fields, "entries"), &bad);
            FZ_CHECK(rc == 0 || rc == -EINVAL);
        }
    }
}

/* One reply, read as each of redis_sync.c's reply handlers would read it. */
static void use_reply(const redisReply *r, struct mw_rbase_builder *b, struct mw_rdelta *d,
                      const char **probe)
{
    /* on_meta, on_meta_poll: HGETALL of the meta hash. */
    struct mw_rlist_meta meta;
    int fields = mw_rreply_hash(r);
    int rc = mw_rschema_meta("fz", mw_rreply_get, (void *)r, &meta);
    FZ_CHECK(rc == 0 || rc == -E2BIG);
    FZ_CHECK(fields >= 0 || fields == -EBADMSG);
    FZ_CHECK(strcmp(meta.name, "fz") == 0 && meta.category[0] &&
             strlen(meta.category) < sizeof(meta.category));

    /* on_sscan, on_members: SSCAN of the entries and of the index. */
    const char *cursor;
    int n = mw_rreply_sscan(r, &cursor);
    for (int i = 0; i < n; i++) {
        const char *item = mw_rreply_sscan_item(r, (size_t)i);
        if (item && mw_rbase_builder_add(b, item) == 0)
            *probe = item;
    }
    if (n >= 0)
        FZ_CHECK(cursor != NULL);

    /* on_log_head, on_catalog_head: XREVRANGE COUNT 1; on_xinfo: XINFO STREAM. */
    const char *head;
    const redisReply *head_fields;
    rc = mw_rreply_log_head(r, &head, &head_fields);
    FZ_CHECK(rc == 0 || rc == -ENOENT || rc == -EBADMSG);
    if (rc == 0)
        (void)mw_rschema_log_op(mw_rreply_get, (void *)head_fields);
    struct mw_rreply_xinfo xi;
    if (mw_rreply_xinfo(r, &xi) == 0) {
        if (xi.last_fields)
            (void)mw_rschema_log_op(mw_rreply_get, (void *)xi.last_fields);
        if (rc == 0) {
            (void)mw_rreply_id_cmp(xi.first ? xi.first : "0-0", head);
            (void)mw_rreply_id_cmp(xi.last_gen ? xi.last_gen : "", head);
        }
    }

    /* on_xread: the catalog and the logs. */
    for (size_t s = 0; s < mw_rreply_xread_streams(r); s++) {
        const char *key;
        const redisReply *recs;
        if (mw_rreply_xread_stream(r, s, &key, &recs) < 0)
            continue;
        FZ_CHECK(key != NULL);
        use_records(recs, d, strcmp(key, MW_RSCHEMA_CATALOG) == 0);
    }

    /* on_client_id, and what is logged for a failed command. */
    long long id;
    (void)mw_rreply_integer(r, &id);
    FZ_CHECK(mw_rreply_why(r) != NULL);
}

/* hiredis 0.14 callocs an array reply's element pointers for the count a "*N" header announces,
 * before any element arrives (later versions cap N with maxelements). A huge N is then a
 * multi-gigabyte calloc that fails cleanly in minewall (a reader error: the connection is
 * dropped and retried) but trips the fuzzer's malloc limit, so such inputs are skipped. */
static bool huge_array(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '*')
            continue;
        uint64_t n = 0;
        for (size_t j = i + 1; j < size && j < i + 12 && data[j] >= '0' && data[j] <= '9'; j++)
            n = n * 10 + (data[j] - '0');
        if (n > (1u << 20))
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || huge_array(data, size))
        return 0;
    static const enum mw_list_type types[] = {MW_LIST_DOMAIN, MW_LIST_IP, MW_LIST_ASN,
                                              MW_LIST_DOMAIN};
    enum mw_list_type type = types[data[0] & 3];
    data++;
    size--;
    redisReader *rd = redisReaderCreate();
    FZ_CHECK(rd != NULL);
    struct mw_rbase_builder *b = mw_rbase_builder_new(type);
    struct mw_rdelta *d = mw_rdelta_new();
    FZ_CHECK(b && d);
    char *probe = NULL;
    /* Fed in two pieces: a reply cut anywhere must come out whole. */
    size_t cut = size / 3;
    for (int piece = 0; piece < 2; piece++) {
        if (redisReaderFeed(rd, (const char *)data + (piece ? cut : 0), piece ? size - cut : cut) !=
            REDIS_OK)
            break;
        for (int i = 0; i < 64; i++) {
            void *reply = NULL;
            if (redisReaderGetReply(rd, &reply) != REDIS_OK || !reply)
                break;
            const char *p = NULL;
            use_reply(reply, b, d, &p);
            if (p) {
                free(probe);
                probe = strdup(p);
            }
            freeReplyObject(reply);
        }
    }
    redisReaderFree(rd);
    struct mw_rbase *base = mw_rbase_build(b);
    FZ_CHECK(base != NULL);
    struct mw_rlist_meta meta = {.name = "fz", .category = "c2", .type = type};
    struct mw_rlist *l = mw_rlist_new(&meta, base, d);
    FZ_CHECK(l != NULL);
    if (probe)
        (void)mw_rlist_contains(l, probe);
    mw_rlist_unref(l);
    mw_rbase_unref(base);
    mw_rdelta_free(d);
    free(probe);
    return 0;
}
