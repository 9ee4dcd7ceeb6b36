/* SPDX-License-Identifier: MIT
 *
 * leaks.h — whether a line's memory is leaking, from its sampled allocations, frees and live
 * bytes over time (stats.h). Pure C, no Python, no I/O: unit-tested alone; the profile
 * writer reports what it says (docs/PROFILE_FORMAT.md: `leak_likelihood`, `leak_mb_s`,
 * `leaks`).
 *
 * A line leaks when its sampled blocks are (almost) never freed and its live bytes kept
 * growing steadily through the second half of the run. The likelihood that a sampled block
 * is never freed is Laplace's rule of succession over allocations and frees; it is reported
 * (non-zero) only for lines whose live bytes are growing, since a line whose blocks all
 * stay but stopped growing early (a cache built once) holds memory on purpose.
 */
#ifndef TS_LEAKS_H
#define TS_LEAKS_H

#include <stdint.h>

#include "stats.h"

/* A line reported as leaking needs this likelihood that its sampled blocks are never freed. */
#define TS_LEAK_LIKELIHOOD 0.9

typedef struct {
    double likelihood; /* 0 unless the live bytes are growing */
    double mb_s;       /* growth over the second half of the run, MiB per second */
    int leaking;       /* growing, with a likelihood of at least TS_LEAK_LIKELIHOOD */
} ts_leak_t;

/* The verdict on `mem` for a run from start_ns to end_ns (the clock of its timeline). */
ts_leak_t ts_leak_of(const ts_mem_t *mem, uint64_t start_ns, uint64_t end_ns);

#endif
