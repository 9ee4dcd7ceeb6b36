/* SPDX-License-Identifier: MIT
 *
 * dump.c — see dump.h. Reads another process's interpreter with the layouts this extension
 * was compiled with (compat.h, TS_WANT_RUNTIME_LAYOUT), which are the target's once its
 * version is checked: Py_Version's major.minor, and on 3.13+ the debug offsets the target
 * publishes at the start of its runtime, compared with ours. All of its memory is read
 * through process_vm_readv (remote.c, and frames.c's walker for the stacks): the target is
 * never stopped, signalled, attached to or made to run anything, so a hung process can be
 * read, and a running one may change under the reader. Hence the consistency rule: an
 * attempt counts only if every read succeeded, each thread's two walks name the same code
 * objects, and the thread list is the same before and after; otherwise it is retried, a
 * bounded number of times. No Python API of our own interpreter is used here (the GIL
 * need not be held); module.c converts the result.
 */
#define _GNU_SOURCE
#define TS_WANT_FRAME_LAYOUT
#define TS_WANT_RUNTIME_LAYOUT
#include "compat.h"
#include "dump.h"

#include "frames.h"
#include "linetable.h"
#include "remote.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_DUMP_TRIES 50
#define TS_DUMP_MAX_THREADS 4096
#define TS_DUMP_MAX_INTERPRETERS 256
/* Longer names or tables are not what a code object holds: the memory changed. */
#define TS_DUMP_MAX_NAME 65536
#define TS_DUMP_MAX_LINETABLE ((size_t)1 << 22)

/* The symbols looked up in the target, in this order. */
enum { SYM_RUNTIME, SYM_VERSION, SYM_CODE_TYPE, SYM_UNICODE_TYPE, SYM_BYTES_TYPE, NSYMS };
static const char *const symbol_names[NSYMS] = {
    "_PyRuntime", "Py_Version", "PyCode_Type", "PyUnicode_Type", "PyBytes_Type",
};

typedef struct {
    pid_t pid;
    uint64_t symbols[NSYMS];
    ts_dump_t *dump;
} reader_t;

/* How an attempt ended: done, to be retried (the memory changed), or failed for good (the
 * message is set). */
typedef enum { ATTEMPT_DONE, ATTEMPT_RETRY, ATTEMPT_FAILED } attempt_t;

static ts_dump_error_t fail(ts_dump_t *dump, ts_dump_error_t error, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(dump->message, sizeof dump->message, format, args);
    va_end(args);
    dump->error = error;
    return error;
}

/* The error of a read that failed with `errno`; ATTEMPT_RETRY for an address that is not
 * (or no longer) mapped: the memory changed under us. */
static attempt_t read_failed(reader_t *reader)
{
    if (errno == EFAULT)
        return ATTEMPT_RETRY;
    if (errno == EPERM)
        fail(reader->dump, TS_DUMP_DENIED, "not allowed to read process %d", (int)reader->pid);
    else if (errno == ESRCH)
        fail(reader->dump, TS_DUMP_EXITED, "process %d exited while being read",
             (int)reader->pid);
    else
        fail(reader->dump, TS_DUMP_EXITED, "reading process %d failed: %s", (int)reader->pid,
             strerror(errno));
    return ATTEMPT_FAILED;
}

static attempt_t out_of_memory(ts_dump_t *dump)
{
    fail(dump, TS_DUMP_NO_MEMORY, "out of memory");
    return ATTEMPT_FAILED;
}

#define READ(reader, address, dst) ts_remote_read((reader)->pid, (address), &(dst), sizeof(dst))

/* ==== Strings and lines of a code object ==== */

/* UTF-8 of `length` characters of `kind` bytes each; malloc'ed, NULL without memory. Lone
 * surrogates, which UTF-8 cannot carry, become U+FFFD. */
