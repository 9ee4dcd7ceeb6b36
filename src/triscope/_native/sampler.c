/* SPDX-License-Identifier: MIT
 *
 * sampler.c — CPU-time timers per thread, the signal handler and its fault recovery, and the
 * table of per-thread slots (slot.h). The books each slot keeps of CPU and waiting time, and
 * the waiting-time samples they queue, are waits.c's.
 *
 * Timers: one POSIX timer per Python thread on that thread's own CPU-time clock, delivering
 * TS_TIMER_SIGNAL to that thread (SIGEV_THREAD_ID). A CPU-time timer only advances while its
 * thread runs, so a thread blocked in a system call is never interrupted (no EINTR in native
 * code that does not retry), and threads are weighted by their own CPU time rather than by
 * who happened to be running when a process-wide timer fired.
 *
 * Ticks: the kernel checks CPU-time timers only at its scheduler tick (CONFIG_HZ, the
 * resolution of CLOCK_MONOTONIC_COARSE), on the thread the tick interrupts. A timer due at a
 * random point of a 10 ms period is therefore almost never seen by a thread that lives less
 * than a tick: thousands of short threads went unsampled. So the timer runs at the tick's
 * period and is due at once: every tick that lands on a thread fires (a thread running
 * T < tick is hit with probability T / tick, the tick's phase being random), and each expiry
 * stands for one tick of CPU time (1 + si_overrun expiries per signal). Expired time is
 * credited to the thread and a sample is recorded each time the credit reaches the requested
 * interval, weighing whole intervals; the credit starts at a uniformly random point of one
 * interval, so a thread hit once is recorded with probability tick / interval. Unbiased, at
 * the requested rate, as evenly spaced as the ticks allow (no added sampling noise), and a
 * signal that records nothing costs only its delivery. Expired time is credited only past
 * the slot's credited mark (slot.h): time the consumer already sampled, catching up with a
 * thread whose slices held no tick (waits.c), is not credited again.
 *
 * The signal is guarded (sigguard.c): the program sees and sets only its own view of it, and
 * one it raises itself is passed on to that view.
 *
 * The handler: identifies the thread's slot from si_value (slot index + generation, so a
 * stale signal for a reused slot is dropped), walks the thread's own stack (frames.c),
 * classifies the interrupted instruction address (addrmap.c) and commits one record to the
 * slot's ring. Rules: no malloc, no locks, no Python API beyond frames.c's, errno saved and
 * restored, drop and count rather than wait.
 *
 * Faults: on 3.11 and 3.12 the interpreter publishes a new C-stack frame record before
 * filling in its current frame, so for a few instructions the handler can read a garbage
 * pointer. The walk therefore runs under sigsetjmp, and a SIGSEGV/SIGBUS raised while this
 * thread is walking jumps back and drops the sample; any other fault goes to the handler
 * that was installed before ours.
 *
 * Timelines: every slot keeps its thread's lane of time buckets (timeline.h), filled by
 * waits.c as it closes the books each tick; the axis they share is this file's, and doubles
 * here, for every lane at once (finished threads' too), when a tick falls past its end. The
 * lanes grow with malloc in the consumer thread and in threads that end, under the
 * allocation guard: that memory is the profiler's, not the program's.
 *
 * Locking: `slots_lock` guards slot metadata between GIL-holding callers (register,
 * unregister, drain) and the consumer thread (measure_waits, which hands each slot to
 * waits.c under it), which never takes the GIL while holding it. The handler takes no lock:
 * it reads the generation atomically.
 */
#define _GNU_SOURCE
/* The one place a build for another machine stops, with what a port must supply. */
#if !defined(__x86_64__) || !defined(__linux__)
#  error "triscope's C core supports only x86-64 Linux: a port needs the interrupted \
instruction address from the signal context (REG_RIP, in on_timer below), a little-endian \
code unit whose first byte is the opcode (frames.c), and Linux's per-thread CPU-time timers \
and /proc/self/task files (sampler.c, taskstate.c)"
#endif
#include "sampler.h"

