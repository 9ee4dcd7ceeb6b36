/* SPDX-License-Identifier: MIT
 *
 * clock.h — the clocks the core reads: CLOCK_MONOTONIC for every timestamp (samples, GPU
 * readings, memory events and the run's start and end are compared with one another, so
 * they must come from one clock), and the CPU-time clock of any thread of this process.
 * Inline, so the signal handler and the allocator hooks pay no call; clock_gettime is
 * async-signal-safe (the vDSO) and allocates nothing. No Python, no locks.
 */
#ifndef TS_CLOCK_H
#define TS_CLOCK_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Monotonic clock in ns. */
static inline uint64_t ts_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads `clock` into `ns`. 0, or -1 when the clock is gone (a thread's, once it ended). */
static inline int ts_clock_read_ns(clockid_t clock, uint64_t *ns)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return -1;
    *ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return 0;
}

/* The kernel's encoding of a thread CPU clock (CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD_MASK),
 * as glibc's pthread_getcpuclockid builds it, but from a tid: we may only know the tid. */
static inline clockid_t ts_thread_cpu_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned int)tid << 3) | 6);
}

#endif
