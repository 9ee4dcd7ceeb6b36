/* SPDX-License-Identifier: MIT
 *
 * sampler.c — CPU-time timers per thread, the signal handler, and per-thread time books.
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
 * signal that records nothing costs only its delivery.
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
 * Books: the consumer thread, every tick, reads each thread's CPU clock; waiting time is the
 * wall-clock time since the last tick that was not CPU time. It is charged to the thread's
 * current stack, walked with fault-tolerant reads; a thread whose CPU clock has not moved
 * since the last walk cannot have changed its stack, so the previous walk is reused. A thread
 * that is running cannot be walked (its frames move under the reader); its waiting time is
 * then time it was runnable but preempted, and goes to the stack of its latest CPU sample
 * (published by the handler under a sequence count) when that sample is recent, rather than
 * to a stack from whenever it last blocked.
 *
 * Code objects named by walked stacks: a stack walked from another thread (or kept from an
 * earlier walk) is only queued if no code object died since it was walked: `code_deaths`
 * counts deaths, and the check and the queueing happen under `deaths_lock`, which the dying
 * side takes too before it drains the queue. Either the sample is queued first and resolved
 * while the object lives, or the death is seen and the sample goes unattributed.
 *
 * Faults: on 3.11 and 3.12 the interpreter publishes a new C-stack frame record before
 * filling in its current frame, so for a few instructions the handler can read a garbage
 * pointer. The walk therefore runs under sigsetjmp, and a SIGSEGV/SIGBUS raised while this
 * thread is walking jumps back and drops the sample; any other fault goes to the handler
 * that was installed before ours.
 *
 * Locking: `slots_lock` guards slot metadata between GIL-holding callers (register,
 * unregister, drain) and the consumer thread (measure_waits), which never takes the GIL
 * while holding it. The handler takes no lock: it reads the generation atomically.
 */
#define _GNU_SOURCE
#include "sampler.h"

#include "addrmap.h"
#include "clock.h"
#include "random.h"
#include "sigguard.h"
#include "taskstate.h"

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

typedef struct {
    _Atomic uint32_t generation;   /* bumped on every (un)registration */
    volatile sig_atomic_t walking; /* the handler is reading frames: faults jump back */
    sigjmp_buf escape;
    _Atomic int active;            /* the handler may record into `ring` */
    ts_ring_t ring;                /* CPU samples, written by the handler */
    uint64_t credit_ns;            /* CPU time expired but not yet recorded (handler) */
    pid_t tid;
    const void *tstate;
    clockid_t cpu_clock;
    timer_t timer;
    int has_timer;
    uint64_t last_wall_ns, last_cpu_ns;
    uint64_t cpu_ns, wait_ns, idle_ns;
    char name[64];
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
    /* Stack used for waiting time, and the CPU clock reading it was walked at. */
    int has_walk;
    uint64_t walk_cpu_ns;
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
} slot_t;

