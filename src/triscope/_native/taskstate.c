/* SPDX-License-Identifier: MIT
 *
 * taskstate.c — see taskstate.h. Owns the /proc/self/task/TID/{syscall,stat,schedstat} files
 * and the rule that tells a thread waiting for work from one waiting on the OS or the GIL
 * (docs/PROFILE_FORMAT.md, "Idle threads and waiting for a CPU"). It must never be called
 * from a signal handler (it opens files) and never keeps a file of a thread that ended.
 *
 * Every lock, condition, event, queue, semaphore and join of Python's threading blocks in
 * a futex wait on memory of its own; so does the GIL, whose mutex and condition variable
 * live in the interpreter's runtime state (`_PyRuntime`: 3.11 keeps the GIL there, 3.12+
 * in the main interpreter's state, which `_PyRuntime` embeds). A futex wait outside that
 * symbol's extent is a wait for work; one inside it is contention for the GIL. A sleep,
 * a read, a poll or a wait for a child is a different system call, and stays waiting time.
 */
#define _GNU_SOURCE
#include "taskstate.h"

#include "fdpark.h"
#include "textscan.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TS_FD_UNOPENED (-1)
#define TS_FD_MISSING (-2)
/* Files kept open across reads, for all threads together. Each one is a descriptor the
 * program cannot have: a program with a thousand threads would otherwise lose two thousand
 * of them and meet EMFILE at the usual limit of 1024. Past this, a read opens and closes. */
#define TS_FILES_KEPT_MAX 64

static int files_kept;

static uintptr_t runtime_start, runtime_end;
static int syscalls_readable;

int ts_taskstate_init(void)
{
    if (runtime_end != 0)
        return syscalls_readable;
    void *runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
    Dl_info info;
    const ElfW(Sym) *symbol = NULL;
    if (runtime != NULL && dladdr1(runtime, &info, (void **)&symbol, RTLD_DL_SYMENT) != 0 &&
        symbol != NULL && symbol->st_size > 0) {
        runtime_start = (uintptr_t)runtime;
        runtime_end = runtime_start + symbol->st_size;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)gettid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char text[128];
    syscalls_readable = fd >= 0 && pread(fd, text, sizeof text - 1, 0) > 0 && runtime_end != 0;
    if (fd >= 0)
        close(fd);
    return syscalls_readable;
}

void ts_taskstate_reset(ts_taskstate_t *task)
{
    task->syscall_fd = TS_FD_UNOPENED;
    task->schedstat_fd = TS_FD_UNOPENED;
    task->stat_fd = TS_FD_UNOPENED;
}

/* Closes `fd` if it still is the file it was opened on. */
static void close_if_ours(int fd, dev_t dev, ino_t ino)
{
    if (fd < 0)
        return;
    files_kept--;
    struct stat now;
    if (fstat(fd, &now) == 0 && now.st_dev == dev && now.st_ino == ino)
        close(fd);
}

void ts_taskstate_close(ts_taskstate_t *task)
{
    close_if_ours(task->syscall_fd, task->syscall_dev, task->syscall_ino);
    close_if_ours(task->schedstat_fd, task->schedstat_dev, task->schedstat_ino);
    close_if_ours(task->stat_fd, task->stat_dev, task->stat_ino);
    ts_taskstate_reset(task);
}

/* Reads the thread's file `name` into `text`: through `*fd`, opened on first use and kept
 * while fewer than TS_FILES_KEPT_MAX are, else opened for this read alone. Its length, or
 * -1 when it cannot be read. */
static ssize_t read_task_file(int *fd, dev_t *dev, ino_t *ino, pid_t tid, const char *name,
                              char *text, size_t size)
{
    int read_fd = *fd;
    if (read_fd == TS_FD_UNOPENED) {
        char path[64];
        struct stat opened;
        snprintf(path, sizeof path, "/proc/self/task/%d/%s", (int)tid, name);
        read_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (read_fd < 0) {
            *fd = TS_FD_MISSING; /* the thread ended, or the kernel has no such file */
            return -1;
        }
        if (files_kept < TS_FILES_KEPT_MAX && fstat(read_fd, &opened) == 0) {
            read_fd = ts_fd_park(read_fd); /* kept: off the numbers the program's opens take */
            *fd = read_fd;
            *dev = opened.st_dev;
            *ino = opened.st_ino;
            files_kept++;
        }
    }
    if (read_fd < 0)
        return -1;
    ssize_t n = pread(read_fd, text, size - 1, 0);
    if (read_fd != *fd)
        close(read_fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    return n;
}

int ts_taskstate_parse_syscall(const char *text, uintptr_t start, uintptr_t end)
{
    uint64_t number, address;
    const char *argument = ts_textscan_decimal(text, &number);
    if (argument == NULL || number != SYS_futex)
        return 0; /* "running", a sleep, I/O, a page fault ("-1 ...") */
    if (ts_textscan_hex(argument, &address) == NULL)
        return 0;
    return address < start || address >= end;
}

int ts_taskstate_parse_schedstat(const char *text, uint64_t *ns)
{
    uint64_t on_cpu_ns, delay_ns; /* on_cpu_ns goes unused: the thread's CPU clock says it */
    const char *second = ts_textscan_decimal(text, &on_cpu_ns);
    if (second == NULL || ts_textscan_decimal(second, &delay_ns) == NULL)
        return -1;
    *ns = delay_ns;
    return 0;
}

char ts_taskstate_parse_state(const char *text)
{
    const char *close = strrchr(text, ')');
    if (close == NULL || close[1] != ' ' || close[2] == '\0')
        return 0;
    return close[2];
}

int ts_taskstate_waiting_for_work(ts_taskstate_t *task, pid_t tid)
{
    char text[128];
    if (!syscalls_readable ||
        read_task_file(&task->syscall_fd, &task->syscall_dev, &task->syscall_ino, tid,
                       "syscall", text, sizeof text) < 0)
        return 0;
    return ts_taskstate_parse_syscall(text, runtime_start, runtime_end);
}

int ts_taskstate_run_delay(ts_taskstate_t *task, pid_t tid, uint64_t *ns)
{
    char text[96];
    if (read_task_file(&task->schedstat_fd, &task->schedstat_dev, &task->schedstat_ino, tid,
                       "schedstat", text, sizeof text) < 0)
        return -1;
    return ts_taskstate_parse_schedstat(text, ns);
}

int ts_taskstate_runnable(ts_taskstate_t *task, pid_t tid)
{
    char text[512];
    if (read_task_file(&task->stat_fd, &task->stat_dev, &task->stat_ino, tid, "stat", text,
                       sizeof text) < 0)
        return 0;
    return ts_taskstate_parse_state(text) == 'R';
}
