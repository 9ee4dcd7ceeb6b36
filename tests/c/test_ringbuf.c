/* SPDX-License-Identifier: MIT
 *
 * test_ringbuf.c — the signal-handler ring: capacity rounding, FIFO order, drop counting
 * when full, clear, index wraparound at 2^32, cells written only as far as the records held
 * at once, and a producer/consumer thread stress.
 */
#include "ringbuf.h"
#include "testhelp.h"

#include <pthread.h>
#include <stdint.h>

typedef struct {
    uint64_t seq;
    uint64_t check;  /* ~seq: a torn or stale record would not match */
} record_t;

/* Reserves, fills and commits one record; 0, or -1 when the ring was full. */
static int push(ts_ring_t *ring, uint64_t seq)
{
    record_t *r = ts_ring_reserve(ring);
    if (r == NULL)
        return -1;
    r->seq = seq;
    r->check = ~seq;
    ts_ring_commit(ring);
    return 0;
}

/* Peeks and releases one record; its seq, or UINT64_MAX when the ring was empty. */
static uint64_t pop(ts_ring_t *ring)
{
    const record_t *r = ts_ring_peek(ring);
    if (r == NULL)
        return UINT64_MAX;
    uint64_t seq = r->seq;
    CHECK(r->check == ~seq);
    ts_ring_release(ring);
    return seq;
}

/* How many records fit before reserve fails. */
static uint32_t usable_capacity(uint32_t requested)
{
    ts_ring_t ring;
    CHECK(ts_ring_init(&ring, requested, sizeof(record_t)) == 0);
    uint32_t n = 0;
    while (n < 100000 && push(&ring, n) == 0)
        n++;
    CHECK_EQ_INT(atomic_load(&ring.dropped), 1);
    ts_ring_free(&ring);
    return n;
}

static void test_capacity_rounding(void)
{
    ts_ring_t ring;
    CHECK(ts_ring_init(&ring, 5, 16) == 0);
    CHECK_EQ_INT(ring.mask, 7);
    CHECK_EQ_INT(ring.record_size, 16);
    ts_ring_free(&ring);
    CHECK(ring.records == NULL);

    CHECK_EQ_INT(usable_capacity(0), 1);
    CHECK_EQ_INT(usable_capacity(1), 1);
    CHECK_EQ_INT(usable_capacity(2), 2);
    CHECK_EQ_INT(usable_capacity(3), 4);
    CHECK_EQ_INT(usable_capacity(8), 8);
    CHECK_EQ_INT(usable_capacity(9), 16);
    CHECK_EQ_INT(usable_capacity(1000), 1024);
}

static void test_fifo(void)
{
    ts_ring_t ring;
    CHECK(ts_ring_init(&ring, 8, sizeof(record_t)) == 0);
    CHECK(ts_ring_peek(&ring) == NULL);
    for (uint64_t i = 0; i < 5; i++)
        CHECK(push(&ring, 100 + i) == 0);
    /* Peek without release returns the same record each time. */
    const record_t *first = ts_ring_peek(&ring);
    CHECK(first != NULL && first->seq == 100);
    CHECK(ts_ring_peek(&ring) == first);
    for (uint64_t i = 0; i < 5; i++)
        CHECK_EQ_INT(pop(&ring), 100 + i);
    CHECK(ts_ring_peek(&ring) == NULL);

    /* A reserve that is never committed publishes nothing. */
    record_t *r = ts_ring_reserve(&ring);
    CHECK(r != NULL);
    r->seq = 999;
    CHECK(ts_ring_peek(&ring) == NULL);
    /* The next reserve hands out the same slot again. */
    CHECK(ts_ring_reserve(&ring) == r);
    CHECK_EQ_INT(atomic_load(&ring.dropped), 0);
    ts_ring_free(&ring);
}