#include "addrmap.h"
#include "clock.h"
#include "pymemory.h"
#include "random.h"
#include "sigguard.h"
#include "slot.h"
#include "taskstate.h"
#include "waits.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef sigev_notify_thread_id
#  define sigev_notify_thread_id _sigev_un._tid
#endif

/* Enough for hundreds of live threads; slots of ended threads are reused. */
#define TS_MAX_THREADS 1024
/* Per-thread ring: 0.1 s between drains at 100 Hz is 10 records; 64 leaves room for the
 * consumer being late by several drains. */
#define TS_RING_RECORDS 64
/* Ended threads kept by name for the report; beyond this they are only counted in totals. */
#define TS_MAX_FINISHED 4096

static ts_slot_t *slots;
/* Slots [0, slots_used) have held a thread at some time; the rest of the table (about 8 KiB
 * a slot) was never touched, so its pages are not resident, and no loop goes there: a
 * program of a few threads costs a few slots, not TS_MAX_THREADS of them at every tick and
 * in every forked child. Grows under slots_lock, never shrinks. */
static _Atomic size_t slots_used;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static ts_sampler_config_t config;
static uint64_t tick_ns;                    /* the timers' period: the kernel's tick */
static _Atomic(const ts_addrmap_t *) addrmap;
static _Atomic int handler_enabled;
static _Atomic uint64_t samples_taken;
static _Atomic int walkers;                 /* threads walking right now */
static struct sigaction previous_segv, previous_bus;
static int fault_handlers_installed;
static _Atomic int main_slot = -1;
static ts_thread_summary_t finished[TS_MAX_FINISHED];

static size_t slots_in_use(void)
{
    return atomic_load_explicit(&slots_used, memory_order_acquire);
}
static size_t nfinished;
static ts_timeline_axis_t axis;             /* the timelines' buckets (slots_lock) */

/* ==== The signal handler ==== */

