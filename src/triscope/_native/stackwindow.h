/* SPDX-License-Identifier: MIT
 *
 * stackwindow.h — reading a thread's frames from another thread a window at a time
 * (frames.c's safe walks). A thread's frames sit one below the other in its data stack, so
 * the bytes from a frame's fields down TS_STACK_WINDOW_BYTES usually hold its callers' too,
 * and one read replaces one per frame. A window is read with process_vm_readv, which turns a
 * fault into a short read, as pieces that end at page boundaries, the highest first: the
 * pages below a data-stack chunk may be unmapped, and the read then stops at the first piece
 * it cannot read, keeping the ones above. No Python here (unit-tested on its own).
 */
#ifndef TS_STACKWINDOW_H
#define TS_STACKWINDOW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TS_STACK_WINDOW_BYTES 8192

typedef struct {
    uintptr_t base;   /* the address bytes[0] holds */
    uintptr_t start;  /* [start, end) was read; empty when start == end */
    uintptr_t end;
    unsigned char bytes[TS_STACK_WINDOW_BYTES];
} ts_stack_window_t;

/* Empties the window (before a walk: its bytes belong to one instant). */
void ts_stack_window_clear(ts_stack_window_t *window);

/* Copies the `size` bytes (at most a few hundred) at `address` of process `pid` into `out`:
 * from the window when it holds them, else after reading a new window that ends where
 * they end. 0 when they cannot be read. */
int ts_stack_window_copy(ts_stack_window_t *window, pid_t pid, uintptr_t address, size_t size,
                         void *out);

#endif
