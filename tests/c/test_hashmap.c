/* SPDX-License-Identifier: MIT
 *
 * test_hashmap.c — the 64-bit → 32-bit open-addressing map (put/get/overwrite, growth,
 * backward-shift removal checked against a reference array) and the string interner.
 */
#include "hashmap.h"
#include "testhelp.h"

#include <stdint.h>
#include <stdlib.h>

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static int has(const ts_map_t *map, uint64_t key, uint32_t expected)
{
    uint32_t value = UINT32_MAX;
    return ts_map_get(map, key, &value) == 1 && value == expected;
}

static int absent(const ts_map_t *map, uint64_t key)
{
    uint32_t value = 12345;
    return ts_map_get(map, key, &value) == 0 && value == 12345;
}

static void test_put_get_overwrite(void)
{
    ts_map_t map;
    ts_map_init(&map);
    CHECK(absent(&map, 1));          /* empty map, no table yet */
    ts_map_remove(&map, 1);          /* harmless on an empty map */
    CHECK(ts_map_put(&map, 0, 7) == 0);   /* key 0 is a real key (stored as 1) */
    CHECK(ts_map_put(&map, 1, 8) == 0);
    CHECK(ts_map_put(&map, UINT64_MAX - 1, 9) == 0);
    CHECK(ts_map_put(&map, (uint64_t)5 << 32 | 17, 10) == 0);
    CHECK(has(&map, 0, 7));
    CHECK(has(&map, 1, 8));
    CHECK(has(&map, UINT64_MAX - 1, 9));
    CHECK(has(&map, (uint64_t)5 << 32 | 17, 10));
    CHECK(absent(&map, 2));
    CHECK(absent(&map, (uint64_t)17 << 32 | 5));
    CHECK_EQ_INT(map.count, 4);
    CHECK(ts_map_put(&map, 0, 70) == 0);
    CHECK(ts_map_put(&map, 1, UINT32_MAX) == 0);
    CHECK(has(&map, 0, 70));
    CHECK(has(&map, 1, UINT32_MAX));
    CHECK_EQ_INT(map.count, 4);      /* overwrite does not add */
    ts_map_remove(&map, 0);
    CHECK(absent(&map, 0));
    CHECK(has(&map, 1, UINT32_MAX));
    CHECK_EQ_INT(map.count, 3);
    ts_map_remove(&map, 0);          /* removing twice is harmless */
    CHECK_EQ_INT(map.count, 3);
    CHECK(ts_map_put(&map, 0, 3) == 0);
    CHECK(has(&map, 0, 3));
    ts_map_free(&map);
    CHECK(map.capacity == 0 && map.count == 0 && map.keys == NULL);
    CHECK(absent(&map, 1));
}

static void test_growth(void)
{
    ts_map_t map;
    ts_map_init(&map);
    const uint32_t n = 200000;
    /* Line-like keys (file << 32 | lineno): structured low bits. */
    for (uint32_t i = 0; i < n; i++)
        CHECK(ts_map_put(&map, (uint64_t)(i % 97) << 32 | (i / 97), i) == 0);
    CHECK_EQ_INT(map.count, n);
    CHECK(map.capacity >= 2 * (size_t)n);
    CHECK((map.capacity & (map.capacity - 1)) == 0);
    uint32_t wrong = 0;
    for (uint32_t i = 0; i < n; i++)
        wrong += !has(&map, (uint64_t)(i % 97) << 32 | (i / 97), i);
    CHECK_EQ_INT(wrong, 0);
    CHECK(absent(&map, (uint64_t)97 << 32));
    /* Address-like keys: multiples of 16. */
    ts_map_free(&map);
    for (uint32_t i = 0; i < n; i++)
        CHECK(ts_map_put(&map, 0x7f0000000000ULL + (uint64_t)i * 16, i) == 0);
    wrong = 0;
    for (uint32_t i = 0; i < n; i++)
        wrong += !has(&map, 0x7f0000000000ULL + (uint64_t)i * 16, i);
    CHECK_EQ_INT(wrong, 0);
    ts_map_free(&map);
}

