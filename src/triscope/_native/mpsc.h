/* SPDX-License-Identifier: MIT
 *
 * mpsc.h — a bounded multi-producer, single-consumer queue of fixed-size records. Producers
 * are allocator hooks on any thread, so it never locks and never allocates after init; when
 * every cell is taken it refuses the record (and counts it) rather than wait. The single
 * consumer is whoever drains with the GIL held.
 *
 * Its memory grows with the program: a record's cell is handed out last released, first
 * reused, so the cells resident are those of the most records ever in the queue at once,
 * not all `capacity` of them (docs/ARCHITECTURE.md, "The profiler's own memory").
 */
#ifndef TS_MPSC_H
#define TS_MPSC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    /* Cells released by the consumer, a stack: (changes << 32) | (top cell's index + 1),
     * 0 in the low half when empty. The change count makes a stale pop fail (ABA). */
    _Atomic uint64_t released;
    /* Cells [untouched, capacity) were never handed out: `untouched` is the most records
     * the queue has held at once, and bounds the cells that are resident. */
    _Atomic uint32_t untouched;
    _Atomic uint64_t enqueue_pos;
    uint64_t dequeue_pos;        /* consumer only */
    _Atomic uint64_t dropped;
    uint32_t mask;               /* capacity - 1, capacity a power of two */
    size_t cell_size;            /* a record, rounded up to 8 bytes */
    unsigned char *cells;
    _Atomic uint32_t *below;     /* per cell on the stack: the next one's index + 1, or 0 */
    _Atomic uint32_t *order;     /* per position modulo capacity: its cell's index + 1, 0
                                  * until committed and again once released */
} ts_mpsc_t;

/* Room for `capacity` (rounded up to a power of two) records of `record_size` bytes. */
int ts_mpsc_init(ts_mpsc_t *queue, size_t capacity, size_t record_size);
void ts_mpsc_free(ts_mpsc_t *queue);

/* Producer: a record to fill, or NULL when every cell is taken. Must be followed by
 * ts_mpsc_commit; records reach the consumer in the order they are committed. */
void *ts_mpsc_reserve(ts_mpsc_t *queue);
void ts_mpsc_commit(ts_mpsc_t *queue, void *record);

/* Consumer: the oldest committed record or NULL; then ts_mpsc_release. */
const void *ts_mpsc_peek(ts_mpsc_t *queue);
void ts_mpsc_release(ts_mpsc_t *queue);

#endif
