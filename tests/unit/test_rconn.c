/* Tests for rconn.c (the URL parser has test_redisurl.c): the connection against a real
 * redis-server started by each test on a free loopback port: round trips, AUTH (good and wrong
 * password), SELECT, redis killed and restarted, redis stopped (PING timeout), close while
 * connecting and while up. Every wait is bounded; every loop test ends with
 * uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "minewall/log.h"
#include "minewall/rconn.h"

/* ---- a real redis-server ---- */

struct redis {
    pid_t pid;
    int port;
    char pass[32];
    bool stopped;
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static bool can_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static void redis_start(struct redis *r)
{
    if (!r->port)
        r->port = free_port();
    char port[16];
    snprintf(port, sizeof(port), "%d", r->port);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        const char *av[16] = {"redis-server", "--port",      port, "--bind",
                              "127.0.0.1",    "--save",      "",   "--appendonly",
                              "no",           "--daemonize", "no"};
        int n = 11;
        if (r->pass[0]) {
            av[n++] = "--requirepass";
            av[n++] = r->pass;
        }
        execvp("redis-server", (char *const *)av);
        _exit(127);
    }
    for (int i = 0; i < 500 && !can_connect(r->port); i++)
        msleep(10);
    assert_true(can_connect(r->port));
    r->stopped = false;
}

static void redis_kill(struct redis *r)
{
    if (r->pid <= 0)
        return;
    if (r->stopped)
        kill(r->pid, SIGCONT);
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
}

/* ---- loop fixture ---- */

struct fix {
    uv_loop_t loop;
    uv_timer_t guard; /* keeps UV_RUN_ONCE from blocking forever */
    struct redis redis;
    struct mw_rconn *c;
    int ups, downs, closed;
    char reason[256];
};

static void on_guard(uv_timer_t *t)
{
    (void)t;
}

static void fix_up(void *arg)
{
    struct fix *f = arg;
    f->ups++;
}

static void fix_down(void *arg, const char *reason)
{
    struct fix *f = arg;
    f->downs++;
    snprintf(f->reason, sizeof(f->reason), "%s", reason);
}

static void fix_closed(void *arg)
{
    struct fix *f = arg;
    f->closed++;
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
    uv_timer_start(&f->guard, on_guard, 10, 10);
    *state = f;
    return 0;
}

static void guard_closed(uv_handle_t *h)
{
    (void)h;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    redis_kill(&f->redis);
    free(f);
    return 0;
}

/* Run the loop until *flag >= want or ms pass; returns whether the condition was met. */
static bool run_until(struct fix *f, const int *flag, int want, uint64_t ms)
{
    uv_update_time(&f->loop);
    uint64_t end = uv_now(&f->loop) + ms;
    while (*flag < want && uv_now(&f->loop) < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    return *flag >= want;
}

static void run_for(struct fix *f, uint64_t ms)
{
    static const int never = 0;
    run_until(f, &never, 1, ms);
}

static void make_conn(struct fix *f, const char *url_text, const struct mw_rconn_params *p)
{
    struct mw_redis_url url;
    char why[128];
    assert_int_equal(mw_redis_url_parse(url_text, &url, why, sizeof(why)), 0);
    struct mw_rconn_cbs cbs = {.on_up = fix_up, .on_down = fix_down};
    assert_int_equal(mw_rconn_new(&f->loop, &url, &cbs, f, &f->c), 0);
    if (p)
        assert_int_equal(mw_rconn_set_params(f->c, p), 0);
    assert_int_equal(mw_rconn_start(f->c), 0);
    assert_int_equal(mw_rconn_start(f->c), -EALREADY);
    assert_int_equal(mw_rconn_set_params(f->c, p), -EBUSY);
}

static char *url_of(struct fix *f, const char *pass, int db)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "redis://%s%s%s127.0.0.1:%d/%d", pass ? ":" : "", pass ? pass : "",
             pass ? "@" : "", f->redis.port, db);
    return buf;
}

