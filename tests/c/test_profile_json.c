/* SPDX-License-Identifier: MIT
 *
 * test_profile_json.c — the canonical profile written from a hand-built ts_stats_t: keys and
 * percentages, the source text quoted from a real file (escaped so it can sit inside an HTML
 * <script>) and the SHA-256 of its bytes, non-profiled files left out, --reduced-profile
 * dropping small lines, stacks and their frame table, and the whole output checked to be JSON
 * (a strict validator here, and Python's json module when python3 is on PATH, which also
 * checks that the percentages add up).
 */
#include "profile_json.h"
#include "testhelp.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* ==== A strict JSON validator (RFC 8259), enough to reject anything malformed ==== */

static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20)
            return NULL; /* includes the terminating NUL */
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || p[i] == '\0')
                        return NULL;
                p += 5;
                continue;
            }
            if (!strchr("\"\\/bfnrt", *p) || *p == '\0')
                return NULL;
        }
        p++;
    }
    return p + 1;
}

static const char *json_number(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static const char *json_container(const char *p, int depth, char close, int object)
{
    p = json_ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (object) {
            p = json_string(json_ws(p));
            if (p == NULL)
                return NULL;
            p = json_ws(p);
            if (*p++ != ':')
                return NULL;
        }
        p = json_value(p, depth + 1);
        if (p == NULL)
            return NULL;
        p = json_ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 100)
        return NULL;
    p = json_ws(p);
    switch (*p) {
    case '{': return json_container(p, depth, '}', 1);
    case '[': return json_container(p, depth, ']', 0);
    case '"': return json_string(p);
    case 't': return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f': return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n': return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default: return json_number(p);
    }
}

static int json_valid(const char *text)
{
    const char *end = json_value(text, 0);
    return end != NULL && *json_ws(end) == '\0';
}

/* ==== Fixture ==== */

static char tmpdir[] = "/tmp/triscope-test-XXXXXX";
static char prog_path[256];

static const char prog_source[] =
    "def main():\n"                                   /* 1 */
    "    total = 0\n"                                 /* 2 */
    "    for i in range(10):\n"                       /* 3 */
    "        html = \"</script>\" + '<b>' & \"\\\\\"\n" /* 4 */
    "    return caf\xc3\xa9\r\n"                      /* 5: CRLF, UTF-8 */
    "\tbad = \xff\n"                                  /* 6: not UTF-8 */
    "last_line_without_newline";                      /* 7 */

static void write_program(void)
{
    CHECK(mkdtemp(tmpdir) != NULL);
    snprintf(prog_path, sizeof prog_path, "%s/prog.py", tmpdir);
    FILE *f = fopen(prog_path, "wb");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fwrite(prog_source, 1, sizeof prog_source - 1, f);
    fclose(f);
}

/* 10 000 ns in all:
 *   prog.py line 2: python 5000 + native 2500 (75 %), 3 CPU samples
 *   prog.py line 3: system 100 (1 %)
 *   prog.py line 4: python 400 (4 %), line 5: native 300 (3 %), line 6: 200 (2 %),
 *   prog.py line 7: 100 (1 %), line 99 (past the end of the file): 100 (1 %)
 *   /usr/lib/python3/os.py (not profiled) line 10: python 300 (3 %)
 *   /p/tiny.py (profiled, one small line) line 1: python 100 (1 %)
 *   unattributed: native 700, system 200 (9 %)
 */
static void build_stats(ts_stats_t *s)
{
    ts_stats_init(s);
    uint32_t prog = ts_stats_file(s, prog_path, 1);
    uint32_t lib = ts_stats_file(s, "/usr/lib/python3/os.py", 0);
    uint32_t tiny = ts_stats_file(s, "/p/tiny.py", 1);
    uint32_t main_fn = ts_stats_func(s, prog, "main", 1);
    uint32_t lambda = ts_stats_func(s, prog, "main.<locals>.<lambda>", 4);
    uint32_t idle = ts_stats_func(s, prog, "never_charged", 7);
    uint32_t walk = ts_stats_func(s, lib, "walk", 9);
    uint32_t tiny_fn = ts_stats_func(s, tiny, "<module>", 1);
    (void)idle;
    ts_stats_add_line(s, main_fn, 2, TS_TIME_PYTHON, 3000, 1);
    ts_stats_add_line(s, main_fn, 2, TS_TIME_PYTHON, 2000, 1);
    ts_stats_add_line(s, main_fn, 2, TS_TIME_NATIVE, 2500, 1);
    ts_stats_add_line(s, main_fn, 3, TS_TIME_SYSTEM, 100, 0);
    ts_stats_add_line(s, lambda, 4, TS_TIME_PYTHON, 400, 1);
    ts_stats_add_line(s, main_fn, 5, TS_TIME_NATIVE, 300, 1);
    ts_stats_add_line(s, main_fn, 6, TS_TIME_PYTHON, 200, 1);
    ts_stats_add_line(s, main_fn, 7, TS_TIME_PYTHON, 100, 1);
    ts_stats_add_line(s, main_fn, 99, TS_TIME_PYTHON, 100, 1);
    ts_stats_add_line(s, walk, 10, TS_TIME_PYTHON, 300, 1);
    ts_stats_add_line(s, tiny_fn, 1, TS_TIME_PYTHON, 100, 1);
    ts_stats_add_unattributed(s, TS_TIME_NATIVE, 700, 1);
    ts_stats_add_unattributed(s, TS_TIME_SYSTEM, 200, 0);
    ts_stack_frame_t frames[] = {{main_fn, 2}, {walk, 10}};
    ts_stats_add_stack(s, frames, 2, 1500000000, 1);
    ts_stats_add_stack(s, frames, 2, 500000000, 1);
}

