/* SPDX-License-Identifier: MIT
 *
 * live.h — the live view's snapshot (`triscope --live`; docs/ARCHITECTURE.md, "The live
 * view"): a compact summary of the profile so far, one JSON object on one line, which the
 * profiled process hands to the viewer, a separate process, about once a second. It holds
 * the run's totals and the lines the viewer may show: those among the hottest by at least one
 * of the orders it sorts by. Pure C, no Python; every share in it is written by
 * profile_json.c's ts_profile_share_fields, so a line's share in the view is its share in the
 * profile. Sending never waits for the viewer: a snapshot it has no room for is dropped, and
 * a viewer gone away never raises SIGPIPE in the program.
 */
#ifndef TS_LIVE_H
#define TS_LIVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "profile_json.h"
#include "stats.h"

/* The orders the viewer sorts lines by: all time, allocated bytes, and each kind of time. */
typedef enum {
    TS_LIVE_BY_TIME = 0,
    TS_LIVE_BY_MEMORY,
    TS_LIVE_BY_PYTHON,
    TS_LIVE_BY_NATIVE,
    TS_LIVE_BY_SYSTEM,
    TS_LIVE_ORDERS
} ts_live_order_t;

/* The ids of the lines (indices into stats->lines) that belong in the profile
 * (ts_profile_line_in_profile) and are among the `per_order` largest by at least one order,
 * with a value above zero for it; equal values go to the lower id. Each id once, ascending,
 * into `chosen`, which has room for TS_LIVE_ORDERS * per_order ids. Returns their count. */
size_t ts_live_select(const ts_stats_t *stats, const ts_profile_meta_t *meta, size_t per_order,
                      uint32_t *chosen);

/* One snapshot, ending in a newline: pid, elapsed_s, samples, paused, what is profiled, the
 * run's totals, the time and memory on no profiled line, and the lines ts_live_select
 * chooses (each naming its file by an index into `files`). 0, or -1 when writing failed or
 * memory ran out (errno from the stream). */
int ts_live_write(FILE *out, const ts_stats_t *stats, const ts_profile_meta_t *meta,
                  int paused, size_t per_order);

/* A snapshot is one message of a SOCK_SEQPACKET socket, sent whole or not at all, so the
 * viewer never reads half of one; it is kept below the socket's default send buffer (Linux:
 * 208 KiB), past which a message is refused. */
#define TS_LIVE_MAX_BYTES (160u << 10)
/* Lines per order: more than a terminal has rows. Halved while a snapshot is too big. */
#define TS_LIVE_LINES_PER_ORDER 50

typedef enum {
    TS_LIVE_SENT = 0,
    TS_LIVE_DROPPED = 1,  /* no room now (the viewer is behind), or too big: the next one */
    TS_LIVE_GONE = -1     /* the viewer closed its end, or fd is no such socket: stop */
} ts_live_status_t;

/* Writes a snapshot (ts_live_write) and sends it on the socket `fd` without waiting and
 * without SIGPIPE. Not reentrant (one static buffer): the consumer thread alone calls it. */
ts_live_status_t ts_live_send(int fd, const ts_stats_t *stats, const ts_profile_meta_t *meta,
                              int paused);

/* The run is over: tells the viewer (the end of the stream) and waits, at most `wait_ms`,
 * until it has given the terminal back (closed or shut down its end), then closes `fd`. 1
 * when the viewer answered in time, 0 when not. */
int ts_live_finish(int fd, int wait_ms);

#endif
