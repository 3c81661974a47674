/* Unit tests for file.c, the one whole-file reader: a regular file (with a NUL inside, and the
 * terminating NUL after it), an empty file, a file at and over the bound, a file that grows
 * between fstat and read (a FIFO has no size), a directory, a missing path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "minewall/file.h"

static char dir[64];

static void path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

static void write_bytes(const char *name, const void *data, size_t len)
{
    char p[128];
    path_of(p, sizeof(p), name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void test_regular(void **state)
{
    (void)state;
    char p[128], *buf;
    size_t len;
    write_bytes("a", "one\0two\n", 8);
    path_of(p, sizeof(p), "a");
    assert_int_equal(mw_file_read(p, 100, &buf, &len), 0);
    assert_int_equal(len, 8);
    assert_memory_equal(buf, "one\0two\n", 8);
    assert_int_equal(buf[8], '\0');
    free(buf);

    write_bytes("empty", "", 0);
    path_of(p, sizeof(p), "empty");
    assert_int_equal(mw_file_read(p, 100, &buf, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(buf[0], '\0');
    free(buf);
}

static void test_bounds(void **state)
{
    (void)state;
    char p[128], *buf = (char *)1;
    size_t len = 99;
    static char big[100000];
    memset(big, 'x', sizeof(big));
    write_bytes("big", big, sizeof(big));
    path_of(p, sizeof(p), "big");
    assert_int_equal(mw_file_read(p, sizeof(big), &buf, &len), 0);
    assert_int_equal(len, sizeof(big));
    free(buf);
    assert_int_equal(mw_file_read(p, sizeof(big) - 1, &buf, &len), -EFBIG);
    assert_null(buf);
    assert_int_equal(len, 0);

    assert_int_equal(mw_file_read(dir, 100, &buf, &len), -EISDIR);
    path_of(p, sizeof(p), "missing");
    assert_int_equal(mw_file_read(p, 100, &buf, &len), -ENOENT);
    path_of(p, sizeof(p), "a/below-a-file");
    assert_int_equal(mw_file_read(p, 100, &buf, &len), -ENOTDIR);
    assert_null(buf);
}

/* A FIFO has no size: the reader grows its buffer; the bound still holds. */
static void fifo_case(size_t write_len, size_t max, int want)
{
    char p[128];
    path_of(p, sizeof(p), "fifo");
    unlink(p);
    assert_int_equal(mkfifo(p, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(p, O_WRONLY);
        static char chunk[4096];
        memset(chunk, 'y', sizeof(chunk));
        for (size_t done = 0; fd >= 0 && done < write_len;) {
            size_t n = write_len - done < sizeof(chunk) ? write_len - done : sizeof(chunk);
            ssize_t w = write(fd, chunk, n);
            if (w <= 0)
                break; /* the reader gave up (EPIPE) */
            done += (size_t)w;
        }
        _exit(0);
    }
    char *buf;
    size_t len;
    int r = mw_file_read(p, max, &buf, &len);
    assert_int_equal(r, want);
    if (r == 0) {
        assert_int_equal(len, write_len);
        assert_int_equal(buf[len - 1], 'y');
        assert_int_equal(buf[len], '\0');
        free(buf);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(p);
}

static void test_fifo(void **state)
{
    (void)state;
    fifo_case(300000, 1 << 20, 0);
    fifo_case(300000, 200000, -EFBIG);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/mw-file-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"a", "empty", "big", "fifo"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char p[128];
        path_of(p, sizeof(p), names[i]);
        unlink(p);
    }
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regular),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_fifo),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
