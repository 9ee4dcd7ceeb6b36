/* SPDX-License-Identifier: MIT
 *
 * awaits.c — see awaits.h. A sys.monitoring tool (3.12+) whose callbacks are C functions,
 * so that no Python code runs in the program for it:
 *   PY_YIELD   a coroutine (or async generator) frame suspends at an await: its address,
 *              code object, instruction offset and the time go into a bounded table;
 *   PY_RESUME  that frame resumes after the await: the time since is charged to the
 *              await's line (resolve.c → stats.c) and the entry is freed;
 *   PY_THROW   that frame is resumed with an exception (a cancellation, the error of what it
 *              awaited): the same, since the task waited all the same.
 * Every other place where PY_YIELD or PY_RESUME fires (a plain generator, the `yield` of an
 * async generator, a coroutine of a file that is not profiled) is switched off for our tool
 * at its first event (sys.monitoring.DISABLE): it costs nothing afterwards. PY_THROW cannot
 * be switched off by place, and is rare (a throw() into a generator). A suspended chain of
 * coroutines suspends at every level (each awaits the next), so each level's await line
 * gets the time: inclusive, like a call stack (docs/DEFINITIONS.md).
 *
 * The table: sets of TS_AWAIT_WAYS entries, the set chosen by the frame's address, grown
 * as it fills (an allocation now and then, never one per event) up to a bound; past it a
 * full set gives up its oldest entry (counted as dropped). A coroutine that dies suspended
 * (never resumed, or closed without running) leaves its entry behind, and it ages out the
 * same way. An entry matches by frame address and code object, and the resume or
 * throw must come from at or past the offset the frame suspended at, so a new coroutine
 * that reuses a dead one's memory is never charged the dead one's wait: its first event is
 * a start, or a throw at its first instruction.
 *
 * Must never: run Python code on the program's threads, take a tool id the program holds,
 * or touch another tool's events (DISABLE and set_events are per tool). The callbacks run
 * with the GIL held, on the program's threads; the table is touched only with the GIL.
 * 3.11 has no sys.monitoring: the summary says so and nothing is measured.
 */
#include "compat.h"
#include "awaits.h"

#include "clock.h"
#include "frames.h"
#include "pymemory.h"
#include "resolve.h"

#include <stdatomic.h>
#include <stdlib.h>

static const char *reason = "not started";
static int measured;
static uint64_t dropped;
static _Atomic int paused;
static _Atomic uint64_t resumed_ns; /* waits are counted from here on after a pause */

void ts_awaits_set_paused(int pause)
{
    if (!pause)
        atomic_store(&resumed_ns, ts_now_ns());
    atomic_store(&paused, pause);
}

void ts_awaits_summary(ts_awaits_summary_t *summary)
{
    summary->measured = measured;
    summary->reason = measured ? NULL : reason;
    summary->dropped = dropped;
}

#if TS_HAS_MONITORING

/* The ids the program is least likely to use: sys.monitoring names 0 (debugger), 1
 * (coverage), 2 (profiler, which cProfile takes) and 5 (optimizer), and keeps 6 and 7 for
 * sys.settrace and sys.setprofile. */
static const int candidate_ids[] = {4, 3};
#define TS_AWAIT_TOOL_NAME "triscope"
/* Ids 0 to 5 are for tools; 6 and 7 are sys.settrace's and sys.setprofile's. */
#define TS_MONITORING_TOOL_IDS 6

/* ==== The table of suspended frames ==== */

/* 2048 sets of 8 (512 KiB) at first, doubled as it fills (worth_growing), up to 2^17 sets
 * (32 MiB, for a quarter of a million coroutines suspended at once and more): 32 bytes an
 * entry, beside the hundreds of bytes a coroutine and its task take. */
#define TS_AWAIT_WAYS 8
#define TS_AWAIT_FIRST_SET_BITS 11
#define TS_AWAIT_MAX_SET_BITS 17

typedef struct {
    const void *frame;    /* NULL: free */
    const void *code;
    uint64_t since_ns;
    int32_t offset;       /* where it suspended */
} suspended_t;

static suspended_t *table; /* sets of TS_AWAIT_WAYS entries, allocated at first use */
static unsigned int set_bits;
static size_t entries_in_use;

static suspended_t *set_of(suspended_t *entries, unsigned int bits, const void *frame)
{
    uint64_t hash = ((uint64_t)(uintptr_t)frame >> 4) * 0x9E3779B97F4A7C15ull;
    return &entries[(hash >> (64 - bits)) * TS_AWAIT_WAYS];
}

