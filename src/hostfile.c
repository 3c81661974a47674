/* Snapshots of resolv.conf and hosts files, their SHA-256, line diffs, nameservers and changed
 * host names. The SHA-256 is a plain FIPS 180-4 implementation (no dependency on a crypto
 * library for one digest of a small file). Line and entry comparisons sort both sides and merge,
 * so a diff is O(n log n) whatever the edit. Lists handed to the caller are one allocation
 * each. Only mw_hostfile_read touches the file system. */
#include "minewall/hostfile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minewall/file.h"
#include "minewall/netaddr.h"
#include "minewall/resolvconf.h"

/* ---- SHA-256 (FIPS 180-4 section 6.2) ---- */

struct sha256 {
    uint32_t h[8];
    uint64_t bits;
    uint8_t buf[64];
    size_t n;
};

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha_block(struct sha256 *c, const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) |
               ((uint32_t)p[4 * i + 2] << 8) | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    uint32_t e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

static void sha_update(struct sha256 *c, const uint8_t *p, size_t len)
{
    c->bits += (uint64_t)len * 8;
    if (c->n) {
        size_t take = 64 - c->n < len ? 64 - c->n : len;
        memcpy(c->buf + c->n, p, take);
        c->n += take;
        p += take;
        len -= take;
        if (c->n < 64)
            return;
        sha_block(c, c->buf);
        c->n = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        sha_block(c, p);
    memcpy(c->buf, p, len);
    c->n = len;
}

void mw_hostfile_sha256(const void *data, size_t len, uint8_t out[MW_SHA256_LEN])
{
    struct sha256 c = {
        .h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
              0x5be0cd19},
    };
    if (len)
        sha_update(&c, data, len);
    /* Padding (5.1.1): 0x80, zeros to 56 mod 64, then the message length in bits, big endian. */
    uint64_t bits = c.bits;
    c.buf[c.n++] = 0x80;
    if (c.n > 56) {
        memset(c.buf + c.n, 0, 64 - c.n);
        sha_block(&c, c.buf);
        c.n = 0;
    }
    memset(c.buf + c.n, 0, 56 - c.n);
    for (int i = 0; i < 8; i++)
        c.buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_block(&c, c.buf);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c.h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c.h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c.h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c.h[i];
    }
}

void mw_hostfile_sha256_hex(const uint8_t digest[MW_SHA256_LEN], char hex[MW_SHA256_HEX_LEN])
{
    static const char xd[] = "0123456789abcdef";
    for (int i = 0; i < MW_SHA256_LEN; i++) {
        hex[2 * i] = xd[digest[i] >> 4];
        hex[2 * i + 1] = xd[digest[i] & 15];
    }
    hex[64] = '\0';
}

/* ---- snapshots ---- */

int mw_hostfile_snap_new(const void *data, size_t len, struct mw_hostfile_snap **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!data)
        len = 0;
    if (len > MW_HOSTFILE_MAX_BYTES)
        return -EINVAL;
    struct mw_hostfile_snap *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->data = malloc(len + 1);
    if (!s->data) {
        free(s);
        return -ENOMEM;
    }
    if (len)
        memcpy(s->data, data, len);
    s->data[len] = '\0';
    s->len = len;
    s->exists = data != NULL;
    mw_hostfile_sha256(s->data, len, s->sha256);
    *out = s;
    return 0;
}

int mw_hostfile_read(const char *path, struct mw_hostfile_snap **out)
{
    if (!out || !path)
        return -EINVAL;
    *out = NULL;
    char *buf;
    size_t len;
    int r = mw_file_read(path, MW_HOSTFILE_MAX_BYTES, &buf, &len);
    if (r == -ENOENT || r == -ENOTDIR)
        return mw_hostfile_snap_new(NULL, 0, out);
    if (r < 0)
        return r;
    r = mw_hostfile_snap_new(buf, len, out);
    free(buf);
    return r;
}

void mw_hostfile_snap_free(struct mw_hostfile_snap *s)
{
    if (!s)
        return;
    free(s->data);
    free(s);
}