static void test_full_drops(void)
{
    ts_ring_t ring;
    CHECK(ts_ring_init(&ring, 4, sizeof(record_t)) == 0);
    for (uint64_t i = 0; i < 4; i++)
        CHECK(push(&ring, i) == 0);
    CHECK(push(&ring, 4) == -1);
    CHECK(push(&ring, 5) == -1);
    CHECK(push(&ring, 6) == -1);
    CHECK_EQ_INT(atomic_load(&ring.dropped), 3);
    /* The dropped records did not overwrite the oldest ones. */
    CHECK_EQ_INT(pop(&ring), 0);
    CHECK(push(&ring, 7) == 0);
    CHECK(push(&ring, 8) == -1);
    CHECK_EQ_INT(atomic_load(&ring.dropped), 4);
    CHECK_EQ_INT(pop(&ring), 1);
    CHECK_EQ_INT(pop(&ring), 2);
    CHECK_EQ_INT(pop(&ring), 3);
    CHECK_EQ_INT(pop(&ring), 7);
    CHECK_EQ_INT(pop(&ring), UINT64_MAX);
    ts_ring_free(&ring);
}

static void test_clear(void)
{
    ts_ring_t ring;
    CHECK(ts_ring_init(&ring, 4, sizeof(record_t)) == 0);
    for (uint64_t i = 0; i < 4; i++)
        CHECK(push(&ring, i) == 0);
    ts_ring_clear(&ring);
    CHECK(ts_ring_peek(&ring) == NULL);
    /* After a clear the whole capacity is free again, and order restarts cleanly. */
    for (uint64_t i = 10; i < 14; i++)
        CHECK(push(&ring, i) == 0);
    CHECK_EQ_INT(atomic_load(&ring.dropped), 0);
    for (uint64_t i = 10; i < 14; i++)
        CHECK_EQ_INT(pop(&ring), i);
    ts_ring_clear(&ring); /* clearing an empty ring is harmless */
    CHECK(ts_ring_peek(&ring) == NULL);
    ts_ring_free(&ring);
}

static void test_wraparound(void)
{
    ts_ring_t ring;
    CHECK(ts_ring_init(&ring, 4, sizeof(record_t)) == 0);
    /* Many cycles over a small ring: every slot reused thousands of times. */
    uint64_t next_in = 0, next_out = 0;
    for (int cycle = 0; cycle < 20000; cycle++) {
        int n = 1 + cycle % 4;
        for (int i = 0; i < n; i++)
            CHECK(push(&ring, next_in++) == 0);
        for (int i = 0; i < n; i++)
            CHECK_EQ_INT(pop(&ring), next_out++);
    }
    CHECK(ts_ring_peek(&ring) == NULL);

    /* Indices crossing 2^32: start just below the wrap, with the ring partly full. */
    atomic_store(&ring.head, UINT32_MAX - 2);
    atomic_store(&ring.tail, UINT32_MAX - 2);
    next_in = next_out = 0;
    for (int i = 0; i < 4; i++)
        CHECK(push(&ring, next_in++) == 0);
    CHECK(push(&ring, 99) == -1); /* full across the wrap: head - tail == 4 */
    CHECK_EQ_INT(atomic_load(&ring.head), 1);
    for (int round = 0; round < 10; round++) {
        CHECK_EQ_INT(pop(&ring), next_out++);
        CHECK_EQ_INT(pop(&ring), next_out++);
        CHECK(push(&ring, next_in++) == 0);
        CHECK(push(&ring, next_in++) == 0);
        CHECK(push(&ring, 99) == -1);
    }
    while (pop(&ring) != UINT64_MAX)
        next_out++;
    CHECK_EQ_INT(next_out, next_in);
    CHECK_EQ_INT(atomic_load(&ring.dropped), 11);
    ts_ring_free(&ring);
}

