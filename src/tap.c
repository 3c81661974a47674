/* dnstap output: workers encode, libfstrm's I/O thread writes (see tap.h for the model).
 *
 * The socket under the fstrm writer is ours (an fstrm_rdwr with open/read/write/close), not
 * fstrm's unix/tcp writers, for three reasons: fstrm's I/O thread discards frames silently
 * while no reader is connected, and only our rdwr knows whether the stream is live, so the
 * frame free callback can count each frame as sent or discarded; writes carry a timeout, so a
 * reader that stops reading is dropped instead of blocking the I/O thread for ever (the
 * workers' queues would fill either way, but a reconnect follows this way); and fstrm's
 * writer never reopens a stream that broke after it was open (see rd_write), so that
 * reconnect is ours.
 *
 * Threads: the hooks run on the workers (each on its own slot and fstrm queue), the rdwr and
 * the free callback on fstrm's I/O thread, mw_tap_stats anywhere. Counters shared across
 * threads are relaxed atomics with one writer each. */
#include "minewall/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fstrm.h>

#include "minewall/config.h"
#include "minewall/dnstap.h"
#include "minewall/filter.h"
#include "minewall/listener.h"
#include "minewall/lists.h"
#include "minewall/log.h"
#include "minewall/netaddr.h"
#include "minewall/snapshot.h"
#include "minewall/thrname.h"
#include "minewall/worker.h"

#define CONTENT_TYPE "protobuf:dnstap.Dnstap"
#define RECONNECT_S 2 /* fstrm's reopen interval: seconds between connection attempts */
#define CONNECT_TIMEOUT_MS 2000
#define WRITE_TIMEOUT_S 2 /* a reader that takes no data this long is dropped */
/* fstrm's I/O thread writes what it took from the queues once the next entry would bring it
 * to buffer_hint bytes (each entry counted with a 4-byte length): at its maximum, 64 KiB, a
 * write carries four batches (BATCH_BYTES leaves room for that), so there is one write
 * syscall, and one wakeup of the reader, per 64 KiB of frames. */
#define WRITE_HINT FSTRM_IOTHR_BUFFER_HINT_MAX

/* Frames travel in batches: a worker appends each frame, length-prefixed as on the wire, to
 * its current batch, and hands the batch to fstrm as one queue entry when the next frame
 * does not fit or once a second (mw_tap_flush). One allocation, one queue entry and one
 * free per batch instead of per frame: the cost per query stays a few percent. fstrm sees a
 * batch as one frame; rd_write writes its content (frames already framed) in place of it. */
#define BATCH_BYTES (16384 - 24) /* with its header and fstrm's length: 4 in a 64 KiB write */
#define RETURN_RING 32           /* batches kept for reuse per worker (a power of 2) */
#define ROUTES 64                /* source addresses a worker remembers (a power of 2) */
#define FWDS 256                 /* forwarder sides a worker keeps encoded (a power of 2) */
struct batch {
    uint32_t slot;   /* the worker whose batch it is (where it returns) */
    uint32_t frames; /* in data */
    uint32_t len;    /* bytes used of data */
    uint32_t cap;    /* bytes of data */
    uint8_t data[];  /* frames: 4-byte big-endian length, then the Dnstap bytes */
};
_Static_assert(4 * (4 + sizeof(struct batch) + BATCH_BYTES) < WRITE_HINT,
               "four full batches fit in one write");
_Static_assert(ROUTES == 64, "routes are indexed by the 6 top bits of a 32-bit hash");
_Static_assert(FWDS == 256, "forwarder sides are indexed by the 8 top bits of a 64-bit hash");

/* A worker's queue, batch and counter: written by that worker only, on a cache line of its
 * own. */
struct slot {
    struct fstrm_iothr_queue *q; /* fstrm's, freed with the iothr */
    struct batch *b;             /* owned: frames not yet handed to fstrm, or NULL */
    _Atomic uint64_t full;
    /* Batches the I/O thread is done with, back for reuse, so that a batch is not allocated
     * on one thread and freed on another each time (glibc would then serve the worker's
     * other allocations from the slow path). A ring with one producer (the I/O thread) and
     * one consumer (the worker); when it is full, batches are freed. */
    _Atomic uint32_t ret_head; /* written by the I/O thread */
    _Atomic uint32_t ret_tail; /* written by the worker */
    struct batch *ret[RETURN_RING];
    /* The CLIENT_QUERY frame this worker wrote last, while it is the last frame of batch b:
     * when the answer to it follows in the same callback (a cache hit, local data, an error),
     * its CLIENT_RESPONSE is made from the query's fields (pre) and shares its time (no second
     * clock read, the sides not encoded again). to says which query it was (cleared by every
     * client query's hook until its frame is written): a reply that was held (a waiter, a
     * forwarded query) answers through a copy at another address, in a later callback. */
    struct last_query {
        const struct mw_reply *to; /* NULL: none */
        const struct batch *b;
        uint32_t frames; /* b->frames after it */
        uint32_t sec, nsec;
        struct mw_dnstap_pre pre;
    } lq;
    /* The forwarder frames' fields, encoded once per (minewall's socket, upstream, protocol):
     * a table indexed by a hash of the two addresses, an entry replaced when another pair
     * hashes to it (a socket lasts thousands of queries; upstream.c keeps 16 per family, so
     * 256 entries keep most pairs apart). */
    struct fwd {
        uint64_t key[6]; /* the upstream's and the local sockaddr's leading bytes (fwd_key) */
        bool tcp, used;
        struct mw_dnstap_pre pre;
    } fwd[FWDS];
    /* The source address of the upstreams this worker's forwarder frames named (a socket
     * bound to the wildcard sends from the route's address): a table indexed by a hash of the
     * upstream's address, an entry replaced when another upstream hashes to it. */
    struct route {
        uint8_t family; /* 0: empty */
        uint8_t up[16]; /* the upstream's address (4 bytes used for AF_INET) */
        uint8_t src[16];
    } routes[ROUTES];
} __attribute__((aligned(64)));

