/* SPDX-License-Identifier: MIT
 *
 * threads.h — keeps the sampler's thread table in step with the interpreter's threads:
 * a periodic scan of the interpreter's thread states (catches threads created from C), plus
 * the explicit start/end notifications the Python glue sends from threading.Thread (so a
 * thread is sampled from its first instruction and unregistered before its state is freed).
 * All calls hold the GIL, except ts_threads_appeared (the consumer, every tick).
 */
#ifndef TS_THREADS_H
#define TS_THREADS_H

#include <stdint.h>

/* Registers every thread the interpreter has that is not yet sampled, and unregisters
 * sampled threads that no longer exist. */
void ts_threads_scan(uint64_t now_ns);
/* The calling thread starts (`name` may be NULL) or ends. 0 or -1. */
int ts_threads_enter(const char *name, uint64_t now_ns);
void ts_threads_leave(uint64_t now_ns);
/* Without the GIL: whether a thread the sampler does not know has appeared since the last
 * call (the newest thread state is not registered), so a scan should run soon. A thread made
 * from C is otherwise registered by the periodic scan only, up to two GIL periods late. */
int ts_threads_appeared(void);

#endif
