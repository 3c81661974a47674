/* libFuzzer harness for the metrics server's HTTP/1.1 request parser (mw_http_parse_request):
 * the input is what a client sends. A head that parses must lie within the input and the
 * size limit, its pointers inside it, its path absolute; every strict prefix of it must be
 * "incomplete" (the parser never accepts or rejects a head before its end, except for errors
 * in complete lines); and a pipelined second request after it is parsed too. */
#include <errno.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/httpd.h"

static void check_req(const char *buf, size_t n, const struct mw_http_request *r)
{
    FZ_CHECK(r->method >= MW_HTTP_GET && r->method <= MW_HTTP_POST);
    FZ_CHECK(r->method_text >= buf && r->method_text + r->method_len <= buf + n);
    /* An absolute-form target without a path ("http://host") gets the constant "/". */
    FZ_CHECK(r->path_len >= 1 && r->path[0] == '/');
    FZ_CHECK((r->path >= buf && r->path + r->path_len <= buf + n) || r->path_len == 1);
    if (r->query)
        FZ_CHECK(r->query >= buf && r->query + r->query_len <= buf + n);
    FZ_CHECK(r->version_minor == 0 || r->version_minor == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct mw_http_request r;
    int n = mw_http_parse_request(buf, size, &r);
    FZ_CHECK(n >= 0 || n == -EMSGSIZE || n == -EPROTONOSUPPORT || n == -EBADMSG);
    if (n == 0)
        FZ_CHECK(size < MW_HTTP_HEAD_MAX + 64);
    if (n <= 0)
        return 0;
    FZ_CHECK((size_t)n <= size && n <= MW_HTTP_HEAD_MAX && n >= 4);
    FZ_CHECK(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
    check_req(buf, (size_t)n, &r);
    struct mw_http_request p;
    int m = mw_http_parse_request(buf, (size_t)n - 1, &p);
    FZ_CHECK(m == 0 || m == -EBADMSG);
    m = mw_http_parse_request(buf, (size_t)n / 2, &p);
    FZ_CHECK(m <= 0);
    /* Pipelining: the next request starts where this one ended. */
    if ((size_t)n < size && mw_http_parse_request(buf + n, size - (size_t)n, &p) > 0)
        check_req(buf + n, size - (size_t)n, &p);
    (void)mw_http_reason(400 + (int)(size % 200));
    return 0;
}
