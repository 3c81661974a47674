/* List file parsers. Input is one buffer (the whole file, read at once) scanned line by line
 * with memchr and hand-written loops; nothing is allocated per line: names are converted to
 * wire form straight into the one struct mw_listfile_entry of the parse, which the callback
 * borrows. Only a non-ASCII name costs an allocation (libidn2's output). The buffer is never
 * assumed to be NUL-terminated and may hold any bytes: every index is checked against the
 * line's length, NUL bytes are invalid characters like any other.
 *
 * RPZ is the one format with structure across lines (parentheses, blank owners, $ORIGIN), so
 * it has its own record reader. Its triggers are owner names relative to the zone apex, which
 * is the owner of the first SOA record, or else the first $ORIGIN, or else the root; relative
 * owners and CNAME targets are completed with the current $ORIGIN (RFC 1035 5.1). Consecutive
 * A/AAAA records of one owner are merged into one SINKHOLE entry, which is emitted when a
 * record for another owner (or the end of the file) arrives. */
#include "minewall/listfile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <idn2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minewall/error.h"
#include "minewall/strbuf.h"

#define SHOWN_MAX 20     /* bad-line messages kept per file */
#define QUOTE_MAX 60     /* bytes of offending text quoted in a message */
#define DETECT_LINES 500 /* non-blank lines the detector looks at */
#define FILE_MAX ((size_t)1 << 30)
#define WHY_MAX 192
#define RR_TOKENS 8 /* tokens of an RPZ record we look at; more are counted only */

enum { NAME_RPZ = 1, NAME_NOIDN = 2 };
enum { OWN_NONE = 0, OWN_BAD, OWN_NAME };

struct span {
    const char *p;
    size_t n;
};

struct ctx {
    const char *name; /* borrowed: file name for messages */
    mw_listfile_entry_cb cb;
    void *arg;
    struct mw_listfile_report *rep;
    struct mw_errlist *errs; /* borrowed, may be NULL */
    uint32_t line;
    int rc;                /* a callback's error: stops the parse */
    bool allow, important; /* of the AdBlock rule being parsed */
    const char *addr;      /* the last valid hosts address, in the buffer */
    size_t addr_n;
    char why[WHY_MAX];
    /* RPZ state: current $ORIGIN, zone apex, the last owner (for blank owner fields). */
    uint32_t scan; /* line the record reader is on */
    bool origin_seen, apex_set, soa_seen, pending;
    uint16_t cur_len, apex_len;
    uint8_t cur[MW_DNAME_MAX + 1], apex[MW_DNAME_MAX + 1];
    int own_state;
    bool own_wild;
    uint16_t own_len;
    uint8_t own[MW_DNAME_MAX + 1]; /* absolute, without the "*" label of a wildcard */
    struct mw_listfile_entry e;
};

/* ---- messages and counting ---- */

static int fail(char *why, size_t wl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t wl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, wl, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Quote at most QUOTE_MAX bytes, escaping controls, '"' and '\\'; never cut a UTF-8
 * sequence in two. */
static void quote(char *out, size_t cap, const char *s, size_t n)
{
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, out, cap);
    size_t i = 0;
    for (; i < n && i < QUOTE_MAX; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
            mw_strbuf_printf(&sb, "\\x%02x", ch);
        else
            mw_strbuf_putc(&sb, (char)ch);
    }
    if (i < n) {
        /* Bytes >= 0x80 were copied as they are, so they can be dropped one for one. */
        size_t o = sb.len;
        while (i > 0 && o > 0 && ((unsigned char)s[i] & 0xC0) == 0x80 &&
               ((unsigned char)s[i - 1] & 0x80)) {
            i--;
            o--;
        }
        mw_strbuf_rewind(&sb, o);
        mw_strbuf_put(&sb, "...", 3);
    }
}

static void bad(struct ctx *c, const char *why, const char *txt, size_t n)
{
    c->rep->bad++;
    if (!c->errs || c->rep->bad > SHOWN_MAX)
        return;
    char q[QUOTE_MAX * 4 + 8];
    quote(q, sizeof(q), txt, n);
    mw_errlist_add(c->errs, "%s:%u: %s: \"%s\"", c->name, (unsigned)c->line, why, q);
}

static void skip(struct ctx *c, enum mw_listfile_skip r)
{
    c->rep->skip[r]++;
}

static void emit(struct ctx *c)
{
    if (c->rc)
        return;
    if (c->cb) {
        int rc = c->cb(&c->e, c->arg);
        if (rc < 0) {
            c->rc = rc;
            return;
        }
    }
    c->rep->entries++;
}

/* Common fields of a new entry from the current line. */
static void begin(struct ctx *c, enum mw_listfile_type t)
{
    c->e.type = t;
    c->e.line = c->line;
    c->e.action = MW_LISTFILE_ACT_DEFAULT;
    c->e.allow = c->allow;
    c->e.important = c->important;
    c->e.naddrs = 0;
}

/* ---- text helpers ---- */

static inline bool blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static inline bool digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static inline bool in_set(char ch, const char *set)
{
    return ch != '\0' && strchr(set, ch) != NULL;
}

static void trim(const char **p, size_t *n)
{
    while (*n && blank(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n && blank((*p)[*n - 1]))
        (*n)--;
}

static void cut_comment(const char *p, size_t *n)
{
    const char *h = memchr(p, '#', *n);
    if (h)
        *n = (size_t)(h - p);
}

static size_t tok_len(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && !blank(p[i]))
        i++;
    return i;
}

static bool span_ieq(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(p, lit, n) == 0;
}

static bool prefix_ieq(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && strncasecmp(p, lit, l) == 0;
}

/* ---- names ---- */

/* 1: keep, 2: upper case letter; 0: not allowed in a name. */
static const uint8_t name_map[256] = {
    ['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 2, ['-'] = 1, ['_'] = 1,
};

static int name_wire(const char *s, size_t n, uint8_t *wire, unsigned flags, char *why, size_t wl);

static int name_idn(const char *s, size_t n, uint8_t *wire, unsigned flags, char *why, size_t wl)
{
    char in[1024];
    if (memchr(s, '\0', n))
        return fail(why, wl, "invalid character '\\0'");
    if (n >= sizeof(in))
        return fail(why, wl, "name longer than 255 octets");
    memcpy(in, s, n);
    in[n] = '\0';
    char *ascii = NULL;
    int rc = idn2_to_ascii_8z(in, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK)
        return fail(why, wl, "IDN conversion failed: %s", idn2_strerror(rc));
    int r = name_wire(ascii, strlen(ascii), wire, flags | NAME_NOIDN, why, wl);
    idn2_free(ascii);
    return r;
}

/* Text name (one trailing dot allowed) to lowercase wire in wire[MW_DNAME_MAX + 1]. Returns
 * the wire length or -EINVAL with the reason in why. */
static int name_wire(const char *s, size_t n, uint8_t *wire, unsigned flags, char *why, size_t wl)
{
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0)
        return fail(why, wl, "empty name");
    if (s[0] == '.')
        return fail(why, wl, "leading dot");
    size_t lab = 0, out = 1, labels = 1;
    bool num = true, all_num = true;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)s[i], m = name_map[ch];
        if (ch == '.') {
            if (out - lab == 1)
                return fail(why, wl, "empty label (\"..\")");
            wire[lab] = (uint8_t)(out - lab - 1);
            lab = out++;
            labels++;
            num = true;
            continue;
        }
        if (!m) {
            if (ch >= 0x80 && !(flags & NAME_NOIDN))
                return name_idn(s, n, wire, flags, why, wl);
            if (ch >= 0x20 && ch < 0x7f)
                return fail(why, wl, "invalid character '%c'", ch);
            return fail(why, wl, "invalid character 0x%02x", ch);
        }
        if (out - lab > 63)
            return fail(why, wl, "label longer than 63 octets");
        /* Label octets end at index 253 so that the root label fits in 255. */
        if (out > MW_DNAME_MAX - 2)
            return fail(why, wl, "name longer than 255 octets");
        wire[out++] = m == 2 ? (uint8_t)(ch + 32) : ch;
        if (!digit((char)ch))
            num = all_num = false;
    }
    if (out - lab == 1)
        return fail(why, wl, "empty label (\"..\")");
    wire[lab] = (uint8_t)(out - lab - 1);
    wire[out++] = 0;
    /* In RPZ the zone decides, and relative owners ("32.4.3.2.1") are partial names. */
    if (num && !(flags & NAME_RPZ))
        return fail(why, wl, all_num ? "an address, not a name" : "numeric top-level label");
    if (labels == 1 && !(flags & NAME_RPZ))
        return fail(why, wl, "would block a whole TLD");
    return (int)out;
}

