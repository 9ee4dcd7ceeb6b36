/* SPDX-License-Identifier: MIT
 *
 * mpsc.c — see mpsc.h. Two parts: the cells, where records are written, and the order, a
 * ring of cell indices in commit order.
 *
 * Cells: a producer takes the cell released last (a lock-free stack, Treiber's, whose head
 * carries a change count so that a pop racing another pop and a push fails its
 * compare-and-swap instead of taking a stale successor), or else one never used. So a queue
 * that holds at most k records at once only ever writes its first k cells: a ring that
 * cycles through all of them made every one resident over a long run (4,096 stacks of
 * 1 KiB: 4 MiB for the memory samples, docs/ARCHITECTURE.md, "The profiler's own memory").
 *
 * Order: a committing producer claims the next position (fetch-and-add) and stores its
 * cell's index + 1 there; the consumer reads positions in turn, a 0 meaning nothing
 * committed yet, and writes 0 back when it releases. The position's previous lap is always
 * released by then: positions are claimed only by producers holding a cell, a cell goes
 * back to the stack only after the consumer released its position, and there are as many
 * positions as cells, so capacity + 1 unreleased positions would need capacity + 1 cells.
 * The order the consumer's release is seen in follows the cell's way back (release on the
 * push, acquire on the pop) and the claims' chain (acquire-release fetch-and-add).
 *
 * Everything starts as calloc's zeros: init writes nothing, so pages become resident only
 * as cells and positions are used.
 */
#include "mpsc.h"

#include <stdlib.h>

#define NONE 0u /* an empty stack's top, an uncommitted position, a cell's last successor */

int ts_mpsc_init(ts_mpsc_t *queue, size_t capacity, size_t record_size)
{
    size_t rounded = 2;
    while (rounded < capacity)
        rounded <<= 1;
    if (rounded > UINT32_MAX / 2)
        return -1;
    queue->cell_size = (record_size + 7) & ~(size_t)7;
    queue->cells = calloc(rounded, queue->cell_size);
    queue->below = calloc(rounded, sizeof *queue->below);
    queue->order = calloc(rounded, sizeof *queue->order);
    if (queue->cells == NULL || queue->below == NULL || queue->order == NULL) {
        ts_mpsc_free(queue);
        return -1;
    }
    queue->mask = (uint32_t)rounded - 1;
    atomic_store(&queue->released, 0);
    atomic_store(&queue->untouched, 0);
    atomic_store(&queue->enqueue_pos, 0);
    queue->dequeue_pos = 0;
    atomic_store(&queue->dropped, 0);
    return 0;
}

void ts_mpsc_free(ts_mpsc_t *queue)
{
    free(queue->cells);
    free((void *)queue->below);
    free((void *)queue->order);
    queue->cells = NULL;
    queue->below = queue->order = NULL;
}

/* ==== Cells ==== */

static uint64_t stack_head(uint64_t previous, uint32_t top)
{
    return ((previous >> 32) + 1) << 32 | top;
}

/* A free cell's index, or -1 when all are taken (producers). */
static int64_t take_cell(ts_mpsc_t *queue)
{
    uint64_t head = atomic_load_explicit(&queue->released, memory_order_acquire);
    while ((uint32_t)head != NONE) {
        uint32_t index = (uint32_t)head - 1;
        uint32_t next = atomic_load_explicit(&queue->below[index], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&queue->released, &head,
                                                  stack_head(head, next),
                                                  memory_order_acquire, memory_order_acquire))
            return index;
    }
    uint32_t fresh = atomic_load_explicit(&queue->untouched, memory_order_relaxed);
    while (fresh <= queue->mask) {
        if (atomic_compare_exchange_weak_explicit(&queue->untouched, &fresh, fresh + 1,
                                                  memory_order_relaxed, memory_order_relaxed))
            return fresh;
    }
    return -1;
}

/* The consumer hands a cell back. */
static void give_cell(ts_mpsc_t *queue, uint32_t index)
{
    uint64_t head = atomic_load_explicit(&queue->released, memory_order_relaxed);
    do
        atomic_store_explicit(&queue->below[index], (uint32_t)head, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&queue->released, &head,
                                                  stack_head(head, index + 1),
                                                  memory_order_release, memory_order_relaxed));
}

static uint32_t index_of(const ts_mpsc_t *queue, const void *record)
{
    return (uint32_t)(((const unsigned char *)record - queue->cells) / queue->cell_size);
}

/* ==== Producers ==== */

void *ts_mpsc_reserve(ts_mpsc_t *queue)
{
    int64_t index = take_cell(queue);
    if (index < 0) {
        atomic_fetch_add_explicit(&queue->dropped, 1, memory_order_relaxed);
        return NULL;
    }
    return queue->cells + (size_t)index * queue->cell_size;
}

void ts_mpsc_commit(ts_mpsc_t *queue, void *record)
{
    uint64_t position = atomic_fetch_add_explicit(&queue->enqueue_pos, 1, memory_order_acq_rel);
    atomic_store_explicit(&queue->order[position & queue->mask], index_of(queue, record) + 1,
                          memory_order_release);
}

/* ==== The consumer ==== */

const void *ts_mpsc_peek(ts_mpsc_t *queue)
{
    uint32_t entry = atomic_load_explicit(&queue->order[queue->dequeue_pos & queue->mask],
                                          memory_order_acquire);
    if (entry == NONE)
        return NULL;
    return queue->cells + (size_t)(entry - 1) * queue->cell_size;
}

void ts_mpsc_release(ts_mpsc_t *queue)
{
    _Atomic uint32_t *slot = &queue->order[queue->dequeue_pos & queue->mask];
    uint32_t entry = atomic_load_explicit(slot, memory_order_relaxed);
    atomic_store_explicit(slot, NONE, memory_order_relaxed);
    queue->dequeue_pos++;
    give_cell(queue, entry - 1);
}
