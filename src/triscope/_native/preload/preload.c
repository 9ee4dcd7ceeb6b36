/* SPDX-License-Identifier: MIT
 *
 * preload.c — libtriscope_preload.so, loaded with LD_PRELOAD by the triscope command when
 * memory is profiled. It interposes the malloc family, anonymous private mmap/munmap and
 * memcpy/memmove, calls the real libc functions underneath (the vectorised memcpy stays the
 * one doing the work), and reports each call to allocsampler.c. It does not link libpython: in a
 * process that is not Python (a child `ls`) it only passes calls through.
 *
 * Bootstrap: the real functions are found with dlsym(RTLD_NEXT) in a constructor; dlsym may
 * itself allocate, so until then allocations come from a small static pool that free()
 * recognises and ignores. Copies before then use a byte loop (this file is compiled with
 * -fno-builtin so that loop is not turned back into a memcpy call).
 *
 * Exported: the interposed libc names and `triscope_mem_api`; everything else is hidden.
 * allocsampler.c is compiled into this file (see the include below) rather than beside it.
 */
#define _GNU_SOURCE
/* One translation unit with the sampler, so its fast paths (a countdown and a branch) inline
 * into malloc, free and memcpy instead of costing a call on every one of them. */
#include "../allocsampler.c"
#include "hooks.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* The fortified copies have no public prototype. */
void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dst_size);
void *__memmove_chk(void *dst, const void *src, size_t n, size_t dst_size);

TS_ALLOCATOR_HOOKS(TS_HOOK_PROTOTYPE)

/* libc's own functions, found at load. */
#define REAL_POINTER(name, ret, params) static ret (*real_##name) params;
TS_ALLOCATOR_HOOKS(REAL_POINTER)

/* ==== Bootstrap pool ==== */

static unsigned char pool[64 * 1024] __attribute__((aligned(64)));
static size_t pool_used;
static int resolving;

static int from_pool(const void *ptr)
{
    return (const unsigned char *)ptr >= pool && (const unsigned char *)ptr < pool + sizeof pool;
}

static void *pool_alloc(size_t size)
{
    size_t start = (pool_used + 63) & ~(size_t)63;
    if (start + size > sizeof pool)
        return NULL;
    pool_used = start + size;
    return pool + start;
}

static void copy_bytes(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    } else {
        for (size_t i = n; i > 0; i--)
            d[i - 1] = s[i - 1];
    }
}

#define LOOK_UP(name, ret, params) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name);

__attribute__((constructor)) static void resolve_real_functions(void)
{
    if (real_free != NULL)
        return;
    resolving = 1;
    TS_ALLOCATOR_HOOKS(LOOK_UP)
    resolving = 0;
}

static int ready(void)
{
    if (real_free == NULL && !resolving)
        resolve_real_functions();
    return real_free != NULL && !resolving;
}

/* ==== The malloc family ==== */

/* What the real allocator does underneath one of our calls is part of the block we count,
 * never a second allocation: jemalloc maps its extents with mmap through the PLT (our mmap
 * below) and copies inside realloc with memcpy, where glibc calls its own internal copies.
 * Counting both more than doubled a preloaded jemalloc's footprint (docs/ARCHITECTURE.md,
 * "Other allocators"). The sampler's per-thread guard makes those nested calls invisible. */
static inline void enter_real_allocator(void)
{
    tls.guard++;
}

static inline void leave_real_allocator(void)
{
    tls.guard--;
}

EXPORT void *malloc(size_t size)
{
    if (!ready())
        return pool_alloc(size);
    enter_real_allocator();
    void *ptr = real_malloc(size);
    leave_real_allocator();
    ts_allocsampler_on_alloc(ptr, size, TS_MEM_NATIVE);
    return ptr;
}

EXPORT void *calloc(size_t nelem, size_t elsize)
{
    if (!ready())
        return pool_alloc(nelem * elsize); /* static storage is already zero */
    enter_real_allocator();
    void *ptr = real_calloc(nelem, elsize);
    leave_real_allocator();
    ts_allocsampler_on_alloc(ptr, nelem * elsize, TS_MEM_NATIVE);
    return ptr;
}

EXPORT void free(void *ptr)
{
    if (ptr == NULL || from_pool(ptr))
        return;
    ts_allocsampler_on_free(ptr);
    real_free(ptr);
}

EXPORT void *realloc(void *old, size_t size)
{
    if (from_pool(old) || !ready()) {
        void *ptr = ready() ? malloc(size) : pool_alloc(size);
        if (ptr != NULL && old != NULL) {
            size_t available = (size_t)(pool + sizeof pool - (unsigned char *)old);
            copy_bytes(ptr, old, size < available ? size : available);
        }
        return ptr;
    }
    enter_real_allocator();
    void *ptr = real_realloc(old, size);
    leave_real_allocator();
    if (ptr != NULL) {
        ts_allocsampler_on_free(old);
        ts_allocsampler_on_alloc(ptr, size, TS_MEM_NATIVE);
    }
    return ptr;
}

