/* SPDX-License-Identifier: MIT
 *
 * gpu.c — see gpu.h. Owns NVML: loading it, asking it, and when to ask.
 *
 * NVML is opened with dlopen and its few functions looked up by name; their types are
 * declared here with NVML's documented layouts (nvml.h is not needed to build). A missing
 * library, a failing nvmlInit or no device leaves GPU profiling off with a reason, never an
 * error. $TRISCOPE_NVML_LIBRARY names another library (the test suite's stand-in).
 *
 * A poll, per device: the compute processes and their memory
 * (nvmlDeviceGetComputeRunningProcesses_v3, else _v2), then utilisation. Per-process
 * utilisation (nvmlDeviceGetProcessUtilization: the SM share of this process's and its
 * children's kernels) when the driver gives it; device-wide (nvmlDeviceGetUtilizationRates)
 * when it does not, or when NVML names processes that this process cannot see (another PID
 * namespace: inside a container NVML reports host PIDs) — then memory too is device-wide (all
 * compute processes). Which processes are ours: this one and its descendants, found by
 * walking /proc/<pid>/stat parent links (cached).
 *
 * Where the time goes: the driver samples per-process utilisation on its own clock (every
 * 0.2 s on an H100, measured: docs/PERFORMANCE.md, GPU) and stamps each sample; a sample
 * says how busy the process kept the SMs since the previous sample. So per-process readings
 * follow the driver's samples, not the polls: each fresh sample becomes a reading that ends
 * at its own time stamp, and a kernel's time lands on the lines that ran while it ran, not
 * on whatever runs when a later poll picks the sample up. Device-wide utilisation has no
 * time stamps: its reading covers the time since the previous one, ending at the poll.
 *
 * Cost: every poll is timed. The period is the larger of the minimum asked for and 100 times
 * the median cost of the recent polls (NVML polling takes at most ~1% of a core, on the
 * consumer thread, which holds no GIL); failures back it off up to TS_GPU_MAX_PERIOD_NS. A failed poll is a reading
 * marked invalid: its span is charged to nobody, and polling goes on.
 *
 * Threads: open/close/off run while the consumer thread is stopped; tick runs on it; the
 * summary counters are atomics so a profile can be written while it polls.
 */
#define _GNU_SOURCE
#include "gpu.h"

#include "clock.h"
#include "fdpark.h"

#include "gpuvisible.h"
#include "ringbuf.h"
#include "textscan.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ==== NVML's declarations (the documented layouts) ==== */

typedef int nvml_return_t;
typedef struct nvml_device *nvml_device_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
#define NVML_VALUE_NOT_AVAILABLE 0xFFFFFFFFFFFFFFFFull
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80

typedef struct {            /* nvmlUtilization_t */
    unsigned int gpu;       /* % of the last sample period a kernel was running */
    unsigned int memory;
} nvml_utilization_t;

typedef struct {            /* nvmlProcessUtilizationSample_t */
    unsigned int pid;
    unsigned long long time_stamp; /* CPU timestamp, microseconds (gettimeofday) */
    unsigned int sm_util;
    unsigned int mem_util;
    unsigned int enc_util;
    unsigned int dec_util;
} nvml_process_sample_t;

typedef struct {            /* nvmlProcessInfo_t (v2 layout), for the _v2 and _v3 calls */
    unsigned int pid;
    unsigned long long used_gpu_memory;
    unsigned int gpu_instance_id;
    unsigned int compute_instance_id;
} nvml_process_info_t;

static struct {
    void *library;
    nvml_return_t (*init)(void);
    nvml_return_t (*shutdown)(void);
    nvml_return_t (*count)(unsigned int *count);
    nvml_return_t (*handle)(unsigned int index, nvml_device_t *device);
    nvml_return_t (*name)(nvml_device_t device, char *name, unsigned int length);
    nvml_return_t (*uuid)(nvml_device_t device, char *uuid, unsigned int length);
    nvml_return_t (*driver_version)(char *version, unsigned int length);
    nvml_return_t (*utilization)(nvml_device_t device, nvml_utilization_t *utilization);
    nvml_return_t (*process_utilization)(nvml_device_t device, nvml_process_sample_t *samples,
                                         unsigned int *count, unsigned long long last_seen);
    nvml_return_t (*processes)(nvml_device_t device, unsigned int *count,
                               nvml_process_info_t *infos);
} nvml;

