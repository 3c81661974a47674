/* minewall-feed: command line, the Redis connection (hiredis, synchronous), the helpers the
 * commands share, and the read-only commands ls, show and history. The schema and the exit
 * codes are described in feedcmd.h. The tool holds one blocking connection with a connect
 * timeout and a command timeout, so no command can hang for ever on a dead server. */
#include "minewall/feedcmd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minewall/dname.h"
#include "minewall/listfile.h"
#include "minewall/netaddr.h"
#include "minewall/rreply.h"

#define DEFAULT_URL "redis://127.0.0.1:6379"
#define CONNECT_TIMEOUT_S 5
/* Generous: SSCAN of a large set and EXEC of a 1000-entry batch are quick, a dead server is
 * not; without a timeout a stalled server would hang the tool. */
#define COMMAND_TIMEOUT_S 30

static void usage(FILE *out)
{
    fprintf(out,
            "usage: minewall-feed [--redis URL] COMMAND ...\n"
            "\n"
            "  push NAME FILE [--category C] [--action A] [--type T] [--format F]\n"
            "                 [--description D] [--dry-run] [--skip-bad] [--force]\n"
            "                        publish FILE as list NAME: add and remove entries in\n"
            "                        atomic batches, print +added -removed =kept; a change\n"
            "                        of category, action, type or description reaches the\n"
            "                        resolvers with the entries\n"
            "  diff NAME FILE [--type T] [--format F]\n"
            "                        what push would do: +entry / -entry lines and summary\n"
            "  add NAME ENTRY... [--category C] [--action A] [--type T] [--description D]\n"
            "  del NAME ENTRY...     change single entries in one transaction\n"
            "  rm NAME [--force]     retire a list: resolvers drop it (--force: also a list\n"
            "                        whose keys vanished, which resolvers keep as stale)\n"
            "  ls                    every list: entries, category, action, type, update\n"
            "  show NAME             meta and all entries of a list\n"
            "  validate FILE [--format F] [--type T]\n"
            "                        parse only (no Redis); exit 1 when a line is bad\n"
            "  history NAME [-n N]   the last N (20) changes from the list's log\n"
            "  hits [NAME] [--since 1h]\n"
            "                        block hits per list and rule from %s,\n"
            "                        and the entries never hit (since: 30s, 15m, 1h, 2d)\n"
            "\n"
            "  --redis URL  redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]\n"
            "               (default $MINEWALL_REDIS_URL, else " DEFAULT_URL ")\n"
            "\n"
            "Entries are stored normalised: lowercase names without the trailing dot (a name\n"
            "blocks itself and every name below it), addresses bare (192.0.2.1) and prefixes\n"
            "as ADDR/LEN (10.0.0.0/8), AS numbers as AS13335. Types: domain, ip, asn.\n"
            "Actions: default, sinkhole, nxdomain, nodata, refused, drop, log.\n"
            "push refuses a file with bad lines unless --skip-bad, and emptying a list or\n"
            "changing its type unless --force (--allow-empty: emptying only).\n"
            "Exit: 0 ok, 1 bad input or unknown list, 2 Redis error, 64 usage.\n",
            MW_FEED_KEY_EVENTS);
}

/* ---- strings ---- */

int mw_strvec_push(struct mw_strvec *sv, const char *s)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 64;
        char **v = realloc(sv->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        sv->v = v;
        sv->cap = cap;
    }
    char *d = strdup(s);
    if (!d)
        return -ENOMEM;
    sv->v[sv->n++] = d;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void mw_strvec_sort_uniq(struct mw_strvec *sv)
{
    if (sv->n < 2)
        return;
    qsort(sv->v, sv->n, sizeof(*sv->v), cmp_str);
    size_t w = 1;
    for (size_t i = 1; i < sv->n; i++) {
        if (strcmp(sv->v[i], sv->v[w - 1]) == 0)
            free(sv->v[i]);
        else
            sv->v[w++] = sv->v[i];
    }
    sv->n = w;
}

bool mw_strvec_contains(const struct mw_strvec *sorted, const char *s)
{
    return sorted->n && bsearch(&s, sorted->v, sorted->n, sizeof(*sorted->v), cmp_str);
}

void mw_strvec_free(struct mw_strvec *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    memset(sv, 0, sizeof(*sv));
}