static void on_timer(int signo, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    /* Only our timers send it with SI_TIMER; any other sender is the program's own (raise,
     * kill, sigqueue), whatever the program set for this signal handles it. */
    if (info->si_code != SI_TIMER) {
        ts_sigguard_forward(signo, info, context);
        goto out;
    }
    uint64_t token = (uint64_t)(uintptr_t)info->si_value.sival_ptr;
    uint32_t index = (uint32_t)token, generation = (uint32_t)(token >> 32);
    if (slots == NULL || index >= TS_MAX_THREADS)
        goto out;
    ts_slot_t *slot = &slots[index];
    if (atomic_load_explicit(&slot->generation, memory_order_acquire) != generation ||
        !atomic_load_explicit(&slot->active, memory_order_acquire))
        goto out;
    /* Every expiry moves the credited mark, suspended or not: the expiries counted as of a
     * signal reach past the thread's CPU clock (the kernel re-arms the timer past it), a
     * mark the consumer's catching up never overtakes (slot.h). */
    int overrun = info->si_overrun > 0 ? info->si_overrun : 0;
    slot->expired_ns += tick_ns * (uint64_t)(1 + overrun);
    uint64_t reached = slot->armed_cpu_ns + slot->expired_ns;
    uint64_t credited = ts_slot_credit_through(slot, reached);
    if (reached <= credited || !atomic_load_explicit(&handler_enabled, memory_order_relaxed))
        goto out;
    slot->credit_ns += reached - credited;
    if (slot->credit_ns < config.interval_ns)
        goto out;
    uint64_t weight_ns = slot->credit_ns / config.interval_ns * config.interval_ns;
    slot->credit_ns -= weight_ns;
    ts_sample_t *sample = ts_ring_reserve(&slot->ring);
    if (sample == NULL)
        goto out;
    /* volatile: written between sigsetjmp and a possible siglongjmp, read after. */
    volatile ts_walk_t walk = {.opcode = -1};
    uint64_t deaths = ts_waits_code_deaths();
    atomic_fetch_add(&walkers, 1);
    slot->walking = 1;
    if (sigsetjmp(slot->escape, 1) == 0)
        walk = ts_frames_walk_self(sample->frames, TS_MAX_DEPTH);
    slot->walking = 0;
    atomic_fetch_sub(&walkers, 1);
    const ucontext_t *uc = context;
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    ts_code_kind_t where =
        ts_addrmap_lookup(atomic_load_explicit(&addrmap, memory_order_acquire), pc);
    /* Native: outside the eval loop, in an extension (or unknown code), or in the
     * interpreter's own C code on behalf of a call (sorted, str.join, re): libc or libpython
     * helpers reached by plain bytecode (allocation, dict lookups) stay Python time. Unknown
     * code while the thread runs an optimized trace is the JIT's machine code for that
     * bytecode: Python time too, unless the instruction is a call. */
    int native = where != TS_CODE_EVAL_LOOP &&
                 (where == TS_CODE_EXTENSION ||
                  (where == TS_CODE_UNKNOWN && !walk.in_executor) ||
                  (walk.opcode >= 0 && config.call_opcodes[walk.opcode]));
    sample->weight_ns = weight_ns;
    sample->t_ns = ts_now_ns(); /* clock_gettime: async-signal-safe (vDSO) */
    sample->thread = index;
    sample->depth = walk.depth;
    sample->truncated = walk.truncated;
    sample->kind = native ? TS_SAMPLE_NATIVE : TS_SAMPLE_PYTHON;
    /* The timeline's split of CPU time (the consumer adds its caught-up samples too). */
    atomic_fetch_add_explicit(&slot->sampled_ns[native], weight_ns, memory_order_relaxed);
    uint32_t seq = atomic_load_explicit(&slot->cpu_seq, memory_order_relaxed);
    atomic_store_explicit(&slot->cpu_seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    slot->cpu_t_ns = sample->t_ns;
    slot->cpu_kind = sample->kind;
    slot->cpu_deaths = deaths;
    slot->cpu_walk = walk;
    memcpy(slot->cpu_frames, sample->frames, walk.depth * sizeof sample->frames[0]);
    atomic_store_explicit(&slot->cpu_seq, seq + 2, memory_order_release);
    ts_ring_commit(&slot->ring);
    atomic_fetch_add_explicit(&samples_taken, 1, memory_order_relaxed);
out:
    errno = saved_errno;
}

static void on_fault(int signo, siginfo_t *info, void *context)
{
    if (atomic_load(&walkers) > 0) {
        pid_t tid = gettid();
        for (size_t i = 0, used = slots_in_use(); i < used; i++)
            if (slots[i].walking && slots[i].tid == tid)
                siglongjmp(slots[i].escape, 1);
    }
    /* Not ours: hand it to whoever handled it before (or the default: a core dump). */
    const struct sigaction *previous = signo == SIGBUS ? &previous_bus : &previous_segv;
    if (previous->sa_flags & SA_SIGINFO) {
        previous->sa_sigaction(signo, info, context);
    } else if (previous->sa_handler != SIG_DFL && previous->sa_handler != SIG_IGN) {
        previous->sa_handler(signo);
    } else {
        sigaction(signo, previous, NULL); /* the fault repeats on return, now fatal */
    }
}

static int install_fault_handlers(void)
{
    if (fault_handlers_installed)
        return 0;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, &previous_segv) != 0 ||
        sigaction(SIGBUS, &action, &previous_bus) != 0)
        return -1;
    fault_handlers_installed = 1;
    return 0;
}

