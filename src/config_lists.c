/* The filtering part of the configuration: `lists:` (the blocklists and allowlists to load,
 * each with a unique name, a category, a file, and optionally an action, an entry type, a
 * format and an on/off switch), `sinkhole:` (the default action and what a sinkholed query is
 * answered with), `geoip:` (database paths) and `log.blocks` (the block log path), plus the
 * names of actions and list types. Relative paths are made absolute against the directory of
 * the config file (the current directory for a buffer) but never opened: whether a list file
 * exists and parses is the list loader's business, so a config may name a file that is still
 * being written. The walk, messages and key tables are config.c's (config_internal.h). */
#include "minewall/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_internal.h"
#include "minewall/error.h"
#include "minewall/listfile.h"
#include "minewall/redisurl.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- names ---- */

static const char *const action_names[] = {
    [MW_ACTION_DEFAULT] = "default",   [MW_ACTION_SINKHOLE] = "sinkhole",
    [MW_ACTION_NXDOMAIN] = "nxdomain", [MW_ACTION_NODATA] = "nodata",
    [MW_ACTION_REFUSED] = "refused",   [MW_ACTION_DROP] = "drop",
    [MW_ACTION_LOG] = "log",
};

static const char *const type_names[] = {
    [MW_LIST_DOMAIN] = "domain",
    [MW_LIST_IP] = "ip",
    [MW_LIST_ASN] = "asn",
    [MW_LIST_PATTERN] = "pattern",
};

int mw_action_parse(const char *s, enum mw_action *out)
{
    if (!s)
        return -EINVAL;
    /* "default" is not written in a config: leaving `action:` out says it. */
    for (size_t i = MW_ACTION_SINKHOLE; i < ARRAY_SIZE(action_names); i++) {
        if (strcasecmp(s, action_names[i]) == 0) {
            *out = (enum mw_action)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *mw_action_name(enum mw_action a)
{
    if ((unsigned)a >= ARRAY_SIZE(action_names))
        return "unknown";
    return action_names[a];
}

const char *mw_list_type_name(enum mw_list_type t)
{
    if ((unsigned)t >= ARRAY_SIZE(type_names))
        return "unknown";
    return type_names[t];
}

static int list_type_parse(const char *s, enum mw_list_type *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(type_names); i++) {
        if (strcasecmp(s, type_names[i]) == 0) {
            *out = (enum mw_list_type)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- paths ---- */

/* How many bytes of leading "./" segments p starts with: they add nothing to a relative path. */
static size_t skip_dots(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && p[i] == '.' && (i + 1 == len || p[i + 1] == '/')) {
        i++;
        while (i < len && p[i] == '/')
            i++;
    }
    return i;
}

/* The absolute directory relative paths are read against, computed once per parse: the config
 * file's directory, or the current directory for a buffer. NULL after reporting a failure. */
static const char *config_dir(struct ctx *c, int line)
{
    if (c->dir)
        return c->dir;
    const char *f = c->file, *slash = f ? strrchr(f, '/') : NULL;
    size_t len = slash ? (size_t)(slash - f) : 0;
    while (len > 1 && f[len - 1] == '/')
        len--;
    if (f && f[0] == '/') {
        c->dir = strndup(f, len ? len : 1);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (!cwd) {
            mw_config__err(c, line, "cannot resolve a relative path: current directory: %s",
                           strerror(errno));
            return NULL;
        }
        size_t skip = skip_dots(f ? f : "", len);
        if (skip == len) {
            c->dir = cwd;
        } else {
            const char *sep = strcmp(cwd, "/") == 0 ? "" : "/";
            if (asprintf(&c->dir, "%s%s%.*s", cwd, sep, (int)(len - skip), f + skip) < 0)
                c->dir = NULL;
            free(cwd);
        }
    }
    if (!c->dir)
        mw_config__err(c, line, "out of memory");
    return c->dir;
}

/* A path value made absolute (new string, caller frees), or NULL after reporting why not. */
static char *absolute_path(struct ctx *c, const char *key, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, key, val);
    if (!s)
        return NULL;
    if (!*s) {
        mw_config__err(c, line_of(val), "%s: empty path", key);
        return NULL;
    }
    char *out = NULL;
    if (s[0] == '/') {
        out = strdup(s);
    } else {
        const char *dir = config_dir(c, line_of(val));
        if (!dir)
            return NULL;
        const char *rest = s + skip_dots(s, strlen(s));
        const char *sep = strcmp(dir, "/") == 0 || !*rest ? "" : "/";
        if (asprintf(&out, "%s%s%s", dir, sep, rest) < 0)
            out = NULL;
    }
    if (!out) {
        mw_config__err(c, line_of(val), "%s: out of memory", key);
        return NULL;
    }
    if (strlen(out) >= PATH_MAX) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: path too long '%s'", key, mw_config__shown(out, b));
        free(out);
        return NULL;
    }
    return out;
}

void mw_config__on_path(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_require(k->width == sizeof(char *));
    char *p = absolute_path(c, k->path, val);
    if (!p)
        return;
    char **field = (char **)((char *)c->cfg + k->off);
    free(*field);
    *field = p;
    if (k->loff)
        *(int *)((char *)c->cfg + k->loff) = line_of(val);
}

/* ---- values shared by lists and sinkhole ---- */

bool mw_config__parse_action(struct ctx *c, const struct key *k, yaml_node_t *val,
                             enum mw_action *out)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return false;
    if (mw_action_parse(s, out) < 0) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val),
                       "%s: unknown action '%s' (expected sinkhole, nxdomain, nodata, refused, "
                       "drop or log)",
                       k->path, mw_config__shown(s, b));
        return false;
    }
    return true;
}