static char *utf8_from_ucs(int kind, const uint8_t *data, size_t length)
{
    char *text = malloc(length * 4 + 1), *at = text;
    if (text == NULL)
        return NULL;
    for (size_t i = 0; i < length; i++) {
        uint32_t c = kind == 1 ? data[i]
                   : kind == 2 ? ((const uint16_t *)data)[i] : ((const uint32_t *)data)[i];
        if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
            c = 0xFFFD;
        if (c < 0x80) {
            *at++ = (char)c;
        } else if (c < 0x800) {
            *at++ = (char)(0xC0 | c >> 6);
            *at++ = (char)(0x80 | (c & 63));
        } else if (c < 0x10000) {
            *at++ = (char)(0xE0 | c >> 12);
            *at++ = (char)(0x80 | (c >> 6 & 63));
            *at++ = (char)(0x80 | (c & 63));
        } else {
            *at++ = (char)(0xF0 | c >> 18);
            *at++ = (char)(0x80 | (c >> 12 & 63));
            *at++ = (char)(0x80 | (c >> 6 & 63));
            *at++ = (char)(0x80 | (c & 63));
        }
    }
    *at = '\0';
    return text;
}

/* The str at `address` as UTF-8 in *text. */
static attempt_t read_str(reader_t *reader, uint64_t address, char **text)
{
    PyCompactUnicodeObject head;
    if (ts_remote_read(reader->pid, address, &head, sizeof head) < 0)
        return read_failed(reader);
    const PyASCIIObject *ascii = &head._base;
    if ((uint64_t)(uintptr_t)ascii->ob_base.ob_type != reader->symbols[SYM_UNICODE_TYPE] ||
        !ascii->state.compact || ascii->length < 0 || ascii->length > TS_DUMP_MAX_NAME)
        return ATTEMPT_RETRY;
    int kind = ascii->state.kind;
    if (kind != 1 && kind != 2 && kind != 4)
        return ATTEMPT_RETRY;
    size_t length = (size_t)ascii->length;
    uint64_t data_at = address + (ascii->state.ascii ? sizeof(PyASCIIObject) : sizeof head);
    uint8_t *data = malloc(length * (size_t)kind + 1);
    if (data == NULL)
        return out_of_memory(reader->dump);
    attempt_t result = ATTEMPT_DONE;
    if (length > 0 && ts_remote_read(reader->pid, data_at, data, length * (size_t)kind) < 0)
        result = read_failed(reader);
    else if ((*text = utf8_from_ucs(kind, data, length)) == NULL)
        result = out_of_memory(reader->dump);
    free(data);
    return result;
}

/* The line `frame` executes, from its code object's location table. */
static attempt_t read_line(reader_t *reader, const PyCodeObject *code, int32_t instr_offset,
                           int *line)
{
    PyBytesObject head;
    uint64_t table_at = (uint64_t)(uintptr_t)code->co_linetable;
    if (ts_remote_read(reader->pid, table_at, &head, offsetof(PyBytesObject, ob_sval)) < 0)
        return read_failed(reader);
    Py_ssize_t size = Py_SIZE(&head);
    if ((uint64_t)(uintptr_t)Py_TYPE(&head) != reader->symbols[SYM_BYTES_TYPE] || size < 0 ||
        (size_t)size > TS_DUMP_MAX_LINETABLE)
        return ATTEMPT_RETRY;
    uint8_t *table = malloc((size_t)size + 1);
    if (table == NULL)
        return out_of_memory(reader->dump);
    attempt_t result = ATTEMPT_DONE;
    if (size > 0 && ts_remote_read(reader->pid, table_at + offsetof(PyBytesObject, ob_sval),
                                   table, (size_t)size) < 0) {
        result = read_failed(reader);
    } else {
        /* As resolve.c does: an instruction without a line counts on the function's. */
        int found = ts_linetable_line(table, (size_t)size, code->co_firstlineno, instr_offset);
        *line = found > 0 ? found : code->co_firstlineno;
    }
    free(table);
    return result;
}

