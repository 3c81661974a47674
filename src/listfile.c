/* List file parsers for the line formats: one buffer (the whole file, read at once) scanned
 * line by line with memchr and hand-written loops; nothing is allocated per line: names are
 * converted to wire form straight into the one struct mw_listfile_entry of the parse, which the
 * callback borrows. Only a non-ASCII name costs an allocation (libidn2's output). The buffer is
 * never assumed to be NUL-terminated and may hold any bytes: every index is checked against
 * the line's length, NUL bytes are invalid characters like any other.
 *
 * RPZ zones have structure across lines and are read by rpz.c; the format of a file is guessed
 * by listdetect.c. This file holds the public entry points that dispatch to them and the
 * helpers they share (listfile_internal.h): name validation, addresses, messages. */
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

#include "listfile_internal.h"
#include "minewall/error.h"
#include "minewall/file.h"
#include "minewall/hash.h"
#include "minewall/listdetect.h"
#include "minewall/rpz.h"
#include "minewall/strbuf.h"

#define SHOWN_MAX 20 /* bad-line messages kept per file */
#define QUOTE_MAX 60 /* bytes of offending text quoted in a message */
#define FILE_MAX ((size_t)1 << 30)
#define WHY_MAX MW_LISTFILE__WHY_MAX

struct ctx {
    struct mw_listfile__out o;
    bool allow, important; /* of the AdBlock rule being parsed */
    const char *addr;      /* the last valid hosts address, in the buffer */
    size_t addr_n;
    char why[WHY_MAX];
};

/* ---- messages and counting ---- */

int mw_listfile__fail(char *why, size_t wl, const char *fmt, ...)
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

void mw_listfile__out_init(struct mw_listfile__out *o, const char *name, mw_listfile_entry_cb cb,
                           void *arg, struct mw_listfile_report *rep, struct mw_errlist *errs)
{
    o->name = name;
    o->cb = cb;
    o->arg = arg;
    o->rep = rep;
    o->errs = errs;
    o->line = 0;
    o->rc = 0;
}

void mw_listfile__bad(struct mw_listfile__out *o, const char *why, const char *txt, size_t n)
{
    o->rep->bad++;
    if (!o->errs || o->rep->bad > SHOWN_MAX)
        return;
    char q[QUOTE_MAX * 4 + 8];
    quote(q, sizeof(q), txt, n);
    mw_errlist_add(o->errs, "%s:%u: %s: \"%s\"", o->name, (unsigned)o->line, why, q);
}

void mw_listfile__emit(struct mw_listfile__out *o)
{
    if (o->rc)
        return;
    if (o->cb) {
        int rc = o->cb(&o->e, o->arg);
        if (rc < 0) {
            o->rc = rc;
            return;
        }
    }
    o->rep->entries++;
}

void mw_listfile__finish(struct mw_listfile__out *o)
{
    struct mw_listfile_report *rep = o->rep;
    rep->skipped = 0;
    for (size_t i = 0; i < MW_LISTFILE_SKIP_N; i++)
        rep->skipped += rep->skip[i];
    if (o->errs && rep->bad > SHOWN_MAX)
        mw_errlist_add(o->errs, "%s: %zu more bad lines not shown", o->name, rep->bad - SHOWN_MAX);
}

/* Common fields of a new entry from the current line. */
static void begin(struct ctx *c, enum mw_listfile_type t)
{
    c->o.e.type = t;
    c->o.e.line = c->o.line;
    c->o.e.action = MW_LISTFILE_ACT_DEFAULT;
    c->o.e.allow = c->allow;
    c->o.e.important = c->important;
    c->o.e.naddrs = 0;
}

static inline bool in_set(char ch, const char *set)
{
    return ch != '\0' && strchr(set, ch) != NULL;
}

/* ---- names ---- */