/* ==== State ==== */

#define TS_GPU_MAX_PROCESSES 256
#define TS_GPU_MAX_SAMPLES 512
/* A poll may use this share of the consumer's time: period >= cost * TS_GPU_COST_RATIO. */
#define TS_GPU_COST_RATIO 100
#define TS_GPU_MAX_PERIOD_NS 2000000000ull
/* Per-process samples come once per driver sample period (0.2 s measured): when none has
 * come for this long, the driver no longer samples our processes and the time is idle. */
#define TS_GPU_SILENT_US 1000000ull
/* Per-process samples kept per device and poll (a poll takes at most 2 s, 10 samples). */
#define TS_GPU_FRESH 16
/* Two samples closer than this are not two sample periods apart (a driver that stamps as
 * it answers, polled in quick succession). */
#define TS_GPU_MIN_SAMPLE_GAP_US 5000ull
/* The polling period follows the median cost of this many recent polls, not counting the
 * first ones: NVML's first calls in a process are slow (up to tens of ms, measured), and
 * they must not slow polling down for good, nor for the seconds a short program runs. */
#define TS_GPU_COSTS 15
#define TS_GPU_WARM_UP_POLLS 5
/* Which PIDs are ours is re-checked this often (a PID can be reused). */
#define TS_GPU_PID_CACHE_NS 2000000000ull
#define TS_GPU_PID_CACHE 64

typedef struct {
    nvml_device_t handle;
    unsigned int nvml_index;
    int cuda_index;
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    unsigned long long last_seen_us; /* newest per-process sample seen */
    unsigned long long opened_us;    /* when the profile began (wall clock) */
    /* This poll's fresh per-process samples, oldest first: their time stamps (any process's:
     * the driver samples all at once) and our processes' SM utilisation at each, %. */
    unsigned long long fresh_us[TS_GPU_FRESH];
    unsigned int fresh_util[TS_GPU_FRESH];
    unsigned int nfresh;
    unsigned int last_util;          /* our utilisation in the newest sample, % */
    unsigned int read_util;          /* our utilisation in the latest reading, % */
    unsigned long long period_us;    /* the driver's sample period: the shortest gap seen
                                      * between two of its samples (0: not seen yet) */
    int has_ours;                    /* a process of ours is on it (this poll) */
    unsigned int util;               /* this poll: utilisation counted for it, % */
    uint64_t mem_bytes;              /* this poll: memory counted for it */
} device_t;

/* The devices the program can use, in NVML's order. */
static device_t devices[TS_GPU_MAX_DEVICES];
static unsigned int ndevices;
static char driver_version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
static char visible_spec[256];
static int visible_set;              /* $CUDA_VISIBLE_DEVICES was set at the start */
static int launch_blocking;          /* $CUDA_LAUNCH_BLOCKING=1: launches wait for kernels */
/* Each device's share of the profile: busy time and peak memory (read by the writer). */
static _Atomic uint64_t device_busy_ns[TS_GPU_MAX_DEVICES], device_peak_mem[TS_GPU_MAX_DEVICES];
static int is_open, profiling, forked;
static int process_supported;        /* per-process utilisation works on this driver */
static const char *reason;
static char device_name[256];
static pid_t self;
static uint64_t min_period_ns, period_ns, next_poll_ns;
/* The end of the latest reading: the next one starts here (monotonic ns, and the same
 * instant on the wall clock NVML stamps samples with). */
static uint64_t covered_ns;
static unsigned long long covered_us;
static int resumed = 1;              /* profiling was suspended: the next poll starts anew */
static unsigned int failures_in_row;
static uint64_t cost_samples;
static uint64_t recent_costs[TS_GPU_COSTS]; /* ring of the latest polls' costs */
static _Atomic uint64_t polls, failed_polls, process_polls, device_polls, peak_mem;
static _Atomic uint64_t typical_cost_ns, period_now_ns; /* median of the recent polls */
static ts_ring_t readings;
static nvml_process_info_t infos[TS_GPU_MAX_PROCESSES];
static nvml_process_sample_t samples[TS_GPU_MAX_SAMPLES];

static unsigned long long wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (unsigned long long)tv.tv_sec * 1000000u + (unsigned long long)tv.tv_usec;
}