/* The stream's state, as the I/O thread sees it through our rdwr. */
enum conn_state {
    C_CLOSED = 0, /* no socket */
    C_OPENED,     /* connected, handshake not done */
    C_READ,       /* the reader's ACCEPT came in */
    C_LIVE,       /* START written: data frames reach the reader */
    C_BROKEN,     /* a write failed; fstrm's writer is closing (STOP, FINISH) */
};

struct mw_tap {
    struct fstrm_iothr *iothr; /* owned; owns the writer, which owns our rdwr */
    struct mw_dnstap_enc enc;
    bool cq, cr, fq, fr; /* message types written */
    unsigned n_slots;
    struct slot *slots; /* owned: n_slots */
    char target[160];

    /* The I/O thread's (and, after it is joined, the freeing thread's). */
    int fd;
    enum conn_state state;
    struct mw_addr addr; /* TCP reader, or */
    struct sockaddr_un sun;
    bool is_unix;
    bool fail_logged;      /* a failed connect was logged: the next ones are quiet */
    uint64_t last_attempt; /* monotonic seconds of the last connect (reconnect's pace) */
    size_t fin_pos;        /* bytes of the made-up FINISH frame handed out (C_BROKEN) */

    _Atomic uint64_t sent, no_reader, connects;
    atomic_bool connected;
};

/* ---- the socket under fstrm's writer (runs on the I/O thread) ---- */

static uint64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec;
}

/* Close the socket; lost: the reader went away (logged), else an orderly close. */
static void conn_close(struct mw_tap *t, bool lost)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (atomic_load_explicit(&t->connected, memory_order_relaxed)) {
        atomic_store_explicit(&t->connected, false, memory_order_relaxed);
        if (lost)
            mw_log_warn("dnstap", "lost the reader at %s; reconnecting every %d s", t->target,
                        RECONNECT_S);
    }
}

/* Connect within CONNECT_TIMEOUT_MS, then blocking I/O with WRITE_TIMEOUT_S timeouts. */
static int conn_open(struct mw_tap *t)
{
    t->last_attempt = mono_s();
    int family = t->is_unix ? AF_UNIX : t->addr.u.sa.sa_family;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    const struct sockaddr *sa = t->is_unix ? (const struct sockaddr *)&t->sun : &t->addr.u.sa;
    socklen_t len = t->is_unix ? sizeof(t->sun) : t->addr.len;
    int rc = 0;
    if (connect(fd, sa, len) < 0) {
        rc = -errno;
        if (rc == -EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t el = sizeof(err);
            if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1)
                rc = -ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)
                rc = err ? -err : -errno;
            else
                rc = 0;
        }
    }
    struct timeval tv = {.tv_sec = WRITE_TIMEOUT_S};
    if (rc == 0 && (fcntl(fd, F_SETFL, 0) < 0 ||
                    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0))
        rc = -errno;
    if (rc < 0) {
        close(fd);
        if (!t->fail_logged)
            mw_log_warn("dnstap", "cannot connect to %s: %s; retrying every %d s", t->target,
                        strerror(-rc), RECONNECT_S);
        t->fail_logged = true;
        return rc;
    }
    t->fd = fd;
    return 0;
}

/* Write every byte of iov (copied: partial writes advance it), or fail. */
static int send_all(int fd, const struct iovec *iov, int iovcnt)
{
    struct iovec v[256]; /* fstrm's writer hands at most 256 (FSTRM__WRITER_IOVEC_SIZE) */
    if (fd < 0 || iovcnt > (int)(sizeof(v) / sizeof(v[0])))
        return -EINVAL;
    memcpy(v, iov, (size_t)iovcnt * sizeof(*v));
    struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)iovcnt};
    while (m.msg_iovlen > 0) {
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* EAGAIN here is the write timeout: the reader is stuck */
            return n < 0 ? -errno : -EPIPE;
        size_t left = (size_t)n;
        while (m.msg_iovlen > 0 && left >= m.msg_iov->iov_len) {
            left -= m.msg_iov->iov_len;
            m.msg_iov++;
            m.msg_iovlen--;
        }
        if (m.msg_iovlen > 0) {
            m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + left;
            m.msg_iov->iov_len -= left;
        }
    }
    return 0;
}

