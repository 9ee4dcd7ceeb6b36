/* SPDX-License-Identifier: MIT
 *
 * test_sigterm.c — the relay in front of an interpreter's SIGTERM handler (here a counting
 * handler installed as CPython installs its own: no SA_RESTART) and the watch: nothing sent
 * before TS_SIGTERM_RESEND_NS, the signal sent again to the main thread after it (which
 * interrupts a blocking call there), nothing once taken or once the program's own handler
 * replaced the relay, and the process ended by SIGTERM itself after TS_SIGTERM_GRACE_NS,
 * its last checkpoint saved as the profile (crashsave.h) and the one line saying where, or
 * that there is none.
 */
#define _GNU_SOURCE
#include "sigterm.h"
#include "clock.h"
#include "crashsave.h"
#include "testhelp.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void interpreter_handler(int signo)
{
    (void)signo;
    handled++;
}

static void install_interpreter_handler(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = interpreter_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_ONSTACK; /* as CPython's: no SA_RESTART */
    sigaction(SIGTERM, &action, NULL);
}

static void test_relay_passes_the_signal_on_with_the_same_flags(void)
{
    install_interpreter_handler();
    CHECK_EQ_INT(ts_sigterm_relay_install(), 0);
    struct sigaction now;
    sigaction(SIGTERM, NULL, &now);
    CHECK(!(now.sa_flags & SA_RESTART));
    CHECK(now.sa_flags & SA_ONSTACK);
    handled = 0;
    raise(SIGTERM);
    CHECK_EQ_INT(handled, 1);
    /* A second install (a forked child's own start) stays in front of the same handler. */
    CHECK_EQ_INT(ts_sigterm_relay_install(), 0);
    raise(SIGTERM);
    CHECK_EQ_INT(handled, 2);
}

static void test_watch_sends_again_until_taken(void)
{
    install_interpreter_handler();
    CHECK_EQ_INT(ts_sigterm_relay_install(), 0);
    uint64_t now = ts_now_ns();
    CHECK_EQ_INT(ts_sigterm_watch(now + TS_SIGTERM_GRACE_NS * 2), 0); /* nothing arrived */
    handled = 0;
    raise(SIGTERM);
    uint64_t arrived = ts_now_ns();
    CHECK_EQ_INT(handled, 1);
    CHECK_EQ_INT(ts_sigterm_watch(arrived + TS_SIGTERM_RESEND_NS / 2), 0);
    CHECK_EQ_INT(ts_sigterm_watch(arrived + TS_SIGTERM_RESEND_NS + 1000000), 1);
    CHECK_EQ_INT(handled, 2); /* sent to this (the main) thread */
    /* Not again within a period of the last sending. */
    CHECK_EQ_INT(ts_sigterm_watch(arrived + TS_SIGTERM_RESEND_NS + 2000000), 0);
    CHECK_EQ_INT(ts_sigterm_watch(arrived + 2 * TS_SIGTERM_RESEND_NS + 3000000), 1);
    CHECK_EQ_INT(handled, 3);
    ts_sigterm_taken();
    CHECK_EQ_INT(ts_sigterm_watch(arrived + TS_SIGTERM_GRACE_NS * 2), 0);
    CHECK_EQ_INT(handled, 3);
}

static void test_the_programs_own_handler_is_left_alone(void)
{
    install_interpreter_handler();
    CHECK_EQ_INT(ts_sigterm_relay_install(), 0);
    handled = 0;
    raise(SIGTERM);
    uint64_t arrived = ts_now_ns();
    install_interpreter_handler(); /* the program's signal.signal: the relay is gone */
    CHECK_EQ_INT(ts_sigterm_watch(arrived + TS_SIGTERM_RESEND_NS * 3), 0);
    CHECK_EQ_INT(ts_sigterm_watch(arrived + TS_SIGTERM_GRACE_NS * 2), 0); /* still alive */
    CHECK_EQ_INT(handled, 1);
}

/* A blocking call on the main thread ends with EINTR when the watch, from another thread,
 * sends the signal again: the interpreter then runs its handler, as for a signal that came
 * while it blocked. */
static uint64_t arrival_for_watcher;

static void *watcher(void *unused)
{
    (void)unused;
    usleep(100000); /* the main thread is in read() by then */
    ts_sigterm_watch(arrival_for_watcher + TS_SIGTERM_RESEND_NS + 1000000);
    return NULL;
}