bool mw_hostfile_same(const struct mw_hostfile_snap *a, const struct mw_hostfile_snap *b)
{
    bool ea = a && a->exists, eb = b && b->exists;
    if (!ea || !eb)
        return ea == eb;
    return a->len == b->len && memcmp(a->sha256, b->sha256, MW_SHA256_LEN) == 0;
}

/* ---- string lists and lines ---- */

struct slice {
    const char *p;
    size_t len;
};

void mw_hostfile_list_deinit(struct mw_hostfile_list *l)
{
    if (!l)
        return;
    free((void *)l->v);
    l->v = NULL;
    l->n = 0;
}

/* Copy n slices into one block: the pointer array, then the NUL-terminated strings. */
static int list_build(const struct slice *s, size_t n, struct mw_hostfile_list *out)
{
    out->v = NULL;
    out->n = 0;
    if (n == 0)
        return 0;
    size_t bytes = n * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += s[i].len + 1;
    const char **v = malloc(bytes);
    if (!v)
        return -ENOMEM;
    char *p = (char *)(v + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, s[i].p, s[i].len);
        v[i] = p;
        p[s[i].len] = '\0';
        p += s[i].len + 1;
    }
    out->v = v;
    out->n = n;
    return 0;
}

static int slice_cmp(const void *a, const void *b)
{
    const struct slice *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Split a snapshot into its non-empty lines (without '\n' and a trailing '\r'), sorted. */
static int split_lines(const struct mw_hostfile_snap *s, struct slice **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!s || !s->exists || s->len == 0)
        return 0;
    size_t cap = 1;
    for (size_t i = 0; i < s->len; i++)
        cap += s->data[i] == '\n';
    struct slice *v = malloc(cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t n = 0;
    const char *p = s->data, *end = s->data + s->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t len = (size_t)(le - p);
        if (len && p[len - 1] == '\r')
            len--;
        if (len)
            v[n++] = (struct slice){p, len};
        p = nl ? nl + 1 : end;
    }
    qsort(v, n, sizeof(*v), slice_cmp);
    *out = v;
    *n_out = n;
    return 0;
}

int mw_hostfile_diff_lines(const struct mw_hostfile_snap *old_s,
                           const struct mw_hostfile_snap *new_s, struct mw_hostfile_list *added,
                           struct mw_hostfile_list *removed)
{
    *added = (struct mw_hostfile_list){0};
    *removed = (struct mw_hostfile_list){0};
    struct slice *a = NULL, *b = NULL, *add = NULL, *rem = NULL;
    size_t na = 0, nb = 0, nadd = 0, nrem = 0;
    int r = split_lines(old_s, &a, &na);
    if (r == 0)
        r = split_lines(new_s, &b, &nb);
    if (r == 0 &&
        ((nb && !(add = malloc(nb * sizeof(*add)))) || (na && !(rem = malloc(na * sizeof(*rem))))))
        r = -ENOMEM;
    if (r < 0)
        goto out;
    /* Multiset difference by merging the two sorted arrays. */
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : slice_cmp(&a[i], &b[j]);
        if (c < 0)
            rem[nrem++] = a[i++];
        else if (c > 0)
            add[nadd++] = b[j++];
        else
            i++, j++;
    }
    r = list_build(add, nadd, added);
    if (r == 0)
        r = list_build(rem, nrem, removed);
    if (r < 0)
        mw_hostfile_list_deinit(added);
out:
    free(a);
    free(b);
    free(add);
    free(rem);
    return r;
}

/* Next whitespace-separated token of the line [*p, end), stopping at a comment character. */
static bool next_token(const char **p, const char *end, const char *comment, struct slice *tok)
{
    const char *q = *p;
    while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\v' || *q == '\f'))
        q++;
    if (q == end || strchr(comment, *q)) {
        *p = end;
        return false;
    }
    const char *t = q;
    while (q < end && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\v' && *q != '\f' &&
           !strchr(comment, *q))
        q++;
    *tok = (struct slice){t, (size_t)(q - t)};
    *p = q;
    return true;
}

