/* SPDX-License-Identifier: MIT
 *
 * filter.c — see filter.h.
 */
#include "filter.h"

#include <stdlib.h>
#include <string.h>

/* 1 when `path` is `dir` itself or lies under it (a prefix ending at a '/'). */
static int under_dir(const char *path, const char *dir)
{
    size_t len = strlen(dir);
    if (len == 0 || strncmp(path, dir, len) != 0)
        return 0;
    /* "/a/" and "/" already end at a boundary; "/a" must be followed by one. */
    return dir[len - 1] == '/' || path[len] == '/' || path[len] == '\0';
}

static int under_any(const char *path, const ts_strlist_t *dirs)
{
    for (size_t i = 0; i < dirs->count; i++)
        if (under_dir(path, dirs->items[i]))
            return 1;
    return 0;
}

static int contains_any(const char *path, const ts_strlist_t *needles)
{
    for (size_t i = 0; i < needles->count; i++)
        if (needles->items[i][0] != '\0' && strstr(path, needles->items[i]) != NULL)
            return 1;
    return 0;
}

int ts_filter_is_own(const ts_filter_t *filter, const char *path)
{
    return under_any(path, &filter->own_dirs);
}

int ts_filter_match(const ts_filter_t *filter, const char *path)
{
    if (ts_filter_is_own(filter, path) || contains_any(path, &filter->exclude))
        return 0;
    if (filter->only.count > 0)
        return contains_any(path, &filter->only);
    if (filter->profile_all)
        return 1;
    for (size_t i = 0; i < filter->program_dirs.count; i++) {
        const char *program_dir = filter->program_dirs.items[i];
        if (!under_dir(path, program_dir))
            continue;
        /* Only a library inside the program's directory (a virtualenv in the project)
         * hides files; one that contains it (python -m json.tool) does not. */
        int in_nested_library = 0;
        for (size_t j = 0; j < filter->library_dirs.count && !in_nested_library; j++) {
            const char *library_dir = filter->library_dirs.items[j];
            in_nested_library = under_dir(library_dir, program_dir) &&
                                strcmp(library_dir, program_dir) != 0 &&
                                under_dir(path, library_dir);
        }
        if (!in_nested_library)
            return 1;
    }
    return 0;
}

int ts_strlist_add(ts_strlist_t *list, const char *text)
{
    char **grown = realloc(list->items, (list->count + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    list->items = grown;
    list->items[list->count] = strdup(text);
    if (list->items[list->count] == NULL)
        return -1;
    list->count++;
    return 0;
}

void ts_strlist_free(ts_strlist_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

void ts_filter_free(ts_filter_t *filter)
{
    ts_strlist_free(&filter->only);
    ts_strlist_free(&filter->exclude);
    ts_strlist_free(&filter->program_dirs);
    ts_strlist_free(&filter->library_dirs);
    ts_strlist_free(&filter->own_dirs);
    filter->profile_all = 0;
}
