/* Routing journal lines and their queue. Every formatter writes through the JSON writer
 * (jsonw.h), which never overruns the caller's buffer: a line that does not fit makes the
 * formatter return -ENOSPC, so a line is either whole or not written. Its escaper checks UTF-8
 * because a file name or a hosts line is arbitrary bytes and one bad byte would make the line
 * invalid JSON for every reader. */
#include "minewall/journal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/answerdiff.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/jsonw.h"

/* ---- time ---- */

/* Days since 1970-01-01 to a civil date (proleptic Gregorian), after H. Hinnant's algorithm. */
static void civil(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400) + (*m <= 2);
}

int mw_journal_timestamp(uint64_t unix_ms, char buf[MW_JOURNAL_TS_LEN])
{
    /* 253402300800000 ms is 10000-01-01T00:00:00Z. */
    if (unix_ms >= 253402300800000ull)
        return -EINVAL;
    uint64_t s = unix_ms / 1000;
    int y;
    unsigned mo, d;
    civil((int64_t)(s / 86400), &y, &mo, &d);
    unsigned sod = (unsigned)(s % 86400);
    /* Digits by hand: the ranges are known, and snprintf cannot prove them. */
    unsigned f[7] = {
        (unsigned)y, mo, d, sod / 3600, sod / 60 % 60, sod % 60, (unsigned)(unix_ms % 1000)};
    static const char fmt[] = "0000-00-00T00:00:00.000Z";
    static const uint8_t at[7] = {3, 6, 9, 12, 15, 18, 22}; /* last digit of each field */
    static const uint8_t width[7] = {4, 2, 2, 2, 2, 2, 3};
    memcpy(buf, fmt, sizeof(fmt));
    for (int i = 0; i < 7; i++) {
        unsigned v = f[i];
        for (int k = 0; k < width[i]; k++, v /= 10)
            buf[at[i] - k] = (char)('0' + v % 10);
    }
    return 0;
}

/* ---- lines ---- */

static void kstrv(struct mw_strbuf *w, const char *k, const struct mw_journal_strv *sv)
{
    mw_jsonw_kstrs(w, k, sv->v, sv->n, SIZE_MAX, SIZE_MAX, NULL);
}

/* {"ts":...,"type":...,"host":... */
static int begin(struct mw_strbuf *w, char *buf, size_t cap, uint64_t ts_ms,
                 enum mw_journal_type type, const char *host)
{
    char ts[MW_JOURNAL_TS_LEN];
    if (!buf || cap == 0)
        return -ENOSPC;
    if (mw_journal_timestamp(ts_ms, ts) < 0)
        return -EINVAL;
    mw_strbuf_init(w, buf, cap);
    mw_strbuf_putc(w, '{');
    mw_jsonw_kstr(w, "ts", ts);
    mw_jsonw_kstr(w, "type", mw_journal_type_name(type));
    mw_jsonw_kstr(w, "host", host);
    return 0;
}

/* A line is whole or not written: a cut one would not be JSON. */
static int finish(struct mw_strbuf *w)
{
    mw_strbuf_put(w, "}\n", 2);
    if (w->trunc) {
        w->b[0] = '\0';
        return -ENOSPC;
    }
    return (int)w->len;
}

const char *mw_journal_type_name(enum mw_journal_type t)
{
    static const char *const names[MW_JOURNAL_TYPES] = {"answer_change",
                                                        "host_config_change",
                                                        "upstream_change",
                                                        "config_change",
                                                        "control",
                                                        "new_domain",
                                                        "other"};
    return (unsigned)t < MW_JOURNAL_TYPES ? names[t] : names[MW_JOURNAL_OTHER];
}

int mw_journal_quote(const char *s, size_t len, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return -ENOSPC;
    struct mw_strbuf w;
    mw_strbuf_init(&w, buf, cap);
    mw_jsonw_strn(&w, s ? s : "", s ? len : 0, SIZE_MAX, NULL);
    if (w.trunc) {
        buf[0] = '\0';
        return -ENOSPC;
    }
    return (int)w.len;
}

/* ---- answer_change ---- */

static bool is_addr_type(uint16_t t)
{
    return t == MW_TYPE_A || t == MW_TYPE_AAAA;
}

