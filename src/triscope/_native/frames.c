/* SPDX-License-Identifier: MIT
 *
 * frames.c — the stack walker: the one place that reads CPython's private frame layout
 * (through the accessors of compat.h).
 *
 * Two callers with different safety needs share one walker:
 *  - the CPU-timer signal handler walks the interrupted thread's own stack. That stack
 *    cannot change under it, so plain loads are safe; the handler rules hold here: no
 *    malloc, no locks, no Python API other than PyGILState_GetThisThreadState (a
 *    pthread_getspecific), errno untouched.
 *  - the consumer thread walks *other* threads that are waiting (sleep, I/O, GIL) to charge
 *    their waiting time. Such a thread may wake and pop frames whose memory is then freed,
 *    so every load goes through process_vm_readv on our own pid, which reports EFAULT
 *    instead of crashing. The caller also checks the thread did not run during the walk;
 *    or, catching up with a thread the CPU timer's ticks missed (waits.c), that it did: the
 *    stack of a running thread may be read torn, and the innermost frame, read first, is
 *    what names its line.
 *    Such walks read the data stack a window at a time (stackwindow.c) and keep the code
 *    headers they have read (ts_code_cache_t), so a walk costs a few system calls whatever
 *    its depth, where it took two a frame (docs/ARCHITECTURE.md, "System time").
 *  - `triscope dump` walks the threads of another process (same interpreter version), whose
 *    code objects have that process's PyCode_Type: every load is the same fault-tolerant
 *    read, naming that process.
 * The walker is one always-inlined function taking `safe` as a constant, so the handler's
 * copy compiles to plain loads.
 */
#define _GNU_SOURCE
#define TS_WANT_FRAME_LAYOUT
#include "compat.h"
#include "frames.h"
#include "stackwindow.h"

#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static pid_t self_pid;
static int safe_reads_work;

static inline int read_from(pid_t pid, void *dst, const void *src, size_t size)
{
    struct iovec local = {dst, size};
    struct iovec remote = {(void *)src, size};
    return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)size;
}

static inline int read_safe(void *dst, const void *src, size_t size)
{
    return read_from(self_pid, dst, src, size);
}

/* Loads `size` bytes from `src` into `dst`; returns 0 when the memory could not be read. */
static inline __attribute__((always_inline)) int load(void *dst, const void *src, size_t size,
                                                      int safe, pid_t pid)
{
    if (src == NULL)
        return 0;
    if (!safe) {
        memcpy(dst, src, size);
        return 1;
    }
    return read_from(pid, dst, src, size);
}

#define LOAD(dst, src) load(&(dst), &(src), sizeof(dst), safe, pid)
/* A field of a struct already loaded (the safe walks' copies, or the handler's own stack). */
#define FIELD(dst, src) memcpy(&(dst), &(src), sizeof(dst))

/* The bytes of a frame the walk reads (its fields, before the locals), and of a code object
 * (its header, through _co_firsttraceable). */
#define FRAME_FIELDS_SIZE offsetof(_PyInterpreterFrame, localsplus)
#define CODE_HEADER_SIZE (offsetof(PyCodeObject, _co_firsttraceable) + sizeof(int))

/* A code object's header: from `cache` when an earlier walk read it and no code object died
 * since, else read (and kept when it is a code object). 0 when it is not a code object of
 * `code_type` or cannot be read. */
static int code_first_traceable(uintptr_t code, const PyTypeObject *code_type, pid_t pid,
                                ts_code_cache_t *cache, uint64_t generation, int *first)
{
    ts_code_seen_t *seen =
        cache != NULL ? &cache->entries[(code >> 4) % TS_CODE_CACHE_ENTRIES] : NULL;
    if (seen != NULL && seen->code == code && seen->generation == generation) {
        *first = seen->first_traceable;
        return 1;
    }
    PyCodeObject header;
    PyTypeObject *type = NULL;
    /* A frame being built may hold anything: unreadable, it is not a code object. */
    if (!read_from(pid, &header, (const void *)code, CODE_HEADER_SIZE))
        return 0;
    FIELD(type, header.ob_base.ob_base.ob_type);
    if (type != code_type)
        return 0;
    FIELD(*first, header._co_firsttraceable);
    if (seen != NULL)
        *seen = (ts_code_seen_t){code, generation, *first};
    return 1;
}

