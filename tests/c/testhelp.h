/* SPDX-License-Identifier: MIT
 *
 * testhelp.h — the whole C test framework: checks that record a failure (file:line and the
 * expression) and carry on, so one run shows every broken expectation; RUN calls a static
 * test function and names it; TEST_DONE prints a one-line summary and gives main its exit
 * status (non-zero when any check failed). Header-only on purpose: each test is one .c file.
 */
#ifndef TS_TESTHELP_H
#define TS_TESTHELP_H

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int th_checks, th_failures;
static const char *th_current = "?";

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        th_checks++;                                                                      \
        if (!(cond)) {                                                                    \
            th_failures++;                                                                \
            fprintf(stderr, "%s:%d: [%s] CHECK failed: %s\n", __FILE__, __LINE__,         \
                    th_current, #cond);                                                   \
        }                                                                                 \
    } while (0)

#define CHECK_EQ_INT(actual, expected)                                                    \
    do {                                                                                  \
        long long th_a = (long long)(actual), th_e = (long long)(expected);               \
        th_checks++;                                                                      \
        if (th_a != th_e) {                                                               \
            th_failures++;                                                                \
            fprintf(stderr, "%s:%d: [%s] %s == %lld, expected %s == %lld\n", __FILE__,    \
                    __LINE__, th_current, #actual, th_a, #expected, th_e);                \
        }                                                                                 \
    } while (0)

#define CHECK_STR(actual, expected)                                                       \
    do {                                                                                  \
        const char *th_a = (actual), *th_e = (expected);                                  \
        th_checks++;                                                                      \
        if (th_a == NULL || strcmp(th_a, th_e) != 0) {                                    \
            th_failures++;                                                                \
            fprintf(stderr, "%s:%d: [%s] %s\n    got:      %s\n    expected: %s\n",       \
                    __FILE__, __LINE__, th_current, #actual, th_a ? th_a : "(null)", th_e); \
        }                                                                                 \
    } while (0)

/* Runs `body` on `count` threads at once, each given its number (1 to count), and returns
 * the sum of what they found wrong: each returns a malloc'ed size_t, freed here. */
static inline size_t th_run_threads(int count, void *(*body)(void *))
{
    pthread_t threads[64];
    size_t wrong = 0;
    CHECK(count <= 64);
    for (int t = 0; t < count && t < 64; t++)
        CHECK(pthread_create(&threads[t], NULL, body, (void *)(uintptr_t)(t + 1)) == 0);
    for (int t = 0; t < count && t < 64; t++) {
        size_t *result;
        pthread_join(threads[t], (void **)&result);
        wrong += *result;
        free(result);
    }
    return wrong;
}

#define RUN(test_fn) (th_current = #test_fn, test_fn())

#define TEST_DONE()                                                                       \
    (printf("%s: %d checks, %d failed\n", th_failures ? "FAIL" : "ok", th_checks,        \
            th_failures),                                                                 \
     th_failures ? 1 : 0)

#endif
