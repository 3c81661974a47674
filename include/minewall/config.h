/* The YAML configuration as an immutable value. mw_config_load() parses and validates a whole
 * file, collecting every error as "FILE:LINE: message" instead of stopping at the first; a
 * config that loaded is never edited again (reload builds a new one). Pure: libyaml only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/doh.h"
#include "minewall/netaddr.h"

struct mw_errlist;
struct mw_localzone;
struct mw_groups;
struct mw_dga_model;

/* The config read without -c: meson passes the install's prefix/sysconfdir/minewall/minewall.yaml
 * (where `meson install` puts it); this fallback is only for builds outside meson. */
#ifndef MW_DEFAULT_CONFIG
#define MW_DEFAULT_CONFIG "/etc/minewall/minewall.yaml"
#endif
#define MW_DNS_PORT 53

/* Caps on names that end up in block events, the block log, metric labels, /status, EDE texts,
 * Redis keys and state file names, so every fixed field holding them takes them whole: a list
 * name (lists.name, redis.lists, a published Redis list) of at most 64 bytes, as minewall-feed
 * allows, and a category (lists.category, a Redis list's meta) of at most 63. Longer ones are
 * errors with their FILE:LINE (config) or a logged refusal (Redis). */
#define MW_LIST_NAME_MAX 64
#define MW_CATEGORY_MAX 63
/* dnstap.queue-size when not given: 16 KiB batches of frames queued per worker for the dnstap
 * I/O thread (4 MiB). */
#define MW_DNSTAP_QUEUE_DEFAULT 256

struct mw_forward_zone {
    char *name;        /* owned; lowercase text without trailing dot, "" for the root */
    uint8_t wire[256]; /* lowercase wire form of name */
    uint16_t wire_len;
    struct mw_addr *upstreams; /* owned array */
    size_t n_upstreams;
    int line; /* where it was defined, for messages */
    /* 0: a top-level zone; else the client group (index in cfg->groups + 1) it belongs to.
     * cfg->zones holds the top-level zones first, then each group's, so upstream sets are
     * built for all of them in one place. */
    uint16_t group;
};

/* A zone named in the config (detect.rebinding.internal-zones). */
struct mw_zone_name {
    uint8_t wire[256]; /* lowercase wire form */
    uint16_t wire_len;
    int line; /* where it was given */
};

/* What happens to a query that a list matches (filtering). */
enum mw_action {
    MW_ACTION_DEFAULT = 0, /* a list's action when not set: sinkhole.action */
    MW_ACTION_SINKHOLE,    /* A -> sinkhole.ipv4, AAAA -> sinkhole.ipv6, other types NODATA */
    MW_ACTION_NXDOMAIN,
    MW_ACTION_NODATA,
    MW_ACTION_REFUSED,
    MW_ACTION_DROP, /* no answer at all */
    MW_ACTION_LOG,  /* monitor mode: resolve normally, record the hit */
};

/* What a journal.watch file is: AUTO judges by its content, then by its base name
 * (resolv.conf, hosts); the others are forced by `kind:`. */
enum mw_watch_kind {
    MW_WATCH_AUTO = 0,
    MW_WATCH_RESOLV,
    MW_WATCH_HOSTS,
    MW_WATCH_OTHER,
};

enum mw_list_type {
    MW_LIST_DOMAIN = 0,
    MW_LIST_IP,
    MW_LIST_ASN,
    MW_LIST_PATTERN,
};

/* One entry of `lists:`. */
struct mw_list_conf {
    char *name;     /* owned; unique among lists */
    char *category; /* owned; free text: mining, c2, malware, doh, allow, ... */
    char *path;     /* owned; absolute, or made absolute against the config file's directory */
    enum mw_action action;  /* MW_ACTION_DEFAULT unless `action:` given */
    enum mw_list_type type; /* default MW_LIST_DOMAIN */
    int format;             /* enum mw_listfile_format; 0 = detect */
    bool allow;             /* category "allow": matches are never blocked */
    bool enabled;  /* `enabled: false` keeps a list configured but unloaded; default true */
    int line;      /* where it was defined */
    int path_line; /* the line of its `path:` */
};

