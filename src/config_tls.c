/* The DNS-over-TLS and DNS-over-HTTPS keys of the configuration: `tls://` and `https://`
 * entries in `upstreams` and `forward-zones`, and the `tls:` map (ca-file, pins,
 * max-connections, idle-timeout, max-pipeline, doh-method, hosts-file). An https:// entry
 * stands in the lists under its URL's identity address (doh.h). A tls:// address is the same kind
 * of member as a plain one in the upstream lists (its address is its identity, so the health board
 * and the upstream sets need no change of key); cfg->tls.ups says which addresses are reached over
 * TLS and with which authentication name. So an address given once as tls:// is asked over TLS
 * wherever it is listed (the same ADDR:PORT as a plain entry elsewhere means the same member), and
 * one address under two authentication names is an error with FILE:LINE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "minewall/config.h"
#include "minewall/doh.h"
#include "minewall/dot.h"

/* Record a tls:// or https:// upstream like e (once per address); false after reporting a
 * conflict. */
static bool note_tls(struct ctx *c, const char *path, int line, const struct mw_tls_upstream *e,
                     const char *text)
{
    char b[SHOWN_MAX + 4];
    struct mw_config *cfg = c->cfg;
    for (size_t i = 0; i < cfg->tls.n_ups; i++) {
        struct mw_tls_upstream *t = &cfg->tls.ups[i];
        if (!mw_addr_equal(&t->addr, &e->addr))
            continue;
        if (t->doh && e->doh) {
            if (strcmp(t->url.host, e->url.host) == 0 && strcmp(t->url.path, e->url.path) == 0)
                return true;
            mw_config__err(c, line, "%s: '%s' collides with the URL of line %d", path,
                           mw_config__shown(text, b), t->line);
            return false;
        }
        if (t->doh == e->doh && t->by_name == e->by_name &&
            strcmp(t->auth_name, e->auth_name) == 0 && strcmp(t->url.host, e->url.host) == 0)
            return true;
        mw_config__err(c, line, "%s: '%s' names another authentication name than line %d", path,
                       mw_config__shown(text, b), t->line);
        return false;
    }
    struct mw_tls_upstream *n = realloc(cfg->tls.ups, (cfg->tls.n_ups + 1) * sizeof(*n));
    if (!n) {
        mw_config__err(c, line, "%s: out of memory", path);
        return false;
    }
    cfg->tls.ups = n;
    n += cfg->tls.n_ups++;
    *n = *e;
    n->line = line;
    return true;
}

static bool upstream_item(struct ctx *c, const char *path, yaml_node_t *item, const char *s,
                          void *out, const void *arg)
{
    (void)arg;
    struct mw_tls_upstream e;
    memset(&e, 0, sizeof(e));
    int r = mw_config_parse_upstream(s, &e);
    *(struct mw_addr *)out = e.addr;
    if (r < 0) {
        char b[SHOWN_MAX + 4];
        mw_config__err(c, line_of(item),
                       "%s: invalid address '%s' (expected ADDR[:PORT], "
                       "tls://HOST[:PORT][#AUTH-NAME] or https://HOST[:PORT]/PATH)",
                       path, mw_config__shown(s, b));
        return false;
    }
    return r != 1 || note_tls(c, path, line_of(item), &e, s);
}

bool mw_config__parse_upstreams(struct ctx *c, const char *path, yaml_node_t *val,
                                struct mw_addr **arr, size_t *n)
{
    void *p = NULL;
    bool ok = mw_config__parse_seq(c, path, val, sizeof(**arr), upstream_item, NULL, &p, n);
    *arr = p;
    return ok;
}

