/* Privilege drop and sd_notify; see privdrop.h. Runs once on the control thread before the
 * worker threads start, so every thread runs with the dropped credentials. */
#include "minewall/privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "minewall/config.h"
#include "minewall/control.h"
#include "minewall/error.h"
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
            /* The control socket too: operators in the account's group may use it (0660). */
            const char *own[] = {
                cfg->redis.state_dir,
                cfg->blocks_log,
                cfg->querylog.path,
                cfg->journal.path,
                cfg->control.socket ? cfg->control.socket : MW_CONTROL_SOCKET_DEFAULT,
                cfg->detect.new_domains.enabled ? cfg->detect.new_domains.state_dir : NULL};
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

/* Collects what check_all() finds: fatal problems stop minewall at start, the others are
 * warnings (a journal that cannot be written only loses its lines). */
typedef void report_fn(void *arg, bool fatal, const char *msg);

struct checker {
    const struct mw_config *cfg;
    report_fn *report;
    void *arg;
};

/* Can the current effective user read (R_OK: open it) or write (W_OK: open for append, or
 * create it in its directory) path? Returns 0 or a negative errno. Opening rather than
 * access() also catches a directory given where a file belongs. */
static int usable(const char *path, int mode)
{
    if (mode & X_OK) { /* a directory minewall writes into; created on first use */
        if (access(path, mode) == 0)
            return 0;
    } else {
        int fd = open(path, ((mode & W_OK) ? O_WRONLY | O_APPEND : O_RDONLY) | O_CLOEXEC |
                                O_NOCTTY | O_NONBLOCK);
        if (fd >= 0) {
            struct stat st;
            int err = fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) &&
                              !S_ISCHR(st.st_mode)
                          ? -EISDIR
                          : 0;
            close(fd);
            return err;
        }
    }
    int err = errno;
    if (err == ENOENT && (mode & W_OK)) { /* created on first write: the directory decides */
        char dir[4096];
        dir_of(path, dir, sizeof(dir));
        if (access(dir, W_OK | X_OK) == 0)
            return 0;
        err = errno;
    }
    return -err;
}

/* A watched file may be missing (its directory is watched, so it is seen when it appears);
 * the directory must be searchable and, when the file exists, the file readable. */
static int watchable(const char *path)
{
    int err = usable(path, R_OK);
    if (err != -ENOENT)
        return err;
    char dir[4096];
    dir_of(path, dir, sizeof(dir));
    return access(dir, R_OK | X_OK) == 0 ? 0 : -errno;
}

/* lost: what a warning costs (NULL for a fatal problem). */
static void report_err(const struct checker *k, int err, const char *path, int line, int mode,
                       const char *what, const char *lost)
{
    char msg[4600];
    char where[4200];
    if (line > 0)
        snprintf(where, sizeof(where), "%s:%d: ", k->cfg->path ? k->cfg->path : "<default>", line);
    else
        snprintf(where, sizeof(where), "%s: ", k->cfg->path ? k->cfg->path : "<default>");
    snprintf(msg, sizeof(msg), "%s%s %s is not %s by uid %u: %s%s%s%s", where, what, path,
             (mode & W_OK) ? "writable" : "readable", (unsigned)geteuid(), strerror(-err),
             lost ? " (warning: " : "", lost ? lost : "", lost ? ")" : "");
    k->report(k->arg, !lost, msg);
}

static void need(const struct checker *k, const char *path, int line, int mode, const char *what,
                 const char *lost)
{
    int err = path ? usable(path, mode) : 0;
    if (err != 0)
        report_err(k, err, path, line, mode, what, lost);
}

/* Every file the config names, checked as the current effective user. */
static void check_all(const struct checker *k)
{
    const struct mw_config *cfg = k->cfg;
    for (size_t i = 0; i < cfg->n_lists; i++)
        if (cfg->lists[i].enabled)
            need(k, cfg->lists[i].path,
                 cfg->lists[i].path_line ? cfg->lists[i].path_line : cfg->lists[i].line, R_OK,
                 "list file", NULL);
    need(k, cfg->geoip.asn, cfg->lines.geoip_asn, R_OK, "geoip database", NULL);
    need(k, cfg->geoip.country, cfg->lines.geoip_country, R_OK, "geoip database", NULL);
    if (cfg->journal.geo_asn && (!cfg->geoip.asn || strcmp(cfg->journal.geo_asn, cfg->geoip.asn)))
        need(k, cfg->journal.geo_asn, cfg->lines.journal_geo_asn, R_OK, "journal geoip database",
             NULL);
    if (cfg->journal.geo_country &&
        (!cfg->geoip.country || strcmp(cfg->journal.geo_country, cfg->geoip.country)))
        need(k, cfg->journal.geo_country, cfg->lines.journal_geo_country, R_OK,
             "journal geoip database", NULL);
    need(k, cfg->blocks_log, cfg->lines.blocks_log, W_OK, "block log", NULL);
    need(k, cfg->querylog.path, cfg->lines.query_log, W_OK, "query log", NULL);
    if (cfg->tls.n_ups)
        need(k, cfg->tls.ca_file, cfg->lines.tls_ca_file, R_OK, "tls ca-file", NULL);
    if (cfg->tls.n_ups) /* read again on each host name's TTL, after the drop */
        need(k, cfg->tls.hosts_file, cfg->lines.tls_hosts_file, R_OK, "tls hosts-file",
             "host names in upstreams would be asked of the plain upstreams only");
    /* The journal is not worth refusing to resolve for: its lines are counted as lost. */
    need(k, cfg->journal.path, cfg->lines.journal_path, W_OK, "journal",
         "journal lines would be lost");
    for (size_t i = 0; i < cfg->journal.n_watch; i++) {
        int err = cfg->journal.path ? watchable(cfg->journal.watch[i]) : 0;
        if (err != 0)
            report_err(k, err, cfg->journal.watch[i], cfg->lines.journal_watch, R_OK,
                       "watched file", "changes to it would not be seen");
    }
    if (cfg->redis.url && !cfg->redis.all && cfg->redis.n_lists == 0) {
        /* Not a file, but a setting that looks like fleet sync and syncs nothing. */
        char msg[4200];
        snprintf(msg, sizeof(msg),
                 "%s: redis.url is set but redis.lists names no list (warning: no list is "
                 "synced from Redis; lists: [\"*\"] follows every published list)",
                 cfg->path ? cfg->path : "<default>");
        k->report(k->arg, false, msg);
    }
    if (cfg->redis.url)
        need(k, cfg->redis.state_dir, cfg->lines.state_dir, W_OK | X_OK, "redis state directory",
             NULL);
    if (cfg->detect.new_domains.enabled)
        need(k, cfg->detect.new_domains.state_dir, cfg->detect.new_domains.state_dir_line,
             W_OK | X_OK, "new-domains state directory", NULL);
}