/* A DNS-over-TLS or DNS-over-HTTPS upstream (`tls://ADDR[:PORT][#AUTH-NAME]` in `upstreams` or
 * `forward-zones`, dot.h). Its address also stands in the upstream lists: the address is
 * the member's identity, this entry says it is reached over TLS and how it is verified. */
struct mw_tls_upstream {
    struct mw_addr addr;
    char auth_name[254]; /* lowercase, no trailing dot; "": the certificate must name the IP */
    int line;            /* where it was first given */
    /* DNS over HTTPS (`https://HOST[:PORT]/PATH`, doh.h): addr is then the URL's stand-in
     * identity, auth_name its HOST when HOST is a name. */
    bool doh;
    /* HOST (DoH) or the tls:// NAME is a name: addr is a stand-in (doh.h), the address to
     * connect to comes from the bootstrap (dohboot.h). url.host and url.port hold it for a
     * tls:// NAME too. */
    bool by_name;
    struct mw_doh_url url;
};

/* `tls: {pins: {AUTH-NAME: [BASE64-SHA256, ...]}}` (RFC 7858 section 4.2). */
struct mw_tls_pins {
    char *name;            /* owned; lowercase authentication name */
    uint8_t (*sha256)[32]; /* owned; n SPKI SHA-256 hashes */
    size_t n;
    int line;
};

struct mw_config {
    char *path; /* owned; file it came from, or "<string>" */

    struct mw_addr *listen; /* owned array */
    size_t n_listen;

    /* Upstreams as configured. When there are none after command-line overrides, the server
     * fills them with mw_config_read_resolv() and sets upstreams_from_resolv. */
    struct mw_addr *upstreams;
    size_t n_upstreams;
    bool upstreams_from_resolv;

    struct mw_forward_zone *zones; /* owned array, sorted by descending wire_len */
    size_t n_zones;

    /* Local data and local zones (`local-data:`, `local-zones:`, `local-data-ptr:`), built and
     * checked at load; owned; NULL when neither is configured. */
    struct mw_localzone *local;
    bool local_data_ptr; /* PTR records made from local A/AAAA records; default false */

    unsigned threads; /* worker loops, 1..64; default 1 */

    struct mw_cidr *access; /* owned array; default: loopback, RFC 1918, ULA */
    size_t n_access;

    struct {
        size_t size;          /* max entries per worker; default 100000; 0 disables */
        size_t max_bytes;     /* max heap bytes of the entries per worker; default 64 MiB */
        uint32_t min_ttl;     /* seconds; default 0 */
        uint32_t max_ttl;     /* seconds; default 86400 */
        uint32_t serve_stale; /* seconds an expired answer may still serve; default 86400; 0 off */
    } cache;

    struct {
        uint32_t timeout_ms; /* one attempt's cap; default 1500 */
        uint32_t total_ms;   /* whole resolution budget before SERVFAIL; default 4000 */
    } upstream;

    /* Active health checks (`health-check:`, see health.h): probe period, and how many
     * failures in a row mark an upstream down and successes bring it back. */
    struct {
        uint32_t interval_ms; /* default 1000 */
        uint32_t down_after;  /* default 3 */
        uint32_t up_after;    /* default 2 */
    } health;

    /* DNS over TLS to upstreams (`tls:`, config_tls.c). Strict: an upstream that fails
     * verification is a failed upstream, never asked in clear text instead. */
    struct {
        struct mw_tls_upstream *ups; /* owned; every distinct tls:// address, config order */
        size_t n_ups;
        char *ca_file;            /* owned; PEM trust anchors; NULL: the system store */
        uint32_t max_connections; /* per upstream per worker; default 2 */
        uint32_t idle_timeout_ms; /* an unused connection is closed after it; default 10000 */
        uint32_t max_pipeline;    /* queries in flight on one connection; default 64 */
        struct mw_tls_pins *pins; /* owned */
        size_t n_pins;
        bool doh_get;     /* `doh-method: get`: DoH queries as GET ?dns= (default POST) */
        char *hosts_file; /* owned; where DoH host names are looked up first; NULL: /etc/hosts */
    } tls;

