/* minewall-feed push, diff, add, del and validate: list files and command-line entries
 * parsed with the resolver's own parsers (listfile.c), normalised (mw_feed_entry_text),
 * compared with the entries SET and applied in MULTI/EXEC transactions that change the SET,
 * append the log record for exactly that change and refresh the meta hash together.
 *
 * push applies additions before removals, so a reader never sees a name missing that both the
 * old and the new list block. It does not WATCH: two pushes to one list at once are a
 * maintainer error, and each batch stays consistent with its own log record anyway. add/del
 * are small and WATCH the SET, so their log records only name entries that really changed. */
#include "minewall/feedcmd.h"

#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minewall/config.h"
#include "minewall/error.h"
#include "minewall/listfile.h"

#define EDIT_RETRIES 5

/* The actions the resolver knows (config_lists.c action_names). */
static const char *const actions[] = {"default", "sinkhole", "nxdomain", "nodata",
                                      "refused", "drop",     "log"};

static bool action_ok(const char *a)
{
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(a, actions[i]) == 0)
            return true;
    return false;
}

/* MW_LISTFILE_ENTRY_* for "domain", "ip", "asn"; -1 otherwise. */
static int type_parse(const char *s)
{
    for (int t = MW_LISTFILE_ENTRY_DOMAIN; t <= MW_LISTFILE_ENTRY_ASN; t++)
        if (strcmp(s, mw_feed_type_name(t)) == 0)
            return t;
    return -1;
}

/* ---- parsing a file ---- */

struct parsed {
    struct mw_strvec by_type[3]; /* indexed by MW_LISTFILE_ENTRY_DOMAIN/IP/ASN */
    size_t exceptions;           /* allow rules: not representable in a block list */
    size_t patterns;             /* globs: not part of the Redis schema */
    size_t widened;              /* exact or wildcard-only name rules stored as subtrees */
    struct mw_listfile_report rep;
    struct mw_errlist errs;
};

static int collect(const struct mw_listfile_entry *e, void *arg)
{
    struct parsed *p = arg;
    if (e->allow) {
        p->exceptions++;
        return 0;
    }
    char text[MW_FEED_ENTRY_MAX];
    int rc = mw_feed_entry_text(e, text, sizeof(text));
    if (rc == -ENOTSUP) {
        p->patterns++;
        return 0;
    }
    if (rc < 0)
        return rc;
    if (e->type == MW_LISTFILE_ENTRY_DOMAIN && e->kind != MW_LISTFILE_SUBTREE)
        p->widened++;
    return mw_strvec_push(&p->by_type[e->type], text);
}

static void parsed_free(struct parsed *p)
{
    for (int t = 0; t < 3; t++)
        mw_strvec_free(&p->by_type[t]);
    mw_errlist_deinit(&p->errs);
}

/* Parse path; bad lines go to stderr. Returns 0 or a negative errno (message printed). */
static int parse_path(const char *path, enum mw_listfile_format fmt, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    mw_errlist_init(&p->errs);
    int rc = mw_listfile_parse_file(path, fmt, collect, p, &p->rep, &p->errs);
    for (size_t i = 0; i < p->errs.n; i++)
        fprintf(stderr, "%s\n", p->errs.msgs[i]);
    if (rc == -ENOMEM)
        fprintf(stderr, "minewall-feed: %s: out of memory\n", path);
    for (int t = 0; t < 3; t++)
        mw_strvec_sort_uniq(&p->by_type[t]);
    return rc;
}

/* The list type: given, else the list's, else from the file. */
static int pick_type(const char *given, const char *meta_type, const struct parsed *p)
{
    if (given && *given)
        return type_parse(given);
    if (meta_type && *meta_type)
        return type_parse(meta_type);
    if (p->rep.format == MW_LISTFILE_FMT_IP)
        return MW_LISTFILE_ENTRY_IP;
    if (p->rep.format == MW_LISTFILE_FMT_ASN)
        return MW_LISTFILE_ENTRY_ASN;
    if (p->by_type[MW_LISTFILE_ENTRY_DOMAIN].n == 0 && p->by_type[MW_LISTFILE_ENTRY_IP].n > 0)
        return MW_LISTFILE_ENTRY_IP;
    return MW_LISTFILE_ENTRY_DOMAIN;
}

