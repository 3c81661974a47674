/* Unit tests for the HTTP/2 session of DNS over HTTPS (dohconn.c), against an nghttp2 server
 * session in the same process: the bytes of one go to the other until both are quiet. The
 * server records what it got (method, path, Content-Type, body) and answers as the test says:
 * the DNS message, an HTTP error, a wrong Content-Type, a body over 65535 bytes, a GOAWAY. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "minewall/base64.h"
#include "minewall/doh.h"
#include "minewall/dohconn.h"

enum reply { R_OK, R_404, R_CTYPE, R_HUGE, R_NONE };

struct server {
    nghttp2_session *s;
    enum reply reply;
    char method[8], path[2100], ctype[64];
    uint8_t body[2048];
    size_t body_len;
    uint8_t *resp; /* the response body being sent */
    size_t resp_len, resp_off;
    unsigned requests;
};

struct result {
    int calls, status, http;
    void *req;
    uint8_t pkt[512];
    size_t len;
};

static const uint8_t query[] = {0,   0,   1,   0, 0,   1,   0,   0,   0, 0, 0, 0, 3,
                                'd', 'n', 's', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};

static int s_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
                    const uint8_t *v, size_t vl, uint8_t flags, void *ud)
{
    struct server *sv = ud;
    (void)s;
    (void)f;
    (void)flags;
    char *dst = NULL;
    size_t cap = 0;
    if (nl == 7 && memcmp(n, ":method", 7) == 0)
        dst = sv->method, cap = sizeof(sv->method);
    else if (nl == 5 && memcmp(n, ":path", 5) == 0)
        dst = sv->path, cap = sizeof(sv->path);
    else if (nl == 12 && memcmp(n, "content-type", 12) == 0)
        dst = sv->ctype, cap = sizeof(sv->ctype);
    if (dst && vl < cap) {
        memcpy(dst, v, vl);
        dst[vl] = 0;
    }
    return 0;
}

static int s_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len,
                  void *ud)
{
    struct server *sv = ud;
    (void)s;
    (void)flags;
    (void)id;
    if (sv->body_len + len <= sizeof(sv->body)) {
        memcpy(sv->body + sv->body_len, d, len);
        sv->body_len += len;
    }
    return 0;
}

static ssize_t s_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                      nghttp2_data_source *src, void *ud)
{
    struct server *sv = ud;
    (void)s;
    (void)id;
    (void)src;
    size_t n = sv->resp_len - sv->resp_off;
    if (n > len)
        n = len;
    memcpy(buf, sv->resp + sv->resp_off, n);
    sv->resp_off += n;
    if (sv->resp_off == sv->resp_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                 \
    }

static int s_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct server *sv = ud;
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
        (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
        return 0;
    sv->requests++;
    if (sv->reply == R_NONE)
        return 0;
    free(sv->resp);
    sv->resp_off = 0;
    if (sv->reply == R_HUGE) {
        sv->resp_len = 70000;
        sv->resp = calloc(1, sv->resp_len);
    } else {
        /* The answer: the query with QR set. */
        sv->resp_len = sizeof(query);
        sv->resp = malloc(sizeof(query));
        memcpy(sv->resp, query, sizeof(query));
        sv->resp[2] |= 0x80;
    }
    nghttp2_nv nva[] = {
        NV(":status", sv->reply == R_404 ? "404" : "200"),
        NV("content-type", sv->reply == R_CTYPE ? "text/html" : "application/dns-message")};
    nghttp2_data_provider prd = {.read_callback = s_read};
    nghttp2_submit_response(s, f->hd.stream_id, nva, 2, &prd);
    return 0;
}

static void server_init(struct server *sv, uint32_t max_streams)
{
    memset(sv, 0, sizeof(*sv));
    nghttp2_session_callbacks *cb;
    assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_on_header_callback(cb, s_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, s_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, s_frame);
    assert_int_equal(nghttp2_session_server_new(&sv->s, cb, sv), 0);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    assert_int_equal(nghttp2_submit_settings(sv->s, NGHTTP2_FLAG_NONE, iv, 2), 0);
}

static void server_deinit(struct server *sv)
{
    nghttp2_session_del(sv->s);
    free(sv->resp);
}

static int to_server(void *arg, const uint8_t *buf, size_t len)
{
    struct server *sv = arg;
    assert_int_equal(nghttp2_session_mem_recv(sv->s, buf, len), (ssize_t)len);
    return 0;
}

/* Move bytes both ways until neither side has any. Returns 0, or the client's first error
 * (the session is over). */
static int pump(struct mw_dohconn *h, struct server *sv)
{
    for (int round = 0; round < 100; round++) {
        assert_int_equal(mw_dohconn_send(h, to_server, sv), 0);
        const uint8_t *data;
        ssize_t n, total = 0;
        while ((n = nghttp2_session_mem_send(sv->s, &data)) > 0) {
            int rc = mw_dohconn_recv(h, data, (size_t)n);
            if (rc < 0)
                return rc;
            total += n;
        }
        if (total == 0)
            return 0;
    }
    fail_msg("no end to the exchange");
    return -1;
}

static void on_done(void *arg, void *req, int status, int http, const uint8_t *pkt, size_t len)
{
    struct result *r = arg;
    r->calls++;
    r->status = status;
    r->http = http;
    r->req = req;
    r->len = len;
    if (pkt && len <= sizeof(r->pkt))
        memcpy(r->pkt, pkt, len);
}

static void test_post_and_get(void **state)
{
    (void)state;
    struct server sv;
    server_init(&sv, 3);
    struct result res = {0};
    struct mw_dohconn *h;
    assert_int_equal(mw_dohconn_new(on_done, &res, &h), 0);
    int tag;
    assert_true(
        mw_dohconn_submit(h, "dns.test:8443", "/dns-query", false, query, sizeof(query), &tag) > 0);
    assert_int_equal(mw_dohconn_open_streams(h), 1);
    pump(h, &sv);
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.http, 200);
    assert_ptr_equal(res.req, &tag);
    assert_int_equal(res.len, sizeof(query));
    assert_true(res.pkt[2] & 0x80);
    assert_string_equal(sv.method, "POST");
    assert_string_equal(sv.path, "/dns-query");
    assert_string_equal(sv.ctype, "application/dns-message");
    assert_int_equal(sv.body_len, sizeof(query));
    assert_memory_equal(sv.body, query, sizeof(query));
    assert_int_equal(mw_dohconn_max_streams(h), 3); /* the server's SETTINGS */
    assert_int_equal(mw_dohconn_open_streams(h), 0);

    /* GET: the query in ?dns=, base64url (RFC 8484 section 4.1), no body. */
    sv.body_len = 0;
    assert_true(
        mw_dohconn_submit(h, "dns.test:8443", "/dns-query", true, query, sizeof(query), &tag) > 0);
    pump(h, &sv);
    assert_int_equal(res.calls, 2);
    assert_int_equal(res.status, 0);
    assert_string_equal(sv.method, "GET");
    assert_int_equal(sv.body_len, 0);
    assert_memory_equal(sv.path, "/dns-query?dns=", 15);
    uint8_t back[64];
    assert_int_equal(mw_base64_decode(sv.path + 15, strlen(sv.path + 15), true, back, sizeof(back)),
                     (int)sizeof(query));
    assert_memory_equal(back, query, sizeof(query));
    mw_dohconn_free(h);
    server_deinit(&sv);
}

