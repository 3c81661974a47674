/* Block log writer and repeat folding; see blocklog.h. The fold table is direct-mapped by a
 * hash of (client address, qname, qtype): a collision only costs an extra line, never a lost
 * one, because the evicted slot's repeats are written before it is reused. The qtype is part
 * of the key so that a folded line never reports A repeats of an AAAA hit. A slot keeps the
 * line without its "ts": the folded line is stamped when it is written (so lines stay in time
 * order) and carries the first and last times of the repeats it counts. */
#include "minewall/blocklog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/dname.h"
#include "minewall/dnstext.h"
#include "minewall/file.h"
#include "minewall/hash.h"
#include "minewall/journal.h"
#include "minewall/jsonw.h"
#include "minewall/strbuf.h"

#define FOLD_SLOTS 1024
#define FOLD_WINDOW_MS 1000
/* A line of bounded inputs: a name of 255 octets as \\DDD text (1.3 KB escaped), a list name
 * and a category at their caps, rule and matched texts of at most 279 bytes even if every byte
 * had to be escaped (6x), and the keys: about 5.3 KB. */
#define LINE_MAX_LEN 8192
/* ,"first_ts":"...","last_ts":"...","count":4294967295,"folded":true}\n and the leading
 * {"ts":"...", */
#define TAIL_MAX 160

struct mw_blocklog {
    int refs; /* atomic */
    int fd;   /* atomic: swapped by reopen */
    char *path;
    uint64_t written, failed; /* atomic */
};

struct fold_slot {
    uint64_t key;
    uint64_t start_ms;              /* monotonic: the window's first hit */
    uint64_t first_wall, last_wall; /* wall clock of the first and last repeats */
    uint32_t repeats;
    size_t len, cap;
    char *line; /* owned, cap bytes: the first hit's fields after "ts", without the "}\n" */
};

struct mw_blockfold {
    struct fold_slot slots[FOLD_SLOTS];
};

int mw_blocklog_open(const char *path, struct mw_blocklog **out)
{
    struct mw_blocklog *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->path = strdup(path);
    b->fd = mw_file_open_log(path);
    if (!b->path || b->fd < 0) {
        int err = b->fd < 0 ? b->fd : -ENOMEM;
        if (b->fd >= 0)
            close(b->fd);
        free(b->path);
        free(b);
        return err;
    }
    b->refs = 1;
    *out = b;
    return 0;
}

int mw_blocklog_reopen(struct mw_blocklog *b)
{
    int fd = mw_file_open_log(b->path);
    if (fd < 0)
        return fd;
    int old = __atomic_exchange_n(&b->fd, fd, __ATOMIC_ACQ_REL);
    /* A worker may be inside write(old) right now; closing only makes that write fail and be
     * counted, and a rotation losing a line at the instant of SIGHUP is acceptable. */
    close(old);
    return 0;
}

const char *mw_blocklog_path(const struct mw_blocklog *b)
{
    return b->path;
}

struct mw_blocklog *mw_blocklog_ref(struct mw_blocklog *b)
{
    __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
    return b;
}

void mw_blocklog_unref(struct mw_blocklog *b)
{
    if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    close(b->fd);
    free(b->path);
    free(b);
}

void mw_blocklog_counts(const struct mw_blocklog *b, uint64_t *written, uint64_t *failed)
{
    *written = __atomic_load_n(&b->written, __ATOMIC_RELAXED);
    *failed = __atomic_load_n(&b->failed, __ATOMIC_RELAXED);
}

static void write_line(struct mw_blocklog *b, const char *line, size_t len)
{
    int fd = __atomic_load_n(&b->fd, __ATOMIC_ACQUIRE);
    if (write(fd, line, len) == (ssize_t)len)
        __atomic_add_fetch(&b->written, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&b->failed, 1, __ATOMIC_RELAXED);
}

static void put_ts(struct mw_strbuf *sb, const char *key, uint64_t wall_ms)
{
    char ts[MW_JOURNAL_TS_LEN];
    if (mw_journal_timestamp(wall_ms, ts) < 0)
        ts[0] = 0;
    mw_jsonw_kstr(sb, key, ts);
}

/* The fields of a line after "ts" and before the times and count, as `"client":...`, through
 * the JSON writer. Returns false when it took more than LINE_MAX_LEN bytes or was cut: the
 * caller drops the line rather than write a cut one (LINE_MAX_LEN holds every line of bounded
 * inputs). */
static bool format_hit(const struct mw_block_event *e, struct mw_strbuf *sb)
{
    char client[INET6_ADDRSTRLEN] = "?", qn[MW_DNAME_MAX * 4 + 2], qt[16];
    unsigned port = 0;
    if (e->client->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)e->client;
        inet_ntop(AF_INET, &s->sin_addr, client, sizeof(client));
        port = ntohs(s->sin_port);
    } else if (e->client->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)e->client;
        inet_ntop(AF_INET6, &s->sin6_addr, client, sizeof(client));
        port = ntohs(s->sin6_port);
    }
    if (mw_dname_to_text(e->qname, e->qname_len, qn, sizeof(qn)) < 0)
        strcpy(qn, "?");
    mw_jsonw_kstr(sb, "client", client);
    mw_jsonw_ku64(sb, "client_port", port);
    mw_jsonw_kstr(sb, "qname", qn);
    mw_jsonw_kstr(sb, "qtype", mw_dnstext_type(e->qtype, qt, sizeof(qt)));
    mw_jsonw_kstr(sb, "list", e->list);
    mw_jsonw_kstr(sb, "category", e->category);
    mw_jsonw_kstr(sb, "action", e->action);
    mw_jsonw_kstr(sb, "rule", e->rule);
    mw_jsonw_kstr(sb, "where", e->where);
    mw_jsonw_kstr(sb, "matched", e->matched ? e->matched : "");
    if (e->group)
        mw_jsonw_kstr(sb, "group", e->group);
    if (e->paused) /* only then: lines of enforced blocks stay as they were */
        mw_jsonw_kbool(sb, "paused", true);
    return !sb->trunc && sb->len <= LINE_MAX_LEN;
}

