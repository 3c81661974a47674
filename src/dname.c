/* Domain names in wire form: text conversion, lowercasing, suffix tests and the bounded reader
 * for (possibly compressed) names inside packets. Every function here treats its input as
 * untrusted: label lengths, the 255-octet limit and compression pointers are checked before
 * any byte is read, and a pointer walk ends after 127 jumps, each of which must point strictly
 * backwards, so a hostile packet can neither read out of bounds nor loop. Pure: no allocation,
 * no logging, errors are negative errno values. Hand-written rather than ldns's dname functions
 * because names are read on every query and ldns allocates an rdf per name. */
#include "minewall/dname.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define LABEL_MAX 63
#define MAX_JUMPS 127
/* The DNS header holds no names: a pointer into it (RFC 1035 4.1.4 allows pointers only to a
 * prior occurrence of a name) would read bytes that every reply rewrites (ID, flags). */
#define MSG_HDR 12

static inline uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Bytes written as themselves in text form; everything else becomes \DDD. By table: the text
 * form of every name of an event line or a verdict tests each octet. */
#define PN1(c)                                                                                     \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9') || (c) == '-' || (c) == '_' ||       \
     (c) == '*')
#define PN4(c) PN1(c), PN1(c + 1), PN1(c + 2), PN1(c + 3)
#define PN16(c) PN4(c), PN4(c + 4), PN4(c + 8), PN4(c + 12)
#define PN64(c) PN16(c), PN16(c + 16), PN16(c + 32), PN16(c + 48)
static const bool PLAIN[256] = {PN64(0), PN64(64), PN64(128), PN64(192)};

static inline bool plain(uint8_t c)
{
    return PLAIN[c];
}

/* Append one wire octet at *n. The name must stay within 255 octets with the root label still
 * to come, so the last index a label octet may use is 253. */
static int put_octet(uint8_t *wire, size_t cap, size_t *n, uint8_t v)
{
    if (*n >= MW_DNAME_MAX - 1)
        return -EINVAL;
    if (*n >= cap)
        return -ENOSPC;
    wire[(*n)++] = v;
    return 0;
}