/* `tls.pins`: a map of authentication names to lists of base64 SPKI SHA-256 hashes. */
static void on_pins(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    char b[SHOWN_MAX + 4];
    if (is_null(val))
        return;
    if (val->type != YAML_MAPPING_NODE) {
        mw_config__err(c, line_of(val), "%s: expected a map of names to pin lists, found %s",
                       k->path, kind(val));
        return;
    }
    yaml_node_pair_t *start = val->data.mapping.pairs.start;
    size_t count = (size_t)(val->data.mapping.pairs.top - start);
    struct mw_config *cfg = c->cfg;
    cfg->tls.pins = calloc(count ? count : 1, sizeof(*cfg->tls.pins));
    if (!cfg->tls.pins) {
        mw_config__err(c, line_of(val), "%s: out of memory", k->path);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *kn = node(c, start[i].key), *v = node(c, start[i].value);
        const char *ks = mw_config__scalar(c, k->path, kn);
        if (!ks)
            continue;
        char name[MW_DOT_NAME_MAX + 1];
        struct mw_addr dummy;
        char url[MW_DOT_NAME_MAX + 32];
        snprintf(url, sizeof(url), "tls://127.0.0.1#%s", ks);
        if (mw_dot_parse_url(url, &dummy, name, sizeof(name)) != 1) {
            mw_config__err(c, line_of(kn), "%s: invalid authentication name '%s'", k->path,
                           mw_config__shown(ks, b));
            continue;
        }
        if (mw_config_tls_pins(cfg, name)) {
            mw_config__err(c, line_of(kn), "%s: duplicate name '%s'", k->path,
                           mw_config__shown(ks, b));
            continue;
        }
        if (v->type != YAML_SEQUENCE_NODE) {
            mw_config__err(c, line_of(v), "%s: '%s': expected a list of pins, found %s", k->path,
                           mw_config__shown(ks, b), kind(v));
            continue;
        }
        size_t np = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        struct mw_tls_pins *p = &cfg->tls.pins[cfg->tls.n_pins];
        memset(p, 0, sizeof(*p));
        p->line = line_of(kn);
        p->name = strdup(name);
        p->sha256 = calloc(np ? np : 1, sizeof(*p->sha256));
        if (!p->name || !p->sha256) {
            free(p->name);
            free(p->sha256);
            mw_config__err(c, line_of(kn), "%s: out of memory", k->path);
            continue;
        }
        bool ok = np > 0;
        if (!ok)
            mw_config__err(c, line_of(v), "%s: '%s' has no pins", k->path, mw_config__shown(ks, b));
        for (size_t j = 0; j < np; j++) {
            yaml_node_t *item = node(c, v->data.sequence.items.start[j]);
            const char *s = mw_config__scalar(c, k->path, item);
            if (!s) {
                ok = false;
            } else if (mw_dot_pin_decode(s, p->sha256[p->n]) < 0) {
                mw_config__err(c, line_of(item),
                               "%s: invalid pin '%s' (expected the base64 SHA-256 of a "
                               "SubjectPublicKeyInfo, 44 characters)",
                               k->path, mw_config__shown(s, b));
                ok = false;
            } else {
                p->n++;
            }
        }
        if (!ok) {
            free(p->name);
            free(p->sha256);
            continue;
        }
        cfg->tls.n_pins++;
    }
}

void mw_config__tls_merge(struct ctx *c, const struct mw_config *sub, const char *section)
{
    for (size_t i = 0; i < sub->tls.n_ups; i++) {
        const struct mw_tls_upstream *t = &sub->tls.ups[i];
        char text[MW_DOH_HOST_MAX + MW_DOH_PATH_MAX + 32], a[64];
        mw_addr_format(&t->addr, a, sizeof(a));
        if (t->doh)
            mw_doh_label(&t->url, text, sizeof(text));
        else if (t->by_name)
            snprintf(text, sizeof(text), "tls://%s:%u#%s", t->url.host, (unsigned)t->url.port,
                     t->auth_name);
        else
            snprintf(text, sizeof(text), "tls://%s%s%s", a, t->auth_name[0] ? "#" : "",
                     t->auth_name);
        note_tls(c, section, t->line, t, text);
    }
}

/* `tls.doh-method`: post (default) or get. */
static void on_doh_method(struct ctx *c, const struct key *k, yaml_node_t *val)
{
    char b[SHOWN_MAX + 4];
    const char *s = mw_config__scalar(c, k->path, val);
    if (!s)
        return;
    if (strcmp(s, "post") == 0 || strcmp(s, "POST") == 0)
        c->cfg->tls.doh_get = false;
    else if (strcmp(s, "get") == 0 || strcmp(s, "GET") == 0)
        c->cfg->tls.doh_get = true;
    else
        mw_config__err(c, line_of(val), "%s: expected post or get, found '%s'", k->path,
                       mw_config__shown(s, b));
}

const struct key mw_config__tls_keys[] = {
    PATH("tls.ca-file", tls.ca_file, tls_ca_file),
    {.path = "tls.pins", .fn = on_pins},
    NUM("tls.max-connections", mw_config__on_uint, tls.max_connections, 1, 64, 1, 0),
    NUM("tls.idle-timeout", mw_config__on_uint, tls.idle_timeout_ms, 1, 3600, 1000, 0),
    NUM("tls.max-pipeline", mw_config__on_uint, tls.max_pipeline, 1, 4096, 1, 0),
    {.path = "tls.doh-method", .fn = on_doh_method},
    PATH("tls.hosts-file", tls.hosts_file, tls_hosts_file),
    {.path = NULL},
};