/* `pid` and `code_type` name the process the stack lives in and its PyCode_Type, `cache`
 * and `generation` the code headers kept (ts_code_cache_t); with `safe` 0 (the handler)
 * they are ours and unused. */
static inline __attribute__((always_inline)) ts_walk_t
walk(const PyThreadState *tstate, ts_frame_t *out, int capacity, int safe, pid_t pid,
     const PyTypeObject *code_type, ts_code_cache_t *cache, uint64_t generation, int *ok)
{
    ts_walk_t result = {.opcode = -1};
    _PyInterpreterFrame *frame = NULL;
    ts_stack_window_t window; /* safe walks read the frames through it */
    if (safe)
        ts_stack_window_clear(&window);
    *ok = 1;
    if (tstate == NULL)
        return result;
#if TS_HAS_EXECUTOR
    /* Only the handler's own walk classifies the interrupted instruction address; the
     * safe walks (waiting threads, another process) would pay a read for nothing. */
    if (!safe) {
        PyObject *executor = NULL;
        LOAD(executor, TS_TSTATE_EXECUTOR(tstate));
        result.in_executor = executor != NULL;
    }
#endif
#if TS_HAS_CFRAME
    _PyCFrame *cframe = NULL;
    if (!LOAD(cframe, TS_TSTATE_CFRAME(tstate)))
        goto fault;
    if (cframe == NULL)
        return result;
    if (((uintptr_t)cframe & (_Alignof(_PyCFrame) - 1)) != 0)
        goto fault; /* garbage, as for frames below */
    if (!LOAD(frame, TS_CFRAME_FRAME(cframe)))
        goto fault;
#else
    if (!LOAD(frame, TS_TSTATE_FRAME(tstate)))
        goto fault;
#endif
    /* Bound the number of frames visited, not only recorded, so a corrupted chain that
     * loops cannot hold the handler forever. */
    for (int visited = 0; frame != NULL && visited < 4 * capacity + 64; visited++) {
        /* PyCodeObject * (3.11, 3.12), PyObject * (3.13), tagged stack reference (3.14) */
        uintptr_t code = 0;
        _Py_CODEUNIT *instr = NULL;
        _PyInterpreterFrame *previous = NULL;
        char owner = 0;
        PyTypeObject *type = NULL;
        int first_traceable = 0;
        /* A misaligned pointer is garbage (a frame being built or freed under a racing
         * walk): reading through it, even safely, starts from an invalid member access. */
        if (((uintptr_t)frame & (_Alignof(_PyInterpreterFrame) - 1)) != 0)
            goto fault;
        /* The handler reads its own, unchanging stack in place; a safe walk copies first. */
        const _PyInterpreterFrame *fields = frame;
        _PyInterpreterFrame frame_copy;
        if (safe) {
            if (!ts_stack_window_copy(&window, pid, (uintptr_t)frame, FRAME_FIELDS_SIZE,
                                      &frame_copy))
                goto fault;
            fields = &frame_copy;
        }
        FIELD(code, TS_FRAME_CODE(fields));
        FIELD(instr, TS_FRAME_INSTR(fields));
        FIELD(previous, fields->previous);
        FIELD(owner, fields->owner);
        frame = previous;
#if TS_HAS_SHIM_FRAMES
        if (owner >= TS_FRAME_FIRST_SHIM_OWNER)
            continue;
#endif
        code &= ~TS_FRAME_CODE_TAG_BITS;
        PyCodeObject *co = (PyCodeObject *)code;
        if (co == NULL || (code & (_Alignof(PyObject) - 1)) != 0)
            continue;
        if (safe) {
            if (!code_first_traceable(code, code_type, pid, cache, generation,
                                      &first_traceable))
                continue;
        } else {
            FIELD(type, co->ob_base.ob_base.ob_type);
            if (type != code_type)
                continue;
            FIELD(first_traceable, co->_co_firsttraceable);
        }
        const _Py_CODEUNIT *first = (const _Py_CODEUNIT *)co->co_code_adaptive;
        /* A frame still running its prologue (before _co_firsttraceable) is incomplete:
         * the interpreter itself hides it from tracebacks. */
        if (owner != TS_FRAME_OWNED_BY_GENERATOR && instr < first + first_traceable)
            continue;
        if (result.depth == 0) {
            uint8_t opcode = 0;
            /* _Py_CODEUNIT stores the opcode in its first byte on little-endian x86_64. */
            if (LOAD(opcode, *(const uint8_t *)instr))
                result.opcode = opcode;
        }
        if (result.depth == capacity) {
            result.truncated = 1;
            break;
        }
        out[result.depth].code = co;
        out[result.depth].instr_offset = (int32_t)((const char *)instr - (const char *)first);
        result.depth++;
    }
    return result;
fault: /* only reachable with safe reads: plain loads do not report faults */
    *ok = 0;
    return result;
}

