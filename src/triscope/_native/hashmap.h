/* SPDX-License-Identifier: MIT
 *
 * hashmap.h — the two lookup structures the aggregation needs: an open-addressing map from
 * 64-bit keys to 32-bit ids, and an interner that gives each distinct byte string an id.
 * Consumer-side only (runs with the GIL held, never in a signal handler), so it may malloc.
 */
#ifndef TS_HASHMAP_H
#define TS_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *keys;     /* key + 1, so that 0 marks an empty slot */
    uint32_t *values;
    size_t capacity;    /* power of two */
    size_t count;
} ts_map_t;

void ts_map_init(ts_map_t *map);
void ts_map_free(ts_map_t *map);
/* 1 and *value set when the key is present, else 0. */
int ts_map_get(const ts_map_t *map, uint64_t key, uint32_t *value);
/* Inserts or overwrites; -1 on allocation failure. Keys must not be UINT64_MAX. */
int ts_map_put(ts_map_t *map, uint64_t key, uint32_t value);
/* Removes the key if present (backward-shift deletion keeps probing correct). */
void ts_map_remove(ts_map_t *map, uint64_t key);

/* Lookup by a hash that may collide: walks the probe sequence that starts at `hash` until
 * `same(id, context)` confirms an entry (returns 1, *id set) or an unused probe is reached
 * (returns 0, *free_probe set to the key under which to insert the new entry). */
int ts_map_find_confirmed(const ts_map_t *map, uint64_t hash,
                          int (*same)(uint32_t id, const void *context), const void *context,
                          uint32_t *id, uint64_t *free_probe);

typedef struct {
    ts_map_t by_hash;   /* probe hash → id; collisions move to the next probe hash */
    char **strings;     /* id → NUL-terminated copy */
    size_t *lengths;
    size_t count, capacity;
} ts_intern_t;

void ts_intern_init(ts_intern_t *tab);
void ts_intern_free(ts_intern_t *tab);
/* The id of `len` bytes at `s` (added if new), or UINT32_MAX on allocation failure. */
uint32_t ts_intern(ts_intern_t *tab, const char *s, size_t len);
static inline const char *ts_intern_str(const ts_intern_t *tab, uint32_t id)
{
    return tab->strings[id];
}

/* 64-bit FNV-1a, also used for hashing sample stacks. */
uint64_t ts_hash_bytes(const void *data, size_t len, uint64_t seed);

#endif
