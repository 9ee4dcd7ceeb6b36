/* SPDX-License-Identifier: MIT
 *
 * sigterm.c — see sigterm.h. It owns the relay (the kernel's SIGTERM action while triscope's
 * handler is installed), the watch's clock of an arrival and the line said as the watch
 * gives up. It must never act on a SIGTERM whose handler is the program's (the watch acts
 * only while the kernel's action is still the relay), never change the interpreter's own
 * handling (the relay calls it with the same flags and mask, so a blocking call still ends
 * with EINTR), never allocate or lock in the relay, and never save a checkpoint itself (how
 * is crashsave.c's).
 */
#define _GNU_SOURCE
#include "sigterm.h"

#include "clock.h"
#include "crashsave.h"
#include "sigdefault.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct sigaction interpreter; /* the action the relay passes the signal on to */
static pid_t owner, main_tid;
/* The first arrival not yet taken (0: none), and when the watch last re-sent it. */
static _Atomic uint64_t arrived_ns;
static _Atomic uint64_t resent_ns;
static _Atomic int taken;

static void relay(int signo, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    uint64_t none = 0;
    atomic_compare_exchange_strong(&arrived_ns, &none, ts_now_ns());
    if (interpreter.sa_flags & SA_SIGINFO)
        interpreter.sa_sigaction(signo, info, context);
    else if (interpreter.sa_handler != SIG_DFL && interpreter.sa_handler != SIG_IGN)
        interpreter.sa_handler(signo);
    errno = saved_errno;
}

static int relay_installed(void)
{
    struct sigaction now;
    return sigaction(SIGTERM, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) &&
           now.sa_sigaction == relay;
}

int ts_sigterm_relay_install(void)
{
    struct sigaction now;
    if (sigaction(SIGTERM, NULL, &now) != 0)
        return -1;
    atomic_store(&arrived_ns, 0);
    atomic_store(&resent_ns, 0);
    atomic_store(&taken, 0);
    owner = getpid();
    main_tid = gettid();
    if ((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == relay)
        return 0; /* inherited over a fork: already in front of the same handler */
    interpreter = now;
    struct sigaction ours = now; /* the interpreter's flags (no SA_RESTART) and mask */
    ours.sa_flags |= SA_SIGINFO;
    ours.sa_sigaction = relay;
    return sigaction(SIGTERM, &ours, NULL);
}

void ts_sigterm_taken(void)
{
    atomic_store(&taken, 1);
}

/* The one line said as the watch gives up (one write, unless interrupted): what became of
 * the profile. */
static void say_giving_up(const char *saved_at)
{
    char line[4608];
    int length = snprintf(
        line, sizeof line,
        "triscope: SIGTERM: the program's main thread did not come back to Python within 5 s "
        "(a long call in native code); the process ends as it would without triscope, and its "
        "profile %s%s\n",
        saved_at != NULL ? "up to the last checkpoint is in " : "is not written",
        saved_at != NULL ? saved_at : "");
    if (length < 0 || (size_t)length >= sizeof line)
        return; /* not with configure's names, which are shorter */
    const char *left = line;
    while (length > 0) {
        ssize_t written = write(STDERR_FILENO, left, (size_t)length);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return; /* a closed stderr: the process ends all the same */
        left += written;
        length -= (int)written;
    }
}

/* As a crash would (crashsave.h), the last complete checkpoint becomes the profile; then the
 * process dies of SIGTERM, its status as plain python's, even though this thread (the
 * profiler's) blocks every signal. */
static void die_by_default(void)
{
    say_giving_up(ts_crashsave_save_now());
    ts_sigdefault_die(SIGTERM, sigaction);
}

int ts_sigterm_watch(uint64_t now_ns)
{
    uint64_t arrived = atomic_load(&arrived_ns);
    if (arrived == 0 || atomic_load(&taken) || getpid() != owner || now_ns < arrived ||
        !relay_installed())
        return 0;
    if (now_ns - arrived >= TS_SIGTERM_GRACE_NS) {
        die_by_default();
        return 0;
    }
    uint64_t resent = atomic_load(&resent_ns);
    uint64_t since = resent > arrived ? resent : arrived;
    if (now_ns - since < TS_SIGTERM_RESEND_NS)
        return 0;
    atomic_store(&resent_ns, now_ns);
    syscall(SYS_tgkill, owner, main_tid, SIGTERM);
    return 1;
}