/* Close the rconn, then the guard, and check the loop has nothing left. */
static void finish(struct fix *f)
{
    if (f->c) {
        assert_int_equal(mw_rconn_close(f->c, fix_closed), 0);
        assert_int_equal(mw_rconn_close(f->c, fix_closed), -EALREADY);
        assert_int_equal(f->closed, 0); /* asynchronous */
        assert_true(run_until(f, &f->closed, 1, 3000));
        f->c = NULL;
    }
    uv_close((uv_handle_t *)&f->guard, guard_closed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* ---- command results ---- */

struct res {
    int calls;
    int nulls;
    int type;
    char str[64];
    long long integer;
};

static void on_res(const struct redisReply *r, void *priv)
{
    struct res *x = priv;
    x->calls++;
    if (!r) {
        x->nulls++;
        return;
    }
    x->type = r->type;
    x->integer = r->integer;
    if (r->str)
        snprintf(x->str, sizeof(x->str), "%.*s", (int)r->len, r->str);
}

/* ---- tests ---- */

static void test_roundtrip(void **state)
{
    struct fix *f = *state;
    redis_start(&f->redis);
    make_conn(f, url_of(f, NULL, 0), NULL);
    struct res early = {0};
    assert_int_equal(mw_rconn_command(f->c, on_res, &early, "PING"), -ENOTCONN);
    assert_true(run_until(f, &f->ups, 1, 3000));
    assert_true(mw_rconn_is_up(f->c));

    struct res set = {0}, get = {0}, bin = {0}, bad = {0};
    assert_int_equal(mw_rconn_command(f->c, on_res, &set, "SET %s %s", "k1", "v 1"), 0);
    assert_int_equal(set.calls, 0); /* never synchronous */
    assert_int_equal(mw_rconn_command(f->c, on_res, &get, "GET %s", "k1"), 0);
    const char *av[] = {"SET", "k2", "a\0b"};
    const size_t al[] = {3, 2, 3};
    assert_int_equal(mw_rconn_command_argv(f->c, NULL, NULL, 3, av, al), 0);
    const char *gv[] = {"STRLEN", "k2"};
    assert_int_equal(mw_rconn_command_argv(f->c, on_res, &bin, 2, gv, NULL), 0);
    /* More arguments than the formatter's stack array (70), an empty one among them: SADD
     * answers how many distinct members it added (k3..k70, 68 of them, and "" once). */
    const char *mv[72];
    char names[70][8];
    mv[0] = "SADD";
    mv[1] = "s1";
    for (int i = 0; i < 70; i++) {
        snprintf(names[i], sizeof(names[i]), "k%d", i < 69 ? i + 3 : 3);
        mv[2 + i] = i == 68 ? "" : names[i];
    }
    struct res many = {0};
    assert_int_equal(mw_rconn_command_argv(f->c, on_res, &many, 72, mv, NULL), 0);
    /* Lengths of one, two and three digits around their bounds: APPEND answers the length. */
    static char big[1001];
    memset(big, 'x', 1000);
    const size_t pieces[] = {9, 1, 89, 1, 900};
    struct res app[5] = {{0}};
    for (int i = 0; i < 5; i++) {
        const char *ap[] = {"APPEND", "k4", big};
        const size_t al4[] = {6, 2, pieces[i]};
        assert_int_equal(mw_rconn_command_argv(f->c, on_res, &app[i], 3, ap, al4), 0);
    }
    assert_int_equal(mw_rconn_command(f->c, on_res, &bad, "NOSUCHCMD"), 0);
    assert_int_equal(mw_rconn_command_argv(f->c, on_res, &bad, 0, av, NULL), -EINVAL);
    assert_true(run_until(f, &bad.calls, 1, 3000));
    assert_int_equal(set.calls, 1);
    assert_int_equal(set.type, REDIS_REPLY_STATUS);
    assert_string_equal(set.str, "OK");
    assert_int_equal(get.type, REDIS_REPLY_STRING);
    assert_string_equal(get.str, "v 1");
    assert_int_equal(bin.type, REDIS_REPLY_INTEGER);
    assert_int_equal(bin.integer, 3);
    assert_int_equal(bad.type, REDIS_REPLY_ERROR);
    assert_int_equal(many.type, REDIS_REPLY_INTEGER);
    assert_int_equal(many.integer, 69);
    assert_true(run_until(f, &app[4].calls, 1, 3000));
    const long long total[] = {9, 10, 99, 100, 1000};
    for (int i = 0; i < 5; i++)
        assert_int_equal(app[i].integer, total[i]);

    /* Liveness PINGs keep the connection up. */
    run_for(f, 1500);
    assert_true(mw_rconn_is_up(f->c));
    assert_int_equal(f->downs, 0);
    struct mw_rconn_stats st;
    mw_rconn_stats(f->c, &st);
    assert_true(st.connects == 1 && st.disconnects == 0 && st.commands == 11 && st.errors == 1);

    /* Close while up with a command in flight: its callback gets its reply or NULL, once. */
    struct res last = {0};
    assert_int_equal(mw_rconn_command(f->c, on_res, &last, "BLPOP nothing 0"), 0);
    finish(f);
    assert_int_equal(last.calls, 1);
    assert_int_equal(last.nulls, 1);
    assert_int_equal(f->ups, 1);
    assert_int_equal(f->downs, 0);
}

static void test_auth(void **state)
{
    struct fix *f = *state;
    snprintf(f->redis.pass, sizeof(f->redis.pass), "s3cret");
    redis_start(&f->redis);
    make_conn(f, url_of(f, "s3cret", 0), NULL);
    assert_true(run_until(f, &f->ups, 1, 3000));
    struct res r = {0};
    assert_int_equal(mw_rconn_command(f->c, on_res, &r, "SET a 1"), 0);
    assert_true(run_until(f, &r.calls, 1, 2000));
    assert_string_equal(r.str, "OK");
    finish(f);
}

static void test_auth_wrong(void **state)
{
    struct fix *f = *state;
    snprintf(f->redis.pass, sizeof(f->redis.pass), "s3cret");
    redis_start(&f->redis);
    make_conn(f, url_of(f, "wrong", 0), NULL);
    /* Attempts at about 0, 100, 300, 700 ms (+-20%): four downs within 1.5 s. */
    assert_true(run_until(f, &f->downs, 4, 1500));
    assert_non_null(strstr(f->reason, "WRONGPASS"));
    assert_int_equal(f->ups, 0);
    assert_false(mw_rconn_is_up(f->c));
    finish(f);
}

static void test_noauth(void **state)
{
    struct fix *f = *state;
    snprintf(f->redis.pass, sizeof(f->redis.pass), "s3cret");
    redis_start(&f->redis);
    make_conn(f, url_of(f, NULL, 0), NULL);
    assert_true(run_until(f, &f->downs, 1, 1500));
    assert_non_null(strstr(f->reason, "NOAUTH"));
    assert_int_equal(f->ups, 0);
    finish(f);
}

static void test_select(void **state)
{
    struct fix *f = *state;
    redis_start(&f->redis);
    make_conn(f, url_of(f, NULL, 5), NULL);
    assert_true(run_until(f, &f->ups, 1, 3000));
    struct res s = {0};
    assert_int_equal(mw_rconn_command(f->c, on_res, &s, "SET indb5 x"), 0);
    assert_true(run_until(f, &s.calls, 1, 2000));
    finish(f);

    /* Check from a plain connection that the key landed in db 5. */
    redisContext *rc = redisConnect("127.0.0.1", f->redis.port);
    assert_non_null(rc);
    assert_int_equal(rc->err, 0);
    redisReply *rep = redisCommand(rc, "EXISTS indb5");
    assert_int_equal(rep->integer, 0);
    freeReplyObject(rep);
    rep = redisCommand(rc, "SELECT 5");
    freeReplyObject(rep);
    rep = redisCommand(rc, "EXISTS indb5");
    assert_int_equal(rep->integer, 1);
    freeReplyObject(rep);
    redisFree(rc);
}

static void test_select_bad(void **state)
{
    struct fix *f = *state;
    redis_start(&f->redis);
    make_conn(f, url_of(f, NULL, 99999), NULL);
    assert_true(run_until(f, &f->downs, 1, 2000));
    assert_non_null(strstr(f->reason, "DB index"));
    assert_int_equal(f->ups, 0);
    finish(f);
}

static void test_kill_restart(void **state)
{
    struct fix *f = *state;
    redis_start(&f->redis);
    struct mw_rconn_params p = {.ping_interval_ms = MW_RCONN_NO_PING};
    make_conn(f, url_of(f, NULL, 0), &p);
    assert_true(run_until(f, &f->ups, 1, 3000));
    struct res blocked = {0};
    assert_int_equal(mw_rconn_command(f->c, on_res, &blocked, "BLPOP nothing 0"), 0);
    run_for(f, 100);
    assert_int_equal(blocked.calls, 0);

    redis_kill(&f->redis);
    assert_true(run_until(f, &f->downs, 1, 2000));
    assert_int_equal(blocked.calls, 1);
    assert_int_equal(blocked.nulls, 1);
    assert_false(mw_rconn_is_up(f->c));
    struct res r = {0};
    assert_int_equal(mw_rconn_command(f->c, on_res, &r, "PING"), -ENOTCONN);
    /* Retries fail while it is gone (connection refused). */
    assert_true(run_until(f, &f->downs, 3, 2000));

    redis_start(&f->redis); /* same port */
    assert_true(run_until(f, &f->ups, 2, 3000));
    assert_int_equal(mw_rconn_command(f->c, on_res, &r, "PING"), 0);
    assert_true(run_until(f, &r.calls, 1, 2000));
    assert_string_equal(r.str, "PONG");
    assert_int_equal(blocked.calls, 1);
    struct mw_rconn_stats st;
    mw_rconn_stats(f->c, &st);
    assert_true(st.connects == 2 && st.disconnects >= 3 && st.errors == 1);
    finish(f);
}

static void test_sigstop(void **state)
{
    struct fix *f = *state;
    redis_start(&f->redis);
    struct mw_rconn_params p = {.ping_interval_ms = 200, .timeout_ms = 500};
    make_conn(f, url_of(f, NULL, 0), &p);
    assert_true(run_until(f, &f->ups, 1, 3000));
    kill(f->redis.pid, SIGSTOP);
    f->redis.stopped = true;
    struct res r = {0};
    assert_int_equal(mw_rconn_command(f->c, on_res, &r, "PING"), 0);
    uv_update_time(&f->loop);
    uint64_t t0 = uv_now(&f->loop);
    assert_true(run_until(f, &f->downs, 1, 2000));
    uint64_t dt = uv_now(&f->loop) - t0;
    assert_true(dt <= 200 + 500 + 150);
    assert_string_equal(f->reason, "PING timeout");
    assert_int_equal(r.nulls, 1);
    /* Attempts reach the kernel backlog but the handshake PING times out. */
    assert_true(run_until(f, &f->downs, 2, 2000));
    assert_string_equal(f->reason, "connect timeout");
    assert_int_equal(f->ups, 1);

    kill(f->redis.pid, SIGCONT);
    f->redis.stopped = false;
    assert_true(run_until(f, &f->ups, 2, 4000));
    finish(f);
}

static void test_close_connecting(void **state)
{
    struct fix *f = *state;
    redis_start(&f->redis);
    kill(f->redis.pid, SIGSTOP);
    f->redis.stopped = true;
    make_conn(f, url_of(f, NULL, 0), NULL);
    run_for(f, 100); /* TCP connected, handshake unanswered */
    assert_int_equal(f->ups + f->downs, 0);
    finish(f);
    assert_int_equal(f->ups + f->downs, 0);
}

static void count_closed(void *arg)
{
    ++*(int *)arg;
}

static void test_close_refused_and_idle(void **state)
{
    struct fix *f = *state;
    f->redis.port = free_port(); /* nothing listens */
    make_conn(f, url_of(f, NULL, 0), NULL);
    assert_true(run_until(f, &f->downs, 2, 2000));
    assert_non_null(strstr(f->reason, "refused"));
    assert_int_equal(f->ups, 0);
    finish(f);

    /* Never started. */
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct mw_redis_url u;
    assert_int_equal(mw_redis_url_parse("redis://127.0.0.1:1", &u, NULL, 0), 0);
    struct mw_rconn *c;
    int closed = 0;
    assert_int_equal(mw_rconn_new(&loop, &u, NULL, &closed, &c), 0);
    assert_int_equal(mw_rconn_close(c, count_closed), 0);
    assert_int_equal(mw_rconn_start(c), -ECANCELED);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Re-entrancy: close from a reply callback; the NULL callbacks of the other pending commands
 * come before done and may not send; close from on_down. */
struct reent {
    struct fix *f;
    int calls, nulls, closed_seen, send_rc;
};

static void reent_close_cb(const struct redisReply *r, void *priv)
{
    struct reent *x = priv;
    x->calls++;
    assert_non_null(r);
    assert_int_equal(mw_rconn_close(x->f->c, fix_closed), 0);
    assert_int_equal(x->f->closed, 0);
}

static void reent_null_cb(const struct redisReply *r, void *priv)
{
    struct reent *x = priv;
    x->calls++;
    x->nulls += !r;
    x->closed_seen = x->f->closed;
    x->send_rc = mw_rconn_command(x->f->c, NULL, NULL, "PING");
}

static void down_then_close(void *arg, const char *reason)
{
    struct fix *f = arg;
    fix_down(arg, reason);
    assert_int_equal(mw_rconn_close(f->c, fix_closed), 0);
}

static void test_reentrant(void **state)
{
    struct fix *f = *state;
    redis_start(&f->redis);
    make_conn(f, url_of(f, NULL, 0), NULL);
    assert_true(run_until(f, &f->ups, 1, 3000));
    struct reent a = {.f = f}, b = {.f = f};
    assert_int_equal(mw_rconn_command(f->c, reent_close_cb, &a, "PING"), 0);
    assert_int_equal(mw_rconn_command(f->c, reent_null_cb, &b, "BLPOP nothing 0"), 0);
    assert_true(run_until(f, &f->closed, 1, 3000));
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.nulls, 1);
    assert_int_equal(b.closed_seen, 0);
    assert_int_equal(b.send_rc, -ENOTCONN);
    assert_int_equal(f->downs, 0);
    f->c = NULL;
    finish(f);

    /* Close from inside on_down: no retry after it. */
    struct fix g = {0};
    assert_int_equal(uv_loop_init(&g.loop), 0);
    assert_int_equal(uv_timer_init(&g.loop, &g.guard), 0);
    uv_timer_start(&g.guard, on_guard, 10, 10);
    struct mw_redis_url u;
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", free_port());
    assert_int_equal(mw_redis_url_parse(url, &u, NULL, 0), 0);
    struct mw_rconn_cbs cbs = {.on_up = fix_up, .on_down = down_then_close};
    assert_int_equal(mw_rconn_new(&g.loop, &u, &cbs, &g, &g.c), 0);
    assert_int_equal(mw_rconn_start(g.c), 0);
    assert_true(run_until(&g, &g.closed, 1, 2000));
    run_for(&g, 300);
    assert_int_equal(g.downs, 1);
    g.c = NULL;
    finish(&g);
}

int main(void)
{
    mw_log_set_level(getenv("MW_TEST_DEBUG") ? MW_LOG_DEBUG : MW_LOG_ERROR);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_wrong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noauth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_select, setup, teardown),
        cmocka_unit_test_setup_teardown(test_select_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigstop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_connecting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_refused_and_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reentrant, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
