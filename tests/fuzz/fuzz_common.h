/* Shared setup of the libFuzzer harnesses: a configuration and a generation of lists of every
 * kind (domain, RPZ with local data, IP, pattern, allow, each action), built once per process
 * from files written to a temporary directory, so the filter paths the harnesses reach are the
 * ones a real deployment runs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct mw_config;
struct mw_lists;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort (a crash for libFuzzer) when an invariant the code promises does not hold. */
#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(#cond, __FILE__, __LINE__);                                                    \
    } while (0)
__attribute__((noreturn)) void fz_fail(const char *expr, const char *file, int line);

/* The shared config and lists (built on first call; aborts when they cannot be built). */
void fz_lists(const struct mw_config **cfg, const struct mw_lists **lists);
