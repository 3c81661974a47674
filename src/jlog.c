/* Journal writer; see jlog.h. */
#include "minewall/jlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minewall/events.h"
#include "minewall/file.h"
#include "minewall/journal.h"
#include "minewall/log.h"

#define FLUSH_MS 200
#define QUEUE_LINES 65536
#define QUEUE_BYTES (32u << 20)

struct mw_jlog {
    uint64_t by_type[MW_JOURNAL_TYPES];
    uv_timer_t timer;
    char *path;
    int fd;
    bool open_failed_logged;
    struct mw_journal_queue *q;
    struct mw_journal_batch batch;
    mw_jlog_forward_cb forward;
    void *forward_arg;
    uint64_t written, lost;
};

static void open_file(struct mw_jlog *j)
{
    int fd = mw_file_open_log(j->path);
    if (fd < 0) {
        if (!j->open_failed_logged)
            mw_log_error("journl", "%s: cannot open the journal: %s; events are counted as lost",
                         j->path, strerror(-fd));
        j->open_failed_logged = true;
        return;
    }
    if (j->fd >= 0)
        close(j->fd);
    j->fd = fd;
    j->open_failed_logged = false;
}

void mw_jlog_flush(struct mw_jlog *j)
{
    int n = mw_journal_queue_pop_all(j->q, &j->batch);
    if (n <= 0)
        return;
    if (j->fd < 0)
        open_file(j); /* the directory may have appeared since */
    if (j->fd < 0 || write(j->fd, j->batch.data, j->batch.len) != (ssize_t)j->batch.len)
        j->lost += (uint64_t)n;
    else
        j->written += (uint64_t)n;
    const char *line = j->batch.data, *end = j->batch.data + j->batch.len;
    for (size_t i = 0; i < j->batch.lines && line < end; i++) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
        enum mw_journal_type t = (enum mw_journal_type)j->batch.types[i];
        j->by_type[t < MW_JOURNAL_TYPES ? t : MW_JOURNAL_OTHER]++;
        if (j->forward) {
            struct mw_routing_event ev = {.type = t, .json = line, .len = len};
            j->forward(j->forward_arg, &ev);
        }
        line += len + 1;
    }
}

static void tick(uv_timer_t *t)
{
    mw_jlog_flush(t->data);
}

int mw_jlog_new(uv_loop_t *loop, const char *path, struct mw_jlog **out)
{
    struct mw_jlog *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->fd = -1;
    j->path = strdup(path);
    j->q = mw_journal_queue_new(QUEUE_LINES, QUEUE_BYTES);
    if (!j->path || !j->q) {
        free(j->path);
        mw_journal_queue_free(j->q);
        free(j);
        return -ENOMEM;
    }
    open_file(j);
    uv_timer_init(loop, &j->timer);
    j->timer.data = j;
    uv_timer_start(&j->timer, tick, FLUSH_MS, FLUSH_MS);
    uv_unref((uv_handle_t *)&j->timer); /* the writer never keeps minewall running */
    *out = j;
    return 0;
}

struct mw_journal_queue *mw_jlog_queue(struct mw_jlog *j)
{
    return j->q;
}

void mw_jlog_set_forward(struct mw_jlog *j, mw_jlog_forward_cb cb, void *arg)
{
    j->forward = cb;
    j->forward_arg = arg;
}

void mw_jlog_reopen(struct mw_jlog *j)
{
    mw_jlog_flush(j);
    open_file(j);
}

void mw_jlog_stats(struct mw_jlog *j, struct mw_jlog_stats *out)
{
    struct mw_journal_queue_stats qs;
    mw_journal_queue_get_stats(j->q, &qs);
    memcpy(out->by_type, j->by_type, sizeof(out->by_type));
    out->written = j->written;
    out->lost = j->lost;
    out->dropped = qs.dropped;
    out->pushed = qs.pushed;
}

static void closed(uv_handle_t *h)
{
    struct mw_jlog *j = h->data;
    if (j->fd >= 0)
        close(j->fd);
    mw_journal_queue_free(j->q);
    mw_journal_batch_deinit(&j->batch);
    free(j->path);
    free(j);
}

void mw_jlog_close(struct mw_jlog *j)
{
    j->forward = NULL; /* the forwarder may be closing too */
    mw_jlog_flush(j);
    uv_close((uv_handle_t *)&j->timer, closed);
}
