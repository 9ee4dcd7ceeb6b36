/* SPDX-License-Identifier: MIT
 *
 * filter.h — which source files are profiled (docs/DEFINITIONS.md).
 * Pure string logic, unit-tested.
 *
 *   - triscope's own files: never (not even with --profile-all), nor shown in stacks;
 *   - --profile-exclude substrings: never;
 *   - --profile-only substrings: exactly the files whose path contains one of them, inside
 *     or outside the program's directory (it is how a user asks for a library's lines);
 *   - --profile-all: everything else too;
 *   - by default: files under the program's directories, except those under a standard
 *     library or site-packages directory nested inside it (a virtualenv in the project).
 *     A program directory that itself lies in the standard library (a script of it) is
 *     profiled. Which directories a run passes (a `-m` tool's are not among them) is the
 *     launcher's rule: docs/ARCHITECTURE.md, "-m tools and -c/-m children".
 */
#ifndef TS_FILTER_H
#define TS_FILTER_H

#include <stddef.h>

typedef struct {
    char **items;
    size_t count;
} ts_strlist_t;

typedef struct {
    int profile_all;
    ts_strlist_t only;          /* substrings */
    ts_strlist_t exclude;       /* substrings */
    ts_strlist_t program_dirs;  /* directory prefixes */
    ts_strlist_t library_dirs;  /* stdlib, site-packages: directory prefixes */
    ts_strlist_t own_dirs;      /* triscope's package */
} ts_filter_t;

/* 1 when `path` is profiled. */
int ts_filter_match(const ts_filter_t *filter, const char *path);
/* 1 when `path` is one of triscope's own files. */
int ts_filter_is_own(const ts_filter_t *filter, const char *path);

/* Appends a copy of `text`; 0 or -1. */
int ts_strlist_add(ts_strlist_t *list, const char *text);
void ts_strlist_free(ts_strlist_t *list);
void ts_filter_free(ts_filter_t *filter);

#endif
