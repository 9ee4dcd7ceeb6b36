/* SPDX-License-Identifier: MIT
 *
 * module.c — triscope._native, the binding: the only file that defines the module's
 * functions and the only one that turns the core's errors into Python exceptions (pysignal.c
 * raises only what the CPython functions it stands in for would). It converts arguments,
 * calls the profiling run (profiler.h) and turns its 0/-1 results into exceptions. It also keeps the
 * checkpoints, whose profile metadata is a dictionary of write_profile's keywords, and the
 * live view's snapshots (`triscope --live`), both sent from the consumer's GIL work.
 *
 * Other files use the Python API too, each for its own reason, said at its top: compat.h
 * (the version layer), frames.c (reads frames), threads.c (the interpreter's thread states),
 * resolve.c (code objects to lines), consumer.c (takes the GIL), pymemory.c (wraps Python's
 * allocators), pysignal.c (the `_signal` module's functions) and profiler.c (releases the
 * GIL around slow waits). The rest of the core is plain C.
 *
 * Lifecycle: configure() → start() → [thread_enter()/thread_leave() from threading] →
 * stop() → write_profile() [→ release(), when attached to a running process]. start() may
 * follow stop() (a new profile).
 */
#define _GNU_SOURCE
#include "compat.h"

#include "call_opcodes.h" /* generated: meson.build */
#include "clock.h"
#include "crashsave.h"
#include "dump.h"
#include "fdpark.h"
#include "filter.h"
#include "live.h"
#include "profile_json.h"
#include "profiler.h"
#include "pymemory.h"
#include "sampler.h"
#include "pyspans.h"
#include "sha256.h"
#include "sigterm.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define TS_MAX_ONLY_RANGES 1024

static void checkpoint_if_due(uint64_t now_ns);
static void forget_checkpoints(void);
/* A long run's announcement (below): what to say, and when; 0: nothing (more) to say. */
static char announcement[512];
static uint64_t announcement_due_ns;
static void live_if_due(uint64_t now_ns);
static void forget_live(void);

/* ==== Argument conversion ==== */

static int fill_strlist(ts_strlist_t *list, PyObject *sequence, const char *what)
{
    PyObject *fast = PySequence_Fast(sequence, what);
    if (fast == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
        const char *text = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
        if (text == NULL || ts_strlist_add(list, text) < 0) {
            Py_DECREF(fast);
            if (!PyErr_Occurred())
                PyErr_NoMemory();
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

/* The @profile functions, [(path, first, last), ...], into `meta` (at most
 * TS_MAX_ONLY_RANGES, in `only`). The paths point into `*fast`, which the caller releases
 * once the meta is used (also after an error). None: no ranges. */
static int fill_ranges(PyObject *ranges, ts_line_range_t *only, ts_profile_meta_t *meta,
                       PyObject **fast)
{
    *fast = NULL;
    if (ranges == NULL || ranges == Py_None)
        return 0;
    *fast = PySequence_Fast(ranges, "only_ranges must be a sequence");
    if (*fast == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(*fast) &&
                           meta->nonly_ranges < TS_MAX_ONLY_RANGES; i++) {
        ts_line_range_t *range = &only[meta->nonly_ranges];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(*fast, i), "sII", &range->path,
                              &range->first, &range->last))
            return -1;
        meta->nonly_ranges++;
    }
    meta->only_ranges = only;
    return 0;
}

/* ==== Python API ==== */

static PyObject *configure(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *keywords[] = {"interval_s", "virtual_time", "stacks", "profile_all",
                               "profile_only", "profile_exclude", "program_dirs",
                               "library_dirs", "own_dirs", "cpu", "memory", "alloc_interval",
                               "copy_interval", "gpu", "idle", "kept_lines",
                               "cpu_percent_threshold", "malloc_threshold", "gpu_asked", "awaits",
                               NULL};
    double interval_s, cpu_percent_threshold = 1.0;
    long malloc_threshold = 100;
    int virtual_time, stacks, profile_all, cpu = 1, memory = 0, gpu = 0, idle = 0, awaits = 0;
    int gpu_asked = 0;
    unsigned long long alloc_bytes = 262144, copy_bytes = 262144;
    PyObject *only, *exclude, *program_dirs, *library_dirs, *own_dirs, *kept_lines = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "dpppOOOOO|ppKKppOdlpp", keywords,
                                     &interval_s, &virtual_time, &stacks, &profile_all,
                                     &only, &exclude, &program_dirs, &library_dirs,
                                     &own_dirs, &cpu, &memory, &alloc_bytes, &copy_bytes,
                                     &gpu, &idle, &kept_lines,
                                     &cpu_percent_threshold, &malloc_threshold, &gpu_asked,
                                     &awaits))
        return NULL;
    if (ts_profiler_running()) {
        PyErr_SetString(PyExc_RuntimeError, "cannot configure while profiling");
        return NULL;
    }
    if (!(interval_s >= 1e-4 && interval_s <= 10.0)) {
        PyErr_SetString(PyExc_ValueError, "interval_s must be in [0.0001, 10]");
        return NULL;
    }
    if (alloc_bytes == 0 || copy_bytes == 0) {
        PyErr_SetString(PyExc_ValueError, "sampling intervals must be positive");
        return NULL;
    }
    ts_profiler_config_t run;
    memset(&run, 0, sizeof run);
    /* --reduced-profile: (cpu_pct, mem_pct, alloc_samples, alloc_mb), reports/display.py's
     * cut. */
    if (kept_lines != Py_None &&
        (!PyTuple_Check(kept_lines) ||
         !PyArg_ParseTuple(kept_lines, "ddKd", &run.cut.cpu_pct, &run.cut.mem_pct,
                           &run.cut.alloc_samples, &run.cut.alloc_mb))) {
        PyErr_SetString(PyExc_TypeError,
                        "kept_lines must be None or (cpu_pct, mem_pct, alloc_samples, "
                        "alloc_mb)");
        return NULL;
    }
    run.has_cut = kept_lines != Py_None;
    run.cpu_percent_threshold = cpu_percent_threshold;
    run.malloc_threshold = malloc_threshold;
    run.cpu = cpu;
    run.memory = memory;
    run.gpu = gpu && cpu; /* GPU time is charged through the CPU and waiting samples */
    run.gpu_asked = run.gpu && gpu_asked;
    run.alloc_interval = alloc_bytes;
    run.copy_interval = copy_bytes;
    run.sampler.interval_ns = (uint64_t)(interval_s * 1e9);
    run.sampler.virtual_time = virtual_time;
    run.sampler.include_idle = idle;
    memcpy(run.sampler.call_opcodes, ts_call_opcodes, sizeof ts_call_opcodes);
    run.stacks = stacks;
    run.awaits = awaits;
    ts_filter_t filter;
    memset(&filter, 0, sizeof filter);
    filter.profile_all = profile_all;
    if (fill_strlist(&filter.only, only, "profile_only") < 0 ||
        fill_strlist(&filter.exclude, exclude, "profile_exclude") < 0 ||
        fill_strlist(&filter.program_dirs, program_dirs, "program_dirs") < 0 ||
        fill_strlist(&filter.library_dirs, library_dirs, "library_dirs") < 0 ||
        fill_strlist(&filter.own_dirs, own_dirs, "own_dirs") < 0) {
        ts_filter_free(&filter);
        return NULL;
    }
    ts_profiler_configure(&run, &filter);
    Py_RETURN_NONE;
}