void mw_config__tls_defaults(struct mw_config *cfg)
{
    cfg->tls.max_connections = 2;
    cfg->tls.idle_timeout_ms = 10000;
    cfg->tls.max_pipeline = 64;
}

void mw_config__tls_free(struct mw_config *cfg)
{
    free(cfg->tls.ups);
    free(cfg->tls.ca_file);
    free(cfg->tls.hosts_file);
    for (size_t i = 0; i < cfg->tls.n_pins; i++) {
        free(cfg->tls.pins[i].name);
        free(cfg->tls.pins[i].sha256);
    }
    free(cfg->tls.pins);
}

const struct mw_tls_upstream *mw_config_tls_upstream(const struct mw_config *cfg,
                                                     const struct mw_addr *a)
{
    for (size_t i = 0; i < cfg->tls.n_ups; i++)
        if (mw_addr_equal(&cfg->tls.ups[i].addr, a))
            return &cfg->tls.ups[i];
    return NULL;
}

const struct mw_tls_pins *mw_config_tls_pins(const struct mw_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->tls.n_pins; i++)
        if (strcmp(cfg->tls.pins[i].name, name) == 0)
            return &cfg->tls.pins[i];
    return NULL;
}

/* "tls://NAME[:PORT][#AUTH-NAME]": a DoT upstream by host name (bootstrapped as DoH's are);
 * the certificate must name AUTH-NAME, or NAME without one. */
static int parse_tls_name(const char *s, struct mw_tls_upstream *out)
{
    s += strlen("tls://");
    const char *hash = strchr(s, '#');
    size_t n = hash ? (size_t)(hash - s) : strlen(s);
    char host[MW_DOH_HOST_MAX + 8];
    if (n == 0 || n >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, n);
    host[n] = 0;
    unsigned long port = MW_DOT_PORT;
    char *colon = strchr(host, ':');
    if (colon) {
        *colon = 0;
        char *end = NULL;
        port = strtoul(colon + 1, &end, 10);
        if (!colon[1] || *end || port == 0 || port > 65535 || colon[1] < '0' || colon[1] > '9')
            return -EINVAL;
    }
    if (mw_doh_host_name(host, out->url.host, sizeof(out->url.host)) < 0)
        return -EINVAL;
    if (hash) {
        if (mw_dot_name_copy(hash + 1, out->auth_name, sizeof(out->auth_name)) < 0)
            return -EINVAL;
    } else {
        snprintf(out->auth_name, sizeof(out->auth_name), "%s", out->url.host);
    }
    out->url.port = (uint16_t)port;
    out->by_name = true;
    char label[MW_DOH_HOST_MAX + 32];
    snprintf(label, sizeof(label), "tls://%s:%lu", out->url.host, port);
    mw_doh_identity(label, out->url.port, &out->addr);
    return 1;
}

int mw_config_parse_upstream(const char *s, struct mw_tls_upstream *out)
{
    memset(out, 0, sizeof(*out));
    int r = mw_doh_parse_url(s, &out->url);
    if (r == 1) {
        out->doh = true;
        out->addr = out->url.id;
        out->by_name = !out->url.is_ip;
        if (!out->url.is_ip)
            snprintf(out->auth_name, sizeof(out->auth_name), "%s", out->url.host);
        return 1;
    }
    if (r < 0)
        return r;
    r = mw_dot_parse_url(s, &out->addr, out->auth_name, sizeof(out->auth_name));
    if (r == -EINVAL) /* not an address: a host name? */
        r = parse_tls_name(s, out);
    if (r != 0)
        return r;
    return mw_addr_parse(s, MW_DNS_PORT, &out->addr) < 0 ? -EINVAL : 0;
}

int mw_config_add_tls_upstream(struct mw_config *cfg, const struct mw_tls_upstream *t)
{
    const struct mw_tls_upstream *old = mw_config_tls_upstream(cfg, &t->addr);
    if (old)
        return old->doh == t->doh && strcmp(old->auth_name, t->auth_name) == 0 &&
                       strcmp(old->url.host, t->url.host) == 0
                   ? 0
                   : -EEXIST;
    struct mw_tls_upstream *n = realloc(cfg->tls.ups, (cfg->tls.n_ups + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    cfg->tls.ups = n;
    n[cfg->tls.n_ups++] = *t;
    return 0;
}