static void fill_meta(ts_profile_meta_t *m, ts_strlist_t *only, ts_strlist_t *exclude,
                      ts_thread_summary_t threads[2])
{
    memset(m, 0, sizeof *m);
    memset(only, 0, sizeof *only);
    memset(exclude, 0, sizeof *exclude);
    ts_strlist_add(&m->args, "prog.py");
    ts_strlist_add(&m->args, "--flag=\"x\"");
    ts_strlist_add(exclude, "vendor/");
    m->version = "0.1.0";
    m->program = prog_path;
    m->python = "3.11.7";
    m->pid = 4242;
    m->elapsed_s = 1.5;
    m->started_unix_s = 1700000000.25;
    m->interval_s = 0.01;
    m->samples = 12;
    m->cpu = 1;
    m->stacks = 1;
    m->profile_only = only;
    m->profile_exclude = exclude;
    m->cpu_percent_threshold = 1.5;
    m->malloc_threshold = 100;
    memset(threads, 0, 2 * sizeof threads[0]);
    threads[0].tid = 101;
    snprintf(threads[0].name, sizeof threads[0].name, "MainThread");
    threads[0].cpu_ns = 2500000000ULL;
    threads[0].wait_ns = 1000;
    /* Its lane: buckets 1 and 2 of half a second each. */
    static uint64_t lane[2][TS_LANE_KINDS] = {{250000000, 100000000, 150000000, 0, 0},
                                              {0, 0, 0, 200000000, 300000000}};
    threads[0].timeline = (ts_lane_t){.first = 1, .count = 2, .capacity = 2, .ns = lane};
    threads[0].axis = (ts_timeline_axis_t){.start_ns = 0, .width_ns = 500000000};
    threads[1].tid = 102; /* no name: gets a fallback */
    threads[1].idle_ns = 4000000000ULL;
    m->idle_detected = 1;
    m->threads = threads;
    m->nthreads = 2;
}

/* What every profile test writes from: the stats, the meta, and what the meta points at
 * (fill_meta's lists and threads), so they live as long as the meta. Not to be copied once
 * open: the meta holds pointers into it. */
typedef struct {
    ts_stats_t stats;
    ts_profile_meta_t meta;
    ts_strlist_t only, exclude;
    ts_thread_summary_t threads[2];
} profile_fixture_t;

typedef enum { FIXTURE_EMPTY, FIXTURE_BUILT } fixture_stats_t;

/* Opens `fx`: its stats empty, or build_stats's; its meta fill_meta's. */
static void fixture_open(profile_fixture_t *fx, fixture_stats_t stats)
{
    if (stats == FIXTURE_BUILT)
        build_stats(&fx->stats);
    else
        ts_stats_init(&fx->stats);
    fill_meta(&fx->meta, &fx->only, &fx->exclude, fx->threads);
}

/* Frees what fixture_open allocated (the meta's args, the exclude list; `only` stays empty)
 * and the stats, with all the test added to them. */
static void fixture_close(profile_fixture_t *fx)
{
    ts_strlist_free(&fx->meta.args);
    ts_strlist_free(&fx->exclude);
    ts_stats_free(&fx->stats);
}

/* Writes the profile of `fx` to memory; the caller frees. */
static char *write_profile(const profile_fixture_t *fx, int *status)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    *status = ts_profile_write(out, &fx->stats, &fx->meta);
    fclose(out);
    return buf;
}

/* write_profile, checking that the write succeeded and gave valid JSON (two checks, failing
 * under the calling test's name). The caller frees. */
static char *write_valid_profile(const profile_fixture_t *fx)
{
    int status;
    char *out = write_profile(fx, &status);
    CHECK_EQ_INT(status, 0);
    CHECK(out != NULL && json_valid(out));
    return out;
}

#define CHECK_HAS(text, needle)                                                           \
    do {                                                                                  \
        th_checks++;                                                                      \
        if (strstr(text, needle) == NULL) {                                               \
            th_failures++;                                                                \
            fprintf(stderr, "%s:%d: [%s] output lacks: %s\n", __FILE__, __LINE__,         \
                    th_current, needle);                                                  \
        }                                                                                 \
    } while (0)

#define CHECK_LACKS(text, needle)                                                         \
    do {                                                                                  \
        th_checks++;                                                                      \
        if (strstr(text, needle) != NULL) {                                               \
            th_failures++;                                                                \
            fprintf(stderr, "%s:%d: [%s] output should not contain: %s\n", __FILE__,      \
                    __LINE__, th_current, needle);                                        \
        }                                                                                 \
    } while (0)

