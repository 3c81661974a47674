/* The JSON writer: JSON text (RFC 8259) appended to a bounded mw_strbuf. It holds the one JSON
 * string escaper of minewall: quote, backslash and control characters (and DEL) are escaped,
 * valid UTF-8 passes through unchanged, and each byte that is not part of valid UTF-8 becomes
 * \ufffd, so the output is valid JSON whatever bytes a name, a file line or a Redis reply
 * held. Like the strbuf below it, it never overruns: when the text does not fit, sb->trunc is
 * set and the caller drops (or counts) the line; a cut line is never passed off as whole.
 * Objects are written by the caller ('{', keys, '}'); mw_jsonw_key adds the comma. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minewall/strbuf.h"

/* A quoted string of the len bytes at s (NUL bytes are escaped as \u0000), at most max of the
 * input bytes: a longer string is cut at a character boundary and *cut set (cut may be NULL;
 * SIZE_MAX for no limit). */
void mw_jsonw_strn(struct mw_strbuf *sb, const char *s, size_t len, size_t max, bool *cut);
/* A quoted string, or null for NULL. */
void mw_jsonw_str(struct mw_strbuf *sb, const char *s);
/* ,"k": -- the comma unless the object just opened (the last byte written is '{'). k is
 * written as is: keys are literals of the caller. */
void mw_jsonw_key(struct mw_strbuf *sb, const char *k);
/* mw_jsonw_key of a string literal k, measured by the compiler: one append, no strlen (a
 * line of many keys, such as a journal event's, spent more on its keys than its values). */
#define MW_JSONW_KEY(sb, k) mw_jsonw_keyq((sb), "\"" k "\":", sizeof("\"" k "\":") - 1)
static inline void mw_jsonw_keyq(struct mw_strbuf *sb, const char *quoted, size_t n)
{
    if (sb->len && sb->b[sb->len - 1] != '{')
        mw_strbuf_putc(sb, ',');
    mw_strbuf_put(sb, quoted, n);
}
void mw_jsonw_kstr(struct mw_strbuf *sb, const char *k, const char *v);
/* "k": with at most max input bytes of v (see mw_jsonw_strn). */
void mw_jsonw_kstrn(struct mw_strbuf *sb, const char *k, const char *v, size_t max, bool *cut);
void mw_jsonw_kbool(struct mw_strbuf *sb, const char *k, bool v);
void mw_jsonw_ku64(struct mw_strbuf *sb, const char *k, uint64_t v);
/* "k":[...] of at most max of the n strings v (NULL items are written as null), each cut at
 * item_max bytes; *trunc set when anything was left out or cut (may be NULL). */
void mw_jsonw_kstrs(struct mw_strbuf *sb, const char *k, const char *const *v, size_t n, size_t max,
                    size_t item_max, bool *trunc);