/* ==== Which processes are ours ==== */

static struct {
    unsigned int pid;
    int ours;
} pid_cache[TS_GPU_PID_CACHE];
static size_t npid_cache;
static uint64_t pid_cache_since;

int ts_gpu_parse_parent(const char *text, unsigned int *parent)
{
    const char *after_name = strrchr(text, ')'); /* the name may hold spaces and ')' */
    if (after_name == NULL)
        return -1;
    const char *state = ts_textscan_skip_blanks(after_name + 1);
    uint64_t ppid;
    if (*state == '\0' || ts_textscan_decimal(state + 1, &ppid) == NULL || ppid > INT_MAX)
        return -1;
    *parent = (unsigned int)ppid;
    return 0;
}

/* The parent of `pid` from /proc/<pid>/stat. 0 or -1. */
static int parent_of(unsigned int pid, unsigned int *parent)
{
    char path[32], text[256];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    return ts_gpu_parse_parent(text, parent);
}

static int walk_to_self(unsigned int pid)
{
    for (int depth = 0; depth < 64; depth++) {
        unsigned int parent;
        if (parent_of(pid, &parent) < 0 || parent <= 1)
            return 0;
        if (parent == (unsigned int)self)
            return 1;
        pid = parent;
    }
    return 0;
}

/* This process or one of its descendants. */
static int is_ours(unsigned int pid, uint64_t now_ns)
{
    if (pid == (unsigned int)self)
        return 1;
    if (now_ns - pid_cache_since > TS_GPU_PID_CACHE_NS) {
        npid_cache = 0;
        pid_cache_since = now_ns;
    }
    for (size_t i = 0; i < npid_cache; i++)
        if (pid_cache[i].pid == pid)
            return pid_cache[i].ours;
    int ours = walk_to_self(pid);
    if (npid_cache < TS_GPU_PID_CACHE) {
        pid_cache[npid_cache].pid = pid;
        pid_cache[npid_cache].ours = ours;
        npid_cache++;
    }
    return ours;
}