const char *mw_feed_type_name(int t)
{
    switch (t) {
    case MW_LISTFILE_ENTRY_DOMAIN:
        return "domain";
    case MW_LISTFILE_ENTRY_IP:
        return "ip";
    case MW_LISTFILE_ENTRY_ASN:
        return "asn";
    default:
        return NULL;
    }
}

int mw_feed_entry_text(const struct mw_listfile_entry *e, char *buf, size_t cap)
{
    switch (e->type) {
    case MW_LISTFILE_ENTRY_DOMAIN: {
        int n = mw_dname_to_text(e->name, e->name_len, buf, cap);
        return n < 0 ? n : 0;
    }
    case MW_LISTFILE_ENTRY_IP: {
        int rc = mw_cidr_format(&e->cidr, buf, cap);
        if (rc < 0)
            return rc;
        /* A host is written bare so "192.0.2.1" and "192.0.2.1/32" are one member. */
        unsigned full = e->cidr.family == AF_INET ? 32 : 128;
        if (e->cidr.prefix == full) {
            char *slash = strrchr(buf, '/');
            if (slash)
                *slash = '\0';
        }
        return 0;
    }
    case MW_LISTFILE_ENTRY_ASN: {
        int n = snprintf(buf, cap, "AS%u", (unsigned)e->asn);
        return (n < 0 || (size_t)n >= cap) ? -ENOSPC : 0;
    }
    default:
        return -ENOTSUP;
    }
}

void mw_feed_key(char *key, size_t cap, const char *name, const char *suffix)
{
    snprintf(key, cap, "minewall:list:{%s}:%s", name, suffix);
}

bool mw_feed_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > MW_FEED_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

void mw_feed_time_text(long long t, char *buf, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t <= 0 || !gmtime_r(&tt, &tm)) {
        snprintf(buf, cap, "-");
        return;
    }
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* ---- URL and connection ---- */

void mw_feed_report(struct mw_feed *f, const char *what, const void *reply)
{
    const char *err = mw_rreply_error(reply);
    if (err)
        fprintf(stderr, "minewall-feed: %s: %s: %s\n", f->url.shown, what, err);
    else if (f->rc && f->rc->err)
        fprintf(stderr, "minewall-feed: %s: %s: %s\n", f->url.shown, what, f->rc->errstr);
    else
        fprintf(stderr, "minewall-feed: %s: %s: unexpected reply\n", f->url.shown, what);
}

void *mw_feed_argv(struct mw_feed *f, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(f->rc, argc, argv, NULL);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        mw_feed_report(f, argv[0], r);
        if (r)
            freeReplyObject(r);
        return NULL;
    }
    return r;
}

static bool is_auth_error(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR &&
           (strncmp(r->str, "NOAUTH", 6) == 0 || strncmp(r->str, "WRONGPASS", 9) == 0 ||
            strstr(r->str, "invalid password") || strstr(r->str, "invalid username"));
}

int mw_feed_connect(struct mw_feed *f)
{
    if (f->rc)
        return 0;
    struct timeval tv = {.tv_sec = CONNECT_TIMEOUT_S};
    redisContext *c = redisConnectWithTimeout(f->url.host, f->url.port, tv);
    if (!c || c->err) {
        fprintf(stderr, "minewall-feed: cannot connect to %s: %s\n", f->url.shown,
                c ? c->errstr : "out of memory");
        redisFree(c);
        return -ECONNREFUSED;
    }
    f->rc = c;
    struct timeval ctv = {.tv_sec = COMMAND_TIMEOUT_S};
    redisSetTimeout(c, ctv);
    int rc = 0;
    redisReply *r = NULL;
    if (f->url.pass[0]) {
        const char *av[3] = {"AUTH", f->url.user[0] ? f->url.user : f->url.pass, f->url.pass};
        r = redisCommandArgv(c, f->url.user[0] ? 3 : 2, av, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "minewall-feed: %s: authentication failed: %s\n", f->url.shown,
                    r ? r->str : c->errstr);
            rc = -EACCES;
            goto out;
        }
        freeReplyObject(r);
    }
    /* PING before SELECT: a server with a password we were not given answers NOAUTH. */
    r = redisCommand(c, "PING");
    if (is_auth_error(r)) {
        fprintf(stderr,
                "minewall-feed: %s: authentication failed: %s (give the password as "
                "redis://:PASSWORD@HOST:PORT)\n",
                f->url.shown, r->str);
        rc = -EACCES;
        goto out;
    }
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "minewall-feed: cannot connect to %s: %s\n", f->url.shown,
                r ? r->str : c->errstr);
        rc = -EIO;
        goto out;
    }
    freeReplyObject(r);
    r = NULL;
    if (f->url.db) {
        r = redisCommand(c, "SELECT %d", f->url.db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            mw_feed_report(f, "SELECT", r);
            rc = -EIO;
            goto out;
        }
    }
