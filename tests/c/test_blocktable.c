/* SPDX-License-Identifier: MIT
 *
 * test_blocktable.c — the table of live sampled blocks: insert and remove by address, a
 * removed entry emptied outright (no tombstone) and found past by a colliding address, the
 * limit on blocks, levels written only as far as the live blocks' count needed (a long run
 * of few live blocks writes level 0 alone), a block found in the level it went to after the
 * inserts moved on, a full window sending a block to the next level, and four threads
 * inserting and removing at once.
 */
#include "blocktable.h"
#include "testhelp.h"

#include <pthread.h>
#include <stdlib.h>

#define LAST (TS_BLOCKTABLE_LEVELS - 1)

static size_t size_of(uint32_t level)
{
    return (size_t)TS_BLOCKTABLE_FIRST_LEVEL << level;
}

static ts_block_entry_t *level_entries(ts_blocktable_t *t, uint32_t level)
{
    return t->entries + size_of(level) - TS_BLOCKTABLE_FIRST_LEVEL;
}

/* Entries of `level` ever written: non-zero now or holding an id (ids stay behind). */
static size_t written_in(ts_blocktable_t *t, uint32_t level)
{
    size_t written = 0;
    ts_block_entry_t *entries = level_entries(t, level);
    for (size_t i = 0; i < size_of(level); i++)
        written += atomic_load(&entries[i].address) != 0 || atomic_load(&entries[i].id) != 0;
    return written;
}

static void test_insert_remove(void)
{
    ts_blocktable_t t;
    CHECK(ts_blocktable_init(&t, 1000) == 0);
    uintptr_t a = 0x7f0000001000, b = 0x7f0000002000;
    CHECK_EQ_INT(ts_blocktable_insert(&t, a, 11), 0);
    CHECK_EQ_INT(atomic_load(&t.count), 1);
    CHECK_EQ_INT(ts_blocktable_remove(&t, b), 0);   /* never inserted */
    CHECK_EQ_INT(ts_blocktable_remove(&t, a), 11);
    CHECK_EQ_INT(ts_blocktable_remove(&t, a), 0);   /* already removed */
    CHECK_EQ_INT(atomic_load(&t.count), 0);
    CHECK_EQ_INT(atomic_load(&t.level_count[0]), 0);
    ts_blocktable_free(&t);
}

/* `count` addresses from `first` on whose home in level 0 is the same as `first`'s (found
 * by inserting each alone and looking where it went); returns that home. */
static size_t homed_with(ts_blocktable_t *t, uintptr_t first, uintptr_t *out, int count)
{
    ts_block_entry_t *entries = level_entries(t, 0);
    ts_blocktable_insert(t, first, 1);
    size_t home = 0;
    while (atomic_load(&entries[home].address) != first)
        home++;
    ts_blocktable_remove(t, first);
    for (uintptr_t address = first; count > 0; address += 16) {
        ts_blocktable_insert(t, address, 1);
        if (atomic_load(&entries[home].address) == address) {
            *out++ = address;
            count--;
        }
        ts_blocktable_remove(t, address);
    }
    return home;
}

/* Colliding addresses fill the window in turn; a removal in the middle empties its entry
 * (no tombstone), the ones after it are still found, and the next insert takes it. */
static void test_collisions_without_tombstones(void)
{
    ts_blocktable_t t;
    CHECK(ts_blocktable_init(&t, 1000) == 0);
    uintptr_t same[4];
    size_t home = homed_with(&t, 0x5000, same, 4);
    ts_block_entry_t *entries = level_entries(&t, 0);
    size_t mask = size_of(0) - 1;
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(ts_blocktable_insert(&t, same[i], (uint64_t)i + 1), 0);
    CHECK(atomic_load(&entries[(home + 2) & mask].address) == same[2]);
    CHECK_EQ_INT(ts_blocktable_remove(&t, same[1]), 2);
    CHECK(atomic_load(&entries[(home + 1) & mask].address) == 0);
    CHECK_EQ_INT(ts_blocktable_remove(&t, same[2]), 3);
    CHECK_EQ_INT(ts_blocktable_insert(&t, same[3], 4), 0);
    CHECK(atomic_load(&entries[(home + 1) & mask].address) == same[3]);
    CHECK_EQ_INT(ts_blocktable_remove(&t, same[0]), 1);
    CHECK_EQ_INT(ts_blocktable_remove(&t, same[3]), 4);
    CHECK_EQ_INT(atomic_load(&t.count), 0);
    ts_blocktable_free(&t);
}

