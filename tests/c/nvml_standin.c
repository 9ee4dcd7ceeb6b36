/* SPDX-License-Identifier: MIT
 *
 * nvml_standin.c — a stand-in for libnvidia-ml.so.1, so GPU profiling is tested on machines
 * without an NVIDIA GPU. Built by the test suite (tests/test_gpu.py: cc -shared -fPIC; meson
 * for the C unit tests) and loaded through $TRISCOPE_NVML_LIBRARY. It exports the NVML
 * functions triscope uses, with NVML's documented signatures and struct layouts, and
 * scripted answers read from the environment at every call:
 *
 *   STANDIN_NVML_BUSY_FILE   while this file exists the device is busy (else idle)
 *   STANDIN_NVML_BUSY_PCT    utilisation while busy (default 90); idle is 0
 *   STANDIN_NVML_MEM_MIB     GPU memory of the calling process while busy (default 512);
 *                            while idle the process is not listed at all
 *   STANDIN_NVML_PID         the PID reported for the process (default: the caller's own;
 *                            a PID that does not exist here mimics a container)
 *   STANDIN_NVML_DEVICES     device count (default 1; 0: no device)
 *   STANDIN_NVML_BUSY_DEVICES  comma-separated indices of the devices the window makes
 *                            busy and holds memory on (default: every device)
 *   STANDIN_NVML_INIT_FAIL   1: nvmlInit_v2 fails (driver not loaded)
 *   STANDIN_NVML_INIT_OPENS  N: nvmlInit_v2 opens N descriptors, kept until nvmlShutdown (the
 *                            real library keeps its device files open: 14 on an H100)
 *   STANDIN_NVML_NO_PROCESS_UTIL  1: per-process utilisation is not supported
 *   STANDIN_NVML_FAIL_FROM   N: from the Nth call on, the query named by
 *   STANDIN_NVML_FAIL_FUNCTION    (default: every query) returns NVML_ERROR_UNKNOWN
 *   STANDIN_NVML_DELAY_US    every query spins this long first (an expensive driver)
 *   STANDIN_NVML_SLOW_FIRST  N: only the first N queries after nvmlInit spin (a driver
 *                            warming up)
 *   STANDIN_NVML_SAMPLE_LAG_US  per-process samples are stamped this long before the call
 *                            (a driver that samples on its own clock)
 *   STANDIN_NVML_SAMPLE_PERIOD_US  the driver samples on this period: a call returns only the
 *                            newest sample, stamped at the latest multiple of it
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
typedef struct standin_device *nvmlDevice_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_UNKNOWN 999

typedef struct {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

typedef struct {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil;
    unsigned int memUtil;
    unsigned int encUtil;
    unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

/* The exports, as nvml.h declares them. */
EXPORT nvmlReturn_t nvmlInit_v2(void);
EXPORT nvmlReturn_t nvmlShutdown(void);
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count);
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
                                                  nvmlUtilization_t *utilization);
EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                    nvmlProcessUtilizationSample_t *samples,
                                                    unsigned int *count,
                                                    unsigned long long last_seen);
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                            unsigned int *count,
                                                            nvmlProcessInfo_t *infos);

struct standin_device {
    int index;
};
static struct standin_device devices[8] = {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}};
static int initialised;
static unsigned long query_calls, named_calls, slow_calls;

static long env_long(const char *name, long fallback)
{
    const char *text = getenv(name);
    return text && *text ? strtol(text, NULL, 10) : fallback;
}

static int device_count(void)
{
    long count = env_long("STANDIN_NVML_DEVICES", 1);
    return count < 0 ? 0 : count > 8 ? 8 : (int)count;
}

/* Whether the window is open and `device` is among the busy ones. */
static int busy_on(nvmlDevice_t device)
{
    const char *path = getenv("STANDIN_NVML_BUSY_FILE");
    if (!(path && *path && access(path, F_OK) == 0))
        return 0;
    const char *list = getenv("STANDIN_NVML_BUSY_DEVICES");
    if (list == NULL || *list == '\0')
        return 1;
    for (const char *cursor = list; *cursor;) {
        char *end;
        long index = strtol(cursor, &end, 10);
        if (end != cursor && index == device->index)
            return 1;
        cursor = *end ? end + 1 : end;
    }
    return 0;
}

static unsigned int our_pid(void)
{
    return (unsigned int)env_long("STANDIN_NVML_PID", (long)getpid());
}

static void spin(long us)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000000L + (now.tv_nsec - start.tv_nsec) / 1000 < us);
}

