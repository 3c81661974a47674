/* The detection keys of the configuration: `detect:`, a map with one map per detector (see
 * config.h): `dga:`, `new-domains:`, `rebinding:` and `tunnel:`, each with an `action:` from the
 * list actions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "minewall/config.h"
#include "minewall/control.h"
#include "minewall/dga.h"
#include "minewall/dname.h"
#include "minewall/error.h"
#include "minewall/nod.h"
#include "minewall/regmemo.h"

#define MAX_INTERNAL 1024 /* internal zones: a list the guard walks on a detection */

static void on_rebind_action(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__parse_action(c, k, val, &c->cfg->detect.rebinding.action);
}

static void on_internal(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_config *cfg = c->cfg;
    char b[SHOWN_MAX + 4];
    if (is_null(val))
        return;
    if (val->type != YAML_SEQUENCE_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a list of zone names, found %s", k->path,
                       kind(val));
        return;
    }
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (n > MAX_INTERNAL) {
        mw_config__err(c, line_of(val), "%s: %zu zones, at most %d", k->path, n, MAX_INTERNAL);
        return;
    }
    struct mw_zone_name *z = calloc(n ? n : 1, sizeof(*z));
    if (!z) {
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
        return;
    }
    size_t got = 0;
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++) {
        yaml_node_t *item = node(c, *it);
        const char *s = mw_config__scalar(c, k->path, item);
        if (!s)
            continue;
        int wl = -1;
        if (strlen(s) == item->data.scalar.length)
            wl = mw_dname_from_text(s, z[got].wire, sizeof(z[got].wire));
        /* The root would exempt every name: an operator who wants that turns the guard off. */
        if (wl <= 1) {
            mw_config__err(c, line_of(item), "%s: invalid zone name '%s'", k->path,
                           mw_config__shown(s, b));
            continue;
        }
        mw_dname_lower(z[got].wire, (size_t)wl);
        z[got].wire_len = (uint16_t)wl;
        z[got].line = line_of(item);
        size_t d = 0;
        while (d < got && !(z[d].wire_len == wl && memcmp(z[d].wire, z[got].wire, (size_t)wl) == 0))
            d++;
        if (d < got) {
            mw_config__err(c, line_of(item), "%s: duplicate zone '%s' (first on line %d)", k->path,
                           mw_config__shown(s, b), z[d].line);
            continue;
        }
        got++;
    }
    free(cfg->detect.rebinding.internal);
    cfg->detect.rebinding.internal = z;
    cfg->detect.rebinding.n_internal = got;
}

/* ---- detect.dga: generated-domain scoring (dgacheck.h) ---- */

static void on_dga_action(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__parse_action(c, k, val, &c->cfg->detect.dga.action);
}

static void on_dga_level(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    static const char *const names[] = {"low", "medium", "high"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, names[i]) == 0) {
            c->cfg->detect.dga.level = MW_DGA_LOW + i;
            return;
        }
    }
    char b[SHOWN_MAX + 4];
    mw_config__err(c, line_of(val), "%s: unknown level '%s' (expected low, medium or high)",
                   k->path, mw_config__shown(s, b));
}

static const struct key dga_keys[] = {
    {.path = "detect.dga.action", .fn = on_dga_action},
    {.path = "detect.dga.level", .fn = on_dga_level},
    {.path = "detect.dga.model",
     .fn = mw_config__on_path,
     .off = offsetof(struct mw_config, detect.dga.model),
     .width = sizeof(char *),
     .loff = offsetof(struct mw_config, detect.dga.model_line)},
    NUM("detect.dga.cache-size", mw_config__on_uint, detect.dga.cache_size, MW_REGMEMO_MIN,
        MW_REGMEMO_MAX, 1, 0),
    {.path = NULL},
};

/* The section turns the detector on (`dga: {}` and `dga:` alone too); the model is loaded
 * here, so --check-config and a reload report a bad or missing model file as an error of the
 * config, at the section's line, and a reload with a bad model keeps the running config. */
static void on_dga(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_config *cfg = c->cfg;
    cfg->detect.dga.enabled = true;
    if (!is_null(val))
        mw_config__on_map(c, k, val);
    char def[4096];
    const char *path = cfg->detect.dga.model;
    if (!path) {
        mw_dga_default_path(def, sizeof(def));
        path = def;
    }
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    mw_dga_free(cfg->detect.dga.loaded);
    cfg->detect.dga.loaded = NULL;
    if (mw_dga_load(path, &cfg->detect.dga.loaded, &errs) < 0)
        for (size_t i = 0; i < errs.n; i++)
            mw_config__err(c,
                           cfg->detect.dga.model_line ? cfg->detect.dga.model_line : line_of(val),
                           "%s: %s", k->path, errs.msgs[i]);
    mw_errlist_deinit(&errs);
}