static int recv_all(int fd, void *buf, size_t count)
{
    uint8_t *p = buf;
    while (count > 0) {
        ssize_t n = recv(fd, p, count, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EPIPE;
        p += n;
        count -= (size_t)n;
    }
    return 0;
}

static void go_live(struct mw_tap *t)
{
    t->state = C_LIVE;
    t->fail_logged = false;
    atomic_fetch_add_explicit(&t->connects, 1, memory_order_relaxed);
    atomic_store_explicit(&t->connected, true, memory_order_relaxed);
    mw_log_info("dnstap", "connected to %s", t->target);
}

/* Send a control frame of type (with our content type) on t->fd. */
static int send_control(struct mw_tap *t, struct fstrm_control *c, fstrm_control_type type)
{
    uint8_t buf[256];
    size_t len = sizeof(buf);
    fstrm_control_reset(c);
    if (fstrm_control_set_type(c, type) != fstrm_res_success ||
        fstrm_control_add_field_content_type(c, (const uint8_t *)CONTENT_TYPE,
                                             strlen(CONTENT_TYPE)) != fstrm_res_success ||
        fstrm_control_encode(c, buf, &len, FSTRM_CONTROL_FLAG_WITH_HEADER) != fstrm_res_success)
        return -EINVAL;
    struct iovec v = {.iov_base = buf, .iov_len = len};
    return send_all(t->fd, &v, 1);
}

/* A new connection after a live one broke, with the bidirectional handshake (READY, ACCEPT
 * naming our content type, START) done here: fstrm's writer still believes the old stream
 * open (see rd_write), so it would not do it. At most once per RECONNECT_S. */
static bool reconnect(struct mw_tap *t)
{
    if (mono_s() - t->last_attempt < RECONNECT_S || conn_open(t) < 0)
        return false;
    struct fstrm_control *c = fstrm_control_init();
    uint32_t hdr[2];
    uint8_t frame[512];
    bool ok = c && send_control(t, c, FSTRM_CONTROL_READY) == 0 &&
              recv_all(t->fd, hdr, sizeof(hdr)) == 0 && ntohl(hdr[0]) == 0 &&
              ntohl(hdr[1]) <= sizeof(frame) && recv_all(t->fd, frame, ntohl(hdr[1])) == 0;
    fstrm_control_type type;
    if (ok) {
        fstrm_control_reset(c);
        ok = fstrm_control_decode(c, frame, ntohl(hdr[1]), 0) == fstrm_res_success &&
             fstrm_control_get_type(c, &type) == fstrm_res_success &&
             type == FSTRM_CONTROL_ACCEPT &&
             fstrm_control_match_field_content_type(c, (const uint8_t *)CONTENT_TYPE,
                                                    strlen(CONTENT_TYPE)) == fstrm_res_success &&
             send_control(t, c, FSTRM_CONTROL_START) == 0;
    }
    fstrm_control_destroy(&c);
    if (!ok) {
        close(t->fd);
        t->fd = -1;
        return false;
    }
    go_live(t);
    return true;
}

static fstrm_res rd_open(void *obj)
{
    struct mw_tap *t = obj;
    conn_close(t, true); /* a handshake that failed leaves the last socket open */
    t->state = C_CLOSED;
    if (conn_open(t) < 0)
        return fstrm_res_failure;
    t->state = C_OPENED;
    return fstrm_res_success;
}

static fstrm_res rd_close(void *obj)
{
    struct mw_tap *t = obj;
    conn_close(t, t->state != C_LIVE); /* fstrm closes a live stream only when stopping */
    t->state = C_CLOSED;
    return fstrm_res_success;
}

/* fstrm's writer, once open, never opens again after a failed write: its close writes STOP
 * and waits for FINISH, which fail on a dead socket, and a writer whose close failed refuses
 * every later open. So a live stream that breaks is not reported to fstrm: the state becomes
 * C_BROKEN, writes succeed without effect (frame_free counts their frames as no_reader) and
 * reconnect() is tried on the next data; reads (fstrm's close at shutdown) get a FINISH
 * control frame (escape 0, length 4, type FINISH = 5). */
static const uint8_t FINISH_FRAME[12] = {0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 5};

static fstrm_res rd_read(void *obj, void *data, size_t count)
{
    struct mw_tap *t = obj;
    if (t->state == C_BROKEN) {
        if (count > sizeof(FINISH_FRAME) - t->fin_pos)
            return fstrm_res_failure;
        memcpy(data, FINISH_FRAME + t->fin_pos, count);
        t->fin_pos += count;
        return fstrm_res_success;
    }
    if (recv_all(t->fd, data, count) < 0)
        return fstrm_res_failure;
    if (t->state == C_OPENED)
        t->state = C_READ;
    return fstrm_res_success;
}

static fstrm_res rd_write(void *obj, const struct iovec *iov, int iovcnt)
{
    struct mw_tap *t = obj;
    /* Data comes as (length, frame) pairs; a single iovec is a control frame (STOP). */
    if (t->state == C_BROKEN && (iovcnt < 2 || !reconnect(t)))
        return fstrm_res_success;
    /* Data: (length, batch) pairs. Each batch holds frames framed already: they go out in
     * place of fstrm's frame, and fstrm's length word is left out. */
    struct iovec v[128];
    if (iovcnt >= 2) {
        if (iovcnt % 2 || iovcnt / 2 > (int)(sizeof(v) / sizeof(v[0])))
            return fstrm_res_failure;
        for (int i = 0; i < iovcnt / 2; i++) {
            const struct batch *b = iov[2 * i + 1].iov_base;
            v[i] = (struct iovec){.iov_base = (void *)b->data, .iov_len = b->len};
        }
        iov = v;
        iovcnt /= 2;
    }
    if (send_all(t->fd, iov, iovcnt) < 0) {
        if (t->state != C_LIVE) /* fstrm's own handshake: it fails, closes and retries */
            return fstrm_res_failure;
        conn_close(t, true);
        t->state = C_BROKEN;
        t->fin_pos = 0;
        return fstrm_res_success;
    }
    if (t->state == C_READ) /* START went out */
        go_live(t);
    return fstrm_res_success;
}

static fstrm_res rd_destroy(void *obj)
{
    (void)obj; /* t is freed by mw_tap_free */
    return fstrm_res_success;
}

/* fstrm is done with a batch: written (the stream was live through its write) or not. */
static void batch_free(void *buf, void *arg)
{
    struct mw_tap *t = arg;
    struct batch *b = buf;
    atomic_fetch_add_explicit(t->state == C_LIVE ? &t->sent : &t->no_reader, b->frames,
                              memory_order_relaxed);
    struct slot *s = &t->slots[b->slot];
    uint32_t head = atomic_load_explicit(&s->ret_head, memory_order_relaxed);
    if (b->cap != BATCH_BYTES ||
        head - atomic_load_explicit(&s->ret_tail, memory_order_acquire) >= RETURN_RING) {
        free(b);
        return;
    }
    s->ret[head % RETURN_RING] = b;
    atomic_store_explicit(&s->ret_head, head + 1, memory_order_release);
}

static void flush_slot(struct mw_tap *t, struct slot *s);

/* ---- setup ---- */

static struct fstrm_writer *writer_new(struct mw_tap *t)
{
    struct fstrm_rdwr *rd = fstrm_rdwr_init(t);
    if (!rd)
        return NULL;
    fstrm_rdwr_set_open(rd, rd_open);
    fstrm_rdwr_set_close(rd, rd_close);
    fstrm_rdwr_set_read(rd, rd_read);
    fstrm_rdwr_set_write(rd, rd_write);
    fstrm_rdwr_set_destroy(rd, rd_destroy);
    struct fstrm_writer_options *wo = fstrm_writer_options_init();
    struct fstrm_writer *wr = NULL;
    if (wo && fstrm_writer_options_add_content_type(wo, CONTENT_TYPE, strlen(CONTENT_TYPE)) ==
                  fstrm_res_success)
        wr = fstrm_writer_init(wo, &rd);
    fstrm_writer_options_destroy(&wo);
    if (!wr)
        fstrm_rdwr_destroy(&rd);
    return wr;
}

/* fstrm wakes its thread when a submit leaves exactly the threshold's number of entries free
 * in the queue (fstrm_iothr_submit compares the space left, not the entries waiting as its
 * documentation says; the queue holds one entry less than its size): this threshold wakes it
 * once half the queue waits, long before a batch would be dropped, and seldom (each wakeup
 * is a futex call on both threads). Otherwise it wakes each second (fstrm's flush timeout).
 * A queue of 2 holds one batch: its thread wakes each second. */
static unsigned notify_threshold(uint32_t queue_size)
{
    return queue_size / 2 > 1 ? queue_size / 2 - 1 : 1;
}

static struct fstrm_iothr *iothr_new(struct mw_tap *t, uint32_t queue_size)
{
    struct fstrm_writer *wr = writer_new(t);
    struct fstrm_iothr_options *o = fstrm_iothr_options_init();
    struct fstrm_iothr *th = NULL;
    if (wr && o && fstrm_iothr_options_set_num_input_queues(o, t->n_slots) == fstrm_res_success &&
        fstrm_iothr_options_set_input_queue_size(o, queue_size) == fstrm_res_success &&
        fstrm_iothr_options_set_queue_model(o, FSTRM_IOTHR_QUEUE_MODEL_SPSC) == fstrm_res_success &&
        fstrm_iothr_options_set_reopen_interval(o, RECONNECT_S) == fstrm_res_success &&
        fstrm_iothr_options_set_queue_notify_threshold(o, notify_threshold(queue_size)) ==
            fstrm_res_success &&
        fstrm_iothr_options_set_buffer_hint(o, WRITE_HINT) == fstrm_res_success) {
        /* libfstrm names no thread: its I/O thread takes the name its creator has now */
        char was[16];
        mw_thread_name_get(was, sizeof was);
        mw_thread_name("mw-dnstap");
        th = fstrm_iothr_init(o, &wr);
        mw_thread_name(was);
    }
    fstrm_iothr_options_destroy(&o);
    if (wr)
        fstrm_writer_destroy(&wr);
    return th;
}

int mw_tap_new(const struct mw_config *cfg, const char *host, unsigned n_workers,
               struct mw_tap **out, char *why, size_t why_len)
{
    struct mw_tap *t = calloc(1, sizeof(*t));
    if (!t || n_workers == 0)
        goto nomem;
    t->fd = -1;
    t->n_slots = n_workers;
    t->slots = aligned_alloc(64, sizeof(*t->slots) * n_workers);
    if (!t->slots)
        goto nomem;
    memset(t->slots, 0, sizeof(*t->slots) * n_workers);
    t->cq = cfg->dnstap.client_query;
    t->cr = cfg->dnstap.client_response;
    t->fq = cfg->dnstap.forwarder_query;
    t->fr = cfg->dnstap.forwarder_response;
    char version[64];
    snprintf(version, sizeof(version), "minewall %s", MW_VERSION);
    mw_dnstap_enc_init(&t->enc, cfg->dnstap.identity ? cfg->dnstap.identity : host,
                       cfg->dnstap.version ? cfg->dnstap.version : version);
    if (cfg->dnstap.socket) {
        t->is_unix = true;
        t->sun.sun_family = AF_UNIX;
        snprintf(t->sun.sun_path, sizeof(t->sun.sun_path), "%s", cfg->dnstap.socket);
        snprintf(t->target, sizeof(t->target), "unix:%s", cfg->dnstap.socket);
    } else {
        t->addr = cfg->dnstap.address;
        char a[64] = "?";
        mw_addr_format(&t->addr, a, sizeof(a));
        snprintf(t->target, sizeof(t->target), "tcp:%s", a);
    }
    if (!(t->iothr = iothr_new(t, cfg->dnstap.queue_size))) {
        snprintf(why, why_len, "dnstap: cannot start the fstrm I/O thread for %s", t->target);
        free(t->slots);
        free(t);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < n_workers; i++)
        t->slots[i].q = fstrm_iothr_get_input_queue_idx(t->iothr, i);
    *out = t;
    return 0;
nomem:
    if (t)
        free(t->slots);
    free(t);
    snprintf(why, why_len, "dnstap: out of memory");
    return -ENOMEM;
}

void mw_tap_free(struct mw_tap *t)
{
    if (!t)
        return;
    /* The workers are gone: this thread is now the only producer of every queue. */
    for (unsigned i = 0; i < t->n_slots; i++)
        flush_slot(t, &t->slots[i]);
    fstrm_iothr_destroy(&t->iothr); /* flushes to a live reader, joins, closes */
    for (unsigned i = 0; i < t->n_slots; i++) {
        struct slot *s = &t->slots[i];
        free(s->b); /* an empty batch a worker kept */
        for (uint32_t k = s->ret_tail; k != s->ret_head; k++)
            free(s->ret[k % RETURN_RING]);
    }
    if (t->fd >= 0)
        close(t->fd);
    free(t->slots);
    free(t);
}

void mw_tap_stats(const struct mw_tap *t, struct mw_tap_stats *out)
{
    *out = (struct mw_tap_stats){0};
    if (!t)
        return;
    for (unsigned i = 0; i < t->n_slots; i++)
        out->queue_full += atomic_load_explicit(&t->slots[i].full, memory_order_relaxed);
    out->sent = atomic_load_explicit(&t->sent, memory_order_relaxed);
    out->no_reader = atomic_load_explicit(&t->no_reader, memory_order_relaxed);
    out->connects = atomic_load_explicit(&t->connects, memory_order_relaxed);
    out->connected = atomic_load_explicit(&t->connected, memory_order_relaxed);
}

const char *mw_tap_target(const struct mw_tap *t)
{
    return t->target;
}

/* ---- the hooks (worker threads) ---- */

static void count_full(struct slot *s, uint64_t frames)
{
    /* One writer (this worker): a load and a store, no locked add. */
    atomic_store_explicit(&s->full, atomic_load_explicit(&s->full, memory_order_relaxed) + frames,
                          memory_order_relaxed);
}

/* Hand the slot's batch to fstrm; a full queue drops it (its frames counted). */
static void flush_slot(struct mw_tap *t, struct slot *s)
{
    struct batch *b = s->b;
    if (!b || b->frames == 0)
        return;
    s->b = NULL;
    s->lq.to = NULL; /* its frame leaves with the batch */
    if (fstrm_iothr_submit(t->iothr, s->q, b, sizeof(*b) + b->len, batch_free, t) !=
        fstrm_res_success) {
        count_full(s, b->frames);
        free(b);
    }
}

/* A batch of cap bytes for slot s: a returned one when there is one, else a new one. */
static struct batch *batch_new(struct mw_tap *t, struct slot *s, size_t cap)
{
    struct batch *b = NULL;
    uint32_t tail = atomic_load_explicit(&s->ret_tail, memory_order_relaxed);
    if (cap == BATCH_BYTES && tail != atomic_load_explicit(&s->ret_head, memory_order_acquire)) {
        b = s->ret[tail % RETURN_RING];
        atomic_store_explicit(&s->ret_tail, tail + 1, memory_order_release);
    } else if (!(b = malloc(sizeof(*b) + cap))) {
        return NULL;
    }
    *b = (struct batch){.slot = (uint32_t)(s - t->slots), .cap = (uint32_t)cap};
    return b;
}

/* Now (Unix time) as m's time: the reading this turn of the worker's loop took (w->tap_now),
 * else the clock's, kept for the turn's later frames (the worker clears it before each poll).
 * Under load one reading serves a whole batch of queries and responses. */
static inline void stamp(struct mw_worker *w, struct mw_dnstap_msg *m)
{
    uint64_t now = w->tap_now;
    if (!now) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (uint64_t)ts.tv_sec << 32 | (uint32_t)ts.tv_nsec;
        w->tap_now = now;
    }
    m->time_sec = now >> 32;
    m->time_nsec = (uint32_t)now;
}

