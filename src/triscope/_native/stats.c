/* SPDX-License-Identifier: MIT
 *
 * stats.c — see stats.h. Growable arrays indexed by ids, with hash maps from natural keys
 * to ids: files by interned path, functions by (file, name, first line), lines by
 * (file << 32 | lineno), stacks by a hash of their frames checked against the frames.
 */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

void ts_stats_init(ts_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->peak_line = UINT32_MAX;
    ts_intern_init(&stats->strings);
    ts_map_init(&stats->file_index);
    ts_map_init(&stats->func_index);
    ts_map_init(&stats->line_index);
    ts_map_init(&stats->stack_index);
    ts_map_init(&stats->live_index);
}

struct ts_live_sample {
    uint32_t line;     /* index into lines, UINT32_MAX when unattributed */
    uint32_t func;
    uint32_t stack;    /* index into stacks, UINT32_MAX when none */
    uint64_t bytes;
};

static void mem_free(ts_mem_t *mem)
{
    free(mem->timeline);
    mem->timeline = NULL;
}

void ts_stats_free(ts_stats_t *stats)
{
    for (size_t i = 0; i < stats->nlines; i++) {
        mem_free(&stats->lines[i].mem);
        free(stats->lines[i].sample_times);
    }
    for (size_t i = 0; i < stats->nfuncs; i++)
        mem_free(&stats->funcs[i].mem);
    mem_free(&stats->mem_total);
    mem_free(&stats->mem_unattributed);
    ts_map_free(&stats->live_index);
    free(stats->live_samples);
    free(stats->free_live);
    ts_intern_free(&stats->strings);
    ts_map_free(&stats->file_index);
    ts_map_free(&stats->func_index);
    ts_map_free(&stats->line_index);
    ts_map_free(&stats->stack_index);
    free(stats->files);
    free(stats->funcs);
    free(stats->lines);
    free(stats->stacks);
    free(stats->frame_pool);
    ts_stats_init(stats);
}

/* Makes room for one more element in a growable array; -1 on allocation failure. */
static int reserve(void **items, size_t *capacity, size_t count, size_t item_size)
{
    if (count < *capacity)
        return 0;
    size_t bigger = *capacity ? *capacity * 2 : 64;
    void *grown = realloc(*items, bigger * item_size);
    if (grown == NULL)
        return -1;
    *items = grown;
    *capacity = bigger;
    return 0;
}

#define RESERVE(array, cap, count) \
    reserve((void **)&(array), &(cap), (count), sizeof *(array))

uint32_t ts_stats_file(ts_stats_t *stats, const char *path, int profiled)
{
    uint32_t path_id = ts_intern(&stats->strings, path, strlen(path));
    uint32_t id;
    if (path_id == UINT32_MAX)
        return UINT32_MAX;
    if (ts_map_get(&stats->file_index, path_id, &id))
        return id;
    if (RESERVE(stats->files, stats->cap_files, stats->nfiles) < 0)
        return UINT32_MAX;
    id = (uint32_t)stats->nfiles;
    if (ts_map_put(&stats->file_index, path_id, id) < 0)
        return UINT32_MAX;
    ts_file_t *file = &stats->files[stats->nfiles++];
    memset(file, 0, sizeof *file);
    file->path = path_id;
    file->profiled = profiled;
    return id;
}

/* Functions are keyed by (file, interned name, first line), hashed into a probe sequence
 * and confirmed against the stored function, like the interner does for strings. */
typedef struct {
    const ts_stats_t *stats;
    uint32_t key[3]; /* file, name, first line */
} func_query_t;

static int same_func(uint32_t id, const void *context)
{
    const func_query_t *q = context;
    const ts_func_t *func = &q->stats->funcs[id];
    return func->file == q->key[0] && func->name == q->key[1] && func->lineno == q->key[2];
}

