/* SPDX-License-Identifier: MIT
 *
 * frames.h — reading a thread's Python call stack as raw (code object, instruction offset)
 * pairs, without the GIL and without the Python API. The only file that knows CPython's
 * frame layout is frames.c; callers see this version-free interface.
 */
#ifndef TS_FRAMES_H
#define TS_FRAMES_H

#include <stdint.h>
#include <sys/types.h>

/* Frames kept per sample, innermost first. Deeper stacks keep their innermost frames and
 * are marked truncated: attribution needs the innermost profiled frame, and recursion
 * deeper than this is rare enough that losing its outer frames only shortens flame graphs. */
#define TS_MAX_DEPTH 64

typedef struct {
    const void *code;     /* PyCodeObject *, not owned: valid while the frame was live */
    int32_t instr_offset; /* bytes from the start of the code's instructions */
} ts_frame_t;

typedef struct {
    uint16_t depth;       /* frames written */
    uint8_t truncated;    /* the stack was deeper than the capacity */
    int16_t opcode;       /* opcode the innermost frame is executing, -1 if none */
    uint8_t in_executor;  /* the thread runs an optimized trace (3.14+: the JIT's machine
                           * code or the trace interpreter), not the bytecode loop; read
                           * by the walk of one's own stack only */
} ts_walk_t;

/* Walks the calling thread's own stack. Async-signal-safe: plain loads from the thread's
 * own frames, which are consistent at any instruction boundary of this thread. */
ts_walk_t ts_frames_walk_self(ts_frame_t *out, int capacity);

/* Code objects a walk of another thread found, so that the next walks need not read their
 * headers again: an entry holds while no code object has died since it was made (its
 * `generation`, the caller's count of code deaths read before that walk), since until then
 * the address still holds the same code object. Direct-mapped; zeroed is empty. The caller
 * keeps it and serialises the walks that share it. */
#define TS_CODE_CACHE_ENTRIES 512
typedef struct {
    uintptr_t code;
    uint64_t generation;
    int first_traceable;  /* the code's _co_firsttraceable */
} ts_code_seen_t;

typedef struct {
    ts_code_seen_t entries[TS_CODE_CACHE_ENTRIES];
} ts_code_cache_t;

/* Walks another thread's stack, given its PyThreadState. Every load goes through a
 * fault-tolerant read, since the thread may pop frames (and free their memory) meanwhile.
 * `cache` (or NULL) holds code headers read by earlier walks, `generation` is the count of
 * code deaths read before this walk. *ok = 0 when a read faulted. */
ts_walk_t ts_frames_walk_thread(const void *tstate, ts_frame_t *out, int capacity,
                                ts_code_cache_t *cache, uint64_t generation, int *ok);

/* Walks a thread of another process `pid` running the same interpreter version, given the
 * address of its PyThreadState there and of that process's PyCode_Type. The frames' code
 * pointers are addresses in that process. *ok = 0 when a read failed (errno left by
 * process_vm_readv: ESRCH, EPERM or EFAULT). */
ts_walk_t ts_frames_walk_remote(pid_t pid, uint64_t tstate, uint64_t code_type,
                                ts_frame_t *out, int capacity, int *ok);

/* Whether `code` still looks like a live code object (reference count sane, type, and a
 * str filename and name), read without faulting. For pointers that may be stale: a stack
 * read at an unlucky instant can name a code object that has since died. GIL held. */
int ts_frames_code_plausible(const void *code);

/* The native thread id recorded in a PyThreadState, read without faulting; 0 when the
 * state is gone or not yet bound to its thread. Callable without the GIL. */
pid_t ts_frames_thread_id(const void *tstate);

/* The address of the calling thread's innermost frame, when that frame runs `code`; NULL
 * otherwise. A coroutine's frame lives inside the coroutine object, so the address names
 * the coroutine across its suspensions, for as long as it lives (awaits.c). GIL held. */
const void *ts_frames_current(const void *code);

/* Prepares the fault-tolerant reader; 0 on success, -1 when no safe way to read exists
 * (the caller then does not walk other threads). */
int ts_frames_init(void);

#endif
