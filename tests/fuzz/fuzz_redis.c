/* libFuzzer harness for what minewall reads from Redis: the input is a RESP byte stream as a
 * server (or something posing as one) would send, cut into replies by the hiredis reader the
 * connections use. Each reply is read as every reply handler of the list sync would read it
 * (meta hash, SSCAN batch, log head, XINFO STREAM, XREAD), the SSCAN items go into a list base
 * and the XREAD records into a delta, and a list version is built from both and queried. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "fuzz_common.h"
#include "minewall/config.h"
#include "minewall/rlist.h"
#include "minewall/rreply.h"

static void use_reply(const redisReply *r, struct mw_rbase_builder *b, struct mw_rdelta *d,
                      const char **probe)
{
    struct mw_rlist_meta meta;
    const char *long_category;
    int rc = mw_rreply_meta(r, "fz", &meta, &long_category);
    FZ_CHECK(rc >= 0 || rc == -EBADMSG);
    FZ_CHECK(!long_category || strlen(long_category) > MW_CATEGORY_MAX);
    if (rc >= 0)
        FZ_CHECK(strcmp(meta.name, "fz") == 0 && meta.category[0] &&
                 strlen(meta.category) < sizeof(meta.category));

    const char *cursor;
    int n = mw_rreply_sscan(r, &cursor);
    for (int i = 0; i < n; i++) {
        const char *item = mw_rreply_sscan_item(r, (size_t)i);
        if (item && mw_rbase_builder_add(b, item) == 0)
            *probe = item;
    }
    if (n >= 0)
        FZ_CHECK(cursor != NULL);

    const char *head = mw_rreply_log_head(r);
    const char *first, *last;
    if (mw_rreply_xinfo(r, &first, &last) == 0 && head) {
        (void)mw_rreply_id_cmp(head, first ? first : "0-0");
        (void)mw_rreply_id_cmp(last ? last : "", head);
    }

    for (size_t s = 0; s < mw_rreply_xread_streams(r); s++) {
        const char *key;
        size_t n_recs;
        if (mw_rreply_xread_stream(r, s, &key, &n_recs) < 0)
            continue;
        FZ_CHECK(key != NULL);
        const char *last_id = "0-0";
        for (size_t i = 0; i < n_recs; i++) {
            const char *id, *op, *entries;
            if (mw_rreply_xread_record(r, s, i, &id, &op, &entries) < 0 ||
                mw_rreply_id_cmp(id, last_id) <= 0)
                continue;
            last_id = id;
            size_t bad;
            rc = mw_rdelta_apply_record(d, op, entries, &bad);
            FZ_CHECK(rc == 0 || rc == -EINVAL);
        }
    }
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
