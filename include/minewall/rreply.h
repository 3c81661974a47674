/* Reading the Redis replies of the list sync: what an HGETALL of a list's meta hash, an SSCAN
 * batch, an XINFO STREAM and an XREAD of the change logs say, checked for shape, so
 * redis_sync.c keeps only the state machine. A reply of the wrong shape (a server that is not
 * what we expect, or a hostile one) is an error code, never a crash. Uses hiredis's reply
 * struct only: no I/O, no libuv, no allocation. Strings returned are borrowed from the reply. */
#pragma once

#include <stddef.h>

struct redisReply;
struct mw_rlist_meta;

/* Compare two stream ids "MS-SEQ" numerically (a missing or unparsable part counts as 0).
 * Returns <0, 0 or >0. */
int mw_rreply_id_cmp(const char *a, const char *b);

/* HGETALL of a list's meta hash into *meta (overwritten): name (given), category ("unknown"
 * when absent), description, action (MW_ACTION_DEFAULT when absent or unknown), type (domain
 * unless "ip" or "asn"), updated. A category longer than MW_CATEGORY_MAX is not copied:
 * *long_category points at it (borrowed from r), else it is NULL. Returns the number of fields
 * in the reply (0: the hash does not exist), or -EBADMSG for a reply that is not an array. */
int mw_rreply_meta(const struct redisReply *r, const char *name, struct mw_rlist_meta *meta,
                   const char **long_category);

/* An SSCAN reply: *cursor ("0" at the end) and the batch; items are read with
 * mw_rreply_sscan_item. Returns the batch size, or -EBADMSG. */
int mw_rreply_sscan(const struct redisReply *r, const char **cursor);
/* Item i of an SSCAN batch (i below what mw_rreply_sscan returned), or NULL when it is not a
 * string. */
const char *mw_rreply_sscan_item(const struct redisReply *r, size_t i);

/* The first id of an XREVRANGE ... COUNT 1 reply, or NULL (an empty log, or another shape). */
const char *mw_rreply_log_head(const struct redisReply *r);

/* XINFO STREAM: the id of the first entry and the last generated id, each NULL when absent.
 * Returns 0 (a reply of another shape than an array: both NULL), or -ENOENT for an error reply
 * (the stream is gone). */
int mw_rreply_xinfo(const struct redisReply *r, const char **first, const char **last_gen);

/* XREAD: the number of streams in the reply (0 for nil or another shape). */
size_t mw_rreply_xread_streams(const struct redisReply *r);
/* Stream s of an XREAD reply: its key and number of records. Returns 0 or -EBADMSG. */
int mw_rreply_xread_stream(const struct redisReply *r, size_t s, const char **key, size_t *n);
/* Record i of stream s: its id and the "op" and "entries" fields (NULL when absent). Returns 0,
 * or -EBADMSG for a record without a string id (to be skipped). */
int mw_rreply_xread_record(const struct redisReply *r, size_t s, size_t i, const char **id,
                           const char **op, const char **entries);
