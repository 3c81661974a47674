/* A bounded text writer over a caller's fixed buffer: every append either fits or is cut, the
 * buffer is never overrun and always NUL-terminated, and a cut is remembered (`trunc`), so the
 * caller can count the line as truncated or drop it. Once something was cut, later appends are
 * ignored: a line never continues after a gap. Every fixed-size text line of minewall (block
 * events, block log, journal, metrics labels, /status strings) is built through this module and
 * the JSON writer on top of it (jsonw.h). Pure: no allocation, no I/O. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct mw_strbuf {
    char *b;    /* borrowed: cap bytes */
    size_t cap; /* at least 1 (room for the NUL) */
    size_t len; /* bytes written; b[len] is always NUL, len < cap */
    bool trunc; /* an append did not fit: what came after it was dropped */
};

/* Start writing at buf (cap bytes, cap >= 1; a cap of 0 makes every append a truncation and
 * buf is never touched). */
void mw_strbuf_init(struct mw_strbuf *sb, char *buf, size_t cap);

/* Append n bytes of s. When they do not all fit, as many as fit are written, trunc is set and
 * every later append is ignored. Inline below. */
static inline void mw_strbuf_put(struct mw_strbuf *sb, const char *s, size_t n);
/* What mw_strbuf_put does when the bytes do not all fit (or n is 0, or a cut came before). */
void mw_strbuf_put_slow(struct mw_strbuf *sb, const char *s, size_t n);
/* Append the NUL-terminated s; NULL appends nothing. */
void mw_strbuf_puts(struct mw_strbuf *sb, const char *s);
static inline void mw_strbuf_putc(struct mw_strbuf *sb, char c);
/* Append a decimal number. */
void mw_strbuf_u64(struct mw_strbuf *sb, uint64_t v);

/* v in decimal at o (at most 20 bytes, no NUL); returns the end. */
char *mw_dec_u64(char *o, uint64_t v);
/* Append printf-formatted text; cut like mw_strbuf_put when it does not fit. */
void mw_strbuf_printf(struct mw_strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mw_strbuf_vprintf(struct mw_strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Go back to length len (<= sb->len) and clear trunc: undo what was appended since a mark. */
void mw_strbuf_rewind(struct mw_strbuf *sb, size_t len);

/* Room left for text (without the NUL). */
static inline size_t mw_strbuf_room(const struct mw_strbuf *sb)
{
    return sb->cap ? sb->cap - 1 - sb->len : 0;
}

/* The common case inline: every line minewall writes (block log, query log, journal, metrics)
 * is made of many short appends, and a call per append was most of a query log line's cost. */
static inline void mw_strbuf_put(struct mw_strbuf *sb, const char *s, size_t n)
{
    if (n && !sb->trunc && n <= mw_strbuf_room(sb)) {
        memcpy(sb->b + sb->len, s, n);
        sb->len += n;
        sb->b[sb->len] = '\0';
        return;
    }
    mw_strbuf_put_slow(sb, s, n);
}

static inline void mw_strbuf_putc(struct mw_strbuf *sb, char c)
{
    mw_strbuf_put(sb, &c, 1);
}

/* Length of the valid UTF-8 sequence at s (n bytes available, n >= 1): 1 for ASCII, 2-4 for a
 * well-formed sequence (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF),
 * or 0 when the byte at s does not start one. */
size_t mw_utf8_len(const unsigned char *s, size_t n);