struct first_fatal {
    char *why;
    size_t why_len;
    int n;
};

static void keep_first(void *arg, bool fatal, const char *msg)
{
    struct first_fatal *f = arg;
    if (!fatal) {
        mw_log_warn("server", "%s", msg);
        return;
    }
    if (f->n++ == 0)
        snprintf(f->why, f->why_len, "%s", msg);
}

int mw_privdrop_check_files(const struct mw_config *cfg, char *why, size_t why_len)
{
    struct first_fatal f = {.why = why, .why_len = why_len};
    struct checker k = {.cfg = cfg, .report = keep_first, .arg = &f};
    check_all(&k);
    return f.n ? -EACCES : 0;
}

/* ---- --check-config: the same checks as the account minewall will run as ---- */

struct to_errs {
    struct mw_errlist *errs;
    size_t *n_fatal;
};

static void add_err(void *arg, bool fatal, const char *msg)
{
    struct to_errs *t = arg;
    mw_errlist_add(t->errs, "%s", msg);
    if (fatal)
        (*t->n_fatal)++;
}

/* Child side: one line per problem on fd, "F" or "W" first (fatal or warning). */
static void to_pipe(void *arg, bool fatal, const char *msg)
{
    int fd = *(int *)arg;
    char line[4700];
    int n = snprintf(line, sizeof(line), "%c%s\n", fatal ? 'F' : 'W', msg);
    if (n > 0 && write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
        _exit(3);
}

/* Runs check_all() in a child that has become pw (the parent keeps root: --check-config may
 * run before minewall starts, as root, and must not drop its own credentials). */
static int check_as(const struct mw_config *cfg, const struct passwd *pw, struct to_errs *t)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -errno;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int err = -errno;
        close(p[0]);
        close(p[1]);
        return err;
    }
    if (pid == 0) {
        close(p[0]);
        char why[512];
        if (become(pw, why, sizeof(why)) < 0) {
            to_pipe(&p[1], true, why);
            _exit(1);
        }
        struct checker k = {.cfg = cfg, .report = to_pipe, .arg = &p[1]};
        check_all(&k);
        _exit(0);
    }
    close(p[1]);
    /* Bounded: at most 64 KiB of messages (a config names far fewer files than that). */
    static char buf[65536];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 &&
           ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0)
            len += (size_t)n;
    close(p[0]);
    buf[len] = '\0';
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    for (char *line = buf, *nl; *line; line = nl + 1) {
        if (!(nl = strchr(line, '\n')))
            break;
        *nl = '\0';
        add_err(t, line[0] == 'F', line + 1);
    }
    if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && *t->n_fatal == 0)) {
        mw_errlist_add(t->errs, "%s: checking files as user %s failed", cfg->path, pw->pw_name);
        (*t->n_fatal)++;
    }
    return 0;
}

size_t mw_privdrop_check_config(const struct mw_config *cfg, struct mw_errlist *errs)
{
    size_t n_fatal = 0;
    struct to_errs t = {.errs = errs, .n_fatal = &n_fatal};
    const char *path = cfg->path ? cfg->path : "<default>";
    if (geteuid() == 0) {
        const char *name = cfg->user ? cfg->user : DEFAULT_USER;
        struct passwd *pw = strcmp(name, "root") == 0 ? NULL : getpwnam(name);
        if (strcmp(name, "root") == 0) {
            struct checker k = {.cfg = cfg, .report = add_err, .arg = &t};
            check_all(&k);
        } else if (!pw) {
            mw_errlist_add(errs,
                           cfg->user ? "%s: user '%s' does not exist"
                                     : "%s: minewall would refuse to run as root: create the "
                                       "'%s' account or set 'user: root'",
                           path, name);
            n_fatal++;
        } else {
            struct passwd copy = *pw; /* getpwnam's storage is static: keep what become() reads */
            int rc = check_as(cfg, &copy, &t);
            if (rc < 0) {
                mw_errlist_add(errs, "%s: cannot check files as user %s: %s", path, name,
                               strerror(-rc));
                n_fatal++;
            }
        }
    } else {
        if (cfg->user && strcmp(cfg->user, "root") != 0) {
            struct passwd *pw = getpwnam(cfg->user);
            if (!pw || pw->pw_uid != geteuid()) {
                mw_errlist_add(errs, "%s: not root, so minewall could not switch to user '%s'",
                               path, cfg->user);
                n_fatal++;
            }
        }
        struct checker k = {.cfg = cfg, .report = add_err, .arg = &t};
        check_all(&k);
    }
    return n_fatal;
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
