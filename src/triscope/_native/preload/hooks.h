/* SPDX-License-Identifier: MIT
 *
 * hooks.h — every libc function the allocator library interposes, listed once, as
 * X(name, return type, parameter types). Each list expands, in the file that defines those
 * functions, into the exported prototypes (which the compiler checks against libc's own),
 * the pointers to libc's real functions, and their dlsym(RTLD_NEXT) lookups. Adding a hook
 * is a line here and its definition there.
 *
 * Also exported, but not looked up: mmap64 (an alias of our mmap) and the fortified
 * __memcpy_chk/__memmove_chk, which check their bound and call our memcpy/memmove.
 */
#ifndef TS_PRELOAD_HOOKS_H
#define TS_PRELOAD_HOOKS_H

/* preload.c: what the program allocates, maps and copies. */
#define TS_ALLOCATOR_HOOKS(X)                                      \
    X(malloc, void *, (size_t))                                    \
    X(calloc, void *, (size_t, size_t))                            \
    X(realloc, void *, (void *, size_t))                           \
    X(free, void, (void *))                                        \
    X(memalign, void *, (size_t, size_t))                          \
    X(posix_memalign, int, (void **, size_t, size_t))              \
    X(aligned_alloc, void *, (size_t, size_t))                     \
    X(valloc, void *, (size_t))                                    \
    X(pvalloc, void *, (size_t))                                   \
    X(reallocarray, void *, (void *, size_t, size_t))              \
    X(mmap, void *, (void *, size_t, int, int, int, off_t))        \
    X(munmap, int, (void *, size_t))                               \
    X(memcpy, void *, (void *, const void *, size_t))              \
    X(memmove, void *, (void *, const void *, size_t))

/* signals.c: how the program's native code sets and blocks signals (sigguard.h). */
#define TS_SIGNAL_HOOKS(X)                                         \
    X(sigaction, int, (int, const struct sigaction *, struct sigaction *)) \
    X(signal, __sighandler_t, (int, __sighandler_t))               \
    X(sigprocmask, int, (int, const sigset_t *, sigset_t *))       \
    X(pthread_sigmask, int, (int, const sigset_t *, sigset_t *))

/* Exported: the library is built with -fvisibility=hidden. */
#define TS_HOOK_PROTOTYPE(name, ret, params) __attribute__((visibility("default"))) ret name params;

#endif