out:
    if (r)
        freeReplyObject(r);
    if (rc < 0)
        mw_feed_disconnect(f);
    return rc;
}

void mw_feed_disconnect(struct mw_feed *f)
{
    if (f->rc)
        redisFree(f->rc);
    f->rc = NULL;
}

/* ---- shared readers ---- */

static void copy_field(char *dst, size_t cap, const redisReply *kv, const char *name)
{
    const char *v = mw_rreply_field(kv, name);
    if (v)
        snprintf(dst, cap, "%s", v);
}

int mw_feed_meta_load(struct mw_feed *f, const char *name, struct mw_feed_meta *m)
{
    memset(m, 0, sizeof(*m));
    char key[128];
    mw_feed_key(key, sizeof(key), name, "meta");
    redisAppendCommand(f->rc, "HGETALL %s", key);
    redisAppendCommand(f->rc, "SISMEMBER %s %s", MW_FEED_KEY_LISTS, name);
    redisReply *h = NULL, *s = NULL;
    long long member = 0;
    int rc = 0;
    if (redisGetReply(f->rc, (void **)&h) != REDIS_OK ||
        redisGetReply(f->rc, (void **)&s) != REDIS_OK || mw_rreply_hash(h) < 0 ||
        !mw_rreply_integer(s, &member)) {
        mw_feed_report(f, "HGETALL", mw_rreply_error(h) ? h : s);
        rc = -EIO;
        goto out;
    }
    m->exists = mw_rreply_hash(h) > 0 || member == 1;
    copy_field(m->category, sizeof(m->category), h, "category");
    copy_field(m->action, sizeof(m->action), h, "action");
    copy_field(m->type, sizeof(m->type), h, "type");
    copy_field(m->description, sizeof(m->description), h, "description");
    const char *updated = mw_rreply_field(h, "updated");
    if (updated)
        m->updated = strtoll(updated, NULL, 10);
out:
    if (h)
        freeReplyObject(h);
    if (s)
        freeReplyObject(s);
    return rc;
}

