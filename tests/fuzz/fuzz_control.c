/* libFuzzer harness for the control API's request parser (minewall-ctl over the UNIX socket,
 * GET /control/... over HTTP with a token): any line must give 0 with bounded, terminated
 * fields, or -EINVAL with a reason; a parsed request's answers are written within their
 * buffer; a pause length re-parses from its text; and minewall-ctl's argument builder, fed the
 * same bytes as words, never writes past its buffer and builds a line the parser can read. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minewall/control.h"
#include "minewall/strbuf.h"

static void answers(const struct mw_control_req *req)
{
    char buf[2048];
    struct mw_strbuf sb;
    mw_strbuf_init(&sb, buf, sizeof(buf));
    mw_control_done(&sb, req, req->name);
    FZ_CHECK(sb.len < sizeof(buf) && buf[sb.len] == 0);
    mw_strbuf_init(&sb, buf, sizeof(buf));
    struct mw_control_pause p = {.paused = true, .left_ms = req->for_ms};
    mw_control_pause_result(&sb, req, &p);
    FZ_CHECK(sb.len < sizeof(buf) && buf[sb.len] == 0);
}

static void check_req(const struct mw_control_req *r)
{
    FZ_CHECK((unsigned)r->cmd < MW_CTL_N);
    FZ_CHECK(strnlen(r->group, sizeof(r->group)) < sizeof(r->group));
    FZ_CHECK(strnlen(r->name, sizeof(r->name)) < sizeof(r->name));
    FZ_CHECK(strnlen(r->client, sizeof(r->client)) < sizeof(r->client));
    FZ_CHECK(r->qname_len <= sizeof(r->qname));
    FZ_CHECK(r->n <= MW_CONTROL_TOP_MAX);
    if (r->cmd == MW_CTL_PAUSE) {
        FZ_CHECK(r->for_ms > 0 && r->for_ms <= MW_CONTROL_PAUSE_MAX_MS);
        if (r->for_ms % 1000 == 0) { /* whole seconds print exactly and read back the same */
            char t[64];
            struct mw_strbuf sb;
            mw_strbuf_init(&sb, t, sizeof(t));
            mw_control_format_duration(&sb, r->for_ms);
            uint64_t back = 0;
            FZ_CHECK(mw_control_duration(t, &back) == 0 && back == r->for_ms);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    struct mw_control_req req;
    char why[256];
    int rc = mw_control_parse((const char *)data, size, &req, why, sizeof(why));
    FZ_CHECK(rc == 0 || rc == -EINVAL);
    if (rc == 0) {
        check_req(&req);
        answers(&req);
    } else {
        FZ_CHECK(strnlen(why, sizeof(why)) < sizeof(why) && why[0]);
    }

    /* The same bytes as a NUL-terminated duration, and as minewall-ctl's words. */
    char *text = malloc(size + 1);
    FZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = 0;
    uint64_t ms = 0;
    int d = mw_control_duration(text, &ms);
    FZ_CHECK(d == 0 || d == -EINVAL || d == -ERANGE);
    FZ_CHECK(d != 0 || (ms > 0 && ms <= 366 * 86400000ull)); /* 0 and over a year are -ERANGE */
    char *argv[32];
    int argc = 0;
    for (char *save = NULL, *w = strtok_r(text, " \t\n", &save); w && argc < 32;
         w = strtok_r(NULL, " \t\n", &save))
        argv[argc++] = w;
    if (argc > 0) {
        char line[MW_CONTROL_REQ_MAX];
        memset(line, 0x55, sizeof(line));
        rc = mw_control_argv_line(argc, argv, size & 1, line, sizeof(line), why, sizeof(why));
        FZ_CHECK(rc == 0 || rc == -EINVAL);
        if (rc == 0) {
            size_t n = strnlen(line, sizeof(line));
            FZ_CHECK(n < sizeof(line));
            if (mw_control_parse(line, n, &req, why, sizeof(why)) == 0)
                check_req(&req);
        }
    }
    free(text);
    return 0;
}
