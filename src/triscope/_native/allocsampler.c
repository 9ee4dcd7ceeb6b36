/* SPDX-License-Identifier: MIT
 *
 * allocsampler.c — see allocsampler.h. Built into both the extension module (meson.build) and
 * the LD_PRELOAD library, where preload/preload.c includes this file into its own translation
 * unit so that the fast paths inline into malloc, free and memcpy. So: no Python API and no
 * libpython symbol here, ever (the preload runs in processes that are not Python).
 *
 * Runs inside malloc and free of every thread, so: no locks, no allocation after start
 * (queues and the live table are allocated by start()), one thread-local guard that makes
 * nested calls (our own work, Python's allocator calling malloc underneath) invisible.
 *
 * Sampling (tcmalloc/heapprofd style): each thread counts down a number of bytes drawn from
 * an exponential distribution with mean T; the allocation that crosses zero is sampled and
 * the countdown is drawn again. An allocation of s bytes is so sampled with probability
 * 1 − e^(−s/T), and weighting it by s / (1 − e^(−s/T)) makes every per-line sum an unbiased
 * estimate; blocks much larger than T are practically always sampled at their exact size.
 * The fast path is a subtraction and a branch.
 *
 * Live blocks: a sampled block's address goes into a lock-free table (blocktable.c) so its
 * free is recognised. Every free first checks a small array of per-page-hash counters
 * (64 KiB, cache resident): almost all frees see zero there and return without touching the
 * table.
 */
#define _GNU_SOURCE
#include "allocsampler.h"

#include "blocktable.h"
#include "clock.h"
#include "mpsc.h"
#include "random.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef TS_ALLOCSAMPLER_PRELOAD
/* The preload library is loaded at start-up: static TLS, no __tls_get_addr on the fast path. */
#  define TS_TLS __thread __attribute__((tls_model("initial-exec")))
#else
#  define TS_TLS __thread
#endif

#define LIVE_BLOCKS (1u << 17)         /* sampled blocks tracked at once */
#define FILTER_SIZE (1u << 16)         /* per-page-hash counters checked by every free */
#define SAMPLE_QUEUE 4096
#define FREE_QUEUE (1u << 16)

typedef struct {
    int guard;                /* > 0: do not sample (our own work, or nested in Python's) */
    int64_t alloc_countdown;  /* bytes to the next allocation sample */
    int64_t copy_countdown;   /* bytes to the next copy sample */
    uint64_t rng;             /* xorshift64* state; 0 until first use */
} thread_state_t;

static TS_TLS thread_state_t tls;
static _Atomic int enabled;
static double alloc_mean, copy_mean;
static ts_mem_walker_t walk_stack;
static ts_mpsc_t samples, frees;
static ts_blocktable_t live;
static int allocated;                  /* filter, live and the queues are (allocate_once) */
static _Atomic uint8_t *filter;
static _Atomic uint64_t next_id = 1;
static _Atomic uint64_t untracked;
/* The blocks in `live`, as a scalar of its own: every free of the process reads it first,
 * from the library's first moments on, and a sanitizer's build checks the shadow memory of
 * a struct member it reads (not of a scalar global), which does not exist yet while
 * AddressSanitizer sets itself up, freeing through us. */
static _Atomic uint64_t live_count;

/* ==== Random countdowns ==== */

static uint64_t next_random(thread_state_t *t)
{
    if (t->rng == 0)
        t->rng = (ts_now_ns() ^ (uintptr_t)t) | 1;
    return ts_random_next(&t->rng);
}

/* An exponential draw with the given mean, at least 1. */
static int64_t draw(thread_state_t *t, double mean)
{
    double uniform = ((double)(next_random(t) >> 11) + 0.5) / 9007199254740992.0;
    double value = -log(uniform) * mean;
    return value < 1.0 ? 1 : (int64_t)value;
}

/* ==== Live table ==== */

static size_t filter_of(uintptr_t address)
{
    uint64_t h = (uint64_t)(address >> 12) * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 48) & (FILTER_SIZE - 1);
}

