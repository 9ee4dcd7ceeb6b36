/* SPDX-License-Identifier: MIT
 *
 * addrmap.h — which kind of code an instruction address belongs to, for telling Python
 * time from native time in the signal handler. The map is built outside the handler (from
 * dl_iterate_phdr) and published with one atomic pointer store, so the handler's lookup is
 * a lock-free binary search over an immutable array.
 */
#ifndef TS_ADDRMAP_H
#define TS_ADDRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TS_CODE_UNKNOWN = 0,  /* not in any loaded object: JIT code, trampolines */
    TS_CODE_EVAL_LOOP,    /* inside the bytecode interpreter loop itself */
    TS_CODE_INTERPRETER,  /* elsewhere in libpython or the python executable */
    TS_CODE_SYSTEM,       /* libc, libm, the loader, the vDSO, triscope itself */
    TS_CODE_EXTENSION     /* any other shared object: C extensions and their libraries */
} ts_code_kind_t;

typedef struct {
    uintptr_t start, end;   /* [start, end) */
    uint8_t kind;           /* ts_code_kind_t */
} ts_addr_range_t;

typedef struct {
    size_t count;
    ts_addr_range_t ranges[]; /* sorted by start, non-overlapping */
} ts_addrmap_t;

/* Pure lookup, async-signal-safe. */
ts_code_kind_t ts_addrmap_lookup(const ts_addrmap_t *map, uintptr_t address);

/* Sorts `count` ranges into a new map (malloc'd); NULL on allocation failure. */
ts_addrmap_t *ts_addrmap_from_ranges(const ts_addr_range_t *ranges, size_t count);

/* Classifies a loaded object by its path: 1 if it is a system library (libc & co). */
int ts_addrmap_is_system_library(const char *path);

/* Builds the map of every executable segment currently loaded. `eval_start`/`eval_end`
 * bound the interpreter loop, `interpreter_address` is any address inside libpython (or the
 * executable when Python is linked statically), `self_address` one inside triscope. */
ts_addrmap_t *ts_addrmap_build(uintptr_t eval_start, uintptr_t eval_end,
                               uintptr_t interpreter_address, uintptr_t self_address);

/* Number of objects loaded so far (dlpi_adds): when it changes, the map must be rebuilt. */
unsigned long long ts_addrmap_generation(void);

#endif
