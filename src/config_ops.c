/* The operations keys of the configuration: metrics, rate-limit, fetch bounds, health checks
 * and user (see config.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "minewall/config.h"

static void on_metrics_listen(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    if (mw_addr_parse(s, 9153, &c->cfg->metrics.listen) < 0) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: invalid address '%s' (ADDR:PORT)", k->path,
                       mw_config__shown(s, b));
        return;
    }
    c->cfg->metrics.enabled = true;
}

static void on_rl_action(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    if (strcmp(s, "drop") == 0)
        c->cfg->ratelimit.refuse = false;
    else if (strcmp(s, "refused") == 0)
        c->cfg->ratelimit.refuse = true;
    else {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: expected drop or refused, found '%s'", k->path,
                       mw_config__shown(s, b));
    }
}

static void on_fetch_overflow(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    if (strcmp(s, "drop") == 0)
        c->cfg->fetch.overflow_drop = true;
    else if (strcmp(s, "servfail") == 0)
        c->cfg->fetch.overflow_drop = false;
    else {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: expected servfail or drop, found '%s'", k->path,
                       mw_config__shown(s, b));
    }
}

static void on_user(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    bool ok = *s != 0 && strlen(s) < 64;
    for (const char *p = s; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '_' || *p == '-' || *p == '.';
    if (!ok) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: invalid account name '%s'", k->path,
                       mw_config__shown(s, b));
        return;
    }
    free(c->cfg->user);
    if (!(c->cfg->user = strdup(s)))
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
}

const struct key mw_config__metrics_keys[] = {
    {.path = "metrics.listen", .fn = on_metrics_listen},
    {.path = NULL},
};

/* A UNIX socket path must fit sockaddr_un.sun_path (108 bytes with the NUL). */
static void on_control_socket(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__on_path(c, k, val);
    const char *p = c->cfg->control.socket;
    if (p && strlen(p) >= 108) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: path longer than 107 bytes: '%s'", k->path,
                       mw_config__shown(p, b));
        free(c->cfg->control.socket);
        c->cfg->control.socket = NULL;
    }
}

const struct key mw_config__control_keys[] = {
    {.path = "control.socket",
     .fn = on_control_socket,
     .off = offsetof(struct mw_config, control.socket),
     .width = sizeof(char *),
     .loff = offsetof(struct mw_config, lines.control_socket)},
    PATH("control.token-file", control.token_file, control_token_file),
    {.path = NULL},
};

const struct key mw_config__ratelimit_keys[] = {
    NUM("rate-limit.qps", mw_config__on_uint, ratelimit.qps, 1, 10000000, 1, 0),
    NUM("rate-limit.burst", mw_config__on_uint, ratelimit.burst, 1, 100000000, 1, 0),
    NUM("rate-limit.prefix-v4", mw_config__on_uint, ratelimit.prefix_v4, 0, 32, 1, 0),
    NUM("rate-limit.prefix-v6", mw_config__on_uint, ratelimit.prefix_v6, 0, 128, 1, 0),
    NUM("rate-limit.max-clients", mw_config__on_uint, ratelimit.max_clients, 16, 100000000, 1, 0),
    {.path = "rate-limit.action", .fn = on_rl_action},
    {.path = NULL},
};

const struct key mw_config__fetch_keys[] = {
    NUM("fetch.max-per-worker", mw_config__on_uint, fetch.max_per_worker, 1, 1000000, 1, 0),
    NUM("fetch.max-waiters", mw_config__on_uint, fetch.max_waiters, 1, 65535, 1, 0),
    NUM("fetch.max-queries", mw_config__on_uint, fetch.max_queries, 1, 10000000, 1, 0),
    {.path = "fetch.overflow", .fn = on_fetch_overflow},
    NUM("fetch.max-tcp", mw_config__on_uint, fetch.max_tcp, 1, 65535, 1, 0),
    {.path = NULL},
};

/* Probes at least every 100 ms (the prober's tick) and at most once an hour; runs of 1..100
 * (1: one lost probe marks an upstream down). */
const struct key mw_config__health_keys[] = {
    NUM("health-check.interval", mw_config__on_uint, health.interval_ms, 100, 3600000, 1, 0),
    NUM("health-check.down-after", mw_config__on_uint, health.down_after, 1, 100, 1, 0),
    NUM("health-check.up-after", mw_config__on_uint, health.up_after, 1, 100, 1, 0),
    {.path = NULL},
};

/* `rate-limit:` present: enabled, with defaults for what it leaves out. */
void mw_config__on_ratelimit(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_config *cfg = c->cfg;
    cfg->ratelimit.prefix_v4 = 32;
    cfg->ratelimit.prefix_v6 = 64;
    cfg->ratelimit.max_clients = 65536;
    mw_config__on_map(c, k, val);
    if (!cfg->ratelimit.qps) {
        mw_config__err(c, line_of(val), "rate-limit: qps is required");
        return;
    }
    if (!cfg->ratelimit.burst)
        cfg->ratelimit.burst = cfg->ratelimit.qps * 2;
    cfg->ratelimit.enabled = true;
}

void mw_config__on_user(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    on_user(c, k, val);
}
