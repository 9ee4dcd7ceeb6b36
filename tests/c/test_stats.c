/* SPDX-License-Identifier: MIT
 *
 * test_stats.c — the aggregated profile: stable file/function ids, one add_line charging the
 * line, its function, its file and the total alike, unattributed time, CPU sample counts,
 * and stack aggregation.
 */
#include "stats.h"
#include "testhelp.h"

#include <stdlib.h>

static int same_time(const ts_time_t *a, const ts_time_t *b)
{
    return a->ns[0] == b->ns[0] && a->ns[1] == b->ns[1] && a->ns[2] == b->ns[2] &&
           a->cpu_samples == b->cpu_samples && a->cpu_ns == b->cpu_ns;
}

static void accumulate(ts_time_t *sum, const ts_time_t *t)
{
    for (int k = 0; k < TS_TIME_KINDS; k++)
        sum->ns[k] += t->ns[k];
    sum->cpu_samples += t->cpu_samples;
    sum->cpu_ns += t->cpu_ns;
}

static void test_interning(void)
{
    ts_stats_t s;
    ts_stats_init(&s);
    uint32_t f1 = ts_stats_file(&s, "/p/a.py", 1);
    uint32_t f2 = ts_stats_file(&s, "/usr/lib/python3/os.py", 0);
    CHECK(f1 != UINT32_MAX && f2 != UINT32_MAX && f1 != f2);
    CHECK_EQ_INT(ts_stats_file(&s, "/p/a.py", 1), f1);
    /* The first registration decides `profiled`. */
    CHECK_EQ_INT(ts_stats_file(&s, "/p/a.py", 0), f1);
    CHECK_EQ_INT(s.files[f1].profiled, 1);
    CHECK_EQ_INT(s.files[f2].profiled, 0);
    CHECK_EQ_INT(s.nfiles, 2);
    CHECK_STR(ts_intern_str(&s.strings, s.files[f2].path), "/usr/lib/python3/os.py");

    uint32_t main_fn = ts_stats_func(&s, f1, "main", 1);
    uint32_t work = ts_stats_func(&s, f1, "Worker.run", 10);
    uint32_t work_other_line = ts_stats_func(&s, f1, "Worker.run", 20); /* redefined */
    uint32_t main_in_f2 = ts_stats_func(&s, f2, "main", 1);
    uint32_t ids[] = {main_fn, work, work_other_line, main_in_f2};
    for (size_t i = 0; i < 4; i++) {
        CHECK(ids[i] != UINT32_MAX);
        for (size_t j = i + 1; j < 4; j++)
            CHECK(ids[i] != ids[j]);
    }
    CHECK_EQ_INT(ts_stats_func(&s, f1, "main", 1), main_fn);
    CHECK_EQ_INT(ts_stats_func(&s, f1, "Worker.run", 10), work);
    CHECK_EQ_INT(ts_stats_func(&s, f2, "main", 1), main_in_f2);
    CHECK_EQ_INT(s.nfuncs, 4);
    CHECK_EQ_INT(s.funcs[work].file, f1);
    CHECK_EQ_INT(s.funcs[work].lineno, 10);
    CHECK_STR(ts_intern_str(&s.strings, s.funcs[work].name), "Worker.run");
    CHECK_EQ_INT(s.funcs[main_in_f2].file, f2);
    /* A name that contains ":<digits>" must not alias another (name, lineno) pair. */
    uint32_t tricky1 = ts_stats_func(&s, f1, "a:1", 2);
    uint32_t tricky2 = ts_stats_func(&s, f1, "a", 12);
    CHECK(tricky1 != tricky2);
    /* Very long qualified names (deeply nested closures) are still told apart by line. */
    char long_name[700];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    uint32_t long1 = ts_stats_func(&s, f1, long_name, 1);
    uint32_t long2 = ts_stats_func(&s, f1, long_name, 2);
    CHECK(long1 != long2);
    CHECK_EQ_INT(s.funcs[long2].lineno, 2);

    /* Ids stay stable while the arrays grow. */
    char path[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(path, sizeof path, "/p/gen_%d.py", i);
        uint32_t f = ts_stats_file(&s, path, i % 2);
        CHECK(f != UINT32_MAX);
        ts_stats_func(&s, f, "g", (uint32_t)i);
    }
    CHECK_EQ_INT(ts_stats_file(&s, "/p/a.py", 1), f1);
    CHECK_EQ_INT(ts_stats_func(&s, f1, "Worker.run", 10), work);
    snprintf(path, sizeof path, "/p/gen_%d.py", 4321);
    uint32_t f4321 = ts_stats_file(&s, path, 1);
    CHECK_EQ_INT(s.files[f4321].profiled, 4321 % 2);
    CHECK_STR(ts_intern_str(&s.strings, s.files[f4321].path), "/p/gen_4321.py");
    ts_stats_free(&s);
    CHECK(s.nfiles == 0 && s.files == NULL);
}

