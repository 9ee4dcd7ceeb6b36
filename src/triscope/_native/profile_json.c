/* SPDX-License-Identifier: MIT
 *
 * profile_json.c — see profile_json.h. Every *_pct is a share of all measured thread time
 * (stats->total), so lines of all files plus unattributed_pct sum to 100 (docs/DEFINITIONS.md).
 * A reported file's bytes are read from disk here (a regular file only), once per profile
 * written (the code of `python -c`, "<string>", comes from the meta instead), and hashed
 * (sha256) on that pass, so that a tool reading the profile later can tell whether a path still
 * holds the file that was profiled; the caller's decode_source turns the same bytes into the
 * text whose lines are quoted, so the writer knows no source encoding. Every measured line is
 * written, and the reports decide what to show (reports/display.py); with `--reduced-profile`
 * only the lines that pass the cut the caller gives (ts_line_cut_t) are. Call stacks name their
 * frames by index into one table of distinct frames (write_frame_table).
 */
#include "profile_json.h"

#include "json_writer.h"
#include "leaks.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCT_DIGITS 4
#define SEC_DIGITS 6
/* Source files larger than this are not quoted in the profile (the lines still are). */
#define TS_MAX_SOURCE_BYTES (16u << 20)

typedef struct {
    char *text;
    size_t *starts;   /* offset of each line; starts[n] is one past the end */
    size_t nlines;
    char sha256[65];  /* of the file's bytes as read; "" when they could not all be read */
} source_t;

/* Where each line of the first `len` bytes of src->text begins. */
static void source_index(source_t *src, size_t len)
{
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

static void source_load(source_t *src, const char *path, const ts_profile_meta_t *m)
{
    memset(src, 0, sizeof *src);
    /* Only a regular file is read: a code object may name anything (a fifo, whose open
     * would wait for a writer forever and hold the program's exit; a device), and
     * O_NONBLOCK keeps the open itself from waiting, O_NOCTTY a terminal from becoming
     * the process's. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat status;
    FILE *f = NULL;
    if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode) || (f = fdopen(fd, "rb")) == NULL) {
        close(fd);
        return;
    }
    size_t cap = 0, len = 0;
    char chunk[65536];
    size_t n;
    /* Every byte is hashed, also past the part kept for quoting: `triscope optimize` sends a
     * file only while its hash is this one (docs/ARCHITECTURE.md, "Profiles are untrusted"). */
    ts_sha256_t hash;
    ts_sha256_init(&hash);
    int keeping = 1;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        ts_sha256_update(&hash, chunk, n);
        if (keeping && len + n > TS_MAX_SOURCE_BYTES)
            keeping = 0;
        if (keeping && len + n > cap) {
            cap = (len + n) * 2;
            char *grown = realloc(src->text, cap);
            if (grown == NULL)
                keeping = 0;
            else
                src->text = grown;
        }
        if (keeping) {
            memcpy(src->text + len, chunk, n);
            len += n;
        }
    }
    if (!ferror(f))
        ts_sha256_hex(&hash, src->sha256);
    fclose(f);
    /* The text quoted is decoded from the very bytes hashed, so the two cannot disagree. */
    size_t text_len = 0;
    char *text = len > 0 && m->decode_source != NULL
                     ? m->decode_source(m->decode_context, src->text, len, &text_len)
                     : NULL;
    if (text != NULL) {
        free(src->text);
        src->text = text;
        len = text_len;
    }
    source_index(src, len);
}

/* The source of `python -c CODE`, which CPython names "<string>": no file holds it, so the
 * code comes from the command line (ts_profile_meta_t.string_source). */
static void source_load_text(source_t *src, const char *code)
{
    memset(src, 0, sizeof *src);
    size_t len = strlen(code);
    src->text = malloc(len + 1);
    if (src->text == NULL)
        return;
    memcpy(src->text, code, len + 1);
    ts_sha256_t hash;
    ts_sha256_init(&hash);
    ts_sha256_update(&hash, code, len);
    ts_sha256_hex(&hash, src->sha256);
    source_index(src, len);
}

