/* SPDX-License-Identifier: MIT
 *
 * blocktable.h — the sampled blocks still allocated, by address: the allocator hooks insert
 * a sampled block's address with its sample id, and every free of a possibly sampled block
 * looks its address up and removes it. Lock-free, and it never allocates after init: both
 * run inside malloc and free of any thread.
 *
 * Its memory grows with the program: the table is a series of levels, each twice the
 * previous, all reserved at init (calloc's untouched zeros) but written only from the
 * first up to the one the live blocks' count has reached, so a program with few sampled
 * blocks alive at once touches a few KiB, not the largest level's MiBs
 * (docs/ARCHITECTURE.md, "The profiler's own memory").
 */
#ifndef TS_BLOCKTABLE_H
#define TS_BLOCKTABLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TS_BLOCKTABLE_LEVELS 10         /* 1,024 entries to 512 Ki entries */
#define TS_BLOCKTABLE_FIRST_LEVEL 1024u /* entries in level 0 */
#define TS_BLOCKTABLE_WINDOW 16         /* entries an address may occupy, from its home */

typedef struct {
    _Atomic uintptr_t address;  /* 0: empty */
    _Atomic uint64_t id;
} ts_block_entry_t;

typedef struct {
    ts_block_entry_t *entries;          /* every level, one after the other */
    size_t max_blocks;                  /* inserts beyond this many live blocks are refused */
    _Atomic size_t count;               /* live blocks */
    _Atomic uint32_t level;             /* the level inserts go to; only ever rises */
    _Atomic uint32_t level_count[TS_BLOCKTABLE_LEVELS];
} ts_blocktable_t;

/* Room for `max_blocks` live blocks (at most a quarter of the last level). 0 or -1. */
int ts_blocktable_init(ts_blocktable_t *table, size_t max_blocks);
void ts_blocktable_free(ts_blocktable_t *table);

/* 0, or -1 when the table refuses the block (full): its free will not be recognised. */
int ts_blocktable_insert(ts_blocktable_t *table, uintptr_t address, uint64_t id);
/* The removed block's sample id, or 0 when `address` is not in the table. */
uint64_t ts_blocktable_remove(ts_blocktable_t *table, uintptr_t address);

#endif
