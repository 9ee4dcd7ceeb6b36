/* SPDX-License-Identifier: MIT
 *
 * test_ticks.c — the consumer's pace: a thread's tick is steady when it ran all of it
 * (waiting under 1/50) or ran none of it while blocked, not when it both ran and waited or
 * stood ready to run; after steady ticks the sleep doubles up to the bucket width and
 * TS_TICK_MOST_NS, and one changed tick brings it back to the sampling interval.
 */
#include "testhelp.h"
#include "ticks.h"

#define MS 1000000ull

static void test_steady(void)
{
    /* Ran the whole tick but for a sliver: steady. */
    CHECK(ts_tick_steady(&(ts_tick_seen_t){10 * MS, 150000, 0, 0}));
    CHECK(ts_tick_steady(&(ts_tick_seen_t){10 * MS, 0, 0, 0}));
    /* Ran, and waited 2 % of the tick or more: it changed. */
    CHECK(!ts_tick_steady(&(ts_tick_seen_t){10 * MS, 200000, 0, 0}));
    CHECK(!ts_tick_steady(&(ts_tick_seen_t){40 * MS, 5 * MS, 0, 0}));
    /* Ran none of it: steady while blocked (or idle), not while ready to run. */
    CHECK(ts_tick_steady(&(ts_tick_seen_t){10 * MS, 10 * MS, 1, 0}));
    CHECK(!ts_tick_steady(&(ts_tick_seen_t){10 * MS, 10 * MS, 1, 1}));
    /* No time passed: nothing to tell. */
    CHECK(ts_tick_steady(&(ts_tick_seen_t){0, 0, 0, 0}));
}

static void test_pace(void)
{
    uint64_t base = 10 * MS, bucket = 20 * MS;
    /* Doubling up to the bucket's width, then staying there. */
    CHECK_EQ_INT(ts_tick_next_ns(base, base, bucket), 20 * MS);
    CHECK_EQ_INT(ts_tick_next_ns(20 * MS, base, bucket), 20 * MS);
    /* A wider bucket: up to TS_TICK_MOST_NS, never past it. */
    uint64_t pace = base;
    for (int i = 0; i < 10; i++)
        pace = ts_tick_next_ns(pace, base, 640 * MS);
    CHECK_EQ_INT(pace, TS_TICK_MOST_NS);
    /* A changed tick: back to the sampling interval at once. */
    CHECK_EQ_INT(ts_tick_next_ns(TS_TICK_MOST_NS, base, 0), base);
    /* A bucket no wider than the interval, or an interval as long as the most: no stretch. */
    CHECK_EQ_INT(ts_tick_next_ns(base, base, base), base);
    CHECK_EQ_INT(ts_tick_next_ns(100 * MS, 100 * MS, 640 * MS), 100 * MS);
    /* A limit between one and two intervals is reached in one step, not overshot. */
    CHECK_EQ_INT(ts_tick_next_ns(base, base, 15 * MS), 15 * MS);
    /* A fast interval (1 kHz) stretches by doubling too. */
    CHECK_EQ_INT(ts_tick_next_ns(1 * MS, 1 * MS, 20 * MS), 2 * MS);
    CHECK_EQ_INT(ts_tick_next_ns(16 * MS, 1 * MS, 20 * MS), 20 * MS);
}

int main(void)
{
    RUN(test_steady);
    RUN(test_pace);
    return TEST_DONE();
}
