/* minewall-ctl: the command line of the control API (control.h). It turns its arguments into
 * one request line, sends it over the UNIX socket (or over HTTP with a bearer token), prints
 * the answer and exits 0 (done), 1 (minewall refused or the action failed) or 2 (usage, or no
 * answer: cannot connect, timeout, garbled reply). Blocking I/O with a deadline: one request,
 * one answer. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "minewall/control.h"

#define ANSWER_MAX (4u << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: minewall-ctl [--socket PATH | --url URL --token-file PATH] [--json]\n"
            "                    [--timeout SECONDS] COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  status                          counters, pause state, top clients and names\n"
            "  pause [--group G] [--for DUR]   stop blocking (what would be blocked is logged\n"
            "                                  with \"paused\":true); resumes by itself after\n"
            "                                  DUR (30s, 5m, 1h30m; default 5m, at most 24h)\n"
            "  resume [--group G]              block again now\n"
            "  flush NAME | flush --all        remove a name (or everything) from the caches\n"
            "  reload                          as SIGHUP; waits for the outcome\n"
            "  lists                           each list: name, origin, entries, category,\n"
            "                                  action, stale\n"
            "  top-clients [-n N]              the most active clients (space-saving counts)\n"
            "  top-names [-n N]                the most asked names\n"
            "  explain NAME [--client ADDR [--listener ADDR[:PORT]]]\n"
            "                                  what the running lists say about NAME (for\n"
            "                                  ADDR's group; --listener: the query's arrival\n"
            "                                  address, for groups bound to listeners)\n"
            "\n"
            "--group G names a group of the config's groups: (or default).\n"
            "options:\n"
            "  --socket PATH      the control socket (default %s)\n"
            "  --url URL          http://HOST:PORT of the metrics server instead of the socket\n"
            "  --token-file PATH  the bearer token for --url (control.token-file)\n"
            "  --json             answers as JSON for scripts\n"
            "  --timeout SECONDS  wait at most this long for the answer (default 60)\n"
            "exit codes: 0 done, 1 minewall refused or the action failed, 2 usage or no answer\n",
            MW_CONTROL_SOCKET_DEFAULT);
}

static void set_timeouts(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int send_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Everything until EOF, NUL-terminated; NULL on error or past ANSWER_MAX. */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n + 1 == cap) {
            char *nb = cap < ANSWER_MAX ? realloc(b, cap * 2) : NULL;
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, b + n, cap - 1 - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(b);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (b) {
        b[n] = 0;
        *len = n;
    }
    return b;
}

/* The UNIX socket: "LINE\n" out, "STATUS\nBODY" back. */
static int via_socket(const char *path, const char *line, int timeout, int *status, char **body)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path)) {
        fprintf(stderr, "minewall-ctl: %s: path too long\n", path);
        return -1;
    }
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        fprintf(stderr, "minewall-ctl: cannot connect to %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    set_timeouts(fd, timeout);
    size_t n = strlen(line);
    char *req = malloc(n + 2);
    if (!req) {
        close(fd);
        return -1;
    }
    memcpy(req, line, n);
    req[n] = '\n';
    int rc = send_all(fd, req, n + 1);
    free(req);
    size_t len = 0;
    char *ans = rc == 0 ? read_all(fd, &len) : NULL;
    close(fd);
    char *nl = ans ? strchr(ans, '\n') : NULL;
    if (!nl || sscanf(ans, "%d", status) != 1) {
        fprintf(stderr, "minewall-ctl: %s: no valid answer (%s)\n", path,
                ans ? "garbled" : strerror(errno));
        free(ans);
        return -1;
    }
    memmove(ans, nl + 1, len - (size_t)(nl + 1 - ans) + 1);
    *body = ans;
    return 0;
}

static int read_token(const char *path, char *tok, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "minewall-ctl: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = fread(tok, 1, cap - 1, f);
    fclose(f);
    while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        n--;
    tok[n] = 0;
    if (!n) {
        fprintf(stderr, "minewall-ctl: %s: empty token\n", path);
        return -1;
    }
    return 0;
}

