/* SPDX-License-Identifier: MIT
 *
 * waits.h — private to sampler.c and waits.c: how the slot table (sampler.c) hands each
 * slot's books to waits.c. The public side of the waiting time (ts_sampler_measure_waits,
 * ts_sampler_code_dying, ts_sampler_idle_detected, ts_sampler_cpu_wait_measured) is
 * declared in sampler.h.
 */
#ifndef TS_WAITS_H
#define TS_WAITS_H

#include <stdint.h>

#include "sampler.h"
#include "slot.h"

/* A new profile: keeps the configuration (the waits ring, virtual time, --idle), finds out
 * whether idle threads can be told apart, and forgets whether a run-queue delay was seen.
 * Before the consumer starts. */
void ts_waits_init(const ts_sampler_config_t *config);

/* Brings one thread's books up to `now_ns` and queues its waiting into the waits ring
 * (`record`: not while profiling is suspended). `last`: the thread is ending (or ended):
 * its run-queue delay is read whatever happened, and nothing is held for a next look that
 * will not come, so every second its books count is also charged to a line. Called with
 * the slot table's lock held. */
void ts_waits_measure_slot(ts_slot_t *slot, uint32_t index, uint64_t now_ns, int record,
                           int last);

/* Code objects freed so far, for the signal handler to stamp its sample with (the stack it
 * walks is reused for waiting time only if none died since). Async-signal-safe. */
uint64_t ts_waits_code_deaths(void);

/* In a forked child: the lock another thread may have held at fork time is made anew. */
void ts_waits_forget_after_fork(void);

#endif
