/* SPDX-License-Identifier: MIT
 *
 * test_leaks.c — the leak verdict on a line's memory: a steady leak is leaking, with
 * Laplace's likelihood and its growth rate over the second half of the run; a cache built
 * early, a one-time step late in the run, growth smaller than one sample or than a quarter
 * of the live bytes, and too few samples are not; blocks that are freed give a likelihood
 * below the bar even while the live bytes grow.
 */
#include "leaks.h"
#include "stats.h"
#include "testhelp.h"

#include <math.h>

#define S 1000000000ull
#define MIB (1024 * 1024)

static ts_series_t series;

/* A line's books: `samples` sampled allocations, `freed` of them freed, the live bytes
 * after each of the `count` changes of `live` at `t_s` seconds. */
static ts_mem_t books(uint64_t samples, uint64_t freed, const double *t_s,
                      const int64_t *live, int count)
{
    ts_mem_t mem = {0};
    series.count = 0;
    for (int i = 0; i < count; i++) {
        ts_series_add(&series, (uint64_t)(t_s[i] * (double)S), live[i]);
        if (live[i] > mem.peak_bytes)
            mem.peak_bytes = live[i];
    }
    mem.samples = samples;
    mem.freed = freed;
    mem.live_bytes = count ? live[count - 1] : 0;
    mem.timeline = &series;
    return mem;
}

/* Eleven points, one a second: live bytes from 1 MiB up by 1 MiB each second. */
static void ramp(double *t, int64_t *live)
{
    for (int i = 0; i <= 10; i++) {
        t[i] = i;
        live[i] = (int64_t)(i + 1) * MIB;
    }
}

/* One MiB more every second for ten seconds, nothing freed: 1 MiB/s. */
static void test_steady_leak(void)
{
    double t[11];
    int64_t live[11];
    ramp(t, live);
    ts_mem_t mem = books(40, 0, t, live, 11);
    ts_leak_t leak = ts_leak_of(&mem, 0, 10 * S);
    CHECK(leak.leaking);
    CHECK(fabs(leak.likelihood - (1.0 - 1.0 / 42.0)) < 1e-12);
    CHECK(fabs(leak.mb_s - 1.0) < 1e-12);
    /* The same books over a run that starts later: the rate is over its second half. */
    leak = ts_leak_of(&mem, 4 * S, 10 * S);
    CHECK(leak.leaking);
    CHECK(fabs(leak.mb_s - 1.0) < 1e-12);
}

/* All the growth in the first half, then flat: a cache, not a leak. */
static void test_cache_built_early(void)
{
    double t[] = {0, 1, 2, 3, 4};
    int64_t live[] = {8 * MIB, 16 * MIB, 24 * MIB, 32 * MIB, 40 * MIB};
    ts_mem_t mem = books(160, 0, t, live, 5);
    ts_leak_t leak = ts_leak_of(&mem, 0, 10 * S);
    CHECK(!leak.leaking);
    CHECK(leak.likelihood == 0.0);
    CHECK(leak.mb_s == 0.0);
}

/* Flat, then one large allocation near the end: a step, not a leak. */
static void test_late_step(void)
{
    double t[] = {0, 1, 9.5};
    int64_t live[] = {1 * MIB, 2 * MIB, 50 * MIB};
    ts_mem_t mem = books(200, 0, t, live, 3);
    CHECK(!ts_leak_of(&mem, 0, 10 * S).leaking);
    CHECK(ts_leak_of(&mem, 0, 10 * S).likelihood == 0.0);
}

/* Growth below one sample's worth of bytes, or below a quarter of what stays live. */
static void test_small_growth(void)
{
    double t[11];
    int64_t live[11];
    for (int i = 0; i <= 10; i++) {
        t[i] = i;
        live[i] = (int64_t)i * 40 * 1024; /* 200 KiB over the second half */
    }
    ts_mem_t mem = books(20, 0, t, live, 11);
    CHECK(ts_leak_of(&mem, 0, 10 * S).likelihood == 0.0);

    for (int i = 0; i <= 10; i++)
        live[i] = 100 * MIB + (int64_t)i * MIB; /* 5 MiB added to 105 MiB live */
    mem = books(400, 0, t, live, 11);
    CHECK(ts_leak_of(&mem, 0, 10 * S).likelihood == 0.0);
}

/* Blocks that are freed: the live bytes grow, but most sampled blocks go away. */
static void test_churn_is_unlikely(void)
{
    double t[11];
    int64_t live[11];
    ramp(t, live);
    ts_mem_t mem = books(400, 360, t, live, 11);
    ts_leak_t leak = ts_leak_of(&mem, 0, 10 * S);
    CHECK(!leak.leaking);
    CHECK(fabs(leak.likelihood - (1.0 - 361.0 / 402.0)) < 1e-12);
    CHECK(leak.mb_s > 0.0);
}

/* Nothing to judge: fewer than two samples, no timeline, or an empty run. */
static void test_nothing_to_judge(void)
{
    double t[] = {0, 5, 10};
    int64_t live[] = {MIB, 20 * MIB, 40 * MIB};
    ts_mem_t mem = books(1, 0, t, live, 3);
    CHECK(ts_leak_of(&mem, 0, 10 * S).likelihood == 0.0);
    mem = books(100, 0, t, live, 3);
    mem.timeline = NULL;
    CHECK(ts_leak_of(&mem, 0, 10 * S).likelihood == 0.0);
    mem = books(100, 0, t, live, 3);
    CHECK(ts_leak_of(&mem, 10 * S, 10 * S).likelihood == 0.0);
    CHECK(!ts_leak_of(&mem, 10 * S, 5 * S).leaking);
}

int main(void)
{
    RUN(test_steady_leak);
    RUN(test_cache_built_early);
    RUN(test_late_step);
    RUN(test_small_growth);
    RUN(test_churn_is_unlikely);
    RUN(test_nothing_to_judge);
    return TEST_DONE();
}
