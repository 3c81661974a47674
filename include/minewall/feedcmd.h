/* minewall-feed: the feed maintainers' tool that publishes lists to Redis. This header joins
 * the tool's three files (feed.c: command line, connection, ls/show/history; feed_sync.c:
 * push/diff/add/del/validate; feed_hits.c: hits) and is not used by the resolver.
 *
 * The public Redis schema (operators' pipelines depend on these exact names):
 *   minewall:lists                 SET of published list names
 *   minewall:list:{NAME}:meta      HASH category, action, type, description, updated (unix s)
 *   minewall:list:{NAME}:entries   SET of normalised entries (see mw_feed_entry_text)
 *   minewall:list:{NAME}:log       STREAM op=add|del, entries="e1 e2 ..." (<= 1000 a record);
 *                                  op=meta with every meta field; op=retire
 *   minewall:catalog               STREAM op=create|meta|retire, list=NAME (MAXLEN ~ 10000)
 *   minewall:events:blocks         STREAM of block hits appended by resolvers
 * The braces are literal: a Redis Cluster hash tag keeping a list's keys in one slot. Every
 * change of an entries SET is made in the same MULTI/EXEC as the log record describing it, so
 * a reader that takes the stream's last id before SSCAN and then follows the log misses
 * nothing. A change of the meta's category, action, type or description is made in the same
 * MULTI/EXEC as a "meta" log record (and a catalog record), so resolvers apply it in order with
 * the entries; "rm" deletes the meta and entries, removes the name from the index, trims the
 * log to one "retire" record (kept MW_FEED_RETIRE_KEEP_S) and adds a catalog "retire" record,
 * all in one MULTI/EXEC. Exit codes: 0 done, 1 data errors (bad file or entry, unknown list,
 * a type change or emptying without --force), 2 Redis unreachable, authentication or command
 * failure, 64 usage. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/redisurl.h"

struct redisContext;
struct mw_listfile_entry;

#define MW_FEED_EXIT_OK 0
#define MW_FEED_EXIT_DATA 1
#define MW_FEED_EXIT_REDIS 2
#define MW_FEED_EXIT_USAGE 64

#define MW_FEED_KEY_LISTS "minewall:lists"
#define MW_FEED_KEY_EVENTS "minewall:events:blocks"
#define MW_FEED_KEY_CATALOG "minewall:catalog"
/* Approximate length of the catalog kept; resolvers only need its recent records. */
#define MW_FEED_CATALOG_MAXLEN "10000"
/* How long the log of a retired list (its one "retire" record) is kept: a resolver that was
 * away for less than this drops the list when it comes back; after it, the list is stale. */
#define MW_FEED_RETIRE_KEEP_S "2592000"
/* Entries per SADD/SREM and per log record, and the approximate log length kept. */
#define MW_FEED_BATCH 1000
#define MW_FEED_LOG_MAXLEN "100000"
/* A normalised entry: a name of at most 253 characters (\DDD escapes can make it longer),
 * an IPv6 prefix or "AS4294967295". */
#define MW_FEED_ENTRY_MAX 1024
#define MW_FEED_NAME_MAX 64 /* = MW_LIST_NAME_MAX (config.h): resolvers refuse longer names */

/* Where to connect, parsed from redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]. */
struct mw_feed {
    struct mw_redis_url url; /* from mw_redis_url_parse, the resolver's own parser */
    struct redisContext *rc; /* owned; NULL until mw_feed_connect() */
};

/* A growable array of owned, NUL-terminated strings. */
struct mw_strvec {
    char **v;
    size_t n;
    size_t cap;
};

/* The meta HASH of a list; fields missing in Redis are "". exists is true when the list has
 * a meta hash or is a member of minewall:lists. */
struct mw_feed_meta {
    bool exists;
    char category[128];
    char action[32];
    char type[16];
    char description[512];
    long long updated;
};

/* ---- feed.c: connection and shared helpers ---- */

/* Connect (5 s timeout), AUTH, SELECT and PING. Idempotent. On failure prints
 * "minewall-feed: cannot connect to URL: reason" or "...: authentication failed" and returns
 * a negative errno; the caller exits with MW_FEED_EXIT_REDIS. */
int mw_feed_connect(struct mw_feed *f);
void mw_feed_disconnect(struct mw_feed *f);
/* Run one command given as argv (argvlen NULL: strlen). Returns the reply (caller frees with
 * freeReplyObject), or NULL after printing the connection or error reply. */
void *mw_feed_argv(struct mw_feed *f, int argc, const char **argv);
/* Print a failed reply or connection error of f's context, prefixed by what. */
void mw_feed_report(struct mw_feed *f, const char *what, const void *reply);

/* key = "minewall:list:{NAME}:SUFFIX". */
void mw_feed_key(char *key, size_t cap, const char *name, const char *suffix);
/* List names: 1..64 of [A-Za-z0-9._-]. Braces or spaces would break the hash tag. */
bool mw_feed_name_ok(const char *name);
/* Load the meta of name. Returns 0 or a negative errno (message printed). */
int mw_feed_meta_load(struct mw_feed *f, const char *name, struct mw_feed_meta *m);
/* All members of a SET by SSCAN, appended to out, sorted and deduplicated. Returns 0 or a
 * negative errno (message printed). */
int mw_feed_set_load(struct mw_feed *f, const char *key, struct mw_strvec *out);
/* "2024-05-01 12:00:00 UTC" for unix seconds t ("-" for 0). */
void mw_feed_time_text(long long t, char *buf, size_t cap);

/* The normalised text of an entry: domain names in lowercase presentation form without the
 * trailing dot (subtree semantics), addresses bare when the prefix is full length
 * ("192.0.2.1", "2001:db8::1") and "ADDR/LEN" otherwise ("10.0.0.0/8"), AS numbers as
 * "AS13335". Returns 0, -ENOTSUP for a pattern entry, -ENOSPC. */
int mw_feed_entry_text(const struct mw_listfile_entry *e, char *buf, size_t cap);
/* "domain", "ip", "asn", or NULL for a pattern. */
const char *mw_feed_type_name(int listfile_type);

int mw_strvec_push(struct mw_strvec *sv, const char *s);
/* Sort with strcmp and drop duplicates. */
void mw_strvec_sort_uniq(struct mw_strvec *sv);
bool mw_strvec_contains(const struct mw_strvec *sorted, const char *s);
void mw_strvec_free(struct mw_strvec *sv);

/* ---- commands: argc/argv start at the command name; return an exit code ---- */
int mw_feed_cmd_push(struct mw_feed *f, int argc, char **argv); /* also "diff" */
int mw_feed_cmd_edit(struct mw_feed *f, int argc, char **argv); /* "add" and "del" */
int mw_feed_cmd_rm(struct mw_feed *f, int argc, char **argv);
int mw_feed_cmd_validate(int argc, char **argv);
int mw_feed_cmd_hits(struct mw_feed *f, int argc, char **argv);
