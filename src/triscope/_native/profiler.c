/* SPDX-License-Identifier: MIT
 *
 * profiler.c — see profiler.h. It owns the run's statics and the order of things; what each
 * part does is in that part's header. It defines no Python function and raises no Python
 * exception (module.c does both). It uses the Python API for three things only: the address
 * of PyCode_Type (a marker the address map needs), and letting go of the GIL while NVML
 * initialises and while the consumer thread, which may be waiting for the GIL, is joined.
 */
#define _GNU_SOURCE
#include "compat.h"
#include "profiler.h"

#include "addrmap.h"
#include "awaits.h"
#include "clock.h"
#include "consumer.h"
#include "frames.h"
#include "gpu.h"
#include "live.h"
#include "pymemory.h"
#include "pysignal.h"
#include "resolve.h"
#include "sigguard.h"
#include "sigterm.h"
#include "threads.h"
#include "waits.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The consumer takes the GIL this often to resolve samples and track threads. */
#define TS_GIL_PERIOD_NS 100000000u
#define TS_MAX_REPORTED_THREADS 4096

/* The control signals are sent with sigqueue() carrying this cookie: the same signal from
 * anyone else (the program raising it) is the program's, and goes where its own view of the
 * signal says. */
#define TS_CONTROL_COOKIE 0x74726973 /* "tris" */

/* GPU polls come at most this often (further apart when a poll is expensive: gpu.c). */
#define TS_GPU_MIN_PERIOD_NS 20000000u

/* With CPU profiling off the consumer still drains memory events at this pace. */
#define TS_MEMORY_ONLY_TICK_NS 100000000u

static ts_profiler_config_t config;
static ts_filter_t pending_filter;
static int configured, filter_pending, running;
static _Atomic int paused;
static uint64_t started_ns, stopped_ns;
/* The wall clock at the start: the processes of a merged profile share one time axis. */
static double started_unix_s;
static uint64_t addrmap_generation;
static uintptr_t eval_start, eval_end;
static void (*gil_period_hook)(uint64_t now_ns);

/* ==== Address map for the Python/native split ==== */

/* Old maps are kept: the handler on another thread may still be reading one. They are few
 * (one per batch of shared objects loaded) and small. */
static ts_addrmap_t *retired_maps[256];
static size_t nretired;
static ts_addrmap_t *current_map;

static void self_marker(void) {}

static void find_eval_loop(void)
{
    void *eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    Dl_info info;
    const ElfW(Sym) *symbol = NULL;
    if (eval != NULL && dladdr1(eval, &info, (void **)&symbol, RTLD_DL_SYMENT) && symbol) {
        eval_start = (uintptr_t)eval;
        eval_end = eval_start + symbol->st_size;
    }
}

static void refresh_addrmap(void)
{
    unsigned long long generation = ts_addrmap_generation();
    if (current_map != NULL && generation == addrmap_generation)
        return;
    ts_addrmap_t *map = ts_addrmap_build(eval_start, eval_end, (uintptr_t)&PyCode_Type,
                                         (uintptr_t)&self_marker);
    if (map == NULL || nretired == sizeof retired_maps / sizeof retired_maps[0])
        return; /* keep the old map: stale entries only blur Python vs native */
    if (current_map != NULL)
        retired_maps[nretired++] = current_map;
    current_map = map;
    addrmap_generation = generation;
    ts_sampler_set_addrmap(map);
}

/* ==== Suspending and resuming ==== */

/* Async-signal-safe: atomic stores only. */
void ts_profiler_set_paused(int pause)
{
    atomic_store(&paused, pause);
    ts_awaits_set_paused(pause);
    if (!running)
        return;
    if (config.cpu)
        ts_sampler_enable(!pause);
    if (config.memory)
        ts_pymemory_set_enabled(!pause);
}

int ts_profiler_paused(void)
{
    return atomic_load(&paused);
}