/* Decode one character or escape at *p into *out, advancing *p. */
static int text_octet(const char **p, uint8_t *out)
{
    const char *s = *p;

    if (s[0] != '\\') {
        *out = (uint8_t)s[0];
        *p = s + 1;
        return 0;
    }
    if (s[1] >= '0' && s[1] <= '9') {
        if (!(s[2] >= '0' && s[2] <= '9') || !(s[3] >= '0' && s[3] <= '9'))
            return -EINVAL;
        int v = (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        if (v > 255)
            return -EINVAL;
        *out = (uint8_t)v;
        *p = s + 4;
        return 0;
    }
    if (s[1] == '\0')
        return -EINVAL;
    *out = (uint8_t)s[1];
    *p = s + 2;
    return 0;
}

int mw_dname_from_text(const char *text, uint8_t *wire, size_t cap)
{
    if (!text)
        return -EINVAL;
    if (text[0] == '\0' || (text[0] == '.' && text[1] == '\0')) {
        if (cap < 1)
            return -ENOSPC;
        wire[0] = 0;
        return 1;
    }

    const char *p = text;
    size_t n = 0;
    for (;;) {
        /* One label: reserve its length octet, then copy octets up to '.' or the end. */
        size_t len_pos = n;
        int rc = put_octet(wire, cap, &n, 0);
        if (rc < 0)
            return rc;
        while (*p != '\0' && *p != '.') {
            uint8_t v;
            rc = text_octet(&p, &v);
            if (rc < 0)
                return rc;
            if (n - len_pos - 1 >= LABEL_MAX)
                return -EINVAL;
            rc = put_octet(wire, cap, &n, lower(v));
            if (rc < 0)
                return rc;
        }
        size_t label_len = n - len_pos - 1;
        if (label_len == 0)
            return -EINVAL; /* "a..b", ".a" */
        wire[len_pos] = (uint8_t)label_len;
        if (*p == '\0')
            break;
        p++; /* the dot */
        if (*p == '\0')
            break; /* absolute name, "example.com." */
    }
    if (n >= cap)
        return -ENOSPC;
    wire[n++] = 0;
    return (int)n;
}

int mw_dname_to_text(const uint8_t *wire, size_t wire_len, char *buf, size_t cap)
{
    size_t pos = 0, out = 0;

    for (;;) {
        if (pos >= wire_len || pos >= MW_DNAME_MAX)
            return -EINVAL;
        uint8_t l = wire[pos];
        if (l == 0)
            break;
        if (l > LABEL_MAX || pos + 1 + l >= wire_len)
            return -EINVAL;
        if (out > 0) {
            if (out + 2 > cap)
                return -ENOSPC;
            buf[out++] = '.';
        }
        /* A label of plain octets that fits with room for a NUL: copied whole. */
        size_t run = 0;
        while (run < l && plain(wire[pos + 1 + run]))
            run++;
        if (run == l && out + l + 1 < cap) {
            memcpy(buf + out, wire + pos + 1, l);
            out += l;
            pos += 1 + l;
            continue;
        }
        for (size_t i = pos + 1; i <= pos + l; i++) {
            uint8_t c = wire[i];
            if (plain(c)) {
                if (out + 2 > cap)
                    return -ENOSPC;
                buf[out++] = (char)c;
            } else {
                if (out + 5 > cap)
                    return -ENOSPC;
                buf[out++] = '\\';
                buf[out++] = (char)('0' + c / 100);
                buf[out++] = (char)('0' + c / 10 % 10);
                buf[out++] = (char)('0' + c % 10);
            }
        }
        pos += 1 + l;
    }
    if (out == 0) {
        if (cap < 2)
            return -ENOSPC;
        buf[out++] = '.';
    }
    if (out >= cap)
        return -ENOSPC;
    buf[out] = '\0';
    return (int)out;
}

void mw_dname_lower(uint8_t *wire, size_t len)
{
    /* Length octets are at most 63 and so never in 'A'..'Z': every octet can be mapped. */
    for (size_t i = 0; i < len; i++)
        wire[i] = lower(wire[i]);
}

bool mw_dname_is_subdomain(const uint8_t *name, size_t name_len, const uint8_t *zone,
                           size_t zone_len)
{
    if (zone_len == 0 || zone_len > name_len)
        return false;
    size_t pos = 0;
    while (pos < name_len) {
        if (name_len - pos == zone_len)
            return memcmp(name + pos, zone, zone_len) == 0;
        uint8_t l = name[pos];
        if (l == 0 || l > LABEL_MAX)
            return false;
        pos += 1 + (size_t)l;
    }
    return false;
}

int mw_dname_labels(const uint8_t *wire, size_t len)
{
    size_t pos = 0;
    int n = 0;

    for (;;) {
        if (pos >= len || pos >= MW_DNAME_MAX)
            return -EINVAL;
        uint8_t l = wire[pos];
        if (l == 0)
            return n;
        if (l > LABEL_MAX)
            return -EINVAL;
        pos += 1 + (size_t)l;
        n++;
    }
}

/* Does the octet range [a, b] overlap one of the 4-octet fields starting at holes[0..n)
 * (ascending)? */
static bool in_hole(const uint16_t *holes, size_t n, size_t a, size_t b)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the first field that ends after a */
        size_t mid = lo + (hi - lo) / 2;
        if ((size_t)holes[mid] + 4 <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && holes[lo] <= b;
}

/* The one walker of compressed names, behind unpack, skip, skip_stable and equal_at: wire
 * (cap octets) takes a lowercased copy when not NULL; want (want_len octets) is compared with
 * the name when not NULL, the answer in *same; labels reached through a pointer must not
 * overlap holes (see mw_dname_skip_stable). Inlined into each caller, so the parts a caller
 * does not use cost nothing. */
static inline __attribute__((always_inline)) int
walk(const uint8_t *pkt, size_t pkt_len, size_t *off, uint8_t *wire, size_t cap,
     const uint16_t *holes, size_t n_holes, const uint8_t *want, size_t want_len, bool *same)
{
    size_t pos = *off, end = 0, n = 0, lim = SIZE_MAX;
    int jumps = 0;
    bool eq = true;

    for (;;) {
        if (pos >= pkt_len)
            return -EBADMSG;
        uint8_t l = pkt[pos];
        if ((l & 0xC0) == 0xC0) {
            if (pos + 1 >= pkt_len)
                return -EBADMSG;
            /* A pointer reached through a pointer is read from the packet too: not from a
             * field the caller rewrites. */
            if (jumps && n_holes && in_hole(holes, n_holes, pos, pos + 1))
                return -EBADMSG;
            size_t target = ((size_t)(l & 0x3F) << 8) | pkt[pos + 1];
            /* Strictly backwards, and bounded: no loops, no forward references. */
            if (target >= pos || target < MSG_HDR || ++jumps > MAX_JUMPS)
                return -EBADMSG;
            if (jumps == 1)
                end = lim = pos;
            pos = target;
            continue;
        }
        if (l & 0xC0)
            return -EBADMSG; /* 0x40 (extended, RFC 6891) and 0x80 (reserved) label types */
        /* A pointer leads to a prior name: what it reads must end before the first pointer,
         * or a label could span the pointer itself and the record fields after it. */
        if (pos + 1 + l > lim)
            return -EBADMSG;
        /* A non-root label must leave room for the root octet within 255. */
        if (n + 1 + l + (l ? 1 : 0) > MW_DNAME_MAX)
            return -EBADMSG;
        if (pos + 1 + l > pkt_len)
            return -EBADMSG;
        if (jumps && n_holes && in_hole(holes, n_holes, pos, pos + l))
            return -EBADMSG;
        if (wire) {
            if (n + 1 + l > cap)
                return -ENOSPC;
            wire[n] = l;
            for (size_t i = 1; i <= l; i++)
                wire[n + i] = lower(pkt[pos + i]);
        }
        if (want && eq) {
            if (n + 1 + l > want_len || want[n] != l) {
                eq = false;
            } else {
                for (size_t i = 1; i <= l; i++) {
                    if (lower(pkt[pos + i]) != want[n + i]) {
                        eq = false;
                        break;
                    }
                }
            }
        }
        n += 1 + (size_t)l;
        pos += 1 + (size_t)l;
        if (l == 0)
            break;
    }
    *off = jumps ? end + 2 : pos;
    if (want)
        *same = eq && n == want_len;
    return (int)n;
}

int mw_dname_unpack(const uint8_t *pkt, size_t pkt_len, size_t *off, uint8_t *wire, size_t cap)
{
    return walk(pkt, pkt_len, off, wire, cap, NULL, 0, NULL, 0, NULL);
}

int mw_dname_skip(const uint8_t *pkt, size_t pkt_len, size_t *off)
{
    int rc = walk(pkt, pkt_len, off, NULL, 0, NULL, 0, NULL, 0, NULL);
    return rc < 0 ? rc : 0;
}

int mw_dname_skip_stable(const uint8_t *pkt, size_t pkt_len, size_t *off, const uint16_t *holes,
                         size_t n_holes)
{
    int rc = walk(pkt, pkt_len, off, NULL, 0, holes, n_holes, NULL, 0, NULL);
    return rc < 0 ? rc : 0;
}

int mw_dname_equal_at(const uint8_t *pkt, size_t len, size_t *off, const uint8_t *want,
                      size_t want_len)
{
    bool same = false;
    int rc = walk(pkt, len, off, NULL, 0, NULL, 0, want, want_len, &same);
    return rc < 0 ? rc : same;
}