/* A frame of n bytes written at b->data + b->len + 4: its length before it, counted. */
static inline void commit(struct batch *b, size_t n)
{
    uint8_t *p = b->data + b->len;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    b->len += 4 + (uint32_t)n;
    b->frames++;
}

/* submit() when m does not fit in the slot's batch (or there is none): the next batch. */
static __attribute__((noinline)) size_t submit_new(struct mw_tap *t, struct slot *s,
                                                   struct mw_dnstap_pre *pre, bool fill,
                                                   const struct mw_dnstap_msg *m)
{
    if (fill)
        mw_dnstap_pre_init(pre, m->type, m->tcp, m->query_addr, m->response_addr);
    flush_slot(t, s);
    size_t need = 4 + mw_dnstap_pre_size(&t->enc, pre, m);
    struct batch *b = s->b = batch_new(t, s, need > BATCH_BYTES ? need : BATCH_BYTES);
    if (!b) {
        count_full(s, 1);
        return 0;
    }
    size_t n = mw_dnstap_encode_pre(&t->enc, pre, m, b->data + 4, b->cap - 4);
    commit(b, n);
    return n;
}

/* Encode m, its time set, into slot s's batch (a new one when it does not fit) with its sides
 * and protocol from pre, or when fill from m's sockaddrs, then kept in pre (one call for
 * both); returns the frame's length (0: dropped, counted). */
