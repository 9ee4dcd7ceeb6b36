/* SPDX-License-Identifier: MIT
 *
 * stats.h — the aggregated profile: time per (file, line), per function, per call stack,
 * and the remainder that fell on no profiled line. Pure C with no Python dependency, so it
 * is unit-tested on its own; the consumer fills it with the GIL held and the JSON writer
 * reads it after sampling stopped, so it needs no locking of its own.
 */
#ifndef TS_STATS_H
#define TS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "timeline.h"

typedef enum {
    TS_TIME_PYTHON = 0, /* on CPU running bytecode */
    TS_TIME_NATIVE = 1, /* on CPU in native code called from the line */
    TS_TIME_SYSTEM = 2, /* alive but not on CPU: sleep, I/O, locks, GIL */
    TS_TIME_KINDS = 3
} ts_time_kind_t;

typedef struct {
    uint64_t ns[TS_TIME_KINDS];
    uint64_t cpu_samples;     /* timer samples (Python or native) that landed here */
    uint64_t cpu_ns;          /* their CPU clocks' time: on a CPU, waiting for one excluded */
} ts_time_t;

/* A bounded time series: when full, every other point is dropped (the first and the latest
 * always kept), so a long run keeps its whole span at a coarser grain in fixed memory. */
#define TS_SERIES_MAX 64
typedef struct {
    uint64_t t_ns[TS_SERIES_MAX];
    int64_t value[TS_SERIES_MAX];
    uint32_t count;
} ts_series_t;

void ts_series_add(ts_series_t *series, uint64_t t_ns, int64_t value);
/* The last value at or before t_ns (0 before the first point). */
int64_t ts_series_at(const ts_series_t *series, uint64_t t_ns);

/* Memory measured at a line or function. Byte counts are sampled, unbiased estimates. */
typedef struct {
    uint64_t alloc_bytes;     /* allocated, all allocators */
    uint64_t python_bytes;    /* of which through Python's allocator */
    uint64_t copy_bytes;      /* moved by memcpy/memmove */
    uint64_t samples;         /* allocation samples */
    uint64_t freed;           /* of which freed since */
    int64_t live_bytes;       /* still allocated */
    int64_t peak_bytes;       /* highest live_bytes seen */
    ts_series_t *timeline;    /* live bytes over time; allocated on first allocation */
    /* The integral of live_bytes over time up to `changed_ns`, its latest change: the
     * average live bytes over the run (docs/DEFINITIONS.md, Memory) without a sample. */
    double live_byte_ns;
    uint64_t changed_ns;
} ts_mem_t;

/* The live bytes of `mem` averaged over [start_ns, end_ns]. */
double ts_mem_average_live(const ts_mem_t *mem, uint64_t start_ns, uint64_t end_ns);

/* GPU measured at a line or function (gpuattr.c). */
typedef struct {
    uint64_t busy_ns;         /* GPU-busy time charged here (its share of each span's) */
    uint64_t peak_mem_bytes;  /* most GPU memory the process held while sampled here */
    uint64_t peak_allocated_bytes; /* most bytes PyTorch's allocator had handed out then */
} ts_gpu_t;

/* The GPU memory a reading saw: the process's (NVML) and, where read, PyTorch's allocator's. */
typedef struct {
    uint64_t held_bytes;
    uint64_t allocated_bytes;
    int allocator;            /* allocated_bytes was read */
} ts_gpu_memory_t;

typedef struct {
    uint32_t path;            /* interned path */
    int profiled;             /* passes the file filter */
    ts_time_t time;           /* sum over its lines */
} ts_file_t;

typedef struct {
    uint32_t file;
    uint32_t name;            /* interned qualified name */
    uint32_t lineno;          /* first line */
    ts_time_t time;           /* self time */
    ts_mem_t mem;
    ts_gpu_t gpu;
    uint64_t await_ns;        /* awaited time of its own lines (outside `time`) */
} ts_func_t;

/* CPU samples over time, per line (docs/PROFILE_FORMAT.md, "cpu_timeline"): one axis of
 * TS_LINE_BUCKETS buckets from the run's first sample, TS_LINE_BUCKET_NS wide at first; a
 * sample past the last bucket doubles the width and merges every line's counts pairwise, so
 * a run of any length is held in 128 bytes per sampled line. */
