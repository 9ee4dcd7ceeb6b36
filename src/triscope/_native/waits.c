/* SPDX-License-Identifier: MIT
 *
 * waits.c — each sampled thread's books of CPU and waiting time, and the waiting-time
 * samples they queue (docs/PROFILE_FORMAT.md, "Idle threads and waiting for a CPU").
 * The books are brought up to date in the consumer thread every tick without the GIL, in a
 * thread that unregisters as it ends, and once at stop; always with the slot table's lock
 * held (sampler.c), never in the signal handler. A code object's death is counted here by
 * whichever thread frees it (GIL held). No Python API beyond frames.c's fault-tolerant walk.
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
 * Catching up: a thread the CPU timer's ticks missed for longer than a quiet machine allows
 * (a CPU shared with other work) is sampled by the consumer while it runs, for the CPU time
 * the timer had not credited (below, at catch_up).
 *
 * Timeline: each tick's books also go into the thread's lane of time buckets (timeline.h):
 * its CPU time, split into Python and native as the handler's samples of the tick were (or
 * as its latest sample was, in a tick with none), and its waiting, split as it was just
 * classified into idle, waiting for a CPU and blocked (system). A run-queue delay the kernel
 * reports a tick late (the held waiting below) shows in the tick it was read in.
 *
 * Code objects named by walked stacks: a stack walked from another thread (or kept from an
 * earlier walk) is only queued if no code object died since it was walked: `code_deaths`
 * counts deaths, and the check and the queueing happen under `deaths_lock`, which the dying
 * side takes too before it drains the queue. Either the sample is queued first and resolved
 * while the object lives, or the death is seen and the sample goes unattributed.
 */
#define _GNU_SOURCE
#include "waits.h"

#include "clock.h"
#include "slot.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

static ts_sampler_config_t config;
static pthread_mutex_t deaths_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t code_deaths;
static int idle_detected;                   /* taskstate.c can tell idle threads apart */
static int run_delay_seen;                  /* a thread had a run-queue delay */
static ts_code_cache_t code_cache;          /* walks' code headers; slot table lock held */
static uint64_t catch_up_after_ns;          /* a lag behind the timer's mark worth a walk */

void ts_waits_init(const ts_sampler_config_t *cfg, uint64_t tick_ns)
{
    config = *cfg;
    /* On a quiet machine the timer's mark trails the CPU clock by a tick and the signal's
     * delivery at most: an interval and two ticks is past that. */
    catch_up_after_ns = config.interval_ns + 2 * tick_ns;
    idle_detected = !config.virtual_time && ts_taskstate_init();
    run_delay_seen = 0;
}

uint64_t ts_waits_code_deaths(void)
{
    return atomic_load_explicit(&code_deaths, memory_order_acquire);
}

void ts_waits_forget_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    deaths_lock = fresh;
}

/* Brings a slot's books up to `now_ns`; returns the waiting time added. */
static uint64_t close_books(ts_slot_t *slot, uint64_t now_ns, uint64_t *cpu_now)
{
    uint64_t cpu;
    uint64_t wall_delta = now_ns > slot->last_wall_ns ? now_ns - slot->last_wall_ns : 0;
    if (ts_clock_read_ns(slot->cpu_clock, &cpu) != 0) {
        /* The thread is gone: it neither ran nor waited since it ended. */
        cpu = slot->last_cpu_ns;
        wall_delta = 0;
    }
    uint64_t cpu_delta = cpu > slot->last_cpu_ns ? cpu - slot->last_cpu_ns : 0;
    /* The CPU clock is read a little after `now_ns` (after the slot lock: on a busy machine
     * milliseconds later), so a tick may hold more CPU time than it lasted, and the next
     * one as much less: that tick's waiting would count the same time twice. What one tick
     * holds beyond its length is owed, and paid back from the waiting of the next ones. */
    uint64_t wait = 0;
    if (cpu_delta >= wall_delta) {
        slot->wait_owed_ns += cpu_delta - wall_delta;
    } else {
        wait = wall_delta - cpu_delta;
        uint64_t repaid = slot->wait_owed_ns < wait ? slot->wait_owed_ns : wait;
        slot->wait_owed_ns -= repaid;
        wait -= repaid;
    }
    if (config.virtual_time)
        wait = 0;
    slot->cpu_ns += cpu_delta;
    slot->wait_ns += wait;
    slot->last_cpu_ns = cpu;
    slot->last_wall_ns = now_ns;
    *cpu_now = cpu;
    return wait;
}


