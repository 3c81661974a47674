/* Redis replies of the list sync, read and checked for shape (see rreply.h). Every element
 * access is guarded by the reply's type and element count: hiredis hands over whatever the
 * server sent, and nested arrays may hold nil or integers where strings are expected. */
#include "minewall/rreply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "minewall/config.h"
#include "minewall/rlist.h"

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

static const redisReply *elem(const redisReply *r, size_t i)
{
    return r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
}

int mw_rreply_meta(const redisReply *r, const char *name, struct mw_rlist_meta *meta,
                   const char **long_category)
{
    *long_category = NULL;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return -EBADMSG;
    memset(meta, 0, sizeof(*meta));
    snprintf(meta->name, sizeof(meta->name), "%s", name);
    char action[32] = "", type[16] = "domain";
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = str_of(r->element[i]), *v = str_of(r->element[i + 1]);
        if (!k || !v)
            continue;
        if (strcmp(k, "category") == 0 && strlen(v) > MW_CATEGORY_MAX)
            *long_category = v;
        else if (strcmp(k, "category") == 0)
            snprintf(meta->category, sizeof(meta->category), "%s", v);
        else if (strcmp(k, "description") == 0)
            snprintf(meta->description, sizeof(meta->description), "%s", v);
        else if (strcmp(k, "action") == 0)
            snprintf(action, sizeof(action), "%s", v);
        else if (strcmp(k, "type") == 0)
            snprintf(type, sizeof(type), "%s", v);
        else if (strcmp(k, "updated") == 0)
            meta->updated = strtoull(v, NULL, 10);
    }
    if (!meta->category[0])
        snprintf(meta->category, sizeof(meta->category), "unknown");
    if (!action[0] || mw_action_parse(action, &meta->action) < 0)
        meta->action = MW_ACTION_DEFAULT;
    meta->type = strcmp(type, "ip") == 0    ? MW_LIST_IP
                 : strcmp(type, "asn") == 0 ? MW_LIST_ASN
                                            : MW_LIST_DOMAIN;
    return r->elements > 0x7fffffff ? 0x7fffffff : (int)r->elements;
}

int mw_rreply_sscan(const redisReply *r, const char **cursor)
{
    const redisReply *c = elem(r, 0), *items = elem(r, 1);
    if (!r || r->elements != 2 || !c || c->type != REDIS_REPLY_STRING || !items ||
        items->type != REDIS_REPLY_ARRAY || items->elements > 0x7fffffff)
        return -EBADMSG;
    *cursor = c->str;
    return (int)items->elements;
}

const char *mw_rreply_sscan_item(const redisReply *r, size_t i)
{
    const redisReply *it = elem(elem(r, 1), i);
    return it && it->type == REDIS_REPLY_STRING ? it->str : NULL;
}

const char *mw_rreply_log_head(const redisReply *r)
{
    const redisReply *id = elem(elem(r, 0), 0);
    return id && id->type == REDIS_REPLY_STRING ? id->str : NULL;
}

int mw_rreply_xinfo(const redisReply *r, const char **first, const char **last_gen)
{
    *first = *last_gen = NULL;
    if (!r || r->type == REDIS_REPLY_ERROR)
        return -ENOENT;
    if (r->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = str_of(r->element[i]);
        const redisReply *v = r->element[i + 1];
        if (!k)
            continue;
        if (strcmp(k, "last-generated-id") == 0 && v->type == REDIS_REPLY_STRING)
            *last_gen = v->str;
        else if (strcmp(k, "first-entry") == 0 && elem(v, 0) &&
                 v->element[0]->type == REDIS_REPLY_STRING)
            *first = v->element[0]->str;
    }
    return 0;
}

size_t mw_rreply_xread_streams(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

int mw_rreply_xread_stream(const redisReply *r, size_t s, const char **key, size_t *n)
{
    const redisReply *st = elem(r, s);
    if (!st || st->type != REDIS_REPLY_ARRAY || st->elements != 2)
        return -EBADMSG;
    const char *k = str_of(st->element[0]);
    *key = k ? k : "";
    *n = st->element[1]->type == REDIS_REPLY_ARRAY ? st->element[1]->elements : 0;
    return 0;
}

int mw_rreply_xread_record(const redisReply *r, size_t s, size_t i, const char **id,
                           const char **op, const char **entries)
{
    const redisReply *rec = elem(elem(elem(r, s), 1), i);
    *op = *entries = NULL;
    if (!rec || rec->type != REDIS_REPLY_ARRAY || rec->elements != 2 || !str_of(rec->element[0]))
        return -EBADMSG;
    *id = rec->element[0]->str;
    const redisReply *fields = rec->element[1];
    if (fields->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        const char *k = str_of(fields->element[f]);
        if (k && strcmp(k, "op") == 0)
            *op = str_of(fields->element[f + 1]);
        else if (k && strcmp(k, "entries") == 0)
            *entries = str_of(fields->element[f + 1]);
    }
    return 0;
}