/* Feeds `text` to python3 with `script`; its exit status, or -1 when python3 is missing. */
static int run_python(const char *text, const char *script)
{
    char json_path[300], cmd[1200];
    snprintf(json_path, sizeof json_path, "%s/profile.json", tmpdir);
    FILE *f = fopen(json_path, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    fclose(f);
    if (system("command -v python3 >/dev/null 2>&1") != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "python3 -c '%s' < %s", script, json_path);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    char line[512];
    while (fgets(line, sizeof line, p) != NULL)
        fputs(line, stderr);
    int status = pclose(p);
    unlink(json_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Python's reading of the profile: loads, and the numbers add up. */
static const char py_checks[] =
    "import json, sys\n"
    "p = json.load(sys.stdin)\n"
    "lines = [l for f in p[\"files\"].values() for l in f[\"lines\"]]\n"
    "s = sum(l[k] for l in lines for k in (\"cpu_python_pct\", \"cpu_native_pct\", \"cpu_system_pct\"))\n"
    "assert abs(s + p[\"unattributed_pct\"] + 3 - 100) < 1e-6, s\n"  /* +3: os.py not reported */
    "t = p[\"totals\"]\n"
    "assert abs(t[\"cpu_python_pct\"] + t[\"cpu_native_pct\"] + t[\"cpu_system_pct\"] - 100) < 1e-6\n"
    "src = [l[\"source\"] for l in lines if l[\"lineno\"] == 4][0]\n"
    "assert src == \"        html = \\\"</script>\\\" + \\x27<b>\\x27 & \\\"\\\\\\\\\\\"\", repr(src)\n"
    "assert p[\"threads\"][1][\"name\"] == \"thread-102\"\n";

static void test_full_profile(void)
{
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_BUILT);
    char *out = write_valid_profile(&fx);
    if (getenv("TS_TEST_DUMP"))
        fputs(out, stderr);

    /* Header and run facts. */
    CHECK(strncmp(out, "{\"schema\":\"triscope/2\",\"version\":\"0.1.0\",", 41) == 0);
    CHECK_HAS(out, "\"args\":[\"prog.py\",\"--flag=\\\"x\\\"\"]");
    CHECK_HAS(out, "\"python\":\"3.11.7\",\"pid\":4242,\"elapsed_s\":1.5,"
                   "\"started_at\":1700000000.25,"
                   "\"cpu_sampling_interval_s\":0.01,\"samples\":12,");
    CHECK_HAS(out, "\"thread_time_s\":0.00001,");
    CHECK_HAS(out, "\"unattributed_pct\":9,");
    CHECK_HAS(out, "\"totals\":{\"cpu_python_pct\":62,\"cpu_native_pct\":35,\"cpu_system_pct\":3}");
    CHECK_HAS(out, "\"options\":{\"cpu\":true,\"memory\":false,\"gpu\":false,"
                   "\"virtual_time\":false,\"idle\":false,\"async\":false,\"stacks\":true,"
                   "\"reduced_profile\":false,"
                   "\"profile_all\":false,\"profile_only\":[],\"profile_exclude\":[\"vendor/\"],"
                   "\"cpu_percent_threshold\":1.5,\"malloc_threshold\":100}");
    CHECK_HAS(out, "\"threads\":[{\"tid\":101,\"name\":\"MainThread\",\"cpu_s\":2.5,"
                   "\"wait_s\":0.000001,\"idle_s\":0,"
                   "\"timeline\":{\"start_s\":0.5,\"bucket_s\":0.5,\"python\":[0.25,0],"
                   "\"native\":[0.1,0],\"system\":[0.15,0],\"cpu_wait\":[0,0.2],"
                   "\"idle\":[0,0.3]}},"
                   "{\"tid\":102,\"name\":\"thread-102\","
                   "\"cpu_s\":0,\"wait_s\":0,\"idle_s\":4,"
                   "\"timeline\":{\"start_s\":0,\"bucket_s\":0,\"python\":[],\"native\":[],"
                   "\"system\":[],\"cpu_wait\":[],\"idle\":[]}}]");
    /* Idle threads are counted apart; no run-queue delay measured: null, not 0. */
    CHECK_HAS(out, "\"cpu_wait_pct\":null,\"idle\":{\"measured\":true,\"threads\":1,"
                   "\"seconds\":4},");
    CHECK_HAS(out, "\"memory\":{\"enabled\":false,\"native\":false,"
                   "\"sampling_interval_bytes\":0,\"max_footprint_mb\":0,\"alloc_mb\":0,"
                   "\"copy_mb\":0,\"timeline\":[]}");
    CHECK_HAS(out, "\"gpu\":{\"enabled\":false,\"device\":null,\"reason\":null,"
                   "\"accounting\":null,\"busy_s\":0,\"peak_mem_mb\":0,\"unattributed_pct\":0,"
                   "\"poll_cost_us\":0,\"poll_interval_s\":0,\"polls\":0,\"failed_polls\":0,"
                   "\"driver\":null,\"launch_blocking\":false,\"allocator\":null,"
                   "\"visible_devices\":null,\"devices\":[]}");
    CHECK_HAS(out, "\"leaks\":[]");
    CHECK_HAS(out, "\"async\":{\"measured\":false,\"reason\":null,\"seconds\":0,"
                   "\"dropped\":0}");

    /* Files: the profiled ones, not os.py. */
    char key[512];
    /* sha256: of prog_source's bytes as written (Python's hashlib gives the same); a file
     * that cannot be read has none. */
    snprintf(key, sizeof key, "\"files\":{\"%s\":{\"sha256\":\"fe22969b639b44e3cb410254dbe7e6525494"
                              "199c2e13d8fd8b3774bbbb9a470e\",\"cpu_pct\":87,\"cpu_python_pct\":58,"
                              "\"cpu_native_pct\":28,\"cpu_system_pct\":1,\"lines\":[",
             prog_path);
    CHECK_HAS(out, key);
    CHECK_HAS(out, "\"/p/tiny.py\":{\"sha256\":null,\"cpu_pct\":1,");
    CHECK_LACKS(out, "\"/usr/lib/python3/os.py\":{");
    CHECK_LACKS(out, "\"name\":\"walk\",\"lineno\":9");

    /* Lines: 3/4 of the total split into python 50 % and native 25 %. */
    CHECK_HAS(out, "{\"lineno\":2,\"source\":\"    total = 0\",\"cpu_python_pct\":50,"
                   "\"cpu_native_pct\":25,\"cpu_system_pct\":0,\"cpu_samples\":3,"
                   "\"cpu_s\":0.000008,\"gpu_pct\":0,");
    CHECK_HAS(out, "{\"lineno\":3,\"source\":\"    for i in range(10):\",\"cpu_python_pct\":0,"
                   "\"cpu_native_pct\":0,\"cpu_system_pct\":1,\"cpu_samples\":0,");
    /* Source text escaped for JSON and for an HTML <script>. */
    CHECK_HAS(out, "{\"lineno\":4,\"source\":\"        html = \\\"\\u003c/script\\u003e\\\" + "
                   "'\\u003cb\\u003e' \\u0026 \\\"\\\\\\\\\\\"\",\"cpu_python_pct\":4,");
    CHECK_LACKS(out, "</script>");
    CHECK_LACKS(out, "<");
    /* CRLF: the CR is not part of the line; UTF-8 kept; a non-UTF-8 byte replaced. */
    CHECK_HAS(out, "{\"lineno\":5,\"source\":\"    return caf\xc3\xa9\",");
    CHECK_HAS(out, "{\"lineno\":6,\"source\":\"\\tbad = \\ufffd\",");
    CHECK_HAS(out, "{\"lineno\":7,\"source\":\"last_line_without_newline\",");
    CHECK_HAS(out, "{\"lineno\":99,\"source\":\"\",\"cpu_python_pct\":1,");
    /* Lines sorted by number within the file. */
    char *l2 = strstr(out, "{\"lineno\":2,"), *l7 = strstr(out, "{\"lineno\":7,"),
         *l99 = strstr(out, "{\"lineno\":99,");
    CHECK(l2 && l7 && l99 && l2 < l7 && l7 < l99);

    /* Functions: sorted by time, uncharged ones left out, names escaped. */
    char *fmain = strstr(out, "{\"name\":\"main\",\"lineno\":1,\"cpu_python_pct\":54,"
                              "\"cpu_native_pct\":28,\"cpu_system_pct\":1,\"cpu_samples\":7,");
    char *flambda = strstr(out, "{\"name\":\"main.\\u003clocals\\u003e.\\u003clambda\\u003e\","
                                "\"lineno\":4,\"cpu_python_pct\":4,");
    CHECK(fmain != NULL);
    CHECK(flambda != NULL);
    CHECK(fmain && flambda && fmain < flambda);
    CHECK_LACKS(out, "never_charged");

    /* Stacks: aggregated, frames outermost first, as indices into the frame table of
     * [file, function, lineno]. */
    snprintf(key, sizeof key, "\"stack_frames\":[[\"%s\",\"main\",2],"
                              "[\"/usr/lib/python3/os.py\",\"walk\",10]],"
                              "\"stacks\":[{\"frames\":[0,1],\"samples\":2,"
                              "\"seconds\":2}]}\n",
             prog_path);
    CHECK_HAS(out, key);

    int py = run_python(out, py_checks);
    if (py == -1)
        printf("python3 not found: JSON checked by the C validator only\n");
    else
        CHECK_EQ_INT(py, 0);
    free(out);
    fixture_close(&fx);
}

static void test_reduced_profile(void)
{
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_BUILT);
    /* reports/display.py's cut for --cpu-percent-threshold 2 at the default intervals. */
    const ts_line_cut_t cut = {.cpu_pct = 2.0, .mem_pct = 0.0, .alloc_samples = 4};
    fx.meta.kept_lines = &cut; /* keeps lines 2 (75 %), 4 (4 %), 5 (3 %), 6 (2 %) */
    fx.meta.cpu_percent_threshold = 2;
    char *out = write_valid_profile(&fx);
    CHECK_HAS(out, "\"reduced_profile\":true");
    CHECK_HAS(out, "{\"lineno\":2,");
    CHECK_HAS(out, "{\"lineno\":4,");
    CHECK_HAS(out, "{\"lineno\":5,");
    CHECK_HAS(out, "{\"lineno\":6,");      /* exactly at the threshold: kept */
    CHECK_LACKS(out, "{\"lineno\":3,");
    CHECK_LACKS(out, "{\"lineno\":7,");
    CHECK_LACKS(out, "{\"lineno\":99,");
    /* A file whose every line is below the threshold is left out altogether. */
    CHECK_LACKS(out, "\"/p/tiny.py\"");
    /* The file's own totals still count every line. */
    CHECK_HAS(out, "\"cpu_pct\":87,");
    free(out);

    /* Without reduced_profile the threshold hides nothing. */
    fx.meta.kept_lines = NULL;
    fx.meta.cpu_percent_threshold = 50;
    int status;
    out = write_profile(&fx, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_HAS(out, "{\"lineno\":3,");
    CHECK_HAS(out, "\"/p/tiny.py\"");
    free(out);
    fixture_close(&fx);
}

/* Awaited time: seconds on its line and function and in the total, in no percentage; a
 * reduced profile keeps an await line whose share of the time reaches the cut. */
static void test_awaited_time(void)
{
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_EMPTY);
    fx.meta.awaits_asked = fx.meta.awaits_measured = 1;
    fx.meta.awaits_dropped = 2;
    uint32_t fn = ts_stats_func(&fx.stats, ts_stats_file(&fx.stats, "/p/tasks.py", 1), "task", 1);
    ts_stats_add_line(&fx.stats, fn, 2, TS_TIME_PYTHON, 1000000000, 1);
    CHECK_EQ_INT(ts_stats_add_await(&fx.stats, fn, 3, 1500000000), 0); /* 150 % of the time */
    CHECK_EQ_INT(ts_stats_add_await(&fx.stats, fn, 4, 5000000), 0);    /* 0.5 % */
    char *out = write_valid_profile(&fx);
    CHECK_HAS(out, "\"idle\":false,\"async\":true,");
    CHECK_HAS(out, "\"async\":{\"measured\":true,\"reason\":null,\"seconds\":1.505,"
                   "\"dropped\":2}");
    CHECK_HAS(out, "\"totals\":{\"cpu_python_pct\":100,\"cpu_native_pct\":0,"
                   "\"cpu_system_pct\":0}");
    /* An await line spends no time of its own: nothing computed there. */
    CHECK_HAS(out, "\"leak_mb_s\":0,\"core_utilization\":0,\"avg_mb\":0,\"growth_mb\":0,"
                   "\"async_await_s\":1.5}");
    CHECK_HAS(out, "\"name\":\"task\",\"lineno\":1,\"cpu_python_pct\":100,");
    CHECK_HAS(out, "\"async_await_s\":1.505}");
    free(out);
    ts_line_cut_t cut = {.cpu_pct = 1.0, .mem_pct = 0.0, .alloc_samples = 0};
    fx.meta.kept_lines = &cut;
    int status;
    out = write_profile(&fx, &status);
    CHECK_HAS(out, "{\"lineno\":3,");
    CHECK_LACKS(out, "{\"lineno\":4,");
    free(out);
    fx.meta.kept_lines = NULL;
    fx.meta.awaits_measured = 0;
    fx.meta.awaits_reason = "needs Python 3.12 or newer (sys.monitoring)";
    out = write_profile(&fx, &status);
    CHECK_HAS(out, "\"async\":{\"measured\":false,"
                   "\"reason\":\"needs Python 3.12 or newer (sys.monitoring)\",");
    free(out);
    fixture_close(&fx);
}

static void test_empty_and_missing_source(void)
{
    /* Nothing measured: no division by zero, still valid JSON. */
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_EMPTY);
    fx.meta.nthreads = 0;
    char *out = write_valid_profile(&fx);
    CHECK_HAS(out, "\"thread_time_s\":0,\"unattributed_pct\":0,");
    CHECK_HAS(out, "\"files\":{},\"leaks\":[],\"stack_frames\":[],\"stacks\":[]}");
    CHECK_HAS(out, "\"threads\":[]");
    free(out);

    /* A profiled file that no longer exists: its lines are written with empty source. */
    uint32_t gone = ts_stats_file(&fx.stats, "/nonexistent/triscope/gone.py", 1);
    uint32_t fn = ts_stats_func(&fx.stats, gone, "f", 1);
    ts_stats_add_line(&fx.stats, fn, 3, TS_TIME_PYTHON, 10, 1);
    out = write_valid_profile(&fx);
    CHECK_HAS(out, "\"/nonexistent/triscope/gone.py\":{\"sha256\":null,\"cpu_pct\":100,");
    CHECK_HAS(out, "{\"lineno\":3,\"source\":\"\",\"cpu_python_pct\":100,");
    free(out);
    fixture_close(&fx);
}