static inline __attribute__((always_inline)) size_t submit(struct mw_tap *t, struct slot *s,
                                                           struct mw_dnstap_pre *pre, bool fill,
                                                           const struct mw_dnstap_msg *m)
{
    struct batch *b = s->b;
    size_t n;
    if (!b || b->cap - b->len <= 4)
        return submit_new(t, s, pre, fill, m);
    uint8_t *out = b->data + b->len + 4;
    size_t cap = b->cap - b->len - 4;
    n = fill ? mw_dnstap_encode_keep(&t->enc, m, pre, out, cap)
             : mw_dnstap_encode_pre(&t->enc, pre, m, out, cap);
    if (!n)
        return submit_new(t, s, pre, false, m); /* pre was filled */
    commit(b, n);
    return n;
}

void mw_tap_flush(struct mw_worker *w)
{
    struct mw_tap *t = w->snap ? w->snap->tap : NULL;
    if (t && w->index < t->n_slots)
        flush_slot(t, &t->slots[w->index]);
}

/* The listener's address as the answering side of a client message (UDP; a TCP connection
 * does not keep its listener). */
static const struct sockaddr *local_of(const struct mw_reply *to)
{
    return to->l ? &to->l->addr.u.sa : NULL;
}

void mw_tap_client_query(struct mw_worker *w, struct mw_reply *to, const uint8_t *pkt, size_t len)
{
    struct mw_tap *t = w->snap->tap;
    if (!t || !(t->cq || t->cr) || w->index >= t->n_slots)
        return;
    struct mw_dnstap_msg m = {.type = MW_DNSTAP_CLIENT_QUERY,
                              .tcp = mw_reply_is_tcp(to),
                              .query_addr = mw_reply_client(to),
                              .response_addr = local_of(to),
                              .dns = pkt,
                              .dns_len = len};
    stamp(w, &m);
    to->tap_qsec = (uint32_t)m.time_sec; /* the response's query_time (until 2106) */
    to->tap_qnsec = m.time_nsec;
    if (!t->cq)
        return;
    struct slot *s = &t->slots[w->index];
    /* Not the last query framed unless this one is: another query's reply may sit at the same
     * address (the callers' stack), stamped with the same turn's time. */
    s->lq.to = NULL;
    if (submit(t, s, &s->lq.pre, true, &m)) {
        s->lq.to = to;
        s->lq.b = s->b;
        s->lq.frames = s->b->frames;
        s->lq.sec = to->tap_qsec;
        s->lq.nsec = to->tap_qnsec;
    }
}

