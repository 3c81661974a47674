/* The public Redis schema of fleet list sync, as resolvers read it (README "Fleet list sync
 * from Redis"): list names, the meta fields that the meta HASH and a log's "meta" records
 * both carry, and the ops of log and catalog records. Pure: no hiredis, no libuv; a record's
 * fields are read through a getter, so a HGETALL reply and a stream record are read alike.
 * Everything here is input from Redis: checked, bounded and defaulted, never trusted. */
#pragma once

#include "minewall/rlist.h"

#define MW_RSCHEMA_CATALOG "minewall:catalog"
#define MW_RSCHEMA_INDEX "minewall:lists"

/* The value of field in a record, or NULL when it has none (borrowed). */
typedef const char *(*mw_rschema_get_fn)(void *arg, const char *field);

/* A list name becomes a key, a state file name, a metric label and a field of every block
 * event: it must be what minewall-feed and the config accept (1 to MW_LIST_NAME_MAX of
 * letters, digits, '.', '_', '-'; a '/' would leave the state directory). Returns NULL when
 * it is, else why not (a static string). */
const char *mw_rschema_name_problem(const char *name);

/* Read a meta (category, action, type, description, updated) for list name into out (name
 * set, every field defaulted: category "unknown", action default, type domain). An unknown
 * action is the default one, an unknown type is domain, a longer description is cut.
 * Returns 0, or -E2BIG when the category is longer than MW_CATEGORY_MAX (the meta must then
 * be refused: the category would be cut in every label and event). Never calls back after
 * returning. */
int mw_rschema_meta(const char *name, mw_rschema_get_fn get, void *arg, struct mw_rlist_meta *out);

/* Same category, action, type and description (updated is not compared). */
bool mw_rschema_meta_same(const struct mw_rlist_meta *a, const struct mw_rlist_meta *b);

enum mw_rschema_op {
    MW_RSCHEMA_OP_NONE,   /* missing or unknown: the record is skipped */
    MW_RSCHEMA_OP_ADD,    /* log */
    MW_RSCHEMA_OP_DEL,    /* log */
    MW_RSCHEMA_OP_META,   /* log and catalog */
    MW_RSCHEMA_OP_RETIRE, /* log and catalog */
    MW_RSCHEMA_OP_CREATE, /* catalog */
};

/* The op of a list log record: add, del, meta or retire. */
enum mw_rschema_op mw_rschema_log_op(mw_rschema_get_fn get, void *arg);

/* A catalog record: its op (create, meta or retire) and list name (borrowed from the
 * record), or MW_RSCHEMA_OP_NONE when either is missing, unknown or not a valid name. */
enum mw_rschema_op mw_rschema_catalog(mw_rschema_get_fn get, void *arg, const char **name);
