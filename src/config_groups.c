/* The `groups:` key of the configuration (issue 13): a map of named client groups, each with
 * its client prefixes, optional listeners, the lists that apply to it, action overrides,
 * and its own forward-zones, local-data / local-zones and rate-limit. Those three are read by
 * the very handlers of the top-level keys: the walk of one group points the parse context at
 * a scratch config (and a fresh local-data builder), runs the shared key table over it, and
 * moves what they filled into the group. Names that refer to the rest of the file (lists,
 * categories, listen addresses) are checked after the whole walk, since YAML keys come in any
 * order; the matcher (groups.h) is built then, and a prefix two groups both claim is an error
 * naming both lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/groups.h"
#include "minewall/hash.h"
#include "minewall/localzone.h"

#define GROUP_NAME_MAX 63
#define CAT_PREFIX "category:"

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > GROUP_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return false;
    }
    return true;
}

static void on_clients(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_group_conf *g = c->group;
    if (!mw_config__cidr_list(c, k->path, val, &g->clients, &g->n_clients))
        return;
    g->client_lines = calloc(g->n_clients ? g->n_clients : 1, sizeof(int));
    if (!g->client_lines) {
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
        return;
    }
    for (size_t i = 0; i < g->n_clients; i++)
        g->client_lines[i] = line_of(node(c, val->data.sequence.items.start[i]));
}

static void on_listeners(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_group_conf *g = c->group;
    mw_config__addr_list(c, k->path, val, &g->listeners, &g->n_listeners);
    if (g->n_listeners > MW_GROUPS_MAX_LISTENERS)
        mw_config__err(c, line_of(val), "%s: more than %d listen addresses", k->path,
                       MW_GROUPS_MAX_LISTENERS);
}

static void on_lists(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_group_conf *g = c->group;
    if (val->type != YAML_SEQUENCE_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a list of list names or \"category:NAME\"",
                       k->path);
        return;
    }
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    g->lists = calloc(n ? n : 1, sizeof(*g->lists));
    g->is_cat = calloc(n ? n : 1, sizeof(*g->is_cat));
    g->list_lines = calloc(n ? n : 1, sizeof(*g->list_lines));
    if (!g->lists || !g->is_cat || !g->list_lines) {
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
        return;
    }
    g->all_lists = false;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node(c, val->data.sequence.items.start[i]);
        const char *s = mw_config__scalar(c, k->path, item);
        if (!s)
            continue;
        bool cat = strncmp(s, CAT_PREFIX, strlen(CAT_PREFIX)) == 0;
        if (!(g->lists[g->n_lists] = strdup(cat ? s + strlen(CAT_PREFIX) : s))) {
            mw_config__err(c, line_of(item), "%s: out of memory", k->path);
            continue;
        }
        g->is_cat[g->n_lists] = cat;
        g->list_lines[g->n_lists++] = line_of(item);
    }
}

static void on_actions(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_group_conf *g = c->group;
    if (is_null(val))
        return;
    if (val->type != YAML_MAPPING_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a map of list or category: action, found %s",
                       k->path, kind(val));
        return;
    }
    size_t n = (size_t)(val->data.mapping.pairs.top - val->data.mapping.pairs.start);
    g->actions = calloc(n ? n : 1, sizeof(*g->actions));
    if (!g->actions) {
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
        return;
    }
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = node(c, p->key), *vn = node(c, p->value);
        const char *name = mw_config__scalar(c, k->path, kn);
        enum mw_action a;
        if (!name || !mw_config__parse_action(c, k, vn, &a))
            continue;
        struct mw_group_action *ga = &g->actions[g->n_actions];
        ga->category = strncmp(name, CAT_PREFIX, strlen(CAT_PREFIX)) == 0;
        if (!(ga->name = strdup(ga->category ? name + strlen(CAT_PREFIX) : name))) {
            mw_config__err(c, line_of(kn), "%s: out of memory", k->path);
            continue;
        }
        ga->action = a;
        ga->line = line_of(kn);
        g->n_actions++;
    }
}

static void on_log_queries(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        c->group->log_queries = true;
    } else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        c->group->log_queries = false;
    } else {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: expected true or false, found '%s'", k->path,
                       mw_config__shown(s, b));
    }
}

/* The keys of one group; forward-zones, local-*, rate-limit are the top-level handlers. */
static const struct key group_keys[] = {
    {.path = "groups.clients", .fn = on_clients},
    {.path = "groups.listeners", .fn = on_listeners},
    {.path = "groups.lists", .fn = on_lists},
    {.path = "groups.actions", .fn = on_actions},
    {.path = "groups.log-queries", .fn = on_log_queries},
    {.path = "forward-zones", .fn = mw_config__on_zones},
    {.path = "local-data", .fn = mw_config__on_local_data},
    {.path = "local-zones", .fn = mw_config__on_local_zones},
    {.path = "local-data-ptr",
     .fn = mw_config__on_bool,
     .off = offsetof(struct mw_config, local_data_ptr)},
    {.path = "rate-limit", .fn = mw_config__on_ratelimit, .sub = mw_config__ratelimit_keys},
    {.path = NULL},
};

