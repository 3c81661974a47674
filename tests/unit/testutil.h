/* Helpers shared by the unit tests (header only: each test is one program). */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run argv (NULL-terminated) with stdout and stderr inherited; 0 when it exits with status 0,
 * -1 otherwise, a negative errno when it cannot be started. Used to build test databases with
 * tests/tools/mkmmdb.pl. */
static inline int mw_test_run(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}
