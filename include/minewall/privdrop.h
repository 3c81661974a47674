/* Leaving root after the sockets are bound, and telling systemd how things stand. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct mw_config;
struct mw_errlist;

/* When running as root: switch to cfg->user, or to the "minewall" account when no user is
 * configured and it exists; refuse (error) to keep root unless `user: root` is explicit.
 * setgroups/setgid/setuid are checked and PR_SET_NO_NEW_PRIVS is set either way. Not root:
 * nothing to drop (a configured user must then be the current one). On failure writes the
 * reason into why and returns a negative errno. */
int mw_privdrop(const struct mw_config *cfg, char *why, size_t why_len);

/* After the drop: every file minewall still has to read (lists, geo databases) or write (block
 * log, journal, state directory) must be usable now. Fills why with the first problem. */
int mw_privdrop_check_files(const struct mw_config *cfg, char *why, size_t why_len);

/* --check-config: the same checks as the account minewall will run as (cfg->user, else the
 * "minewall" account; run as root, they are made in a forked child that switched to it, so
 * the caller keeps its credentials). Every problem is added to errs as "FILE:LINE: ..."
 * naming the config line of the file (journal problems marked as warnings). Returns how many
 * problems would stop minewall from starting. */
size_t mw_privdrop_check_config(const struct mw_config *cfg, struct mw_errlist *errs);

/* sd_notify(3) without libsystemd: send state ("READY=1", "RELOADING=1", "STOPPING=1") to
 * $NOTIFY_SOCKET when set. Returns 0 (also when not under systemd) or a negative errno. */
int mw_sd_notify(const char *state);
