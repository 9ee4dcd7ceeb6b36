/* SPDX-License-Identifier: MIT
 *
 * test_gpu.c — gpu.c against the stand-in NVML library ($TS_NVML_STANDIN, built by meson):
 * a missing library or no device leaves GPU profiling off with a reason; readings carry
 * the stand-in's utilisation and this process's memory, per-process while the driver gives
 * it and device-wide for good once it does not; a failing call makes an invalid reading and
 * polling goes on; polls follow the schedule; a process's parent is read from its
 * /proc/PID/stat; a forked child never opens NVML.
 */
#define _GNU_SOURCE
#include "gpu.h"
#include "testhelp.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000ull

static ts_gpu_reading_t last;
static int nreadings;
static char busy_file[64];

static void keep(const ts_gpu_reading_t *reading, void *context)
{
    (void)context;
    last = *reading;
    nreadings++;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int poll_once(void)
{
    nreadings = 0;
    ts_gpu_poll_now(now_ns());
    ts_gpu_collect(keep, NULL);
    return nreadings;
}

static void set_busy(int busy)
{
    if (busy) {
        FILE *f = fopen(busy_file, "w");
        CHECK(f != NULL);
        if (f)
            fclose(f);
    } else {
        unlink(busy_file);
    }
}

static void test_off_without_library_or_device(void)
{
    ts_gpu_summary_t summary;
    setenv("TRISCOPE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    CHECK_EQ_INT(ts_gpu_open(20 * MS), -1);
    ts_gpu_summary(&summary);
    CHECK_EQ_INT(summary.profiled, 0);
    CHECK(summary.reason != NULL && strstr(summary.reason, "libnvidia-ml") != NULL);
    CHECK_EQ_INT(ts_gpu_profiling(), 0);

    setenv("TRISCOPE_NVML_LIBRARY", getenv("TS_NVML_STANDIN"), 1);
    setenv("STANDIN_NVML_DEVICES", "0", 1);
    CHECK_EQ_INT(ts_gpu_open(20 * MS), -1);
    ts_gpu_summary(&summary);
    CHECK_STR(summary.reason, "no NVIDIA GPU");
    unsetenv("STANDIN_NVML_DEVICES");

    setenv("STANDIN_NVML_INIT_FAIL", "1", 1);
    CHECK_EQ_INT(ts_gpu_open(20 * MS), -1);
    unsetenv("STANDIN_NVML_INIT_FAIL");

    ts_gpu_off();
    ts_gpu_summary(&summary);
    CHECK(summary.reason == NULL && summary.profiled == 0);
}

static void test_readings(void)
{
    ts_gpu_summary_t summary;
    CHECK_EQ_INT(ts_gpu_open(20 * MS), 0);
    CHECK_EQ_INT(ts_gpu_profiling(), 1);
    ts_gpu_summary(&summary);
    CHECK_STR(summary.device, "Stand-in NVIDIA GPU");
    CHECK(summary.reason == NULL);

    set_busy(0);
    CHECK_EQ_INT(poll_once(), 1);
    CHECK(last.valid && last.process);
    CHECK_EQ_INT(last.busy_permille, 0);
    CHECK_EQ_INT(last.mem_bytes, 0);

    set_busy(1);
    CHECK_EQ_INT(poll_once(), 1);
    CHECK(last.valid && last.process);
    CHECK_EQ_INT(last.busy_permille, 900);
    CHECK_EQ_INT(last.mem_bytes, 512ull << 20);
    CHECK(last.span_ns > 0);

    /* a failing driver: an invalid reading, counted; then it recovers */
    setenv("STANDIN_NVML_FAIL_FROM", "1", 1);
    CHECK_EQ_INT(poll_once(), 1);
    CHECK_EQ_INT(last.valid, 0);
    unsetenv("STANDIN_NVML_FAIL_FROM");
    CHECK_EQ_INT(poll_once(), 1);
    CHECK_EQ_INT(last.valid, 1);

    /* no per-process figures: device-wide, for good */
    setenv("STANDIN_NVML_NO_PROCESS_UTIL", "1", 1);
    CHECK_EQ_INT(poll_once(), 1);
    CHECK(last.valid && !last.process);
    CHECK_EQ_INT(last.busy_permille, 900);
    unsetenv("STANDIN_NVML_NO_PROCESS_UTIL");
    CHECK_EQ_INT(poll_once(), 1);
    CHECK_EQ_INT(last.process, 0);
    set_busy(0);

    ts_gpu_summary(&summary);
    CHECK_EQ_INT(summary.polls, 6);
    CHECK_EQ_INT(summary.failed_polls, 1);
    CHECK_STR(summary.accounting, "device");
    CHECK(summary.poll_cost_us > 0);
    CHECK(summary.peak_mem_mb == 512.0);
    CHECK(summary.poll_interval_s >= 0.02);
    ts_gpu_close();
    /* the summary outlives NVML */
    ts_gpu_summary(&summary);
    CHECK_EQ_INT(summary.polls, 6);
}

/* Four devices, the program allowed two of them (in the other order), only one busy: the
 * summary lists the two with their CUDA numbers, and only the busy one has time and memory. */
static void test_visible_devices_and_per_device_totals(void)
{
    ts_gpu_summary_t summary;
    setenv("STANDIN_NVML_DEVICES", "4", 1);
    setenv("STANDIN_NVML_BUSY_DEVICES", "2", 1);
    setenv("CUDA_VISIBLE_DEVICES", "GPU-00000002,0", 1);
    CHECK_EQ_INT(ts_gpu_open(20 * MS), 0);
    set_busy(1);
    CHECK_EQ_INT(poll_once(), 1);
    usleep(50000);
    CHECK_EQ_INT(poll_once(), 1);
    CHECK_EQ_INT(last.busy_permille, 900);
    CHECK_EQ_INT(last.mem_bytes, 512ull << 20);
    set_busy(0);
    ts_gpu_summary(&summary);
    CHECK_STR(summary.driver, "999.99.99-standin");
    CHECK_STR(summary.visible, "GPU-00000002,0");
    CHECK_EQ_INT(summary.ndevices, 2);
    CHECK_EQ_INT(summary.devices[0].nvml_index, 0);
    CHECK_EQ_INT(summary.devices[0].cuda_index, 1);
    CHECK_EQ_INT(summary.devices[1].nvml_index, 2);
    CHECK_EQ_INT(summary.devices[1].cuda_index, 0);
    CHECK_STR(summary.devices[1].uuid, "GPU-00000002-5a5a-4b4b-8c8c-000000000000");
    CHECK(summary.devices[0].busy_s == 0 && summary.devices[0].peak_mem_mb == 0);
    /* 90 % of the spans between polls (the last ~50 ms at least) */
    CHECK(summary.devices[1].busy_s > 0.04 && summary.devices[1].busy_s < 5.0);
    CHECK(summary.devices[1].peak_mem_mb == 512.0);
    ts_gpu_close();

    /* every device hidden: off, with the reason */
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    CHECK_EQ_INT(ts_gpu_open(20 * MS), -1);
    ts_gpu_summary(&summary);
    CHECK(summary.reason != NULL && strstr(summary.reason, "CUDA_VISIBLE_DEVICES") != NULL);
    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("STANDIN_NVML_BUSY_DEVICES");
    unsetenv("STANDIN_NVML_DEVICES");
}

/* A driver that stamps its samples 150 ms before it hands them over: the reading ends at
 * the sample's time, not at the poll, so what ran since is not charged with it. */
static void test_readings_end_at_the_sample_time(void)
{
    setenv("STANDIN_NVML_SAMPLE_LAG_US", "150000", 1);
    CHECK_EQ_INT(ts_gpu_open(20 * MS), 0);
    usleep(200000); /* the lagged sample falls after the open */
    set_busy(1);
    uint64_t t = now_ns();
    nreadings = 0;
    ts_gpu_tick(t, 1);
    ts_gpu_collect(keep, NULL);
    set_busy(0);
    CHECK_EQ_INT(nreadings, 1);
    CHECK(last.t_ns + 140 * MS <= t && last.t_ns + 170 * MS >= t);
    CHECK_EQ_INT(last.busy_permille, 900);
    CHECK(last.process && last.valid);
    ts_gpu_close();
    unsetenv("STANDIN_NVML_SAMPLE_LAG_US");
}

static ts_gpu_reading_t kept[16];
static int nkept;

static void keep_all(const ts_gpu_reading_t *reading, void *context)
{
    (void)context;
    if (nkept < 16)
        kept[nkept++] = *reading;
}

/* A driver sampling every 200 ms, polled less often, hands over only its newest sample:
 * that sample covers its own 200 ms; the stretch before it, whose samples were missed, is
 * charged at the lower utilisation around it (idle before a busy sample), so the busy time
 * does not spread back over what ran before. */
static void test_missed_samples_do_not_spread_busy_time(void)
{
    setenv("STANDIN_NVML_SAMPLE_PERIOD_US", "200000", 1);
    CHECK_EQ_INT(ts_gpu_open(1 * MS), 0);
    set_busy(0);
    nkept = 0;
    for (int i = 0; i < 12; i++) { /* idle samples, each seen: the driver period is learned */
        usleep(50000);
        ts_gpu_tick(now_ns(), 1);
    }
    set_busy(1);
    usleep(650000); /* three samples come and go unseen */
    ts_gpu_tick(now_ns(), 1);
    set_busy(0);
    ts_gpu_collect(keep_all, NULL);
    CHECK(nkept >= 4);
    if (nkept >= 4) {
        const ts_gpu_reading_t *gap = &kept[nkept - 2], *sample = &kept[nkept - 1];
        CHECK_EQ_INT(gap->busy_permille, 0);
        CHECK(gap->span_ns >= 350 * MS && gap->span_ns <= 1500 * MS);
        CHECK_EQ_INT(sample->busy_permille, 900);
        CHECK(sample->span_ns >= 190 * MS && sample->span_ns <= 210 * MS);
    }
    ts_gpu_close();
    unsetenv("STANDIN_NVML_SAMPLE_PERIOD_US");
}

/* A driver whose first calls are slow (60 ms a poll) and later ones cheap: polling goes
 * on at the requested period through the warm-up instead of backing off to seconds. */
static void test_slow_warm_up_does_not_slow_polling(void)
{
    setenv("STANDIN_NVML_DELAY_US", "30000", 1);
    setenv("STANDIN_NVML_SLOW_FIRST", "8", 1);
    CHECK_EQ_INT(ts_gpu_open(20 * MS), 0);
    uint64_t start = now_ns();
    while (now_ns() - start < 800 * MS) {
        ts_gpu_tick(now_ns(), 1);
        usleep(5000);
    }
    ts_gpu_summary_t summary;
    ts_gpu_summary(&summary);
    CHECK(summary.polls >= 8);
    CHECK(summary.poll_interval_s < 0.1);
    ts_gpu_close();
    unsetenv("STANDIN_NVML_DELAY_US");
    unsetenv("STANDIN_NVML_SLOW_FIRST");
}

static void test_schedule(void)
{
    CHECK_EQ_INT(ts_gpu_open(20 * MS), 0);
    uint64_t t = now_ns();
    nreadings = 0;
    ts_gpu_tick(t, 1);            /* the first tick polls */
    ts_gpu_tick(t + 1 * MS, 1);   /* not due yet */
    ts_gpu_collect(keep, NULL);
    CHECK_EQ_INT(nreadings, 1);
    ts_gpu_tick(t + 5 * MS, 0);   /* suspended: no poll, and the next span starts afresh */
    ts_gpu_tick(t + 50 * MS, 1);  /* resumed here: nothing to read yet */
    ts_gpu_collect(keep, NULL);
    CHECK_EQ_INT(nreadings, 1);
    ts_gpu_tick(t + 100 * MS, 1); /* from the resumption on, not from the last poll */
    ts_gpu_collect(keep, NULL);
    CHECK_EQ_INT(nreadings, 2);
    CHECK_EQ_INT(last.span_ns, 50 * MS);
    ts_gpu_tick(t + 160 * MS, 1);
    ts_gpu_collect(keep, NULL);
    CHECK_EQ_INT(nreadings, 3);
    CHECK_EQ_INT(last.span_ns, 60 * MS);
    ts_gpu_close();
}

/* Which processes are ours: a process's parent, from its /proc/PID/stat. */
static void test_parent_texts(void)
{
    unsigned int parent = 7;
    CHECK_EQ_INT(ts_gpu_parse_parent("4242 (python3) S 4241 4242 4242 0 -1 4194560\n", &parent),
                 0);
    CHECK_EQ_INT(parent, 4241);
    /* A name may hold spaces and parentheses: the state follows the last ')'. */
    CHECK_EQ_INT(ts_gpu_parse_parent("4244 (a) b) (c) D 1 4242\n", &parent), 0);
    CHECK_EQ_INT(parent, 1);
    CHECK_EQ_INT(ts_gpu_parse_parent("1 (systemd) S 0 1 1 0 -1\n", &parent), 0);
    CHECK_EQ_INT(parent, 0);
    CHECK_EQ_INT(ts_gpu_parse_parent("4247 (x)R 12", &parent), 0); /* as " %c %d" read it */
    CHECK_EQ_INT(parent, 12);
    parent = 7;
    CHECK_EQ_INT(ts_gpu_parse_parent("4245 (cut", &parent), -1);
    CHECK_EQ_INT(ts_gpu_parse_parent("4246 (x)", &parent), -1);
    CHECK_EQ_INT(ts_gpu_parse_parent("4246 (x) \n", &parent), -1);
    CHECK_EQ_INT(ts_gpu_parse_parent("4246 (x) S", &parent), -1);
    CHECK_EQ_INT(ts_gpu_parse_parent("4246 (x) S\n", &parent), -1);
    CHECK_EQ_INT(ts_gpu_parse_parent("4246 (x) S -1", &parent), -1);
    CHECK_EQ_INT(ts_gpu_parse_parent("4246 (x) S 2147483648", &parent), -1); /* no pid */
    CHECK_EQ_INT(ts_gpu_parse_parent("", &parent), -1);
    CHECK_EQ_INT(parent, 7);
    /* This process's own. */
    char text[512];
    FILE *stat = fopen("/proc/self/stat", "r");
    CHECK(stat != NULL);
    size_t n = stat ? fread(text, 1, sizeof text - 1, stat) : 0;
    if (stat)
        fclose(stat);
    text[n] = '\0';
    CHECK_EQ_INT(ts_gpu_parse_parent(text, &parent), 0);
    CHECK_EQ_INT(parent, getppid());
}

static void test_forked_child_stays_off(void)
{
    ts_gpu_forget_after_fork();
    CHECK_EQ_INT(ts_gpu_open(20 * MS), -1);
    ts_gpu_summary_t summary;
    ts_gpu_summary(&summary);
    CHECK(summary.reason != NULL && strstr(summary.reason, "fork") != NULL);
}

int main(void)
{
    if (getenv("TS_NVML_STANDIN") == NULL) {
        fprintf(stderr, "TS_NVML_STANDIN is not set: run through meson test\n");
        return 77; /* skipped */
    }
    snprintf(busy_file, sizeof busy_file, "/tmp/ts-gpu-busy-%ld", (long)getpid());
    setenv("STANDIN_NVML_BUSY_FILE", busy_file, 1);
    RUN(test_off_without_library_or_device);
    RUN(test_readings);
    RUN(test_visible_devices_and_per_device_totals);
    RUN(test_readings_end_at_the_sample_time);
    RUN(test_missed_samples_do_not_spread_busy_time);
    RUN(test_slow_warm_up_does_not_slow_polling);
    RUN(test_schedule);
    RUN(test_parent_texts);
    RUN(test_forked_child_stays_off);
    unlink(busy_file);
    return TEST_DONE();
}
