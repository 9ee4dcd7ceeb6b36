/* SPDX-License-Identifier: MIT
 *
 * sigdefault.h — a signal's default action, taken here and now: what the kernel would have
 * done with a signal that had no handler. Two places end the process so, as it would have
 * ended without triscope: a guarded signal the program left at its default (sigguard.h) and
 * a SIGTERM whose handler, triscope's, could not run in time (sigterm.h). Pure C, no Python.
 */
#ifndef TS_SIGDEFAULT_H
#define TS_SIGDEFAULT_H

#include <signal.h>

/* `signo`'s action becomes SIG_DFL through `set_action` (a sigaction: libc's own where the
 * allocator library's would take the call for a guarded signal), then this thread lets the
 * signal in and sends it to itself: a signal whose default is to end the process ends it
 * here, even on a thread that blocks every signal, or in a handler that runs with it
 * blocked. Async-signal-safe. */
void ts_sigdefault_die(int signo,
                       int (*set_action)(int, const struct sigaction *, struct sigaction *));

#endif
