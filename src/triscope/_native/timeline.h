/* SPDX-License-Identifier: MIT
 *
 * timeline.h — what each thread did over time, in a bounded number of buckets
 * (docs/PROFILE_FORMAT.md, "Thread timelines"). One axis is shared by every thread of a
 * profile: bucket i covers [start + i × width, start + (i + 1) × width). When the run
 * outgrows TS_TIMELINE_BUCKETS buckets the width doubles and every lane merges its
 * neighbours pairwise, so a run of any length is held in the same memory, at a grain of
 * 1/64 to 1/128 of its length. A lane holds only the span of buckets its thread lived in
 * (a thread of a few milliseconds costs a bucket or two, not 128).
 *
 * Pure C with no Python and no locking: the caller serialises (sampler.c does, with its
 * slot table's lock), so it is unit-tested on its own. Allocates; never call it from a
 * signal handler.
 */
#ifndef TS_TIMELINE_H
#define TS_TIMELINE_H

#include <stdint.h>

/* Enough for a swimlane drawn across a page; few enough that a thousand threads' lanes stay
 * in a few megabytes at most. */
#define TS_TIMELINE_BUCKETS 128

typedef enum {
    TS_LANE_PYTHON = 0,    /* on a CPU running bytecode */
    TS_LANE_NATIVE = 1,    /* on a CPU in native code */
    TS_LANE_SYSTEM = 2,    /* blocked: a system call, the GIL */
    TS_LANE_CPU_WAIT = 3,  /* ready to run, waiting for a CPU (the run-queue delay) */
    TS_LANE_IDLE = 4,      /* waiting for work (docs/DEFINITIONS.md, Time) */
    TS_LANE_KINDS = 5
} ts_lane_kind_t;

typedef struct {
    uint64_t start_ns;     /* where bucket 0 begins (CLOCK_MONOTONIC) */
    uint64_t width_ns;     /* every bucket's width */
} ts_timeline_axis_t;

typedef struct {
    uint32_t first;        /* the axis index of ns[0] */
    uint32_t count;        /* buckets held */
    uint32_t capacity;
    uint64_t (*ns)[TS_LANE_KINDS];
} ts_lane_t;

void ts_timeline_axis_init(ts_timeline_axis_t *axis, uint64_t start_ns, uint64_t width_ns);

/* Whether `t_ns` lies past the last bucket: the caller then doubles the width
 * (ts_timeline_axis_coarsen) and coarsens every lane (ts_lane_coarsen), until it does not. */
int ts_timeline_axis_full(const ts_timeline_axis_t *axis, uint64_t t_ns);
void ts_timeline_axis_coarsen(ts_timeline_axis_t *axis);

/* Merges the lane's buckets pairwise (axis index i becomes i / 2), as its axis doubles. */
void ts_lane_coarsen(ts_lane_t *lane);

/* Adds the time `ns` (one amount per kind) spent over [from_ns, to_ns), spread over the
 * buckets that span covers in proportion to the overlap (to the bucket of `to_ns` when the
 * span is empty). Times outside the axis are clamped to it. 0, or -1 when the lane cannot
 * grow (nothing is added then). */
int ts_lane_add(ts_lane_t *lane, const ts_timeline_axis_t *axis, uint64_t from_ns,
                uint64_t to_ns, const uint64_t ns[TS_LANE_KINDS]);

/* A copy of `source` into `copy` (an empty lane when allocation fails: -1). */
int ts_lane_copy(ts_lane_t *copy, const ts_lane_t *source);
void ts_lane_free(ts_lane_t *lane);

#endif