/* The entry to use in `set` for `frame`: its own, else a free one, else the oldest. */
static suspended_t *slot_in(suspended_t *set, const void *frame)
{
    suspended_t *slot = NULL;
    for (int way = 0; way < TS_AWAIT_WAYS; way++) {
        if (set[way].frame == frame)
            return &set[way];
        if (slot == NULL || (slot->frame != NULL &&
                             (set[way].frame == NULL || set[way].since_ns < slot->since_ns)))
            slot = &set[way];
    }
    return slot;
}

/* A table with 2^bits sets, holding the entries of the current one. 0 or -1 (no memory:
 * the current table stays). Our allocation, not the program's. */
static int grow_to(unsigned int bits)
{
    ts_pymemory_guard(1);
    suspended_t *bigger = calloc((size_t)TS_AWAIT_WAYS << bits, sizeof *bigger);
    ts_pymemory_guard(0);
    if (bigger == NULL)
        return -1;
    for (size_t i = 0; table != NULL && i < ((size_t)TS_AWAIT_WAYS << set_bits); i++) {
        if (table[i].frame == NULL)
            continue;
        suspended_t *slot = slot_in(set_of(bigger, bits, table[i].frame), table[i].frame);
        if (slot->frame != NULL) { /* a set that was full in the bigger table too */
            dropped++;
            entries_in_use--;
        }
        *slot = table[i];
    }
    free(table);
    table = bigger;
    set_bits = bits;
    return 0;
}

/* Whether to grow before an insertion into a set that is `full`: at half the capacity, or
 * at a quarter when the set has no room (a set fills long before the table does). */
static int worth_growing(int full)
{
    size_t capacity = (size_t)TS_AWAIT_WAYS << set_bits;
    return set_bits < TS_AWAIT_MAX_SET_BITS &&
           (entries_in_use >= capacity / 2 || (full && entries_in_use >= capacity / 4));
}

static void remember(const void *frame, const void *code, int32_t offset, uint64_t now)
{
    if (table == NULL && grow_to(TS_AWAIT_FIRST_SET_BITS) < 0)
        return;
    suspended_t *slot = slot_in(set_of(table, set_bits, frame), frame);
    int full = slot->frame != NULL && slot->frame != frame;
    if (worth_growing(full) && grow_to(set_bits + 1) == 0)
        slot = slot_in(set_of(table, set_bits, frame), frame);
    if (slot->frame == NULL)
        entries_in_use++;
    else if (slot->frame != frame)
        dropped++;
    *slot = (suspended_t){frame, code, now, offset};
}

/* The entry of `frame` suspended in `code` at or before `offset`, taken out of the table;
 * 0 when there is none. A stale entry of the same frame is freed too. */
static int take(const void *frame, const void *code, int32_t offset, suspended_t *out)
{
    if (table == NULL)
        return 0;
    suspended_t *set = set_of(table, set_bits, frame);
    for (int way = 0; way < TS_AWAIT_WAYS; way++) {
        if (set[way].frame != frame)
            continue;
        *out = set[way];
        set[way].frame = NULL;
        entries_in_use--;
        return out->code == code && offset >= out->offset;
    }
    return 0;
}

static void forget_all(void)
{
    free(table);
    table = NULL;
    set_bits = 0;
    entries_in_use = 0;
}

/* ==== The callbacks ==== */

static PyObject *monitoring;  /* sys.monitoring */
static PyObject *disable;     /* sys.monitoring.DISABLE */
static int tool_id = -1;

static PyObject *switched_off(void)
{
    return Py_NewRef(disable);
}

static int awaits_in(const PyCodeObject *code)
{
    return (code->co_flags & (CO_COROUTINE | CO_ASYNC_GENERATOR)) != 0;
}

/* The offset argument of a callback, or -1. */
static int32_t offset_of(PyObject *arg)
{
    long offset = PyLong_AsLong(arg);
    if (offset < 0 || offset > INT32_MAX) {
        PyErr_Clear();
        return -1;
    }
    return (int32_t)offset;
}

/* Charges the wait of `code`'s current frame, suspended before `offset`, if we saw it
 * suspend: 1 then, else 0. */