uint32_t ts_stats_func(ts_stats_t *stats, uint32_t file, const char *name, uint32_t lineno)
{
    uint32_t name_id = ts_intern(&stats->strings, name, strlen(name));
    if (name_id == UINT32_MAX)
        return UINT32_MAX;
    func_query_t query = {stats, {file, name_id, lineno}};
    uint64_t probe;
    uint32_t id;
    if (ts_map_find_confirmed(&stats->func_index, ts_hash_bytes(query.key, sizeof query.key, 0),
                              same_func, &query, &id, &probe))
        return id;
    if (RESERVE(stats->funcs, stats->cap_funcs, stats->nfuncs) < 0)
        return UINT32_MAX;
    id = (uint32_t)stats->nfuncs;
    if (ts_map_put(&stats->func_index, probe, id) < 0)
        return UINT32_MAX;
    ts_func_t *func = &stats->funcs[stats->nfuncs++];
    memset(func, 0, sizeof *func);
    func->file = file;
    func->name = name_id;
    func->lineno = lineno;
    return id;
}

static void charge(ts_time_t *time, ts_time_kind_t kind, uint64_t ns, int cpu_sample)
{
    time->ns[kind] += ns;
    if (cpu_sample) {
        time->cpu_samples++;
        time->cpu_ns += ns;
    }
}

/* The index of the line `lineno` of the function's file, created if new; UINT32_MAX on
 * allocation failure. */
static uint32_t line_index(ts_stats_t *stats, uint32_t func, uint32_t lineno)
{
    ts_func_t *function = &stats->funcs[func];
    uint64_t key = (uint64_t)function->file << 32 | lineno;
    uint32_t id;
    if (!ts_map_get(&stats->line_index, key, &id)) {
        if (RESERVE(stats->lines, stats->cap_lines, stats->nlines) < 0)
            return UINT32_MAX;
        id = (uint32_t)stats->nlines;
        if (ts_map_put(&stats->line_index, key, id) < 0)
            return UINT32_MAX;
        ts_line_t *line = &stats->lines[stats->nlines++];
        memset(line, 0, sizeof *line);
        line->file = function->file;
        line->lineno = lineno;
    }
    stats->lines[id].func = func;
    return id;
}

/* Charges the line, its function, its file and the total; the line's index, or UINT32_MAX
 * on allocation failure (nothing charged then). */
static uint32_t charge_line(ts_stats_t *stats, uint32_t func, uint32_t lineno,
                            ts_time_kind_t kind, uint64_t ns, int cpu_sample)
{
    uint32_t id = line_index(stats, func, lineno);
    if (id == UINT32_MAX)
        return UINT32_MAX;
    ts_func_t *function = &stats->funcs[func];
    charge(&stats->lines[id].time, kind, ns, cpu_sample);
    charge(&function->time, kind, ns, cpu_sample);
    charge(&stats->files[function->file].time, kind, ns, cpu_sample);
    charge(&stats->total, kind, ns, cpu_sample);
    return id;
}

int ts_stats_add_line(ts_stats_t *stats, uint32_t func, uint32_t lineno, ts_time_kind_t kind,
                      uint64_t ns, int cpu_sample)
{
    return charge_line(stats, func, lineno, kind, ns, cpu_sample) == UINT32_MAX ? -1 : 0;
}

/* The sample axis's width doubles: each line's bucket b joins bucket b / 2. In increasing
 * order every target is at or before its source, and already folded. */
static void coarsen_sample_times(ts_stats_t *stats)
{
    stats->sample_axis.width_ns *= 2;
    stats->sample_axis.last /= 2;
    for (size_t i = 0; i < stats->nlines; i++) {
        uint32_t *counts = stats->lines[i].sample_times;
        for (uint32_t b = 0; counts != NULL && b < TS_LINE_BUCKETS; b++) {
            uint32_t count = counts[b];
            counts[b] = 0;
            counts[b / 2] += count;
        }
    }
}

/* Counts a CPU sample of line `id` taken at `t_ns` on its counts over time; a line whose
 * counts cannot be allocated only goes without them. */
static void count_sample_time(ts_stats_t *stats, uint32_t id, uint64_t t_ns)
{
    ts_sample_axis_t *axis = &stats->sample_axis;
    if (axis->width_ns == 0) {
        axis->start_ns = t_ns;
        axis->width_ns = TS_LINE_BUCKET_NS;
    }
    if (t_ns < axis->start_ns)
        t_ns = axis->start_ns; /* threads' samples reach here a little out of order */
    while ((t_ns - axis->start_ns) / axis->width_ns >= TS_LINE_BUCKETS)
        coarsen_sample_times(stats);
    ts_line_t *line = &stats->lines[id];
    if (line->sample_times == NULL &&
        (line->sample_times = calloc(TS_LINE_BUCKETS, sizeof *line->sample_times)) == NULL)
        return;
    uint32_t bucket = (uint32_t)((t_ns - axis->start_ns) / axis->width_ns);
    line->sample_times[bucket]++;
    if (bucket > axis->last)
        axis->last = bucket;
}