/* Every character of s is a lowercase letter or digit or in extra, and there is one. */
static bool all_of(const char *s, bool upper_ok, const char *extra)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        bool ok = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
                  (upper_ok && *s >= 'A' && *s <= 'Z') || strchr(extra, *s);
        if (!ok)
            return false;
    }
    return true;
}

/* ---- lists ---- */

static void on_list_name(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    char b[SHOWN_MAX + 4];
    if (!all_of(s, true, "_.-")) {
        mw_config__err(c, line_of(val),
                       "%s: invalid name '%s' (letters, digits, '_', '.' and '-' only)", k->path,
                       mw_config__shown(s, b));
        return;
    }
    if (strlen(s) > MW_LIST_NAME_MAX) {
        mw_config__err(c, line_of(val), "%s: name '%s' is longer than %d bytes", k->path,
                       mw_config__shown(s, b), MW_LIST_NAME_MAX);
        return;
    }
    for (const struct mw_list_conf *o = c->cfg->lists; o < c->list; o++) {
        if (o->name && strcmp(o->name, s) == 0) {
            mw_config__err(c, c->list->line, "%s: duplicate list name '%s' (first on line %d)",
                           k->path, mw_config__shown(s, b), o->line);
            return;
        }
    }
    if (!(c->list->name = strdup(s)))
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
}

static void on_list_category(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    if (!all_of(s, false, "_-")) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val),
                       "%s: invalid category '%s' (lowercase letters, digits, '_' and '-' only)",
                       k->path, mw_config__shown(s, b));
        return;
    }
    if (strlen(s) > MW_CATEGORY_MAX) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: category '%s' is longer than %d bytes", k->path,
                       mw_config__shown(s, b), MW_CATEGORY_MAX);
        return;
    }
    if (!(c->list->category = strdup(s)))
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
    c->list->allow = strcmp(s, "allow") == 0;
}

static void on_list_path(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    c->list->path = absolute_path(c, k->path, val);
    c->list->path_line = line_of(val);
}

static void on_list_action(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__parse_action(c, k, val, &c->list->action);
}

static void on_list_type(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (s && list_type_parse(s, &c->list->type) < 0) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val),
                       "%s: unknown type '%s' (expected domain, ip, asn or pattern)", k->path,
                       mw_config__shown(s, b));
    }
}

static void on_list_format(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    enum mw_listfile_format f;
    if (mw_listfile_format_parse(s, &f) < 0) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val),
                       "%s: unknown format '%s' (expected auto, plain, hosts, adblock, dnsmasq, "
                       "rpz, ip, asn, pattern or csv)",
                       k->path, mw_config__shown(s, b));
        return;
    }
    c->list->format = (int)f;
}

static void on_list_enabled(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    /* YAML 1.2 core schema booleans; 1.1's yes/no/on/off are too easy to misread. */
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        c->list->enabled = true;
    } else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        c->list->enabled = false;
    } else {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: expected true or false, found '%s'", k->path,
                       mw_config__shown(s, b));
    }
}

static const struct key list_keys[] = {
    {.path = "lists.name", .fn = on_list_name},
    {.path = "lists.category", .fn = on_list_category},
    {.path = "lists.path", .fn = on_list_path},
    {.path = "lists.action", .fn = on_list_action},
    {.path = "lists.type", .fn = on_list_type},
    {.path = "lists.format", .fn = on_list_format},
    {.path = "lists.enabled", .fn = on_list_enabled},
    {.path = NULL},
};

/* The value node of key name in map, or NULL. */
static yaml_node_t *find(struct ctx *c, yaml_node_t *map, const char *name)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(c, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(text_of(k), name) == 0)
            return node(c, p->value);
    }
    return NULL;
}

/* Rules over a whole entry, after its keys were checked one by one. A key given with a bad
 * value was reported already and is not reported missing. */
static void check_list(struct ctx *c, yaml_node_t *map, const struct mw_list_conf *l)
{
    static const char *const required[] = {"name", "category", "path"};
    char b[SHOWN_MAX + 4];
    for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
        if (find(c, map, required[i]))
            continue;
        if (l->name)
            mw_config__err(c, l->line, "lists: list '%s' has no '%s'", mw_config__shown(l->name, b),
                           required[i]);
        else
            mw_config__err(c, l->line, "lists: a list has no '%s'", required[i]);
    }
    if (l->allow && l->action != MW_ACTION_DEFAULT)
        mw_config__err(c, line_of(find(c, map, "action")),
                       "lists.action: an allowlist has no action");
}

