/* SPDX-License-Identifier: MIT
 *
 * test_gpuvisible.c — $CUDA_VISIBLE_DEVICES read as the CUDA runtime reads it: unset shows
 * every device; indices and UUID prefixes pick and renumber devices in the order named; the
 * first entry that names nothing ends the list; an empty list hides every device; a MIG
 * instance cannot be mapped, so every device stays visible.
 */
#include "gpuvisible.h"
#include "testhelp.h"

static const char *const uuids[4] = {
    "GPU-11111111-aaaa-bbbb-cccc-000000000000", "GPU-22222222-aaaa-bbbb-cccc-000000000000",
    "GPU-23333333-aaaa-bbbb-cccc-000000000000", NULL};

static void expect(const char *spec, int visible, int i0, int i1, int i2, int i3)
{
    int index[4];
    CHECK_EQ_INT(ts_gpu_visible_devices(spec, uuids, 4, index), visible);
    CHECK_EQ_INT(index[0], i0);
    CHECK_EQ_INT(index[1], i1);
    CHECK_EQ_INT(index[2], i2);
    CHECK_EQ_INT(index[3], i3);
}

static void test_unset_shows_all(void)
{
    expect(NULL, 4, 0, 1, 2, 3);
}

static void test_indices_renumber_in_order_named(void)
{
    expect("2,0", 2, 1, -1, 0, -1);
    expect(" 3 , 1 ", 2, -1, 1, -1, 0);
    expect("1,1", 1, -1, 0, -1, -1);
}

static void test_first_invalid_entry_ends_the_list(void)
{
    expect("1,7,0", 1, -1, 0, -1, -1);
    expect("0,-1,2", 1, 0, -1, -1, -1);
    expect("0,x,2", 1, 0, -1, -1, -1);
    expect("1,,2", 1, -1, 0, -1, -1);
}

static void test_empty_or_nothing_hides_every_device(void)
{
    expect("", 0, -1, -1, -1, -1);
    expect("-1", 0, -1, -1, -1, -1);
    expect("9", 0, -1, -1, -1, -1);
    expect("99999999999999999999999", 0, -1, -1, -1, -1); /* past 64 bits: no index */
    expect("18446744073709551616,0", 0, -1, -1, -1, -1);  /* 2^64 does not wrap to 0 */
}

static void test_uuids_and_unique_prefixes(void)
{
    expect("GPU-22222222-aaaa-bbbb-cccc-000000000000", 1, -1, 0, -1, -1);
    expect("GPU-1111,2", 2, 0, -1, 1, -1);
    expect("GPU-22222222", 1, -1, 0, -1, -1);
    expect("22222222", 0, -1, -1, -1, -1); /* a bare number is an index */
    expect("GPU-2", 0, -1, -1, -1, -1); /* two devices start so: ambiguous */
}

static void test_mig_instances_keep_every_device(void)
{
    expect("MIG-5a1b2c3d-0000-0000-0000-000000000000", -1, 0, 1, 2, 3);
}

int main(void)
{
    RUN(test_unset_shows_all);
    RUN(test_indices_renumber_in_order_named);
    RUN(test_first_invalid_entry_ends_the_list);
    RUN(test_empty_or_nothing_hides_every_device);
    RUN(test_uuids_and_unique_prefixes);
    RUN(test_mig_instances_keep_every_device);
    return TEST_DONE();
}
