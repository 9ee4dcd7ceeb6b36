/* SPDX-License-Identifier: MIT
 *
 * awaits.h — awaited time (docs/DEFINITIONS.md, "Awaited time"): how long coroutines stayed
 * suspended at each `await` line of a profiled file, heard through a sys.monitoring tool of
 * our own (3.12+). The times go to the lines' `await_ns` in the stats (resolve.c), outside
 * the time that adds up to 100 %.
 */
#ifndef TS_AWAITS_H
#define TS_AWAITS_H

#include <stdint.h>

typedef struct {
    int measured;        /* the tool was in place for the run */
    const char *reason;  /* why not, when not measured; NULL when measured */
    uint64_t dropped;    /* suspensions forgotten because their table set was full */
} ts_awaits_summary_t;

/* Starts measuring when `asked` (else only records that it was turned off): claims a free
 * sys.monitoring tool id and registers the callbacks. Not measuring is no error of the run:
 * the summary says why. GIL held. */
void ts_awaits_start(int asked);

/* Gives the tool id back; nothing more is measured. GIL held. */
void ts_awaits_stop(void);

/* Suspends (1) or resumes (0) measuring; async-signal-safe (atomic stores only). */
void ts_awaits_set_paused(int paused);

void ts_awaits_summary(ts_awaits_summary_t *summary);

#endif
