/* The query log writer: one ring of records per worker (querylog.h), drained by a thread of
 * its own that formats the records as JSON lines and appends them to the log file in pieces
 * that end on a multiple of 256 KiB of the file (one write(2) each; a piece that has not
 * filled within 250 ms is written as it is). Workers copy a variable-length record into their
 * ring and never wait: a full ring drops the record and counts it. The thread wakes every
 * 50 ms, when a ring holds 64 KiB of records (or is half full), and at once when asked to
 * reopen or stop; it reopens the file (log rotation) on request, and on free it writes
 * everything still queued before it exits. Lines that cannot be written (file not open, write
 * error) are counted as lost. Drop-behind: each MiB of a regular file is written back once
 * it fills and dropped from the page cache two MiB later, so the log keeps about 3 MiB of it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct mw_qlogw;
struct mw_querylog_note;
struct mw_http_response;

struct mw_qlogw_stats {
    uint64_t written; /* lines written to the file */
    uint64_t dropped; /* records refused by a full ring (log.queue) */
    uint64_t lost;    /* lines not written: file not open, write error */
};

/* Open path (append, create 0640) and start the writer thread with n_rings rings (one per
 * worker) of at least queue records each, logging one answer in every sample. Returns 0, the
 * negative errno of open(2) (nothing is started then), or -ENOMEM. */
int mw_qlogw_new(const char *path, unsigned n_rings, uint32_t queue, uint32_t sample,
                 struct mw_qlogw **out);
/* A (re)loaded config: a different path is opened by the writer (the old file stays open
 * when that fails), the sampling rate applies from now on. Control thread. */
void mw_qlogw_configure(struct mw_qlogw *q, const char *path, uint32_t sample);
/* Reopen the file at the same path (log rotation, SIGHUP); done by the writer thread. */
void mw_qlogw_reopen(struct mw_qlogw *q);

/* Worker `ring` (its index, < n_rings) sent the reply pkt[0..len) to client: keep a record
 * of it when sampling picks it. Copies only; never blocks, never calls back. */
void mw_qlogw_put(struct mw_qlogw *q, unsigned ring, const struct mw_querylog_note *n,
                  const char *group, const struct sockaddr *client, bool tcp, uint16_t qtype,
                  const uint8_t *pkt, size_t len, uint64_t now_ms);

void mw_qlogw_stats(struct mw_qlogw *q, struct mw_qlogw_stats *out);
/* Append the query log's counters to a /metrics page. NULL: nothing. */
void mw_qlogw_metrics(struct mw_qlogw *q, struct mw_http_response *r);
/* Write what is queued, stop the thread and free. The workers must be stopped. NULL: no-op. */
void mw_qlogw_free(struct mw_qlogw *q);
