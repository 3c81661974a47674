/* libFuzzer harness for the Redis URL parser (config redis.url / events-url, minewall-feed
 * --redis): any text must give 0 with a usable host, port and db, or -EINVAL with a reason;
 * the text shown in messages must never carry the password. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/redisurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    FZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = 0;
    struct mw_redis_url u;
    char why[128];
    int rc = mw_redis_url_parse(text, &u, why, sizeof(why));
    FZ_CHECK(rc == 0 || rc == -EINVAL);
    if (rc == 0) {
        FZ_CHECK(u.port >= 1 && u.port <= 65535 && u.db >= 0);
        FZ_CHECK(strnlen(u.host, sizeof(u.host)) < sizeof(u.host) && u.host[0]);
        FZ_CHECK(strnlen(u.shown, sizeof(u.shown)) < sizeof(u.shown));
        FZ_CHECK(strnlen(u.pass, sizeof(u.pass)) < sizeof(u.pass));
        FZ_CHECK(strnlen(u.user, sizeof(u.user)) < sizeof(u.user));
        /* What messages show is built from host, port and db only: never the credentials. */
        char want[sizeof(u.shown) + 64];
        bool v6 = strchr(u.host, ':') != NULL;
        int n = snprintf(want, sizeof(want), "redis://%s%s%s:%d", v6 ? "[" : "", u.host,
                         v6 ? "]" : "", u.port);
        if (u.db != 0) /* "/DB" only for another database than 0 */
            snprintf(want + n, sizeof(want) - (size_t)n, "/%d", u.db);
        FZ_CHECK(strncmp(want, u.shown, sizeof(u.shown) - 1) == 0);
    } else {
        FZ_CHECK(strnlen(why, sizeof(why)) < sizeof(why) && why[0]);
    }
    (void)mw_redis_url_parse(text, &u, NULL, 0);
    free(text);
    return 0;
}