/* Parse a token as a bare IP address into family and 16 address octets. */
static bool parse_ip(const struct slice *t, uint8_t *family, uint8_t addr[16])
{
    char buf[80];
    if (t->len == 0 || t->len >= sizeof(buf))
        return false;
    memcpy(buf, t->p, t->len);
    buf[t->len] = '\0';
    struct mw_addr a;
    if (mw_addr_parse_ip(buf, 53, &a) < 0)
        return false;
    memset(addr, 0, 16);
    if (a.u.sa.sa_family == AF_INET) {
        *family = AF_INET;
        memcpy(addr, &a.u.in4.sin_addr, 4);
    } else {
        *family = AF_INET6;
        memcpy(addr, &a.u.in6.sin6_addr, 16);
    }
    return true;
}

/* The family and octets of a socket address, with an IPv4-mapped IPv6 address as IPv4. */
static bool addr_key(const struct mw_addr *a, uint8_t *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (a->u.sa.sa_family == AF_INET) {
        *family = AF_INET;
        memcpy(addr, &a->u.in4.sin_addr, 4);
        return true;
    }
    if (a->u.sa.sa_family != AF_INET6)
        return false;
    const uint8_t *b = a->u.in6.sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, mapped, 12) == 0) {
        *family = AF_INET;
        memcpy(addr, b + 12, 4);
    } else {
        *family = AF_INET6;
        memcpy(addr, b, 16);
    }
    return true;
}

/* ---- resolv.conf ---- */

void mw_hostfile_resolv_parse(const struct mw_hostfile_snap *s, struct mw_resolv *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = s && s->exists ? s->data : "";
    const char *end = p + (s && s->exists ? s->len : 0);
    struct mw_addr a;
    int r;
    while ((r = mw_resolvconf_next(&p, end, &a)) != 0) {
        if (r < 0) {
            out->invalid++;
            continue;
        }
        if (out->n == MW_RESOLV_MAX_NS) {
            out->dropped++;
            continue;
        }
        if (mw_addr_format_ip(&a, out->ns_text[out->n], sizeof(out->ns_text[0])) < 0) {
            out->invalid++;
            continue;
        }
        addr_key(&a, &out->family[out->n], out->addr[out->n]);
        out->n++;
    }
    out->implicit_local = out->n == 0;
}

/* ---- what kind of file ---- */

enum mw_hostfile_kind mw_hostfile_guess_kind(const struct mw_hostfile_snap *s)
{
    static const char *const directives[] = {"nameserver", "search", "domain", "options",
                                             "sortlist",   "lookup", "family"};
    size_t resolv = 0, hosts = 0, other = 0;
    const char *p = s && s->exists ? s->data : "";
    const char *end = p + (s && s->exists ? s->len : 0);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        p = nl ? nl + 1 : end;
        struct slice first, second;
        if (!next_token(&q, le, "#;", &first))
            continue; /* empty or a comment */
        bool is_directive = false;
        for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
            is_directive = is_directive || (first.len == strlen(directives[i]) &&
                                            memcmp(first.p, directives[i], first.len) == 0);
        uint8_t fam, addr[16];
        if (is_directive)
            resolv++;
        else if (parse_ip(&first, &fam, addr) && next_token(&q, le, "#", &second))
            hosts++;
        else
            other++;
    }
    /* A clear majority of recognised lines decides; a file of mostly something else (or
     * nothing) is not classified, and the caller falls back to its name. */
    if (resolv > hosts && resolv >= other)
        return MW_HOSTFILE_RESOLV;
    if (hosts > resolv && hosts >= other)
        return MW_HOSTFILE_HOSTS;
    return MW_HOSTFILE_UNKNOWN;
}

bool mw_hostfile_resolver_bypass(const struct mw_resolv *r, const struct mw_addr *listen, size_t n)
{
    static const uint8_t local[16] = {127, 0, 0, 1};
    size_t nns = r->implicit_local ? 1 : r->n;
    for (size_t i = 0; i < nns; i++) {
        uint8_t fam = r->implicit_local ? AF_INET : r->family[i];
        const uint8_t *ns = r->implicit_local ? local : r->addr[i];
        for (size_t j = 0; j < n; j++) {
            uint8_t lf, la[16];
            if (addr_key(&listen[j], &lf, la) && lf == fam && memcmp(la, ns, 16) == 0)
                return false;
        }
    }
    return true;
}

