/* The control API's pure core: the requests minewall-ctl sends and the answers minewall gives,
 * as bytes. No I/O: ctlsrv.c (the UNIX socket), server.c (the HTTP paths and the actions) and
 * ctl.c (the CLI) call these.
 *
 * A request is one line, the same on the UNIX socket and (as path and query) over HTTP:
 *
 *     VERB[?KEY=VALUE&KEY=VALUE...]         e.g.  pause?for=5m&group=default&format=json
 *
 * VERB is status, pause, resume, flush, reload, lists, top-clients, top-names or explain; the
 * keys are group, for, name, all, client, n and format (text or json); values are
 * percent-encoded. On the UNIX socket the line ends with '\n' and the answer is a status line
 * ("200", "400", "409", "500", ...) and the body, up to the end of the connection; over HTTP
 * the status is the HTTP status. Parsing checks everything (unknown keys, bad durations, names,
 * addresses, group names) and says why in one sentence; whether a named group exists is
 * checked by the server against its running config. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/strbuf.h"

struct mw_topn_item;

/* Where minewall listens and minewall-ctl connects when control.socket is not set. */
#define MW_CONTROL_SOCKET_DEFAULT "/run/minewall/control.sock"
/* Longest request line (with its '\n'); longer ones are refused and counted. */
#define MW_CONTROL_REQ_MAX 1024
/* Control connections open at once on the UNIX socket; more are closed and counted. */
#define MW_CONTROL_MAX_CONNS 8
/* A bearer token (control.token-file) is 16 to 510 printable ASCII characters without spaces:
 * short enough for one header line, long enough that guessing is not an option. */
#define MW_CONTROL_TOKEN_MIN 16
#define MW_CONTROL_TOKEN_MAX 510
/* pause without --for lasts this long; --for is at most MW_CONTROL_PAUSE_MAX_MS. A pause never
 * outlives a day: a forgotten one would leave the network unfiltered. */
#define MW_CONTROL_PAUSE_DEFAULT_MS (5 * 60 * 1000ull)
#define MW_CONTROL_PAUSE_MAX_MS (24 * 3600 * 1000ull)
/* Entries shown by top-* (n=), at most. */
#define MW_CONTROL_TOP_DEFAULT 10
#define MW_CONTROL_TOP_MAX 100

enum mw_control_cmd {
    MW_CTL_STATUS,
    MW_CTL_PAUSE,
    MW_CTL_RESUME,
    MW_CTL_FLUSH,
    MW_CTL_RELOAD,
    MW_CTL_LISTS,
    MW_CTL_TOP_CLIENTS,
    MW_CTL_TOP_NAMES,
    MW_CTL_EXPLAIN,
    MW_CTL_N
};

/* A parsed, validated request. */
struct mw_control_req {
    enum mw_control_cmd cmd;
    bool json;
    bool changes;       /* the command changes state (pause, resume, flush, reload) */
    char group[64];     /* pause, resume: "default" unless group_set */
    bool group_set;     /* a group was named: only its clients (else everyone) */
    uint64_t for_ms;    /* pause */
    bool all;           /* flush: every name */
    char name[1024];    /* flush, explain: as given (explain accepts addresses and AS numbers) */
    uint8_t qname[256]; /* flush: the name in lowercase wire form */
    uint16_t qname_len;
    char client[64];   /* explain: an IP address, or "" */
    char listener[64]; /* explain: the arrival listener, ADDR[:PORT], or "" */
    unsigned n;        /* top-*: entries wanted */
};

/* The verb of cmd ("status", "top-clients", ...). */
const char *mw_control_cmd_name(enum mw_control_cmd cmd);

/* Parse a duration: a sequence of NUMBER UNIT with units ms, s, m, h, d ("5m", "1h30m"), or a
 * bare number of seconds. Returns 0 and *ms, -EINVAL (empty, bad unit) or -ERANGE (0, or more
 * than a year). */
int mw_control_duration(const char *s, uint64_t *ms);
/* Write ms as "1h2m3s" ("0s" for less than a second). */
void mw_control_format_duration(struct mw_strbuf *sb, uint64_t ms);

/* Parse a request line (without '\n'; len bytes, need not be NUL-terminated). Returns 0, or
 * -EINVAL with the reason in why ("unknown command 'x'", "group 'g!': not a group name"...). */
int mw_control_parse(const char *line, size_t len, struct mw_control_req *out, char *why,
                     size_t why_len);

/* minewall-ctl: the request line for the arguments after the global options (argv[0] is the
 * command). Returns 0 with the line (no '\n') in out, or -EINVAL with a usage message in why.
 * The line is not validated beyond its syntax: minewall does that. */
int mw_control_argv_line(int argc, char *const *argv, bool json, char *out, size_t cap, char *why,
                         size_t why_len);

/* ---- answers ----
 * Each writes the body for req->json (JSON: one object with "ok" first, then a '\n'). */

/* An error: {"ok":false,"error":MSG} or "error: MSG". */
void mw_control_error(struct mw_strbuf *sb, bool json, const char *msg);

/* The token in a token file's n bytes at buf: trailing CR, LF and spaces are dropped. Returns
 * the token's length (its bytes are buf's first ones), or -EINVAL with the reason in why. */
int mw_control_token_check(const char *buf, size_t n, char *why, size_t why_len);
/* A done action: {"ok":true,"command":VERB,"message":MSG} or MSG. */
void mw_control_done(struct mw_strbuf *sb, const struct mw_control_req *req, const char *msg);

/* The pause state of the default group. */
struct mw_control_pause {
    bool paused;
    uint64_t left_ms; /* time until it resumes by itself */
};
void mw_control_pause_result(struct mw_strbuf *sb, const struct mw_control_req *req,
                             const struct mw_control_pause *p);

struct mw_control_list {
    const char *name, *origin, *category, *action; /* action "allow" for allowlists */
    uint64_t entries;
    bool stale;
};
void mw_control_lists(struct mw_strbuf *sb, bool json, const struct mw_control_list *l, size_t n);

enum mw_control_top_kind { MW_TOP_CLIENTS, MW_TOP_NAMES };
/* Keys are addresses (4 or 16 bytes) or lowercase wire names. total: queries counted. */
void mw_control_top(struct mw_strbuf *sb, bool json, enum mw_control_top_kind kind,
                    const struct mw_topn_item *items, size_t n, uint64_t total);

struct mw_control_status {
    const char *version;
    uint64_t uptime_s, generation;
    unsigned workers;
    struct mw_control_pause pause;
    /* Client groups paused on their own (pause --group), names borrowed; at most 16. */
    const char *paused_groups[16];
    uint64_t paused_groups_left_ms[16];
    size_t n_paused_groups;
    uint64_t queries, cache_hits, cache_misses, blocked, monitor_hits;
    uint64_t lists, entries;
    uint64_t reloads_ok, reloads_failed;
    bool last_reload_failed;
    const struct mw_topn_item *top_clients, *top_names;
    size_t n_top_clients, n_top_names;
};
void mw_control_status(struct mw_strbuf *sb, bool json, const struct mw_control_status *st);

/* The text of a top-N key: an address or a name. Returns buf. */
const char *mw_control_top_key(enum mw_control_top_kind kind, const struct mw_topn_item *it,
                               char *buf, size_t cap);
