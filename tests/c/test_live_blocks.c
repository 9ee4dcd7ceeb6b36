/* SPDX-License-Identifier: MIT
 *
 * test_live_blocks.c — how allocsampler.c recognises the free of a sampled block among every
 * free of the process: the table (blocktable.c, tested on its own in test_blocktable.c)
 * with the per-page filter every free checks first, the limit on blocks tracked, a free
 * queued as an event, and four threads inserting and removing at once. The table and the
 * filter are static in allocsampler.c, so that file is compiled into this test.
 */
#include "allocsampler.c"
#include "testhelp.h"

#include <pthread.h>

static ts_walk_t no_stack(ts_frame_t *out, int capacity)
{
    (void)out;
    (void)capacity;
    ts_walk_t walk = {.opcode = -1};
    return walk;
}

/* The table as start() leaves it, emptied of what an earlier test left. */
static void fresh_table(void)
{
    CHECK(start(1 << 20, 1 << 20, no_stack) == 0);
    ts_blocktable_free(&live);
    CHECK(ts_blocktable_init(&live, LIVE_BLOCKS) == 0);
    memset((void *)filter, 0, FILTER_SIZE * sizeof *filter);
    atomic_store(&live_count, 0);
}

static int filter_is_clear(void)
{
    for (size_t i = 0; i < FILTER_SIZE; i++)
        if (atomic_load(&filter[i]) != 0)
            return 0;
    return 1;
}

static void test_insert_remove(void)
{
    fresh_table();
    uintptr_t a = 0x7f0000001000, b = 0x7f0000002000;
    CHECK(atomic_load(&filter[filter_of(a)]) == 0);
    CHECK_EQ_INT(live_insert(a, 11), 0);
    CHECK_EQ_INT(atomic_load(&live_count), 1);
    CHECK(atomic_load(&filter[filter_of(a)]) == 1);
    CHECK_EQ_INT(live_remove(b), 0);          /* never inserted */
    CHECK_EQ_INT(live_remove(a), 11);
    CHECK_EQ_INT(live_remove(a), 0);          /* already removed */
    CHECK_EQ_INT(atomic_load(&live_count), 0);
    CHECK(filter_is_clear());
}

static void test_limit(void)
{
    fresh_table();
    size_t limit = LIVE_BLOCKS, refused = 0;
    for (size_t i = 0; i < limit; i++)
        refused += live_insert((uintptr_t)(i + 1) << 12, i + 1) != 0;
    CHECK_EQ_INT(refused, 0);
    CHECK_EQ_INT(live_insert((uintptr_t)(limit + 1) << 12, limit + 1), -1);
    size_t wrong = 0;
    for (size_t i = 0; i < limit; i++)
        wrong += live_remove((uintptr_t)(i + 1) << 12) != i + 1;
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(atomic_load(&live_count), 0);
    CHECK(filter_is_clear());
    CHECK_EQ_INT(live_insert(0x9000, 7), 0); /* room again */
    CHECK_EQ_INT(live_remove(0x9000), 7);
}

typedef struct {
    uint64_t ids[4];
    size_t count;
} frees_seen_t;

static void on_sample(const ts_mem_sample_t *sample, void *context)
{
    (void)sample;
    (void)context;
}

static void on_free(const ts_mem_free_t *event, void *context)
{
    frees_seen_t *seen = context;
    if (seen->count < 4)
        seen->ids[seen->count] = event->id;
    seen->count++;
}

static void test_free_of_a_tracked_block(void)
{
    fresh_table();
    static char block[64], other[64];
    CHECK_EQ_INT(live_insert((uintptr_t)block, 42), 0);
    ts_allocsampler_on_free(other);   /* not tracked: no event */
    ts_allocsampler_on_free(block);
    ts_allocsampler_on_free(block);   /* its second free is not the sampled block's */
    frees_seen_t seen = {{0}, 0};
    drain(on_sample, on_free, &seen);
    CHECK_EQ_INT(seen.count, 1);
    CHECK_EQ_INT(seen.ids[0], 42);
    CHECK_EQ_INT(atomic_load(&live_count), 0);
}

#define THREADS 4
#define ROUNDS 20000

static void *churn(void *arg)
{
    uintptr_t base = (uintptr_t)arg << 40;
    size_t *wrong = calloc(1, sizeof *wrong);
    for (uint64_t i = 0; i < ROUNDS; i++) {
        uintptr_t address = base + ((i % 512) << 6);
        uint64_t id = (uint64_t)base + i + 1;
        if (live_insert(address, id) != 0 || live_remove(address) != id)
            ++*wrong;
    }
    return wrong;
}

static void test_threads_at_once(void)
{
    fresh_table();
    size_t wrong = th_run_threads(THREADS, churn);
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(atomic_load(&live_count), 0);
    CHECK(filter_is_clear());
}

int main(void)
{
    RUN(test_insert_remove);
    RUN(test_limit);
    RUN(test_free_of_a_tracked_block);
    RUN(test_threads_at_once);
    return TEST_DONE();
}
