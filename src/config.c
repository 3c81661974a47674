/* The YAML configuration: file text to an immutable struct mw_config. The file is loaded with
 * libyaml's document API and walked with tables of keys (struct key): each entry names a key
 * path, the handler that checks its value, and for integers the range and the field that
 * receives it, so a new option is one line in a table. Every problem is reported as
 * "FILE:LINE: message" quoting the offending text, and the walk goes on so one run shows all
 * of them; a config with any error is freed and never returned. Defaults come from
 * mw_config_new_default() and are overwritten only by values that validated. Cross-key rules
 * (min-ttl <= max-ttl, resolve-timeout >= upstream-timeout) are checked after the walk.
 * The filtering keys (lists, sinkhole, geoip, log.blocks) live in config_lists.c and share the
 * walk through config_internal.h.
 * This module does no I/O beyond reading the file it is given (and resolv.conf on request);
 * the server decides what to do with the result. */
#include "minewall/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "config_internal.h"
#include "minewall/control.h"
#include "minewall/dname.h"
#include "minewall/error.h"
#include "minewall/file.h"
#include "minewall/localzone.h"
#include "minewall/log.h"
#include "minewall/resolvconf.h"

#define MAX_THREADS 64
#define MAX_FILE_SIZE (16u << 20)
#define TTL_MAX 2147483647LL /* RFC 2181 section 8 */

/* ---- messages and node helpers ---- */

void mw_config__err(struct ctx *c, int line, const char *fmt, ...)
{
    c->n_errors++;
    if (!c->errs)
        return;
    va_list ap;
    va_start(ap, fmt);
    mw_errlist_vadd_at(c->errs, c->name, line, fmt, ap);
    va_end(ap);
}

const char *mw_config__shown(const char *s, char buf[SHOWN_MAX + 4])
{
    size_t i = 0;
    for (; s[i] && i < SHOWN_MAX; i++)
        buf[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
    if (s[i]) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static const char *leaf(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

const char *mw_config__scalar(struct ctx *c, const char *path, yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE) {
        mw_config__err(c, line_of(n), "%s: expected a single value, found %s", path, kind(n));
        return NULL;
    }
    if (is_null(n)) {
        mw_config__err(c, line_of(n), "%s: value missing", path);
        return NULL;
    }
    if (strlen(text_of(n)) != n->data.scalar.length) {
        mw_config__err(c, line_of(n), "%s: value contains a NUL byte", path);
        return NULL;
    }
    return text_of(n);
}

/* ---- generic handlers ---- */

void mw_config__walk_map(struct ctx *c, yaml_node_t *map, const struct key *table,
                         const char *section)
{
    if (is_null(map))
        return;
    if (map->type != YAML_MAPPING_NODE) {
        mw_config__err(c, line_of(map), "%s: expected a map, found %s", section, kind(map));
        return;
    }
    char b[SHOWN_MAX + 4];
    yaml_node_pair_t *start = map->data.mapping.pairs.start;
    for (yaml_node_pair_t *p = start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            mw_config__err(c, line_of(k), "expected a key, found %s", kind(k));
            continue;
        }
        const char *name = text_of(k);
        bool dup = false;
        for (yaml_node_pair_t *q = start; q < p && !dup; q++) {
            yaml_node_t *qk = node(c, q->key);
            if (qk->type == YAML_SCALAR_NODE && strcmp(text_of(qk), name) == 0) {
                mw_config__err(c, line_of(k), "duplicate key '%s' (first on line %d)",
                               mw_config__shown(name, b), line_of(qk));
                dup = true;
            }
        }
        if (dup)
            continue;
        const struct key *e = table;
        while (e->path && strcmp(leaf(e->path), name) != 0)
            e++;
        if (!e->path) {
            if (section)
                mw_config__err(c, line_of(k), "unknown key '%s' in '%s'", mw_config__shown(name, b),
                               section);
            else
                mw_config__err(c, line_of(k), "unknown key '%s'", mw_config__shown(name, b));
            continue;
        }
        e->fn(c, e, v);
    }
}

static void on_map(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__walk_map(c, val, k->sub, k->path);
}

bool mw_config__string_list(struct ctx *c, const struct key *k, yaml_node_t *val, const char *what,
                            mw_config__accept_fn accept, char ***out, size_t *n_out)
{
    if (val->type != YAML_SEQUENCE_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a list of %s", k->path, what);
        return false;
    }
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    char **v = calloc(n ? n : 1, sizeof(*v));
    if (!v) {
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
        return false;
    }
    size_t got = 0;
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++) {
        yaml_node_t *item = node(c, *it);
        const char *s = mw_config__scalar(c, k->path, item);
        if (!s || !accept(c, k, item, s))
            continue;
        if (!(v[got] = strdup(s)))
            mw_config__err(c, line_of(item), "%s: out of memory", k->path);
        else
            got++;
    }
    *out = v;
    *n_out = got;
    return true;
}