static void test_add_line(void)
{
    ts_stats_t s;
    ts_stats_init(&s);
    uint32_t fa = ts_stats_file(&s, "/p/a.py", 1);
    uint32_t fb = ts_stats_file(&s, "/p/b.py", 1);
    uint32_t fa_main = ts_stats_func(&s, fa, "main", 1);
    uint32_t fa_loop = ts_stats_func(&s, fa, "loop", 10);
    uint32_t fb_h = ts_stats_func(&s, fb, "h", 1);

    CHECK(ts_stats_add_line(&s, fa_main, 3, TS_TIME_PYTHON, 1000, 1) == 0);
    CHECK(ts_stats_add_line(&s, fa_main, 3, TS_TIME_NATIVE, 500, 1) == 0);
    CHECK(ts_stats_add_line(&s, fa_main, 4, TS_TIME_SYSTEM, 7000, 0) == 0);
    CHECK(ts_stats_add_line(&s, fa_loop, 12, TS_TIME_PYTHON, 250, 1) == 0);
    CHECK(ts_stats_add_line(&s, fb_h, 3, TS_TIME_PYTHON, 40, 1) == 0); /* same lineno, other file */
    ts_stats_add_unattributed(&s, TS_TIME_NATIVE, 300, 1);
    ts_stats_add_unattributed(&s, TS_TIME_SYSTEM, 11, 0);

    CHECK_EQ_INT(s.nlines, 4);
    /* Find lines by (file, lineno). */
    const ts_line_t *a3 = NULL, *a4 = NULL, *a12 = NULL, *b3 = NULL;
    for (size_t i = 0; i < s.nlines; i++) {
        const ts_line_t *l = &s.lines[i];
        if (l->file == fa && l->lineno == 3) a3 = l;
        if (l->file == fa && l->lineno == 4) a4 = l;
        if (l->file == fa && l->lineno == 12) a12 = l;
        if (l->file == fb && l->lineno == 3) b3 = l;
    }
    CHECK(a3 && a4 && a12 && b3);
    if (!(a3 && a4 && a12 && b3))
        goto done;
    CHECK_EQ_INT(a3->time.ns[TS_TIME_PYTHON], 1000);
    CHECK_EQ_INT(a3->time.ns[TS_TIME_NATIVE], 500);
    CHECK_EQ_INT(a3->time.ns[TS_TIME_SYSTEM], 0);
    CHECK_EQ_INT(a3->time.cpu_samples, 2);
    CHECK_EQ_INT(a3->func, fa_main);
    CHECK_EQ_INT(a4->time.ns[TS_TIME_SYSTEM], 7000);
    CHECK_EQ_INT(a4->time.cpu_samples, 0);
    CHECK_EQ_INT(b3->time.ns[TS_TIME_PYTHON], 40);
    CHECK_EQ_INT(b3->func, fb_h);

    /* Functions: self time of their lines. */
    CHECK_EQ_INT(s.funcs[fa_main].time.ns[TS_TIME_PYTHON], 1000);
    CHECK_EQ_INT(s.funcs[fa_main].time.ns[TS_TIME_NATIVE], 500);
    CHECK_EQ_INT(s.funcs[fa_main].time.ns[TS_TIME_SYSTEM], 7000);
    CHECK_EQ_INT(s.funcs[fa_main].time.cpu_samples, 2);
    CHECK_EQ_INT(ts_time_total(&s.funcs[fa_loop].time), 250);
    /* Files: sums of their lines. */
    CHECK_EQ_INT(ts_time_total(&s.files[fa].time), 1000 + 500 + 7000 + 250);
    CHECK_EQ_INT(s.files[fa].time.cpu_samples, 3);
    CHECK_EQ_INT(ts_time_total(&s.files[fb].time), 40);
    /* Unattributed and total. */
    CHECK_EQ_INT(s.unattributed.ns[TS_TIME_NATIVE], 300);
    CHECK_EQ_INT(s.unattributed.ns[TS_TIME_SYSTEM], 11);
    CHECK_EQ_INT(s.unattributed.cpu_samples, 1);
    CHECK_EQ_INT(s.total.ns[TS_TIME_PYTHON], 1000 + 250 + 40);
    CHECK_EQ_INT(s.total.ns[TS_TIME_NATIVE], 500 + 300);
    CHECK_EQ_INT(s.total.ns[TS_TIME_SYSTEM], 7000 + 11);
    CHECK_EQ_INT(s.total.cpu_samples, 5);

    /* The same line seen later from another function: time accumulates, func is the last. */
    CHECK(ts_stats_add_line(&s, fa_loop, 3, TS_TIME_PYTHON, 1, 1) == 0);
    CHECK_EQ_INT(s.nlines, 4);
    CHECK_EQ_INT(a3->func, fa_loop);
    CHECK_EQ_INT(a3->time.ns[TS_TIME_PYTHON], 1001);
done:
    ts_stats_free(&s);
}