/* Refreshes the slot's stack for waiting time. A walk only counts if the thread's CPU
 * clock did not move while we read: a thread that ran meanwhile may have changed the
 * frames under us. When it did run, the previous stack (from when it was last seen
 * waiting) is the better guess for time it spent waiting before it woke. */
static void refresh_walk(ts_slot_t *slot, uint64_t cpu_before)
{
    uint64_t deaths = atomic_load(&code_deaths);
    if (slot->has_walk && slot->walk_cpu_ns == cpu_before && slot->walk_deaths == deaths)
        return;
    ts_frame_t frames[TS_MAX_DEPTH];
    int ok;
    ts_walk_t walk =
        ts_frames_walk_thread(slot->tstate, frames, TS_MAX_DEPTH, &code_cache, deaths, &ok);
    uint64_t cpu_after;
    if (!ok || ts_clock_read_ns(slot->cpu_clock, &cpu_after) != 0 || cpu_after != cpu_before)
        return;
    slot->walk = walk;
    memcpy(slot->walk_frames, frames, walk.depth * sizeof frames[0]);
    slot->walk_cpu_ns = cpu_before;
    slot->walk_ready = ts_taskstate_runnable(&slot->task, slot->tid);
    slot->walk_t_ns = ts_now_ns();
    slot->walk_deaths = deaths;
    slot->has_walk = 1;
}

/* Copies the slot's latest CPU sample, if it was taken at or after `since_ns` (and since
 * the thread was registered), and when it was taken into *taken_ns; 1 when it was. */
static int copy_cpu_sample(ts_slot_t *slot, uint64_t since_ns, ts_walk_t *walk,
                           ts_frame_t *frames, uint64_t *deaths, uint8_t *kind,
                           uint64_t *taken_ns_out)
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
    *taken_ns_out = taken_ns;
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&slot->cpu_seq, memory_order_relaxed) == before;
}

/* Copies the slot's latest CPU sample into the slot's walk if it was taken at or after
 * `since_ns`; 1 when it was. */
static int adopt_cpu_sample(ts_slot_t *slot, uint64_t since_ns)
{
    ts_walk_t walk;
    ts_frame_t frames[TS_MAX_DEPTH];
    uint64_t deaths, taken_ns;
    uint8_t kind;
    if (!copy_cpu_sample(slot, since_ns, &walk, frames, &deaths, &kind, &taken_ns))
        return 0;
    slot->walk = walk;
    memcpy(slot->walk_frames, frames, walk.depth * sizeof frames[0]);
    slot->walk_deaths = deaths;
    slot->walk_cpu_ns = 0; /* not a walk at a known clock reading: never reused as one */
    slot->walk_ready = 0;
    slot->has_walk = 1;
    return 1;
}

void ts_waits_code_dying(void)
{
    pthread_mutex_lock(&deaths_lock);
    atomic_fetch_add(&code_deaths, 1);
    pthread_mutex_unlock(&deaths_lock);
}

/* Adds the run-queue delay the kernel counted since the last read to the thread's pending
 * CPU wait. The kernel adds a delay when the thread gets its CPU, so only a thread that ran
 * since the last read can have a new one. */
static void read_run_delay(ts_slot_t *slot)
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
static int waiting_for_work(ts_slot_t *slot, uint32_t index, uint64_t cpu_now)
{
    if (!idle_detected || slot->main_thread)
        return 0;
    if (slot->idle_known && slot->idle_cpu_ns == cpu_now)
        return slot->idle;
    slot->idle = ts_taskstate_waiting_for_work(&slot->task, slot->tid);
    uint64_t cpu_after;
    slot->idle_known = ts_clock_read_ns(slot->cpu_clock, &cpu_after) == 0 && cpu_after == cpu_now;
    slot->idle_cpu_ns = cpu_now;
    return slot->idle;
}