/* Append the scratch config's zones to the real one's, tagged with group index gi. */
static void move_zones(struct ctx *c, struct mw_config *sub, uint16_t gi, int line)
{
    struct mw_config *cfg = c->cfg;
    if (!sub->n_zones)
        return;
    struct mw_forward_zone *z = realloc(cfg->zones, (cfg->n_zones + sub->n_zones) * sizeof(*z));
    if (!z) {
        mw_config__err(c, line, "groups: out of memory");
        return;
    }
    cfg->zones = z;
    for (size_t i = 0; i < sub->n_zones; i++) {
        sub->zones[i].group = gi;
        cfg->zones[cfg->n_zones++] = sub->zones[i];
    }
    sub->n_zones = 0; /* moved: the scratch config no longer frees them */
}

/* One group: its map walked into a scratch config, the results moved into g. */
static void parse_group(struct ctx *c, struct mw_group_conf *g, uint16_t gi, yaml_node_t *map)
{
    struct mw_config *sub = mw_config_new_default();
    if (!sub) {
        mw_config__err(c, line_of(map), "groups: out of memory");
        return;
    }
    struct mw_config *cfg = c->cfg;
    struct mw_localzone_builder *local = c->local;
    c->cfg = sub;
    c->local = NULL;
    c->group = g;
    char section[GROUP_NAME_MAX + 16];
    snprintf(section, sizeof(section), "groups.%s", g->name);
    if (map->type != YAML_MAPPING_NODE)
        mw_config__err(c, line_of(map), "%s: expected a map, found %s", section, kind(map));
    else
        mw_config__walk_map(c, map, group_keys, section);
    mw_config__local_finish(c); /* builds sub->local from the group's own builder */
    c->cfg = cfg;
    c->local = local;
    c->group = NULL;
    g->local = sub->local;
    sub->local = NULL;
    g->local_data_ptr = sub->local_data_ptr;
    g->has_ratelimit = sub->ratelimit.enabled;
    g->ratelimit = sub->ratelimit;
    move_zones(c, sub, gi, line_of(map));
    mw_config__tls_merge(c, sub, section);
    mw_config_free(sub);
    if (!g->n_clients)
        mw_config__err(c, line_of(map), "%s: no clients (a group needs client prefixes)", section);
}

void mw_config__on_groups(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    if (is_null(val))
        return;
    if (val->type != YAML_MAPPING_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a map of group name: settings, found %s",
                       k->path, kind(val));
        return;
    }
    yaml_node_pair_t *start = val->data.mapping.pairs.start;
    size_t n = (size_t)(val->data.mapping.pairs.top - start);
    if (n > MW_GROUPS_MAX) {
        mw_config__err(c, line_of(val), "%s: more than %d groups", k->path, MW_GROUPS_MAX);
        return;
    }
    struct mw_config *cfg = c->cfg;
    cfg->groups = calloc(n ? n : 1, sizeof(*cfg->groups));
    if (!cfg->groups) {
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
        return;
    }
    char b[SHOWN_MAX + 4];
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *kn = node(c, start[i].key), *vn = node(c, start[i].value);
        const char *name = mw_config__scalar(c, k->path, kn);
        if (!name)
            continue;
        if (!valid_name(name)) {
            mw_config__err(c, line_of(kn),
                           "%s: invalid group name '%s' (letters, digits, '_', '.', '-'; at most "
                           "%d)",
                           k->path, mw_config__shown(name, b), GROUP_NAME_MAX);
            continue;
        }
        if (strcmp(name, "default") == 0) {
            mw_config__err(c, line_of(kn),
                           "%s: 'default' is the group of every other client (the top-level "
                           "settings); name this group otherwise",
                           k->path);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < cfg->n_groups && !dup; j++) {
            if (strcmp(cfg->groups[j].name, name) == 0) {
                mw_config__err(c, line_of(kn), "%s: duplicate group '%s' (first on line %d)",
                               k->path, name, cfg->groups[j].line);
                dup = true;
            }
        }
        if (dup)
            continue;
        struct mw_group_conf *g = &cfg->groups[cfg->n_groups];
        if (!(g->name = strdup(name))) {
            mw_config__err(c, line_of(kn), "%s: out of memory", k->path);
            continue;
        }
        g->line = line_of(kn);
        g->all_lists = true;
        g->log_queries = true;
        g->tag = mw_group_tag(name);
        cfg->n_groups++;
        parse_group(c, g, (uint16_t)cfg->n_groups, vn);
    }
}

