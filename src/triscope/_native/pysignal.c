/* SPDX-License-Identifier: MIT
 *
 * pysignal.c — the Python side of the guarded signals (sigguard.h): the functions of the
 * `_signal` module that `signal.signal`, `signal.getsignal`, `signal.pthread_sigmask` and
 * `signal.siginterrupt` call are replaced by ones that, for a guarded signal, keep the
 * program's own view and never touch the kernel; every other signal goes to the original
 * function, unchanged. The replacements are C functions in `_signal`, below signal.py, so
 * the program's tracebacks and enum conversions stay what they were. It must never raise an
 * error CPython would not raise, and never call the program's handler for a signal that is
 * not the program's.
 *
 * Python handlers: CPython runs a Python handler only for a signal its own C handler (the
 * "trampoline") saw. Once, before our handlers go in, `_signal.signal` installs a dispatcher
 * on each guarded signal, which leaves the trampoline in the kernel (read back and kept) and
 * the dispatcher in CPython's table; the kernel action of before is then put back. From then
 * on a Python handler the program sets is only recorded: the view's C action becomes the
 * trampoline, and when the program raises the signal sigguard.c calls it, and CPython calls
 * the dispatcher, which calls the program's handler. No moment exists where the kernel holds
 * anything but our handler, so no timer signal ever reaches the trampoline or SIG_DFL.
 */
#define _GNU_SOURCE
#include "compat.h"

#include "pysignal.h"
#include "sigguard.h"

#include <string.h>

#define TS_MAX_WRAPPED 8

typedef struct {
    int signo;
    PyObject *handler;            /* what the program set, as `_signal.getsignal` gives it */
    struct sigaction trampoline;  /* CPython's C handler, as it installs it */
} wrapped_t;

static wrapped_t wrapped[TS_MAX_WRAPPED];
static size_t nwrapped;
static int guarded; /* ts_pysignal_guard is in place (until ts_pysignal_release) */
static unsigned long main_thread;
static PyObject *original_signal, *original_getsignal, *original_pthread_sigmask,
    *original_siginterrupt;

