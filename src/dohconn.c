/* One HTTP/2 client session for DNS over HTTPS over nghttp2; see dohconn.h.
 *
 * Each stream owns a struct stream (the query, for a POST body, and the answer as it is
 * reassembled), linked on the session so mw_dohconn_free frees what nghttp2 still holds.
 * The answer grows by doubling up to MW_DOH_MSG_MAX; past it the stream is reset (a server
 * cannot make us buffer more than one DNS message per stream). */
#include "minewall/dohconn.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "minewall/doh.h"

#define QUERY_MAX 1024    /* a padded query, as dotconn.c bounds it */
#define GET_PATH_MAX 2048 /* PATH and the base64url of QUERY_MAX bytes */
#define BODY_FIRST 512

struct stream {
    struct stream *next, *prev;
    void *req; /* NULL once cancelled */
    int32_t id;
    int http_status;
    bool ctype_ok, oversize;
    size_t qlen, qoff;
    uint8_t *body; /* owned */
    size_t len, cap;
    uint8_t q[QUERY_MAX]; /* last: only qlen bytes are written */
};

struct mw_dohconn {
    nghttp2_session *s;
    mw_dohconn_cb cb;
    void *arg;
    struct stream *streams;
    unsigned n_streams;
    bool in_recv, in_send, goaway, dead;
};

static void stream_free(struct mw_dohconn *h, struct stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    h->n_streams--;
    free(st->body);
    free(st);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st)
        return 0;
    if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
        int v = 0;
        for (size_t i = 0; i < vlen && i < 3; i++)
            v = v * 10 + (value[i] >= '0' && value[i] <= '9' ? value[i] - '0' : 0);
        st->http_status = v;
    } else if (nlen == 12 && memcmp(name, "content-type", 12) == 0) {
        st->ctype_ok = mw_doh_content_type_ok((const char *)value, vlen);
    }
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    struct mw_dohconn *h = ud;
    (void)flags;
    struct stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st || st->oversize)
        return 0;
    if (st->len + len > MW_DOH_MSG_MAX) {
        /* The stream closes when its RST_STREAM is sent, in mw_dohconn_send, which never
         * calls back: the request fails now. */
        st->oversize = true;
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        void *req = st->req;
        st->req = NULL;
        if (req && !h->dead)
            h->cb(h->arg, req, -EMSGSIZE, st->http_status, NULL, 0);
        return 0;
    }
    if (st->len + len > st->cap) {
        size_t cap = st->cap ? st->cap : BODY_FIRST;
        while (cap < st->len + len)
            cap *= 2;
        if (cap > MW_DOH_MSG_MAX)
            cap = MW_DOH_MSG_MAX;
        uint8_t *b = realloc(st->body, cap);
        if (!b)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->body = b;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, len);
    st->len += len;
    return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
    struct mw_dohconn *h = ud;
    struct stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st)
        return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    void *req = st->req;
    int status = 0;
    if (st->oversize)
        status = -EMSGSIZE;
    else if (error_code != NGHTTP2_NO_ERROR && st->http_status == 0)
        status = -ECONNRESET;
    else if (st->http_status != 200 || !st->ctype_ok || st->len < 12)
        status = -EBADMSG;
    else if (error_code != NGHTTP2_NO_ERROR)
        status = -ECONNRESET;
    int http = st->http_status;
    /* The stream is unlinked before the callback, which may submit or cancel others. */
    struct stream copy = *st;
    st->body = NULL;
    stream_free(h, st);
    /* Never from mw_dohconn_send: a stream that ends there ends with the session (its GOAWAY
     * going out), which the caller learns from the return code and fails as a whole. */
    if (req && !h->dead && !h->in_send)
        h->cb(h->arg, req, status, http, status == 0 ? copy.body : NULL,
              status == 0 ? copy.len : 0);
    free(copy.body);
    return 0;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct mw_dohconn *h = ud;
    (void)s;
    if (f->hd.type == NGHTTP2_GOAWAY)
        h->goaway = true;
    return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)id;
    (void)ud;
    struct stream *st = src->ptr;
    size_t n = st->qlen - st->qoff;
    if (n > len)
        n = len;
    memcpy(buf, st->q + st->qoff, n);
    st->qoff += n;
    if (st->qoff == st->qlen)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

int mw_dohconn_new(mw_dohconn_cb cb, void *arg, struct mw_dohconn **out)
{
    struct mw_dohconn *h = calloc(1, sizeof(*h));
    nghttp2_session_callbacks *cbs = NULL;
    if (!h || nghttp2_session_callbacks_new(&cbs) != 0)
        goto fail;
    h->cb = cb;
    h->arg = arg;
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame);
    int rc = nghttp2_session_client_new(&h->s, cbs, h);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0)
        goto fail;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 1) != 0)
        goto fail;
    *out = h;
    return 0;
