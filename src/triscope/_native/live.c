/* SPDX-License-Identifier: MIT
 *
 * live.c — see live.h. Runs in the profiled process, on the consumer thread with the GIL
 * held (the stats do not change under it), about once a second: choosing the lines is one
 * pass over them per order, keeping the few largest, so a run with many lines costs little
 * more than one with few. It never decides what a share is (profile_json.c does) nor how the
 * viewer shows it, and it never waits for the viewer (ts_live_send).
 */
#define _GNU_SOURCE
#include "live.h"

#include "json_writer.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t order_value(const ts_line_t *line, ts_live_order_t order)
{
    switch (order) {
    case TS_LIVE_BY_TIME:
        return ts_time_total(&line->time);
    case TS_LIVE_BY_MEMORY:
        return line->mem.alloc_bytes;
    case TS_LIVE_BY_PYTHON:
        return line->time.ns[TS_TIME_PYTHON];
    case TS_LIVE_BY_NATIVE:
        return line->time.ns[TS_TIME_NATIVE];
    default:
        return line->time.ns[TS_TIME_SYSTEM];
    }
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The `per_order` largest lines by `order` into top[0..], largest first; their count. Each
 * line is compared with the smallest kept first, so most lines cost one comparison. */
static size_t largest(const ts_stats_t *s, const ts_profile_meta_t *m, ts_live_order_t order,
                      size_t per_order, uint32_t *top)
{
    size_t kept = 0;
    for (size_t id = 0; id < s->nlines; id++) {
        const ts_line_t *line = &s->lines[id];
        uint64_t value = order_value(line, order);
        if (value == 0 || (kept == per_order &&
                           value <= order_value(&s->lines[top[kept - 1]], order)))
            continue;
        if (!ts_profile_line_in_profile(s, line, m))
            continue;
        /* Ids come in ascending order, so an equal value already kept stays ahead. */
        size_t at = kept < per_order ? kept : per_order - 1;
        while (at > 0 && order_value(&s->lines[top[at - 1]], order) < value) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = (uint32_t)id;
        if (kept < per_order)
            kept++;
    }
    return kept;
}

size_t ts_live_select(const ts_stats_t *s, const ts_profile_meta_t *m, size_t per_order,
                      uint32_t *chosen)
{
    size_t count = 0;
    if (per_order == 0)
        return 0;
    for (int order = 0; order < TS_LIVE_ORDERS; order++)
        count += largest(s, m, (ts_live_order_t)order, per_order, chosen + count);
    qsort(chosen, count, sizeof *chosen, by_id);
    size_t unique = 0;
    for (size_t i = 0; i < count; i++)
        if (unique == 0 || chosen[unique - 1] != chosen[i])
            chosen[unique++] = chosen[i];
    return unique;
}

/* The chosen lines' files, each once, in the order first named; `file_slot[file]` is its
 * index in that list. */
static size_t name_files(const ts_stats_t *s, const uint32_t *chosen, size_t count,
                         uint32_t *file_slot, uint32_t *files)
{
    size_t nfiles = 0;
    for (size_t i = 0; i < s->nfiles; i++)
        file_slot[i] = UINT32_MAX;
    for (size_t i = 0; i < count; i++) {
        uint32_t file = s->lines[chosen[i]].file;
        if (file_slot[file] == UINT32_MAX) {
            file_slot[file] = (uint32_t)nfiles;
            files[nfiles++] = file;
        }
    }
    return nfiles;
}

int ts_live_write(FILE *out, const ts_stats_t *s, const ts_profile_meta_t *m, int paused,
                  size_t per_order)
{
    uint32_t *chosen = malloc((TS_LIVE_ORDERS * per_order + 1) * sizeof *chosen);
    uint32_t *file_slot = malloc((s->nfiles + 1) * sizeof *file_slot);
    uint32_t *files = malloc((s->nfiles + 1) * sizeof *files);
    if (chosen == NULL || file_slot == NULL || files == NULL) {
        free(chosen);
        free(file_slot);
        free(files);
        return -1;
    }
    size_t count = ts_live_select(s, m, per_order, chosen);
    size_t nfiles = name_files(s, chosen, count, file_slot, files);
    ts_json_t json, *j = &json;
    ts_json_init(j, out);
    ts_json_begin_object(j);
    ts_json_key(j, "pid"); ts_json_int(j, m->pid);
    ts_json_key(j, "elapsed_s"); ts_json_number(j, m->elapsed_s, 3);
    ts_json_key(j, "samples"); ts_json_int(j, (int64_t)m->samples);
    ts_json_key(j, "paused"); ts_json_bool(j, paused);
    ts_json_key(j, "cpu"); ts_json_bool(j, m->cpu);
    ts_json_key(j, "memory"); ts_json_bool(j, m->memory);
    ts_json_key(j, "virtual_time"); ts_json_bool(j, m->virtual_time);
    ts_json_key(j, "totals");
    ts_json_begin_object(j);
    ts_profile_share_fields(j, &s->total, &s->mem_total, &s->gpu_total, s);
    ts_json_end_object(j);
    ts_json_key(j, "unattributed");
    ts_json_begin_object(j);
    ts_profile_share_fields(j, &s->unattributed, &s->mem_unattributed, &s->gpu_unattributed, s);
    ts_json_end_object(j);
    ts_json_key(j, "files");
    ts_json_begin_array(j);
    for (size_t i = 0; i < nfiles; i++)
        ts_json_string(j, ts_intern_str(&s->strings, s->files[files[i]].path));
    ts_json_end_array(j);
    ts_json_key(j, "lines");
    ts_json_begin_array(j);
    for (size_t i = 0; i < count; i++) {
        const ts_line_t *line = &s->lines[chosen[i]];
        ts_json_begin_object(j);
        ts_json_key(j, "file"); ts_json_int(j, file_slot[line->file]);
        ts_json_key(j, "lineno"); ts_json_int(j, line->lineno);
        ts_profile_share_fields(j, &line->time, &line->mem, &line->gpu, s);
        ts_json_end_object(j);
    }
    ts_json_end_array(j);
    ts_json_end_object(j);
    fputc('\n', out);
    free(chosen);
    free(file_slot);
    free(files);
    return ts_json_finish(j);
}

ts_live_status_t ts_live_send(int fd, const ts_stats_t *s, const ts_profile_meta_t *m,
                              int paused)
{
    static char buffer[TS_LIVE_MAX_BYTES];
    long length = -1;
    for (size_t per_order = TS_LIVE_LINES_PER_ORDER; length < 0; per_order /= 2) {
        FILE *out = fmemopen(buffer, sizeof buffer, "w");
        if (out == NULL)
            return TS_LIVE_DROPPED;
        int failed = ts_live_write(out, s, m, paused, per_order) < 0 || fflush(out) != 0;
        long written = ftell(out);
        fclose(out);
        if (!failed && written > 0 && (size_t)written < sizeof buffer)
            length = written;
        else if (per_order == 0)
            return TS_LIVE_DROPPED; /* not even the totals fit: nothing to send */
    }
    /* MSG_DONTWAIT: a viewer that is behind costs this snapshot, never the program's time;
     * MSG_NOSIGNAL: a viewer gone away is an error here, not the program's SIGPIPE. */
    if (send(fd, buffer, (size_t)length, MSG_DONTWAIT | MSG_NOSIGNAL) == length)
        return TS_LIVE_SENT;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EMSGSIZE ||
        errno == EINTR)
        return TS_LIVE_DROPPED;
    return TS_LIVE_GONE;
}

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int ts_live_finish(int fd, int wait_ms)
{
    int answered = 0;
    shutdown(fd, SHUT_WR);
    int64_t deadline = now_ms() + wait_ms;
    char discarded[512];
    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd ready = {.fd = fd, .events = POLLIN};
        int polled = left > 0 ? poll(&ready, 1, (int)left) : 0;
        if (polled < 0 && errno == EINTR)
            continue;
        if (polled <= 0)
            break;
        /* Whatever the viewer still says is read past: only its end of the stream counts. */
        ssize_t got = recv(fd, discarded, sizeof discarded, MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
            answered = 1;
            break;
        }
    }
    close(fd);
    return answered;
}
