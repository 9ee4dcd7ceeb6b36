/* SPDX-License-Identifier: MIT
 *
 * remote.h — reading another process from outside: copies of its memory, and the
 * addresses of symbols exported by the executable or a libpython it maps. For
 * `triscope dump` (docs/ARCHITECTURE.md, "triscope dump"). Nothing here stops, signals,
 * attaches to or runs code in the process read.
 */
#ifndef TS_REMOTE_H
#define TS_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Copies `size` bytes at `address` in process `pid` into `buffer`. 0, or -1 with errno:
 * ESRCH (the process is gone), EPERM (not allowed to read it), EFAULT (not mapped, or
 * only partly). */
int ts_remote_read(pid_t pid, uint64_t address, void *buffer, size_t size);

/* Finds the first of `names` in the dynamic symbol table of the process's executable or of
 * a libpython shared library it maps, and then the rest of `names` in that same object.
 * Writes each address into `addresses` (0 for a name not exported) and the object's path
 * into `object` (NUL-terminated, truncated to `object_size`). 0; -1 with errno: ENOENT (no
 * such process), EACCES (not allowed to read its maps), ESRCH (no mapped object exports
 * names[0]). */
int ts_remote_find_symbols(pid_t pid, const char *const *names, uint64_t *addresses,
                           int count, char *object, size_t object_size);

/* One line of /proc/PID/maps ("start-end perms offset device inode path"): the index in
 * `line` where the path of the file it maps begins, with the mapping's start address and
 * file offset in *start and *offset; 0 when the line maps no file by an absolute path
 * (anonymous memory, [heap], [vdso]) or is not a mapping. For the unit tests; the symbol
 * search reads the maps with it. */
size_t ts_remote_parse_maps_line(const char *line, uint64_t *start, uint64_t *offset);

#endif
