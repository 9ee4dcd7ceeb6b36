/* SPDX-License-Identifier: MIT
 *
 * sample.h — the record a thread's time is charged with (a CPU sample from the signal
 * handler in sampler.c, or a waiting sample from waits.c), and the settings both follow.
 * Types only: the files that make samples and the one that resolves them (resolve.c) share
 * these without depending on each other.
 */
#ifndef TS_SAMPLE_H
#define TS_SAMPLE_H

#include <stdint.h>

#include "frames.h"
#include "ringbuf.h"

typedef enum {
    /* CPU time: the timer fired while running bytecode, or in native code called by the
     * line (or the consumer caught up with a thread the timer's ticks missed, waits.c) */
    TS_SAMPLE_PYTHON = 0,
    TS_SAMPLE_NATIVE = 1,
    TS_SAMPLE_WAIT = 2,    /* waiting time measured by the consumer */
    /* Time the thread was ready to run but waited for a CPU, measured by the consumer and
     * charged where its latest CPU sample was taken, as that sample's kind. */
    TS_SAMPLE_CPU_WAIT_PYTHON = 3,
    TS_SAMPLE_CPU_WAIT_NATIVE = 4,
    /* The same for a thread woken from a block, charged where it blocked as system time. */
    TS_SAMPLE_CPU_WAIT_SYSTEM = 5
} ts_sample_kind_t;

typedef struct {
    uint64_t weight_ns;    /* thread time this sample stands for */
    uint64_t t_ns;         /* CLOCK_MONOTONIC when taken (GPU readings are matched by it) */
    uint32_t thread;       /* slot index */
    uint16_t depth;
    uint8_t kind;          /* ts_sample_kind_t */
    uint8_t truncated;
    ts_frame_t frames[TS_MAX_DEPTH]; /* innermost first */
} ts_sample_t;

typedef struct {
    uint64_t interval_ns;           /* CPU time between samples of one thread */
    int virtual_time;               /* do not measure waiting time */
    int include_idle;               /* count idle threads' waiting time (--idle) */
    /* Where waiting samples go. Written with the slot table's lock held (by the consumer
     * thread, by the final measurement at stop, and by a thread unregistering as it ends),
     * so the ring keeps one producer at a time. */
    ts_ring_t *waits;
    unsigned char call_opcodes[256];/* 1 for opcodes that call out (CALL and its variants) */
} ts_sampler_config_t;

#endif
