/* SPDX-License-Identifier: MIT
 *
 * test_addrmap.c — the address → code-kind map: lookups at range edges and in gaps, the
 * system-library names, and a map built from this very process (libc is system code, this
 * executable stands in for the interpreter, with an "eval loop" carved out of it).
 */
#define _GNU_SOURCE
#include "addrmap.h"
#include "testhelp.h"

#include <dlfcn.h>
#include <stdlib.h>

static void test_lookup(void)
{
    /* Given unsorted; from_ranges sorts them. */
    ts_addr_range_t ranges[] = {
        {0x5000, 0x6000, TS_CODE_EXTENSION},
        {0x1000, 0x2000, TS_CODE_INTERPRETER},
        {0x2000, 0x2100, TS_CODE_EVAL_LOOP}, /* adjacent to the one before */
        {0x9000, 0x9001, TS_CODE_SYSTEM},    /* one byte long */
        {0x3000, 0x4000, TS_CODE_SYSTEM},
    };
    ts_addrmap_t *map = ts_addrmap_from_ranges(ranges, 5);
    CHECK(map != NULL);
    if (map == NULL)
        return;
    CHECK_EQ_INT(map->count, 5);
    for (size_t i = 1; i < map->count; i++)
        CHECK(map->ranges[i - 1].start < map->ranges[i].start);
    CHECK(map->ranges[0].start == 0x1000 && map->ranges[0].kind == TS_CODE_INTERPRETER);
    CHECK(map->ranges[4].start == 0x9000 && map->ranges[4].end == 0x9001);
    CHECK_EQ_INT(ranges[0].start, 0x5000); /* the input is left alone */

    CHECK_EQ_INT(ts_addrmap_lookup(map, 0), TS_CODE_UNKNOWN);
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0xfff), TS_CODE_UNKNOWN);       /* before the first */
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x1000), TS_CODE_INTERPRETER);  /* start */
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x1fff), TS_CODE_INTERPRETER);  /* end - 1 */
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x2000), TS_CODE_EVAL_LOOP);    /* end = next start */
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x20ff), TS_CODE_EVAL_LOOP);
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x2100), TS_CODE_UNKNOWN);      /* end, then a gap */
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x2fff), TS_CODE_UNKNOWN);
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x3000), TS_CODE_SYSTEM);
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x3fff), TS_CODE_SYSTEM);
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x4000), TS_CODE_UNKNOWN);
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x5000), TS_CODE_EXTENSION);
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x5fff), TS_CODE_EXTENSION);
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x6000), TS_CODE_UNKNOWN);
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x9000), TS_CODE_SYSTEM);
    CHECK_EQ_INT(ts_addrmap_lookup(map, 0x9001), TS_CODE_UNKNOWN);     /* after the last */
    CHECK_EQ_INT(ts_addrmap_lookup(map, UINTPTR_MAX), TS_CODE_UNKNOWN);
    free(map);

    CHECK_EQ_INT(ts_addrmap_lookup(NULL, 0x1000), TS_CODE_UNKNOWN);
    ts_addrmap_t *empty = ts_addrmap_from_ranges(ranges, 0);
    CHECK(empty != NULL && empty->count == 0);
    CHECK_EQ_INT(ts_addrmap_lookup(empty, 0x1000), TS_CODE_UNKNOWN);
    free(empty);

    /* Many ranges: every range found at both ends, every gap unknown. */
    enum { N = 1000 };
    ts_addr_range_t *many = malloc(N * sizeof *many);
    for (size_t i = 0; i < N; i++) {
        size_t j = (i * 7919) % N; /* a permutation: unsorted input */
        many[i].start = 0x100000 + j * 0x100;
        many[i].end = many[i].start + 0x80;
        many[i].kind = (uint8_t)(1 + j % 4);
    }
    map = ts_addrmap_from_ranges(many, N);
    int wrong = 0;
    for (size_t j = 0; j < N; j++) {
        uintptr_t start = 0x100000 + j * 0x100;
        ts_code_kind_t kind = (ts_code_kind_t)(1 + j % 4);
        wrong += ts_addrmap_lookup(map, start) != kind;
        wrong += ts_addrmap_lookup(map, start + 0x7f) != kind;
        wrong += ts_addrmap_lookup(map, start + 0x80) != TS_CODE_UNKNOWN;
        wrong += ts_addrmap_lookup(map, start + 0xff) != TS_CODE_UNKNOWN;
    }
    CHECK_EQ_INT(wrong, 0);
    free(map);
    free(many);
}

