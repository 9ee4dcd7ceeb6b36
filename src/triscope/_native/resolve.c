/* SPDX-License-Identifier: MIT
 *
 * resolve.c — see resolve.h. Runs with the GIL held: in the consumer thread every tick, in
 * whichever thread frees a code object (the lifetime guard), and at stop.
 *
 * Code-object identity: samples carry raw code pointers. The pointers were valid when the
 * sample was taken (a running frame holds its code object), and a code object can only be
 * freed with the GIL held, so resolving every queued sample just before any code object is
 * freed (3.12+: a code watcher; 3.11: a wrapper around PyCode_Type's tp_dealloc) keeps every
 * queued pointer valid. The cache from code pointer to resolved function forgets the dying
 * object at the same moment, so a new code object at the same address starts fresh.
 */
#include "compat.h"
#include "resolve.h"

#include "clock.h"
#include "frames.h"
#include "gpu.h"
#include "gpuattr.h"
#include "pymemory.h"
#include "sampler.h"
#include "torchmem.h"
#include "waits.h"

#include <string.h>

typedef struct {
    uint32_t func;     /* stats function id */
    uint8_t profiled;  /* file passes the filter */
    uint8_t own;       /* triscope's own code: hidden from stacks */
} code_entry_t;

static ts_stats_t stats;
static ts_filter_t filter;
static int record_stacks;
static int started;
static int draining;
static ts_ring_t wait_ring;
static ts_gpu_attr_t gpu_attr;  /* GPU readings waiting for their samples, and vice versa */
/* GPU spans remembered: at 50 polls per second, over a minute without the GIL. */
#define TS_GPU_SPANS 4096
static ts_map_t code_index;     /* code pointer → index into entries */
static code_entry_t *entries;
static size_t nentries, cap_entries;
static uint32_t *free_entries;  /* indexes of forgotten entries, for reuse */
static size_t nfree, cap_free;

/* The code object whose death is being announced: still a valid code object, though under
 * 3.11's tp_dealloc wrapper its reference count already reads 0, which the plausibility
 * check takes for freed memory. */
static PyCodeObject *dying_code;

/* Resolves a code object once: its file, whether that file is profiled, its function. */
static const code_entry_t *lookup_code(PyCodeObject *code)
{
    uint32_t index;
    if (ts_map_get(&code_index, (uint64_t)(uintptr_t)code, &index))
        return &entries[index];
    if (code != dying_code && !ts_frames_code_plausible(code))
        return NULL;
    const char *path = PyUnicode_AsUTF8(code->co_filename);
    const char *name = PyUnicode_AsUTF8(code->co_qualname);
    if (path == NULL || name == NULL) {
        PyErr_Clear();
        return NULL;
    }
    code_entry_t entry;
    entry.profiled = (uint8_t)ts_filter_match(&filter, path);
    entry.own = (uint8_t)ts_filter_is_own(&filter, path);
    uint32_t file = ts_stats_file(&stats, path, entry.profiled);
    if (file == UINT32_MAX)
        return NULL;
    entry.func = ts_stats_func(&stats, file, name, (uint32_t)code->co_firstlineno);
    if (entry.func == UINT32_MAX)
        return NULL;
    if (nfree > 0) {
        index = free_entries[--nfree];
    } else {
        if (nentries == cap_entries) {
            size_t capacity = cap_entries ? cap_entries * 2 : 256;
            code_entry_t *grown = PyMem_RawRealloc(entries, capacity * sizeof *grown);
            if (grown == NULL)
                return NULL;
            entries = grown;
            cap_entries = capacity;
        }
        index = (uint32_t)nentries++;
    }
    if (ts_map_put(&code_index, (uint64_t)(uintptr_t)code, index) < 0)
        return NULL;
    entries[index] = entry;
    return &entries[index];
}

