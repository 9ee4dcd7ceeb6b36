/* SPDX-License-Identifier: MIT
 *
 * sigguard.h — the profiler's signals (the CPU timer's, the two control signals, and the
 * fault signals that guard stack walks) kept out of the program's reach. For each guarded
 * signal the kernel holds our handler, while the program has a view of its own: the action
 * it last set, which its sigaction/signal calls read and write, and to which our handlers
 * pass every signal that is not ours (one the program raised itself). Pure C, no Python.
 * The rules the program lives by are in docs/ARCHITECTURE.md ("Signals").
 */
#ifndef TS_SIGGUARD_H
#define TS_SIGGUARD_H

#include <signal.h>
#include <stdint.h>

/* What the allocator library (preload/signals.c), when loaded, offers under the name
 * TS_SIGNAL_API_SYMBOL: libc's own functions (ours would reach the guard themselves), and a
 * hook through which the program's native calls on guarded signals reach this file. */
typedef int (*ts_sigaction_fn)(int signo, const struct sigaction *act, struct sigaction *old);
typedef int (*ts_sigmask_fn)(int how, const sigset_t *set, sigset_t *old);
/* The layout of ts_signal_api_t, read first by the extension: a preloaded library of
 * another version is not used (see ts_sigguard_init). The first layout had no version; its
 * first field was a function pointer. Bump it whenever the struct changes. */
#define TS_SIGNAL_API_VERSION 2

typedef struct {
    uint32_t version; /* TS_SIGNAL_API_VERSION; always the first field */
    ts_sigaction_fn real_sigaction;
    ts_sigmask_fn real_sigmask;
    /* `on_sigaction` returns 1 when it handled the call (a guarded signal), 0 to let libc
     * have it; `on_mask` takes the guarded signals out of a set about to be blocked. */
    void (*set_guard)(int (*on_sigaction)(int, const struct sigaction *, struct sigaction *),
                      void (*on_mask)(int how, sigset_t *set));
} ts_signal_api_t;

#define TS_SIGNAL_API_SYMBOL "triscope_signal_api"
/* Defined by the allocator library only; found with dlsym, never linked against. */
const ts_signal_api_t *triscope_signal_api(void);

/* Finds the allocator library's hook, if it is loaded and of this version (another version
 * is left alone, with one warning on stderr: its functions then pass every call to libc);
 * once per process, before anything else here. */
void ts_sigguard_init(void);

/* Installs `ours` for `signo` and guards it. The first time, the action in place becomes
 * the program's view. 0 or -1 (errno set). */
int ts_sigguard_install(int signo, const struct sigaction *ours);

/* Whether `signo` is guarded. */
int ts_sigguard_is_guarded(int signo);

/* The program's sigaction() on `signo`: when guarded, reads and writes its view only and
 * returns 1; returns 0 (touching nothing) when `signo` is not guarded. Async-signal-safe. */
int ts_sigguard_program_action(int signo, const struct sigaction *act, struct sigaction *old);

/* Takes the guarded signals out of `set`, a set the program is about to block (`how` is
 * SIG_BLOCK or SIG_SETMASK; other values leave it as it is). */
void ts_sigguard_unblockable(int how, sigset_t *set);

/* From our handlers: a signal that is not ours goes where the program's view says — its
 * handler (with its mask), nothing (SIG_IGN), or the default action (the process dies by it,
 * as without triscope). Async-signal-safe. */
void ts_sigguard_forward(int signo, siginfo_t *info, void *context);

/* The watchdog (consumer thread): a guarded signal whose kernel action is no longer ours
 * (native code the guard cannot see) is taken back, the action found becoming the program's
 * view. Returns how many were taken back. */
int ts_sigguard_watch(void);

/* Hands every guarded signal back (a profile attached to a running process ends: docs/
 * ARCHITECTURE.md, "Attaching to a running process"): the kernel gets the program's view as
 * its action, and the signal is no longer guarded. Only once no timer of ours is left. */
void ts_sigguard_release(void);

/* Times the watchdog took a signal back since the process began. */
uint64_t ts_sigguard_taken(void);

/* libc's sigaction and pthread_sigmask, bypassing the guard. */
int ts_sigguard_real_sigaction(int signo, const struct sigaction *act, struct sigaction *old);
int ts_sigguard_real_sigmask(int how, const sigset_t *set, sigset_t *old);

#endif
