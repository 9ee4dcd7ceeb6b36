/* SPDX-License-Identifier: MIT
 *
 * slot.h — private to sampler.c and waits.c: one sampled thread's slot. sampler.c owns the
 * table of slots (registration, the timer, the signal handler's ring and its latest CPU
 * sample); waits.c owns the books each slot keeps of CPU and waiting time, and what they
 * charge to lines. Nothing else may include this header: everyone else sees threads only
 * through sampler.h.
 */
#ifndef TS_SLOT_H
#define TS_SLOT_H

#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "ringbuf.h"
#include "sample.h"
#include "taskstate.h"
#include "timeline.h"

/* A thread's latest CPU sample as the waits last copied it. */
typedef struct {
    int valid;
    uint8_t kind;                  /* TS_SAMPLE_PYTHON or TS_SAMPLE_NATIVE */
    uint64_t t_ns, deaths;
    ts_walk_t walk;
    ts_frame_t frames[TS_MAX_DEPTH];
} ts_cpu_seen_t;

typedef struct ts_slot {
    _Atomic uint32_t generation;   /* bumped on every (un)registration */
    volatile sig_atomic_t walking; /* the handler is reading frames: faults jump back */
    sigjmp_buf escape;
    _Atomic int active;            /* the handler may record into `ring` */
    ts_ring_t ring;                /* CPU samples, written by the handler */
    uint64_t credit_ns;            /* CPU time expired but not yet recorded (handler) */
    /* How far the thread's CPU clock has been credited to samples. The handler moves it to
     * where the timer's expiries have reached (`armed_cpu_ns`, the clock as the timer was
     * armed, plus a tick per expiry: `expired_ns`, counted while profiling is suspended
     * too); the consumer moves it to the clock's reading when it samples a thread the
     * ticks missed (waits.c, "catching up"). Each moves it forward only, with a
     * compare-and-swap, so no CPU time is credited twice. */
    _Atomic uint64_t credited_cpu_ns;
    uint64_t armed_cpu_ns;
    uint64_t expired_ns;
    uint64_t catch_up_credit_ns;   /* caught-up CPU time not yet recorded (consumer) */
    pid_t tid;
    int main_thread;               /* its tid is the process id: never idle */
    const void *tstate;
    clockid_t cpu_clock;
    timer_t timer;
    int has_timer;
    uint64_t last_wall_ns, last_cpu_ns;
    uint64_t cpu_ns, wait_ns, idle_ns;
    uint64_t wait_owed_ns;         /* CPU time read past a tick's end, owed by later waiting */
    char name[64];
    /* Its timeline (timeline.h), kept by waits.c each tick: CPU time split into Python and
     * native as the handler's samples since the last tick were (`sampled_ns`, written by
     * the handler alone; `lane_sampled_ns` what the last tick had read of them). */
    ts_lane_t lane;
    _Atomic uint64_t sampled_ns[2];  /* TS_SAMPLE_PYTHON, TS_SAMPLE_NATIVE */
    uint64_t lane_sampled_ns[2];
    uint64_t lane_cpu_carry_ns;      /* CPU time read past its tick's end, for the next */
    /* What the kernel says (taskstate.h), read by the consumer only when it can have changed:
     * a thread whose CPU clock has not moved is still in the same system call. */
    ts_taskstate_t task;
    int idle;                      /* blocked waiting for work at `idle_cpu_ns` */
    int idle_known;
    uint64_t idle_cpu_ns;
    int has_run_delay;
    uint64_t run_delay_ns;         /* the kernel's run-queue delay at the last read */
    uint64_t cpu_wait_pending_ns;  /* run-queue delay read but not yet charged */
    /* Waiting charged as CPU wait as it happened (the thread read as ready to run while its
     * CPU clock stood still) since the last read of the delay, which also holds it. */
    uint64_t cpu_wait_live_ns;
    int blocked_since_ran;         /* seen blocked since its CPU clock last moved */
    /* The waiting of a tick the thread ran in, held until the next tick: the kernel adds a
     * run-queue delay only when the thread gets its CPU back, so the delay of a thread
     * preempted at the end of a tick is read one tick later. */
    int has_held;
    uint64_t held_deaths;          /* code_deaths when its stack was taken */
    ts_sample_t held;
    /* Stack used for waiting time, the CPU clock reading it was walked at, and when; and
     * whether the thread was ready to run (preempted, not blocked) when it was walked. */
    int has_walk;
    int walk_ready;
    uint64_t walk_cpu_ns;
    uint64_t walk_t_ns;
    uint64_t walk_deaths;          /* code_deaths when the walk started */
    ts_walk_t walk;
    ts_frame_t walk_frames[TS_MAX_DEPTH];
    /* The latest recorded CPU sample's stack, written by the handler: odd `cpu_seq` while
     * it writes, so a reader that sees the count change (or odd) discards its copy. */
    _Atomic uint32_t cpu_seq;
    uint64_t cpu_t_ns;
    uint8_t cpu_kind;              /* TS_SAMPLE_PYTHON or TS_SAMPLE_NATIVE */
    uint64_t cpu_deaths;           /* code_deaths before that walk */
    ts_walk_t cpu_walk;
    ts_frame_t cpu_frames[TS_MAX_DEPTH];
    /* The latest CPU sample as of this tick and as of the tick before (waits.c): a run-queue
     * delay read now happened before the thread ran again, so before any sample taken since
     * the last tick. Copied only when `cpu_seq` moved. */
    ts_cpu_seen_t seen[2];
    int seen_now;
    uint32_t seen_seq;
} ts_slot_t;

/* Moves the slot's credited mark forward to `mark`, never back (the handler and the consumer
 * both move it); returns the mark as it was, `mark` or beyond when it had passed it already.
 * Async-signal-safe. */
static inline uint64_t ts_slot_credit_through(ts_slot_t *slot, uint64_t mark)
{
    uint64_t credited = atomic_load_explicit(&slot->credited_cpu_ns, memory_order_relaxed);
    while (mark > credited &&
           !atomic_compare_exchange_weak_explicit(&slot->credited_cpu_ns, &credited, mark,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    return credited;
}

#endif