static void print_notes(FILE *out, const char *prefix, const struct parsed *p, int type)
{
    for (int t = 0; t < 3; t++)
        if (t != type && p->by_type[t].n)
            fprintf(out, "%s%zu distinct %s entries skipped: the list holds %s entries\n", prefix,
                    p->by_type[t].n, mw_feed_type_name(t), mw_feed_type_name(type));
    if (p->exceptions)
        fprintf(out, "%s%zu exception rules skipped: not representable in a block list\n", prefix,
                p->exceptions);
    if (p->patterns)
        fprintf(out, "%s%zu pattern rules skipped: not part of the feed schema\n", prefix,
                p->patterns);
    if (p->widened && type == MW_LISTFILE_ENTRY_DOMAIN)
        fprintf(out, "%s%zu exact or wildcard-only rules stored as subtrees\n", prefix, p->widened);
    for (int r = 0; r < MW_LISTFILE_SKIP_N; r++)
        if (p->rep.skip[r])
            fprintf(out, "%s%zu rules skipped: %s\n", prefix, p->rep.skip[r],
                    mw_listfile_skip_name((enum mw_listfile_skip)r));
}

/* ---- transactions ---- */

struct txcmd {
    int argc;
    const char **argv; /* borrowed */
};

/* MULTI, the commands, EXEC, pipelined in one write. Returns 0, -EAGAIN when a WATCHed key
 * changed (nothing applied), or -EIO after printing the error. A command failing inside EXEC
 * (WRONGTYPE) is reported; Redis has applied the others, as it never rolls back. */
static int exec_tx(struct mw_feed *f, const struct txcmd *cmds, size_t n)
{
    redisAppendCommand(f->rc, "MULTI");
    for (size_t i = 0; i < n; i++)
        redisAppendCommandArgv(f->rc, cmds[i].argc, cmds[i].argv, NULL);
    redisAppendCommand(f->rc, "EXEC");
    int rc = 0;
    for (size_t i = 0; i < n + 2; i++) {
        redisReply *r = NULL;
        if (redisGetReply(f->rc, (void **)&r) != REDIS_OK) {
            mw_feed_report(f, "EXEC", NULL);
            return -EIO; /* the connection is dead: no more replies to read */
        }
        if (r->type == REDIS_REPLY_ERROR && rc == 0) {
            mw_feed_report(f, i == 0 ? "MULTI" : i <= n ? cmds[i - 1].argv[0] : "EXEC", r);
            rc = -EIO;
        } else if (i == n + 1 && rc == 0) {
            if (r->type == REDIS_REPLY_NIL) {
                rc = -EAGAIN;
            } else if (r->type == REDIS_REPLY_ARRAY) {
                for (size_t j = 0; j < r->elements && j < n; j++) {
                    if (r->element[j]->type == REDIS_REPLY_ERROR) {
                        mw_feed_report(f, cmds[j].argv[0], r->element[j]);
                        rc = -EIO;
                        break;
                    }
                }
            }
        }
        freeReplyObject(r);
    }
    return rc;
}

/* "e1 e2 ..." for the log record. Returns malloc'ed text or NULL. */
static char *join(char *const *ents, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(ents[i]) + 1;
    char *s = malloc(len), *w = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ents[i]);
        if (i)
            *w++ = ' ';
        memcpy(w, ents[i], l);
        w += l;
    }
    *w = '\0';
    return s;
}

/* What a change writes besides the SET: the list's meta (every field set) and its name.
 * meta_changed: category, action, type or description differ from Redis, so the transaction
 * that carries it also appends a "meta" record to the list's log (how resolvers learn it, in
 * order with the entries) and a catalog record ("create" for a new list). */
struct change {
    const char *name;
    const char *category, *action, *type, *description;
    bool is_new, meta_changed;
    char keys[3][128]; /* entries, log, meta */
    char now[24];
};

static void change_init(struct change *c, const char *name)
{
    memset(c, 0, sizeof(*c));
    c->name = name;
    mw_feed_key(c->keys[0], sizeof(c->keys[0]), name, "entries");
    mw_feed_key(c->keys[1], sizeof(c->keys[1]), name, "log");
    mw_feed_key(c->keys[2], sizeof(c->keys[2]), name, "meta");
    snprintf(c->now, sizeof(c->now), "%lld", (long long)time(NULL));
}