/* ---- after the walk ---- */

static bool is_list(const struct mw_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_lists; i++) /* a list in error may lack its name */
        if (cfg->lists[i].name && strcmp(cfg->lists[i].name, name) == 0)
            return true;
    for (size_t i = 0; i < cfg->redis.n_lists; i++)
        if (strcmp(cfg->redis.lists[i], name) == 0)
            return true;
    /* The detectors' verdicts carry these list names. */
    return strcmp(name, "rebinding") == 0 || strcmp(name, "dga") == 0 ||
           strcmp(name, "tunnel") == 0 || strcmp(name, "new-domains") == 0;
}

static bool is_category(const struct mw_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_lists; i++) /* or its category */
        if (cfg->lists[i].category && strcmp(cfg->lists[i].category, name) == 0)
            return true;
    return strcmp(name, "detect") == 0;
}

/* A list name or category named by a group: known from `lists:`, or possibly from Redis (a
 * Redis list's category is only known once synced; redis.lists ["*"] follows any name). */
static void check_lists(struct ctx *c, struct mw_group_conf *g)
{
    const struct mw_config *cfg = c->cfg;
    char b[SHOWN_MAX + 4];
    for (size_t i = 0; i < g->n_lists; i++) {
        const char *s = g->lists[i];
        if (g->is_cat[i] ? is_category(cfg, s) || cfg->redis.url
                         : is_list(cfg, s) || cfg->redis.all)
            continue;
        mw_config__err(c, g->list_lines[i], "groups.%s.lists: unknown %s '%s'", g->name,
                       g->is_cat[i] ? "category" : "list", mw_config__shown(s, b));
    }
    for (size_t i = 0; i < g->n_actions; i++) {
        struct mw_group_action *a = &g->actions[i];
        if (!a->category && !is_list(cfg, a->name) && is_category(cfg, a->name))
            a->category = true; /* a bare category name: {mining: log} */
        if (a->category ? is_category(cfg, a->name) || cfg->redis.url
                        : is_list(cfg, a->name) || cfg->redis.all)
            continue;
        mw_config__err(c, a->line, "groups.%s.actions: unknown list or category '%s'", g->name,
                       mw_config__shown(a->name, b));
    }
    for (size_t i = 0; i < g->n_listeners; i++) {
        bool found = false;
        for (size_t j = 0; j < cfg->n_listen && !found; j++)
            found = mw_addr_equal(&g->listeners[i], &cfg->listen[j]);
        if (!found) {
            char a[64];
            mw_addr_format(&g->listeners[i], a, sizeof(a));
            mw_config__err(c, g->line, "groups.%s.listeners: %s is not one of the listen addresses",
                           g->name, a);
        }
    }
}

