/* Privilege drop and sd_notify; see privdrop.h. Runs once on the control thread before the
 * worker threads start, so every thread runs with the dropped credentials. */
#include "minewall/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <stdlib.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "minewall/config.h"
#include "minewall/log.h"

#define DEFAULT_USER "minewall"

static int become(const struct passwd *pw, char *why, size_t why_len)
{
    if (setgroups(1, &pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        int err = errno;
        snprintf(why, why_len, "cannot switch to user '%s': %s", pw->pw_name, strerror(err));
        return -err;
    }
    /* setuid() can fail to drop all ids in odd setups: verify instead of trusting it. */
    if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getgid() != pw->pw_gid ||
        getegid() != pw->pw_gid || (pw->pw_uid != 0 && setuid(0) == 0)) {
        snprintf(why, why_len, "switching to user '%s' did not drop root", pw->pw_name);
        return -EPERM;
    }
    return 0;
}

int mw_privdrop(const struct mw_config *cfg, char *why, size_t why_len)
{
    int rc = 0;
    if (geteuid() == 0) {
        const char *name = cfg->user ? cfg->user : DEFAULT_USER;
        if (strcmp(name, "root") == 0) {
            mw_log_warn("server", "running as root (user: root in the configuration)");
        } else {
            struct passwd *pw = getpwnam(name);
            if (!pw) {
                snprintf(why, why_len,
                         cfg->user ? "user '%s' does not exist"
                                   : "refusing to run as root: create the '%s' account or set "
                                     "'user: root' in the configuration",
                         name);
                return -ENOENT;
            }
            /* What minewall created as root and must keep writing after the drop. */
            const char *own[] = {cfg->redis.state_dir, cfg->blocks_log, cfg->journal.path};
            for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
                if (own[i] && chown(own[i], pw->pw_uid, pw->pw_gid) != 0 && errno != ENOENT)
                    mw_log_warn("server", "%s: cannot hand over to %s: %s", own[i], name,
                                strerror(errno));
            if ((rc = become(pw, why, why_len)) < 0)
                return rc;
            mw_log_info("server", "running as user %s (uid %u)", name, (unsigned)pw->pw_uid);
        }
    } else if (cfg->user && strcmp(cfg->user, "root") != 0) {
        struct passwd *pw = getpwnam(cfg->user);
        if (!pw || pw->pw_uid != geteuid()) {
            snprintf(why, why_len, "not root, so cannot switch to user '%s'", cfg->user);
            return -EPERM;
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(why, why_len, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

/* The directory part of path ("." when none). */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

static int need(const char *path, int mode, const char *what, char *why, size_t why_len)
{
    if (!path || access(path, mode) == 0)
        return 0;
    int err = errno;
    if (err == ENOENT && (mode & W_OK)) { /* created on first write: the directory decides */
        char dir[4096];
        dir_of(path, dir, sizeof(dir));
        if (access(dir, W_OK | X_OK) == 0)
            return 0;
        err = errno;
    }
    snprintf(why, why_len, "%s %s is not %s by uid %u: %s", what, path,
             (mode & W_OK) ? "writable" : "readable", (unsigned)geteuid(), strerror(err));
    return -err;
}

int mw_privdrop_check_files(const struct mw_config *cfg, char *why, size_t why_len)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < cfg->n_lists; i++)
        if (cfg->lists[i].enabled)
            rc = need(cfg->lists[i].path, R_OK, "list file", why, why_len);
    if (rc == 0)
        rc = need(cfg->geoip.asn, R_OK, "geoip database", why, why_len);
    if (rc == 0)
        rc = need(cfg->geoip.country, R_OK, "geoip database", why, why_len);
    if (rc == 0)
        rc = need(cfg->blocks_log, W_OK, "block log", why, why_len);
    /* The journal is not worth refusing to resolve for: its lines are counted as lost. */
    char jwhy[512];
    if (rc == 0 && need(cfg->journal.path, W_OK, "journal", jwhy, sizeof(jwhy)) < 0)
        mw_log_warn("server", "%s: journal events will be counted as lost", jwhy);
    if (rc == 0 && cfg->redis.url)
        rc = need(cfg->redis.state_dir, W_OK | X_OK, "redis state directory", why, why_len);
    return rc;
}

int mw_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = 0; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, sl);
    int err = n < 0 ? -errno : 0;
    close(fd);
    return err;
}
