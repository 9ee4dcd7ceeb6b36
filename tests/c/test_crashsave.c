/* SPDX-License-Identifier: MIT
 *
 * test_crashsave.c — saving the last complete checkpoint as the profile: nothing before the
 * first checkpoint; the complete one, not the one being written, by ts_crashsave_save_now
 * (silently, once) and by a crash (with its line, the process still dying of its signal);
 * nothing when the program reused the checkpoint's descriptor number. Each case runs in a
 * child of its own: a save happens once per process, and a crash ends it.
 */
#define _GNU_SOURCE
#include "crashsave.h"
#include "testhelp.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir_path[64], final_path[128];
static int dir_fd = -1;

static void make_directory(void)
{
    snprintf(dir_path, sizeof dir_path, "/tmp/ts-crashsave-XXXXXX");
    CHECK(mkdtemp(dir_path) != NULL);
    snprintf(final_path, sizeof final_path, "%s/profile.json", dir_path);
    dir_fd = open(dir_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(dir_fd >= 0);
}

/* The names in the directory, joined by spaces; removes them, and it. */
static void take_directory(char *names, size_t size)
{
    names[0] = '\0';
    DIR *listing = opendir(dir_path);
    CHECK(listing != NULL);
    struct dirent *entry;
    while (listing != NULL && (entry = readdir(listing)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (names[0] != '\0')
            strncat(names, " ", size - strlen(names) - 1);
        strncat(names, entry->d_name, size - strlen(names) - 1);
        unlinkat(dirfd(listing), entry->d_name, 0);
    }
    if (listing != NULL)
        closedir(listing);
    close(dir_fd);
    rmdir(dir_path);
}

static void read_profile(char *text, size_t size)
{
    text[0] = '\0';
    int fd = open(final_path, O_RDONLY);
    if (fd < 0)
        return;
    ssize_t got = read(fd, text, size - 1);
    text[got > 0 ? got : 0] = '\0';
    close(fd);
}

/* A checkpoint file as the glue makes one (unnamed, in the directory) holding `text`. */
static int checkpoint_file(const char *text)
{
    int fd = open(dir_path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 && write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return -1;
    return fd;
}

static void configure(void)
{
    CHECK_EQ_INT(ts_crashsave_configure(dir_fd, ".profile.json.crash", "profile.json",
                                        final_path),
                 0);
}

/* Runs `body` in a child whose stderr is kept in `said`; its wait status. */
static int in_child(int (*body)(void), char *said, size_t size)
{
    int err_pipe[2];
    CHECK_EQ_INT(pipe(err_pipe), 0);
    pid_t child = fork();
    if (child == 0) {
        dup2(err_pipe[1], STDERR_FILENO);
        alarm(20); /* a failure ends the child instead of hanging the test */
        _exit(body());
    }
    close(err_pipe[1]);
    size_t have = 0;
    ssize_t got;
    while (have < size - 1 && (got = read(err_pipe[0], said + have, size - 1 - have)) > 0)
        have += (size_t)got;
    said[have] = '\0';
    close(err_pipe[0]);
    int status = 0;
    waitpid(child, &status, 0);
    return status;
}

static int save_before_any_checkpoint(void)
{
    configure();
    return ts_crashsave_save_now() == NULL ? 0 : 1;
}

static void test_nothing_to_save_before_the_first_checkpoint(void)
{
    make_directory();
    char said[256], names[256];
    int status = in_child(save_before_any_checkpoint, said, sizeof said);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_STR(said, "");
    take_directory(names, sizeof names);
    CHECK_STR(names, "");
}

/* Two checkpoints complete, a third being written into the first file again. */
static int save_during_a_checkpoint(void)
{
    configure();
    int first = checkpoint_file("first");
    if (first < 0 || ts_crashsave_ready(first) != 0)
        return 2;
    int second = checkpoint_file("second");
    if (second < 0 || ts_crashsave_ready(second) != 0)
        return 3;
    if (ftruncate(first, 0) != 0 || pwrite(first, "thi", 3, 0) != 3)
        return 4;
    const char *saved_at = ts_crashsave_save_now();
    if (saved_at == NULL || strcmp(saved_at, final_path) != 0)
        return 5;
    /* Once: a crash now finds it saved, and says nothing more. */
    if (ts_crashsave_save_now() != NULL)
        return 6;
    ts_crashsave_disarm();
    return 0;
}

static void test_save_now_names_the_last_complete_checkpoint(void)
{
    make_directory();
    char said[256], text[64], names[256];
    int status = in_child(save_during_a_checkpoint, said, sizeof said);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    CHECK_STR(said, ""); /* the caller says why, in its own line */
    read_profile(text, sizeof text);
    CHECK_STR(text, "second");
    take_directory(names, sizeof names);
    CHECK_STR(names, "profile.json"); /* no scratch name left */
}

/* The program closed the checkpoint's descriptor and the number now holds a file of its
 * own: that file is not linked as the profile. */
static int save_after_the_number_was_reused(void)
{
    configure();
    int checkpoint = checkpoint_file("checkpoint");
    if (checkpoint < 0 || ts_crashsave_ready(checkpoint) != 0)
        return 2;
    int programs = checkpoint_file("the program's");
    if (programs < 0 || dup2(programs, checkpoint) != checkpoint)
        return 3;
    return ts_crashsave_save_now() == NULL ? 0 : 4;
}

static void test_a_reused_descriptor_is_not_saved(void)
{
    make_directory();
    char said[256], names[256];
    int status = in_child(save_after_the_number_was_reused, said, sizeof said);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    take_directory(names, sizeof names);
    CHECK_STR(names, "");
}

static int crash_after_a_checkpoint(void)
{
    configure();
    int checkpoint = checkpoint_file("checkpoint");
    if (checkpoint < 0 || ts_crashsave_ready(checkpoint) != 0)
        return 2;
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* no core file left beside the tests */
    abort();
}

static void test_a_crash_saves_it_says_so_and_dies_of_its_signal(void)
{
    make_directory();
    char said[512], expected[512], text[64], names[256];
    int status = in_child(crash_after_a_checkpoint, said, sizeof said);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    snprintf(expected, sizeof expected,
             "triscope: the program crashed; its profile up to the last checkpoint is in %s\n",
             final_path);
    CHECK_STR(said, expected);
    read_profile(text, sizeof text);
    CHECK_STR(text, "checkpoint");
    take_directory(names, sizeof names);
    CHECK_STR(names, "profile.json");
}

int main(void)
{
    RUN(test_nothing_to_save_before_the_first_checkpoint);
    RUN(test_save_now_names_the_last_complete_checkpoint);
    RUN(test_a_reused_descriptor_is_not_saved);
    RUN(test_a_crash_saves_it_says_so_and_dies_of_its_signal);
    return TEST_DONE();
}
