/* SPDX-License-Identifier: MIT
 *
 * test_gpuattr.c — charging GPU readings to lines: the span's busy time goes to its CPU
 * samples, else the main thread's waits, else other waits, in proportion to weight; spans
 * without samples are unattributed; samples after the latest reading wait for the next
 * one; a failed poll charges nothing; late samples are charged at their span's rate; each
 * line keeps the peak GPU memory it saw, and PyTorch's allocator's bytes where a reading
 * carries them; everything adds up to the busy time.
 */
#include "gpuattr.h"
#include "stats.h"
#include "testhelp.h"

#define MS 1000000ull
#define MIB (1024ull * 1024ull)

static ts_stats_t stats;
static ts_gpu_attr_t attr;
static uint32_t fn_a, fn_b;

static void setup(void)
{
    ts_stats_init(&stats);
    CHECK_EQ_INT(ts_gpu_attr_init(&attr, 8), 0);
    uint32_t file = ts_stats_file(&stats, "/p/a.py", 1);
    fn_a = ts_stats_func(&stats, file, "a", 1);
    fn_b = ts_stats_func(&stats, file, "b", 10);
}

static void teardown(void)
{
    ts_gpu_attr_free(&attr);
    ts_stats_free(&stats);
}

static void reading(uint64_t t_ms, uint64_t span_ms, unsigned permille, uint64_t mem, int valid)
{
    ts_gpu_reading_t r = {.t_ns = t_ms * MS, .span_ns = span_ms * MS, .mem_bytes = mem,
                          .busy_permille = permille, .valid = (uint8_t)valid, .process = 1};
    ts_gpu_attr_reading(&attr, &r);
}

static const ts_gpu_t *line_gpu(uint32_t lineno)
{
    for (size_t i = 0; i < stats.nlines; i++)
        if (stats.lines[i].lineno == lineno)
            return &stats.lines[i].gpu;
    return NULL;
}

static uint64_t line_busy(uint32_t lineno)
{
    const ts_gpu_t *gpu = line_gpu(lineno);
    return gpu ? gpu->busy_ns : 0;
}

static void sample(uint64_t t_ms, uint64_t weight_ms, ts_gpu_class_t cls, uint32_t func,
                   uint32_t lineno)
{
    /* The line exists once its time is added, as resolve.c does first. */
    if (func != UINT32_MAX)
        ts_stats_add_line(&stats, func, lineno, TS_TIME_PYTHON, weight_ms * MS, 1);
    CHECK_EQ_INT(ts_gpu_attr_sample(&attr, t_ms * MS, weight_ms * MS, cls, func, lineno), 0);
}

static void test_cpu_samples_take_the_span(void)
{
    setup();
    /* span (0, 100] ms, 50% busy: 50 ms of GPU time */
    reading(100, 100, 500, 256 * MIB, 1);
    sample(30, 10, TS_GPU_CPU, fn_a, 2);      /* 30 ms of CPU on line 2 ... */
    sample(60, 20, TS_GPU_CPU, fn_a, 2);
    sample(90, 10, TS_GPU_CPU, fn_b, 11);     /* ... 10 ms on line 11 */
    sample(100, 60, TS_GPU_MAIN_WAIT, fn_b, 12); /* waits get none while there is CPU */
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_busy(2), 37500000);
    CHECK_EQ_INT(line_busy(11), 12500000);
    CHECK_EQ_INT(line_busy(12), 0);
    CHECK_EQ_INT(stats.gpu_total.busy_ns, 50 * MS);
    CHECK_EQ_INT(stats.funcs[fn_a].gpu.busy_ns, 37500000);
    /* every sampled line saw the memory, the waiting one too */
    CHECK_EQ_INT(line_gpu(12)->peak_mem_bytes, 256 * MIB);
    CHECK_EQ_INT(stats.gpu_total.peak_mem_bytes, 256 * MIB);
    teardown();
}

static void test_main_thread_waits_before_other_waits(void)
{
    setup();
    reading(20, 20, 1000, 0, 1);
    sample(20, 20, TS_GPU_WAIT, fn_a, 3);       /* an idle helper thread */
    sample(20, 20, TS_GPU_MAIN_WAIT, fn_b, 13); /* the main thread, blocked on the GPU */
    reading(40, 20, 1000, 0, 1);
    sample(40, 20, TS_GPU_WAIT, fn_a, 3);       /* only the helper: it gets that span */
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_busy(13), 20 * MS);
    CHECK_EQ_INT(line_busy(3), 20 * MS);
    CHECK_EQ_INT(stats.gpu_total.busy_ns, 40 * MS);
    teardown();
}

static void test_span_without_samples_is_unattributed(void)
{
    setup();
    reading(50, 50, 800, 0, 1);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(stats.gpu_unattributed.busy_ns, 40 * MS);
    CHECK_EQ_INT(stats.gpu_total.busy_ns, 40 * MS);
    /* a sample on no profiled line is unattributed too */
    reading(100, 50, 1000, 0, 1);
    sample(80, 10, TS_GPU_CPU, UINT32_MAX, 0);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(stats.gpu_unattributed.busy_ns, 90 * MS);
    teardown();
}

static void test_samples_wait_for_their_reading(void)
{
    setup();
    reading(20, 20, 1000, 0, 1);
    sample(10, 10, TS_GPU_CPU, fn_a, 2);
    sample(30, 10, TS_GPU_CPU, fn_b, 11); /* after the latest reading */
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_busy(2), 20 * MS);
    CHECK_EQ_INT(line_busy(11), 0);
    CHECK_EQ_INT(attr.npending, 1);
    reading(40, 20, 500, 0, 1);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_busy(11), 10 * MS);
    CHECK_EQ_INT(attr.npending, 0);
    teardown();
}

