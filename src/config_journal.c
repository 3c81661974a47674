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

static void on_bool(struct ctx *c, const struct key *k, yaml_node_t *val)
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

static bool accept_path(struct ctx *c, const struct key *k, yaml_node_t *item, const char *s)
{
    if (s[0] == '/')
        return true;
    char b[SHOWN_MAX + 4];
    mw_config__err(c, line_of(item), "%s: '%s' is not an absolute path", k->path,
                   mw_config__shown(s, b));
    return false;
}

static void on_watch(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_config *cfg = c->cfg;
    char **v;
    size_t n;
    if (!mw_config__string_list(c, k, val, "file paths", accept_path, &v, &n))
        return;
    for (size_t i = 0; i < cfg->journal.n_watch; i++)
        free(cfg->journal.watch[i]);
    free(cfg->journal.watch);
    cfg->journal.watch = v;
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
    {.path = "journal.ignore-same-asn", .fn = on_bool,
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
        if (!cfg->journal.watch)
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