ts_walk_t ts_frames_walk_self(ts_frame_t *out, int capacity)
{
    int ok;
    return walk(PyGILState_GetThisThreadState(), out, capacity, 0, 0, &PyCode_Type, NULL, 0,
                &ok);
}

ts_walk_t ts_frames_walk_thread(const void *tstate, ts_frame_t *out, int capacity,
                                ts_code_cache_t *cache, uint64_t generation, int *ok)
{
    if (!safe_reads_work) {
        *ok = 0;
        ts_walk_t none = {.opcode = -1};
        return none;
    }
    return walk((const PyThreadState *)tstate, out, capacity, 1, self_pid, &PyCode_Type, cache,
                generation, ok);
}

ts_walk_t ts_frames_walk_remote(pid_t pid, uint64_t tstate, uint64_t code_type,
                                ts_frame_t *out, int capacity, int *ok)
{
    return walk((const PyThreadState *)(uintptr_t)tstate, out, capacity, 1, pid,
                (const PyTypeObject *)(uintptr_t)code_type, NULL, 0, ok);
}

int ts_frames_code_plausible(const void *code)
{
    PyCodeObject copy;
    PyTypeObject *filename_type = NULL, *qualname_type = NULL;
    if (!safe_reads_work)
        return 1; /* cannot check: trust the handler's own type check */
    if (code == NULL || !read_safe(&copy, code, sizeof copy))
        return 0;
    /* Freed memory has an allocator's link (0 or an address) where the count was. */
    Py_ssize_t refcount = Py_REFCNT((PyObject *)&copy);
    if (refcount < 1 || refcount > ((Py_ssize_t)1 << 40) ||
        copy.ob_base.ob_base.ob_type != &PyCode_Type)
        return 0;
    if (!read_safe(&filename_type, &copy.co_filename->ob_type, sizeof filename_type) ||
        !read_safe(&qualname_type, &copy.co_qualname->ob_type, sizeof qualname_type))
        return 0;
    return filename_type == &PyUnicode_Type && qualname_type == &PyUnicode_Type;
}

pid_t ts_frames_thread_id(const void *tstate)
{
    unsigned long id = 0;
    if (!safe_reads_work || tstate == NULL ||
        !read_safe(&id, &((const PyThreadState *)tstate)->native_thread_id, sizeof id))
        return 0;
    return (pid_t)id;
}

const void *ts_frames_current(const void *code)
{
    PyThreadState *tstate = PyThreadState_Get();
#if TS_HAS_CFRAME
    _PyInterpreterFrame *frame = TS_CFRAME_FRAME(TS_TSTATE_CFRAME(tstate));
#else
    _PyInterpreterFrame *frame = TS_TSTATE_FRAME(tstate);
#endif
    if (frame == NULL)
        return NULL;
    /* The field is a pointer or (3.14+) a tagged stack reference of the same size. */
    uintptr_t frame_code = 0;
    memcpy(&frame_code, &TS_FRAME_CODE(frame), sizeof frame_code);
    return (frame_code & ~TS_FRAME_CODE_TAG_BITS) == (uintptr_t)code ? frame : NULL;
}

/* Called again in a forked child: process_vm_readv must name the process we are now. */
int ts_frames_init(void)
{
    self_pid = getpid();
    long probe = 42, copy = 0;
    safe_reads_work = read_safe(&copy, &probe, sizeof probe) && copy == 42;
    return safe_reads_work ? 0 : -1;
}