/* Entries of one op in a transaction. */
struct seg {
    const char *op; /* "add" or "del" */
    char *const *ents;
    size_t n;
};

/* What a transaction carries besides entries (when the meta changed). */
enum {
    TX_META = 1,    /* every meta field, and the log's "meta" record */
    TX_CATALOG = 2, /* the catalog record */
};

/* One transaction: for each segment, SADD (op "add") or SREM ("del") of its entries and
 * their log records in chunks of MW_FEED_BATCH; then the meta's "updated" and the name.
 * Segments may be empty (meta only). what (TX_*): the meta fields and, when they changed,
 * the log's "meta" record (after the entries' records, so a resolver applies them as one
 * version) and the catalog record. */
static int apply_segs(struct mw_feed *f, const struct change *c, const struct seg *segs,
                      size_t nsegs, unsigned what)
{
    bool with_meta = what & TX_META;
    size_t nlog = 0, nents = 0;
    for (size_t s = 0; s < nsegs; s++) {
        nlog += (segs[s].n + MW_FEED_BATCH - 1) / MW_FEED_BATCH;
        nents += segs[s].n;
    }
    struct txcmd *cmds = calloc(nsegs + nlog + 6, sizeof(*cmds));
    const char **setv = malloc((nents + 2 * nsegs + 1) * sizeof(*setv));
    const char **xv = calloc(nlog * 10 + 1, sizeof(*xv));
    char **joined = calloc(nlog + 1, sizeof(*joined));
    int rc = -ENOMEM;
    size_t nc = 0, b = 0;
    const char **sv = setv;
    if (!cmds || !setv || !xv || !joined)
        goto out;
    for (size_t s = 0; s < nsegs; s++) {
        size_t n = segs[s].n;
        if (!n)
            continue;
        sv[0] = strcmp(segs[s].op, "add") == 0 ? "SADD" : "SREM";
        sv[1] = c->keys[0];
        memcpy(sv + 2, segs[s].ents, n * sizeof(*sv));
        cmds[nc++] = (struct txcmd){(int)n + 2, sv};
        sv += n + 2;
        for (size_t from = 0; from < n; from += MW_FEED_BATCH, b++) {
            size_t cnt = n - from < MW_FEED_BATCH ? n - from : MW_FEED_BATCH;
            if (!(joined[b] = join(segs[s].ents + from, cnt)))
                goto out;
            const char **x = xv + b * 10;
            const char *args[] = {"XADD", c->keys[1], "MAXLEN",   "~",       MW_FEED_LOG_MAXLEN,
                                  "*",    "op",       segs[s].op, "entries", joined[b]};
            memcpy(x, args, sizeof(args));
            cmds[nc++] = (struct txcmd){10, x};
        }
    }
    const char *hv[12] = {"HSET", c->keys[2], "updated", c->now};
    int hn = 4;
    const char *const fields[] = {"category", "action", "type", "description"};
    const char *const vals[] = {c->category, c->action, c->type, c->description};
    for (int i = 0; with_meta && i < 4; i++) {
        hv[hn++] = fields[i];
        hv[hn++] = vals[i] ? vals[i] : "";
    }
    cmds[nc++] = (struct txcmd){hn, hv};
    /* The meta record carries every field, so replaying it is idempotent. */
    const char *mv[] = {"XADD", c->keys[1], "MAXLEN",      "~",    MW_FEED_LOG_MAXLEN, "*",
                        "op",   "meta",     "category",    hv[5],  "action",           hv[7],
                        "type", hv[9],      "description", hv[11], "updated",          c->now};
    const char *cv[] = {
        "XADD", MW_FEED_KEY_CATALOG,           "MAXLEN", "~",    MW_FEED_CATALOG_MAXLEN, "*",
        "op",   c->is_new ? "create" : "meta", "list",   c->name};
    const char *pv[] = {"PERSIST", c->keys[1]};
    if (with_meta && c->meta_changed) {
        cmds[nc++] = (struct txcmd){18, mv};
        /* A list retired and published again: its log no longer expires. */
        cmds[nc++] = (struct txcmd){2, pv};
    }
    if ((what & TX_CATALOG) && c->meta_changed)
        cmds[nc++] = (struct txcmd){10, cv};
    const char *lv[] = {"SADD", MW_FEED_KEY_LISTS, c->name};
    cmds[nc++] = (struct txcmd){3, lv};
    rc = exec_tx(f, cmds, nc);
out:
    if (rc == -ENOMEM)
        fprintf(stderr, "minewall-feed: out of memory\n");
    for (size_t k = 0; joined && k < nlog; k++)
        free(joined[k]);
    free(joined);
    free(xv);
    free(setv);
    free(cmds);
    return rc;
}

