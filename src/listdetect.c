/* Format detection: each of the first DETECT_LINES non-blank lines votes for the format its
 * syntax suggests, and a few markers decide at once. The votes are cheap lexical tests (the
 * full parsers run later, on the chosen format only); ties go to the more specific syntax.
 * Record type and class mnemonics are ldns's (dnstext.c); a type word only votes in the
 * position a zone puts it (after an owner, or first on an indented line). */
#include "minewall/listdetect.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "listfile_internal.h"
#include "minewall/dnstext.h"
#include "minewall/netaddr.h"

#define DETECT_LINES 500 /* non-blank lines the detector looks at */

struct span {
    const char *p;
    size_t n;
};

static bool rr_class(struct span t)
{
    return mw_dnstext_class_parse(t.p, t.n) > 0;
}

static bool rr_type_kw(const char *p, size_t n)
{
    return mw_dnstext_type_parse(p, n) > 0;
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
        return mw_listfile__cosmetic(p, n) ? MW_LISTFILE_FMT_ADBLOCK : MW_LISTFILE_FMT_AUTO;
    }
    if (prefix_ieq(p, n, "address=/") || prefix_ieq(p, n, "server=/") ||
        prefix_ieq(p, n, "local=/"))
        return MW_LISTFILE_FMT_DNSMASQ;
    if (mw_listfile__cosmetic(p, n) || memchr(p, '^', n))
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
        if (mw_listfile__addr(t[0].p, t[0].n, 0, NULL))
            return MW_LISTFILE_FMT_HOSTS;
        for (size_t i = 1; i < nt; i++) {
            if (rr_type_kw(t[i].p, t[i].n) || rr_class(t[i]))
                return MW_LISTFILE_FMT_RPZ;
        }
        return MW_LISTFILE_FMT_PLAIN;
    }
    if (addr_like(t[0].p, t[0].n) && mw_listfile__cidr(t[0].p, t[0].n, &cidr))
        return MW_LISTFILE_FMT_IP;
    if (mw_listfile__asn(t[0].p, t[0].n, false, &asn, why, sizeof(why)) == 0)
        return MW_LISTFILE_FMT_ASN;
    const char *comma = memchr(t[0].p, ',', t[0].n);
    if (comma && comma > t[0].p && digit(t[0].p[0]))
        return MW_LISTFILE_FMT_CSV;
    if (mw_listfile__glob_like(t[0].p, t[0].n))
        return MW_LISTFILE_FMT_PATTERN;
    return MW_LISTFILE_FMT_PLAIN;
}

enum mw_listfile_format mw_listdetect_format(const char *buf, size_t len)
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
