/* libFuzzer entry for listfile.c. The first input byte picks the format (auto and each forced
 * one), the rest is the list text; the same bytes also go through the detector and, as a
 * NUL-terminated string, the single-entry parser. The callback checks the invariants every
 * entry must keep, so a malformed entry aborts instead of passing silently. The text is also
 * parsed as a file (a memfd) by the streamed reader, which the fuzz build runs with 64-byte
 * blocks: it must give the same entries, counts and content hash as the buffer parse.
 *
 *   clang -std=gnu11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Iinclude \
 *       src/dname.c src/netaddr.c src/error.c src/log.c src/listfile.c \
 *       tests/fuzz/fuzz_listfile.c $(pkg-config --cflags --libs libidn2) -o fuzz_listfile */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "minewall/dname.h"
#include "minewall/error.h"
#include "minewall/hash.h"
#include "minewall/listdetect.h"
#include "minewall/listfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct mw_listfile_entry *e)
{
    switch (e->type) {
    case MW_LISTFILE_ENTRY_DOMAIN:
        if (e->name_len < 1 || e->name_len > MW_DNAME_MAX || e->name[e->name_len - 1] != 0 ||
            mw_dname_labels(e->name, e->name_len) < 0)
            abort();
        break;
    case MW_LISTFILE_ENTRY_IP:
        if ((e->cidr.family != AF_INET || e->cidr.prefix > 32) &&
            (e->cidr.family != AF_INET6 || e->cidr.prefix > 128))
            abort();
        break;
    case MW_LISTFILE_ENTRY_ASN:
        if (e->asn == 0)
            abort();
        break;
    case MW_LISTFILE_ENTRY_PATTERN:
        if (e->pattern_len == 0 || e->pattern_len > MW_LISTFILE_PATTERN_MAX ||
            strlen(e->pattern) != e->pattern_len)
            abort();
        break;
    default:
        abort();
    }
    if (e->action == MW_LISTFILE_ACT_SINKHOLE &&
        (e->naddrs == 0 || e->naddrs > MW_LISTFILE_ADDRS_MAX))
        abort();
    if (e->action == MW_LISTFILE_ACT_CNAME &&
        (e->target_len < 1 || e->target_len > MW_DNAME_MAX || e->target[e->target_len - 1]))
        abort();
}

/* Entries seen, and a hash of what each says, in order. */
struct digest {
    uint64_t h;
    size_t n;
};

static void mix(struct digest *d, const void *p, size_t n)
{
    d->h = mw_hash_bytes(0, d->h, p, n);
}

static void mix_cidr(struct digest *d, const struct mw_cidr *c)
{
    uint32_t head[2] = {(uint32_t)c->family, c->prefix};
    mix(d, head, sizeof(head));
    mix(d, c->addr, sizeof(c->addr));
}

static int entry_cb(const struct mw_listfile_entry *e, void *arg)
{
    struct digest *d = arg;
    check(e);
    d->n++;
    uint32_t head[5] = {(uint32_t)e->type, e->line, (uint32_t)e->action, e->allow, e->important};
    mix(d, head, sizeof(head));
    switch (e->type) {
    case MW_LISTFILE_ENTRY_DOMAIN:
        mix(d, &e->kind, sizeof(e->kind));
        mix(d, e->name, e->name_len);
        break;
    case MW_LISTFILE_ENTRY_IP:
        mix_cidr(d, &e->cidr);
        break;
    case MW_LISTFILE_ENTRY_ASN:
        mix(d, &e->asn, sizeof(e->asn));
        break;
    default:
        mix(d, e->pattern, e->pattern_len);
    }
    if (e->action == MW_LISTFILE_ACT_SINKHOLE)
        for (size_t i = 0; i < e->naddrs; i++)
            mix_cidr(d, &e->addrs[i]);
    if (e->action == MW_LISTFILE_ACT_CNAME)
        mix(d, e->target, e->target_len);
    return 0;
}

/* The streamed reader (mw_listfile_parse_file) against the buffer parse of the same bytes. */
static void same_as_file(const char *text, size_t len, enum mw_listfile_format fmt,
                         const struct digest *want, const struct mw_listfile_report *rep)
{
    int fd = memfd_create("fuzz_listfile", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct digest got = {0};
    struct mw_listfile_report r;
    if (mw_listfile_parse_file(path, fmt, entry_cb, &got, &r, NULL) != 0)
        abort();
    close(fd);
    if (got.n != want->n || got.h != want->h || r.bad != rep->bad || r.lines != rep->lines ||
        r.ignored != rep->ignored || memcmp(r.skip, rep->skip, sizeof(r.skip)) != 0 ||
        r.content_hash != mw_listfile_hash_buf(text, len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum mw_listfile_format fmt = (enum mw_listfile_format)(data[0] % (MW_LISTFILE_FMT_CSV + 1));
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    struct mw_listfile_report rep;
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    struct digest d = {0};
    if (mw_listfile_parse_buf("fuzz", text, len, fmt, entry_cb, &d, &rep, &errs) != 0)
        abort();
    if (rep.format == MW_LISTFILE_FMT_AUTO || errs.n > 21 || rep.lines > len + 1)
        abort();
    mw_errlist_deinit(&errs);
    /* The format the buffer parse settled on: detection reads only the first block of a file. */
    same_as_file(text, len, rep.format, &d, &rep);
    (void)mw_listdetect_format(text, len);

    if (len < 1024) {
        char *s = malloc(len + 1);
        if (!s)
            return 0;
        memcpy(s, text, len);
        s[len] = '\0';
        struct mw_listfile_entry *e = malloc(sizeof(*e));
        char why[128];
        if (e && mw_listfile_parse_entry(s, e, why, sizeof(why)) == 0)
            check(e);
        free(e);
        free(s);
    }
    return 0;
}