/* The memory half of the cut: a line below the CPU share is kept with enough allocation
 * samples and share of all allocation; with too few samples, too small a share, or memory
 * out of the cut (alloc_samples 0), it goes. */
static void test_reduced_profile_keeps_allocating_lines(void)
{
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_EMPTY);
    fx.meta.memory = 1;
    uint32_t fn = ts_stats_func(&fx.stats, ts_stats_file(&fx.stats, "/p/mem.py", 1), "f", 1);
    ts_stats_add_line(&fx.stats, fn, 2, TS_TIME_PYTHON, 100, 1); /* all the time */
    uint64_t id = 0;
    for (int i = 0; i < 4; i++, id++) /* 4 samples, 4 of the 7 MiB */
        CHECK_EQ_INT(ts_stats_add_alloc(&fx.stats, fn, 3, id, 1 << 20, 1, 10 + id), 0);
    for (int i = 0; i < 3; i++, id++) /* 3 samples */
        CHECK_EQ_INT(ts_stats_add_alloc(&fx.stats, fn, 4, id, 1 << 20, 1, 10 + id), 0);
    for (int i = 0; i < 4; i++, id++) /* 4 samples, a sliver of the bytes */
        CHECK_EQ_INT(ts_stats_add_alloc(&fx.stats, fn, 5, id, 1 << 10, 1, 10 + id), 0);
    ts_line_cut_t cut = {.cpu_pct = 2.0, .mem_pct = 1.0, .alloc_samples = 4};
    fx.meta.kept_lines = &cut;
    int status;
    char *out = write_profile(&fx, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_HAS(out, "{\"lineno\":2,");
    CHECK_HAS(out, "{\"lineno\":3,");
    CHECK_LACKS(out, "{\"lineno\":4,");
    CHECK_LACKS(out, "{\"lineno\":5,");
    free(out);
    cut.mem_pct = 0.0; /* --reduced-profile's own cut: no allocation share asked for */
    out = write_profile(&fx, &status);
    CHECK_HAS(out, "{\"lineno\":3,");
    CHECK_LACKS(out, "{\"lineno\":4,");
    CHECK_HAS(out, "{\"lineno\":5,");
    free(out);
    cut.alloc_samples = 0;
    out = write_profile(&fx, &status);
    CHECK_HAS(out, "{\"lineno\":2,");
    CHECK_LACKS(out, "{\"lineno\":3,");
    CHECK_LACKS(out, "{\"lineno\":5,");
    free(out);
    /* One 100 MiB allocation is one sample: the volume bar keeps its line, the sample
     * count alone does not. */
    CHECK_EQ_INT(ts_stats_add_alloc(&fx.stats, fn, 6, id++, 100u << 20, 1, 20), 0);
    cut.alloc_samples = 4;
    out = write_profile(&fx, &status);
    CHECK_LACKS(out, "{\"lineno\":6,");
    free(out);
    cut.alloc_mb = 0.98; /* --malloc-threshold 100 */
    out = write_profile(&fx, &status);
    CHECK_HAS(out, "{\"lineno\":6,");
    CHECK_HAS(out, "{\"lineno\":4,"); /* 3 samples, but 3 MiB: the volume keeps it too */
    free(out);
    fixture_close(&fx);
}

