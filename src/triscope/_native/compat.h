/* SPDX-License-Identifier: MIT
 *
 * compat.h — every CPython-version difference the C core knows about, in one place (with
 * compat.c, which holds the ones that are code: the watch on code objects' deaths).
 *
 * Every file that needs Python.h includes it through this header. frames.c alone defines
 * TS_WANT_FRAME_LAYOUT before including it: that turns on Py_BUILD_CORE_MODULE so the
 * interpreter's private frame layout (struct _PyInterpreterFrame) is visible; the rest of
 * the core talks about frames only through frames.h, which is version-free.
 *
 * Layouts covered:
 *   3.11        tstate->cframe->current_frame, frame->f_code, frame->prev_instr,
 *               no C-stack-owned shim frames.
 *   3.12        as 3.11, plus FRAME_OWNED_BY_CSTACK shim frames.
 *   3.13        tstate->current_frame, frame->f_executable (code object or None),
 *               frame->instr_ptr.
 *   3.14        as 3.13, but f_executable is a tagged stack reference (low bit set for a
 *               deferred reference), the frame structs moved to pycore_interpframe.h, and
 *               FRAME_OWNED_BY_INTERPRETER (entry frames) joins the shim owners.
 *   3.15        as 3.14 (checked on 3.15.2): FRAME_OWNED_BY_CSTACK is gone and
 *               FRAME_OWNED_BY_INTERPRETER is the last owner, still the first that runs no
 *               code; a stack reference's tag bits are still the header's Py_TAG_BITS
 *               (3 on both); co_code_adaptive, _co_firsttraceable and PyCode_Addr2Line
 *               are unchanged.
 * The JIT (3.14+, off unless PYTHON_JIT=1; Debian's 3.15 has one): a hot loop runs as
 * machine code in anonymous memory, so the thread's current executor says the time is
 * Python's (TS_TSTATE_EXECUTOR below; tests/test_versions.py). That code updates a frame's
 * instruction pointer only where it may leave the trace (calls, side exits), so inside a
 * JIT-compiled loop a sample lands on the line of the last such instruction: the lines of
 * one loop can trade time with each other (measured: a 2-line loop body split 24/41 instead
 * of 16/51), while a function's total and the Python/native split stay right.
 * For `triscope dump` (dump.c, TS_WANT_RUNTIME_LAYOUT), which reads another process running
 * the same major.minor version, the runtime's layout too:
 *   3.11        the GIL inside the runtime (_PyRuntime.ceval.gil), its fields atomics.
 *   3.12        each interpreter points at its GIL (interp->ceval.gil).
 *   3.13        as 3.12, plain fields; the runtime starts with _Py_DebugOffsets ("xdebugpy"),
 *               the offsets the interpreter publishes for readers from outside.
 *   3.14, 3.15  as 3.13 (the structs moved to pycore_*_structs.h, reached the same way).
 * In every layout the instruction pointer of a frame points at the instruction being
 * executed (for callers: the call), so its offset from co_code_adaptive, in bytes, is what
 * PyCode_Addr2Line takes.
 */
#ifndef TS_COMPAT_H
#define TS_COMPAT_H

#if defined(TS_WANT_FRAME_LAYOUT) || defined(TS_WANT_RUNTIME_LAYOUT)
#  define Py_BUILD_CORE_MODULE 1
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000
#  error "triscope needs CPython 3.11 or newer"
#endif
#if defined(Py_GIL_DISABLED) && Py_GIL_DISABLED
#  error "triscope does not support free-threaded CPython builds yet"
#endif

/* Code objects' deaths (compat.c): `before_death` runs, GIL held, just before each code
 * object is freed, while it is still a valid code object (under 3.11's watch its reference
 * count already reads 0). 3.12 and later: a code watcher; 3.11, where code objects die
 * without notice: a wrapper around PyCode_Type's tp_dealloc. 0 or -1 (no watcher free). */