static void on_control_signal(int signo, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    if (info->si_code == SI_QUEUE && info->si_value.sival_int == TS_CONTROL_COOKIE)
        ts_profiler_set_paused(signo == TS_SIGNAL_SUSPEND);
    else
        ts_sigguard_forward(signo, info, context);
    errno = saved_errno;
}

static int install_control_signals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_control_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (ts_sigguard_install(TS_SIGNAL_SUSPEND, &action) != 0 ||
        ts_sigguard_install(TS_SIGNAL_RESUME, &action) != 0)
        return -1;
    return 0;
}

/* Before any of our handlers goes in: the program's calls on our signals, Python and
 * native, reach only its own view of them from then on. */
static void guard_signals(void)
{
    const int ours[] = {TS_TIMER_SIGNAL, TS_SIGNAL_SUSPEND, TS_SIGNAL_RESUME};
    ts_sigguard_init();
    ts_pysignal_guard(ours, sizeof ours / sizeof ours[0]);
}

int ts_profiler_send_control(pid_t pid, int resume)
{
    union sigval value = {.sival_int = TS_CONTROL_COOKIE};
    return sigqueue(pid, resume ? TS_SIGNAL_RESUME : TS_SIGNAL_SUSPEND, value);
}

/* ==== Consumer ticks ==== */

/* Every tick, without the GIL: the watchdogs first (a signal the program's native code took
 * is taken back within a tick; a SIGTERM whose handler has not begun is sent again). Asks for the GIL work early when a thread made from C has
 * appeared, so that it is sampled from (nearly) its start. */
static int on_tick(uint64_t now_ns)
{
    ts_sigguard_watch();
    ts_sigterm_watch(now_ns);
    ts_gpu_tick(now_ns, !atomic_load(&paused));
    return config.cpu && ts_threads_appeared();
}

/* Every GIL period, with the GIL. */
static void on_gil_tick(void)
{
    uint64_t now = ts_now_ns();
    if (config.cpu)
        ts_threads_scan(now);
    ts_resolve_drain();
    if (config.cpu)
        refresh_addrmap();
    if (gil_period_hook != NULL)
        gil_period_hook(now);
}

void ts_profiler_on_gil_period(void (*hook)(uint64_t now_ns))
{
    gil_period_hook = hook;
}

/* ==== Starting and stopping ==== */

int ts_profiler_configure(const ts_profiler_config_t *new_config, ts_filter_t *filter)
{
    if (running)
        return -1;
    config = *new_config;
    config.sampler.waits = ts_resolve_wait_ring();
    ts_filter_free(&pending_filter);
    pending_filter = *filter;
    memset(filter, 0, sizeof *filter);
    configured = 1;
    filter_pending = 1;
    return 0;
}

int ts_profiler_running(void)
{
    return running;
}

ts_profiler_status_t ts_profiler_start(int start_paused)
{
    if (!configured)
        return TS_PROFILER_NOT_CONFIGURED;
    if (running)
        return TS_PROFILER_OK;
    if (config.gpu) {
        /* Without the GIL: NVML's initialisation can take long. Failing leaves GPU
         * profiling off, with the reason in the profile. */
        Py_BEGIN_ALLOW_THREADS
        ts_gpu_open(TS_GPU_MIN_PERIOD_NS);
        Py_END_ALLOW_THREADS
    } else {
        ts_gpu_off();
    }
    ts_frames_init();
    find_eval_loop();
    guard_signals();
    if (config.cpu && ts_sampler_init(&config.sampler) < 0)
        return TS_PROFILER_FAILED;
    ts_resolve_reset();
    /* A restart (a forked child's own profile) keeps the filter already in place. */
    if (ts_resolve_start(filter_pending ? &pending_filter : NULL, config.stacks) < 0)
        return TS_PROFILER_NO_CODE_WATCH;
    filter_pending = 0;
    ts_awaits_start(config.awaits);
    started_ns = ts_now_ns();
    struct timespec wall;
    started_unix_s = clock_gettime(CLOCK_REALTIME, &wall) == 0
                         ? (double)wall.tv_sec + (double)wall.tv_nsec / 1e9 : 0;
    if (config.cpu) {
        refresh_addrmap();
        ts_sampler_enable(1);
        if (ts_threads_enter("MainThread", started_ns) < 0)
            return TS_PROFILER_FAILED;
        ts_threads_scan(started_ns);
    }
    if (config.memory && ts_pymemory_start(config.alloc_interval, config.copy_interval) < 0)
        return TS_PROFILER_NO_MEMORY;
    uint64_t tick = config.cpu ? config.sampler.interval_ns : TS_MEMORY_ONLY_TICK_NS;
    if (install_control_signals() < 0 ||
        ts_consumer_start(tick, TS_GIL_PERIOD_NS, on_gil_tick, on_tick) < 0)
        return TS_PROFILER_FAILED;
    running = 1;
    ts_profiler_set_paused(start_paused);
    return TS_PROFILER_OK;
}