static void build_matcher(struct ctx *c)
{
    struct mw_config *cfg = c->cfg;
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_groups; i++)
        n += cfg->groups[i].n_clients;
    struct mw_groups_rule *rules = calloc(n ? n : 1, sizeof(*rules));
    if (!rules) {
        mw_config__err(c, 0, "groups: out of memory");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < cfg->n_groups; i++) {
        const struct mw_group_conf *g = &cfg->groups[i];
        for (size_t j = 0; j < g->n_clients; j++)
            rules[k++] = (struct mw_groups_rule){.cidr = g->clients[j],
                                                 .group = (uint16_t)(i + 1),
                                                 .listeners = g->listeners,
                                                 .n_listeners = g->n_listeners};
    }
    size_t da = 0, db = 0;
    int rc = mw_groups_new(rules, n, &cfg->group_match, &da, &db);
    if (rc == -EEXIST) {
        /* Rule indexes back to (group, line). */
        const struct mw_group_conf *ga = &cfg->groups[rules[da].group - 1];
        const struct mw_group_conf *gb = &cfg->groups[rules[db].group - 1];
        int la = 0, lb = 0;
        for (size_t j = 0; j < ga->n_clients; j++)
            if (!memcmp(&ga->clients[j], &rules[da].cidr, sizeof(rules[da].cidr)))
                la = ga->client_lines[j];
        for (size_t j = 0; j < gb->n_clients; j++)
            if (!memcmp(&gb->clients[j], &rules[db].cidr, sizeof(rules[db].cidr)))
                lb = gb->client_lines[j];
        char t[64];
        mw_cidr_format(&rules[db].cidr, t, sizeof(t));
        mw_config__err(c, lb,
                       "groups.%s.clients: %s is also a client prefix of group '%s' (line %d) "
                       "for the same listeners",
                       gb->name, t, ga->name, la);
    } else if (rc < 0) {
        mw_config__err(c, cfg->n_groups ? cfg->groups[0].line : 0,
                       "groups: cannot build the client matcher: %s", strerror(-rc));
    }
    free(rules);
}

void mw_config__groups_finish(struct ctx *c)
{
    struct mw_config *cfg = c->cfg;
    if (!cfg->n_groups)
        return;
    for (size_t i = 0; i < cfg->n_groups; i++)
        check_lists(c, &cfg->groups[i]);
    build_matcher(c);
}

void mw_config__groups_index(struct mw_config *cfg)
{
    for (size_t i = 0; i < cfg->n_zones; i++) {
        uint16_t gi = cfg->zones[i].group;
        if (!gi || gi > cfg->n_groups)
            continue;
        struct mw_group_conf *g = &cfg->groups[gi - 1];
        if (!g->n_zones)
            g->zone_first = i;
        g->n_zones++;
    }
}

void mw_config__groups_free(struct mw_config *cfg)
{
    for (size_t i = 0; i < cfg->n_groups; i++) {
        struct mw_group_conf *g = &cfg->groups[i];
        free(g->name);
        free(g->clients);
        free(g->client_lines);
        free(g->listeners);
        for (size_t j = 0; j < g->n_lists; j++)
            free(g->lists[j]);
        free(g->lists);
        free(g->is_cat);
        free(g->list_lines);
        for (size_t j = 0; j < g->n_actions; j++)
            free(g->actions[j].name);
        free(g->actions);
        mw_localzone_free(g->local);
    }
    free(cfg->groups);
    mw_groups_free(cfg->group_match);
}

/* ---- lookups ---- */

const char *mw_config_group_name(const struct mw_config *cfg, unsigned gi)
{
    return gi && gi <= cfg->n_groups ? cfg->groups[gi - 1].name : "default";
}

bool mw_config_group_logs_queries(const struct mw_config *cfg, unsigned gi)
{
    return gi && gi <= cfg->n_groups ? cfg->groups[gi - 1].log_queries : true;
}

uint64_t mw_group_tag(const char *name)
{
    return mw_hash_bytes(0, 0x67726f7570ull, name, strlen(name)) | 1;
}

int mw_config_group_find(const struct mw_config *cfg, const char *name)
{
    if (strcmp(name, "default") == 0)
        return 0;
    for (size_t i = 0; i < cfg->n_groups; i++)
        if (strcmp(cfg->groups[i].name, name) == 0)
            return (int)i + 1;
    return -ENOENT;
}

const struct mw_forward_zone *mw_config_zone_for_group(const struct mw_config *cfg, unsigned gi,
                                                       const uint8_t *qname, size_t qname_len)
{
    if (gi && gi <= cfg->n_groups) {
        const struct mw_group_conf *g = &cfg->groups[gi - 1];
        for (size_t i = g->zone_first; i < g->zone_first + g->n_zones; i++) {
            const struct mw_forward_zone *z = &cfg->zones[i];
            if (mw_dname_is_subdomain(qname, qname_len, z->wire, z->wire_len))
                return z;
        }
    }
    return mw_config_zone_for(cfg, qname, qname_len);
}