/* Whether two stacks are the same chain of calls (the same code objects, innermost first):
 * the thread is still in the calls it was sampled in, whatever the instruction. */
static int same_calls(const ts_frame_t *a, int depth_a, const ts_frame_t *b, int depth_b)
{
    if (depth_a != depth_b)
        return 0;
    for (int i = 0; i < depth_a; i++)
        if (a[i].code != b[i].code)
            return 0;
    return 1;
}

/* Copies the thread's latest CPU sample into the newer of its two views when the handler
 * recorded one since the last copy, and returns the view as of the previous tick. */
static const ts_cpu_seen_t *see_cpu_sample(ts_slot_t *slot)
{
    uint32_t seq = atomic_load_explicit(&slot->cpu_seq, memory_order_acquire);
    if (seq == slot->seen_seq)
        return &slot->seen[slot->seen_now];
    slot->seen_now ^= 1;
    ts_cpu_seen_t *now = &slot->seen[slot->seen_now];
    now->valid = copy_cpu_sample(slot, 1, &now->walk, now->frames, &now->deaths, &now->kind,
                                 &now->t_ns);
    if (now->valid)
        slot->seen_seq = seq;
    const ts_cpu_seen_t *before = &slot->seen[!slot->seen_now];
    return before->valid ? before : now;
}

/* Queues `ns` of thread `index`'s time of `kind` at a walked stack, taken when `deaths` code
 * objects had died: without its frames if one died since (they may name it). 0 when the
 * ring is full. Called with deaths_lock held. */
static int queue_walk(ts_ring_t *ring, uint32_t index, uint8_t kind, uint64_t ns,
                      uint64_t now_ns, const ts_walk_t *walk, const ts_frame_t *frames,
                      uint64_t deaths)
{
    ts_sample_t *sample = ts_ring_reserve(ring);
    if (sample == NULL)
        return 0;
    int usable = deaths == atomic_load(&code_deaths);
    memcpy(sample->frames, frames, walk->depth * sizeof sample->frames[0]);
    sample->weight_ns = ns;
    sample->t_ns = now_ns;
    sample->thread = index;
    sample->kind = kind;
    sample->truncated = usable ? walk->truncated : 0;
    sample->depth = usable ? walk->depth : 0;
    ts_ring_commit(ring);
    return 1;
}

/* What the caller knows of the thread as its CPU wait is queued. */
typedef enum {
    TS_STATE_UNREAD,   /* a delay the kernel reported: the thread has run since */
    TS_STATE_READY,    /* read just now as ready to run, and not blocked since it last ran */
    TS_STATE_WOKEN     /* read just now as ready to run, after blocking since it last ran */
} ts_wait_state_t;

/* Queues `ns` of CPU wait at the thread's CPU sample `seen` (its stack and Python/native
 * kind): the line it was running when preempted. A woken thread waits for a CPU to return
 * from its block: the wait is queued where it blocked (its walked stack), as system time,
 * since that line's call is what it is finishing. 0 when there is no such stack. Called with
 * deaths_lock held. */