static slot_t *slots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static ts_sampler_config_t config;
static uint64_t tick_ns;                    /* the timers' period: the kernel's tick */
static _Atomic(const ts_addrmap_t *) addrmap;
static _Atomic int handler_enabled;
static _Atomic uint64_t samples_taken;
static _Atomic int walkers;                 /* threads walking right now */
static struct sigaction previous_segv, previous_bus;
static int fault_handlers_installed;
static pthread_mutex_t deaths_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t code_deaths;
static _Atomic int main_slot = -1;
static ts_thread_summary_t finished[TS_MAX_FINISHED];
static size_t nfinished;
static int idle_detected;                   /* taskstate.c can tell idle threads apart */
static int run_delay_seen;                  /* a thread had a run-queue delay */

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
    if (!atomic_load_explicit(&handler_enabled, memory_order_relaxed))
        goto out;
    uint64_t token = (uint64_t)(uintptr_t)info->si_value.sival_ptr;
    uint32_t index = (uint32_t)token, generation = (uint32_t)(token >> 32);
    if (index >= TS_MAX_THREADS)
        goto out;
    slot_t *slot = &slots[index];
    if (atomic_load_explicit(&slot->generation, memory_order_acquire) != generation ||
        !atomic_load_explicit(&slot->active, memory_order_acquire))
        goto out;
    int overrun = info->si_overrun > 0 ? info->si_overrun : 0;
    slot->credit_ns += tick_ns * (uint64_t)(1 + overrun);
    if (slot->credit_ns < config.interval_ns)
        goto out;
    uint64_t weight_ns = slot->credit_ns / config.interval_ns * config.interval_ns;
    slot->credit_ns -= weight_ns;
    ts_sample_t *sample = ts_ring_reserve(&slot->ring);
    if (sample == NULL)
        goto out;
    ts_walk_t walk = {0, 0, -1};
    uint64_t deaths = atomic_load_explicit(&code_deaths, memory_order_acquire);
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
     * helpers reached by plain bytecode (allocation, dict lookups) stay Python time. */
    int native = where != TS_CODE_EVAL_LOOP &&
                 (where == TS_CODE_EXTENSION || where == TS_CODE_UNKNOWN ||
                  (walk.opcode >= 0 && config.call_opcodes[walk.opcode]));
    sample->weight_ns = weight_ns;
    sample->t_ns = ts_now_ns(); /* clock_gettime: async-signal-safe (vDSO) */
    sample->thread = index;
    sample->depth = walk.depth;
    sample->truncated = walk.truncated;
    sample->kind = native ? TS_SAMPLE_NATIVE : TS_SAMPLE_PYTHON;
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
        for (size_t i = 0; i < TS_MAX_THREADS; i++)
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

/* ==== Slots ==== */

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
        slots = calloc(TS_MAX_THREADS, sizeof *slots);
        if (slots == NULL)
            return -1;
        for (size_t i = 0; i < TS_MAX_THREADS; i++)
            ts_taskstate_reset(&slots[i].task);
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
    idle_detected = !config.virtual_time && ts_taskstate_init();
    /* A new profile (started again in-process, or a forked child's own) counts from zero. */
    atomic_store(&samples_taken, 0);
    pthread_mutex_lock(&slots_lock);
    nfinished = 0;
    run_delay_seen = 0;
    pthread_mutex_unlock(&slots_lock);
    atomic_store(&handler_enabled, 1);
    return 0;
}

static slot_t *find_slot_unlocked(pid_t tid)
{
    for (size_t i = 0; i < TS_MAX_THREADS; i++)
        if (atomic_load(&slots[i].active) && slots[i].tid == tid)
            return &slots[i];
    return NULL;
}