/* One transaction of one op (see apply_segs). */
static int apply(struct mw_feed *f, const struct change *c, const char *op, char *const *ents,
                 size_t n, unsigned what)
{
    const struct seg seg = {op, ents, n};
    return apply_segs(f, c, &seg, 1, what);
}

/* ---- push and diff ---- */

struct push_opts {
    const char *category, *action, *type, *description;
    enum mw_listfile_format format;
    bool dry_run, skip_bad, allow_empty, force;
};

enum { OPT_DRY = 256, OPT_SKIP_BAD, OPT_ALLOW_EMPTY, OPT_FORCE };

static int push_args(int argc, char **argv, struct push_opts *o, int *first)
{
    static const struct option opts[] = {
        {"category", required_argument, NULL, 'c'},
        {"action", required_argument, NULL, 'a'},
        {"type", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},
        {"description", required_argument, NULL, 'd'},
        {"dry-run", no_argument, NULL, OPT_DRY},
        {"skip-bad", no_argument, NULL, OPT_SKIP_BAD},
        {"allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY},
        {"force", no_argument, NULL, OPT_FORCE},
        {0},
    };
    memset(o, 0, sizeof(*o));
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "c:a:t:f:d:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->category = optarg;
            break;
        case 'a':
            o->action = optarg;
            break;
        case 't':
            o->type = optarg;
            break;
        case 'd':
            o->description = optarg;
            break;
        case 'f':
            if (mw_listfile_format_parse(optarg, &o->format) < 0) {
                fprintf(stderr, "minewall-feed: unknown format '%s'\n", optarg);
                return -EINVAL;
            }
            break;
        case OPT_DRY:
            o->dry_run = true;
            break;
        case OPT_SKIP_BAD:
            o->skip_bad = true;
            break;
        case OPT_ALLOW_EMPTY:
            o->allow_empty = true;
            break;
        case OPT_FORCE:
            o->force = true;
            break;
        default:
            return -EINVAL;
        }
    }
    if (o->type && type_parse(o->type) < 0) {
        fprintf(stderr, "minewall-feed: unknown type '%s' (domain, ip or asn)\n", o->type);
        return -EINVAL;
    }
    if (o->action && !action_ok(o->action)) {
        fprintf(stderr, "minewall-feed: unknown action '%s'\n", o->action);
        return -EINVAL;
    }
    if (o->description &&
        strlen(o->description) >= sizeof(((struct mw_feed_meta *)0)->description)) {
        fprintf(stderr, "minewall-feed: --description longer than %zu bytes\n",
                sizeof(((struct mw_feed_meta *)0)->description) - 1);
        return -EINVAL;
    }
    if (o->category && !*o->category) {
        fprintf(stderr, "minewall-feed: empty --category\n");
        return -EINVAL;
    }
    if (o->category && strlen(o->category) > MW_CATEGORY_MAX) {
        /* resolvers refuse a list whose category is longer */
        fprintf(stderr, "minewall-feed: --category is longer than %d bytes\n", MW_CATEGORY_MAX);
        return -EINVAL;
    }
    *first = optind;
    return 0;
}

/* Merge the sorted file and Redis sets: add = want - have, del = have - want. Borrowed
 * pointers. When show, print "+e" / "-e" in entry order. */
struct plan {
    char **add, **del;
    size_t nadd, ndel, kept;
};

static int plan_make(const struct mw_strvec *want, const struct mw_strvec *have, bool show,
                     struct plan *p)
{
    memset(p, 0, sizeof(*p));
    p->add = malloc((want->n + 1) * sizeof(char *));
    p->del = malloc((have->n + 1) * sizeof(char *));
    if (!p->add || !p->del)
        return -ENOMEM;
    size_t i = 0, j = 0;
    while (i < want->n || j < have->n) {
        int cmp = i == want->n ? 1 : j == have->n ? -1 : strcmp(want->v[i], have->v[j]);
        if (cmp < 0) {
            if (show)
                printf("+%s\n", want->v[i]);
            p->add[p->nadd++] = want->v[i++];
        } else if (cmp > 0) {
            if (show)
                printf("-%s\n", have->v[j]);
            p->del[p->ndel++] = have->v[j++];
        } else {
            p->kept++;
            i++;
            j++;
        }
    }
    return 0;
}

