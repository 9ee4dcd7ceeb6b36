/* SPDX-License-Identifier: MIT
 *
 * module.c — triscope._native, the only file that speaks to Python: it converts arguments,
 * turns the core's 0/-1 results into exceptions, and sequences start and stop. Everything
 * it calls is documented in its own header.
 *
 * Lifecycle: configure() → start() → [thread_enter()/thread_leave() from threading] →
 * stop() → write_profile(). start() may follow stop() (a new profile).
 */
#define _GNU_SOURCE
#include "compat.h"

#include "addrmap.h"
#include "consumer.h"
#include "crashsave.h"
#include "filter.h"
#include "gpu.h"
#include "memory.h"
#include "profile_json.h"
#include "pysignal.h"
#include "resolve.h"
#include "sampler.h"
#include "sigguard.h"
#include "threads.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The consumer takes the GIL this often to resolve samples and track threads. */
#define TS_GIL_PERIOD_NS 100000000u
#define TS_MAX_REPORTED_THREADS 4096
#define TS_MAX_ONLY_RANGES 1024

/* Suspend and resume from another process (`triscope --pid N --off/--on`): two real-time
 * signals whose handlers only flip atomic flags. Real-time, so they never collide with the
 * program's SIGUSR1/SIGUSR2; the same-user rule is the kernel's own for kill(). They are
 * sent with sigqueue() carrying TS_CONTROL_COOKIE: the same signal from anyone else (the
 * program raising it) is the program's, and goes where its own view of the signal says. */
#define TS_SIGNAL_SUSPEND (SIGRTMIN + 6)
#define TS_SIGNAL_RESUME (SIGRTMIN + 7)
#define TS_CONTROL_COOKIE 0x74726973 /* "tris" */

/* GPU polls come at most this often (further apart when a poll is expensive: gpu.c). */
#define TS_GPU_MIN_PERIOD_NS 20000000u

/* With CPU profiling off the consumer still drains memory events at this pace. */
#define TS_MEMORY_ONLY_TICK_NS 100000000u

static ts_sampler_config_t config;
static ts_filter_t pending_filter;
static int configured, filter_pending, running, record_stacks;
static int profile_cpu, profile_memory, profile_gpu;
static _Atomic int paused;
static uint64_t alloc_interval, copy_interval;
static uint64_t started_ns, stopped_ns;
static uint64_t addrmap_generation;
static uintptr_t eval_start, eval_end;

/* ==== Address map for the Python/native split ==== */

/* Old maps are kept: the handler on another thread may still be reading one. They are few
 * (one per batch of shared objects loaded) and small. */
static ts_addrmap_t *retired_maps[256];
static size_t nretired;
static ts_addrmap_t *current_map;

static void self_marker(void) {}

static void find_eval_loop(void)
{
    void *eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    Dl_info info;
    const ElfW(Sym) *symbol = NULL;
    if (eval != NULL && dladdr1(eval, &info, (void **)&symbol, RTLD_DL_SYMENT) && symbol) {
        eval_start = (uintptr_t)eval;
        eval_end = eval_start + symbol->st_size;
    }
}

static void refresh_addrmap(void)
{
    unsigned long long generation = ts_addrmap_generation();
    if (current_map != NULL && generation == addrmap_generation)
        return;
    ts_addrmap_t *map = ts_addrmap_build(eval_start, eval_end, (uintptr_t)&PyCode_Type,
                                         (uintptr_t)&self_marker);
    if (map == NULL || nretired == sizeof retired_maps / sizeof retired_maps[0])
        return; /* keep the old map: stale entries only blur Python vs native */
    if (current_map != NULL)
        retired_maps[nretired++] = current_map;
    current_map = map;
    addrmap_generation = generation;
    ts_sampler_set_addrmap(map);
}

/* ==== Suspending and resuming ==== */

/* Async-signal-safe: atomic stores only. */
static void set_paused(int pause)
{
    atomic_store(&paused, pause);
    if (!running)
        return;
    if (profile_cpu)
        ts_sampler_enable(!pause);
    if (profile_memory)
        ts_memory_set_enabled(!pause);
}