static PyObject *start(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *keywords[] = {"paused", NULL};
    int start_paused = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p", keywords, &start_paused))
        return NULL;
    /* Before the profiler's thread: parking the spares grows the descriptor table, which in
     * a process with threads waits for an RCU grace period (fdpark.h). */
    ts_fd_keep_room();
    int status = ts_profiler_start(start_paused);
    if (status != TS_PROFILER_OK)
        ts_fd_give_back_spares();
    switch (status) {
    case TS_PROFILER_OK:
        Py_RETURN_NONE;
    case TS_PROFILER_NOT_CONFIGURED:
        PyErr_SetString(PyExc_RuntimeError, "configure() must be called first");
        return NULL;
    case TS_PROFILER_NO_CODE_WATCH:
        PyErr_SetString(PyExc_RuntimeError, "cannot watch code objects");
        return NULL;
    case TS_PROFILER_NO_MEMORY:
        return PyErr_NoMemory();
    case TS_PROFILER_FAILED:
        break;
    }
    return PyErr_SetFromErrno(PyExc_OSError);
}

static PyObject *stop(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    ts_profiler_stop();
    Py_RETURN_NONE;
}

static PyObject *release(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    /* The program's pending signal handlers run now, where an exception they raise leaves
     * everything as it was, rather than inside the first `signal.signal` put back. */
    if (PyErr_CheckSignals() < 0)
        return NULL;
    if (ts_profiler_release() < 0) {
        PyErr_SetString(PyExc_RuntimeError, "release() must follow stop()");
        return NULL;
    }
    ts_fd_give_back_spares(); /* already, where a profile was written */
    Py_RETURN_NONE;
}

