/* libFuzzer harness for the host's resolver files: the input is two versions of a file
 * (separated by the first "\n====\n", else cut in the middle), read as resolv.conf (the journal's
 * nameserver parser and bypass check, and the config's mw_config_read_resolv through a memfd)
 * and as a hosts file (parse, changed names), and diffed line by line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "minewall/config.h"
#include "minewall/hostfile.h"
#include "minewall/netaddr.h"

static void check_list(const struct mw_hostfile_list *l)
{
    for (size_t i = 1; i < l->n; i++)
        FZ_CHECK(strcmp(l->v[i - 1], l->v[i]) <= 0);
}

static void read_resolv(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0)
        FZ_CHECK((fd = memfd_create("fz-resolv", MFD_CLOEXEC)) >= 0);
    FZ_CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct mw_addr skip;
    FZ_CHECK(mw_addr_parse_ip("127.0.0.1", 53, &skip) == 0);
    struct mw_addr *ns = NULL;
    int n = mw_config_read_resolv(path, &skip, 1, &ns);
    FZ_CHECK(n >= 0 || ns == NULL);
    for (int i = 0; i < n; i++)
        FZ_CHECK(ns[i].u.sa.sa_family == AF_INET || ns[i].u.sa.sa_family == AF_INET6);
    free(ns);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = size >= 6 ? memmem(data, size, "\n====\n", 6) : NULL;
    size_t a_len = sep ? (size_t)(sep - data) : size / 2;
    const uint8_t *b = sep ? sep + 6 : data + a_len;
    size_t b_len = size - (size_t)(b - data);

    struct mw_hostfile_snap *sa, *sb;
    FZ_CHECK(mw_hostfile_snap_new(data, a_len, &sa) == 0);
    FZ_CHECK(mw_hostfile_snap_new(size & 1 ? b : NULL, b_len, &sb) == 0);
    FZ_CHECK(sa->data[sa->len] == 0 && mw_hostfile_same(sa, sa));

    struct mw_hostfile_list added = {0}, removed = {0};
    FZ_CHECK(mw_hostfile_diff_lines(sa, sb, &added, &removed) == 0);
    check_list(&added);
    check_list(&removed);
    if (mw_hostfile_same(sa, sb))
        FZ_CHECK(added.n == 0 && removed.n == 0);
    mw_hostfile_list_deinit(&added);
    mw_hostfile_list_deinit(&removed);

    struct mw_resolv r;
    mw_hostfile_resolv_parse(sa, &r);
    FZ_CHECK(r.n <= MW_RESOLV_MAX_NS);
    for (size_t i = 0; i < r.n; i++)
        FZ_CHECK(strnlen(r.ns_text[i], sizeof(r.ns_text[i])) < sizeof(r.ns_text[i]) &&
                 (r.family[i] == AF_INET || r.family[i] == AF_INET6));
    struct mw_addr listen[2];
    FZ_CHECK(mw_addr_parse_ip("127.0.0.1", 53, &listen[0]) == 0);
    FZ_CHECK(mw_addr_parse_ip("::1", 53, &listen[1]) == 0);
    (void)mw_hostfile_resolver_bypass(&r, listen, 2);

    struct mw_hosts ha, hb;
    FZ_CHECK(mw_hostfile_hosts_parse(sa, &ha) == 0);
    FZ_CHECK(mw_hostfile_hosts_parse(sb, &hb) == 0);
    for (size_t i = 1; i < ha.n; i++)
        FZ_CHECK(strcmp(ha.e[i - 1].name, ha.e[i].name) <= 0);
    struct mw_hostfile_list changed = {0};
    FZ_CHECK(mw_hostfile_hosts_changed(&ha, &hb, &changed) == 0);
    check_list(&changed);
    mw_hostfile_list_deinit(&changed);
    FZ_CHECK(mw_hostfile_hosts_changed(&ha, &ha, &changed) == 0 && changed.n == 0);
    mw_hostfile_list_deinit(&changed);
    mw_hostfile_hosts_deinit(&ha);
    mw_hostfile_hosts_deinit(&hb);

    read_resolv(data, a_len);
    mw_hostfile_snap_free(sa);
    mw_hostfile_snap_free(sb);
    return 0;
}