static void source_load_for(source_t *src, const char *path, const ts_profile_meta_t *m)
{
    if (m->string_source != NULL && strcmp(path, "<string>") == 0)
        source_load_text(src, m->string_source);
    else
        source_load(src, path, m);
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

/* A line's or function's share of all allocation. */
static double mem_pct(const ts_mem_t *mem, const ts_stats_t *s)
{
    double all_bytes = (double)s->mem_total.alloc_bytes;
    return all_bytes > 0 ? 100.0 * (double)mem->alloc_bytes / all_bytes : 0;
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

#define MB (1024.0 * 1024.0)
#define MB_DIGITS 3

static void timeline(ts_json_t *j, const ts_series_t *series, uint64_t start_ns)
{
    ts_json_begin_array(j);
    for (uint32_t i = 0; series != NULL && i < series->count; i++) {
        ts_json_begin_array(j);
        double t = series->t_ns[i] > start_ns ? (double)(series->t_ns[i] - start_ns) / 1e9 : 0;
        ts_json_number(j, t, SEC_DIGITS);
        ts_json_number(j, (double)series->value[i] / MB, MB_DIGITS);
        ts_json_end_array(j);
    }
    ts_json_end_array(j);
}

/* The shares and sizes of a line or function: time (a share of all measured time), GPU
 * (gpu_pct a share of all GPU-busy time; gpu_mem_mb the most GPU memory the process held
 * while sampled here) and memory allocated. The live view's snapshot (live.c) writes these
 * same fields through this function, so a share means one thing everywhere. */
void ts_profile_share_fields(ts_json_t *j, const ts_time_t *time, const ts_mem_t *mem,
                             const ts_gpu_t *gpu, const ts_stats_t *s)
{
    time_fields(j, time, ts_time_total(&s->total), "cpu_");
    ts_json_key(j, "cpu_samples"); ts_json_int(j, (int64_t)time->cpu_samples);
    ts_json_key(j, "cpu_s"); ts_json_number(j, (double)time->cpu_ns / 1e9, SEC_DIGITS);
    ts_json_key(j, "gpu_pct");
    ts_json_number(j, pct(gpu->busy_ns, s->gpu_total.busy_ns), PCT_DIGITS);
    ts_json_key(j, "gpu_mem_mb");
    ts_json_number(j, (double)gpu->peak_mem_bytes / MB, MB_DIGITS);
    if (s->gpu_allocator_seen) { /* only where the program used PyTorch's CUDA */
        ts_json_key(j, "gpu_allocated_mb");
        ts_json_number(j, (double)gpu->peak_allocated_bytes / MB, MB_DIGITS);
    }
    ts_json_key(j, "alloc_mb"); ts_json_number(j, (double)mem->alloc_bytes / MB, MB_DIGITS);
    ts_json_key(j, "python_fraction");
    ts_json_number(j, mem->alloc_bytes ? (double)mem->python_bytes / (double)mem->alloc_bytes : 0,
                   PCT_DIGITS);
    ts_json_key(j, "peak_mb"); ts_json_number(j, (double)mem->peak_bytes / MB, MB_DIGITS);
    ts_json_key(j, "live_mb");
    ts_json_number(j, mem->live_bytes > 0 ? (double)mem->live_bytes / MB : 0, MB_DIGITS);
    ts_json_key(j, "mem_pct"); ts_json_number(j, mem_pct(mem, s), PCT_DIGITS);
    ts_json_key(j, "alloc_samples"); ts_json_int(j, (int64_t)mem->samples);
}

/* The per-line figures Scalene's users read (docs/DEFINITIONS.md, "Core utilization" and
 * Memory): the share of the line's time its threads were computing, its live MB averaged
 * over the run, and how much they grew over the run's second half (the leak verdict's
 * growth, ts_leak_of). */
static void scalene_fields(ts_json_t *j, const ts_time_t *time, const ts_mem_t *mem,
                           const ts_profile_meta_t *m)
{
    uint64_t total = ts_time_total(time);
    uint64_t computing = time->ns[TS_TIME_PYTHON] + time->ns[TS_TIME_NATIVE];
    ts_json_key(j, "core_utilization");
    ts_json_number(j, total ? (double)computing / (double)total : 0, PCT_DIGITS);
    ts_json_key(j, "avg_mb");
    ts_json_number(j, ts_mem_average_live(mem, m->start_ns, m->end_ns) / MB, MB_DIGITS);
    int64_t middle_live = 0;
    if (mem->timeline != NULL && m->end_ns > m->start_ns)
        middle_live = ts_series_at(mem->timeline, m->start_ns + (m->end_ns - m->start_ns) / 2);
    ts_json_key(j, "growth_mb");
    ts_json_number(j, (double)(mem->live_bytes - middle_live) / MB, MB_DIGITS);
}

/* The metrics shared by lines and functions: the shares, then memory over time, copies and
 * the leak verdict. */
static void metric_fields(ts_json_t *j, const ts_time_t *time, const ts_mem_t *mem,
                          const ts_gpu_t *gpu, const ts_stats_t *s, const ts_profile_meta_t *m)
{
    double elapsed = m->elapsed_s > 0 ? m->elapsed_s : 1.0;
    ts_leak_t leak = ts_leak_of(mem, m->start_ns, m->end_ns);
    ts_profile_share_fields(j, time, mem, gpu, s);
    ts_json_key(j, "timeline"); timeline(j, mem->timeline, m->start_ns);
    ts_json_key(j, "copy_mb"); ts_json_number(j, (double)mem->copy_bytes / MB, MB_DIGITS);
    ts_json_key(j, "copy_mb_s");
    ts_json_number(j, (double)mem->copy_bytes / MB / elapsed, MB_DIGITS);
    ts_json_key(j, "leak_likelihood"); ts_json_number(j, leak.likelihood, PCT_DIGITS);
    ts_json_key(j, "leak_mb_s"); ts_json_number(j, leak.mb_s, MB_DIGITS);
    scalene_fields(j, time, mem, m);
}

/* A line's CPU samples over time (docs/PROFILE_FORMAT.md, "cpu_timeline"): where the axis
 * begins, relative to the profile's start, its buckets' width, and the line's count in each
 * bucket up to the last any line used. Absent for a line without CPU samples. */
static void cpu_timeline_field(ts_json_t *j, const ts_line_t *line, const ts_stats_t *s,
                               const ts_profile_meta_t *m)
{
    const ts_sample_axis_t *axis = &s->sample_axis;
    if (line->sample_times == NULL || axis->width_ns == 0)
        return;
    ts_json_key(j, "cpu_timeline");
    ts_json_begin_object(j);
    ts_json_key(j, "start_s");
    ts_json_number(j, axis->start_ns > m->start_ns ? (double)(axis->start_ns - m->start_ns) / 1e9
                                                   : 0, SEC_DIGITS);
    ts_json_key(j, "bucket_s"); ts_json_number(j, (double)axis->width_ns / 1e9, SEC_DIGITS);
    ts_json_key(j, "samples");
    ts_json_begin_array(j);
    for (uint32_t b = 0; b <= axis->last && b < TS_LINE_BUCKETS; b++)
        ts_json_int(j, line->sample_times[b]);
    ts_json_end_array(j);
    ts_json_end_object(j);
}

/* Awaited time is seconds, not a share: concurrent awaits overlap (docs/DEFINITIONS.md). */
static void await_field(ts_json_t *j, uint64_t await_ns)
{
    ts_json_key(j, "async_await_s"); ts_json_number(j, (double)await_ns / 1e9, SEC_DIGITS);
}

/* The run's GPU facts: which device, how it was measured, why it was not. */
static void write_gpu(ts_json_t *j, const ts_stats_t *s, const ts_profile_meta_t *m)
{
    const ts_gpu_summary_t *g = m->gpu_summary;
    int enabled = g != NULL && g->profiled;
    ts_json_key(j, "gpu");
    ts_json_begin_object(j);
    ts_json_key(j, "enabled"); ts_json_bool(j, enabled);
    ts_json_key(j, "device");
    if (enabled) ts_json_string(j, g->device); else ts_json_null(j);
    ts_json_key(j, "reason"); /* only where the user asked: the default mode looks quietly */
    if (!enabled && m->gpu_asked && g != NULL && g->reason != NULL)
        ts_json_string(j, g->reason);
    else ts_json_null(j);
    ts_json_key(j, "accounting");
    if (enabled) ts_json_string(j, g->accounting); else ts_json_null(j);
    ts_json_key(j, "busy_s"); ts_json_number(j, (double)s->gpu_total.busy_ns / 1e9, SEC_DIGITS);
    ts_json_key(j, "peak_mem_mb"); ts_json_number(j, enabled ? g->peak_mem_mb : 0, MB_DIGITS);
    ts_json_key(j, "unattributed_pct");
    ts_json_number(j, pct(s->gpu_unattributed.busy_ns, s->gpu_total.busy_ns), PCT_DIGITS);
    ts_json_key(j, "poll_cost_us"); ts_json_number(j, enabled ? g->poll_cost_us : 0, 3);
    ts_json_key(j, "poll_interval_s");
    ts_json_number(j, enabled ? g->poll_interval_s : 0, SEC_DIGITS);
    ts_json_key(j, "polls"); ts_json_int(j, enabled ? (int64_t)g->polls : 0);
    ts_json_key(j, "failed_polls"); ts_json_int(j, enabled ? (int64_t)g->failed_polls : 0);
    ts_json_key(j, "driver");
    if (enabled && g->driver != NULL && *g->driver) ts_json_string(j, g->driver);
    else ts_json_null(j);
    ts_json_key(j, "launch_blocking"); ts_json_bool(j, enabled && g->launch_blocking);
    ts_json_key(j, "allocator"); /* PyTorch's view, where the program used it (torchmem.h) */
    const ts_torchmem_summary_t *torch = &m->torch_allocator;
    if (enabled && torch->reads > 0) {
        ts_json_begin_object(j);
        ts_json_key(j, "source"); ts_json_string(j, "torch.cuda.memory_allocated");
        ts_json_key(j, "reads"); ts_json_int(j, (int64_t)torch->reads);
        ts_json_key(j, "peak_allocated_mb");
        ts_json_number(j, (double)torch->peak_allocated_bytes / MB, MB_DIGITS);
        ts_json_key(j, "peak_reserved_mb");
        ts_json_number(j, (double)torch->peak_reserved_bytes / MB, MB_DIGITS);
        ts_json_end_object(j);
    } else {
        ts_json_null(j);
    }
    ts_json_key(j, "visible_devices");
    if (g != NULL && g->visible != NULL) ts_json_string(j, g->visible); else ts_json_null(j);
    ts_json_key(j, "devices");
    ts_json_begin_array(j);
    for (unsigned int d = 0; enabled && d < g->ndevices; d++) {
        const ts_gpu_device_summary_t *device = &g->devices[d];
        ts_json_begin_object(j);
        ts_json_key(j, "index"); ts_json_int(j, device->nvml_index);
        ts_json_key(j, "cuda_index"); ts_json_int(j, device->cuda_index);
        ts_json_key(j, "name"); ts_json_string(j, device->name);
        ts_json_key(j, "uuid");
        if (*device->uuid) ts_json_string(j, device->uuid); else ts_json_null(j);
        ts_json_key(j, "busy_s"); ts_json_number(j, device->busy_s, SEC_DIGITS);
        ts_json_key(j, "peak_mem_mb"); ts_json_number(j, device->peak_mem_mb, MB_DIGITS);
        ts_json_end_object(j);
    }
    ts_json_end_array(j);
    ts_json_end_object(j);
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
    ts_json_key(j, "idle"); ts_json_bool(j, m->idle);
    ts_json_key(j, "async"); ts_json_bool(j, m->awaits_asked);
    ts_json_key(j, "stacks"); ts_json_bool(j, m->stacks);
    ts_json_key(j, "reduced_profile"); ts_json_bool(j, m->kept_lines != NULL);
    ts_json_key(j, "profile_all"); ts_json_bool(j, m->profile_all);
    ts_json_key(j, "profile_only"); string_list(j, m->profile_only);
    ts_json_key(j, "profile_exclude"); string_list(j, m->profile_exclude);
    ts_json_key(j, "cpu_percent_threshold");
    ts_json_number(j, m->cpu_percent_threshold, PCT_DIGITS);
    ts_json_key(j, "malloc_threshold"); ts_json_int(j, m->malloc_threshold);
    ts_json_end_object(j);
}

/* A thread's lane (docs/PROFILE_FORMAT.md, "Thread timelines"): where its first bucket
 * begins, relative to the profile's start, the buckets' width, and per kind the seconds of
 * each bucket. */
static void thread_timeline(ts_json_t *j, const ts_thread_summary_t *t, uint64_t start_ns)
{
    static const char *const kinds[TS_LANE_KINDS] = {"python", "native", "system", "cpu_wait",
                                                     "idle"};
    const ts_lane_t *lane = &t->timeline;
    uint64_t first_ns = t->axis.start_ns + (uint64_t)lane->first * t->axis.width_ns;
    ts_json_begin_object(j);
    /* The axis starts as sampling is set up, microseconds before the profile's own start. */
    ts_json_key(j, "start_s");
    ts_json_number(j, first_ns > start_ns ? (double)(first_ns - start_ns) / 1e9 : 0, SEC_DIGITS);
    ts_json_key(j, "bucket_s"); ts_json_number(j, (double)t->axis.width_ns / 1e9, SEC_DIGITS);
    for (int kind = 0; kind < TS_LANE_KINDS; kind++) {
        ts_json_key(j, kinds[kind]);
        ts_json_begin_array(j);
        for (uint32_t b = 0; b < lane->count; b++)
            ts_json_number(j, (double)lane->ns[b][kind] / 1e9, SEC_DIGITS);
        ts_json_end_array(j);
    }
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
        ts_json_key(j, "idle_s"); ts_json_number(j, (double)t->idle_ns / 1e9, SEC_DIGITS);
        ts_json_key(j, "timeline"); thread_timeline(j, t, m->start_ns);
        ts_json_end_object(j);
    }
    ts_json_end_array(j);
}

/* The threads that waited for work, and for how long (docs/PROFILE_FORMAT.md, "Idle threads
 * and waiting for a CPU"): left out of every percentage unless --idle. */
static void write_idle(ts_json_t *j, const ts_profile_meta_t *m)
{
    uint64_t idle_ns = 0;
    int64_t count = 0;
    for (size_t i = 0; i < m->nthreads; i++) {
        idle_ns += m->threads[i].idle_ns;
        count += m->threads[i].idle_ns > 0;
    }
    ts_json_key(j, "idle");
    ts_json_begin_object(j);
    ts_json_key(j, "measured"); ts_json_bool(j, m->idle_detected);
    ts_json_key(j, "threads"); ts_json_int(j, count);
    ts_json_key(j, "seconds"); ts_json_number(j, (double)idle_ns / 1e9, SEC_DIGITS);
    ts_json_end_object(j);
}

/* The line whose sampled allocation made the sampled live bytes peak (null: none did, or it
 * was made on no line of a profiled file). */
static void write_max_footprint_line(ts_json_t *j, const ts_stats_t *s)
{
    ts_json_key(j, "max_footprint_line");
    if (s->peak_line == UINT32_MAX || s->peak_line >= s->nlines) {
        ts_json_null(j);
        return;
    }
    const ts_line_t *line = &s->lines[s->peak_line];
    ts_json_begin_object(j);
    ts_json_key(j, "file");
    ts_json_string(j, ts_intern_str(&s->strings, s->files[line->file].path));
    ts_json_key(j, "lineno"); ts_json_int(j, line->lineno);
    ts_json_end_object(j);
}

/* Awaited time (docs/PROFILE_FORMAT.md, "Awaited time"): whether it was measured, why not,
 * and every line's added up. */
static void write_awaits(ts_json_t *j, const ts_stats_t *s, const ts_profile_meta_t *m)
{
    ts_json_key(j, "async");
    ts_json_begin_object(j);
    ts_json_key(j, "measured"); ts_json_bool(j, m->awaits_measured);
    ts_json_key(j, "reason");
    if (!m->awaits_measured && m->awaits_reason != NULL) ts_json_string(j, m->awaits_reason);
    else ts_json_null(j);
    ts_json_key(j, "seconds"); ts_json_number(j, (double)s->await_ns / 1e9, SEC_DIGITS);
    ts_json_key(j, "dropped"); ts_json_int(j, (int64_t)m->awaits_dropped);
    ts_json_end_object(j);
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

static int in_ranges(const ts_profile_meta_t *m, const char *path, uint32_t lineno)
{
    if (m->nonly_ranges == 0)
        return 1;
    for (size_t i = 0; i < m->nonly_ranges; i++) {
        const ts_line_range_t *range = &m->only_ranges[i];
        if (lineno >= range->first && lineno <= range->last && strcmp(range->path, path) == 0)
            return 1;
    }
    return 0;
}

/* The display rule (docs/PROFILE_FORMAT.md, "Which lines are worth showing") with the cut
 * given for --reduced-profile; reports/display.py holds the same rule for the reports. */
static int passes_cut(const ts_line_cut_t *cut, const ts_stats_t *s, const ts_line_t *line,
                      uint64_t total)
{
    return pct(ts_time_total(&line->time), total) >= cut->cpu_pct ||
           (line->await_ns > 0 && (total == 0 || pct(line->await_ns, total) >= cut->cpu_pct)) ||
           (cut->alloc_samples > 0 && mem_pct(&line->mem, s) >= cut->mem_pct &&
            (line->mem.samples >= cut->alloc_samples ||
             (cut->alloc_mb > 0 && (double)line->mem.alloc_bytes / MB >= cut->alloc_mb)));
}

int ts_profile_line_in_profile(const ts_stats_t *s, const ts_line_t *line,
                               const ts_profile_meta_t *m)
{
    return s->files[line->file].profiled &&
           in_ranges(m, ts_intern_str(&s->strings, s->files[line->file].path), line->lineno);
}

static int line_written(const ts_stats_t *s, const ts_line_t *line, uint64_t total,
                        const ts_profile_meta_t *m)
{
    return in_ranges(m, ts_intern_str(&s->strings, s->files[line->file].path), line->lineno) &&
           (m->kept_lines == NULL || passes_cut(m->kept_lines, s, line, total));
}

/* The sources of the files a profile quotes, read and decoded before the stats are walked.
 * decode_source is Python, and while Python runs the profiler's GIL work may run too (a
 * pending call between two bytecodes, the consumer thread while an import lets go of the
 * GIL, the death of a code object): it drains the queues into the stats, growing the tables
 * a walk would be reading (a checkpoint crashed so, on a first decode that imported
 * tokenize). So every Python call is made here, holding nothing of the stats across one,
 * and the walk after makes none. */
typedef struct {
    source_t *of_file;       /* by file id */
    unsigned char *loaded;   /* of_file[i] was read (it may still be empty: unreadable) */
    uint32_t nfiles;         /* the files there were when the sources were read */
} sources_t;

static void sources_load(sources_t *out, const ts_stats_t *s, const ts_profile_meta_t *m)
{
    uint32_t nfiles = s->nfiles;
    size_t nlines = s->nlines;
    uint64_t total = ts_time_total(&s->total);
    memset(out, 0, sizeof *out);
    out->of_file = calloc(nfiles ? nfiles : 1, sizeof *out->of_file);
    out->loaded = calloc(nfiles ? nfiles : 1, 1);
    if (out->of_file == NULL || out->loaded == NULL)
        return;
    out->nfiles = nfiles;
    unsigned char *shown = out->loaded; /* first: which files have a line to write */
    for (size_t i = 0; i < nlines; i++)
        if (s->lines[i].file < nfiles && line_written(s, &s->lines[i], total, m))
            shown[s->lines[i].file] = 1;
    for (uint32_t file = 0; file < nfiles; file++) {
        if (shown[file] && !s->files[file].profiled)
            shown[file] = 0;
        if (!shown[file])
            continue;
        char *path = strdup(ts_intern_str(&s->strings, s->files[file].path));
        if (path == NULL) {
            shown[file] = 0;
            continue;
        }
        source_load_for(&out->of_file[file], path, m); /* Python: the stats may grow */
        free(path);
    }
}

static void sources_free(sources_t *sources)
{
    for (uint32_t file = 0; file < sources->nfiles; file++)
        if (sources->loaded[file])
            source_free(&sources->of_file[file]);
    free(sources->of_file);
    free(sources->loaded);
}

static void write_files(ts_json_t *j, const ts_stats_t *s, const ts_profile_meta_t *m,
                        const uint32_t *line_order, const uint32_t *func_order,
                        const sources_t *sources)
{
    uint64_t total = ts_time_total(&s->total);
    size_t li = 0, fi = 0;
    ts_json_key(j, "files");
    ts_json_begin_object(j);
    for (uint32_t file = 0; file < s->nfiles; file++) {
        size_t first_line = li, first_func = fi;
        int shown = 0;
        while (li < s->nlines && s->lines[line_order[li]].file == file)
            shown |= line_written(s, &s->lines[line_order[li++]], total, m);
        while (fi < s->nfuncs && s->funcs[func_order[fi]].file == file)
            fi++;
        if (!s->files[file].profiled || !shown)
            continue;
        const char *path = ts_intern_str(&s->strings, s->files[file].path);
        /* A file that had no line to write when the sources were read quotes its bytes as
         * they are: decoding them would call Python here. */
        source_t unread;
        const source_t *src = &unread;
        if (file < sources->nfiles && sources->loaded[file]) {
            src = &sources->of_file[file];
        } else {
            ts_profile_meta_t undecoded = *m;
            undecoded.decode_source = NULL;
            source_load_for(&unread, path, &undecoded);
        }
        ts_json_key(j, path);
        ts_json_begin_object(j);
        ts_json_key(j, "sha256");
        if (src->sha256[0]) ts_json_string(j, src->sha256); else ts_json_null(j);
        ts_json_key(j, "cpu_pct");
        ts_json_number(j, pct(ts_time_total(&s->files[file].time), total), PCT_DIGITS);
        time_fields(j, &s->files[file].time, total, "cpu_");
        ts_json_key(j, "lines");
        ts_json_begin_array(j);
        for (size_t k = first_line; k < li; k++) {
            const ts_line_t *line = &s->lines[line_order[k]];
            if (!line_written(s, line, total, m))
                continue;
            const char *text;
            size_t len;
            source_line(src, line->lineno, &text, &len);
            ts_json_begin_object(j);
            ts_json_key(j, "lineno"); ts_json_int(j, line->lineno);
            ts_json_key(j, "source"); ts_json_string_n(j, text, len);
            metric_fields(j, &line->time, &line->mem, &line->gpu, s, m);
            await_field(j, line->await_ns);
            cpu_timeline_field(j, line, s, m);
            ts_json_end_object(j);
        }
        ts_json_end_array(j);
        ts_json_key(j, "functions");
        ts_json_begin_array(j);
        for (size_t k = first_func; k < fi; k++) {
            const ts_func_t *func = &s->funcs[func_order[k]];
            if ((ts_time_total(&func->time) == 0 && func->mem.samples == 0 &&
                 func->mem.copy_bytes == 0 && func->await_ns == 0) ||
                !in_ranges(m, path, func->lineno))
                continue;
            ts_json_begin_object(j);
            ts_json_key(j, "name"); ts_json_string(j, ts_intern_str(&s->strings, func->name));
            ts_json_key(j, "lineno"); ts_json_int(j, func->lineno);
            metric_fields(j, &func->time, &func->mem, &func->gpu, s, m);
            await_field(j, func->await_ns);
            ts_json_end_object(j);
        }
        ts_json_end_array(j);
        ts_json_end_object(j);
        if (src == &unread)
            source_free(&unread);
    }
    ts_json_end_object(j);
}

static void write_leaks(ts_json_t *j, const ts_stats_t *s, const ts_profile_meta_t *m,
                        const uint32_t *line_order)
{
    ts_json_key(j, "leaks");
    ts_json_begin_array(j);
    for (size_t k = 0; k < s->nlines; k++) {
        const ts_line_t *line = &s->lines[line_order[k]];
        ts_leak_t leak = ts_leak_of(&line->mem, m->start_ns, m->end_ns);
        const char *path = ts_intern_str(&s->strings, s->files[line->file].path);
        if (!leak.leaking || !s->files[line->file].profiled || !in_ranges(m, path, line->lineno))
            continue;
        ts_json_begin_object(j);
        ts_json_key(j, "file");
        ts_json_string(j, path);
        ts_json_key(j, "lineno"); ts_json_int(j, line->lineno);
        ts_json_key(j, "likelihood"); ts_json_number(j, leak.likelihood, PCT_DIGITS);
        ts_json_key(j, "mb_s"); ts_json_number(j, leak.mb_s, MB_DIGITS);
        ts_json_end_object(j);
    }
    ts_json_end_array(j);
}

/* ==== The frame table ====
 *
 * The stacks of a deep program repeat the same frames over and over (a pytest session: 580
 * stacks of 38 frames on average, 880 distinct frames among their 22,000), so each distinct
 * (file, function, line) is written once, in `stack_frames`, and a stack's frames are indices
 * into it (docs/PROFILE_FORMAT.md). The table is in the order the stacks first use a frame,
 * so the same stats always give the same output. Two function ids with the same file and
 * name (two functions of one qualified name, told apart by their first lines) share their
 * frames: the table holds what the profile can tell apart, the triple, once. */
typedef struct {
    uint32_t *index;            /* frame pool position → its entry in the table */
    ts_stack_frame_t *entries;  /* (function, line), the function the first of its name */
    size_t count;
} frame_table_t;

static void frame_table_free(frame_table_t *t)
{
    free(t->index);
    free(t->entries);
}

/* 0, or -1 when memory ran out (errno ENOMEM; the table is then empty). */
static int frame_table_build(frame_table_t *t, const ts_stats_t *s)
{
    memset(t, 0, sizeof *t);
    ts_map_t by_name, by_frame;  /* (file, name) → first function; (function, line) → entry */
    ts_map_init(&by_name);
    ts_map_init(&by_frame);
    size_t size = s->nframes ? s->nframes : 1;
    t->index = malloc(size * sizeof *t->index);
    t->entries = malloc(size * sizeof *t->entries);
    int result = t->index != NULL && t->entries != NULL ? 0 : -1;
    for (size_t i = 0; i < s->nstacks && result == 0; i++) {
        const ts_stack_t *stack = &s->stacks[i];
        for (uint32_t d = 0; d < stack->depth && result == 0; d++) {
            const ts_stack_frame_t *frame = &s->frame_pool[stack->first + d];
            const ts_func_t *func = &s->funcs[frame->func];
            uint64_t name_key = (uint64_t)func->file << 32 | func->name;
            uint32_t first, entry = 0;
            if (!ts_map_get(&by_name, name_key, &first)) {
                first = frame->func;
                result = ts_map_put(&by_name, name_key, first);
            }
            uint64_t frame_key = (uint64_t)first << 32 | frame->lineno;
            if (result == 0 && !ts_map_get(&by_frame, frame_key, &entry)) {
                entry = (uint32_t)t->count;
                t->entries[t->count++] = (ts_stack_frame_t){first, frame->lineno};
                result = ts_map_put(&by_frame, frame_key, entry);
            }
            t->index[stack->first + d] = entry;
        }
    }
    ts_map_free(&by_name);
    ts_map_free(&by_frame);
    if (result < 0) {
        frame_table_free(t);
        memset(t, 0, sizeof *t);
        errno = ENOMEM;
    }
    return result;
}

/* `stack_frames`: the table, each entry [file, function, lineno]. */
static void write_frame_table(ts_json_t *j, const ts_stats_t *s, const frame_table_t *t)
{
    ts_json_key(j, "stack_frames");
    ts_json_begin_array(j);
    for (size_t i = 0; i < t->count; i++) {
        const ts_func_t *func = &s->funcs[t->entries[i].func];
        ts_json_begin_array(j);
        ts_json_string(j, ts_intern_str(&s->strings, s->files[func->file].path));
        ts_json_string(j, ts_intern_str(&s->strings, func->name));
        ts_json_int(j, t->entries[i].lineno);
        ts_json_end_array(j);
    }
    ts_json_end_array(j);
}

/* Every call stack, its frames as indices into the table, outermost first, with its time
 * and, when memory was profiled, its memory: allocated, and live at the run's maximum
 * footprint (docs/PROFILE_FORMAT.md, the memory flame graph). */
static void write_stacks(ts_json_t *j, const ts_stats_t *s, const ts_profile_meta_t *m,
                         const frame_table_t *t)
{
    ts_json_key(j, "stacks");
    ts_json_begin_array(j);
    for (size_t i = 0; i < s->nstacks; i++) {
        const ts_stack_t *stack = &s->stacks[i];
        ts_json_begin_object(j);
        ts_json_key(j, "frames");
        ts_json_begin_array(j);
        for (uint32_t d = 0; d < stack->depth; d++)
            ts_json_int(j, t->index[stack->first + d]);
        ts_json_end_array(j);
        ts_json_key(j, "samples"); ts_json_int(j, (int64_t)stack->samples);
        ts_json_key(j, "seconds"); ts_json_number(j, (double)stack->ns / 1e9, SEC_DIGITS);
        if (m->memory) {
            int64_t peak = ts_stats_stack_peak_bytes(s, stack);
            ts_json_key(j, "alloc_mb");
            ts_json_number(j, (double)stack->alloc_bytes / MB, MB_DIGITS);
            ts_json_key(j, "peak_mb");
            ts_json_number(j, peak > 0 ? (double)peak / MB : 0.0, MB_DIGITS);
        }
        ts_json_end_object(j);
    }
    ts_json_end_array(j);
}

int ts_profile_write(FILE *out, const ts_stats_t *s, const ts_profile_meta_t *m)
{
    sources_t sources;
    sources_load(&sources, s, m); /* first: the last Python this write calls */
    uint64_t total = ts_time_total(&s->total);
    sort_stats = s;
    uint32_t *line_order = sorted_ids(s->nlines, by_file_then_line);
    uint32_t *func_order = sorted_ids(s->nfuncs, by_file_then_time);
    frame_table_t frames;
    if (line_order == NULL || func_order == NULL || frame_table_build(&frames, s) < 0) {
        free(line_order);
        free(func_order);
        sources_free(&sources);
        return -1;
    }
    ts_json_t json, *j = &json;
    ts_json_init(j, out);
    ts_json_begin_object(j);
    ts_json_key(j, "schema"); ts_json_string(j, "triscope/2");
    ts_json_key(j, "version"); ts_json_string(j, m->version);
    ts_json_key(j, "program"); ts_json_string(j, m->program);
    ts_json_key(j, "args"); string_list(j, &m->args);
    ts_json_key(j, "python"); ts_json_string(j, m->python);
    ts_json_key(j, "pid"); ts_json_int(j, m->pid);
    ts_json_key(j, "elapsed_s"); ts_json_number(j, m->elapsed_s, SEC_DIGITS);
    ts_json_key(j, "started_at"); ts_json_number(j, m->started_unix_s, SEC_DIGITS);
    ts_json_key(j, "cpu_sampling_interval_s"); ts_json_number(j, m->interval_s, SEC_DIGITS);
    ts_json_key(j, "samples"); ts_json_int(j, (int64_t)m->samples);
    ts_json_key(j, "signals_taken"); ts_json_int(j, (int64_t)m->signals_taken);
    ts_json_key(j, "thread_time_s"); ts_json_number(j, (double)total / 1e9, SEC_DIGITS);
    ts_json_key(j, "unattributed_pct");
    ts_json_number(j, pct(ts_time_total(&s->unattributed), total), PCT_DIGITS);
    ts_json_key(j, "cpu_wait_pct");
    if (m->cpu_wait_measured) ts_json_number(j, pct(s->cpu_wait_ns, total), PCT_DIGITS);
    else ts_json_null(j);
    write_idle(j, m);
    write_awaits(j, s, m);
    ts_json_key(j, "overhead");
    ts_json_begin_object(j);
    ts_json_key(j, "rss_mb");
    if (m->overhead_rss_mb >= 0) ts_json_number(j, m->overhead_rss_mb, MB_DIGITS);
    else ts_json_null(j);
    ts_json_end_object(j);
    ts_json_key(j, "totals");
    ts_json_begin_object(j);
    time_fields(j, &s->total, total, "cpu_");
    ts_json_end_object(j);
    write_options(j, m);
    write_threads(j, m);
    ts_json_key(j, "memory");
    ts_json_begin_object(j);
    ts_json_key(j, "enabled"); ts_json_bool(j, m->memory);
    ts_json_key(j, "native"); ts_json_bool(j, m->memory && m->memory_native);
    ts_json_key(j, "sampling_interval_bytes"); ts_json_int(j, (int64_t)m->alloc_interval);
    ts_json_key(j, "max_footprint_mb");
    ts_json_number(j, (double)s->mem_total.peak_bytes / MB, MB_DIGITS);
    ts_json_key(j, "alloc_mb");
    ts_json_number(j, (double)s->mem_total.alloc_bytes / MB, MB_DIGITS);
    ts_json_key(j, "copy_mb");
    ts_json_number(j, (double)s->mem_total.copy_bytes / MB, MB_DIGITS);
    ts_json_key(j, "timeline"); timeline(j, s->mem_total.timeline, m->start_ns);
    ts_json_end_object(j);
    write_max_footprint_line(j, s);
    write_gpu(j, s, m);
    write_files(j, s, m, line_order, func_order, &sources);
    write_leaks(j, s, m, line_order);
    /* Last, the frame table first: the launcher reads the rest without them for its reports
     * (launch._without_stacks). */
    write_frame_table(j, s, &frames);
    write_stacks(j, s, m, &frames);
    ts_json_end_object(j);
    fputc('\n', out);
    free(line_order);
    free(func_order);
    sources_free(&sources);
    frame_table_free(&frames);
    return ts_json_finish(j);
}