/* A blocked query's CLIENT_RESPONSE, with the verdict in extra (rare: kept out of the hook's
 * way, and the verdict copied to format its rule text). */
static __attribute__((noinline)) void client_block(struct mw_worker *w, struct mw_tap *t,
                                                   struct slot *s, struct mw_dnstap_pre *pre,
                                                   struct mw_dnstap_msg *m,
                                                   const struct mw_verdict *v, const char *group)
{
    char extra[1024];
    struct mw_verdict vc = *v;
    const struct mw_list_info *li = mw_lists_info(w->snap->lists, vc.rule.list);
    struct mw_dnstap_block b = {.list = li->name,
                                .category = li->category,
                                .rule = mw_verdict_rule_text(&vc),
                                .action = mw_action_name(vc.action),
                                .where = mw_where_name(vc.where),
                                .group = group};
    m->extra_len = mw_dnstap_block_extra(extra, sizeof(extra), &b);
    m->extra = (const uint8_t *)extra;
    submit(t, s, pre, true, m);
}

void mw_tap_client_response(struct mw_worker *w, const struct mw_reply *to, const uint8_t *pkt,
                            size_t len, const struct mw_verdict *v, const char *group)
{
    struct mw_tap *t = w->snap->tap;
    if (!t || !t->cr || w->index >= t->n_slots)
        return;
    struct slot *s = &t->slots[w->index];
    struct mw_dnstap_msg m = {.type = MW_DNSTAP_CLIENT_RESPONSE,
                              .dns = pkt,
                              .dns_len = len,
                              .qtime_sec = to->tap_qsec,
                              .qtime_nsec = to->tap_qnsec};
    struct batch *b = s->b;
    if (!v && s->lq.to == to && b == s->lq.b && b->frames == s->lq.frames &&
        to->tap_qsec == s->lq.sec && to->tap_qnsec == s->lq.nsec) {
        /* The answer to the query framed last, in the same callback: its fields and time. */
        s->lq.to = NULL;
        m.time_sec = m.qtime_sec;
        m.time_nsec = m.qtime_nsec;
        submit(t, s, &s->lq.pre, false, &m);
        return;
    }
    stamp(w, &m);
    m.tcp = mw_reply_is_tcp(to);
    m.query_addr = mw_reply_client(to);
    m.response_addr = local_of(to);
    struct mw_dnstap_pre pre;
    if (v)
        client_block(w, t, s, &pre, &m, v, group);
    else
        submit(t, s, &pre, true, &m);
}