/* Removes the middle member of every probe run of length ≥ 3 and checks that every other
 * key is still reachable: the backward shift must not strand anything behind the hole. */
static void test_remove_inside_runs(void)
{
    ts_map_t map;
    ts_map_init(&map);
    enum { N = 31 }; /* 31 keys in 64 slots: load just under 1/2, plenty of runs */
    uint64_t keys[N];
    int removed[N] = {0};
    for (int i = 0; i < N; i++) {
        keys[i] = rng() % 1000000;
        for (int j = 0; j < i; j++)
            if (keys[j] == keys[i])
                keys[i] = rng() % 1000000, j = -1;
        CHECK(ts_map_put(&map, keys[i], (uint32_t)i) == 0);
    }
    CHECK_EQ_INT(map.capacity, 64);
    int runs_hit = 0;
    for (size_t start = 0; start < map.capacity; start++) {
        size_t mask = map.capacity - 1;
        if (map.keys[start] == 0 || map.keys[(start - 1) & mask] != 0)
            continue; /* not the start of a run */
        size_t len = 0;
        while (map.keys[(start + len) & mask] != 0)
            len++;
        if (len < 3)
            continue;
        uint64_t victim = map.keys[(start + len / 2) & mask] - 1;
        ts_map_remove(&map, victim);
        runs_hit++;
        for (int i = 0; i < N; i++)
            if (keys[i] == victim)
                removed[i] = 1;
        int wrong = 0;
        for (int i = 0; i < N; i++)
            wrong += removed[i] ? !absent(&map, keys[i]) : !has(&map, keys[i], (uint32_t)i);
        CHECK_EQ_INT(wrong, 0);
    }
    CHECK(runs_hit > 0);
    ts_map_free(&map);
}

/* Random puts, overwrites and removes over a small key space (so removals hit occupied
 * runs often), compared after every step with a plain array. */
