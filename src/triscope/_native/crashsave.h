/* SPDX-License-Identifier: MIT
 *
 * crashsave.h — when the program dies of a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT), the last complete checkpoint of the profile becomes the profile. The glue writes
 * checkpoints into two unnamed files (O_TMPFILE) beside the output, alternately, and says
 * which one is complete; the fatal-signal handler gives that one the output's name.
 */
#ifndef TS_CRASHSAVE_H
#define TS_CRASHSAVE_H

/* Where a crash puts the checkpoint: `final_name` in the directory `dir_fd`, through the
 * scratch name `temp_name` (a link cannot replace a name; a rename can). `message` is
 * written to stderr when it is done. The descriptors stay the caller's. 0, or -1 when a name
 * is too long. */
int ts_crashsave_configure(int dir_fd, const char *temp_name, const char *final_name,
                           const char *message);
/* The checkpoint in `fd` is complete: a crash from now on saves it. The first call installs
 * the handlers (a short run never has its signal handlers touched). 0 or -1 (errno). */
int ts_crashsave_ready(int fd);
/* No checkpoint to save any more (the profile was written): handlers that are still ours go
 * back to what they were. */
void ts_crashsave_disarm(void);
/* In a forked child: the parent's checkpoints are not the child's to save. */
void ts_crashsave_forget_after_fork(void);

#endif