int ts_stats_add_line_at(ts_stats_t *stats, uint32_t func, uint32_t lineno, ts_time_kind_t kind,
                         uint64_t ns, int cpu_sample, uint64_t t_ns)
{
    uint32_t id = charge_line(stats, func, lineno, kind, ns, cpu_sample);
    if (id == UINT32_MAX)
        return -1;
    if (cpu_sample)
        count_sample_time(stats, id, t_ns);
    return 0;
}

int ts_stats_add_await(ts_stats_t *stats, uint32_t func, uint32_t lineno, uint64_t ns)
{
    uint32_t id = line_index(stats, func, lineno);
    if (id == UINT32_MAX)
        return -1;
    stats->lines[id].await_ns += ns;
    stats->funcs[func].await_ns += ns;
    stats->await_ns += ns;
    return 0;
}

void ts_stats_add_unattributed(ts_stats_t *stats, ts_time_kind_t kind, uint64_t ns,
                               int cpu_sample)
{
    charge(&stats->unattributed, kind, ns, cpu_sample);
    charge(&stats->total, kind, ns, cpu_sample);
}

typedef struct {
    const ts_stats_t *stats;
    const ts_stack_frame_t *frames;
    uint32_t depth;
} stack_query_t;

static int same_stack(uint32_t id, const void *context)
{
    const stack_query_t *q = context;
    const ts_stack_t *stack = &q->stats->stacks[id];
    return stack->depth == q->depth &&
           memcmp(&q->stats->frame_pool[stack->first], q->frames,
                  q->depth * sizeof *q->frames) == 0;
}

uint32_t ts_stats_stack(ts_stats_t *stats, const ts_stack_frame_t *frames, uint32_t depth)
{
    stack_query_t query = {stats, frames, depth};
    uint64_t probe;
    uint32_t id;
    if (ts_map_find_confirmed(&stats->stack_index,
                              ts_hash_bytes(frames, depth * sizeof *frames, depth), same_stack,
                              &query, &id, &probe))
        return id;
    while (stats->nframes + depth > stats->cap_frames)
        if (RESERVE(stats->frame_pool, stats->cap_frames, stats->cap_frames) < 0)
            return UINT32_MAX;
    if (RESERVE(stats->stacks, stats->cap_stacks, stats->nstacks) < 0)
        return UINT32_MAX;
    id = (uint32_t)stats->nstacks;
    if (ts_map_put(&stats->stack_index, probe, id) < 0)
        return UINT32_MAX;
    ts_stack_t *stack = &stats->stacks[stats->nstacks++];
    memset(stack, 0, sizeof *stack);
    stack->first = (uint32_t)stats->nframes;
    stack->depth = depth;
    memcpy(&stats->frame_pool[stats->nframes], frames, depth * sizeof *frames);
    stats->nframes += depth;
    return id;
}

int ts_stats_add_stack(ts_stats_t *stats, const ts_stack_frame_t *frames, uint32_t depth,
                       uint64_t ns, int cpu_sample)
{
    uint32_t id = ts_stats_stack(stats, frames, depth);
    if (id == UINT32_MAX)
        return -1;
    stats->stacks[id].samples += cpu_sample ? 1 : 0;
    stats->stacks[id].ns += ns;
    return 0;
}

/* A change of a stack's live bytes at the current memory event (see ts_stack_t): the first
 * change after the maximum footprint keeps what the stack held then. */
static void stack_live_change(ts_stats_t *stats, uint32_t id, int64_t delta)
{
    ts_stack_t *stack = &stats->stacks[id];
    if (stats->mem_events > stats->peak_event && stack->changed_at <= stats->peak_event)
        stack->live_at_peak = stack->live_bytes;
    stack->live_bytes += delta;
    stack->changed_at = stats->mem_events;
}

int64_t ts_stats_stack_peak_bytes(const ts_stats_t *stats, const ts_stack_t *stack)
{
    return stack->changed_at <= stats->peak_event ? stack->live_bytes : stack->live_at_peak;
}

