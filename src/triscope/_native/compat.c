/* SPDX-License-Identifier: MIT
 *
 * compat.c — the parts of the version layer (compat.h) that are code rather than names:
 * how the death of a code object is watched, how the main thread is asked to run a pending
 * call, and how the launcher's frames are hidden from the program it runs. Every
 * PY_VERSION_HEX test outside compat.h is here; the callers see one function per purpose.
 * Uses the Python API (GIL held) except where a function says it needs no GIL, and nothing
 * else of the core.
 */
#define TS_WANT_RUNTIME_LAYOUT
#include "compat.h"

#include <unistd.h>

static void (*before_death)(PyCodeObject *code);

#if PY_VERSION_HEX >= 0x030C0000

static int watcher_id = -1;

static int on_code_event(PyCodeEvent event, PyCodeObject *code)
{
    if (event == PY_CODE_EVENT_DESTROY)
        before_death(code);
    return 0;
}

int ts_compat_watch_code_deaths(void (*callback)(PyCodeObject *code))
{
    before_death = callback;
    if (watcher_id < 0) {
        watcher_id = PyCode_AddWatcher(on_code_event);
        if (watcher_id < 0)
            return -1;
    }
    return 0;
}

void ts_compat_unwatch_code_deaths(void)
{
    if (watcher_id >= 0) {
        PyCode_ClearWatcher(watcher_id);
        watcher_id = -1;
    }
}

#else /* 3.11: no code watchers */

static destructor original_code_dealloc;

static void guarded_code_dealloc(PyObject *code)
{
    before_death((PyCodeObject *)code);
    original_code_dealloc(code);
}

int ts_compat_watch_code_deaths(void (*callback)(PyCodeObject *code))
{
    before_death = callback;
    if (original_code_dealloc == NULL) {
        original_code_dealloc = PyCode_Type.tp_dealloc;
        PyCode_Type.tp_dealloc = guarded_code_dealloc;
    }
    return 0;
}

void ts_compat_unwatch_code_deaths(void)
{
    /* Left in place: a code object already inside the wrapper would otherwise return into
     * a replaced pointer. */
}

#endif

/* ==== The main thread and pending calls ==== */

PyThreadState *ts_compat_main_thread_state(void)
{
    PyInterpreterState *interp = PyInterpreterState_Main();
    for (PyThreadState *t = PyInterpreterState_ThreadHead(interp); t != NULL;
         t = PyThreadState_Next(t))
        if (t->native_thread_id == (unsigned long)getpid())
            return t;
    return NULL;
}

static struct _gil_runtime_state *the_gil(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyInterpreterState_Main()->ceval.gil;
#else
    return &_PyRuntime.ceval.gil;
#endif
}

int ts_compat_gil_held_by(const PyThreadState *tstate)
{
    struct _gil_runtime_state *gil = the_gil();
    if (tstate == NULL || gil == NULL)
        return 0;
#if PY_VERSION_HEX >= 0x030D0000
    return __atomic_load_n(&gil->locked, __ATOMIC_RELAXED) &&
           __atomic_load_n(&gil->last_holder, __ATOMIC_RELAXED) == tstate;
#else
    return _Py_atomic_load_relaxed(&gil->locked) &&
           (const PyThreadState *)_Py_atomic_load_relaxed(&gil->last_holder) == tstate;
#endif
}

void ts_compat_signal_pending_call(const PyThreadState *main_tstate)
{
#if PY_VERSION_HEX < 0x030D0000
    /* 3.11 and 3.12 compute the eval loop's "look up" flag in the thread that adds the call,
     * counting pending calls only when that thread is the main one: a call added from the
     * consumer thread is not noticed until something else raises the flag (a request to
     * drop the GIL, a signal). Raised here, only while the main thread holds the GIL, so
     * the thread that sees it is the one that runs the call and lowers the flag again. */
    if (ts_compat_gil_held_by(main_tstate))
        _Py_atomic_store_relaxed(&PyInterpreterState_Main()->ceval.eval_breaker, 1);
#else
    /* 3.13+ raises the main thread's own flag when the call is added. */
    (void)main_tstate;
#endif
}

/* ==== The launcher's frames, hidden from the program ==== */

ts_compat_hidden_t ts_compat_hide_callers(PyThreadState *tstate)
{
    ts_compat_hidden_t hidden;
#if PY_VERSION_HEX >= 0x030D0000
    hidden.frame = tstate->current_frame;
    /* 3.15 ends every thread's chain at a sentinel frame (remote readers check that they
     * reached it); before, at NULL. */
#  if PY_VERSION_HEX >= 0x030F0000
    tstate->current_frame = tstate->base_frame;
#  else
    tstate->current_frame = NULL;
#  endif
#else
    hidden.frame = tstate->cframe->current_frame;
    tstate->cframe->current_frame = NULL;
#endif
    /* The recursion budget the hidden frames used is the program's again, as it is for a
     * script run by plain python. Kept as a depth: the program may change the limit. */
#if PY_VERSION_HEX >= 0x030C0000
    hidden.depth = tstate->py_recursion_limit - tstate->py_recursion_remaining;
    tstate->py_recursion_remaining = tstate->py_recursion_limit;
#else
    hidden.depth = tstate->recursion_limit - tstate->recursion_remaining;
    tstate->recursion_remaining = tstate->recursion_limit;
#endif
    return hidden;
}

void ts_compat_show_callers(PyThreadState *tstate, ts_compat_hidden_t hidden)
{
#if PY_VERSION_HEX >= 0x030D0000
    tstate->current_frame = hidden.frame;
#else
    tstate->cframe->current_frame = hidden.frame;
#endif
#if PY_VERSION_HEX >= 0x030C0000
    tstate->py_recursion_remaining = tstate->py_recursion_limit - hidden.depth;
#else
    tstate->recursion_remaining = tstate->recursion_limit - hidden.depth;
#endif
}