/* ---- addresses ---- */

/* Worth trying as an address: IPv6 has ':', IPv4 and prefixes end in a digit. */
static bool addr_like(const char *p, size_t n)
{
    return n > 0 && (digit(p[n - 1]) || memchr(p, ':', n));
}

static bool tok_cidr(const char *p, size_t n, struct mw_cidr *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf) || memchr(p, '\0', n))
        return false; /* a NUL would end the text early: "1.2.3.4\0junk" */
    memcpy(buf, p, n);
    buf[n] = '\0';
    return mw_cidr_parse(buf, out) == 0;
}

/* One address of the given family (0: either), as hosts files write it (scope allowed). */
static bool tok_addr(const char *p, size_t n, int family, uint8_t *addr)
{
    char buf[64];
    uint8_t tmp[16];
    if (n == 0 || n >= sizeof(buf) || memchr(p, '\0', n))
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *pct = strchr(buf, '%');
    if (pct && family == 0)
        *pct = '\0';
    if (!addr)
        addr = tmp;
    int f = (family == AF_INET6 || (family == 0 && strchr(buf, ':'))) ? AF_INET6 : AF_INET;
    return inet_pton(f, buf, addr) == 1;
}

/* Why an address-like token that did not parse is no address; NULL if it may be a name. */
static const char *addr_bad(const char *p, size_t n)
{
    bool slash = false, colon = false;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        slash |= ch == '/';
        colon |= ch == ':';
        if (!digit(ch) && !((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') && !in_set(ch, ".:/"))
            return NULL;
    }
    if (slash)
        return "invalid address prefix (host bits set?)";
    return colon ? "invalid IPv6 address" : NULL;
}

/* ---- entries shared by the line formats ---- */

static void emit_ip(struct ctx *c, const struct mw_cidr *cidr)
{
    begin(c, MW_LISTFILE_ENTRY_IP);
    c->e.cidr = *cidr;
    emit(c);
}

static void emit_domain(struct ctx *c, const char *p, size_t n, enum mw_listfile_kind kind)
{
    int len = name_wire(p, n, c->e.name, 0, c->why, sizeof(c->why));
    if (len < 0) {
        bad(c, c->why, p, n);
        return;
    }
    begin(c, MW_LISTFILE_ENTRY_DOMAIN);
    c->e.kind = kind;
    c->e.name_len = (uint16_t)len;
    emit(c);
}

/* A name, or an address/prefix standing for a host (plain and AdBlock lists). */
static void name_or_addr(struct ctx *c, const char *p, size_t n)
{
    struct mw_cidr cidr;
    if (addr_like(p, n)) {
        if (tok_cidr(p, n, &cidr)) {
            emit_ip(c, &cidr);
            return;
        }
        const char *why = addr_bad(p, n);
        if (why) {
            bad(c, why, p, n);
            return;
        }
    }
    emit_domain(c, p, n, MW_LISTFILE_SUBTREE);
}

/* ---- line formats ---- */

static void plain_line(struct ctx *c, const char *p, size_t n)
{
    cut_comment(p, &n);
    trim(&p, &n);
    if (n == 0)
        return;
    if (tok_len(p, n) < n) {
        bad(c, "unexpected text after the name", p, n);
        return;
    }
    if (n > 2 && p[0] == '*' && p[1] == '.') {
        p += 2;
        n -= 2;
    }
    name_or_addr(c, p, n);
}

static bool local_name(const char *p, size_t n)
{
    static const char *const names[] = {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "localhost4",
        "localhost4.localdomain4",
        "0.0.0.0",
        "localhost6",
        "localhost6.localdomain6",
    };
    if (n > 0 && p[n - 1] == '.')
        n--;
    if (n == 0 || !in_set((char)(p[0] | 0x20), "lbi0"))
        return false; /* no local name starts otherwise */
    if (prefix_ieq(p, n, "ip6-"))
        return true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (span_ieq(p, n, names[i]))
            return true;
    }
    return false;
}

static void hosts_line(struct ctx *c, const char *p, size_t n)
{
    cut_comment(p, &n);
    trim(&p, &n);
    if (n == 0)
        return;
    size_t t = tok_len(p, n);
    if (t != c->addr_n || memcmp(p, c->addr, t) != 0) {
        if (!tok_addr(p, t, 0, NULL)) {
            bad(c, "expected an address before the names", p, n);
            return;
        }
        c->addr = p; /* hosts files repeat one address: parse it once */
        c->addr_n = t;
    }
    const char *line = p;
    size_t line_n = n, names = 0;
    p += t;
    n -= t;
    for (;;) {
        trim(&p, &n);
        if (n == 0)
            break;
        t = tok_len(p, n);
        names++;
        if (local_name(p, t))
            c->rep->ignored++;
        else if (addr_like(p, t) && tok_addr(p, t, 0, NULL))
            bad(c, "an address, not a name", p, t);
        else
            emit_domain(c, p, t, MW_LISTFILE_SUBTREE);
        p += t;
        n -= t;
    }
    if (names == 0)
        bad(c, "address without names", line, line_n);
}

/* Element hiding, scriptlets and HTML filters: "##", "#@#", "#?#", "#$#", "#%#", "#@?#"...,
 * "$$", "$@$". */
static bool cosmetic(const char *p, size_t n)
{
    if (!memchr(p, '#', n) && !memchr(p, '$', n))
        return false; /* the common case, at memchr speed */
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '#') {
            if (p[i + 1] == '#')
                return true;
            if (in_set(p[i + 1], "@?$%")) {
                if (i + 2 < n && p[i + 2] == '#')
                    return true;
                if (p[i + 1] == '@' && i + 3 < n && in_set(p[i + 2], "?$%") && p[i + 3] == '#')
                    return true;
            }
        } else if (p[i] == '$') {
            if (p[i + 1] == '$' || (p[i + 1] == '@' && i + 2 < n && p[i + 2] == '$'))
                return true;
        }
    }
    return false;
}

