/* libFuzzer entry for listfile.c. The first input byte picks the format (auto and each forced
 * one), the rest is the list text; the same bytes also go through the detector and, as a
 * NUL-terminated string, the single-entry parser. The callback checks the invariants every
 * entry must keep, so a malformed entry aborts instead of passing silently.
 *
 *   clang -std=gnu11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Iinclude \
 *       src/dname.c src/netaddr.c src/error.c src/log.c src/listfile.c \
 *       tests/fuzz/fuzz_listfile.c $(pkg-config --cflags --libs libidn2) -o fuzz_listfile */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "minewall/dname.h"
#include "minewall/error.h"
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

static int entry_cb(const struct mw_listfile_entry *e, void *arg)
{
    (void)arg;
    check(e);
    return 0;
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
    if (mw_listfile_parse_buf("fuzz", text, len, fmt, entry_cb, NULL, &rep, &errs) != 0)
        abort();
    if (rep.format == MW_LISTFILE_FMT_AUTO || errs.n > 21 || rep.lines > len + 1)
        abort();
    mw_errlist_deinit(&errs);
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