/* HTTP/1.1 GET /control/LINE with the bearer token (POST for a command that changes state);
 * "http://HOST:PORT" only (no TLS: put the metrics server on loopback or behind a proxy). */
static int via_http(const char *url, const char *token_file, const char *line, int timeout,
                    int *status, char **body)
{
    char tok[600], host[300], port[16] = "80";
    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "minewall-ctl: --url: expected http://HOST:PORT, got '%s'\n", url);
        return -2;
    }
    const char *h = url + 7, *end = h + strcspn(h, "/");
    const char *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb) {
            fprintf(stderr, "minewall-ctl: --url: bad IPv6 address in '%s'\n", url);
            return -2;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(rb - h - 1), h + 1);
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        snprintf(host, sizeof(host), "%.*s", (int)((colon ? colon : end) - h), h);
    }
    if (colon)
        snprintf(port, sizeof(port), "%.*s", (int)(end - colon - 1), colon + 1);
    if (read_token(token_file, tok, sizeof(tok)) < 0)
        return -2;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "minewall-ctl: %s: %s\n", url, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        fprintf(stderr, "minewall-ctl: cannot connect to %s: %s\n", url, strerror(errno));
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(ai);
    set_timeouts(fd, timeout);
    struct mw_control_req parsed;
    char why[256];
    bool post =
        mw_control_parse(line, strlen(line), &parsed, why, sizeof(why)) == 0 && parsed.changes;
    size_t cap = strlen(line) + strlen(host) + strlen(tok) + 200;
    char *req = malloc(cap);
    if (!req) {
        close(fd);
        return -1;
    }
    int n = snprintf(req, cap,
                     "%s /control/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                     "%sConnection: close\r\n\r\n",
                     post ? "POST" : "GET", line, host, tok, post ? "Content-Length: 0\r\n" : "");
    memset(tok, 0, sizeof(tok));
    int rc = send_all(fd, req, (size_t)n);
    free(req);
    size_t len = 0;
    char *ans = rc == 0 ? read_all(fd, &len) : NULL;
    close(fd);
    char *sep = ans ? strstr(ans, "\r\n\r\n") : NULL;
    if (!sep || sscanf(ans, "HTTP/1.%*d %d", status) != 1) {
        fprintf(stderr, "minewall-ctl: %s: no valid answer\n", url);
        free(ans);
        return -1;
    }
    memmove(ans, sep + 4, len - (size_t)(sep + 4 - ans) + 1);
    *body = ans;
    return 0;
}

int main(int argc, char **argv)
{
    const char *sock = MW_CONTROL_SOCKET_DEFAULT, *url = NULL, *token_file = NULL;
    bool json = false;
    int timeout = 60;
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},     {"url", required_argument, NULL, 'u'},
        {"token-file", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 'T'},    {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},          {NULL, 0, NULL, 0},
    };
    int c;
    /* "+": options end at the command, whose own options (--for, --all) follow it. */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sock = optarg;
            break;
        case 'u':
            url = optarg;
            break;
        case 't':
            token_file = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'T':
            timeout = atoi(optarg);
            if (timeout < 1 || timeout > 3600) {
                fprintf(stderr, "minewall-ctl: --timeout: 1 to 3600 seconds\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("minewall-ctl %s\n", MW_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    if (url && !token_file) {
        fprintf(stderr, "minewall-ctl: --url needs --token-file\n");
        return 2;
    }
    char line[MW_CONTROL_REQ_MAX], why[256];
    if (mw_control_argv_line(argc - optind, argv + optind, json, line, sizeof(line), why,
                             sizeof(why)) < 0) {
        fprintf(stderr, "minewall-ctl: %s\n", why);
        return 2;
    }
    int status = 0;
    char *body = NULL;
    int rc = url ? via_http(url, token_file, line, timeout, &status, &body)
                 : via_socket(sock, line, timeout, &status, &body);
    if (rc < 0)
        return 2;
    bool ok = status >= 200 && status < 300;
    fputs(body, ok || json ? stdout : stderr);
    free(body);
    return ok ? 0 : 1;
}
