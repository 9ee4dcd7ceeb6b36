/* SPDX-License-Identifier: MIT
 *
 * fdpark.h — where triscope's own descriptors live while a program runs, and room for the
 * profile when the program has used up its own (docs/ARCHITECTURE.md, "What the program leaves behind").
 *
 * open() gives the lowest free number: under plain python a program's first file is 3. A
 * descriptor triscope keeps across the program (the checkpoint files, the output held for a
 * privilege drop, a thread's /proc files, the live view's socket) is moved up to the top of
 * the first 1024 numbers, so the program gets the numbers plain python gives it. And the
 * profile needs a few descriptors at the end: a program that opened files until none was
 * left, or lowered RLIMIT_NOFILE, would otherwise cost the user the profile. So a few spare
 * ones are held from the start and closed as the profile is written, and the limit the run
 * began with is in force while it is written where the program lowered it.
 */
#ifndef TS_FDPARK_H
#define TS_FDPARK_H

#include <stdint.h>
#include <sys/resource.h>

/* Numbers at the top of the first 1024 (or of a lower limit, at most half of it) given to
 * triscope's descriptors; the program's own reach them only past 896 open files. */
#define TS_FD_PARK_SPAN 128

/* The lowest number a parked descriptor takes under the soft limit `soft`; 3 when the
 * limit leaves no room above the standard streams (nothing is moved then). Pure. */
int ts_fd_park_floor(rlim_t soft);

/* `fd` moved to the park (the lowest free number from the floor up, close-on-exec), the
 * original closed: the new number; `fd` itself, still open, when it cannot move. */
int ts_fd_park(int fd);

/* The numbers below the park that ts_fd_hold_below_park took, one bit each. */
typedef struct {
    uint64_t bits[1024 / 64];
} ts_fd_held_t;

/* While a library that keeps descriptors of its own starts (NVML opens about 14 at its
 * initialisation, measured on an H100; docs/ARCHITECTURE.md, "What the program leaves
 * behind"): every free number below the park taken by a placeholder, so what the library
 * opens meanwhile lands in the park (the program's own numbers stay as they were). Costs one
 * dup per free number, under a millisecond for 900. */
void ts_fd_hold_below_park(ts_fd_held_t *held);

/* The placeholders closed: the numbers the program had free are free again. */
void ts_fd_release_below_park(ts_fd_held_t *held);

/* At the start of profiling: spares held in the park and the current limit recorded.
 * Again while they are held: nothing. The first descriptor parked grows the process's
 * descriptor table to the park's numbers, and growing it in a process with threads waits
 * for an RCU grace period (8 ms measured here, at every run's start): so this comes before
 * any thread of triscope's starts, and later parks find the table grown. */
void ts_fd_keep_room(void);

/* The spares closed, the ones the program closed or replaced left alone (a number it
 * reused is its own): as the profile is written, or when profiling ends without writing
 * one (a start that failed, an attached profile given up). */
void ts_fd_give_back_spares(void);

/* As the profile is written: the spares given back; and the soft limit recorded by
 * ts_fd_keep_room back where the program lowered it since, as far as the hard limit allows
 * (the hard one too where privileged). */
void ts_fd_make_room(void);

/* After the writing: the program's own lowered limit back, where ts_fd_make_room raised it
 * (a process that goes on, or execs, keeps what the program chose). */
void ts_fd_room_done(void);

#endif
