/* SPDX-License-Identifier: MIT
 *
 * resolve.h — the consumer's GIL side: turns raw samples (code pointers, instruction
 * offsets) into (file, function, line) and aggregates them into the stats. Also owns the
 * code-object lifetime guard: a code object about to be freed first has every queued sample
 * resolved, so no sample ever names a dead code object (whose address may be reused).
 */
#ifndef TS_RESOLVE_H
#define TS_RESOLVE_H

#include "filter.h"
#include "ringbuf.h"
#include "stats.h"

/* Takes ownership of the filter (NULL: keep the current one, as when a forked child starts
 * its own profile). Installs the code-destruction hook. GIL held. 0 or -1. */
int ts_resolve_start(ts_filter_t *filter, int record_stacks);

/* Resolves everything queued (CPU rings, waiting samples, GPU readings) into the stats.
 * GIL held. */
void ts_resolve_drain(void);

/* Whether `code` (a live code object) belongs to a profiled file: 1 or 0, or -1 when that
 * cannot be told (no run started, or the object cannot be resolved). GIL held. */
int ts_resolve_code_profiled(const void *code);

/* Charges `ns` of awaited time to the line of `instr_offset` in `code`, a live code object
 * of a profiled file (awaits.c). GIL held. */
void ts_resolve_add_await(const void *code, int instr_offset, uint64_t ns);

/* Removes the hook; the stats stay readable until ts_resolve_reset. GIL held. */
void ts_resolve_stop(void);

/* Forgets all results (a fresh profile). GIL held. */
void ts_resolve_reset(void);

/* The ring the consumer thread queues waiting-time samples into. */
ts_ring_t *ts_resolve_wait_ring(void);

const ts_stats_t *ts_resolve_stats(void);
const ts_filter_t *ts_resolve_filter(void);

#endif
