/* SPDX-License-Identifier: MIT
 *
 * crashsave.c — see crashsave.h. It owns the handlers of the five fatal signals, and only
 * from the first complete checkpoint until the profile is written, and the saving of a
 * checkpoint, by those handlers or by the SIGTERM watch (ts_crashsave_save_now).
 *
 * The handler runs where almost nothing is allowed (docs/ARCHITECTURE.md, "Output, exec,
 * crashes and privileges"): it must never write profile content, allocate, lock or format;
 * it only makes async-signal-safe system calls on names and descriptors prepared before
 * (fstat, unlinkat, linkat, renameat, write, sigaction, raise). It must never change how the
 * program dies: after saving, it puts back the handler it replaced (the program's own, or
 * faulthandler's, whose report then appears as without triscope) and raises the signal
 * again, so the process ends with the crash's own status.
 */
#define _GNU_SOURCE
#include "crashsave.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define TS_NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])

/* One checkpoint file: the handler links it by its /proc/self/fd name, once it has checked
 * that the descriptor still is that file (the program may have closed it and reused the
 * number for a file of its own). */
typedef struct {
    int fd;
    dev_t dev;
    ino_t ino;
    char proc_path[64];
} checkpoint_t;

static checkpoint_t checkpoints[2];
static _Atomic int ready = -1; /* index into checkpoints of the complete one, or -1 */
static _Atomic int saving;
static int dir_fd = -1, installed;
static pid_t owner;
static char temp_name[256], final_name[256], final_path[4096], message[4352];
static size_t message_length;
static struct sigaction previous[TS_NFATAL];

/* Once per process (`saving`): a crash on one thread while another thread saves finds it
 * taken. 0 when the checkpoint is the profile now, -1 otherwise. Async-signal-safe. */
static int save_checkpoint(void)
{
    int index = atomic_load(&ready);
    if (index < 0 || getpid() != owner || atomic_exchange(&saving, 1))
        return -1;
    const checkpoint_t *checkpoint = &checkpoints[index];
    struct stat info;
    if (fstat(checkpoint->fd, &info) != 0 || info.st_dev != checkpoint->dev ||
        info.st_ino != checkpoint->ino)
        return -1;
    unlinkat(dir_fd, temp_name, 0);
    if (linkat(AT_FDCWD, checkpoint->proc_path, dir_fd, temp_name, AT_SYMLINK_FOLLOW) != 0)
        return -1;
    if (renameat(dir_fd, temp_name, dir_fd, final_name) != 0) {
        unlinkat(dir_fd, temp_name, 0);
        return -1;
    }
    return 0;
}

static void on_fatal_signal(int signo, siginfo_t *info, void *context)
{
    (void)info;
    (void)context;
    int saved_errno = errno;
    if (save_checkpoint() == 0) {
        ssize_t ignored = write(STDERR_FILENO, message, message_length);
        (void)ignored;
    }
    for (size_t i = 0; i < TS_NFATAL; i++)
        if (fatal_signals[i] == signo)
            sigaction(signo, &previous[i], NULL);
    /* Blocked while this handler runs: delivered to the handler put back (or the default
     * action) as soon as it returns. A fault would also recur on return. */
    raise(signo);
    errno = saved_errno;
}

int ts_crashsave_configure(int directory, const char *temp, const char *final,
                           const char *path)
{
    if (snprintf(temp_name, sizeof temp_name, "%s", temp) >= (int)sizeof temp_name ||
        snprintf(final_name, sizeof final_name, "%s", final) >= (int)sizeof final_name ||
        snprintf(final_path, sizeof final_path, "%s", path) >= (int)sizeof final_path ||
        snprintf(message, sizeof message,
                 "triscope: the program crashed; its profile up to the last checkpoint is in "
                 "%s\n", path) >= (int)sizeof message) {
        errno = ENAMETOOLONG;
        return -1;
    }
    message_length = strlen(message);
    dir_fd = directory;
    owner = getpid();
    return 0;
}

int ts_crashsave_ready(int fd)
{
    /* The other slot: the one the handler may be reading stays untouched. */
    int index = atomic_load(&ready) == 0 ? 1 : 0;
    checkpoint_t *checkpoint = &checkpoints[index];
    struct stat info;
    if (fstat(fd, &info) != 0)
        return -1;
    checkpoint->fd = fd;
    checkpoint->dev = info.st_dev;
    checkpoint->ino = info.st_ino;
    snprintf(checkpoint->proc_path, sizeof checkpoint->proc_path, "/proc/self/fd/%d", fd);
    atomic_store(&ready, index);
    if (installed)
        return 0;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fatal_signal;
    /* SA_ONSTACK: a stack overflow can only be handled on an alternate stack (the one
     * faulthandler sets up, when the program enabled it). */
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < TS_NFATAL; i++)
        if (sigaction(fatal_signals[i], &action, &previous[i]) != 0)
            return -1;
    installed = 1;
    return 0;
}

const char *ts_crashsave_save_now(void)
{
    return save_checkpoint() == 0 ? final_path : NULL;
}

void ts_crashsave_disarm(void)
{
    atomic_store(&ready, -1);
    if (!installed)
        return;
    for (size_t i = 0; i < TS_NFATAL; i++) {
        struct sigaction current;
        /* A handler the program installed after ours stays. */
        if (sigaction(fatal_signals[i], NULL, &current) == 0 &&
            (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_fatal_signal)
            sigaction(fatal_signals[i], &previous[i], NULL);
    }
    installed = 0;
}

void ts_crashsave_forget_after_fork(void)
{
    atomic_store(&ready, -1);
}