/* A free slot whose ring has been drained (so no sample of its previous thread is lost). */
static slot_t *free_slot_unlocked(void)
{
    for (size_t i = 0; i < TS_MAX_THREADS; i++) {
        slot_t *slot = &slots[i];
        if (atomic_load(&slot->active))
            continue;
        if (slot->ring.records == NULL &&
            ts_ring_init(&slot->ring, TS_RING_RECORDS, sizeof(ts_sample_t)) < 0)
            return NULL;
        if (ts_ring_peek(&slot->ring) == NULL)
            return slot;
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

static int arm_timer(slot_t *slot, uint32_t index)
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
    slot_t *existing = find_slot_unlocked(tid);
    if (existing != NULL) {
        existing->tstate = tstate;
        if (name != NULL && name[0] != '\0')
            snprintf(existing->name, sizeof existing->name, "%s", name);
        goto done;
    }
    slot_t *slot = free_slot_unlocked();
    if (slot == NULL) {
        result = -1;
        goto done;
    }
    uint32_t index = (uint32_t)(slot - slots);
    atomic_fetch_add(&slot->generation, 1);
    slot->tid = tid;
    slot->tstate = tstate;
    slot->cpu_clock = ts_thread_cpu_clock(tid);
    slot->last_wall_ns = now_ns;
    if (ts_clock_read_ns(slot->cpu_clock, &slot->last_cpu_ns) != 0) {
        result = -1; /* the thread is already gone */
        goto done;
    }
    slot->cpu_ns = slot->wait_ns = slot->idle_ns = 0;
    ts_taskstate_reset(&slot->task);
    slot->idle = slot->idle_known = slot->has_run_delay = 0;
    slot->cpu_wait_pending_ns = slot->cpu_wait_live_ns = 0;
    slot->blocked_since_ran = 0;
    slot->has_held = 0;
    slot->has_walk = 0;
    slot->cpu_t_ns = 0; /* a sample of the slot's previous thread is not this one's */
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

/* Brings a slot's books up to `now_ns`; returns the waiting time added. */
static uint64_t close_books(slot_t *slot, uint64_t now_ns, uint64_t *cpu_now)
{
    uint64_t cpu;
    uint64_t wall_delta = now_ns > slot->last_wall_ns ? now_ns - slot->last_wall_ns : 0;
    if (ts_clock_read_ns(slot->cpu_clock, &cpu) != 0) {
        /* The thread is gone: it neither ran nor waited since it ended. */
        cpu = slot->last_cpu_ns;
        wall_delta = 0;
    }
    uint64_t cpu_delta = cpu > slot->last_cpu_ns ? cpu - slot->last_cpu_ns : 0;
    uint64_t wait = wall_delta > cpu_delta ? wall_delta - cpu_delta : 0;
    if (config.virtual_time)
        wait = 0;
    slot->cpu_ns += cpu_delta;
    slot->wait_ns += wait;
    slot->last_cpu_ns = cpu;
    slot->last_wall_ns = now_ns;
    *cpu_now = cpu;
    return wait;
}

static void measure_slot(slot_t *slot, uint32_t index, uint64_t now_ns, int record, int last);

static void summarize(const slot_t *slot, ts_thread_summary_t *summary)
{
    summary->tid = slot->tid;
    memcpy(summary->name, slot->name, sizeof summary->name);
    summary->cpu_ns = slot->cpu_ns;
    summary->wait_ns = slot->wait_ns;
    summary->idle_ns = slot->idle_ns;
}

static void unregister_unlocked(slot_t *slot, uint64_t now_ns)
{
    /* The time since the last look, and the waiting held from it, are charged now: a thread
     * that lives a tick or two (thousands do in thread-per-task programs) would otherwise
     * have most of its waiting counted in its books but on no line. */
    measure_slot(slot, (uint32_t)(slot - slots), now_ns, atomic_load(&handler_enabled), 1);
    atomic_store(&slot->active, 0);
    atomic_fetch_add(&slot->generation, 1);
    if (atomic_load(&main_slot) == (int)(slot - slots))
        atomic_store(&main_slot, -1);
    if (slot->has_timer) {
        timer_delete(slot->timer);
        slot->has_timer = 0;
    }
    ts_taskstate_close(&slot->task);
    if (nfinished < TS_MAX_FINISHED)
        summarize(slot, &finished[nfinished++]);
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
    slot_t *slot = find_slot_unlocked(tid);
    if (slot != NULL)
        unregister_unlocked(slot, now_ns);
    pthread_mutex_unlock(&slots_lock);
}

void ts_sampler_retain(int (*keep)(pid_t tid, void *context), void *context, uint64_t now_ns)
{
    pthread_mutex_lock(&slots_lock);
    for (size_t i = 0; i < TS_MAX_THREADS; i++)
        if (atomic_load(&slots[i].active) && !keep(slots[i].tid, context))
            unregister_unlocked(&slots[i], now_ns);
    pthread_mutex_unlock(&slots_lock);
}

void ts_sampler_stop_all(uint64_t now_ns)
{
    if (slots == NULL)
        return;
    pthread_mutex_lock(&slots_lock);
    for (size_t i = 0; i < TS_MAX_THREADS; i++)
        if (atomic_load(&slots[i].active))
            unregister_unlocked(&slots[i], now_ns);
    pthread_mutex_unlock(&slots_lock);
}

/* ==== Waiting time (consumer thread, no GIL) ==== */

/* Refreshes the slot's stack for waiting time. A walk only counts if the thread's CPU
 * clock did not move while we read: a thread that ran meanwhile may have changed the
 * frames under us. When it did run, the previous stack (from when it was last seen
 * waiting) is the better guess for time it spent waiting before it woke. */
static void refresh_walk(slot_t *slot, uint64_t cpu_before)
{
    uint64_t deaths = atomic_load(&code_deaths);
    if (slot->has_walk && slot->walk_cpu_ns == cpu_before && slot->walk_deaths == deaths)
        return;
    ts_frame_t frames[TS_MAX_DEPTH];
    int ok;
    ts_walk_t walk = ts_frames_walk_thread(slot->tstate, frames, TS_MAX_DEPTH, &ok);
    uint64_t cpu_after;
    if (!ok || ts_clock_read_ns(slot->cpu_clock, &cpu_after) != 0 || cpu_after != cpu_before)
        return;
    slot->walk = walk;
    memcpy(slot->walk_frames, frames, walk.depth * sizeof frames[0]);
    slot->walk_cpu_ns = cpu_before;
    slot->walk_deaths = deaths;
    slot->has_walk = 1;
}

/* Copies the slot's latest CPU sample, if it was taken at or after `since_ns` (and since
 * the thread was registered); 1 when it was. */
static int copy_cpu_sample(slot_t *slot, uint64_t since_ns, ts_walk_t *walk,
                           ts_frame_t *frames, uint64_t *deaths, uint8_t *kind)
{
    uint32_t before = atomic_load_explicit(&slot->cpu_seq, memory_order_acquire);
    if (before & 1)
        return 0;
    uint64_t taken_ns = slot->cpu_t_ns;
    *deaths = slot->cpu_deaths;
    *kind = slot->cpu_kind;
    *walk = slot->cpu_walk;
    if (before == 0 || taken_ns == 0 || taken_ns < since_ns || walk->depth > TS_MAX_DEPTH)
        return 0;
    memcpy(frames, slot->cpu_frames, walk->depth * sizeof frames[0]);
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&slot->cpu_seq, memory_order_relaxed) == before;
}

/* Copies the slot's latest CPU sample into the slot's walk if it was taken at or after
 * `since_ns`; 1 when it was. */
static int adopt_cpu_sample(slot_t *slot, uint64_t since_ns)
{
    ts_walk_t walk;
    ts_frame_t frames[TS_MAX_DEPTH];
    uint64_t deaths;
    uint8_t kind;
    if (!copy_cpu_sample(slot, since_ns, &walk, frames, &deaths, &kind))
        return 0;
    slot->walk = walk;
    memcpy(slot->walk_frames, frames, walk.depth * sizeof frames[0]);
    slot->walk_deaths = deaths;
    slot->walk_cpu_ns = 0; /* not a walk at a known clock reading: never reused as one */
    slot->has_walk = 1;
    return 1;
}

void ts_sampler_code_dying(void)
{
    pthread_mutex_lock(&deaths_lock);
    atomic_fetch_add(&code_deaths, 1);
    pthread_mutex_unlock(&deaths_lock);
}

/* Adds the run-queue delay the kernel counted since the last read to the thread's pending
 * CPU wait. The kernel adds a delay when the thread gets its CPU, so only a thread that ran
 * since the last read can have a new one. */
static void read_run_delay(slot_t *slot)
{
    uint64_t delay;
    if (ts_taskstate_run_delay(&slot->task, slot->tid, &delay) != 0)
        return; /* not given by this kernel, or the thread just ended */
    uint64_t added = slot->has_run_delay && delay > slot->run_delay_ns
                         ? delay - slot->run_delay_ns : 0;
    /* What was already charged as it happened is part of the kernel's figure. */
    slot->cpu_wait_pending_ns += added > slot->cpu_wait_live_ns ? added - slot->cpu_wait_live_ns
                                                                : 0;
    slot->cpu_wait_live_ns = 0;
    run_delay_seen |= delay > 0;
    slot->run_delay_ns = delay;
    slot->has_run_delay = 1;
}

/* Whether the thread, not the main one, is blocked waiting for work. Its system call is
 * read again only when its CPU clock moved since the last read: one that has not run is
 * where it was. The clock is read again after, so a thread that ran meanwhile is read anew
 * next time. */
static int waiting_for_work(slot_t *slot, uint32_t index, uint64_t cpu_now)
{
    if (!idle_detected || (int)index == atomic_load(&main_slot))
        return 0;
    if (slot->idle_known && slot->idle_cpu_ns == cpu_now)
        return slot->idle;
    slot->idle = ts_taskstate_waiting_for_work(&slot->task, slot->tid);
    uint64_t cpu_after;
    slot->idle_known = ts_clock_read_ns(slot->cpu_clock, &cpu_after) == 0 && cpu_after == cpu_now;
    slot->idle_cpu_ns = cpu_now;
    return slot->idle;
}

/* Queues `ns` of CPU wait at the thread's latest CPU sample (its stack and Python/native
 * kind): the line it was running when preempted. `woken`: the thread blocked since it last
 * ran and now waits for a CPU to return from that block: the wait is queued where it blocked
 * (its walked stack), as system time, since that line's call is what it is finishing. 0 when
 * there is no such stack. Called with deaths_lock held. */
static int queue_cpu_wait(slot_t *slot, uint32_t index, uint64_t ns, uint64_t now_ns,
                          ts_ring_t *waits, int woken)
{
    ts_walk_t walk;
    uint64_t deaths;
    uint8_t kind;
    ts_sample_t *sample = ts_ring_reserve(waits);
    if (sample == NULL)
        return 1; /* a full ring drops it, as it drops any sample */
    if (woken) {
        if (!slot->has_walk)
            return 0;
        walk = slot->walk;
        deaths = slot->walk_deaths;
        memcpy(sample->frames, slot->walk_frames, walk.depth * sizeof sample->frames[0]);
        kind = TS_SAMPLE_CPU_WAIT_SYSTEM;
    } else {
        if (!copy_cpu_sample(slot, 1, &walk, sample->frames, &deaths, &kind))
            return 0;
        kind = kind == TS_SAMPLE_NATIVE ? TS_SAMPLE_CPU_WAIT_NATIVE : TS_SAMPLE_CPU_WAIT_PYTHON;
    }
    int usable = deaths == atomic_load(&code_deaths);
    sample->weight_ns = ns;
    sample->t_ns = now_ns;
    sample->thread = index;
    sample->kind = kind;
    sample->truncated = usable ? walk.truncated : 0;
    sample->depth = usable ? walk.depth : 0;
    ts_ring_commit(waits);
    return 1;
}

/* Charges the waiting held from the previous tick: first as CPU wait, as far as the
 * run-queue delay read since covers it, the rest as before. Called with deaths_lock held. */
static void settle_held(slot_t *slot, uint32_t index, uint64_t now_ns, ts_ring_t *waits)
{
    ts_sample_t *held = &slot->held;
    held->t_ns = now_ns; /* queued now: after the GPU readings of earlier spans (gpuattr.h) */
    uint64_t cpu_wait = slot->cpu_wait_pending_ns < held->weight_ns
                            ? slot->cpu_wait_pending_ns : held->weight_ns;
    if (cpu_wait > 0 && queue_cpu_wait(slot, index, cpu_wait, held->t_ns, waits, 0)) {
        slot->cpu_wait_pending_ns -= cpu_wait;
        held->weight_ns -= cpu_wait;
    }
    ts_sample_t *sample;
    if (held->weight_ns > 0 && (sample = ts_ring_reserve(waits)) != NULL) {
        int usable = slot->held_deaths == atomic_load(&code_deaths);
        *sample = *held;
        sample->depth = usable ? held->depth : 0;
        sample->truncated = usable ? held->truncated : 0;
        ts_ring_commit(waits);
    }
    slot->has_held = 0;
}

/* Brings one thread's books up to `now_ns` and queues its waiting into the waits ring
 * (`record`: not while profiling is suspended). `last`: the thread is ending (or ended):
 * its run-queue delay is read whatever happened, and nothing is held for a next look that
 * will not come, so every second its books count is also charged to a line. Called with
 * slots_lock held. */
static void measure_slot(slot_t *slot, uint32_t index, uint64_t now_ns, int record, int last)
{
    ts_ring_t *waits = config.waits;
    uint64_t cpu_now, cpu_before = slot->last_cpu_ns, tick_start_ns = slot->last_wall_ns;
    uint64_t wall_delta = now_ns > slot->last_wall_ns ? now_ns - slot->last_wall_ns : 0;
    uint64_t wait = close_books(slot, now_ns, &cpu_now);
    if (config.virtual_time)
        return;
    int still = cpu_now == cpu_before;
    if (!still)
        slot->blocked_since_ran = 0;
    if (last || !still || !slot->has_run_delay)
        read_run_delay(slot);
    if (slot->has_held) {
        pthread_mutex_lock(&deaths_lock);
        if (record)
            settle_held(slot, index, now_ns, waits);
        slot->has_held = 0;
        pthread_mutex_unlock(&deaths_lock);
    }
    if (wait == 0)
        return;
    /* Ready to run but waiting for a CPU: the thread's own time, not the OS's. */
    uint64_t cpu_wait = slot->cpu_wait_pending_ns < wait ? slot->cpu_wait_pending_ns : wait;
    slot->cpu_wait_pending_ns -= cpu_wait;
    wait -= cpu_wait;
    /* A thread that waited for a sliver of the tick (a page fault, a short GIL handoff) is
     * running: its stack is moving, and it is not idle; only a blocked thread is walked and
     * looked at. */
    int blocked = wait * 20 >= wall_delta;
    int idle = wait > 0 && blocked && waiting_for_work(slot, index, cpu_now);
    if (idle) {
        slot->wait_ns -= wait;
        slot->idle_ns += wait;
    }
    /* A thread whose CPU clock stood still all tick is either blocked or ready to run but
     * given no CPU (preempted, throttled by a quota, woken and not yet run): the kernel adds
     * the latter to its run-queue delay only once the thread runs again, which can be many
     * ticks later, so its state says which, now. */
    uint64_t live_cpu_wait = 0;
    if (still && wait > 0 && !idle && !last) {
        if (ts_taskstate_runnable(&slot->task, slot->tid))
            live_cpu_wait = wait;
        else
            slot->blocked_since_ran = 1;
    }
    wait -= live_cpu_wait;
    slot->cpu_wait_live_ns += live_cpu_wait;
    if (!record)
        return;
    if (blocked && (!idle || config.include_idle))
        refresh_walk(slot, cpu_now);
    pthread_mutex_lock(&deaths_lock);
    if (cpu_wait > 0 && !queue_cpu_wait(slot, index, cpu_wait, now_ns, waits, 0))
        wait += cpu_wait; /* no CPU sample yet: where it waits, as before */
    if (live_cpu_wait > 0 &&
        !queue_cpu_wait(slot, index, live_cpu_wait, now_ns, waits, slot->blocked_since_ran))
        wait += live_cpu_wait;
    pthread_mutex_unlock(&deaths_lock);
    if (wait == 0 || (idle && !config.include_idle))
        return;
    int walk_is_current = slot->has_walk && slot->walk_cpu_ns == cpu_now;
    /* It ran during the tick and could not be walked: preempted where it was sampled. A
     * sample from the previous interval still describes this tick's running. */
    if (!walk_is_current && cpu_now != cpu_before)
        adopt_cpu_sample(slot, tick_start_ns > config.interval_ns
                                   ? tick_start_ns - config.interval_ns : 0);
    pthread_mutex_lock(&deaths_lock);
    /* It ran during the tick: part of its waiting may be a run-queue delay the kernel
     * reports next tick. */
    int hold = cpu_now != cpu_before && !last;
    ts_sample_t *sample = hold ? &slot->held : ts_ring_reserve(waits);
    if (sample != NULL) {
        int usable = slot->has_walk && slot->walk_deaths == atomic_load(&code_deaths);
        slot->held_deaths = slot->walk_deaths;
        sample->weight_ns = wait;
        sample->t_ns = now_ns;
        sample->thread = index;
        sample->kind = TS_SAMPLE_WAIT;
        sample->truncated = usable ? slot->walk.truncated : 0;
        sample->depth = usable ? slot->walk.depth : 0;
        memcpy(sample->frames, slot->walk_frames, sample->depth * sizeof sample->frames[0]);
        if (hold)
            slot->has_held = 1;
        else
            ts_ring_commit(waits);
    }
    pthread_mutex_unlock(&deaths_lock);
}

void ts_sampler_measure_waits(uint64_t now_ns)
{
    if (slots == NULL)
        return; /* CPU profiling off */
    /* Suspended: the books still close (so resuming does not charge the pause), but the
     * waiting time is not charged to any line. */
    int record = atomic_load(&handler_enabled);
    pthread_mutex_lock(&slots_lock);
    for (size_t i = 0; i < TS_MAX_THREADS; i++)
        if (atomic_load(&slots[i].active))
            measure_slot(&slots[i], (uint32_t)i, now_ns, record, 0);
    pthread_mutex_unlock(&slots_lock);
}

int ts_sampler_idle_detected(void)
{
    return idle_detected;
}

int ts_sampler_cpu_wait_measured(void)
{
    return run_delay_seen;
}

/* ==== Draining and reporting ==== */

void ts_sampler_drain(void (*consume)(const ts_sample_t *sample, void *context),
                      void *context)
{
    if (slots == NULL)
        return;
    for (size_t i = 0; i < TS_MAX_THREADS; i++) {
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
    for (size_t i = 0; i < nfinished && count < capacity; i++)
        out[count++] = finished[i];
    for (size_t i = 0; slots != NULL && i < TS_MAX_THREADS && count < capacity; i++) {
        if (!atomic_load(&slots[i].active))
            continue;
        summarize(&slots[i], &out[count++]);
    }
    pthread_mutex_unlock(&slots_lock);
    return count;
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
    for (size_t i = 0; slots != NULL && i < TS_MAX_THREADS; i++)
        if (slots[i].ring.records != NULL)
            dropped += atomic_load(&slots[i].ring.dropped);
    return dropped;
}

void ts_sampler_forget_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    slots_lock = fresh;
    deaths_lock = fresh;
    atomic_store(&handler_enabled, 0);
    atomic_store(&main_slot, -1);
    for (size_t i = 0; slots != NULL && i < TS_MAX_THREADS; i++) {
        /* POSIX timers are not inherited by a child: nothing to delete. */
        slots[i].has_timer = 0;
        ts_taskstate_close(&slots[i].task); /* the parent's threads' files */
        atomic_store(&slots[i].active, 0);
        atomic_fetch_add(&slots[i].generation, 1);
        if (slots[i].ring.records != NULL)
            ts_ring_clear(&slots[i].ring);
    }
    nfinished = 0;
}
