/* libFuzzer harness for DNS over HTTPS: what a server or a config sends our way. The first
 * byte picks the reader: 0 an https:// URL (config text), 1 base64url text, 2 a bootstrap
 * answer (a plain upstream's reply, A and AAAA), 3 a hosts file, 4 and up the HTTP/2 frames
 * of a DoH server (dohconn.c over nghttp2) after two queries were submitted, fed in pieces
 * whose sizes the byte gives. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/base64.h"
#include "minewall/doh.h"
#include "minewall/dohboot.h"
#include "minewall/dohconn.h"
#include "minewall/netaddr.h"

static unsigned answers;

static void on_stream(void *arg, void *req, int status, int http_status, const uint8_t *pkt,
                      size_t len)
{
    (void)arg;
    (void)http_status;
    FZ_CHECK(req != NULL);
    FZ_CHECK(status == 0 ? pkt && len >= 12 && len <= MW_DOH_MSG_MAX : pkt == NULL && len == 0);
    answers++;
}

static int sink(void *arg, const uint8_t *buf, size_t len)
{
    (void)arg;
    (void)buf;
    (void)len;
    return 0;
}

static void frames(uint8_t step, const uint8_t *data, size_t size)
{
    struct mw_dohconn *h = NULL;
    FZ_CHECK(mw_dohconn_new(on_stream, NULL, &h) == 0);
    static const uint8_t q[17] = {0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1};
    int reqs[2];
    FZ_CHECK(mw_dohconn_submit(h, "dns.test", "/dns-query", false, q, sizeof(q), &reqs[0]) > 0);
    FZ_CHECK(mw_dohconn_submit(h, "dns.test", "/dns-query", true, q, sizeof(q), &reqs[1]) > 0);
    FZ_CHECK(mw_dohconn_send(h, sink, NULL) == 0);
    answers = 0;
    size_t piece = step > 4 ? step - 3 : size;
    for (size_t off = 0; off < size;) {
        size_t n = size - off < piece ? size - off : piece;
        if (mw_dohconn_recv(h, data + off, n) < 0)
            break;
        mw_dohconn_send(h, sink, NULL);
        off += n;
    }
    FZ_CHECK(answers <= 2);
    mw_dohconn_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    char text[4096];
    size_t tn = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, tn);
    text[tn] = 0;
    if (mode == 0) {
        struct mw_doh_url u;
        char buf[1024];
        if (mw_doh_parse_url(text, &u) == 1) {
            FZ_CHECK(mw_doh_is_identity(&u.id));
            FZ_CHECK(u.path[0] == '/' && u.port != 0);
            mw_doh_label(&u, buf, sizeof(buf));
            struct mw_doh_url again;
            FZ_CHECK(mw_doh_parse_url(buf, &again) == 1);
            FZ_CHECK(mw_addr_equal(&again.id, &u.id));
            mw_doh_authority(&u, buf, sizeof(buf));
        }
    } else if (mode == 1) {
        uint8_t out[4096];
        char back[8192];
        bool url = tn && (text[0] & 1); /* both alphabets, chosen by the input */
        int n = mw_base64_decode(text, tn, url, out, sizeof(out));
        if (n >= 0) {
            FZ_CHECK(mw_base64_encode(out, (size_t)n, url, back, sizeof(back)) == (int)tn);
            FZ_CHECK(memcmp(back, text, tn) == 0);
        }
    } else if (mode == 2) {
        struct mw_addr a;
        uint32_t ttl = 0;
        for (uint16_t t = 1; t <= 28; t += 27) {
            int r = mw_dohboot_answer(data, size, t, 443, &a, &ttl);
            FZ_CHECK(r == 1 || r == 0 || r == -EBADMSG);
            if (r == 1)
                FZ_CHECK(ttl >= MW_DOHBOOT_TTL_MIN_S && ttl <= MW_DOHBOOT_TTL_MAX_S &&
                         mw_addr_port(&a) == 443);
        }
    } else if (mode == 3) {
        struct mw_addr a;
        if (mw_dohboot_hosts((const char *)data, size, "dns.test", 443, &a) == 1)
            FZ_CHECK(mw_addr_port(&a) == 443);
    } else {
        frames(mode, data, size);
    }
    return 0;
}