/* Bytes that end the host of a "||host" rule. */
static const bool host_stop[256] = {
    ['^'] = 1, ['$'] = 1,  ['/'] = 1,  [':'] = 1,  ['|'] = 1,  ['*'] = 1,
    ['?'] = 1, ['='] = 1,  ['&'] = 1,  ['%'] = 1,  ['#'] = 1,  ['@'] = 1,
    [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\v'] = 1, ['\f'] = 1,
};

/* Options that leave "every request for this host" intact (see FMT_ADBLOCK). Returns false
 * if any other option is present. */
static bool ab_options(struct ctx *c, const char *p, size_t n)
{
    static const char *const ok[] = {"important", "all", "document", "doc", "third-party", "3p"};
    while (n > 0) {
        const char *comma = memchr(p, ',', n);
        size_t l = comma ? (size_t)(comma - p) : n;
        const char *o = p;
        size_t on = l;
        trim(&o, &on);
        bool found = false;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]) && !found; i++)
            found = span_ieq(o, on, ok[i]);
        if (!found)
            return false;
        if (span_ieq(o, on, "important"))
            c->important = true;
        p += l;
        n -= l;
        if (comma) {
            p++;
            n--;
        }
    }
    return true;
}

static void adblock_line(struct ctx *c, const char *p, size_t n)
{
    trim(&p, &n);
    if (n == 0 || p[0] == '!' || (p[0] == '[' && p[n - 1] == ']'))
        return;
    if (p[0] == '#' && (n == 1 || !in_set(p[1], "#@?$%")))
        return; /* "# comment", as AdGuard Home reads them */
    if (cosmetic(p, n)) {
        skip(c, MW_LISTFILE_SKIP_COSMETIC);
        return;
    }
    size_t t = tok_len(p, n);
    if (t < n && tok_addr(p, t, 0, NULL)) {
        hosts_line(c, p, n); /* AdGuard Home accepts hosts lines in filter lists */
        return;
    }
    if (n >= 2 && p[0] == '@' && p[1] == '@') {
        c->allow = true;
        p += 2;
        n -= 2;
    }
    if (n >= 2 && p[0] == '/' && (p[n - 1] == '/' || memmem(p + 1, n - 1, "/$", 2))) {
        skip(c, MW_LISTFILE_SKIP_REGEX);
        return;
    }
    if (n < 2 || p[0] != '|' || p[1] != '|') {
        skip(c, MW_LISTFILE_SKIP_SUBSTRING);
        return;
    }
    p += 2;
    n -= 2;
    size_t h = 0;
    while (h < n && !host_stop[(uint8_t)p[h]])
        h++;
    const char *r = p + h;
    size_t rn = n - h;
    if (rn && r[0] == '*') {
        skip(c, MW_LISTFILE_SKIP_WILDCARD);
        return;
    }
    if (rn && r[0] == '^') {
        r++;
        rn--;
    }
    if (rn && r[0] == '|') {
        r++;
        rn--;
    }
    if (rn && r[0] != '$') {
        if (blank(r[0]))
            bad(c, "unexpected text after the rule", p - 2, n + 2);
        else
            skip(c, MW_LISTFILE_SKIP_URL);
        return;
    }
    if (rn && !ab_options(c, r + 1, rn - 1)) {
        skip(c, MW_LISTFILE_SKIP_MODIFIER);
        return;
    }
    if (h == 0) {
        skip(c, MW_LISTFILE_SKIP_SUBSTRING);
        return;
    }
    name_or_addr(c, p, h);
}

static void dnsmasq_line(struct ctx *c, const char *p, size_t n)
{
    trim(&p, &n);
    if (n == 0 || p[0] == '#')
        return;
    const char *eq = memchr(p, '=', n);
    size_t kn = eq ? (size_t)(eq - p) : n;
    bool address = span_ieq(p, kn, "address");
    if (!eq || !(address || span_ieq(p, kn, "server") || span_ieq(p, kn, "local"))) {
        skip(c, MW_LISTFILE_SKIP_DIRECTIVE);
        return;
    }
    const char *v = eq + 1;
    size_t vn = n - kn - 1;
    const char *last = vn ? memrchr(v, '/', vn) : NULL;
    if (!last || v[0] != '/' || last == v) {
        if (address)
            bad(c, "expected address=/name/[address]", p, n);
        else
            skip(c, MW_LISTFILE_SKIP_DIRECTIVE); /* server=UPSTREAM */
        return;
    }
    const char *val = last + 1;
    size_t valn = (size_t)(v + vn - val);
    if (!address && valn > 0) {
        skip(c, MW_LISTFILE_SKIP_DIRECTIVE); /* forwarded, or '#': the default servers */
        return;
    }
    if (address && valn > 0 && !(valn == 1 && val[0] == '#') && !tok_addr(val, valn, 0, NULL)) {
        bad(c, "invalid address", val, valn);
        return;
    }
    if (last == v + 1) {
        bad(c, "empty domain", p, n);
        return;
    }
    for (const char *q = v + 1; q < last;) {
        const char *s = memchr(q, '/', (size_t)(last - q));
        size_t ln = (size_t)((s ? s : last) - q);
        if (ln == 0)
            bad(c, "empty domain", p, n);
        else if (ln == 1 && q[0] == '#')
            bad(c, "would block everything", p, n);
        else
            emit_domain(c, q, ln, MW_LISTFILE_SUBTREE);
        q += ln + 1;
    }
}

static void ip_line(struct ctx *c, const char *p, size_t n)
{
    cut_comment(p, &n);
    trim(&p, &n);
    if (n == 0)
        return;
    struct mw_cidr cidr;
    if (tok_len(p, n) < n)
        bad(c, "unexpected text after the address", p, n);
    else if (!tok_cidr(p, n, &cidr))
        bad(c, memchr(p, '/', n) ? "invalid prefix (host bits set?)" : "not an address", p, n);
    else
        emit_ip(c, &cidr);
}

static int parse_asn(const char *p, size_t n, bool need_as, uint32_t *out, char *why, size_t wl)
{
    if (n >= 2 && (p[0] | 0x20) == 'a' && (p[1] | 0x20) == 's') {
        p += 2;
        n -= 2;
    } else if (need_as) {
        return fail(why, wl, "not an AS number");
    }
    if (n == 0 || n > 10)
        return fail(why, wl, "not an AS number");
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!digit(p[i]))
            return fail(why, wl, "not an AS number");
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > UINT32_MAX)
        return fail(why, wl, "AS number out of range");
    if (v == 0)
        return fail(why, wl, "AS0 is reserved (RFC 7607)");
    *out = (uint32_t)v;
    return 0;
}

static void asn_line(struct ctx *c, const char *p, size_t n)
{
    cut_comment(p, &n);
    trim(&p, &n);
    if (n == 0)
        return;
    uint32_t asn;
    if (tok_len(p, n) < n) {
        bad(c, "unexpected text after the AS number", p, n);
    } else if (parse_asn(p, n, false, &asn, c->why, sizeof(c->why)) < 0) {
        bad(c, c->why, p, n);
    } else {
        begin(c, MW_LISTFILE_ENTRY_ASN);
        c->e.asn = asn;
        emit(c);
    }
}

