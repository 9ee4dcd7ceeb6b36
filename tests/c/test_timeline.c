/* SPDX-License-Identifier: MIT
 *
 * test_timeline.c — a thread's lane of time buckets: time is spread over the buckets a span
 * covers in proportion, and its sum stays exact; a lane holds only the buckets its thread
 * lived in; doubling the axis merges neighbours pairwise (odd first buckets included) and
 * keeps every nanosecond, so a long run ends in at most TS_TIMELINE_BUCKETS buckets.
 */
#include "testhelp.h"
#include "timeline.h"

#define MS 1000000ull

static uint64_t lane_total(const ts_lane_t *lane, int kind)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < lane->count; i++)
        sum += lane->ns[i][kind];
    return sum;
}

static void test_one_bucket(void)
{
    ts_timeline_axis_t axis;
    ts_timeline_axis_init(&axis, 1000 * MS, 10 * MS);
    ts_lane_t lane = {0};
    uint64_t ns[TS_LANE_KINDS] = {3 * MS, 1 * MS, 2 * MS, 0, 4 * MS};
    CHECK(ts_lane_add(&lane, &axis, 1031 * MS, 1039 * MS, ns) == 0);
    CHECK_EQ_INT(lane.first, 3);
    CHECK_EQ_INT(lane.count, 1);
    CHECK_EQ_INT(lane.ns[0][TS_LANE_PYTHON], 3 * MS);
    CHECK_EQ_INT(lane.ns[0][TS_LANE_IDLE], 4 * MS);
    /* A span that ends exactly on a boundary stays in its bucket. */
    CHECK(ts_lane_add(&lane, &axis, 1030 * MS, 1040 * MS, ns) == 0);
    CHECK_EQ_INT(lane.count, 1);
    CHECK_EQ_INT(lane.ns[0][TS_LANE_PYTHON], 6 * MS);
    ts_lane_free(&lane);
}

static void test_spread_in_proportion(void)
{
    ts_timeline_axis_t axis;
    ts_timeline_axis_init(&axis, 0, 10 * MS);
    ts_lane_t lane = {0};
    /* 30 ms of Python over [15, 45): a quarter, a third, a third, the rest. */
    uint64_t ns[TS_LANE_KINDS] = {30 * MS + 1, 0, 0, 0, 0};
    CHECK(ts_lane_add(&lane, &axis, 15 * MS, 45 * MS, ns) == 0);
    CHECK_EQ_INT(lane.first, 1);
    CHECK_EQ_INT(lane.count, 4);
    CHECK_EQ_INT(lane.ns[0][TS_LANE_PYTHON], 5 * MS);
    CHECK_EQ_INT(lane.ns[1][TS_LANE_PYTHON], 10 * MS);
    CHECK_EQ_INT(lane.ns[2][TS_LANE_PYTHON], 10 * MS);
    CHECK_EQ_INT(lane.ns[3][TS_LANE_PYTHON], 5 * MS + 1);
    CHECK_EQ_INT(lane_total(&lane, TS_LANE_PYTHON), 30 * MS + 1);
    /* Growing at the front keeps what was there. */
    uint64_t early[TS_LANE_KINDS] = {0, 0, 7, 0, 0};
    CHECK(ts_lane_add(&lane, &axis, 0, 1, early) == 0);
    CHECK_EQ_INT(lane.first, 0);
    CHECK_EQ_INT(lane.count, 5);
    CHECK_EQ_INT(lane.ns[0][TS_LANE_SYSTEM], 7);
    CHECK_EQ_INT(lane.ns[2][TS_LANE_PYTHON], 10 * MS);
    /* Outside the axis: clamped to its ends. */
    CHECK(ts_lane_add(&lane, &axis, 5000 * MS, 6000 * MS, early) == 0);
    CHECK_EQ_INT(lane.first + lane.count, TS_TIMELINE_BUCKETS);
    CHECK_EQ_INT(lane.ns[lane.count - 1][TS_LANE_SYSTEM], 7);
    ts_lane_free(&lane);
}