/* 1: keep, 2: upper case letter; 0: not allowed in a name. */
static const uint8_t name_map[256] = {
    ['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 2, ['-'] = 1, ['_'] = 1,
};

static int name_idn(const char *s, size_t n, uint8_t *wire, unsigned flags, char *why, size_t wl)
{
    char in[1024];
    if (memchr(s, '\0', n))
        return mw_listfile__fail(why, wl, "invalid character '\\0'");
    if (n >= sizeof(in))
        return mw_listfile__fail(why, wl, "name longer than 255 octets");
    memcpy(in, s, n);
    in[n] = '\0';
    char *ascii = NULL;
    int rc = idn2_to_ascii_8z(in, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK)
        return mw_listfile__fail(why, wl, "IDN conversion failed: %s", idn2_strerror(rc));
    int r = mw_listfile__name(ascii, strlen(ascii), wire, flags | MW_LISTFILE__NAME_NOIDN, why, wl);
    idn2_free(ascii);
    return r;
}

/* Text name (one trailing dot allowed) to lowercase wire in wire[MW_DNAME_MAX + 1]. Returns
 * the wire length or -EINVAL with the reason in why. */
int mw_listfile__name(const char *s, size_t n, uint8_t *wire, unsigned flags, char *why, size_t wl)
{
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0)
        return mw_listfile__fail(why, wl, "empty name");
    if (s[0] == '.')
        return mw_listfile__fail(why, wl, "leading dot");
    size_t lab = 0, out = 1, labels = 1;
    bool num = true, all_num = true;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)s[i], m = name_map[ch];
        if (ch == '.') {
            if (out - lab == 1)
                return mw_listfile__fail(why, wl, "empty label (\"..\")");
            wire[lab] = (uint8_t)(out - lab - 1);
            lab = out++;
            labels++;
            num = true;
            continue;
        }
        if (!m) {
            if ((flags & MW_LISTFILE__NAME_ESC) && ch > 0x20 && ch < 0x7f)
                return -EILSEQ; /* an escape or a character only master files allow */
            if (ch >= 0x80 && !(flags & MW_LISTFILE__NAME_NOIDN)) {
                if ((flags & MW_LISTFILE__NAME_ESC) && memchr(s, '\\', n))
                    return -EILSEQ; /* an escape anywhere: the master-file reader's */
                /* IDN would take a second trailing dot off ("ճ.." read as "ճ": fuzz_rpz). */
                if (s[n - 1] == '.')
                    return mw_listfile__fail(why, wl, "empty label (\"..\")");
                return name_idn(s, n, wire, flags, why, wl);
            }
            if (ch >= 0x20 && ch < 0x7f)
                return mw_listfile__fail(why, wl, "invalid character '%c'", ch);
            return mw_listfile__fail(why, wl, "invalid character 0x%02x", ch);
        }
        if (out - lab > 63)
            return mw_listfile__fail(why, wl, "label longer than 63 octets");
        /* Label octets end at index 253 so that the root label fits in 255. */
        if (out > MW_DNAME_MAX - 2)
            return mw_listfile__fail(why, wl, "name longer than 255 octets");
        wire[out++] = m == 2 ? (uint8_t)(ch + 32) : ch;
        if (!digit((char)ch))
            num = all_num = false;
    }
    if (out - lab == 1)
        return mw_listfile__fail(why, wl, "empty label (\"..\")");
    wire[lab] = (uint8_t)(out - lab - 1);
    wire[out++] = 0;
    /* In RPZ the zone decides, and relative owners ("32.4.3.2.1") are partial names. */
    if (num && !(flags & MW_LISTFILE__NAME_RPZ))
        return mw_listfile__fail(why, wl,
                                 all_num ? "an address, not a name" : "numeric top-level label");
    if (labels == 1 && !(flags & MW_LISTFILE__NAME_RPZ))
        return mw_listfile__fail(why, wl, "would block a whole TLD");
    return (int)out;
}

/* ---- addresses ---- */

