/* SPDX-License-Identifier: MIT
 *
 * profiler.h — one profiling run: its configuration and state, the order in which the
 * core's parts start and stop, the consumer's tick callbacks, the address map of the
 * Python/native split, the suspend/resume control signals, and writing the profile (and the
 * live view's snapshots of it). Errors
 * are returned (0/-1 with errno, or a ts_profiler_status_t); module.c turns them into
 * Python exceptions.
 *
 * Lifecycle: ts_profiler_configure() → ts_profiler_start() → [thread_enter/thread_leave] →
 * ts_profiler_stop() → ts_profiler_write(). start may follow stop (a new profile). Every
 * call holds the GIL, except ts_profiler_set_paused (also from a signal handler).
 */
#ifndef TS_PROFILER_H
#define TS_PROFILER_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "filter.h"
#include "profile_json.h"
#include "sampler.h"

/* Suspend and resume from another process (`triscope --pid N --off/--on`): two real-time
 * signals whose handlers only flip atomic flags. Real-time, so they never collide with the
 * program's SIGUSR1/SIGUSR2; the same-user rule is the kernel's own for kill(). */
#define TS_SIGNAL_SUSPEND (SIGRTMIN + 6)
#define TS_SIGNAL_RESUME (SIGRTMIN + 7)

typedef struct {
    int cpu, memory, gpu;           /* the dimensions profiled (GPU only with CPU) */
    int gpu_asked;                  /* --gpu given: say why when no GPU can be profiled */
    int stacks;                     /* whole stacks are recorded */
    int awaits;                     /* awaited time is measured (--async) */
    uint64_t alloc_interval;        /* mean bytes between allocation samples */
    uint64_t copy_interval;         /* mean bytes between copy samples */
    ts_sampler_config_t sampler;    /* its `waits` ring is the profiler's to choose */
    /* What the profile records of the reports' choices: --reduced-profile's cut of the lines
     * kept (has_cut 0: every line), and the thresholds, written into `options`. */
    int has_cut;
    ts_line_cut_t cut;
    double cpu_percent_threshold;
    long malloc_threshold;
} ts_profiler_config_t;

typedef enum {
    TS_PROFILER_OK = 0,
    TS_PROFILER_FAILED = -1,         /* errno says why */
    TS_PROFILER_NOT_CONFIGURED = -2, /* ts_profiler_configure was never called */
    TS_PROFILER_NO_CODE_WATCH = -3,  /* code objects' deaths cannot be watched */
    TS_PROFILER_NO_MEMORY = -4       /* memory profiling could not start */
} ts_profiler_status_t;

/* The next run's configuration; takes ownership of `filter` (left empty). -1 while a run
 * is going on (nothing is changed then). */
int ts_profiler_configure(const ts_profiler_config_t *config, ts_filter_t *filter);

/* Starts profiling every thread of the interpreter, suspended from the start when `paused`.
 * Nothing happens while a run is going on. Releases the GIL while NVML opens. */
ts_profiler_status_t ts_profiler_start(int paused);

/* Stops sampling and resolves what was queued; the results stay for ts_profiler_write.
 * Releases the GIL while the consumer thread ends. */
void ts_profiler_stop(void);

/* Whether a run is going on. */
int ts_profiler_running(void);

/* The calling thread starts (`name` may be NULL) or ends: it is sampled from its first
 * instruction to its last. 0 or -1 (errno). */
int ts_profiler_thread_enter(const char *name);
void ts_profiler_thread_leave(void);

/* After ts_profiler_stop, on the main thread: hands back what starting left in place for a
 * later start — the guarded signals' actions and CPython's handlers for them, `_signal`'s
 * functions, the fault handlers — so that a process profiled by attaching is as it was
 * (docs/ARCHITECTURE.md, "Attaching to a running process"). -1 (nothing done) while a run is
 * going on. */
int ts_profiler_release(void);

/* In a forked child: forgets the parent's timers, threads and consumer. The child may then
 * start a profile of its own. */
void ts_profiler_after_fork_in_child(void);

/* Suspends (1) or resumes (0) recording; async-signal-safe. */
void ts_profiler_set_paused(int paused);
int ts_profiler_paused(void);

/* Sends process `pid` our suspend (resume = 0) or resume signal. 0 or -1 (errno). */
int ts_profiler_send_control(pid_t pid, int resume);

/* `hook` runs at the end of every GIL period, with the GIL (the checkpoints). */
void ts_profiler_on_gil_period(void (*hook)(uint64_t now_ns));

/* Writes the profile: the run's facts are added to `meta` (the caller gives the program's).
 * With `fd` >= 0 the whole profile replaces that file's content from its start; else it is
 * written beside `path` and renamed over it, so a reader never sees half a file. 0 or -1
 * (errno). */
int ts_profiler_write(const char *path, int fd, ts_profile_meta_t *meta);

/* Sends the live view a snapshot of the profile so far (live.h) on the socket `fd`, never
 * waiting: a viewer that is behind misses it. -1 when the viewer is gone (stop sending). */
int ts_profiler_live_send(int fd, ts_profile_meta_t *meta);

#endif