void ts_profiler_stop(void)
{
    if (!running)
        return;
    /* The consumer may be waiting for the GIL we hold: let go while joining it. */
    Py_BEGIN_ALLOW_THREADS
    ts_consumer_stop();
    Py_END_ALLOW_THREADS
    stopped_ns = ts_now_ns();
    ts_sampler_measure_waits(stopped_ns);
    ts_gpu_poll_now(stopped_ns); /* the last span, after its waiting samples */
    ts_sampler_stop_all(stopped_ns);
    ts_sampler_enable(0);
    if (config.memory)
        ts_pymemory_stop();
    ts_awaits_stop();
    ts_resolve_stop();
    ts_gpu_close();
    running = 0;
}

int ts_profiler_release(void)
{
    if (running)
        return -1;
    /* stop() deleted every timer: none of its signals is queued any more (the kernel drops
     * a deleted timer's pending signal), so the timer's signal may go back to the program. */
    ts_sigguard_release();
    ts_pysignal_release();
    ts_sampler_release_faults();
    return 0;
}

int ts_profiler_thread_enter(const char *name)
{
    if (running && config.cpu && ts_threads_enter(name, ts_now_ns()) < 0)
        return -1;
    return 0;
}

void ts_profiler_thread_leave(void)
{
    if (running && config.cpu)
        ts_threads_leave(ts_now_ns());
}

void ts_profiler_after_fork_in_child(void)
{
    /* The child has none of the parent's timers or consumer thread: forget them. It may
     * then start() a profile of its own (kept separate, merged by the parent). */
    ts_consumer_forget_after_fork();
    ts_sampler_forget_after_fork();
    ts_pymemory_after_fork_in_child();
    ts_gpu_forget_after_fork();
    ts_awaits_stop(); /* the child's own profile claims the tool again */
    ts_frames_init();
    running = 0;
    /* Its run begins now: a profile it writes before its own start() (its SIGTERM handler
     * running first) spans nothing, not the time since the parent's start, negated. */
    started_ns = stopped_ns = ts_now_ns();
}

/* ==== Writing the profile ==== */

static ts_thread_summary_t threads[TS_MAX_REPORTED_THREADS];

/* What the profile records of the run itself, added to the caller's `meta`; the threads'
 * timelines are copies that release_run_facts frees. */