/* Whether the code object had an entry (then it is forgotten). */
static int forget_code(PyCodeObject *code)
{
    uint32_t index;
    if (!ts_map_get(&code_index, (uint64_t)(uintptr_t)code, &index))
        return 0;
    ts_map_remove(&code_index, (uint64_t)(uintptr_t)code);
    if (nfree == cap_free) {
        size_t capacity = cap_free ? cap_free * 2 : 256;
        uint32_t *grown = PyMem_RawRealloc(free_entries, capacity * sizeof *grown);
        if (grown == NULL)
            return 1; /* the entry is only leaked, never reused: still correct */
        free_entries = grown;
        cap_free = capacity;
    }
    free_entries[nfree++] = index;
    return 1;
}

/* Lines of (code, instruction) pairs already named. PyCode_Addr2Line reads the code's line
 * table from its start, and with --stacks every allocation sample names its whole stack
 * (thousands a second in a program allocating gigabytes), mostly the same frames again.
 * Direct-mapped; an entry counts only in the generation it was filled in, and the death of
 * every code object with lines here (and a reset) starts a new generation, so a code object
 * born at a dead one's address never inherits its lines. Lines are only asked of code that
 * lookup_code has an entry for: a code object without one has none here, and its death
 * (most of them: an import's top-level code, compile's, teardown's) keeps the cache. */
#define LINE_CACHE_SIZE 4096
typedef struct {
    const void *code;
    int32_t instr_offset;
    uint32_t generation;
    uint32_t line;
} line_cache_entry_t;
static line_cache_entry_t line_cache[LINE_CACHE_SIZE];
static uint32_t line_generation = 1;

static void forget_lines(void)
{
    if (++line_generation == 0) {
        memset(line_cache, 0, sizeof line_cache);
        line_generation = 1;
    }
}

static uint32_t line_of(const ts_frame_t *frame)
{
    uint64_t key = (uint64_t)(uintptr_t)frame->code ^ (uint64_t)(uint32_t)frame->instr_offset
                                                     * 0x9E3779B97F4A7C15ULL;
    line_cache_entry_t *entry = &line_cache[(key ^ key >> 29) & (LINE_CACHE_SIZE - 1)];
    if (entry->generation == line_generation && entry->code == frame->code &&
        entry->instr_offset == frame->instr_offset)
        return entry->line;
    PyCodeObject *code = (PyCodeObject *)frame->code;
    int line = PyCode_Addr2Line(code, frame->instr_offset);
    *entry = (line_cache_entry_t){frame->code, frame->instr_offset, line_generation,
                                  line > 0 ? (uint32_t)line : (uint32_t)code->co_firstlineno};
    return entry->line;
}

/* The attribution rule: the innermost frame of a profiled file. 0 when there is none. */
static int attribute(const ts_frame_t *frames, int depth, uint32_t *func, uint32_t *lineno)
{
    for (int i = 0; i < depth; i++) {
        const code_entry_t *entry = lookup_code((PyCodeObject *)frames[i].code);
        if (entry != NULL && entry->profiled) {
            *func = entry->func;
            *lineno = line_of(&frames[i]);
            return 1;
        }
    }
    return 0;
}

/* A walked stack (innermost first) as the stats' frames, outermost first, triscope's own
 * frames left out (stacks start at the program); its depth. */
static uint32_t program_stack(const ts_frame_t *walked, int depth, ts_stack_frame_t *frames)
{
    uint32_t kept = 0;
    for (int i = depth - 1; i >= 0; i--) {
        const code_entry_t *entry = lookup_code((PyCodeObject *)walked[i].code);
        if (entry == NULL || entry->own)
            continue;
        frames[kept].func = entry->func;
        frames[kept].lineno = line_of(&walked[i]);
        kept++;
    }
    return kept;
}

