/* SPDX-License-Identifier: MIT
 *
 * leaks.c — see leaks.h. Reads a line's memory books and decides; it never changes them,
 * allocates or writes anything, so the writer can ask about every line and function.
 */
#include "leaks.h"

/* The live bytes must still be growing: at least this share of them added in the second
 * half of the run (a steady leak adds half; a cache built early and kept adds none)... */
#define TS_LEAK_RECENT_SHARE 0.25
/* ...by at least one sample's worth of bytes at the default sampling interval... */
#define TS_LEAK_MIN_GROWTH (256.0 * 1024.0)
/* ...and steadily: from 10% to 90% of that growth takes at least this share of the second
 * half (a one-time allocation late in the run is a step, not a leak). */
#define TS_LEAK_MIN_SPREAD 0.25

#define MIB (1024.0 * 1024.0)

/* The time of the first point at or after `from` whose value reaches `level`; `from` when
 * none does. */
static uint64_t time_reaching(const ts_series_t *series, uint64_t from, double level)
{
    for (uint32_t i = 0; i < series->count; i++)
        if (series->t_ns[i] >= from && (double)series->value[i] >= level)
            return series->t_ns[i];
    return from;
}

ts_leak_t ts_leak_of(const ts_mem_t *mem, uint64_t start_ns, uint64_t end_ns)
{
    ts_leak_t leak = {0.0, 0.0, 0};
    if (mem->samples < 2 || mem->timeline == NULL || end_ns <= start_ns)
        return leak;
    uint64_t middle = start_ns + (end_ns - start_ns) / 2;
    double growth = (double)(mem->live_bytes - ts_series_at(mem->timeline, middle));
    double seconds = (double)(end_ns - middle) / 1e9;
    if (growth < TS_LEAK_MIN_GROWTH || growth < TS_LEAK_RECENT_SHARE * (double)mem->live_bytes)
        return leak;
    double base = (double)mem->live_bytes - growth;
    uint64_t early = time_reaching(mem->timeline, middle, base + 0.1 * growth);
    uint64_t late = time_reaching(mem->timeline, middle, base + 0.9 * growth);
    if ((double)(late - early) < TS_LEAK_MIN_SPREAD * (double)(end_ns - middle))
        return leak;
    leak.likelihood = 1.0 - ((double)mem->freed + 1.0) / ((double)mem->samples + 2.0);
    leak.mb_s = growth / MIB / seconds;
    leak.leaking = leak.likelihood >= TS_LEAK_LIKELIHOOD;
    return leak;
}