static PyObject *thread_enter(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "|z", &name))
        return NULL;
    if (ts_profiler_thread_enter(name) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *thread_leave(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    ts_profiler_thread_leave();
    Py_RETURN_NONE;
}

static PyObject *sigterm_relay(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (ts_sigterm_relay_install() != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *sigterm_taken(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    ts_sigterm_taken();
    Py_RETURN_NONE;
}

static PyObject *after_fork_in_child(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    ts_profiler_after_fork_in_child();
    forget_checkpoints();
    announcement_due_ns = 0; /* the parent's to make */
    forget_live();
    ts_crashsave_forget_after_fork();
    Py_RETURN_NONE;
}

static PyObject *suspend(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    ts_profiler_set_paused(1);
    Py_RETURN_NONE;
}

static PyObject *resume(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    ts_profiler_set_paused(0);
    Py_RETURN_NONE;
}

static PyObject *is_paused(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(ts_profiler_paused());
}

/* run_as_program(code, globals) or run_as_program(function, args): the code object run in
 * `globals` (as plain python runs a script: no call of exec() between), or function(*args)
 * (runpy's, for -m), with the calling Python frames hidden (compat.h,
 * ts_compat_hide_callers): the launcher's way to run the program. */
static PyObject *run_as_program(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *what, *with;
    if (!PyArg_ParseTuple(args, "OO", &what, &with))
        return NULL;
    if (PyCode_Check(what) ? !PyDict_Check(with) : !PyTuple_Check(with)) {
        PyErr_SetString(PyExc_TypeError, "run_as_program(code, dict) or (callable, tuple)");
        return NULL;
    }
    PyThreadState *tstate = PyThreadState_Get();
    ts_compat_hidden_t hidden = ts_compat_hide_callers(tstate);
    PyObject *result = PyCode_Check(what) ? PyEval_EvalCode(what, with, with)
                                          : PyObject_Call(what, with, NULL);
    ts_compat_show_callers(tstate, hidden);
    return result;
}

static PyObject *is_running(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(ts_profiler_running());
}

static PyObject *sample_counts(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return Py_BuildValue("KKK", (unsigned long long)ts_sampler_samples_taken(),
                         (unsigned long long)ts_sampler_samples_dropped(),
                         (unsigned long long)ts_pymemory_lost());
}

/* `triscope --pid N --on/--off`: the control signal with our cookie (profiler.c). */
static PyObject *send_control(PyObject *self, PyObject *args)
{
    (void)self;
    int pid, resume_it;
    if (!PyArg_ParseTuple(args, "ip", &pid, &resume_it))
        return NULL;
    if (ts_profiler_send_control(pid, resume_it) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *memory_preloaded(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(ts_pymemory_preloaded());
}

/* park_fd(fd): a descriptor triscope keeps across the program, moved off the numbers the
 * program's own opens take (fdpark.h); returns its number now. */
static PyObject *park_fd(PyObject *self, PyObject *arg)
{
    (void)self;
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    if (fd < 0 || fd > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "not a descriptor");
        return NULL;
    }
    return PyLong_FromLong(ts_fd_park((int)fd));
}

/* make_room() and room_done(): around the writing of the profile, the spare descriptors
 * closed and the descriptor limit the run began with in force (fdpark.h). */
static PyObject *make_room(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    ts_fd_make_room();
    Py_RETURN_NONE;
}

static PyObject *room_done(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    ts_fd_room_done();
    Py_RETURN_NONE;
}

/* sha256_hex(data): the hash the profile records for a file (sha256.c), for regions.py to
 * check a file against it. The same code as the writer's, and no hashlib: a run's report
 * would otherwise load OpenSSL at exit for it (docs/PERFORMANCE.md, start-up + exit). */
static PyObject *sha256_hex(PyObject *self, PyObject *data)
{
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    ts_sha256_t hash;
    char hex[65];
    ts_sha256_init(&hash);
    ts_sha256_update(&hash, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    ts_sha256_hex(&hash, hex);
    return PyUnicode_FromStringAndSize(hex, 64);
}

/* python_spans(data): the functions, loops and blocks of Python source (pyspans.c), for
 * regions.py: a list of (first, last, kind, word), the kind "function", "loop" or "block",
 * the word a loop's or block's statement ("for", "async for", "while", "if", "with",
 * "asyncwith", "try", "trystar", "match": the syntax tree's names) or a function's name as
 * the bytes it is written in (regions.py decodes them as the file's text); None when the
 * bytes are not Python that ran. */
static PyObject *python_spans(PyObject *self, PyObject *data)
{
    (void)self;
    static const char *const kinds[] = {"function", "loop", "loop", "loop", "block", "block",
                                        "block", "block", "block", "block"};
    static const char *const words[] = {NULL, "for", "async for", "while", "if", "with",
                                        "asyncwith", "try", "trystar", "match"};
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    /* Room for a file of 250 functions, loops and blocks, twice as much while it is short:
     * reading the text again costs less than room for the most a text could hold (a span a
     * line). */
    ts_pyspan *spans = NULL;
    long count = TS_PYSPANS_NO_ROOM;
    for (size_t capacity = 256; count == TS_PYSPANS_NO_ROOM; capacity *= 2) {
        PyMem_RawFree(spans);
        spans = PyMem_RawMalloc(capacity * sizeof *spans);
        if (spans == NULL) {
            PyBuffer_Release(&view);
            return PyErr_NoMemory();
        }
        count = ts_pyspans(view.buf, (size_t)view.len, spans, capacity);
    }
    PyObject *found = count < 0 ? Py_NewRef(Py_None) : PyList_New(count);
    for (long i = 0; found != NULL && found != Py_None && i < count; i++) {
        const ts_pyspan *span = &spans[i];
        PyObject *item = span->word == TS_SPAN_DEF
            ? Py_BuildValue("(IIsy#)", span->first, span->last, kinds[span->word],
                            (const char *)view.buf + span->name_at,
                            (Py_ssize_t)span->name_length)
            : Py_BuildValue("(IIss)", span->first, span->last, kinds[span->word],
                            words[span->word]);
        if (item == NULL)
            Py_CLEAR(found);
        else
            PyList_SET_ITEM(found, i, item);
    }
    PyMem_RawFree(spans);
    PyBuffer_Release(&view);
    return found;
}

/* The writer's decode_source (profile_json.h): write_profile's `decode_source`, a Python
 * callable taking a file's bytes and giving its text (triscope/source.py). The program's
 * trace and profile functions must not see it run (a checkpoint is written between two of
 * its bytecodes), so tracing is suspended around the call. Whatever goes wrong, the bytes
 * are quoted as they are. */
static char *decode_with_python(void *callable, const char *bytes, size_t len,
                                size_t *text_len)
{
    PyThreadState *tstate = PyThreadState_Get();
    PyThreadState_EnterTracing(tstate);
    PyObject *text = PyObject_CallFunction(callable, "y#", bytes, (Py_ssize_t)len);
    PyThreadState_LeaveTracing(tstate);
    Py_ssize_t size = 0;
    const char *utf8 = text != NULL && PyUnicode_Check(text)
                           ? PyUnicode_AsUTF8AndSize(text, &size)
                           : NULL;
    char *copy = utf8 != NULL ? malloc((size_t)size + 1) : NULL;
    if (copy != NULL) {
        memcpy(copy, utf8, (size_t)size + 1);
        *text_len = (size_t)size;
    }
    Py_XDECREF(text);
    PyErr_Clear();
    return copy;
}

static PyObject *write_profile(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *keywords[] = {"path", "version", "program", "args", "python", "only_ranges",
                               "fd", "string_source", "decode_source", "overhead_rss_mb",
                               NULL};
    PyObject *path_arg, *path_obj = NULL, *argv, *ranges = NULL, *decode_source = Py_None;
    const char *version, *program, *python, *string_source = NULL;
    int fd = -1;
    double overhead_rss_mb = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OssOs|OizOd", keywords, &path_arg,
                                     &version, &program, &argv, &python, &ranges, &fd,
                                     &string_source, &decode_source, &overhead_rss_mb))
        return NULL;
    if (decode_source != Py_None && !PyCallable_Check(decode_source)) {
        PyErr_SetString(PyExc_TypeError, "decode_source must be callable or None");
        return NULL;
    }
    if (fd < 0 && !PyUnicode_FSConverter(path_arg, &path_obj))
        return NULL;
    ts_profile_meta_t meta;
    memset(&meta, 0, sizeof meta);
    ts_line_range_t only[TS_MAX_ONLY_RANGES];
    PyObject *ranges_fast;
    if (fill_ranges(ranges, only, &meta, &ranges_fast) < 0) {
        Py_XDECREF(ranges_fast);
        Py_XDECREF(path_obj);
        return NULL;
    }
    meta.version = version;
    meta.program = program;
    meta.string_source = string_source;
    if (decode_source != Py_None) {
        meta.decode_source = decode_with_python;
        meta.decode_context = decode_source;
    }
    meta.python = python;
    meta.pid = (long)getpid();
    meta.overhead_rss_mb = overhead_rss_mb;
    PyObject *result = NULL;
    if (fill_strlist(&meta.args, argv, "args") < 0)
        goto done;
    const char *path = fd >= 0 ? NULL : PyBytes_AS_STRING(path_obj);
    if (ts_profiler_write(path, fd, &meta) < 0) {
        if (path == NULL)
            PyErr_SetFromErrno(PyExc_OSError);
        else
            PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    ts_strlist_free(&meta.args);
    Py_XDECREF(ranges_fast);
    Py_XDECREF(path_obj);
    return result;
}

/* ==== Checkpoints ====
 *
 * Runs keep a recent copy of the profile for a crash to leave behind, or a SIGTERM the
 * main thread cannot take in time (crashsave.h): the first after `first` seconds, each
 * next one twice as far from its predecessor, up to `most` seconds apart, so a crash loses
 * about half of a short run, and at most `most` seconds of a long one.
 * Written from the GIL work, so no thread of ours shows in the program's threading module,
 * and in C, so no trace or profile function of the program sees it. */

static PyObject *checkpoint_meta; /* write_profile's keywords, fd set at each checkpoint */
static int checkpoint_fds[2], checkpoint_next;
static uint64_t checkpoint_period_ns, checkpoint_most_ns, checkpoint_due_ns;

static void forget_checkpoints(void)
{
    Py_CLEAR(checkpoint_meta);
    checkpoint_period_ns = 0;
}

/* The whole profile into the checkpoint file `fd`, with write_profile's keywords `meta`
 * (its "path" None; "fd" is set here). 0, or -1 with a Python error set. */
static int write_checkpoint(int fd, PyObject *meta)
{
    PyObject *fd_obj = PyLong_FromLong(fd);
    PyObject *empty = PyTuple_New(0);
    PyObject *written = NULL;
    if (fd_obj != NULL && empty != NULL && PyDict_SetItemString(meta, "fd", fd_obj) == 0)
        written = write_profile(NULL, empty, meta);
    Py_XDECREF(fd_obj);
    Py_XDECREF(empty);
    if (written == NULL)
        return -1;
    Py_DECREF(written);
    return 0;
}

static void checkpoint_if_due(uint64_t now_ns)
{
    if (checkpoint_meta == NULL || now_ns < checkpoint_due_ns)
        return;
    checkpoint_period_ns = checkpoint_period_ns * 2 < checkpoint_most_ns
                               ? checkpoint_period_ns * 2 : checkpoint_most_ns;
    checkpoint_due_ns = now_ns + checkpoint_period_ns;
    int fd = checkpoint_fds[checkpoint_next];
    if (write_checkpoint(fd, checkpoint_meta) < 0) {
        /* A checkpoint that fails (full disk) costs the program nothing: the next is tried. */
        PyErr_Clear();
        return;
    }
    if (ts_crashsave_ready(fd) == 0)
        checkpoint_next = !checkpoint_next;
}

static PyObject *checkpoint_every(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *keywords[] = {"first", "most", "fds", "dir_fd", "temp_name", "final_name",
                               "final_path", "meta", NULL};
    double first, most;
    int fds[2], directory;
    const char *temp, *final, *final_path;
    PyObject *meta;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "dd(ii)isssO!", keywords, &first, &most,
                                     &fds[0], &fds[1], &directory, &temp, &final, &final_path,
                                     &PyDict_Type, &meta))
        return NULL;
    if (!(first >= 0.001) || !(most >= first) ||
        ts_crashsave_configure(directory, temp, final, final_path) < 0) {
        PyErr_SetString(PyExc_ValueError, "bad checkpoint period or names");
        return NULL;
    }
    Py_XSETREF(checkpoint_meta, PyDict_Copy(meta));
    if (checkpoint_meta == NULL)
        return NULL;
    PyObject *none = Py_None;
    if (PyDict_SetItemString(checkpoint_meta, "path", none) < 0)
        return NULL;
    checkpoint_fds[0] = fds[0];
    checkpoint_fds[1] = fds[1];
    checkpoint_next = 0;
    checkpoint_period_ns = (uint64_t)(first * 1e9);
    checkpoint_most_ns = (uint64_t)(most * 1e9);
    checkpoint_due_ns = ts_now_ns() + checkpoint_period_ns;
    Py_RETURN_NONE;
}

/* ==== A long run's announcement ====
 *
 * A run says nothing of itself at its start (docs/DEFINITIONS.md): one still going after a
 * while says once, on stderr, which process is profiled and how to suspend it. Written from
 * the GIL work, like the checkpoints, so that no thread or code of the program sees it. */

static void announce_if_due(uint64_t now_ns)
{
    if (announcement_due_ns == 0 || now_ns < announcement_due_ns)
        return;
    announcement_due_ns = 0;
    const char *left = announcement;
    size_t size = strlen(announcement);
    while (size > 0) {
        ssize_t written = write(STDERR_FILENO, left, size);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return; /* a closed stderr: the announcement is not worth an error */
        left += written;
        size -= (size_t)written;
    }
}

static PyObject *announce_after(PyObject *self, PyObject *args)
{
    (void)self;
    double seconds;
    const char *message;
    if (!PyArg_ParseTuple(args, "ds", &seconds, &message))
        return NULL;
    if (!(seconds >= 0.0) || strlen(message) >= sizeof announcement) {
        PyErr_SetString(PyExc_ValueError, "bad announcement delay or message too long");
        return NULL;
    }
    memcpy(announcement, message, strlen(message) + 1);
    announcement_due_ns = ts_now_ns() + (uint64_t)(seconds * 1e9);
    if (announcement_due_ns == 0)
        announcement_due_ns = 1;
    Py_RETURN_NONE;
}

/* The whole profile written into the checkpoint file not holding the last complete
 * checkpoint, and given the output's name as a crash's would be: for a program that left
 * no descriptor number to open the output with (docs/ARCHITECTURE.md, "What the program
 * leaves behind"). Profiling has stopped: no checkpoint is being written meanwhile. */
static PyObject *checkpoint_final(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    if (checkpoint_meta == NULL || PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "no checkpoints to write the profile through");
        return NULL;
    }
    int fd = checkpoint_fds[checkpoint_next];
    PyObject *meta = kwargs != NULL ? PyDict_Copy(kwargs) : PyDict_New();
    PyObject *none = Py_None;
    int failed = meta == NULL || PyDict_SetItemString(meta, "path", none) < 0 ||
                 write_checkpoint(fd, meta) < 0;
    Py_XDECREF(meta);
    if (failed)
        return NULL;
    if (ts_crashsave_ready(fd) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    const char *where = ts_crashsave_save_now();
    ts_crashsave_disarm();
    if (where == NULL) {
        PyErr_SetString(PyExc_OSError, "the checkpoint could not be given the output's name");
        return NULL;
    }
    return PyUnicode_DecodeFSDefault(where);
}

static PyObject *checkpoint_stop(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    forget_checkpoints();
    ts_crashsave_disarm();
    Py_RETURN_NONE;
}

/* ==== triscope dump ==== */

static PyObject *dump_frame(const ts_dump_frame_t *frame)
{
    /* Names read from another process: a stray byte is replaced, never an error. */
    PyObject *function = PyUnicode_DecodeUTF8(frame->function, (Py_ssize_t)strlen(frame->function),
                                              "replace");
    PyObject *file = PyUnicode_DecodeUTF8(frame->file, (Py_ssize_t)strlen(frame->file), "replace");
    PyObject *tuple = NULL;
    if (function != NULL && file != NULL)
        tuple = Py_BuildValue("(OOi)", function, file, frame->line);
    Py_XDECREF(function);
    Py_XDECREF(file);
    return tuple;
}

static PyObject *dump_thread(const ts_dump_thread_t *thread)
{
    PyObject *frames = PyList_New(thread->depth);
    if (frames == NULL)
        return NULL;
    for (int f = 0; f < thread->depth; f++) {
        PyObject *frame = dump_frame(&thread->frames[f]);
        if (frame == NULL) {
            Py_DECREF(frames);
            return NULL;
        }
        PyList_SET_ITEM(frames, f, frame);
    }
    PyObject *holds_gil = thread->holds_gil < 0 ? Py_None : PyBool_FromLong(thread->holds_gil);
    return Py_BuildValue("{s:K,s:O,s:O,s:N}", "native_id", (unsigned long long)thread->native_id,
                         "holds_gil", holds_gil, "truncated",
                         thread->truncated ? Py_True : Py_False, "frames", frames);
}

static PyObject *dump_process(PyObject *self, PyObject *args)
{
    (void)self;
    int pid;
    if (!PyArg_ParseTuple(args, "i", &pid))
        return NULL;
    ts_dump_t *dump = PyMem_RawMalloc(sizeof *dump);
    if (dump == NULL)
        return PyErr_NoMemory();
    ts_dump_error_t error;
    Py_BEGIN_ALLOW_THREADS
    error = ts_dump_read((pid_t)pid, dump);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    switch (error) {
    case TS_DUMP_OK:
        break;
    case TS_DUMP_NO_PROCESS:
    case TS_DUMP_EXITED:
        PyErr_SetString(PyExc_ProcessLookupError, dump->message);
        goto done;
    case TS_DUMP_DENIED:
        PyErr_SetString(PyExc_PermissionError, dump->message);
        goto done;
    case TS_DUMP_NO_MEMORY:
        PyErr_NoMemory();
        goto done;
    default:
        PyErr_SetString(PyExc_RuntimeError, dump->message);
        goto done;
    }
    PyObject *threads = PyList_New(dump->nthreads);
    if (threads == NULL)
        goto done;
    for (int t = 0; t < dump->nthreads; t++) {
        PyObject *thread = dump_thread(&dump->threads[t]);
        if (thread == NULL) {
            Py_DECREF(threads);
            goto done;
        }
        PyList_SET_ITEM(threads, t, thread);
    }
    PyObject *version = PyUnicode_FromFormat("%lu.%lu.%lu", dump->version >> 24,
                                             dump->version >> 16 & 0xFF,
                                             dump->version >> 8 & 0xFF);
    if (version == NULL) {
        Py_DECREF(threads);
        goto done;
    }
    result = Py_BuildValue("{s:N,s:s,s:N}", "python", version, "object", dump->object,
                           "threads", threads);
done:
    ts_dump_free(dump);
    PyMem_RawFree(dump);
    return result;
}

/* ==== The live view ====
 *
 * `triscope --live`: every period, a snapshot of the profile so far (live.h) goes to the
 * viewer's socket from the GIL work, as the checkpoints do, and in C: nothing runs in Python
 * inside the program for the view, and nothing waits for the viewer (docs/ARCHITECTURE.md,
 * "The live view"). */

static int live_fd = -1;
static PyObject *live_ranges; /* the @profile ranges, the list itself: read at each snapshot */
static uint64_t live_period_ns, live_due_ns;

/* No more snapshots. In a forked child the descriptor is the child's copy: closing it leaves
 * the parent's view alone, and the viewer sees its end only when the run's process ends. */
static void forget_live(void)
{
    if (live_fd >= 0)
        close(live_fd);
    live_fd = -1;
    Py_CLEAR(live_ranges);
}

static void live_if_due(uint64_t now_ns)
{
    if (live_fd < 0 || now_ns < live_due_ns)
        return;
    live_due_ns = now_ns + live_period_ns;
    ts_profile_meta_t meta;
    memset(&meta, 0, sizeof meta);
    meta.pid = (long)getpid();
    ts_line_range_t only[TS_MAX_ONLY_RANGES];
    PyObject *ranges_fast;
    if (fill_ranges(live_ranges, only, &meta, &ranges_fast) < 0) {
        /* The program made triscope.profiled_functions something else: lines are not
         * restricted for the view (the profile at the end says what it says). */
        PyErr_Clear();
        meta.only_ranges = NULL;
        meta.nonly_ranges = 0;
    }
    ts_pymemory_guard(1); /* the snapshot's own allocations are not the program's */
    int gone = ts_profiler_live_send(live_fd, &meta) < 0;
    ts_pymemory_guard(0);
    Py_XDECREF(ranges_fast);
    if (gone)
        forget_live();
}

static PyObject *live_every(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *keywords[] = {"seconds", "fd", "only_ranges", NULL};
    double seconds;
    int fd;
    PyObject *ranges = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "di|O", keywords, &seconds, &fd, &ranges))
        return NULL;
    if (!(seconds >= 0.01) || fd < 0) {
        PyErr_SetString(PyExc_ValueError, "bad live view period or descriptor");
        return NULL;
    }
    forget_live();
    live_fd = fd;
    live_ranges = Py_NewRef(ranges);
    live_period_ns = (uint64_t)(seconds * 1e9);
    live_due_ns = ts_now_ns(); /* the first at once: the view fills as soon as it can */
    Py_RETURN_NONE;
}