EXPORT void *reallocarray(void *old, size_t nelem, size_t elsize)
{
    size_t size;
    if (__builtin_mul_overflow(nelem, elsize, &size)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(old, size);
}

EXPORT void *memalign(size_t alignment, size_t size)
{
    if (!ready())
        return pool_alloc(size);
    enter_real_allocator();
    void *ptr = real_memalign(alignment, size);
    leave_real_allocator();
    ts_allocsampler_on_alloc(ptr, size, TS_MEM_NATIVE);
    return ptr;
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (!ready()) {
        *out = pool_alloc(size);
        return *out ? 0 : ENOMEM;
    }
    enter_real_allocator();
    int result = real_posix_memalign(out, alignment, size);
    leave_real_allocator();
    if (result == 0)
        ts_allocsampler_on_alloc(*out, size, TS_MEM_NATIVE);
    return result;
}

EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    if (!ready())
        return pool_alloc(size);
    enter_real_allocator();
    void *ptr = real_aligned_alloc(alignment, size);
    leave_real_allocator();
    ts_allocsampler_on_alloc(ptr, size, TS_MEM_NATIVE);
    return ptr;
}

EXPORT void *valloc(size_t size)
{
    if (!ready())
        return pool_alloc(size);
    enter_real_allocator();
    void *ptr = real_valloc(size);
    leave_real_allocator();
    ts_allocsampler_on_alloc(ptr, size, TS_MEM_NATIVE);
    return ptr;
}

EXPORT void *pvalloc(size_t size)
{
    if (!ready())
        return pool_alloc(size);
    enter_real_allocator();
    void *ptr = real_pvalloc(size);
    leave_real_allocator();
    ts_allocsampler_on_alloc(ptr, size, TS_MEM_NATIVE);
    return ptr;
}

/* ==== Anonymous mappings ==== */

EXPORT void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
    if (!ready())
        return (void *)syscall(SYS_mmap, addr, length, prot, flags, fd, offset);
    void *ptr = real_mmap(addr, length, prot, flags, fd, offset);
    /* File mappings are not allocations; shared anonymous ones are IPC, not heap. */
    if (ptr != MAP_FAILED && (flags & MAP_ANONYMOUS) && (flags & MAP_PRIVATE))
        ts_allocsampler_on_alloc(ptr, length, TS_MEM_NATIVE);
    return ptr;
}

EXPORT void *mmap64(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
    __attribute__((alias("mmap")));

EXPORT int munmap(void *addr, size_t length)
{
    if (!ready())
        return (int)syscall(SYS_munmap, addr, length);
    ts_allocsampler_on_free(addr);
    return real_munmap(addr, length);
}

/* ==== Copies ==== */

typedef void *(*copy_function_t)(void *dst, const void *src, size_t n);

/* Before the constructor has found libc's functions: the byte loop. */
static __attribute__((noinline)) void *copy_before_ready(void *dst, const void *src, size_t n)
{
    copy_bytes(dst, src, n);
    return dst;
}

static __attribute__((noinline)) void *copy_sampled(copy_function_t real, void *dst,
                                                    const void *src, size_t n)
{
    sample_copy(&tls, n);
    return real(dst, src, n);
}

/* Every copy but the sampled one ends in a tail call of libc's, with no frame of ours (as
 * Python's allocator wrappers do: docs/ARCHITECTURE.md, Memory sampling). */
static inline void *interposed_copy(copy_function_t real, void *dst, const void *src, size_t n)
{
    if (__builtin_expect(real == NULL, 0))
        return copy_before_ready(dst, src, n);
    if (copy_crosses_countdown(n))
        return copy_sampled(real, dst, src, n);
    return real(dst, src, n);
}

EXPORT void *memcpy(void *dst, const void *src, size_t n)
{
    return interposed_copy(real_memcpy, dst, src, n);
}

EXPORT void *memmove(void *dst, const void *src, size_t n)
{
    return interposed_copy(real_memmove, dst, src, n);
}

/* The fortified variants compilers emit with _FORTIFY_SOURCE. */
EXPORT void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dst_size)
{
    if (n > dst_size)
        abort(); /* what the fortified check exists for: never copy past the buffer */
    return memcpy(dst, src, n);
}

EXPORT void *__memmove_chk(void *dst, const void *src, size_t n, size_t dst_size)
{
    if (n > dst_size)
        abort();
    return memmove(dst, src, n);
}

/* ==== What the extension module looks for ==== */

EXPORT const ts_mem_api_t *triscope_mem_api(void)
{
    return ts_allocsampler_api();
}
