/* SPDX-License-Identifier: MIT
 *
 * ringbuf.h — a single-producer, single-consumer ring of fixed-size records.
 *
 * The producer is a signal handler (or the consumer thread's own wait sampler); the
 * consumer drains under the GIL, which serialises consumers. Reserve-then-commit means a
 * handler that is interrupted half-way never publishes a half-written record. A full ring
 * drops the new record and counts it: a signal handler must never wait.
 *
 * Its memory grows with use: a record written into an empty ring goes to the first cell, so
 * the cells resident are those of the most records it held at once, not all of them
 * (docs/ARCHITECTURE.md, "The profiler's own memory").
 */
#ifndef TS_RINGBUF_H
#define TS_RINGBUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    _Atomic uint32_t head;     /* next slot the producer writes; written by the producer */
    _Atomic uint32_t tail;     /* next slot the consumer reads; written by the consumer */
    _Atomic uint32_t origin;   /* the slot whose record is in the first cell; written by
                                * the producer */
    _Atomic uint64_t dropped;  /* records lost because the ring was full */
    uint32_t mask;             /* capacity - 1, capacity a power of two */
    uint32_t record_size;      /* bytes per record */
    unsigned char *records;
} ts_ring_t;

/* Allocates room for `capacity` (rounded up to a power of two) records. 0 or -1. */
int ts_ring_init(ts_ring_t *ring, uint32_t capacity, uint32_t record_size);
void ts_ring_free(ts_ring_t *ring);

/* Producer: a slot to fill, or NULL (and a drop counted) when the ring is full. */
void *ts_ring_reserve(ts_ring_t *ring);
/* Producer: publishes the slot returned by the last reserve. */
void ts_ring_commit(ts_ring_t *ring);

/* Consumer: the oldest published record, or NULL when empty. */
const void *ts_ring_peek(ts_ring_t *ring);
/* Consumer: frees the record returned by the last peek. */
void ts_ring_release(ts_ring_t *ring);

/* Consumer: discards everything published (used when a slot is reused). */
void ts_ring_clear(ts_ring_t *ring);

#endif
