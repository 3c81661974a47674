/* The `dnstap:` key of the configuration (see config.h and tap.h): where the frames go (a UNIX
 * socket or a TCP address, exactly one), the identity and version they carry, which of the
 * four message types are written, and the bound of each worker's queue. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "minewall/config.h"
#include "minewall/dnstap.h"

/* A UNIX socket path must fit sockaddr_un.sun_path (108 bytes with the NUL). */
static void on_socket(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__on_path(c, k, val);
    const char *p = c->cfg->dnstap.socket;
    if (!p)
        return;
    c->cfg->dnstap.socket_line = line_of(val);
    if (strlen(p) >= 108) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: path longer than 107 bytes: '%s'", k->path,
                       mw_config__shown(p, b));
        free(c->cfg->dnstap.socket);
        c->cfg->dnstap.socket = NULL;
    }
}

static void on_address(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    if (mw_addr_parse(s, 0, &c->cfg->dnstap.address) < 0 ||
        !mw_addr_port(&c->cfg->dnstap.address)) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: invalid address '%s' (IP:PORT, [IPv6]:PORT)", k->path,
                       mw_config__shown(s, b));
        return;
    }
    c->cfg->dnstap.address_line = line_of(val);
}

/* identity, version: text that goes in every frame, so it is kept short. */
static void on_text(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    if (strlen(s) > MW_DNSTAP_IDENT_MAX) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(val), "%s: longer than %d bytes: '%s'", k->path,
                       MW_DNSTAP_IDENT_MAX, mw_config__shown(s, b));
        return;
    }
    char **field = (char **)((char *)c->cfg + k->off);
    free(*field);
    if (!(*field = strdup(s)))
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
}

/* fstrm's input queues are rings of a power of 2 entries, 2..16384. */
static void on_queue_size(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    mw_config__on_uint(c, k, val);
    uint32_t n = c->cfg->dnstap.queue_size;
    if (n & (n - 1)) {
        mw_config__err(c, line_of(val), "%s: %u is not a power of 2 (2, 4, ... 16384)", k->path,
                       (unsigned)n);
        c->cfg->dnstap.queue_size = MW_DNSTAP_QUEUE_DEFAULT;
    }
}

#define BOOL(p, f)                                                                                 \
    {                                                                                              \
        .path = p, .fn = mw_config__on_bool, .off = offsetof(struct mw_config, f)                  \
    }

static const struct key dnstap_keys[] = {
    {.path = "dnstap.socket",
     .fn = on_socket,
     .off = offsetof(struct mw_config, dnstap.socket),
     .width = sizeof(char *)},
    {.path = "dnstap.address", .fn = on_address},
    {.path = "dnstap.identity", .fn = on_text, .off = offsetof(struct mw_config, dnstap.identity)},
    {.path = "dnstap.version", .fn = on_text, .off = offsetof(struct mw_config, dnstap.version)},
    BOOL("dnstap.client-query", dnstap.client_query),
    BOOL("dnstap.client-response", dnstap.client_response),
    BOOL("dnstap.forwarder-query", dnstap.forwarder_query),
    BOOL("dnstap.forwarder-response", dnstap.forwarder_response),
    NUM("dnstap.queue-size", on_queue_size, dnstap.queue_size, 2, 16384, 1, 0),
    {.path = NULL},
};

void mw_config__on_dnstap(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    struct mw_config *cfg = c->cfg;
    mw_config__walk_map(c, val, dnstap_keys, k->path);
    bool sock = cfg->dnstap.socket != NULL, addr = cfg->dnstap.address_line != 0;
    if (sock && addr) {
        int line = cfg->dnstap.socket_line > cfg->dnstap.address_line ? cfg->dnstap.socket_line
                                                                      : cfg->dnstap.address_line;
        mw_config__err(c, line, "dnstap: give socket or address, not both");
        return;
    }
    if (!sock && !addr) {
        mw_config__err(c, line_of(val),
                       "dnstap: needs socket (a UNIX socket path) or address "
                       "(IP:PORT over TCP)");
        return;
    }
    cfg->dnstap.enabled = true;
}

void mw_config__dnstap_defaults(struct mw_config *cfg)
{
    cfg->dnstap.client_query = cfg->dnstap.client_response = true;
    cfg->dnstap.forwarder_query = cfg->dnstap.forwarder_response = true;
    cfg->dnstap.queue_size = MW_DNSTAP_QUEUE_DEFAULT;
}

void mw_config__dnstap_free(struct mw_config *cfg)
{
    free(cfg->dnstap.socket);
    free(cfg->dnstap.identity);
    free(cfg->dnstap.version);
}
