/* SPDX-License-Identifier: MIT
 *
 * sigguard.c — see sigguard.h. It owns the table of guarded signals: for each, the action we
 * installed and the program's view. It must never let the program's call reach the kernel
 * for a guarded signal, never block or allocate in what handlers call, and never decide what
 * a signal means (the handlers that call ts_sigguard_forward know which ones are theirs).
 *
 * Who calls it: the program's Python-level calls come through pysignal.c; its native calls
 * through the allocator library's hook when that library is loaded (the default mode); native
 * calls it cannot see (--cpu mode, raw system calls) are found afterwards by the watchdog.
 *
 * The view is written under a sequence count (odd while written), by any thread, even from
 * a signal handler; the writer blocks every signal in its own thread meanwhile, so a reader
 * interrupting the writer on the same thread cannot exist and a reader elsewhere waits only
 * for a few stores.
 */
#define _GNU_SOURCE
#include "sigguard.h"
#include "sigdefault.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* The timer's signal and the two control signals, with room to spare. */
#define TS_MAX_GUARDED 8

typedef struct {
    _Atomic int signo;            /* 0: a free entry; published after the rest is written */
    struct sigaction ours;
    _Atomic uint32_t seq;         /* odd while `program` is being written */
    struct sigaction program;
} guard_t;

static guard_t guards[TS_MAX_GUARDED];
static _Atomic uint64_t taken;
/* libc's own functions: in the default mode `sigaction` here would resolve to the allocator
 * library's, which would send our own installs to the program's view. */
static ts_sigaction_fn real_sigaction = sigaction;
static ts_sigmask_fn real_sigmask = pthread_sigmask;

void ts_sigguard_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    const ts_signal_api_t *(*preloaded)(void) =
        (const ts_signal_api_t *(*)(void))dlsym(RTLD_DEFAULT, TS_SIGNAL_API_SYMBOL);
    const ts_signal_api_t *api = preloaded != NULL ? preloaded() : NULL;
    if (api == NULL)
        return;
    if (api->version != TS_SIGNAL_API_VERSION) {
        fprintf(stderr, "triscope: warning: the preloaded allocator library speaks version %u "
                        "of the signal interface, this triscope version %u: it is not used, "
                        "and native code may take the profiler's signals\n",
                (unsigned)api->version, (unsigned)TS_SIGNAL_API_VERSION);
        return;
    }
    real_sigaction = api->real_sigaction;
    real_sigmask = api->real_sigmask;
    api->set_guard(ts_sigguard_program_action, ts_sigguard_unblockable);
}

int ts_sigguard_real_sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
    return real_sigaction(signo, act, old);
}

int ts_sigguard_real_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    return real_sigmask(how, set, old);
}

static guard_t *find(int signo)
{
    for (size_t i = 0; i < TS_MAX_GUARDED; i++)
        if (atomic_load_explicit(&guards[i].signo, memory_order_acquire) == signo)
            return &guards[i];
    return NULL;
}

int ts_sigguard_is_guarded(int signo)
{
    return signo > 0 && find(signo) != NULL;
}

int ts_sigguard_install(int signo, const struct sigaction *ours)
{
    guard_t *guard = find(signo);
    if (guard == NULL) {
        guard = find(0);
        if (guard == NULL) {
            errno = ENOSPC;
            return -1;
        }
        if (real_sigaction(signo, NULL, &guard->program) != 0)
            return -1;
        guard->ours = *ours;
        atomic_store_explicit(&guard->signo, signo, memory_order_release);
    } else {
        guard->ours = *ours;
    }
    return real_sigaction(signo, ours, NULL);
}

static void read_view(guard_t *guard, struct sigaction *out)
{
    for (;;) {
        uint32_t before = atomic_load_explicit(&guard->seq, memory_order_acquire);
        if (before & 1)
            continue;
        *out = guard->program;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&guard->seq, memory_order_relaxed) == before)
            return;
    }
}