    struct {
        uint32_t idle_timeout_ms; /* default 10000 */
        uint32_t max_connections; /* per worker; default 1024 */
        uint32_t max_pipeline;    /* in-flight queries per connection; default 64 */
        /* Answers not yet taken by a client, in bytes: above output_pause a connection is not
         * read (resumed below half of it), beyond output_limit it is closed, and beyond
         * worker_output_limit over all of a worker's connections the connection with the most
         * pending output is closed. Defaults 64 KiB, 1 MiB, 32 MiB. */
        uint32_t output_pause;
        uint32_t output_limit;
        uint64_t worker_output_limit;
    } tcp;

    struct {
        /* Bytes of UDP answers queued per worker while a listen socket's send buffer is full;
         * beyond it answers are dropped and counted. 0: never queue. Default 1 MiB. */
        uint32_t send_queue;
    } udp;
    /* Bounds of the fetch side of a worker (see README, worst-case memory of a worker). */
    struct {
        uint32_t max_per_worker; /* upstream fetches in flight per worker; default 4096 */
        uint32_t max_waiters;    /* client queries waiting on one fetch; default 64 */
        uint32_t max_queries;    /* client queries waiting, all fetches; default 16384 */
        bool overflow_drop;      /* over a bound with no stale answer: drop (else SERVFAIL) */
        uint32_t max_tcp;        /* TCP fallback connections to upstreams per worker; 64 */
    } fetch;

    int log_level;    /* enum mw_log_level; default MW_LOG_INFO */
    char *blocks_log; /* owned; `log: {blocks: PATH}`; NULL: no block log */
    /* `log: {queries: PATH, sample: N, queue: N}`: the query log (querylog.h, qlogw.h). */
    struct {
        char *path;      /* owned; NULL: no query log */
        uint32_t sample; /* log one answered query in sample; default 1 (every one) */
        uint32_t queue;  /* records queued per worker for the writer; default 8192 */
    } querylog;

    struct mw_list_conf *lists; /* owned array, in file order */
    size_t n_lists;

    struct {
        enum mw_action action; /* default MW_ACTION_SINKHOLE; never DEFAULT */
        uint8_t ipv4[4];       /* default 0.0.0.0 */
        uint8_t ipv6[16];      /* default :: */
        uint32_t ttl;          /* default 60 */
    } sinkhole;

    struct {
        char *url;    /* owned; redis://[:PASSWORD@]HOST:PORT[/DB]; NULL: no fleet sync */
        char **lists; /* owned; list names to follow */
        size_t n_lists;
        bool all;         /* lists: ["*"]: every name in minewall:lists */
        char *events_url; /* owned; where block/routing events go; NULL: url */
        char *state_dir;  /* owned; last synced copy of every list; NULL: none kept */
    } redis;

    /* HTTP metrics, health and status (`metrics: {listen}`); off when absent. */
    struct {
        bool enabled;
        struct mw_addr listen;
    } metrics;

    /* The control API (`control: {socket, token-file}`, control.h): a UNIX socket for
     * minewall-ctl, always on, and with token-file the /control/ paths of the metrics server. */
    struct {
        char *socket;     /* owned; NULL: MW_CONTROL_SOCKET_DEFAULT */
        char *token_file; /* owned; NULL: no control over HTTP */
        /* owned: the token read from token_file by mw_config_load (and so again on every
         * reload: a rotated token takes effect on SIGHUP); NULL when parsed from a buffer */
        char *token;
    } control;

    /* Per-client rate limiting (`rate-limit:`); off when absent. */
    struct mw_ratelimit_conf {
        bool enabled;
        uint32_t qps;         /* tokens per second per client prefix */
        uint32_t burst;       /* bucket size; default 2 * qps */
        uint8_t prefix_v4;    /* default 32 */
        uint8_t prefix_v6;    /* default 64 */
        bool refuse;          /* action: refused (true) or drop (false, the default) */
        uint32_t max_clients; /* table bound per worker; default 65536 */
    } ratelimit;

