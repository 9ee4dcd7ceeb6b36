/* SPDX-License-Identifier: MIT
 *
 * linetable.h — the line of an instruction, from a code object's location table
 * (co_linetable, the format of CPython 3.11 and later, described in docs/ARCHITECTURE.md,
 * "triscope dump"), read as plain bytes. For code objects that live in another process:
 * inside the profiled process the interpreter's own PyCode_Addr2Line does this.
 */
#ifndef TS_LINETABLE_H
#define TS_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* The line of the instruction `offset` bytes from the start of the code's instructions
 * (the offset PyCode_Addr2Line takes), given the table and the code's first line number.
 * -1 when the instruction has no line (or lies past the table); `first_line` for a
 * negative offset, as the interpreter answers. Pure: no I/O, no allocation. */
int ts_linetable_line(const uint8_t *table, size_t length, int first_line, int64_t offset);

#endif