static int lookup_set(const struct mw_answer_list *l, uint16_t qtype, const struct mw_geo *geo,
                      struct mw_geo_info *info, uint16_t *n)
{
    int fam = qtype == MW_TYPE_A ? AF_INET : AF_INET6, r = 0;
    *n = 0;
    for (uint16_t i = 0; i < l->n && i < MW_ANSWERDIFF_MAX_VALUES; i++) {
        uint8_t a[16];
        memset(&info[i], 0, sizeof(info[i]));
        if (inet_pton(fam, l->v[i], a) == 1) {
            int e = mw_geo_lookup(geo, fam, a, &info[i]);
            if (e < 0 && r == 0)
                r = e;
        }
        (*n)++;
    }
    return r;
}

/* Is every ASN (country) of a also one of b? */
static bool covered(const struct mw_geo_info *a, uint16_t na, const struct mw_geo_info *b,
                    uint16_t nb, bool country)
{
    for (uint16_t i = 0; i < na; i++) {
        bool found = false;
        for (uint16_t j = 0; j < nb && !found; j++)
            found = country ? strcmp(a[i].country, b[j].country) == 0 : a[i].asn == b[j].asn;
        if (!found)
            return false;
    }
    return true;
}

int mw_journal_answer_geo(const struct mw_answer_change *ch, const struct mw_geo *geo,
                          struct mw_journal_answer_geo *out)
{
    out->looked_up = false;
    out->n_old = out->n_new = 0;
    out->asn_changed = out->country_changed = false;
    out->asn_known = out->country_known = false;
    if (!ch || !geo || !is_addr_type(ch->qtype))
        return 0;
    out->looked_up = true;
    int r1 = lookup_set(&ch->old_set, ch->qtype, geo, out->old_info, &out->n_old);
    int r2 = lookup_set(&ch->new_set, ch->qtype, geo, out->new_info, &out->n_new);
    out->asn_known = out->country_known = true;
    for (uint16_t i = 0; i < out->n_old; i++) {
        out->asn_known = out->asn_known && out->old_info[i].found_asn;
        out->country_known = out->country_known && out->old_info[i].found_country;
    }
    for (uint16_t i = 0; i < out->n_new; i++) {
        out->asn_known = out->asn_known && out->new_info[i].found_asn;
        out->country_known = out->country_known && out->new_info[i].found_country;
    }
    /* With an address of unknown ASN, a change can be neither claimed nor ruled out. */
    out->asn_changed =
        out->asn_known && (!covered(out->old_info, out->n_old, out->new_info, out->n_new, false) ||
                           !covered(out->new_info, out->n_new, out->old_info, out->n_old, false));
    out->country_changed = out->country_known &&
                           (!covered(out->old_info, out->n_old, out->new_info, out->n_new, true) ||
                            !covered(out->new_info, out->n_new, out->old_info, out->n_old, true));
    return r1 < 0 ? r1 : r2;
}

bool mw_journal_same_asn_churn(const struct mw_answer_change *ch,
                               const struct mw_journal_answer_geo *g)
{
    if (!ch || !g || !g->looked_up || !g->asn_known || ch->cname_changed || g->asn_changed)
        return false;
    if (g->n_old == 0 || g->n_new == 0)
        return false;
    for (uint16_t i = 0; i < g->n_old; i++) {
        if (!g->old_info[i].found_asn)
            return false;
    }
    for (uint16_t i = 0; i < g->n_new; i++) {
        if (!g->new_info[i].found_asn)
            return false;
    }
    return true;
}

static void kgeo(struct mw_strbuf *w, const char *k, const struct mw_answer_list *l,
                 const struct mw_geo_info *info, uint16_t n)
{
    mw_jsonw_key(w, k);
    mw_strbuf_put(w, "[", 1);
    for (uint16_t i = 0; i < n && i < l->n; i++) {
        if (i)
            mw_strbuf_put(w, ",", 1);
        mw_strbuf_put(w, "{", 1);
        mw_jsonw_kstr(w, "ip", l->v[i]);
        if (info[i].found_asn) {
            mw_jsonw_ku64(w, "asn", info[i].asn);
            mw_jsonw_kstr(w, "as_org", info[i].as_org[0] ? info[i].as_org : NULL);
        } else {
            mw_jsonw_kstr(w, "asn", NULL);
            mw_jsonw_kstr(w, "as_org", NULL);
        }
        mw_jsonw_kstr(w, "country", info[i].found_country ? info[i].country : NULL);
        mw_strbuf_put(w, "}", 1);
    }
    mw_strbuf_put(w, "]", 1);
}