/* A route entry for the upstream address ua of family fam? (4 or 16 bytes compared as
 * integers: this runs for each forwarder frame.) */
static inline bool route_is(const struct route *r, int fam, const uint8_t *ua)
{
    if (r->family != fam)
        return false;
    if (fam == AF_INET) {
        uint32_t a, b;
        memcpy(&a, r->up, 4);
        memcpy(&b, ua, 4);
        return a == b;
    }
    uint64_t a[2], b[2];
    memcpy(a, r->up, 16);
    memcpy(b, ua, 16);
    return a[0] == b[0] && a[1] == b[1];
}

/* The address the kernel sends to upstream (of family fam, its address at ua) from, into
 * r->src: what a socket bound to the wildcard shows as its source. Zeros when unknown. A few
 * syscalls, no packet: connect() on a UDP socket only picks the route (an IPv6 upstream's
 * scope included). */
static void route_fill(struct route *r, int fam, const uint8_t *ua, const struct sockaddr *upstream)
{
    memset(r, 0, sizeof(*r));
    r->family = (uint8_t)fam;
    memcpy(r->up, ua, fam == AF_INET ? 4 : 16);
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } b = {0};
    socklen_t alen = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    socklen_t blen = sizeof(b);
    int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (connect(fd, upstream, alen) == 0 && getsockname(fd, &b.sa, &blen) == 0 &&
        b.sa.sa_family == fam)
        memcpy(r->src, fam == AF_INET ? (const void *)&b.in4.sin_addr : &b.in6.sin6_addr,
               fam == AF_INET ? 4 : 16);
    close(fd);
}

/* The socket address minewall's side of a forwarder frame shows: local (the socket's bound
 * address) as it is, or with a wildcard address replaced by the route's source towards
 * upstream (remembered per slot), built in out. */
