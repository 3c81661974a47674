/* Registered domains through libpsl; see regdom.h. libpsl takes text, so a wire name is
 * written as text into a stack buffer: with no escapes, the text offset of a label is its
 * wire offset (a length octet stands where the text has a dot, or nothing at the start), so
 * the answer maps back onto the wire name without another pass. Names whose labels hold
 * octets that would need escaping are refused rather than escaped: no list entry has them. */
#include "minewall/regdom.h"

#include <errno.h>
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/dname.h"

struct mw_regdom {
    psl_ctx_t *owned;     /* loaded from a file, or NULL */
    const psl_ctx_t *psl; /* owned or psl_builtin() (libpsl's, never freed) */
    char source[256 + 8];
};

struct mw_regdom *mw_regdom_new(const char *path)
{
    struct mw_regdom *rd = calloc(1, sizeof(*rd));
    if (!rd)
        return NULL;
    const char *tries[] = {path, MW_REGDOM_DAFSA, MW_REGDOM_DAT};
    for (size_t i = path ? 0 : 1; i < sizeof(tries) / sizeof(tries[0]) && !rd->owned; i++) {
        rd->owned = psl_load_file(tries[i]);
        if (rd->owned)
            snprintf(rd->source, sizeof(rd->source), "file %.255s", tries[i]);
        if (path) /* an explicit file is the only one asked for, then the built-in list */
            break;
    }
    rd->psl = rd->owned;
    if (!rd->psl) {
        rd->psl = psl_builtin();
        snprintf(rd->source, sizeof(rd->source), "libpsl built-in");
    }
    if (!rd->psl) {
        free(rd);
        return NULL;
    }
    return rd;
}

void mw_regdom_free(struct mw_regdom *rd)
{
    if (!rd)
        return;
    psl_free(rd->owned);
    free(rd);
}

const char *mw_regdom_source(const struct mw_regdom *rd)
{
    return rd->source;
}

/* The text of a wire name; false for the root and for labels with octets that need escapes. */
static bool to_text(const uint8_t *name, size_t len, char *text, size_t *tlen)
{
    size_t pos = 0;
    while (pos < len && name[pos]) {
        size_t l = name[pos];
        if (l > 63 || pos + 1 + l >= len)
            return false;
        if (pos)
            text[pos - 1] = '.';
        for (size_t i = 1; i <= l; i++) {
            uint8_t c = name[pos + i];
            if (c <= 0x20 || c >= 0x7f || c == '.')
                return false;
            text[pos + i - 1] = (char)c;
        }
        pos += 1 + l;
    }
    if (pos == 0 || pos >= len)
        return false;
    text[pos - 1] = 0;
    *tlen = pos - 1;
    return true;
}

int mw_regdom_find(const struct mw_regdom *rd, const uint8_t *name, size_t len)
{
    char text[MW_DNAME_MAX + 1];
    size_t tlen;
    if (len > MW_DNAME_MAX || !to_text(name, len, text, &tlen))
        return -ENOENT;
    const char *r = psl_registrable_domain(rd->psl, text);
    if (!r)
        return -ENOENT;
    return r == text ? 0 : (int)(r - text); /* the dot before it is its length octet */
}

bool mw_regdom_is_public(const struct mw_regdom *rd, const uint8_t *name, size_t len)
{
    char text[MW_DNAME_MAX + 1];
    size_t tlen;
    if (len > MW_DNAME_MAX || !to_text(name, len, text, &tlen))
        return false;
    const char *tld = strrchr(text, '.');
    if (!tld) /* one label: a host name completed by a search list, or localhost */
        return false;
    if (tlen >= 9 && strcmp(text + tlen - 9, "home.arpa") == 0 &&
        (tlen == 9 || text[tlen - 10] == '.'))
        return false;
    return psl_is_public_suffix2(rd->psl, tld + 1, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) != 0;
}