void mw_config__on_map(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    on_map(c, k, val);
}

/* Strict decimal: optional '-', digits only, no spaces, '+', hex, exponents or leading zeros
 * (YAML 1.1 reads "010" as octal; refusing it avoids a silent disagreement). */
static bool parse_int(struct ctx *c, const struct key *k, yaml_node_t *val, long long *out)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return false;
    char b[SHOWN_MAX + 4];
    const char *d = s[0] == '-' ? s + 1 : s;
    bool ok = *d && strlen(d) <= 18 && (d[0] != '0' || d[1] == '\0');
    for (const char *p = d; ok && *p; p++)
        ok = *p >= '0' && *p <= '9';
    if (!ok) {
        mw_config__err(c, line_of(val), "%s: invalid number '%s'", k->path, mw_config__shown(s, b));
        return false;
    }
    long long v = strtoll(s, NULL, 10);
    if (v < k->min || v > k->max) {
        mw_config__err(c, line_of(val), "%s: '%s' is out of range %lld..%lld", k->path,
                       mw_config__shown(s, b), k->min, k->max);
        return false;
    }
    *out = v;
    return true;
}

void mw_config__on_uint(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    long long v;
    if (!parse_int(c, k, val, &v))
        return;
    uint64_t stored = (uint64_t)v * k->scale;
    char *field = (char *)c->cfg + k->off;
    if (k->width == sizeof(uint64_t)) {
        memcpy(field, &stored, sizeof(uint64_t));
    } else if (k->width == sizeof(uint8_t)) {
        mw_require(stored <= UINT8_MAX);
        *(uint8_t *)field = (uint8_t)stored;
    } else {
        mw_require(k->width == sizeof(uint32_t) && stored <= UINT32_MAX);
        uint32_t v32 = (uint32_t)stored;
        memcpy(field, &v32, sizeof(v32));
    }
    if (k->slot)
        c->lines[k->slot] = line_of(val);
}

static void on_threads(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    if (val->type == YAML_SCALAR_NODE && strcmp(text_of(val), "auto") == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->cfg->threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
        return;
    }
    mw_config__on_uint(c, k, val);
}

static void on_log_level(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    int level = mw_log_level_parse(s);
    if (level < 0) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val),
                       "%s: unknown level '%s' (expected error, warn, info or debug)", k->path,
                       mw_config__shown(s, b));
        return;
    }
    c->cfg->log_level = level;
}

/* ---- lists of addresses and prefixes ---- */

typedef int item_parse_fn(const char *text, void *out);

static int parse_addr_item(const char *text, void *out)
{
    return mw_addr_parse(text, MW_DNS_PORT, out);
}

static int parse_cidr_item(const char *text, void *out)
{
    return mw_cidr_parse(text, out);
}

/* A list of scalars, each converted by fn into an array of size-byte items. A null value is
 * an empty list. Returns true with *arr (NULL when empty, caller frees) and *n when every
 * item was good. */
bool mw_config__parse_seq(struct ctx *c, const char *path, yaml_node_t *val, size_t size,
                          seq_item_fn *fn, const void *arg, void **arr, size_t *n)
{
    *arr = NULL;
    *n = 0;
    if (is_null(val))
        return true;
    if (val->type != YAML_SEQUENCE_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a list, found %s", path, kind(val));
        return false;
    }
    size_t count = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (count == 0)
        return true;
    uint8_t *out = calloc(count, size);
    if (!out) {
        mw_config__err(c, line_of(val), "%s: out of memory", path);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = node(c, val->data.sequence.items.start[i]);
        const char *s = mw_config__scalar(c, path, item);
        if (!s || !fn(c, path, item, s, out + i * size, arg))
            ok = false; /* every item is checked, so each error is reported */
    }
    if (!ok) {
        free(out);
        return false;
    }
    *arr = out;
    *n = count;
    return true;
}

struct list_item {
    const char *what;
    item_parse_fn *fn;
};

