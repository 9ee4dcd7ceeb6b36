/* SPDX-License-Identifier: MIT
 *
 * sigterm.h — SIGTERM made as sure as the kernel's default action, while its handler is
 * triscope's (the program has none: the handler writes the profile, then the process dies by
 * the signal). A Python handler runs only when the main thread comes back to the interpreter
 * between two bytecodes; a signal that reaches the process just before the main thread blocks
 * in C (a lock, a semaphore), or while another thread takes it, is caught and then waited on
 * for ever: the process lived on where plain python's would have died (docs/ARCHITECTURE.md,
 * "Control"). A relay in front of the interpreter's handler notes the arrival; the watch,
 * from the profiler's own thread, re-sends the signal to the main thread (its blocking call
 * ends with EINTR and the handler runs) and, if the handler still has not begun after
 * TS_SIGTERM_GRACE_NS, ends the process by the signal's default action, its profile the
 * last complete checkpoint, as after a crash (crashsave.h), or none before the first.
 * Pure C, no Python.
 */
#ifndef TS_SIGTERM_H
#define TS_SIGTERM_H

#include <stdint.h>

/* The watch re-sends after this long without the handler beginning, then every period. */
#define TS_SIGTERM_RESEND_NS 100000000ull
/* After this long without the handler beginning, the process ends by the default action. */
#define TS_SIGTERM_GRACE_NS 5000000000ull

/* Called on the main thread just after the handler that is triscope's was installed: puts
 * the relay in front of the action now in the kernel and forgets any earlier arrival (a
 * forked child's own start). 0, or -1 (errno) when the action cannot be read or set. */
int ts_sigterm_relay_install(void);
/* The handler has begun (or the profile's end has): the watch stands down. */
void ts_sigterm_taken(void);
/* From the profiler's thread, every tick, at `now_ns` (CLOCK_MONOTONIC): acts only while
 * the kernel's action is still the relay (a handler the program set later is left alone).
 * Returns 1 when it re-sent the signal, 0 otherwise (it does not return when it ends the
 * process: it saves the last checkpoint, writes one line to stderr saying where the profile
 * is, or that it is not written, and dies by SIGTERM). */
int ts_sigterm_watch(uint64_t now_ns);

#endif