static uint64_t fold_key(const struct mw_block_event *e)
{
    const uint8_t *a = NULL;
    size_t alen = 0;
    if (e->client->sa_family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)e->client)->sin_addr;
        alen = 4;
    } else if (e->client->sa_family == AF_INET6) {
        a = (const uint8_t *)&((const struct sockaddr_in6 *)e->client)->sin6_addr;
        alen = 16;
    }
    /* The address, the name and the type (as the tag). */
    uint64_t tag = e->qtype | (e->paused ? 0x10000u : 0); /* paused hits fold apart */
    uint64_t h = mw_hash_bytes(0, mw_hash_bytes(0, tag, a, alen), e->qname, e->qname_len);
    if (e->group) /* one client in two groups (two listeners) folds apart */
        h = mw_hash_bytes(0, h, e->group, strlen(e->group));
    return h | 1; /* 0 marks an empty slot */
}

/* One whole line: {"ts":..., fields, "first_ts", "last_ts", "count"[, "folded"]}. */
static size_t finish_line(char *line, size_t cap, uint64_t ts, const char *fields, size_t len,
                          uint64_t first, uint64_t last, uint32_t count, bool folded)
{
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, line, cap);
    mw_strbuf_putc(&sb, '{');
    put_ts(&sb, "ts", ts);
    mw_strbuf_putc(&sb, ',');
    mw_strbuf_put(&sb, fields, len);
    put_ts(&sb, "first_ts", first);
    put_ts(&sb, "last_ts", last);
    mw_jsonw_ku64(&sb, "count", count);
    if (folded)
        mw_jsonw_kbool(&sb, "folded", true);
    mw_strbuf_puts(&sb, "}\n");
    return sb.trunc ? 0 : sb.len;
}

/* Write the slot's repeats, stamped with wall_now, the clock read for this write, as every
 * first-hit line is stamped with its own fresh read: lines of one worker then stay in time
 * order (the loop's cached monotonic time can be a millisecond off a fresh read either way,
 * so a time derived from it could land before or after a neighbour's). */
static void slot_emit(struct mw_blocklog *b, struct fold_slot *s, uint64_t wall_now)
{
    if (s->repeats && s->line && s->len) {
        char line[LINE_MAX_LEN + TAIL_MAX];
        uint64_t ts = wall_now > s->last_wall ? wall_now : s->last_wall;
        size_t n = finish_line(line, sizeof(line), ts, s->line, s->len, s->first_wall, s->last_wall,
                               s->repeats, true);
        if (n)
            write_line(b, line, n);
        else
            __atomic_add_fetch(&b->failed, 1, __ATOMIC_RELAXED);
    }
    s->repeats = 0;
}

struct mw_blockfold *mw_blockfold_new(void)
{
    return calloc(1, sizeof(struct mw_blockfold));
}

void mw_blockfold_free(struct mw_blockfold *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < FOLD_SLOTS; i++)
        free(f->slots[i].line);
    free(f);
}

void mw_blocklog_hit(struct mw_blocklog *b, struct mw_blockfold *f, const struct mw_block_event *e,
                     uint64_t now_ms)
{
    uint64_t key = fold_key(e);
    struct fold_slot *s = &f->slots[key & (FOLD_SLOTS - 1)];
    if (s->key == key && now_ms - s->start_ms < FOLD_WINDOW_MS) {
        if (s->repeats++ == 0)
            s->first_wall = e->wall_ms;
        s->last_wall = e->wall_ms;
        return;
    }
    slot_emit(b, s, e->wall_ms); /* the slot's previous window, whatever it held */
    char fields[LINE_MAX_LEN];
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, fields, sizeof(fields));
    if (!format_hit(e, &sb)) { /* not for bounded inputs; a cut line would not be JSON */
        __atomic_add_fetch(&b->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    size_t n = sb.len;
    /* The slot keeps the line for its folded repeat; grown only when a longer one comes. */
    if (n > s->cap) {
        char *nl = realloc(s->line, n);
        if (nl) {
            s->line = nl;
            s->cap = n;
        }
    }
    if (s->line && n <= s->cap) {
        memcpy(s->line, fields, n);
        s->len = n;
    } else {
        s->len = 0;
    }
    s->key = key;
    s->start_ms = now_ms;
    char line[LINE_MAX_LEN + TAIL_MAX];
    n = finish_line(line, sizeof(line), e->wall_ms, fields, n, e->wall_ms, e->wall_ms, 1, false);
    if (n)
        write_line(b, line, n);
    else
        __atomic_add_fetch(&b->failed, 1, __ATOMIC_RELAXED);
}

void mw_blockfold_flush(struct mw_blocklog *b, struct mw_blockfold *f, uint64_t now_ms,
                        uint64_t wall_now, bool force)
{
    for (size_t i = 0; i < FOLD_SLOTS; i++) {
        struct fold_slot *s = &f->slots[i];
        if (s->repeats && (force || now_ms - s->start_ms >= FOLD_WINDOW_MS))
            slot_emit(b, s, wall_now);
    }
}
