/* Watches the host's resolver configuration and hosts files and journals every change as a
 * host_config_change (see hostwatch.c). Runs on the control loop. */
#pragma once

#include "minewall/config.h" /* enum mw_watch_kind */

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct mw_addr;
struct mw_journal_queue;
struct mw_hostwatch;

/* Snapshot every path (absolute) now and watch it. kinds (n entries, or NULL: all AUTO) say
 * what each file is; an AUTO file is judged by its content (mw_hostfile_guess_kind), then by
 * its base name (resolv.conf, hosts), and once judged resolv.conf or hosts it stays so (lines
 * of junk appended by an attacker do not turn off resolver_bypass). listen are minewall's own
 * addresses, for the resolver_bypass decision (copied). Events are pushed into q (borrowed; must
 * outlive the watch) and name host (copied). Returns 0 or -ENOMEM; a file that cannot be
 * watched is logged and skipped. */
int mw_hostwatch_new(uv_loop_t *loop, char *const *paths, const enum mw_watch_kind *kinds, size_t n,
                     const struct mw_addr *listen, size_t n_listen, struct mw_journal_queue *q,
                     const char *host, struct mw_hostwatch **out);
/* Close asynchronously (frees itself once its handles are closed). NULL is a no-op. */
void mw_hostwatch_close(struct mw_hostwatch *hw);
uint64_t mw_hostwatch_events(const struct mw_hostwatch *hw);