/* Random charges: per kind, Σ lines == Σ functions == Σ files == total - unattributed. */
static void test_consistency(void)
{
    ts_stats_t s;
    ts_stats_init(&s);
    uint32_t funcs[40];
    char path[32], name[32];
    for (int f = 0; f < 8; f++) {
        snprintf(path, sizeof path, "/p/f%d.py", f);
        uint32_t file = ts_stats_file(&s, path, 1);
        for (int k = 0; k < 5; k++) {
            snprintf(name, sizeof name, "fn%d", k);
            funcs[f * 5 + k] = ts_stats_func(&s, file, name, (uint32_t)(k * 100 + 1));
        }
    }
    uint64_t x = 12345;
    uint64_t samples = 0, cpu_ns = 0;
    for (int i = 0; i < 100000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t func = funcs[(x >> 33) % 40];
        uint32_t lineno = (uint32_t)((x >> 40) % 300) + 1;
        ts_time_kind_t kind = (ts_time_kind_t)((x >> 20) % 3);
        uint64_t ns = (x >> 50) + 1;
        /* a Python or native sample is on a CPU, or waiting for one (weight, no sample) */
        int cpu = kind != TS_TIME_SYSTEM && (x >> 12) % 4 != 0;
        samples += cpu;
        cpu_ns += cpu ? ns : 0;
        if ((x >> 8) % 10 == 0)
            ts_stats_add_unattributed(&s, kind, ns, cpu);
        else
            CHECK(ts_stats_add_line(&s, func, lineno, kind, ns, cpu) == 0);
    }
    ts_time_t lines = {.cpu_ns = 0}, fns = {.cpu_ns = 0}, files = {.cpu_ns = 0};
    ts_time_t expect = s.total;
    for (size_t i = 0; i < s.nlines; i++)
        accumulate(&lines, &s.lines[i].time);
    for (size_t i = 0; i < s.nfuncs; i++)
        accumulate(&fns, &s.funcs[i].time);
    for (size_t i = 0; i < s.nfiles; i++)
        accumulate(&files, &s.files[i].time);
    for (int k = 0; k < TS_TIME_KINDS; k++)
        expect.ns[k] -= s.unattributed.ns[k];
    expect.cpu_samples -= s.unattributed.cpu_samples;
    expect.cpu_ns -= s.unattributed.cpu_ns;
    CHECK(same_time(&lines, &expect));
    CHECK(same_time(&fns, &expect));
    CHECK(same_time(&files, &expect));
    CHECK_EQ_INT(s.total.cpu_samples, samples);
    CHECK_EQ_INT(s.total.cpu_ns, cpu_ns);
    CHECK(s.nlines <= 8 * 300);
    CHECK(s.nlines > 8 * 290); /* nearly every (file, line) pair was hit */
    ts_stats_free(&s);
}

