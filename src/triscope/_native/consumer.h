/* SPDX-License-Identifier: MIT
 *
 * consumer.h — the profiler's background thread. Every tick (the sampling interval, or up to
 * a few while nothing changes: ticks.h) it closes the threads' time books, queues
 * waiting-time samples and polls the GPU (no GIL); every GIL period it takes the GIL once to
 * run `on_gil` (resolve queued samples, track threads).
 */
#ifndef TS_CONSUMER_H
#define TS_CONSUMER_H

#include <stdint.h>
#include <sys/types.h>


/* What `on_tick` may ask for (or'ed): `on_gil` before the next GIL period (it then runs
 * within about two ticks); the next tick at `tick_ns`, not stretched (ticks.h). */
#define TS_TICK_WANTS_GIL_WORK 1
#define TS_TICK_KEEPS_PACE 2

/* Starts the thread (GIL held). Ticks come every `tick_ns`, further apart (ticks.h) while
 * every thread's ticks are steady and `on_tick` does not ask otherwise. `on_tick` (may be
 * NULL) runs every tick after the waiting time was measured, without the GIL (the GPU poll),
 * and returns TS_TICK_ flags. 0 or -1. */
int ts_consumer_start(uint64_t tick_ns, uint64_t gil_period_ns, void (*on_gil)(void),
                      int (*on_tick)(uint64_t now_ns));
/* Stops and joins it. Must be called without the GIL (the thread may be waiting for it). */
void ts_consumer_stop(void);
/* The consumer's own thread id (0 when not running): it is never sampled. */
pid_t ts_consumer_tid(void);
/* In a forked child the thread does not exist: forget it. */
void ts_consumer_forget_after_fork(void);

#endif