static void on_control_signal(int signo, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    if (info->si_code == SI_QUEUE && info->si_value.sival_int == TS_CONTROL_COOKIE)
        set_paused(signo == TS_SIGNAL_SUSPEND);
    else
        ts_sigguard_forward(signo, info, context);
    errno = saved_errno;
}

static int install_control_signals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_control_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (ts_sigguard_install(TS_SIGNAL_SUSPEND, &action) != 0 ||
        ts_sigguard_install(TS_SIGNAL_RESUME, &action) != 0)
        return -1;
    return 0;
}

/* Before any of our handlers goes in: the program's calls on our signals, Python and
 * native, reach only its own view of them from then on. */
static void guard_signals(void)
{
    const int ours[] = {TS_TIMER_SIGNAL, TS_SIGNAL_SUSPEND, TS_SIGNAL_RESUME};
    ts_sigguard_init();
    ts_pysignal_guard(ours, sizeof ours / sizeof ours[0]);
}

/* ==== Consumer ticks ==== */

/* Every tick, without the GIL: the watchdog first (a signal the program's native code took
 * is taken back within a tick). Asks for the GIL work early when a thread made from C has
 * appeared, so that it is sampled from (nearly) its start. */
static int on_tick(uint64_t now_ns)
{
    ts_sigguard_watch();
    ts_gpu_tick(now_ns, !atomic_load(&paused));
    return profile_cpu && ts_threads_appeared();
}

/* Every GIL period, with the GIL. */

static void checkpoint_if_due(uint64_t now_ns);
static void forget_checkpoints(void);

static void on_gil_tick(void)
{
    uint64_t now = ts_now_ns();
    if (profile_cpu)
        ts_threads_scan(now);
    ts_resolve_drain();
    if (profile_cpu)
        refresh_addrmap();
    checkpoint_if_due(now);
}

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

/* ==== Python API ==== */

static PyObject *configure(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *keywords[] = {"interval_s", "virtual_time", "stacks", "call_opcodes",
                               "profile_all", "profile_only", "profile_exclude",
                               "program_dirs", "library_dirs", "own_dirs", "cpu", "memory",
                               "alloc_interval", "copy_interval", "gpu", "idle", NULL};
    double interval_s;
    int virtual_time, stacks, profile_all, cpu = 1, memory = 0, gpu = 0, idle = 0;
    unsigned long long alloc_bytes = 262144, copy_bytes = 262144;
    Py_buffer opcodes;
    PyObject *only, *exclude, *program_dirs, *library_dirs, *own_dirs;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "dppy*pOOOOO|ppKKpp", keywords, &interval_s,
                                     &virtual_time, &stacks, &opcodes, &profile_all, &only,
                                     &exclude, &program_dirs, &library_dirs, &own_dirs, &cpu,
                                     &memory, &alloc_bytes, &copy_bytes, &gpu, &idle))
        return NULL;
    if (running) {
        PyBuffer_Release(&opcodes);
        PyErr_SetString(PyExc_RuntimeError, "cannot configure while profiling");
        return NULL;
    }
    if (opcodes.len != 256 || !(interval_s >= 1e-4 && interval_s <= 10.0)) {
        PyBuffer_Release(&opcodes);
        PyErr_SetString(PyExc_ValueError,
                        "call_opcodes must be 256 bytes and interval_s in [0.0001, 10]");
        return NULL;
    }
    if (alloc_bytes == 0 || copy_bytes == 0) {
        PyBuffer_Release(&opcodes);
        PyErr_SetString(PyExc_ValueError, "sampling intervals must be positive");
        return NULL;
    }
    profile_cpu = cpu;
    profile_memory = memory;
    profile_gpu = gpu && cpu; /* GPU time is charged through the CPU and waiting samples */
    alloc_interval = alloc_bytes;
    copy_interval = copy_bytes;
    memset(&config, 0, sizeof config);
    config.interval_ns = (uint64_t)(interval_s * 1e9);
    config.virtual_time = virtual_time;
    config.include_idle = idle;
    config.waits = ts_resolve_wait_ring();
    memcpy(config.call_opcodes, opcodes.buf, 256);
    PyBuffer_Release(&opcodes);
    record_stacks = stacks;
    ts_filter_free(&pending_filter);
    pending_filter.profile_all = profile_all;
    if (fill_strlist(&pending_filter.only, only, "profile_only") < 0 ||
        fill_strlist(&pending_filter.exclude, exclude, "profile_exclude") < 0 ||
        fill_strlist(&pending_filter.program_dirs, program_dirs, "program_dirs") < 0 ||
        fill_strlist(&pending_filter.library_dirs, library_dirs, "library_dirs") < 0 ||
        fill_strlist(&pending_filter.own_dirs, own_dirs, "own_dirs") < 0)
        return NULL;
    configured = 1;
    filter_pending = 1;
    Py_RETURN_NONE;
}