static void test_stacks(void)
{
    ts_stats_t s;
    ts_stats_init(&s);
    uint32_t f = ts_stats_file(&s, "/p/a.py", 1);
    uint32_t main_fn = ts_stats_func(&s, f, "main", 1);
    uint32_t work = ts_stats_func(&s, f, "work", 10);
    ts_stack_frame_t ab[] = {{main_fn, 5}, {work, 12}};
    ts_stack_frame_t ab_other_line[] = {{main_fn, 5}, {work, 13}};
    ts_stack_frame_t ba[] = {{work, 12}, {main_fn, 5}};
    ts_stack_frame_t a[] = {{main_fn, 5}};

    CHECK(ts_stats_add_stack(&s, ab, 2, 100, 1) == 0);
    CHECK(ts_stats_add_stack(&s, ab, 2, 50, 1) == 0);
    CHECK(ts_stats_add_stack(&s, ab_other_line, 2, 7, 1) == 0);
    CHECK(ts_stats_add_stack(&s, ba, 2, 1, 1) == 0);
    CHECK(ts_stats_add_stack(&s, a, 1, 2, 1) == 0);
    CHECK(ts_stats_add_stack(&s, ab, 1, 3, 1) == 0); /* prefix of ab == a */
    CHECK(ts_stats_add_stack(&s, a, 1, 10, 0) == 0);  /* waiting time: ns, no sample */
    CHECK_EQ_INT(s.nstacks, 4);
    CHECK_EQ_INT(s.stacks[0].samples, 2);
    CHECK_EQ_INT(s.stacks[0].ns, 150);
    CHECK_EQ_INT(s.stacks[0].depth, 2);
    CHECK_EQ_INT(s.stacks[1].samples, 1);
    CHECK_EQ_INT(s.stacks[1].ns, 7);
    CHECK_EQ_INT(s.stacks[3].samples, 2);
    CHECK_EQ_INT(s.stacks[3].ns, 15);
    const ts_stack_frame_t *pool = &s.frame_pool[s.stacks[1].first];
    CHECK(pool[0].func == main_fn && pool[0].lineno == 5);
    CHECK(pool[1].func == work && pool[1].lineno == 13);
    pool = &s.frame_pool[s.stacks[2].first];
    CHECK(pool[0].func == work && pool[1].func == main_fn);

    /* Many distinct stacks of varying depth, each seen three times. */
    enum { MANY = 3000 };
    ts_stack_frame_t frames[64];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < MANY; i++) {
            uint32_t depth = 1 + (uint32_t)(i % 64);
            for (uint32_t d = 0; d < depth; d++)
                frames[d] = (ts_stack_frame_t){d % 2 ? work : main_fn, (uint32_t)(i * 7 + d)};
            CHECK(ts_stats_add_stack(&s, frames, depth, (uint64_t)i, 1) == 0);
        }
    }
    CHECK_EQ_INT(s.nstacks, 4 + MANY);
    int wrong = 0;
    for (int i = 0; i < MANY; i++) {
        const ts_stack_t *st = &s.stacks[4 + i];
        uint32_t depth = 1 + (uint32_t)(i % 64);
        wrong += st->samples != 3 || st->ns != 3 * (uint64_t)i || st->depth != depth;
        for (uint32_t d = 0; d < st->depth && d < depth; d++)
            wrong += s.frame_pool[st->first + d].lineno != (uint32_t)(i * 7 + d);
    }
    CHECK_EQ_INT(wrong, 0);
    ts_stats_free(&s);
}

static void test_series(void)
{
    ts_series_t series = {0};
    for (int i = 1; i <= 200; i++)
        ts_series_add(&series, (uint64_t)i * 10, i);
    /* Bounded, still spanning the whole run, in time order, ending at the last point. */
    CHECK(series.count <= TS_SERIES_MAX && series.count >= TS_SERIES_MAX / 2);
    CHECK_EQ_INT(series.t_ns[series.count - 1], 2000);
    CHECK_EQ_INT(series.t_ns[0], 10);
    for (uint32_t i = 1; i < series.count; i++)
        CHECK(series.t_ns[i] > series.t_ns[i - 1]);
    CHECK_EQ_INT(ts_series_at(&series, 5), 0);
    CHECK_EQ_INT(ts_series_at(&series, 2000), 200);
    int64_t middle = ts_series_at(&series, 1000);
    CHECK(middle <= 100 && middle >= 90);
}

