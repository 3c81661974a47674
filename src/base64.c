/* Base64 without padding; see base64.h. */
#include "minewall/base64.h"

#include <errno.h>

static const char STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int mw_base64_encode(const uint8_t *in, size_t len, bool url, char *out, size_t cap)
{
    const char *a = url ? URL : STD;
    size_t need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
    if (need + 1 > cap)
        return -ENOSPC;
    char *o = out;
    for (size_t i = 0; i < len; i += 3) {
        size_t k = len - i < 3 ? len - i : 3; /* bytes in this group */
        uint32_t v = (uint32_t)in[i] << 16;
        if (k > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (k > 2)
            v |= in[i + 2];
        for (size_t c = 0; c <= k; c++) /* k bytes make k + 1 characters */
            *o++ = a[(v >> (18 - 6 * c)) & 63];
    }
    *o = 0;
    return (int)(o - out);
}

static int value(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

int mw_base64_decode(const char *s, size_t n, bool url, uint8_t *out, size_t cap)
{
    if (n % 4 == 1)
        return -EINVAL;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap)
        return -ENOSPC;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int v = value(s[i], url);
        if (v < 0)
            return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[w++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* canonical text only: the bits past the last byte are zero */
        return -EINVAL;
    return (int)w;
}
