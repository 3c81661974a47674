/* dnstap.c: frames decoded with protobuf-c code generated from src/dnstap.proto, so the field
 * numbers and types the hand-written encoder uses are those of the schema; sizes exact;
 * the block extra is JSON that says what the verdict was. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "dnstap.pb-c.h"
#include "minewall/dnstap.h"

static const uint8_t QUERY[] = {0x12, 0x34, 0x01, 0x00, 0,   1, 0,   0,   0,   0, 0, 0, 7, 'e', 'x',
                                'a',  'm',  'p',  'l',  'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static Dnstap__Dnstap *roundtrip(const struct mw_dnstap_enc *e, const struct mw_dnstap_msg *m)
{
    uint8_t buf[4096];
    size_t want = mw_dnstap_size(e, m);
    size_t n = mw_dnstap_encode(e, m, buf, sizeof(buf));
    assert_true(n == want);
    /* One byte short: nothing written. */
    assert_true(mw_dnstap_encode(e, m, buf, want - 1) == 0);
    /* Exactly its size: nothing past it is touched. */
    memset(buf, 0x5a, sizeof(buf));
    assert_true(mw_dnstap_encode(e, m, buf, want) == want);
    for (size_t i = want; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0x5a);
    n = mw_dnstap_encode(e, m, buf, sizeof(buf));
    assert_true(n == want);
    Dnstap__Dnstap *d = dnstap__dnstap__unpack(NULL, n, buf);
    assert_non_null(d);
    return d;
}

static void test_client_query(void **state)
{
    (void)state;
    struct mw_dnstap_enc e;
    mw_dnstap_enc_init(&e, "resolver-1", "minewall 0.1.0");
    struct sockaddr_in c = v4("192.0.2.7", 40000), l = v4("127.0.0.1", 53);
    struct mw_dnstap_msg m = {.type = MW_DNSTAP_CLIENT_QUERY,
                              .query_addr = (struct sockaddr *)&c,
                              .response_addr = (struct sockaddr *)&l,
                              .time_sec = 1764680000,
                              .time_nsec = 123456789,
                              .dns = QUERY,
                              .dns_len = sizeof(QUERY)};
    Dnstap__Dnstap *d = roundtrip(&e, &m);
    assert_int_equal(d->type, DNSTAP__DNSTAP__TYPE__MESSAGE);
    assert_true(d->has_identity && d->identity.len == 10);
    assert_memory_equal(d->identity.data, "resolver-1", 10);
    assert_true(d->has_version && d->version.len == 14);
    assert_false(d->has_extra);
    Dnstap__Message *msg = d->message;
    assert_non_null(msg);
    assert_int_equal(msg->type, DNSTAP__MESSAGE__TYPE__CLIENT_QUERY);
    assert_true(msg->has_socket_family);
    assert_int_equal(msg->socket_family, DNSTAP__SOCKET_FAMILY__INET);
    assert_int_equal(msg->socket_protocol, DNSTAP__SOCKET_PROTOCOL__UDP);
    assert_true(msg->has_query_address && msg->query_address.len == 4);
    assert_memory_equal(msg->query_address.data, &c.sin_addr, 4);
    assert_true(msg->has_response_address && msg->response_address.len == 4);
    assert_true(msg->has_query_port && msg->query_port == 40000);
    assert_true(msg->has_response_port && msg->response_port == 53);
    assert_true(msg->has_query_time_sec && msg->query_time_sec == 1764680000);
    assert_true(msg->has_query_time_nsec && msg->query_time_nsec == 123456789);
    assert_false(msg->has_response_time_sec);
    assert_true(msg->has_query_message && msg->query_message.len == sizeof(QUERY));
    assert_memory_equal(msg->query_message.data, QUERY, sizeof(QUERY));
    assert_false(msg->has_response_message);
    dnstap__dnstap__free_unpacked(d, NULL);
}