/* Validate and lowercase a glob into e->pattern. */
static int parse_pattern(const char *p, size_t n, struct mw_listfile_entry *e, char *why, size_t wl)
{
    if (n > 0 && p[n - 1] == '.')
        n--;
    if (n == 0)
        return fail(why, wl, "empty pattern");
    if (n > MW_LISTFILE_PATTERN_MAX)
        return fail(why, wl, "pattern longer than %d characters", MW_LISTFILE_PATTERN_MAX);
    bool set = false, literal = false;
    size_t set_start = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)p[i];
        if (name_map[ch] == 2)
            ch = (uint8_t)(ch + 32);
        e->pattern[i] = (char)ch;
        if (set) {
            if (ch == ']' && i > set_start)
                set = false;
            else if (ch == '!' && i == set_start)
                continue;
            else if (!name_map[ch] && ch != '.')
                return fail(why, wl, "invalid character '%c' in a bracket set", ch);
            continue;
        }
        if (ch == '[') {
            set = true;
            set_start = i + 1;
        } else if (ch == ']') {
            return fail(why, wl, "unbalanced ']'");
        } else if (name_map[ch]) {
            literal = true;
        } else if (ch != '*' && ch != '?' && ch != '.') {
            if (ch >= 0x20 && ch < 0x7f)
                return fail(why, wl, "invalid character '%c'", ch);
            return fail(why, wl, "invalid character 0x%02x", ch);
        }
    }
    if (set)
        return fail(why, wl, "unbalanced '['");
    if (!literal)
        return fail(why, wl, "would block everything");
    e->pattern[n] = '\0';
    e->pattern_len = (uint16_t)n;
    return 0;
}

static void pattern_line(struct ctx *c, const char *p, size_t n)
{
    cut_comment(p, &n);
    trim(&p, &n);
    if (n == 0)
        return;
    if (tok_len(p, n) < n) {
        bad(c, "unexpected text after the pattern", p, n);
        return;
    }
    if (parse_pattern(p, n, &c->e, c->why, sizeof(c->why)) < 0) {
        bad(c, c->why, p, n);
        return;
    }
    begin(c, MW_LISTFILE_ENTRY_PATTERN);
    emit(c);
}

static void csv_line(struct ctx *c, const char *p, size_t n)
{
    trim(&p, &n);
    if (n == 0)
        return;
    const char *comma = memchr(p, ',', n);
    size_t rank = comma ? (size_t)(comma - p) : 0;
    for (size_t i = 0; i < rank; i++) {
        if (!digit(p[i]))
            rank = 0;
    }
    if (rank == 0) {
        bad(c, "expected rank,name", p, n);
        return;
    }
    const char *name = comma + 1;
    size_t nn = n - rank - 1;
    const char *end = memchr(name, ',', nn);
    if (end)
        nn = (size_t)(end - name);
    emit_domain(c, name, nn, MW_LISTFILE_EXACT);
}

/* ---- RPZ ---- */

struct rr {
    uint32_t line;
    bool cont;   /* owner omitted: the record began with a blank */
    size_t ntok; /* tokens seen; the first RR_TOKENS are kept */
    struct span tok[RR_TOKENS];
    const char *err;
};

static inline bool rr_stop(char ch)
{
    return blank(ch) || ch == '\n' || ch == ';' || ch == '(' || ch == ')' || ch == '"';
}

/* Read the next record from buf[*pos..len): one line, or several joined by parentheses.
 * Comments and blank lines are skipped; a lexical error is kept in rr->err and the rest of
 * the line is skipped. Returns false at the end of the input. */
static bool rr_read(struct ctx *c, const char *buf, size_t len, size_t *pos, struct rr *rr)
{
    size_t i = *pos;
    int paren = 0;
    bool at_start = true;
    rr->ntok = 0;
    rr->err = NULL;
    rr->cont = false;
    rr->line = c->scan;
    while (i < len) {
        char ch = buf[i];
        if (ch == '\n') {
            c->scan++;
            i++;
            if (paren > 0)
                continue;
            if (rr->ntok > 0 || rr->err)
                break;
            rr->line = c->scan;
            rr->cont = false;
            at_start = true;
            continue;
        }
        if (blank(ch)) {
            if (at_start && rr->ntok == 0 && paren == 0)
                rr->cont = true;
            at_start = false;
            i++;
            continue;
        }
        at_start = false;
        if (ch == ';') {
            while (i < len && buf[i] != '\n')
                i++;
            continue;
        }
        if (rr->err) {
            i++;
            continue;
        }
        if (ch == '(' || ch == ')') {
            if (ch == ')' && paren == 0)
                rr->err = "unbalanced ')'";
            paren += ch == '(' ? 1 : -1;
            if (paren < 0)
                paren = 0;
            i++;
            continue;
        }
        size_t s = i;
        if (ch == '"') {
            for (i++; i < len && buf[i] != '"' && buf[i] != '\n'; i++) {
                if (buf[i] == '\\' && i + 1 < len && buf[i + 1] != '\n')
                    i++;
            }
            if (i >= len || buf[i] != '"') {
                rr->err = "unterminated quoted string";
                paren = 0;
                continue;
            }
            i++;
        } else {
            for (; i < len && !rr_stop(buf[i]); i++) {
                if (buf[i] == '\\' && i + 1 < len && buf[i + 1] != '\n')
                    i++;
            }
        }
        if (rr->ntok < RR_TOKENS)
            rr->tok[rr->ntok] = (struct span){buf + s, i - s};
        rr->ntok++;
    }
    *pos = i;
    if (paren > 0 && !rr->err)
        rr->err = "unbalanced '(' at the end of the file";
    return rr->ntok > 0 || rr->err;
}

/* Text name to absolute wire: relative names are completed with the current $ORIGIN. */
static int rpz_name(struct ctx *c, const char *p, size_t n, uint8_t *w)
{
    if (n == 1 && p[0] == '.') {
        w[0] = 0;
        return 1;
    }
    if (n == 1 && p[0] == '@') {
        memcpy(w, c->cur, c->cur_len);
        return c->cur_len;
    }
    bool abs = n > 0 && p[n - 1] == '.';
    int len = name_wire(p, n, w, NAME_RPZ, c->why, sizeof(c->why));
    if (len < 0 || abs)
        return len;
    if ((size_t)len - 1 + c->cur_len > MW_DNAME_MAX)
        return fail(c->why, sizeof(c->why), "name longer than 255 octets with the origin");
    memcpy(w + len - 1, c->cur, c->cur_len);
    return len - 1 + c->cur_len;
}

static void rpz_owner(struct ctx *c, struct span o)
{
    const char *p = o.p;
    size_t n = o.n;
    c->own_state = OWN_BAD;
    c->own_wild = false;
    if (n >= 1 && p[0] == '*' && (n == 1 || p[1] == '.')) {
        c->own_wild = true;
        p += n == 1 ? 1 : 2;
        n -= n == 1 ? 1 : 2;
        if (n == 0) {
            p = "@"; /* "*" alone: everything below the origin */
            n = 1;
        }
    }
    int len = rpz_name(c, p, n, c->own);
    if (len < 0) {
        bad(c, c->why, o.p, o.n);
        return;
    }
    c->own_len = (uint16_t)len;
    c->own_state = OWN_NAME;
}

