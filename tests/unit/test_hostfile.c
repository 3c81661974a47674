/* Unit tests for hostfile.c: SHA-256 against the FIPS 180-4 example vectors and padding
 * boundary lengths, snapshots of present and missing files, the multiset line diff, resolv.conf
 * parsing and the resolver bypass decision, hosts parsing and the names whose address changed
 * (a Kinsing-style "127.0.0.1 pool.rival.example" line among them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/hostfile.h"
#include "minewall/netaddr.h"

static const char *hex_of(const void *data, size_t len)
{
    static char hex[MW_SHA256_HEX_LEN];
    uint8_t d[MW_SHA256_LEN];
    mw_hostfile_sha256(data, len, d);
    mw_hostfile_sha256_hex(d, hex);
    return hex;
}

static void test_sha256(void **state)
{
    (void)state;
    assert_string_equal(hex_of(NULL, 0),
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(hex_of("abc", 3),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *v448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_int_equal(strlen(v448) * 8, 448);
    assert_string_equal(hex_of(v448, strlen(v448)),
                        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* Padding boundaries: 55 bytes fit one block, 56 need a second one; 64 and 119/120. */
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        assert_string_equal(hex_of(a, v[i].n), v[i].hex);
    free(a);
}

static struct mw_hostfile_snap *snap(const char *text)
{
    struct mw_hostfile_snap *s = NULL;
    assert_int_equal(mw_hostfile_snap_new(text, text ? strlen(text) : 0, &s), 0);
    assert_non_null(s);
    return s;
}

static void test_snapshots(void **state)
{
    (void)state;
    struct mw_hostfile_snap *a = snap("abc"), *b = snap("abc"), *c = snap("abd");
    struct mw_hostfile_snap *none = snap(NULL), *empty = snap("");
    assert_true(a->exists);
    assert_int_equal(a->len, 3);
    assert_string_equal(a->data, "abc");
    assert_true(mw_hostfile_same(a, b));
    assert_false(mw_hostfile_same(a, c));
    assert_false(none->exists);
    assert_true(mw_hostfile_same(none, NULL));
    assert_false(mw_hostfile_same(none, empty)); /* missing and empty differ */
    assert_true(empty->exists);

    char path[] = "/tmp/mw_hostfile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    struct mw_hostfile_snap *r = NULL;
    assert_int_equal(mw_hostfile_read(path, &r), 0);
    assert_true(mw_hostfile_same(r, a));
    assert_memory_equal(r->sha256, a->sha256, MW_SHA256_LEN);
    mw_hostfile_snap_free(r);
    unlink(path);
    assert_int_equal(mw_hostfile_read(path, &r), 0);
    assert_false(r->exists);
    mw_hostfile_snap_free(r);
    assert_int_equal(mw_hostfile_read("/proc/self/nonexistent/x", &r), 0);
    mw_hostfile_snap_free(r);
    assert_int_equal(mw_hostfile_read("/", &r), -EISDIR);
    assert_null(r);

    mw_hostfile_snap_free(a);
    mw_hostfile_snap_free(b);
    mw_hostfile_snap_free(c);
    mw_hostfile_snap_free(none);
    mw_hostfile_snap_free(empty);
    mw_hostfile_snap_free(NULL);
}

static const char *join(const struct mw_hostfile_list *l)
{
    static char buf[2][1024];
    static int k;
    char *b = buf[k++ & 1];
    b[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            strcat(b, "|");
        strcat(b, l->v[i]);
    }
    return b;
}

static void test_diff_lines(void **state)
{
    (void)state;
    struct mw_hostfile_snap *a = snap("one\ntwo\r\nthree\n\ntwo\n");
    struct mw_hostfile_snap *b = snap("three\none\nfour\ntwo"); /* one "two" less, "four" */
    struct mw_hostfile_list add, rem;
    assert_int_equal(mw_hostfile_diff_lines(a, b, &add, &rem), 0);
    assert_string_equal(join(&add), "four");
    assert_string_equal(join(&rem), "two");
    mw_hostfile_list_deinit(&add);
    mw_hostfile_list_deinit(&rem);

    /* Reordering is no change. */
    struct mw_hostfile_snap *c = snap("two\nthree\ntwo\none\n");
    assert_int_equal(mw_hostfile_diff_lines(a, c, &add, &rem), 0);
    assert_int_equal(add.n, 0);
    assert_int_equal(rem.n, 0);
    assert_null(add.v);

    /* From nothing: every line added, sorted. */
    assert_int_equal(mw_hostfile_diff_lines(NULL, a, &add, &rem), 0);
    assert_string_equal(join(&add), "one|three|two|two");
    assert_int_equal(rem.n, 0);
    mw_hostfile_list_deinit(&add);
    mw_hostfile_list_deinit(&rem);
    mw_hostfile_snap_free(a);
    mw_hostfile_snap_free(b);
    mw_hostfile_snap_free(c);
}

