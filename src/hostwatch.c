/* Watching the host's resolver configuration and hosts file (journal.watch): each file is
 * snapshotted at start; its directory is watched, so an edit in place, a replacement by rename
 * (what editors and tools do) and a delete followed by a re-create are all seen; 100 ms after
 * the last event the file is read again and, when its digest changed, a host_config_change
 * goes to the journal with the lines added and removed, and for resolv.conf the nameservers and
 * whether the host still points at minewall (resolver_bypass), for hosts files the names whose
 * address changed. Reading runs on the control loop: these files are a few kilobytes. */
#include "minewall/hostwatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "minewall/hostfile.h"
#include "minewall/jlog.h"
#include "minewall/journal.h"
#include "minewall/log.h"
#include "minewall/netaddr.h"

#define SETTLE_MS 100
#define EVENT_MAX 65536

struct watch {
    struct mw_hostwatch *hw;
    char *path;
    const char *base; /* into path */
    enum mw_journal_file_kind kind;
    bool forced; /* kind set by `kind:`, never judged by content */
    uv_fs_event_t ev;
    uv_timer_t settle;
    struct mw_hostfile_snap *snap; /* owned; last version seen */
    bool ev_started;
};

struct mw_hostwatch {
    uv_loop_t *loop;
    struct mw_journal_queue *q; /* borrowed */
    struct mw_addr *listen;     /* owned copy of the listen addresses */
    size_t n_listen;
    struct watch *w;
    size_t n;
    unsigned open;
    uint64_t events;
    char host[256]; /* this host's name for the events */
};

static void strv_of(const struct mw_hostfile_list *l, struct mw_journal_strv *v)
{
    v->v = l->v;
    v->n = l->n;
}