static void test_sending_again_interrupts_a_blocking_read(void)
{
    int pipe_fds[2];
    CHECK_EQ_INT(pipe(pipe_fds), 0);
    pid_t child = fork();
    if (child == 0) {
        install_interpreter_handler();
        ts_sigterm_relay_install();
        handled = 0;
        raise(SIGTERM); /* handled while not blocked: nothing would end the read below */
        arrival_for_watcher = ts_now_ns();
        pthread_t thread;
        pthread_create(&thread, NULL, watcher, NULL);
        alarm(20); /* a failure ends the child instead of hanging the test */
        char byte;
        ssize_t got = read(pipe_fds[0], &byte, 1);
        int interrupted = got < 0 && errno == EINTR;
        pthread_join(thread, NULL);
        _exit(interrupted && handled == 2 ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

static const char giving_up[] =
    "triscope: SIGTERM: the program's main thread did not come back to Python within 5 s (a "
    "long call in native code); the process ends as it would without triscope, and its "
    "profile ";

/* In a child that got SIGTERM and, when `checkpoint` is not NULL, has a complete checkpoint
 * holding it (saved as `final_path`): the watch after the grace. Gives the child's wait
 * status and what it said on stderr. */
static int give_up_in_child(const char *checkpoint, const char *dir_path,
                            const char *final_path, char *said, size_t size)
{
    int err_pipe[2];
    CHECK_EQ_INT(pipe(err_pipe), 0);
    pid_t child = fork();
    if (child == 0) {
        dup2(err_pipe[1], STDERR_FILENO);
        if (checkpoint != NULL) {
            int dir_fd = open(dir_path, O_PATH | O_DIRECTORY);
            int fd = open(dir_path, O_TMPFILE | O_RDWR, 0600);
            if (fd < 0 || write(fd, checkpoint, strlen(checkpoint)) < 0 ||
                ts_crashsave_configure(dir_fd, ".p.json.crash", "p.json", final_path) != 0 ||
                ts_crashsave_ready(fd) != 0)
                _exit(2);
        }
        install_interpreter_handler();
        ts_sigterm_relay_install();
        raise(SIGTERM);
        ts_sigterm_watch(ts_now_ns() + TS_SIGTERM_GRACE_NS + 1000000);
        _exit(0); /* not reached when the watch ends the process */
    }
    close(err_pipe[1]);
    ssize_t got = read(err_pipe[0], said, size - 1);
    said[got > 0 ? got : 0] = '\0';
    close(err_pipe[0]);
    int status = 0;
    waitpid(child, &status, 0);
    return status;
}

static void test_after_the_grace_the_process_dies_by_sigterm(void)
{
    char said[512], expected[512];
    int status = give_up_in_child(NULL, NULL, NULL, said, sizeof said);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    snprintf(expected, sizeof expected, "%sis not written\n", giving_up);
    CHECK_STR(said, expected);
}

/* With a checkpoint, it becomes the profile as after a crash, and the line says where. */
static void test_after_the_grace_the_last_checkpoint_is_the_profile(void)
{
    char dir_path[] = "/tmp/ts-sigterm-XXXXXX";
    CHECK(mkdtemp(dir_path) != NULL);
    char final_path[64], said[512], expected[512], text[64] = {0};
    snprintf(final_path, sizeof final_path, "%s/p.json", dir_path);
    int status = give_up_in_child("{\"checkpoint\": 1}", dir_path, final_path, said,
                                  sizeof said);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    snprintf(expected, sizeof expected, "%sup to the last checkpoint is in %s\n", giving_up,
             final_path);
    CHECK_STR(said, expected);
    int fd = open(final_path, O_RDONLY);
    CHECK(fd >= 0 && read(fd, text, sizeof text - 1) > 0);
    CHECK_STR(text, "{\"checkpoint\": 1}");
    if (fd >= 0)
        close(fd);
    unlink(final_path);
    CHECK_EQ_INT(rmdir(dir_path), 0); /* nothing else was left in it */
}

int main(void)
{
    RUN(test_relay_passes_the_signal_on_with_the_same_flags);
    RUN(test_watch_sends_again_until_taken);
    RUN(test_the_programs_own_handler_is_left_alone);
    RUN(test_sending_again_interrupts_a_blocking_read);
    RUN(test_after_the_grace_the_process_dies_by_sigterm);
    RUN(test_after_the_grace_the_last_checkpoint_is_the_profile);
    return TEST_DONE();
}
