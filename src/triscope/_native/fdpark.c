/* SPDX-License-Identifier: MIT
 *
 * fdpark.c — see fdpark.h. It owns the park's floor, the spare descriptors and the limit
 * recorded at the start; it must never close a descriptor it did not open (a spare is
 * closed only while it is still the pipe it was), never raise a limit above the one the
 * run began with, and never leave one raised after the writing; a placeholder below the
 * park is closed by the number recorded when it was taken, never by what it points to (the
 * program may hold the same file).
 */
#define _GNU_SOURCE
#include "fdpark.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TS_FD_SPARE_PIPES 2 /* four descriptors: the most the end holds at once is two */

typedef struct {
    int fd;
    dev_t dev;
    ino_t ino; /* every pipe has its own: a number the program reused has another */
} spare_t;

static spare_t spares[2 * TS_FD_SPARE_PIPES];
static int spares_held;
static struct rlimit limit_at_start;
static int limit_recorded;
static struct rlimit programs_limit; /* what ts_fd_make_room replaced, for ts_fd_room_done */
static int limit_replaced;

int ts_fd_park_floor(rlim_t soft)
{
    rlim_t top = soft < 1024 ? soft : 1024;
    rlim_t span = top / 2 < TS_FD_PARK_SPAN ? top / 2 : TS_FD_PARK_SPAN;
    return top - span > 3 ? (int)(top - span) : 3;
}

int ts_fd_park(int fd)
{
    struct rlimit limit;
    if (fd < 0 || getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return fd;
    int floor = ts_fd_park_floor(limit.rlim_cur);
    if (fd >= floor)
        return fd;
    int parked = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (parked < 0)
        return fd;
    close(fd);
    return parked;
}

void ts_fd_hold_below_park(ts_fd_held_t *held)
{
    memset(held, 0, sizeof *held);
    struct rlimit limit;
    int ends[2];
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || pipe2(ends, O_CLOEXEC) != 0)
        return;
    int floor = ts_fd_park_floor(limit.rlim_cur);
    /* The pipe's ends are placeholders too where they fall below the floor. */
    for (int end = 0; end < 2; end++) {
        if (ends[end] < floor)
            held->bits[ends[end] / 64] |= UINT64_C(1) << (ends[end] % 64);
    }
    int fd;
    while ((fd = fcntl(ends[0], F_DUPFD_CLOEXEC, 3)) >= 0 && fd < floor)
        held->bits[fd / 64] |= UINT64_C(1) << (fd % 64);
    if (fd >= floor)
        close(fd);
    for (int end = 0; end < 2; end++) {
        if (ends[end] >= floor)
            close(ends[end]);
    }
}

void ts_fd_release_below_park(ts_fd_held_t *held)
{
    int saved = errno;
    for (int word = 0; word < (int)(sizeof held->bits / sizeof held->bits[0]); word++) {
        for (uint64_t bits = held->bits[word]; bits != 0; bits &= bits - 1)
            close(word * 64 + __builtin_ctzll(bits));
        held->bits[word] = 0;
    }
    errno = saved;
}

void ts_fd_keep_room(void)
{
    if (!limit_recorded && getrlimit(RLIMIT_NOFILE, &limit_at_start) == 0)
        limit_recorded = 1;
    if (spares_held)
        return;
    int held = 0;
    for (int i = 0; i < TS_FD_SPARE_PIPES; i++) {
        int ends[2];
        if (pipe2(ends, O_CLOEXEC) != 0)
            break;
        for (int end = 0; end < 2; end++) {
            struct stat status;
            int fd = ts_fd_park(ends[end]);
            if (fstat(fd, &status) != 0) {
                close(fd);
                continue;
            }
            spares[held++] = (spare_t){fd, status.st_dev, status.st_ino};
        }
    }
    spares_held = held;
}

void ts_fd_give_back_spares(void)
{
    int saved = errno;
    for (int i = 0; i < spares_held; i++) {
        struct stat status;
        if (fstat(spares[i].fd, &status) == 0 && status.st_dev == spares[i].dev &&
            status.st_ino == spares[i].ino)
            close(spares[i].fd);
    }
    spares_held = 0;
    errno = saved;
}

void ts_fd_make_room(void)
{
    int saved = errno;
    ts_fd_give_back_spares();
    if (limit_recorded && !limit_replaced && getrlimit(RLIMIT_NOFILE, &programs_limit) == 0 &&
        programs_limit.rlim_cur < limit_at_start.rlim_cur) {
        struct rlimit wanted = limit_at_start;
        if (setrlimit(RLIMIT_NOFILE, &wanted) != 0) { /* a lowered hard limit, unprivileged */
            wanted.rlim_max = programs_limit.rlim_max;
            if (wanted.rlim_cur > wanted.rlim_max)
                wanted.rlim_cur = wanted.rlim_max;
        }
        limit_replaced = setrlimit(RLIMIT_NOFILE, &wanted) == 0;
    }
    errno = saved;
}

void ts_fd_room_done(void)
{
    int saved = errno;
    if (limit_replaced)
        setrlimit(RLIMIT_NOFILE, &programs_limit);
    limit_replaced = 0;
    errno = saved;
}