bool mw_listfile__cidr(const char *p, size_t n, struct mw_cidr *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf) || memchr(p, '\0', n))
        return false; /* a NUL would end the text early: "1.2.3.4\0junk" */
    memcpy(buf, p, n);
    buf[n] = '\0';
    return mw_cidr_parse(buf, out) == 0;
}

bool mw_listfile__addr(const char *p, size_t n, int family, uint8_t *addr)
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
    c->o.e.cidr = *cidr;
    mw_listfile__emit(&c->o);
}

static void emit_domain(struct ctx *c, const char *p, size_t n, enum mw_listfile_kind kind)
{
    int len = mw_listfile__name(p, n, c->o.e.name, 0, c->why, sizeof(c->why));
    if (len < 0) {
        mw_listfile__bad(&c->o, c->why, p, n);
        return;
    }
    begin(c, MW_LISTFILE_ENTRY_DOMAIN);
    c->o.e.kind = kind;
    c->o.e.name_len = (uint16_t)len;
    mw_listfile__emit(&c->o);
}

/* A name, or an address/prefix standing for a host (plain and AdBlock lists). */
static void name_or_addr(struct ctx *c, const char *p, size_t n)
{
    struct mw_cidr cidr;
    if (addr_like(p, n)) {
        if (mw_listfile__cidr(p, n, &cidr)) {
            emit_ip(c, &cidr);
            return;
        }
        const char *why = addr_bad(p, n);
        if (why) {
            mw_listfile__bad(&c->o, why, p, n);
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
        mw_listfile__bad(&c->o, "unexpected text after the name", p, n);
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
        if (!mw_listfile__addr(p, t, 0, NULL)) {
            mw_listfile__bad(&c->o, "expected an address before the names", p, n);
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
            c->o.rep->ignored++;
        else if (addr_like(p, t) && mw_listfile__addr(p, t, 0, NULL))
            mw_listfile__bad(&c->o, "an address, not a name", p, t);
        else
            emit_domain(c, p, t, MW_LISTFILE_SUBTREE);
        p += t;
        n -= t;
    }
    if (names == 0)
        mw_listfile__bad(&c->o, "address without names", line, line_n);
}

/* Element hiding, scriptlets and HTML filters: "##", "#@#", "#?#", "#$#", "#%#", "#@?#"...,
 * "$$", "$@$". */
bool mw_listfile__cosmetic(const char *p, size_t n)
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
    if (mw_listfile__cosmetic(p, n)) {
        mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_COSMETIC);
        return;
    }
    size_t t = tok_len(p, n);
    if (t < n && mw_listfile__addr(p, t, 0, NULL)) {
        hosts_line(c, p, n); /* AdGuard Home accepts hosts lines in filter lists */
        return;
    }
    if (n >= 2 && p[0] == '@' && p[1] == '@') {
        c->allow = true;
        p += 2;
        n -= 2;
    }
    if (n >= 2 && p[0] == '/' && (p[n - 1] == '/' || memmem(p + 1, n - 1, "/$", 2))) {
        mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_REGEX);
        return;
    }
    if (n < 2 || p[0] != '|' || p[1] != '|') {
        mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_SUBSTRING);
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
        mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_WILDCARD);
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
            mw_listfile__bad(&c->o, "unexpected text after the rule", p - 2, n + 2);
        else
            mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_URL);
        return;
    }
    if (rn && !ab_options(c, r + 1, rn - 1)) {
        mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_MODIFIER);
        return;
    }
    if (h == 0) {
        mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_SUBSTRING);
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
        mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_DIRECTIVE);
        return;
    }
    const char *v = eq + 1;
    size_t vn = n - kn - 1;
    const char *last = vn ? memrchr(v, '/', vn) : NULL;
    if (!last || v[0] != '/' || last == v) {
        if (address)
            mw_listfile__bad(&c->o, "expected address=/name/[address]", p, n);
        else
            mw_listfile__skip(&c->o, MW_LISTFILE_SKIP_DIRECTIVE); /* server=UPSTREAM */
        return;
    }
    const char *val = last + 1;
    size_t valn = (size_t)(v + vn - val);
    if (!address && valn > 0) {
        mw_listfile__skip(&c->o,
                          MW_LISTFILE_SKIP_DIRECTIVE); /* forwarded, or '#': the default servers */
        return;
    }
    if (address && valn > 0 && !(valn == 1 && val[0] == '#') &&
        !mw_listfile__addr(val, valn, 0, NULL)) {
        mw_listfile__bad(&c->o, "invalid address", val, valn);
        return;
    }
    if (last == v + 1) {
        mw_listfile__bad(&c->o, "empty domain", p, n);
        return;
    }
    for (const char *q = v + 1; q < last;) {
        const char *s = memchr(q, '/', (size_t)(last - q));
        size_t ln = (size_t)((s ? s : last) - q);
        if (ln == 0)
            mw_listfile__bad(&c->o, "empty domain", p, n);
        else if (ln == 1 && q[0] == '#')
            mw_listfile__bad(&c->o, "would block everything", p, n);
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
        mw_listfile__bad(&c->o, "unexpected text after the address", p, n);
    else if (!mw_listfile__cidr(p, n, &cidr))
        mw_listfile__bad(
            &c->o, memchr(p, '/', n) ? "invalid prefix (host bits set?)" : "not an address", p, n);
    else
        emit_ip(c, &cidr);
}

