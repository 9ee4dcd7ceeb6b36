/* SPDX-License-Identifier: MIT
 *
 * sampler.h — per-thread CPU-time timers, the signal handler they fire (sampler.c), and the
 * per-thread bookkeeping of CPU and waiting time (waits.c). Samples are raw (code pointers, offsets); turning
 * them into lines is the consumer's job (resolve.c). No Python API here except what
 * frames.c documents.
 */
#ifndef TS_SAMPLER_H
#define TS_SAMPLER_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "frames.h"
#include "ringbuf.h"
#include "stats.h"

/* The timers' signal. A real-time signal rather than SIGPROF: programs (and other profilers)
 * use SIGPROF and setitimer themselves, and real-time signals are queued per timer, not
 * merged. */
#define TS_TIMER_SIGNAL (SIGRTMIN + 5)

typedef enum {
    TS_SAMPLE_PYTHON = 0,  /* CPU timer fired while running bytecode */
    TS_SAMPLE_NATIVE = 1,  /* CPU timer fired in native code called by the line */
    TS_SAMPLE_WAIT = 2,    /* waiting time measured by the consumer */
    /* Time the thread was ready to run but waited for a CPU, measured by the consumer and
     * charged where its latest CPU sample was taken, as that sample's kind. */
    TS_SAMPLE_CPU_WAIT_PYTHON = 3,
    TS_SAMPLE_CPU_WAIT_NATIVE = 4,
    /* The same for a thread woken from a block, charged where it blocked as system time. */
    TS_SAMPLE_CPU_WAIT_SYSTEM = 5
} ts_sample_kind_t;

typedef struct {
    uint64_t weight_ns;    /* thread time this sample stands for */
    uint64_t t_ns;         /* CLOCK_MONOTONIC when taken (GPU readings are matched by it) */
    uint32_t thread;       /* slot index */
    uint16_t depth;
    uint8_t kind;          /* ts_sample_kind_t */
    uint8_t truncated;
    ts_frame_t frames[TS_MAX_DEPTH]; /* innermost first */
} ts_sample_t;

typedef struct {
    uint64_t interval_ns;           /* CPU time between samples of one thread */
    int virtual_time;               /* do not measure waiting time */
    int include_idle;               /* count idle threads' waiting time (--idle) */
    /* Where waiting samples go. Written with the slot table's lock held (by the consumer
     * thread, by the final measurement at stop, and by a thread unregistering as it ends),
     * so the ring keeps one producer at a time. */
    ts_ring_t *waits;
    unsigned char call_opcodes[256];/* 1 for opcodes that call out (CALL and its variants) */
} ts_sampler_config_t;

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

/* A code object is about to be freed (GIL held). Stacks walked from other threads before
 * this moment may name it, so none of them is queued after this call returns; the caller
 * then resolves everything already queued while the object is still alive. */
void ts_sampler_code_dying(void);

/* Hands every queued CPU sample to `consume`, oldest first per thread. GIL held. */
void ts_sampler_drain(void (*consume)(const ts_sample_t *sample, void *context),
                     void *context);

/* Publishes a new map of code addresses for the handler's Python/native split. */
void ts_sampler_set_addrmap(const void *map);

/* Turns the handler on or off without touching the timers (used around stop/fork). */
void ts_sampler_enable(int enabled);

/* Deletes every timer and unregisters every thread at `now_ns`. GIL held. */
void ts_sampler_stop_all(uint64_t now_ns);

/* Totals per thread seen so far (finished first, then running). Returns the count
 * written, at most `capacity`. */
size_t ts_sampler_threads(ts_thread_summary_t *out, size_t capacity);

/* Whether idle threads are told apart (taskstate.h), and whether the kernel gave a
 * run-queue delay for any thread so far (0 where it gives none, or they all read zero). */
int ts_sampler_idle_detected(void);
int ts_sampler_cpu_wait_measured(void);

/* The slot of the main thread (whose thread id is the process id), -1 when not sampled. */
int ts_sampler_main_slot(void);

/* CPU samples taken and dropped (full rings) so far. */
uint64_t ts_sampler_samples_taken(void);
uint64_t ts_sampler_samples_dropped(void);

/* In a forked child: the parent's timers and threads do not exist here. Forgets them
 * without touching locks another thread may have held at fork time. */
void ts_sampler_forget_after_fork(void);

#endif