static void test_memory(void)
{
    ts_stats_t s;
    ts_stats_init(&s);
    uint32_t file = ts_stats_file(&s, "/p/a.py", 1);
    uint32_t f = ts_stats_func(&s, file, "f", 1);
    /* Two Python blocks and one native block at line 3, one copy; one block freed. */
    CHECK(ts_stats_add_alloc(&s, f, 3, 1, 1000, 1, 10) == 0);
    CHECK(ts_stats_add_alloc(&s, f, 3, 2, 3000, 1, 20) == 0);
    CHECK(ts_stats_add_alloc(&s, f, 3, 3, 4000, 0, 30) == 0);
    CHECK(ts_stats_add_copy(&s, f, 3, 500) == 0);
    CHECK_EQ_INT(ts_stats_free_sample(&s, 2, 40), 1);
    CHECK_EQ_INT(ts_stats_free_sample(&s, 2, 50), 0);  /* already freed */
    CHECK_EQ_INT(ts_stats_free_sample(&s, 99, 50), 0); /* never seen: the caller retries */
    /* Unattributed allocation counts in the process total only. */
    CHECK(ts_stats_add_alloc(&s, UINT32_MAX, 0, 4, 100, 0, 60) == 0);
    const ts_line_t *line = &s.lines[0];
    CHECK_EQ_INT(s.nlines, 1);
    CHECK_EQ_INT(line->mem.alloc_bytes, 8000);
    CHECK_EQ_INT(line->mem.python_bytes, 4000);
    CHECK_EQ_INT(line->mem.samples, 3);
    CHECK_EQ_INT(line->mem.freed, 1);
    CHECK_EQ_INT(line->mem.live_bytes, 5000);
    CHECK_EQ_INT(line->mem.peak_bytes, 8000);
    CHECK_EQ_INT(line->mem.copy_bytes, 500);
    CHECK_EQ_INT(s.funcs[f].mem.live_bytes, 5000);
    CHECK_EQ_INT(s.mem_total.alloc_bytes, 8100);
    CHECK_EQ_INT(s.mem_total.live_bytes, 5100);
    CHECK_EQ_INT(s.mem_total.peak_bytes, 8000); /* the 100 came after the free */
    CHECK_EQ_INT(s.mem_unattributed.alloc_bytes, 100);
    CHECK_EQ_INT(ts_series_at(line->mem.timeline, 35), 8000);
    CHECK_EQ_INT(ts_series_at(line->mem.timeline, 45), 5000);
    /* A freed sample's slot is reused by the next one. */
    CHECK(ts_stats_add_alloc(&s, f, 3, 5, 10, 1, 70) == 0);
    CHECK_EQ_INT(s.nlive, 4);
    ts_stats_free(&s);
}

/* Memory by call stack (the memory flame graph): each allocation sample charged to its
 * stack, live until freed, and each stack's live bytes at the moment the whole process
 * first reached its maximum footprint, whatever came later. */