int mw_journal_format_answer(char *buf, size_t cap, uint64_t ts_ms, const char *host,
                             const struct mw_answer_change *ch, const char *upstream,
                             const struct mw_journal_answer_geo *g)
{
    if (!ch)
        return -EINVAL;
    struct mw_strbuf w;
    int r = begin(&w, buf, cap, ts_ms, MW_JOURNAL_ANSWER, host);
    if (r < 0)
        return r;
    char name[1024], tbuf[8];
    if (mw_dname_to_text(ch->qname, ch->qname_len, name, sizeof(name)) < 0)
        return -EINVAL;
    const char *tn = mw_answerdiff_type_name(ch->qtype);
    if (!tn) {
        snprintf(tbuf, sizeof(tbuf), "%u", (unsigned)ch->qtype);
        tn = tbuf;
    }
    mw_jsonw_kstr(&w, "name", name);
    mw_jsonw_kstr(&w, "qtype", tn);
    mw_jsonw_kstrs(&w, "old", ch->old_set.v, ch->old_set.n, SIZE_MAX, SIZE_MAX, NULL);
    mw_jsonw_kstrs(&w, "new", ch->new_set.v, ch->new_set.n, SIZE_MAX, SIZE_MAX, NULL);
    mw_jsonw_kstrs(&w, "added", ch->added.v, ch->added.n, SIZE_MAX, SIZE_MAX, NULL);
    mw_jsonw_kstrs(&w, "removed", ch->removed.v, ch->removed.n, SIZE_MAX, SIZE_MAX, NULL);
    mw_jsonw_ku64(&w, "ttl", ch->ttl);
    mw_jsonw_kstr(&w, "upstream", upstream);
    mw_jsonw_kbool(&w, "truncated", ch->old_set.truncated || ch->new_set.truncated);
    mw_jsonw_kbool(&w, "cname_changed", ch->cname_changed);
    mw_jsonw_kstrs(&w, "old_cname", ch->old_chain, ch->old_chain_n, SIZE_MAX, SIZE_MAX, NULL);
    mw_jsonw_kstrs(&w, "new_cname", ch->new_chain, ch->new_chain_n, SIZE_MAX, SIZE_MAX, NULL);
    bool geo = g && g->looked_up;
    if (geo && g->asn_known)
        mw_jsonw_kbool(&w, "asn_changed", g->asn_changed);
    else
        mw_jsonw_kstr(&w, "asn_changed", NULL);
    if (geo && g->country_known)
        mw_jsonw_kbool(&w, "country_changed", g->country_changed);
    else
        mw_jsonw_kstr(&w, "country_changed", NULL);
    if (geo) {
        kgeo(&w, "old_geo", &ch->old_set, g->old_info, g->n_old);
        kgeo(&w, "new_geo", &ch->new_set, g->new_info, g->n_new);
    }
    return finish(&w);
}

/* ---- host_config_change ---- */

static void ksha(struct mw_strbuf *w, const char *k, const uint8_t *d)
{
    static const char xd[] = "0123456789abcdef";
    char hex[65];
    if (d) {
        for (int i = 0; i < 32; i++) {
            hex[2 * i] = xd[d[i] >> 4];
            hex[2 * i + 1] = xd[d[i] & 15];
        }
        hex[64] = '\0';
    }
    mw_jsonw_kstr(w, k, d ? hex : NULL);
}

