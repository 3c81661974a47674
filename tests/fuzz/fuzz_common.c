/* See fuzz_common.h. */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/config.h"
#include "minewall/error.h"
#include "minewall/lists.h"
#include "minewall/regdom.h"

void fz_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, expr);
    abort();
}

static const char *const files[][2] = {
    {"c2.txt", "c2.example\nbad.example.net\nxn--bcher-kva.example\n"},
    {"mining.txt", "0.0.0.0 pool.mining.example\n0.0.0.0 xmr.mining.example\n"},
    {"ads.txt", "[Adblock Plus 2.0]\n||ads.example^\n@@||ok.ads.example^\n"},
    {"nx.txt", "address=/nx.example/#\nlocal=/local.example/\n"},
    {"refused.txt", "refused.example\n"},
    {"drop.txt", "drop.example\n"},
    {"nodata.txt", "nodata.example\n"},
    {"monitor.txt", "watch.example\n"},
    {"allow.txt", "ok.c2.example\nallowed.example\n"},
    {"ips.txt", "192.0.2.0/24\n198.51.100.7\n2001:db8:bad::/48\n"},
    {"patterns.txt", "*.xmr-pool-*.*\npool?.[a-c]*.example\n"},
    {"zone.rpz", "$TTL 60\n@ SOA ns. admin. 1 3600 600 86400 60\n@ NS ns.\n"
                 "nx.rpz.example CNAME .\n*.nodata.rpz.example CNAME *.\n"
                 "drop.rpz.example CNAME rpz-drop.\npass.c2.example CNAME rpz-passthru.\n"
                 "sink.rpz.example A 10.0.0.1\nsink.rpz.example AAAA fd00::1\n"
                 "redir.rpz.example CNAME walled.example.\n"
                 "24.0.2.0.192.rpz-ip CNAME .\n32.1.0.0.10.rpz-ip CNAME .\n"},
};

static const char config_fmt[] =
    "listen: [127.0.0.1:5353]\n"
    "upstreams: [127.0.0.1:53]\n"
    "sinkhole: {action: sinkhole, ipv4: 0.0.0.0, ipv6: \"::\", ttl: 60}\n"
    "detect: {rebinding: {private: true, internal-zones: [corp.example.com, internal.test]}}\n"
    "lists:\n"
    "  - {name: c2, category: c2, path: %1$s/c2.txt}\n"
    "  - {name: mining, category: mining, path: %1$s/mining.txt, format: hosts}\n"
    "  - {name: ads, category: ads, path: %1$s/ads.txt, action: nxdomain}\n"
    "  - {name: nx, category: misc, path: %1$s/nx.txt, format: dnsmasq}\n"
    "  - {name: refused, category: misc, path: %1$s/refused.txt, action: refused}\n"
    "  - {name: drop, category: misc, path: %1$s/drop.txt, action: drop}\n"
    "  - {name: nodata, category: misc, path: %1$s/nodata.txt, action: nodata}\n"
    "  - {name: monitor, category: watch-names, path: %1$s/monitor.txt, action: log}\n"
    "  - {name: allow, category: allow, path: %1$s/allow.txt}\n"
    "  - {name: ips, category: c2, type: ip, path: %1$s/ips.txt}\n"
    "  - {name: patterns, category: mining, type: pattern, path: %1$s/patterns.txt}\n"
    "  - {name: zone, category: rpz, path: %1$s/zone.rpz, format: rpz}\n";

void fz_lists(const struct mw_config **cfg_out, const struct mw_lists **lists_out)
{
    static struct mw_config *cfg;
    static struct mw_lists *lists;
    if (!lists) {
        char dir[] = "/tmp/mw-fuzz-XXXXXX";
        FZ_CHECK(mkdtemp(dir) != NULL);
        char path[4096];
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
            FILE *f = fopen(path, "w");
            FZ_CHECK(f != NULL);
            fputs(files[i][1], f);
            FZ_CHECK(fclose(f) == 0);
        }
        char text[8192];
        int n = snprintf(text, sizeof(text), config_fmt, dir);
        FZ_CHECK(n > 0 && (size_t)n < sizeof(text));
        struct mw_errlist errs;
        mw_errlist_init(&errs);
        cfg = mw_config_parse(text, (size_t)n, "fuzz.yaml", &errs);
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "fuzz setup: %s\n", errs.msgs[i]);
        FZ_CHECK(cfg != NULL);
        lists = mw_lists_build(cfg, 1, &errs, NULL);
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "fuzz setup: %s\n", errs.msgs[i]);
        FZ_CHECK(lists != NULL && errs.n == 0);
        lists->regdom = mw_regdom_new(NULL); /* the guard's public-name test, as minewall runs */
        mw_errlist_deinit(&errs);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
            unlink(path);
        }
        rmdir(dir);
    }
    *cfg_out = cfg;
    *lists_out = lists;
}