static struct mw_addr ip(const char *s)
{
    struct mw_addr a;
    assert_int_equal(mw_addr_parse(s, 53, &a), 0);
    return a;
}

static void test_resolv(void **state)
{
    (void)state;
    struct mw_hostfile_snap *s = snap("# generated\n"
                                      "search example\n"
                                      "nameserver 127.0.0.53 # systemd-resolved\n"
                                      "  nameserver\t::1\n"
                                      ";nameserver 192.0.2.9\n"
                                      "nameserver not-an-ip\n"
                                      "nameserver\n"
                                      "nameservers 192.0.2.8\n"
                                      "options edns0\n");
    struct mw_resolv r;
    mw_hostfile_resolv_parse(s, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.invalid, 2);
    assert_false(r.implicit_local);
    assert_string_equal(r.ns_text[0], "127.0.0.53");
    assert_string_equal(r.ns_text[1], "::1");

    struct mw_addr lo4 = ip("127.0.0.1:53"), lo6 = ip("[::1]:53"), stub = ip("127.0.0.53");
    /* 127.0.0.1 is not 127.0.0.53; ::1 is a listener, so no bypass while it is listed. */
    assert_false(mw_hostfile_resolver_bypass(&r, &lo6, 1));
    assert_true(mw_hostfile_resolver_bypass(&r, &lo4, 1));
    assert_false(mw_hostfile_resolver_bypass(&r, &stub, 1));
    assert_true(mw_hostfile_resolver_bypass(&r, NULL, 0));
    mw_hostfile_snap_free(s);

    /* Only the stub: bypass unless minewall listens there; the port is not compared. */
    s = snap("nameserver 127.0.0.53\n");
    mw_hostfile_resolv_parse(s, &r);
    struct mw_addr both[2] = {lo4, lo6};
    assert_true(mw_hostfile_resolver_bypass(&r, both, 2));
    struct mw_addr stub_other_port = ip("127.0.0.53:5353");
    assert_false(mw_hostfile_resolver_bypass(&r, &stub_other_port, 1));
    struct mw_addr any = ip("0.0.0.0");
    assert_true(mw_hostfile_resolver_bypass(&r, &any, 1));
    mw_hostfile_snap_free(s);

    /* Pointing at minewall through an IPv4-mapped listener. */
    s = snap("nameserver 127.0.0.1\n");
    mw_hostfile_resolv_parse(s, &r);
    struct mw_addr mapped = ip("[::ffff:127.0.0.1]:53");
    assert_false(mw_hostfile_resolver_bypass(&r, &mapped, 1));
    assert_false(mw_hostfile_resolver_bypass(&r, both, 2));
    mw_hostfile_snap_free(s);

    /* No nameserver line (or no file): the C library asks 127.0.0.1. */
    mw_hostfile_resolv_parse(NULL, &r);
    assert_true(r.implicit_local);
    assert_int_equal(r.n, 0);
    assert_false(mw_hostfile_resolver_bypass(&r, &lo4, 1));
    assert_true(mw_hostfile_resolver_bypass(&r, &stub, 1));

    /* More than MW_RESOLV_MAX_NS are counted, not kept. */
    char big[2048] = "";
    for (int i = 0; i < MW_RESOLV_MAX_NS + 3; i++) {
        char line[64];
        snprintf(line, sizeof(line), "nameserver 192.0.2.%d\n", i + 1);
        strcat(big, line);
    }
    s = snap(big);
    mw_hostfile_resolv_parse(s, &r);
    assert_int_equal(r.n, MW_RESOLV_MAX_NS);
    assert_int_equal(r.dropped, 3);
    mw_hostfile_snap_free(s);
}

