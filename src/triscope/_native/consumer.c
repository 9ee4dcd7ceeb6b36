/* SPDX-License-Identifier: MIT
 *
 * consumer.c — see consumer.h.
 *
 * It must not disturb what it measures: the GIL work runs at a low rate (the GIL period,
 * 10 Hz by default, and sooner only when a tick asks for it: a thread made from C appeared),
 * as a pending call of the main thread when it can (see below); the per-interval work (one
 * clock_gettime per thread, a stack walk only for a thread that waited and moved, a GPU poll
 * when one is due) needs no GIL. Every signal is blocked in this thread so that neither our
 * timers' signal nor the program's signals are delivered here.
 */
#define _GNU_SOURCE
#include "compat.h"
#include "consumer.h"

#include "clock.h"
#include "sampler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

static pthread_t thread;
static int running;
static _Atomic int stop_requested;
/* Sleeps are timed waits on this condition (on the monotonic clock), so stop() wakes the
 * thread at once instead of after up to one sampling interval. */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static _Atomic pid_t consumer_tid;
static uint64_t tick, gil_period;
static void (*gil_callback)(void);
static int (*tick_callback)(uint64_t now_ns);

static void sleep_until(uint64_t deadline_ns)
{
    struct timespec ts = {(time_t)(deadline_ns / 1000000000u),
                          (long)(deadline_ns % 1000000000u)};
    pthread_mutex_lock(&wake_lock);
    while (!atomic_load(&stop_requested) &&
           pthread_cond_timedwait(&wake, &wake_lock, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&wake_lock);
}

/* ==== Work that needs the GIL ====
 *
 * Taking the GIL from this thread costs the program more than the work itself: the holder
 * must drop it and then wait until this thread is scheduled to take it, which on a busy
 * machine can be tens of milliseconds, blocked: measured as system time on whatever line
 * the program was running. So the work is offered to the main thread as a pending call,
 * run between two bytecodes with the GIL it already holds. This thread takes the GIL itself
 * only when the call is still queued after a while and the main thread does not hold the
 * GIL (blocked in C, sleeping, joining): then the main thread is not waiting for it. While
 * the main thread holds it, the call runs as soon as the main thread runs again (on a busy
 * machine it may wait for a CPU), or after the C call it is in. */

static _Atomic int pending_queued;   /* a pending call is queued and has not run yet */
static uint64_t queued_ns;           /* when it was queued */
static _Atomic int work_wanted;      /* the tick asked for the GIL work; cleared once done */
static PyThreadState *main_tstate;   /* the main thread's, found at start (never dereferenced) */

static void do_gil_work(void)
{
    /* A call queued before stop() (or inherited by a forked child) must do nothing. */
    if (atomic_load(&stop_requested))
        return;
    atomic_store(&work_wanted, 0);
    gil_callback();
}

static int run_pending(void *unused)
{
    (void)unused;
    atomic_store(&pending_queued, 0);
    do_gil_work();
    return 0;
}

/* Once per GIL period, and every tick while the work is wanted sooner. A call still queued
 * after `patience_ns` means the main thread ran no bytecode meanwhile: unless it holds the
 * GIL (preempted, or in a C call that keeps it), do the work here (the queued call stays,
 * and only finds less to do when it runs). */
static void request_gil_work(uint64_t now_ns, uint64_t patience_ns)
{
    if (!atomic_load(&pending_queued)) {
        if (Py_AddPendingCall(run_pending, NULL) == 0) {
            queued_ns = now_ns;
            atomic_store(&pending_queued, 1);
            ts_compat_signal_pending_call(main_tstate);
            return;
        }
    } else if (now_ns - queued_ns < patience_ns) {
        return;
    } else if (ts_compat_gil_held_by(main_tstate)) {
        ts_compat_signal_pending_call(main_tstate);
        return;
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    do_gil_work();
    PyGILState_Release(gil);
}

static void *consumer_main(void *unused)
{
    (void)unused;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    atomic_store(&consumer_tid, gettid());
    uint64_t next_tick = ts_now_ns() + tick;
    uint64_t next_gil = ts_now_ns() + gil_period;
    while (!atomic_load(&stop_requested)) {
        sleep_until(next_tick);
        uint64_t now = ts_now_ns();
        next_tick += tick;
        if (next_tick < now) /* fell behind (suspended, overloaded): do not catch up */
            next_tick = now + tick;
        ts_sampler_measure_waits(now);
        /* After the waits: a GPU reading is queued after the samples of its span. */
        if (tick_callback != NULL && tick_callback(now))
            atomic_store(&work_wanted, 1);
        if (atomic_load(&stop_requested))
            break;
        if (now >= next_gil) {
            next_gil = now + gil_period;
            request_gil_work(now, gil_period / 2);
        } else if (atomic_load(&work_wanted)) {
            request_gil_work(now, 2 * tick);
        }
    }
    return NULL;
}

int ts_consumer_start(uint64_t tick_ns, uint64_t gil_period_ns, void (*on_gil)(void),
                      int (*on_tick)(uint64_t now_ns))
{
    if (running)
        return 0;
    tick = tick_ns;
    gil_period = gil_period_ns;
    gil_callback = on_gil;
    tick_callback = on_tick;
    main_tstate = ts_compat_main_thread_state();
    atomic_store(&stop_requested, 0);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&wake, &attributes);
    pthread_condattr_destroy(&attributes);
    if (pthread_create(&thread, NULL, consumer_main, NULL) != 0)
        return -1;
    running = 1;
    return 0;
}

void ts_consumer_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&wake_lock);
    atomic_store(&stop_requested, 1);
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&wake_lock);
    pthread_join(thread, NULL);
    pthread_cond_destroy(&wake);
    running = 0;
    atomic_store(&consumer_tid, 0);
}

pid_t ts_consumer_tid(void)
{
    return atomic_load(&consumer_tid);
}

void ts_consumer_forget_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    wake_lock = fresh;
    atomic_store(&stop_requested, 1); /* a pending call inherited from the parent: no-op */
    running = 0;
    atomic_store(&consumer_tid, 0);
}