static void test_stack_memory(void)
{
    ts_stats_t s;
    ts_stats_init(&s);
    uint32_t file = ts_stats_file(&s, "/p/a.py", 1);
    uint32_t main_fn = ts_stats_func(&s, file, "main", 1);
    uint32_t make = ts_stats_func(&s, file, "make", 20);
    uint32_t keep = ts_stats_func(&s, file, "keep", 30);
    uint32_t churn = ts_stats_func(&s, file, "churn", 40);
    /* One allocating line (make:21), reached through two callers. */
    ts_stack_frame_t kept[] = {{main_fn, 5}, {keep, 31}, {make, 21}};
    ts_stack_frame_t churned[] = {{main_fn, 6}, {churn, 41}, {make, 21}};
    ts_stack_frame_t late[] = {{main_fn, 7}, {make, 21}};
    uint32_t k = ts_stats_stack(&s, kept, 3), c = ts_stats_stack(&s, churned, 3);
    uint32_t l = ts_stats_stack(&s, late, 2);
    CHECK(k != UINT32_MAX && c != UINT32_MAX && l != UINT32_MAX && k != c && c != l);
    CHECK_EQ_INT(ts_stats_stack(&s, kept, 3), k);
    CHECK_EQ_INT(s.stacks[k].samples, 0); /* a stack of memory only has no time */
    CHECK_EQ_INT(s.stacks[k].ns, 0);

    uint64_t id = 1, t = 0;
    /* churn allocates and frees 100 six times (600 allocated, 100 live at most) while keep
     * builds up 400 that stay: the peak is 500 (keep 400 + churn 100). */
    for (int i = 0; i < 6; i++) {
        CHECK(ts_stats_add_alloc_on_stack(&s, make, 21, c, id, 100, 1, ++t) == 0);
        if (i < 4)
            CHECK(ts_stats_add_alloc_on_stack(&s, make, 21, k, 1000 + id, 100, 0, ++t) == 0);
        CHECK_EQ_INT(ts_stats_free_sample(&s, id, ++t), 1);
        id++;
    }
    /* Then keep frees half, and late allocates 150 (live 350: less than the peak). */
    CHECK_EQ_INT(ts_stats_free_sample(&s, 1001, ++t), 1);
    CHECK_EQ_INT(ts_stats_free_sample(&s, 1002, ++t), 1);
    CHECK(ts_stats_add_alloc_on_stack(&s, make, 21, l, 5000, 150, 1, ++t) == 0);
    /* An untracked sample (id 0) counts, and stays live: its free cannot be seen. */
    CHECK(ts_stats_add_alloc_on_stack(&s, make, 21, l, 0, 10, 1, ++t) == 0);

    CHECK_EQ_INT(s.mem_total.peak_bytes, 500);
    CHECK_EQ_INT(s.stacks[c].alloc_bytes, 600);
    CHECK_EQ_INT(s.stacks[k].alloc_bytes, 400);
    CHECK_EQ_INT(s.stacks[l].alloc_bytes, 160);
    CHECK_EQ_INT(s.stacks[c].live_bytes, 0);
    CHECK_EQ_INT(s.stacks[k].live_bytes, 200);
    CHECK_EQ_INT(s.stacks[l].live_bytes, 160);
    CHECK_EQ_INT(ts_stats_stack_peak_bytes(&s, &s.stacks[k]), 400);
    CHECK_EQ_INT(ts_stats_stack_peak_bytes(&s, &s.stacks[c]), 100);
    CHECK_EQ_INT(ts_stats_stack_peak_bytes(&s, &s.stacks[l]), 0);
    /* The same allocating line holds it all, whichever the stack. */
    CHECK_EQ_INT(s.lines[0].mem.alloc_bytes, 1160);

    /* A new maximum moves the moment for every stack, changed since or not. */
    CHECK(ts_stats_add_alloc_on_stack(&s, make, 21, l, 5001, 400, 1, ++t) == 0);
    CHECK_EQ_INT(s.mem_total.peak_bytes, 760);
    CHECK_EQ_INT(ts_stats_stack_peak_bytes(&s, &s.stacks[k]), 200);
    CHECK_EQ_INT(ts_stats_stack_peak_bytes(&s, &s.stacks[c]), 0);
    CHECK_EQ_INT(ts_stats_stack_peak_bytes(&s, &s.stacks[l]), 560);
    CHECK_EQ_INT(ts_stats_free_sample(&s, 5001, ++t), 1);
    CHECK_EQ_INT(ts_stats_free_sample(&s, 1003, ++t), 1);
    CHECK_EQ_INT(ts_stats_stack_peak_bytes(&s, &s.stacks[l]), 560);
    CHECK_EQ_INT(ts_stats_stack_peak_bytes(&s, &s.stacks[k]), 200);
    /* An allocation with no stack counts in the process only. */
    CHECK(ts_stats_add_alloc_on_stack(&s, make, 21, UINT32_MAX, 6000, 50, 1, ++t) == 0);
    int64_t on_stacks = 0;
    for (size_t i = 0; i < s.nstacks; i++)
        on_stacks += s.stacks[i].live_bytes;
    CHECK_EQ_INT(on_stacks, s.mem_total.live_bytes - 50);

    /* Time and memory on one stack add up apart. */
    CHECK(ts_stats_add_stack(&s, kept, 3, 70, 1) == 0);
    CHECK_EQ_INT(s.stacks[k].ns, 70);
    CHECK_EQ_INT(s.stacks[k].alloc_bytes, 400);
    CHECK_EQ_INT(s.nstacks, 3);
    ts_stats_free(&s);
}

/* Awaited time: on its line and function and in its own total, never in the time that adds
 * up to 100 % (docs/DEFINITIONS.md, Awaited time). */
static void test_awaits(void)
{
    ts_stats_t s;
    ts_stats_init(&s);
    uint32_t fa = ts_stats_file(&s, "/p/a.py", 1);
    uint32_t fa_task = ts_stats_func(&s, fa, "task", 5);
    CHECK(ts_stats_add_line(&s, fa_task, 7, TS_TIME_PYTHON, 100, 1) == 0);
    CHECK(ts_stats_add_await(&s, fa_task, 7, 4000) == 0);
    CHECK(ts_stats_add_await(&s, fa_task, 8, 2000) == 0); /* a line with no CPU time */
    CHECK(ts_stats_add_await(&s, fa_task, 8, 1000) == 0);
    CHECK_EQ_INT(s.nlines, 2);
    for (size_t i = 0; i < s.nlines; i++) {
        const ts_line_t *l = &s.lines[i];
        CHECK_EQ_INT(l->await_ns, l->lineno == 7 ? 4000 : 3000);
        CHECK_EQ_INT(ts_time_total(&l->time), l->lineno == 7 ? 100 : 0);
    }
    CHECK_EQ_INT(s.funcs[fa_task].await_ns, 7000);
    CHECK_EQ_INT(s.await_ns, 7000);
    CHECK_EQ_INT(ts_time_total(&s.total), 100);
    CHECK_EQ_INT(ts_time_total(&s.files[fa].time), 100);
    ts_stats_free(&s);
}

