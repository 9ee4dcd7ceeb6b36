/* SPDX-License-Identifier: MIT
 *
 * test_fdpark.c — triscope's descriptors parked off the program's numbers, and room for the
 * profile: the floor under each limit (the top 128 of the first 1024, at most half of a
 * lower limit, never below 3); a parked descriptor lands on the floor or above, close-on-
 * exec, its old number free again for the program's next open; one that cannot move stays
 * open where it was; the spares, closed at the end, give room after the program has taken
 * every number; a spare number the program reused for its own file is not closed; a soft
 * limit the program lowered is the start's while the profile is written, and the
 * program's again after; while a library starts, the free numbers below the park are held so
 * that what it opens lands in the park, and after it the program's numbers are as they were
 * (its own files, even of the same file as the placeholders, left open).
 */
#define _GNU_SOURCE
#include "fdpark.h"
#include "testhelp.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_floor(void)
{
    CHECK_EQ_INT(ts_fd_park_floor(1024), 896);
    CHECK_EQ_INT(ts_fd_park_floor(1048576), 896);
    CHECK_EQ_INT(ts_fd_park_floor(RLIM_INFINITY), 896);
    CHECK_EQ_INT(ts_fd_park_floor(256), 128);
    CHECK_EQ_INT(ts_fd_park_floor(100), 50);
    CHECK_EQ_INT(ts_fd_park_floor(8), 4);
    CHECK_EQ_INT(ts_fd_park_floor(5), 3);
    CHECK_EQ_INT(ts_fd_park_floor(0), 3);
}

static int lowest_free(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    close(fd);
    return fd;
}

static void test_park(void)
{
    int low = open("/dev/null", O_RDONLY);
    CHECK(low >= 0 && low < 896);
    int parked = ts_fd_park(low);
    CHECK(parked >= 896);
    CHECK(fcntl(parked, F_GETFD) == FD_CLOEXEC);
    CHECK(fcntl(low, F_GETFD) < 0 && errno == EBADF);
    CHECK_EQ_INT(lowest_free(), low); /* the program's next open gets it, as without us */
    CHECK_EQ_INT(ts_fd_park(parked), parked); /* already there */
    close(parked);

    struct rlimit saved;
    getrlimit(RLIMIT_NOFILE, &saved);
    struct rlimit tight = {low + 1, saved.rlim_max}; /* nothing free at the floor or above */
    low = open("/dev/null", O_RDONLY);
    setrlimit(RLIMIT_NOFILE, &tight);
    CHECK_EQ_INT(ts_fd_park(low), low);
    CHECK(fcntl(low, F_GETFD) >= 0);
    setrlimit(RLIMIT_NOFILE, &saved);
    close(low);
    CHECK_EQ_INT(ts_fd_park(-1), -1);
}

/* Opens /dev/null until the limit: the descriptors, ended by -1. */
static int *take_every_number(void)
{
    static int taken[2048];
    int n = 0;
    while (n < 2047 && (taken[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        n++;
    taken[n] = -1;
    return taken;
}

static void give_back(int *taken)
{
    for (int i = 0; taken[i] >= 0; i++)
        close(taken[i]);
}

static void test_room_after_every_number_taken(void)
{
    struct rlimit saved;
    getrlimit(RLIMIT_NOFILE, &saved);
    struct rlimit small = {200, saved.rlim_max};
    setrlimit(RLIMIT_NOFILE, &small);
    ts_fd_keep_room();
    int *taken = take_every_number();
    CHECK(open("/dev/null", O_RDONLY) < 0 && errno == EMFILE);
    ts_fd_make_room();
    ts_fd_room_done();
    int room[4];
    for (int i = 0; i < 4; i++) {
        room[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CHECK(room[i] >= 100); /* where the spares were: the park of a 200 limit */
    }
    CHECK(open("/dev/null", O_RDONLY) < 0);
    for (int i = 0; i < 4; i++)
        close(room[i]);
    give_back(taken);
    setrlimit(RLIMIT_NOFILE, &saved);
}

static void test_reused_spare_left_alone(void)
{
    ts_fd_keep_room();
    int *taken = take_every_number(); /* the spares' numbers are the ones left out */
    int spare = -1;
    for (int fd = 896; fd < 1024 && spare < 0; fd++) {
        int flags = fcntl(fd, F_GETFD);
        struct stat status;
        if (flags >= 0 && fstat(fd, &status) == 0 && S_ISFIFO(status.st_mode))
            spare = fd;
    }
    CHECK(spare >= 896);
    close(spare); /* the program closes it (closerange), then opens a file of its own there */
    int mine = open("/dev/null", O_RDONLY);
    CHECK_EQ_INT(mine, spare);
    ts_fd_make_room();
    ts_fd_room_done();
    CHECK(fcntl(mine, F_GETFD) >= 0);
    close(mine);
    give_back(taken);
}

static void test_limit_of_the_start_while_writing(void)
{
    struct rlimit start, now;
    getrlimit(RLIMIT_NOFILE, &start);
    ts_fd_keep_room(); /* the limit was recorded by the first keep_room: this process's */
    struct rlimit lowered = {64, start.rlim_max};
    setrlimit(RLIMIT_NOFILE, &lowered);
    ts_fd_make_room();
    getrlimit(RLIMIT_NOFILE, &now);
    CHECK_EQ_INT((long)now.rlim_cur, (long)start.rlim_cur);
    ts_fd_room_done();
    getrlimit(RLIMIT_NOFILE, &now);
    CHECK_EQ_INT((long)now.rlim_cur, 64);
    ts_fd_room_done(); /* twice: still the program's */
    getrlimit(RLIMIT_NOFILE, &now);
    CHECK_EQ_INT((long)now.rlim_cur, 64);
    setrlimit(RLIMIT_NOFILE, &start);
    ts_fd_make_room(); /* not lowered: untouched, and nothing to put back */
    ts_fd_room_done();
    getrlimit(RLIMIT_NOFILE, &now);
    CHECK_EQ_INT((long)now.rlim_cur, (long)start.rlim_cur);
}

static void test_library_opens_land_in_the_park(void)
{
    int programs = open("/dev/null", O_RDONLY); /* the same file the placeholders could be */
    int gap = open("/dev/null", O_RDONLY);
    int above = open("/dev/null", O_RDONLY);
    close(gap); /* a hole in the program's numbers */
    int before = lowest_free();
    CHECK_EQ_INT(before, gap);
    ts_fd_held_t held;
    ts_fd_hold_below_park(&held);
    int librarys[3]; /* what a library opens and keeps while it starts */
    for (int i = 0; i < 3; i++) {
        librarys[i] = open("/dev/null", O_RDONLY);
        CHECK(librarys[i] >= 896);
    }
    ts_fd_release_below_park(&held);
    CHECK_EQ_INT(lowest_free(), before);
    CHECK(fcntl(programs, F_GETFD) >= 0 && fcntl(above, F_GETFD) >= 0);
    for (int i = 0; i < 3; i++)
        CHECK(fcntl(librarys[i], F_GETFD) >= 0);
    ts_fd_release_below_park(&held); /* twice: nothing more closed */
    CHECK(fcntl(programs, F_GETFD) >= 0);
    for (int i = 0; i < 3; i++)
        close(librarys[i]);
    close(programs);
    close(above);
}

int main(void)
{
    RUN(test_floor);
    RUN(test_park);
    RUN(test_limit_of_the_start_while_writing);
    RUN(test_room_after_every_number_taken);
    RUN(test_reused_spare_left_alone);
    RUN(test_library_opens_land_in_the_park);
    return TEST_DONE();
}
