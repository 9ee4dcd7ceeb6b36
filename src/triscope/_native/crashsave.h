/* SPDX-License-Identifier: MIT
 *
 * crashsave.h — when the program dies of a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT), or of a SIGTERM its main thread could not come back to Python for (sigterm.h),
 * the last complete checkpoint of the profile becomes the profile. The glue writes
 * checkpoints into two unnamed files (O_TMPFILE) beside the output, alternately, and says
 * which one is complete; the fatal-signal handler, or the SIGTERM watch, gives that one the
 * output's name. Pure C, no Python.
 */
#ifndef TS_CRASHSAVE_H
#define TS_CRASHSAVE_H

/* Where a saved checkpoint goes: `final_name` in the directory `dir_fd`, through the
 * scratch name `temp_name` (a link cannot replace a name; a rename can). `final_path` is
 * that place as stderr names it, in the line a crash writes once it is done. The
 * descriptors stay the caller's. 0, or -1 when a name is too long. */
int ts_crashsave_configure(int dir_fd, const char *temp_name, const char *final_name,
                           const char *final_path);
/* The checkpoint in `fd` is complete: a crash from now on saves it. The first call installs
 * the handlers (a short run never has its signal handlers touched). 0 or -1 (errno). */
int ts_crashsave_ready(int fd);
/* From a thread of ours, never a signal handler (the profiler's, as the SIGTERM watch ends
 * the process): the last complete checkpoint becomes the profile now, by the same link and
 * rename as a crash's, but without the crash's line (the caller says why). Returns where it
 * is (configure's `final_path`), or NULL when nothing was saved: no checkpoint complete yet
 * (or none any more), a forked child's, a crash saving it already, the link refused. */
const char *ts_crashsave_save_now(void);
/* No checkpoint to save any more (the profile was written): handlers that are still ours go
 * back to what they were. */
void ts_crashsave_disarm(void);
/* In a forked child: the parent's checkpoints are not the child's to save. */
void ts_crashsave_forget_after_fork(void);

#endif
