/* SPDX-License-Identifier: MIT
 *
 * gpu.h — GPU readings through NVML, loaded at run time with dlopen: no build-time and no
 * Python dependency on NVIDIA's software, and a machine without it simply has GPU profiling
 * off. The consumer thread polls (ts_gpu_tick, no GIL) on wall-clock time, at a period
 * chosen from what a poll costs; each poll gives readings — how busy the GPU was for this
 * process and its children, and how much GPU memory they held — handed through a ring to
 * the GIL side (ts_gpu_collect), where gpuattr.c charges it to lines. Not fork-safe (NVML
 * holds locks of its own): a forked child never calls NVML.
 */
#ifndef TS_GPU_H
#define TS_GPU_H

#include <stdint.h>

/* One reading: it covers the `span_ns` of wall-clock time that ended at `t_ns`, right after
 * the previous reading (or the resumption of a suspended profile). */
typedef struct {
    uint64_t t_ns;          /* CLOCK_MONOTONIC at its end: the poll, or a driver's sample */
    uint64_t span_ns;       /* time since the previous reading ended */
    uint64_t mem_bytes;     /* GPU memory held by this process and its children */
    uint32_t busy_permille; /* 1000 = one device busy all along (summed over devices) */
    uint8_t valid;          /* 0: the poll failed; nothing is known of this span */
    uint8_t process;        /* 1: per-process figures; 0: device-wide ones */
    /* Set on the GIL side, from the reads of PyTorch's allocator in its span (gpuattr.h): */
    uint8_t allocator;      /* 1: allocated_bytes was read (the program uses torch's CUDA) */
    uint64_t allocated_bytes; /* the most PyTorch's allocator had in tensors (torchmem.h) */
} ts_gpu_reading_t;

#define TS_GPU_MAX_DEVICES 16
#define TS_GPU_TEXT 96

/* One device the program can use. */
typedef struct {
    unsigned int nvml_index; /* NVML's (and nvidia-smi's) number for it */
    int cuda_index;          /* the number the program's CUDA runtime gives it */
    char name[TS_GPU_TEXT];
    char uuid[TS_GPU_TEXT];  /* "" when NVML gives none */
    double busy_s;           /* utilisation x time, this process and its children's share */
    double peak_mem_mb;      /* most GPU memory held on it at once (same processes) */
} ts_gpu_device_summary_t;

/* What the profile says about the GPU. */
typedef struct {
    int profiled;           /* readings were taken */
    const char *reason;     /* why GPU profiling is off (NULL when on or not asked for) */
    const char *device;     /* device name(s), "" when off */
    const char *accounting; /* "process" or "device" (per-process figures or device-wide) */
    double poll_cost_us;    /* typical wall-clock time of one poll: the median of the recent
                             * ones, which sets the polling period */
    double poll_interval_s; /* the polling period last chosen from that cost */
    uint64_t polls, failed_polls;
    double peak_mem_mb;     /* most GPU memory held at once by this process and children */
    const char *driver;     /* the driver's version, "" when NVML does not say */
    const char *visible;    /* $CUDA_VISIBLE_DEVICES at the start, NULL when unset */
    int launch_blocking;    /* $CUDA_LAUNCH_BLOCKING=1 at the start (--gpu-sync) */
    unsigned int ndevices;  /* the devices polled: those the program can use */
    ts_gpu_device_summary_t devices[TS_GPU_MAX_DEVICES];
} ts_gpu_summary_t;

/* Loads NVML ($TRISCOPE_NVML_LIBRARY, else libnvidia-ml.so.1), initialises it and finds the
 * devices the program can use ($CUDA_VISIBLE_DEVICES, which NVML ignores: gpuvisible.h). Polls come at least `min_period_ns` apart, further when a poll is expensive.
 * 0, or -1 with the reason kept for the summary (GPU profiling is then off). Call without
 * the consumer running; may take long (NVML's initialisation): not with the GIL held. */
int ts_gpu_open(uint64_t min_period_ns);

/* GPU profiling was not asked for: forget the previous profile's summary. */
void ts_gpu_off(void);

/* Consumer thread, no GIL: polls when one is due. While not `recording` (profiling
 * suspended) it does not poll, and the next reading starts from the resumption. */
void ts_gpu_tick(uint64_t now_ns, int recording);

/* Polls now, whatever the schedule (the final reading at stop). Consumer stopped. */
void ts_gpu_poll_now(uint64_t now_ns);

/* Shuts NVML down (the summary stays readable). Consumer stopped. */
void ts_gpu_close(void);

/* Whether this profile takes readings. */
int ts_gpu_profiling(void);

/* Hands every queued reading, oldest first, to `consume`. Consumers serialised (GIL). */
void ts_gpu_collect(void (*consume)(const ts_gpu_reading_t *reading, void *context),
                    void *context);

void ts_gpu_summary(ts_gpu_summary_t *out);

/* In a forked child: NVML's state (and locks) belong to the parent; never call it here. */
void ts_gpu_forget_after_fork(void);

/* A /proc/PID/stat text ("pid (comm) state ppid ..."): the parent's PID into *parent. 0, or
 * -1 when the text has none. For the unit tests; the poll reads it to tell which processes
 * are ours. */
int ts_gpu_parse_parent(const char *text, unsigned int *parent);

#endif