int mw_listfile__asn(const char *p, size_t n, bool need_as, uint32_t *out, char *why, size_t wl)
{
    if (n >= 2 && (p[0] | 0x20) == 'a' && (p[1] | 0x20) == 's') {
        p += 2;
        n -= 2;
    } else if (need_as) {
        return mw_listfile__fail(why, wl, "not an AS number");
    }
    if (n == 0 || n > 10)
        return mw_listfile__fail(why, wl, "not an AS number");
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!digit(p[i]))
            return mw_listfile__fail(why, wl, "not an AS number");
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > UINT32_MAX)
        return mw_listfile__fail(why, wl, "AS number out of range");
    if (v == 0)
        return mw_listfile__fail(why, wl, "AS0 is reserved (RFC 7607)");
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
        mw_listfile__bad(&c->o, "unexpected text after the AS number", p, n);
    } else if (mw_listfile__asn(p, n, false, &asn, c->why, sizeof(c->why)) < 0) {
        mw_listfile__bad(&c->o, c->why, p, n);
    } else {
        begin(c, MW_LISTFILE_ENTRY_ASN);
        c->o.e.asn = asn;
        mw_listfile__emit(&c->o);
    }
}

/* Validate and lowercase a glob into e->pattern. */
static int parse_pattern(const char *p, size_t n, struct mw_listfile_entry *e, char *why, size_t wl)
{
    if (n > 0 && p[n - 1] == '.')
        n--;
    if (n == 0)
        return mw_listfile__fail(why, wl, "empty pattern");
    if (n > MW_LISTFILE_PATTERN_MAX)
        return mw_listfile__fail(why, wl, "pattern longer than %d characters",
                                 MW_LISTFILE_PATTERN_MAX);
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
                return mw_listfile__fail(why, wl, "invalid character '%c' in a bracket set", ch);
            continue;
        }
        if (ch == '[') {
            set = true;
            set_start = i + 1;
        } else if (ch == ']') {
            return mw_listfile__fail(why, wl, "unbalanced ']'");
        } else if (name_map[ch]) {
            literal = true;
        } else if (ch != '*' && ch != '?' && ch != '.') {
            if (ch >= 0x20 && ch < 0x7f)
                return mw_listfile__fail(why, wl, "invalid character '%c'", ch);
            return mw_listfile__fail(why, wl, "invalid character 0x%02x", ch);
        }
    }
    if (set)
        return mw_listfile__fail(why, wl, "unbalanced '['");
    if (!literal)
        return mw_listfile__fail(why, wl, "would block everything");
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
        mw_listfile__bad(&c->o, "unexpected text after the pattern", p, n);
        return;
    }
    if (parse_pattern(p, n, &c->o.e, c->why, sizeof(c->why)) < 0) {
        mw_listfile__bad(&c->o, c->why, p, n);
        return;
    }
    begin(c, MW_LISTFILE_ENTRY_PATTERN);
    mw_listfile__emit(&c->o);
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
        mw_listfile__bad(&c->o, "expected rank,name", p, n);
        return;
    }
    const char *name = comma + 1;
    size_t nn = n - rank - 1;
    const char *end = memchr(name, ',', nn);
    if (end)
        nn = (size_t)(end - name);
    emit_domain(c, name, nn, MW_LISTFILE_EXACT);
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