static attempt_t resolve_frame(reader_t *reader, const ts_frame_t *raw, ts_dump_frame_t *out)
{
    PyCodeObject code;
    if (ts_remote_read(reader->pid, (uint64_t)(uintptr_t)raw->code, &code, sizeof code) < 0)
        return read_failed(reader);
    if ((uint64_t)(uintptr_t)Py_TYPE((PyObject *)&code) != reader->symbols[SYM_CODE_TYPE])
        return ATTEMPT_RETRY;
    attempt_t result = read_str(reader, (uint64_t)(uintptr_t)code.co_qualname, &out->function);
    if (result == ATTEMPT_DONE)
        result = read_str(reader, (uint64_t)(uintptr_t)code.co_filename, &out->file);
    if (result == ATTEMPT_DONE)
        result = read_line(reader, &code, raw->instr_offset, &out->line);
    return result;
}

/* ==== Threads ==== */

static void free_threads(ts_dump_t *dump)
{
    for (int t = 0; t < dump->nthreads; t++) {
        for (int f = 0; f < dump->threads[t].depth; f++) {
            free(dump->threads[t].frames[f].function);
            free(dump->threads[t].frames[f].file);
        }
        free(dump->threads[t].frames);
    }
    free(dump->threads);
    dump->threads = NULL;
    dump->nthreads = 0;
}

typedef struct {
    uint64_t tstate;
    uint64_t native_id;
    int holds_gil;
} listed_thread_t;

/* Every thread state of every interpreter, with whether it holds its GIL. Writes *count. */
static attempt_t list_threads(reader_t *reader, listed_thread_t *threads, int *count)
{
    uint64_t runtime = reader->symbols[SYM_RUNTIME];
    uint64_t interp = 0;
    *count = 0;
    if (READ(reader, runtime + TS_RUNTIME_INTERPRETERS_HEAD, interp) < 0)
        return read_failed(reader);
    for (int interps = 0; interp != 0; interps++) {
        if (interps == TS_DUMP_MAX_INTERPRETERS)
            return ATTEMPT_RETRY; /* a loop: the list changed while followed */
        uint64_t gil = 0, holder = 0, tstate = 0;
        int locked = 0, gil_known = 1;
#if TS_GIL_IN_RUNTIME
        gil = runtime + TS_RUNTIME_GIL;
#else
        if (READ(reader, interp + TS_INTERP_GIL_POINTER, gil) < 0)
            gil_known = 0;
#endif
        if (gil == 0 || READ(reader, gil + TS_GIL_LAST_HOLDER, holder) < 0 ||
            READ(reader, gil + TS_GIL_LOCKED, locked) < 0)
            gil_known = 0;
        if (READ(reader, interp + TS_INTERP_THREADS_HEAD, tstate) < 0)
            return read_failed(reader);
        while (tstate != 0) {
            if (*count == TS_DUMP_MAX_THREADS)
                return ATTEMPT_RETRY;
            listed_thread_t *thread = &threads[(*count)++];
            unsigned long native_id = 0;
            thread->tstate = tstate;
            if (READ(reader, tstate + TS_TSTATE_NATIVE_ID, native_id) < 0 ||
                READ(reader, tstate + TS_TSTATE_NEXT, tstate) < 0)
                return read_failed(reader);
            thread->native_id = native_id;
            thread->holds_gil = gil_known ? (locked && holder == thread->tstate) : -1;
        }
        if (READ(reader, interp + TS_INTERP_NEXT, interp) < 0)
            return read_failed(reader);
    }
    return ATTEMPT_DONE;
}