int mw_feed_set_load(struct mw_feed *f, const char *key, struct mw_strvec *out)
{
    char cursor[32] = "0";
    do {
        const char *av[] = {"SSCAN", key, cursor, "COUNT", "1000"};
        redisReply *r = mw_feed_argv(f, 5, av);
        if (!r)
            return -EIO;
        const char *next;
        int n = mw_rreply_sscan(r, &next);
        if (n < 0) {
            mw_feed_report(f, "SSCAN", NULL);
            freeReplyObject(r);
            return -EIO;
        }
        snprintf(cursor, sizeof(cursor), "%s", next);
        for (int i = 0; i < n; i++) {
            const char *item = mw_rreply_sscan_item(r, (size_t)i);
            if (item && mw_strvec_push(out, item) < 0) {
                freeReplyObject(r);
                fprintf(stderr, "minewall-feed: out of memory\n");
                return -ENOMEM;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    /* SSCAN may return a member twice when the set is rehashed during the scan. */
    mw_strvec_sort_uniq(out);
    return 0;
}

/* ---- ls, show, history ---- */

static int cmd_ls(struct mw_feed *f)
{
    struct mw_strvec names = {0};
    int ex = MW_FEED_EXIT_REDIS;
    if (mw_feed_set_load(f, MW_FEED_KEY_LISTS, &names) < 0)
        goto out;
    printf("%-24s %9s  %-16s %-9s %-6s %s\n", "NAME", "ENTRIES", "CATEGORY", "ACTION", "TYPE",
           "UPDATED");
    for (size_t i = 0; i < names.n; i++) {
        char key[128];
        mw_feed_key(key, sizeof(key), names.v[i], "entries");
        redisReply *r = redisCommand(f->rc, "SCARD %s", key);
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            mw_feed_report(f, "SCARD", r);
            if (r)
                freeReplyObject(r);
            goto out;
        }
        long long count = r->integer;
        freeReplyObject(r);
        struct mw_feed_meta m;
        if (mw_feed_meta_load(f, names.v[i], &m) < 0)
            goto out;
        char when[64];
        mw_feed_time_text(m.updated, when, sizeof(when));
        printf("%-24s %9lld  %-16s %-9s %-6s %s\n", names.v[i], count,
               m.category[0] ? m.category : "-", m.action[0] ? m.action : "-",
               m.type[0] ? m.type : "-", when);
    }
    ex = MW_FEED_EXIT_OK;
out:
    mw_strvec_free(&names);
    return ex;
}

/* Load meta and fail with exit 1 when the list is unknown. */
static int known_list(struct mw_feed *f, const char *name, struct mw_feed_meta *m)
{
    if (!mw_feed_name_ok(name)) {
        fprintf(stderr, "minewall-feed: invalid list name '%s'\n", name);
        return MW_FEED_EXIT_USAGE;
    }
    if (mw_feed_connect(f) < 0)
        return MW_FEED_EXIT_REDIS;
    if (mw_feed_meta_load(f, name, m) < 0)
        return MW_FEED_EXIT_REDIS;
    if (!m->exists) {
        fprintf(stderr, "minewall-feed: unknown list '%s' (not in %s)\n", name, MW_FEED_KEY_LISTS);
        return MW_FEED_EXIT_DATA;
    }
    return MW_FEED_EXIT_OK;
}

/* Header lines start with '#' so the output is itself a plain list file. */
static int cmd_show(struct mw_feed *f, const char *name)
{
    struct mw_feed_meta m;
    int ex = known_list(f, name, &m);
    if (ex != MW_FEED_EXIT_OK)
        return ex;
    struct mw_strvec ents = {0};
    char key[128], when[64];
    mw_feed_key(key, sizeof(key), name, "entries");
    if (mw_feed_set_load(f, key, &ents) < 0) {
        mw_strvec_free(&ents);
        return MW_FEED_EXIT_REDIS;
    }
    mw_feed_time_text(m.updated, when, sizeof(when));
    printf("# list: %s\n# category: %s\n# action: %s\n# type: %s\n# description: %s\n"
           "# updated: %s\n# entries: %zu\n",
           name, m.category, m.action, m.type, m.description, when, ents.n);
    for (size_t i = 0; i < ents.n; i++)
        printf("%s\n", ents.v[i]);
    mw_strvec_free(&ents);
    return MW_FEED_EXIT_OK;
}

static void print_record(const redisReply *recs, size_t i)
{
    const char *id;
    const redisReply *fields;
    if (mw_rreply_record(recs, i, &id, &fields) < 0)
        return;
    const char *op = mw_rreply_field(fields, "op");
    const char *es = mw_rreply_field(fields, "entries");
    if (!es)
        es = "";
    size_t count = 0;
    const char *cut = NULL;
    for (const char *p = es; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (++count == 6)
            cut = p;
        while (*p && *p != ' ')
            p++;
    }
    char when[64], meta[700] = "";
    mw_feed_time_text(strtoll(id, NULL, 10) / 1000, when, sizeof(when));
    if (op && strcmp(op, "meta") == 0) {
        const char *cat = mw_rreply_field(fields, "category");
        const char *act = mw_rreply_field(fields, "action");
        const char *typ = mw_rreply_field(fields, "type");
        snprintf(meta, sizeof(meta), "category=%.128s action=%.32s type=%.16s", cat ? cat : "",
                 act ? act : "", typ ? typ : "");
        es = meta;
    }
    int shown = cut ? (int)(cut - es) : (int)strlen(es);
    printf("%-17s %s  %-3s %6zu  %.*s%s\n", id, when, op ? op : "?", count, shown, es,
           cut ? "..." : "");
}

static int cmd_history(struct mw_feed *f, const char *name, long n)
{
    struct mw_feed_meta m;
    int ex = known_list(f, name, &m);
    if (ex != MW_FEED_EXIT_OK)
        return ex;
    char key[128], cnt[24];
    mw_feed_key(key, sizeof(key), name, "log");
    snprintf(cnt, sizeof(cnt), "%ld", n);
    const char *av[] = {"XREVRANGE", key, "+", "-", "COUNT", cnt};
    redisReply *r = mw_feed_argv(f, 6, av);
    if (!r)
        return MW_FEED_EXIT_REDIS;
    if (!mw_rreply_is_array(r)) {
        mw_feed_report(f, "XREVRANGE", NULL);
        freeReplyObject(r);
        return MW_FEED_EXIT_REDIS;
    }
    printf("%-17s %-23s  %-3s %6s  %s\n", "ID", "TIME", "OP", "COUNT", "ENTRIES");
    for (size_t i = mw_rreply_records(r); i > 0; i--)
        print_record(r, i - 1);
    freeReplyObject(r);
    return MW_FEED_EXIT_OK;
}

/* ---- main ---- */

static int need_args(int argc, int want, const char *cmd)
{
    if (argc >= want)
        return 0;
    fprintf(stderr, "minewall-feed: %s: missing arguments\n", cmd);
    usage(stderr);
    return -EINVAL;
}

static int history_main(struct mw_feed *f, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    long n = 20;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        if (c == 'n') {
            char *e;
            n = strtol(optarg, &e, 10);
            if (*e || n < 1 || n > 1000000) {
                fprintf(stderr, "minewall-feed: history: bad -n '%s'\n", optarg);
                return MW_FEED_EXIT_USAGE;
            }
        } else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? MW_FEED_EXIT_OK : MW_FEED_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "minewall-feed: usage: history NAME [-n N]\n");
        return MW_FEED_EXIT_USAGE;
    }
    return cmd_history(f, argv[optind], n);
}

