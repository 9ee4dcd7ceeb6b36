/* SPDX-License-Identifier: MIT
 *
 * test_taskstate.c — the /proc texts taskstate.c reads: a thread's current system call (a
 * futex wait outside the interpreter's runtime is a wait for work; inside it, the GIL; any
 * other call, or "running", is not idle), schedstat's run-queue delay (second field) and
 * stat's state letter; then live reads of this thread's own schedstat and of a running and a
 * sleeping thread's state.
 */
#define _GNU_SOURCE
#include "taskstate.h"
#include "fdpark.h"
#include "testhelp.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static void test_syscall_texts(void)
{
    uintptr_t start = 0x7f0000001000u, end = 0x7f0000029000u;
    char text[160];
    /* A lock's futex, on the heap. */
    snprintf(text, sizeof text, "%d 0x55d0c0a4 0x189 0x0 0x0 0x0 0xffffffff 0x7ffc 0x7f13\n",
             (int)SYS_futex);
    CHECK_EQ_INT(ts_taskstate_parse_syscall(text, start, end), 1);
    /* The GIL's condition variable, inside the runtime state. */
    snprintf(text, sizeof text, "%d 0x7f00000011b4 0x89 0x0 0x0 0x0 0x0 0x7ffc 0x7f13\n",
             (int)SYS_futex);
    CHECK_EQ_INT(ts_taskstate_parse_syscall(text, start, end), 0);
    /* Just past its end: not the runtime's any more. */
    snprintf(text, sizeof text, "%d 0x7f0000029000 0x89 0x0 0x0 0x0 0x0 0x7ffc 0x7f13\n",
             (int)SYS_futex);
    CHECK_EQ_INT(ts_taskstate_parse_syscall(text, start, end), 1);
    /* A read of a pipe, a sleep: waiting on the OS. */
    snprintf(text, sizeof text, "%d 0x3 0x7f00 0x10000 0x0 0x0 0x0 0x7ffc 0x7f13\n",
             (int)SYS_read);
    CHECK_EQ_INT(ts_taskstate_parse_syscall(text, start, end), 0);
    snprintf(text, sizeof text, "%d 0x1 0x0 0x7ffc 0x7ffc 0x0 0x0 0x7ffc 0x7f13\n",
             (int)SYS_clock_nanosleep);
    CHECK_EQ_INT(ts_taskstate_parse_syscall(text, start, end), 0);
    CHECK_EQ_INT(ts_taskstate_parse_syscall("running\n", start, end), 0);
    CHECK_EQ_INT(ts_taskstate_parse_syscall("-1 0x7ffc 0x7f13\n", start, end), 0);
    CHECK_EQ_INT(ts_taskstate_parse_syscall("", start, end), 0);
}

static void test_schedstat_texts(void)
{
    uint64_t ns = 7;
    CHECK_EQ_INT(ts_taskstate_parse_schedstat("529766656 191663135 429\n", &ns), 0);
    CHECK_EQ_INT(ns, 191663135);
    CHECK_EQ_INT(ts_taskstate_parse_schedstat("529766656\n", &ns), -1);
    CHECK_EQ_INT(ts_taskstate_parse_schedstat("", &ns), -1);
}

static void test_state_texts(void)
{
    CHECK_EQ_INT(ts_taskstate_parse_state("4242 (python3) R 1 4242 4242 0 -1 4194560\n"), 'R');
    CHECK_EQ_INT(ts_taskstate_parse_state("4243 (worker) S 1 4242 4242 0 -1 4194624\n"), 'S');
    /* A thread may name itself with spaces and parentheses: the state follows the last ')'. */
    CHECK_EQ_INT(ts_taskstate_parse_state("4244 (a) b) (c) D 1 4242\n"), 'D');
    CHECK_EQ_INT(ts_taskstate_parse_state("4245 (cut"), 0);
    CHECK_EQ_INT(ts_taskstate_parse_state("4246 (x)"), 0);
    CHECK_EQ_INT(ts_taskstate_parse_state(""), 0);
}

static _Atomic pid_t sleeper_tid;

static void *sleep_a_while(void *unused)
{
    (void)unused;
    sleeper_tid = gettid();
    usleep(300000);
    return NULL;
}

/* Live: this thread, running, reads R; a thread asleep in a system call does not. */
static void test_live_states(void)
{
    ts_taskstate_t own, sleeper;
    ts_taskstate_reset(&own);
    ts_taskstate_reset(&sleeper);
    CHECK_EQ_INT(ts_taskstate_runnable(&own, gettid()), 1);
    pthread_t thread;
    CHECK_EQ_INT(pthread_create(&thread, NULL, sleep_a_while, NULL), 0);
    while (sleeper_tid == 0)
        usleep(1000);
    usleep(50000);
    CHECK_EQ_INT(ts_taskstate_runnable(&sleeper, sleeper_tid), 0);
    pthread_join(thread, NULL);
    ts_taskstate_close(&own);
    ts_taskstate_close(&sleeper);
}

static void test_own_run_delay(void)
{
    ts_taskstate_t task;
    ts_taskstate_reset(&task);
    uint64_t first = 0, second = 0;
    int got = ts_taskstate_run_delay(&task, gettid(), &first);
    if (got == 0) { /* a kernel that gives it: it only grows, read twice through one file */
        CHECK_EQ_INT(ts_taskstate_run_delay(&task, gettid(), &second), 0);
        CHECK(second >= first);
        CHECK(task.schedstat_fd >= 0);
    }
    ts_taskstate_close(&task);
    CHECK_EQ_INT(task.schedstat_fd, -1);
    /* A thread that does not exist: unreadable, not an error to the caller. */
    ts_taskstate_reset(&task);
    CHECK_EQ_INT(ts_taskstate_run_delay(&task, 0x7ffffff0, &first), -1);
    ts_taskstate_close(&task);
}

/* The program closed our descriptor and opened a file of its own at that number: closing
 * the thread's files leaves the program's file open. */
static void test_reused_descriptor_is_not_closed(void)
{
    ts_taskstate_t task;
    ts_taskstate_reset(&task);
    uint64_t ns;
    if (ts_taskstate_run_delay(&task, gettid(), &ns) != 0)
        return; /* no schedstat here */
    int fd = task.schedstat_fd;
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    CHECK(fd >= ts_fd_park_floor(limit.rlim_cur)); /* off the numbers the program's take */
    close(fd);
    int opened = open("/dev/null", O_RDONLY);
    int program_fd = dup2(opened, fd); /* a closerange, then a file of its own put there */
    close(opened);
    CHECK_EQ_INT(program_fd, fd);
    ts_taskstate_close(&task);
    CHECK(fcntl(program_fd, F_GETFD) >= 0);
    close(program_fd);
}

int main(void)
{
    RUN(test_syscall_texts);
    RUN(test_schedstat_texts);
    RUN(test_state_texts);
    RUN(test_live_states);
    RUN(test_own_run_delay);
    RUN(test_reused_descriptor_is_not_closed);
    return TEST_DONE();
}