void mw_config__on_lists(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    if (is_null(val))
        return;
    if (val->type != YAML_SEQUENCE_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a list, found %s", k->path, kind(val));
        return;
    }
    yaml_node_item_t *start = val->data.sequence.items.start;
    size_t count = (size_t)(val->data.sequence.items.top - start);
    if (count == 0)
        return;
    /* Every map becomes an entry, good or not: later names are compared with all earlier
     * ones, and a config with any error is freed whole anyway. */
    c->cfg->lists = calloc(count, sizeof(*c->cfg->lists));
    if (!c->cfg->lists) {
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = node(c, start[i]);
        if (item->type != YAML_MAPPING_NODE) {
            mw_config__err(c, line_of(item), "%s: expected a map, found %s", k->path, kind(item));
            continue;
        }
        struct mw_list_conf *l = &c->cfg->lists[c->cfg->n_lists++];
        l->type = MW_LIST_DOMAIN;
        l->format = MW_LISTFILE_FMT_AUTO;
        l->action = MW_ACTION_DEFAULT;
        l->enabled = true;
        l->line = line_of(item);
        c->list = l;
        mw_config__walk_map(c, item, list_keys, k->path);
        c->list = NULL;
        check_list(c, item, l);
    }
}

/* ---- sinkhole ---- */

static void on_sinkhole_action(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__parse_action(c, k, val, &c->cfg->sinkhole.action);
}

/* An address into the 4- or 16-byte field that k describes. */
static void on_address(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    mw_require(k->width == 4 || k->width == 16);
    uint8_t buf[16];
    if (inet_pton(k->width == 4 ? AF_INET : AF_INET6, s, buf) != 1) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: invalid IPv%d address '%s'", k->path,
                       k->width == 4 ? 4 : 6, mw_config__shown(s, b));
        return;
    }
    memcpy((char *)c->cfg + k->off, buf, k->width);
}

#define ADDRESS(p, f)                                                                              \
    {                                                                                              \
        .path = p, .fn = on_address, .off = offsetof(struct mw_config, f),                         \
        .width = sizeof(((struct mw_config *)0)->f)                                                \
    }

const struct key mw_config__sinkhole_keys[] = {
    {.path = "sinkhole.action", .fn = on_sinkhole_action},
    ADDRESS("sinkhole.ipv4", sinkhole.ipv4),
    ADDRESS("sinkhole.ipv6", sinkhole.ipv6),
    NUM("sinkhole.ttl", mw_config__on_uint, sinkhole.ttl, 0, 86400, 1, 0),
    {.path = NULL},
};

/* ---- redis ---- */

static void on_redis_url(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    struct mw_redis_url u;
    char why[128];
    if (mw_redis_url_parse(s, &u, why, sizeof(why)) < 0) {
        mw_config__err(c, line_of(val), "%s: %s", k->path, why);
        return;
    }
    char **field = (char **)((char *)c->cfg + k->off);
    free(*field);
    if (!(*field = strdup(s)))
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
}

static bool accept_list_name(struct ctx *c, const struct key *k, yaml_node_t *item, const char *s)
{
    if (strcmp(s, "*") == 0) {
        c->cfg->redis.all = true;
        return false;
    }
    if (!all_of(s, true, "_.-")) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(item), "%s: invalid list name '%s'", k->path,
                       mw_config__shown(s, b));
        return false;
    }
    if (strlen(s) > MW_LIST_NAME_MAX) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(item), "%s: list name '%s' is longer than %d bytes", k->path,
                       mw_config__shown(s, b), MW_LIST_NAME_MAX);
        return false;
    }
    return true;
}

static void on_redis_lists(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__string_list(c, k, val, "list names or [\"*\"]", accept_list_name,
                           &c->cfg->redis.lists, &c->cfg->redis.n_lists);
}

#define STRFIELD(p, handler, f)                                                                    \
    {                                                                                              \
        .path = p, .fn = handler, .off = offsetof(struct mw_config, f),                            \
        .width = sizeof(((struct mw_config *)0)->f)                                                \
    }

const struct key mw_config__redis_keys[] = {
    STRFIELD("redis.url", on_redis_url, redis.url),
    {.path = "redis.lists", .fn = on_redis_lists},
    STRFIELD("redis.events-url", on_redis_url, redis.events_url),
    PATH("redis.state-dir", redis.state_dir, state_dir),
    {.path = NULL},
};

/* ---- geoip ---- */

const struct key mw_config__geoip_keys[] = {
    PATH("geoip.asn", geoip.asn, geoip_asn),
    PATH("geoip.country", geoip.country, geoip_country),
    {.path = NULL},
};
