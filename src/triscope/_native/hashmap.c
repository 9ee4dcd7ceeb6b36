/* SPDX-License-Identifier: MIT
 *
 * hashmap.c — see hashmap.h. Linear probing at load factor ≤ 1/2; keys are mixed with a
 * 64-bit finaliser first because line keys (file << 32 | lineno) and code addresses are
 * far from random in their low bits.
 */
#include "hashmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ULL;
    key ^= key >> 33;
    return key;
}

void ts_map_init(ts_map_t *map)
{
    memset(map, 0, sizeof *map);
}

void ts_map_free(ts_map_t *map)
{
    free(map->keys);
    free(map->values);
    ts_map_init(map);
}

static size_t find_slot(const ts_map_t *map, uint64_t stored)
{
    size_t mask = map->capacity - 1;
    size_t i = mix(stored) & mask;
    while (map->keys[i] != 0 && map->keys[i] != stored)
        i = (i + 1) & mask;
    return i;
}

int ts_map_get(const ts_map_t *map, uint64_t key, uint32_t *value)
{
    if (map->capacity == 0)
        return 0;
    size_t i = find_slot(map, key + 1);
    if (map->keys[i] == 0)
        return 0;
    *value = map->values[i];
    return 1;
}

static int grow(ts_map_t *map)
{
    ts_map_t bigger;
    bigger.capacity = map->capacity ? map->capacity * 2 : 64;
    bigger.count = map->count;
    bigger.keys = calloc(bigger.capacity, sizeof *bigger.keys);
    bigger.values = malloc(bigger.capacity * sizeof *bigger.values);
    if (bigger.keys == NULL || bigger.values == NULL) {
        free(bigger.keys);
        free(bigger.values);
        return -1;
    }
    for (size_t i = 0; i < map->capacity; i++) {
        if (map->keys[i] == 0)
            continue;
        size_t j = find_slot(&bigger, map->keys[i]);
        bigger.keys[j] = map->keys[i];
        bigger.values[j] = map->values[i];
    }
    free(map->keys);
    free(map->values);
    *map = bigger;
    return 0;
}

int ts_map_put(ts_map_t *map, uint64_t key, uint32_t value)
{
    if ((map->count + 1) * 2 > map->capacity && grow(map) < 0)
        return -1;
    size_t i = find_slot(map, key + 1);
    if (map->keys[i] == 0) {
        map->keys[i] = key + 1;
        map->count++;
    }
    map->values[i] = value;
    return 0;
}

void ts_map_remove(ts_map_t *map, uint64_t key)
{
    if (map->capacity == 0)
        return;
    size_t mask = map->capacity - 1;
    size_t hole = find_slot(map, key + 1);
    if (map->keys[hole] == 0)
        return;
    map->keys[hole] = 0;
    map->count--;
    /* Move later members of the probe run back so lookups never stop at the new hole. */
    for (size_t i = (hole + 1) & mask; map->keys[i] != 0; i = (i + 1) & mask) {
        size_t home = mix(map->keys[i]) & mask;
        int reachable = (hole <= i) ? (home <= hole || home > i) : (home <= hole && home > i);
        if (reachable) {
            map->keys[hole] = map->keys[i];
            map->values[hole] = map->values[i];
            map->keys[i] = 0;
            hole = i;
        }
    }
}

int ts_map_find_confirmed(const ts_map_t *map, uint64_t hash,
                          int (*same)(uint32_t id, const void *context), const void *context,
                          uint32_t *id, uint64_t *free_probe)
{
    uint64_t probe = hash;
    for (;;) {
        if (probe == UINT64_MAX) /* not a valid map key */
            probe = 0;
        if (!ts_map_get(map, probe, id)) {
            *free_probe = probe;
            return 0;
        }
        if (same(*id, context))
            return 1;
        probe = probe * 0x9e3779b97f4a7c15ULL + 1;
    }
}

uint64_t ts_hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *bytes = data;
    uint64_t hash = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        hash ^= bytes[i];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

void ts_intern_init(ts_intern_t *tab)
{
    memset(tab, 0, sizeof *tab);
    ts_map_init(&tab->by_hash);
}

void ts_intern_free(ts_intern_t *tab)
{
    for (size_t i = 0; i < tab->count; i++)
        free(tab->strings[i]);
    free(tab->strings);
    free(tab->lengths);
    ts_map_free(&tab->by_hash);
    ts_intern_init(tab);
}

typedef struct {
    const ts_intern_t *tab;
    const char *s;
    size_t len;
} intern_query_t;

static int same_string(uint32_t id, const void *context)
{
    const intern_query_t *q = context;
    return q->tab->lengths[id] == q->len && memcmp(q->tab->strings[id], q->s, q->len) == 0;
}

uint32_t ts_intern(ts_intern_t *tab, const char *s, size_t len)
{
    intern_query_t query = {tab, s, len};
    uint64_t probe;
    uint32_t id;
    if (ts_map_find_confirmed(&tab->by_hash, ts_hash_bytes(s, len, 0), same_string, &query,
                              &id, &probe))
        return id;
    if (tab->count == tab->capacity) {
        size_t capacity = tab->capacity ? tab->capacity * 2 : 64;
        char **strings = realloc(tab->strings, capacity * sizeof *strings);
        if (strings == NULL)
            return UINT32_MAX;
        tab->strings = strings;
        size_t *lengths = realloc(tab->lengths, capacity * sizeof *lengths);
        if (lengths == NULL)
            return UINT32_MAX;
        tab->lengths = lengths;
        tab->capacity = capacity;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return UINT32_MAX;
    memcpy(copy, s, len);
    copy[len] = '\0';
    id = (uint32_t)tab->count;
    if (ts_map_put(&tab->by_hash, probe, id) < 0) {
        free(copy);
        return UINT32_MAX;
    }
    tab->strings[id] = copy;
    tab->lengths[id] = len;
    tab->count++;
    return id;
}