static bool list_item(struct ctx *c, const char *path, yaml_node_t *item, const char *s, void *out,
                      const void *arg)
{
    const struct list_item *li = arg;
    if (li->fn(s, out) >= 0)
        return true;
    char b[SHOWN_MAX + 4];
    mw_config__err(c, line_of(item), "%s: invalid %s '%s'", path, li->what, mw_config__shown(s, b));
    return false;
}

static bool parse_list(struct ctx *c, const char *path, yaml_node_t *val, const char *what,
                       item_parse_fn *fn, size_t size, void **arr, size_t *n)
{
    const struct list_item li = {what, fn};
    return mw_config__parse_seq(c, path, val, size, list_item, &li, arr, n);
}

static bool parse_addrs(struct ctx *c, const char *path, yaml_node_t *val, struct mw_addr **arr,
                        size_t *n)
{
    void *p;
    bool ok = parse_list(c, path, val, "address", parse_addr_item, sizeof(**arr), &p, n);
    *arr = p;
    return ok;
}

bool mw_config__addr_list(struct ctx *c, const char *path, yaml_node_t *val, struct mw_addr **arr,
                          size_t *n)
{
    return parse_addrs(c, path, val, arr, n);
}

bool mw_config__cidr_list(struct ctx *c, const char *path, yaml_node_t *val, struct mw_cidr **arr,
                          size_t *n)
{
    void *p;
    bool ok = parse_list(c, path, val, "prefix", parse_cidr_item, sizeof(struct mw_cidr), &p, n);
    *arr = p;
    return ok;
}

static void on_listen(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_addr *a;
    size_t n;
    if (!parse_addrs(c, k->path, val, &a, &n))
        return;
    if (n == 0) {
        mw_config__err(c, line_of(val), "%s: no addresses; minewall would not answer anyone",
                       k->path);
        return;
    }
    free(c->cfg->listen);
    c->cfg->listen = a;
    c->cfg->n_listen = n;
}

static void on_upstreams(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_addr *a;
    size_t n;
    if (!mw_config__parse_upstreams(c, k->path, val, &a, &n))
        return;
    free(c->cfg->upstreams);
    c->cfg->upstreams = a;
    c->cfg->n_upstreams = n;
}

static void on_allow(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    void *p;
    size_t n;
    if (!parse_list(c, k->path, val, "prefix", parse_cidr_item, sizeof(struct mw_cidr), &p, &n))
        return;
    if (n == 0) {
        mw_config__err(c, line_of(val), "%s: empty list; every client would be refused", k->path);
        return;
    }
    free(c->cfg->access);
    c->cfg->access = p;
    c->cfg->n_access = n;
}

/* ---- forward zones ---- */

/* One "zone: [upstreams]" pair into z. Returns false after reporting a problem. */
static bool parse_zone(struct ctx *c, const char *path, yaml_node_t *k, yaml_node_t *v,
                       struct mw_forward_zone *z)
{
    char b[SHOWN_MAX + 4];
    if (k->type != YAML_SCALAR_NODE) {
        mw_config__err(c, line_of(k), "%s: expected a zone name, found %s", path, kind(k));
        return false;
    }
    const char *text = text_of(k);
    int wl = -EINVAL;
    if (strlen(text) == k->data.scalar.length)
        wl = mw_dname_from_text(text, z->wire, sizeof(z->wire));
    if (wl < 0) {
        mw_config__err(c, line_of(k), "%s: invalid zone name '%s'", path,
                       mw_config__shown(text, b));
        return false;
    }
    z->wire_len = (uint16_t)wl;
    z->line = line_of(k);
    for (const struct mw_forward_zone *o = c->cfg->zones; o < c->cfg->zones + c->cfg->n_zones;
         o++) { /* a group's zones (moved in already when `groups:` came first) may repeat ours */
        if (o->group == 0 && o->wire_len == z->wire_len &&
            memcmp(o->wire, z->wire, z->wire_len) == 0) {
            mw_config__err(c, line_of(k), "%s: duplicate zone '%s' (first on line %d)", path,
                           mw_config__shown(text, b), o->line);
            return false;
        }
    }
    if (!mw_config__parse_upstreams(c, path, v, &z->upstreams, &z->n_upstreams))
        return false;
    if (z->n_upstreams == 0) {
        mw_config__err(c, line_of(v), "%s: zone '%s' has no upstreams", path,
                       mw_config__shown(text, b));
        return false;
    }
    char name[4 * MW_DNAME_MAX + 1];
    int nl = mw_dname_to_text(z->wire, z->wire_len, name, sizeof(name));
    z->name = strdup(nl < 0 || z->wire_len == 1 ? "" : name);
    if (!z->name) {
        mw_config__err(c, line_of(k), "%s: out of memory", path);
        free(z->upstreams);
        return false;
    }
    return true;
}

