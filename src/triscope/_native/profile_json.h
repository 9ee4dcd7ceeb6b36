/* SPDX-License-Identifier: MIT
 *
 * profile_json.h — writes the canonical profile (schema "triscope/2", docs/PROFILE_FORMAT.md)
 * from the aggregated stats. Pure C, no Python: the caller gathers the run's facts into a
 * ts_profile_meta_t.
 */
#ifndef TS_PROFILE_JSON_H
#define TS_PROFILE_JSON_H

#include <stdint.h>
#include <stdio.h>

#include "filter.h"
#include "json_writer.h"
#include "gpu.h"
#include "stats.h"
#include "torchmem.h"

/* Lines first..last of a file (a function decorated with @profile). */
typedef struct {
    const char *path;
    uint32_t first, last;
} ts_line_range_t;

/* The lines a reduced profile keeps (--reduced-profile): the display rule's numbers, chosen
 * by reports/display.py, which alone owns what the thresholds mean (docs/PROFILE_FORMAT.md,
 * "Which lines are worth showing"). The writer applies them to the exact shares it holds. */
typedef struct {
    double cpu_pct;           /* a line with this share of the run's time is kept... */
    double mem_pct;           /* ...as is one with this share of all allocation... */
    uint64_t alloc_samples;   /* ...and at least this many allocation samples; 0: none is */
    double alloc_mb;          /* ...or this many MB allocated (one large allocation is one
                               * sample); 0: the sample count alone */
} ts_line_cut_t;

typedef struct {
    const char *version;          /* triscope's */
    const char *program;
    const char *string_source;    /* `python -c`: the code, source of "<string>"; or NULL */
    /* A source file's text from its bytes (those kept for quoting), as UTF-8 in a malloc'd
     * buffer whose length goes to *text_len; or NULL, and the bytes are quoted as they are.
     * How a file names its encoding is the language's business, not the writer's: module.c
     * asks Python. A NULL function: every file's bytes are quoted as they are. */
    char *(*decode_source)(void *context, const char *bytes, size_t len, size_t *text_len);
    void *decode_context;
    const char *python;
    ts_strlist_t args;
    long pid;
    double elapsed_s;
    double interval_s;
    uint64_t samples;
    int cpu, memory, gpu;         /* dimensions asked for */
    int gpu_asked;                /* --gpu given, not only the default mode's look for one */
    const ts_gpu_summary_t *gpu_summary; /* NULL: GPU not asked for */
    ts_torchmem_summary_t torch_allocator; /* PyTorch's allocator as read with the readings */
    int memory_native;            /* native allocations and copies seen (preload library) */
    uint64_t alloc_interval;      /* mean bytes between allocation samples */
    uint64_t signals_taken;       /* times the program's native code took one of our signals */
    uint64_t start_ns;            /* CLOCK_MONOTONIC at start: the zero of every timeline */
    uint64_t end_ns;
    double started_unix_s;        /* the wall clock at start (seconds since the epoch) */
    int virtual_time, stacks, profile_all;
    const ts_line_cut_t *kept_lines; /* --reduced-profile: the lines kept; NULL: all of them */
    int idle;                     /* --idle: idle threads' waiting counted */
    int idle_detected;            /* idle threads could be told apart */
    int cpu_wait_measured;        /* the kernel gave run-queue delays */
    int awaits_asked;             /* awaited time asked for (--async) */
    int awaits_measured;          /* and measured */
    const char *awaits_reason;    /* why not, or NULL */
    uint64_t awaits_dropped;      /* suspensions forgotten (a full table) */
    const ts_strlist_t *profile_only, *profile_exclude;
    double cpu_percent_threshold;  /* the reports' thresholds, recorded in `options` */
    long malloc_threshold;
    /* When non-empty, the functions decorated with @profile: lines and functions outside
     * these ranges are not part of the profile, as files outside --profile-only are not. */
    const ts_line_range_t *only_ranges;
    size_t nonly_ranges;
    const ts_thread_summary_t *threads;
    size_t nthreads;
    double overhead_rss_mb;       /* resident memory triscope had added as profiling began;
                                   * < 0: not measured (written as null) */
} ts_profile_meta_t;

/* The shares and sizes of a line, a function or a whole (the run's totals), as the profile's
 * fields (docs/PROFILE_FORMAT.md): cpu_python_pct, cpu_native_pct, cpu_system_pct (shares of
 * all measured time), cpu_samples, cpu_s, gpu_pct, gpu_mem_mb (gpu_allocated_mb where PyTorch's
 * allocator was read), alloc_mb, python_fraction, peak_mb, live_mb, mem_pct, alloc_samples. The profile and the live view's snapshot (live.h) both
 * write them through this one function. */
void ts_profile_share_fields(ts_json_t *json, const ts_time_t *time, const ts_mem_t *mem,
                             const ts_gpu_t *gpu, const ts_stats_t *stats);

/* Whether `line` belongs in the profile at all: its file is profiled and, when functions
 * carry @profile, it lies inside one of them (--reduced-profile's cut aside). */
int ts_profile_line_in_profile(const ts_stats_t *stats, const ts_line_t *line,
                               const ts_profile_meta_t *meta);

/* 0, or -1 when writing failed (errno from the stream). */
int ts_profile_write(FILE *out, const ts_stats_t *stats, const ts_profile_meta_t *meta);

#endif