fail:
    if (h)
        nghttp2_session_del(h->s);
    free(h);
    return -ENOMEM;
}

void mw_dohconn_free(struct mw_dohconn *h)
{
    if (!h)
        return;
    h->dead = true; /* nghttp2_session_del may close streams: no callbacks from here */
    nghttp2_session_del(h->s);
    while (h->streams)
        stream_free(h, h->streams);
    free(h);
}

#define NV(n, v, vl)                                                                               \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE                  \
    }

int32_t mw_dohconn_submit(struct mw_dohconn *h, const char *authority, const char *path, bool get,
                          const uint8_t *q, size_t len, void *req)
{
    if (h->dead || h->goaway)
        return -EAGAIN;
    if (len > QUERY_MAX)
        return -ENOSPC;
    struct stream *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    memset(st, 0, offsetof(struct stream, q));
    st->req = req;
    memcpy(st->q, q, len);
    st->qlen = len;
    char gpath[GET_PATH_MAX];
    char clen[8];
    int cl = snprintf(clen, sizeof(clen), "%zu", len);
    if (get && mw_doh_get_path(path, q, len, gpath, sizeof(gpath)) < 0) {
        free(st);
        return -ENOSPC;
    }
    const char *p = get ? gpath : path;
    nghttp2_nv nva[] = {
        NV(":method", get ? "GET" : "POST", get ? 3 : 4),
        NV(":scheme", "https", 5),
        NV(":authority", authority, strlen(authority)),
        NV(":path", p, strlen(p)),
        NV("accept", "application/dns-message", 23),
        NV("content-type", "application/dns-message", 23),
        NV("content-length", clen, (size_t)cl),
    };
    if (get) /* each GET path is unique: kept out of the HPACK tables of both sides */
        nva[3].flags = NGHTTP2_NV_FLAG_NO_INDEX;
    nghttp2_data_provider body = {.source.ptr = st, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(h->s, NULL, nva, get ? 5 : 7, get ? NULL : &body, st);
    if (id < 0) {
        free(st);
        if (id == NGHTTP2_ERR_NOMEM)
            return -ENOMEM;
        h->goaway = true; /* IDs exhausted or the session is going away */
        return -EAGAIN;
    }
    st->id = id;
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    h->n_streams++;
    return id;
}

void mw_dohconn_cancel(struct mw_dohconn *h, int32_t id)
{
    struct stream *st = nghttp2_session_get_stream_user_data(h->s, id);
    if (!st)
        return;
    st->req = NULL;
    nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
}

int mw_dohconn_recv(struct mw_dohconn *h, const uint8_t *buf, size_t len)
{
    if (h->dead)
        return -EPROTO;
    h->in_recv = true;
    ssize_t n = nghttp2_session_mem_recv(h->s, buf, len);
    h->in_recv = false;
    /* A connection error ends the session inside nghttp2 (it queues a GOAWAY and wants
     * nothing more): the caller is told so it fails or moves what is still open. */
    if (n < 0 || (size_t)n != len || !nghttp2_session_want_read(h->s)) {
        h->dead = true;
        return -EPROTO;
    }
    return 0;
}

int mw_dohconn_send(struct mw_dohconn *h, mw_dohconn_write write, void *arg)
{
    if (h->in_recv)
        return 0;
    if (h->dead)
        return -EPROTO;
    for (;;) {
        const uint8_t *data;
        h->in_send = true;
        ssize_t n = nghttp2_session_mem_send(h->s, &data);
        h->in_send = false;
        if (n < 0) {
            h->dead = true;
            return -EPROTO;
        }
        if (n == 0) {
            /* A connection error shows once its GOAWAY is out: the session wants no more. */
            if (!nghttp2_session_want_read(h->s)) {
                h->dead = true;
                return -EPROTO;
            }
            return 0;
        }
        int rc = write(arg, data, (size_t)n);
        if (rc < 0)
            return rc;
    }
}

uint32_t mw_dohconn_max_streams(const struct mw_dohconn *h)
{
    return nghttp2_session_get_remote_settings(h->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

bool mw_dohconn_usable(const struct mw_dohconn *h)
{
    return !h->dead && !h->goaway;
}

unsigned mw_dohconn_open_streams(const struct mw_dohconn *h)
{
    return h->n_streams;
}