/* Cells ever written: those with a non-zero byte (records are never all zero here). */
static uint32_t cells_written(const ts_ring_t *ring)
{
    uint32_t written = 0;
    for (uint32_t i = 0; i <= ring->mask; i++)
        for (uint32_t b = 0; b < ring->record_size; b++)
            if (ring->records[(size_t)i * ring->record_size + b] != 0) {
                written++;
                break;
            }
    return written;
}

/* Thousands of laps, never more than three records held at once: three cells written,
 * whatever the capacity (cycling through the ring wrote all 1,024). A ring left partly full
 * between drains goes on from where it is; emptied, it starts again at the first cell. */
static void test_cells_written_are_those_held_at_once(void)
{
    ts_ring_t ring;
    CHECK(ts_ring_init(&ring, 1024, sizeof(record_t)) == 0);
    uint64_t next_in = 1, next_out = 1;
    for (int lap = 0; lap < 10000; lap++) {
        int n = 1 + lap % 3;
        for (int i = 0; i < n; i++)
            CHECK(push(&ring, next_in++) == 0);
        for (int i = 0; i < n; i++)
            CHECK_EQ_INT(pop(&ring), next_out++);
    }
    CHECK_EQ_INT(cells_written(&ring), 3);
    /* Two held while more come and go: the ring moves on past them, in order. */
    CHECK(push(&ring, next_in++) == 0);
    CHECK(push(&ring, next_in++) == 0);
    for (int i = 0; i < 100; i++) {
        CHECK(push(&ring, next_in++) == 0);
        CHECK_EQ_INT(pop(&ring), next_out++);
    }
    CHECK_EQ_INT(pop(&ring), next_out++);
    CHECK_EQ_INT(pop(&ring), next_out++);
    CHECK(ts_ring_peek(&ring) == NULL);
    CHECK_EQ_INT(cells_written(&ring), 102);
    CHECK_EQ_INT(atomic_load(&ring.dropped), 0);
    ts_ring_free(&ring);
}

/* ==== Two-thread stress ==== */

#define STRESS_RECORDS 1000000u

typedef struct {
    ts_ring_t *ring;
    _Atomic int done;
} stress_t;

static void *producer(void *arg)
{
    stress_t *s = arg;
    for (uint64_t seq = 0; seq < STRESS_RECORDS; seq++)
        push(s->ring, seq); /* a full ring drops and counts: the producer never waits */
    atomic_store(&s->done, 1);
    return NULL;
}

static void test_two_thread_stress(void)
{
    ts_ring_t ring;
    CHECK(ts_ring_init(&ring, 256, sizeof(record_t)) == 0);
    stress_t s = {&ring, 0};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, producer, &s) == 0);

    uint64_t received = 0, last = 0, out_of_order = 0, torn = 0;
    for (;;) {
        int done = atomic_load(&s.done); /* read before peeking: nothing can follow it */
        const record_t *r = ts_ring_peek(&ring);
        if (r == NULL) {
            if (done)
                break;
            continue;
        }
        if (r->check != ~r->seq)
            torn++;
        if (received > 0 && r->seq <= last)
            out_of_order++;
        last = r->seq;
        received++;
        ts_ring_release(&ring);
    }
    pthread_join(thread, NULL);
    uint64_t dropped = atomic_load(&ring.dropped);
    CHECK_EQ_INT(torn, 0);
    CHECK_EQ_INT(out_of_order, 0);
    CHECK_EQ_INT(received + dropped, STRESS_RECORDS);
    CHECK(received > 0);
    CHECK(last < STRESS_RECORDS);
    printf("stress: %llu received, %llu dropped\n", (unsigned long long)received,
           (unsigned long long)dropped);
    ts_ring_free(&ring);
}

int main(void)
{
    RUN(test_capacity_rounding);
    RUN(test_fifo);
    RUN(test_full_drops);
    RUN(test_clear);
    RUN(test_wraparound);
    RUN(test_cells_written_are_those_held_at_once);
    RUN(test_two_thread_stress);
    return TEST_DONE();
}