static const char *const rr_known[] = {
    "TXT",    "MX",     "PTR",    "SRV",     "DNAME", "NAPTR", "HINFO",      "CAA",   "SSHFP",
    "TLSA",   "DS",     "DNSKEY", "RRSIG",   "NSEC",  "NSEC3", "NSEC3PARAM", "SVCB",  "HTTPS",
    "LOC",    "SPF",    "URI",    "RP",      "AFSDB", "CERT",  "KX",         "DHCID", "OPENPGPKEY",
    "SMIMEA", "ZONEMD", "CDS",    "CDNSKEY", "CSYNC", "NS",
};

static bool rr_class(struct span t)
{
    return span_ieq(t.p, t.n, "IN") || span_ieq(t.p, t.n, "CH") || span_ieq(t.p, t.n, "HS") ||
           span_ieq(t.p, t.n, "CS");
}

static bool rr_type_known(struct span t)
{
    if (prefix_ieq(t.p, t.n, "TYPE") && t.n > 4 && digit(t.p[4]))
        return true;
    for (size_t i = 0; i < sizeof(rr_known) / sizeof(rr_known[0]); i++) {
        if (span_ieq(t.p, t.n, rr_known[i]))
            return true;
    }
    return false;
}

static bool label_dec(const uint8_t *l, size_t n, unsigned max, unsigned *out)
{
    unsigned v = 0;
    if (n == 0 || n > 3)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!digit((char)l[i]))
            return false;
        v = v * 10 + (unsigned)(l[i] - '0');
    }
    *out = v;
    return v <= max;
}

/* "<prefix>.<address labels, least significant first>.rpz-ip" (relative wire, the "rpz-ip"
 * label included) to a prefix. IPv6 groups are hex, "zz" stands for the run of zeros. */
static int rpz_ip(const uint8_t *w, struct mw_cidr *out, char *why, size_t wl)
{
    const uint8_t *lab[40];
    size_t ll[40], nl = 0;
    for (size_t pos = 0; w[pos]; pos += 1 + (size_t)w[pos]) {
        if (nl == 40)
            return fail(why, wl, "rpz-ip trigger with too many labels");
        lab[nl] = w + pos + 1;
        ll[nl++] = w[pos];
    }
    nl--; /* "rpz-ip" */
    unsigned prefix, v;
    if (nl < 2 || !label_dec(lab[0], ll[0], 128, &prefix))
        return fail(why, wl, "rpz-ip trigger without a prefix length and an address");
    uint8_t addr[16] = {0};
    unsigned max = 32;
    size_t zz = 0;
    for (size_t i = 1; i < nl; i++)
        zz += ll[i] == 2 && lab[i][0] == 'z' && lab[i][1] == 'z';
    if (nl - 1 == 4 && zz == 0) {
        for (size_t i = 0; i < 4; i++) {
            if (!label_dec(lab[1 + i], ll[1 + i], 255, &v))
                return fail(why, wl, "rpz-ip: invalid IPv4 address label");
            addr[3 - i] = (uint8_t)v;
        }
    } else {
        max = 128;
        size_t groups = nl - 1 - zz;
        if (zz > 1 || (zz == 0 && groups != 8) || groups > 8 || (zz && groups > 7))
            return fail(why, wl, "rpz-ip: invalid IPv6 address");
        size_t g = 0;
        for (size_t i = nl - 1; i >= 1; i--) {
            if (ll[i] == 2 && lab[i][0] == 'z' && lab[i][1] == 'z') {
                g += 8 - groups;
                continue;
            }
            if (ll[i] == 0 || ll[i] > 4)
                return fail(why, wl, "rpz-ip: invalid IPv6 group");
            v = 0;
            for (size_t k = 0; k < ll[i]; k++) {
                uint8_t ch = lab[i][k];
                int d = digit((char)ch) ? ch - '0' : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : -1;
                if (d < 0)
                    return fail(why, wl, "rpz-ip: invalid IPv6 group");
                v = v * 16 + (unsigned)d;
            }
            addr[2 * g] = (uint8_t)(v >> 8);
            addr[2 * g + 1] = (uint8_t)v;
            g++;
        }
    }
    if (prefix < 1 || prefix > max)
        return fail(why, wl, "rpz-ip: prefix length out of range");
    for (unsigned bit = prefix; bit < max; bit++) {
        if (addr[bit / 8] & (0x80 >> (bit % 8)))
            return fail(why, wl, "rpz-ip: address has bits set beyond the prefix");
    }
    out->family = max == 32 ? AF_INET : AF_INET6;
    out->prefix = (uint8_t)prefix;
    memcpy(out->addr, addr, sizeof(out->addr));
    return 0;
}

struct trigger {
    bool ip, wild;
    uint16_t len;
    uint8_t wire[MW_DNAME_MAX + 1]; /* relative to the apex */
    struct mw_cidr cidr;
};

static void flush(struct ctx *c)
{
    if (c->pending) {
        c->pending = false;
        emit(c);
    }
}

static void fill(struct ctx *c, const struct trigger *t, enum mw_listfile_action act)
{
    c->e.type = t->ip ? MW_LISTFILE_ENTRY_IP : MW_LISTFILE_ENTRY_DOMAIN;
    c->e.line = c->line;
    c->e.action = act;
    c->e.allow = act == MW_LISTFILE_ACT_PASSTHRU;
    c->e.important = false;
    c->e.naddrs = 0;
    if (t->ip) {
        c->e.cidr = t->cidr;
    } else {
        c->e.kind = t->wild ? MW_LISTFILE_WILDCARD : MW_LISTFILE_EXACT;
        c->e.name_len = t->len;
        memcpy(c->e.name, t->wire, t->len);
    }
}

static bool same_trigger(const struct ctx *c, const struct trigger *t)
{
    if (t->ip)
        return c->e.type == MW_LISTFILE_ENTRY_IP &&
               memcmp(&c->e.cidr, &t->cidr, sizeof(t->cidr)) == 0;
    return c->e.type == MW_LISTFILE_ENTRY_DOMAIN &&
           c->e.kind == (t->wild ? MW_LISTFILE_WILDCARD : MW_LISTFILE_EXACT) &&
           c->e.name_len == t->len && memcmp(c->e.name, t->wire, t->len) == 0;
}

static bool wire_is(const uint8_t *w, int len, const char *lit)
{
    size_t l = strlen(lit);
    return (size_t)len == l + 2 && w[0] == l && memcmp(w + 1, lit, l) == 0;
}