typedef void (*line_fn)(struct ctx *, const char *, size_t);

static line_fn line_fn_of(enum mw_listfile_format fmt)
{
    static const line_fn fns[] = {
        [MW_LISTFILE_FMT_PLAIN] = plain_line,     [MW_LISTFILE_FMT_HOSTS] = hosts_line,
        [MW_LISTFILE_FMT_ADBLOCK] = adblock_line, [MW_LISTFILE_FMT_DNSMASQ] = dnsmasq_line,
        [MW_LISTFILE_FMT_IP] = ip_line,           [MW_LISTFILE_FMT_ASN] = asn_line,
        [MW_LISTFILE_FMT_PATTERN] = pattern_line, [MW_LISTFILE_FMT_CSV] = csv_line,
    };
    return fns[fmt];
}

static struct ctx *ctx_new(const char *name, mw_listfile_entry_cb cb, void *arg,
                           struct mw_listfile_report *rep, struct mw_errlist *errs)
{
    struct ctx *c = calloc(1, sizeof(*c));
    if (c)
        mw_listfile__out_init(&c->o, name, cb, arg, rep, errs);
    return c;
}

/* Parse the whole lines of [p, end), and with last the unterminated rest too. Returns where
 * the first line not parsed starts. */
static const char *run_lines(struct ctx *c, line_fn fn, const char *p, const char *end, bool last)
{
    while (p < end && !c->o.rc) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl && !last)
            break;
        const char *le = nl ? nl : end;
        c->o.line++;
        c->allow = c->important = false;
        fn(c, p, (size_t)(le - p));
        p = nl ? nl + 1 : end;
    }
    return p;
}

static int finish_ctx(struct ctx *c)
{
    c->o.rep->lines = c->o.line;
    mw_listfile__finish(&c->o);
    int rc = c->o.rc;
    free(c);
    return rc;
}

int mw_listfile_parse_buf(const char *name, const char *buf, size_t len,
                          enum mw_listfile_format fmt, mw_listfile_entry_cb cb, void *arg,
                          struct mw_listfile_report *rep, struct mw_errlist *errs)
{
    memset(rep, 0, sizeof(*rep));
    if ((unsigned)fmt > MW_LISTFILE_FMT_CSV || (!buf && len))
        return -EINVAL;
    if (!buf)
        buf = "";
    name = name ? name : "(buffer)";
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    if (fmt == MW_LISTFILE_FMT_AUTO)
        fmt = mw_listdetect_format(buf, len);
    if (fmt == MW_LISTFILE_FMT_RPZ)
        return mw_rpz_parse(name, buf, len, 0, cb, arg, rep, errs);
    rep->format = fmt;
    struct ctx *c = ctx_new(name, cb, arg, rep, errs);
    if (!c)
        return -ENOMEM;
    run_lines(c, line_fn_of(fmt), buf, buf + len, true);
    return finish_ctx(c);
}

