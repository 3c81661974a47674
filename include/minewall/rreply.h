/* Reading Redis replies for shape: every reply the list sync (redis_sync.c) and minewall-feed
 * read goes through here, so what tests/fuzz/fuzz_redis.c fuzzes is what production runs. A
 * reply of the wrong shape (a server that is not what we expect, or a hostile one) is an error
 * code or NULL, never a crash: every element access is guarded by the type and element count.
 *
 * The reply is hiredis's `redisReply`, a plain struct: this module reads its fields and the
 * REDIS_REPLY_* constants and calls no hiredis function, so it needs hiredis's headers but not
 * its library. It is not part of mwcore (which never includes hiredis); it is its own small
 * library linked by the binaries, the unit test and the fuzzer. No I/O, no libuv, no
 * allocation. Strings returned are borrowed from the reply (hiredis frees it after the
 * callback: copy what you keep). What the fields mean is rschema.h's job. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct redisReply;

/* The longest stream id kept ("MS-SEQ" is at most 41 bytes): longer ids are refused. */
#define MW_RREPLY_ID_MAX 47

/* Compare two stream ids "MS-SEQ" numerically (a missing or unparsable part counts as 0).
 * Returns <0, 0 or >0. */
int mw_rreply_id_cmp(const char *a, const char *b);

/* A string or status reply's text, else NULL. */
const char *mw_rreply_str(const struct redisReply *r);
/* An error reply's text, else NULL (r may be NULL). */
const char *mw_rreply_error(const struct redisReply *r);
/* What to log for a reply that is not what was asked: an error reply's text, else
 * "unexpected reply" (r may be NULL). */
const char *mw_rreply_why(const struct redisReply *r);
/* Whether r is an array (of any length: an empty range or hash is one). */
bool mw_rreply_is_array(const struct redisReply *r);
/* An integer reply's value into *out. Returns false (out untouched) for another shape. */
bool mw_rreply_integer(const struct redisReply *r, long long *out);

/* ---- field/value pairs: a HGETALL reply, a stream record's fields ---- */

/* The string value of the first field named name in kv's pairs, or NULL (kv not an array,
 * no such field, or a value that is not a string). */
const char *mw_rreply_field(const struct redisReply *kv, const char *name);
/* mw_rreply_field as rschema's getter (mw_rschema_get_fn): arg is the pairs' reply. */
const char *mw_rreply_get(void *arg, const char *name);
/* A HGETALL reply: the number of fields (0: the hash does not exist), or -EBADMSG for a reply
 * that is not an array (an error: the key holds another type). */
int mw_rreply_hash(const struct redisReply *r);

/* ---- SSCAN ---- */

/* An SSCAN reply: *cursor ("0" at the end) and the batch; items are read with
 * mw_rreply_sscan_item. Returns the batch size, or -EBADMSG. */
int mw_rreply_sscan(const struct redisReply *r, const char **cursor);
/* Item i of an SSCAN batch (i below what mw_rreply_sscan returned), or NULL when it is not a
 * string. */
const char *mw_rreply_sscan_item(const struct redisReply *r, size_t i);

/* ---- streams ---- */

/* The number of records in recs (an XRANGE/XREVRANGE reply or the records of one XREAD
 * stream): 0 for nil or another shape. */
size_t mw_rreply_records(const struct redisReply *recs);
/* Record i of recs: its id (at most MW_RREPLY_ID_MAX bytes) and its field/value pairs (read
 * with mw_rreply_field; may be of another shape than an array, then it has no fields).
 * Returns 0, or -EBADMSG for a record to skip (not an [id, fields] pair, an id that is not a
 * string or is too long). */
int mw_rreply_record(const struct redisReply *recs, size_t i, const char **id,
                     const struct redisReply **fields);
/* The newest record of an XREVRANGE ... COUNT 1 reply. Returns 0 (*id and *fields set),
 * -ENOENT for an empty log, or -EBADMSG for a reply that is not an array (an error). A first
 * element that is not a record reads as an empty log. */
int mw_rreply_log_head(const struct redisReply *r, const char **id,
                       const struct redisReply **fields);

/* What XINFO STREAM says about a log: the ids of its first entry and the last generated id,
 * the fields of its last entry; each NULL when absent. */
struct mw_rreply_xinfo {
    const char *first;
    const char *last_gen;
    const struct redisReply *last_fields;
};
/* Returns 0 (a reply of another shape than an array: every member NULL), or -ENOENT for an
 * error reply (the stream is gone). */
int mw_rreply_xinfo(const struct redisReply *r, struct mw_rreply_xinfo *out);

/* XREAD: the number of streams in the reply (0 for nil or another shape). */
size_t mw_rreply_xread_streams(const struct redisReply *r);
/* Stream s of an XREAD reply: its key and its records (read with mw_rreply_records and
 * mw_rreply_record). Returns 0, or -EBADMSG for a stream to skip (not a [key, records] pair
 * with a string key). */
int mw_rreply_xread_stream(const struct redisReply *r, size_t s, const char **key,
                           const struct redisReply **recs);
