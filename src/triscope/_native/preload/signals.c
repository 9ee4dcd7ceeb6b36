/* SPDX-License-Identifier: MIT
 *
 * signals.c — the allocator library's part in guarding the profiler's signals (sigguard.h):
 * it interposes sigaction, signal, sigprocmask and pthread_sigmask so that the program's
 * native code, like its Python code, only ever changes its own view of a guarded signal and
 * never blocks one. Until the extension hands over its hook (and in a process that never
 * loads it: a child `ls`) every call goes straight to libc.
 *
 * It must never change what libc does for any other signal: those calls are passed through
 * untouched, to libc's own functions (found with dlsym(RTLD_NEXT) at load).
 */
#define _GNU_SOURCE
#include "../sigguard.h"
#include "hooks.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

#define EXPORT __attribute__((visibility("default")))

typedef int (*guard_action_fn)(int, const struct sigaction *, struct sigaction *);
typedef void (*guard_mask_fn)(int, sigset_t *);
TS_SIGNAL_HOOKS(TS_HOOK_PROTOTYPE)

/* libc's own functions, found at load. */
#define LIBC_POINTER(name, ret, params) static ret (*libc_##name) params;
TS_SIGNAL_HOOKS(LIBC_POINTER)
static _Atomic(guard_action_fn) guard_action;
static _Atomic(guard_mask_fn) guard_mask;

/* At load, or at the first call if another library's constructor calls first. */
__attribute__((constructor)) static void resolve_signal_functions(void)
{
    if (libc_sigaction != NULL)
        return;
#define LOOK_UP(name, ret, params) libc_##name = (__typeof__(libc_##name))dlsym(RTLD_NEXT, #name);
    TS_SIGNAL_HOOKS(LOOK_UP)
}

static void set_guard(guard_action_fn on_sigaction, guard_mask_fn on_mask)
{
    atomic_store(&guard_mask, on_mask);
    atomic_store(&guard_action, on_sigaction);
}

static int real_sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
    return libc_sigaction(signo, act, old);
}

static int real_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    return libc_pthread_sigmask(how, set, old);
}

EXPORT const ts_signal_api_t *triscope_signal_api(void)
{
    static const ts_signal_api_t api = {TS_SIGNAL_API_VERSION, real_sigaction, real_sigmask,
                                        set_guard};
    return libc_sigaction != NULL && libc_pthread_sigmask != NULL ? &api : NULL;
}

EXPORT int sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
    resolve_signal_functions();
    guard_action_fn guard = atomic_load(&guard_action);
    if (guard != NULL && guard(signo, act, old))
        return 0;
    return libc_sigaction(signo, act, old);
}

/* glibc's signal(): BSD semantics (the signal blocked in its handler, calls restarted). */
EXPORT __sighandler_t signal(int signo, __sighandler_t handler)
{
    resolve_signal_functions();
    guard_action_fn guard = atomic_load(&guard_action);
    if (guard == NULL || handler == SIG_ERR)
        return libc_signal(signo, handler);
    struct sigaction act, old;
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, signo);
    act.sa_flags = SA_RESTART;
    if (guard(signo, &act, &old))
        return old.sa_handler;
    return libc_signal(signo, handler);
}

/* A set the program blocks loses the guarded signals; the set it gets back is the real one. */
static const sigset_t *without_guarded(int how, const sigset_t *set, sigset_t *copy)
{
    guard_mask_fn guard = atomic_load(&guard_mask);
    if (guard == NULL || set == NULL)
        return set;
    *copy = *set;
    guard(how, copy);
    return copy;
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    resolve_signal_functions();
    sigset_t copy;
    return libc_pthread_sigmask(how, without_guarded(how, set, &copy), old);
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    resolve_signal_functions();
    sigset_t copy;
    return libc_sigprocmask(how, without_guarded(how, set, &copy), old);
}