static void test_forwarder_response_v6_tcp_extra(void **state)
{
    (void)state;
    struct mw_dnstap_enc e;
    mw_dnstap_enc_init(&e, NULL, ""); /* both left out */
    struct sockaddr_in6 up = {.sin6_family = AF_INET6, .sin6_port = htons(5353)};
    inet_pton(AF_INET6, "2001:db8::53", &up.sin6_addr);
    struct sockaddr_in other = v4("127.0.0.1", 1); /* another family: left out */
    /* A long message: its length takes a 2-byte varint, the Message's too. */
    uint8_t big[3000];
    memset(big, 0xab, sizeof(big));
    const char *x = "{\"verdict\":\"block\"}";
    struct mw_dnstap_msg m = {.type = MW_DNSTAP_FORWARDER_RESPONSE,
                              .tcp = true,
                              .query_addr = (struct sockaddr *)&other,
                              .response_addr = (struct sockaddr *)&up,
                              .time_sec = 1ull << 40,
                              .time_nsec = 999999999,
                              .dns = big,
                              .dns_len = sizeof(big),
                              .extra = (const uint8_t *)x,
                              .extra_len = strlen(x)};
    Dnstap__Dnstap *d = roundtrip(&e, &m);
    assert_false(d->has_identity);
    assert_false(d->has_version);
    assert_true(d->has_extra && d->extra.len == strlen(x));
    assert_memory_equal(d->extra.data, x, strlen(x));
    Dnstap__Message *msg = d->message;
    assert_int_equal(msg->type, DNSTAP__MESSAGE__TYPE__FORWARDER_RESPONSE);
    assert_int_equal(msg->socket_family, DNSTAP__SOCKET_FAMILY__INET6);
    assert_int_equal(msg->socket_protocol, DNSTAP__SOCKET_PROTOCOL__TCP);
    /* The query side was IPv4 in an IPv6 message: left out. */
    assert_false(msg->has_query_address);
    assert_false(msg->has_query_port);
    assert_true(msg->has_response_address && msg->response_address.len == 16);
    assert_memory_equal(msg->response_address.data, &up.sin6_addr, 16);
    assert_int_equal(msg->response_port, 5353);
    assert_true(msg->has_response_time_sec && msg->response_time_sec == 1ull << 40);
    assert_int_equal(msg->response_time_nsec, 999999999);
    assert_false(msg->has_query_time_sec);
    assert_true(msg->has_response_message && msg->response_message.len == sizeof(big));
    assert_memory_equal(msg->response_message.data, big, sizeof(big));
    dnstap__dnstap__free_unpacked(d, NULL);
}

/* A response with its query's time: both times written, each exact; a query ignores it. */
static void test_response_query_time(void **state)
{
    (void)state;
    struct mw_dnstap_enc e;
    mw_dnstap_enc_init(&e, "id", "v");
    struct sockaddr_in cl = v4("192.0.2.7", 40000), li = v4("127.0.0.1", 53);
    uint8_t dns[40] = {0x12, 0x34, 0x81, 0x80};
    enum mw_dnstap_type types[3] = {MW_DNSTAP_CLIENT_RESPONSE, MW_DNSTAP_FORWARDER_RESPONSE,
                                    MW_DNSTAP_CLIENT_QUERY};
    for (unsigned i = 0; i < 3; i++) {
        struct mw_dnstap_msg m = {.type = types[i],
                                  .query_addr = (struct sockaddr *)&cl,
                                  .response_addr = (struct sockaddr *)&li,
                                  .time_sec = 1764680001,
                                  .time_nsec = 5,
                                  .qtime_sec = 1764680000,
                                  .qtime_nsec = 999999999,
                                  .dns = dns,
                                  .dns_len = sizeof(dns)};
        assert_int_equal(mw_dnstap_size(&e, &m), mw_dnstap_encode(&e, &m, (uint8_t[512]){0}, 512));
        Dnstap__Dnstap *d = roundtrip(&e, &m);
        Dnstap__Message *msg = d->message;
        if (i < 2) {
            assert_true(msg->has_query_time_sec && msg->query_time_sec == 1764680000);
            assert_true(msg->has_query_time_nsec && msg->query_time_nsec == 999999999);
            assert_true(msg->has_response_time_sec && msg->response_time_sec == 1764680001);
            assert_int_equal(msg->response_time_nsec, 5);
            assert_true(msg->has_response_message);
        } else { /* a query's own time is its query_time */
            assert_int_equal(msg->query_time_sec, 1764680001);
            assert_int_equal(msg->query_time_nsec, 5);
            assert_false(msg->has_response_time_sec);
        }
        dnstap__dnstap__free_unpacked(d, NULL);
    }
}

