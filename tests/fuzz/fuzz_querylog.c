/* libFuzzer harness: the query log's record and JSON line (querylog.c). The first 8 input
 * bytes pick the note and the client (cache, verdict, latency, a rule or none, an upstream
 * label or none, IPv4/IPv6/none and its bytes from the input), the next byte the length of a
 * group name taken from the input, the rest is the reply. Every line must end in its one
 * '\n', stay within MW_QUERYLOG_LINE_MAX, hold no raw control byte, and be the same through
 * both writers (in place and into a strbuf); the record stays within its bound. */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "minewall/filter.h"
#include "minewall/querylog.h"
#include "minewall/strbuf.h"

static _Alignas(8) uint8_t rec[MW_QUERYLOG_REC_MAX + MW_QUERYLOG_REC_PAD];
static char line[MW_QUERYLOG_LINE_MAX + 64], line2[MW_QUERYLOG_LINE_MAX + 64];
static struct mw_verdict v;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    const uint8_t *h = data;
    data += 9;
    size -= 9;
    size_t glen = h[8] < size ? h[8] : size;
    char group[256];
    memcpy(group, data, glen);
    group[glen] = 0; /* a NUL inside cuts it, as a C string would be */
    data += glen;
    size -= glen;
    char up[80];
    size_t ulen = h[2] % 72;
    for (size_t i = 0; i < ulen; i++)
        up[i] = (char)(h[3] + i * 37) ? (char)(h[3] + i * 37) : 'x';
    up[ulen] = 0;
    if (h[1] & 0x80) {
        size_t rl = h[4] * 2u < sizeof(v.rule_text) ? h[4] * 2u : sizeof(v.rule_text) - 1;
        for (size_t i = 0; i < rl; i++)
            v.rule_text[i] = (char)(h[5] + i * 11) ? (char)(h[5] + i * 11) : '.';
        v.rule_text[rl] = 0;
    }
    struct mw_querylog_note n = {.start_ms = h[6],
                                 .upstream = h[2] & 0x80 ? up : NULL,
                                 .v = h[1] & 0x80 ? &v : NULL,
                                 .cache = h[0] & 7,
                                 .verdict = (h[1] & 0x0f)};
    struct sockaddr_in6 c6 = {.sin6_family = AF_INET6, .sin6_port = h[7]};
    struct sockaddr_in c4 = {.sin_family = AF_INET, .sin_port = h[7]};
    memcpy(&c6.sin6_addr, h, 8);
    memcpy((uint8_t *)&c6.sin6_addr + 8, h, 8);
    memcpy(&c4.sin_addr, h + 2, 4);
    const struct sockaddr *client = (h[0] & 0x30) == 0x10   ? (const struct sockaddr *)&c4
                                    : (h[0] & 0x30) == 0x20 ? (const struct sockaddr *)&c6
                                                            : NULL;
    struct mw_querylog_rec *r = (struct mw_querylog_rec *)rec;
    mw_querylog_make(r, &n, group, client, h[0] & 0x40, (uint16_t)(h[6] << 8 | h[7]), data, size,
                     h[6] * 1000ull);
    FZ_CHECK(r->size <= MW_QUERYLOG_REC_MAX && r->size % 8 == 0);
    uint64_t wall = 1700000000000ull + h[4] * 997ull;
    char *e = mw_querylog_format_at(r, wall, line);
    size_t len = (size_t)(e - line);
    FZ_CHECK(len > 0 && len < MW_QUERYLOG_LINE_MAX && line[len - 1] == '\n');
    for (size_t i = 0; i + 1 < len; i++)
        FZ_CHECK((unsigned char)line[i] >= 0x20);
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, line2, sizeof(line2));
    FZ_CHECK(mw_querylog_format(r, wall, &sb) == 0 && sb.len == len);
    FZ_CHECK(memcmp(line, line2, len) == 0);
    return 0;
}
