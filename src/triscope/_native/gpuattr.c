/* SPDX-License-Identifier: MIT
 *
 * gpuattr.c — see gpuattr.h. Spans live in a ring searched by time (binary search); pending
 * samples in a growable array, compacted at every settle.
 */
#include "gpuattr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NO_SPAN UINT32_MAX

int ts_gpu_attr_init(ts_gpu_attr_t *attr, size_t capacity)
{
    memset(attr, 0, sizeof *attr);
    attr->spans = calloc(capacity ? capacity : 1, sizeof *attr->spans);
    if (attr->spans == NULL)
        return -1;
    attr->capacity = capacity ? capacity : 1;
    return 0;
}

void ts_gpu_attr_free(ts_gpu_attr_t *attr)
{
    free(attr->spans);
    free(attr->pending);
    memset(attr, 0, sizeof *attr);
}

void ts_gpu_attr_clear(ts_gpu_attr_t *attr)
{
    attr->first = attr->count = 0;
    attr->npending = 0;
    attr->dropped = 0;
    attr->nreads = 0;
}

static ts_gpu_span_t *span_at(const ts_gpu_attr_t *attr, size_t i)
{
    return &attr->spans[(attr->first + i) % attr->capacity];
}

void ts_gpu_attr_reading(ts_gpu_attr_t *attr, const ts_gpu_reading_t *reading)
{
    if (attr->spans == NULL)
        return;
    if (attr->count == attr->capacity) { /* forget the oldest */
        attr->first = (attr->first + 1) % attr->capacity;
        attr->count--;
    }
    ts_gpu_span_t *span = span_at(attr, attr->count++);
    memset(span, 0, sizeof *span);
    span->reading = *reading;
    span->reading.allocator = 0;
    span->reading.allocated_bytes = 0;
    /* Its reads: those in (t_ns - span_ns, t_ns]. Older ones fell in no span (a failed
     * poll's, or one before a suspension): forgotten. Later ones wait. */
    size_t kept = 0;
    for (size_t i = 0; i < attr->nreads; i++) {
        const ts_gpu_allocator_read_t *read = &attr->reads[i];
        if (read->t_ns > reading->t_ns) {
            attr->reads[kept++] = *read;
        } else if (read->t_ns + reading->span_ns > reading->t_ns) {
            span->reading.allocator = 1;
            if (read->allocated_bytes > span->reading.allocated_bytes)
                span->reading.allocated_bytes = read->allocated_bytes;
        }
    }
    attr->nreads = kept;
}

void ts_gpu_attr_allocator_read(ts_gpu_attr_t *attr, uint64_t t_ns, uint64_t allocated_bytes)
{
    if (attr->nreads == TS_GPU_ALLOCATOR_READS) {
        memmove(attr->reads, attr->reads + 1, (attr->nreads - 1) * sizeof attr->reads[0]);
        attr->nreads--;
    }
    attr->reads[attr->nreads++] = (ts_gpu_allocator_read_t){t_ns, allocated_bytes};
}

int ts_gpu_attr_sample(ts_gpu_attr_t *attr, uint64_t t_ns, uint64_t weight_ns,
                       ts_gpu_class_t cls, uint32_t func, uint32_t lineno)
{
    if (attr->npending == attr->cap_pending) {
        size_t capacity = attr->cap_pending ? attr->cap_pending * 2 : 256;
        ts_gpu_pending_t *grown = realloc(attr->pending, capacity * sizeof *grown);
        if (grown == NULL)
            return -1;
        attr->pending = grown;
        attr->cap_pending = capacity;
    }
    ts_gpu_pending_t *p = &attr->pending[attr->npending++];
    p->t_ns = t_ns;
    p->weight_ns = weight_ns;
    p->cls = (uint8_t)(cls < TS_GPU_CLASSES ? cls : TS_GPU_WAIT);
    p->func = func;
    p->lineno = lineno;
    p->span = NO_SPAN;
    return 0;
}