/* A push of up to MW_FEED_BATCH changes is one transaction. A larger one is applied in
 * batches, additions first; the meta goes with the first transaction of a new list (a list
 * has its meta before its first entry is visible) and with the last one of an existing list,
 * so a switch from "log" to "sinkhole" applies to the complete new entries at once. The
 * catalog record always goes with the last: a resolver that syncs a new list (or one back
 * from stale) on it gets it whole. */
static int apply_plan(struct mw_feed *f, const struct change *c, const struct plan *p)
{
    if (p->nadd + p->ndel <= MW_FEED_BATCH) {
        /* The common case: additions, removals and meta in one transaction, which resolvers
         * apply as one version. */
        const struct seg segs[] = {{"add", p->add, p->nadd}, {"del", p->del, p->ndel}};
        return apply_segs(f, c, segs, 2, TX_META | TX_CATALOG);
    }
    size_t nadd = (p->nadd + MW_FEED_BATCH - 1) / MW_FEED_BATCH;
    size_t ndel = (p->ndel + MW_FEED_BATCH - 1) / MW_FEED_BATCH;
    size_t total = nadd + ndel, k = 0, meta_at = c->is_new ? 0 : total - 1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->nadd; i += MW_FEED_BATCH, k++)
        rc = apply(f, c, "add", p->add + i,
                   p->nadd - i < MW_FEED_BATCH ? p->nadd - i : MW_FEED_BATCH,
                   (k == meta_at ? TX_META : 0) | (k == total - 1 ? TX_CATALOG : 0));
    for (size_t i = 0; rc == 0 && i < p->ndel; i += MW_FEED_BATCH, k++)
        rc = apply(f, c, "del", p->del + i,
                   p->ndel - i < MW_FEED_BATCH ? p->ndel - i : MW_FEED_BATCH,
                   (k == meta_at ? TX_META : 0) | (k == total - 1 ? TX_CATALOG : 0));
    return rc;
}

/* Fill c's meta from the options over the list's meta m, and say whether it changed. */
static void change_meta(struct change *c, const struct push_opts *o, const struct mw_feed_meta *m,
                        const char *type)
{
    c->category = o->category ? o->category : m->category;
    c->action = o->action ? o->action : m->action[0] ? m->action : "default";
    c->type = type;
    c->description = o->description ? o->description : m->description;
    c->is_new = !m->exists || !m->category[0];
    c->meta_changed = c->is_new || strcmp(c->category, m->category) != 0 ||
                      strcmp(c->action, m->action) != 0 || strcmp(c->type, m->type) != 0 ||
                      strcmp(c->description, m->description) != 0;
}