static int charge(PyCodeObject *code, int32_t offset)
{
    const void *frame = ts_frames_current(code);
    suspended_t entry;
    if (frame == NULL || !take(frame, code, offset, &entry))
        return 0;
    uint64_t now = ts_now_ns(), since = entry.since_ns, from = atomic_load(&resumed_ns);
    if (from > since)
        since = from;
    if (now > since && !atomic_load(&paused))
        ts_resolve_add_await(code, entry.offset, now - since);
    return 1;
}

/* What an event's first two arguments (code, offset) say: 1 with `*code` and `*offset` set
 * for an event to handle, 0 for one to let pass, -1 for a code object whose events may be
 * switched off (awaits are not timed in it). */
static int event_site(PyObject *const *args, Py_ssize_t nargs, PyCodeObject **code,
                      int32_t *offset)
{
    if (nargs < 2 || !PyCode_Check(args[0]))
        return 0;
    *code = (PyCodeObject *)args[0];
    *offset = offset_of(args[1]);
    if (!awaits_in(*code))
        return -1;
    return *offset >= 0;
}

/* PY_YIELD(code, offset, value) */
static PyObject *on_yield(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    PyCodeObject *code;
    int32_t offset;
    int site = event_site(args, nargs, &code, &offset);
    if (site < 0)
        return switched_off();
    if (site == 0)
        Py_RETURN_NONE;
    /* In an async generator a suspension is an await or a `yield`; the RESUME right after
     * it tells which (compat.h). In a coroutine every suspension is an await. */
    if ((code->co_flags & CO_ASYNC_GENERATOR) &&
        (TS_INSTR_ARG(code, offset + TS_RESUME_AFTER_YIELD) & TS_RESUME_KIND_MASK) !=
            TS_RESUME_AFTER_AWAIT)
        return switched_off();
    int profiled = ts_resolve_code_profiled(code);
    if (profiled == 0)
        return switched_off();
    if (profiled < 0 || atomic_load(&paused))
        Py_RETURN_NONE;
    const void *frame = ts_frames_current(code);
    if (frame != NULL)
        remember(frame, code, offset, ts_now_ns());
    Py_RETURN_NONE;
}

/* PY_RESUME(code, offset) */
static PyObject *on_resume(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    PyCodeObject *code;
    int32_t offset;
    int site = event_site(args, nargs, &code, &offset);
    if (site < 0)
        return switched_off();
    if (site == 0)
        Py_RETURN_NONE;
    if ((TS_INSTR_ARG(code, offset) & TS_RESUME_KIND_MASK) != TS_RESUME_AFTER_AWAIT)
        return switched_off();
    /* Only a profiled file's suspensions are in the table (on_yield), so a resume without
     * an entry is where to ask whether the file is profiled. */
    if (!charge(code, offset) && ts_resolve_code_profiled(code) == 0)
        return switched_off();
    Py_RETURN_NONE;
}

/* PY_THROW(code, offset, exception): no DISABLE for this event. */
static PyObject *on_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    PyCodeObject *code;
    int32_t offset;
    if (event_site(args, nargs, &code, &offset) > 0)
        charge(code, offset);
    Py_RETURN_NONE;
}

static PyMethodDef callback_defs[] = {
    {"PY_YIELD", (PyCFunction)(void (*)(void))on_yield, METH_FASTCALL, NULL},
    {"PY_RESUME", (PyCFunction)(void (*)(void))on_resume, METH_FASTCALL, NULL},
    {"PY_THROW", (PyCFunction)(void (*)(void))on_throw, METH_FASTCALL, NULL},
};
#define TS_AWAIT_EVENTS (sizeof callback_defs / sizeof callback_defs[0])

/* ==== Claiming and giving back the tool ==== */

/* sys.monitoring.events.NAME, or -1. */
static long event_bit(const char *name)
{
    PyObject *events = PyObject_GetAttrString(monitoring, "events");
    PyObject *bit = events != NULL ? PyObject_GetAttrString(events, name) : NULL;
    long value = bit != NULL ? PyLong_AsLong(bit) : -1;
    Py_XDECREF(bit);
    Py_XDECREF(events);
    if (value < 0)
        PyErr_Clear();
    return value;
}

/* Whether `id` is free (claimed here when it is), or held by us from before (a forked
 * child's copy of its parent's tool). */
