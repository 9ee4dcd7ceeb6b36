/* SPDX-License-Identifier: MIT
 *
 * mpsc.h — a bounded multi-producer, single-consumer queue of fixed-size records (Vyukov's
 * sequence-numbered cells). Producers are allocator hooks on any thread, so it never locks
 * and never allocates after init; a full queue refuses the record (and counts it) rather than
 * wait. The single consumer is whoever drains with the GIL held.
 */
#ifndef TS_MPSC_H
#define TS_MPSC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    _Atomic size_t enqueue_pos;
    size_t dequeue_pos;          /* consumer only */
    _Atomic uint64_t dropped;
    size_t mask;
    size_t cell_size;            /* sequence word + record, rounded to 8 bytes */
    unsigned char *cells;
} ts_mpsc_t;

/* Room for `capacity` (rounded up to a power of two) records of `record_size` bytes. */
int ts_mpsc_init(ts_mpsc_t *queue, size_t capacity, size_t record_size);
void ts_mpsc_free(ts_mpsc_t *queue);

/* Producer: a record to fill, or NULL when full. Must be followed by ts_mpsc_commit. */
void *ts_mpsc_reserve(ts_mpsc_t *queue);
void ts_mpsc_commit(ts_mpsc_t *queue, void *record);

/* Consumer: the oldest committed record or NULL; then ts_mpsc_release. */
const void *ts_mpsc_peek(ts_mpsc_t *queue);
void ts_mpsc_release(ts_mpsc_t *queue);

#endif