    /* Client groups (`groups:`, config_groups.c): n_groups configured, in file order, group
     * index i + 1 for groups[i]; index 0 is `default` (the top-level settings). group_match
     * (owned; NULL without groups) decides a query's group (groups.h). */
    struct mw_group_conf *groups;
    size_t n_groups;
    struct mw_groups *group_match;

    /* Account to run as after binding (`user:`); NULL: "minewall" when that account exists,
     * else keep root only... see server.c; "root" explicitly keeps root. */
    char *user;

    /* The journal of DNS routing changes (`journal:`). */
    struct {
        char *path; /* owned; JSON lines; NULL: no journal */
        enum { MW_TRACK_NONE = 0, MW_TRACK_LISTED, MW_TRACK_ALL } track; /* default all */
        uint32_t max_names;          /* answer sets remembered per worker; default 100000 */
        bool ignore_same_asn;        /* drop answer changes inside the same ASNs; default false */
        char *geo_asn, *geo_country; /* owned; journal.geoip, default: the top-level geoip */
        char **watch;                /* owned; files watched for host_config_change */
        size_t n_watch;              /* default /etc/resolv.conf and /etc/hosts */
        /* owned; n_watch entries: the `kind:` of each watch entry (a plain path: AUTO) */
        enum mw_watch_kind *watch_kind;
        bool watch_set; /* `watch:` was given (an empty list watches nothing) */
    } journal;

    /* dnstap output (`dnstap:`, tap.h), read at start: a reload keeps the running one. */
    struct {
        bool enabled;           /* the section is present (and names socket or address) */
        char *socket;           /* owned; UNIX socket path, or NULL */
        struct mw_addr address; /* TCP reader when address_line != 0 */
        int socket_line, address_line;
        char *identity; /* owned; NULL: the host name */
        char *version;  /* owned; NULL: "minewall VERSION" */
        /* Which messages are written; each defaults to true. */
        bool client_query, client_response, forwarder_query, forwarder_response;
        uint32_t queue_size; /* batches waiting per worker (a power of 2) */
    } dnstap;

    struct {
        char *asn;     /* owned; MaxMind-format ASN database (GeoLite2-ASN / DB-IP ASN) */
        char *country; /* owned; MaxMind-format country database */
    } geoip;

