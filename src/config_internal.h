/* Private to the configuration parser: what config.c (the walk, the core keys, defaults and
 * lifetime) shares with config_lists.c (the filtering keys: lists, sinkhole, geoip and the
 * block log path). Not installed and not for any other module. Functions shared between the
 * two files are named mw_config__*; the node accessors are static inline. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <yaml.h>

#include "minewall/config.h"

struct mw_config;
struct mw_errlist;
struct mw_list_conf;
struct mw_localzone_builder;

#define SHOWN_MAX 64 /* longest value quoted in a message */

/* Keys whose values are checked against each other after the walk remember their line. */
enum {
    SLOT_MIN_TTL = 1,
    SLOT_MAX_TTL,
    SLOT_UP_TIMEOUT,
    SLOT_TOTAL_TIMEOUT,
    SLOT_OUT_PAUSE,
    SLOT_OUT_LIMIT,
    SLOT_IGNORE_SAME_ASN,
    SLOT_COUNT
};

struct ctx {
    const char *name;        /* borrowed; file name for messages */
    const char *file;        /* borrowed; the config file's path, NULL when parsing a buffer */
    char *dir;               /* owned; the config file's directory made absolute, or the
                                current directory for a buffer; computed on first use */
    struct mw_errlist *errs; /* borrowed; may be NULL */
    size_t n_errors;
    yaml_document_t *doc;               /* borrowed */
    struct mw_config *cfg;              /* borrowed; being filled */
    struct mw_list_conf *list;          /* borrowed; the `lists:` entry being filled, else NULL */
    int lines[SLOT_COUNT];              /* line where a cross-checked key was set, 0 if defaulted */
    struct mw_localzone_builder *local; /* owned; made by the first local-* key, else NULL */
    struct mw_group_conf *group;        /* borrowed; the `groups:` entry being filled, else NULL */
};

struct key;
typedef void key_fn(struct ctx *c, const struct key *k, yaml_node_t *val);

struct key {
    const char *path;      /* "threads", "cache.min-ttl": the last part is the key */
    key_fn *fn;            /* checks and stores the value */
    const struct key *sub; /* map keys: nested table, ended by a NULL path */
    long long min, max;    /* integer keys: accepted range */
    size_t off, width;     /* integer and path keys: the field in struct mw_config */
    uint32_t scale;        /* integer keys: the field receives value * scale */
    int slot;              /* SLOT_* for cross-checked keys, else 0 */
    size_t loff;           /* path keys: the int in struct mw_config receiving the key's line
                              (offsetof a member of cfg->lines), 0: not recorded */
};

/* An integer key: handler, field, accepted range, scale to the stored unit, cross-check slot. */
#define NUM(p, handler, f, lo, hi, mul, sl)                                                        \
    {                                                                                              \
        .path = p, .fn = handler, .off = offsetof(struct mw_config, f),                            \
        .width = sizeof(((struct mw_config *)0)->f), .min = lo, .max = hi, .scale = mul,           \
        .slot = sl                                                                                 \
    }

/* A file path key stored in the char * field f (see mw_config__on_path), its line in
 * cfg->lines.lf (what --check-config names when the file is unusable). */
#define PATH(p, f, lf)                                                                             \
    {                                                                                              \
        .path = p, .fn = mw_config__on_path, .off = offsetof(struct mw_config, f),                 \
        .width = sizeof(((struct mw_config *)0)->f), .loff = offsetof(struct mw_config, lines.lf)  \
    }

/* ---- config.c ---- */

