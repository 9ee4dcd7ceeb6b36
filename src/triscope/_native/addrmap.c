/* SPDX-License-Identifier: MIT
 *
 * addrmap.c — see addrmap.h. Building uses dl_iterate_phdr and malloc, so it runs in the
 * consumer or at start, never in the handler; only ts_addrmap_lookup runs in the handler.
 */
#define _GNU_SOURCE
#include "addrmap.h"

#include <link.h>
#include <stdlib.h>
#include <string.h>

ts_code_kind_t ts_addrmap_lookup(const ts_addrmap_t *map, uintptr_t address)
{
    if (map == NULL)
        return TS_CODE_UNKNOWN;
    size_t low = 0, high = map->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        const ts_addr_range_t *range = &map->ranges[mid];
        if (address < range->start)
            high = mid;
        else if (address >= range->end)
            low = mid + 1;
        else
            return (ts_code_kind_t)range->kind;
    }
    return TS_CODE_UNKNOWN;
}

static int by_start(const void *a, const void *b)
{
    const ts_addr_range_t *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

ts_addrmap_t *ts_addrmap_from_ranges(const ts_addr_range_t *ranges, size_t count)
{
    ts_addrmap_t *map = malloc(sizeof *map + count * sizeof map->ranges[0]);
    if (map == NULL)
        return NULL;
    map->count = count;
    memcpy(map->ranges, ranges, count * sizeof ranges[0]);
    qsort(map->ranges, count, sizeof map->ranges[0], by_start);
    return map;
}

int ts_addrmap_is_system_library(const char *path)
{
    static const char *const system_prefixes[] = {
        "libc.so", "libc-", "libm.so", "libm-", "libpthread", "ld-linux", "ld-", "linux-vdso",
        "libdl.so", "librt.so", "libutil.so", "libgcc_s", "libresolv",
        /* triscope's allocator library: time there is allocation done for the line. */
        "libtriscope_preload",
    };
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < sizeof system_prefixes / sizeof system_prefixes[0]; i++)
        if (strncmp(base, system_prefixes[i], strlen(system_prefixes[i])) == 0)
            return 1;
    return 0;
}

typedef struct {
    ts_addr_range_t *ranges;
    size_t count, capacity;
    uintptr_t eval_start, eval_end, interpreter_address, self_address;
    int failed;
} builder_t;

static void add_range(builder_t *b, uintptr_t start, uintptr_t end, ts_code_kind_t kind)
{
    if (start >= end)
        return;
    if (b->count == b->capacity) {
        size_t capacity = b->capacity ? b->capacity * 2 : 256;
        ts_addr_range_t *grown = realloc(b->ranges, capacity * sizeof *grown);
        if (grown == NULL) {
            b->failed = 1;
            return;
        }
        b->ranges = grown;
        b->capacity = capacity;
    }
    b->ranges[b->count].start = start;
    b->ranges[b->count].end = end;
    b->ranges[b->count].kind = (uint8_t)kind;
    b->count++;
}

static int contains(struct dl_phdr_info *info, uintptr_t address)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && address >= start && address < start + ph->p_memsz)
            return 1;
    }
    return 0;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    builder_t *b = data;
    ts_code_kind_t kind = TS_CODE_EXTENSION;
    if (contains(info, b->interpreter_address))
        kind = TS_CODE_INTERPRETER;
    else if (contains(info, b->self_address) || ts_addrmap_is_system_library(info->dlpi_name))
        kind = TS_CODE_SYSTEM;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        uintptr_t end = start + ph->p_memsz;
        if (kind == TS_CODE_INTERPRETER && b->eval_start >= start && b->eval_end <= end) {
            /* Split the interpreter's text around the eval loop. */
            add_range(b, start, b->eval_start, TS_CODE_INTERPRETER);
            add_range(b, b->eval_start, b->eval_end, TS_CODE_EVAL_LOOP);
            add_range(b, b->eval_end, end, TS_CODE_INTERPRETER);
        } else {
            add_range(b, start, end, kind);
        }
    }
    return 0;
}

ts_addrmap_t *ts_addrmap_build(uintptr_t eval_start, uintptr_t eval_end,
                               uintptr_t interpreter_address, uintptr_t self_address)
{
    builder_t b = {NULL, 0, 0, eval_start, eval_end, interpreter_address, self_address, 0};
    dl_iterate_phdr(add_object, &b);
    ts_addrmap_t *map = b.failed ? NULL : ts_addrmap_from_ranges(b.ranges, b.count);
    free(b.ranges);
    return map;
}

static int count_adds(struct dl_phdr_info *info, size_t size, void *data)
{
    if (size >= offsetof(struct dl_phdr_info, dlpi_adds) + sizeof info->dlpi_adds)
        *(unsigned long long *)data = info->dlpi_adds;
    return 1; /* the counter is global: the first object is enough */
}

unsigned long long ts_addrmap_generation(void)
{
    unsigned long long adds = 0;
    dl_iterate_phdr(count_adds, &adds);
    return adds;
}