/* One walk of a thread's stack, twice: the same code objects both times, or a retry. */
static attempt_t walk_thread(reader_t *reader, uint64_t tstate, ts_frame_t *frames,
                             ts_frame_t *again, ts_walk_t *walk)
{
    int ok = 0, ok_again = 0;
    *walk = ts_frames_walk_remote(reader->pid, tstate, reader->symbols[SYM_CODE_TYPE], frames,
                                  TS_DUMP_MAX_DEPTH, &ok);
    if (!ok)
        return read_failed(reader);
    ts_walk_t second = ts_frames_walk_remote(reader->pid, tstate,
                                             reader->symbols[SYM_CODE_TYPE], again,
                                             TS_DUMP_MAX_DEPTH, &ok_again);
    if (!ok_again)
        return read_failed(reader);
    if (second.depth != walk->depth)
        return ATTEMPT_RETRY;
    for (int i = 0; i < walk->depth; i++)
        if (frames[i].code != again[i].code)
            return ATTEMPT_RETRY;
    return ATTEMPT_DONE;
}

typedef struct {
    listed_thread_t listed[TS_DUMP_MAX_THREADS], listed_after[TS_DUMP_MAX_THREADS];
    ts_frame_t frames[TS_DUMP_MAX_DEPTH], again[TS_DUMP_MAX_DEPTH];
} scratch_t;

static attempt_t attempt(reader_t *reader, scratch_t *scratch)
{
    ts_dump_t *dump = reader->dump;
    int count = 0, count_after = 0;
    attempt_t result = list_threads(reader, scratch->listed, &count);
    if (result != ATTEMPT_DONE)
        return result;
    dump->threads = calloc((size_t)count + 1, sizeof *dump->threads);
    if (dump->threads == NULL)
        return out_of_memory(dump);
    for (int t = 0; t < count; t++) {
        ts_dump_thread_t *thread = &dump->threads[dump->nthreads++];
        thread->native_id = scratch->listed[t].native_id;
        thread->holds_gil = scratch->listed[t].holds_gil;
        ts_walk_t walk;
        result = walk_thread(reader, scratch->listed[t].tstate, scratch->frames,
                             scratch->again, &walk);
        if (result != ATTEMPT_DONE)
            return result;
        thread->truncated = walk.truncated;
        thread->frames = calloc((size_t)walk.depth + 1, sizeof *thread->frames);
        if (thread->frames == NULL)
            return out_of_memory(dump);
        for (int f = 0; f < walk.depth; f++) {
            thread->depth++;
            result = resolve_frame(reader, &scratch->frames[f], &thread->frames[f]);
            if (result != ATTEMPT_DONE)
                return result;
        }
    }
    result = list_threads(reader, scratch->listed_after, &count_after);
    if (result != ATTEMPT_DONE)
        return result;
    if (count_after != count)
        return ATTEMPT_RETRY;
    for (int t = 0; t < count; t++)
        if (scratch->listed_after[t].tstate != scratch->listed[t].tstate)
            return ATTEMPT_RETRY;
    return ATTEMPT_DONE;
}

/* ==== The target's version ==== */

static void version_text(unsigned long hex, char *text, size_t size)
{
    snprintf(text, size, "%lu.%lu.%lu", hex >> 24, hex >> 16 & 0xFF, hex >> 8 & 0xFF);
}

/* A read of a fixed symbol failed: the process's error, or (not mapped) not a Python. */
static ts_dump_error_t unreadable(reader_t *reader, const char *symbol)
{
    if (read_failed(reader) == ATTEMPT_RETRY)
        fail(reader->dump, TS_DUMP_NOT_PYTHON, "process %d: its %s cannot be read (in %s)",
             (int)reader->pid, symbol, reader->dump->object);
    return reader->dump->error;
}