    /* Detection beyond lists (`detect:`), one map per detector; tunnel, dga and new-domains
     * are to come beside rebinding. */
    struct {
        /* The metadata and rebinding guard (rebind.h): a public name answered with a cloud
         * metadata address, or (private: true) with a loopback, link-local or private one, is
         * blocked unless it is under an internal zone. */
        struct {
            bool metadata;                 /* `metadata:`; default true */
            bool private_ranges;           /* `private:`; default false */
            enum mw_action action;         /* `action:`; default nxdomain, never DEFAULT */
            struct mw_zone_name *internal; /* owned; `internal-zones:` */
            size_t n_internal;
        } rebinding;
        /* Generated-domain (DGA) scoring of query names (dgacheck.h): the registered-domain
         * label of every query that misses the cache, scored by the model, memoized per
         * registered domain in each worker. On when the `dga:` section is present. */
        struct {
            bool enabled;                /* `detect: {dga: ...}` is in the config */
            enum mw_action action;       /* `action:`; default log, never DEFAULT */
            int level;                   /* `level:` low|medium|high (enum mw_dga_level); high */
            char *model;                 /* owned; `model:`; NULL: mw_dga_default_path() */
            int model_line;              /* its line, 0 when defaulted */
            uint32_t cache_size;         /* `cache-size:` registered domains memoized per worker */
            struct mw_dga_model *loaded; /* owned: the model, loaded when the config is read */
        } dga;
        /* DNS tunnel detection (tunnel.h): per worker, per (client, registered domain) on the
         * miss path; a detection blocks the registered domain for the client for block_ms. */
        struct {
            bool enabled;          /* `enabled:`; default true */
            enum mw_action action; /* `action:`; default log (alert only), never DEFAULT */
            uint32_t block_ms;     /* `block-for:`; default 10 minutes */
            uint32_t window_ms;    /* `window:`; default 60 s */
            uint32_t max_entries;  /* `max-entries:` per worker; default 16384 */
            uint32_t max_blocks;   /* `max-blocks:` per worker; default 4096 */
            uint32_t min_distinct; /* `min-distinct:`; default 30 */
            uint32_t threshold;    /* `threshold:` (score 1..100); default 60 */
        } tunnel;
        /* Newly observed domains (nod.h, nodsvc.h): the first sight of a registered domain by
         * this resolver, and with Redis by the fleet, is an event and optionally a block. */
        struct {
            bool enabled;           /* the section is given and `enabled:` is not false */
            enum mw_action action;  /* `action:`; default log, never DEFAULT */
            uint64_t block_for_ms;  /* `block-for:`; default 10 minutes */
            uint64_t capacity;      /* `capacity:` names remembered; default 10M */
            double fp_rate;         /* `fp-rate:`; default 0.01 */
            bool redis;             /* `redis:` fleet check (needs redis.url); default true */
            uint32_t fleet_days;    /* `fleet-days:` a fleet day set lives; default 30 */
            uint32_t max_in_flight; /* `max-in-flight:` fleet commands; default 64 */
            uint64_t save_ms;       /* `save-interval:`; default 5 minutes */
            char *state_dir; /* owned; `state-dir:`, default redis.state-dir; never NULL on */
            int line;        /* where the section is */
            int state_dir_line;
            int redis_line; /* where `redis: true` was given, 0: the default */
        } new_domains;
    } detect;

    /* The config lines naming each file minewall opens (0: not set, or a default), so that
     * --check-config reports an unusable file as FILE:LINE. A journal.geoip path inherited
     * from geoip: carries that key's line. */
    struct {
        int blocks_log, query_log, state_dir, geoip_asn, geoip_country;
        int journal_path, journal_geo_asn, journal_geo_country;
        int journal_watch; /* the journal.watch list (its entries share it) */
        int control_socket, control_token_file;
        int tls_ca_file;
        int tls_hosts_file;
    } lines;
};

/* A group's action override (`actions:`): for a list name, or (category) for every list of a
 * category. A list name override wins over a category override. */
struct mw_group_action {
    char *name; /* owned */
    bool category;
    enum mw_action action; /* never DEFAULT */
    int line;
};

/* One entry of `groups:`. */
struct mw_group_conf {
    char *name;              /* owned; unique, never "default" */
    struct mw_cidr *clients; /* owned */
    int *client_lines;       /* owned; the config line of each client prefix */
    size_t n_clients;
    struct mw_addr *listeners; /* owned; empty: any listener */
    size_t n_listeners;
    /* `lists:` entries (owned), a list name or, with is_cat[i], a category; all_lists when the
     * key is absent (every list, Redis lists included). */
    char **lists;
    bool *is_cat;
    int *list_lines;
    size_t n_lists;
    bool all_lists;
    struct mw_group_action *actions; /* owned */
    size_t n_actions;
    size_t zone_first, n_zones; /* the group's forward zones: cfg->zones[zone_first...] */
    struct mw_localzone *local; /* owned; the group's local data, NULL: none */
    bool local_data_ptr;        /* the group's local-data-ptr */
    bool has_ratelimit;         /* `rate-limit:` given: it replaces the top-level limiter */
    struct mw_ratelimit_conf ratelimit;
    bool log_queries; /* `log-queries:`, default true: the query log records its queries */
    uint64_t tag;     /* hash of the name: tells its forward-zone answers apart in the cache */
    int line;
};