static void test_random_against_reference(void)
{
    enum { KEYS = 3000, STEPS = 200000 };
    static uint32_t ref_value[KEYS];
    static int ref_present[KEYS];
    ts_map_t map;
    ts_map_init(&map);
    size_t ref_count = 0;
    int wrong = 0;
    for (int step = 0; step < STEPS; step++) {
        uint64_t r = rng();
        uint32_t k = (uint32_t)(r % KEYS);
        uint64_t key = (uint64_t)k * 0x10001; /* includes key 0 */
        if ((r >> 32) % 3 == 0) {
            ts_map_remove(&map, key);
            ref_count -= ref_present[k];
            ref_present[k] = 0;
        } else {
            uint32_t value = (uint32_t)(r >> 40);
            CHECK(ts_map_put(&map, key, value) == 0);
            ref_count += !ref_present[k];
            ref_present[k] = 1;
            ref_value[k] = value;
        }
        if (map.count != ref_count)
            wrong++;
        /* Full comparison now and then, spot checks of three keys every step. */
        if (step % 5000 == 0 || step == STEPS - 1) {
            for (uint32_t i = 0; i < KEYS; i++) {
                uint64_t ki = (uint64_t)i * 0x10001;
                wrong += ref_present[i] ? !has(&map, ki, ref_value[i]) : !absent(&map, ki);
            }
        } else {
            for (int s = 0; s < 3; s++) {
                uint32_t i = (uint32_t)(rng() % KEYS);
                uint64_t ki = (uint64_t)i * 0x10001;
                wrong += ref_present[i] ? !has(&map, ki, ref_value[i]) : !absent(&map, ki);
            }
        }
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(map.count, ref_count);
    /* Remove everything that is left; the map ends empty and still usable. */
    for (uint32_t i = 0; i < KEYS; i++)
        ts_map_remove(&map, (uint64_t)i * 0x10001);
    CHECK_EQ_INT(map.count, 0);
    size_t occupied = 0;
    for (size_t i = 0; i < map.capacity; i++)
        occupied += map.keys[i] != 0;
    CHECK_EQ_INT(occupied, 0);
    CHECK(ts_map_put(&map, 42, 1) == 0);
    CHECK(has(&map, 42, 1));
    ts_map_free(&map);
}

static void test_hash_bytes(void)
{
    /* FNV-1a reference values. */
    CHECK(ts_hash_bytes("", 0, 0) == 0xcbf29ce484222325ULL);
    CHECK(ts_hash_bytes("a", 1, 0) == 0xaf63dc4c8601ec8cULL);
    CHECK(ts_hash_bytes("foobar", 6, 0) == 0x85944171f73967e8ULL);
    CHECK(ts_hash_bytes("a", 1, 1) != ts_hash_bytes("a", 1, 0));
}

static void test_interner(void)
{
    ts_intern_t tab;
    ts_intern_init(&tab);
    uint32_t a = ts_intern(&tab, "alpha", 5);
    uint32_t b = ts_intern(&tab, "beta", 4);
    CHECK(a != UINT32_MAX && b != UINT32_MAX && a != b);
    CHECK_EQ_INT(ts_intern(&tab, "alpha", 5), a);
    char copy[] = "alpha";  /* same bytes at another address */
    CHECK_EQ_INT(ts_intern(&tab, copy, 5), a);
    CHECK_STR(ts_intern_str(&tab, a), "alpha");
    /* A prefix, the empty string and embedded NULs are all distinct strings. */
    uint32_t alp = ts_intern(&tab, "alpha", 3);
    uint32_t empty = ts_intern(&tab, "", 0);
    uint32_t nul1 = ts_intern(&tab, "a\0b", 3);
    uint32_t nul2 = ts_intern(&tab, "a\0c", 3);
    uint32_t just_a = ts_intern(&tab, "a", 1);
    uint32_t a_nul = ts_intern(&tab, "a\0", 2);
    uint32_t ids[] = {a, b, alp, empty, nul1, nul2, just_a, a_nul};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        for (size_t j = i + 1; j < sizeof ids / sizeof ids[0]; j++)
            CHECK(ids[i] != ids[j]);
    CHECK_STR(ts_intern_str(&tab, alp), "alp");
    CHECK_STR(ts_intern_str(&tab, empty), "");
    CHECK_EQ_INT(tab.lengths[alp], 3);
    CHECK_EQ_INT(tab.lengths[empty], 0);
    CHECK_EQ_INT(tab.lengths[nul1], 3);
    CHECK_EQ_INT(tab.lengths[a_nul], 2);
    CHECK(memcmp(ts_intern_str(&tab, nul2), "a\0c", 4) == 0);
    CHECK_EQ_INT(ts_intern(&tab, "a\0c", 3), nul2);

    /* Many strings: ids are dense, stable, and each string keeps its bytes. */
    enum { MANY = 50000 };
    uint32_t first = (uint32_t)tab.count;
    char text[64];
    int wrong = 0;
    for (int i = 0; i < MANY; i++) {
        int len = snprintf(text, sizeof text, "/src/module_%d.py:%d", i % 977, i);
        wrong += ts_intern(&tab, text, (size_t)len) != first + (uint32_t)i;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(tab.count, first + MANY);
    for (int i = 0; i < MANY; i++) {
        int len = snprintf(text, sizeof text, "/src/module_%d.py:%d", i % 977, i);
        uint32_t id = ts_intern(&tab, text, (size_t)len);
        wrong += id != first + (uint32_t)i;
        wrong += tab.lengths[id] != (size_t)len || strcmp(ts_intern_str(&tab, id), text) != 0;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(tab.count, first + MANY);
    CHECK_EQ_INT(ts_intern(&tab, "alpha", 5), a);
    ts_intern_free(&tab);
    CHECK(tab.count == 0 && tab.strings == NULL);
}

int main(void)
{
    RUN(test_put_get_overwrite);
    RUN(test_growth);
    RUN(test_remove_inside_runs);
    RUN(test_random_against_reference);
    RUN(test_hash_bytes);
    RUN(test_interner);
    return TEST_DONE();
}