/* The table and the filter's count of the block's page hash, which every free reads first. */
static int live_insert(uintptr_t address, uint64_t id)
{
    if (ts_blocktable_insert(&live, address, id) < 0)
        return -1;
    atomic_fetch_add_explicit(&live_count, 1, memory_order_relaxed);
    /* Saturated counters stay put: a false "maybe" only costs a table lookup. */
    _Atomic uint8_t *count = &filter[filter_of(address)];
    uint8_t c = atomic_load_explicit(count, memory_order_relaxed);
    while (c < 255 && !atomic_compare_exchange_weak_explicit(count, &c, c + 1,
                                                             memory_order_release,
                                                             memory_order_relaxed))
        ;
    return 0;
}

/* The sample id of a tracked block, removed from the table; 0 if not tracked. */
static uint64_t live_remove(uintptr_t address)
{
    uint64_t id = ts_blocktable_remove(&live, address);
    if (id == 0)
        return 0;
    atomic_fetch_sub_explicit(&live_count, 1, memory_order_relaxed);
    _Atomic uint8_t *count = &filter[filter_of(address)];
    uint8_t c = atomic_load_explicit(count, memory_order_relaxed);
    while (c > 0 && c < 255 && !atomic_compare_exchange_weak_explicit(count, &c, c - 1,
                                                                     memory_order_release,
                                                                     memory_order_relaxed))
        ;
    return id;
}

/* ==== Events ==== */

static void record_sample(thread_state_t *t, uint64_t id, uint64_t weight, ts_mem_kind_t kind)
{
    ts_mem_sample_t *sample = ts_mpsc_reserve(&samples);
    (void)t;
    if (sample == NULL)
        return;
    ts_walk_t walk = walk_stack(sample->frames, TS_MAX_DEPTH);
    sample->id = id;
    sample->time_ns = ts_now_ns();
    sample->weight = weight;
    sample->depth = walk.depth;
    sample->truncated = walk.truncated;
    sample->kind = (uint8_t)kind;
    ts_mpsc_commit(&samples, sample);
}

static uint64_t unbiased_weight(size_t size, double mean)
{
    double probability = -expm1(-(double)size / mean);
    return (uint64_t)((double)size / probability + 0.5);
}

static __attribute__((noinline)) void sample_alloc(thread_state_t *t, void *ptr, size_t size,
                                                   ts_mem_kind_t kind)
{
    t->guard++;
    if (t->rng == 0) {
        /* A thread's first countdown: drawn now, this allocation is not a sample. */
        t->alloc_countdown = draw(t, alloc_mean);
    } else {
        t->alloc_countdown = draw(t, alloc_mean);
        uint64_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
        if (live_insert((uintptr_t)ptr, id) < 0) {
            atomic_fetch_add_explicit(&untracked, 1, memory_order_relaxed);
            id = 0;
        }
        record_sample(t, id, unbiased_weight(size, alloc_mean), kind);
    }
    t->guard--;
}

/* Whether `size` bytes cross one of this thread's countdowns (`countdown`, its allocations'
 * or its copies'), counted down here: that allocation or copy is the sample. Nothing counts
 * while the thread is guarded or sampling is off. */
static inline int crosses_countdown(thread_state_t *t, int64_t *countdown, size_t size)
{
    if (t->guard || !atomic_load_explicit(&enabled, memory_order_relaxed))
        return 0;
    *countdown -= (int64_t)size;
    return __builtin_expect(*countdown <= 0, 0);
}

void ts_allocsampler_on_alloc(void *ptr, size_t size, ts_mem_kind_t kind)
{
    thread_state_t *t = &tls;
    if (ptr != NULL && crosses_countdown(t, &t->alloc_countdown, size))
        sample_alloc(t, ptr, size, kind);
}

/* Out of line so that every free's inlined check stays a few instructions. */
static __attribute__((noinline)) void forget_sampled(void *ptr)
{
    uint64_t id = live_remove((uintptr_t)ptr);
    if (id == 0)
        return;
    ts_mem_free_t *event = ts_mpsc_reserve(&frees);
    if (event == NULL)
        return; /* counted by the queue: the block will look alive */
    event->id = id;
    event->time_ns = ts_now_ns();
    ts_mpsc_commit(&frees, event);
}

/* Whether `ptr` may be a sampled block: almost every free reads only the block count and
 * one page-hash counter here and learns it is not. */