int mw_feed_cmd_push(struct mw_feed *f, int argc, char **argv)
{
    bool diff = strcmp(argv[0], "diff") == 0;
    struct push_opts o;
    int first;
    if (push_args(argc, argv, &o, &first) < 0)
        return MW_FEED_EXIT_USAGE;
    if (argc - first != 2) {
        fprintf(stderr, "minewall-feed: usage: %s NAME FILE [options] (see --help)\n", argv[0]);
        return MW_FEED_EXIT_USAGE;
    }
    const char *name = argv[first], *path = argv[first + 1];
    if (!mw_feed_name_ok(name)) {
        fprintf(stderr, "minewall-feed: invalid list name '%s' (1-%d of A-Z a-z 0-9 . _ -)\n", name,
                MW_FEED_NAME_MAX);
        return MW_FEED_EXIT_USAGE;
    }
    struct parsed p;
    struct mw_strvec have = {0};
    struct plan pl = {0};
    int ex = MW_FEED_EXIT_DATA;
    if (parse_path(path, o.format, &p) < 0)
        goto out;
    if (p.rep.bad && !o.skip_bad && !diff) {
        fprintf(stderr,
                "minewall-feed: %s: %zu bad lines; nothing pushed (--skip-bad publishes "
                "the rest)\n",
                path, p.rep.bad);
        goto out;
    }
    ex = MW_FEED_EXIT_REDIS;
    struct mw_feed_meta m;
    if (mw_feed_connect(f) < 0 || mw_feed_meta_load(f, name, &m) < 0)
        goto out;
    int type = pick_type(o.type, m.type, &p);
    if (type < 0) {
        fprintf(stderr, "minewall-feed: list '%s' has an unknown type '%s'\n", name, m.type);
        ex = MW_FEED_EXIT_DATA;
        goto out;
    }
    if (!diff && !m.category[0] && !o.category) {
        fprintf(stderr, "minewall-feed: list '%s' is new: --category is required\n", name);
        ex = MW_FEED_EXIT_USAGE;
        goto out;
    }
    print_notes(stderr, "minewall-feed: note: ", &p, type);
    const struct mw_strvec *want = &p.by_type[type];
    struct change c;
    change_init(&c, name);
    if (mw_feed_set_load(f, c.keys[0], &have) < 0)
        goto out;
    if (!diff && m.type[0] && strcmp(m.type, mw_feed_type_name(type)) != 0 && !o.force) {
        /* A new type replaces every entry: never by a mistyped option. */
        fprintf(stderr,
                "minewall-feed: list '%s' holds %s entries; changing its type to %s would "
                "replace its %zu entries: refusing without --force\n",
                name, m.type, mw_feed_type_name(type), have.n);
        ex = MW_FEED_EXIT_DATA;
        goto out;
    }
    if (!diff && want->n == 0 && have.n > 0 && !o.allow_empty && !o.force) {
        fprintf(stderr,
                "minewall-feed: %s has no %s entries; refusing to empty list '%s' "
                "(%zu entries) without --force (or --allow-empty)\n",
                path, mw_feed_type_name(type), name, have.n);
        ex = MW_FEED_EXIT_DATA;
        goto out;
    }
    if (plan_make(want, &have, diff, &pl) < 0) {
        fprintf(stderr, "minewall-feed: out of memory\n");
        goto out;
    }
    if (!diff && !o.dry_run) {
        change_meta(&c, &o, &m, mw_feed_type_name(type));
        if (apply_plan(f, &c, &pl) < 0)
            goto out;
    }
    printf("+%zu -%zu =%zu\n", pl.nadd, pl.ndel, pl.kept);
    if (o.dry_run)
        fprintf(stderr, "minewall-feed: dry run: nothing changed\n");
    ex = MW_FEED_EXIT_OK;
out:
    free(pl.add);
    free(pl.del);
    mw_strvec_free(&have);
    parsed_free(&p);
    return ex;
}

/* ---- add and del ---- */

/* Normalise the entries (all before any Redis access: a bad one applies nothing). */
static int edit_entries(int argc, char **argv, struct mw_strvec *out, int *type)
{
    int bad = 0;
    *type = -1;
    for (int i = 0; i < argc; i++) {
        struct mw_listfile_entry e;
        char why[256], text[MW_FEED_ENTRY_MAX];
        if (mw_listfile_parse_entry(argv[i], &e, why, sizeof(why)) < 0) {
            fprintf(stderr, "minewall-feed: bad entry '%s': %s\n", argv[i], why);
            bad++;
            continue;
        }
        if (mw_feed_entry_text(&e, text, sizeof(text)) < 0) {
            fprintf(stderr,
                    "minewall-feed: bad entry '%s': patterns are not part of the feed "
                    "schema\n",
                    argv[i]);
            bad++;
            continue;
        }
        if (*type >= 0 && (int)e.type != *type) {
            fprintf(stderr, "minewall-feed: bad entry '%s': type %s among %s entries\n", argv[i],
                    mw_feed_type_name(e.type), mw_feed_type_name(*type));
            bad++;
            continue;
        }
        *type = (int)e.type;
        if (mw_strvec_push(out, text) < 0)
            return -ENOMEM;
    }
    mw_strvec_sort_uniq(out);
    return bad ? -EINVAL : 0;
}