#define TS_LINE_BUCKETS 32
#define TS_LINE_BUCKET_NS 50000000ULL
typedef struct {
    uint64_t start_ns;        /* the first sample's time; width_ns 0 before it */
    uint64_t width_ns;
    uint32_t last;            /* the last bucket any sample landed in */
} ts_sample_axis_t;

typedef struct {
    uint32_t file;
    uint32_t lineno;
    uint32_t func;            /* the function the line was last seen in */
    ts_time_t time;
    uint32_t *sample_times;   /* TS_LINE_BUCKETS counts on the stats' sample_axis, or NULL */
    ts_mem_t mem;
    ts_gpu_t gpu;
    /* Time coroutines stayed suspended at this line's await (docs/DEFINITIONS.md, Awaited
     * time): concurrent awaits overlap, so it is no part of `time` or of any 100 %. */
    uint64_t await_ns;
} ts_line_t;

typedef struct {
    uint32_t func;
    uint32_t lineno;
} ts_stack_frame_t;

/* A call stack's time and memory. Its memory is the allocation samples whose walk gave this
 * stack (the memory flame graph, docs/PROFILE_FORMAT.md): bytes allocated, bytes still live,
 * and the live bytes it held at the run's maximum footprint, kept without copying every
 * stack at every new maximum: a stack whose live bytes have not changed since that moment
 * (`changed_at` <= the stats' `peak_event`) still holds them in `live_bytes`; the first change
 * after it saves them in `live_at_peak` (ts_stats_stack_peak_bytes reads the right one). */
typedef struct {
    uint32_t first;           /* index of its first frame in the frame pool */
    uint32_t depth;
    uint64_t samples;         /* timer samples (waiting time has no samples, only ns) */
    uint64_t ns;
    uint64_t alloc_bytes;     /* allocated with this stack, all allocators */
    int64_t live_bytes;       /* of which still allocated */
    int64_t live_at_peak;     /* live bytes at the maximum footprint, once changed since */
    uint64_t changed_at;      /* the memory event (stats' mem_events) of its last change */
} ts_stack_t;

/* A finished or running thread's totals, for the report. */
typedef struct {
    int tid;
    char name[64];
    uint64_t cpu_ns, wait_ns; /* wait_ns: off CPU, not idle (run-queue delay included) */
    uint64_t idle_ns;         /* blocked waiting for work, not the main thread */
    ts_lane_t timeline;       /* what it did over time, on the axis below */
    ts_timeline_axis_t axis;
} ts_thread_summary_t;

typedef struct {
    ts_intern_t strings;
    ts_map_t file_index, func_index, line_index, stack_index;
    ts_file_t *files;   size_t nfiles, cap_files;
    ts_func_t *funcs;   size_t nfuncs, cap_funcs;
    ts_line_t *lines;   size_t nlines, cap_lines;
    ts_stack_t *stacks; size_t nstacks, cap_stacks;
    ts_stack_frame_t *frame_pool; size_t nframes, cap_frames;
    ts_map_t live_index;      /* sample id → index into live_samples */
    struct ts_live_sample *live_samples; size_t nlive, cap_live;
    uint32_t *free_live; size_t nfree_live, cap_free_live;
    ts_mem_t mem_total;       /* the whole process, attributed or not */
    /* The line whose sampled allocation last raised mem_total's peak (UINT32_MAX: none, or
     * an allocation on no line): the maximum footprint's line. */
    uint32_t peak_line;
    uint64_t mem_events;      /* changes of mem_total's live bytes so far */
    uint64_t peak_event;      /* the one that first reached its peak_bytes */
    ts_mem_t mem_unattributed;
    ts_sample_axis_t sample_axis; /* the lines' sample_times */
    ts_time_t unattributed;   /* time on no line of a profiled file */
    ts_time_t total;          /* everything added, attributed or not */
    uint64_t cpu_wait_ns;     /* of which ready to run but waiting for a CPU */
    uint64_t await_ns;        /* awaited time of every line, added up */
    ts_gpu_t gpu_total;       /* all GPU-busy time: the 100% of gpu_pct */
    ts_gpu_t gpu_unattributed;
    int gpu_allocator_seen;   /* a reading carried PyTorch's allocator's bytes (torchmem.h) */
    uint64_t dropped;         /* samples lost to full rings */
} ts_stats_t;