static void consume(const ts_sample_t *sample, void *context)
{
    (void)context;
    /* Waiting for a CPU is time of the line and kind it was preempted in
     * (docs/PROFILE_FORMAT.md, "Idle threads and waiting for a CPU"). */
    static const ts_time_kind_t kinds[] = {TS_TIME_PYTHON, TS_TIME_NATIVE, TS_TIME_SYSTEM,
                                           TS_TIME_PYTHON, TS_TIME_NATIVE, TS_TIME_SYSTEM};
    ts_time_kind_t kind = kinds[sample->kind];
    int cpu_sample = sample->kind == TS_SAMPLE_PYTHON || sample->kind == TS_SAMPLE_NATIVE;
    uint32_t func, lineno;
    int attributed = attribute(sample->frames, sample->depth, &func, &lineno);
    if (!attributed || ts_stats_add_line_at(&stats, func, lineno, kind, sample->weight_ns,
                                            cpu_sample, sample->t_ns) < 0)
        ts_stats_add_unattributed(&stats, kind, sample->weight_ns, cpu_sample);
    if (sample->kind != TS_SAMPLE_WAIT && !cpu_sample)
        stats.cpu_wait_ns += sample->weight_ns;
    if (ts_gpu_profiling()) {
        int waiting = sample->kind == TS_SAMPLE_WAIT || sample->kind == TS_SAMPLE_CPU_WAIT_SYSTEM;
        ts_gpu_class_t cls = !waiting ? TS_GPU_CPU
                             : (int)sample->thread == ts_sampler_main_slot() ? TS_GPU_MAIN_WAIT
                                                                            : TS_GPU_WAIT;
        ts_gpu_attr_sample(&gpu_attr, sample->t_ns, sample->weight_ns, cls,
                           attributed ? func : UINT32_MAX, attributed ? lineno : 0);
    }
    if (!record_stacks)
        return;
    ts_stack_frame_t frames[TS_MAX_DEPTH];
    uint32_t depth = program_stack(sample->frames, sample->depth, frames);
    if (depth > 0)
        ts_stats_add_stack(&stats, frames, depth, sample->weight_ns, cpu_sample);
}

static void consume_memory(const ts_mem_sample_t *sample, void *context)
{
    (void)context;
    uint32_t func = UINT32_MAX, lineno = 0;
    attribute(sample->frames, sample->depth, &func, &lineno);
    if (sample->kind == TS_MEM_COPY) {
        ts_stats_add_copy(&stats, func, lineno, sample->weight);
        return;
    }
    /* The allocation's stack, as a CPU sample's (the memory flame graph): the allocator
     * only copied the frames, here under the GIL and the guard they are named. */
    uint32_t stack = UINT32_MAX;
    if (record_stacks) {
        ts_stack_frame_t frames[TS_MAX_DEPTH];
        uint32_t depth = program_stack(sample->frames, sample->depth, frames);
        if (depth > 0)
            stack = ts_stats_stack(&stats, frames, depth);
    }
    ts_stats_add_alloc_on_stack(&stats, func, lineno, stack, sample->id, sample->weight,
                                sample->kind == TS_MEM_PYTHON, sample->time_ns);
}

/* Frees whose allocation was not drained yet (queued by another thread after our pass over
 * the allocations): retried at the next drain. Bounded: beyond it the blocks look alive. */
#define TS_MAX_PENDING_FREES 65536
static ts_mem_free_t pending_frees[TS_MAX_PENDING_FREES];
static size_t npending;

static void consume_free(const ts_mem_free_t *event, void *context)
{
    (void)context;
    if (!ts_stats_free_sample(&stats, event->id, event->time_ns) && npending < TS_MAX_PENDING_FREES)
        pending_frees[npending++] = *event;
}

static void retry_pending_frees(void)
{
    size_t kept = 0;
    for (size_t i = 0; i < npending; i++)
        if (!ts_stats_free_sample(&stats, pending_frees[i].id, pending_frees[i].time_ns))
            pending_frees[kept++] = pending_frees[i];
    npending = kept;
}

static void add_gpu_reading(const ts_gpu_reading_t *reading, void *context)
{
    (void)context;
    ts_gpu_attr_reading(&gpu_attr, reading);
}

