/* SPDX-License-Identifier: MIT
 *
 * profile_json.c — see profile_json.h. Every *_pct is a share of all measured thread time
 * (stats->total), so lines of all files plus unattributed_pct sum to 100 (SPEC §3).
 * Source text is read from disk here, once per reported file, and only for the lines that
 * are written. With `--reduced-profile` lines below the CPU threshold are left out; without
 * it every measured line is written and the reports decide what to hide.
 */
#include "profile_json.h"

#include "json_writer.h"

#include <stdlib.h>
#include <string.h>

#define PCT_DIGITS 4
#define SEC_DIGITS 6
/* Source files larger than this are not quoted in the profile (the lines still are). */
#define TS_MAX_SOURCE_BYTES (16u << 20)

typedef struct {
    char *text;
    size_t *starts;   /* offset of each line; starts[n] is one past the end */
    size_t nlines;
} source_t;

static void source_load(source_t *src, const char *path)
{
    memset(src, 0, sizeof *src);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    size_t cap = 0, len = 0;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && len + n <= TS_MAX_SOURCE_BYTES) {
        if (len + n > cap) {
            cap = (len + n) * 2;
            char *grown = realloc(src->text, cap);
            if (grown == NULL)
                break;
            src->text = grown;
        }
        memcpy(src->text + len, chunk, n);
        len += n;
    }
    fclose(f);
    size_t count = 1;
    for (size_t i = 0; i < len; i++)
        count += src->text[i] == '\n';
    src->starts = malloc((count + 1) * sizeof *src->starts);
    if (src->starts == NULL)
        return;
    src->starts[0] = 0;
    size_t line = 1;
    for (size_t i = 0; i < len; i++)
        if (src->text[i] == '\n')
            src->starts[line++] = i + 1;
    src->starts[line] = len + 1;
    src->nlines = line;
}

/* The text of 1-based line `lineno`, without its newline (and without a CR before it). */
static void source_line(const source_t *src, uint32_t lineno, const char **text, size_t *len)
{
    *text = "";
    *len = 0;
    if (src->starts == NULL || lineno == 0 || lineno > src->nlines)
        return;
    size_t start = src->starts[lineno - 1], end = src->starts[lineno] - 1;
    if (end > start && src->text[end - 1] == '\r')
        end--;
    *text = src->text + start;
    *len = end - start;
}

static void source_free(source_t *src)
{
    free(src->text);
    free(src->starts);
}

static double pct(uint64_t ns, uint64_t total)
{
    return total ? 100.0 * (double)ns / (double)total : 0.0;
}

static void time_fields(ts_json_t *j, const ts_time_t *time, uint64_t total, const char *prefix)
{
    static const char *const names[TS_TIME_KINDS] = {"python_pct", "native_pct", "system_pct"};
    char key[48];
    for (int kind = 0; kind < TS_TIME_KINDS; kind++) {
        snprintf(key, sizeof key, "%s%s", prefix, names[kind]);
        ts_json_key(j, key);
        ts_json_number(j, pct(time->ns[kind], total), PCT_DIGITS);
    }
}

/* The metrics shared by lines and functions: time, and the memory and GPU fields that are
 * zero until those dimensions are measured. */
static void metric_fields(ts_json_t *j, const ts_time_t *time, uint64_t total)
{
    static const char *const zero_numbers[] = {
        "gpu_pct", "gpu_mem_mb", "alloc_mb", "python_fraction", "peak_mb", "live_mb",
        "mem_pct", "copy_mb", "copy_mb_s", "leak_likelihood", "leak_mb_s",
    };
    time_fields(j, time, total, "cpu_");
    ts_json_key(j, "cpu_samples");
    ts_json_int(j, (int64_t)time->cpu_samples);
    for (size_t i = 0; i < sizeof zero_numbers / sizeof zero_numbers[0]; i++) {
        ts_json_key(j, zero_numbers[i]);
        ts_json_int(j, 0);
    }
    ts_json_key(j, "alloc_samples");
    ts_json_int(j, 0);
    ts_json_key(j, "timeline");
    ts_json_begin_array(j);
    ts_json_end_array(j);
}

static void string_list(ts_json_t *j, const ts_strlist_t *list)
{
    ts_json_begin_array(j);
    for (size_t i = 0; list != NULL && i < list->count; i++)
        ts_json_string(j, list->items[i]);
    ts_json_end_array(j);
}