static void rpz_cname(struct ctx *c, const struct trigger *t, struct span tg)
{
    enum mw_listfile_action act = MW_LISTFILE_ACT_CNAME;
    uint8_t w[MW_DNAME_MAX + 1];
    int len = 0;
    if (tg.n == 1 && tg.p[0] == '.') {
        act = MW_LISTFILE_ACT_NXDOMAIN;
    } else if (tg.n == 2 && tg.p[0] == '*' && tg.p[1] == '.') {
        act = MW_LISTFILE_ACT_NODATA;
    } else if (tg.n > 2 && tg.p[0] == '*' && tg.p[1] == '.') {
        flush(c);
        skip(c, MW_LISTFILE_SKIP_RPZ_ACTION); /* local data: qname appended to the target */
        return;
    } else {
        len = rpz_name(c, tg.p, tg.n, w);
        if (len < 0) {
            bad(c, c->why, tg.p, tg.n);
            return;
        }
        if (wire_is(w, len, "rpz-passthru"))
            act = MW_LISTFILE_ACT_PASSTHRU;
        else if (wire_is(w, len, "rpz-drop"))
            act = MW_LISTFILE_ACT_DROP;
        else if (wire_is(w, len, "rpz-tcp-only")) {
            flush(c);
            skip(c, MW_LISTFILE_SKIP_RPZ_ACTION);
            return;
        } else if (!t->ip && !t->wild && len == c->own_len && memcmp(w, c->own, (size_t)len) == 0)
            act = MW_LISTFILE_ACT_PASSTHRU; /* the older form: CNAME to the name itself */
    }
    flush(c);
    fill(c, t, act);
    if (act == MW_LISTFILE_ACT_CNAME) {
        c->e.target_len = (uint16_t)len;
        memcpy(c->e.target, w, (size_t)len);
    }
    emit(c);
}

static void rpz_addr(struct ctx *c, const struct trigger *t, struct span a, int family)
{
    struct mw_cidr addr = {.family = (uint8_t)family, .prefix = family == AF_INET ? 32 : 128};
    if (!tok_addr(a.p, a.n, family, addr.addr)) {
        bad(c, family == AF_INET ? "invalid A address" : "invalid AAAA address", a.p, a.n);
        return;
    }
    if (c->pending && same_trigger(c, t)) {
        if (c->e.naddrs == MW_LISTFILE_ADDRS_MAX) {
            bad(c, "more than 16 local addresses for one trigger", a.p, a.n);
            return;
        }
        c->e.addrs[c->e.naddrs++] = addr;
        return;
    }
    flush(c);
    fill(c, t, MW_LISTFILE_ACT_SINKHOLE);
    c->e.addrs[0] = addr;
    c->e.naddrs = 1;
    c->pending = true;
}

/* The trigger of the current owner: its name relative to the apex, or an rpz-ip prefix.
 * Returns 1 for a trigger, 0 when the record is to be left alone (apex, skipped trigger). */
static int rpz_trigger(struct ctx *c, struct trigger *t, struct span owner)
{
    const uint8_t *apex = c->apex_set ? c->apex : (const uint8_t *)"";
    size_t alen = c->apex_set ? c->apex_len : 1;
    t->wild = c->own_wild;
    t->ip = false;
    if (c->own_len == alen && memcmp(c->own, apex, alen) == 0) {
        if (!t->wild) {
            c->rep->ignored++; /* SOA, NS and other data of the zone itself */
            return 0;
        }
        bad(c, "would match every name", owner.p, owner.n);
        return 0;
    }
    if (!mw_dname_is_subdomain(c->own, c->own_len, apex, alen)) {
        bad(c, "owner name outside the zone", owner.p, owner.n);
        return 0;
    }
    t->len = (uint16_t)(c->own_len - alen + 1);
    memcpy(t->wire, c->own, t->len - 1u);
    t->wire[t->len - 1] = 0;
    size_t last = 0;
    for (size_t pos = 0; t->wire[pos]; pos += 1 + (size_t)t->wire[pos])
        last = pos;
    const uint8_t *l = t->wire + last;
    if (wire_is(l, (int)(t->len - last), "rpz-nsdname") ||
        wire_is(l, (int)(t->len - last), "rpz-nsip") ||
        wire_is(l, (int)(t->len - last), "rpz-client-ip")) {
        flush(c);
        skip(c, MW_LISTFILE_SKIP_RPZ_TRIGGER);
        return 0;
    }
    if (wire_is(l, (int)(t->len - last), "rpz-ip")) {
        if (t->wild) {
            bad(c, "wildcard rpz-ip trigger", owner.p, owner.n);
            return 0;
        }
        if (rpz_ip(t->wire, &t->cidr, c->why, sizeof(c->why)) < 0) {
            bad(c, c->why, owner.p, owner.n);
            return 0;
        }
        t->ip = true;
    }
    return 1;
}

static void rpz_directive(struct ctx *c, const struct rr *rr)
{
    struct span d = rr->tok[0];
    if (span_ieq(d.p, d.n, "$TTL"))
        return;
    if (span_ieq(d.p, d.n, "$INCLUDE")) {
        bad(c, "$INCLUDE is not supported", d.p, d.n);
        return;
    }
    if (!span_ieq(d.p, d.n, "$ORIGIN")) {
        bad(c, "unknown directive", d.p, d.n);
        return;
    }
    uint8_t w[MW_DNAME_MAX + 1];
    int len = rr->ntok >= 2 ? rpz_name(c, rr->tok[1].p, rr->tok[1].n, w) : -1;
    if (len < 0) {
        bad(c, rr->ntok >= 2 ? c->why : "$ORIGIN without a name", d.p, d.n);
        return;
    }
    memcpy(c->cur, w, (size_t)len);
    c->cur_len = (uint16_t)len;
    c->origin_seen = true;
    if (!c->apex_set) {
        memcpy(c->apex, w, (size_t)len);
        c->apex_len = (uint16_t)len;
        c->apex_set = true;
    }
}

static void rpz_record(struct ctx *c, const struct rr *rr)
{
    c->line = rr->line;
    if (rr->err) {
        bad(c, rr->err, rr->ntok ? rr->tok[0].p : "", rr->ntok ? rr->tok[0].n : 0);
        return;
    }
    size_t k = 0, ntok = rr->ntok < RR_TOKENS ? rr->ntok : RR_TOKENS;
    struct span owner = rr->tok[0];
    if (!rr->cont) {
        if (owner.p[0] == '$') {
            rpz_directive(c, rr);
            return;
        }
        rpz_owner(c, owner);
        k = 1;
    }
    if (c->own_state != OWN_NAME) {
        if (c->own_state == OWN_NONE)
            bad(c, "record without an owner name", owner.p, owner.n);
        return; /* OWN_BAD: reported with the owner */
    }
    while (k < ntok && (rr_class(rr->tok[k]) || digit(rr->tok[k].p[0])))
        k++; /* TTL and class, in either order */
    if (k >= ntok) {
        bad(c, "missing record type", owner.p, owner.n);
        return;
    }
    struct span type = rr->tok[k], rd = k + 1 < ntok ? rr->tok[k + 1] : (struct span){"", 0};
    if (span_ieq(type.p, type.n, "SOA")) {
        if (!c->soa_seen) {
            memcpy(c->apex, c->own, c->own_len);
            c->apex_len = c->own_len;
            c->apex_set = c->soa_seen = true;
            /* No $ORIGIN yet: the zone's own name is the origin of relative names. */
            if (!c->origin_seen) {
                memcpy(c->cur, c->own, c->own_len);
                c->cur_len = c->own_len;
            }
        }
        c->rep->ignored++;
        return;
    }
    bool cname = span_ieq(type.p, type.n, "CNAME"), a = span_ieq(type.p, type.n, "A"),
         aaaa = span_ieq(type.p, type.n, "AAAA");
    if (!cname && !a && !aaaa && !rr_type_known(type)) {
        bad(c, "unknown record type", type.p, type.n);
        return;
    }
    struct trigger t;
    if (rpz_trigger(c, &t, owner) == 0)
        return;
    if ((cname || a || aaaa) && rd.n == 0) {
        bad(c, "record without data", type.p, type.n);
    } else if (cname) {
        rpz_cname(c, &t, rd);
    } else if (a || aaaa) {
        rpz_addr(c, &t, rd, a ? AF_INET : AF_INET6);
    } else {
        flush(c);
        skip(c, MW_LISTFILE_SKIP_RPZ_DATA);
    }
}

