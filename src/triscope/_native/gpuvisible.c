/* SPDX-License-Identifier: MIT
 *
 * gpuvisible.c — see gpuvisible.h. The list is read as the CUDA runtime reads it: entries
 * separated by commas, each a device index or a UUID (or a unique leading part of one,
 * with or without its "GPU-" prefix); the first entry that names no device ends the list,
 * and the entries after it are ignored; a device named twice counts once.
 */
#include "gpuvisible.h"

#include "textscan.h"

#include <ctype.h>
#include <string.h>

#define MAX_ENTRY 128

static void mark_all(unsigned count, int *cuda_index)
{
    for (unsigned i = 0; i < count; i++)
        cuda_index[i] = (int)i;
}

/* The NVML device `entry` names (an index or a UUID prefix), or -1. */
static int device_named(const char *entry, const char *const *uuids, unsigned count)
{
    if (*entry == '\0')
        return -1;
    if (isdigit((unsigned char)*entry)) {
        uint64_t index;
        const char *end = ts_textscan_decimal(entry, &index);
        return end != NULL && *end == '\0' && index < count ? (int)index : -1;
    }
    const char *prefix = strncmp(entry, "GPU-", 4) == 0 ? entry + 4 : entry;
    size_t length = strlen(prefix);
    int found = -1;
    for (unsigned i = 0; uuids != NULL && i < count; i++) {
        const char *uuid = uuids[i];
        if (uuid == NULL || strncmp(uuid, "GPU-", 4) != 0)
            continue;
        if (length > 0 && strncmp(uuid + 4, prefix, length) == 0) {
            if (found >= 0)
                return -1; /* ambiguous: CUDA refuses it too */
            found = (int)i;
        }
    }
    return found;
}

int ts_gpu_visible_devices(const char *spec, const char *const *uuids, unsigned count,
                           int *cuda_index)
{
    if (spec == NULL) {
        mark_all(count, cuda_index);
        return (int)count;
    }
    for (unsigned i = 0; i < count; i++)
        cuda_index[i] = -1;
    int visible = 0;
    const char *cursor = spec;
    while (*cursor != '\0') {
        const char *comma = strchr(cursor, ',');
        size_t length = comma ? (size_t)(comma - cursor) : strlen(cursor);
        char entry[MAX_ENTRY];
        /* Surrounding blanks are tolerated; anything longer than a UUID names nothing. */
        while (length > 0 && isspace((unsigned char)*cursor)) {
            cursor++;
            length--;
        }
        while (length > 0 && isspace((unsigned char)cursor[length - 1]))
            length--;
        if (length >= MAX_ENTRY)
            break;
        memcpy(entry, cursor, length);
        entry[length] = '\0';
        if (strncmp(entry, "MIG-", 4) == 0) {
            mark_all(count, cuda_index);
            return -1;
        }
        int device = device_named(entry, uuids, count);
        if (device < 0)
            break;
        if (cuda_index[device] < 0)
            cuda_index[device] = visible++;
        if (comma == NULL)
            break;
        cursor = comma + 1;
    }
    return visible;
}
