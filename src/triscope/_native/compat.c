/* SPDX-License-Identifier: MIT
 *
 * compat.c — the parts of the version layer (compat.h) that are code rather than names:
 * how the death of a code object is watched. Every PY_VERSION_HEX test outside compat.h is
 * here; the callers see one function per purpose. Uses the Python API (GIL held), and
 * nothing else of the core.
 */
#include "compat.h"

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
