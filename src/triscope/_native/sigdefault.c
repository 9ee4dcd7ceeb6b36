/* SPDX-License-Identifier: MIT
 *
 * sigdefault.c — see sigdefault.h. It owns nothing but the three calls that make a signal's
 * default action happen on the calling thread; it must never decide whether the process
 * should die (its callers do) and, since one caller is a signal handler, never allocate,
 * lock or write anything but the action and this thread's mask.
 */
#define _GNU_SOURCE
#include "sigdefault.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void ts_sigdefault_die(int signo,
                       int (*set_action)(int, const struct sigaction *, struct sigaction *))
{
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    set_action(signo, &fallback, NULL);
    /* Let in before sending: sent to a thread that blocks it, the signal would wait there
     * for as long as it does (the profiler's thread blocks every signal for good). In a
     * handler, where it would otherwise come at the return, the process ends at once. */
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, signo);
    pthread_sigmask(SIG_UNBLOCK, &only, NULL);
    syscall(SYS_tgkill, getpid(), gettid(), signo);
}