static void add_run_facts(ts_profile_meta_t *meta)
{
    meta->threads = threads;
    meta->nthreads = ts_sampler_threads(threads, TS_MAX_REPORTED_THREADS);
    meta->samples = ts_sampler_samples_taken();
    meta->interval_s = (double)config.sampler.interval_ns / 1e9;
    meta->virtual_time = config.sampler.virtual_time;
    meta->idle = config.sampler.include_idle;
    meta->idle_detected = config.cpu && ts_waits_idle_detected();
    meta->cpu_wait_measured = config.cpu && ts_waits_cpu_wait_measured();
    meta->stacks = config.stacks;
    meta->kept_lines = config.has_cut ? &config.cut : NULL;
    meta->cpu_percent_threshold = config.cpu_percent_threshold;
    meta->malloc_threshold = config.malloc_threshold;
    meta->profile_all = ts_resolve_filter()->profile_all;
    meta->profile_only = &ts_resolve_filter()->only;
    meta->profile_exclude = &ts_resolve_filter()->exclude;
    uint64_t end = running ? ts_now_ns() : stopped_ns;
    meta->elapsed_s = (double)(end - started_ns) / 1e9;
    meta->start_ns = started_ns;
    meta->end_ns = end;
    meta->started_unix_s = started_unix_s;
    meta->cpu = config.cpu;
    meta->memory = config.memory;
    meta->memory_native = config.memory && ts_pymemory_preloaded();
    meta->gpu = config.gpu;
    meta->gpu_asked = config.gpu_asked;
    static ts_gpu_summary_t gpu;
    ts_gpu_summary(&gpu);
    meta->gpu_summary = &gpu;
    ts_torchmem_summary(&meta->torch_allocator);
    meta->alloc_interval = config.alloc_interval;
    meta->signals_taken = ts_sigguard_taken();
    ts_awaits_summary_t awaits;
    ts_awaits_summary(&awaits);
    meta->awaits_asked = config.awaits;
    meta->awaits_measured = awaits.measured;
    meta->awaits_reason = awaits.reason;
    meta->awaits_dropped = awaits.dropped;
}

static void release_run_facts(ts_profile_meta_t *meta)
{
    ts_sampler_threads_release(threads, meta->nthreads);
    meta->nthreads = 0;
}

static int write_to(FILE *out, ts_profile_meta_t *meta)
{
    add_run_facts(meta);
    int result = ts_profile_write(out, ts_resolve_stats(), meta);
    release_run_facts(meta);
    return result;
}

/* The whole profile into `fd`, from its start, replacing what it held: the checkpoint files
 * are rewritten in place (their descriptors outlive a privilege drop; see crashsave.h). */
static ssize_t write_through(void *cookie, const char *data, size_t size)
{
    int fd = *(int *)cookie;
    size_t done = 0;
    while (done < size) {
        ssize_t wrote = write(fd, data + done, size - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0)
            return done > 0 ? (ssize_t)done : -1;
        done += (size_t)wrote;
    }
    return (ssize_t)done;
}

/* The stream writes through `fd` itself and never closes it: no second descriptor, which a
 * program that holds every number it may have would leave none of (fdpark.h). */
static int write_to_descriptor(int fd, ts_profile_meta_t *meta)
{
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
        return -1;
    cookie_io_functions_t through = {NULL, write_through, NULL, NULL};
    FILE *out = fopencookie(&fd, "w", through);
    if (out == NULL)
        return -1;
    int failed = write_to(out, meta) < 0;
    failed |= fclose(out) != 0;
    if (failed && errno == 0)
        errno = EIO;
    return failed ? -1 : 0;
}

/* Written beside the target and renamed over it: a reader never sees half a file. */
static int write_to_path(const char *path, ts_profile_meta_t *meta)
{
    char temp[4096];
    if (snprintf(temp, sizeof temp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof temp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *out = fopen(temp, "w");
    if (out == NULL)
        return -1;
    int failed = write_to(out, meta) < 0;
    failed |= fclose(out) != 0;
    if (failed || rename(temp, path) != 0) {
        int saved = errno ? errno : EIO;
        unlink(temp);
        errno = saved;
        return -1;
    }
    return 0;
}

/* Called at the end of a GIL period, after the drain: the stats are current. */
int ts_profiler_live_send(int fd, ts_profile_meta_t *meta)
{
    add_run_facts(meta);
    int gone = ts_live_send(fd, ts_resolve_stats(), meta, ts_profiler_paused()) == TS_LIVE_GONE;
    release_run_facts(meta);
    return gone ? -1 : 0;
}

int ts_profiler_write(const char *path, int fd, ts_profile_meta_t *meta)
{
    if (running)
        ts_resolve_drain();
    return fd >= 0 ? write_to_descriptor(fd, meta) : write_to_path(path, meta);
}
