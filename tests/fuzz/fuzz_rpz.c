/* libFuzzer entry for rpz.c: the input is a zone, read twice, once with the fast path and once
 * with MW_RPZ_NO_FAST (ldns for every record). Both reads must give the same entries in the
 * same order and the same counts, and every entry must keep the invariants of listfile.h; any
 * difference aborts.
 *
 *   meson setup build-fuzz -Dfuzz=true (CC=clang), then
 *   build-fuzz/tests/fuzz_rpz -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "minewall/dname.h"
#include "minewall/error.h"
#include "minewall/listfile.h"
#include "minewall/rpz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEEP 256

struct seen {
    size_t n;
    struct mw_listfile_entry e[KEEP];
};

static void check(const struct mw_listfile_entry *e)
{
    if (e->type == MW_LISTFILE_ENTRY_DOMAIN) {
        if (e->name_len < 1 || e->name_len > MW_DNAME_MAX || e->name[e->name_len - 1] != 0 ||
            mw_dname_labels(e->name, e->name_len) < 0)
            abort();
    } else if (e->type == MW_LISTFILE_ENTRY_IP) {
        if ((e->cidr.family != AF_INET || e->cidr.prefix > 32) &&
            (e->cidr.family != AF_INET6 || e->cidr.prefix > 128))
            abort();
    } else {
        abort();
    }
    if (e->action == MW_LISTFILE_ACT_SINKHOLE &&
        (e->naddrs == 0 || e->naddrs > MW_LISTFILE_ADDRS_MAX))
        abort();
    if (e->action == MW_LISTFILE_ACT_CNAME &&
        (e->target_len < 1 || e->target_len > MW_DNAME_MAX || e->target[e->target_len - 1]))
        abort();
}

static int keep(const struct mw_listfile_entry *e, void *arg)
{
    struct seen *s = arg;
    check(e);
    if (s->n < KEEP)
        s->e[s->n] = *e;
    s->n++;
    return 0;
}

static bool same(const struct mw_listfile_entry *a, const struct mw_listfile_entry *b)
{
    if (a->type != b->type || a->line != b->line || a->action != b->action || a->allow != b->allow)
        return false;
    if (a->type == MW_LISTFILE_ENTRY_IP ? memcmp(&a->cidr, &b->cidr, sizeof(a->cidr)) != 0
                                        : a->kind != b->kind || a->name_len != b->name_len ||
                                              memcmp(a->name, b->name, a->name_len) != 0)
        return false;
    if (a->action == MW_LISTFILE_ACT_SINKHOLE &&
        (a->naddrs != b->naddrs || memcmp(a->addrs, b->addrs, a->naddrs * sizeof(a->addrs[0]))))
        return false;
    if (a->action == MW_LISTFILE_ACT_CNAME &&
        (a->target_len != b->target_len || memcmp(a->target, b->target, a->target_len)))
        return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct seen x, y;
    struct mw_listfile_report rx, ry;
    x.n = y.n = 0;
    if (mw_rpz_parse("fuzz", (const char *)data, size, 0, keep, &x, &rx, NULL) != 0 ||
        mw_rpz_parse("fuzz", (const char *)data, size, MW_RPZ_NO_FAST, keep, &y, &ry, NULL) != 0)
        abort();
    if (x.n != y.n || rx.bad != ry.bad || rx.ignored != ry.ignored || rx.lines != ry.lines ||
        memcmp(rx.skip, ry.skip, sizeof(rx.skip)) != 0)
        abort();
    for (size_t i = 0; i < x.n && i < KEEP; i++) {
        if (!same(&x.e[i], &y.e[i]))
            abort();
    }
    return 0;
}