int ts_compat_watch_code_deaths(void (*before_death)(PyCodeObject *code));
/* No more calls of `before_death`, as far as the version allows: 3.11's wrapper stays in
 * place and keeps calling it (see compat.c), so it must stay harmless after a stop. */
void ts_compat_unwatch_code_deaths(void);

/* The main thread's state (GIL held): the thread whose id is the process's; NULL if none. */
PyThreadState *ts_compat_main_thread_state(void);
/* Whether `tstate` holds the GIL now. No GIL needed: a racy read of the GIL's own fields,
 * right or a moment out of date. */
int ts_compat_gil_held_by(const PyThreadState *tstate);
/* After Py_AddPendingCall from a thread other than the main one, makes sure the main thread
 * looks at its pending calls at its next bytecode boundary (compat.c: 3.11 and 3.12 do not
 * see to it themselves). No GIL needed. */
void ts_compat_signal_pending_call(const PyThreadState *main_tstate);

/* The calling thread's Python frames, hidden from what runs until ts_compat_show_callers:
 * its frame chain starts afresh (sys._getframe, tracebacks, tracemalloc and every stack
 * walk see only the new frames) and the recursion budget they used is given back. The
 * launcher runs the program so, at the depth plain python runs it (docs/ARCHITECTURE.md,
 * "The launcher and child processes"). GIL held; the two calls pair up in one C function. */
typedef struct {
    void *frame;  /* the innermost hidden frame */
    int depth;    /* the recursion depth the hidden frames used */
} ts_compat_hidden_t;
ts_compat_hidden_t ts_compat_hide_callers(PyThreadState *tstate);
void ts_compat_show_callers(PyThreadState *tstate, ts_compat_hidden_t hidden);

#ifdef TS_WANT_FRAME_LAYOUT
/* The interpreter's private headers are not written for -Werror: a debug build's, compiled
 * with NDEBUG, leaves variables that only its asserts use. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#if PY_VERSION_HEX >= 0x030E0000
#  include <internal/pycore_interpframe.h>
/* The low bits of a stack reference are flags, not part of the address. */
#  define TS_FRAME_CODE_TAG_BITS      ((uintptr_t)Py_TAG_BITS)
#else
#  include <internal/pycore_frame.h>
#  define TS_FRAME_CODE_TAG_BITS      ((uintptr_t)0)
#endif
#pragma GCC diagnostic pop

#if PY_VERSION_HEX >= 0x030D0000
#  define TS_FRAME_CODE(frame)        ((frame)->f_executable)
#  define TS_FRAME_INSTR(frame)       ((frame)->instr_ptr)
#  define TS_TSTATE_FRAME(tstate)     ((tstate)->current_frame)
#  define TS_HAS_CFRAME               0
#else
#  define TS_FRAME_CODE(frame)        ((frame)->f_code)
#  define TS_FRAME_INSTR(frame)       ((frame)->prev_instr)
#  define TS_TSTATE_CFRAME(tstate)    ((tstate)->cframe)
#  define TS_CFRAME_FRAME(cframe)     ((cframe)->current_frame)
#  define TS_HAS_CFRAME               1
#endif

/* Frames of these owners and above run no code of their own (C-stack shims, entry
 * frames) and are skipped by the walker. */
#if PY_VERSION_HEX >= 0x030E0000
#  define TS_HAS_SHIM_FRAMES          1
#  define TS_FRAME_FIRST_SHIM_OWNER   FRAME_OWNED_BY_INTERPRETER
#elif PY_VERSION_HEX >= 0x030C0000
#  define TS_HAS_SHIM_FRAMES          1
#  define TS_FRAME_FIRST_SHIM_OWNER   FRAME_OWNED_BY_CSTACK
#else
#  define TS_HAS_SHIM_FRAMES          0
#endif

#define TS_FRAME_OWNED_BY_GENERATOR   FRAME_OWNED_BY_GENERATOR
#endif /* TS_WANT_FRAME_LAYOUT */