static void test_hosts(void **state)
{
    (void)state;
    struct mw_hostfile_snap *a = snap("127.0.0.1\tlocalhost\n"
                                      "::1 localhost ip6-localhost # loopback\n"
                                      "192.0.2.10 Server.Example. server\n"
                                      "garbage line\n"
                                      "# 10.0.0.1 commented.example\n");
    struct mw_hosts h;
    assert_int_equal(mw_hostfile_hosts_parse(a, &h), 0);
    assert_int_equal(h.invalid, 1);
    assert_int_equal(h.n, 5);
    assert_string_equal(h.e[0].name, "ip6-localhost");
    assert_string_equal(h.e[1].name, "localhost");
    assert_int_equal(h.e[1].family, AF_INET); /* AF_INET sorts before AF_INET6 */
    assert_string_equal(h.e[2].name, "localhost");
    assert_string_equal(h.e[3].name, "server");
    assert_string_equal(h.e[4].name, "server.example");

    /* Kinsing-style: a rival's pool sent to loopback, and server moved. Reordered lines and a
     * duplicate alias change nothing for the other names. */
    struct mw_hostfile_snap *b = snap("192.0.2.11 server.example server\n"
                                      "::1 ip6-localhost localhost localhost\n"
                                      "127.0.0.1 localhost\n"
                                      "127.0.0.1 pool.rival.example\n");
    struct mw_hosts h2;
    assert_int_equal(mw_hostfile_hosts_parse(b, &h2), 0);
    struct mw_hostfile_list ch;
    assert_int_equal(mw_hostfile_hosts_changed(&h, &h2, &ch), 0);
    assert_string_equal(join(&ch), "pool.rival.example|server|server.example");
    mw_hostfile_list_deinit(&ch);

    /* Unchanged content in another order: nothing. */
    assert_int_equal(mw_hostfile_hosts_changed(&h2, &h2, &ch), 0);
    assert_int_equal(ch.n, 0);
    /* A name gaining a second address changed; a removed file removes every name. */
    struct mw_hostfile_snap *c = snap("127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
                                      "192.0.2.10 server server.example\n"
                                      "192.0.2.99 server\n");
    struct mw_hosts h3;
    assert_int_equal(mw_hostfile_hosts_parse(c, &h3), 0);
    assert_int_equal(mw_hostfile_hosts_changed(&h, &h3, &ch), 0);
    assert_string_equal(join(&ch), "server");
    mw_hostfile_list_deinit(&ch);
    assert_int_equal(mw_hostfile_hosts_changed(&h, NULL, &ch), 0);
    assert_string_equal(join(&ch), "ip6-localhost|localhost|server|server.example");
    mw_hostfile_list_deinit(&ch);

    mw_hostfile_hosts_deinit(&h);
    mw_hostfile_hosts_deinit(&h2);
    mw_hostfile_hosts_deinit(&h3);
    mw_hostfile_snap_free(a);
    mw_hostfile_snap_free(b);
    mw_hostfile_snap_free(c);
}

/* Watched files are judged by content, whatever their name (issue 11 item 9). */
static void test_guess_kind(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum mw_hostfile_kind want;
    } cases[] = {
        {"nameserver 127.0.0.1\n", MW_HOSTFILE_RESOLV},
        {"# generated\nsearch corp.example\noptions edns0\nnameserver ::1\n", MW_HOSTFILE_RESOLV},
        {"; only options\noptions ndots:2\n", MW_HOSTFILE_RESOLV},
        {"127.0.0.1 localhost\n::1 localhost ip6-localhost\n", MW_HOSTFILE_HOSTS},
        {"# hosts\n192.0.2.5 intranet.example # office\n", MW_HOSTFILE_HOSTS},
        {"a\n", MW_HOSTFILE_UNKNOWN},
        {"", MW_HOSTFILE_UNKNOWN},
        {"# only a comment\n", MW_HOSTFILE_UNKNOWN},
        {"192.0.2.5\n", MW_HOSTFILE_UNKNOWN}, /* an address alone is no hosts line */
        {"key=value\nother=1\nnameserver 10.0.0.1\n", MW_HOSTFILE_UNKNOWN},
        {"nameserver 10.0.0.1\n10.0.0.2 name.example\nnameserver 10.0.0.3\n", MW_HOSTFILE_RESOLV},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mw_hostfile_snap *s = snap(cases[i].text);
        assert_int_equal(mw_hostfile_guess_kind(s), cases[i].want);
        mw_hostfile_snap_free(s);
    }
    assert_int_equal(mw_hostfile_guess_kind(NULL), MW_HOSTFILE_UNKNOWN);
    struct mw_hostfile_snap *missing = snap(NULL);
    assert_int_equal(mw_hostfile_guess_kind(missing), MW_HOSTFILE_UNKNOWN);
    mw_hostfile_snap_free(missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),     cmocka_unit_test(test_snapshots),
        cmocka_unit_test(test_diff_lines), cmocka_unit_test(test_resolv),
        cmocka_unit_test(test_hosts),      cmocka_unit_test(test_guess_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
