/* SPDX-License-Identifier: MIT
 *
 * waits.h — what waits.c offers: to the slot table (sampler.c), the measurement of one
 * slot's books each tick; to the resolver, the notice that a code object dies; to the
 * profile, whether idle threads and CPU waits could be measured. It depends on the slot and
 * sample types only, never on the slot table: sampler.c calls it, not the other way round.
 */
#ifndef TS_WAITS_H
#define TS_WAITS_H

#include <stdint.h>

#include "sample.h"
#include "timeline.h"

/* A sampled thread's slot (slot.h, which only sampler.c and waits.c see). */
struct ts_slot;

/* A new profile: keeps the configuration (the waits ring, virtual time, --idle) and the
 * timers' period (`tick_ns`), finds out whether idle threads can be told apart, and forgets
 * whether a run-queue delay was seen. Before the consumer starts. */
void ts_waits_init(const ts_sampler_config_t *config, uint64_t tick_ns);

/* Brings one thread's books up to `now_ns` and queues its waiting into the waits ring
 * (`record`: not while profiling is suspended). `last`: the thread is ending (or ended):
 * its run-queue delay is read whatever happened, and nothing is held for a next look that
 * will not come, so every second its books count is also charged to a line. The tick also
 * goes into the slot's timeline on `axis`, which the caller has made long enough for
 * `now_ns`. A thread whose CPU time the timer's ticks missed is sampled into the same ring
 * (waits.c, catching up): the CPU samples so queued, 0 or 1, are returned. Called with the
 * slot table's lock held. */
int ts_waits_measure_slot(struct ts_slot *slot, uint32_t index, uint64_t now_ns, int record,
                          int last, const ts_timeline_axis_t *axis);

/* Code objects freed so far, for the signal handler to stamp its sample with (the stack it
 * walks is reused for waiting time only if none died since). Async-signal-safe. */
uint64_t ts_waits_code_deaths(void);

/* A code object is about to be freed (GIL held). Stacks walked from other threads before
 * this moment may name it, so none of them is queued after this call returns; the caller
 * then resolves everything already queued while the object is still alive. */
void ts_waits_code_dying(void);

/* Whether idle threads are told apart (taskstate.h), and whether the kernel gave a
 * run-queue delay for any thread so far (0 where it gives none, or they all read zero). */
int ts_waits_idle_detected(void);
int ts_waits_cpu_wait_measured(void);

/* In a forked child: the lock another thread may have held at fork time is made anew. */
void ts_waits_forget_after_fork(void);

#endif