static void test_no_addresses(void **state)
{
    (void)state;
    struct mw_dnstap_enc e;
    mw_dnstap_enc_init(&e, "h", "v");
    struct mw_dnstap_msg m = {.type = MW_DNSTAP_CLIENT_RESPONSE, .dns = QUERY, .dns_len = 12};
    Dnstap__Dnstap *d = roundtrip(&e, &m);
    assert_int_equal(d->message->type, DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE);
    assert_false(d->message->has_socket_family);
    assert_false(d->message->has_query_address);
    assert_false(d->message->has_response_address);
    assert_true(d->message->has_response_message);
    dnstap__dnstap__free_unpacked(d, NULL);
}

static void test_identity_cut(void **state)
{
    (void)state;
    char id[400];
    memset(id, 'a', sizeof(id) - 1);
    id[sizeof(id) - 1] = 0;
    struct mw_dnstap_enc e;
    mw_dnstap_enc_init(&e, id, id);
    struct mw_dnstap_msg m = {.type = MW_DNSTAP_FORWARDER_QUERY, .dns = QUERY, .dns_len = 29};
    Dnstap__Dnstap *d = roundtrip(&e, &m);
    assert_int_equal(d->identity.len, MW_DNSTAP_IDENT_MAX);
    assert_int_equal(d->version.len, MW_DNSTAP_IDENT_MAX);
    assert_int_equal(d->message->type, DNSTAP__MESSAGE__TYPE__FORWARDER_QUERY);
    dnstap__dnstap__free_unpacked(d, NULL);
}

/* Frames made from a pre (the sides encoded once): byte for byte the frames mw_dnstap_encode
 * writes from the sockaddrs, for a query and for its response from the query's pre, across
 * families, protocols, both query types, heads shorter and longer than 64 bytes and lengths
 * whose varints take one, two and three bytes; nothing written past the frame, nothing at all
 * when it does not fit. */
