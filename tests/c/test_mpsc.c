/* SPDX-License-Identifier: MIT
 *
 * test_mpsc.c — the allocator hooks' queue: order, capacity, drops, cells reused last
 * released first (so only as many are ever written as were held at once), and four
 * producer threads against one consumer with every record checked.
 */
#include "mpsc.h"
#include "testhelp.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    uint32_t producer;
    uint32_t sequence;
    uint64_t payload[3];
} record_t;

static void test_order_and_capacity(void)
{
    ts_mpsc_t q;
    CHECK(ts_mpsc_init(&q, 5, sizeof(record_t)) == 0);
    CHECK_EQ_INT(q.mask + 1, 8);
    CHECK(ts_mpsc_peek(&q) == NULL);
    for (uint32_t i = 0; i < 8; i++) {
        record_t *r = ts_mpsc_reserve(&q);
        CHECK(r != NULL);
        if (r) {
            r->sequence = i;
            ts_mpsc_commit(&q, r);
        }
    }
    CHECK(ts_mpsc_reserve(&q) == NULL);
    CHECK_EQ_INT(q.dropped, 1);
    for (uint32_t i = 0; i < 8; i++) {
        const record_t *r = ts_mpsc_peek(&q);
        CHECK(r != NULL && r->sequence == i);
        ts_mpsc_release(&q);
    }
    CHECK(ts_mpsc_peek(&q) == NULL);
    /* Records arrive in commit order: one reserved first but committed later comes later,
     * and waits for nobody. */
    record_t *slow = ts_mpsc_reserve(&q), *fast = ts_mpsc_reserve(&q);
    CHECK(slow != NULL && fast != NULL && slow != fast);
    if (slow && fast) {
        fast->sequence = 1;
        ts_mpsc_commit(&q, fast);
        const record_t *r = ts_mpsc_peek(&q);
        CHECK(r != NULL && r->sequence == 1);
        ts_mpsc_release(&q);
        CHECK(ts_mpsc_peek(&q) == NULL);
        slow->sequence = 2;
        ts_mpsc_commit(&q, slow);
        r = ts_mpsc_peek(&q);
        CHECK(r != NULL && r->sequence == 2);
        ts_mpsc_release(&q);
    }
    ts_mpsc_free(&q);
}

/* A fresh queue is all zero bytes, as calloc gave it: its pages are not made resident at
 * start (mpsc.c), only as records reach them. */
static void test_init_writes_no_cell(void)
{
    ts_mpsc_t q;
    CHECK(ts_mpsc_init(&q, 64, sizeof(record_t)) == 0);
    size_t nonzero = 0;
    for (size_t i = 0; i < (q.mask + 1) * q.cell_size; i++)
        nonzero += q.cells[i] != 0;
    for (size_t i = 0; i <= q.mask; i++)
        nonzero += q.below[i] != 0 || q.order[i] != 0;
    CHECK_EQ_INT(nonzero, 0);
    ts_mpsc_free(&q);
}

/* Thousands of laps with at most three records queued at once write three cells, whatever
 * the capacity: the rest of the queue's memory is never touched (the ring it replaced wrote
 * every cell once per lap). */
static void test_cells_written_are_those_held_at_once(void)
{
    ts_mpsc_t q;
    CHECK(ts_mpsc_init(&q, 4096, sizeof(record_t)) == 0);
    uint32_t sequence = 0, received = 0, wrong = 0;
    for (int lap = 0; lap < 10000; lap++) {
        int held = 1 + lap % 3;
        for (int i = 0; i < held; i++) {
            record_t *r = ts_mpsc_reserve(&q);
            if (r == NULL)
                continue;
            r->sequence = sequence++;
            ts_mpsc_commit(&q, r);
        }
        for (const record_t *r; (r = ts_mpsc_peek(&q)) != NULL; ts_mpsc_release(&q))
            wrong += r->sequence != received++;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(received, sequence);
    CHECK_EQ_INT(q.dropped, 0);
    CHECK_EQ_INT(q.untouched, 3);
    size_t written = 0;
    for (size_t i = 0; i <= q.mask; i++)
        for (size_t b = 0; b < q.cell_size; b++)
            if (q.cells[i * q.cell_size + b] != 0) {
                written++;
                break;
            }
    CHECK_EQ_INT(written, 3);
    ts_mpsc_free(&q);
}

/* A full queue refuses, and every cell comes back: after the consumer released them all,
 * the queue takes `capacity` records again. */
static void test_full_then_emptied(void)
{
    ts_mpsc_t q;
    CHECK(ts_mpsc_init(&q, 16, sizeof(record_t)) == 0);
    for (int round = 0; round < 3; round++) {
        int taken = 0;
        for (int i = 0; i < 20; i++) {
            record_t *r = ts_mpsc_reserve(&q);
            if (r == NULL)
                continue;
            r->sequence = (uint32_t)(round * 100 + taken++);
            ts_mpsc_commit(&q, r);
        }
        CHECK_EQ_INT(taken, 16);
        int seen = 0, wrong = 0;
        for (const record_t *r; (r = ts_mpsc_peek(&q)) != NULL; ts_mpsc_release(&q))
            wrong += r->sequence != (uint32_t)(round * 100 + seen++);
        CHECK_EQ_INT(seen, 16);
        CHECK_EQ_INT(wrong, 0);
    }
    CHECK_EQ_INT(q.dropped, 3 * 4);
    ts_mpsc_free(&q);
}

#define PRODUCERS 4
#define PER_PRODUCER 200000

static ts_mpsc_t shared;
static _Atomic uint64_t produced_drops;

static void *produce(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        record_t *r = ts_mpsc_reserve(&shared);
        if (r == NULL) {
            atomic_fetch_add(&produced_drops, 1);
            continue;
        }
        r->producer = id;
        r->sequence = i;
        r->payload[0] = r->payload[1] = r->payload[2] = (uint64_t)id * 1000003u + i;
        ts_mpsc_commit(&shared, r);
    }
    return NULL;
}

static void test_many_producers(void)
{
    CHECK(ts_mpsc_init(&shared, 1024, sizeof(record_t)) == 0);
    pthread_t threads[PRODUCERS];
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        pthread_create(&threads[i], NULL, produce, (void *)i);
    int64_t last[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        last[i] = -1;
    uint64_t received = 0, torn = 0, out_of_order = 0;
    int finished = 0;
    while (!finished) {
        const record_t *r = ts_mpsc_peek(&shared);
        if (r == NULL) {
            finished = received + atomic_load(&produced_drops) ==
                       (uint64_t)PRODUCERS * PER_PRODUCER;
            continue;
        }
        uint64_t expect = (uint64_t)r->producer * 1000003u + r->sequence;
        torn += r->payload[0] != expect || r->payload[2] != expect;
        out_of_order += (int64_t)r->sequence <= last[r->producer];
        last[r->producer] = r->sequence;
        received++;
        ts_mpsc_release(&shared);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    CHECK_EQ_INT(torn, 0);
    CHECK_EQ_INT(out_of_order, 0);
    CHECK_EQ_INT(received + shared.dropped, (uint64_t)PRODUCERS * PER_PRODUCER);
    CHECK(received > 0);
    ts_mpsc_free(&shared);
}

int main(void)
{
    RUN(test_order_and_capacity);
    RUN(test_init_writes_no_cell);
    RUN(test_cells_written_are_those_held_at_once);
    RUN(test_full_then_emptied);
    RUN(test_many_producers);
    return TEST_DONE();
}