static PyObject *start(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *keywords[] = {"paused", NULL};
    int start_paused = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p", keywords, &start_paused))
        return NULL;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "configure() must be called first");
        return NULL;
    }
    if (running)
        Py_RETURN_NONE;
    if (profile_gpu) {
        /* Without the GIL: NVML's initialisation can take long. Failing leaves GPU
         * profiling off, with the reason in the profile. */
        Py_BEGIN_ALLOW_THREADS
        ts_gpu_open(TS_GPU_MIN_PERIOD_NS);
        Py_END_ALLOW_THREADS
    } else {
        ts_gpu_off();
    }
    ts_frames_init();
    find_eval_loop();
    guard_signals();
    if (profile_cpu && ts_sampler_init(&config) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    ts_resolve_reset();
    /* A restart (a forked child's own profile) keeps the filter already in place. */
    if (ts_resolve_start(filter_pending ? &pending_filter : NULL, record_stacks) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot watch code objects");
        return NULL;
    }
    filter_pending = 0;
    started_ns = ts_now_ns();
    if (profile_cpu) {
        refresh_addrmap();
        ts_sampler_enable(1);
        if (ts_threads_enter("MainThread", started_ns) < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        ts_threads_scan(started_ns);
    }
    if (profile_memory && ts_memory_start(alloc_interval, copy_interval) < 0)
        return PyErr_NoMemory();
    uint64_t tick = profile_cpu ? config.interval_ns : TS_MEMORY_ONLY_TICK_NS;
    if (install_control_signals() < 0 ||
        ts_consumer_start(tick, TS_GIL_PERIOD_NS, on_gil_tick, on_tick) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    running = 1;
    set_paused(start_paused);
    Py_RETURN_NONE;
}

static PyObject *stop(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (!running)
        Py_RETURN_NONE;
    /* The consumer may be waiting for the GIL we hold: let go while joining it. */
    Py_BEGIN_ALLOW_THREADS
    ts_consumer_stop();
    Py_END_ALLOW_THREADS
    stopped_ns = ts_now_ns();
    ts_sampler_measure_waits(stopped_ns);
    ts_gpu_poll_now(stopped_ns); /* the last span, after its waiting samples */
    ts_sampler_stop_all(stopped_ns);
    ts_sampler_enable(0);
    if (profile_memory)
        ts_memory_stop();
    ts_resolve_stop();
    ts_gpu_close();
    running = 0;
    Py_RETURN_NONE;
}

static PyObject *thread_enter(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "|z", &name))
        return NULL;
    if (running && profile_cpu && ts_threads_enter(name, ts_now_ns()) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *thread_leave(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (running && profile_cpu)
        ts_threads_leave(ts_now_ns());
    Py_RETURN_NONE;
}

static PyObject *after_fork_in_child(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    /* The child has none of the parent's timers or consumer thread: forget them. It may
     * then start() a profile of its own (kept separate, merged by the parent). */
    ts_consumer_forget_after_fork();
    ts_sampler_forget_after_fork();
    ts_memory_after_fork_in_child();
    ts_gpu_forget_after_fork();
    ts_frames_init();
    forget_checkpoints();
    ts_crashsave_forget_after_fork();
    running = 0;
    Py_RETURN_NONE;
}

static PyObject *suspend(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    set_paused(1);
    Py_RETURN_NONE;
}

static PyObject *resume(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    set_paused(0);
    Py_RETURN_NONE;
}

static PyObject *is_paused(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(atomic_load(&paused));
}

static PyObject *is_running(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(running);
}

static PyObject *sample_counts(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return Py_BuildValue("KKK", (unsigned long long)ts_sampler_samples_taken(),
                         (unsigned long long)ts_sampler_samples_dropped(),
                         (unsigned long long)ts_memory_lost());
}

/* `triscope --pid N --on/--off`: the control signal with our cookie (see TS_CONTROL_COOKIE). */
static PyObject *send_control(PyObject *self, PyObject *args)
{
    (void)self;
    int pid, resume_it;
    if (!PyArg_ParseTuple(args, "ip", &pid, &resume_it))
        return NULL;
    union sigval value = {.sival_int = TS_CONTROL_COOKIE};
    if (sigqueue(pid, resume_it ? TS_SIGNAL_RESUME : TS_SIGNAL_SUSPEND, value) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *memory_preloaded(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(ts_memory_preloaded());
}

static int write_to(FILE *out, ts_profile_meta_t *meta)
{
    static ts_thread_summary_t threads[TS_MAX_REPORTED_THREADS];
    meta->threads = threads;
    meta->nthreads = ts_sampler_threads(threads, TS_MAX_REPORTED_THREADS);
    meta->samples = ts_sampler_samples_taken();
    meta->interval_s = (double)config.interval_ns / 1e9;
    meta->virtual_time = config.virtual_time;
    meta->idle = config.include_idle;
    meta->idle_detected = profile_cpu && ts_sampler_idle_detected();
    meta->cpu_wait_measured = profile_cpu && ts_sampler_cpu_wait_measured();
    meta->stacks = record_stacks;
    meta->profile_all = ts_resolve_filter()->profile_all;
    meta->profile_only = &ts_resolve_filter()->only;
    meta->profile_exclude = &ts_resolve_filter()->exclude;
    uint64_t end = running ? ts_now_ns() : stopped_ns;
    meta->elapsed_s = (double)(end - started_ns) / 1e9;
    meta->start_ns = started_ns;
    meta->end_ns = end;
    meta->cpu = profile_cpu;
    meta->memory = profile_memory;
    meta->memory_native = profile_memory && ts_memory_preloaded();
    meta->gpu = profile_gpu;
    static ts_gpu_summary_t gpu;
    ts_gpu_summary(&gpu);
    meta->gpu_summary = &gpu;
    meta->alloc_interval = alloc_interval;
    meta->signals_taken = ts_sigguard_taken();
    return ts_profile_write(out, ts_resolve_stats(), meta);
}

/* The whole profile into `fd`, from its start, replacing what it held: the checkpoint files
 * are rewritten in place (their descriptors outlive a privilege drop; see crashsave.h). */
static int write_to_descriptor(int fd, ts_profile_meta_t *meta)
{
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
        return -1;
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0)
        return -1;
    FILE *out = fdopen(copy, "w");
    if (out == NULL) {
        close(copy);
        return -1;
    }
    int failed = write_to(out, meta) < 0;
    failed |= fclose(out) != 0;
    if (failed && errno == 0)
        errno = EIO;
    return failed ? -1 : 0;
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
    static char *keywords[] = {"path", "version", "program", "args", "python",
                               "kept_lines", "cpu_percent_threshold",
                               "malloc_threshold", "only_ranges", "fd", "string_source",
                               "decode_source", NULL};
    PyObject *path_arg, *path_obj = NULL, *argv, *ranges = NULL, *decode_source = Py_None;
    PyObject *kept_lines;
    const char *version, *program, *python, *string_source = NULL;
    int fd = -1;
    double threshold;
    long malloc_threshold;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OssOsOdl|OizO", keywords, &path_arg,
                                     &version, &program, &argv, &python, &kept_lines,
                                     &threshold, &malloc_threshold, &ranges, &fd,
                                     &string_source, &decode_source))
        return NULL;
    if (decode_source != Py_None && !PyCallable_Check(decode_source)) {
        PyErr_SetString(PyExc_TypeError, "decode_source must be callable or None");
        return NULL;
    }
    /* --reduced-profile: (cpu_pct, mem_pct, alloc_samples), reports/display.py's cut. */
    ts_line_cut_t cut;
    if (kept_lines != Py_None &&
        (!PyTuple_Check(kept_lines) ||
         !PyArg_ParseTuple(kept_lines, "ddK", &cut.cpu_pct, &cut.mem_pct, &cut.alloc_samples))) {
        PyErr_SetString(PyExc_TypeError,
                        "kept_lines must be None or (cpu_pct, mem_pct, alloc_samples)");
        return NULL;
    }
    if (fd < 0 && !PyUnicode_FSConverter(path_arg, &path_obj))
        return NULL;
    ts_profile_meta_t meta;
    memset(&meta, 0, sizeof meta);
    ts_line_range_t only[TS_MAX_ONLY_RANGES];
    PyObject *ranges_fast = NULL;
    if (ranges != NULL && ranges != Py_None) {
        /* [(path, first, last), ...]: the @profile functions. */
        ranges_fast = PySequence_Fast(ranges, "only_ranges must be a sequence");
        if (ranges_fast == NULL) {
            Py_XDECREF(path_obj);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(ranges_fast) &&
                               meta.nonly_ranges < TS_MAX_ONLY_RANGES; i++) {
            ts_line_range_t *range = &only[meta.nonly_ranges];
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(ranges_fast, i), "sII",
                                  &range->path, &range->first, &range->last)) {
                Py_DECREF(ranges_fast);
                Py_XDECREF(path_obj);
                return NULL;
            }
            meta.nonly_ranges++;
        }
        meta.only_ranges = only;
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
    meta.kept_lines = kept_lines != Py_None ? &cut : NULL;
    meta.cpu_percent_threshold = threshold;
    meta.malloc_threshold = malloc_threshold;
    PyObject *result = NULL;
    if (fill_strlist(&meta.args, argv, "args") < 0)
        goto done;
    if (running)
        ts_resolve_drain();
    if (fd >= 0) {
        if (write_to_descriptor(fd, &meta) < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            goto done;
        }
        result = Py_NewRef(Py_None);
        goto done;
    }
    /* Written beside the target and renamed over it: a reader never sees half a file. */
    const char *path = PyBytes_AS_STRING(path_obj);
    char temp[4096];
    if (snprintf(temp, sizeof temp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof temp) {
        errno = ENAMETOOLONG;
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        goto done;
    }
    FILE *out = fopen(temp, "w");
    if (out == NULL) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        goto done;
    }
    int failed = write_to(out, &meta) < 0;
    failed |= fclose(out) != 0;
    if (failed || rename(temp, path) != 0) {
        int saved = errno ? errno : EIO;
        unlink(temp);
        errno = saved;
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
 * Long runs keep a recent copy of the profile for a crash to leave behind (crashsave.h).
 * Written from the GIL work, so no thread of ours shows in the program's threading module,
 * and in C, so no trace or profile function of the program sees it. */

static PyObject *checkpoint_meta; /* write_profile's keywords, fd set at each checkpoint */
static int checkpoint_fds[2], checkpoint_next;
static uint64_t checkpoint_period_ns, checkpoint_due_ns;

static void forget_checkpoints(void)
{
    Py_CLEAR(checkpoint_meta);
    checkpoint_period_ns = 0;
}

static void checkpoint_if_due(uint64_t now_ns)
{
    if (checkpoint_meta == NULL || now_ns < checkpoint_due_ns)
        return;
    checkpoint_due_ns = now_ns + checkpoint_period_ns;
    int fd = checkpoint_fds[checkpoint_next];
    PyObject *fd_obj = PyLong_FromLong(fd);
    PyObject *empty = PyTuple_New(0);
    PyObject *written = NULL;
    if (fd_obj != NULL && empty != NULL &&
        PyDict_SetItemString(checkpoint_meta, "fd", fd_obj) == 0)
        written = write_profile(NULL, empty, checkpoint_meta);
    Py_XDECREF(fd_obj);
    Py_XDECREF(empty);
    if (written == NULL) {
        /* A checkpoint that fails (full disk) costs the program nothing: the next is tried. */
        PyErr_Clear();
        return;
    }
    Py_DECREF(written);
    if (ts_crashsave_ready(fd) == 0)
        checkpoint_next = !checkpoint_next;
}

static PyObject *checkpoint_every(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *keywords[] = {"seconds", "fds", "dir_fd", "temp_name", "final_name",
                               "message", "meta", NULL};
    double seconds;
    int fds[2], directory;
    const char *temp, *final, *message;
    PyObject *meta;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "d(ii)isssO!", keywords, &seconds, &fds[0],
                                     &fds[1], &directory, &temp, &final, &message,
                                     &PyDict_Type, &meta))
        return NULL;
    if (!(seconds >= 0.001) || ts_crashsave_configure(directory, temp, final, message) < 0) {
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
    checkpoint_period_ns = (uint64_t)(seconds * 1e9);
    checkpoint_due_ns = ts_now_ns() + checkpoint_period_ns;
    Py_RETURN_NONE;
}

static PyObject *checkpoint_stop(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    forget_checkpoints();
    ts_crashsave_disarm();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "configure(*, interval_s, virtual_time, stacks, call_opcodes, profile_all, "
     "profile_only, profile_exclude, program_dirs, library_dirs, own_dirs)"},
    {"start", (PyCFunction)(void (*)(void))start, METH_VARARGS | METH_KEYWORDS,
     "start(paused=False): start profiling every Python thread."},
    {"suspend", suspend, METH_NOARGS, "Stop recording samples until resume()."},
    {"resume", resume, METH_NOARGS, "Record samples again."},
    {"is_paused", is_paused, METH_NOARGS, "Whether recording is suspended."},
    {"stop", stop, METH_NOARGS, "Stop sampling and resolve what was queued."},
    {"thread_enter", thread_enter, METH_VARARGS, "The calling thread starts: sample it."},
    {"thread_leave", thread_leave, METH_NOARGS, "The calling thread ends: stop sampling it."},
    {"after_fork_in_child", after_fork_in_child, METH_NOARGS,
     "Forget the parent's timers and threads in a forked child."},
    {"is_running", is_running, METH_NOARGS, "Whether sampling is on."},
    {"sample_counts", sample_counts, METH_NOARGS,
     "(CPU samples taken, CPU samples dropped, memory events lost)."},
    {"send_control", send_control, METH_VARARGS,
     "send_control(pid, resume): suspend (False) or resume (True) that process's profile."},
    {"memory_preloaded", memory_preloaded, METH_NOARGS,
     "Whether the allocator library is loaded (native allocations and copies are seen)."},
    {"write_profile", (PyCFunction)(void (*)(void))write_profile,
     METH_VARARGS | METH_KEYWORDS,
     "Write the JSON profile atomically to path (or, with fd=, over that file's content)."},
    {"checkpoint_every", (PyCFunction)(void (*)(void))checkpoint_every,
     METH_VARARGS | METH_KEYWORDS,
     "checkpoint_every(seconds, fds, dir_fd, temp_name, final_name, message, meta): write "
     "the profile into fds in turn, the first after `seconds`; a fatal signal then names the "
     "last complete one final_name in dir_fd."},
    {"checkpoint_stop", checkpoint_stop, METH_NOARGS,
     "No more checkpoints; a crash from now on saves none."},
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
    if (PyModule_AddIntConstant(m, "SIGNAL_SUSPEND", TS_SIGNAL_SUSPEND) < 0 ||
        PyModule_AddIntConstant(m, "SIGNAL_RESUME", TS_SIGNAL_RESUME) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