/* The memory flame graph's fields: a stack's allocated MB and its live MB at the maximum
 * footprint, written only when memory was profiled. */
static void test_stack_memory_fields(void)
{
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_EMPTY);
    uint32_t fn = ts_stats_func(&fx.stats, ts_stats_file(&fx.stats, "/p/mem.py", 1), "f", 1);
    ts_stack_frame_t frames[] = {{fn, 3}};
    uint32_t stack = ts_stats_stack(&fx.stats, frames, 1);
    /* 3 MiB allocated, 1 of them freed before the other 2 are: 2 MiB live at the peak. */
    CHECK_EQ_INT(ts_stats_add_alloc_on_stack(&fx.stats, fn, 3, stack, 1, 1 << 20, 1, 10), 0);
    CHECK_EQ_INT(ts_stats_free_sample(&fx.stats, 1, 11), 1);
    CHECK_EQ_INT(ts_stats_add_alloc_on_stack(&fx.stats, fn, 3, stack, 2, 2 << 20, 0, 12), 0);
    int status;
    char *out = write_profile(&fx, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_HAS(out, "\"samples\":0,\"seconds\":0}]}");
    CHECK_LACKS(out, "\"seconds\":0,\"alloc_mb\"");
    free(out);
    fx.meta.memory = 1;
    out = write_profile(&fx, &status);
    CHECK_HAS(out, "\"samples\":0,\"seconds\":0,\"alloc_mb\":3,\"peak_mb\":2}]}");
    free(out);
    fixture_close(&fx);
}

/* The frame table: stacks that share frames name them by index, and the table holds each
 * distinct [file, function, lineno] once, in the order the stacks first use them. Two
 * functions of one name in one file (told apart by their first lines) give one triple. */
