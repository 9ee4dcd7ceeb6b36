/* SPDX-License-Identifier: MIT
 *
 * ticks.c — see ticks.h. Pure: no clock, no state, no allocation.
 */
#include "ticks.h"

int ts_tick_steady(const ts_tick_seen_t *seen)
{
    if (seen->wall_ns == 0)
        return 1; /* no time passed: nothing changed */
    if (seen->still)
        return !seen->runnable;
    return seen->waited_ns * 50 < seen->wall_ns;
}

uint64_t ts_tick_next_ns(uint64_t current_ns, uint64_t base_ns, uint64_t allowed_ns)
{
    uint64_t limit = allowed_ns < TS_TICK_MOST_NS ? allowed_ns : TS_TICK_MOST_NS;
    if (limit <= base_ns)
        return base_ns;
    uint64_t next = current_ns > limit / 2 ? limit : current_ns * 2;
    return next < base_ns ? base_ns : next;
}
