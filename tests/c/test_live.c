/* SPDX-License-Identifier: MIT
 *
 * test_live.c — the live view's snapshot (live.c): which lines it carries (the hottest by
 * each order the viewer sorts by, only lines of the profile, each once, ties to the lower
 * id, none with nothing to show), what it writes (one line of JSON with the profile's
 * field names, files named once) and how it is sent: whole messages, never waiting for a
 * viewer that is behind, never SIGPIPE for one that is gone.
 */
#include "live.h"
#include "testhelp.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* Lines of /p/prog.py, each the largest by one order, and a library line hotter than all:
 *   line 1: Python 5000          line 2: native 4000       line 3: system 3000
 *   line 4: allocates 64 MiB     line 5: Python 10 (small) line 6: Python 5000 (ties line 1)
 *   /usr/lib/os.py (not profiled) line 9: Python 90000
 */
static void build_stats(ts_stats_t *s)
{
    ts_stats_init(s);
    uint32_t prog = ts_stats_file(s, "/p/prog.py", 1);
    uint32_t lib = ts_stats_file(s, "/usr/lib/os.py", 0);
    uint32_t main_fn = ts_stats_func(s, prog, "main", 1);
    uint32_t walk = ts_stats_func(s, lib, "walk", 9);
    ts_stats_add_line(s, main_fn, 1, TS_TIME_PYTHON, 5000, 1);
    ts_stats_add_line(s, main_fn, 2, TS_TIME_NATIVE, 4000, 1);
    ts_stats_add_line(s, main_fn, 3, TS_TIME_SYSTEM, 3000, 0);
    ts_stats_add_alloc(s, main_fn, 4, 1, 64u << 20, 0, 1);
    ts_stats_add_line(s, main_fn, 5, TS_TIME_PYTHON, 10, 1);
    ts_stats_add_line(s, main_fn, 6, TS_TIME_PYTHON, 5000, 1);
    ts_stats_add_line(s, walk, 9, TS_TIME_PYTHON, 90000, 1);
}

/* The line numbers of the chosen ids, in id order. */
static size_t chosen_linenos(const ts_stats_t *s, const ts_profile_meta_t *m, size_t per_order,
                             uint32_t *linenos)
{
    uint32_t chosen[TS_LIVE_ORDERS * 8];
    size_t count = ts_live_select(s, m, per_order, chosen);
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            CHECK(chosen[i] > chosen[i - 1]); /* ascending, each once */
        linenos[i] = s->lines[chosen[i]].lineno;
    }
    return count;
}

static int has(const uint32_t *linenos, size_t count, uint32_t lineno)
{
    for (size_t i = 0; i < count; i++)
        if (linenos[i] == lineno)
            return 1;
    return 0;
}

static void test_one_per_order(void)
{
    ts_stats_t s;
    ts_profile_meta_t m;
    memset(&m, 0, sizeof m);
    build_stats(&s);
    uint32_t linenos[TS_LIVE_ORDERS * 8];
    /* Time: line 1 (5000, ahead of line 6 by id); memory: 4; Python: 1; native: 2;
     * system: 3. The library line is hottest but not in the profile. */
    size_t count = chosen_linenos(&s, &m, 1, linenos);
    CHECK_EQ_INT(count, 4);
    CHECK(has(linenos, count, 1) && has(linenos, count, 2) && has(linenos, count, 3) &&
          has(linenos, count, 4));
    CHECK(!has(linenos, count, 9) && !has(linenos, count, 6) && !has(linenos, count, 5));
    ts_stats_free(&s);
}

static void test_more_per_order_than_lines(void)
{
    ts_stats_t s;
    ts_profile_meta_t m;
    memset(&m, 0, sizeof m);
    build_stats(&s);
    uint32_t linenos[TS_LIVE_ORDERS * 8];
    size_t count = chosen_linenos(&s, &m, 8, linenos);
    CHECK_EQ_INT(count, 6); /* every line of prog.py, the library's left out */
    CHECK(!has(linenos, count, 9));
    CHECK_EQ_INT(chosen_linenos(&s, &m, 0, linenos), 0);
    ts_stats_free(&s);
}

/* A larger line displaces the smallest kept, whatever order the lines come in. */
static void test_keeps_the_largest(void)
{
    ts_stats_t s;
    ts_profile_meta_t m;
    memset(&m, 0, sizeof m);
    ts_stats_init(&s);
    uint32_t prog = ts_stats_file(&s, "/p/prog.py", 1);
    uint32_t fn = ts_stats_func(&s, prog, "f", 1);
    const uint64_t times[] = {10, 50, 20, 40, 30, 60, 5};
    for (uint32_t i = 0; i < 7; i++)
        ts_stats_add_line(&s, fn, i + 1, TS_TIME_SYSTEM, times[i], 0);
    uint32_t linenos[TS_LIVE_ORDERS * 8];
    /* Time and system agree: 60 (line 6), 50 (line 2), 40 (line 4). */
    size_t count = chosen_linenos(&s, &m, 3, linenos);
    CHECK_EQ_INT(count, 3);
    CHECK(has(linenos, count, 6) && has(linenos, count, 2) && has(linenos, count, 4));
    ts_stats_free(&s);
}