void mw_config__on_zones(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    if (is_null(val))
        return;
    if (val->type != YAML_MAPPING_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a map of zone names, found %s", k->path,
                       kind(val));
        return;
    }
    yaml_node_pair_t *start = val->data.mapping.pairs.start;
    size_t count = (size_t)(val->data.mapping.pairs.top - start);
    if (count == 0)
        return;
    /* Appended: the zones of groups may be in already (`groups:` before `forward-zones:`). */
    struct mw_forward_zone *zs =
        realloc(c->cfg->zones, (c->cfg->n_zones + count) * sizeof(*c->cfg->zones));
    if (!zs) {
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
        return;
    }
    c->cfg->zones = zs;
    for (size_t i = 0; i < count; i++) {
        struct mw_forward_zone *z = &c->cfg->zones[c->cfg->n_zones];
        memset(z, 0, sizeof(*z));
        if (parse_zone(c, k->path, node(c, start[i].key), node(c, start[i].value), z))
            c->cfg->n_zones++;
    }
}

/* The top-level zones, then each group's in group order; in each, longest name first, so the
 * first suffix match in mw_config_zone_for() is the longest. */
static int zone_cmp(const void *a, const void *b)
{
    const struct mw_forward_zone *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    if (x->wire_len != y->wire_len)
        return x->wire_len > y->wire_len ? -1 : 1;
    return memcmp(x->wire, y->wire, x->wire_len);
}

/* ---- key tables ---- */

static const struct key cache_keys[] = {
    NUM("cache.size", mw_config__on_uint, cache.size, 0, 1000000000, 1, 0),
    NUM("cache.max-bytes", mw_config__on_uint, cache.max_bytes, 65536, 1ull << 40, 1, 0),
    NUM("cache.min-ttl", mw_config__on_uint, cache.min_ttl, 0, TTL_MAX, 1, SLOT_MIN_TTL),
    NUM("cache.max-ttl", mw_config__on_uint, cache.max_ttl, 0, TTL_MAX, 1, SLOT_MAX_TTL),
    NUM("cache.serve-stale", mw_config__on_uint, cache.serve_stale, 0, TTL_MAX, 1, 0),
    {.path = NULL},
};

static const struct key tcp_keys[] = {
    NUM("tcp.idle-timeout", mw_config__on_uint, tcp.idle_timeout_ms, 1, 3600, 1000, 0),
    NUM("tcp.max-connections", mw_config__on_uint, tcp.max_connections, 1, 1000000, 1, 0),
    NUM("tcp.max-pipeline", mw_config__on_uint, tcp.max_pipeline, 1, 65535, 1, 0),
    NUM("tcp.output-pause", mw_config__on_uint, tcp.output_pause, 1024, 1 << 30, 1, SLOT_OUT_PAUSE),
    NUM("tcp.output-limit", mw_config__on_uint, tcp.output_limit, 1024, 1 << 30, 1, SLOT_OUT_LIMIT),
    NUM("tcp.worker-output-limit", mw_config__on_uint, tcp.worker_output_limit, 1 << 17, 1LL << 40,
        1, 0),
    {.path = NULL},
};

static const struct key udp_keys[] = {
    NUM("udp.send-queue", mw_config__on_uint, udp.send_queue, 0, 1 << 30, 1, 0),
    {.path = NULL},
};

static const struct key log_keys[] = {
    {.path = "log.level", .fn = on_log_level},
    PATH("log.blocks", blocks_log, blocks_log),
    PATH("log.queries", querylog.path, query_log),
    NUM("log.sample", mw_config__on_uint, querylog.sample, 1, 1000000, 1, 0),
    NUM("log.queue", mw_config__on_uint, querylog.queue, 16, 1 << 20, 1, 0),
    {.path = NULL},
};

static const struct key access_keys[] = {
    {.path = "access.allow", .fn = on_allow},
    {.path = NULL},
};

