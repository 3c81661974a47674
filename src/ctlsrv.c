/* The control socket; see ctlsrv.h. One connection, one request: read a line, answer, close.
 * Each connection owns a pipe and a timer, freed when both close callbacks have run. */
#include "minewall/ctlsrv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "minewall/control.h"
#include "minewall/log.h"

#define TAG "ctl"

enum { READING, WAITING, WRITING };

struct mw_ctl_call {
    struct mw_ctl_call *prev, *next; /* in the server's list */
    struct mw_ctlsrv *srv;
    uv_pipe_t pipe;
    uv_timer_t timer;
    uv_write_t wr;
    unsigned open; /* handles not yet closed */
    int state;
    bool closing;
    bool orphan; /* handles closed while the owner still holds the call: freed on reply */
    long uid, pid;
    size_t len;
    char *out; /* owned: the answer being written */
    char buf[MW_CONTROL_REQ_MAX + 1];
};

struct mw_ctlsrv {
    uv_pipe_t listener;
    bool closing, listener_closed;
    mw_ctlsrv_request_cb cb;
    void *arg;
    char *path; /* owned */
    dev_t dev;  /* of the socket file created: removed at close only if still the same */
    ino_t ino;
    struct mw_ctl_call *calls; /* owned list */
    struct mw_ctlsrv_stats st;
};

static void maybe_free(struct mw_ctlsrv *s)
{
    if (s->closing && s->listener_closed && !s->calls) {
        free(s->path);
        free(s);
    }
}

static void call_free(struct mw_ctl_call *c)
{
    struct mw_ctlsrv *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->st.open--;
    free(c->out);
    free(c);
    maybe_free(s);
}

static void call_closed(uv_handle_t *h)
{
    struct mw_ctl_call *c = h->data;
    if (--c->open)
        return;
    if (c->state == WAITING)
        c->orphan = true; /* the owner answers it later (mw_ctlsrv_reply frees it then) */
    else
        call_free(c);
}

static void call_close(struct mw_ctl_call *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->pipe, call_closed);
    uv_close((uv_handle_t *)&c->timer, call_closed);
}

static void written(uv_write_t *wr, int status)
{
    (void)status; /* a client that left: nothing more to do either way */
    call_close(wr->data);
}

void mw_ctlsrv_reply(struct mw_ctl_call *c, int status, const char *body, size_t len)
{
    if (c->state == WRITING)
        return;
    c->state = WRITING;
    if (c->orphan) {
        call_free(c); /* closed meanwhile (server stopping): the answer has nowhere to go */
        return;
    }
    if (c->closing)
        return; /* its close callbacks free it */
    char head[16];
    int hl = snprintf(head, sizeof(head), "%d\n", status);
    c->out = malloc((size_t)hl + len);
    if (!c->out) {
        call_close(c);
        return;
    }
    memcpy(c->out, head, (size_t)hl);
    memcpy(c->out + hl, body, len);
    uv_buf_t b = uv_buf_init(c->out, (unsigned)((size_t)hl + len));
    c->wr.data = c;
    uv_read_stop((uv_stream_t *)&c->pipe);
    uv_timer_stop(&c->timer);
    if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, written) < 0)
        call_close(c);
}

static void refuse(struct mw_ctl_call *c, int status, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "error: %s\n", msg);
    mw_ctlsrv_reply(c, status, body, (size_t)n);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct mw_ctl_call *c = h->data;
    (void)suggested;
    /* Room for the rest of the line and one byte more, to see a line that is too long. */
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct mw_ctl_call *c = st->data;
    (void)b;
    if (c->state != READING)
        return;
    if (n < 0) {
        call_close(c); /* EOF before a whole line, or an error */
        return;
    }
    c->len += (size_t)n;
    char *nl = memchr(c->buf, '\n', c->len);
    if (!nl) {
        if (c->len >= MW_CONTROL_REQ_MAX) {
            c->srv->st.oversized++;
            refuse(c, 413, "request longer than 1024 bytes");
        }
        return;
    }
    size_t len = (size_t)(nl - c->buf);
    if (len && c->buf[len - 1] == '\r')
        len--;
    c->buf[len] = '\0';
    c->state = WAITING;
    uv_read_stop(st);
    uv_timer_stop(&c->timer);
    c->srv->cb(c->srv->arg, c, c->buf, len, c->uid, c->pid);
}

