/* The control API's requests and answers; see control.h. Requests are checked here once, so
 * the UNIX socket and the HTTP paths accept exactly the same thing. */
#include "minewall/control.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"
#include "minewall/jsonw.h"
#include "minewall/netaddr.h"
#include "minewall/topn.h"

static const char *const VERBS[MW_CTL_N] = {
    "status", "pause", "resume", "flush", "reload", "lists", "top-clients", "top-names", "explain"};

const char *mw_control_cmd_name(enum mw_control_cmd cmd)
{
    return (unsigned)cmd < MW_CTL_N ? VERBS[cmd] : "?";
}

/* ---- durations ---- */

int mw_control_duration(const char *s, uint64_t *ms)
{
    static const struct {
        const char *u;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const uint64_t year = 366 * 86400000ull;
    uint64_t total = 0;
    if (!s || !*s)
        return -EINVAL;
    while (*s) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        uint64_t v = 0;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (uint64_t)(*s++ - '0');
            if (v > year)
                return -ERANGE;
        }
        uint64_t mul = 0;
        size_t ulen = 0;
        while (s[ulen] && (s[ulen] < '0' || s[ulen] > '9'))
            ulen++;
        if (ulen == 0 && total == 0 && !*s)
            mul = 1000; /* a bare number: seconds */
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && !mul; i++)
            if (strlen(units[i].u) == ulen && strncmp(s, units[i].u, ulen) == 0)
                mul = units[i].ms;
        if (!mul)
            return -EINVAL;
        s += ulen;
        total += v * mul;
        if (total > year)
            return -ERANGE;
    }
    if (total == 0)
        return -ERANGE;
    *ms = total;
    return 0;
}

void mw_control_format_duration(struct mw_strbuf *sb, uint64_t ms)
{
    uint64_t s = ms / 1000, h = s / 3600, m = s % 3600 / 60;
    if (h)
        mw_strbuf_printf(sb, "%lluh", (unsigned long long)h);
    if (m)
        mw_strbuf_printf(sb, "%llum", (unsigned long long)m);
    if (s % 60 || (!h && !m))
        mw_strbuf_printf(sb, "%llus", (unsigned long long)(s % 60));
}

/* ---- requests ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..len) into out (NUL-terminated). Control bytes and NUL are refused: no
 * value has a use for them. Returns 0 or -EINVAL. */
static int decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                return -EINVAL;
            c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || o + 1 >= cap)
            return -EINVAL;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return 0;
}

