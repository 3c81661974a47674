/* Command line of minewall: options, --check-config, --version, --help, exit codes.
 * Exit codes: 0 clean stop or valid config; 1 config errors; 2 usage; 3 could not start. */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/config.h"
#include "minewall/dnsmsg.h"
#include "minewall/error.h"
#include "minewall/explain.h"
#include "minewall/listfile.h"

#include "minewall/log.h"
#include "minewall/privdrop.h"
#include "minewall/server.h"
#include <dirent.h>

#define MAX_CLI_ADDRS 32

static void usage(FILE *f)
{
    fprintf(f,
            "usage: minewall [-c FILE] [--listen ADDR:PORT]... [--upstream ADDR[:PORT]]...\n"
            "                [--check-config] [--version] [--help]\n"
            "\n"
            "  -c, --config FILE     YAML configuration (default %s if it exists,\n"
            "                        else built-in defaults)\n"
            "  --listen ADDR:PORT    listen here instead of the config's listen list\n"
            "                        (repeatable; IPv6 as [::1]:5353)\n"
            "  --upstream ADDR[:PORT] forward here instead of the config's upstreams\n"
            "                        (repeatable; also tls://ADDR[:PORT][#AUTH-NAME] and\n"
            "                        https://HOST[:PORT]/PATH, verified as in the config)\n"
            "  --explain INPUT       a name (Unicode too), IPv4/IPv6 address or AS number\n"
            "                        (AS64500 or 64500): print every list that holds it\n"
            "                        (file and line, or Redis), then the decision and why\n"
            "                        that rule won (exit 0; 1 list errors; 2 bad input);\n"
            "                        for a name also its registered domain's DGA score\n"
            "                        (model %s)\n"
            "  --client ADDR         with --explain: the verdict of ADDR's client group\n"
            "  --listener ADDR[:PORT] with --client: the query arrived on this listen\n"
            "                        address (port 53 by default): groups bound to\n"
            "                        listeners are chosen as for a query\n"
            "  --user NAME           run as NAME after binding (overrides the config's user:)\n"
            "  --check-list FILE     parse one list file (--format F to force a format),\n"
            "                        print bad lines as FILE:LINE: reason and a summary;\n"
            "                        exit 0 when it has entries and no bad line, 1 when a\n"
            "                        line is bad or it is unreadable or empty\n"
            "  --check-config        validate the configuration, print each error as\n"
            "                        FILE:LINE: message, exit 0 (valid) or 1\n"
            "  --version             print the version\n"
            "  --help                this text\n"
            "\n"
            "Signals: SIGHUP reloads the configuration, SIGTERM/SIGINT stop.\n",
            MW_DEFAULT_CONFIG, MW_DEFAULT_DGA_MODEL);
}

enum {
    OPT_LISTEN = 256,
    OPT_UPSTREAM,
    OPT_CHECK,
    OPT_VERSION,
    OPT_EXPLAIN,
    OPT_CLIENT,
    OPT_LISTENER,
    OPT_CHECK_LIST,
    OPT_FORMAT,
    OPT_USER
};

/* --upstream: ADDR[:PORT], tls://... or https://... (the last two also noted in tls[]). */
static int add_upstream(struct mw_overrides *o, struct mw_tls_upstream *tls, const char *s)
{
    if (o->n_upstreams >= MAX_CLI_ADDRS) {
        fprintf(stderr, "minewall: too many --upstream options (max %d)\n", MAX_CLI_ADDRS);
        return -1;
    }
    struct mw_tls_upstream *t = &tls[o->n_tls_ups];
    int r = mw_config_parse_upstream(s, t);
    if (r < 0) {
        fprintf(stderr,
                "minewall: --upstream: invalid address '%s' (expected ADDR[:PORT], "
                "tls://ADDR[:PORT][#AUTH-NAME] or https://HOST[:PORT]/PATH)\n",
                s);
        return -1;
    }
    o->upstreams[o->n_upstreams++] = t->addr;
    if (r == 1)
        o->n_tls_ups++;
    return 0;
}

static int add_addr(struct mw_addr *arr, size_t *n, const char *s, uint16_t port, const char *what)
{
    if (*n >= MAX_CLI_ADDRS) {
        fprintf(stderr, "minewall: too many --%s options (max %d)\n", what, MAX_CLI_ADDRS);
        return -1;
    }
    if (mw_addr_parse(s, port, &arr[*n]) < 0) {
        fprintf(stderr, "minewall: --%s: invalid address '%s'\n", what, s);
        return -1;
    }
    (*n)++;
    return 0;
}

static int count_entry(const struct mw_listfile_entry *e, void *arg)
{
    (void)e;
    (void)arg;
    return 0;
}

/* --check-list: what tools/update-feeds runs on a download before it replaces a list. */
static int check_list_file(const char *path, enum mw_listfile_format format)
{
    struct mw_errlist errs;
    mw_errlist_init(&errs);
    struct mw_listfile_report rep;
    memset(&rep, 0, sizeof(rep));
    int rc = mw_listfile_parse_file(path, format, count_entry, NULL, &rep, &errs);
    for (size_t i = 0; i < errs.n; i++)
        printf("%s\n", errs.msgs[i]);
    mw_errlist_deinit(&errs);
    if (rc < 0)
        return 1;
    printf("%s: format %s, %zu lines, %zu entries, %zu bad, %zu skipped, %zu ignored\n", path,
           mw_listfile_format_name(rep.format), rep.lines, rep.entries, rep.bad, rep.skipped,
           rep.ignored);
    /* Same codes as `minewall-feed validate`: any bad line is exit 1 (tools/update-feeds reads
     * the summary above to apply its own threshold). */
    return rep.entries > 0 && rep.bad == 0 ? 0 : 1;
}