/* WATCH the SET and ask which entries are members; changed[] gets those to apply. */
static int edit_plan(struct mw_feed *f, const char *key, bool add, const struct mw_strvec *ents,
                     char **changed, size_t *nchanged)
{
    redisAppendCommand(f->rc, "WATCH %s", key);
    for (size_t i = 0; i < ents->n; i++)
        redisAppendCommand(f->rc, "SISMEMBER %s %s", key, ents->v[i]);
    *nchanged = 0;
    int rc = 0;
    for (size_t i = 0; i <= ents->n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(f->rc, (void **)&r) != REDIS_OK) {
            mw_feed_report(f, "SISMEMBER", NULL);
            return -EIO;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            if (rc == 0)
                mw_feed_report(f, i ? "SISMEMBER" : "WATCH", r);
            rc = -EIO;
        } else if (i > 0 && r->type == REDIS_REPLY_INTEGER && (r->integer == 1) != add) {
            changed[(*nchanged)++] = ents->v[i - 1];
        }
        freeReplyObject(r);
    }
    return rc;
}

int mw_feed_cmd_edit(struct mw_feed *f, int argc, char **argv)
{
    bool add = strcmp(argv[0], "add") == 0;
    struct push_opts o;
    int first;
    if (push_args(argc, argv, &o, &first) < 0)
        return MW_FEED_EXIT_USAGE;
    if (argc - first < 2) {
        fprintf(stderr, "minewall-feed: usage: %s NAME ENTRY...\n", argv[0]);
        return MW_FEED_EXIT_USAGE;
    }
    const char *name = argv[first];
    if (!mw_feed_name_ok(name)) {
        fprintf(stderr, "minewall-feed: invalid list name '%s'\n", name);
        return MW_FEED_EXIT_USAGE;
    }
    struct mw_strvec ents = {0};
    char **changed = NULL;
    int type, ex = MW_FEED_EXIT_DATA;
    int rc = edit_entries(argc - first - 1, argv + first + 1, &ents, &type);
    if (rc < 0) {
        if (rc == -EINVAL)
            fprintf(stderr, "minewall-feed: nothing applied\n");
        goto out;
    }
    ex = MW_FEED_EXIT_REDIS;
    struct mw_feed_meta m;
    if (mw_feed_connect(f) < 0 || mw_feed_meta_load(f, name, &m) < 0)
        goto out;
    ex = MW_FEED_EXIT_DATA;
    if (!m.exists && !add) {
        fprintf(stderr, "minewall-feed: unknown list '%s'\n", name);
        goto out;
    }
    if (!m.category[0] && !o.category) {
        fprintf(stderr, "minewall-feed: list '%s' is new: --category is required\n", name);
        ex = MW_FEED_EXIT_USAGE;
        goto out;
    }
    int list_type = m.type[0] ? type_parse(m.type) : o.type ? type_parse(o.type) : type;
    if (list_type != type) {
        fprintf(stderr, "minewall-feed: list '%s' holds %s entries, not %s; nothing applied\n",
                name, m.type[0] ? m.type : o.type, mw_feed_type_name(type));
        goto out;
    }
    struct change c;
    change_init(&c, name);
    change_meta(&c, &o, &m, mw_feed_type_name(type));
    changed = malloc(ents.n * sizeof(*changed));
    if (!changed)
        goto out;
    size_t n = 0;
    ex = MW_FEED_EXIT_REDIS;
    for (int attempt = 0;; attempt++) {
        if (edit_plan(f, c.keys[0], add, &ents, changed, &n) < 0)
            goto out;
        if (n == 0 && !c.meta_changed) {
            redisReply *r = redisCommand(f->rc, "UNWATCH");
            if (r)
                freeReplyObject(r);
            break;
        }
        rc = apply(f, &c, add ? "add" : "del", changed, n, TX_META | TX_CATALOG);
        if (rc == 0)
            break;
        if (rc != -EAGAIN)
            goto out;
        if (attempt == EDIT_RETRIES) {
            fprintf(stderr, "minewall-feed: list '%s' keeps changing; nothing applied\n", name);
            goto out;
        }
    }
    /* changed[] is in ents order (sorted), so one walk prints both kinds. */
    for (size_t i = 0, j = 0; i < ents.n; i++) {
        if (j < n && changed[j] == ents.v[i]) {
            printf("%c%s\n", add ? '+' : '-', ents.v[i]);
            j++;
        } else {
            printf(" %s (%s)\n", ents.v[i], add ? "already listed" : "not listed");
        }
    }
    printf("+%zu -%zu =%zu\n", add ? n : 0, add ? 0 : n, ents.n - n);
    ex = MW_FEED_EXIT_OK;
out:
    free(changed);
    mw_strvec_free(&ents);
    return ex;
}

