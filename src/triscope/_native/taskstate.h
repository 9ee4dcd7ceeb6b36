/* SPDX-License-Identifier: MIT
 *
 * taskstate.h — what the kernel says about one thread of this process, read from
 * /proc/self/task/TID/: whether it is blocked waiting for work (its current system call),
 * whether it is ready to run right now (its state in `stat`), and how long it has waited in
 * the run queue for a CPU (schedstat). Used by the consumer
 * thread only (sampler.c), never by the signal handler. No Python API: the interpreter's
 * GIL is located by its exported symbol, by address alone.
 */
#ifndef TS_TASKSTATE_H
#define TS_TASKSTATE_H

#include <stdint.h>
#include <sys/types.h>

/* One thread's /proc files, opened on first use and kept open (a read is then one pread)
 * while the process-wide budget of kept files allows. Callers serialise all calls (the
 * sampler's slot lock): the budget is a plain count. */
typedef struct {
    int syscall_fd;   /* -1: not open yet; -2: cannot be opened */
    int schedstat_fd;
    int stat_fd;
    /* What each descriptor was opened on: one the program closed and reused for a file of
     * its own is never closed by us. */
    dev_t syscall_dev, schedstat_dev, stat_dev;
    ino_t syscall_ino, schedstat_ino, stat_ino;
} ts_taskstate_t;

/* Locates the interpreter's runtime state (it holds the GIL's lock and condition variable)
 * and checks that the kernel gives threads' system calls. 1 when idle threads can be told
 * apart, 0 when not (every wait then counts as it always did). */
int ts_taskstate_init(void);

/* Nothing open yet. */
void ts_taskstate_reset(ts_taskstate_t *task);
/* Closes what is open (a thread ended, or a forked child forgets its parent's threads). */
void ts_taskstate_close(ts_taskstate_t *task);

/* 1 when thread `tid` is blocked waiting for work: in a futex wait (a lock, condition,
 * event, queue, join or semaphore) that is not the GIL's. 0 otherwise, also when unknown. */
int ts_taskstate_waiting_for_work(ts_taskstate_t *task, pid_t tid);

/* 1 when thread `tid` is ready to run but not running (state R while its CPU clock stands
 * still: preempted, throttled by a CPU quota, or woken and not yet given a CPU), 0 when it
 * is blocked or the state cannot be read. */
int ts_taskstate_runnable(ts_taskstate_t *task, pid_t tid);

/* The thread's run-queue delay so far (ns): time it was ready to run but waited for a CPU,
 * CPU-quota throttling included. 0, or -1 when the kernel does not give it. */
int ts_taskstate_run_delay(ts_taskstate_t *task, pid_t tid, uint64_t *ns);

/* Parsers, for the unit tests. A /proc/.../syscall text: 1 when it is a futex wait on an
 * address outside [runtime_start, runtime_end). A /proc/.../schedstat text: its second
 * field into *ns, 0 or -1. */
int ts_taskstate_parse_syscall(const char *text, uintptr_t runtime_start,
                               uintptr_t runtime_end);
int ts_taskstate_parse_schedstat(const char *text, uint64_t *ns);
/* A /proc/.../stat text: its state letter (the field after the command's closing
 * parenthesis, which may itself hold spaces and parentheses), or 0. */
char ts_taskstate_parse_state(const char *text);

#endif
