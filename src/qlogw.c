/* Query log writer thread; see qlogw.h. The control thread only sets requests (reopen, a new
 * path, stop) under the mutex and signals the condition; the file descriptor and the batch
 * buffer belong to the writer thread alone, so no lock is held while formatting or writing.
 * Counters the control thread reads are atomics. */
#include "minewall/qlogw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "minewall/file.h"
#include "minewall/httpd.h"
#include "minewall/log.h"
#include "minewall/querylog.h"
#include "minewall/thrname.h"

/* The writer sleeps this long when the rings are quiet; a worker whose ring reaches its wake
 * mark (64 KiB of records, or half a smaller ring) wakes it sooner (one signal each time the
 * mark is crossed, not per record). */
#define POLL_MS 50
/* Lines are written in pieces that end on a multiple of BATCH_BYTES of the file: a write that
 * fills whole, aligned 256 KiB lets the page cache take it as a few large folios, where a
 * drain's batch of any size at any offset took about eight times as many small ones (its
 * allocation, LRU and ext4 reservation per folio: a third of the write's kernel time). The
 * piece's last line, cut at the boundary, starts the next one. A batch that has not filled is
 * written when its first line has waited HOLD_MS, and at once before a reopen and at the
 * stop, so a quiet log stays nearly live. */
#define BATCH_BYTES (256u << 10)
#define HOLD_MS 250
#define RELEASE_BYTES (8u << 10) /* ring bytes given back to a worker at once while draining */
/* Drop-behind: the log is written once and seldom read back, so the writer starts the
 * writeback of each DROP_WINDOW of the file as it fills and, two windows later, drops it from
 * the page cache. The log then holds about 3 MiB of page cache instead of all it ever wrote:
 * it pushes no other file out of memory, and each new page comes from the few it just freed.
 * On a VM that hands free memory back to its host, a page the guest has not touched lately
 * cost ten times the copy into it (1.2 us per 4 KiB warm, 12 to 19 us fresh, writing 3 GiB
 * to ext4 in 256 KiB pieces; 1.5 us with drop-behind, the writeback's start included). */
#define DROP_WINDOW (1u << 20)
#define DROP_LAG 2 /* windows between starting a window's writeback and dropping it */

struct mw_qlogw {
    struct mw_querylog_ring *rings; /* owned: n_rings */
    unsigned n_rings;
    uint32_t sample; /* atomic: log one answer in sample */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    /* Under mu: requests to the writer. */
    bool stop, reopen;
    char *path;     /* owned; the file the writer has (or will have) open */
    char *new_path; /* owned; a path to switch to, or NULL */
    /* The writer thread's own. */
    int fd;
    uint64_t file_off; /* the file's size as this thread wrote it (the next write's offset) */
    uint64_t wb_next;  /* the next DROP_WINDOW (its index) to start writing back */
    uint64_t wb_first; /* the first window of this file the writer wrote (none before it) */
    bool drop;         /* fd is a regular file: drop-behind applies */
    char *batch;       /* owned: BATCH_BYTES + MW_QUERYLOG_LINE_MAX */
    size_t batch_len;
    uint64_t batch_lines;   /* lines begun in the batch (the last may be cut: see put_batch) */
    uint64_t held_since;    /* CLOCK_MONOTONIC ms of the batch's oldest line */
    uint64_t written, lost; /* atomic */
};

/* Start the writeback of every window the file's end has passed, and drop the windows
 * DROP_LAG before them once written (waiting for that writeback, normally long done, blocks
 * this thread only). Errors are ignored: the pages then stay cached, as without drop-behind. */