static bool is_ip(const char *s)
{
    uint8_t a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* One KEY=VALUE of a request for cmd. */
static int apply_arg(struct mw_control_req *r, const char *k, const char *v, char *why,
                     size_t why_len)
{
    enum mw_control_cmd c = r->cmd;
    if (strcmp(k, "format") == 0) {
        if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0) {
            snprintf(why, why_len, "format '%s': expected text or json", v);
            return -EINVAL;
        }
        r->json = strcmp(v, "json") == 0;
        return 0;
    }
    if (strcmp(k, "group") == 0 && (c == MW_CTL_PAUSE || c == MW_CTL_RESUME)) {
        /* A group name as the config allows it; whether it exists is the server's to say. */
        bool ok = *v && strlen(v) < sizeof(r->group);
        for (const char *p = v; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '_' || *p == '-' || *p == '.';
        if (!ok) {
            snprintf(why, why_len, "group '%.64s': not a group name", v);
            return -EINVAL;
        }
        snprintf(r->group, sizeof(r->group), "%s", v);
        r->group_set = true;
        return 0;
    }
    if (strcmp(k, "for") == 0 && c == MW_CTL_PAUSE) {
        if (mw_control_duration(v, &r->for_ms) < 0 || r->for_ms > MW_CONTROL_PAUSE_MAX_MS) {
            snprintf(why, why_len,
                     "for '%.64s': expected a duration such as 30s, 5m or 1h30m, at most 24h", v);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(k, "all") == 0 && c == MW_CTL_FLUSH) {
        r->all = true;
        return 0;
    }
    if (strcmp(k, "name") == 0 && (c == MW_CTL_FLUSH || c == MW_CTL_EXPLAIN)) {
        snprintf(r->name, sizeof(r->name), "%s", v);
        if (!*v || strlen(v) >= sizeof(r->name)) {
            snprintf(why, why_len, "name: empty or too long");
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(k, "client") == 0 && c == MW_CTL_EXPLAIN) {
        if (!is_ip(v) || strlen(v) >= sizeof(r->client)) {
            snprintf(why, why_len, "client '%.64s': not an IPv4 or IPv6 address", v);
            return -EINVAL;
        }
        snprintf(r->client, sizeof(r->client), "%s", v);
        return 0;
    }
    if (strcmp(k, "listener") == 0 && c == MW_CTL_EXPLAIN) {
        struct mw_addr a;
        if (strlen(v) >= sizeof(r->listener) || mw_addr_parse(v, 53, &a) < 0) {
            snprintf(why, why_len, "listener '%.64s': not ADDR[:PORT]", v);
            return -EINVAL;
        }
        snprintf(r->listener, sizeof(r->listener), "%s", v);
        return 0;
    }
    if (strcmp(k, "n") == 0 && (c == MW_CTL_TOP_CLIENTS || c == MW_CTL_TOP_NAMES)) {
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        if (*v < '0' || *v > '9' || *end || n < 1 || n > MW_CONTROL_TOP_MAX) {
            snprintf(why, why_len, "n '%.16s': expected 1 to %d", v, MW_CONTROL_TOP_MAX);
            return -EINVAL;
        }
        r->n = (unsigned)n;
        return 0;
    }
    snprintf(why, why_len, "%s does not take '%.32s'", mw_control_cmd_name(c), k);
    return -EINVAL;
}

/* What a command needs beyond its keys. */
static int finish_req(struct mw_control_req *r, char *why, size_t why_len)
{
    if (r->cmd == MW_CTL_FLUSH) {
        if (r->all == (r->name[0] != 0)) {
            snprintf(why, why_len, "flush needs a name or all (not both)");
            return -EINVAL;
        }
        if (!r->all) {
            int n = mw_dname_from_text(r->name, r->qname, sizeof(r->qname));
            if (n < 0) {
                snprintf(why, why_len, "flush: '%.64s' is not a domain name", r->name);
                return -EINVAL;
            }
            mw_dname_lower(r->qname, (size_t)n);
            r->qname_len = (uint16_t)n;
        }
    }
    if (r->cmd == MW_CTL_EXPLAIN && !r->name[0]) {
        snprintf(why, why_len, "explain needs a name");
        return -EINVAL;
    }
    return 0;
}

int mw_control_parse(const char *line, size_t len, struct mw_control_req *out, char *why,
                     size_t why_len)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->group, sizeof(out->group), "default");
    out->for_ms = MW_CONTROL_PAUSE_DEFAULT_MS;
    out->n = MW_CONTROL_TOP_DEFAULT;
    const char *q = memchr(line, '?', len);
    size_t vlen = q ? (size_t)(q - line) : len;
    out->cmd = MW_CTL_N;
    for (unsigned i = 0; i < MW_CTL_N; i++)
        if (strlen(VERBS[i]) == vlen && memcmp(line, VERBS[i], vlen) == 0)
            out->cmd = (enum mw_control_cmd)i;
    if (out->cmd == MW_CTL_N) {
        char shown[40];
        if (decode(line, vlen < 32 ? vlen : 32, shown, sizeof(shown)) < 0)
            snprintf(shown, sizeof(shown), "?");
        snprintf(why, why_len,
                 "unknown command '%s' (status, pause, resume, flush, reload, lists, "
                 "top-clients, top-names, explain)",
                 shown);
        return -EINVAL;
    }
    out->changes = out->cmd == MW_CTL_PAUSE || out->cmd == MW_CTL_RESUME ||
                   out->cmd == MW_CTL_FLUSH || out->cmd == MW_CTL_RELOAD;
    const char *p = q ? q + 1 : line + len, *end = line + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        char k[32], v[1024];
        if (e == p) {
            p = e + 1;
            continue;
        }
        if (decode(p, (size_t)((eq ? eq : e) - p), k, sizeof(k)) < 0 ||
            (eq && decode(eq + 1, (size_t)(e - eq - 1), v, sizeof(v)) < 0)) {
            snprintf(why, why_len, "malformed argument (bad escape, control byte or too long)");
            return -EINVAL;
        }
        if (!eq)
            v[0] = 0;
        if (apply_arg(out, k, v, why, why_len) < 0)
            return -EINVAL;
        p = e + 1;
    }
    return finish_req(out, why, why_len);
}

/* ---- minewall-ctl's side ---- */