void ts_sampler_release_faults(void)
{
    if (!fault_handlers_installed)
        return;
    const int signals[] = {SIGSEGV, SIGBUS};
    const struct sigaction *previous[] = {&previous_segv, &previous_bus};
    for (size_t i = 0; i < 2; i++) {
        struct sigaction now;
        if (sigaction(signals[i], NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) &&
            now.sa_sigaction == on_fault)
            sigaction(signals[i], previous[i], NULL);
    }
    fault_handlers_installed = 0;
}

/* ==== Slots ==== */

static void forget_finished_unlocked(void)
{
    for (size_t i = 0; i < nfinished; i++)
        ts_lane_free(&finished[i].timeline);
    nfinished = 0;
}

int ts_sampler_init(const ts_sampler_config_t *cfg)
{
    config = *cfg;
    struct timespec resolution;
    uint64_t coarse_ns = 0;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &resolution) == 0)
        coarse_ns = (uint64_t)resolution.tv_sec * 1000000000u + (uint64_t)resolution.tv_nsec;
    /* No coarse clock (or an absurd one): fall back to the interval itself. */
    tick_ns = coarse_ns > 0 && coarse_ns <= 100000000u ? coarse_ns : config.interval_ns;
    if (slots == NULL) {
        /* Each slot's files are set "not open yet" as a thread takes it (register). */
        slots = calloc(TS_MAX_THREADS, sizeof *slots);
        if (slots == NULL)
            return -1;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_timer;
    /* No SA_RESTART. Our signal never interrupts a system call by itself (it is generated
     * as the thread returns to user mode), but when another signal wakes a blocked call,
     * the kernel first runs the pending timer work and delivers our thread-directed signal
     * before the process-directed one, and the first signal's flag decides whether the call
     * restarts. With SA_RESTART a SIGTERM or SIGINT whose (Python) handler wants EINTR was
     * swallowed: the call resumed and the handler never ran (a pool worker blocked on a lock
     * ignored its pool's SIGTERM). Without it the call ends with EINTR, as the other signal
     * alone would have made it. */
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (ts_sigguard_install(TS_TIMER_SIGNAL, &action) != 0 || install_fault_handlers() != 0)
        return -1;
    ts_waits_init(&config, tick_ns);
    /* A new profile (started again in-process, or a forked child's own) counts from zero. */
    atomic_store(&samples_taken, 0);
    pthread_mutex_lock(&slots_lock);
    forget_finished_unlocked();
    /* Two sampling intervals a bucket at first: a tick or two in each, so a thread's
     * activity is resolved as finely as it is measured. */
    ts_timeline_axis_init(&axis, ts_now_ns(), 2 * config.interval_ns);
    pthread_mutex_unlock(&slots_lock);
    atomic_store(&handler_enabled, 1);
    return 0;
}

static ts_slot_t *find_slot_unlocked(pid_t tid)
{
    for (size_t i = 0, used = slots_in_use(); i < used; i++)
        if (atomic_load(&slots[i].active) && slots[i].tid == tid)
            return &slots[i];
    return NULL;
}

/* A free slot whose ring has been drained (so no sample of its previous thread is lost). */
static ts_slot_t *free_slot_unlocked(void)
{
    for (size_t i = 0; i < TS_MAX_THREADS; i++) {
        ts_slot_t *slot = &slots[i];
        if (atomic_load(&slot->active))
            continue;
        if (slot->ring.records == NULL &&
            ts_ring_init(&slot->ring, TS_RING_RECORDS, sizeof(ts_sample_t)) < 0)
            return NULL;
        if (ts_ring_peek(&slot->ring) == NULL) {
            if (i >= slots_in_use())
                atomic_store_explicit(&slots_used, i + 1, memory_order_release);
            return slot;
        }
    }
    return NULL;
}

/* A uniformly distributed value in [0, bound), bound > 0. (Called with slots_lock held.) */
static uint64_t random_below(uint64_t bound)
{
    static uint64_t state;
    if (state == 0)
        state = ts_now_ns() | 1;
    return ts_random_next(&state) % bound;
}