static const struct key top_keys[] = {
    {.path = "listen", .fn = on_listen},
    {.path = "upstreams", .fn = on_upstreams},
    {.path = "forward-zones", .fn = mw_config__on_zones},
    {.path = "groups", .fn = mw_config__on_groups},
    {.path = "local-data", .fn = mw_config__on_local_data},
    {.path = "local-zones", .fn = mw_config__on_local_zones},
    {.path = "local-data-ptr",
     .fn = mw_config__on_bool,
     .off = offsetof(struct mw_config, local_data_ptr)},
    NUM("threads", on_threads, threads, 1, MAX_THREADS, 1, 0),
    {.path = "access", .fn = on_map, .sub = access_keys},
    {.path = "cache", .fn = on_map, .sub = cache_keys},
    NUM("upstream-timeout", mw_config__on_uint, upstream.timeout_ms, 50, 60000, 1, SLOT_UP_TIMEOUT),
    NUM("resolve-timeout", mw_config__on_uint, upstream.total_ms, 100, 120000, 1,
        SLOT_TOTAL_TIMEOUT),
    {.path = "health-check", .fn = on_map, .sub = mw_config__health_keys},
    {.path = "tcp", .fn = on_map, .sub = tcp_keys},
    {.path = "tls", .fn = on_map, .sub = mw_config__tls_keys},
    {.path = "udp", .fn = on_map, .sub = udp_keys},
    {.path = "fetch", .fn = on_map, .sub = mw_config__fetch_keys},
    {.path = "log", .fn = on_map, .sub = log_keys},
    {.path = "lists", .fn = mw_config__on_lists},
    {.path = "sinkhole", .fn = on_map, .sub = mw_config__sinkhole_keys},
    {.path = "geoip", .fn = on_map, .sub = mw_config__geoip_keys},
    {.path = "redis", .fn = on_map, .sub = mw_config__redis_keys},
    {.path = "journal", .fn = on_map, .sub = mw_config__journal_keys},
    {.path = "metrics", .fn = on_map, .sub = mw_config__metrics_keys},
    {.path = "control", .fn = on_map, .sub = mw_config__control_keys},
    {.path = "rate-limit", .fn = mw_config__on_ratelimit, .sub = mw_config__ratelimit_keys},
    {.path = "user", .fn = mw_config__on_user},
    {.path = "detect", .fn = on_map, .sub = mw_config__detect_keys},
    {.path = "dnstap", .fn = mw_config__on_dnstap},
    {.path = NULL},
};

/* ---- whole file ---- */

static void yaml_error(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_MEMORY_ERROR) {
        mw_config__err(c, 0, "out of memory while reading YAML");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset (bad encoding), not a mark: count lines. */
        int line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += text[i] == '\n';
        mw_config__err(c, line, "YAML error: %s", problem);
        return;
    }
    int line = (int)p->problem_mark.line + 1;
    if (p->context)
        mw_config__err(c, line, "YAML syntax error: %s (%s on line %d)", problem, p->context,
                       (int)p->context_mark.line + 1);
    else
        mw_config__err(c, line, "YAML syntax error: %s", problem);
}

/* The later of two cross-checked keys' lines (at least one was set, or the defaults hold). */
static int later(const struct ctx *c, int a, int b)
{
    return c->lines[a] > c->lines[b] ? c->lines[a] : c->lines[b];
}

static void cross_check(struct ctx *c)
{
    struct mw_config *cfg = c->cfg;
    if (mw_config__journal_finish(cfg) < 0)
        mw_config__err(c, 0, "out of memory");
    mw_config__detect_finish(c);
    /* Without AS numbers every change would look like one inside the same ASN or none: the
     * option could only drop events silently or do nothing, so it is refused. */
    if (cfg->journal.ignore_same_asn && !cfg->journal.geo_asn)
        mw_config__err(c, c->lines[SLOT_IGNORE_SAME_ASN],
                       "journal.ignore-same-asn needs an ASN database (geoip.asn or "
                       "journal.geoip.asn)");
    if (cfg->cache.min_ttl > cfg->cache.max_ttl)
        mw_config__err(c, later(c, SLOT_MIN_TTL, SLOT_MAX_TTL),
                       "cache.min-ttl (%u) is greater than cache.max-ttl (%u)",
                       (unsigned)cfg->cache.min_ttl, (unsigned)cfg->cache.max_ttl);
    if (cfg->upstream.total_ms < cfg->upstream.timeout_ms)
        mw_config__err(c, later(c, SLOT_UP_TIMEOUT, SLOT_TOTAL_TIMEOUT),
                       "resolve-timeout (%u ms) is shorter than upstream-timeout (%u ms)",
                       (unsigned)cfg->upstream.total_ms, (unsigned)cfg->upstream.timeout_ms);
    if (cfg->tcp.output_limit < cfg->tcp.output_pause)
        mw_config__err(c, later(c, SLOT_OUT_PAUSE, SLOT_OUT_LIMIT),
                       "tcp.output-limit (%u) is less than tcp.output-pause (%u)",
                       (unsigned)cfg->tcp.output_limit, (unsigned)cfg->tcp.output_pause);
    /* The token guards the control paths of the metrics server: without one there is none. */
    if (cfg->control.token_file && !cfg->metrics.enabled)
        mw_config__err(c, cfg->lines.control_token_file,
                       "control.token-file needs metrics.listen (control over HTTP is served by "
                       "the metrics server)");
}