static void put_escaped(struct mw_strbuf *sb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == ':' || c >= 0x80) {
            mw_strbuf_putc(sb, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            mw_strbuf_put(sb, e, 3);
        }
    }
}

static void put_arg(struct mw_strbuf *sb, bool *first, const char *k, const char *v)
{
    mw_strbuf_putc(sb, *first ? '?' : '&');
    *first = false;
    mw_strbuf_puts(sb, k);
    if (v) {
        mw_strbuf_putc(sb, '=');
        put_escaped(sb, v);
    }
}

int mw_control_argv_line(int argc, char *const *argv, bool json, char *out, size_t cap, char *why,
                         size_t why_len)
{
    if (argc < 1) {
        snprintf(why, why_len, "no command given");
        return -EINVAL;
    }
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, out, cap);
    const char *cmd = argv[0];
    put_escaped(&sb, cmd);
    bool first = true, positional = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *key = NULL;
        if (strcmp(a, "--group") == 0)
            key = "group";
        else if (strcmp(a, "--for") == 0)
            key = "for";
        else if (strcmp(a, "--client") == 0)
            key = "client";
        else if (strcmp(a, "--listener") == 0)
            key = "listener";
        else if (strcmp(a, "-n") == 0)
            key = "n";
        if (key) {
            if (i + 1 >= argc) {
                snprintf(why, why_len, "%s: %s needs a value", cmd, a);
                return -EINVAL;
            }
            put_arg(&sb, &first, key, argv[++i]);
        } else if (strcmp(a, "--all") == 0) {
            put_arg(&sb, &first, "all", NULL);
        } else if (a[0] == '-' && a[1]) {
            snprintf(why, why_len, "%s: unknown option '%s'", cmd, a);
            return -EINVAL;
        } else if (!positional) {
            positional = true;
            put_arg(&sb, &first, "name", a);
        } else {
            snprintf(why, why_len, "%s: unexpected argument '%s'", cmd, a);
            return -EINVAL;
        }
    }
    if (json)
        put_arg(&sb, &first, "format", "json");
    if (sb.trunc) {
        snprintf(why, why_len, "request too long");
        return -EINVAL;
    }
    return 0;
}

/* ---- answers ---- */

void mw_control_error(struct mw_strbuf *sb, bool json, const char *msg)
{
    if (json) {
        mw_strbuf_puts(sb, "{\"ok\":false");
        mw_jsonw_kstr(sb, "error", msg);
        mw_strbuf_puts(sb, "}\n");
    } else {
        mw_strbuf_printf(sb, "error: %s\n", msg);
    }
}

int mw_control_token_check(const char *buf, size_t n, char *why, size_t why_len)
{
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
            snprintf(why, why_len, "the token must be printable characters without spaces");
            return -EINVAL;
        }
    if (n < MW_CONTROL_TOKEN_MIN || n > MW_CONTROL_TOKEN_MAX) {
        snprintf(why, why_len, "the token must be %d to %d printable characters",
                 MW_CONTROL_TOKEN_MIN, MW_CONTROL_TOKEN_MAX);
        return -EINVAL;
    }
    return (int)n;
}

static void open_ok(struct mw_strbuf *sb, const struct mw_control_req *req)
{
    mw_strbuf_puts(sb, "{\"ok\":true");
    mw_jsonw_kstr(sb, "command", mw_control_cmd_name(req->cmd));
}

void mw_control_done(struct mw_strbuf *sb, const struct mw_control_req *req, const char *msg)
{
    if (req->json) {
        open_ok(sb, req);
        mw_jsonw_kstr(sb, "message", msg);
        mw_strbuf_puts(sb, "}\n");
    } else {
        mw_strbuf_printf(sb, "%s\n", msg);
    }
}

void mw_control_pause_result(struct mw_strbuf *sb, const struct mw_control_req *req,
                             const struct mw_control_pause *p)
{
    if (req->json) {
        open_ok(sb, req);
        mw_jsonw_kstr(sb, "group", req->group);
        mw_jsonw_kbool(sb, "paused", p->paused);
        mw_jsonw_ku64(sb, "remaining_s", p->paused ? (p->left_ms + 999) / 1000 : 0);
        mw_strbuf_puts(sb, "}\n");
        return;
    }
    if (p->paused) {
        mw_strbuf_printf(sb, "blocking paused for group %s: resumes in ", req->group);
        mw_control_format_duration(sb, p->left_ms + 999);
        mw_strbuf_puts(sb, "\n");
    } else {
        mw_strbuf_printf(sb, "blocking active for group %s\n", req->group);
    }
}

