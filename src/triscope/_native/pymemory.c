/* SPDX-License-Identifier: MIT
 *
 * pymemory.c — see pymemory.h. Wrapping Python's MEM and OBJ allocator domains (chaining to the
 * allocators in place) tells Python bytes from native ones without per-object headers and
 * without forcing PYTHONMALLOC=malloc; pymalloc's own arenas and large-object mallocs happen
 * inside the wrapper, under the sampler's guard, so they are not counted again as native.
 */
#define _GNU_SOURCE
#include "compat.h"
#include "pymemory.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(ts_pyalloc_t) == sizeof(PyMemAllocatorEx),
               "ts_pyalloc_t must mirror PyMemAllocatorEx");

_Static_assert(sizeof(ts_pyarena_t) == sizeof(PyObjectArenaAllocator),
               "ts_pyarena_t must mirror PyObjectArenaAllocator");

static const ts_mem_api_t *api;
static PyMemAllocatorEx original_mem, original_obj;
static PyObjectArenaAllocator original_arena;
static int wrapped;

/* Whether small requests stay inside pymalloc: not when PYTHONMALLOC (or -X dev) routes
 * them to libc or through debug hooks. */
static int small_requests_stay_in_pymalloc(void)
{
    const char *setting = Py_GETENV("PYTHONMALLOC");
    if (setting != NULL && setting[0] != '\0' && strcmp(setting, "pymalloc") != 0)
        return 0;
    PyObject *dev = PySys_GetXOptions();
    return dev == NULL || PyDict_GetItemString(dev, "dev") == NULL;
}

/* Whether tracemalloc traces already (PYTHONTRACEMALLOC, -X tracemalloc, or a site hook):
 * its hooks are then the allocator we wrap, and they record every size they are asked for. */
static int tracemalloc_traces(void)
{
    PyObject *module = PyImport_ImportModule("_tracemalloc");
    PyObject *tracing = module == NULL ? NULL : PyObject_CallMethod(module, "is_tracing", NULL);
    int traces = tracing != NULL && PyObject_IsTrue(tracing) == 1;
    Py_XDECREF(tracing);
    Py_XDECREF(module);
    PyErr_Clear();
    return traces;
}

/* The TS_PYMALLOC_* flags of the allocators in place. */
static int pymalloc_flags(void)
{
    return (small_requests_stay_in_pymalloc() ? TS_PYMALLOC_SMALL_STAYS : 0) |
           (tracemalloc_traces() ? 0 : TS_PYMALLOC_UNWRAPPED);
}

/* The preload library's sampler when it is loaded and speaks this extension's version of
 * the API; else the built-in one. A library of another version is left alone: it is never
 * started, so its hooks only pass calls through, and the profile says native allocations
 * were not seen. Said once per process. */
static const ts_mem_api_t *find_api(void)
{
    static int mismatch_told;
    const ts_mem_api_t *(*preloaded)(void) =
        (const ts_mem_api_t *(*)(void))dlsym(RTLD_DEFAULT, "triscope_mem_api");
    const ts_mem_api_t *found = preloaded != NULL ? preloaded() : NULL;
    if (found == NULL)
        return ts_allocsampler_api();
    if (found->version != TS_MEM_API_VERSION) {
        if (!mismatch_told) {
            mismatch_told = 1;
            fprintf(stderr, "triscope: warning: the preloaded allocator library speaks version "
                            "%u of its interface, this triscope version %u: it is not used, and "
                            "native allocations and copies are not profiled\n",
                    (unsigned)found->version, (unsigned)TS_MEM_API_VERSION);
        }
        return ts_allocsampler_api();
    }
    return found;
}

static void wrap_domain(PyMemAllocatorDomain domain, int slot, PyMemAllocatorEx *original,
                        int pymalloc)
{
    PyMem_GetAllocator(domain, original);
    ts_pyalloc_t wrapper = api->wrap_python(slot, (const ts_pyalloc_t *)original, pymalloc);
    PyMem_SetAllocator(domain, (PyMemAllocatorEx *)&wrapper);
}

int ts_pymemory_start(uint64_t alloc_interval, uint64_t copy_interval)
{
    if (api == NULL)
        api = find_api();
    if (api->start(alloc_interval, copy_interval, ts_frames_walk_self) < 0)
        return -1;
    if (!wrapped) {
        int pymalloc = pymalloc_flags();
        wrap_domain(PYMEM_DOMAIN_MEM, 0, &original_mem, pymalloc);
        wrap_domain(PYMEM_DOMAIN_OBJ, 1, &original_obj, pymalloc);
        PyObject_GetArenaAllocator(&original_arena);
        ts_pyarena_t arena = api->wrap_arena((const ts_pyarena_t *)&original_arena);
        PyObject_SetArenaAllocator((PyObjectArenaAllocator *)&arena);
        wrapped = 1;
    }
    return 0;
}

void ts_pymemory_stop(void)
{
    if (api == NULL)
        return;
    api->stop();
    if (wrapped) {
        PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &original_mem);
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &original_obj);
        PyObject_SetArenaAllocator(&original_arena);
        wrapped = 0;
    }
}

int ts_pymemory_preloaded(void)
{
    return (api != NULL ? api : find_api())->preloaded;
}

uint64_t ts_pymemory_lost(void)
{
    return api != NULL ? api->lost() : 0;
}

void ts_pymemory_drain(void (*on_sample)(const ts_mem_sample_t *, void *),
                     void (*on_free)(const ts_mem_free_t *, void *), void *context)
{
    if (api != NULL)
        api->drain(on_sample, on_free, context);
}

void ts_pymemory_after_fork_in_child(void)
{
    if (api != NULL)
        api->after_fork_in_child();
}

void ts_pymemory_guard(int on)
{
    if (api == NULL)
        return;
    if (on)
        api->guard_enter();
    else
        api->guard_leave();
}

void ts_pymemory_set_enabled(int on)
{
    if (api != NULL)
        api->set_enabled(on);
}