static void test_coarsen_pairs(void)
{
    ts_timeline_axis_t axis;
    ts_timeline_axis_init(&axis, 0, 1 * MS);
    ts_lane_t lane = {0};
    /* Buckets 3..8 hold 1..6 ns: pairs (2,3) (4,5) (6,7) (8,9) → 1, 2+3, 4+5, 6. */
    for (uint64_t b = 3; b <= 8; b++) {
        uint64_t ns[TS_LANE_KINDS] = {b - 2, 0, 0, 0, 2 * (b - 2)};
        CHECK(ts_lane_add(&lane, &axis, b * MS, b * MS + 1, ns) == 0);
    }
    CHECK_EQ_INT(lane.first, 3);
    CHECK_EQ_INT(lane.count, 6);
    ts_lane_coarsen(&lane);
    ts_timeline_axis_coarsen(&axis);
    CHECK_EQ_INT(axis.width_ns, 2 * MS);
    CHECK_EQ_INT(lane.first, 1);
    CHECK_EQ_INT(lane.count, 4);
    CHECK_EQ_INT(lane.ns[0][TS_LANE_PYTHON], 1);
    CHECK_EQ_INT(lane.ns[1][TS_LANE_PYTHON], 5);
    CHECK_EQ_INT(lane.ns[2][TS_LANE_PYTHON], 9);
    CHECK_EQ_INT(lane.ns[3][TS_LANE_PYTHON], 6);
    CHECK_EQ_INT(lane.ns[3][TS_LANE_IDLE], 12);
    ts_lane_coarsen(&lane);
    CHECK_EQ_INT(lane.first, 0);
    CHECK_EQ_INT(lane.count, 3); /* axis 1..4 → (1) (2,3) (4) */
    CHECK_EQ_INT(lane.ns[0][TS_LANE_PYTHON], 1);
    CHECK_EQ_INT(lane.ns[1][TS_LANE_PYTHON], 14);
    CHECK_EQ_INT(lane.ns[2][TS_LANE_PYTHON], 6);
    ts_lane_t empty = {0};
    ts_lane_coarsen(&empty);
    CHECK_EQ_INT(empty.count, 0);
    ts_lane_free(&lane);
}

/* A run a thousand times longer than the axis's first width: the axis doubles as the caller
 * does it, every tick's time is kept, and the lane never holds more than the bound. */
static void test_long_run_bounded(void)
{
    ts_timeline_axis_t axis;
    ts_timeline_axis_init(&axis, 0, 10 * MS);
    ts_lane_t lane = {0};
    uint64_t total = 0;
    for (uint64_t tick = 0; tick < 128000; tick++) {
        uint64_t to = (tick + 1) * 10 * MS;
        while (ts_timeline_axis_full(&axis, to)) {
            ts_timeline_axis_coarsen(&axis);
            ts_lane_coarsen(&lane);
        }
        uint64_t ns[TS_LANE_KINDS] = {tick < 64000 ? 10 * MS : 0, 0, tick < 64000 ? 0 : 10 * MS,
                                      0, 0};
        CHECK(ts_lane_add(&lane, &axis, tick * 10 * MS, to, ns) == 0);
        total += 10 * MS;
        CHECK(lane.count <= TS_TIMELINE_BUCKETS);
    }
    CHECK_EQ_INT(lane_total(&lane, TS_LANE_PYTHON) + lane_total(&lane, TS_LANE_SYSTEM), total);
    CHECK_EQ_INT(axis.width_ns, 10240 * MS);
    CHECK_EQ_INT(lane.count, 125);
    /* The first half computed, the second blocked: each bucket is all one or all the other. */
    CHECK_EQ_INT(lane.ns[0][TS_LANE_PYTHON], axis.width_ns);
    CHECK_EQ_INT(lane.ns[0][TS_LANE_SYSTEM], 0);
    CHECK_EQ_INT(lane.ns[lane.count - 2][TS_LANE_SYSTEM], axis.width_ns);
    ts_lane_t copy;
    CHECK(ts_lane_copy(&copy, &lane) == 0);
    CHECK_EQ_INT(copy.count, lane.count);
    CHECK_EQ_INT(lane_total(&copy, TS_LANE_PYTHON), lane_total(&lane, TS_LANE_PYTHON));
    ts_lane_free(&copy);
    ts_lane_free(&lane);
}

int main(void)
{
    RUN(test_one_bucket);
    RUN(test_spread_in_proportion);
    RUN(test_coarsen_pairs);
    RUN(test_long_run_bounded);
    return TEST_DONE();
}
