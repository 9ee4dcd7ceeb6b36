/* SPDX-License-Identifier: MIT
 *
 * blocktable.c — see blocktable.h. Runs inside malloc and free of every thread: no locks,
 * no allocation after init, nothing that waits.
 *
 * Levels: level k holds TS_BLOCKTABLE_FIRST_LEVEL << k entries. Inserts go to the current
 * level until a quarter of it is taken, then to the next: the entries written are those of
 * the levels the program's live sampled blocks have needed, while a single table sized for
 * the most blocks ever tracked (256 Ki entries, 4 MiB) was written all over, every insert
 * landing on a random page of it. A block stays in the level it was inserted into until it
 * is freed; a lookup searches every level that holds blocks (a handful: a level is skipped
 * while its count is zero).
 *
 * Within a level: an address hashes to a home entry and may occupy any of the
 * TS_BLOCKTABLE_WINDOW entries from there (wrapping within the level). An insert takes the
 * first empty one by compare-and-swap; a lookup reads all of them, so a removal empties its
 * entry outright, with no tombstone: probing never stops early, and a long run's removals
 * do not fill the level with markers that lengthen every later search. A full window sends
 * the block to the next level; at most a quarter full it is rare (none in five million
 * random inserts), and the last level is four times the most blocks tracked, so it stays
 * at most a quarter full too.
 *
 * An entry's id is written after its address is claimed: a lookup of that address can only
 * come from a free of the block, which follows the allocation whose hook inserted it.
 */
#include "blocktable.h"

#include <stdlib.h>

static size_t level_size(uint32_t level)
{
    return (size_t)TS_BLOCKTABLE_FIRST_LEVEL << level;
}

static size_t level_start(uint32_t level)
{
    return ((size_t)TS_BLOCKTABLE_FIRST_LEVEL << level) - TS_BLOCKTABLE_FIRST_LEVEL;
}

static size_t home_of(uintptr_t address, uint32_t level)
{
    uint64_t h = (uint64_t)address * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 32) & (level_size(level) - 1);
}

int ts_blocktable_init(ts_blocktable_t *table, size_t max_blocks)
{
    uint32_t last = TS_BLOCKTABLE_LEVELS - 1;
    if (max_blocks > level_size(last) / 4)
        return -1;
    table->entries = calloc(level_start(last) + level_size(last), sizeof *table->entries);
    if (table->entries == NULL)
        return -1;
    table->max_blocks = max_blocks;
    atomic_store(&table->count, 0);
    atomic_store(&table->level, 0);
    for (int k = 0; k < TS_BLOCKTABLE_LEVELS; k++)
        atomic_store(&table->level_count[k], 0);
    return 0;
}

void ts_blocktable_free(ts_blocktable_t *table)
{
    free(table->entries);
    table->entries = NULL;
}

/* Claims an empty entry of the address's window in `level`; 0, or -1 when all are taken. */
static int insert_in(ts_blocktable_t *table, uint32_t level, uintptr_t address, uint64_t id)
{
    ts_block_entry_t *entries = table->entries + level_start(level);
    size_t mask = level_size(level) - 1, home = home_of(address, level);
    for (size_t i = 0; i < TS_BLOCKTABLE_WINDOW; i++) {
        ts_block_entry_t *entry = &entries[(home + i) & mask];
        uintptr_t seen = atomic_load_explicit(&entry->address, memory_order_relaxed);
        if (seen == 0 && atomic_compare_exchange_strong_explicit(&entry->address, &seen,
                                                                 address,
                                                                 memory_order_relaxed,
                                                                 memory_order_relaxed)) {
            atomic_store_explicit(&entry->id, id, memory_order_release);
            atomic_fetch_add_explicit(&table->level_count[level], 1, memory_order_release);
            return 0;
        }
    }
    return -1;
}

/* Moves inserts from `level` to the next, unless another thread already moved them. */
static void rise_from(ts_blocktable_t *table, uint32_t level)
{
    atomic_compare_exchange_strong_explicit(&table->level, &level, level + 1,
                                            memory_order_relaxed, memory_order_relaxed);
}

int ts_blocktable_insert(ts_blocktable_t *table, uintptr_t address, uint64_t id)
{
    if (atomic_load_explicit(&table->count, memory_order_relaxed) >= table->max_blocks)
        return -1;
    for (uint32_t level = atomic_load_explicit(&table->level, memory_order_relaxed);
         level < TS_BLOCKTABLE_LEVELS; level++) {
        int last = level == TS_BLOCKTABLE_LEVELS - 1;
        if (!last && atomic_load_explicit(&table->level_count[level], memory_order_relaxed) >=
                         level_size(level) / 4) {
            rise_from(table, level);
            continue;
        }
        if (insert_in(table, level, address, id) == 0) {
            atomic_fetch_add_explicit(&table->count, 1, memory_order_relaxed);
            return 0;
        }
        if (!last)
            rise_from(table, level);
    }
    return -1;
}

uint64_t ts_blocktable_remove(ts_blocktable_t *table, uintptr_t address)
{
    for (uint32_t level = 0; level < TS_BLOCKTABLE_LEVELS; level++) {
        if (atomic_load_explicit(&table->level_count[level], memory_order_acquire) == 0)
            continue;
        ts_block_entry_t *entries = table->entries + level_start(level);
        size_t mask = level_size(level) - 1, home = home_of(address, level);
        for (size_t i = 0; i < TS_BLOCKTABLE_WINDOW; i++) {
            ts_block_entry_t *entry = &entries[(home + i) & mask];
            uintptr_t seen = address;
            if (atomic_load_explicit(&entry->address, memory_order_relaxed) != address)
                continue;
            uint64_t id = atomic_load_explicit(&entry->id, memory_order_acquire);
            if (!atomic_compare_exchange_strong_explicit(&entry->address, &seen, 0,
                                                         memory_order_acq_rel,
                                                         memory_order_relaxed))
                return 0; /* removed at the same moment by another free of it */
            atomic_fetch_sub_explicit(&table->level_count[level], 1, memory_order_relaxed);
            atomic_fetch_sub_explicit(&table->count, 1, memory_order_relaxed);
            return id;
        }
    }
    return 0;
}