/* ==== Memory ==== */

void ts_series_add(ts_series_t *series, uint64_t t_ns, int64_t value)
{
    if (series->count == TS_SERIES_MAX) {
        /* Every other point, keeping the first and the latest: the span stays whole. */
        for (uint32_t i = 1; i < TS_SERIES_MAX / 2 - 1; i++) {
            series->t_ns[i] = series->t_ns[2 * i];
            series->value[i] = series->value[2 * i];
        }
        series->t_ns[TS_SERIES_MAX / 2 - 1] = series->t_ns[TS_SERIES_MAX - 1];
        series->value[TS_SERIES_MAX / 2 - 1] = series->value[TS_SERIES_MAX - 1];
        series->count = TS_SERIES_MAX / 2;
    }
    series->t_ns[series->count] = t_ns;
    series->value[series->count] = value;
    series->count++;
}

double ts_mem_average_live(const ts_mem_t *mem, uint64_t start_ns, uint64_t end_ns)
{
    if (end_ns <= start_ns)
        return 0;
    double area = mem->live_byte_ns;
    if (mem->live_bytes > 0 && end_ns > mem->changed_ns && mem->changed_ns > 0)
        area += (double)mem->live_bytes * (double)(end_ns - mem->changed_ns);
    return area / (double)(end_ns - start_ns);
}

int64_t ts_series_at(const ts_series_t *series, uint64_t t_ns)
{
    int64_t value = 0;
    for (uint32_t i = 0; i < series->count && series->t_ns[i] <= t_ns; i++)
        value = series->value[i];
    return value;
}

/* Applies a change of live bytes at t_ns; -1 when the timeline cannot be allocated. */
static int mem_live_change(ts_mem_t *mem, int64_t delta, uint64_t t_ns)
{
    if (mem->timeline == NULL && (mem->timeline = calloc(1, sizeof *mem->timeline)) == NULL)
        return -1;
    /* Events of different threads reach here a little out of order: never backwards. */
    if (t_ns > mem->changed_ns) {
        if (mem->changed_ns > 0 && mem->live_bytes > 0)
            mem->live_byte_ns += (double)mem->live_bytes * (double)(t_ns - mem->changed_ns);
        mem->changed_ns = t_ns;
    }
    mem->live_bytes += delta;
    if (mem->live_bytes > mem->peak_bytes)
        mem->peak_bytes = mem->live_bytes;
    ts_series_add(mem->timeline, t_ns, mem->live_bytes);
    return 0;
}

static void mem_count(ts_mem_t *mem, uint64_t bytes, int python)
{
    mem->alloc_bytes += bytes;
    mem->python_bytes += python ? bytes : 0;
    mem->samples++;
}

static void mem_alloc(ts_mem_t *mem, uint64_t bytes, int python, uint64_t t_ns)
{
    mem_count(mem, bytes, python);
    mem_live_change(mem, (int64_t)bytes, t_ns);
}

/* A change of the whole process's live bytes: the next memory event, and the peak event
 * when it reaches a new maximum footprint. */
static void total_live_change(ts_stats_t *stats, int64_t delta, uint64_t t_ns)
{
    int64_t peak = stats->mem_total.peak_bytes;
    stats->mem_events++;
    mem_live_change(&stats->mem_total, delta, t_ns);
    if (stats->mem_total.peak_bytes > peak)
        stats->peak_event = stats->mem_events;
}

int ts_stats_add_alloc(ts_stats_t *stats, uint32_t func, uint32_t lineno, uint64_t id,
                       uint64_t bytes, int python, uint64_t t_ns)
{
    return ts_stats_add_alloc_on_stack(stats, func, lineno, UINT32_MAX, id, bytes, python, t_ns);
}