/* List generations are large arrays built on whichever libuv pool thread is free and freed on
 * a worker thread. glibc raises its mmap threshold to the size of each freed mmap'ed block, so
 * from the second reload on those arrays came from per-thread arenas that keep the memory
 * (RSS grew 25 -> 120 MB over four reloads of a 1M-name list). A fixed threshold keeps every
 * large block mmap'ed, so releasing a generation returns it to the system. The fixed threshold
 * also fixes the trim threshold (128 KiB), and ldns allocates and frees three 64 KiB buffers
 * for every record it parses (RPZ records off rpz.c's fast path): without padding at the heap
 * top each such record moved it with brk twice (a 1M-record zone with 100k of them: 289k brk
 * calls, 2.2 s of CPU instead of 0.9 s). 256 KiB of top padding is all that is kept. */
static void malloc_setup(void)
{
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TOP_PAD, 256 * 1024);
}

int main(int argc, char **argv)
{
    malloc_setup();
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"upstream", required_argument, NULL, OPT_UPSTREAM},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"explain", required_argument, NULL, OPT_EXPLAIN},
        {"client", required_argument, NULL, OPT_CLIENT},
        {"listener", required_argument, NULL, OPT_LISTENER},
        {"check-list", required_argument, NULL, OPT_CHECK_LIST},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"user", required_argument, NULL, OPT_USER},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct mw_addr listen[MAX_CLI_ADDRS], upstreams[MAX_CLI_ADDRS];
    static struct mw_tls_upstream cli_tls[MAX_CLI_ADDRS]; /* about 800 bytes each */
    struct mw_overrides o = {.listen = listen, .upstreams = upstreams, .tls_ups = cli_tls};
    bool check = false;
    const char *explain = NULL, *check_list = NULL, *client = NULL, *listener = NULL;
    enum mw_listfile_format format = MW_LISTFILE_FMT_AUTO;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config_path = optarg;
            break;
        case OPT_LISTEN:
            if (add_addr(listen, &o.n_listen, optarg, MW_DNS_PORT, "listen") < 0)
                return 2;
            break;
        case OPT_UPSTREAM:
            if (add_upstream(&o, cli_tls, optarg) < 0)
                return 2;
            break;
        case OPT_CHECK:
            check = true;
            break;
        case OPT_EXPLAIN:
            explain = optarg;
            break;
        case OPT_CLIENT:
            client = optarg;
            break;
        case OPT_LISTENER:
            listener = optarg;
            break;
        case OPT_USER:
            o.user = optarg;
            break;
        case OPT_CHECK_LIST:
            check_list = optarg;
            break;
        case OPT_FORMAT:
            if (mw_listfile_format_parse(optarg, &format) < 0) {
                fprintf(stderr, "minewall: --format: unknown format '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_VERSION:
            printf("minewall %s\n", MW_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "minewall: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!o.config_path && access(MW_DEFAULT_CONFIG, F_OK) == 0)
        o.config_path = MW_DEFAULT_CONFIG;
    /* Without a config file minewall still resolves, but with no list at all: an installed
     * binary that misses its config must say so rather than pass every pool name. */
    bool no_config = !o.config_path && !check_list;
    o.resolv_conf = getenv("MINEWALL_RESOLV_CONF");
    if (!o.resolv_conf || !*o.resolv_conf)
        o.resolv_conf = "/etc/resolv.conf";

    if (check_list)
        return check_list_file(check_list, format);
    if (no_config && (explain || check))
        fprintf(stderr,
                "minewall: WARNING: no configuration file (%s does not exist, no -c): "
                "built-in defaults, NO blocklists\n",
                MW_DEFAULT_CONFIG);
    else if (no_config)
        mw_log_warn("config",
                    "WARNING: no configuration file (%s does not exist, no -c): "
                    "running with built-in defaults and NO blocklists: nothing is "
                    "filtered",
                    MW_DEFAULT_CONFIG);
    if (client && !explain) {
        fprintf(stderr, "minewall: --client goes with --explain\n");
        return 2;
    }
    if (listener && !client) {
        fprintf(stderr, "minewall: --listener goes with --explain and --client\n");
        return 2;
    }
    if (explain)
        return mw_explain_run_for(&o, explain, client, listener, stdout);
    if (check) {
        struct mw_errlist errs;
        mw_errlist_init(&errs);
        struct mw_config *cfg = mw_server_load_config(&o, &errs);
        /* A config that parses can still fail the start: open every file it names as the
         * account minewall will run as. */
        size_t unusable = cfg ? mw_privdrop_check_config(cfg, &errs) : 0;
        for (size_t i = 0; i < errs.n; i++)
            printf("%s\n", errs.msgs[i]);
        int rc = cfg && !unusable ? 0 : 1;
        if (rc == 0)
            printf("%s: configuration is valid\n", o.config_path ? o.config_path : "<defaults>");
        mw_config_free(cfg);
        mw_errlist_deinit(&errs);
        return rc;
    }
    return mw_server_run(&o);
}