static int dispatch(struct mw_feed *f, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "push") == 0 || strcmp(cmd, "diff") == 0)
        return mw_feed_cmd_push(f, argc, argv);
    if (strcmp(cmd, "add") == 0 || strcmp(cmd, "del") == 0)
        return mw_feed_cmd_edit(f, argc, argv);
    if (strcmp(cmd, "rm") == 0)
        return mw_feed_cmd_rm(f, argc, argv);
    if (strcmp(cmd, "validate") == 0)
        return mw_feed_cmd_validate(argc, argv);
    if (strcmp(cmd, "hits") == 0)
        return mw_feed_cmd_hits(f, argc, argv);
    if (strcmp(cmd, "history") == 0)
        return history_main(f, argc, argv);
    if (strcmp(cmd, "ls") == 0) {
        if (argc != 1) {
            fprintf(stderr, "minewall-feed: ls takes no arguments\n");
            return MW_FEED_EXIT_USAGE;
        }
        return mw_feed_connect(f) < 0 ? MW_FEED_EXIT_REDIS : cmd_ls(f);
    }
    if (strcmp(cmd, "show") == 0) {
        if (argc != 2) {
            fprintf(stderr, "minewall-feed: usage: show NAME\n");
            return MW_FEED_EXIT_USAGE;
        }
        return cmd_show(f, argv[1]);
    }
    fprintf(stderr, "minewall-feed: unknown command '%s'\n", cmd);
    usage(stderr);
    return MW_FEED_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"redis", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {0},
    };
    const char *url = getenv("MINEWALL_REDIS_URL");
    if (!url || !*url)
        url = DEFAULT_URL;
    int c;
    /* '+': stop at the command, whose own options are parsed by the command. */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            url = optarg;
            break;
        case 'h':
            usage(stdout);
            return MW_FEED_EXIT_OK;
        case 'V':
            printf("minewall-feed %s\n", MW_VERSION);
            return MW_FEED_EXIT_OK;
        default:
            usage(stderr);
            return MW_FEED_EXIT_USAGE;
        }
    }
    if (need_args(argc - optind, 1, "command") < 0)
        return MW_FEED_EXIT_USAGE;
    struct mw_feed f = {0};
    char why[128];
    if (mw_redis_url_parse(url, &f.url, why, sizeof(why)) < 0) {
        /* The reason only: the URL may carry a password. */
        fprintf(stderr, "minewall-feed: bad Redis URL: %s\n", why);
        return MW_FEED_EXIT_USAGE;
    }
    int ex = dispatch(&f, argc - optind, argv + optind);
    mw_feed_disconnect(&f);
    if (fflush(stdout) != 0 && ex == MW_FEED_EXIT_OK)
        ex = MW_FEED_EXIT_DATA;
    return ex;
}