int ts_stats_add_alloc_on_stack(ts_stats_t *stats, uint32_t func, uint32_t lineno,
                                uint32_t stack, uint64_t id, uint64_t bytes, int python,
                                uint64_t t_ns)
{
    uint32_t line = UINT32_MAX;
    if (func != UINT32_MAX) {
        line = line_index(stats, func, lineno);
        if (line == UINT32_MAX)
            return -1;
        mem_alloc(&stats->lines[line].mem, bytes, python, t_ns);
        mem_alloc(&stats->funcs[func].mem, bytes, python, t_ns);
    } else {
        mem_alloc(&stats->mem_unattributed, bytes, python, t_ns);
    }
    mem_count(&stats->mem_total, bytes, python);
    total_live_change(stats, (int64_t)bytes, t_ns);
    if (stats->peak_event == stats->mem_events)
        stats->peak_line = line; /* this allocation raised the maximum footprint */
    /* After the total: an allocation that makes the maximum footprint is part of it. */
    if (stack != UINT32_MAX) {
        stats->stacks[stack].alloc_bytes += bytes;
        stack_live_change(stats, stack, (int64_t)bytes);
    }
    if (id == 0)
        return 0; /* not tracked: its free cannot be matched */
    uint32_t index;
    if (stats->nfree_live > 0) {
        index = stats->free_live[--stats->nfree_live];
    } else {
        if (RESERVE(stats->live_samples, stats->cap_live, stats->nlive) < 0)
            return -1;
        index = (uint32_t)stats->nlive++;
    }
    if (ts_map_put(&stats->live_index, id, index) < 0)
        return -1;
    struct ts_live_sample *sample = &stats->live_samples[index];
    sample->line = line;
    sample->func = func;
    sample->stack = stack;
    sample->bytes = bytes;
    return 0;
}

int ts_stats_free_sample(ts_stats_t *stats, uint64_t id, uint64_t t_ns)
{
    uint32_t index;
    if (!ts_map_get(&stats->live_index, id, &index))
        return 0;
    ts_map_remove(&stats->live_index, id);
    if (RESERVE(stats->free_live, stats->cap_free_live, stats->nfree_live) == 0)
        stats->free_live[stats->nfree_live++] = index;
    const struct ts_live_sample *sample = &stats->live_samples[index];
    int64_t delta = -(int64_t)sample->bytes;
    ts_mem_t *owner = sample->line == UINT32_MAX ? &stats->mem_unattributed
                                                 : &stats->lines[sample->line].mem;
    owner->freed++;
    mem_live_change(owner, delta, t_ns);
    if (sample->func != UINT32_MAX) {
        stats->funcs[sample->func].mem.freed++;
        mem_live_change(&stats->funcs[sample->func].mem, delta, t_ns);
    }
    stats->mem_total.freed++;
    total_live_change(stats, delta, t_ns);
    if (sample->stack != UINT32_MAX)
        stack_live_change(stats, sample->stack, delta);
    return 1;
}

int ts_stats_add_copy(ts_stats_t *stats, uint32_t func, uint32_t lineno, uint64_t bytes)
{
    if (func != UINT32_MAX) {
        uint32_t line = line_index(stats, func, lineno);
        if (line == UINT32_MAX)
            return -1;
        stats->lines[line].mem.copy_bytes += bytes;
        stats->funcs[func].mem.copy_bytes += bytes;
    } else {
        stats->mem_unattributed.copy_bytes += bytes;
    }
    stats->mem_total.copy_bytes += bytes;
    return 0;
}

/* ==== GPU ==== */

static void gpu_charge(ts_gpu_t *gpu, uint64_t busy_ns, const ts_gpu_memory_t *memory)
{
    gpu->busy_ns += busy_ns;
    if (memory == NULL)
        return;
    if (memory->held_bytes > gpu->peak_mem_bytes)
        gpu->peak_mem_bytes = memory->held_bytes;
    if (memory->allocator && memory->allocated_bytes > gpu->peak_allocated_bytes)
        gpu->peak_allocated_bytes = memory->allocated_bytes;
}

int ts_stats_add_gpu(ts_stats_t *stats, uint32_t func, uint32_t lineno, uint64_t busy_ns,
                     const ts_gpu_memory_t *memory)
{
    if (func != UINT32_MAX) {
        uint32_t line = line_index(stats, func, lineno);
        if (line == UINT32_MAX)
            return -1;
        gpu_charge(&stats->lines[line].gpu, busy_ns, memory);
        gpu_charge(&stats->funcs[func].gpu, busy_ns, memory);
    } else {
        gpu_charge(&stats->gpu_unattributed, busy_ns, memory);
    }
    gpu_charge(&stats->gpu_total, busy_ns, memory);
    if (memory != NULL && memory->allocator)
        stats->gpu_allocator_seen = 1;
    return 0;
}
