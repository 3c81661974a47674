/* JSON writer; see jsonw.h. The escaper reads the input one UTF-8 character at a time, so a
 * cut (max) always falls between characters and never splits a sequence. */
#include "minewall/jsonw.h"

#include <string.h>

/* Bytes that go into a JSON string as they are: printable ASCII but quote and backslash. */
#define PL1(c) ((c) >= 0x20 && (c) < 0x7f && (c) != '"' && (c) != '\\')
#define PL4(c) PL1(c), PL1(c + 1), PL1(c + 2), PL1(c + 3)
#define PL16(c) PL4(c), PL4(c + 4), PL4(c + 8), PL4(c + 12)
#define PL64(c) PL16(c), PL16(c + 16), PL16(c + 32), PL16(c + 48)
static const bool PLAIN[256] = {PL64(0), PL64(64), PL64(128), PL64(192)};

void mw_jsonw_strn(struct mw_strbuf *sb, const char *s, size_t len, size_t max, bool *cut)
{
    static const char xd[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    mw_strbuf_putc(sb, '"');
    /* Bytes that go out unchanged (printable ASCII but quote and backslash, valid UTF-8)
     * are gathered in a run [from, i) and appended at once: names and labels are mostly
     * that, and one append per byte made the escaper the cost of every log line. */
    size_t i = 0, from = 0, lim = len < max ? len : max;
    while (i < len) {
        /* The run of plain ASCII first, by table: one load and test a byte. */
        while (i < lim && PLAIN[p[i]])
            i++;
        if (i == len)
            break;
        unsigned c = p[i];
        size_t n = 1;
        bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
        if (c >= 0x80) {
            n = mw_utf8_len(p + i, len - i);
            plain = n > 0;
        }
        if (i + (n ? n : 1) > max) {
            if (cut)
                *cut = true;
            break;
        }
        if (plain) {
            i += n;
            continue;
        }
        mw_strbuf_put(sb, s + from, i - from);
        if (n == 0) {
            mw_strbuf_put(sb, "\\ufffd", 6);
        } else if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            mw_strbuf_put(sb, e, 2);
        } else if (c == '\n') {
            mw_strbuf_put(sb, "\\n", 2);
        } else if (c == '\r') {
            mw_strbuf_put(sb, "\\r", 2);
        } else if (c == '\t') {
            mw_strbuf_put(sb, "\\t", 2);
        } else if (c == '\b') {
            mw_strbuf_put(sb, "\\b", 2);
        } else if (c == '\f') {
            mw_strbuf_put(sb, "\\f", 2);
        } else { /* the other control characters and DEL */
            char e[6] = {'\\', 'u', '0', '0', xd[c >> 4], xd[c & 15]};
            mw_strbuf_put(sb, e, 6);
        }
        i++;
        from = i;
        if (sb->trunc)
            break;
    }
    mw_strbuf_put(sb, s + from, i - from);
    mw_strbuf_putc(sb, '"');
}

void mw_jsonw_str(struct mw_strbuf *sb, const char *s)
{
    if (!s)
        mw_strbuf_put(sb, "null", 4);
    else
        mw_jsonw_strn(sb, s, strlen(s), SIZE_MAX, NULL);
}

void mw_jsonw_key(struct mw_strbuf *sb, const char *k)
{
    if (sb->len && sb->b[sb->len - 1] != '{')
        mw_strbuf_putc(sb, ',');
    mw_strbuf_putc(sb, '"');
    mw_strbuf_puts(sb, k);
    mw_strbuf_put(sb, "\":", 2);
}

void mw_jsonw_kstr(struct mw_strbuf *sb, const char *k, const char *v)
{
    mw_jsonw_key(sb, k);
    mw_jsonw_str(sb, v);
}

void mw_jsonw_kstrn(struct mw_strbuf *sb, const char *k, const char *v, size_t max, bool *cut)
{
    mw_jsonw_key(sb, k);
    if (v)
        mw_jsonw_strn(sb, v, strlen(v), max, cut);
    else
        mw_strbuf_put(sb, "null", 4);
}

void mw_jsonw_kbool(struct mw_strbuf *sb, const char *k, bool v)
{
    mw_jsonw_key(sb, k);
    mw_strbuf_puts(sb, v ? "true" : "false");
}

void mw_jsonw_ku64(struct mw_strbuf *sb, const char *k, uint64_t v)
{
    mw_jsonw_key(sb, k);
    mw_strbuf_u64(sb, v);
}

void mw_jsonw_kstrs(struct mw_strbuf *sb, const char *k, const char *const *v, size_t n, size_t max,
                    size_t item_max, bool *trunc)
{
    mw_jsonw_key(sb, k);
    mw_strbuf_putc(sb, '[');
    for (size_t i = 0; i < n; i++) {
        if (i == max) {
            if (trunc)
                *trunc = true;
            break;
        }
        if (i)
            mw_strbuf_putc(sb, ',');
        if (v[i])
            mw_jsonw_strn(sb, v[i], strlen(v[i]), item_max, trunc);
        else
            mw_strbuf_put(sb, "null", 4);
    }
    mw_strbuf_putc(sb, ']');
}