static void test_limit(void)
{
    ts_blocktable_t t;
    CHECK(ts_blocktable_init(&t, size_of(LAST) / 4 + 1) == -1);
    CHECK(ts_blocktable_init(&t, 5000) == 0);
    size_t refused = 0;
    for (size_t i = 0; i < 5000; i++)
        refused += ts_blocktable_insert(&t, (uintptr_t)(i + 1) << 12, i + 1) != 0;
    CHECK_EQ_INT(refused, 0);
    CHECK_EQ_INT(ts_blocktable_insert(&t, (uintptr_t)5001 << 12, 5001), -1);
    size_t wrong = 0;
    for (size_t i = 0; i < 5000; i++)
        wrong += ts_blocktable_remove(&t, (uintptr_t)(i + 1) << 12) != i + 1;
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(atomic_load(&t.count), 0);
    CHECK_EQ_INT(ts_blocktable_insert(&t, 0x9000, 7), 0); /* room again */
    CHECK_EQ_INT(ts_blocktable_remove(&t, 0x9000), 7);
    ts_blocktable_free(&t);
}

/* A million blocks, never more than 100 alive at once: level 0 only, and at most the
 * addresses' windows of it; the single table this replaced was written all over (4 MiB). */
static void test_few_live_blocks_write_level_zero_only(void)
{
    ts_blocktable_t t;
    CHECK(ts_blocktable_init(&t, size_of(LAST) / 4) == 0);
    uintptr_t alive[100] = {0};
    uint64_t state = 88172645463325252ull;
    size_t wrong = 0;
    for (uint64_t i = 1; i <= 1000000; i++) {
        size_t at = i % 100;
        if (alive[at] != 0)
            wrong += ts_blocktable_remove(&t, alive[at]) != i - 100;
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        alive[at] = (uintptr_t)(state & 0x7ffffffffff0u) | 0x10;
        wrong += ts_blocktable_insert(&t, alive[at], i) != 0;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(atomic_load(&t.level), 0);
    CHECK(written_in(&t, 0) > 0);
    for (uint32_t level = 1; level < TS_BLOCKTABLE_LEVELS; level++)
        CHECK_EQ_INT(written_in(&t, level), 0);
    ts_blocktable_free(&t);
}

/* More live blocks than a quarter of level 0 move the inserts up; the blocks left in level
 * 0 are still found and removed, and the levels written are those the count reached. */
static void test_levels_follow_the_live_count(void)
{
    ts_blocktable_t t;
    CHECK(ts_blocktable_init(&t, size_of(LAST) / 4) == 0);
    /* A quarter of level 0, then a quarter of level 1 (twice as big). */
    size_t n = TS_BLOCKTABLE_FIRST_LEVEL / 4 + TS_BLOCKTABLE_FIRST_LEVEL / 2;
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(ts_blocktable_insert(&t, (uintptr_t)(i + 1) << 6, i + 1), 0);
    CHECK_EQ_INT(atomic_load(&t.level), 1);
    CHECK_EQ_INT(atomic_load(&t.level_count[0]), TS_BLOCKTABLE_FIRST_LEVEL / 4);
    CHECK_EQ_INT(atomic_load(&t.level_count[1]), n - TS_BLOCKTABLE_FIRST_LEVEL / 4);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += ts_blocktable_remove(&t, (uintptr_t)(i + 1) << 6) != i + 1;
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(atomic_load(&t.level_count[0]) + atomic_load(&t.level_count[1]), 0);
    for (uint32_t level = 2; level < TS_BLOCKTABLE_LEVELS; level++)
        CHECK_EQ_INT(written_in(&t, level), 0);
    ts_blocktable_free(&t);
}

/* Addresses with one home fill its window; the next goes to level 1 (and stays findable). */
static void test_full_window_moves_up(void)
{
    ts_blocktable_t t;
    CHECK(ts_blocktable_init(&t, 1000) == 0);
    uintptr_t homed[TS_BLOCKTABLE_WINDOW + 1];
    homed_with(&t, 0x10000, homed, TS_BLOCKTABLE_WINDOW + 1);
    for (int i = 0; i < TS_BLOCKTABLE_WINDOW; i++)
        CHECK_EQ_INT(ts_blocktable_insert(&t, homed[i], (uint64_t)i + 1), 0);
    CHECK_EQ_INT(atomic_load(&t.level), 0);
    CHECK_EQ_INT(ts_blocktable_insert(&t, homed[TS_BLOCKTABLE_WINDOW], 99), 0);
    CHECK_EQ_INT(atomic_load(&t.level), 1);
    CHECK_EQ_INT(atomic_load(&t.level_count[1]), 1);
    CHECK_EQ_INT(ts_blocktable_remove(&t, homed[TS_BLOCKTABLE_WINDOW]), 99);
    size_t wrong = 0;
    for (int i = 0; i < TS_BLOCKTABLE_WINDOW; i++)
        wrong += ts_blocktable_remove(&t, homed[i]) != (uint64_t)i + 1;
    CHECK_EQ_INT(wrong, 0);
    ts_blocktable_free(&t);
}

#define THREADS 4
#define ROUNDS 200000

static ts_blocktable_t shared;
static pthread_barrier_t all_holding; /* every thread holds 300 blocks: 1,200 alive at once */

static void *churn(void *arg)
{
    uintptr_t base = (uintptr_t)arg << 40;
    size_t *wrong = calloc(1, sizeof *wrong);
    uintptr_t held[300] = {0};
    for (uint64_t i = 0; i < ROUNDS; i++) {
        size_t at = i % 300;
        if (held[at] != 0 && ts_blocktable_remove(&shared, held[at]) != held[at] + 1)
            ++*wrong;
        held[at] = base + (i << 4);
        if (ts_blocktable_insert(&shared, held[at], held[at] + 1) != 0)
            ++*wrong;
        if (i == 299)
            pthread_barrier_wait(&all_holding);
    }
    for (size_t at = 0; at < 300; at++)
        if (ts_blocktable_remove(&shared, held[at]) != held[at] + 1)
            ++*wrong;
    return wrong;
}

/* 1,200 blocks alive at once across four threads: the inserts rise past level 0 while the
 * others remove from it. The barrier makes the 1,200 certain: a loaded machine (CI's) may
 * otherwise run the threads one after another, 300 alive at a time, and level 1 suffices. */
static void test_threads_at_once(void)
{
    CHECK(ts_blocktable_init(&shared, size_of(LAST) / 4) == 0);
    pthread_barrier_init(&all_holding, NULL, THREADS);
    size_t wrong = th_run_threads(THREADS, churn);
    pthread_barrier_destroy(&all_holding);
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(atomic_load(&shared.count), 0);
    CHECK(atomic_load(&shared.level) >= 2);
    for (uint32_t level = 0; level < TS_BLOCKTABLE_LEVELS; level++)
        CHECK_EQ_INT(atomic_load(&shared.level_count[level]), 0);
    ts_blocktable_free(&shared);
}

int main(void)
{
    RUN(test_insert_remove);
    RUN(test_collisions_without_tombstones);
    RUN(test_limit);
    RUN(test_few_live_blocks_write_level_zero_only);
    RUN(test_levels_follow_the_live_count);
    RUN(test_full_window_moves_up);
    RUN(test_threads_at_once);
    return TEST_DONE();
}