static inline int may_be_sampled(void *ptr)
{
    return ptr != NULL && atomic_load_explicit(&live_count, memory_order_relaxed) != 0 &&
           atomic_load_explicit(&filter[filter_of((uintptr_t)ptr)], memory_order_relaxed) != 0;
}

void ts_allocsampler_on_free(void *ptr)
{
    if (may_be_sampled(ptr))
        forget_sampled(ptr);
}

#ifdef TS_ALLOCSAMPLER_PRELOAD
/* Copies are seen only by the preload library's memcpy and memmove. */
static __attribute__((noinline)) void sample_copy(thread_state_t *t, size_t size)
{
    t->guard++;
    int first = t->rng == 0;
    t->copy_countdown = draw(t, copy_mean);
    if (!first)
        record_sample(t, 0, unbiased_weight(size, copy_mean), TS_MEM_COPY);
    t->guard--;
}

/* For the preload library's memcpy and memmove (which include this file): whether a copy of
 * `size` bytes is the sample, then given to sample_copy. Split so that every other copy ends
 * in a tail call of libc's. */
static inline int copy_crosses_countdown(size_t size)
{
    thread_state_t *t = &tls;
    return crosses_countdown(t, &t->copy_countdown, size);
}
#endif

int ts_allocsampler_guarded(void)
{
    return tls.guard;
}

/* ==== Python's allocator ==== */

/* A Python allocator domain as we wrap it: the original; the request sizes that may reach
 * libc (every size when 0: then every call runs under the guard); and the least size a
 * sampled request is made with (0: its own).
 *
 * In the preload library over pymalloc, Python's free is not wrapped at all: a sampled small
 * block is requested from pymalloc as a large one (TS_PYMALLOC_SMALL_REQUEST + 1 bytes), so
 * pymalloc takes it from malloc, and its free, wherever it comes from, reaches libc's free,
 * where the preload library forgets it. Every other block is pymalloc's and never sampled, so
 * a free of one has nothing to check (docs/ARCHITECTURE.md, Memory sampling). Elsewhere (the
 * built-in sampler, where libc's free is not ours; debug hooks; PYTHONMALLOC=malloc) frees
 * are wrapped and checked. */
typedef struct {
    ts_pyalloc_t original;
    size_t unguarded_up_to;
    size_t sampled_request_at_least;
} python_domain_t;

static python_domain_t python_domains[2];
static ts_pyarena_t python_arena;

static size_t sampled_request(const python_domain_t *domain, size_t size)
{
    return size < domain->sampled_request_at_least ? domain->sampled_request_at_least : size;
}

/* Large requests reach malloc underneath: those bytes are Python's, not native, so the
 * call runs under the guard. */
static __attribute__((noinline)) void *python_malloc_guarded(const python_domain_t *domain,
                                                             size_t size)
{
    tls.guard++;
    void *ptr = domain->original.malloc(domain->original.ctx, size);
    tls.guard--;
    ts_allocsampler_on_alloc(ptr, size, TS_MEM_PYTHON);
    return ptr;
}

/* The small request whose bytes crossed the countdown: allocated (as a large one where frees
 * are not wrapped, under the guard: the malloc underneath is Python's), then sampled. A
 * thread's first crossing only draws its countdown (sample_alloc). */
static __attribute__((noinline)) void *python_malloc_sampled(const python_domain_t *domain,
                                                             size_t size)
{
    thread_state_t *t = &tls;
    t->guard++;
    void *ptr = domain->original.malloc(domain->original.ctx, sampled_request(domain, size));
    t->guard--;
    if (ptr != NULL)
        sample_alloc(t, ptr, size, TS_MEM_PYTHON);
    return ptr;
}

/* The hot path, every small pymalloc request: the countdown is taken before the call, so
 * that all but the sampled request end in a tail call of Python's own allocator, with no
 * frame of ours (docs/ARCHITECTURE.md, Memory sampling: a third fewer instructions than
 * allocating first and checking after). A failed request still counts its bytes down: as
 * if it had been made, which the sampling's mean does not notice. */