#define BOOL(p, f)                                                                                 \
    {                                                                                              \
        .path = p, .fn = mw_config__on_bool, .off = offsetof(struct mw_config, f)                  \
    }

static const struct key rebinding_keys[] = {
    BOOL("detect.rebinding.metadata", detect.rebinding.metadata),
    BOOL("detect.rebinding.private", detect.rebinding.private_ranges),
    {.path = "detect.rebinding.action", .fn = on_rebind_action},
    {.path = "detect.rebinding.internal-zones", .fn = on_internal},
    {.path = NULL},
};

/* ---- detect.tunnel ---- */

static void on_tunnel_action(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__parse_action(c, k, val, &c->cfg->detect.tunnel.action);
}

/* A duration ("90s", "10m", "1h30m", a bare number of seconds; mw_control_duration's syntax)
 * within k->min..k->max seconds, stored in milliseconds into the field at k->off, a uint32_t
 * or a uint64_t by k->width. One handler for every duration key of the detect section. */
static void on_duration(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    char b[SHOWN_MAX + 4];
    const char *s = mw_config__scalar(c, k->path, val);
    uint64_t ms;
    if (!s)
        return;
    int rc = mw_control_duration(s, &ms);
    if (rc == -EINVAL) {
        mw_config__err(c, line_of(val),
                       "%s: expected a duration such as 90s, 10m or 1h, found '%s'", k->path,
                       mw_config__shown(s, b));
        return;
    }
    if (rc < 0 || ms < (uint64_t)k->min * 1000 || ms > (uint64_t)k->max * 1000) {
        mw_config__err(c, line_of(val), "%s: '%s' is out of range (%llds to %llds)", k->path,
                       mw_config__shown(s, b), k->min, k->max);
        return;
    }
    if (k->width == sizeof(uint32_t)) {
        uint32_t v = (uint32_t)ms;
        memcpy((char *)c->cfg + k->off, &v, sizeof(v));
    } else {
        memcpy((char *)c->cfg + k->off, &ms, sizeof(ms));
    }
}

#define DURATION(p, f, lo, hi)                                                                     \
    {                                                                                              \
        .path = p, .fn = on_duration, .off = offsetof(struct mw_config, f),                        \
        .width = sizeof(((struct mw_config *)0)->f), .min = lo, .max = hi                          \
    }

static const struct key tunnel_keys[] = {
    BOOL("detect.tunnel.enabled", detect.tunnel.enabled),
    {.path = "detect.tunnel.action", .fn = on_tunnel_action},
    DURATION("detect.tunnel.block-for", detect.tunnel.block_ms, 1, 7 * 24 * 3600),
    DURATION("detect.tunnel.window", detect.tunnel.window_ms, 1, 3600),
    NUM("detect.tunnel.max-entries", mw_config__on_uint, detect.tunnel.max_entries, 16, 1 << 24, 1,
        0),
    NUM("detect.tunnel.max-blocks", mw_config__on_uint, detect.tunnel.max_blocks, 16, 1 << 24, 1,
        0),
    NUM("detect.tunnel.min-distinct", mw_config__on_uint, detect.tunnel.min_distinct, 1, 1000, 1,
        0),
    NUM("detect.tunnel.threshold", mw_config__on_uint, detect.tunnel.threshold, 1, 100, 1, 0),
    {.path = NULL},
};

/* ---- new-domains (nod.h, nodsvc.h) ---- */

#define ND(f) detect.new_domains.f

static void on_nd_action(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__parse_action(c, k, val, &c->cfg->ND(action));
}

static void on_nd_fp(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0.0001) || !(v <= 0.1)) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: expected a rate from 0.0001 to 0.1, found '%s'",
                       k->path, mw_config__shown(s, b));
        return;
    }
    c->cfg->ND(fp_rate) = v;
}

static void on_nd_redis(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__on_bool(c, k, val);
    c->cfg->ND(redis_line) = line_of(val); /* checked against redis.url after the walk */
}

static void on_nd_state_dir(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__on_path(c, k, val);
    c->cfg->ND(state_dir_line) = line_of(val);
}

static const struct key new_domains_keys[] = {
    BOOL("detect.new-domains.enabled", ND(enabled)),
    {.path = "detect.new-domains.action", .fn = on_nd_action},
    DURATION("detect.new-domains.block-for", ND(block_for_ms), 1, 365 * 86400),
    NUM("detect.new-domains.capacity", mw_config__on_uint, ND(capacity), MW_NOD_CAPACITY_MIN,
        MW_NOD_CAPACITY_MAX, 1, 0),
    {.path = "detect.new-domains.fp-rate", .fn = on_nd_fp},
    {.path = "detect.new-domains.redis",
     .fn = on_nd_redis,
     .off = offsetof(struct mw_config, ND(redis))},
    NUM("detect.new-domains.fleet-days", mw_config__on_uint, ND(fleet_days), 1, 365, 1, 0),
    NUM("detect.new-domains.max-in-flight", mw_config__on_uint, ND(max_in_flight), 1, 4096, 1, 0),
    DURATION("detect.new-domains.save-interval", ND(save_ms), 1, 365 * 86400),
    {.path = "detect.new-domains.state-dir",
     .fn = on_nd_state_dir,
     .off = offsetof(struct mw_config, ND(state_dir)),
     .width = sizeof(char *)},
    {.path = NULL},
};