static void walk_document(struct ctx *c, yaml_parser_t *p, const char *text, size_t len)
{
    yaml_document_t doc;
    if (!yaml_parser_load(p, &doc)) {
        yaml_error(c, p, text, len);
        return;
    }
    c->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !is_null(root)) {
        if (root->type == YAML_MAPPING_NODE)
            mw_config__walk_map(c, root, top_keys, NULL);
        else
            mw_config__err(c, line_of(root), "the top level must be a map of options, found %s",
                           kind(root));
    }
    yaml_document_delete(&doc);
    c->doc = NULL;

    /* Reject a second document rather than silently ignoring it. */
    if (!yaml_parser_load(p, &doc)) {
        yaml_error(c, p, text, len);
        return;
    }
    root = yaml_document_get_root_node(&doc);
    if (root)
        mw_config__err(c, line_of(root), "only one YAML document is allowed");
    yaml_document_delete(&doc);
}

/* file is the config file's path, or NULL for a buffer. */
static struct mw_config *parse_named(const char *text, size_t len, const char *name,
                                     const char *file, struct mw_errlist *errs)
{
    struct ctx c = {.name = name, .file = file, .errs = errs};
    c.cfg = mw_config_new_default();
    if (c.cfg) {
        free(c.cfg->path);
        c.cfg->path = strdup(file ? file : "<string>");
    }
    if (!c.cfg || !c.cfg->path) {
        mw_config__err(&c, 0, "out of memory");
        mw_config_free(c.cfg);
        return NULL;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        mw_config__err(&c, 0, "out of memory");
        mw_config_free(c.cfg);
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    walk_document(&c, &p, text, len);
    yaml_parser_delete(&p);
    free(c.dir);

    mw_config__local_finish(&c);
    mw_config__groups_finish(&c);
    cross_check(&c);
    if (c.n_errors) {
        mw_config_free(c.cfg);
        return NULL;
    }
    if (c.cfg->n_zones > 1)
        qsort(c.cfg->zones, c.cfg->n_zones, sizeof(*c.cfg->zones), zone_cmp);
    mw_config__groups_index(c.cfg);
    return c.cfg;
}

struct mw_config *mw_config_parse(const char *text, size_t len, const char *name,
                                  struct mw_errlist *errs)
{
    return parse_named(text, len, name, NULL, errs);
}

/* The bearer token of control.token-file, read with the config so that a bad one is a config
 * error (FILE:LINE, --check-config, a failed reload keeps the running token) and a rotated
 * one takes effect on reload. */
static int read_token(struct mw_config *cfg, struct mw_errlist *errs)
{
    char *buf = NULL, why[128];
    size_t n = 0;
    int r = mw_file_read(cfg->control.token_file, 4096, &buf, &n);
    if (r == 0) {
        r = mw_control_token_check(buf, n, why, sizeof(why));
        if (r >= 0) {
            buf[r] = 0;
            cfg->control.token = buf;
            return 0;
        }
        explicit_bzero(buf, n);
        free(buf);
    } else {
        snprintf(why, sizeof(why), "%s", r == -EFBIG ? "larger than 4096 bytes" : strerror(-r));
    }
    if (errs)
        mw_errlist_add(errs, "%s:%d: control.token-file %s: %s", cfg->path,
                       cfg->lines.control_token_file, cfg->control.token_file, why);
    return -EINVAL;
}

struct mw_config *mw_config_load(const char *path, struct mw_errlist *errs)
{
    char *text = NULL;
    size_t len = 0;
    int r = mw_file_read(path, MAX_FILE_SIZE, &text, &len);
    if (r < 0) {
        if (errs)
            mw_errlist_add(errs, "%s: cannot read: %s", path, strerror(-r));
        return NULL;
    }
    struct mw_config *cfg = parse_named(text, len, path, path, errs);
    free(text);
    if (cfg && cfg->control.token_file && read_token(cfg, errs) < 0) {
        mw_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* ---- defaults, lifetime, overrides ---- */

static const char *const default_listen[] = {"127.0.0.1", "::1"};
static const char *const default_access[] = {
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
};

struct mw_config *mw_config_new_default(void)
{
    struct mw_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    const size_t nl = sizeof(default_listen) / sizeof(default_listen[0]);
    const size_t na = sizeof(default_access) / sizeof(default_access[0]);
    cfg->path = strdup("<default>");
    cfg->listen = calloc(nl, sizeof(*cfg->listen));
    cfg->access = calloc(na, sizeof(*cfg->access));
    if (!cfg->path || !cfg->listen || !cfg->access) {
        mw_config_free(cfg);
        return NULL;
    }
    for (size_t i = 0; i < nl; i++)
        mw_require(mw_addr_parse(default_listen[i], MW_DNS_PORT, &cfg->listen[i]) == 0);
    cfg->n_listen = nl;
    for (size_t i = 0; i < na; i++)
        mw_require(mw_cidr_parse(default_access[i], &cfg->access[i]) == 0);
    cfg->n_access = na;

    cfg->threads = 1;
    cfg->cache.size = 100000;
    cfg->cache.max_bytes = 64u << 20;
    cfg->cache.min_ttl = 0;
    cfg->cache.max_ttl = 86400;
    cfg->cache.serve_stale = 86400;
    cfg->upstream.timeout_ms = 1500;
    cfg->upstream.total_ms = 4000;
    cfg->health.interval_ms = 1000;
    cfg->health.down_after = 3;
    cfg->health.up_after = 2;
    cfg->tcp.idle_timeout_ms = 10000;
    cfg->tcp.max_connections = 1024;
    cfg->tcp.max_pipeline = 64;
    cfg->tcp.output_pause = 64 << 10;
    cfg->tcp.output_limit = 1 << 20;
    cfg->tcp.worker_output_limit = 32 << 20;
    cfg->udp.send_queue = 1 << 20;
    cfg->fetch.max_per_worker = 4096; /* Unbound's num-queries-per-thread (with libevent) */
    cfg->fetch.max_waiters = 64;
    cfg->fetch.max_queries = 16384;
    cfg->fetch.max_tcp = 64;
    cfg->log_level = MW_LOG_INFO;
    cfg->querylog.sample = 1;
    cfg->querylog.queue = 8192;
    cfg->sinkhole.action = MW_ACTION_SINKHOLE; /* ipv4 0.0.0.0 and ipv6 :: by calloc */
    cfg->sinkhole.ttl = 60;
    cfg->journal.track = MW_TRACK_ALL;
    cfg->journal.max_names = 100000;
    mw_config__detect_defaults(cfg);
    mw_config__dnstap_defaults(cfg);
    mw_config__tls_defaults(cfg);
    return cfg;
}

void mw_config_free(struct mw_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_zones; i++) {
        free(cfg->zones[i].name);
        free(cfg->zones[i].upstreams);
    }
    free(cfg->zones);
    mw_config__groups_free(cfg);
    mw_config__detect_free(cfg);
    mw_config__dnstap_free(cfg);
    mw_config__tls_free(cfg);
    mw_localzone_free(cfg->local);
    for (size_t i = 0; i < cfg->n_lists; i++) {
        free(cfg->lists[i].name);
        free(cfg->lists[i].category);
        free(cfg->lists[i].path);
    }
    free(cfg->lists);
    free(cfg->blocks_log);
    free(cfg->querylog.path);
    free(cfg->user);
    free(cfg->journal.path);
    free(cfg->control.socket);
    free(cfg->control.token_file);
    if (cfg->control.token) {
        explicit_bzero(cfg->control.token, strlen(cfg->control.token));
        free(cfg->control.token);
    }
    free(cfg->journal.geo_asn);
    free(cfg->journal.geo_country);
    for (size_t i = 0; i < cfg->journal.n_watch; i++)
        free(cfg->journal.watch[i]);
    free(cfg->journal.watch);
    free(cfg->journal.watch_kind);
    free(cfg->redis.url);
    for (size_t i = 0; i < cfg->redis.n_lists; i++)
        free(cfg->redis.lists[i]);
    free(cfg->redis.lists);
    free(cfg->redis.events_url);
    free(cfg->redis.state_dir);
    free(cfg->geoip.asn);
    free(cfg->geoip.country);
    free(cfg->listen);
    free(cfg->upstreams);
    free(cfg->access);
    free(cfg->path);
    free(cfg);
}

static int copy_addrs(const struct mw_addr *a, size_t n, struct mw_addr **arr, size_t *count)
{
    if (n && !a)
        return -EINVAL;
    struct mw_addr *copy = NULL;
    if (n) {
        copy = malloc(n * sizeof(*copy));
        if (!copy)
            return -ENOMEM;
        memcpy(copy, a, n * sizeof(*copy));
    }
    free(*arr);
    *arr = copy;
    *count = n;
    return 0;
}

int mw_config_set_listen(struct mw_config *cfg, const struct mw_addr *a, size_t n)
{
    return copy_addrs(a, n, &cfg->listen, &cfg->n_listen);
}

int mw_config_set_upstreams(struct mw_config *cfg, const struct mw_addr *a, size_t n)
{
    int r = copy_addrs(a, n, &cfg->upstreams, &cfg->n_upstreams);
    if (r == 0)
        cfg->upstreams_from_resolv = false;
    return r;
}

const struct mw_forward_zone *mw_config_zone_for(const struct mw_config *cfg, const uint8_t *qname,
                                                 size_t qname_len)
{
    /* Group zones follow the top-level ones (zone_cmp): stop at the first. */
    for (size_t i = 0; i < cfg->n_zones && cfg->zones[i].group == 0; i++) {
        const struct mw_forward_zone *z = &cfg->zones[i];
        if (mw_dname_is_subdomain(qname, qname_len, z->wire, z->wire_len))
            return z;
    }
    return NULL;
}

/* ---- resolv.conf ---- */

static bool is_loopback(const struct mw_addr *a)
{
    if (a->u.sa.sa_family == AF_INET)
        return (ntohl(a->u.in4.sin_addr.s_addr) >> 24) == 127;
    if (a->u.sa.sa_family != AF_INET6)
        return false;
    const struct in6_addr *in6 = &a->u.in6.sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(in6) || (IN6_IS_ADDR_V4MAPPED(in6) && in6->s6_addr[12] == 127);
}

static bool is_wildcard(const struct mw_addr *a)
{
    if (a->u.sa.sa_family == AF_INET)
        return a->u.in4.sin_addr.s_addr == htonl(INADDR_ANY);
    return a->u.sa.sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a->u.in6.sin6_addr);
}

/* Would forwarding to ns reach one of minewall's own listeners? A wildcard listener on port 53
 * answers on every loopback address, so those count as our own. */
static bool is_own(const struct mw_addr *ns, const struct mw_addr *skip, size_t n_skip)
{
    for (size_t i = 0; i < n_skip; i++) {
        if (mw_addr_equal(ns, &skip[i]))
            return true;
        if (is_wildcard(&skip[i]) && mw_addr_port(&skip[i]) == MW_DNS_PORT && is_loopback(ns))
            return true;
    }
    return false;
}

int mw_config_read_resolv(const char *path, const struct mw_addr *skip, size_t n_skip,
                          struct mw_addr **out)
{
    *out = NULL;
    char *text;
    size_t len;
    int r = mw_file_read(path, MAX_FILE_SIZE, &text, &len);
    if (r < 0)
        return r;
    struct mw_addr *arr = NULL;
    size_t n = 0, cap = 0;
    const char *p = text;
    struct mw_addr a;
    int got;
    while ((got = mw_resolvconf_next(&p, text + len, &a)) != 0) {
        /* Like the libc resolver, ignore lines that do not parse. */
        if (got < 0 || is_own(&a, skip, n_skip))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 4;
            struct mw_addr *na = realloc(arr, nc * sizeof(*na));
            if (!na) {
                r = -ENOMEM;
                break;
            }
            arr = na;
            cap = nc;
        }
        arr[n++] = a;
    }
    free(text);
    if (r < 0 || n == 0) {
        free(arr);
        return r < 0 ? r : 0;
    }
    *out = arr;
    return (int)n;
}