union side_addr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};
static const struct sockaddr *forwarder_local(struct slot *s, const struct sockaddr *upstream,
                                              const struct sockaddr *local, union side_addr *out)
{
    int fam = local ? local->sa_family : 0;
    if (!upstream || upstream->sa_family != fam)
        return NULL; /* unknown, or not the upstream's family: left out */
    const uint8_t *ua;
    if (fam == AF_INET) {
        const struct sockaddr_in *l4 = (const struct sockaddr_in *)local;
        if (l4->sin_addr.s_addr != 0)
            return local; /* bound to an address (or connected): it is the source */
        out->in4 = *l4;
        ua = (const uint8_t *)&((const struct sockaddr_in *)upstream)->sin_addr;
    } else {
        const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)local;
        if (!IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr))
            return local;
        out->in6 = *l6;
        ua = (const uint8_t *)&((const struct sockaddr_in6 *)upstream)->sin6_addr;
    }
    uint32_t h, x;
    memcpy(&h, ua + (fam == AF_INET ? 0 : 12), 4); /* an IPv6 upstream: its last 4 bytes */
    if (fam != AF_INET) {
        memcpy(&x, ua + 4, 4);
        h ^= x;
    }
    struct route *r = &s->routes[(h * 2654435761u) >> 26]; /* Knuth's multiplier, 6 bits */
    if (!route_is(r, fam, ua)) /* once per upstream (and after a collision) */
        route_fill(r, fam, ua, upstream);
    if (fam == AF_INET)
        memcpy(&out->in4.sin_addr, r->src, 4);
    else
        memcpy(&out->in6.sin6_addr, r->src, 16);
    return &out->sa;
}

/* A sockaddr's leading bytes as a table key: family, port and address (and an IPv6 one's flow
 * label), zeros for NULL or another family. */
static inline void fwd_key(const struct sockaddr *sa, uint64_t k[3])
{
    k[0] = k[1] = k[2] = 0;
    if (sa && sa->sa_family == AF_INET)
        memcpy(k, sa, 8);
    else if (sa && sa->sa_family == AF_INET6)
        memcpy(k, sa, 24);
}

/* The fields of the forwarder frames between local (minewall's socket) and upstream, from
 * slot s's table (made there the first time). */
static inline struct mw_dnstap_pre *fwd_pre(struct slot *s, const struct sockaddr *upstream,
                                            const struct sockaddr *local, bool tcp)
{
    uint64_t k[6];
    fwd_key(upstream, k);
    fwd_key(local, k + 3);
    uint64_t h = (k[0] + k[2] + (k[3] + k[5]) * 0x9e3779b97f4a7c15ull) * 0x9e3779b97f4a7c15ull;
    struct fwd *f = &s->fwd[h >> 56]; /* 8 bits */
    if (!f->used || f->tcp != tcp || f->key[0] != k[0] || f->key[1] != k[1] || f->key[2] != k[2] ||
        f->key[3] != k[3] || f->key[4] != k[4] || f->key[5] != k[5]) {
        /* Once per socket and upstream (and after a collision). */
        union side_addr la;
        mw_dnstap_pre_init(&f->pre, MW_DNSTAP_FORWARDER_QUERY, tcp,
                           forwarder_local(s, upstream, local, &la), upstream);
        memcpy(f->key, k, sizeof(k));
        f->tcp = tcp;
        f->used = true;
    }
    return &f->pre;
}

/* A forwarder frame (written when write); sent: the query's stamp for a response (0: none).
 * Returns the frame's own stamp: seconds in the high 32 bits, nanoseconds in the low ones
 * (no division either way). */
static inline __attribute__((always_inline)) uint64_t
forwarder(struct mw_worker *w, enum mw_dnstap_type type, const struct sockaddr *upstream,
          const struct sockaddr *local, bool tcp, const uint8_t *pkt, size_t len, uint64_t sent,
          bool write)
{
    struct mw_tap *t = w->snap->tap;
    struct mw_dnstap_msg m = {.type = type,
                              .dns = pkt,
                              .dns_len = len,
                              .qtime_sec = sent >> 32,
                              .qtime_nsec = (uint32_t)sent};
    stamp(w, &m);
    if (write && w->index < t->n_slots) {
        struct slot *s = &t->slots[w->index];
        submit(t, s, fwd_pre(s, upstream, local, tcp), false, &m);
    }
    return m.time_sec << 32 | m.time_nsec;
}

uint64_t mw_tap_forwarder_query(struct mw_worker *w, const struct sockaddr *upstream,
                                const struct sockaddr *local, bool tcp, const uint8_t *pkt,
                                size_t len)
{
    struct mw_tap *t = w->snap->tap;
    if (!t || !(t->fq || t->fr)) /* with only responses written, their query_time is wanted */
        return 0;
    return forwarder(w, MW_DNSTAP_FORWARDER_QUERY, upstream, local, tcp, pkt, len, 0, t->fq);
}

void mw_tap_forwarder_response(struct mw_worker *w, const struct sockaddr *upstream,
                               const struct sockaddr *local, bool tcp, const uint8_t *pkt,
                               size_t len, uint64_t sent)
{
    struct mw_tap *t = w->snap->tap;
    if (t && t->fr)
        forwarder(w, MW_DNSTAP_FORWARDER_RESPONSE, upstream, local, tcp, pkt, len, sent, true);
}