static void test_frame_table(void)
{
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_EMPTY);
    uint32_t app = ts_stats_file(&fx.stats, "/p/app.py", 1);
    uint32_t lib = ts_stats_file(&fx.stats, "/p/lib.py", 1);
    uint32_t main_fn = ts_stats_func(&fx.stats, app, "main", 1);
    uint32_t other = ts_stats_func(&fx.stats, app, "other", 4);
    uint32_t walk = ts_stats_func(&fx.stats, lib, "walk", 9);
    uint32_t leaf = ts_stats_func(&fx.stats, lib, "leaf", 19);
    uint32_t f_first = ts_stats_func(&fx.stats, app, "f", 30);
    uint32_t f_again = ts_stats_func(&fx.stats, app, "f", 40);
    CHECK(f_first != f_again);
    ts_stack_frame_t a[] = {{main_fn, 2}, {walk, 10}, {leaf, 20}};
    ts_stack_frame_t b[] = {{main_fn, 2}, {walk, 11}};
    ts_stack_frame_t c[] = {{other, 5}, {walk, 10}};
    ts_stack_frame_t d[] = {{f_first, 50}};
    ts_stack_frame_t e[] = {{f_again, 50}};
    CHECK_EQ_INT(ts_stats_add_stack(&fx.stats, a, 3, 4000000, 1), 0);
    CHECK_EQ_INT(ts_stats_add_stack(&fx.stats, b, 2, 3000000, 1), 0);
    CHECK_EQ_INT(ts_stats_add_stack(&fx.stats, c, 2, 2000000, 1), 0);
    CHECK_EQ_INT(ts_stats_add_stack(&fx.stats, d, 1, 1000000, 1), 0);
    CHECK_EQ_INT(ts_stats_add_stack(&fx.stats, e, 1, 1000000, 0), 0);
    CHECK_EQ_INT(fx.stats.nstacks, 5);
    char *out = write_valid_profile(&fx);
    CHECK_HAS(out, "\"stack_frames\":[[\"/p/app.py\",\"main\",2],[\"/p/lib.py\",\"walk\",10],"
                   "[\"/p/lib.py\",\"leaf\",20],[\"/p/lib.py\",\"walk\",11],"
                   "[\"/p/app.py\",\"other\",5],[\"/p/app.py\",\"f\",50]],\"stacks\":[");
    CHECK_HAS(out, "\"stacks\":[{\"frames\":[0,1,2],\"samples\":1,\"seconds\":0.004},"
                   "{\"frames\":[0,3],\"samples\":1,\"seconds\":0.003},"
                   "{\"frames\":[4,1],\"samples\":1,\"seconds\":0.002},"
                   "{\"frames\":[5],\"samples\":1,\"seconds\":0.001},"
                   "{\"frames\":[5],\"samples\":0,\"seconds\":0.001}]}\n");
    /* Each triple once: main:2 is in three stacks' frames, walk:10 in two. */
    const char *main2 = strstr(out, "[\"/p/app.py\",\"main\",2]");
    CHECK(main2 != NULL && strstr(main2 + 1, "[\"/p/app.py\",\"main\",2]") == NULL);
    const char *walk10 = strstr(out, "[\"/p/lib.py\",\"walk\",10]");
    CHECK(walk10 != NULL && strstr(walk10 + 1, "[\"/p/lib.py\",\"walk\",10]") == NULL);
    int status;
    /* The same stats, the same bytes. */
    char *again = write_profile(&fx, &status);
    CHECK(again != NULL && strcmp(out, again) == 0);
    free(again);
    /* Python's reading: every index names the table entry the stack's frame was. */
    int py = run_python(out, "import json, sys\n"
                             "p = json.load(sys.stdin)\n"
                             "t = p[\"stack_frames\"]\n"
                             "got = [[t[i][1:] for i in s[\"frames\"]] for s in p[\"stacks\"]]\n"
                             "assert got == [[[\"main\", 2], [\"walk\", 10], [\"leaf\", 20]],"
                             " [[\"main\", 2], [\"walk\", 11]], [[\"other\", 5], [\"walk\", 10]],"
                             " [[\"f\", 50]], [[\"f\", 50]]], got\n"
                             "assert len(t) == len({tuple(f) for f in t})\n");
    if (py != -1)
        CHECK_EQ_INT(py, 0);
    free(out);
    fixture_close(&fx);
}

/* The profile of a file holding `text`, whose line 2 ran (written to a temporary file), its
 * text decoded by `decode` (NULL: none). */
static char *quoted_line2(const char *text,
                          char *(*decode)(void *, const char *, size_t, size_t *))
{
    char path[300];
    snprintf(path, sizeof path, "%s/enc.py", tmpdir);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return NULL;
    fputs(text, f);
    fclose(f);
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_EMPTY);
    fx.meta.decode_source = decode;
    fx.meta.decode_context = (void *)text;
    uint32_t file = ts_stats_file(&fx.stats, path, 1);
    ts_stats_add_line(&fx.stats, ts_stats_func(&fx.stats, file, "f", 1), 2, TS_TIME_PYTHON, 10, 1);
    char *out = write_valid_profile(&fx);
    fixture_close(&fx);
    unlink(path);
    return out;
}

/* A stand-in for Python's decoding (module.c asks triscope/source.py): Latin-1 to UTF-8,
 * checking that it is given the file's bytes, all of them. */
static char *latin1_decoder(void *context, const char *bytes, size_t len, size_t *text_len)
{
    CHECK_EQ_INT(len, strlen(context));
    CHECK(memcmp(bytes, context, len) == 0);
    char *text = malloc(2 * len);
    size_t n = 0;
    for (size_t i = 0; text != NULL && i < len; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (c >= 0x80) {
            text[n++] = (char)(0xC0 | (c >> 6));
            c = 0x80 | (c & 0x3F);
        }
        text[n++] = (char)c;
    }
    *text_len = n;
    return text;
}

/* A decoder that cannot tell the encoding. */
static char *no_decoder(void *context, const char *bytes, size_t len, size_t *text_len)
{
    (void)context, (void)bytes, (void)len, (void)text_len;
    return NULL;
}

static void test_decoded_source(void)
{
    /* The lines quoted are the decoder's text; the hash is still of the file's bytes. */
    const char *latin1 = "# -*- coding: latin-1 -*-\nx = 'caf\xe9 \xff'\n";
    char *out = quoted_line2(latin1, latin1_decoder);
    CHECK_HAS(out, "{\"lineno\":2,\"source\":\"x = 'caf\xc3\xa9 \xc3\xbf'\",");
    /* sha256 of the bytes above, as hashlib gives it. */
    CHECK_HAS(out, "{\"sha256\":\""
                   "c8a2a0a5aa82b94a31d8e0968427a6789a5b16c60a91f8cbc1c828c163fce9b6\",");
    free(out);
    /* Without a decoder, or when it cannot tell, the bytes are quoted as they are: what is
     * not UTF-8 becomes U+FFFD, never bad JSON. */
    out = quoted_line2(latin1, NULL);
    CHECK_HAS(out, "{\"lineno\":2,\"source\":\"x = 'caf\\ufffd \\ufffd'\",");
    free(out);
    out = quoted_line2(latin1, no_decoder);
    CHECK_HAS(out, "{\"lineno\":2,\"source\":\"x = 'caf\\ufffd \\ufffd'\",");
    free(out);
}

/* A decoder that does what Python may do while the real one runs (the profiler's GIL work
 * draining its queues): it adds files, functions, lines and strings to the stats being
 * written, enough to move every table. */
static ts_stats_t *growing_stats;

static char *growing_decoder(void *context, const char *bytes, size_t len, size_t *text_len)
{
    (void)context;
    for (int i = 0; i < 3000; i++) {
        char path[64];
        snprintf(path, sizeof path, "/p/grown_%d.py", i);
        uint32_t file = ts_stats_file(growing_stats, path, 1);
        uint32_t func = ts_stats_func(growing_stats, file, "grown", 1);
        ts_stats_add_line(growing_stats, func, 1 + i % 7, TS_TIME_PYTHON, 1000000, 1);
    }
    char *text = malloc(len ? len : 1);
    if (text != NULL)
        memcpy(text, bytes, len);
    *text_len = len;
    return text;
}