/* 3.14+: the executor (optimized trace) the thread is running, NULL in the bytecode loop.
 * With the JIT enabled (PYTHON_JIT=1) the trace is machine code in anonymous memory, which
 * the address map cannot tell from other native code: this says it is Python's. */
#if PY_VERSION_HEX >= 0x030E0000
#  define TS_HAS_EXECUTOR             1
#  define TS_TSTATE_EXECUTOR(tstate)  ((tstate)->current_executor)
#else
#  define TS_HAS_EXECUTOR             0
#endif

#ifdef TS_WANT_RUNTIME_LAYOUT
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <internal/pycore_runtime.h>
#include <internal/pycore_interp.h>
#pragma GCC diagnostic pop
#include <stddef.h>

/* Byte offsets of the fields the dump follows, in this version's layout. */
#define TS_RUNTIME_INTERPRETERS_HEAD  offsetof(_PyRuntimeState, interpreters.head)
#define TS_INTERP_NEXT                offsetof(PyInterpreterState, next)
#define TS_INTERP_THREADS_HEAD        offsetof(PyInterpreterState, threads.head)
#define TS_TSTATE_NEXT                offsetof(PyThreadState, next)
#define TS_TSTATE_NATIVE_ID           offsetof(PyThreadState, native_thread_id)
/* The GIL: who took it last (a PyThreadState *) and whether it is held (an int). */
#define TS_GIL_LAST_HOLDER            offsetof(struct _gil_runtime_state, last_holder)
#define TS_GIL_LOCKED                 offsetof(struct _gil_runtime_state, locked)
#if PY_VERSION_HEX >= 0x030C0000
#  define TS_GIL_IN_RUNTIME           0
#  define TS_INTERP_GIL_POINTER       offsetof(PyInterpreterState, ceval.gil)
#else
#  define TS_GIL_IN_RUNTIME           1
#  define TS_RUNTIME_GIL              offsetof(_PyRuntimeState, ceval.gil)
#endif
#if PY_VERSION_HEX >= 0x030D0000
#  define TS_HAS_DEBUG_OFFSETS        1
#  define TS_RUNTIME_DEBUG_OFFSETS    offsetof(_PyRuntimeState, debug_offsets)
#  define TS_DEBUG_COOKIE             "xdebugpy"
/* The offsets themselves: what must be equal for our layout to be the target's. */
#  define TS_DEBUG_LAYOUT_START       offsetof(_Py_DebugOffsets, runtime_state)
#else
#  define TS_HAS_DEBUG_OFFSETS        0
#endif
#endif /* TS_WANT_RUNTIME_LAYOUT */

/* 3.12+: sys.monitoring, through which awaits.c hears coroutines suspend and resume
 * (PY_YIELD, PY_RESUME, PY_THROW). Its callbacks get an instruction offset in bytes from
 * co_code_adaptive. The RESUME instruction after a suspension carries in its argument's low
 * two bits what the frame resumes from (0 the start, 1 a yield, 2 a yield from, 3 an await;
 * 3.13 added a flag above them), and it is the code unit right after the YIELD_VALUE, which
 * has no cache entries; instrumentation rewrites an instruction's opcode byte, never its
 * argument. Checked on 3.12, 3.13, 3.14 and 3.15 (tests/test_async.py). */
#if PY_VERSION_HEX >= 0x030C0000
#  define TS_HAS_MONITORING           1
#  define TS_RESUME_KIND_MASK         3
#  define TS_RESUME_AFTER_AWAIT       3
#  define TS_RESUME_AFTER_YIELD       2  /* bytes from a YIELD_VALUE to its RESUME */
/* The argument of the instruction at byte `offset` of `code` (x86-64: the second byte of
 * its code unit). */
#  define TS_INSTR_ARG(code, offset) \
     (((const unsigned char *)(code)->co_code_adaptive)[(offset) + 1])
#else
#  define TS_HAS_MONITORING           0
#endif

#endif /* TS_COMPAT_H */