void ts_resolve_drain(void)
{
    if (!started || draining)
        return;
    draining = 1;
    ts_pymemory_guard(1); /* our own allocations below are not the program's */
    /* Readings first: the samples of a span are queued before its reading (gpuattr.h). */
    ts_gpu_collect(add_gpu_reading, NULL);
    /* PyTorch's allocator now, after the readings so far: the next ones place it (gpuattr.h;
     * docs/ARCHITECTURE.md, GPU). */
    ts_torchmem_reading_t torch;
    if (ts_gpu_profiling() && ts_torchmem_read(&torch))
        ts_gpu_attr_allocator_read(&gpu_attr, ts_now_ns(), torch.allocated_bytes);
    ts_sampler_drain(consume, NULL);
    const ts_sample_t *sample;
    while ((sample = ts_ring_peek(&wait_ring)) != NULL) {
        consume(sample, NULL);
        ts_ring_release(&wait_ring);
    }
    ts_gpu_attr_settle(&gpu_attr, &stats);
    ts_pymemory_drain(consume_memory, consume_free, NULL);
    if (npending > 0)
        retry_pending_frees();
    ts_pymemory_guard(0);
    draining = 0;
}

int ts_resolve_code_profiled(const void *code)
{
    if (!started)
        return -1;
    const code_entry_t *entry = lookup_code((PyCodeObject *)code);
    return entry == NULL ? -1 : entry->profiled;
}

void ts_resolve_add_await(const void *code, int instr_offset, uint64_t ns)
{
    const code_entry_t *entry;
    if (!started || (entry = lookup_code((PyCodeObject *)code)) == NULL || !entry->profiled)
        return;
    ts_frame_t frame = {code, instr_offset};
    ts_pymemory_guard(1); /* the stats may grow: our allocation, not the program's */
    ts_stats_add_await(&stats, entry->func, line_of(&frame), ns);
    ts_pymemory_guard(0);
}

/* Samples of the dying code itself are the ones most likely still queued: a module's
 * top-level code dies as soon as it finishes (a short program's whole run), a function's
 * code when its last reference goes. They resolve now, against the live object. */
static void before_code_dies(PyCodeObject *code)
{
    PyCodeObject *outer = dying_code; /* a code object may die while resolving another */
    dying_code = code;
    ts_waits_code_dying();
    ts_resolve_drain();
    if (forget_code(code))
        forget_lines();
    dying_code = outer;
}

int ts_resolve_start(ts_filter_t *new_filter, int stacks)
{
    if (new_filter != NULL) {
        ts_filter_free(&filter);
        filter = *new_filter;
        memset(new_filter, 0, sizeof *new_filter);
    }
    record_stacks = stacks;
    if (wait_ring.records == NULL &&
        ts_ring_init(&wait_ring, 1024, sizeof(ts_sample_t)) < 0)
        return -1;
    if (gpu_attr.spans == NULL && ts_gpu_attr_init(&gpu_attr, TS_GPU_SPANS) < 0)
        return -1;
    if (ts_compat_watch_code_deaths(before_code_dies) < 0)
        return -1;
    started = 1;
    return 0;
}

void ts_resolve_stop(void)
{
    ts_resolve_drain();
    started = 0;
    /* On 3.11 the watch stays (compat.c says why); with `started` off it only forgets cache
     * entries. */
    ts_compat_unwatch_code_deaths();
}

void ts_resolve_reset(void)
{
    ts_stats_free(&stats);
    ts_stats_init(&stats);
    ts_map_free(&code_index);
    forget_lines();
    nentries = 0;
    nfree = 0;
    npending = 0;
    if (wait_ring.records != NULL)
        ts_ring_clear(&wait_ring);
    ts_gpu_attr_clear(&gpu_attr);
    ts_torchmem_reset();
}

ts_ring_t *ts_resolve_wait_ring(void)
{
    return &wait_ring;
}

const ts_stats_t *ts_resolve_stats(void)
{
    return &stats;
}

const ts_filter_t *ts_resolve_filter(void)
{
    return &filter;
}