static void test_stats_growing_while_sources_decode(void)
{
    /* The profile written is the stats as they were when its walk began: every file decoded
     * (two here) is quoted, and the write reads no table the decoder moved (valgrind and
     * ASan would see it; before, a checkpoint crashed). */
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_BUILT);
    growing_stats = &fx.stats;
    fx.meta.decode_source = growing_decoder;
    char *out = write_valid_profile(&fx);
    CHECK_HAS(out, "{\"lineno\":2,\"source\":\"    total = 0\",");
    CHECK(fx.stats.nfiles > 3000);
    free(out);
    fixture_close(&fx);
}

/* `python -c CODE`: CPython names its code "<string>", which no file holds; the source is
 * the code the meta carries. Without it, "<string>" is only a name (exec'd code elsewhere). */
static void test_string_source_of_c_code(void)
{
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_EMPTY);
    uint32_t code = ts_stats_file(&fx.stats, "<string>", 1);
    uint32_t fn = ts_stats_func(&fx.stats, code, "<module>", 1);
    ts_stats_add_line(&fx.stats, fn, 2, TS_TIME_PYTHON, 10, 1);
    int status;
    char *out = write_profile(&fx, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_HAS(out, "\"\\u003cstring\\u003e\":{\"sha256\":null,");
    CHECK_HAS(out, "{\"lineno\":2,\"source\":\"\",");
    free(out);
    fx.meta.string_source = "import time\nwhile True: pass\n";
    out = write_valid_profile(&fx);
    /* sha256 of the code's bytes, as hashlib gives it. */
    CHECK_HAS(out, "\"\\u003cstring\\u003e\":{\"sha256\":\""
                   "0568e02cc56533613041c26893f7f6bfe1b2af1162cd1709f4783681d8ef8615\",");
    CHECK_HAS(out, "{\"lineno\":2,\"source\":\"while True: pass\",");
    free(out);
    fixture_close(&fx);
}

static void test_validator_self_check(void)
{
    /* The validator must reject what the checks above rely on it to reject. */
    CHECK(json_valid("{\"a\":[1,2.5,-0.5e3,true,false,null,\"\\u003c\"]}"));
    CHECK(!json_valid("{\"a\":1,}"));
    CHECK(!json_valid("[1 2]"));
    CHECK(!json_valid("{\"a\"}"));
    CHECK(!json_valid("[NaN]"));
    CHECK(!json_valid("[01]"));
    CHECK(!json_valid("[1.]"));
    CHECK(!json_valid("[\"a\nb\"]"));
    CHECK(!json_valid("[\"\\x\"]"));
    CHECK(!json_valid("{} {}"));
    CHECK(!json_valid("[[]"));
}

/* GPU: gpu_pct is a share of all GPU-busy time, gpu_mem_mb the peak seen on the line; the
 * header carries the device and how it was measured; asked for but off: the reason. */
static void test_gpu_fields(void)
{
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_BUILT);
    uint32_t prog = ts_stats_file(&fx.stats, prog_path, 1);
    uint32_t main_fn = ts_stats_func(&fx.stats, prog, "main", 1);
    ts_stats_add_gpu(&fx.stats, main_fn, 2, 750000000, &(ts_gpu_memory_t){512ull << 20, 0, 0});
    ts_stats_add_gpu(&fx.stats, main_fn, 3, 0, &(ts_gpu_memory_t){256ull << 20, 0, 0});
    ts_stats_add_gpu(&fx.stats, UINT32_MAX, 0, 250000000, NULL);
    ts_gpu_summary_t gpu = {.profiled = 1, .device = "NVIDIA H100", .accounting = "process",
                            .poll_cost_us = 12.5, .poll_interval_s = 0.02, .polls = 50,
                            .failed_polls = 2, .peak_mem_mb = 512.0, .driver = "580.1.2",
                            .launch_blocking = 1, .visible = "GPU-abc", .ndevices = 1,
                            .devices = {{.nvml_index = 3, .cuda_index = 0, .name = "NVIDIA H100",
                                         .uuid = "GPU-abc", .busy_s = 1.0,
                                         .peak_mem_mb = 512.0}}};
    fx.meta.gpu = 1;
    fx.meta.gpu_summary = &gpu;
    char *out = write_valid_profile(&fx);
    CHECK_HAS(out, "\"gpu\":{\"enabled\":true,\"device\":\"NVIDIA H100\",\"reason\":null,"
                   "\"accounting\":\"process\",\"busy_s\":1,\"peak_mem_mb\":512,"
                   "\"unattributed_pct\":25,\"poll_cost_us\":12.5,\"poll_interval_s\":0.02,"
                   "\"polls\":50,\"failed_polls\":2,\"driver\":\"580.1.2\","
                   "\"launch_blocking\":true,\"allocator\":null,\"visible_devices\":\"GPU-abc\","
                   "\"devices\":[{\"index\":3,\"cuda_index\":0,"
                   "\"name\":\"NVIDIA H100\",\"uuid\":\"GPU-abc\",\"busy_s\":1,"
                   "\"peak_mem_mb\":512}]}");
    CHECK_HAS(out, "\"gpu_pct\":75,\"gpu_mem_mb\":512,\"alloc_mb\"");
    CHECK_HAS(out, "\"cpu_samples\":0,\"cpu_s\":0,\"gpu_pct\":0,\"gpu_mem_mb\":256,\"alloc_mb\"");
    CHECK_HAS(out, "{\"name\":\"main\",\"lineno\":1,\"cpu_python_pct\":");
    free(out);

    /* The program used PyTorch's CUDA: its allocator's bytes per line, and the summary,
     * which says where the figures come from. */
    ts_stats_add_gpu(&fx.stats, main_fn, 2, 0, &(ts_gpu_memory_t){512ull << 20, 300ull << 20, 1});
    ts_stats_add_gpu(&fx.stats, main_fn, 3, 0, &(ts_gpu_memory_t){512ull << 20, 100ull << 20, 1});
    fx.meta.torch_allocator = (ts_torchmem_summary_t){.reads = 4,
                                                      .peak_allocated_bytes = 300ull << 20,
                                                      .peak_reserved_bytes = 400ull << 20};
    int status;
    out = write_profile(&fx, &status);
    CHECK(json_valid(out));
    CHECK_HAS(out, "\"gpu_mem_mb\":512,\"gpu_allocated_mb\":300,\"alloc_mb\"");
    CHECK_HAS(out, "\"gpu_mem_mb\":512,\"gpu_allocated_mb\":100,\"alloc_mb\"");
    CHECK_HAS(out, "\"allocator\":{\"source\":\"torch.cuda.memory_allocated\",\"reads\":4,"
                   "\"peak_allocated_mb\":300,\"peak_reserved_mb\":400},");
    free(out);
    fx.meta.torch_allocator = (ts_torchmem_summary_t){0};

    /* Looked for by the default mode, not available: off, and nothing to explain. */
    ts_gpu_summary_t off = {.reason = "no NVIDIA GPU", .device = "", .accounting = "device",
                            .driver = ""};
    fx.meta.gpu_summary = &off;
    out = write_profile(&fx, &status);
    CHECK_HAS(out, "\"gpu\":{\"enabled\":false,\"device\":null,\"reason\":null,");
    free(out);
    /* Asked for (--gpu), not available: off, with the reason. */
    fx.meta.gpu_asked = 1;
    out = write_profile(&fx, &status);
    CHECK_HAS(out, "\"gpu\":{\"enabled\":false,\"device\":null,\"reason\":\"no NVIDIA GPU\","
                   "\"accounting\":null,");
    CHECK_HAS(out, "\"driver\":null,\"launch_blocking\":false,\"allocator\":null,"
                   "\"visible_devices\":null,\"devices\":[]}");
    free(out);
    fixture_close(&fx);
}

