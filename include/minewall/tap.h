/* dnstap output (`dnstap:` in the config): the I/O shell around dnstap.c's encoder. The
 * workers encode each message on their own thread into a batch of frames (16 KiB) and hand
 * each full batch, and once a second the partial one, to libfstrm's I/O thread (fstrm_iothr)
 * through a queue of their own (single producer, bounded by dnstap.queue-size batches); that
 * thread writes Frame Streams to a reader on a UNIX socket or a TCP address (content type
 * protobuf:dnstap.Dnstap, bidirectional handshake), and reconnects every RECONNECT_S seconds
 * while there is none. A frame reaches the reader within about three seconds.
 *
 * Never a stall: a full queue drops the batch on the worker (counted as queue_full); frames
 * the I/O thread takes while no reader is connected are discarded (counted as no_reader);
 * a reader that accepts no data for WRITE_TIMEOUT_S seconds is dropped and reconnected. The
 * I/O thread's socket is our own fstrm_rdwr (tap.c), which is how those counts are known.
 *
 * Messages: CLIENT_QUERY when a client's query parsed, CLIENT_RESPONSE for each answer sent
 * (a blocked query's carries the verdict as JSON in Dnstap.extra, see dnstap.h), and
 * FORWARDER_QUERY / FORWARDER_RESPONSE for each query sent to an upstream and each response
 * accepted from one. Responses carry their query's time too (query_time), and forwarder
 * frames minewall's socket as the query side. The frames of one turn of a worker's loop
 * share one clock reading, taken by the first (kept in w->tap_now, cleared before each poll):
 * every message a turn handles was waiting when the poll returned, so under load one reading
 * serves a batch of queries and responses, and a frame's time is that of the wakeup that saw
 * its message (earlier than the moment it was framed by at most the turn's work before it).
 * An answer sent in the callback its query arrived in (a cache hit, local data, an error; not a
 * block, whose frame carries extra) is framed from its CLIENT_QUERY's encoded fields while that is
 * the worker's last frame (mw_dnstap_encode_pre), its response_time equal to its query_time; the
 * forwarder frames' fields are encoded once per socket and upstream. Settings are read at start; a
 * reload keeps them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_config;
struct mw_reply;
struct mw_tap;
struct mw_verdict;
struct mw_worker;
struct sockaddr;

/* Start the output for cfg->dnstap (enabled) with one queue per worker (n_workers); host is
 * the default identity. The I/O thread starts at once and connects in the background (no
 * reader yet is not an error). Returns 0 with *out set, or a negative errno with why filled. */
int mw_tap_new(const struct mw_config *cfg, const char *host, unsigned n_workers,
               struct mw_tap **out, char *why, size_t why_len);
/* Flush what is queued (to a connected reader), stop the I/O thread and free. Call after the
 * workers have stopped. NULL is a no-op. */
void mw_tap_free(struct mw_tap *t);

struct mw_tap_stats {
    uint64_t sent;       /* frames written to a reader */
    uint64_t queue_full; /* frames dropped on a worker: its queue was full */
    uint64_t no_reader;  /* frames discarded by the I/O thread: no reader connected */
    uint64_t connects;   /* successful connections (the first and every reconnect) */
    bool connected;
};
/* Thread-safe snapshot of the counters (each read on its own, not as one instant). */
void mw_tap_stats(const struct mw_tap *t, struct mw_tap_stats *out);
/* Where the frames go, for logs and /status ("unix:PATH" or "tcp:ADDR:PORT"). */
const char *mw_tap_target(const struct mw_tap *t);

/* ---- the hooks, on a worker's thread; each does nothing when w's snapshot has no dnstap
 * output or the message type is switched off. The message bytes are borrowed for the call. */

/* A client's query (to says who and how it came) once it parsed. Also notes when it arrived
 * in to (tap_qsec, tap_qnsec; a waiter's copy of *to keeps it), so that the CLIENT_RESPONSE
 * carries it as query_time. */
void mw_tap_client_query(struct mw_worker *w, struct mw_reply *to, const uint8_t *pkt, size_t len);
/* The answer sent to a client; v is the verdict of a blocked query (NULL otherwise) and group
 * the name of the client's group. Its query_time is to's tap_qsec and tap_qnsec (left out
 * when not taken). */
void mw_tap_client_response(struct mw_worker *w, const struct mw_reply *to, const uint8_t *pkt,
                            size_t len, const struct mw_verdict *v, const char *group);
/* Hand the frames w has batched to the I/O thread (the worker calls it once a second; a
 * batch also goes as soon as the next frame does not fit in it). */
void mw_tap_flush(struct mw_worker *w);
/* A query sent to an upstream, and a response accepted from one (wire, as sent and as
 * received). local is the address of minewall's socket (getsockname; NULL: unknown): the
 * frame's query_address/port, with a wildcard address replaced by the source address the
 * route to upstream gives (looked up once per upstream per worker); upstream is the
 * response_address/port. The query's hook returns when it was sent (an opaque stamp; 0 when
 * no FORWARDER_* message is written) for the caller to hand to the response's hook as sent:
 * the response's query_time, as Unbound writes it. */
uint64_t mw_tap_forwarder_query(struct mw_worker *w, const struct sockaddr *upstream,
                                const struct sockaddr *local, bool tcp, const uint8_t *pkt,
                                size_t len);
void mw_tap_forwarder_response(struct mw_worker *w, const struct sockaddr *upstream,
                               const struct sockaddr *local, bool tcp, const uint8_t *pkt,
                               size_t len, uint64_t sent);