static void test_encode_pre(void **state)
{
    (void)state;
    static uint8_t qdns[20000], rdns[20000];
    for (size_t i = 0; i < sizeof(qdns); i++) {
        qdns[i] = (uint8_t)(i * 7);
        rdns[i] = (uint8_t)(i * 13 + 1);
    }
    struct sockaddr_in c4 = v4("192.0.2.7", 40000), l4 = v4("127.0.0.1", 53);
    struct sockaddr_in6 c6 = {.sin6_family = AF_INET6, .sin6_port = htons(100)};
    struct sockaddr_in6 l6 = {.sin6_family = AF_INET6, .sin6_port = htons(53)};
    inet_pton(AF_INET6, "2001:db8::7", &c6.sin6_addr);
    inet_pton(AF_INET6, "::1", &l6.sin6_addr);
    char longid[200];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = 0;
    const char *ids[] = {"h", "resolver-1.example", longid};
    const struct sockaddr *qs[] = {(struct sockaddr *)&c4, (struct sockaddr *)&c6, NULL,
                                   (struct sockaddr *)&c4};
    const struct sockaddr *rs[] = {(struct sockaddr *)&l4, (struct sockaddr *)&l6, NULL,
                                   (struct sockaddr *)&l6};
    const size_t qlens[] = {12, 29, 120, 200, 16000};
    const size_t rlens[] = {12, 45, 127, 300, 17000};
    const uint64_t secs[] = {1764680000, 5, 1ull << 40};
    static uint8_t want[40000], got[40000];
    unsigned checked = 0;
    for (unsigned ii = 0; ii < 3; ii++) {
        struct mw_dnstap_enc e;
        mw_dnstap_enc_init(&e, ids[ii], "minewall 0.1.0");
        for (unsigned ai = 0; ai < 4; ai++)
            for (unsigned ti = 0; ti < 4; ti++)
                for (unsigned li = 0; li < 5; li++) {
                    struct mw_dnstap_msg m = {.type = ti & 1 ? MW_DNSTAP_FORWARDER_QUERY
                                                             : MW_DNSTAP_CLIENT_QUERY,
                                              .tcp = ti & 2,
                                              .query_addr = qs[ai],
                                              .response_addr = rs[ai],
                                              .time_sec = secs[li % 3],
                                              .time_nsec = 123456789,
                                              .dns = qdns,
                                              .dns_len = qlens[li]};
                    struct mw_dnstap_pre pre, kept;
                    mw_dnstap_pre_init(&pre, m.type, m.tcp, m.query_addr, m.response_addr);
                    /* The query encoded in full keeps the same fields. */
                    memset(&kept, 0, sizeof(kept));
                    size_t kn = mw_dnstap_encode_keep(&e, &m, &kept, want, sizeof(want));
                    assert_true(kn == mw_dnstap_encode(&e, &m, got, sizeof(got)));
                    assert_memory_equal(want, got, kn);
                    assert_int_equal(kept.len, pre.len);
                    assert_memory_equal(kept.b, pre.b, pre.len);
                    for (unsigned k = 0; k < 2; k++) {
                        if (k) { /* its response, from the query's pre */
                            m.type++;
                            m.qtime_sec = m.time_sec;
                            m.qtime_nsec = m.time_nsec;
                            m.time_nsec += 1000;
                            m.dns = rdns;
                            m.dns_len = rlens[(li + ai) % 5];
                        }
                        size_t wn = mw_dnstap_encode(&e, &m, want, sizeof(want));
                        assert_true(wn > 0);
                        assert_true(mw_dnstap_size(&e, &m) == wn);
                        assert_true(mw_dnstap_pre_size(&e, &pre, &m) == wn);
                        memset(got, 0x5a, sizeof(got));
                        assert_true(mw_dnstap_encode_pre(&e, &pre, &m, got, wn) == wn);
                        assert_memory_equal(got, want, wn);
                        assert_int_equal(got[wn], 0x5a); /* nothing past it */
                        /* One byte short: nothing written. */
                        memset(got, 0x5a, sizeof(got));
                        assert_true(mw_dnstap_encode_pre(&e, &pre, &m, got, wn - 1) == 0);
                        assert_int_equal(got[0], 0x5a);
                        checked++;
                    }
                }
    }
    assert_int_equal(checked, 3 * 4 * 4 * 5 * 2);
    /* A client response made from its query's pre decodes as that response. */
    struct mw_dnstap_enc e;
    mw_dnstap_enc_init(&e, "id", "v");
    struct mw_dnstap_pre pre;
    mw_dnstap_pre_init(&pre, MW_DNSTAP_CLIENT_QUERY, false, (struct sockaddr *)&c4,
                       (struct sockaddr *)&l4);
    struct mw_dnstap_msg m = {.type = MW_DNSTAP_CLIENT_RESPONSE,
                              .time_sec = 1764680000,
                              .qtime_sec = 1764680000,
                              .dns = rdns,
                              .dns_len = 40};
    size_t gn = mw_dnstap_encode_pre(&e, &pre, &m, got, sizeof(got));
    Dnstap__Dnstap *d = dnstap__dnstap__unpack(NULL, gn, got);
    assert_non_null(d);
    assert_int_equal(d->message->type, DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE);
    assert_true(d->message->has_query_time_sec && d->message->query_time_sec == 1764680000);
    assert_true(d->message->has_response_time_sec && d->message->response_time_sec == 1764680000);
    assert_true(d->message->has_response_message && d->message->response_message.len == 40);
    assert_memory_equal(d->message->response_message.data, rdns, 40);
    assert_true(d->message->has_query_port && d->message->query_port == 40000);
    dnstap__dnstap__free_unpacked(d, NULL);
}

static void test_block_extra(void **state)
{
    (void)state;
    char buf[512];
    struct mw_dnstap_block b = {.list = "mining-pools",
                                .category = "mining",
                                .rule = "pool.example",
                                .action = "nxdomain",
                                .where = "qname",
                                .group = "builders"};
    size_t n = mw_dnstap_block_extra(buf, sizeof(buf), &b);
    const char *want = "{\"verdict\":\"block\",\"list\":\"mining-pools\",\"category\":\"mining\","
                       "\"rule\":\"pool.example\",\"action\":\"nxdomain\",\"where\":\"qname\","
                       "\"group\":\"builders\"}";
    assert_int_equal(n, strlen(want));
    assert_string_equal(buf, want);
    /* Quotes in a rule are escaped; a missing value is null. */
    b.rule = "a\"b";
    b.category = NULL;
    n = mw_dnstap_block_extra(buf, sizeof(buf), &b);
    assert_non_null(strstr(buf, "\"rule\":\"a\\\"b\""));
    assert_non_null(strstr(buf, "\"category\":null"));
    /* Too small: left out, never cut. */
    assert_int_equal(mw_dnstap_block_extra(buf, 20, &b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_query),
        cmocka_unit_test(test_forwarder_response_v6_tcp_extra),
        cmocka_unit_test(test_no_addresses),
        cmocka_unit_test(test_identity_cut),
        cmocka_unit_test(test_response_query_time),
        cmocka_unit_test(test_encode_pre),
        cmocka_unit_test(test_block_extra),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
