/* Redis replies read for shape (see rreply.h). hiredis hands over whatever the server sent:
 * nested arrays may hold nil, integers or arrays where strings are expected, and an element
 * count is only what the server announced. So every access goes through elem() and str_of(),
 * which check the type and the count, and nothing here trusts a reply's shape. */
#include "minewall/rreply.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

int mw_rreply_id_cmp(const char *a, const char *b)
{
    unsigned long long am = 0, as = 0, bm = 0, bs = 0;
    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    if (am != bm)
        return am < bm ? -1 : 1;
    return as < bs ? -1 : as > bs;
}

static const char *str_of(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : NULL;
}

bool mw_rreply_is_array(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY;
}

static const redisReply *elem(const redisReply *r, size_t i)
{
    return mw_rreply_is_array(r) && i < r->elements ? r->element[i] : NULL;
}

const char *mw_rreply_str(const redisReply *r)
{
    return str_of(r);
}

const char *mw_rreply_error(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && r->str ? r->str : NULL;
}

const char *mw_rreply_why(const redisReply *r)
{
    const char *e = mw_rreply_error(r);
    return e ? e : "unexpected reply";
}

bool mw_rreply_integer(const redisReply *r, long long *out)
{
    if (!r || r->type != REDIS_REPLY_INTEGER)
        return false;
    *out = r->integer;
    return true;
}

const char *mw_rreply_field(const redisReply *kv, const char *name)
{
    for (size_t i = 0; mw_rreply_is_array(kv) && i + 1 < kv->elements; i += 2) {
        const char *k = str_of(kv->element[i]);
        if (k && strcmp(k, name) == 0)
            return str_of(kv->element[i + 1]);
    }
    return NULL;
}

const char *mw_rreply_get(void *arg, const char *name)
{
    return mw_rreply_field(arg, name);
}

int mw_rreply_hash(const redisReply *r)
{
    if (!mw_rreply_is_array(r))
        return -EBADMSG;
    return r->elements / 2 > 0x7fffffff ? 0x7fffffff : (int)(r->elements / 2);
}

int mw_rreply_sscan(const redisReply *r, const char **cursor)
{
    const redisReply *c = elem(r, 0), *items = elem(r, 1);
    if (!c || r->elements != 2 || c->type != REDIS_REPLY_STRING || !mw_rreply_is_array(items) ||
        items->elements > 0x7fffffff)
        return -EBADMSG;
    *cursor = c->str;
    return (int)items->elements;
}

const char *mw_rreply_sscan_item(const redisReply *r, size_t i)
{
    const redisReply *it = elem(elem(r, 1), i);
    return it && it->type == REDIS_REPLY_STRING ? it->str : NULL;
}

size_t mw_rreply_records(const redisReply *recs)
{
    return mw_rreply_is_array(recs) ? recs->elements : 0;
}

int mw_rreply_record(const redisReply *recs, size_t i, const char **id, const redisReply **fields)
{
    const redisReply *rec = elem(recs, i);
    const char *s = str_of(elem(rec, 0));
    if (!s || rec->elements != 2 || strlen(s) > MW_RREPLY_ID_MAX)
        return -EBADMSG;
    *id = s;
    *fields = rec->element[1];
    return 0;
}

int mw_rreply_log_head(const redisReply *r, const char **id, const redisReply **fields)
{
    if (!mw_rreply_is_array(r))
        return -EBADMSG;
    const redisReply *rec = elem(r, 0);
    const char *s = rec && rec->type == REDIS_REPLY_ARRAY ? str_of(elem(rec, 0)) : NULL;
    if (!s || strlen(s) > MW_RREPLY_ID_MAX)
        return -ENOENT;
    *id = s;
    /* A record of one element (no fields) is still the head: its id is what matters. */
    *fields = elem(rec, 1);
    return 0;
}

int mw_rreply_xinfo(const redisReply *r, struct mw_rreply_xinfo *out)
{
    memset(out, 0, sizeof(*out));
    if (!r || r->type == REDIS_REPLY_ERROR)
        return -ENOENT;
    for (size_t i = 0; mw_rreply_is_array(r) && i + 1 < r->elements; i += 2) {
        const char *k = str_of(r->element[i]);
        const redisReply *v = r->element[i + 1];
        if (!k)
            continue;
        if (strcmp(k, "last-generated-id") == 0 && v->type == REDIS_REPLY_STRING)
            out->last_gen = v->str;
        else if (strcmp(k, "first-entry") == 0 && elem(v, 0) &&
                 v->element[0]->type == REDIS_REPLY_STRING)
            out->first = v->element[0]->str;
        else if (strcmp(k, "last-entry") == 0 && mw_rreply_is_array(v) && v->elements == 2)
            out->last_fields = v->element[1];
    }
    return 0;
}

size_t mw_rreply_xread_streams(const redisReply *r)
{
    return mw_rreply_is_array(r) ? r->elements : 0;
}

int mw_rreply_xread_stream(const redisReply *r, size_t s, const char **key, const redisReply **recs)
{
    const redisReply *st = elem(r, s);
    const char *k = str_of(elem(st, 0));
    if (!k || st->elements != 2)
        return -EBADMSG;
    *key = k;
    *recs = st->element[1];
    return 0;
}
