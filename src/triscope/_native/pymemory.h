/* SPDX-License-Identifier: MIT
 *
 * pymemory.h — the extension's side of memory profiling: picks the sampler (the preload
 * library's when LD_PRELOAD brought it, else the built-in copy that only sees Python's
 * allocator), installs the Python allocator wrappers, and hands queued events to resolve.c.
 * All calls hold the GIL.
 */
#ifndef TS_PYMEMORY_H
#define TS_PYMEMORY_H

#include <stdint.h>

#include "allocsampler.h"

/* 0 or -1. */
int ts_pymemory_start(uint64_t alloc_interval, uint64_t copy_interval);
void ts_pymemory_stop(void);
/* Whether native allocations and copies are seen (the preload library is loaded). */
int ts_pymemory_preloaded(void);
/* Events lost so far (full queues, untracked blocks). */
uint64_t ts_pymemory_lost(void);
void ts_pymemory_drain(void (*on_sample)(const ts_mem_sample_t *, void *),
                     void (*on_free)(const ts_mem_free_t *, void *), void *context);
void ts_pymemory_after_fork_in_child(void);
/* Suspends (0) or resumes (1) sampling; async-signal-safe. */
void ts_pymemory_set_enabled(int on);
/* 1: the calling thread's allocations stop being sampled (the profiler's own); 0: resume. */
void ts_pymemory_guard(int on);

#endif
