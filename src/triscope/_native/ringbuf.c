/* SPDX-License-Identifier: MIT
 *
 * ringbuf.c — see ringbuf.h. Lock-free: head and tail are each written by one side only,
 * with release stores publishing the record contents and acquire loads observing them.
 * Indices run freely and wrap at 2^32; head - tail is the fill level.
 *
 * Slot i's record lives in cell (i - origin) mod capacity. The producer moves the origin
 * to head whenever it finds the ring empty, so writing starts again at the first cell: a
 * ring drained every tenth of a second while a thread records ten samples between drains
 * writes ten cells, where cycling through all of them made every one resident over a run
 * (64 stacks of 1 KiB per thread, 1,024 for the waiting samples). The consumer reads the
 * origin only while the ring holds records, and the producer moves it only while the ring
 * is empty, i.e. after the consumer released every record: the origin it reads is the one
 * the records it reads were written under (stored before the head that published them).
 */
#include "ringbuf.h"

#include <stdlib.h>

int ts_ring_init(ts_ring_t *ring, uint32_t capacity, uint32_t record_size)
{
    uint32_t rounded = 1;
    while (rounded < capacity)
        rounded <<= 1;
    ring->records = calloc(rounded, record_size);
    if (ring->records == NULL)
        return -1;
    ring->mask = rounded - 1;
    ring->record_size = record_size;
    atomic_store(&ring->head, 0);
    atomic_store(&ring->tail, 0);
    atomic_store(&ring->origin, 0);
    atomic_store(&ring->dropped, 0);
    return 0;
}

void ts_ring_free(ts_ring_t *ring)
{
    free(ring->records);
    ring->records = NULL;
}

static unsigned char *cell(ts_ring_t *ring, uint32_t slot)
{
    uint32_t origin = atomic_load_explicit(&ring->origin, memory_order_relaxed);
    return ring->records + (size_t)((slot - origin) & ring->mask) * ring->record_size;
}

void *ts_ring_reserve(ts_ring_t *ring)
{
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    if (head - tail > ring->mask) {
        atomic_fetch_add_explicit(&ring->dropped, 1, memory_order_relaxed);
        return NULL;
    }
    if (head == tail)
        atomic_store_explicit(&ring->origin, head, memory_order_relaxed);
    return cell(ring, head);
}

void ts_ring_commit(ts_ring_t *ring)
{
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    atomic_store_explicit(&ring->head, head + 1, memory_order_release);
}

const void *ts_ring_peek(ts_ring_t *ring)
{
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    if (head == tail)
        return NULL;
    return cell(ring, tail);
}

void ts_ring_release(ts_ring_t *ring)
{
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
}

void ts_ring_clear(ts_ring_t *ring)
{
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    atomic_store_explicit(&ring->tail, head, memory_order_release);
}