int mw_journal_format_host_config(char *buf, size_t cap, uint64_t ts_ms, const char *host,
                                  const struct mw_journal_host_config *ev)
{
    static const char *const kinds[] = {"other", "resolv.conf", "hosts"};
    if (!ev || (unsigned)ev->kind > MW_JOURNAL_FILE_HOSTS)
        return -EINVAL;
    struct mw_strbuf w;
    int r = begin(&w, buf, cap, ts_ms, MW_JOURNAL_HOST_CONFIG, host);
    if (r < 0)
        return r;
    mw_jsonw_kstr(&w, "file", ev->file);
    mw_jsonw_kstr(&w, "kind", kinds[ev->kind]);
    ksha(&w, "old_sha256", ev->old_sha256);
    ksha(&w, "new_sha256", ev->new_sha256);
    mw_jsonw_ku64(&w, "lines_added", ev->lines_added.n);
    mw_jsonw_ku64(&w, "lines_removed", ev->lines_removed.n);
    bool trunc = false;
    mw_jsonw_kstrs(&w, "added_lines", ev->lines_added.v, ev->lines_added.n,
                   MW_JOURNAL_MAX_FILE_LINES, MW_JOURNAL_FILE_LINE_MAX, &trunc);
    mw_jsonw_kstrs(&w, "removed_lines", ev->lines_removed.v, ev->lines_removed.n,
                   MW_JOURNAL_MAX_FILE_LINES, MW_JOURNAL_FILE_LINE_MAX, &trunc);
    mw_jsonw_kbool(&w, "lines_truncated", trunc);
    if (ev->kind == MW_JOURNAL_FILE_RESOLV) {
        kstrv(&w, "nameservers_old", &ev->nameservers_old);
        kstrv(&w, "nameservers_new", &ev->nameservers_new);
        mw_jsonw_kbool(&w, "resolver_bypass", ev->resolver_bypass);
        mw_jsonw_kbool(&w, "resolver_bypass_old", ev->resolver_bypass_old);
    } else if (ev->kind == MW_JOURNAL_FILE_HOSTS) {
        kstrv(&w, "names_changed", &ev->names_changed);
    }
    return finish(&w);
}

/* ---- upstream_change and config_change ---- */

int mw_journal_format_upstream(char *buf, size_t cap, uint64_t ts_ms, const char *host,
                               const struct mw_journal_upstream *ev)
{
    if (!ev || (ev->n_routes && !ev->routes))
        return -EINVAL;
    struct mw_strbuf w;
    int r = begin(&w, buf, cap, ts_ms, MW_JOURNAL_UPSTREAM, host);
    if (r < 0)
        return r;
    mw_jsonw_kstr(&w, "upstream", ev->upstream);
    mw_jsonw_kstr(&w, "state", ev->up ? "up" : "down");
    mw_jsonw_kstr(&w, "reason", ev->reason);
    mw_jsonw_key(&w, "zones");
    mw_strbuf_put(&w, "{", 1);
    for (size_t i = 0; i < ev->n_routes; i++) {
        if (i)
            mw_strbuf_put(&w, ",", 1);
        mw_jsonw_str(&w, ev->routes[i].zone ? ev->routes[i].zone : "");
        mw_strbuf_put(&w, ":", 1);
        mw_jsonw_str(&w, ev->routes[i].upstream);
    }
    mw_strbuf_put(&w, "}", 1);
    return finish(&w);
}

int mw_journal_format_config(char *buf, size_t cap, uint64_t ts_ms, const char *host,
                             const struct mw_journal_config *ev)
{
    if (!ev || (ev->n_lists && !ev->lists))
        return -EINVAL;
    struct mw_strbuf w;
    int r = begin(&w, buf, cap, ts_ms, MW_JOURNAL_CONFIG, host);
    if (r < 0)
        return r;
    kstrv(&w, "listeners_added", &ev->listeners_added);
    kstrv(&w, "listeners_removed", &ev->listeners_removed);
    kstrv(&w, "upstreams_added", &ev->upstreams_added);
    kstrv(&w, "upstreams_removed", &ev->upstreams_removed);
    kstrv(&w, "zones_added", &ev->zones_added);
    kstrv(&w, "zones_removed", &ev->zones_removed);
    mw_jsonw_key(&w, "lists");
    mw_strbuf_put(&w, "[", 1);
    for (size_t i = 0; i < ev->n_lists; i++) {
        if (i)
            mw_strbuf_put(&w, ",", 1);
        mw_strbuf_put(&w, "{", 1);
        mw_jsonw_kstr(&w, "list", ev->lists[i].list);
        mw_jsonw_ku64(&w, "added", ev->lists[i].added);
        mw_jsonw_ku64(&w, "removed", ev->lists[i].removed);
        mw_strbuf_put(&w, "}", 1);
    }
    mw_strbuf_put(&w, "]", 1);
    return finish(&w);
}