static PyObject *live_finish(PyObject *self, PyObject *args)
{
    (void)self;
    double wait_s;
    if (!PyArg_ParseTuple(args, "d", &wait_s))
        return NULL;
    int fd = live_fd, answered = 0;
    live_fd = -1;
    Py_CLEAR(live_ranges);
    if (fd < 0)
        Py_RETURN_FALSE;
    Py_BEGIN_ALLOW_THREADS
    answered = ts_live_finish(fd, (int)(wait_s * 1000));
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(answered);
}

/* Every GIL period of the consumer, with the GIL. */
static void on_gil_period(uint64_t now_ns)
{
    checkpoint_if_due(now_ns);
    announce_if_due(now_ns);
    live_if_due(now_ns);
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "configure(*, interval_s, virtual_time, stacks, profile_all, "
     "profile_only, profile_exclude, program_dirs, library_dirs, own_dirs, cpu=True, "
     "memory=False, alloc_interval=262144, copy_interval=262144, gpu=False, idle=False, "
     "kept_lines=None, cpu_percent_threshold=1.0, malloc_threshold=100, gpu_asked=False, "
     "awaits=False): every option of the next run, in one call (launch.native_keywords builds "
     "them from Options); kept_lines is --reduced-profile's cut (cpu_pct, mem_pct, "
     "alloc_samples, alloc_mb) or None; gpu_asked: --gpu was given, so a GPU that cannot be "
     "profiled is worth a reason in the profile (the default mode looks for one quietly); "
     "awaits: --async, awaited time (3.12+)."},
    {"start", (PyCFunction)(void (*)(void))start, METH_VARARGS | METH_KEYWORDS,
     "start(paused=False): start profiling every Python thread."},
    {"suspend", suspend, METH_NOARGS, "Stop recording samples until resume()."},
    {"resume", resume, METH_NOARGS, "Record samples again."},
    {"is_paused", is_paused, METH_NOARGS, "Whether recording is suspended."},
    {"stop", stop, METH_NOARGS, "Stop sampling and resolve what was queued."},
    {"release", release, METH_NOARGS,
     "After stop(), on the main thread: give the signals, the signal module's functions and "
     "the fault handlers back to the program, as before the first start()."},
    {"thread_enter", thread_enter, METH_VARARGS, "The calling thread starts: sample it."},
    {"thread_leave", thread_leave, METH_NOARGS, "The calling thread ends: stop sampling it."},
    {"sigterm_relay", sigterm_relay, METH_NOARGS,
     "sigterm_relay(): on the main thread, just after triscope's SIGTERM handler was installed: "
     "a SIGTERM whose handler does not begin is sent again, and after 5 s ends the process "
     "(docs/ARCHITECTURE.md, Control)."},
    {"sigterm_taken", sigterm_taken, METH_NOARGS,
     "sigterm_taken(): triscope's SIGTERM handler has begun: nothing more to send."},
    {"after_fork_in_child", after_fork_in_child, METH_NOARGS,
     "Forget the parent's timers and threads in a forked child."},
    {"is_running", is_running, METH_NOARGS, "Whether sampling is on."},
    {"run_as_program", run_as_program, METH_VARARGS,
     "run_as_program(code, globals) or run_as_program(function, args): the code run in "
     "globals, or function(*args), with the caller's Python frames hidden from it and their "
     "recursion budget given back, as plain python runs a program."},
    {"sample_counts", sample_counts, METH_NOARGS,
     "(CPU samples taken, CPU samples dropped, memory events lost)."},
    {"send_control", send_control, METH_VARARGS,
     "send_control(pid, resume): suspend (False) or resume (True) that process's profile."},
    {"memory_preloaded", memory_preloaded, METH_NOARGS,
     "Whether the allocator library is loaded (native allocations and copies are seen)."},
    {"park_fd", park_fd, METH_O,
     "park_fd(fd): a descriptor triscope keeps while the program runs, moved above the "
     "numbers the program's opens take (close-on-exec, the original closed); its number."},
    {"make_room", make_room, METH_NOARGS,
     "make_room(): before the profile is written, the spare descriptors held since start() "
     "closed, and the descriptor limit of the start in force where the program lowered it."},
    {"room_done", room_done, METH_NOARGS,
     "room_done(): after the writing, the program's own lowered descriptor limit back."},
    {"python_spans", python_spans, METH_O,
     "python_spans(data): the functions, loops and blocks of Python source in bytes, as "
     "(first line, last line, kind, word or a function's name in bytes), or None."},
    {"sha256_hex", sha256_hex, METH_O,
     "sha256_hex(data): the SHA-256 of a bytes-like object in 64 lowercase hex digits, as "
     "the profile records a file's."},
    {"write_profile", (PyCFunction)(void (*)(void))write_profile,
     METH_VARARGS | METH_KEYWORDS,
     "write_profile(path, version, program, args, python, only_ranges=None, fd=-1, "
     "string_source=None, decode_source=None, overhead_rss_mb=-1): write the JSON profile "
     "atomically to path "
     "(or, with fd=, over that file's content); the arguments are facts of the run, the "
     "options came with configure()."},
    {"announce_after", announce_after, METH_VARARGS,
     "announce_after(seconds, message): write `message` to stderr once, if the profile is "
     "still running `seconds` from now (a long run's banner)."},
    {"checkpoint_every", (PyCFunction)(void (*)(void))checkpoint_every,
     METH_VARARGS | METH_KEYWORDS,
     "checkpoint_every(first, most, fds, dir_fd, temp_name, final_name, final_path, meta): "
     "write the profile into fds in turn, the first after `first` seconds, each next twice "
     "as far from the last, at most `most` seconds apart; a fatal signal then names the "
     "last complete one final_name in dir_fd."},
    {"dump_process", dump_process, METH_VARARGS,
     "dump_process(pid): every thread's Python stack in that process, read from outside "
     "(docs/ARCHITECTURE.md, triscope dump): {python, object, threads: [{native_id, "
     "holds_gil, truncated, frames: [(function, file, line), innermost first]}]}, threads "
     "newest first. ProcessLookupError, PermissionError or RuntimeError with one line."},
    {"checkpoint_final", (PyCFunction)(void (*)(void))checkpoint_final,
     METH_VARARGS | METH_KEYWORDS,
     "checkpoint_final(**write_profile keywords but path and fd): write the profile into the "
     "checkpoint file not holding the last checkpoint and give it the output's name, as a "
     "crash would; returns where it is."},
    {"checkpoint_stop", checkpoint_stop, METH_NOARGS,
     "No more checkpoints; a crash from now on saves none."},
    {"live_every", (PyCFunction)(void (*)(void))live_every, METH_VARARGS | METH_KEYWORDS,
     "live_every(seconds, fd, only_ranges=None): send the live view a snapshot of the "
     "profile every `seconds` (the first at once) on the SOCK_SEQPACKET socket fd, which "
     "the core now owns; only_ranges as write_profile's, read at each snapshot."},
    {"live_finish", live_finish, METH_VARARGS,
     "live_finish(wait_s): no more snapshots; tell the viewer the run is over and wait up "
     "to wait_s for it to give the terminal back. Whether it did."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "triscope._native", "triscope's C core.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void);

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    ts_profiler_on_gil_period(on_gil_period);
    /* The table built in (call_opcodes.h), for tests/test_versions.py to compare with
     * _compat.call_opcodes on the running interpreter. */
    PyObject *call_opcodes = PyBytes_FromStringAndSize((const char *)ts_call_opcodes,
                                                       sizeof ts_call_opcodes);
    if (PyModule_AddObject(m, "CALL_OPCODES", call_opcodes) < 0) {
        Py_XDECREF(call_opcodes);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "SIGNAL_SUSPEND", TS_SIGNAL_SUSPEND) < 0 ||
        PyModule_AddIntConstant(m, "SIGNAL_RESUME", TS_SIGNAL_RESUME) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