static inline void *python_malloc(const python_domain_t *domain, size_t size)
{
    if (size > domain->unguarded_up_to)
        return python_malloc_guarded(domain, size);
    thread_state_t *t = &tls;
    if (crosses_countdown(t, &t->alloc_countdown, size))
        return python_malloc_sampled(domain, size);
    return domain->original.malloc(domain->original.ctx, size);
}

/* calloc and realloc decide on the sample before the call, so that a sampled block is made
 * with sampled_request's size; both run under the guard (either may reach libc). */
static void *python_calloc(const python_domain_t *domain, size_t nelem, size_t elsize)
{
    thread_state_t *t = &tls;
    size_t size;
    int sampled = !__builtin_mul_overflow(nelem, elsize, &size) &&
                  crosses_countdown(t, &t->alloc_countdown, size);
    t->guard++;
    void *ptr = sampled ? domain->original.calloc(domain->original.ctx, 1,
                                                  sampled_request(domain, size))
                        : domain->original.calloc(domain->original.ctx, nelem, elsize);
    t->guard--;
    if (sampled && ptr != NULL)
        sample_alloc(t, ptr, size, TS_MEM_PYTHON);
    return ptr;
}

static void *python_realloc(const python_domain_t *domain, void *old, size_t size)
{
    thread_state_t *t = &tls;
    int sampled = crosses_countdown(t, &t->alloc_countdown, size);
    t->guard++;
    void *ptr = domain->original.realloc(domain->original.ctx, old,
                                         sampled ? sampled_request(domain, size) : size);
    t->guard--;
    if (ptr != NULL) {
        ts_allocsampler_on_free(old);
        if (sampled)
            sample_alloc(t, ptr, size, TS_MEM_PYTHON);
    }
    return ptr;
}

/* A block that may be a sampled one: forgotten, then freed. */
static __attribute__((noinline)) void python_free_maybe_sampled(const python_domain_t *domain,
                                                               void *ptr)
{
    forget_sampled(ptr);
    domain->original.free(domain->original.ctx, ptr);
}

/* No guard needed: a libc free underneath finds the block already forgotten. Both ways end
 * in a tail call, so the common one (no sampled block on the block's page hash) has no
 * frame of ours. */
static inline void python_free(const python_domain_t *domain, void *ptr)
{
    if (__builtin_expect(may_be_sampled(ptr), 0)) {
        python_free_maybe_sampled(domain, ptr);
        return;
    }
    domain->original.free(domain->original.ctx, ptr);
}

/* One set of entry points per domain, each naming its domain's record directly: the wrapper
 * keeps the original allocator's ctx, so that where frees are not wrapped the original free
 * is installed as it is, called with the ctx it expects. */
#define PYTHON_DOMAIN_ENTRIES(slot)                                                            \
    static void *python_malloc_##slot(void *ctx, size_t size)                                  \
    {                                                                                          \
        (void)ctx;                                                                             \
        return python_malloc(&python_domains[slot], size);                                     \
    }                                                                                          \
    static void *python_calloc_##slot(void *ctx, size_t nelem, size_t elsize)                  \
    {                                                                                          \
        (void)ctx;                                                                             \
        return python_calloc(&python_domains[slot], nelem, elsize);                            \
    }                                                                                          \
    static void *python_realloc_##slot(void *ctx, void *old, size_t size)                      \
    {                                                                                          \
        (void)ctx;                                                                             \
        return python_realloc(&python_domains[slot], old, size);                               \
    }                                                                                          \
    static void python_free_##slot(void *ctx, void *ptr)                                       \
    {                                                                                          \
        (void)ctx;                                                                             \
        python_free(&python_domains[slot], ptr);                                               \
    }
PYTHON_DOMAIN_ENTRIES(0)
PYTHON_DOMAIN_ENTRIES(1)