void ts_stats_init(ts_stats_t *stats);
void ts_stats_free(ts_stats_t *stats);

/* Ids are stable for the lifetime of the stats; UINT32_MAX on allocation failure. */
uint32_t ts_stats_file(ts_stats_t *stats, const char *path, int profiled);
uint32_t ts_stats_func(ts_stats_t *stats, uint32_t file, const char *name, uint32_t lineno);

/* Charges `ns` of `kind` to a line of a function (file taken from the function).
 * `cpu_sample` is 1 when this is a timer sample. 0 or -1. */
int ts_stats_add_line(ts_stats_t *stats, uint32_t func, uint32_t lineno, ts_time_kind_t kind,
                      uint64_t ns, int cpu_sample);
void ts_stats_add_unattributed(ts_stats_t *stats, ts_time_kind_t kind, uint64_t ns,
                               int cpu_sample);
/* ts_stats_add_line for time sampled at `t_ns`: a timer sample (`cpu_sample`) is also
 * counted on the line's CPU samples over time. 0 or -1 (nothing charged). */
int ts_stats_add_line_at(ts_stats_t *stats, uint32_t func, uint32_t lineno, ts_time_kind_t kind,
                         uint64_t ns, int cpu_sample, uint64_t t_ns);

/* Charges `ns` of awaited time to a line of a function (file taken from the function).
 * 0 or -1. */
int ts_stats_add_await(ts_stats_t *stats, uint32_t func, uint32_t lineno, uint64_t ns);

/* Records `ns` of time on a call stack, frames outermost first; `cpu_sample` is 1 when this
 * is a timer sample (counted in `samples`). 0 or -1. */
int ts_stats_add_stack(ts_stats_t *stats, const ts_stack_frame_t *frames, uint32_t depth,
                       uint64_t ns, int cpu_sample);
/* The id of a call stack (frames outermost first), added with nothing charged if new;
 * UINT32_MAX on allocation failure. */
uint32_t ts_stats_stack(ts_stats_t *stats, const ts_stack_frame_t *frames, uint32_t depth);
/* The live bytes of a stack at the run's maximum footprint so far: the moment the whole
 * process's sampled live bytes (mem_total) first reached their peak. */
int64_t ts_stats_stack_peak_bytes(const ts_stats_t *stats, const ts_stack_t *stack);

/* A sampled allocation of `bytes` (Python's allocator or not) at a line, or unattributed
 * when func is UINT32_MAX. `id` (non-zero) matches a later ts_stats_free. 0 or -1. */
int ts_stats_add_alloc(ts_stats_t *stats, uint32_t func, uint32_t lineno, uint64_t id,
                       uint64_t bytes, int python, uint64_t t_ns);
/* The same, charged to the call stack `stack` (ts_stats_stack) too: allocated there, and
 * live there until its free. UINT32_MAX: no stack. 0 or -1. */
int ts_stats_add_alloc_on_stack(ts_stats_t *stats, uint32_t func, uint32_t lineno,
                                uint32_t stack, uint64_t id, uint64_t bytes, int python,
                                uint64_t t_ns);
/* The sampled block `id` was freed. 1 when known, 0 when its allocation is not known (yet). */
int ts_stats_free_sample(ts_stats_t *stats, uint64_t id, uint64_t t_ns);
/* Sampled copy volume at a line (or unattributed). 0 or -1. */
int ts_stats_add_copy(ts_stats_t *stats, uint32_t func, uint32_t lineno, uint64_t bytes);

/* GPU-busy time and the GPU memory seen (NULL: none), at a line (or unattributed when func
 * is UINT32_MAX). 0 or -1. */
int ts_stats_add_gpu(ts_stats_t *stats, uint32_t func, uint32_t lineno, uint64_t busy_ns,
                     const ts_gpu_memory_t *memory);

static inline uint64_t ts_time_total(const ts_time_t *time)
{
    return time->ns[TS_TIME_PYTHON] + time->ns[TS_TIME_NATIVE] + time->ns[TS_TIME_SYSTEM];
}

#endif
