/* SPDX-License-Identifier: MIT
 *
 * pysignal.h — the program's Python-level calls on the guarded signals (signal.signal,
 * getsignal, pthread_sigmask, siginterrupt) kept to its own view (see pysignal.c).
 */
#ifndef TS_PYSIGNAL_H
#define TS_PYSIGNAL_H

#include <stddef.h>

/* Once per process, with the GIL, on the main thread, before our handlers are installed on
 * `signals`: from then on the program's Python calls on them see only the program's view.
 * Off the main thread it does nothing (CPython lets only that thread set handlers). Never
 * raises. */
void ts_pysignal_guard(const int *signals, size_t count);

/* Undoes ts_pysignal_guard, with the GIL, on the main thread, after ts_sigguard_release:
 * `_signal`'s own functions come back, and CPython's table holds for each signal what the
 * program last set (the kernel keeps the action sigguard.c gave it back). A later
 * ts_pysignal_guard guards again. Never raises. */
void ts_pysignal_release(void);

#endif