static void test_system_library_names(void)
{
    CHECK(ts_addrmap_is_system_library("libc.so.6"));
    CHECK(ts_addrmap_is_system_library("/lib/x86_64-linux-gnu/libc.so.6"));
    CHECK(ts_addrmap_is_system_library("/lib/x86_64-linux-gnu/libm.so.6"));
    CHECK(ts_addrmap_is_system_library("/lib64/ld-linux-x86-64.so.2"));
    CHECK(ts_addrmap_is_system_library("ld-linux-x86-64.so.2"));
    CHECK(ts_addrmap_is_system_library("/lib/ld-linux-aarch64.so.1"));
    CHECK(ts_addrmap_is_system_library("linux-vdso.so.1"));
    CHECK(ts_addrmap_is_system_library("/lib/x86_64-linux-gnu/libpthread.so.0"));
    CHECK(ts_addrmap_is_system_library("/usr/lib/libc-2.31.so"));
    CHECK(ts_addrmap_is_system_library("/lib/x86_64-linux-gnu/libgcc_s.so.1"));
    CHECK(!ts_addrmap_is_system_library("/lib/x86_64-linux-gnu/libz.so.1"));
    CHECK(!ts_addrmap_is_system_library("libz.so.1"));
    CHECK(!ts_addrmap_is_system_library(
        "/venv/lib/python3.11/site-packages/triscope/_native.cpython-311-x86_64-linux-gnu.so"));
    CHECK(!ts_addrmap_is_system_library(
        "/venv/lib/python3.11/site-packages/numpy/core/_multiarray_umath.cpython-311.so"));
    CHECK(!ts_addrmap_is_system_library("/usr/lib/libcrypto.so.3"));   /* "libc" prefix only */
    CHECK(!ts_addrmap_is_system_library("/usr/lib/libmagic.so.1"));   /* "libm" prefix only */
    CHECK(!ts_addrmap_is_system_library("/opt/libc.so.6/libfoo.so"));  /* the base name counts */
    CHECK(!ts_addrmap_is_system_library(""));                          /* the main executable */
}

/* Stands in for the interpreter loop: its address lies in this executable's text. */
static int __attribute__((noinline)) fake_eval_loop(int x)
{
    return x * 3 + 1;
}

static void test_build_from_process(void)
{
    unsigned long long generation = ts_addrmap_generation();
    CHECK(generation > 0);

    /* printf from libc itself: under a sanitizer RTLD_DEFAULT finds its interceptor. */
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    uintptr_t libc_printf = (uintptr_t)dlsym(libc ? libc : RTLD_DEFAULT, "printf");
    uintptr_t libm_cos = (uintptr_t)dlsym(RTLD_DEFAULT, "cos");
    uintptr_t exe = (uintptr_t)&test_build_from_process;
    uintptr_t eval_start = (uintptr_t)&fake_eval_loop;
    uintptr_t eval_end = eval_start + 16;
    CHECK(libc_printf != 0);
    CHECK(fake_eval_loop(1) == 4);

    ts_addrmap_t *map = ts_addrmap_build(eval_start, eval_end, exe, 0);
    CHECK(map != NULL);
    if (map == NULL)
        return;
    CHECK(map->count >= 3); /* at least this executable, libc and the loader */
    for (size_t i = 1; i < map->count; i++)
        CHECK(map->ranges[i - 1].end <= map->ranges[i].start); /* sorted, disjoint */

    CHECK_EQ_INT(ts_addrmap_lookup(map, libc_printf), TS_CODE_SYSTEM);
    if (libm_cos != 0)
        CHECK_EQ_INT(ts_addrmap_lookup(map, libm_cos), TS_CODE_SYSTEM);
    CHECK_EQ_INT(ts_addrmap_lookup(map, exe), TS_CODE_INTERPRETER);
    CHECK_EQ_INT(ts_addrmap_lookup(map, eval_start), TS_CODE_EVAL_LOOP);
    CHECK_EQ_INT(ts_addrmap_lookup(map, eval_end - 1), TS_CODE_EVAL_LOOP);
    CHECK_EQ_INT(ts_addrmap_lookup(map, eval_end), TS_CODE_INTERPRETER);
    CHECK_EQ_INT(ts_addrmap_lookup(map, eval_start - 1), TS_CODE_INTERPRETER);
    /* Data is not code: a heap address lies in no executable segment. */
    void *heap = malloc(64);
    CHECK_EQ_INT(ts_addrmap_lookup(map, (uintptr_t)heap), TS_CODE_UNKNOWN);
    free(heap);
    free(map);

    /* With the interpreter elsewhere, this executable is an ordinary object, or system
     * code when it is given as triscope's own address. */
    map = ts_addrmap_build(0, 0, libm_cos ? libm_cos : libc_printf, 0);
    CHECK(map != NULL);
    CHECK_EQ_INT(ts_addrmap_lookup(map, exe), TS_CODE_EXTENSION);
    free(map);
    map = ts_addrmap_build(0, 0, 0, exe);
    CHECK(map != NULL);
    CHECK_EQ_INT(ts_addrmap_lookup(map, exe), TS_CODE_SYSTEM);
    free(map);

    /* Loading a library (not a system one) bumps the generation and shows up as an
     * extension in a rebuilt map. */
    void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (z == NULL) {
        printf("libz.so.1 not available: skipping the dlopen case\n");
        if (libc != NULL)
            dlclose(libc);
        return;
    }
    CHECK(ts_addrmap_generation() > generation);
    uintptr_t z_fn = (uintptr_t)dlsym(z, "zlibVersion");
    CHECK(z_fn != 0);
    map = ts_addrmap_build(eval_start, eval_end, exe, 0);
    CHECK(map != NULL);
    CHECK_EQ_INT(ts_addrmap_lookup(map, z_fn), TS_CODE_EXTENSION);
    CHECK_EQ_INT(ts_addrmap_lookup(map, libc_printf), TS_CODE_SYSTEM);
    free(map);
    dlclose(z);
    if (libc != NULL)
        dlclose(libc);
}

int main(void)
{
    RUN(test_lookup);
    RUN(test_system_library_names);
    RUN(test_build_from_process);
    return TEST_DONE();
}
