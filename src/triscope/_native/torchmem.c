/* SPDX-License-Identifier: MIT
 *
 * torchmem.c — see torchmem.h. Owns asking PyTorch how much GPU memory its caching allocator
 * uses: `torch.cuda._initialized` (the flag `torch.cuda.is_initialized()` reads), then per
 * device `torch._C._cuda_memoryStats(device)`, the table `torch.cuda.memory_stats` is made
 * from, of which "allocated_bytes" and "reserved_bytes" → "all" → "current" are
 * `memory_allocated` and `memory_reserved`.
 *
 * Must never: import a module (torch is looked up in sys.modules, so a program that did not
 * import it is not touched), initialise CUDA (nothing is asked before the program's own first
 * CUDA use has set the flag; a forked child whose CUDA torch calls broken is skipped), run
 * the program's tracers (in torch these are C functions, called from C: sys.settrace,
 * sys.setprofile and sys.monitoring see calls made by Python code only), or leave an
 * exception set (a failure turns the reading off for the rest of the profile).
 */
#include "torchmem.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

static ts_torchmem_summary_t summary;
static int failed;

/* sys.modules[name] or NULL, never importing it. New reference. */
static PyObject *imported(const char *name)
{
    PyObject *key = PyUnicode_FromString(name);
    if (key == NULL)
        return NULL;
    PyObject *module = PyImport_GetModule(key);
    Py_DECREF(key);
    return module;
}

/* stats[outer]["all"]["current"] of a memory-stats table, or -1. */
static long long current_bytes(PyObject *stats, const char *outer)
{
    PyObject *kind = PyDict_Check(stats) ? PyDict_GetItemString(stats, outer) : NULL;
    PyObject *all = kind != NULL && PyDict_Check(kind) ? PyDict_GetItemString(kind, "all") : NULL;
    PyObject *current = all != NULL && PyDict_Check(all) ? PyDict_GetItemString(all, "current")
                                                         : NULL;
    long long bytes = current != NULL && PyLong_Check(current) ? PyLong_AsLongLong(current) : -1;
    return bytes < 0 ? -1 : bytes;
}

/* Whether the program initialised CUDA through torch: 1, 0, or -1 on a failure. */
static int cuda_initialised(PyObject *torch_c)
{
    PyObject *cuda = imported("torch.cuda");
    if (cuda == NULL)
        return PyErr_Occurred() ? -1 : 0;
    /* Absent while the program is still importing torch.cuda: not initialised yet. */
    PyObject *flag = PyObject_HasAttrString(cuda, "_initialized")
                         ? PyObject_GetAttrString(cuda, "_initialized") : Py_NewRef(Py_False);
    Py_DECREF(cuda);
    int initialised = flag != NULL ? PyObject_IsTrue(flag) : -1;
    Py_XDECREF(flag);
    if (initialised != 1)
        return initialised;
    if (!PyObject_HasAttrString(torch_c, "_cuda_isInBadFork"))
        return 1;
    PyObject *bad = PyObject_CallMethod(torch_c, "_cuda_isInBadFork", NULL);
    int in_bad_fork = bad != NULL ? PyObject_IsTrue(bad) : -1;
    Py_XDECREF(bad);
    return in_bad_fork < 0 ? -1 : !in_bad_fork;
}

/* Sums every device's table into `out`: 0, or -1 on a failure. */
static int read_devices(PyObject *torch_c, ts_torchmem_reading_t *out)
{
    PyObject *count = PyObject_CallMethod(torch_c, "_cuda_getDeviceCount", NULL);
    long devices = count != NULL ? PyLong_AsLong(count) : -1;
    Py_XDECREF(count);
    if (devices < 0)
        return -1;
    out->allocated_bytes = out->reserved_bytes = 0;
    for (long device = 0; device < devices; device++) {
        PyObject *stats = PyObject_CallMethod(torch_c, "_cuda_memoryStats", "l", device);
        long long allocated = stats != NULL ? current_bytes(stats, "allocated_bytes") : -1;
        long long reserved = stats != NULL ? current_bytes(stats, "reserved_bytes") : -1;
        Py_XDECREF(stats);
        if (allocated < 0 || reserved < 0)
            return -1;
        out->allocated_bytes += (uint64_t)allocated;
        out->reserved_bytes += (uint64_t)reserved;
    }
    return 0;
}

int ts_torchmem_read(ts_torchmem_reading_t *out)
{
    if (failed || PyErr_Occurred())
        return 0;
    PyObject *torch_c = imported("torch._C");
    if (torch_c == NULL) {
        failed = PyErr_Occurred() != NULL;
        PyErr_Clear();
        return 0;
    }
    int initialised = cuda_initialised(torch_c);
    int read = initialised == 1 && read_devices(torch_c, out) == 0;
    Py_DECREF(torch_c);
    if (initialised < 0 || (initialised == 1 && !read)) {
        failed = 1;
        PyErr_Clear();
        return 0;
    }
    if (!read)
        return 0;
    summary.reads++;
    if (out->allocated_bytes > summary.peak_allocated_bytes)
        summary.peak_allocated_bytes = out->allocated_bytes;
    if (out->reserved_bytes > summary.peak_reserved_bytes)
        summary.peak_reserved_bytes = out->reserved_bytes;
    return 1;
}

void ts_torchmem_summary(ts_torchmem_summary_t *out)
{
    *out = summary;
}

void ts_torchmem_reset(void)
{
    memset(&summary, 0, sizeof summary);
    failed = 0;
}
