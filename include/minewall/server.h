/* The control side of minewall: owns the main loop, the signals, the current snapshot and the
 * workers. It loads the config (with command-line overrides and the resolv.conf fallback),
 * starts one worker per `threads`, reloads on SIGHUP (a config that fails keeps the running
 * one) and stops on SIGTERM/SIGINT. The only module that knows every subsystem. */
#pragma once

#include <stddef.h>

#include "minewall/netaddr.h"

struct mw_config;
struct mw_errlist;

/* What the command line says beyond the config file. */
struct mw_overrides {
    const char *config_path; /* NULL: built-in defaults */
    struct mw_addr *listen;  /* borrowed; n_listen == 0 keeps the config's */
    size_t n_listen;
    struct mw_addr *upstreams; /* borrowed; n_upstreams == 0 keeps the config's */
    size_t n_upstreams;
    const struct mw_tls_upstream *tls_ups; /* borrowed; the tls:// and https:// ones of them */
    size_t n_tls_ups;
    const char *resolv_conf; /* file for the upstream fallback */
    const char *user;        /* --user: replaces the config's user (NULL keeps it) */
};

/* Load the config as the server would run it: file (or defaults), overrides, and upstreams
 * from resolv.conf when none are left. Errors go to errs; returns NULL on any. */
struct mw_config *mw_server_load_config(const struct mw_overrides *o, struct mw_errlist *errs);

/* Run until SIGTERM/SIGINT. Returns the process exit code (0 after a clean stop). */
int mw_server_run(const struct mw_overrides *o);