static void test_failed_poll_charges_nothing(void)
{
    setup();
    reading(20, 20, 1000, 64 * MIB, 0); /* invalid: nothing known */
    sample(10, 10, TS_GPU_CPU, fn_a, 2);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_busy(2), 0);
    CHECK_EQ_INT(line_gpu(2)->peak_mem_bytes, 0);
    CHECK_EQ_INT(stats.gpu_total.busy_ns, 0);
    teardown();
}

static void test_late_sample_and_gaps(void)
{
    setup();
    reading(20, 20, 500, 0, 1);
    sample(10, 10, TS_GPU_CPU, fn_a, 2);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_busy(2), 10 * MS);
    /* a CPU sample of that span arriving after it was settled: charged at its rate */
    sample(15, 10, TS_GPU_CPU, fn_b, 11);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_busy(11), 10 * MS);
    /* after a suspension the next reading covers no time: samples in the gap are dropped */
    reading(1000, 0, 1000, 0, 1);
    sample(500, 10, TS_GPU_CPU, fn_a, 2);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_busy(2), 10 * MS);
    CHECK_EQ_INT(attr.dropped, 1);
    teardown();
}

static void test_memory_peak_per_line_and_forgetting(void)
{
    setup();
    for (uint64_t k = 1; k <= 20; k++) { /* more spans than remembered (8) */
        reading(10 * k, 10, 1000, k * MIB, 1);
        sample(10 * k, 10, TS_GPU_CPU, k <= 10 ? fn_a : fn_b, k <= 10 ? 2 : 11);
        ts_gpu_attr_settle(&attr, &stats);
    }
    CHECK_EQ_INT(line_gpu(2)->peak_mem_bytes, 10 * MIB);
    CHECK_EQ_INT(line_gpu(11)->peak_mem_bytes, 20 * MIB);
    CHECK_EQ_INT(line_busy(2) + line_busy(11), 200 * MS);
    CHECK_EQ_INT(stats.gpu_total.busy_ns, 200 * MS);
    CHECK_EQ_INT(attr.count, 8);
    /* older than anything remembered */
    sample(15, 10, TS_GPU_CPU, fn_a, 2);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(attr.dropped, 1);
    ts_gpu_attr_clear(&attr);
    CHECK_EQ_INT(attr.count, 0);
    teardown();
}

/* A read of PyTorch's allocator is made after the readings of its moment: it goes to the
 * span that turns out to contain it (the lines running then), the most of several reads in
 * one span; a read in no span (a failed or suspended stretch) is forgotten. */
static void test_allocator_reads_go_to_the_span_containing_them(void)
{
    setup();
    reading(10, 10, 1000, 512 * MIB, 1);
    sample(10, 10, TS_GPU_CPU, fn_a, 2);
    ts_gpu_attr_allocator_read(&attr, 12 * MS, 300 * MIB); /* in (10, 20] */
    ts_gpu_attr_allocator_read(&attr, 18 * MS, 100 * MIB);
    ts_gpu_attr_allocator_read(&attr, 25 * MS, 700 * MIB); /* in (20, 30]: waits */
    reading(20, 10, 1000, 512 * MIB, 1);
    sample(20, 10, TS_GPU_CPU, fn_b, 11);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_gpu(2)->peak_allocated_bytes, 0);     /* its span had no read */
    CHECK_EQ_INT(line_gpu(11)->peak_allocated_bytes, 300 * MIB);
    CHECK_EQ_INT(line_gpu(11)->peak_mem_bytes, 512 * MIB);
    CHECK_EQ_INT(stats.funcs[fn_b].gpu.peak_allocated_bytes, 300 * MIB);
    CHECK_EQ_INT(stats.gpu_allocator_seen, 1);
    CHECK_EQ_INT(attr.nreads, 1);
    reading(30, 10, 1000, 512 * MIB, 1);
    sample(30, 10, TS_GPU_CPU, fn_a, 3);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_gpu(3)->peak_allocated_bytes, 700 * MIB);
    CHECK_EQ_INT(line_gpu(11)->peak_allocated_bytes, 300 * MIB);
    /* a read whose span never came (the next reading covers only (45, 50]) */
    ts_gpu_attr_allocator_read(&attr, 35 * MS, 900 * MIB);
    reading(50, 5, 1000, 512 * MIB, 1);
    sample(50, 5, TS_GPU_CPU, fn_b, 12);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_gpu(12)->peak_allocated_bytes, 0);
    CHECK_EQ_INT(attr.nreads, 0);
    CHECK_EQ_INT(stats.gpu_total.peak_allocated_bytes, 700 * MIB);
    /* more reads than are kept before a reading: the oldest go */
    for (uint64_t k = 0; k < TS_GPU_ALLOCATOR_READS + 4; k++)
        ts_gpu_attr_allocator_read(&attr, (51 + k) * MS, (k < 4 ? 999 : 1) * MIB);
    CHECK_EQ_INT(attr.nreads, TS_GPU_ALLOCATOR_READS);
    reading(80, 30, 1000, 512 * MIB, 1);
    sample(80, 30, TS_GPU_CPU, fn_b, 13);
    ts_gpu_attr_settle(&attr, &stats);
    CHECK_EQ_INT(line_gpu(13)->peak_allocated_bytes, 1 * MIB);
    teardown();
}

int main(void)
{
    RUN(test_cpu_samples_take_the_span);
    RUN(test_main_thread_waits_before_other_waits);
    RUN(test_span_without_samples_is_unattributed);
    RUN(test_samples_wait_for_their_reading);
    RUN(test_failed_poll_charges_nothing);
    RUN(test_late_sample_and_gaps);
    RUN(test_memory_peak_per_line_and_forgetting);
    RUN(test_allocator_reads_go_to_the_span_containing_them);
    return TEST_DONE();
}