void mw_control_lists(struct mw_strbuf *sb, bool json, const struct mw_control_list *l, size_t n)
{
    if (json) {
        mw_strbuf_puts(sb, "{\"ok\":true,\"command\":\"lists\",\"lists\":[");
        for (size_t i = 0; i < n; i++) {
            mw_strbuf_puts(sb, i ? ",{" : "{");
            mw_jsonw_kstr(sb, "name", l[i].name);
            mw_jsonw_kstr(sb, "origin", l[i].origin);
            mw_jsonw_ku64(sb, "entries", l[i].entries);
            mw_jsonw_kstr(sb, "category", l[i].category);
            mw_jsonw_kstr(sb, "action", l[i].action);
            mw_jsonw_kbool(sb, "stale", l[i].stale);
            mw_strbuf_puts(sb, "}");
        }
        mw_strbuf_puts(sb, "]}\n");
        return;
    }
    mw_strbuf_printf(sb, "%-24s %-6s %10s %-16s %-9s %s\n", "NAME", "ORIGIN", "ENTRIES", "CATEGORY",
                     "ACTION", "STALE");
    for (size_t i = 0; i < n; i++)
        mw_strbuf_printf(sb, "%-24s %-6s %10llu %-16s %-9s %s\n", l[i].name, l[i].origin,
                         (unsigned long long)l[i].entries, l[i].category, l[i].action,
                         l[i].stale ? "yes" : "no");
}

const char *mw_control_top_key(enum mw_control_top_kind kind, const struct mw_topn_item *it,
                               char *buf, size_t cap)
{
    if (kind == MW_TOP_CLIENTS) {
        int af = it->key_len == 4 ? AF_INET : it->key_len == 16 ? AF_INET6 : 0;
        if (!af || !inet_ntop(af, it->key, buf, (socklen_t)cap))
            snprintf(buf, cap, "?");
    } else if (mw_dname_to_text(it->key, it->key_len, buf, cap) < 0) {
        snprintf(buf, cap, "?");
    }
    return buf;
}

static void top_items(struct mw_strbuf *sb, enum mw_control_top_kind kind,
                      const struct mw_topn_item *items, size_t n)
{
    mw_strbuf_puts(sb, "[");
    for (size_t i = 0; i < n; i++) {
        char k[1100];
        mw_strbuf_puts(sb, i ? ",{" : "{");
        mw_jsonw_kstr(sb, kind == MW_TOP_CLIENTS ? "client" : "name",
                      mw_control_top_key(kind, &items[i], k, sizeof(k)));
        mw_jsonw_ku64(sb, "count", items[i].count);
        mw_jsonw_ku64(sb, "error", items[i].error);
        mw_strbuf_puts(sb, "}");
    }
    mw_strbuf_puts(sb, "]");
}

void mw_control_top(struct mw_strbuf *sb, bool json, enum mw_control_top_kind kind,
                    const struct mw_topn_item *items, size_t n, uint64_t total)
{
    if (json) {
        mw_strbuf_puts(sb, "{\"ok\":true");
        mw_jsonw_kstr(sb, "command", kind == MW_TOP_CLIENTS ? "top-clients" : "top-names");
        mw_jsonw_ku64(sb, "total", total);
        mw_jsonw_key(sb, "top");
        top_items(sb, kind, items, n);
        mw_strbuf_puts(sb, "}\n");
        return;
    }
    mw_strbuf_printf(sb, "%10s %8s  %s   (of %llu queries; count - error <= true count)\n", "COUNT",
                     "ERROR", kind == MW_TOP_CLIENTS ? "CLIENT" : "NAME",
                     (unsigned long long)total);
    for (size_t i = 0; i < n; i++) {
        char k[1100];
        mw_strbuf_printf(sb, "%10llu %8llu  %s\n", (unsigned long long)items[i].count,
                         (unsigned long long)items[i].error,
                         mw_control_top_key(kind, &items[i], k, sizeof(k)));
    }
}