static int arm_timer(ts_slot_t *slot, uint32_t index)
{
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = TS_TIMER_SIGNAL;
    event.sigev_notify_thread_id = slot->tid;
    uint64_t token = (uint64_t)atomic_load(&slot->generation) << 32 | index;
    event.sigev_value.sival_ptr = (void *)(uintptr_t)token;
    if (timer_create(slot->cpu_clock, &event, &slot->timer) != 0)
        return -1;
    /* Due at once, then every tick (see the header): the first tick to land on the thread
     * samples it. */
    struct itimerspec spec;
    spec.it_interval.tv_sec = (time_t)(tick_ns / 1000000000u);
    spec.it_interval.tv_nsec = (long)(tick_ns % 1000000000u);
    spec.it_value.tv_sec = 0;
    spec.it_value.tv_nsec = 1;
    if (timer_settime(slot->timer, 0, &spec, NULL) != 0) {
        timer_delete(slot->timer);
        return -1;
    }
    slot->has_timer = 1;
    return 0;
}

int ts_sampler_register(pid_t tid, const void *tstate, const char *name, uint64_t now_ns)
{
    int result = 0;
    pthread_mutex_lock(&slots_lock);
    ts_slot_t *existing = find_slot_unlocked(tid);
    if (existing != NULL) {
        existing->tstate = tstate;
        if (name != NULL && name[0] != '\0')
            snprintf(existing->name, sizeof existing->name, "%s", name);
        goto done;
    }
    ts_slot_t *slot = free_slot_unlocked();
    if (slot == NULL) {
        result = -1;
        goto done;
    }
    uint32_t index = (uint32_t)(slot - slots);
    atomic_fetch_add(&slot->generation, 1);
    slot->tid = tid;
    slot->main_thread = tid == getpid();
    slot->tstate = tstate;
    slot->cpu_clock = ts_thread_cpu_clock(tid);
    slot->last_wall_ns = now_ns;
    if (ts_clock_read_ns(slot->cpu_clock, &slot->last_cpu_ns) != 0) {
        result = -1; /* the thread is already gone */
        goto done;
    }
    slot->armed_cpu_ns = slot->last_cpu_ns;
    slot->expired_ns = slot->catch_up_credit_ns = 0;
    atomic_store(&slot->credited_cpu_ns, slot->last_cpu_ns);
    slot->cpu_ns = slot->wait_ns = slot->idle_ns = slot->wait_owed_ns = 0;
    ts_lane_free(&slot->lane); /* a slot left active by a fork: the parent's thread's */
    slot->lane_cpu_carry_ns = 0;
    slot->lane_sampled_ns[0] = atomic_load(&slot->sampled_ns[0]);
    slot->lane_sampled_ns[1] = atomic_load(&slot->sampled_ns[1]);
    ts_taskstate_reset(&slot->task);
    slot->idle = slot->idle_known = slot->has_run_delay = 0;
    slot->cpu_wait_pending_ns = slot->cpu_wait_live_ns = 0;
    slot->blocked_since_ran = 0;
    slot->has_held = 0;
    slot->has_walk = 0;
    slot->cpu_t_ns = 0; /* a sample of the slot's previous thread is not this one's */
    slot->seen[0].valid = slot->seen[1].valid = 0;
    slot->seen_seq = atomic_load(&slot->cpu_seq);
    slot->credit_ns = random_below(config.interval_ns);
    snprintf(slot->name, sizeof slot->name, "%s", name ? name : "");
    ts_ring_clear(&slot->ring);
    atomic_store(&slot->active, 1);
    if (arm_timer(slot, index) != 0) {
        atomic_store(&slot->active, 0);
        result = -1;
    } else if (tid == getpid()) {
        atomic_store(&main_slot, (int)index);
    }
done:
    pthread_mutex_unlock(&slots_lock);
    return result;
}

