/* SPDX-License-Identifier: MIT
 *
 * gpuattr.h — charging GPU readings (gpu.h) to lines. Pure C, no Python: unit-tested alone.
 *
 * A reading covers a span of wall-clock time and says how busy the GPU was over it; the CPU
 * and waiting samples taken in that span say which lines the threads were on. The span's
 * GPU-busy time (span x busy share) is split over its samples in proportion to their
 * weight, within the first of these classes that has any: CPU samples (a thread that drives
 * a GPU is on CPU, launching kernels or spinning in a synchronisation, while idle threads
 * only wait), then the main thread's waiting samples (blocked in a synchronisation: helper
 * threads waiting on queues and timers are not what drives the GPU), then any thread's
 * waiting samples. A span with no sample at all is unattributed. Every line sampled in a
 * span also sees the reading's GPU memory, of which the stats keep the peak.
 *
 * PyTorch's allocator is read on the GIL side at its own times, after the readings of the
 * moment were collected: a read belongs to the span that will contain it, so it waits for
 * the next readings, and a reading carries the most of the reads made in its span. The
 * lines sampled in a span are those running when its reads were made.
 *
 * Order: readings are added before the samples they cover are drained (the consumer queues
 * a span's waiting samples before its reading, and CPU samples are committed at once), so
 * when settle() runs every span up to the latest reading has all its samples; samples after
 * the latest reading wait for the next one. A sample that still arrives after its span was
 * settled is charged at the span's rate.
 */
#ifndef TS_GPUATTR_H
#define TS_GPUATTR_H

#include <stddef.h>
#include <stdint.h>

#include "gpu.h"
#include "stats.h"

typedef enum {
    TS_GPU_CPU = 0,           /* a CPU sample */
    TS_GPU_MAIN_WAIT = 1,     /* waiting time of the main thread */
    TS_GPU_WAIT = 2,          /* waiting time of another thread */
    TS_GPU_CLASSES = 3
} ts_gpu_class_t;

typedef struct {
    ts_gpu_reading_t reading;
    uint64_t weight_ns[TS_GPU_CLASSES]; /* weight of the span's samples, by class */
    double rate;              /* once settled: busy ns per ns of weight of the charged class */
    uint8_t settled, charged; /* charged: the class that got the busy time */
} ts_gpu_span_t;

typedef struct {
    uint64_t t_ns, weight_ns;
    uint32_t func, lineno;    /* func UINT32_MAX: on no profiled line */
    uint32_t span;            /* set while settling */
    uint8_t cls;              /* ts_gpu_class_t */
} ts_gpu_pending_t;

/* A read of PyTorch's allocator waiting for the reading whose span contains it. */
typedef struct {
    uint64_t t_ns, allocated_bytes;
} ts_gpu_allocator_read_t;

#define TS_GPU_ALLOCATOR_READS 16

typedef struct {
    ts_gpu_span_t *spans;     /* ring, oldest first: spans[(first + i) % capacity] */
    size_t first, count, capacity;
    ts_gpu_pending_t *pending;
    size_t npending, cap_pending;
    uint64_t dropped;         /* samples no span covers (suspended, or too old) */
    ts_gpu_allocator_read_t reads[TS_GPU_ALLOCATOR_READS]; /* oldest first */
    size_t nreads;
} ts_gpu_attr_t;

/* `capacity` spans are remembered (older ones are forgotten). 0 or -1. */
int ts_gpu_attr_init(ts_gpu_attr_t *attr, size_t capacity);
void ts_gpu_attr_free(ts_gpu_attr_t *attr);
void ts_gpu_attr_clear(ts_gpu_attr_t *attr);

/* A reading, in time order; it takes the allocator reads made in its span. */
void ts_gpu_attr_reading(ts_gpu_attr_t *attr, const ts_gpu_reading_t *reading);

/* PyTorch's allocator had `allocated_bytes` in tensors at `t_ns`, after every reading added
 * so far. When reads come faster than readings, the oldest waiting one is forgotten. */
void ts_gpu_attr_allocator_read(ts_gpu_attr_t *attr, uint64_t t_ns, uint64_t allocated_bytes);

/* A sample of `weight_ns` of thread time at `t_ns`, of class `cls`, on a line (func
 * UINT32_MAX when on no profiled line). 0 or -1 (out of memory). */
int ts_gpu_attr_sample(ts_gpu_attr_t *attr, uint64_t t_ns, uint64_t weight_ns,
                       ts_gpu_class_t cls, uint32_t func, uint32_t lineno);

/* Charges every span up to the latest reading, and its samples, into `stats`. */
void ts_gpu_attr_settle(ts_gpu_attr_t *attr, ts_stats_t *stats);

#endif