static void read_timeout(uv_timer_t *t)
{
    struct mw_ctl_call *c = t->data;
    if (c->state != READING)
        return;
    c->srv->st.timeouts++;
    refuse(c, 408, "no request line within 5 s");
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct mw_ctlsrv *s = ls->data;
    if (status < 0 || s->closing)
        return;
    struct mw_ctl_call *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = s;
    c->uid = c->pid = -1;
    uv_pipe_init(ls->loop, &c->pipe, 0);
    uv_timer_init(ls->loop, &c->timer);
    c->pipe.data = c->timer.data = c;
    c->open = 2;
    c->next = s->calls;
    if (s->calls)
        s->calls->prev = c;
    s->calls = c;
    s->st.open++;
    if (uv_accept(ls, (uv_stream_t *)&c->pipe) < 0) {
        call_close(c);
        return;
    }
    if (s->st.open > MW_CONTROL_MAX_CONNS) {
        s->st.rejected++;
        c->state = WRITING;
        call_close(c);
        return;
    }
    s->st.connections++;
    uv_os_fd_t fd;
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0) {
        c->uid = (long)cr.uid;
        c->pid = (long)cr.pid;
    }
    uv_timer_start(&c->timer, read_timeout, MW_CTLSRV_READ_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) < 0)
        call_close(c);
}

/* A socket file at path: stale (nobody accepts on it: removed) or live (-EADDRINUSE). Anything
 * else at path is not ours to remove (-EEXIST). */
static int clear_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    int err = errno;
    close(fd);
    if (rc == 0)
        return -EADDRINUSE;
    if (err != ECONNREFUSED)
        return -err;
    return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* The directory of path, created when missing and its parent exists (a per-host stub started
 * outside systemd, whose RuntimeDirectory= would make /run/minewall). */
static int ensure_dir(const char *path)
{
    char dir[108];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    struct mw_ctlsrv *s = h->data;
    s->listener_closed = true;
    maybe_free(s);
}

int mw_ctlsrv_new(uv_loop_t *loop, const char *path, mw_ctlsrv_request_cb cb, void *arg,
                  struct mw_ctlsrv **out, char *why, size_t why_len)
{
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(why, why_len, "%s: path too long for a UNIX socket", path);
        return -ENAMETOOLONG;
    }
    int rc = ensure_dir(path);
    if (rc < 0) {
        snprintf(why, why_len, "%s: cannot create its directory: %s", path, strerror(-rc));
        return rc;
    }
    if ((rc = clear_stale(path)) < 0) {
        snprintf(why, why_len, "%s: %s", path,
                 rc == -EADDRINUSE ? "another process answers on this socket"
                 : rc == -EEXIST   ? "exists and is not a socket"
                                   : strerror(-rc));
        return rc;
    }
    struct mw_ctlsrv *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        snprintf(why, why_len, "out of memory");
        return -ENOMEM;
    }
    s->cb = cb;
    s->arg = arg;
    uv_pipe_init(loop, &s->listener, 0);
    s->listener.data = s;
    /* Bound with the umask closing it to the owner, then opened to the group, all before
     * listen(2): a connect() before listen() fails, so no client ever sees wider modes. */
    mode_t old = umask(0177);
    rc = uv_pipe_bind(&s->listener, path);
    umask(old);
    struct stat st;
    if (rc == 0 && (chmod(path, 0660) < 0 || stat(path, &st) < 0))
        rc = -errno;
    if (rc == 0) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
        rc = uv_listen((uv_stream_t *)&s->listener, MW_CONTROL_MAX_CONNS, on_connection);
        if (rc < 0)
            unlink(path);
    }
    if (rc < 0) {
        snprintf(why, why_len, "%s: %s", path, uv_strerror(rc));
        s->closing = true;
        uv_close((uv_handle_t *)&s->listener, listener_closed);
        return rc;
    }
    *out = s;
    return 0;
}

void mw_ctlsrv_stats(const struct mw_ctlsrv *s, struct mw_ctlsrv_stats *out)
{
    *out = s->st;
}

void mw_ctlsrv_close(struct mw_ctlsrv *s)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    struct stat st;
    if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
        unlink(s->path); /* may fail after the privilege drop: the next start clears it */
    for (struct mw_ctl_call *c = s->calls; c; c = c->next)
        call_close(c);
    uv_close((uv_handle_t *)&s->listener, listener_closed);
}