static void write_view(guard_t *guard, const struct sigaction *act, struct sigaction *old)
{
    sigset_t all, saved;
    sigfillset(&all);
    real_sigmask(SIG_SETMASK, &all, &saved);
    uint32_t seq = atomic_load(&guard->seq);
    while ((seq & 1) || !atomic_compare_exchange_weak(&guard->seq, &seq, seq + 1))
        seq = atomic_load(&guard->seq);
    if (old != NULL)
        *old = guard->program;
    guard->program = *act;
    atomic_store_explicit(&guard->seq, seq + 2, memory_order_release);
    real_sigmask(SIG_SETMASK, &saved, NULL);
}

int ts_sigguard_program_action(int signo, const struct sigaction *act, struct sigaction *old)
{
    guard_t *guard = signo > 0 ? find(signo) : NULL;
    if (guard == NULL)
        return 0;
    if (act != NULL)
        write_view(guard, act, old);
    else if (old != NULL)
        read_view(guard, old);
    return 1;
}

void ts_sigguard_unblockable(int how, sigset_t *set)
{
    if (how != SIG_BLOCK && how != SIG_SETMASK)
        return;
    for (size_t i = 0; i < TS_MAX_GUARDED; i++) {
        int signo = atomic_load_explicit(&guards[i].signo, memory_order_acquire);
        if (signo != 0)
            sigdelset(set, signo);
    }
}

void ts_sigguard_forward(int signo, siginfo_t *info, void *context)
{
    guard_t *guard = find(signo);
    if (guard == NULL)
        return;
    struct sigaction action;
    read_view(guard, &action);
    if (action.sa_handler == SIG_IGN)
        return;
    if (action.sa_handler == SIG_DFL) {
        /* Every guarded signal's default is to end the process: it ends here. */
        ts_sigdefault_die(signo, real_sigaction);
        return;
    }
    if (action.sa_flags & SA_RESETHAND) {
        struct sigaction fallback;
        memset(&fallback, 0, sizeof fallback);
        fallback.sa_handler = SIG_DFL;
        write_view(guard, &fallback, NULL);
    }
    /* The program's handler runs with the mask it asked for, as the kernel would run it. */
    sigset_t mask = action.sa_mask, saved;
    if (!(action.sa_flags & SA_NODEFER))
        sigaddset(&mask, signo);
    real_sigmask(SIG_BLOCK, &mask, &saved);
    if (action.sa_flags & SA_SIGINFO)
        action.sa_sigaction(signo, info, context);
    else
        action.sa_handler(signo);
    real_sigmask(SIG_SETMASK, &saved, NULL);
}

static int same_action(const struct sigaction *a, const struct sigaction *b)
{
    const int flags = SA_SIGINFO | SA_RESTART | SA_NODEFER | SA_RESETHAND | SA_ONSTACK;
    return a->sa_handler == b->sa_handler && (a->sa_flags & flags) == (b->sa_flags & flags);
}

int ts_sigguard_watch(void)
{
    int count = 0;
    for (size_t i = 0; i < TS_MAX_GUARDED; i++) {
        guard_t *guard = &guards[i];
        int signo = atomic_load_explicit(&guard->signo, memory_order_acquire);
        struct sigaction now;
        if (signo == 0 || real_sigaction(signo, NULL, &now) != 0 ||
            same_action(&now, &guard->ours))
            continue;
        write_view(guard, &now, NULL);
        real_sigaction(signo, &guard->ours, NULL);
        count++;
    }
    atomic_fetch_add(&taken, (uint64_t)count);
    return count;
}

void ts_sigguard_release(void)
{
    for (size_t i = 0; i < TS_MAX_GUARDED; i++) {
        guard_t *guard = &guards[i];
        int signo = atomic_load_explicit(&guard->signo, memory_order_acquire);
        if (signo == 0)
            continue;
        struct sigaction view;
        read_view(guard, &view);
        /* Unguarded first: a call the program makes from now on goes to the kernel. One of
         * our handlers still running elsewhere finds no entry and forwards nothing; no
         * timer is left to send another. */
        atomic_store_explicit(&guard->signo, 0, memory_order_release);
        real_sigaction(signo, &view, NULL);
    }
}

uint64_t ts_sigguard_taken(void)
{
    return atomic_load(&taken);
}