static void drop_behind(struct mw_qlogw *q)
{
    while (q->drop && (q->wb_next + 1) * DROP_WINDOW <= q->file_off) {
        (void)sync_file_range(q->fd, (off_t)(q->wb_next * DROP_WINDOW), DROP_WINDOW,
                              SYNC_FILE_RANGE_WRITE);
        if (q->wb_next >= q->wb_first + DROP_LAG) {
            off_t old = (off_t)((q->wb_next - DROP_LAG) * DROP_WINDOW);
            (void)sync_file_range(q->fd, old, DROP_WINDOW,
                                  SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                      SYNC_FILE_RANGE_WAIT_AFTER);
            (void)posix_fadvise(q->fd, old, DROP_WINDOW, POSIX_FADV_DONTNEED);
        }
        q->wb_next++;
    }
}

/* Append the batch's first n bytes to the file: with n < batch_len they end inside the last
 * line begun, whose rest is kept for the next write. A short write counts every line of the
 * batch as lost rather than guess which made it (the file then ends with a cut line, as after
 * a full disk), and drops the rest of the batch, which would start with a fragment. */
static void put_batch(struct mw_qlogw *q, size_t n)
{
    if (!q->batch_len)
        return;
    size_t done = 0;
    while (q->fd >= 0 && done < n) {
        ssize_t w = write(q->fd, q->batch + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    q->file_off += done;
    drop_behind(q);
    if (done < n) {
        __atomic_add_fetch(&q->lost, q->batch_lines, __ATOMIC_RELAXED);
        q->batch_len = 0;
        q->batch_lines = 0;
        return;
    }
    size_t rest = q->batch_len - n;
    uint64_t lines = rest ? q->batch_lines - 1 : q->batch_lines;
    __atomic_add_fetch(&q->written, lines, __ATOMIC_RELAXED);
    memmove(q->batch, q->batch + n, rest);
    q->batch_len = rest;
    q->batch_lines -= lines;
}

/* Bytes the batch may hold before its write, which then ends on a multiple of BATCH_BYTES. */
static size_t batch_room(const struct mw_qlogw *q)
{
    return BATCH_BYTES - (size_t)(q->file_off % BATCH_BYTES);
}

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Format everything the rings hold now and write it, all of it with force (a reopen, the stop)
 * or when the batch's first line has waited HOLD_MS, else the full aligned pieces. Returns
 * true when a ring was at least half full: the writer then goes round again without
 * sleeping. */
static bool drain(struct mw_qlogw *q, bool force)
{
    /* Records carry the workers' loop time (CLOCK_MONOTONIC, libuv's clock): one offset per
     * drain turns it into wall time. */
    uint64_t mono = clock_ms(CLOCK_MONOTONIC);
    int64_t off = (int64_t)clock_ms(CLOCK_REALTIME) - (int64_t)mono;
    bool busy = false;
    size_t room = batch_room(q);
    for (unsigned i = 0; i < q->n_rings; i++) {
        struct mw_querylog_ring *r = &q->rings[i];
        uint64_t n = mw_querylog_ring_ready(r), pos = r->tail, freed = r->tail;
        const uint64_t end = pos + n;
        busy |= n >= r->cap / 2;
        if (n && !q->batch_len)
            q->held_since = mono;
        char *o = q->batch + q->batch_len;
        while (pos < end) {
            const struct mw_querylog_rec *rec = mw_querylog_ring_at(r, pos);
            /* The batch is under room (<= BATCH_BYTES) here: the longest line fits in the
             * MW_QUERYLOG_LINE_MAX past it, written in place with no bound check per field. */
            int64_t wall = (int64_t)rec->mono_ms + off;
            o = mw_querylog_format_at(rec, wall > 0 ? (uint64_t)wall : 0, o);
            q->batch_lines++;
            pos += rec->size;
            if ((size_t)(o - q->batch) >= room) {
                q->batch_len = (size_t)(o - q->batch);
                put_batch(q, room);
                q->held_since = mono;
                room = batch_room(q);
                o = q->batch + q->batch_len;
            }
            if (pos - freed >= RELEASE_BYTES) { /* room back to the worker while draining */
                mw_querylog_ring_release(r, pos - freed);
                freed = pos;
            }
        }
        q->batch_len = (size_t)(o - q->batch);
        mw_querylog_ring_release(r, pos - freed);
    }
    if (force || q->fd < 0 || mono - q->held_since >= HOLD_MS)
        put_batch(q, q->batch_len);
    return busy;
}

/* fd becomes the file: the next write goes at its end, drop-behind starts at the window after
 * the one the end is in (what was there before is left as it is). */
static void set_file(struct mw_qlogw *q, int fd)
{
    struct stat st;
    bool ok = fstat(fd, &st) == 0;
    q->fd = fd;
    q->file_off = ok && st.st_size > 0 ? (uint64_t)st.st_size : 0;
    q->drop = ok && S_ISREG(st.st_mode);
    q->wb_first = q->wb_next = (q->file_off + DROP_WINDOW - 1) / DROP_WINDOW;
}

/* Open path for the writer (it becomes the file); on failure the old one stays. What the
 * batch holds was formatted before: it goes to the old file first. */
static void reopen_file(struct mw_qlogw *q, const char *path)
{
    put_batch(q, q->batch_len);
    int fd = mw_file_open_log(path);
    if (fd < 0) {
        mw_log_error("qlog", "%s: cannot open the query log: %s%s", path, strerror(-fd),
                     q->fd >= 0 ? "; writing on to the old file" : "; lines are counted as lost");
        return;
    }
    if (q->fd >= 0)
        close(q->fd);
    set_file(q, fd);
}

static void run(void *arg)
{
    struct mw_qlogw *q = arg;
    mw_thread_name("mw-querylog");
    uv_mutex_lock(&q->mu);
    for (;;) {
        bool stop = q->stop, reopen = q->reopen;
        char *np = q->new_path;
        q->reopen = false;
        q->new_path = NULL;
        if (np) { /* the control thread reads path only under mu */
            free(q->path);
            q->path = np;
        }
        const char *path = q->path;
        uv_mutex_unlock(&q->mu);
        if (reopen || np)
            reopen_file(q, path);
        bool busy = drain(q, stop);
        uv_mutex_lock(&q->mu);
        if (stop && !busy)
            break; /* the workers are gone: what they queued is written */
        if (!busy && !q->stop && !q->reopen && !q->new_path)
            uv_cond_timedwait(&q->cond, &q->mu, (uint64_t)POLL_MS * 1000000);
    }
    uv_mutex_unlock(&q->mu);
}

int mw_qlogw_new(const char *path, unsigned n_rings, uint32_t queue, uint32_t sample,
                 struct mw_qlogw **out)
{
    struct mw_qlogw *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->fd = -1;
    q->sample = sample ? sample : 1;
    q->n_rings = n_rings ? n_rings : 1;
    /* Rings keep head and tail on cache lines of their own (_Alignas(64)): calloc does not
     * promise that alignment. */
    q->rings = aligned_alloc(_Alignof(struct mw_querylog_ring), q->n_rings * sizeof(*q->rings));
    if (q->rings)
        memset(q->rings, 0, q->n_rings * sizeof(*q->rings));
    q->batch = malloc(BATCH_BYTES + MW_QUERYLOG_LINE_MAX);
    q->path = strdup(path);
    int rc = q->rings && q->batch && q->path ? 0 : -ENOMEM;
    unsigned made = 0;
    for (; rc == 0 && made < q->n_rings; made++)
        rc = mw_querylog_ring_init(&q->rings[made], queue);
    if (rc == 0 && (q->fd = mw_file_open_log(path)) < 0)
        rc = q->fd;
    if (rc == 0)
        set_file(q, q->fd);
    bool mu = false, cond = false;
    if (rc == 0 && !(rc = uv_mutex_init(&q->mu)))
        mu = true;
    if (rc == 0 && !(rc = uv_cond_init(&q->cond)))
        cond = true;
    if (rc == 0)
        rc = uv_thread_create(&q->thread, run, q);
    if (rc == 0) {
        *out = q;
        return 0;
    }
    if (cond)
        uv_cond_destroy(&q->cond);
    if (mu)
        uv_mutex_destroy(&q->mu);
    if (q->fd >= 0)
        close(q->fd);
    for (unsigned i = 0; q->rings && i < made; i++)
        mw_querylog_ring_deinit(&q->rings[i]);
    free(q->rings);
    free(q->batch);
    free(q->path);
    free(q);
    return rc;
}

void mw_qlogw_configure(struct mw_qlogw *q, const char *path, uint32_t sample)
{
    __atomic_store_n(&q->sample, sample ? sample : 1, __ATOMIC_RELAXED);
    uv_mutex_lock(&q->mu);
    const char *cur = q->new_path ? q->new_path : q->path;
    if (strcmp(cur, path) != 0) {
        char *p = strdup(path);
        if (p) {
            free(q->new_path);
            q->new_path = p;
            uv_cond_signal(&q->cond);
        } else {
            mw_log_error("qlog", "%s: out of memory: the query log stays at %s", path, cur);
        }
    }
    uv_mutex_unlock(&q->mu);
}

void mw_qlogw_reopen(struct mw_qlogw *q)
{
    uv_mutex_lock(&q->mu);
    q->reopen = true;
    uv_cond_signal(&q->cond);
    uv_mutex_unlock(&q->mu);
}

void mw_qlogw_put(struct mw_qlogw *q, unsigned ring, const struct mw_querylog_note *n,
                  const char *group, const struct sockaddr *client, bool tcp, uint16_t qtype,
                  const uint8_t *pkt, size_t len, uint64_t now_ms)
{
    struct mw_querylog_ring *r = &q->rings[ring < q->n_rings ? ring : 0];
    if (!mw_querylog_ring_sample(r, __atomic_load_n(&q->sample, __ATOMIC_RELAXED)))
        return;
    /* Without the mutex: a wakeup lost to a writer just going to sleep costs one poll. */
    if (mw_querylog_put(r, n, group, client, tcp, qtype, pkt, len, now_ms) > 0)
        uv_cond_signal(&q->cond);
}

void mw_qlogw_stats(struct mw_qlogw *q, struct mw_qlogw_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->written = __atomic_load_n(&q->written, __ATOMIC_RELAXED);
    out->lost = __atomic_load_n(&q->lost, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < q->n_rings; i++)
        out->dropped += __atomic_load_n(&q->rings[i].dropped, __ATOMIC_RELAXED);
}

void mw_qlogw_metrics(struct mw_qlogw *q, struct mw_http_response *r)
{
    if (!q)
        return;
    struct mw_qlogw_stats st;
    mw_qlogw_stats(q, &st);
    mw_http_body_printf(
        r,
        "# HELP minewall_querylog_written_total Query log lines written.\n"
        "# TYPE minewall_querylog_written_total counter\n"
        "minewall_querylog_written_total %llu\n"
        "# HELP minewall_querylog_dropped_total Query log records dropped: the queue of a "
        "worker was full (log.queue).\n"
        "# TYPE minewall_querylog_dropped_total counter\n"
        "minewall_querylog_dropped_total %llu\n"
        "# HELP minewall_querylog_lost_total Query log lines not written (file not open, write "
        "error).\n"
        "# TYPE minewall_querylog_lost_total counter\n"
        "minewall_querylog_lost_total %llu\n",
        (unsigned long long)st.written, (unsigned long long)st.dropped,
        (unsigned long long)st.lost);
}

void mw_qlogw_free(struct mw_qlogw *q)
{
    if (!q)
        return;
    uv_mutex_lock(&q->mu);
    q->stop = true;
    uv_cond_signal(&q->cond);
    uv_mutex_unlock(&q->mu);
    uv_thread_join(&q->thread);
    uv_cond_destroy(&q->cond);
    uv_mutex_destroy(&q->mu);
    if (q->fd >= 0)
        close(q->fd);
    for (unsigned i = 0; i < q->n_rings; i++)
        mw_querylog_ring_deinit(&q->rings[i]);
    free(q->rings);
    free(q->batch);
    free(q->path);
    free(q->new_path);
    free(q);
}
