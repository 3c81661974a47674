/* The Redis schema of fleet list sync as resolvers read it; see rschema.h. */
#include "minewall/rschema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/config.h"

_Static_assert(sizeof(((struct mw_rlist_meta *)0)->category) > MW_CATEGORY_MAX &&
                   sizeof(((struct mw_rlist_meta *)0)->name) > MW_LIST_NAME_MAX,
               "a synced list's meta holds names at their caps");

#define STR_(x) #x
#define STR(x) STR_(x)

const char *mw_rschema_name_problem(const char *name)
{
    size_t n = strlen(name);
    if (n == 0)
        return "it is empty";
    if (n > MW_LIST_NAME_MAX)
        return "it is longer than " STR(MW_LIST_NAME_MAX) " bytes";
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return "only letters, digits, '.', '_' and '-' are allowed";
    }
    return NULL;
}

int mw_rschema_meta(const char *name, mw_rschema_get_fn get, void *arg, struct mw_rlist_meta *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    const char *category = get(arg, "category");
    const char *description = get(arg, "description");
    const char *action = get(arg, "action");
    const char *type = get(arg, "type");
    const char *updated = get(arg, "updated");
    int rc = category && strlen(category) > MW_CATEGORY_MAX ? -E2BIG : 0;
    snprintf(out->category, sizeof(out->category), "%s",
             category && *category ? category : "unknown");
    if (description)
        snprintf(out->description, sizeof(out->description), "%s", description);
    if (!action || !*action || mw_action_parse(action, &out->action) < 0)
        out->action = MW_ACTION_DEFAULT;
    out->type = type && strcmp(type, "ip") == 0    ? MW_LIST_IP
                : type && strcmp(type, "asn") == 0 ? MW_LIST_ASN
                                                   : MW_LIST_DOMAIN;
    out->updated = updated ? strtoull(updated, NULL, 10) : 0;
    return rc;
}

bool mw_rschema_meta_same(const struct mw_rlist_meta *a, const struct mw_rlist_meta *b)
{
    return strcmp(a->category, b->category) == 0 && a->action == b->action && a->type == b->type &&
           strcmp(a->description, b->description) == 0;
}

enum mw_rschema_op mw_rschema_log_op(mw_rschema_get_fn get, void *arg)
{
    const char *op = get(arg, "op");
    if (!op)
        return MW_RSCHEMA_OP_NONE;
    if (strcmp(op, "add") == 0)
        return MW_RSCHEMA_OP_ADD;
    if (strcmp(op, "del") == 0)
        return MW_RSCHEMA_OP_DEL;
    if (strcmp(op, "meta") == 0)
        return MW_RSCHEMA_OP_META;
    if (strcmp(op, "retire") == 0)
        return MW_RSCHEMA_OP_RETIRE;
    return MW_RSCHEMA_OP_NONE;
}

enum mw_rschema_op mw_rschema_catalog(mw_rschema_get_fn get, void *arg, const char **name)
{
    const char *op = get(arg, "op");
    *name = get(arg, "list");
    if (!op || !*name || mw_rschema_name_problem(*name))
        return MW_RSCHEMA_OP_NONE;
    if (strcmp(op, "create") == 0)
        return MW_RSCHEMA_OP_CREATE;
    if (strcmp(op, "meta") == 0)
        return MW_RSCHEMA_OP_META;
    if (strcmp(op, "retire") == 0)
        return MW_RSCHEMA_OP_RETIRE;
    return MW_RSCHEMA_OP_NONE;
}