/* The slot's totals; its timeline is left to the caller (moved or copied). */
static void summarize(const ts_slot_t *slot, ts_thread_summary_t *summary)
{
    summary->tid = slot->tid;
    memcpy(summary->name, slot->name, sizeof summary->name);
    summary->cpu_ns = slot->cpu_ns;
    summary->wait_ns = slot->wait_ns;
    summary->idle_ns = slot->idle_ns;
    memset(&summary->timeline, 0, sizeof summary->timeline);
}

/* Doubles the timelines' bucket width, every lane with it, until `now_ns` fits. */
static void fit_axis_unlocked(uint64_t now_ns)
{
    while (ts_timeline_axis_full(&axis, now_ns)) {
        ts_timeline_axis_coarsen(&axis);
        for (size_t i = 0, used = slots_in_use(); i < used; i++)
            ts_lane_coarsen(&slots[i].lane);
        for (size_t i = 0; i < nfinished; i++)
            ts_lane_coarsen(&finished[i].timeline);
    }
}

static void measure_slot_unlocked(ts_slot_t *slot, uint64_t now_ns, int record, int last)
{
    fit_axis_unlocked(now_ns);
    ts_pymemory_guard(1); /* a lane that grows is the profiler's memory */
    if (ts_waits_measure_slot(slot, (uint32_t)(slot - slots), now_ns, record, last, &axis))
        atomic_fetch_add_explicit(&samples_taken, 1, memory_order_relaxed);
    ts_pymemory_guard(0);
}

static void unregister_unlocked(ts_slot_t *slot, uint64_t now_ns)
{
    /* The time since the last look, and the waiting held from it, are charged now: a thread
     * that lives a tick or two (thousands do in thread-per-task programs) would otherwise
     * have most of its waiting counted in its books but on no line. */
    measure_slot_unlocked(slot, now_ns, atomic_load(&handler_enabled), 1);
    atomic_store(&slot->active, 0);
    atomic_fetch_add(&slot->generation, 1);
    if (atomic_load(&main_slot) == (int)(slot - slots))
        atomic_store(&main_slot, -1);
    if (slot->has_timer) {
        timer_delete(slot->timer);
        slot->has_timer = 0;
    }
    ts_taskstate_close(&slot->task);
    if (nfinished < TS_MAX_FINISHED) {
        ts_thread_summary_t *summary = &finished[nfinished++];
        summarize(slot, summary);
        summary->timeline = slot->lane; /* moved: the slot starts afresh */
        memset(&slot->lane, 0, sizeof slot->lane);
    } else {
        ts_lane_free(&slot->lane);
    }
}

int ts_sampler_is_registered(pid_t tid)
{
    if (slots == NULL)
        return 0;
    pthread_mutex_lock(&slots_lock);
    int registered = find_slot_unlocked(tid) != NULL;
    pthread_mutex_unlock(&slots_lock);
    return registered;
}

void ts_sampler_unregister(pid_t tid, uint64_t now_ns)
{
    pthread_mutex_lock(&slots_lock);
    ts_slot_t *slot = find_slot_unlocked(tid);
    if (slot != NULL)
        unregister_unlocked(slot, now_ns);
    pthread_mutex_unlock(&slots_lock);
}

void ts_sampler_retain(int (*keep)(pid_t tid, void *context), void *context, uint64_t now_ns)
{
    pthread_mutex_lock(&slots_lock);
    for (size_t i = 0, used = slots_in_use(); i < used; i++)
        if (atomic_load(&slots[i].active) && !keep(slots[i].tid, context))
            unregister_unlocked(&slots[i], now_ns);
    pthread_mutex_unlock(&slots_lock);
}

void ts_sampler_stop_all(uint64_t now_ns)
{
    if (slots == NULL)
        return;
    pthread_mutex_lock(&slots_lock);
    for (size_t i = 0, used = slots_in_use(); i < used; i++)
        if (atomic_load(&slots[i].active))
            unregister_unlocked(&slots[i], now_ns);
    pthread_mutex_unlock(&slots_lock);
}