/* The name of group index gi ("default" for 0 and for an index out of range). */
const char *mw_config_group_name(const struct mw_config *cfg, unsigned gi);
/* Whether the query log records queries of group gi (`log-queries:`; true for default). */
bool mw_config_group_logs_queries(const struct mw_config *cfg, unsigned gi);
/* The tag of a group name ("default" too): a 64-bit hash, stable across reloads, that names the
 * group where an index would not (cache keys, paused groups). Never 0. */
uint64_t mw_group_tag(const char *name);
/* Group index of a name, or -ENOENT ("default" is 0). */
int mw_config_group_find(const struct mw_config *cfg, const char *name);
/* The forward zone for a query of group gi: the group's own zones first (longest suffix),
 * then the top-level ones; NULL for the default upstreams. */
const struct mw_forward_zone *mw_config_zone_for_group(const struct mw_config *cfg, unsigned gi,
                                                       const uint8_t *qname, size_t qname_len);
/* Parse one upstream entry: ADDR[:PORT] (returns 0, out->addr set), tls://... or https://...
 * (returns 1, *out filled as cfg->tls.ups holds it), or -EINVAL. */
int mw_config_parse_upstream(const char *s, struct mw_tls_upstream *out);
/* Add t (a tls:// or https:// upstream given outside the file: --upstream) to cfg->tls.ups.
 * Returns 0 (also when the same entry is there), -EEXIST when t's address is there under
 * another name or transport, -ENOMEM. */
int mw_config_add_tls_upstream(struct mw_config *cfg, const struct mw_tls_upstream *t);
/* The tls:// or https:// entry of address a, or NULL when a is a plain upstream. */
const struct mw_tls_upstream *mw_config_tls_upstream(const struct mw_config *cfg,
                                                     const struct mw_addr *a);
/* The pins of an authentication name, or NULL when it has none. */
const struct mw_tls_pins *mw_config_tls_pins(const struct mw_config *cfg, const char *name);

/* "sinkhole", "nxdomain", ... -> enum, or -EINVAL. */
int mw_action_parse(const char *s, enum mw_action *out);
const char *mw_action_name(enum mw_action a);
const char *mw_list_type_name(enum mw_list_type t);

/* Load and validate FILE. Every error is appended to errs as "FILE:LINE: message" (an
 * unreadable file as "FILE: message"). Returns a new config (caller frees) or NULL when any
 * error was found. */
struct mw_config *mw_config_load(const char *path, struct mw_errlist *errs);

/* Same from a buffer; name is used in messages. */
struct mw_config *mw_config_parse(const char *text, size_t len, const char *name,
                                  struct mw_errlist *errs);

/* A config with every default (listen 127.0.0.1:53 and [::1]:53, no upstreams). */
struct mw_config *mw_config_new_default(void);

void mw_config_free(struct mw_config *cfg);

/* Read nameserver lines of a resolv.conf into a new array (port 53), skipping any address
 * equal to one of skip[] (minewall's own listen addresses, so it never forwards to itself;
 * compared by address and port, and a wildcard listener 0.0.0.0/:: on port 53 skips every
 * loopback nameserver).
 * Returns the count (>= 0) with *out owned by the caller, or a negative errno. */
int mw_config_read_resolv(const char *path, const struct mw_addr *skip, size_t n_skip,
                          struct mw_addr **out);

/* Replace listen or upstream lists (command line overrides). Copies the array. Returns 0 or
 * -ENOMEM. */
int mw_config_set_listen(struct mw_config *cfg, const struct mw_addr *a, size_t n);
int mw_config_set_upstreams(struct mw_config *cfg, const struct mw_addr *a, size_t n);

/* Is the lowercase wire name under (or equal to) one of detect.rebinding.internal-zones? */
bool mw_config_is_internal(const struct mw_config *cfg, const uint8_t *name, size_t len);

/* The forward zone for a lowercase wire qname (longest suffix), or NULL for the default
 * upstreams. */
const struct mw_forward_zone *mw_config_zone_for(const struct mw_config *cfg, const uint8_t *qname,
                                                 size_t qname_len);