static void test_profile_ranges(void)
{
    ts_stats_t s;
    ts_profile_meta_t m;
    memset(&m, 0, sizeof m);
    build_stats(&s);
    ts_line_range_t only = {"/p/prog.py", 3, 4}; /* @profile on lines 3-4 */
    m.only_ranges = &only;
    m.nonly_ranges = 1;
    uint32_t linenos[TS_LIVE_ORDERS * 8];
    size_t count = chosen_linenos(&s, &m, 8, linenos);
    CHECK_EQ_INT(count, 2);
    CHECK(has(linenos, count, 3) && has(linenos, count, 4));
    ts_stats_free(&s);
}

static char *write_snapshot(const ts_stats_t *s, const ts_profile_meta_t *m, size_t per_order)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    CHECK_EQ_INT(ts_live_write(out, s, m, 1, per_order), 0);
    fclose(out);
    return text;
}

static void test_snapshot_text(void)
{
    ts_stats_t s;
    ts_profile_meta_t m;
    memset(&m, 0, sizeof m);
    m.pid = 77;
    m.elapsed_s = 2.5;
    m.samples = 300;
    m.cpu = m.memory = 1;
    build_stats(&s);
    char *text = write_snapshot(&s, &m, 1);
    /* One line: the viewer reads one message per snapshot and splits nothing. */
    CHECK(strchr(text, '\n') == text + strlen(text) - 1);
    CHECK(strstr(text, "{\"pid\":77,\"elapsed_s\":2.5,\"samples\":300,\"paused\":true,"
                       "\"cpu\":true,\"memory\":true,") == text);
    CHECK(strstr(text, "\"files\":[\"/p/prog.py\"]") != NULL); /* once, the library never */
    /* Total time 107010 ns; line 1's 5000 is 4.6725 % of it, as in the profile. */
    CHECK(strstr(text, "{\"file\":0,\"lineno\":1,\"cpu_python_pct\":4.6725,\"cpu_native_pct\":0,"
                       "\"cpu_system_pct\":0,\"cpu_samples\":1,") != NULL);
    CHECK(strstr(text, "\"lineno\":4,") != NULL);
    CHECK(strstr(text, "\"alloc_mb\":64,") != NULL);
    /* The library's time is on no line of the profile: it is in the totals only. */
    CHECK(strstr(text, "\"totals\":{\"cpu_python_pct\":93.4586,") != NULL);
    CHECK(strstr(text, "\"timeline\"") == NULL); /* compact: no series */
    free(text);
    /* No lines asked for: totals only. */
    text = write_snapshot(&s, &m, 0);
    CHECK(strstr(text, "\"files\":[],\"lines\":[]}") != NULL);
    free(text);
    ts_stats_free(&s);
}

static void test_send_never_waits(void)
{
    ts_stats_t s;
    ts_profile_meta_t m;
    memset(&m, 0, sizeof m);
    m.pid = 77;
    build_stats(&s);
    int pair[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) == 0);
    /* Nobody reads: the socket fills and snapshots are dropped, the call returning at once
     * (a blocking send would hang this test). */
    int sent = 0, dropped = 0;
    for (int i = 0; i < 100000 && !dropped; i++) {
        ts_live_status_t status = ts_live_send(pair[0], &s, &m, 0);
        sent += status == TS_LIVE_SENT;
        dropped += status == TS_LIVE_DROPPED;
        CHECK(status != TS_LIVE_GONE);
    }
    CHECK(sent > 0);
    CHECK_EQ_INT(dropped, 1);
    /* What the viewer reads is one whole snapshot per message. */
    char message[TS_LIVE_MAX_BYTES];
    ssize_t got = recv(pair[1], message, sizeof message, 0);
    CHECK(got > 2 && message[0] == '{' && message[got - 1] == '\n');
    /* The viewer goes away: the next send says so, and SIGPIPE (its default action would end
     * this test) is not raised. */
    signal(SIGPIPE, SIG_DFL);
    close(pair[1]);
    CHECK_EQ_INT(ts_live_send(pair[0], &s, &m, 0), TS_LIVE_GONE);
    close(pair[0]);
    /* A descriptor that is not a socket (the program reused the number) is not written. */
    int pipe_ends[2];
    CHECK(pipe(pipe_ends) == 0);
    CHECK_EQ_INT(ts_live_send(pipe_ends[1], &s, &m, 0), TS_LIVE_GONE);
    char byte;
    close(pipe_ends[1]);
    CHECK_EQ_INT(read(pipe_ends[0], &byte, 1), 0);
    close(pipe_ends[0]);
    ts_stats_free(&s);
}

static void test_finish(void)
{
    int pair[2];
    /* The viewer has already given the terminal back: answered at once. */
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) == 0);
    CHECK(send(pair[1], "x", 1, 0) == 1); /* read past */
    CHECK(shutdown(pair[1], SHUT_WR) == 0);
    CHECK_EQ_INT(ts_live_finish(pair[0], 10000), 1);
    /* It was told: its end reads the end of the stream. */
    char byte;
    CHECK_EQ_INT(recv(pair[1], &byte, 1, 0), 0);
    close(pair[1]);
    /* A viewer that never answers costs the wait, no more. */
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) == 0);
    CHECK_EQ_INT(ts_live_finish(pair[0], 50), 0);
    CHECK_EQ_INT(recv(pair[1], &byte, 1, 0), 0);
    close(pair[1]);
}

int main(void)
{
    RUN(test_one_per_order);
    RUN(test_more_per_order_than_lines);
    RUN(test_keeps_the_largest);
    RUN(test_profile_ranges);
    RUN(test_snapshot_text);
    RUN(test_send_never_waits);
    RUN(test_finish);
    return TEST_DONE();
}
