/* SPDX-License-Identifier: MIT
 *
 * timeline.c — see timeline.h. A lane is a growable array of buckets over a span of axis
 * indexes; time moves forward, so it nearly always grows at its end, and its capacity
 * doubles, so a long-lived thread's lane is reallocated about log2(128) times in a run.
 */
#include "timeline.h"

#include <stdlib.h>
#include <string.h>

void ts_timeline_axis_init(ts_timeline_axis_t *axis, uint64_t start_ns, uint64_t width_ns)
{
    axis->start_ns = start_ns;
    axis->width_ns = width_ns > 0 ? width_ns : 1;
}

int ts_timeline_axis_full(const ts_timeline_axis_t *axis, uint64_t t_ns)
{
    return t_ns > axis->start_ns &&
           (t_ns - axis->start_ns) / axis->width_ns >= TS_TIMELINE_BUCKETS;
}

void ts_timeline_axis_coarsen(ts_timeline_axis_t *axis)
{
    axis->width_ns *= 2;
}

/* The bucket holding `t_ns`, clamped to the axis. */
static uint32_t bucket_of(const ts_timeline_axis_t *axis, uint64_t t_ns)
{
    if (t_ns <= axis->start_ns)
        return 0;
    uint64_t index = (t_ns - axis->start_ns) / axis->width_ns;
    return index < TS_TIMELINE_BUCKETS ? (uint32_t)index : TS_TIMELINE_BUCKETS - 1;
}

void ts_lane_coarsen(ts_lane_t *lane)
{
    if (lane->count == 0)
        return;
    uint32_t first = lane->first / 2;
    /* In place: bucket j moves to (first + j) / 2 - first' <= j, read before it is written. */
    for (uint32_t j = 0; j < lane->count; j++) {
        uint32_t to = (lane->first + j) / 2 - first;
        int starts = j == 0 || (lane->first + j) / 2 != (lane->first + j - 1) / 2;
        for (int kind = 0; kind < TS_LANE_KINDS; kind++) {
            uint64_t ns = lane->ns[j][kind];
            lane->ns[to][kind] = starts ? ns : lane->ns[to][kind] + ns;
        }
    }
    lane->count = (lane->first + lane->count - 1) / 2 - first + 1;
    lane->first = first;
}

/* Makes the lane span axis indexes [low, high] (keeping what it holds); -1 when it cannot. */
static int lane_span(ts_lane_t *lane, uint32_t low, uint32_t high)
{
    if (lane->count == 0) {
        lane->first = low;
    } else {
        uint32_t last = lane->first + lane->count - 1;
        low = low < lane->first ? low : lane->first;
        high = high > last ? high : last;
    }
    uint32_t count = high - low + 1, shift = lane->first - low;
    if (count > lane->capacity) {
        uint32_t capacity = lane->capacity ? lane->capacity : 4;
        while (capacity < count)
            capacity *= 2;
        void *grown = realloc(lane->ns, capacity * sizeof lane->ns[0]);
        if (grown == NULL)
            return -1;
        lane->ns = grown;
        lane->capacity = capacity;
    }
    if (shift > 0 && lane->count > 0)
        memmove(lane->ns[shift], lane->ns[0], lane->count * sizeof lane->ns[0]);
    uint32_t old_end = shift + lane->count;
    memset(lane->ns[0], 0, shift * sizeof lane->ns[0]);
    memset(lane->ns[old_end], 0, (count - old_end) * sizeof lane->ns[0]);
    lane->first = low;
    lane->count = count;
    return 0;
}

int ts_lane_add(ts_lane_t *lane, const ts_timeline_axis_t *axis, uint64_t from_ns,
                uint64_t to_ns, const uint64_t ns[TS_LANE_KINDS])
{
    uint64_t end_ns = axis->start_ns + TS_TIMELINE_BUCKETS * axis->width_ns;
    from_ns = from_ns < axis->start_ns ? axis->start_ns : from_ns > end_ns ? end_ns : from_ns;
    to_ns = to_ns < from_ns ? from_ns : to_ns > end_ns ? end_ns : to_ns;
    uint32_t low = bucket_of(axis, from_ns), high = bucket_of(axis, to_ns);
    /* A span ending exactly on a boundary does not reach the next bucket. */
    if (high > low && axis->start_ns + (uint64_t)high * axis->width_ns == to_ns)
        high--;
    if (lane_span(lane, low, high) < 0)
        return -1;
    uint64_t span = to_ns - from_ns;
    for (int kind = 0; kind < TS_LANE_KINDS; kind++) {
        uint64_t left = ns[kind];
        for (uint32_t b = low; b < high && left > 0; b++) {
            uint64_t bucket_end = axis->start_ns + (uint64_t)(b + 1) * axis->width_ns;
            uint64_t bucket_start = b == low ? from_ns : bucket_end - axis->width_ns;
            uint64_t share = (uint64_t)((double)ns[kind] *
                                        (double)(bucket_end - bucket_start) / (double)span);
            share = share < left ? share : left;
            lane->ns[b - lane->first][kind] += share;
            left -= share;
        }
        lane->ns[high - lane->first][kind] += left; /* the rest: the sum stays exact */
    }
    return 0;
}

int ts_lane_copy(ts_lane_t *copy, const ts_lane_t *source)
{
    memset(copy, 0, sizeof *copy);
    if (source->count == 0)
        return 0;
    copy->ns = malloc(source->count * sizeof source->ns[0]);
    if (copy->ns == NULL)
        return -1;
    memcpy(copy->ns, source->ns, source->count * sizeof source->ns[0]);
    copy->first = source->first;
    copy->count = copy->capacity = source->count;
    return 0;
}

void ts_lane_free(ts_lane_t *lane)
{
    free(lane->ns);
    memset(lane, 0, sizeof *lane);
}