static ts_pyalloc_t wrap_python(int slot, const ts_pyalloc_t *original, int pymalloc)
{
    static const ts_pyalloc_t entries[2] = {
        {NULL, python_malloc_0, python_calloc_0, python_realloc_0, python_free_0},
        {NULL, python_malloc_1, python_calloc_1, python_realloc_1, python_free_1},
    };
    python_domain_t *domain = &python_domains[slot];
    domain->original = *original;
    domain->unguarded_up_to = pymalloc & TS_PYMALLOC_SMALL_STAYS ? TS_PYMALLOC_SMALL_REQUEST : 0;
#ifdef TS_ALLOCSAMPLER_PRELOAD
    int frees_reach_libc =
        (pymalloc & TS_PYMALLOC_SMALL_STAYS) && (pymalloc & TS_PYMALLOC_UNWRAPPED);
#else
    int frees_reach_libc = 0;
#endif
    domain->sampled_request_at_least = frees_reach_libc ? TS_PYMALLOC_SMALL_REQUEST + 1 : 0;
    ts_pyalloc_t wrapper = entries[slot];
    wrapper.ctx = original->ctx;
    if (frees_reach_libc)
        wrapper.free = original->free;
    return wrapper;
}

static void *arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    tls.guard++;
    void *ptr = python_arena.alloc(python_arena.ctx, size);
    tls.guard--;
    return ptr;
}

static void arena_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    tls.guard++;
    python_arena.free(python_arena.ctx, ptr, size);
    tls.guard--;
}

static ts_pyarena_t wrap_arena(const ts_pyarena_t *original)
{
    python_arena = *original;
    ts_pyarena_t wrapper = {NULL, arena_alloc, arena_free};
    return wrapper;
}

/* ==== Control ==== */

/* The table, the filter and the queues, once (start may run again: a new profile). */
static int allocate_once(void)
{
    if (allocated)
        return 0;
    filter = calloc(FILTER_SIZE, sizeof *filter);
    if (filter == NULL || ts_blocktable_init(&live, LIVE_BLOCKS) < 0 ||
        ts_mpsc_init(&samples, SAMPLE_QUEUE, sizeof(ts_mem_sample_t)) < 0 ||
        ts_mpsc_init(&frees, FREE_QUEUE, sizeof(ts_mem_free_t)) < 0) {
        free((void *)filter);
        filter = NULL;
        ts_blocktable_free(&live);
        ts_mpsc_free(&samples);
        ts_mpsc_free(&frees);
        return -1;
    }
    allocated = 1;
    return 0;
}

static int start(uint64_t alloc_interval, uint64_t copy_interval, ts_mem_walker_t walker)
{
    tls.guard++;
    int failed = allocate_once() < 0;
    tls.guard--;
    if (failed)
        return -1;
    alloc_mean = (double)alloc_interval;
    copy_mean = (double)copy_interval;
    walk_stack = walker;
    atomic_store(&enabled, 1);
    return 0;
}

static void stop(void)
{
    atomic_store(&enabled, 0);
}

static void drain(void (*on_sample)(const ts_mem_sample_t *, void *),
                  void (*on_free)(const ts_mem_free_t *, void *), void *context)
{
    if (!allocated)
        return;
    tls.guard++;
    /* Merged by time, so live bytes rise and fall in the order they did (peaks and
     * timelines depend on it); each queue is already in time order per producer. */
    for (;;) {
        const ts_mem_sample_t *sample = ts_mpsc_peek(&samples);
        const ts_mem_free_t *event = ts_mpsc_peek(&frees);
        if (sample == NULL && event == NULL)
            break;
        if (event == NULL || (sample != NULL && sample->time_ns <= event->time_ns)) {
            on_sample(sample, context);
            ts_mpsc_release(&samples);
        } else {
            on_free(event, context);
            ts_mpsc_release(&frees);
        }
    }
    tls.guard--;
}

static void guard_enter(void)
{
    tls.guard++;
}

static void guard_leave(void)
{
    tls.guard--;
}

static uint64_t lost(void)
{
    if (!allocated)
        return 0;
    return atomic_load(&samples.dropped) + atomic_load(&frees.dropped) + atomic_load(&untracked);
}

static void after_fork_in_child(void)
{
    atomic_store(&enabled, 0);
}

static void set_enabled(int on)
{
    atomic_store(&enabled, on);
}

static const ts_mem_api_t api = {
    TS_MEM_API_VERSION,
#ifdef TS_ALLOCSAMPLER_PRELOAD
    1,
#else
    0,
#endif
    start, stop, wrap_python, wrap_arena, drain, guard_enter, guard_leave, lost,
    after_fork_in_child, set_enabled,
};

const ts_mem_api_t *ts_allocsampler_api(void)
{
    return &api;
}