/* ---- rm ---- */

/* Retire a list on purpose: resolvers drop it (and say so) instead of keeping it stale. */
int mw_feed_cmd_rm(struct mw_feed *f, int argc, char **argv)
{
    bool force = argc == 3 && strcmp(argv[2], "--force") == 0;
    if (argc == 3 && strcmp(argv[1], "--force") == 0) {
        force = true;
        argv[1] = argv[2];
    }
    if (argc != 2 && !force) {
        fprintf(stderr, "minewall-feed: usage: rm NAME [--force]\n");
        return MW_FEED_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!mw_feed_name_ok(name)) {
        fprintf(stderr, "minewall-feed: invalid list name '%s'\n", name);
        return MW_FEED_EXIT_USAGE;
    }
    struct mw_feed_meta m;
    if (mw_feed_connect(f) < 0 || mw_feed_meta_load(f, name, &m) < 0)
        return MW_FEED_EXIT_REDIS;
    if (!m.exists && !force) {
        /* Resolvers may still enforce it from their last copy (stale): --force tells them. */
        fprintf(stderr,
                "minewall-feed: unknown list '%s' (not in %s); --force retires it anyway "
                "(resolvers drop a stale copy)\n",
                name, MW_FEED_KEY_LISTS);
        return MW_FEED_EXIT_DATA;
    }
    struct change c;
    change_init(&c, name);
    redisReply *r = redisCommand(f->rc, "SCARD %s", c.keys[0]);
    long long count = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    if (r)
        freeReplyObject(r);
    /* The log keeps one record, "retire": a resolver following it, or resuming from an older
     * id, learns the list was retired rather than lost. MAXLEN without '~' trims exactly. */
    const char *del[] = {"DEL", c.keys[2], c.keys[0]};
    const char *srem[] = {"SREM", MW_FEED_KEY_LISTS, name};
    const char *xlog[] = {"XADD", c.keys[1], "MAXLEN", "1", "*", "op", "retire", "updated", c.now};
    const char *exp[] = {"EXPIRE", c.keys[1], MW_FEED_RETIRE_KEEP_S};
    const char *xcat[] = {"XADD",
                          MW_FEED_KEY_CATALOG,
                          "MAXLEN",
                          "~",
                          MW_FEED_CATALOG_MAXLEN,
                          "*",
                          "op",
                          "retire",
                          "list",
                          name};
    const struct txcmd cmds[] = {{3, del}, {3, srem}, {9, xlog}, {3, exp}, {10, xcat}};
    if (exec_tx(f, cmds, sizeof(cmds) / sizeof(cmds[0])) < 0)
        return MW_FEED_EXIT_REDIS;
    printf("retired list '%s' (%lld entries)\n", name, count);
    return MW_FEED_EXIT_OK;
}

/* ---- validate ---- */

int mw_feed_cmd_validate(int argc, char **argv)
{
    struct push_opts o;
    int first;
    if (push_args(argc, argv, &o, &first) < 0)
        return MW_FEED_EXIT_USAGE;
    if (argc - first != 1) {
        fprintf(stderr, "minewall-feed: usage: validate FILE [--format F] [--type T]\n");
        return MW_FEED_EXIT_USAGE;
    }
    const char *path = argv[first];
    struct parsed p;
    if (parse_path(path, o.format, &p) < 0) {
        parsed_free(&p);
        return MW_FEED_EXIT_DATA;
    }
    int type = pick_type(o.type, NULL, &p);
    printf("%s: format %s, %zu lines, %zu entries, %zu distinct %s entries, %zu bad lines\n", path,
           mw_listfile_format_name(p.rep.format), p.rep.lines, p.rep.entries, p.by_type[type].n,
           mw_feed_type_name(type), p.rep.bad);
    print_notes(stdout, "  ", &p, type);
    /* Exit codes agree with `minewall --check-list`: 1 for any bad line, and for a file with
     * no entry at all (what a failed download usually is). */
    if (p.rep.entries == 0)
        printf("%s: no entries\n", path);
    int ex = p.rep.bad || p.rep.entries == 0 ? MW_FEED_EXIT_DATA : MW_FEED_EXIT_OK;
    parsed_free(&p);
    return ex;
}
