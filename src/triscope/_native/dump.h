/* SPDX-License-Identifier: MIT
 *
 * dump.h — `triscope dump PID`: the Python stack of every thread of another process, read
 * from outside (docs/ARCHITECTURE.md, "triscope dump"). The result is plain C: module.c
 * turns it, or its error, into Python.
 */
#ifndef TS_DUMP_H
#define TS_DUMP_H

#include <stdint.h>
#include <sys/types.h>

typedef enum {
    TS_DUMP_OK = 0,
    TS_DUMP_NO_PROCESS,   /* no such process */
    TS_DUMP_EXITED,       /* it ended while being read */
    TS_DUMP_DENIED,       /* not allowed to read it (another user, ptrace restrictions) */
    TS_DUMP_NOT_PYTHON,   /* no CPython runtime in it */
    TS_DUMP_VERSION,      /* another Python version than the one reading */
    TS_DUMP_CHANGING,     /* its stacks kept changing while read */
    TS_DUMP_NO_MEMORY,
} ts_dump_error_t;

typedef struct {
    char *function;       /* qualified name, UTF-8, owned */
    char *file;           /* co_filename, UTF-8, owned */
    int line;             /* the line being executed (the function's first line if none) */
} ts_dump_frame_t;

typedef struct {
    uint64_t native_id;   /* the thread's id in the kernel (its /proc/PID/task entry) */
    int holds_gil;        /* 1 or 0; -1 when it could not be read */
    int truncated;        /* deeper than TS_DUMP_MAX_DEPTH: the outermost frames are left out */
    int depth;
    ts_dump_frame_t *frames;  /* innermost first, owned */
} ts_dump_thread_t;

typedef struct {
    unsigned long version;    /* the target's PY_VERSION_HEX */
    char object[4096];        /* the file exporting its runtime (executable or libpython) */
    int nthreads;
    ts_dump_thread_t *threads;  /* in the interpreter's order: newest first, owned */
    ts_dump_error_t error;    /* what ts_dump_read returned */
    char message[768];        /* the error, one line, when ts_dump_read fails */
} ts_dump_t;

/* Frames kept per thread. */
#define TS_DUMP_MAX_DEPTH 1024

/* Reads every thread's stack of process `pid`, which must run the same CPython major.minor
 * as this one. TS_DUMP_OK and a filled `dump`, or an error with dump->message set; either
 * way ts_dump_free releases it. Never stops, signals or runs code in the target. */
ts_dump_error_t ts_dump_read(pid_t pid, ts_dump_t *dump);
void ts_dump_free(ts_dump_t *dump);

#endif
