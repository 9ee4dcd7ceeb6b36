/* SPDX-License-Identifier: MIT
 *
 * test_filter.c — which files are profiled: the default rule (under a program directory,
 * not under a library directory even one nested inside it), directory-prefix boundaries,
 * --profile-all, --profile-only, --profile-exclude, and triscope's own files.
 */
#include "filter.h"
#include "testhelp.h"

#include <stdlib.h>

static void add_all(ts_strlist_t *list, const char *const *items)
{
    for (; *items != NULL; items++)
        CHECK(ts_strlist_add(list, *items) == 0);
}

/* A program in /home/u/proj with a virtualenv inside it, and triscope installed there. */
static void make_filter(ts_filter_t *f)
{
    static const char *const program[] = {"/home/u/proj", NULL};
    static const char *const library[] = {
        "/usr/lib/python3.11", "/home/u/proj/.venv/lib/python3.11/site-packages/", NULL};
    static const char *const own[] = {
        "/home/u/proj/.venv/lib/python3.11/site-packages/triscope", NULL};
    memset(f, 0, sizeof *f);
    add_all(&f->program_dirs, program);
    add_all(&f->library_dirs, library);
    add_all(&f->own_dirs, own);
}

static const char *const venv_pkg = "/home/u/proj/.venv/lib/python3.11/site-packages/np/core.py";
static const char *const own_file =
    "/home/u/proj/.venv/lib/python3.11/site-packages/triscope/launch.py";

static void test_strlist(void)
{
    ts_strlist_t list = {NULL, 0};
    char text[] = "abc";
    CHECK(ts_strlist_add(&list, text) == 0);
    text[0] = 'X'; /* the list keeps its own copy */
    CHECK(ts_strlist_add(&list, "") == 0);
    CHECK_EQ_INT(list.count, 2);
    CHECK_STR(list.items[0], "abc");
    CHECK_STR(list.items[1], "");
    ts_strlist_free(&list);
    CHECK(list.count == 0 && list.items == NULL);
}

static void test_default_rule(void)
{
    ts_filter_t f;
    make_filter(&f);
    CHECK(ts_filter_match(&f, "/home/u/proj/main.py"));
    CHECK(ts_filter_match(&f, "/home/u/proj/pkg/sub/mod.py"));
    CHECK(!ts_filter_match(&f, "/usr/lib/python3.11/json/decoder.py"));
    CHECK(!ts_filter_match(&f, "/elsewhere/x.py"));
    CHECK(!ts_filter_match(&f, "<frozen importlib._bootstrap>"));
    CHECK(!ts_filter_match(&f, "<string>"));
    /* A library directory nested inside the program directory still wins. */
    CHECK(!ts_filter_match(&f, venv_pkg));
    /* ...but only under it: the venv's other files are the program's. */
    CHECK(ts_filter_match(&f, "/home/u/proj/.venv/bin/tool.py"));
    CHECK(!ts_filter_is_own(&f, "/home/u/proj/main.py"));
    ts_filter_free(&f);
    CHECK(f.program_dirs.count == 0 && f.own_dirs.count == 0);
}

static void test_prefix_boundary(void)
{
    ts_filter_t f;
    memset(&f, 0, sizeof f);
    CHECK(ts_strlist_add(&f.program_dirs, "/a/b") == 0);
    CHECK(ts_strlist_add(&f.library_dirs, "/a/b/lib/") == 0);
    CHECK(ts_strlist_add(&f.own_dirs, "/a/b/own") == 0);
    CHECK(ts_filter_match(&f, "/a/b/x.py"));
    CHECK(ts_filter_match(&f, "/a/b"));          /* the directory itself */
    CHECK(!ts_filter_match(&f, "/a/bc/x.py"));   /* a sibling with the same prefix */
    CHECK(!ts_filter_match(&f, "/a/b.py"));
    CHECK(!ts_filter_match(&f, "/a/x.py"));
    CHECK(!ts_filter_match(&f, "/a/b/lib/m.py")); /* trailing '/' on the dir ignored */
    CHECK(ts_filter_match(&f, "/a/b/library/m.py"));
    CHECK(ts_filter_is_own(&f, "/a/b/own/x.py"));
    CHECK(!ts_filter_is_own(&f, "/a/b/owner.py"));
    CHECK(ts_filter_match(&f, "/a/b/owner.py"));
    ts_filter_free(&f);

    /* A program in the root directory (`python /app.py`, or WORKDIR / in a container):
     * every absolute path lies under "/". */
    memset(&f, 0, sizeof f);
    CHECK(ts_strlist_add(&f.program_dirs, "/") == 0);
    CHECK(ts_strlist_add(&f.library_dirs, "/usr/lib/python3.11") == 0);
    CHECK(ts_filter_match(&f, "/app.py"));
    CHECK(ts_filter_match(&f, "/srv/app/main.py"));
    CHECK(!ts_filter_match(&f, "/usr/lib/python3.11/os.py"));
    ts_filter_free(&f);
}