/* The per-line figures of docs/DEFINITIONS.md (Core utilization, Memory): the share of a
 * line's time spent computing; live MB averaged over the run; their growth over its second
 * half; the line whose allocation made the sampled live bytes peak. */
static void test_scalene_fields(void)
{
    profile_fixture_t fx;
    fixture_open(&fx, FIXTURE_EMPTY);
    const uint64_t sec = 1000000000ULL, mib = 1024 * 1024;
    fx.meta.memory = 1;
    fx.meta.start_ns = 10 * sec;
    fx.meta.end_ns = 14 * sec; /* a run of 4 s: its middle at 12 s */
    uint32_t file = ts_stats_file(&fx.stats, "/p/mem.py", 1);
    uint32_t fn = ts_stats_func(&fx.stats, file, "work", 1);
    ts_stats_add_line(&fx.stats, fn, 2, TS_TIME_PYTHON, 2 * sec, 1);
    ts_stats_add_line(&fx.stats, fn, 2, TS_TIME_NATIVE, 1 * sec, 1);
    ts_stats_add_line(&fx.stats, fn, 2, TS_TIME_SYSTEM, 1 * sec, 0); /* 3 of 4 s computing */
    ts_stats_add_line(&fx.stats, fn, 3, TS_TIME_SYSTEM, 1 * sec, 0);  /* a sleep: 0 */
    /* Line 6: 1 s on a CPU and 1 s waiting for one (computing time, but not CPU seconds) */
    ts_stats_add_line(&fx.stats, fn, 6, TS_TIME_PYTHON, 1 * sec, 1);
    ts_stats_add_line(&fx.stats, fn, 6, TS_TIME_PYTHON, 1 * sec, 0);
    /* Line 4: 2 MiB live over [10 s, 11 s), then 1 MiB from 13 s to the end:
     * (2 × 1 + 1 × 1) / 4 = 0.75 MiB on average; 0 live at the middle, 1 at the end. */
    CHECK_EQ_INT(ts_stats_add_alloc(&fx.stats, fn, 4, 1, 2 * mib, 0, 10 * sec), 0);
    CHECK_EQ_INT(ts_stats_free_sample(&fx.stats, 1, 11 * sec), 1);
    /* Line 5: 3 MiB from 11.5 s on, a peak of 3 MiB; line 4's second block then makes the
     * run's peak, 4 MiB, so line 4 is the maximum footprint's line. */
    CHECK_EQ_INT(ts_stats_add_alloc(&fx.stats, fn, 5, 3, 3 * mib, 1, 11500000000ULL), 0);
    CHECK_EQ_INT(ts_stats_add_alloc(&fx.stats, fn, 4, 2, 1 * mib, 0, 13 * sec), 0);
    char *out = write_valid_profile(&fx);
    CHECK_HAS(out, "\"lineno\":2,");
    CHECK_HAS(out, "\"leak_mb_s\":0,\"core_utilization\":0.75,\"avg_mb\":0,\"growth_mb\":0,");
    CHECK_HAS(out, "\"leak_mb_s\":0,\"core_utilization\":0,\"avg_mb\":0,\"growth_mb\":0,");
    CHECK_HAS(out, "\"core_utilization\":0,\"avg_mb\":0.75,\"growth_mb\":1,");
    /* 3 MiB over [11.5 s, 14 s): 7.5 / 4 = 1.875 MiB; 3 live at the middle and at the end. */
    CHECK_HAS(out, "\"core_utilization\":0,\"avg_mb\":1.875,\"growth_mb\":0,");
    CHECK_HAS(out, "\"max_footprint_mb\":4,");
    CHECK_HAS(out, "\"max_footprint_line\":{\"file\":\"/p/mem.py\",\"lineno\":4}");
    CHECK_HAS(out, "\"cpu_samples\":2,\"cpu_s\":3,"); /* line 2 */
    CHECK_HAS(out, "\"cpu_samples\":1,\"cpu_s\":1,"); /* line 6 */
    CHECK_HAS(out, "\"cpu_samples\":0,\"cpu_s\":0,"); /* line 3, the sleep */
    free(out);
    /* No allocation: no line made a footprint. */
    ts_stats_free(&fx.stats);
    ts_stats_init(&fx.stats);
    int status;
    out = write_profile(&fx, &status);
    CHECK_HAS(out, "\"max_footprint_line\":null");
    free(out);
    fixture_close(&fx);
}

int main(void)
{
    write_program();
    RUN(test_validator_self_check);
    RUN(test_full_profile);
    RUN(test_reduced_profile);
    RUN(test_reduced_profile_keeps_allocating_lines);
    RUN(test_stack_memory_fields);
    RUN(test_frame_table);
    RUN(test_awaited_time);
    RUN(test_empty_and_missing_source);
    RUN(test_decoded_source);
    RUN(test_stats_growing_while_sources_decode);
    RUN(test_string_source_of_c_code);
    RUN(test_gpu_fields);
    RUN(test_scalene_fields);
    unlink(prog_path);
    rmdir(tmpdir);
    return TEST_DONE();
}
