/* SPDX-License-Identifier: MIT
 *
 * mpsc.c — see mpsc.h. Each cell starts with a sequence word: equal to the position when
 * free for the producer of that position, position + 1 once committed, and position +
 * capacity once the consumer released it (free for the next lap). Producers claim a
 * position by compare-and-swap on enqueue_pos.
 *
 * A cell holds its sequence less its own index, so a fresh cell's word is 0 (free for the
 * first lap) as calloc leaves it: init writes no cell, and the queue's pages (megabytes for
 * the memory samples' stacks) become resident only as records reach them, not at start.
 */
#include "mpsc.h"

#include <stdlib.h>

typedef struct {
    _Atomic size_t sequence;
} cell_head_t;

static cell_head_t *cell_at(const ts_mpsc_t *queue, size_t position)
{
    return (cell_head_t *)(queue->cells + (position & queue->mask) * queue->cell_size);
}

static size_t index_of(const ts_mpsc_t *queue, const cell_head_t *cell)
{
    return (size_t)((const unsigned char *)cell - queue->cells) / queue->cell_size;
}

static size_t load_sequence(const ts_mpsc_t *queue, cell_head_t *cell, memory_order order)
{
    return atomic_load_explicit(&cell->sequence, order) + index_of(queue, cell);
}

static void store_sequence(const ts_mpsc_t *queue, cell_head_t *cell, size_t sequence,
                           memory_order order)
{
    atomic_store_explicit(&cell->sequence, sequence - index_of(queue, cell), order);
}

int ts_mpsc_init(ts_mpsc_t *queue, size_t capacity, size_t record_size)
{
    size_t rounded = 2;
    while (rounded < capacity)
        rounded <<= 1;
    queue->cell_size = (sizeof(cell_head_t) + record_size + 7) & ~(size_t)7;
    queue->cells = calloc(rounded, queue->cell_size);
    if (queue->cells == NULL)
        return -1;
    queue->mask = rounded - 1;
    atomic_store(&queue->enqueue_pos, 0);
    queue->dequeue_pos = 0;
    atomic_store(&queue->dropped, 0);
    return 0;
}

void ts_mpsc_free(ts_mpsc_t *queue)
{
    free(queue->cells);
    queue->cells = NULL;
}

void *ts_mpsc_reserve(ts_mpsc_t *queue)
{
    size_t position = atomic_load_explicit(&queue->enqueue_pos, memory_order_relaxed);
    for (;;) {
        cell_head_t *cell = cell_at(queue, position);
        size_t sequence = load_sequence(queue, cell, memory_order_acquire);
        intptr_t difference = (intptr_t)sequence - (intptr_t)position;
        if (difference == 0) {
            if (atomic_compare_exchange_weak_explicit(&queue->enqueue_pos, &position,
                                                      position + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                return cell + 1;
        } else if (difference < 0) {
            atomic_fetch_add_explicit(&queue->dropped, 1, memory_order_relaxed);
            return NULL;
        } else {
            position = atomic_load_explicit(&queue->enqueue_pos, memory_order_relaxed);
        }
    }
}

void ts_mpsc_commit(ts_mpsc_t *queue, void *record)
{
    cell_head_t *cell = (cell_head_t *)record - 1;
    size_t position = load_sequence(queue, cell, memory_order_relaxed);
    store_sequence(queue, cell, position + 1, memory_order_release);
}

const void *ts_mpsc_peek(ts_mpsc_t *queue)
{
    cell_head_t *cell = cell_at(queue, queue->dequeue_pos);
    size_t sequence = load_sequence(queue, cell, memory_order_acquire);
    if (sequence != queue->dequeue_pos + 1)
        return NULL;
    return cell + 1;
}

void ts_mpsc_release(ts_mpsc_t *queue)
{
    cell_head_t *cell = cell_at(queue, queue->dequeue_pos);
    store_sequence(queue, cell, queue->dequeue_pos + queue->mask + 1, memory_order_release);
    queue->dequeue_pos++;
}