uint64_t mw_listfile_hash_buf(const void *buf, size_t len)
{
    uint64_t h = 0;
    for (size_t o = 0; o < len; o += MW_LISTFILE_BLOCK) {
        size_t n = len - o < MW_LISTFILE_BLOCK ? len - o : MW_LISTFILE_BLOCK;
        h = mw_hash_bytes(0, h, (const char *)buf + o, n);
    }
    return h;
}

/* Read up to n bytes (fewer only at the end of the file). Returns the count or -errno. */
static ssize_t read_full(int fd, char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* A file read block by block, each block hashed as it arrives (mw_listfile_hash_buf). */
struct reader {
    int fd;
    char *buf; /* owned */
    size_t have, cap, total;
    uint64_t hash;
    int err; /* a read error, or -EFBIG */
    bool eof;
};

/* Append the next block after buf[0..have). Returns 0 or -errno. */
static int fill(struct reader *r)
{
    if (r->cap - r->have < MW_LISTFILE_BLOCK) {
        size_t cap = r->cap * 2;
        char *b = realloc(r->buf, cap + 1);
        if (!b)
            return -ENOMEM;
        r->buf = b;
        r->cap = cap;
    }
    ssize_t n = read_full(r->fd, r->buf + r->have, MW_LISTFILE_BLOCK);
    if (n < 0)
        return r->err = (int)n;
    if (n > 0)
        r->hash = mw_hash_bytes(0, r->hash, r->buf + r->have, (size_t)n);
    r->have += (size_t)n;
    r->total += (size_t)n;
    r->eof = (size_t)n < MW_LISTFILE_BLOCK;
    return r->total > FILE_MAX ? (r->err = -EFBIG) : 0;
}

/* The line formats, streamed: whole lines of the buffer are parsed, the unterminated rest is
 * moved to its front and the next block read after it. Memory is two blocks, not the file. */
static int stream_lines(struct reader *r, const char *name, size_t start, line_fn fn,
                        mw_listfile_entry_cb cb, void *arg, struct mw_listfile_report *rep,
                        struct mw_errlist *errs)
{
    struct ctx *c = ctx_new(name, cb, arg, rep, errs);
    if (!c)
        return -ENOMEM;
    const char *p = r->buf + start;
    int rc = 0;
    for (;;) {
        p = run_lines(c, fn, p, r->buf + r->have, r->eof);
        if (r->eof || c->o.rc)
            break;
        size_t rest = r->have - (size_t)(p - r->buf);
        memmove(r->buf, p, rest);
        r->have = rest;
        c->addr = NULL; /* it pointed into the buffer */
        c->addr_n = 0;
        rc = fill(r);
        if (rc < 0)
            break;
        p = r->buf;
    }
    int prc = finish_ctx(c);
    return rc < 0 ? rc : prc;
}

int mw_listfile_hash_file(const char *path, uint64_t *out)
{
    struct reader r = {.fd = open(path, O_RDONLY | O_CLOEXEC), .cap = MW_LISTFILE_BLOCK};
    if (r.fd < 0)
        return -errno;
    int rc = (r.buf = malloc(r.cap + 1)) ? 0 : -ENOMEM;
    while (!rc && !r.eof) {
        r.have = 0; /* only the hash is kept */
        rc = fill(&r);
    }
    close(r.fd);
    free(r.buf);
    if (!rc)
        *out = r.hash;
    return rc;
}

int mw_listfile_parse_file(const char *path, enum mw_listfile_format fmt, mw_listfile_entry_cb cb,
                           void *arg, struct mw_listfile_report *rep, struct mw_errlist *errs)
{
    memset(rep, 0, sizeof(*rep));
    if ((unsigned)fmt > MW_LISTFILE_FMT_CSV)
        return -EINVAL;
    struct reader r = {.fd = open(path, O_RDONLY | O_CLOEXEC), .cap = 2 * MW_LISTFILE_BLOCK};
    int rc = r.fd < 0 ? -errno : 0;
    struct stat st;
    if (!rc && fstat(r.fd, &st) < 0)
        rc = -errno;
    if (!rc && S_ISDIR(st.st_mode))
        rc = -EISDIR;
    if (!rc && !S_ISREG(st.st_mode)) {
        /* A pipe or a device: read whole, as before. */
        close(r.fd);
        r.fd = -1;
        size_t len = 0;
        rc = mw_file_read(path, FILE_MAX, &r.buf, &len);
        if (!rc) {
            uint64_t h = mw_listfile_hash_buf(r.buf, len);
            rc = mw_listfile_parse_buf(path, r.buf, len, fmt, cb, arg, rep, errs);
            rep->content_hash = h;
            free(r.buf);
            return rc;
        }
    }
    if (!rc && (uint64_t)st.st_size > FILE_MAX)
        rc = -EFBIG;
    if (!rc && !(r.buf = malloc(r.cap + 1)))
        rc = -ENOMEM;
    if (!rc)
        rc = fill(&r);
    if (rc < 0) {
        if (r.fd >= 0)
            close(r.fd);
        free(r.buf);
        if (errs)
            mw_errlist_add(errs, "%s: cannot read: %s", path, strerror(-rc));
        return rc;
    }
    size_t start = r.have >= 3 && memcmp(r.buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    if (fmt == MW_LISTFILE_FMT_AUTO)
        fmt = mw_listdetect_format(r.buf + start, r.have - start);
    if (fmt == MW_LISTFILE_FMT_RPZ) {
        /* Zones have structure across lines: rpz.c reads the file whole. */
        while (!r.eof && !(rc = fill(&r)))
            ;
        if (!rc)
            rc = mw_rpz_parse(path, r.buf + start, r.have - start, 0, cb, arg, rep, errs);
    } else {
        rep->format = fmt;
        rc = stream_lines(&r, path, start, line_fn_of(fmt), cb, arg, rep, errs);
    }
    if (r.err && errs)
        mw_errlist_add(errs, "%s: cannot read: %s", path, strerror(-r.err));
    rep->content_hash = r.hash;
    close(r.fd);
    free(r.buf);
    return rc;
}

bool mw_listfile__glob_like(const char *p, size_t n)
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
        return mw_listfile__fail(why, why_len, "no entry");
    const char *p = text;
    size_t n = strlen(text);
    trim(&p, &n);
    if (n == 0)
        return mw_listfile__fail(why, why_len, "empty entry");
    out->line = 0;
    out->action = MW_LISTFILE_ACT_DEFAULT;
    out->allow = out->important = false;
    out->naddrs = 0;
    if (n > 2 && (p[0] | 0x20) == 'a' && (p[1] | 0x20) == 's' && digit(p[2])) {
        out->type = MW_LISTFILE_ENTRY_ASN;
        return mw_listfile__asn(p, n, true, &out->asn, why, why_len);
    }
    if (mw_listfile__glob_like(p, n)) {
        out->type = MW_LISTFILE_ENTRY_PATTERN;
        return parse_pattern(p, n, out, why, why_len);
    }
    if (addr_like(p, n)) {
        if (mw_listfile__cidr(p, n, &out->cidr)) {
            out->type = MW_LISTFILE_ENTRY_IP;
            return 0;
        }
        const char *bad_addr = addr_bad(p, n);
        if (bad_addr)
            return mw_listfile__fail(why, why_len, "%s", bad_addr);
    }
    if (n > 2 && p[0] == '*' && p[1] == '.') {
        p += 2;
        n -= 2;
    }
    int len = mw_listfile__name(p, n, out->name, 0, why, why_len);
    if (len < 0)
        return len;
    out->type = MW_LISTFILE_ENTRY_DOMAIN;
    out->kind = MW_LISTFILE_SUBTREE;
    out->name_len = (uint16_t)len;
    return 0;
}