static void test_refused_answers(void **state)
{
    (void)state;
    const struct {
        enum reply reply;
        int status, http;
    } cases[] = {{R_404, -EBADMSG, 404}, {R_CTYPE, -EBADMSG, 200}, {R_HUGE, -EMSGSIZE, 200}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct server sv;
        server_init(&sv, 100);
        sv.reply = cases[i].reply;
        struct result res = {0};
        struct mw_dohconn *h;
        assert_int_equal(mw_dohconn_new(on_done, &res, &h), 0);
        int tag;
        assert_true(mw_dohconn_submit(h, "a", "/q", false, query, sizeof(query), &tag) > 0);
        pump(h, &sv);
        assert_int_equal(res.calls, 1);
        assert_int_equal(res.status, cases[i].status);
        assert_int_equal(res.http, cases[i].http);
        assert_int_equal(res.len, 0);
        assert_true(mw_dohconn_usable(h)); /* a refused answer fails its stream only */
        mw_dohconn_free(h);
        server_deinit(&sv);
    }
}

static void test_cancel_and_goaway(void **state)
{
    (void)state;
    struct server sv;
    server_init(&sv, 100);
    sv.reply = R_NONE;
    struct result res = {0};
    struct mw_dohconn *h;
    assert_int_equal(mw_dohconn_new(on_done, &res, &h), 0);
    int tag;
    int32_t id = mw_dohconn_submit(h, "a", "/q", false, query, sizeof(query), &tag);
    assert_true(id > 0);
    assert_int_equal(pump(h, &sv), 0);
    assert_int_equal(sv.requests, 1);
    mw_dohconn_cancel(h, id);
    pump(h, &sv);
    assert_int_equal(res.calls, 0); /* no callback for a cancelled stream */
    assert_int_equal(mw_dohconn_open_streams(h), 0);

    /* A stream open when the server says GOAWAY with a lower last stream: refused. */
    id = mw_dohconn_submit(h, "a", "/q", false, query, sizeof(query), &tag);
    pump(h, &sv);
    assert_int_equal(nghttp2_submit_goaway(sv.s, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, NULL, 0),
                     0);
    assert_int_equal(pump(h, &sv), -EPROTO); /* nothing left open: the session is over */
    assert_false(mw_dohconn_usable(h));
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.status, -ECONNRESET);
    assert_int_equal(mw_dohconn_submit(h, "a", "/q", false, query, sizeof(query), &tag), -EAGAIN);
    mw_dohconn_free(h);
    server_deinit(&sv);
}

static int to_null(void *arg, const uint8_t *buf, size_t len)
{
    (void)arg;
    (void)buf;
    (void)len;
    return 0;
}

static void test_garbage(void **state)
{
    (void)state;
    struct result res = {0};
    struct mw_dohconn *h;
    assert_int_equal(mw_dohconn_new(on_done, &res, &h), 0);
    int tag;
    assert_true(mw_dohconn_submit(h, "a", "/q", false, query, sizeof(query), &tag) > 0);
    const uint8_t junk[] = "HTTP/1.1 200 OK\r\n\r\n";
    int rc = mw_dohconn_recv(h, junk, sizeof(junk));
    if (rc == 0) /* the error shows once the GOAWAY is written */
        rc = mw_dohconn_send(h, to_null, NULL);
    assert_int_equal(rc, -EPROTO);
    assert_false(mw_dohconn_usable(h));
    assert_int_equal(res.calls, 0);
    mw_dohconn_free(h); /* the open stream goes without a callback */
    assert_int_equal(res.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_and_get),
        cmocka_unit_test(test_refused_answers),
        cmocka_unit_test(test_cancel_and_goaway),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