void mw_control_status(struct mw_strbuf *sb, bool json, const struct mw_control_status *st)
{
    if (json) {
        mw_strbuf_puts(sb, "{\"ok\":true,\"command\":\"status\"");
        mw_jsonw_kstr(sb, "version", st->version);
        mw_jsonw_ku64(sb, "uptime_s", st->uptime_s);
        mw_jsonw_ku64(sb, "generation", st->generation);
        mw_jsonw_ku64(sb, "workers", st->workers);
        mw_jsonw_kbool(sb, "paused", st->pause.paused);
        mw_jsonw_ku64(sb, "pause_remaining_s",
                      st->pause.paused ? (st->pause.left_ms + 999) / 1000 : 0);
        mw_jsonw_key(sb, "paused_groups");
        mw_strbuf_putc(sb, '[');
        for (size_t i = 0; i < st->n_paused_groups; i++) {
            mw_strbuf_puts(sb, i ? ",{" : "{");
            mw_jsonw_kstr(sb, "group", st->paused_groups[i]);
            mw_jsonw_ku64(sb, "remaining_s", (st->paused_groups_left_ms[i] + 999) / 1000);
            mw_strbuf_putc(sb, '}');
        }
        mw_strbuf_putc(sb, ']');
        mw_jsonw_ku64(sb, "queries", st->queries);
        mw_jsonw_ku64(sb, "cache_hits", st->cache_hits);
        mw_jsonw_ku64(sb, "cache_misses", st->cache_misses);
        mw_jsonw_ku64(sb, "blocked", st->blocked);
        mw_jsonw_ku64(sb, "monitor_hits", st->monitor_hits);
        mw_jsonw_ku64(sb, "lists", st->lists);
        mw_jsonw_ku64(sb, "entries", st->entries);
        mw_jsonw_ku64(sb, "reloads_ok", st->reloads_ok);
        mw_jsonw_ku64(sb, "reloads_failed", st->reloads_failed);
        mw_jsonw_kbool(sb, "last_reload_failed", st->last_reload_failed);
        mw_jsonw_key(sb, "top_clients");
        top_items(sb, MW_TOP_CLIENTS, st->top_clients, st->n_top_clients);
        mw_jsonw_key(sb, "top_names");
        top_items(sb, MW_TOP_NAMES, st->top_names, st->n_top_names);
        mw_strbuf_puts(sb, "}\n");
        return;
    }
    mw_strbuf_printf(sb, "minewall %s, up %llus, %u worker%s, generation %llu\n", st->version,
                     (unsigned long long)st->uptime_s, st->workers, st->workers == 1 ? "" : "s",
                     (unsigned long long)st->generation);
    if (st->pause.paused) {
        mw_strbuf_puts(sb, "blocking: PAUSED (resumes in ");
        mw_control_format_duration(sb, st->pause.left_ms + 999);
        mw_strbuf_puts(sb, ")\n");
    } else {
        mw_strbuf_puts(sb, "blocking: active\n");
    }
    for (size_t i = 0; i < st->n_paused_groups; i++) {
        mw_strbuf_printf(sb, "blocking: PAUSED for group %s (resumes in ", st->paused_groups[i]);
        mw_control_format_duration(sb, st->paused_groups_left_ms[i] + 999);
        mw_strbuf_puts(sb, ")\n");
    }
    mw_strbuf_printf(sb,
                     "queries: %llu (cache hits %llu, misses %llu), blocked %llu, monitored %llu\n",
                     (unsigned long long)st->queries, (unsigned long long)st->cache_hits,
                     (unsigned long long)st->cache_misses, (unsigned long long)st->blocked,
                     (unsigned long long)st->monitor_hits);
    mw_strbuf_printf(sb, "lists: %llu (%llu entries); reloads ok %llu, failed %llu%s\n",
                     (unsigned long long)st->lists, (unsigned long long)st->entries,
                     (unsigned long long)st->reloads_ok, (unsigned long long)st->reloads_failed,
                     st->last_reload_failed ? " (the last one failed)" : "");
    char k[1100];
    mw_strbuf_puts(sb, "top clients:");
    for (size_t i = 0; i < st->n_top_clients; i++)
        mw_strbuf_printf(sb, " %s (%llu)",
                         mw_control_top_key(MW_TOP_CLIENTS, &st->top_clients[i], k, sizeof(k)),
                         (unsigned long long)st->top_clients[i].count);
    mw_strbuf_puts(sb, "\ntop names:");
    for (size_t i = 0; i < st->n_top_names; i++)
        mw_strbuf_printf(sb, " %s (%llu)",
                         mw_control_top_key(MW_TOP_NAMES, &st->top_names[i], k, sizeof(k)),
                         (unsigned long long)st->top_names[i].count);
    mw_strbuf_puts(sb, "\n");
}