static wrapped_t *find(PyObject *signum)
{
    if (!PyLong_Check(signum))
        return NULL;
    int overflow;
    long value = PyLong_AsLongAndOverflow(signum, &overflow);
    if (value == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    for (size_t i = 0; i < nwrapped; i++)
        if (wrapped[i].signo == value && !overflow)
            return &wrapped[i];
    return NULL;
}

/* The program's handler, called by CPython for a guarded signal the program raised. */
static PyObject *dispatch(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *signum, *frame;
    if (!PyArg_UnpackTuple(args, "dispatch", 2, 2, &signum, &frame))
        return NULL;
    wrapped_t *entry = find(signum);
    if (entry == NULL || entry->handler == NULL || !PyCallable_Check(entry->handler))
        Py_RETURN_NONE; /* set back to SIG_DFL or SIG_IGN after it was raised */
    return PyObject_CallFunctionObjArgs(entry->handler, signum, frame, NULL);
}

static PyMethodDef dispatch_def = {"dispatch", dispatch, METH_VARARGS, NULL};

/* 1 when `handler` is the int `value` (SIG_DFL 0, SIG_IGN 1), as CPython compares them. */
static int is_number(PyObject *handler, long value)
{
    if (!PyLong_CheckExact(handler))
        return 0;
    int overflow;
    long number = PyLong_AsLongAndOverflow(handler, &overflow);
    if (number == -1 && PyErr_Occurred())
        PyErr_Clear();
    return !overflow && number == value;
}

static PyObject *guarded_signal(PyObject *self, PyObject *args)
{
    (void)self;
    wrapped_t *entry = PyTuple_GET_SIZE(args) == 2 ? find(PyTuple_GET_ITEM(args, 0)) : NULL;
    if (entry == NULL)
        return PyObject_Call(original_signal, args, NULL);
    PyObject *handler = PyTuple_GET_ITEM(args, 1);
    if (PyThread_get_thread_ident() != main_thread) {
        PyErr_SetString(PyExc_ValueError,
                        "signal only works in main thread of the main interpreter");
        return NULL;
    }
    struct sigaction view;
    memset(&view, 0, sizeof view);
    sigemptyset(&view.sa_mask);
    if (PyCallable_Check(handler)) {
        view = entry->trampoline;
    } else if (is_number(handler, 1)) {
        view.sa_handler = SIG_IGN;
    } else if (is_number(handler, 0)) {
        view.sa_handler = SIG_DFL;
    } else {
        PyErr_SetString(PyExc_TypeError, "signal handler must be signal.SIG_IGN, "
                                         "signal.SIG_DFL, or a callable object");
        return NULL;
    }
    if (PyErr_CheckSignals() < 0) /* as CPython does before changing a handler */
        return NULL;
    ts_sigguard_program_action(entry->signo, &view, NULL);
    PyObject *previous = entry->handler;
    entry->handler = Py_NewRef(handler);
    return previous != NULL ? previous : Py_NewRef(Py_None);
}

static PyObject *guarded_getsignal(PyObject *self, PyObject *args)
{
    (void)self;
    wrapped_t *entry = PyTuple_GET_SIZE(args) == 1 ? find(PyTuple_GET_ITEM(args, 0)) : NULL;
    if (entry == NULL)
        return PyObject_Call(original_getsignal, args, NULL);
    return Py_NewRef(entry->handler != NULL ? entry->handler : Py_None);
}

/* The mask without the guarded signals: the program cannot block them. */
static PyObject *guarded_pthread_sigmask(PyObject *self, PyObject *args)
{
    (void)self;
    if (PyTuple_GET_SIZE(args) != 2)
        return PyObject_Call(original_pthread_sigmask, args, NULL);
    PyObject *how = PyTuple_GET_ITEM(args, 0), *mask = PyTuple_GET_ITEM(args, 1);
    long how_value = PyLong_Check(how) ? PyLong_AsLong(how) : -1;
    if (how_value == -1 && PyErr_Occurred())
        PyErr_Clear();
    PyObject *iterator;
    if ((how_value != SIG_BLOCK && how_value != SIG_SETMASK) ||
        (iterator = PyObject_GetIter(mask)) == NULL) {
        PyErr_Clear(); /* not iterable: the original says so in its own words */
        return PyObject_Call(original_pthread_sigmask, args, NULL);
    }
    PyObject *kept = PyList_New(0), *item;
    while (kept != NULL && (item = PyIter_Next(iterator)) != NULL) {
        if (find(item) == NULL && PyList_Append(kept, item) < 0)
            Py_CLEAR(kept);
        Py_DECREF(item);
    }
    Py_DECREF(iterator);
    if (kept == NULL || PyErr_Occurred()) {
        Py_XDECREF(kept);
        return NULL;
    }
    PyObject *result = PyObject_CallFunctionObjArgs(original_pthread_sigmask, how, kept, NULL);
    Py_DECREF(kept);
    return result;
}

/* For a guarded signal only the view's SA_RESTART changes: ours keeps its own flags. */
static PyObject *guarded_siginterrupt(PyObject *self, PyObject *args)
{
    (void)self;
    wrapped_t *entry = PyTuple_GET_SIZE(args) == 2 ? find(PyTuple_GET_ITEM(args, 0)) : NULL;
    if (entry == NULL)
        return PyObject_Call(original_siginterrupt, args, NULL);
    int flag = PyObject_IsTrue(PyTuple_GET_ITEM(args, 1));
    if (flag < 0)
        return NULL;
    struct sigaction view;
    ts_sigguard_program_action(entry->signo, NULL, &view);
    if (flag)
        view.sa_flags &= ~SA_RESTART;
    else
        view.sa_flags |= SA_RESTART;
    ts_sigguard_program_action(entry->signo, &view, NULL);
    Py_RETURN_NONE;
}

static PyMethodDef replacement_defs[] = {
    {"signal", guarded_signal, METH_VARARGS, NULL},
    {"getsignal", guarded_getsignal, METH_VARARGS, NULL},
    {"pthread_sigmask", guarded_pthread_sigmask, METH_VARARGS, NULL},
    {"siginterrupt", guarded_siginterrupt, METH_VARARGS, NULL},
};

/* Puts the dispatcher on `signo` and records the trampoline; the kernel keeps (or gets back)
 * the action it had. 0, or -1 when CPython refuses (not the main thread). */
static int wrap_one(PyObject *dispatcher, int signo)
{
    wrapped_t *entry = &wrapped[nwrapped];
    PyObject *number = PyLong_FromLong(signo);
    if (number == NULL)
        return -1;
    PyObject *handler = PyObject_CallOneArg(original_getsignal, number);
    struct sigaction before;
    if (handler == NULL || ts_sigguard_real_sigaction(signo, NULL, &before) != 0) {
        Py_DECREF(number);
        Py_XDECREF(handler);
        return -1;
    }
    PyObject *result = PyObject_CallFunctionObjArgs(original_signal, number, dispatcher, NULL);
    Py_DECREF(number);
    if (result == NULL) {
        Py_DECREF(handler);
        return -1;
    }
    Py_DECREF(result);
    ts_sigguard_real_sigaction(signo, NULL, &entry->trampoline);
    if (!PyCallable_Check(handler))
        ts_sigguard_real_sigaction(signo, &before, NULL);
    entry->signo = signo;
    if (handler == Py_None) /* set by native code: CPython knows no Python handler */
        Py_CLEAR(handler);
    entry->handler = handler;
    nwrapped++;
    return 0;
}

static int replace(PyObject *module, PyMethodDef *def, PyObject **original)
{
    *original = PyObject_GetAttrString(module, def->ml_name);
    if (*original == NULL)
        return -1;
    PyObject *replacement = PyCFunction_New(def, NULL);
    int failed = replacement == NULL || PyObject_SetAttrString(module, def->ml_name,
                                                               replacement) < 0;
    Py_XDECREF(replacement);
    return failed ? -1 : 0;
}

/* The module `name` when it has been imported, else NULL (no error either way). */
static PyObject *imported(const char *name)
{
    PyObject *key = PyUnicode_FromString(name);
    PyObject *module = key != NULL ? PyImport_GetModule(key) : NULL;
    Py_XDECREF(key);
    PyErr_Clear();
    return module;
}

void ts_pysignal_guard(const int *signals, size_t count)
{
    int done = 0;
    if (guarded)
        return;
    PyObject *module = PyImport_ImportModule("_signal");
    PyObject *dispatcher = PyCFunction_New(&dispatch_def, NULL);
    if (module == NULL || dispatcher == NULL)
        goto out;
    original_signal = PyObject_GetAttrString(module, "signal");
    original_getsignal = PyObject_GetAttrString(module, "getsignal");
    if (original_signal == NULL || original_getsignal == NULL)
        goto out;
    for (size_t i = 0; i < count && nwrapped < TS_MAX_WRAPPED; i++)
        if (wrap_one(dispatcher, signals[i]) < 0)
            goto out; /* not the main thread: the program's calls stay unguarded */
    main_thread = PyThread_get_thread_ident();
    Py_CLEAR(original_signal);
    Py_CLEAR(original_getsignal);
    if (replace(module, &replacement_defs[0], &original_signal) < 0 ||
        replace(module, &replacement_defs[1], &original_getsignal) < 0 ||
        replace(module, &replacement_defs[2], &original_pthread_sigmask) < 0 ||
        replace(module, &replacement_defs[3], &original_siginterrupt) < 0)
        goto out;
    /* signal.py copies siginterrupt as it is imported (`from _signal import *`); it wraps
     * the rest. Imported from now on, it copies the replacement: only one imported already
     * has the original (never imported here, which would cost every run its enums). */
    PyObject *signal_module = imported("signal");
    if (signal_module != NULL) {
        PyObject *replacement = PyObject_GetAttrString(module, "siginterrupt");
        if (replacement != NULL)
            PyObject_SetAttrString(signal_module, "siginterrupt", replacement);
        Py_XDECREF(replacement);
        Py_DECREF(signal_module);
    }
    done = guarded = 1;
out:
    if (!done)
        nwrapped = 0;
    Py_XDECREF(module);
    Py_XDECREF(dispatcher);
    PyErr_Clear(); /* a program left unguarded still runs: start() goes on */
}

/* ==== Handing back (a profile attached to a running process ends) ==== */

/* The program's last Python handler on `entry->signo` back in CPython's table, through the
 * original `signal`, which also sets the kernel's action; the action sigguard.c handed back
 * (the program's last, native or not) is then put back over it. A handler CPython never knew
 * (None: native code set it) cannot be given back: the table gets SIG_DFL, which is what a
 * signal the program never touched had (the usual case for our real-time signals). */
static void unwrap_one(wrapped_t *entry)
{
    struct sigaction kernel;
    int have_kernel = ts_sigguard_real_sigaction(entry->signo, NULL, &kernel) == 0;
    PyObject *number = PyLong_FromLong(entry->signo);
    PyObject *handler = entry->handler != NULL ? Py_NewRef(entry->handler) : PyLong_FromLong(0);
    PyObject *result = number != NULL && handler != NULL
                           ? PyObject_CallFunctionObjArgs(original_signal, number, handler, NULL)
                           : NULL;
    Py_XDECREF(result);
    Py_XDECREF(number);
    Py_XDECREF(handler);
    PyErr_Clear(); /* release() checked the signals first: only a race is left to lose */
    if (have_kernel)
        ts_sigguard_real_sigaction(entry->signo, &kernel, NULL);
    Py_CLEAR(entry->handler);
}

static void put_back(PyObject *module, const char *name, PyObject **original)
{
    if (*original != NULL && PyObject_SetAttrString(module, name, *original) < 0)
        PyErr_Clear();
}

void ts_pysignal_release(void)
{
    if (!guarded)
        return;
    PyObject *module = PyImport_ImportModule("_signal");
    if (module == NULL) {
        PyErr_Clear();
        return;
    }
    put_back(module, "signal", &original_signal);
    put_back(module, "getsignal", &original_getsignal);
    put_back(module, "pthread_sigmask", &original_pthread_sigmask);
    put_back(module, "siginterrupt", &original_siginterrupt);
    PyObject *signal_module = imported("signal"); /* it copied the replacement, if at all */
    if (signal_module != NULL)
        put_back(signal_module, "siginterrupt", &original_siginterrupt);
    Py_XDECREF(signal_module);
    PyErr_Clear();
    for (size_t i = 0; i < nwrapped; i++)
        unwrap_one(&wrapped[i]);
    nwrapped = 0;
    Py_CLEAR(original_signal);
    Py_CLEAR(original_getsignal);
    Py_CLEAR(original_pthread_sigmask);
    Py_CLEAR(original_siginterrupt);
    Py_DECREF(module);
    guarded = 0;
}