/* Whether `pid` exists in this process's PID namespace. */
static int visible(unsigned int pid)
{
    return pid != 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* ==== Opening ==== */

#define LOOKUP(field, symbol) (*(void **)&nvml.field = dlsym(nvml.library, symbol))

static int fail(const char *why)
{
    reason = why;
    profiling = 0;
    return -1;
}

static void name_devices(void)
{
    char first[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = "";
    int same = 1;
    device_name[0] = '\0';
    for (unsigned int i = 0; i < ndevices; i++) {
        const char *name = devices[i].name;
        if (i == 0)
            memcpy(first, name, sizeof first);
        else
            same &= strcmp(first, name) == 0;
        size_t used = strlen(device_name);
        snprintf(device_name + used, sizeof device_name - used, "%s%s", i ? ", " : "", name);
    }
    if (ndevices > 1 && same)
        snprintf(device_name, sizeof device_name, "%u x %s", ndevices, first);
}

static void reset_counters(void)
{
    atomic_store(&polls, 0);
    atomic_store(&failed_polls, 0);
    atomic_store(&process_polls, 0);
    atomic_store(&device_polls, 0);
    atomic_store(&peak_mem, 0);
    atomic_store(&typical_cost_ns, 0);
    atomic_store(&period_now_ns, 0);
    cost_samples = 0;
    failures_in_row = 0;
    npid_cache = 0;
    device_name[0] = '\0';
    driver_version[0] = '\0';
    visible_spec[0] = '\0';
    visible_set = 0;
    launch_blocking = 0;
    ndevices = 0;
    for (unsigned int d = 0; d < TS_GPU_MAX_DEVICES; d++) {
        atomic_store(&device_busy_ns[d], 0);
        atomic_store(&device_peak_mem[d], 0);
    }
    reason = NULL;
}

/* Keeps, of NVML's `count` devices, those the program can use. 0, or -1 with a reason. */
static int find_devices(unsigned int count)
{
    static device_t all[TS_GPU_MAX_DEVICES];
    const char *uuids[TS_GPU_MAX_DEVICES];
    int cuda_index[TS_GPU_MAX_DEVICES];
    unsigned int usable = 0;
    unsigned long long now_us = wall_us();
    for (unsigned int i = 0; i < count && usable < TS_GPU_MAX_DEVICES; i++) {
        device_t *device = &all[usable];
        memset(device, 0, sizeof *device);
        if (nvml.handle(i, &device->handle) != NVML_SUCCESS)
            continue; /* e.g. no permission on that one */
        device->nvml_index = i;
        device->last_seen_us = now_us; /* samples from before the profile are not ours */
        device->opened_us = now_us;
        if (nvml.name == NULL ||
            nvml.name(device->handle, device->name, sizeof device->name) != NVML_SUCCESS)
            snprintf(device->name, sizeof device->name, "NVIDIA GPU");
        device->name[sizeof device->name - 1] = '\0';
        if (nvml.uuid == NULL ||
            nvml.uuid(device->handle, device->uuid, sizeof device->uuid) != NVML_SUCCESS)
            device->uuid[0] = '\0';
        device->uuid[sizeof device->uuid - 1] = '\0';
        uuids[usable++] = device->uuid;
    }
    if (usable == 0)
        return fail("no usable NVIDIA GPU");
    const char *blocking = getenv("CUDA_LAUNCH_BLOCKING");
    launch_blocking = blocking != NULL && strcmp(blocking, "1") == 0;
    const char *spec = getenv("CUDA_VISIBLE_DEVICES");
    if (spec != NULL) {
        visible_set = 1;
        snprintf(visible_spec, sizeof visible_spec, "%s", spec);
    }
    if (ts_gpu_visible_devices(spec, uuids, usable, cuda_index) == 0)
        return fail("CUDA_VISIBLE_DEVICES hides every GPU from the program");
    ndevices = 0;
    for (unsigned int i = 0; i < usable; i++) {
        if (cuda_index[i] < 0)
            continue;
        devices[ndevices] = all[i];
        devices[ndevices].cuda_index = cuda_index[i];
        ndevices++;
    }
    return 0;
}

void ts_gpu_off(void)
{
    reset_counters();
    profiling = 0;
}

/* The library loaded (once) and its functions found, the readings' ring ready. */
static int load_nvml(void)
{
    if (forked)
        return fail("forked child: NVML is not fork-safe (the parent counts this process)");
    if (readings.records == NULL &&
        ts_ring_init(&readings, 1024, sizeof(ts_gpu_reading_t)) < 0)
        return fail("out of memory");
    ts_ring_clear(&readings);
    if (nvml.library == NULL) {
        /* Kept loaded once loaded: NVML may have threads of its own, unloading is unsafe. */
        const char *path = getenv("TRISCOPE_NVML_LIBRARY");
        nvml.library = dlopen(path && *path ? path : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        if (nvml.library == NULL)
            return fail("libnvidia-ml.so.1 not found (no NVIDIA driver)");
        if (!LOOKUP(init, "nvmlInit_v2"))
            LOOKUP(init, "nvmlInit");
        LOOKUP(shutdown, "nvmlShutdown");
        if (!LOOKUP(count, "nvmlDeviceGetCount_v2"))
            LOOKUP(count, "nvmlDeviceGetCount");
        if (!LOOKUP(handle, "nvmlDeviceGetHandleByIndex_v2"))
            LOOKUP(handle, "nvmlDeviceGetHandleByIndex");
        LOOKUP(name, "nvmlDeviceGetName");
        LOOKUP(uuid, "nvmlDeviceGetUUID");
        LOOKUP(driver_version, "nvmlSystemGetDriverVersion");
        LOOKUP(utilization, "nvmlDeviceGetUtilizationRates");
        LOOKUP(process_utilization, "nvmlDeviceGetProcessUtilization");
        if (!LOOKUP(processes, "nvmlDeviceGetComputeRunningProcesses_v3"))
            LOOKUP(processes, "nvmlDeviceGetComputeRunningProcesses_v2");
    }
    if (nvml.init == NULL || nvml.shutdown == NULL || nvml.count == NULL ||
        nvml.handle == NULL || nvml.utilization == NULL)
        return fail("NVML library lacks the functions needed");
    return 0;
}

/* NVML initialised, its devices found and named, polling set to begin. */
static int start_nvml(uint64_t min_period)
{
    if (nvml.init() != NVML_SUCCESS)
        return fail("NVML cannot start: is the NVIDIA driver loaded?");
    unsigned int count = 0;
    if (nvml.count(&count) != NVML_SUCCESS || count == 0) {
        nvml.shutdown();
        return fail("no NVIDIA GPU");
    }
    if (find_devices(count) < 0) {
        nvml.shutdown();
        return -1;
    }
    if (nvml.driver_version == NULL ||
        nvml.driver_version(driver_version, sizeof driver_version) != NVML_SUCCESS)
        driver_version[0] = '\0';
    driver_version[sizeof driver_version - 1] = '\0';
    name_devices();
    self = getpid();
    process_supported = nvml.process_utilization != NULL && nvml.processes != NULL;
    min_period_ns = period_ns = min_period;
    atomic_store(&period_now_ns, period_ns);
    covered_ns = next_poll_ns = ts_now_ns(); /* the first tick polls */
    covered_us = wall_us();
    resumed = 0;
    is_open = profiling = 1;
    return 0;
}

int ts_gpu_open(uint64_t min_period)
{
    reset_counters();
    profiling = 0;
    if (load_nvml() < 0)
        return -1;
    /* NVML keeps descriptors of its own from its initialisation on (/dev/nvidia*: 14 on an
     * H100), which would take the program's first numbers: they are made to land in the
     * park instead (fdpark.h). Devices are found and named under it too, in case that
     * opens more. */
    ts_fd_held_t held;
    ts_fd_hold_below_park(&held);
    int started = start_nvml(min_period);
    ts_fd_release_below_park(&held);
    return started;
}

void ts_gpu_close(void)
{
    if (!is_open)
        return;
    nvml.shutdown();
    is_open = 0;
}

int ts_gpu_profiling(void)
{
    return profiling;
}

/* ==== One poll ==== */

/* Keeps `util` for the sample at `stamp` in the device's fresh list (sorted, newest kept). */
static void keep_sample(device_t *device, unsigned long long stamp, unsigned int util, int ours)
{
    unsigned int i = 0;
    while (i < device->nfresh && device->fresh_us[i] < stamp)
        i++;
    if (i == device->nfresh || device->fresh_us[i] != stamp) {
        if (device->nfresh == TS_GPU_FRESH) { /* full: drop the oldest */
            if (i == 0)
                return;
            memmove(device->fresh_us, device->fresh_us + 1, --i * sizeof *device->fresh_us);
            memmove(device->fresh_util, device->fresh_util + 1, i * sizeof *device->fresh_util);
            device->nfresh--;
        }
        memmove(device->fresh_us + i + 1, device->fresh_us + i,
                (device->nfresh - i) * sizeof *device->fresh_us);
        memmove(device->fresh_util + i + 1, device->fresh_util + i,
                (device->nfresh - i) * sizeof *device->fresh_util);
        device->fresh_us[i] = stamp;
        device->fresh_util[i] = 0;
        device->nfresh++;
    }
    if (ours) {
        unsigned int sum = device->fresh_util[i] + (util > 100 ? 100 : util);
        device->fresh_util[i] = sum > 100 ? 100 : sum;
    }
}

/* This device's per-process samples since the last poll, into its fresh list. NVML's
 * return code. */
static nvml_return_t process_samples(device_t *device, uint64_t now_ns)
{
    unsigned int count = TS_GPU_MAX_SAMPLES;
    device->nfresh = 0;
    nvml_return_t rc =
        nvml.process_utilization(device->handle, samples, &count, device->last_seen_us);
    if (rc == NVML_ERROR_NOT_FOUND)
        return NVML_SUCCESS; /* no sample since the last one seen */
    if (rc != NVML_SUCCESS)
        return rc;
    if (count > TS_GPU_MAX_SAMPLES)
        count = TS_GPU_MAX_SAMPLES;
    unsigned long long previous = device->last_seen_us, newest = previous;
    for (unsigned int i = 0; i < count; i++) {
        const nvml_process_sample_t *sample = &samples[i];
        if (sample->time_stamp <= device->last_seen_us)
            continue;
        if (sample->time_stamp > newest)
            newest = sample->time_stamp;
        keep_sample(device, sample->time_stamp, sample->sm_util, is_ours(sample->pid, now_ns));
    }
    device->last_seen_us = newest;
    /* The driver's period: gaps between its samples (a missed sample only lengthens one). */
    for (unsigned int i = 0; i < device->nfresh; i++) {
        unsigned long long gap = device->fresh_us[i] - previous;
        if (previous > device->opened_us && gap >= TS_GPU_MIN_SAMPLE_GAP_US &&
            (device->period_us == 0 || gap < device->period_us))
            device->period_us = gap;
        previous = device->fresh_us[i];
    }
    if (device->nfresh > 0)
        device->last_util = device->fresh_util[device->nfresh - 1];
    return NVML_SUCCESS;
}

/* Our utilisation on `device` over the stretch that ends at `stamp`: that of its first fresh
 * sample at or after `stamp` (the sample covering it); 0 when none covers it yet. */
static unsigned int util_at(const device_t *device, unsigned long long stamp)
{
    for (unsigned int i = 0; i < device->nfresh; i++)
        if (device->fresh_us[i] >= stamp)
            return device->fresh_util[i];
    return 0;
}

/* Queues a reading of the stretch from covered_ns to `end_ns`, with each device's `util`
 * (%) and `mem_bytes`, and counts it into the per-device totals. */
static void push_reading(uint64_t end_ns, const unsigned int *util, int valid, int process)
{
    ts_gpu_reading_t reading;
    memset(&reading, 0, sizeof reading);
    reading.t_ns = end_ns;
    reading.span_ns = end_ns - covered_ns;
    reading.valid = (uint8_t)valid;
    reading.process = (uint8_t)process;
    for (unsigned int d = 0; valid && d < ndevices; d++) {
        reading.busy_permille += util[d] * 10;
        devices[d].read_util = util[d];
        reading.mem_bytes += devices[d].mem_bytes;
        atomic_fetch_add(&device_busy_ns[d], reading.span_ns / 100 * util[d]);
        if (devices[d].mem_bytes > atomic_load(&device_peak_mem[d]))
            atomic_store(&device_peak_mem[d], devices[d].mem_bytes);
    }
    if (valid && reading.mem_bytes > atomic_load(&peak_mem))
        atomic_store(&peak_mem, reading.mem_bytes);
    covered_ns = end_ns;
    ts_gpu_reading_t *slot = ts_ring_reserve(&readings);
    if (slot != NULL) {
        *slot = reading;
        ts_ring_commit(&readings);
    }
}

/* A per-process reading that ends at wall-clock `stamp` (µs), converted to the monotonic
 * clock through the poll's own pair of readings of both clocks. */
static void push_at(uint64_t now_ns, unsigned long long now_us, unsigned long long stamp,
                    const unsigned int *util)
{
    /* A time stamp past the poll (a driver stamping as it answers) ends at the poll. */
    uint64_t end_ns = stamp >= now_us ? now_ns : now_ns - (now_us - stamp) * 1000u;
    if (end_ns > covered_ns)
        push_reading(end_ns, util, 1, 1);
    covered_us = stamp;
}

/* The readings of a per-process poll: one per fresh sample time (over every device), each
 * ending at that time; a stretch no sample will cover (the driver stopped sampling us) is
 * idle. `final`: the profile stops, so the stretch after the newest sample is read too, at
 * the newest utilisation. */
static void push_process_readings(uint64_t now_ns, unsigned long long now_us, int final)
{
    unsigned int util[TS_GPU_MAX_DEVICES];
    for (;;) {
        unsigned long long next = 0; /* the earliest fresh sample after covered_us */
        for (unsigned int d = 0; d < ndevices; d++)
            for (unsigned int i = 0; i < devices[d].nfresh; i++)
                if (devices[d].fresh_us[i] > covered_us &&
                    (next == 0 || devices[d].fresh_us[i] < next))
                    next = devices[d].fresh_us[i];
        if (next == 0)
            break;
        /* A sample covers one driver period before its time stamp. Before that, since the
         * latest reading, samples were missed (polls slower than the driver): that stretch
         * is charged at the lower of the utilisations around it, so a kernel's start or end
         * never spreads onto the lines before or after it. */
        unsigned long long period = 0;
        for (unsigned int d = 0; d < ndevices; d++)
            if (devices[d].period_us > period)
                period = devices[d].period_us;
        if (period > 0 && next > covered_us + period + period / 2) {
            for (unsigned int d = 0; d < ndevices; d++) {
                unsigned int after = util_at(&devices[d], next);
                util[d] = after < devices[d].read_util ? after : devices[d].read_util;
            }
            push_at(now_ns, now_us, next - period, util);
        }
        for (unsigned int d = 0; d < ndevices; d++)
            util[d] = util_at(&devices[d], next);
        push_at(now_ns, now_us, next, util);
    }
    int silent = now_us > covered_us && now_us - covered_us > TS_GPU_SILENT_US;
    if ((final || silent) && now_ns > covered_ns) {
        for (unsigned int d = 0; d < ndevices; d++)
            util[d] = final ? devices[d].last_util : 0;
        push_reading(now_ns, util, 1, 1);
        covered_us = now_us > covered_us ? now_us : covered_us;
    }
}

/* 0, or -1 when a call failed. Sets each device's mem_bytes; `*per_process` says whether
 * the devices' fresh samples hold the utilisation, else `device_util` (% per device) does. */
static int poll_devices(uint64_t now_ns, int *per_process, unsigned int *device_util)
{
    uint64_t mem_all[TS_GPU_MAX_DEVICES] = {0};
    int listed = 0, ours_anywhere = 0, any_visible = 0;
    for (unsigned int d = 0; d < ndevices; d++) {
        device_t *device = &devices[d];
        device->has_ours = 0;
        device->mem_bytes = 0;
        device->nfresh = 0;
        if (nvml.processes == NULL)
            continue;
        unsigned int count = TS_GPU_MAX_PROCESSES;
        if (nvml.processes(device->handle, &count, infos) != NVML_SUCCESS)
            return -1;
        for (unsigned int i = 0; i < count && i < TS_GPU_MAX_PROCESSES; i++) {
            uint64_t used = infos[i].used_gpu_memory == NVML_VALUE_NOT_AVAILABLE
                                ? 0 : infos[i].used_gpu_memory;
            listed = 1;
            mem_all[d] += used;
            if (is_ours(infos[i].pid, now_ns)) {
                device->has_ours = ours_anywhere = 1;
                device->mem_bytes += used;
            } else if (!any_visible && visible(infos[i].pid)) {
                any_visible = 1;
            }
        }
    }
    /* NVML names processes none of which exist here: it sees another PID namespace. */
    int foreign = listed && !ours_anywhere && !any_visible;
    *per_process = process_supported && !foreign;
    if (*per_process) {
        for (unsigned int d = 0; d < ndevices; d++) {
            nvml_return_t rc = process_samples(&devices[d], now_ns);
            if (rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_NO_PERMISSION ||
                rc == NVML_ERROR_FUNCTION_NOT_FOUND) {
                process_supported = *per_process = 0; /* for good: device-wide from now on */
                break;
            }
            if (rc != NVML_SUCCESS)
                return -1;
        }
    }
    if (!*per_process) {
        for (unsigned int d = 0; d < ndevices; d++) {
            device_util[d] = 0;
            /* The devices our processes are on, or all of them when none is known. */
            if (ours_anywhere && !devices[d].has_ours)
                continue;
            nvml_utilization_t util;
            if (nvml.utilization(devices[d].handle, &util) != NVML_SUCCESS)
                return -1;
            device_util[d] = util.gpu > 100 ? 100 : util.gpu;
        }
    }
    for (unsigned int d = 0; foreign && d < ndevices; d++)
        devices[d].mem_bytes = mem_all[d];
    return 0;
}

/* The median cost of the recent polls (0 before any was counted). */
static uint64_t median_cost(void)
{
    uint64_t sorted[TS_GPU_COSTS];
    size_t n = cost_samples < TS_GPU_COSTS ? (size_t)cost_samples : TS_GPU_COSTS;
    memcpy(sorted, recent_costs, n * sizeof *sorted);
    for (size_t i = 1; i < n; i++) /* insertion sort: at most TS_GPU_COSTS values */
        for (size_t k = i; k > 0 && sorted[k - 1] > sorted[k]; k--) {
            uint64_t swap = sorted[k];
            sorted[k] = sorted[k - 1];
            sorted[k - 1] = swap;
        }
    return n ? sorted[n / 2] : 0;
}

static void take_reading(uint64_t now_ns, int final)
{
    unsigned long long now_us = wall_us();
    unsigned int device_util[TS_GPU_MAX_DEVICES];
    int per_process = 0;
    uint64_t begin = ts_now_ns();
    int ok = poll_devices(now_ns, &per_process, device_util) == 0;
    uint64_t cost = ts_now_ns() - begin;
    atomic_fetch_add(&polls, 1);
    if (!ok) {
        /* Nothing is known of the stretch since the last reading: charged to nobody. */
        atomic_fetch_add(&failed_polls, 1);
        failures_in_row++;
        push_reading(now_ns, device_util, 0, 0);
        covered_us = now_us;
    } else {
        failures_in_row = 0;
        atomic_fetch_add(per_process ? &process_polls : &device_polls, 1);
        if (per_process) {
            push_process_readings(now_ns, now_us, final);
        } else {
            push_reading(now_ns, device_util, 1, 0);
            covered_us = now_us;
        }
    }
    if (atomic_load(&polls) > TS_GPU_WARM_UP_POLLS) {
        recent_costs[cost_samples % TS_GPU_COSTS] = cost;
        cost_samples++;
        atomic_store(&typical_cost_ns, median_cost());
    }
    uint64_t period = atomic_load(&typical_cost_ns) * TS_GPU_COST_RATIO;
    if (period < min_period_ns)
        period = min_period_ns;
    for (unsigned int i = 0; i < failures_in_row && period < TS_GPU_MAX_PERIOD_NS; i++)
        period *= 2;
    if (period > TS_GPU_MAX_PERIOD_NS)
        period = TS_GPU_MAX_PERIOD_NS;
    period_ns = period;
    atomic_store(&period_now_ns, period);
    next_poll_ns = now_ns + period;
}

void ts_gpu_tick(uint64_t now_ns, int recording)
{
    if (!is_open)
        return;
    if (!recording) {
        resumed = 1;
        next_poll_ns = now_ns; /* poll at the first tick after resuming */
        return;
    }
    if (resumed) { /* the first tick after a suspension: nothing before now is ours */
        covered_ns = now_ns;
        covered_us = wall_us();
        resumed = 0;
    }
    if (now_ns >= next_poll_ns)
        take_reading(now_ns, 0);
}

void ts_gpu_poll_now(uint64_t now_ns)
{
    if (is_open && !resumed)
        take_reading(now_ns, 1);
}

/* ==== The GIL side ==== */

void ts_gpu_collect(void (*consume)(const ts_gpu_reading_t *reading, void *context),
                    void *context)
{
    if (readings.records == NULL)
        return;
    const ts_gpu_reading_t *reading;
    while ((reading = ts_ring_peek(&readings)) != NULL) {
        consume(reading, context);
        ts_ring_release(&readings);
    }
}

void ts_gpu_summary(ts_gpu_summary_t *out)
{
    memset(out, 0, sizeof *out);
    out->profiled = profiling;
    out->reason = profiling ? NULL : reason;
    out->device = device_name;
    uint64_t device_count = atomic_load(&device_polls);
    uint64_t process_count = atomic_load(&process_polls);
    out->accounting = device_count > 0 || (process_count == 0 && !process_supported)
                          ? "device" : "process";
    out->poll_cost_us = (double)atomic_load(&typical_cost_ns) / 1e3;
    out->poll_interval_s = (double)atomic_load(&period_now_ns) / 1e9;
    out->polls = atomic_load(&polls);
    out->failed_polls = atomic_load(&failed_polls);
    out->peak_mem_mb = (double)atomic_load(&peak_mem) / (1024.0 * 1024.0);
    out->driver = driver_version;
    out->visible = visible_set ? visible_spec : NULL;
    out->launch_blocking = launch_blocking;
    out->ndevices = ndevices;
    for (unsigned int d = 0; d < ndevices; d++) {
        ts_gpu_device_summary_t *summary = &out->devices[d];
        summary->nvml_index = devices[d].nvml_index;
        summary->cuda_index = devices[d].cuda_index;
        memcpy(summary->name, devices[d].name, sizeof summary->name);
        memcpy(summary->uuid, devices[d].uuid, sizeof summary->uuid);
        summary->busy_s = (double)atomic_load(&device_busy_ns[d]) / 1e9;
        summary->peak_mem_mb = (double)atomic_load(&device_peak_mem[d]) / (1024.0 * 1024.0);
    }
}

void ts_gpu_forget_after_fork(void)
{
    forked = 1;
    is_open = 0;
    profiling = 0;
    if (readings.records != NULL)
        ts_ring_clear(&readings);
}