static int queue_cpu_wait(ts_slot_t *slot, uint32_t index, uint64_t ns, uint64_t now_ns,
                          ts_ring_t *waits, ts_wait_state_t state, const ts_cpu_seen_t *seen)
{
    /* Walked, after its latest CPU sample, in other calls than that sample's: the sample is
     * old news (a thread that runs little between blocks, a loop of short sleeps, was
     * sampled long ago elsewhere). The wait goes where the thread was walked: as its Python
     * or native time if it is ready to run there now (preempted before a new sample; native
     * when it stands at a call, as the handler would say), else as the wake-up of the call
     * it blocked in, system time. */
    int at_walk = state == TS_STATE_WOKEN;
    if (!at_walk) {
        if (seen == NULL || !seen->valid)
            return 0;
        at_walk = slot->has_walk && slot->walk_cpu_ns != 0 && slot->walk_t_ns > seen->t_ns &&
                  !same_calls(slot->walk_frames, slot->walk.depth, seen->frames,
                              seen->walk.depth);
    }
    if (at_walk && !slot->has_walk)
        return 0;
    ts_walk_t walk = at_walk ? slot->walk : seen->walk;
    const ts_frame_t *frames = at_walk ? slot->walk_frames : seen->frames;
    uint64_t deaths = at_walk ? slot->walk_deaths : seen->deaths;
    uint8_t kind;
    if (!at_walk) {
        kind = seen->kind == TS_SAMPLE_NATIVE ? TS_SAMPLE_CPU_WAIT_NATIVE
                                              : TS_SAMPLE_CPU_WAIT_PYTHON;
    } else {
        /* For a delay the kernel reported, walked while it was ready to run (preempted
         * there: it may have run since, but the delay was spent there, not in a blocking
         * call; known without reading its state again); or walked where it stands now (its
         * CPU clock has not moved since) and ready to run. */
        int ready_there = (state == TS_STATE_UNREAD && slot->walk_ready) ||
                          (slot->walk_cpu_ns == slot->last_cpu_ns &&
                           (state == TS_STATE_READY ||
                            (state == TS_STATE_UNREAD &&
                             ts_taskstate_runnable(&slot->task, slot->tid))));
        int in_call = walk.opcode >= 0 && config.call_opcodes[walk.opcode];
        kind = !ready_there ? TS_SAMPLE_CPU_WAIT_SYSTEM
               : in_call    ? TS_SAMPLE_CPU_WAIT_NATIVE
                            : TS_SAMPLE_CPU_WAIT_PYTHON;
    }
    queue_walk(waits, index, kind, ns, now_ns, &walk, frames, deaths);
    return 1; /* a full ring drops it, as it drops any sample */
}

/* Charges the waiting held from the previous tick: first as CPU wait, as far as the
 * run-queue delay read since covers it, the rest as before. Returns the CPU wait charged.
 * Called with deaths_lock held. */