/* The section turns the detector on (`new-domains: {}` with every default); `enabled: false`
 * inside it turns it off again. */
static void on_new_domains(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    c->cfg->ND(enabled) = true;
    c->cfg->ND(line) = line_of(val);
    mw_config__on_map(c, k, val);
}

void mw_config__detect_finish(struct ctx *c)
{
    struct mw_config *cfg = c->cfg;
    if (!cfg->ND(enabled))
        return;
    if (cfg->ND(redis) && !cfg->redis.url) {
        /* Only an explicit `redis: true` asks for what cannot be had; the default follows
         * redis.url. */
        if (cfg->ND(redis_line))
            mw_config__err(c, cfg->ND(redis_line),
                           "detect.new-domains.redis: true needs redis.url (the fleet's Redis)");
        cfg->ND(redis) = false;
    }
    if (!cfg->ND(state_dir) && cfg->redis.state_dir) {
        cfg->ND(state_dir) = strdup(cfg->redis.state_dir);
        cfg->ND(state_dir_line) = cfg->lines.state_dir;
        if (!cfg->ND(state_dir))
            mw_config__err(c, cfg->ND(line), "out of memory");
    }
    if (!cfg->ND(state_dir))
        mw_config__err(c, cfg->ND(line),
                       "detect.new-domains: needs a state-dir (or redis.state-dir) to keep the "
                       "domains it has seen across restarts");
}

const struct key mw_config__detect_keys[] = {
    {.path = "detect.dga", .fn = on_dga, .sub = dga_keys},
    {.path = "detect.new-domains", .fn = on_new_domains, .sub = new_domains_keys},
    {.path = "detect.rebinding", .fn = mw_config__on_map, .sub = rebinding_keys},
    {.path = "detect.tunnel", .fn = mw_config__on_map, .sub = tunnel_keys},
    {.path = NULL},
};

void mw_config__detect_defaults(struct mw_config *cfg)
{
    cfg->detect.rebinding.metadata = true;
    cfg->detect.rebinding.private_ranges = false;
    /* Not the sinkhole: its default 0.0.0.0 reaches the host itself on Linux, which is what
     * the guard keeps a public name from doing. */
    cfg->detect.rebinding.action = MW_ACTION_NXDOMAIN;
    cfg->detect.dga.action = MW_ACTION_LOG;
    cfg->detect.dga.level = MW_DGA_HIGH;
    cfg->detect.dga.cache_size = 65536;
    /* Tunnel detection alerts by default (as AWS's ALERT): a false positive would cut a
     * client off a whole registered domain, so blocking is the operator's choice. */
    cfg->detect.tunnel.enabled = true;
    cfg->detect.tunnel.action = MW_ACTION_LOG;
    cfg->detect.tunnel.block_ms = 10 * 60 * 1000;
    cfg->detect.tunnel.window_ms = 60 * 1000;
    cfg->detect.tunnel.max_entries = 16384;
    cfg->detect.tunnel.max_blocks = 4096;
    cfg->detect.tunnel.min_distinct = 30;
    cfg->detect.tunnel.threshold = 60;
    cfg->ND(action) = MW_ACTION_LOG;
    cfg->ND(block_for_ms) = 10 * 60 * 1000;
    cfg->ND(capacity) = MW_NOD_CAPACITY_DEFAULT;
    cfg->ND(fp_rate) = MW_NOD_FP_DEFAULT;
    cfg->ND(redis) = true;
    cfg->ND(fleet_days) = 30;
    cfg->ND(max_in_flight) = 64;
    cfg->ND(save_ms) = 5 * 60 * 1000;
}

void mw_config__detect_free(struct mw_config *cfg)
{
    free(cfg->detect.rebinding.internal);
    free(cfg->detect.dga.model);
    mw_dga_free(cfg->detect.dga.loaded);
    free(cfg->ND(state_dir));
}

bool mw_config_is_internal(const struct mw_config *cfg, const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < cfg->detect.rebinding.n_internal; i++) {
        const struct mw_zone_name *z = &cfg->detect.rebinding.internal[i];
        if (mw_dname_is_subdomain(name, len, z->wire, z->wire_len))
            return true;
    }
    return false;
}