/* The index (from the oldest) of the span covering t_ns, NO_SPAN when none does. Only
 * called for t_ns at or before the latest reading. */
static uint32_t find_span(const ts_gpu_attr_t *attr, uint64_t t_ns)
{
    size_t lo = 0, hi = attr->count;
    while (lo < hi) { /* the first span ending at or after t_ns */
        size_t mid = lo + (hi - lo) / 2;
        if (span_at(attr, mid)->reading.t_ns < t_ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == attr->count)
        return NO_SPAN;
    const ts_gpu_reading_t *reading = &span_at(attr, lo)->reading;
    if (t_ns + reading->span_ns < reading->t_ns)
        return NO_SPAN; /* before the span began: suspended, or older than we remember */
    return (uint32_t)lo;
}

static uint64_t busy_ns(const ts_gpu_reading_t *reading)
{
    return reading->valid ? reading->span_ns * reading->busy_permille / 1000u : 0;
}

static void charge(ts_stats_t *stats, const ts_gpu_pending_t *p, const ts_gpu_span_t *span)
{
    uint64_t busy = 0;
    if (span->charged == p->cls)
        busy = (uint64_t)llround((double)p->weight_ns * span->rate);
    const ts_gpu_reading_t *r = &span->reading;
    ts_gpu_memory_t memory = {r->valid ? r->mem_bytes : 0, r->allocated_bytes, r->allocator};
    if (p->func == UINT32_MAX || ts_stats_add_gpu(stats, p->func, p->lineno, busy, &memory) < 0)
        ts_stats_add_gpu(stats, UINT32_MAX, 0, busy, &memory);
}

void ts_gpu_attr_settle(ts_gpu_attr_t *attr, ts_stats_t *stats)
{
    if (attr->count == 0)
        return;
    uint64_t latest = span_at(attr, attr->count - 1)->reading.t_ns;
    /* Weigh each span's samples; late samples of settled spans are charged at once. */
    for (size_t i = 0; i < attr->npending; i++) {
        ts_gpu_pending_t *p = &attr->pending[i];
        if (p->t_ns > latest)
            continue;
        p->span = find_span(attr, p->t_ns);
        if (p->span == NO_SPAN) {
            attr->dropped++;
            continue;
        }
        ts_gpu_span_t *span = span_at(attr, p->span);
        if (span->settled) {
            charge(stats, p, span);
            p->span = NO_SPAN;
        } else {
            span->weight_ns[p->cls] += p->weight_ns;
        }
    }
    /* Settle the spans: the busy time goes to the first class of samples there is. */
    for (size_t i = attr->count; i-- > 0;) {
        ts_gpu_span_t *span = span_at(attr, i);
        if (span->settled)
            break; /* spans are settled oldest first: the rest are too */
        uint64_t busy = busy_ns(&span->reading);
        span->charged = TS_GPU_CPU;
        while (span->charged + 1 < TS_GPU_CLASSES && span->weight_ns[span->charged] == 0)
            span->charged++;
        uint64_t weight = span->weight_ns[span->charged];
        if (weight > 0) {
            span->rate = (double)busy / (double)weight;
        } else {
            span->rate = span->reading.valid ? (double)span->reading.busy_permille / 1000.0 : 0;
            ts_stats_add_gpu(stats, UINT32_MAX, 0, busy, NULL);
        }
        span->settled = 1;
    }
    /* Charge the samples; keep those after the latest reading for the next settle. */
    size_t kept = 0;
    for (size_t i = 0; i < attr->npending; i++) {
        ts_gpu_pending_t *p = &attr->pending[i];
        if (p->t_ns > latest) {
            attr->pending[kept++] = *p;
            continue;
        }
        if (p->span != NO_SPAN)
            charge(stats, p, span_at(attr, p->span));
    }
    attr->npending = kept;
}
