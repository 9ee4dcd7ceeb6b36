/* SPDX-License-Identifier: MIT
 *
 * threads.c — see threads.h. Walking the interpreter's thread list is safe with the GIL
 * held: a thread unlinks its own state only while holding the GIL, and a state linked
 * concurrently (PyGILState_Ensure from a C thread) is merely picked up by the next scan.
 */
#define _GNU_SOURCE
#include "compat.h"
#include "threads.h"

#include "consumer.h"
#include "frames.h"
#include "sampler.h"

#include <unistd.h>

#define TS_SCAN_MAX 4096

typedef struct {
    pid_t tids[TS_SCAN_MAX];
    size_t count;
} tid_set_t;

static int in_set(pid_t tid, void *context)
{
    const tid_set_t *set = context;
    for (size_t i = 0; i < set->count; i++)
        if (set->tids[i] == tid)
            return 1;
    /* A full scan list cannot prove a thread gone: keep it. */
    return set->count == TS_SCAN_MAX;
}

/* Threads that told us they ended but whose state is still linked for a moment: the scan
 * must not register them again. Forgotten once the scan no longer sees them. */
static tid_set_t departed;

static int departed_contains(pid_t tid)
{
    for (size_t i = 0; i < departed.count; i++)
        if (departed.tids[i] == tid)
            return 1;
    return 0;
}

void ts_threads_scan(uint64_t now_ns)
{
    static tid_set_t seen;
    seen.count = 0;
    pid_t consumer = ts_consumer_tid();
    PyInterpreterState *interp = PyInterpreterState_Main();
    for (PyThreadState *t = PyInterpreterState_ThreadHead(interp); t != NULL;
         t = PyThreadState_Next(t)) {
        pid_t tid = (pid_t)t->native_thread_id;
        if (tid == 0 || tid == consumer)
            continue;
        if (seen.count < TS_SCAN_MAX)
            seen.tids[seen.count++] = tid;
        if (!departed_contains(tid))
            ts_sampler_register(tid, t, NULL, now_ns);
    }
    ts_sampler_retain(in_set, &seen, now_ns);
    size_t kept = 0;
    for (size_t i = 0; i < departed.count; i++)
        if (in_set(departed.tids[i], &seen))
            departed.tids[kept++] = departed.tids[i];
    departed.count = kept;
}

int ts_threads_appeared(void)
{
    /* New states are linked at the head of the interpreter's list. Reading the head without
     * the GIL is a race we accept: the pointer is only compared, and the state it names is
     * read with fault-tolerant reads. */
    static const void *last_head;
    const void *head = PyInterpreterState_ThreadHead(PyInterpreterState_Main());
    if (head == last_head || head == NULL)
        return 0;
    pid_t tid = ts_frames_thread_id(head);
    if (tid == 0)
        return 0; /* not bound to its thread yet: look again next tick */
    last_head = head;
    return tid != ts_consumer_tid() && !ts_sampler_is_registered(tid);
}

int ts_threads_enter(const char *name, uint64_t now_ns)
{
    /* A native thread id can be reused by a new thread. */
    pid_t tid = gettid();
    for (size_t i = 0; i < departed.count; i++)
        if (departed.tids[i] == tid)
            departed.tids[i] = departed.tids[--departed.count];
    return ts_sampler_register(tid, PyThreadState_Get(), name, now_ns);
}

void ts_threads_leave(uint64_t now_ns)
{
    pid_t tid = gettid();
    ts_sampler_unregister(tid, now_ns);
    if (departed.count < TS_SCAN_MAX && !departed_contains(tid))
        departed.tids[departed.count++] = tid;
}
