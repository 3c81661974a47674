/* The new_domain event: see nodevent.h. */
#include "minewall/nodevent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "minewall/config.h"
#include "minewall/dname.h"
#include "minewall/dnsmsg.h"
#include "minewall/dnstext.h"
#include "minewall/geo.h"
#include "minewall/journal.h"
#include "minewall/jsonw.h"
#include "minewall/querylog.h"
#include "minewall/strbuf.h"

void mw_nod_event_address(struct mw_nod_event *e, const uint8_t *pkt, size_t len,
                          const uint16_t *ttl_off, unsigned n)
{
    e->family = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t at = ttl_off[i]; /* TYPE CLASS at - 4, TTL at, RDLENGTH at + 4, RDATA at + 6 */
        if (at < 4 || at + 6 > len)
            return;
        uint16_t type = mw_dns_get16(pkt + at - 4), rdlen = mw_dns_get16(pkt + at + 4);
        if (mw_dns_get16(pkt + at - 2) != 1 || at + 6 + rdlen > len)
            continue;
        if (type == MW_TYPE_A && rdlen == 4) {
            e->family = AF_INET;
            memcpy(e->addr, pkt + at + 6, 4);
            return;
        }
        if (type == MW_TYPE_AAAA && rdlen == 16) {
            e->family = AF_INET6;
            memcpy(e->addr, pkt + at + 6, 16);
            return;
        }
    }
}

/* The client as mw_addr_format_ip writes it, without its sprintf per field (inet_ntop's, about
 * 1,700 instructions an address): the address text, and "%scope" for a scoped IPv6 one. */
static bool client_text(const struct mw_addr *c, char *a, size_t cap)
{
    if (c->u.sa.sa_family == AF_INET) {
        *mw_querylog_addr_text(AF_INET, (const uint8_t *)&c->u.in4.sin_addr, a) = 0;
        return true;
    }
    if (c->u.sa.sa_family == AF_INET6 && !c->u.in6.sin6_scope_id) {
        *mw_querylog_addr_text(AF_INET6, c->u.in6.sin6_addr.s6_addr, a) = 0;
        return true;
    }
    return c->u.sa.sa_family && mw_addr_format_ip(c, a, cap) >= 0;
}

int mw_nod_event_format(char *buf, size_t cap, const char *host, const struct mw_nod_event *e,
                        const char *scope, const struct mw_geo_info *gi)
{
    char ts[MW_JOURNAL_TS_LEN], a[64], qt[16];
    if (!buf || cap == 0)
        return -ENOSPC;
    if (mw_journal_timestamp(e->wall_ms, ts) < 0)
        return -EINVAL;
    struct mw_strbuf w;
    mw_strbuf_init(&w, buf, cap);
    mw_strbuf_putc(&w, '{');
    MW_JSONW_KEY(&w, "ts");
    mw_jsonw_strn(&w, ts, sizeof(ts) - 1, SIZE_MAX, NULL);
    MW_JSONW_KEY(&w, "type");
    mw_jsonw_str(&w, mw_journal_type_name(MW_JOURNAL_NEW_DOMAIN));
    MW_JSONW_KEY(&w, "host");
    mw_jsonw_str(&w, host);
    MW_JSONW_KEY(&w, "scope");
    mw_jsonw_str(&w, scope);
    MW_JSONW_KEY(&w, "client");
    mw_jsonw_str(&w, client_text(&e->client, a, sizeof(a)) ? a : NULL);
    /* The registered domain's text is the end of the name's: every dot of a name's text
     * parts labels (a dot inside a label is written \046), so it follows the dot after the
     * labels left of it. One conversion instead of two. */
    char text[MW_DNAME_MAX * 4 + 2];
    int tl = mw_dname_to_text(e->qname, e->qname_len, text, sizeof(text));
    if (tl < 0)
        text[0] = 0, tl = 0;
    size_t off = e->regdom_off < e->qname_len ? e->regdom_off : 0, at = 0;
    for (size_t pos = 0; pos < off && tl > 0; pos += 1 + (size_t)e->qname[pos]) {
        const char *dot = memchr(text + at, '.', (size_t)tl - at);
        at = dot ? (size_t)(dot - text) + 1 : (size_t)tl;
    }
    MW_JSONW_KEY(&w, "registered_domain");
    mw_jsonw_strn(&w, text + at, (size_t)tl - at, SIZE_MAX, NULL);
    MW_JSONW_KEY(&w, "qname");
    mw_jsonw_strn(&w, text, (size_t)tl, SIZE_MAX, NULL);
    MW_JSONW_KEY(&w, "qtype");
    mw_jsonw_str(&w, mw_dnstext_type(e->qtype, qt, sizeof(qt)));
    if (e->family == AF_INET || e->family == AF_INET6)
        *mw_querylog_addr_text(e->family, e->addr, a) = 0;
    MW_JSONW_KEY(&w, "address");
    mw_jsonw_str(&w, e->family == AF_INET || e->family == AF_INET6 ? a : NULL);
    MW_JSONW_KEY(&w, "asn");
    if (gi && gi->found_asn)
        mw_strbuf_u64(&w, gi->asn);
    else
        mw_strbuf_put(&w, "null", 4);
    MW_JSONW_KEY(&w, "as_org");
    mw_jsonw_str(&w, gi && gi->as_org[0] ? gi->as_org : NULL);
    MW_JSONW_KEY(&w, "country");
    mw_jsonw_str(&w, gi && gi->found_country ? gi->country : NULL);
    MW_JSONW_KEY(&w, "action");
    mw_jsonw_str(&w, mw_action_name((enum mw_action)e->action));
    if (e->blocked) {
        MW_JSONW_KEY(&w, "blocked_for_s");
        mw_strbuf_u64(&w, e->block_for_ms / 1000);
    }
    mw_strbuf_put(&w, "}\n", 2);
    if (w.trunc) {
        buf[0] = 0;
        return -ENOSPC;
    }
    return (int)w.len;
}