/* A line's CPU samples over time: bucketed from the first sample, and when one lands past
 * the 32nd bucket every line's counts merge pairwise as the width doubles. */
static void test_line_sample_times(void)
{
    ts_stats_t s;
    ts_stats_init(&s);
    uint32_t file = ts_stats_file(&s, "/p/a.py", 1);
    uint32_t fn = ts_stats_func(&s, file, "f", 1);
    const uint64_t t0 = 1000000000ULL, ms = 1000000ULL;
    CHECK_EQ_INT(ts_stats_add_line_at(&s, fn, 2, TS_TIME_PYTHON, 1, 1, t0), 0);             /* bucket 0 */
    CHECK_EQ_INT(ts_stats_add_line_at(&s, fn, 2, TS_TIME_PYTHON, 1, 1, t0 + 120 * ms), 0);  /* bucket 2 */
    CHECK_EQ_INT(ts_stats_add_line_at(&s, fn, 3, TS_TIME_PYTHON, 1, 1, t0 + 1555 * ms), 0); /* 31 */
    CHECK_EQ_INT(ts_stats_add_line_at(&s, fn, 3, TS_TIME_PYTHON, 1, 1, t0 - 5 * ms), 0);    /* late: 0 */
    const ts_line_t *a = &s.lines[0], *b = &s.lines[1];
    CHECK_EQ_INT(a->lineno, 2);
    CHECK_EQ_INT(s.sample_axis.width_ns, TS_LINE_BUCKET_NS);
    CHECK_EQ_INT(a->sample_times[0], 1);
    CHECK_EQ_INT(a->sample_times[2], 1);
    CHECK_EQ_INT(b->sample_times[31], 1);
    CHECK_EQ_INT(b->sample_times[0], 1);
    CHECK_EQ_INT(s.sample_axis.last, 31);
    /* 2 s is past 32 x 50 ms: 100 ms buckets, 0-1 → 0, 2-3 → 1, 30-31 → 15. */
    CHECK_EQ_INT(ts_stats_add_line_at(&s, fn, 2, TS_TIME_PYTHON, 1, 1, t0 + 2000 * ms), 0);
    a = &s.lines[0];
    b = &s.lines[1];
    CHECK_EQ_INT(s.sample_axis.width_ns, 2 * TS_LINE_BUCKET_NS);
    CHECK_EQ_INT(a->sample_times[0], 1);
    CHECK_EQ_INT(a->sample_times[1], 1);
    CHECK_EQ_INT(a->sample_times[20], 1);
    CHECK_EQ_INT(b->sample_times[0], 1);
    CHECK_EQ_INT(b->sample_times[15], 1);
    CHECK_EQ_INT(b->sample_times[31], 0);
    CHECK_EQ_INT(s.sample_axis.last, 20);
    /* An hour later: still 32 buckets, every sample kept. */
    CHECK_EQ_INT(ts_stats_add_line_at(&s, fn, 3, TS_TIME_PYTHON, 1, 1, t0 + 3600000 * ms), 0);
    uint32_t kept = 0;
    for (int i = 0; i < TS_LINE_BUCKETS; i++)
        kept += s.lines[0].sample_times[i] + s.lines[1].sample_times[i];
    CHECK_EQ_INT(kept, 6);
    CHECK(s.sample_axis.width_ns * TS_LINE_BUCKETS > 3600000 * ms);
    ts_stats_free(&s);
}

int main(void)
{
    RUN(test_interning);
    RUN(test_add_line);
    RUN(test_consistency);
    RUN(test_stacks);
    RUN(test_series);
    RUN(test_memory);
    RUN(test_stack_memory);
    RUN(test_awaits);
    RUN(test_line_sample_times);
    return TEST_DONE();
}