static uint64_t settle_held(ts_slot_t *slot, uint32_t index, uint64_t now_ns, ts_ring_t *waits,
                        const ts_cpu_seen_t *seen)
{
    ts_sample_t *held = &slot->held;
    held->t_ns = now_ns; /* queued now: after the GPU readings of earlier spans (gpuattr.h) */
    uint64_t cpu_wait = slot->cpu_wait_pending_ns < held->weight_ns
                            ? slot->cpu_wait_pending_ns : held->weight_ns;
    if (cpu_wait > 0 && queue_cpu_wait(slot, index, cpu_wait, held->t_ns, waits, TS_STATE_UNREAD,
                                       seen)) {
        slot->cpu_wait_pending_ns -= cpu_wait;
        held->weight_ns -= cpu_wait;
    } else {
        cpu_wait = 0;
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
    return cpu_wait;
}

/* What one tick's waiting was, as classified, for the timeline. */
typedef struct {
    uint64_t waited;    /* off CPU */
    uint64_t cpu_wait;  /* of which ready to run but given no CPU */
    uint64_t idle;      /* of which waiting for work */
} tick_split_t;

/* Adds the tick [from_ns, to_ns) to the thread's lane: `cpu_ns` of CPU time and the waiting
 * in `split`. The Python/native counts of the handler's samples are taken in every tick,
 * recorded or not, so a tick after a pause splits only its own. The CPU clock is read a
 * little after the tick's wall clock (after the slot lock, on a busy machine milliseconds
 * later), so a tick can hold more CPU time than it lasts: the excess goes to the next tick
 * (`lane_cpu_carry_ns`), whose waiting is as much shorter (close_books), and no bucket
 * fills beyond its width; a thread's last tick takes what is left. */
static void add_to_lane(ts_slot_t *slot, const ts_timeline_axis_t *axis, uint64_t from_ns,
                        uint64_t to_ns, uint64_t cpu_ns, const tick_split_t *split, int record,
                        int last)
{
    uint64_t sampled[2];
    for (int kind = 0; kind < 2; kind++) {
        uint64_t now = atomic_load_explicit(&slot->sampled_ns[kind], memory_order_relaxed);
        sampled[kind] = now - slot->lane_sampled_ns[kind];
        slot->lane_sampled_ns[kind] = now;
    }
    if (!record) {
        slot->lane_cpu_carry_ns = 0;
        return;
    }
    cpu_ns += slot->lane_cpu_carry_ns;
    uint64_t span = to_ns > from_ns ? to_ns - from_ns : 0;
    uint64_t excess = cpu_ns + split->waited > span ? cpu_ns + split->waited - span : 0;
    slot->lane_cpu_carry_ns = last ? 0 : excess < cpu_ns ? excess : cpu_ns;
    cpu_ns -= slot->lane_cpu_carry_ns;
    if (cpu_ns + split->waited == 0)
        return;
    uint64_t native = sampled[0] + sampled[1] > 0
                          ? (uint64_t)((double)cpu_ns * (double)sampled[1] /
                                       (double)(sampled[0] + sampled[1]))
                      : slot->cpu_kind == TS_SAMPLE_NATIVE ? cpu_ns : 0;
    uint64_t cpu_wait = split->cpu_wait < split->waited ? split->cpu_wait : split->waited;
    uint64_t idle = split->idle < split->waited - cpu_wait ? split->idle
                                                           : split->waited - cpu_wait;
    uint64_t ns[TS_LANE_KINDS];
    ns[TS_LANE_PYTHON] = cpu_ns - native;
    ns[TS_LANE_NATIVE] = native;
    ns[TS_LANE_SYSTEM] = split->waited - cpu_wait - idle;
    ns[TS_LANE_CPU_WAIT] = cpu_wait;
    ns[TS_LANE_IDLE] = idle;
    ts_lane_add(&slot->lane, axis, from_ns, to_ns, ns); /* out of memory: a gap, no more */
}

/* ts_waits_measure_slot's work but the timeline: the books, and the waiting queued; what
 * the tick's waiting was goes into *split. */
static void measure(ts_slot_t *slot, uint32_t index, uint64_t now_ns, int record, int last,
                    tick_split_t *split)
{
    ts_ring_t *waits = config.waits;
    uint64_t cpu_now, cpu_before = slot->last_cpu_ns, tick_start_ns = slot->last_wall_ns;
    uint64_t wall_delta = now_ns > slot->last_wall_ns ? now_ns - slot->last_wall_ns : 0;
    uint64_t wait = close_books(slot, now_ns, &cpu_now);
    split->waited = wait;
    if (config.virtual_time)
        return;
    int still = cpu_now == cpu_before;
    if (!still)
        slot->blocked_since_ran = 0;
    /* Where the thread was as of the last tick: a delay read now came before it ran again. */
    const ts_cpu_seen_t *seen = see_cpu_sample(slot);
    if (last || !still || !slot->has_run_delay)
        read_run_delay(slot);
    if (slot->has_held) {
        pthread_mutex_lock(&deaths_lock);
        if (record)
            split->cpu_wait += settle_held(slot, index, now_ns, waits, seen);
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
    /* Nor is a thread being measured for the last time: it is the one running this (its own
     * end) or already gone, so what it waits on now says nothing of the tick, and a walk of
     * its stack, moving or freed, would be dropped (refresh_walk): both cost system calls
     * for nothing, in every short thread's critical path. */
    int look = blocked && !last;
    int idle = wait > 0 && look && waiting_for_work(slot, index, cpu_now);
    if (idle) {
        slot->wait_ns -= wait;
        slot->idle_ns += wait;
        split->idle = wait;
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
    split->cpu_wait += cpu_wait + live_cpu_wait;
    if (!record)
        return;
    if (look && (!idle || config.include_idle))
        refresh_walk(slot, cpu_now);
    pthread_mutex_lock(&deaths_lock);
    if (cpu_wait > 0 && !queue_cpu_wait(slot, index, cpu_wait, now_ns, waits, TS_STATE_UNREAD, seen))
        wait += cpu_wait; /* no CPU sample yet: where it waits, as before */
    if (live_cpu_wait > 0 &&
        !queue_cpu_wait(slot, index, live_cpu_wait, now_ns, waits,
                        slot->blocked_since_ran ? TS_STATE_WOKEN : TS_STATE_READY, seen))
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

/* Catching up (docs/ARCHITECTURE.md, "Catching up what the ticks missed"). The kernel checks a
 * CPU-time timer only at a tick that interrupts its thread, and a thread that shares its CPU
 * with others can run for seconds with none of its slices holding a tick (it is preempted as
 * its system calls return, just after a tick asked for it): its CPU time then came in rare
 * heavy samples on whatever line ran at the next tick, and what it ran after its last one
 * was never sampled. A thread whose CPU clock is further ahead of the credited mark (slot.h)
 * than a quiet machine allows is walked here, for the CPU time since the mark, if it is
 * running as we walk it (its clock moves meanwhile): where a running thread stands is a fair
 * sample of where it runs, where a preempted one stands is not (those same system calls). A
 * walk of a running thread can be torn (a frame pushed or popped while it is read); the
 * walker's reads are fault-tolerant, and its innermost frame, which is read first, names the
 * line. 1 when a sample was queued. */
static int catch_up(ts_slot_t *slot, uint32_t index, uint64_t now_ns)
{
    uint64_t credited = atomic_load_explicit(&slot->credited_cpu_ns, memory_order_relaxed);
    if (slot->last_cpu_ns < credited + catch_up_after_ns)
        return 0;
    uint64_t deaths = atomic_load(&code_deaths), cpu_before, cpu_after;
    ts_frame_t frames[TS_MAX_DEPTH];
    int ok;
    if (ts_clock_read_ns(slot->cpu_clock, &cpu_before) != 0)
        return 0;
    ts_walk_t walk =
        ts_frames_walk_thread(slot->tstate, frames, TS_MAX_DEPTH, &code_cache, deaths, &ok);
    /* Not running (or a tick sampled it meanwhile): the next tick. */
    if (!ok || ts_clock_read_ns(slot->cpu_clock, &cpu_after) != 0 || cpu_after == cpu_before ||
        !atomic_compare_exchange_strong(&slot->credited_cpu_ns, &credited, cpu_before))
        return 0;
    slot->catch_up_credit_ns += cpu_before - credited;
    uint64_t weight_ns = slot->catch_up_credit_ns / config.interval_ns * config.interval_ns;
    slot->catch_up_credit_ns -= weight_ns;
    /* Stopped at a call, it runs what the call runs, as the handler would say. */
    int native = walk.opcode >= 0 && config.call_opcodes[walk.opcode];
    uint8_t kind = native ? TS_SAMPLE_NATIVE : TS_SAMPLE_PYTHON;
    pthread_mutex_lock(&deaths_lock);
    int queued = queue_walk(config.waits, index, kind, weight_ns, now_ns, &walk, frames, deaths);
    pthread_mutex_unlock(&deaths_lock);
    atomic_fetch_add_explicit(&slot->sampled_ns[native], weight_ns, memory_order_relaxed);
    /* Its latest CPU sample now, for the waiting of the ticks to come (see_cpu_sample): a
     * thread the ticks miss has no other, and its waiting for a CPU would go where it was
     * preempted, as system time. */
    slot->seen_now ^= 1;
    ts_cpu_seen_t *seen = &slot->seen[slot->seen_now];
    seen->valid = 1;
    seen->kind = kind;
    seen->t_ns = now_ns;
    seen->deaths = deaths;
    seen->walk = walk;
    memcpy(seen->frames, frames, walk.depth * sizeof frames[0]);
    return queued;
}

int ts_waits_measure_slot(ts_slot_t *slot, uint32_t index, uint64_t now_ns, int record,
                          int last, const ts_timeline_axis_t *axis)
{
    uint64_t from_ns = slot->last_wall_ns, cpu_before = slot->last_cpu_ns;
    tick_split_t split = {0, 0, 0};
    measure(slot, index, now_ns, record, last, &split);
    int caught_up = 0;
    if (!record) /* suspended: the CPU time run is nobody's, the mark passes over it */
        ts_slot_credit_through(slot, slot->last_cpu_ns);
    else if (!last)
        caught_up = catch_up(slot, index, now_ns);
    add_to_lane(slot, axis, from_ns, now_ns, slot->last_cpu_ns - cpu_before, &split, record,
                last);
    return caught_up;
}


int ts_waits_idle_detected(void)
{
    return idle_detected;
}

int ts_waits_cpu_wait_measured(void)
{
    return run_delay_seen;
}

