/* Bounded text writer; see strbuf.h. The invariant every function keeps: len < cap and
 * b[len] == 0, whatever is appended. */
#include "minewall/strbuf.h"

#include <stdio.h>
#include <string.h>

void mw_strbuf_init(struct mw_strbuf *sb, char *buf, size_t cap)
{
    *sb = (struct mw_strbuf){.b = buf, .cap = cap};
    if (cap)
        buf[0] = '\0';
    else
        sb->trunc = true;
}

void mw_strbuf_put_slow(struct mw_strbuf *sb, const char *s, size_t n)
{
    if (sb->trunc || n == 0)
        return;
    size_t room = mw_strbuf_room(sb);
    if (n > room) {
        n = room;
        sb->trunc = true;
    }
    memcpy(sb->b + sb->len, s, n);
    sb->len += n;
    sb->b[sb->len] = '\0';
}

void mw_strbuf_puts(struct mw_strbuf *sb, const char *s)
{
    if (s)
        mw_strbuf_put(sb, s, strlen(s));
}

char *mw_dec_u64(char *o, uint64_t v)
{
    char d[20];
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(o, d + i, sizeof(d) - i);
    return o + sizeof(d) - i;
}

void mw_strbuf_u64(struct mw_strbuf *sb, uint64_t v)
{
    char d[20];
    mw_strbuf_put(sb, d, (size_t)(mw_dec_u64(d, v) - d));
}

void mw_strbuf_vprintf(struct mw_strbuf *sb, const char *fmt, va_list ap)
{
    if (sb->trunc)
        return;
    /* vsnprintf writes at most room + 1 bytes, the NUL included, and always terminates. */
    size_t room = mw_strbuf_room(sb);
    int n = vsnprintf(sb->b + sb->len, room + 1, fmt, ap);
    if (n < 0) {
        sb->b[sb->len] = '\0';
        sb->trunc = true;
        return;
    }
    if ((size_t)n > room) {
        sb->len += room;
        sb->trunc = true;
    } else {
        sb->len += (size_t)n;
    }
}

void mw_strbuf_printf(struct mw_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mw_strbuf_vprintf(sb, fmt, ap);
    va_end(ap);
}

void mw_strbuf_rewind(struct mw_strbuf *sb, size_t len)
{
    if (!sb->cap || len > sb->len)
        return;
    sb->len = len;
    sb->b[len] = '\0';
    sb->trunc = false;
}

size_t mw_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}
