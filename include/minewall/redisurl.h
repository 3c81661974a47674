/* Redis URLs as minewall's config and tools take them:
 * redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]. Pure: no I/O, no allocation. */
#pragma once

#include <stddef.h>

#define MW_REDIS_DEFAULT_PORT 6379

struct mw_redis_url {
    char host[256];  /* name or address; an IPv6 address without its brackets */
    int port;        /* 1..65535, default 6379 */
    int db;          /* 0 when absent */
    char user[128];  /* "" when absent (then AUTH takes the password alone) */
    char pass[256];  /* "" when absent; %XX decoded */
    char shown[300]; /* "redis://HOST:PORT[/DB]" for messages (DB when not 0): never the user
                        or the password */
};

/* Parse text into u (overwritten completely). USER and PASSWORD may hold %XX escapes (either
 * case of hex digit), so a password can contain '@', ':' or '/'; a '%' not followed by two hex
 * digits, and %00, are errors, not kept as written. The credentials end at the last '@', so a
 * raw '@' or '/' in the password also works; they must have the ':' (":PASSWORD" alone is a
 * password without user). An IPv6 host is written in brackets. Returns 0, or -EINVAL with a
 * reason (without the password) written to why (why_len bytes, may be 0). Never allocates. */
int mw_redis_url_parse(const char *text, struct mw_redis_url *u, char *why, size_t why_len);