static ts_dump_error_t check_version(reader_t *reader)
{
    ts_dump_t *dump = reader->dump;
    char theirs[32], ours[32];
    version_text(PY_VERSION_HEX, ours, sizeof ours);
    if (reader->symbols[SYM_VERSION] == 0)
        return fail(dump, TS_DUMP_VERSION,
                    "process %d runs a Python older than 3.11 (%s exports no Py_Version); "
                    "triscope dump reads CPython 3.11 and newer",
                    (int)reader->pid, dump->object);
    if (READ(reader, reader->symbols[SYM_VERSION], dump->version) < 0)
        return unreadable(reader, "Py_Version");
    version_text(dump->version, theirs, sizeof theirs);
    if (dump->version >> 16 != PY_VERSION_HEX >> 16)
        return fail(dump, TS_DUMP_VERSION,
                    "process %d runs Python %s and this triscope runs on Python %s: run the "
                    "dump with the target's Python (python%lu.%lu -m triscope dump %d)",
                    (int)reader->pid, theirs, ours, dump->version >> 24,
                    dump->version >> 16 & 0xFF, (int)reader->pid);
#if TS_HAS_DEBUG_OFFSETS
    /* The offsets the target publishes must be the ones compiled here, field by field. */
    _Py_DebugOffsets published;
    if (READ(reader, reader->symbols[SYM_RUNTIME] + TS_RUNTIME_DEBUG_OFFSETS, published) < 0)
        return unreadable(reader, "_PyRuntime");
    if (memcmp(published.cookie, TS_DEBUG_COOKIE, sizeof published.cookie) != 0)
        return fail(dump, TS_DUMP_NOT_PYTHON,
                    "process %d: no debug offsets at the start of its Python runtime "
                    "(in %s)", (int)reader->pid, dump->object);
    const char *ours_at = (const char *)&_PyRuntime.debug_offsets + TS_DEBUG_LAYOUT_START;
    const char *theirs_at = (const char *)&published + TS_DEBUG_LAYOUT_START;
    if (memcmp(ours_at, theirs_at, sizeof published - TS_DEBUG_LAYOUT_START) != 0)
        return fail(dump, TS_DUMP_VERSION,
                    "process %d runs Python %s built with other structure layouts than this "
                    "Python %s (its debug offsets differ): run the dump with the target's "
                    "own Python", (int)reader->pid, theirs, ours);
#endif
    return TS_DUMP_OK;
}

ts_dump_error_t ts_dump_read(pid_t pid, ts_dump_t *dump)
{
    memset(dump, 0, sizeof *dump);
    reader_t reader = {.pid = pid, .dump = dump};
    if (ts_remote_find_symbols(pid, symbol_names, reader.symbols, NSYMS, dump->object,
                               sizeof dump->object) < 0) {
        if (errno == ENOENT)
            return fail(dump, TS_DUMP_NO_PROCESS, "no process %d", (int)pid);
        if (errno == EACCES || errno == EPERM)
            return fail(dump, TS_DUMP_DENIED, "not allowed to read process %d", (int)pid);
        return fail(dump, TS_DUMP_NOT_PYTHON,
                    "process %d is not a Python process (neither its executable nor a "
                    "libpython it maps exports _PyRuntime)", (int)pid);
    }
    if (reader.symbols[SYM_CODE_TYPE] == 0 || reader.symbols[SYM_UNICODE_TYPE] == 0 ||
        reader.symbols[SYM_BYTES_TYPE] == 0)
        return fail(dump, TS_DUMP_NOT_PYTHON,
                    "process %d: %s exports _PyRuntime but not the type objects of a CPython",
                    (int)pid, dump->object);
    ts_dump_error_t error = check_version(&reader);
    if (error != TS_DUMP_OK)
        return error;
    scratch_t *scratch = malloc(sizeof *scratch);
    if (scratch == NULL)
        return fail(dump, TS_DUMP_NO_MEMORY, "out of memory");
    attempt_t result = ATTEMPT_RETRY;
    for (int tries = 0; tries < TS_DUMP_TRIES && result == ATTEMPT_RETRY; tries++) {
        free_threads(dump);
        result = attempt(&reader, scratch);
    }
    free(scratch);
    if (result == ATTEMPT_DONE)
        return TS_DUMP_OK;
    free_threads(dump);
    if (result == ATTEMPT_RETRY)
        return fail(dump, TS_DUMP_CHANGING,
                    "the stacks of process %d kept changing while read (%d tries): "
                    "try again", (int)pid, TS_DUMP_TRIES);
    return dump->error;
}

void ts_dump_free(ts_dump_t *dump)
{
    free_threads(dump);
}
