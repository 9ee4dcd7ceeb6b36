/* SPDX-License-Identifier: MIT
 *
 * sampler.h — the table of sampled threads: per-thread CPU-time timers, the signal handler
 * they fire, registration, and each tick's hand-over of every thread's books to waits.c.
 * Samples are raw (code pointers, offsets; sample.h); turning them into lines is the
 * consumer's job (resolve.c). No Python API here except what frames.c documents.
 */
#ifndef TS_SAMPLER_H
#define TS_SAMPLER_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "frames.h"
#include "ringbuf.h"
#include "sample.h"
#include "stats.h"

/* The timers' signal. A real-time signal rather than SIGPROF: programs (and other profilers)
 * use SIGPROF and setitimer themselves, and real-time signals are queued per timer, not
 * merged. */
#define TS_TIMER_SIGNAL (SIGRTMIN + 5)


/* Installs the signal handler and allocates the slot table. 0 or -1 (errno set). */
int ts_sampler_init(const ts_sampler_config_t *config);

/* Starts sampling the thread `tid` (whose PyThreadState is `tstate`); a thread already
 * registered is left as it is. The caller holds the GIL. 0 or -1. */
int ts_sampler_register(pid_t tid, const void *tstate, const char *name, uint64_t now_ns);

/* Whether `tid` is being sampled. Any thread. */
int ts_sampler_is_registered(pid_t tid);

/* Stops sampling `tid`, closing its books at `now_ns` and queueing the waiting since the
 * last measurement (as ts_sampler_measure_waits does). Its queued samples stay to be
 * drained. The caller holds the GIL. */
void ts_sampler_unregister(pid_t tid, uint64_t now_ns);

/* Calls `keep(tid, context)` for each registered thread and unregisters those for which it
 * returns 0 (threads that ended without telling us). The caller holds the GIL. */
void ts_sampler_retain(int (*keep)(pid_t tid, void *context), void *context, uint64_t now_ns);

/* Consumer thread, without the GIL: closes every thread's books up to `now_ns`, and when
 * waiting time is measured, queues a wait sample (with the thread's current stack) into
 * the config's `waits`, and a CPU-wait sample (with its latest CPU sample's stack) for
 * time it waited for a CPU. An idle thread's waiting time is only counted in its books,
 * unless `include_idle`. */
void ts_sampler_measure_waits(uint64_t now_ns);

/* Hands every queued CPU sample to `consume`, oldest first per thread. GIL held. */
void ts_sampler_drain(void (*consume)(const ts_sample_t *sample, void *context),
                     void *context);

/* Publishes a new map of code addresses for the handler's Python/native split. */
void ts_sampler_set_addrmap(const void *map);

/* Turns the handler on or off without touching the timers (used around stop/fork). */
void ts_sampler_enable(int enabled);

/* Deletes every timer and unregisters every thread at `now_ns`. GIL held. */
void ts_sampler_stop_all(uint64_t now_ns);

/* Totals per thread seen so far (finished first, then running), each with a copy of its
 * timeline that ts_sampler_threads_release frees. Returns the count written, at most
 * `capacity`. */
size_t ts_sampler_threads(ts_thread_summary_t *out, size_t capacity);
void ts_sampler_threads_release(ts_thread_summary_t *threads, size_t count);

/* The slot of the main thread (whose thread id is the process id), -1 when not sampled. */
int ts_sampler_main_slot(void);

/* CPU samples taken and dropped (full rings) so far. */
uint64_t ts_sampler_samples_taken(void);
uint64_t ts_sampler_samples_dropped(void);

/* In a forked child: the parent's timers and threads do not exist here. Forgets them
 * without touching locks another thread may have held at fork time. */
void ts_sampler_forget_after_fork(void);

/* Puts back the SIGSEGV and SIGBUS actions found before the first walk guard went in, unless
 * the program has set its own since (a profile attached to a running process ends). Only
 * once every timer is gone (ts_sampler_stop_all). */
void ts_sampler_release_faults(void);

#endif