static int claim(int id)
{
    PyObject *holder = PyObject_CallMethod(monitoring, "get_tool", "i", id);
    if (holder == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ours = PyUnicode_Check(holder) &&
               PyUnicode_CompareWithASCIIString(holder, TS_AWAIT_TOOL_NAME) == 0 &&
               id == tool_id;
    int free_id = holder == Py_None;
    Py_DECREF(holder);
    if (ours)
        return 1;
    if (!free_id)
        return 0;
    PyObject *done = PyObject_CallMethod(monitoring, "use_tool_id", "is", id,
                                         TS_AWAIT_TOOL_NAME);
    if (done == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(done);
    return 1;
}

/* Whether no tool id the program can use is held (after ours was given back). */
static int no_tool_in_use(void)
{
    for (int id = 0; id < TS_MONITORING_TOOL_IDS; id++) {
        PyObject *holder = PyObject_CallMethod(monitoring, "get_tool", "i", id);
        int in_use = holder == NULL || holder != Py_None;
        if (holder == NULL)
            PyErr_Clear();
        Py_XDECREF(holder);
        if (in_use)
            return 0;
    }
    return 1;
}

/* A sys.monitoring call's outcome, its result dropped: 0, or -1 (the error cleared). */
static int succeeded(PyObject *result)
{
    if (result == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* Registers the callbacks and turns their events on for the claimed tool. 0 or -1. */
static int register_callbacks(void)
{
    long mask = 0;
    for (size_t i = 0; i < TS_AWAIT_EVENTS; i++) {
        long bit = event_bit(callback_defs[i].ml_name);
        PyObject *callback = bit >= 0 ? PyCFunction_New(&callback_defs[i], NULL) : NULL;
        if (callback == NULL) {
            PyErr_Clear();
            return -1;
        }
        int failed = succeeded(PyObject_CallMethod(monitoring, "register_callback", "ilO",
                                                   tool_id, bit, callback)) < 0;
        Py_DECREF(callback);
        if (failed)
            return -1;
        mask |= bit;
    }
    return succeeded(PyObject_CallMethod(monitoring, "set_events", "il", tool_id, mask));
}

void ts_awaits_start(int asked)
{
    measured = 0;
    dropped = 0;
    if (!asked) {
        reason = "turned off (--no-async)";
        return;
    }
    forget_all();
    atomic_store(&resumed_ns, 0);
    if (monitoring == NULL) {
        monitoring = PySys_GetObject("monitoring"); /* borrowed */
        disable = monitoring != NULL ? PyObject_GetAttrString(monitoring, "DISABLE") : NULL;
        if (disable == NULL) {
            PyErr_Clear();
            monitoring = NULL;
            reason = "sys.monitoring is not available";
            return;
        }
        Py_INCREF(monitoring);
    }
    int id = -1;
    for (size_t i = 0; i < sizeof candidate_ids / sizeof candidate_ids[0] && id < 0; i++)
        if (claim(candidate_ids[i]))
            id = candidate_ids[i];
    if (id < 0) {
        reason = "the program holds sys.monitoring tool ids 3 and 4";
        tool_id = -1;
        return;
    }
    tool_id = id;
    if (register_callbacks() < 0) {
        ts_awaits_stop();
        reason = "sys.monitoring refused the callbacks";
        return;
    }
    measured = 1;
}

void ts_awaits_stop(void)
{
    if (tool_id < 0 || monitoring == NULL)
        return;
    succeeded(PyObject_CallMethod(monitoring, "set_events", "ii", tool_id, 0));
    for (size_t i = 0; i < TS_AWAIT_EVENTS; i++) {
        long bit = event_bit(callback_defs[i].ml_name);
        if (bit >= 0)
            succeeded(PyObject_CallMethod(monitoring, "register_callback", "ilO", tool_id, bit,
                                          Py_None));
    }
    succeeded(PyObject_CallMethod(monitoring, "free_tool_id", "i", tool_id));
    tool_id = -1;
    forget_all();
    /* Our DISABLEs outlive the tool (they belong to its id): a tool that takes the id later
     * would miss those events. restart_events() undoes them, but every tool's with them, so
     * only when no other tool is there to notice. */
    if (no_tool_in_use())
        succeeded(PyObject_CallMethod(monitoring, "restart_events", NULL));
}

#else /* 3.11: no sys.monitoring */

void ts_awaits_start(int asked)
{
    measured = 0;
    dropped = 0;
    reason = asked ? "needs Python 3.12 or newer (sys.monitoring)" : "turned off (--no-async)";
}

void ts_awaits_stop(void)
{
}

#endif