static void emit(struct watch *w, struct mw_hostfile_snap *now)
{
    struct mw_hostwatch *hw = w->hw;
    struct mw_hostfile_list added = {0}, removed = {0}, names = {0};
    struct mw_journal_host_config ev = {.file = w->path, .kind = w->kind};
    ev.old_sha256 = w->snap && w->snap->exists ? w->snap->sha256 : NULL;
    ev.new_sha256 = now->exists ? now->sha256 : NULL;
    mw_hostfile_diff_lines(w->snap, now, &added, &removed);
    strv_of(&added, &ev.lines_added);
    strv_of(&removed, &ev.lines_removed);
    struct mw_resolv ro, rn;
    const char *ns_old[MW_RESOLV_MAX_NS], *ns_new[MW_RESOLV_MAX_NS];
    struct mw_hosts ho = {0}, hn = {0};
    if (w->kind == MW_JOURNAL_FILE_RESOLV) {
        mw_hostfile_resolv_parse(w->snap, &ro);
        mw_hostfile_resolv_parse(now, &rn);
        for (size_t i = 0; i < ro.n; i++)
            ns_old[i] = ro.ns_text[i];
        for (size_t i = 0; i < rn.n; i++)
            ns_new[i] = rn.ns_text[i];
        ev.nameservers_old = (struct mw_journal_strv){ns_old, ro.n};
        ev.nameservers_new = (struct mw_journal_strv){ns_new, rn.n};
        ev.resolver_bypass_old = mw_hostfile_resolver_bypass(&ro, hw->listen, hw->n_listen);
        ev.resolver_bypass = mw_hostfile_resolver_bypass(&rn, hw->listen, hw->n_listen);
    } else if (w->kind == MW_JOURNAL_FILE_HOSTS) {
        mw_hostfile_hosts_parse(w->snap, &ho);
        mw_hostfile_hosts_parse(now, &hn);
        mw_hostfile_hosts_changed(&ho, &hn, &names);
        strv_of(&names, &ev.names_changed);
    }
    char *buf = malloc(EVENT_MAX);
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    int n = buf ? mw_journal_format_host_config(
                      buf, EVENT_MAX, (uint64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, hw->host, &ev)
                : -ENOMEM;
    if (n > 0) {
        mw_journal_queue_push(hw->q, MW_JOURNAL_HOST_CONFIG, buf, (size_t)n);
        hw->events++;
    }
    if (ev.resolver_bypass && !ev.resolver_bypass_old)
        mw_log_warn("hostwt", "%s no longer points at minewall (resolver bypass)", w->path);
    free(buf);
    mw_hostfile_list_deinit(&added);
    mw_hostfile_list_deinit(&removed);
    mw_hostfile_list_deinit(&names);
    mw_hostfile_hosts_deinit(&ho);
    mw_hostfile_hosts_deinit(&hn);
}

static enum mw_journal_file_kind kind_of_name(const char *base)
{
    if (strcmp(base, "resolv.conf") == 0)
        return MW_JOURNAL_FILE_RESOLV;
    if (strcmp(base, "hosts") == 0)
        return MW_JOURNAL_FILE_HOSTS;
    return MW_JOURNAL_FILE_OTHER;
}

/* An AUTO file's kind after seeing snap: content first, then the name; a file already judged
 * resolv.conf or hosts keeps that kind. */
static void judge(struct watch *w, const struct mw_hostfile_snap *snap)
{
    if (w->forced || w->kind != MW_JOURNAL_FILE_OTHER)
        return;
    switch (mw_hostfile_guess_kind(snap)) {
    case MW_HOSTFILE_RESOLV:
        w->kind = MW_JOURNAL_FILE_RESOLV;
        break;
    case MW_HOSTFILE_HOSTS:
        w->kind = MW_JOURNAL_FILE_HOSTS;
        break;
    default:
        w->kind = kind_of_name(w->base);
        break;
    }
}

static void settle_over(uv_timer_t *t)
{
    struct watch *w = t->data;
    struct mw_hostfile_snap *now = NULL;
    int rc = mw_hostfile_read(w->path, &now);
    if (rc < 0) {
        mw_log_warn("hostwt", "%s: cannot read: %s", w->path, strerror(-rc));
        return;
    }
    if (mw_hostfile_same(w->snap, now)) {
        mw_hostfile_snap_free(now);
        return;
    }
    judge(w, now);
    emit(w, now);
    mw_hostfile_snap_free(w->snap);
    w->snap = now;
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct watch *w = h->data;
    (void)events;
    if (status < 0 || (filename && strcmp(filename, w->base) != 0))
        return;
    uv_timer_start(&w->settle, settle_over, SETTLE_MS, 0);
}

int mw_hostwatch_new(uv_loop_t *loop, char *const *paths, const enum mw_watch_kind *kinds, size_t n,
                     const struct mw_addr *listen, size_t n_listen, struct mw_journal_queue *q,
                     const char *host, struct mw_hostwatch **out)
{
    struct mw_hostwatch *hw = calloc(1, sizeof(*hw));
    if (!hw)
        return -ENOMEM;
    hw->loop = loop;
    hw->q = q;
    snprintf(hw->host, sizeof(hw->host), "%s", host);
    hw->w = calloc(n ? n : 1, sizeof(*hw->w));
    hw->listen = calloc(n_listen ? n_listen : 1, sizeof(*hw->listen));
    if (!hw->w || !hw->listen) {
        free(hw->w);
        free(hw->listen);
        free(hw);
        return -ENOMEM;
    }
    memcpy(hw->listen, listen, n_listen * sizeof(*listen));
    hw->n_listen = n_listen;
    for (size_t i = 0; i < n; i++) {
        struct watch *w = &hw->w[hw->n];
        const char *slash = strrchr(paths[i], '/');
        if (!slash || !(w->path = strdup(paths[i])))
            continue;
        w->hw = hw;
        w->base = w->path + (slash - paths[i]) + 1;
        enum mw_watch_kind k = kinds ? kinds[i] : MW_WATCH_AUTO;
        w->forced = k != MW_WATCH_AUTO;
        w->kind = k == MW_WATCH_RESOLV  ? MW_JOURNAL_FILE_RESOLV
                  : k == MW_WATCH_HOSTS ? MW_JOURNAL_FILE_HOSTS
                                        : MW_JOURNAL_FILE_OTHER;
        if (mw_hostfile_read(w->path, &w->snap) < 0)
            w->snap = NULL;
        judge(w, w->snap);
        char *dir = strndup(paths[i], (size_t)(slash - paths[i]));
        uv_fs_event_init(loop, &w->ev);
        uv_timer_init(loop, &w->settle);
        w->ev.data = w->settle.data = w;
        hw->open += 2;
        hw->n++;
        if (!dir || uv_fs_event_start(&w->ev, on_event, *dir ? dir : "/", 0) < 0)
            mw_log_warn("hostwt", "%s: cannot watch for changes", w->path);
        free(dir);
    }
    *out = hw;
    return 0;
}

static void closed(uv_handle_t *h)
{
    struct watch *w = h->data;
    struct mw_hostwatch *hw = w->hw;
    if (--hw->open)
        return;
    for (size_t i = 0; i < hw->n; i++) {
        mw_hostfile_snap_free(hw->w[i].snap);
        free(hw->w[i].path);
    }
    free(hw->w);
    free(hw->listen);
    free(hw);
}

void mw_hostwatch_close(struct mw_hostwatch *hw)
{
    if (!hw)
        return;
    if (hw->n == 0) {
        free(hw->w);
        free(hw->listen);
        free(hw);
        return;
    }
    for (size_t i = 0; i < hw->n; i++) {
        uv_close((uv_handle_t *)&hw->w[i].ev, closed);
        uv_close((uv_handle_t *)&hw->w[i].settle, closed);
    }
}

uint64_t mw_hostwatch_events(const struct mw_hostwatch *hw)
{
    return hw ? hw->events : 0;
}