static void rpz_parse(struct ctx *c, const char *buf, size_t len)
{
    size_t pos = 0;
    struct rr rr;
    c->scan = 1;
    c->cur[0] = 0;
    c->cur_len = 1;
    while (!c->rc && rr_read(c, buf, len, &pos, &rr))
        rpz_record(c, &rr);
    flush(c);
    c->line = c->scan - (len > 0 && buf[len - 1] == '\n' ? 1 : 0);
    if (len == 0)
        c->line = 0;
}

/* ---- detection ---- */

static bool rr_type_kw(const char *p, size_t n)
{
    return span_ieq(p, n, "SOA") || span_ieq(p, n, "NS") || span_ieq(p, n, "CNAME") ||
           span_ieq(p, n, "A") || span_ieq(p, n, "AAAA") || span_ieq(p, n, "TXT");
}

static bool glob_like(const char *p, size_t n)
{
    if (n > 2 && p[0] == '*' && p[1] == '.') {
        p += 2;
        n -= 2;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '*' || p[i] == '?' || p[i] == '[')
            return true;
    }
    return false;
}

/* The format one trimmed non-blank line suggests; AUTO for none. *strong: it decides. */
static enum mw_listfile_format detect_line(const char *p, size_t n, bool lead, bool *strong)
{
    struct mw_cidr cidr;
    uint32_t asn;
    char why[8];
    switch (p[0]) {
    case '!':
    case '|':
    case '/':
        return MW_LISTFILE_FMT_ADBLOCK;
    case ';':
        return MW_LISTFILE_FMT_RPZ;
    case '[':
        *strong = prefix_ieq(p, n, "[adblock") || prefix_ieq(p, n, "[adguard") ||
                  prefix_ieq(p, n, "[ublock");
        return *strong ? MW_LISTFILE_FMT_ADBLOCK : MW_LISTFILE_FMT_AUTO;
    case '$':
        *strong =
            prefix_ieq(p, n, "$origin") || prefix_ieq(p, n, "$ttl") || prefix_ieq(p, n, "$include");
        return *strong ? MW_LISTFILE_FMT_RPZ : MW_LISTFILE_FMT_ADBLOCK;
    case '@':
        if (n > 1 && p[1] == '@')
            return MW_LISTFILE_FMT_ADBLOCK;
        break;
    case '#':
        return cosmetic(p, n) ? MW_LISTFILE_FMT_ADBLOCK : MW_LISTFILE_FMT_AUTO;
    }
    if (prefix_ieq(p, n, "address=/") || prefix_ieq(p, n, "server=/") ||
        prefix_ieq(p, n, "local=/"))
        return MW_LISTFILE_FMT_DNSMASQ;
    if (cosmetic(p, n) || memchr(p, '^', n))
        return MW_LISTFILE_FMT_ADBLOCK;
    cut_comment(p, &n);
    trim(&p, &n);
    struct span t[4];
    size_t nt = 0;
    while (n > 0 && nt < 4) {
        size_t l = tok_len(p, n);
        t[nt++] = (struct span){p, l};
        p += l;
        n -= l;
        trim(&p, &n);
    }
    if (nt == 0)
        return MW_LISTFILE_FMT_AUTO;
    if (lead && rr_type_kw(t[0].p, t[0].n))
        return MW_LISTFILE_FMT_RPZ;
    if (nt >= 2) {
        if (tok_addr(t[0].p, t[0].n, 0, NULL))
            return MW_LISTFILE_FMT_HOSTS;
        for (size_t i = 1; i < nt; i++) {
            if (rr_type_kw(t[i].p, t[i].n) || rr_class(t[i]))
                return MW_LISTFILE_FMT_RPZ;
        }
        return MW_LISTFILE_FMT_PLAIN;
    }
    if (addr_like(t[0].p, t[0].n) && tok_cidr(t[0].p, t[0].n, &cidr))
        return MW_LISTFILE_FMT_IP;
    if (parse_asn(t[0].p, t[0].n, false, &asn, why, sizeof(why)) == 0)
        return MW_LISTFILE_FMT_ASN;
    const char *comma = memchr(t[0].p, ',', t[0].n);
    if (comma && comma > t[0].p && digit(t[0].p[0]))
        return MW_LISTFILE_FMT_CSV;
    if (glob_like(t[0].p, t[0].n))
        return MW_LISTFILE_FMT_PATTERN;
    return MW_LISTFILE_FMT_PLAIN;
}

enum mw_listfile_format mw_listfile_detect(const char *buf, size_t len)
{
    /* Tie-break order: the more specific syntax first. */
    static const enum mw_listfile_format order[] = {
        MW_LISTFILE_FMT_RPZ,   MW_LISTFILE_FMT_ADBLOCK, MW_LISTFILE_FMT_DNSMASQ,
        MW_LISTFILE_FMT_HOSTS, MW_LISTFILE_FMT_CSV,     MW_LISTFILE_FMT_PATTERN,
        MW_LISTFILE_FMT_ASN,   MW_LISTFILE_FMT_IP,      MW_LISTFILE_FMT_PLAIN,
    };
    size_t votes[MW_LISTFILE_FMT_CSV + 1] = {0}, seen = 0;
    if (!buf)
        return MW_LISTFILE_FMT_PLAIN;
    const char *p = buf, *end = buf + len;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end && seen < DETECT_LINES) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *l = p;
        size_t n = (size_t)(le - p);
        p = nl ? nl + 1 : end;
        bool lead = n > 0 && blank(l[0]), strong = false;
        trim(&l, &n);
        if (n == 0)
            continue;
        seen++;
        enum mw_listfile_format f = detect_line(l, n, lead, &strong);
        if (strong)
            return f;
        votes[f]++;
    }
    enum mw_listfile_format best = MW_LISTFILE_FMT_PLAIN;
    size_t most = 0;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (votes[order[i]] > most) {
            most = votes[order[i]];
            best = order[i];
        }
    }
    /* Plain lists take addresses too; an address list holds no names. */
    if ((best == MW_LISTFILE_FMT_IP || best == MW_LISTFILE_FMT_ASN) && votes[MW_LISTFILE_FMT_PLAIN])
        best = MW_LISTFILE_FMT_PLAIN;
    return best;
}

/* ---- public ---- */

