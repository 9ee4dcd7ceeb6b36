/* SPDX-License-Identifier: MIT
 *
 * ticks.h — how far apart the consumer thread's ticks are (docs/ARCHITECTURE.md, "The
 * consumer's pace"): what one thread's tick says about the pace, and the next sleep. Pure
 * arithmetic on the numbers it is given: no clock, no state, no thread, no allocation.
 */
#ifndef TS_TICKS_H
#define TS_TICKS_H

#include <stdint.h>

/* The longest a stretched tick may last, whatever the timeline's buckets would allow: the
 * watchdog of the signals and the GIL work run on ticks too. */
#define TS_TICK_MOST_NS 40000000u

/* What one thread did in one tick of `wall_ns`, as its books closed it. */
typedef struct {
    uint64_t wall_ns;    /* the tick's length */
    uint64_t waited_ns;  /* wall time that was not CPU time */
    int still;           /* its CPU clock did not move */
    int runnable;        /* still, and ready to run at the tick's end (waiting for a CPU) */
} ts_tick_seen_t;

/* Whether the thread's tick was steady: it ran all of it (waiting less than 1/50 of it), or
 * it ran none of it and is blocked (its stack and its kind of waiting did not change). A
 * longer tick then charges the same time to the same stacks as short ones would have. */
int ts_tick_steady(const ts_tick_seen_t *seen);

/* The consumer's next sleep: `base_ns` (the sampling interval) after a tick in which some
 * thread changed (`allowed_ns` 0); after a tick in which every thread was steady, twice
 * `current_ns`, up to `allowed_ns` (a timeline bucket's width) and TS_TICK_MOST_NS, never
 * below `base_ns`. */
uint64_t ts_tick_next_ns(uint64_t current_ns, uint64_t base_ns, uint64_t allowed_ns);

#endif
