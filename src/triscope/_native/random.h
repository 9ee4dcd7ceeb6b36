/* SPDX-License-Identifier: MIT
 *
 * random.h — the one pseudo-random generator of the core: xorshift64*, a few instructions
 * and no lock, so it can run inside malloc and while the slot table's lock is held. Good
 * enough for where sampling starts (a countdown, a timer's first credit); it is no source
 * of secrets. The caller owns the state (per thread, or guarded by its own lock) and seeds
 * it with any nonzero value. No Python.
 */
#ifndef TS_RANDOM_H
#define TS_RANDOM_H

#include <stdint.h>

/* Advances `state` (nonzero) and returns the next 64 random bits. */
static inline uint64_t ts_random_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