/* Common to every query: initialised, a known device, the scripted delay and failure. */
static nvmlReturn_t query(const char *function, nvmlDevice_t device)
{
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (device == NULL || device->index >= device_count())
        return NVML_ERROR_INVALID_ARGUMENT;
    long delay = env_long("STANDIN_NVML_DELAY_US", 0);
    long slow_first = env_long("STANDIN_NVML_SLOW_FIRST", 0);
    if (delay > 0 && (slow_first == 0 || ++slow_calls <= (unsigned long)slow_first))
        spin(delay);
    const char *only = getenv("STANDIN_NVML_FAIL_FUNCTION");
    long fail_from = env_long("STANDIN_NVML_FAIL_FROM", 0);
    unsigned long calls;
    if (only && *only) {
        if (strcmp(only, function) != 0)
            return NVML_SUCCESS;
        calls = ++named_calls;
    } else {
        calls = ++query_calls;
    }
    if (fail_from > 0 && calls >= (unsigned long)fail_from)
        return NVML_ERROR_UNKNOWN;
    return NVML_SUCCESS;
}

#define MAX_KEPT 64
static int kept[MAX_KEPT]; /* the descriptors nvmlInit_v2 opened */
static int nkept;

EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    if (env_long("STANDIN_NVML_INIT_FAIL", 0))
        return NVML_ERROR_DRIVER_NOT_LOADED;
    initialised++;
    slow_calls = 0;
    for (long i = env_long("STANDIN_NVML_INIT_OPENS", 0); i > 0 && nkept < MAX_KEPT; i--)
        kept[nkept++] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    initialised--;
    while (nkept > 0)
        close(kept[--nkept]);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    *count = (unsigned int)device_count();
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (index >= (unsigned int)device_count())
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = &devices[index];
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (device == NULL || length == 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    const char *text = "Stand-in NVIDIA GPU";
    if (strlen(text) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(name, text);
    return NVML_SUCCESS;
}

/* "GPU-0000000N-…": the index is readable in the UUID, as tests need. */
EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (device == NULL || uuid == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    char text[64];
    snprintf(text, sizeof text, "GPU-%08d-5a5a-4b4b-8c8c-000000000000", device->index);
    if (strlen(text) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(uuid, text);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    const char *text = "999.99.99-standin";
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (version == NULL || strlen(text) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(version, text);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
                                                  nvmlUtilization_t *utilization)
{
    nvmlReturn_t rc = query("nvmlDeviceGetUtilizationRates", device);
    if (rc != NVML_SUCCESS)
        return rc;
    utilization->gpu = busy_on(device) ? (unsigned int)env_long("STANDIN_NVML_BUSY_PCT", 90) : 0;
    utilization->memory = utilization->gpu / 2;
    return NVML_SUCCESS;
}

/* One fresh sample per call, for the process, stamped now (as NVML: gettimeofday µs). */
EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                    nvmlProcessUtilizationSample_t *samples,
                                                    unsigned int *count,
                                                    unsigned long long last_seen)
{
    if (env_long("STANDIN_NVML_NO_PROCESS_UTIL", 0))
        return NVML_ERROR_NOT_SUPPORTED;
    nvmlReturn_t rc = query("nvmlDeviceGetProcessUtilization", device);
    if (rc != NVML_SUCCESS)
        return rc;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    unsigned long long now =
        (unsigned long long)tv.tv_sec * 1000000u + (unsigned long long)tv.tv_usec;
    now -= (unsigned long long)env_long("STANDIN_NVML_SAMPLE_LAG_US", 0);
    unsigned long long period = (unsigned long long)env_long("STANDIN_NVML_SAMPLE_PERIOD_US", 0);
    if (period > 0)
        now -= now % period;
    if (now <= last_seen)
        return NVML_ERROR_NOT_FOUND;
    if (samples == NULL || *count < 1) {
        *count = 1;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    memset(samples, 0, sizeof *samples);
    samples[0].pid = our_pid();
    samples[0].timeStamp = now;
    samples[0].smUtil = busy_on(device) ? (unsigned int)env_long("STANDIN_NVML_BUSY_PCT", 90) : 0;
    *count = 1;
    return NVML_SUCCESS;
}

static nvmlReturn_t running_processes(const char *function, nvmlDevice_t device,
                                      unsigned int *count, nvmlProcessInfo_t *infos)
{
    nvmlReturn_t rc = query(function, device);
    if (rc != NVML_SUCCESS)
        return rc;
    if (!busy_on(device)) {
        *count = 0;
        return NVML_SUCCESS;
    }
    if (infos == NULL || *count < 1) {
        *count = 1;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    memset(infos, 0, sizeof *infos);
    infos[0].pid = our_pid();
    infos[0].usedGpuMemory = (unsigned long long)env_long("STANDIN_NVML_MEM_MIB", 512) << 20;
    *count = 1;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                            unsigned int *count,
                                                            nvmlProcessInfo_t *infos)
{
    return running_processes("nvmlDeviceGetComputeRunningProcesses_v3", device, count, infos);
}
