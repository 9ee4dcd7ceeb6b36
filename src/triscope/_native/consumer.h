/* SPDX-License-Identifier: MIT
 *
 * consumer.h — the profiler's background thread. Every sampling interval it closes the
 * threads' time books, queues waiting-time samples and polls the GPU (no GIL); every GIL period it takes
 * the GIL once to run `on_gil` (resolve queued samples, track threads).
 */
#ifndef TS_CONSUMER_H
#define TS_CONSUMER_H

#include <stdint.h>
#include <sys/types.h>


/* Starts the thread (GIL held). `on_tick` (may be NULL) runs every tick after the waiting time was
 * measured, without the GIL (the GPU poll); when it returns nonzero, `on_gil` is wanted
 * before the next GIL period and runs within about two ticks. 0 or -1. */
int ts_consumer_start(uint64_t tick_ns, uint64_t gil_period_ns, void (*on_gil)(void),
                      int (*on_tick)(uint64_t now_ns));
/* Stops and joins it. Must be called without the GIL (the thread may be waiting for it). */
void ts_consumer_stop(void);
/* The consumer's own thread id (0 when not running): it is never sampled. */
pid_t ts_consumer_tid(void);
/* In a forked child the thread does not exist: forget it. */
void ts_consumer_forget_after_fork(void);

#endif
