/* The `journal:` keys of the configuration (see config.h); parsing helpers are shared with
 * config.c through config_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "minewall/config.h"

static void on_track(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    if (strcmp(s, "all") == 0)
        c->cfg->journal.track = MW_TRACK_ALL;
    else if (strcmp(s, "listed") == 0)
        c->cfg->journal.track = MW_TRACK_LISTED;
    else if (strcmp(s, "none") == 0)
        c->cfg->journal.track = MW_TRACK_NONE;
    else {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: expected all, listed or none, found '%s'", k->path,
                       mw_config__shown(s, b));
    }
}

void mw_config__on_bool(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    bool *field = (bool *)((char *)c->cfg + k->off);
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *field = true;
    } else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *field = false;
    } else {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: expected true or false, found '%s'", k->path,
                       mw_config__shown(s, b));
    }
}

static void on_ignore_same_asn(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__on_bool(c, k, val);
    c->lines[SLOT_IGNORE_SAME_ASN] = line_of(val); /* checked against geoip after the walk */
}

static bool accept_path(struct ctx *c, const struct key *k, yaml_node_t *item, const char *s)
{
    if (s[0] == '/')
        return true;
    char b[SHOWN_MAX + 4];
    mw_config__err(c, line_of(item), "%s: '%s' is not an absolute path", k->path,
                   mw_config__shown(s, b));
    return false;
}

static bool parse_watch_kind(struct ctx *c, yaml_node_t *val, enum mw_watch_kind *out)
{
    const char *s = mw_config__scalar(c, "journal.watch.kind", val);
    if (!s)
        return false;
    static const char *const names[] = {"auto", "resolv", "hosts", "other"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum mw_watch_kind)i;
            return true;
        }
    char b[SHOWN_MAX + 4];
    mw_config__err(c, line_of(val),
                   "journal.watch.kind: expected resolv, hosts, other or auto, found '%s'",
                   mw_config__shown(s, b));
    return false;
}

/* One item of journal.watch: a path (kind judged by content), or {path: P, kind: K}. Returns
 * the path text (borrowed from the document) or NULL after reporting why. */
static const char *watch_item(struct ctx *c, const struct key *k, yaml_node_t *item,
                              enum mw_watch_kind *kind)
{
    *kind = MW_WATCH_AUTO;
    if (item->type != YAML_MAPPING_NODE) {
        const char *s = mw_config__scalar(c, k->path, item);
        return s && accept_path(c, k, item, s) ? s : NULL;
    }
    const char *path = NULL;
    bool ok = true;
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = node(c, p->key), *v = node(c, p->value);
        const char *name = key && key->type == YAML_SCALAR_NODE ? text_of(key) : "";
        if (strcmp(name, "path") == 0) {
            const char *s = mw_config__scalar(c, "journal.watch.path", v);
            path = s && accept_path(c, k, v, s) ? s : NULL;
            ok = ok && path;
        } else if (strcmp(name, "kind") == 0) {
            ok = parse_watch_kind(c, v, kind) && ok;
        } else {
            char b[SHOWN_MAX + 4];
            mw_config__err(c, line_of(key), "journal.watch: unknown key '%s' (path, kind)",
                           mw_config__shown(name, b));
            ok = false;
        }
    }
    if (ok && !path)
        mw_config__err(c, line_of(item), "journal.watch: an entry has no 'path'");
    return ok ? path : NULL;
}

static void on_watch(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_config *cfg = c->cfg;
    if (val->type != YAML_SEQUENCE_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a list of file paths or {path, kind}",
                       k->path);
        return;
    }
    cfg->lines.journal_watch = line_of(val);
    size_t cap = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    char **v = calloc(cap ? cap : 1, sizeof(*v));
    enum mw_watch_kind *kinds = calloc(cap ? cap : 1, sizeof(*kinds));
    if (!v || !kinds) {
        free(v);
        free(kinds);
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
        return;
    }
    size_t n = 0;
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++) {
        const char *path = watch_item(c, k, node(c, *it), &kinds[n]);
        if (!path)
            continue;
        if (!(v[n] = strdup(path)))
            mw_config__err(c, line_of(node(c, *it)), "%s: out of memory", k->path);
        else
            n++;
    }
    for (size_t i = 0; i < cfg->journal.n_watch; i++)
        free(cfg->journal.watch[i]);
    free(cfg->journal.watch);
    free(cfg->journal.watch_kind);
    cfg->journal.watch = v;
    cfg->journal.watch_kind = kinds;
    cfg->journal.n_watch = n;
    cfg->journal.watch_set = true;
}

static const struct key journal_geoip_keys[] = {
    PATH("journal.geoip.asn", journal.geo_asn, journal_geo_asn),
    PATH("journal.geoip.country", journal.geo_country, journal_geo_country),
    {.path = NULL},
};

const struct key mw_config__journal_keys[] = {
    PATH("journal.path", journal.path, journal_path),
    {.path = "journal.track", .fn = on_track},
    NUM("journal.max-names", mw_config__on_uint, journal.max_names, 1, 100000000, 1, 0),
    {.path = "journal.ignore-same-asn",
     .fn = on_ignore_same_asn,
     .off = offsetof(struct mw_config, journal.ignore_same_asn)},
    {.path = "journal.geoip", .fn = mw_config__on_map, .sub = journal_geoip_keys},
    {.path = "journal.watch", .fn = on_watch},
    {.path = NULL},
};

/* Defaults that depend on other keys: called once the whole file is read. */
int mw_config__journal_finish(struct mw_config *cfg)
{
    if (!cfg->journal.watch_set) {
        static const char *const def[] = {"/etc/resolv.conf", "/etc/hosts"};
        cfg->journal.watch = calloc(2, sizeof(char *));
        cfg->journal.watch_kind = calloc(2, sizeof(*cfg->journal.watch_kind));
        if (!cfg->journal.watch || !cfg->journal.watch_kind)
            return -1;
        for (size_t i = 0; i < 2; i++)
            if ((cfg->journal.watch[cfg->journal.n_watch] = strdup(def[i])))
                cfg->journal.n_watch++;
    }
    if (!cfg->journal.geo_asn && cfg->geoip.asn) {
        cfg->journal.geo_asn = strdup(cfg->geoip.asn);
        cfg->lines.journal_geo_asn = cfg->lines.geoip_asn;
    }
    if (!cfg->journal.geo_country && cfg->geoip.country) {
        cfg->journal.geo_country = strdup(cfg->geoip.country);
        cfg->lines.journal_geo_country = cfg->lines.geoip_country;
    }
    return 0;
}