/* ==== Waiting time: each slot's books are kept by waits.c ==== */

void ts_sampler_measure_waits(uint64_t now_ns)
{
    if (slots == NULL)
        return; /* CPU profiling off */
    /* Suspended: the books still close (so resuming does not charge the pause), but the
     * waiting time is not charged to any line. */
    int record = atomic_load(&handler_enabled);
    pthread_mutex_lock(&slots_lock);
    for (size_t i = 0, used = slots_in_use(); i < used; i++)
        if (atomic_load(&slots[i].active))
            measure_slot_unlocked(&slots[i], now_ns, record, 0);
    pthread_mutex_unlock(&slots_lock);
}

/* ==== Draining and reporting ==== */

void ts_sampler_drain(void (*consume)(const ts_sample_t *sample, void *context),
                      void *context)
{
    if (slots == NULL)
        return;
    for (size_t i = 0, used = slots_in_use(); i < used; i++) {
        ts_ring_t *ring = &slots[i].ring;
        if (ring->records == NULL)
            continue;
        const ts_sample_t *sample;
        while ((sample = ts_ring_peek(ring)) != NULL) {
            consume(sample, context);
            ts_ring_release(ring);
        }
    }
}

void ts_sampler_set_addrmap(const void *map)
{
    atomic_store_explicit(&addrmap, (const ts_addrmap_t *)map, memory_order_release);
}

void ts_sampler_enable(int enabled)
{
    atomic_store(&handler_enabled, enabled);
}

size_t ts_sampler_threads(ts_thread_summary_t *out, size_t capacity)
{
    size_t count = 0;
    pthread_mutex_lock(&slots_lock);
    ts_pymemory_guard(1);
    for (size_t i = 0; i < nfinished && count < capacity; i++) {
        out[count] = finished[i];
        ts_lane_copy(&out[count].timeline, &finished[i].timeline);
        out[count++].axis = axis;
    }
    for (size_t i = 0, used = slots_in_use(); slots != NULL && i < used && count < capacity; i++) {
        if (!atomic_load(&slots[i].active))
            continue;
        summarize(&slots[i], &out[count]);
        ts_lane_copy(&out[count].timeline, &slots[i].lane);
        out[count++].axis = axis;
    }
    ts_pymemory_guard(0);
    pthread_mutex_unlock(&slots_lock);
    return count;
}

void ts_sampler_threads_release(ts_thread_summary_t *threads, size_t count)
{
    for (size_t i = 0; i < count; i++)
        ts_lane_free(&threads[i].timeline);
}

int ts_sampler_main_slot(void)
{
    return atomic_load(&main_slot);
}

uint64_t ts_sampler_samples_taken(void)
{
    return atomic_load(&samples_taken);
}

uint64_t ts_sampler_samples_dropped(void)
{
    uint64_t dropped = 0;
    for (size_t i = 0, used = slots_in_use(); slots != NULL && i < used; i++)
        if (slots[i].ring.records != NULL)
            dropped += atomic_load(&slots[i].ring.dropped);
    return dropped;
}

void ts_sampler_forget_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    slots_lock = fresh;
    ts_waits_forget_after_fork();
    atomic_store(&handler_enabled, 0);
    atomic_store(&main_slot, -1);
    for (size_t i = 0, used = slots_in_use(); slots != NULL && i < used; i++) {
        /* POSIX timers are not inherited by a child: nothing to delete. */
        slots[i].has_timer = 0;
        ts_taskstate_close(&slots[i].task); /* the parent's threads' files */
        atomic_store(&slots[i].active, 0);
        atomic_fetch_add(&slots[i].generation, 1);
        if (slots[i].ring.records != NULL)
            ts_ring_clear(&slots[i].ring);
        ts_lane_free(&slots[i].lane);
    }
    forget_finished_unlocked();
}
