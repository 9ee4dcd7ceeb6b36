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
    ts_intern_init(&stats->strings);
    ts_map_init(&stats->file_index);
    ts_map_init(&stats->func_index);
    ts_map_init(&stats->line_index);
    ts_map_init(&stats->stack_index);
}

void ts_stats_free(ts_stats_t *stats)
{
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
    time->cpu_samples += cpu_sample ? 1 : 0;
}

int ts_stats_add_line(ts_stats_t *stats, uint32_t func, uint32_t lineno, ts_time_kind_t kind,
                      uint64_t ns, int cpu_sample)
{
    ts_func_t *function = &stats->funcs[func];
    uint64_t key = (uint64_t)function->file << 32 | lineno;
    uint32_t id;
    if (!ts_map_get(&stats->line_index, key, &id)) {
        if (RESERVE(stats->lines, stats->cap_lines, stats->nlines) < 0)
            return -1;
        id = (uint32_t)stats->nlines;
        if (ts_map_put(&stats->line_index, key, id) < 0)
            return -1;
        ts_line_t *line = &stats->lines[stats->nlines++];
        memset(line, 0, sizeof *line);
        line->file = function->file;
        line->lineno = lineno;
    }
    ts_line_t *line = &stats->lines[id];
    line->func = func;
    charge(&line->time, kind, ns, cpu_sample);
    charge(&function->time, kind, ns, cpu_sample);
    charge(&stats->files[function->file].time, kind, ns, cpu_sample);
    charge(&stats->total, kind, ns, cpu_sample);
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

int ts_stats_add_stack(ts_stats_t *stats, const ts_stack_frame_t *frames, uint32_t depth,
                       uint64_t ns, int cpu_sample)
{
    stack_query_t query = {stats, frames, depth};
    uint64_t probe;
    uint32_t id;
    if (ts_map_find_confirmed(&stats->stack_index,
                              ts_hash_bytes(frames, depth * sizeof *frames, depth), same_stack,
                              &query, &id, &probe)) {
        stats->stacks[id].samples += cpu_sample ? 1 : 0;
        stats->stacks[id].ns += ns;
        return 0;
    }
    while (stats->nframes + depth > stats->cap_frames)
        if (RESERVE(stats->frame_pool, stats->cap_frames, stats->cap_frames) < 0)
            return -1;
    if (RESERVE(stats->stacks, stats->cap_stacks, stats->nstacks) < 0)
        return -1;
    id = (uint32_t)stats->nstacks;
    if (ts_map_put(&stats->stack_index, probe, id) < 0)
        return -1;
    ts_stack_t *stack = &stats->stacks[stats->nstacks++];
    stack->first = (uint32_t)stats->nframes;
    stack->depth = depth;
    stack->samples = cpu_sample ? 1 : 0;
    stack->ns = ns;
    memcpy(&stats->frame_pool[stats->nframes], frames, depth * sizeof *frames);
    stats->nframes += depth;
    return 0;
}