static void write_options(ts_json_t *j, const ts_profile_meta_t *m)
{
    ts_json_key(j, "options");
    ts_json_begin_object(j);
    ts_json_key(j, "cpu"); ts_json_bool(j, m->cpu);
    ts_json_key(j, "memory"); ts_json_bool(j, m->memory);
    ts_json_key(j, "gpu"); ts_json_bool(j, m->gpu);
    ts_json_key(j, "virtual_time"); ts_json_bool(j, m->virtual_time);
    ts_json_key(j, "stacks"); ts_json_bool(j, m->stacks);
    ts_json_key(j, "reduced_profile"); ts_json_bool(j, m->reduced_profile);
    ts_json_key(j, "profile_all"); ts_json_bool(j, m->profile_all);
    ts_json_key(j, "profile_only"); string_list(j, m->profile_only);
    ts_json_key(j, "profile_exclude"); string_list(j, m->profile_exclude);
    ts_json_key(j, "cpu_percent_threshold");
    ts_json_number(j, m->cpu_percent_threshold, PCT_DIGITS);
    ts_json_key(j, "malloc_threshold"); ts_json_int(j, m->malloc_threshold);
    ts_json_end_object(j);
}

static void write_threads(ts_json_t *j, const ts_profile_meta_t *m)
{
    char fallback[32];
    ts_json_key(j, "threads");
    ts_json_begin_array(j);
    for (size_t i = 0; i < m->nthreads; i++) {
        const ts_thread_summary_t *t = &m->threads[i];
        ts_json_begin_object(j);
        ts_json_key(j, "tid"); ts_json_int(j, t->tid);
        ts_json_key(j, "name");
        snprintf(fallback, sizeof fallback, "thread-%d", t->tid);
        ts_json_string(j, t->name[0] ? t->name : fallback);
        ts_json_key(j, "cpu_s"); ts_json_number(j, (double)t->cpu_ns / 1e9, SEC_DIGITS);
        ts_json_key(j, "wait_s"); ts_json_number(j, (double)t->wait_ns / 1e9, SEC_DIGITS);
        ts_json_end_object(j);
    }
    ts_json_end_array(j);
}

/* Context for the sorts below (qsort has none). */
static const ts_stats_t *sort_stats;

static int by_file_then_line(const void *a, const void *b)
{
    const ts_line_t *x = &sort_stats->lines[*(const uint32_t *)a];
    const ts_line_t *y = &sort_stats->lines[*(const uint32_t *)b];
    if (x->file != y->file)
        return (x->file > y->file) - (x->file < y->file);
    return (x->lineno > y->lineno) - (x->lineno < y->lineno);
}

static int by_file_then_time(const void *a, const void *b)
{
    const ts_func_t *x = &sort_stats->funcs[*(const uint32_t *)a];
    const ts_func_t *y = &sort_stats->funcs[*(const uint32_t *)b];
    if (x->file != y->file)
        return (x->file > y->file) - (x->file < y->file);
    uint64_t tx = ts_time_total(&x->time), ty = ts_time_total(&y->time);
    if (tx != ty)
        return tx < ty ? 1 : -1;
    return (x->lineno > y->lineno) - (x->lineno < y->lineno);
}

static uint32_t *sorted_ids(size_t count, int (*compare)(const void *, const void *))
{
    uint32_t *ids = malloc((count ? count : 1) * sizeof *ids);
    if (ids == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++)
        ids[i] = (uint32_t)i;
    qsort(ids, count, sizeof *ids, compare);
    return ids;
}

static int line_shown(const ts_line_t *line, uint64_t total, const ts_profile_meta_t *m)
{
    return !m->reduced_profile || pct(ts_time_total(&line->time), total) >= m->cpu_percent_threshold;
}

static void write_files(ts_json_t *j, const ts_stats_t *s, const ts_profile_meta_t *m,
                        const uint32_t *line_order, const uint32_t *func_order)
{
    uint64_t total = ts_time_total(&s->total);
    size_t li = 0, fi = 0;
    ts_json_key(j, "files");
    ts_json_begin_object(j);
    for (uint32_t file = 0; file < s->nfiles; file++) {
        size_t first_line = li, first_func = fi;
        int shown = 0;
        while (li < s->nlines && s->lines[line_order[li]].file == file)
            shown |= line_shown(&s->lines[line_order[li++]], total, m);
        while (fi < s->nfuncs && s->funcs[func_order[fi]].file == file)
            fi++;
        if (!s->files[file].profiled || !shown)
            continue;
        const char *path = ts_intern_str(&s->strings, s->files[file].path);
        source_t src;
        source_load(&src, path);
        ts_json_key(j, path);
        ts_json_begin_object(j);
        ts_json_key(j, "cpu_pct");
        ts_json_number(j, pct(ts_time_total(&s->files[file].time), total), PCT_DIGITS);
        time_fields(j, &s->files[file].time, total, "cpu_");
        ts_json_key(j, "lines");
        ts_json_begin_array(j);
        for (size_t k = first_line; k < li; k++) {
            const ts_line_t *line = &s->lines[line_order[k]];
            if (!line_shown(line, total, m))
                continue;
            const char *text;
            size_t len;
            source_line(&src, line->lineno, &text, &len);
            ts_json_begin_object(j);
            ts_json_key(j, "lineno"); ts_json_int(j, line->lineno);
            ts_json_key(j, "source"); ts_json_string_n(j, text, len);
            metric_fields(j, &line->time, total);
            ts_json_end_object(j);
        }
        ts_json_end_array(j);
        ts_json_key(j, "functions");
        ts_json_begin_array(j);
        for (size_t k = first_func; k < fi; k++) {
            const ts_func_t *func = &s->funcs[func_order[k]];
            if (ts_time_total(&func->time) == 0)
                continue;
            ts_json_begin_object(j);
            ts_json_key(j, "name"); ts_json_string(j, ts_intern_str(&s->strings, func->name));
            ts_json_key(j, "lineno"); ts_json_int(j, func->lineno);
            metric_fields(j, &func->time, total);
            ts_json_end_object(j);
        }
        ts_json_end_array(j);
        ts_json_end_object(j);
        source_free(&src);
    }
    ts_json_end_object(j);
}

