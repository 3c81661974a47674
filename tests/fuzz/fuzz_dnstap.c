/* libFuzzer harness: the dnstap encoder (dnstap.c). The input shapes one message (identity
 * length, type, protocol, families and ports of both sides, times, message lengths; the rest
 * is the DNS bytes). Checks: the size is the encoded length, one byte less writes nothing, no
 * byte past the frame is touched; the query's and its response's frames made from the query's
 * pre (mw_dnstap_encode_pre) are byte for byte the frames encoded in full from the sockaddrs,
 * with the same bounds. */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "minewall/dnstap.h"

#define CAP 8192
static uint8_t want[CAP + 64], got[CAP + 64];

/* A byte of input, or 0 past its end. */
static uint8_t take(const uint8_t **p, const uint8_t *end)
{
    return *p < end ? *(*p)++ : 0;
}

union sa {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};

/* A side from two control bytes: IPv4, IPv6, another family, or none. */
static const struct sockaddr *side(union sa *a, uint8_t kind, uint8_t port)
{
    memset(a, 0, sizeof(*a));
    switch (kind & 3) {
    case 0:
        a->in4.sin_family = AF_INET;
        a->in4.sin_port = htons((uint16_t)(port * 257u));
        a->in4.sin_addr.s_addr = htonl(0x7f000001u + kind);
        return &a->sa;
    case 1:
        a->in6.sin6_family = AF_INET6;
        a->in6.sin6_port = htons((uint16_t)(port * 131u));
        a->in6.sin6_addr.s6_addr[15] = kind;
        return &a->sa;
    case 2:
        a->sa.sa_family = AF_UNIX;
        return &a->sa;
    default:
        return NULL;
    }
}

static void check_frame(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m)
{
    size_t n = mw_dnstap_size(e, m);
    if (n > CAP)
        return;
    memset(want, 0xa5, sizeof(want));
    FZ_CHECK(mw_dnstap_encode(e, m, want, n) == n);
    for (size_t i = n; i < sizeof(want); i++)
        FZ_CHECK(want[i] == 0xa5);
    FZ_CHECK(mw_dnstap_encode(e, m, got, n - 1) == 0);
}

/* m's frame made from pre: the full encoder's bytes, within the same bounds. */
static void check_pre(const struct mw_dnstap_enc *e, const struct mw_dnstap_pre *pre,
                      const struct mw_dnstap_msg *m)
{
    size_t n = mw_dnstap_size(e, m);
    if (n > CAP)
        return;
    FZ_CHECK(mw_dnstap_pre_size(e, pre, m) == n);
    FZ_CHECK(mw_dnstap_encode(e, m, want, CAP) == n);
    memset(got, 0xa5, sizeof(got));
    FZ_CHECK(mw_dnstap_encode_pre(e, pre, m, got, n) == n);
    FZ_CHECK(memcmp(got, want, n) == 0);
    for (size_t i = n; i < sizeof(got); i++)
        FZ_CHECK(got[i] == 0xa5);
    memset(got, 0xa5, sizeof(got));
    FZ_CHECK(mw_dnstap_encode_pre(e, pre, m, got, n - 1) == 0);
    FZ_CHECK(got[0] == 0xa5);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    static const char ident[300] = "identity-of-a-resolver-that-is-long-enough-to-pass-64-bytes";
    char id[300];
    size_t idl = take(&p, end) % 80;
    memcpy(id, ident, idl);
    id[idl] = 0;
    struct mw_dnstap_enc e;
    mw_dnstap_enc_init(&e, id, take(&p, end) & 1 ? "minewall 0.1.0" : NULL);
    uint8_t c = take(&p, end);
    union sa qa, ra;
    const struct sockaddr *q = side(&qa, take(&p, end), take(&p, end));
    const struct sockaddr *r = side(&ra, take(&p, end), take(&p, end));
    uint64_t sec = (uint64_t)take(&p, end) << (take(&p, end) % 40);
    uint32_t nsec = (uint32_t)take(&p, end) * 3906250u;
    size_t qlen = (size_t)take(&p, end) * 17 % 3000, rlen = (size_t)take(&p, end) * 23 % 3000;
    /* The rest is the DNS bytes, repeated to the lengths asked. */
    static uint8_t dns[3000];
    size_t left = (size_t)(end - p);
    for (size_t i = 0; i < sizeof(dns); i++)
        dns[i] = left ? p[i % left] : (uint8_t)i;
    struct mw_dnstap_msg m = {.type = c & 1 ? MW_DNSTAP_FORWARDER_QUERY : MW_DNSTAP_CLIENT_QUERY,
                              .tcp = c & 2,
                              .query_addr = q,
                              .response_addr = r,
                              .time_sec = sec,
                              .time_nsec = nsec,
                              .dns = dns,
                              .dns_len = qlen};
    if (c & 4) { /* extra on the query (and on its response with bit 7 too) */
        m.extra = dns + 7;
        m.extra_len = (c >> 3) * 9u;
    }
    check_frame(&e, &m);
    struct mw_dnstap_pre pre;
    mw_dnstap_pre_init(&pre, m.type, m.tcp, q, r);
    check_pre(&e, &pre, &m);
    /* Its response, encoded in full and made from the query's pre. */
    struct mw_dnstap_msg rm = m;
    rm.type = m.type + 1;
    rm.qtime_sec = sec;
    rm.qtime_nsec = nsec;
    rm.time_nsec = nsec ^ 1;
    rm.dns = dns + 1;
    rm.dns_len = rlen;
    rm.extra = c & 128 ? m.extra : NULL;
    rm.extra_len = c & 128 ? m.extra_len : 0;
    check_frame(&e, &rm);
    check_pre(&e, &pre, &rm);
    return 0;
}