int mw_journal_format_control(char *buf, size_t cap, uint64_t ts_ms, const char *host,
                              const struct mw_journal_control *ev)
{
    if (!ev || !ev->via || !ev->command)
        return -EINVAL;
    struct mw_strbuf w;
    int r = begin(&w, buf, cap, ts_ms, MW_JOURNAL_CONTROL, host);
    if (r < 0)
        return r;
    mw_jsonw_kstr(&w, "via", ev->via);
    mw_jsonw_key(&w, "uid");
    if (ev->uid >= 0)
        mw_strbuf_u64(&w, (uint64_t)ev->uid);
    else
        mw_strbuf_puts(&w, "null");
    mw_jsonw_key(&w, "pid");
    if (ev->pid >= 0)
        mw_strbuf_u64(&w, (uint64_t)ev->pid);
    else
        mw_strbuf_puts(&w, "null");
    mw_jsonw_kstr(&w, "peer", ev->peer);
    mw_jsonw_kstr(&w, "command", ev->command);
    mw_jsonw_kstrn(&w, "request", ev->request ? ev->request : "", 1024, NULL);
    mw_jsonw_kbool(&w, "ok", ev->ok);
    mw_jsonw_kstrn(&w, "result", ev->result ? ev->result : "", 2048, NULL);
    return finish(&w);
}

/* ---- queue ---- */

struct mw_journal_queue {
    pthread_mutex_t mu;
    size_t max_lines, max_bytes;
    char *buf;      /* owned, max_bytes */
    uint8_t *types; /* owned, max_lines: the event type of each queued line */
    size_t len, lines;
    uint64_t pushed, dropped;
};

struct mw_journal_queue *mw_journal_queue_new(size_t max_lines, size_t max_bytes)
{
    if (max_lines == 0 || max_bytes == 0)
        return NULL;
    struct mw_journal_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->buf = malloc(max_bytes);
    q->types = malloc(max_lines);
    if (!q->buf || !q->types || pthread_mutex_init(&q->mu, NULL) != 0) {
        free(q->buf);
        free(q->types);
        free(q);
        return NULL;
    }
    q->max_lines = max_lines;
    q->max_bytes = max_bytes;
    return q;
}

void mw_journal_queue_free(struct mw_journal_queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->mu);
    free(q->buf);
    free(q->types);
    free(q);
}

int mw_journal_queue_push(struct mw_journal_queue *q, enum mw_journal_type type, const char *line,
                          size_t len)
{
    if (!q || !line || len == 0 || (unsigned)type >= MW_JOURNAL_TYPES)
        return -EINVAL;
    bool nl = line[len - 1] != '\n';
    size_t need = len + nl;
    int r = 0;
    pthread_mutex_lock(&q->mu);
    if (q->lines >= q->max_lines || need > q->max_bytes - q->len) {
        q->dropped++;
        r = -ENOSPC;
    } else {
        memcpy(q->buf + q->len, line, len);
        if (nl)
            q->buf[q->len + len] = '\n';
        q->types[q->lines] = (uint8_t)type;
        q->len += need;
        q->lines++;
        q->pushed++;
    }
    pthread_mutex_unlock(&q->mu);
    return r;
}

int mw_journal_queue_pop_all(struct mw_journal_queue *q, struct mw_journal_batch *b)
{
    /* The batch's buffers must be able to take the queue's role after the swap. */
    if (b->cap != q->max_bytes || b->types_cap != q->max_lines) {
        char *nb = malloc(q->max_bytes);
        uint8_t *nt = malloc(q->max_lines);
        if (!nb || !nt) {
            free(nb);
            free(nt);
            return -ENOMEM;
        }
        free(b->data);
        free(b->types);
        b->data = nb;
        b->types = nt;
        b->cap = q->max_bytes;
        b->types_cap = q->max_lines;
    }
    pthread_mutex_lock(&q->mu);
    char *t = q->buf;
    q->buf = b->data;
    b->data = t;
    uint8_t *ty = q->types;
    q->types = b->types;
    b->types = ty;
    b->len = q->len;
    b->lines = q->lines;
    q->len = q->lines = 0;
    pthread_mutex_unlock(&q->mu);
    return b->lines > (size_t)INT32_MAX ? INT32_MAX : (int)b->lines;
}

void mw_journal_batch_deinit(struct mw_journal_batch *b)
{
    if (!b)
        return;
    free(b->data);
    free(b->types);
    memset(b, 0, sizeof(*b));
}

void mw_journal_queue_get_stats(struct mw_journal_queue *q, struct mw_journal_queue_stats *out)
{
    pthread_mutex_lock(&q->mu);
    out->pushed = q->pushed;
    out->dropped = q->dropped;
    out->lines = q->lines;
    out->bytes = q->len;
    pthread_mutex_unlock(&q->mu);
}

_Static_assert(MW_ANSWERDIFF_MAX_VALUES == 64, "mw_journal_answer_geo holds 64 addresses a set");
