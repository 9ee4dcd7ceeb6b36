/* SPDX-License-Identifier: MIT
 *
 * allocsampler.h — sampling allocations and copies by bytes, and remembering sampled blocks
 * until they are freed. Built twice: into the LD_PRELOAD library (preload/preload.c feeds it
 * every malloc-family call, mmap and memcpy of the process) and into the extension module,
 * where without the preload it sees only Python's allocator. The extension finds the
 * preload's copy through the exported `triscope_mem_api` and uses it when present.
 *
 * No Python here: Python's allocator is wrapped through structures laid out like
 * PyMemAllocatorEx, which the extension hands over.
 */
#ifndef TS_ALLOCSAMPLER_H
#define TS_ALLOCSAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "frames.h"

typedef enum {
    TS_MEM_PYTHON = 0,  /* through Python's allocator (PyMem_Malloc, PyObject_Malloc) */
    TS_MEM_NATIVE = 1,  /* through malloc & co. or anonymous mmap, outside Python's allocator */
    TS_MEM_COPY = 2     /* bytes moved by memcpy/memmove */
} ts_mem_kind_t;

typedef struct {
    uint64_t id;             /* sample id, matched by its free event (0 for copies) */
    uint64_t time_ns;        /* CLOCK_MONOTONIC */
    uint64_t weight;         /* bytes this sample stands for (unbiased) */
    uint16_t depth;
    uint8_t kind;            /* ts_mem_kind_t */
    uint8_t truncated;
    ts_frame_t frames[TS_MAX_DEPTH];
} ts_mem_sample_t;

typedef struct {
    uint64_t id;
    uint64_t time_ns;
} ts_mem_free_t;

/* PyMemAllocatorEx's layout (stable since CPython 3.5). */
typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} ts_pyalloc_t;

/* PyObjectArenaAllocator's layout (stable since CPython 3.4). */
typedef struct {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
} ts_pyarena_t;

/* Requests up to this size are served by pymalloc's pools, which call no libc allocator
 * (new arenas come through the arena allocator, wrapped separately). */
#define TS_PYMALLOC_SMALL_REQUEST 512
/* What wrap_python may rely on. SMALL_STAYS: small requests never reach libc (not under
 * PYTHONMALLOC=malloc or debug hooks). UNWRAPPED: the allocator is pymalloc itself, with no
 * other hook (tracemalloc's, started with the interpreter) between, so a request's size is
 * seen by no one else. */
#define TS_PYMALLOC_SMALL_STAYS 1
#define TS_PYMALLOC_UNWRAPPED 2

typedef ts_walk_t (*ts_mem_walker_t)(ts_frame_t *out, int capacity);

/* The layout of ts_mem_api_t. The preload library and the extension are built together, but
 * a stale library can be preloaded by hand (or by an older triscope in a parent process), so
 * the extension reads `version` first and uses nothing else from a library whose version
 * differs. The first layout had no version: its first field, `preloaded`, read 1 there. Bump
 * this whenever ts_mem_api_t or anything it passes changes. */
#define TS_MEM_API_VERSION 3

typedef struct {
    uint32_t version; /* TS_MEM_API_VERSION; always the first field */
    int preloaded;  /* 1 in the LD_PRELOAD library: native allocations and copies are seen */
    /* Starts sampling with the given mean bytes between samples. 0 or -1. */
    int (*start)(uint64_t alloc_interval, uint64_t copy_interval, ts_mem_walker_t walker);
    void (*stop)(void);
    /* Returns the wrapper to install for a Python allocator domain whose current allocator
     * is `original` (slot 0: PYMEM_DOMAIN_MEM, 1: PYMEM_DOMAIN_OBJ). `pymalloc`: the
     * TS_PYMALLOC_* flags that hold for `original`. */
    ts_pyalloc_t (*wrap_python)(int slot, const ts_pyalloc_t *original, int pymalloc);
    /* The same for pymalloc's arena allocator: arenas are Python's memory, not native. */
    ts_pyarena_t (*wrap_arena)(const ts_pyarena_t *original);
    /* Hand queued samples / free events to the consumer (GIL held). */
    void (*drain)(void (*on_sample)(const ts_mem_sample_t *, void *),
                  void (*on_free)(const ts_mem_free_t *, void *), void *context);
    /* The calling thread's allocations stop/resume being sampled (the profiler's own). */
    void (*guard_enter)(void);
    void (*guard_leave)(void);
    /* Events lost to full queues, and sampled blocks not tracked (table full). */
    uint64_t (*lost)(void);
    /* In a forked child: stop sampling without touching the parent's threads' state. */
    void (*after_fork_in_child)(void);
    /* Suspends (0) or resumes (1) sampling after start; async-signal-safe. */
    void (*set_enabled)(int on);
} ts_mem_api_t;

/* Exported by the preload library only: the extension looks it up with dlsym. */
const ts_mem_api_t *triscope_mem_api(void);

/* This copy's API (the extension uses it when no preload is present). */
const ts_mem_api_t *ts_allocsampler_api(void);

/* Entry points for the preload's interposed functions. */
void ts_allocsampler_on_alloc(void *ptr, size_t size, ts_mem_kind_t kind);
void ts_allocsampler_on_free(void *ptr);
int ts_allocsampler_guarded(void);

#endif