static const char *const format_names[] = {
    [MW_LISTFILE_FMT_AUTO] = "auto",       [MW_LISTFILE_FMT_PLAIN] = "plain",
    [MW_LISTFILE_FMT_HOSTS] = "hosts",     [MW_LISTFILE_FMT_ADBLOCK] = "adblock",
    [MW_LISTFILE_FMT_DNSMASQ] = "dnsmasq", [MW_LISTFILE_FMT_RPZ] = "rpz",
    [MW_LISTFILE_FMT_IP] = "ip",           [MW_LISTFILE_FMT_ASN] = "asn",
    [MW_LISTFILE_FMT_PATTERN] = "pattern", [MW_LISTFILE_FMT_CSV] = "csv",
};

const char *mw_listfile_format_name(enum mw_listfile_format f)
{
    if ((unsigned)f >= sizeof(format_names) / sizeof(format_names[0]))
        return "unknown";
    return format_names[f];
}

int mw_listfile_format_parse(const char *s, enum mw_listfile_format *out)
{
    if (!s)
        return -EINVAL;
    if (strcasecmp(s, "domains") == 0) {
        *out = MW_LISTFILE_FMT_PLAIN;
        return 0;
    }
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
        if (strcasecmp(s, format_names[i]) == 0) {
            *out = (enum mw_listfile_format)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *mw_listfile_skip_name(enum mw_listfile_skip r)
{
    static const char *const names[] = {
        [MW_LISTFILE_SKIP_COSMETIC] = "element hiding",
        [MW_LISTFILE_SKIP_URL] = "URL path or port",
        [MW_LISTFILE_SKIP_REGEX] = "regular expression",
        [MW_LISTFILE_SKIP_SUBSTRING] = "unanchored substring",
        [MW_LISTFILE_SKIP_WILDCARD] = "wildcard in host",
        [MW_LISTFILE_SKIP_MODIFIER] = "narrowing option",
        [MW_LISTFILE_SKIP_DIRECTIVE] = "other dnsmasq directive",
        [MW_LISTFILE_SKIP_RPZ_TRIGGER] = "unsupported RPZ trigger",
        [MW_LISTFILE_SKIP_RPZ_ACTION] = "unsupported RPZ action",
        [MW_LISTFILE_SKIP_RPZ_DATA] = "unsupported RPZ local data",
    };
    if ((unsigned)r >= MW_LISTFILE_SKIP_N)
        return "unknown";
    return names[r];
}

int mw_listfile_parse_buf(const char *name, const char *buf, size_t len,
                          enum mw_listfile_format fmt, mw_listfile_entry_cb cb, void *arg,
                          struct mw_listfile_report *rep, struct mw_errlist *errs)
{
    static void (*const line_fn[])(struct ctx *, const char *, size_t) = {
        [MW_LISTFILE_FMT_PLAIN] = plain_line,     [MW_LISTFILE_FMT_HOSTS] = hosts_line,
        [MW_LISTFILE_FMT_ADBLOCK] = adblock_line, [MW_LISTFILE_FMT_DNSMASQ] = dnsmasq_line,
        [MW_LISTFILE_FMT_IP] = ip_line,           [MW_LISTFILE_FMT_ASN] = asn_line,
        [MW_LISTFILE_FMT_PATTERN] = pattern_line, [MW_LISTFILE_FMT_CSV] = csv_line,
    };
    memset(rep, 0, sizeof(*rep));
    if ((unsigned)fmt > MW_LISTFILE_FMT_CSV || (!buf && len))
        return -EINVAL;
    if (!buf)
        buf = "";
    struct ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->name = name ? name : "(buffer)";
    c->cb = cb;
    c->arg = arg;
    c->rep = rep;
    c->errs = errs;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    if (fmt == MW_LISTFILE_FMT_AUTO)
        fmt = mw_listfile_detect(buf, len);
    rep->format = fmt;
    if (fmt == MW_LISTFILE_FMT_RPZ) {
        rpz_parse(c, buf, len);
    } else {
        void (*fn)(struct ctx *, const char *, size_t) = line_fn[fmt];
        for (const char *p = buf, *end = buf + len; p < end && !c->rc;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            c->line++;
            c->allow = c->important = false;
            fn(c, p, (size_t)(le - p));
            p = nl ? nl + 1 : end;
        }
    }
    rep->lines = c->line;
    for (size_t i = 0; i < MW_LISTFILE_SKIP_N; i++)
        rep->skipped += rep->skip[i];
    if (errs && rep->bad > SHOWN_MAX)
        mw_errlist_add(errs, "%s: %zu more bad lines not shown", c->name, rep->bad - SHOWN_MAX);
    int rc = c->rc;
    free(c);
    return rc;
}

static int read_all(const char *path, char **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *buf = NULL;
    size_t len = 0, cap;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        goto out;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > FILE_MAX) {
        rc = -EFBIG;
        goto out;
    }
    /* One more byte than the size, so that a file that did not grow ends in one read. */
    cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
    buf = malloc(cap);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= FILE_MAX) {
                rc = -EFBIG;
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = -ENOMEM;
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
out:
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

int mw_listfile_parse_file(const char *path, enum mw_listfile_format fmt, mw_listfile_entry_cb cb,
                           void *arg, struct mw_listfile_report *rep, struct mw_errlist *errs)
{
    char *buf = NULL;
    size_t len = 0;
    memset(rep, 0, sizeof(*rep));
    int rc = read_all(path, &buf, &len);
    if (rc < 0) {
        if (errs)
            mw_errlist_add(errs, "%s: cannot read: %s", path, strerror(-rc));
        return rc;
    }
    rc = mw_listfile_parse_buf(path, buf, len, fmt, cb, arg, rep, errs);
    free(buf);
    return rc;
}

int mw_listfile_parse_entry(const char *text, struct mw_listfile_entry *out, char *why,
                            size_t why_len)
{
    char tmp[WHY_MAX];
    if (!why || why_len == 0) {
        why = tmp;
        why_len = sizeof(tmp);
    }
    why[0] = '\0';
    if (!text || !out)
        return fail(why, why_len, "no entry");
    const char *p = text;
    size_t n = strlen(text);
    trim(&p, &n);
    if (n == 0)
        return fail(why, why_len, "empty entry");
    out->line = 0;
    out->action = MW_LISTFILE_ACT_DEFAULT;
    out->allow = out->important = false;
    out->naddrs = 0;
    if (n > 2 && (p[0] | 0x20) == 'a' && (p[1] | 0x20) == 's' && digit(p[2])) {
        out->type = MW_LISTFILE_ENTRY_ASN;
        return parse_asn(p, n, true, &out->asn, why, why_len);
    }
    if (glob_like(p, n)) {
        out->type = MW_LISTFILE_ENTRY_PATTERN;
        return parse_pattern(p, n, out, why, why_len);
    }
    if (addr_like(p, n)) {
        if (tok_cidr(p, n, &out->cidr)) {
            out->type = MW_LISTFILE_ENTRY_IP;
            return 0;
        }
        const char *bad_addr = addr_bad(p, n);
        if (bad_addr)
            return fail(why, why_len, "%s", bad_addr);
    }
    if (n > 2 && p[0] == '*' && p[1] == '.') {
        p += 2;
        n -= 2;
    }
    int len = name_wire(p, n, out->name, 0, why, why_len);
    if (len < 0)
        return len;
    out->type = MW_LISTFILE_ENTRY_DOMAIN;
    out->kind = MW_LISTFILE_SUBTREE;
    out->name_len = (uint16_t)len;
    return 0;
}