/* Count an error and add "NAME:LINE: message" (line <= 0: "NAME: message") to c->errs. */
void mw_config__err(struct ctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* s copied into buf for a message: control bytes become '?', long values are cut with "...". */
const char *mw_config__shown(const char *s, char buf[SHOWN_MAX + 4]);
/* The text of a scalar that must carry a value, or NULL after reporting why not. */
const char *mw_config__scalar(struct ctx *c, const char *path, yaml_node_t *n);
/* Check every key of map against table (unknown and duplicate keys are errors) and call each
 * key's handler. A null map is empty; section names the map in messages (NULL: top level). */
void mw_config__walk_map(struct ctx *c, yaml_node_t *map, const struct key *table,
                         const char *section);
/* Integer key into the field that k describes (see NUM). */
void mw_config__on_uint(struct ctx *c, const struct key *k, yaml_node_t *val);

/* Lists of addresses (ADDR[:PORT], port 53 by default) and of prefixes into new arrays (NULL
 * when empty); false after reporting a bad item. */
bool mw_config__addr_list(struct ctx *c, const char *path, yaml_node_t *val, struct mw_addr **arr,
                          size_t *n);
bool mw_config__cidr_list(struct ctx *c, const char *path, yaml_node_t *val, struct mw_cidr **arr,
                          size_t *n);
/* `forward-zones:` into c->cfg->zones (a group's walk points c->cfg at a scratch config). */
void mw_config__on_zones(struct ctx *c, const struct key *k, yaml_node_t *val);

/* ---- config_groups.c ---- */

/* `groups:`: a map of group name -> group map. */
void mw_config__on_groups(struct ctx *c, const struct key *k, yaml_node_t *val);
/* After the walk: check names against lists and listen addresses, move each group's zones
 * into cfg->zones, build cfg->group_match (errors counted in c). */
void mw_config__groups_finish(struct ctx *c);
/* After the zones are sorted: each group's range in cfg->zones. */
void mw_config__groups_index(struct mw_config *cfg);
void mw_config__groups_free(struct mw_config *cfg);

/* ---- config_lists.c ---- */

/* `lists:`: a sequence of maps into cfg->lists. */
void mw_config__on_lists(struct ctx *c, const struct key *k, yaml_node_t *val);
/* A path into the char * field k->off of struct mw_config, made absolute against the config
 * file's directory. */
void mw_config__on_path(struct ctx *c, const struct key *k, yaml_node_t *val);
extern const struct key mw_config__sinkhole_keys[];
extern const struct key mw_config__geoip_keys[];
extern const struct key mw_config__redis_keys[];
extern const struct key mw_config__journal_keys[];
extern const struct key mw_config__metrics_keys[];
extern const struct key mw_config__control_keys[];
extern const struct key mw_config__ratelimit_keys[];
extern const struct key mw_config__fetch_keys[];
extern const struct key mw_config__health_keys[];
void mw_config__on_ratelimit(struct ctx *c, const struct key *k, yaml_node_t *val);
void mw_config__on_user(struct ctx *c, const struct key *k, yaml_node_t *val);
/* Decides about one item of a string list; false skips it (after reporting why, or not when
 * the item is a marker the callback took note of). */
typedef bool (*mw_config__accept_fn)(struct ctx *c, const struct key *k, yaml_node_t *item,
                                     const char *s);
/* A YAML sequence of scalars into a new array (*out, *n). Returns false, after reporting, when
 * val is not a sequence ("expected a list of <what>"). */
bool mw_config__string_list(struct ctx *c, const struct key *k, yaml_node_t *val, const char *what,
                            mw_config__accept_fn accept, char ***out, size_t *n_out);
/* Nested map keys dispatch through this. */
void mw_config__on_map(struct ctx *c, const struct key *k, yaml_node_t *val);
/* Defaults of journal that depend on other keys; 0 or -1 (ENOMEM). */
int mw_config__journal_finish(struct mw_config *cfg);

/* ---- shared value parsers (config_journal.c, config_lists.c) ---- */

/* A YAML 1.2 core boolean (true/True/TRUE, false/False/FALSE) into the bool field k->off. */
void mw_config__on_bool(struct ctx *c, const struct key *k, yaml_node_t *val);
/* A list action name into *out; false after reporting an unknown one. */
bool mw_config__parse_action(struct ctx *c, const struct key *k, yaml_node_t *val,
                             enum mw_action *out);

/* ---- config_detect.c ---- */

/* `detect:`: a map of detectors (rebinding). */
extern const struct key mw_config__detect_keys[];
/* Defaults of detect: set in mw_config_new_default. */
void mw_config__detect_defaults(struct mw_config *cfg);
void mw_config__detect_free(struct mw_config *cfg);
/* After the walk: defaults of detect.new-domains that depend on redis (state-dir, redis). */
void mw_config__detect_finish(struct ctx *c);

/* ---- config_local.c ---- */

/* `local-data:` (a list of records), `local-zones:` (a map zone -> type); `local-data-ptr:` is
 * a plain boolean (mw_config__on_bool). */
void mw_config__on_local_data(struct ctx *c, const struct key *k, yaml_node_t *val);
void mw_config__on_local_zones(struct ctx *c, const struct key *k, yaml_node_t *val);
/* After the walk: build cfg->local from what the keys collected (errors counted in c). */
void mw_config__local_finish(struct ctx *c);

/* ---- config_dnstap.c ---- */

/* `dnstap:`: a map; sets cfg->dnstap.enabled when it names exactly one of socket, address. */
void mw_config__on_dnstap(struct ctx *c, const struct key *k, yaml_node_t *val);
void mw_config__dnstap_defaults(struct mw_config *cfg);
void mw_config__dnstap_free(struct mw_config *cfg);
/* ---- config_tls.c ---- */

/* A list key: null is an empty list, anything but a sequence an error. Each item's text goes
 * to fn with its slot in a new array of size-byte items; fn reports its own error and returns
 * false. Every item is checked; on any failure nothing is kept. */
typedef bool seq_item_fn(struct ctx *c, const char *path, yaml_node_t *item, const char *s,
                         void *out, const void *arg);
bool mw_config__parse_seq(struct ctx *c, const char *path, yaml_node_t *val, size_t size,
                          seq_item_fn *fn, const void *arg, void **arr, size_t *n);

/* `upstreams` and a forward zone's list: addresses and tls:// URLs (noted in cfg->tls.ups)
 * into a new array. Returns false after reporting every bad entry. */
bool mw_config__parse_upstreams(struct ctx *c, const char *path, yaml_node_t *val,
                                struct mw_addr **arr, size_t *n);
extern const struct key mw_config__tls_keys[];
/* The tls:// upstreams a scratch config (a group's) noted, into c->cfg (conflicts reported
 * under section). */
void mw_config__tls_merge(struct ctx *c, const struct mw_config *sub, const char *section);
void mw_config__tls_defaults(struct mw_config *cfg);
void mw_config__tls_free(struct mw_config *cfg);

/* ---- node accessors ---- */

static inline int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static inline const char *text_of(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static inline yaml_node_t *node(struct ctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static inline const char *kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a map";
    default:
        return "a single value";
    }
}

/* "key:" with nothing after it, "~", "null", or an explicit !!null tag. */
static inline bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE)
        return false;
    if (n->tag && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
        return true;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = text_of(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}
