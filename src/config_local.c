/* The local data keys of the configuration: `local-data:` (records in zone-file syntax),
 * `local-zones:` (zone -> static | transparent | refuse | redirect) and `local-data-ptr:`.
 * Their values go into a localzone builder as the walk meets them (so every bad record is
 * reported with its own line), and the set is built after the walk, when the zones and the PTR
 * switch (a plain boolean, read by mw_config__on_bool) are known whatever their order in the
 * file. A client group will run the same handlers into its own builder. */
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "minewall/config.h"
#include "minewall/localzone.h"

/* The builder, made on first use; NULL (after reporting) without memory. */
static struct mw_localzone_builder *builder(struct ctx *c, int line)
{
    if (!c->local && !(c->local = mw_localzone_builder_new(c->name, c->errs)))
        mw_config__err(c, line, "out of memory");
    return c->local;
}

void mw_config__on_local_data(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    if (is_null(val))
        return;
    if (val->type != YAML_SEQUENCE_NODE) {
        mw_config__err(c, line_of(val),
                       "%s: expected a list of records (\"NAME [TTL] TYPE DATA\"), found %s",
                       k->path, kind(val));
        return;
    }
    struct mw_localzone_builder *b = builder(c, line_of(val));
    if (!b)
        return;
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++) {
        yaml_node_t *item = node(c, *it);
        if (item->type != YAML_SCALAR_NODE) {
            mw_config__err(c, line_of(item), "%s: expected a record in quotes, found %s", k->path,
                           kind(item));
            continue;
        }
        if (strlen(text_of(item)) != item->data.scalar.length) {
            mw_config__err(c, line_of(item), "%s: a NUL byte in a record", k->path);
            continue;
        }
        if (mw_localzone_add_record(b, text_of(item), line_of(item)) < 0)
            c->n_errors++; /* reported by the builder */
    }
}

void mw_config__on_local_zones(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    if (is_null(val))
        return;
    if (val->type != YAML_MAPPING_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a map of zone: type, found %s", k->path,
                       kind(val));
        return;
    }
    struct mw_localzone_builder *b = builder(c, line_of(val));
    if (!b)
        return;
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *zk = node(c, p->key), *zv = node(c, p->value);
        if (zk->type != YAML_SCALAR_NODE || zv->type != YAML_SCALAR_NODE) {
            mw_config__err(c, line_of(zk), "%s: expected zone: type (a single value each)",
                           k->path);
            continue;
        }
        if (strlen(text_of(zk)) != zk->data.scalar.length) {
            mw_config__err(c, line_of(zk), "%s: a NUL byte in a zone name", k->path);
            continue;
        }
        if (mw_localzone_add_zone(b, text_of(zk), text_of(zv), line_of(zk)) < 0)
            c->n_errors++;
    }
}

void mw_config__local_finish(struct ctx *c)
{
    if (!c->local)
        return;
    mw_localzone_set_ptr(c->local, c->cfg->local_data_ptr);
    /* Errors already counted by the handlers are not counted twice; a failure found only by the
     * build (a CNAME beside other data, ...) is. */
    size_t before = c->n_errors;
    int r = mw_localzone_build(c->local, &c->cfg->local);
    if (r < 0 && c->n_errors == before)
        c->n_errors++;
    mw_localzone_builder_free(c->local);
    c->local = NULL;
}