/* ---- hosts ---- */

static int entry_cmp(const void *a, const void *b)
{
    const struct mw_hosts_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    return memcmp(x->addr, y->addr, 16);
}

void mw_hostfile_hosts_deinit(struct mw_hosts *h)
{
    if (!h)
        return;
    free(h->text);
    free(h->e);
    memset(h, 0, sizeof(*h));
}

int mw_hostfile_hosts_parse(const struct mw_hostfile_snap *s, struct mw_hosts *out)
{
    memset(out, 0, sizeof(*out));
    if (!s || !s->exists || s->len == 0)
        return 0;
    /* Every name is a token followed by a separator, so the names fit in len + 1 bytes and
     * there are at most len / 2 + 1 of them. */
    size_t cap = s->len / 2 + 1;
    out->text = malloc(s->len + 1);
    out->e = malloc(cap * sizeof(*out->e));
    if (!out->text || !out->e) {
        mw_hostfile_hosts_deinit(out);
        return -ENOMEM;
    }
    char *w = out->text;
    const char *p = s->data, *end = s->data + s->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        p = nl ? nl + 1 : end;
        struct slice tok;
        uint8_t fam, addr[16];
        if (!next_token(&q, le, "#", &tok))
            continue;
        if (!parse_ip(&tok, &fam, addr)) {
            out->invalid++;
            continue;
        }
        while (next_token(&q, le, "#", &tok)) {
            size_t len = tok.len;
            if (len > 1 && tok.p[len - 1] == '.')
                len--;
            for (size_t i = 0; i < len; i++) {
                char c = tok.p[i];
                w[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            w[len] = '\0';
            struct mw_hosts_entry *e = &out->e[out->n++];
            e->name = w;
            e->family = fam;
            memcpy(e->addr, addr, 16);
            w += len + 1;
        }
    }
    qsort(out->e, out->n, sizeof(*out->e), entry_cmp);
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (k == 0 || entry_cmp(&out->e[k - 1], &out->e[i]) != 0)
            out->e[k++] = out->e[i];
    }
    out->n = k;
    return 0;
}

/* The run of entries [i, *end) sharing h->e[i].name. */
static size_t run_end(const struct mw_hosts *h, size_t i)
{
    size_t j = i + 1;
    while (j < h->n && strcmp(h->e[j].name, h->e[i].name) == 0)
        j++;
    return j;
}

int mw_hostfile_hosts_changed(const struct mw_hosts *old_h, const struct mw_hosts *new_h,
                              struct mw_hostfile_list *out)
{
    static const struct mw_hosts empty = {0};
    const struct mw_hosts *a = old_h ? old_h : &empty, *b = new_h ? new_h : &empty;
    *out = (struct mw_hostfile_list){0};
    size_t cap = a->n + b->n;
    if (cap == 0)
        return 0;
    struct slice *names = malloc(cap * sizeof(*names));
    if (!names)
        return -ENOMEM;
    size_t n = 0, i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->e[i].name, b->e[j].name);
        if (c < 0) {
            names[n++] = (struct slice){a->e[i].name, strlen(a->e[i].name)};
            i = run_end(a, i);
        } else if (c > 0) {
            names[n++] = (struct slice){b->e[j].name, strlen(b->e[j].name)};
            j = run_end(b, j);
        } else {
            size_t ie = run_end(a, i), je = run_end(b, j);
            bool same = ie - i == je - j;
            for (size_t k = 0; same && k < ie - i; k++)
                same = entry_cmp(&a->e[i + k], &b->e[j + k]) == 0;
            if (!same)
                names[n++] = (struct slice){a->e[i].name, strlen(a->e[i].name)};
            i = ie;
            j = je;
        }
    }
    int r = list_build(names, n, out);
    free(names);
    return r;
}