/* `triscope .../json/tool.py`: the program's directory lies inside the standard library. The
 * program's own package is profiled; the rest of the standard library is not. */
static void test_program_inside_library(void)
{
    ts_filter_t f = {0};
    CHECK(ts_strlist_add(&f.program_dirs, "/py/lib/python3.11/json") == 0);
    CHECK(ts_strlist_add(&f.library_dirs, "/py/lib/python3.11") == 0);
    CHECK(ts_filter_match(&f, "/py/lib/python3.11/json/tool.py") == 1);
    CHECK(ts_filter_match(&f, "/py/lib/python3.11/json/decoder.py") == 1);
    CHECK(ts_filter_match(&f, "/py/lib/python3.11/argparse.py") == 0);
    ts_filter_free(&f);
}

static void test_profile_all(void)
{
    ts_filter_t f;
    make_filter(&f);
    f.profile_all = 1;
    CHECK(ts_filter_match(&f, "/home/u/proj/main.py"));
    CHECK(ts_filter_match(&f, "/usr/lib/python3.11/json/decoder.py"));
    CHECK(ts_filter_match(&f, venv_pkg));
    CHECK(ts_filter_match(&f, "/elsewhere/x.py"));
    /* Never triscope itself. */
    CHECK(ts_filter_is_own(&f, own_file));
    CHECK(!ts_filter_match(&f, own_file));
    ts_filter_free(&f);
    CHECK_EQ_INT(f.profile_all, 0);
}

static void test_only(void)
{
    ts_filter_t f;
    make_filter(&f);
    CHECK(ts_strlist_add(&f.only, "np/") == 0);
    CHECK(ts_strlist_add(&f.only, "/elsewhere/") == 0);
    /* Matches outside the program directory, even inside a library directory. */
    CHECK(ts_filter_match(&f, venv_pkg));
    CHECK(ts_filter_match(&f, "/elsewhere/x.py"));
    /* Only those: the program's own files no longer match. */
    CHECK(!ts_filter_match(&f, "/home/u/proj/main.py"));
    CHECK(!ts_filter_match(&f, "/usr/lib/python3.11/os.py"));
    /* --profile-all does not widen --profile-only. */
    f.profile_all = 1;
    CHECK(!ts_filter_match(&f, "/home/u/proj/main.py"));
    CHECK(ts_filter_match(&f, "/elsewhere/x.py"));
    /* Own files are never profiled, even when a substring matches them. */
    CHECK(ts_strlist_add(&f.only, "triscope") == 0);
    CHECK(!ts_filter_match(&f, own_file));
    ts_filter_free(&f);

    /* An empty substring matches nothing (it would otherwise match everything). */
    make_filter(&f);
    CHECK(ts_strlist_add(&f.only, "") == 0);
    CHECK(!ts_filter_match(&f, "/home/u/proj/main.py"));
    ts_filter_free(&f);
}

static void test_exclude(void)
{
    ts_filter_t f;
    make_filter(&f);
    CHECK(ts_strlist_add(&f.exclude, "_test") == 0);
    CHECK(ts_strlist_add(&f.exclude, "") == 0); /* ignored, excludes nothing */
    CHECK(ts_filter_match(&f, "/home/u/proj/main.py"));
    CHECK(!ts_filter_match(&f, "/home/u/proj/main_test.py"));
    CHECK(!ts_filter_match(&f, "/home/u/proj/my_tests/a.py"));
    /* Exclude beats --profile-only and --profile-all. */
    CHECK(ts_strlist_add(&f.only, "proj") == 0);
    f.profile_all = 1;
    CHECK(ts_filter_match(&f, "/home/u/proj/main.py"));
    CHECK(!ts_filter_match(&f, "/home/u/proj/main_test.py"));
    ts_filter_free(&f);
}

int main(void)
{
    RUN(test_strlist);
    RUN(test_default_rule);
    RUN(test_prefix_boundary);
    RUN(test_program_inside_library);
    RUN(test_profile_all);
    RUN(test_only);
    RUN(test_exclude);
    return TEST_DONE();
}