static void write_stacks(ts_json_t *j, const ts_stats_t *s)
{
    ts_json_key(j, "stacks");
    ts_json_begin_array(j);
    for (size_t i = 0; i < s->nstacks; i++) {
        const ts_stack_t *stack = &s->stacks[i];
        ts_json_begin_object(j);
        ts_json_key(j, "frames");
        ts_json_begin_array(j);
        for (uint32_t d = 0; d < stack->depth; d++) {
            const ts_stack_frame_t *frame = &s->frame_pool[stack->first + d];
            const ts_func_t *func = &s->funcs[frame->func];
            ts_json_begin_array(j);
            ts_json_string(j, ts_intern_str(&s->strings, s->files[func->file].path));
            ts_json_string(j, ts_intern_str(&s->strings, func->name));
            ts_json_int(j, frame->lineno);
            ts_json_end_array(j);
        }
        ts_json_end_array(j);
        ts_json_key(j, "samples"); ts_json_int(j, (int64_t)stack->samples);
        ts_json_key(j, "seconds"); ts_json_number(j, (double)stack->ns / 1e9, SEC_DIGITS);
        ts_json_end_object(j);
    }
    ts_json_end_array(j);
}

int ts_profile_write(FILE *out, const ts_stats_t *s, const ts_profile_meta_t *m)
{
    uint64_t total = ts_time_total(&s->total);
    sort_stats = s;
    uint32_t *line_order = sorted_ids(s->nlines, by_file_then_line);
    uint32_t *func_order = sorted_ids(s->nfuncs, by_file_then_time);
    if (line_order == NULL || func_order == NULL) {
        free(line_order);
        free(func_order);
        return -1;
    }
    ts_json_t json, *j = &json;
    ts_json_init(j, out);
    ts_json_begin_object(j);
    ts_json_key(j, "schema"); ts_json_string(j, "triscope/1");
    ts_json_key(j, "version"); ts_json_string(j, m->version);
    ts_json_key(j, "program"); ts_json_string(j, m->program);
    ts_json_key(j, "args"); string_list(j, &m->args);
    ts_json_key(j, "python"); ts_json_string(j, m->python);
    ts_json_key(j, "pid"); ts_json_int(j, m->pid);
    ts_json_key(j, "elapsed_s"); ts_json_number(j, m->elapsed_s, SEC_DIGITS);
    ts_json_key(j, "cpu_sampling_interval_s"); ts_json_number(j, m->interval_s, SEC_DIGITS);
    ts_json_key(j, "samples"); ts_json_int(j, (int64_t)m->samples);
    ts_json_key(j, "thread_time_s"); ts_json_number(j, (double)total / 1e9, SEC_DIGITS);
    ts_json_key(j, "unattributed_pct");
    ts_json_number(j, pct(ts_time_total(&s->unattributed), total), PCT_DIGITS);
    ts_json_key(j, "totals");
    ts_json_begin_object(j);
    time_fields(j, &s->total, total, "cpu_");
    ts_json_end_object(j);
    write_options(j, m);
    write_threads(j, m);
    ts_json_key(j, "memory");
    ts_json_begin_object(j);
    ts_json_key(j, "enabled"); ts_json_bool(j, 0);
    ts_json_key(j, "max_footprint_mb"); ts_json_int(j, 0);
    ts_json_key(j, "timeline"); ts_json_begin_array(j); ts_json_end_array(j);
    ts_json_end_object(j);
    ts_json_key(j, "gpu");
    ts_json_begin_object(j);
    ts_json_key(j, "enabled"); ts_json_bool(j, 0);
    ts_json_key(j, "device"); ts_json_null(j);
    ts_json_end_object(j);
    write_files(j, s, m, line_order, func_order);
    ts_json_key(j, "leaks"); ts_json_begin_array(j); ts_json_end_array(j);
    write_stacks(j, s);
    ts_json_end_object(j);
    fputc('\n', out);
    free(line_order);
    free(func_order);
    return ts_json_finish(j);
}
