/* SPDX-License-Identifier: MIT
 *
 * stackwindow.c — see stackwindow.h. Owns the window's reads; knows nothing of frames. Runs
 * on the consumer thread (or `triscope dump`) without the GIL: no allocation, no locks.
 */
#define _GNU_SOURCE
#include "stackwindow.h"

#include <string.h>
#include <sys/uio.h>

#define PAGE_BYTES 4096
#define PIECES (TS_STACK_WINDOW_BYTES / PAGE_BYTES + 1)

void ts_stack_window_clear(ts_stack_window_t *window)
{
    window->base = window->start = window->end = 0;
}

/* Reads the window that ends at `end`: [start, end) is what could be read, empty when not
 * even its top piece could. */
static void read_window(ts_stack_window_t *window, pid_t pid, uintptr_t end)
{
    struct iovec local[PIECES] = {{0}}, remote[PIECES] = {{0}};
    uintptr_t low = end > TS_STACK_WINDOW_BYTES ? end - TS_STACK_WINDOW_BYTES : 0;
    int pieces = 0;
    for (uintptr_t top = end; top > low && pieces < PIECES; pieces++) {
        uintptr_t bottom = (top - 1) & ~(uintptr_t)(PAGE_BYTES - 1);
        if (bottom < low)
            bottom = low;
        remote[pieces] = (struct iovec){(void *)bottom, top - bottom};
        local[pieces] = (struct iovec){window->bytes + (bottom - low), top - bottom};
        top = bottom;
    }
    ssize_t got = process_vm_readv(pid, local, pieces, remote, pieces, 0);
    /* A transfer stops between pieces, never inside one: count the whole pieces read. */
    uintptr_t start = end;
    for (int i = 0; i < pieces && got >= (ssize_t)remote[i].iov_len; i++) {
        got -= (ssize_t)remote[i].iov_len;
        start = (uintptr_t)remote[i].iov_base;
    }
    window->base = low;
    window->start = start;
    window->end = end;
}

static int holds(const ts_stack_window_t *window, uintptr_t address, uintptr_t end)
{
    return address >= window->start && end <= window->end;
}

int ts_stack_window_copy(ts_stack_window_t *window, pid_t pid, uintptr_t address, size_t size,
                         void *out)
{
    uintptr_t end = address + size;
    if (address == 0 || end < address || size > TS_STACK_WINDOW_BYTES)
        return 0;
    if (!holds(window, address, end)) {
        read_window(window, pid, end);
        if (!holds(window, address, end))
            return 0;
    }
    memcpy(out, window->bytes + (address - window->base), size);
    return 1;
}
