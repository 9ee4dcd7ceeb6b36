/* SPDX-License-Identifier: MIT
 *
 * test_stackwindow.c — reading frames a window at a time (stackwindow.h), on this process's
 * own memory: two readable pages between two unmapped ones stand for a data-stack chunk
 * above (and below) memory it cannot read. Bytes near the bottom of the readable pages come
 * back (the window stops at the unreadable page instead of failing whole); bytes the window
 * holds are served from it without a new read (it keeps the instant it was read at, so
 * writes after it do not show) and bytes outside it start a new one; bytes in unmapped
 * memory, straddling into it, or at address 0 are refused.
 */
#define _GNU_SOURCE
#include "stackwindow.h"
#include "testhelp.h"

#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

static unsigned char *pages; /* four pages: [1] and [2] readable, [0] and [3] unmapped */
static ts_stack_window_t window;

static void setup(void)
{
    pages = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(pages != MAP_FAILED);
    for (int i = PAGE; i < 3 * PAGE; i++)
        pages[i] = (unsigned char)(i * 7);
    CHECK(munmap(pages, PAGE) == 0);
    CHECK(munmap(pages + 3 * PAGE, PAGE) == 0);
}

static int copy(uintptr_t address, size_t size, unsigned char *out)
{
    return ts_stack_window_copy(&window, getpid(), address, size, out);
}

static int same(const unsigned char *out, int offset, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (out[i] != (unsigned char)((offset + (int)i) * 7))
            return 0;
    return 1;
}

static void test_stops_at_an_unmapped_page(void)
{
    unsigned char out[80];
    ts_stack_window_clear(&window);
    /* 8 KiB below these bytes reach into the unmapped page: the pages above still count. */
    CHECK(copy((uintptr_t)pages + PAGE + 16, sizeof out, out));
    CHECK(same(out, PAGE + 16, sizeof out));
    CHECK(window.start == (uintptr_t)pages + PAGE);
    CHECK(window.end == (uintptr_t)pages + PAGE + 16 + sizeof out);
}

static void test_serves_what_it_holds_and_reads_again_outside(void)
{
    unsigned char out[80];
    ts_stack_window_clear(&window);
    CHECK(copy((uintptr_t)pages + 2 * PAGE + 500, sizeof out, out));
    CHECK(same(out, 2 * PAGE + 500, sizeof out));
    /* A caller's frame further down: served from the same read, as it was then. */
    pages[PAGE + 100] ^= 0xff;
    CHECK(copy((uintptr_t)pages + PAGE + 100, sizeof out, out));
    CHECK(same(out, PAGE + 100, sizeof out));
    pages[PAGE + 100] ^= 0xff;
    /* Above the window: a new read, ending there. */
    uintptr_t before_end = window.end;
    CHECK(copy((uintptr_t)pages + 2 * PAGE + 3000, sizeof out, out));
    CHECK(same(out, 2 * PAGE + 3000, sizeof out));
    CHECK(window.end > before_end);
}

static void test_refuses_what_cannot_be_read(void)
{
    unsigned char out[80];
    ts_stack_window_clear(&window);
    CHECK(!copy((uintptr_t)pages + 100, sizeof out, out));          /* unmapped */
    CHECK(!copy((uintptr_t)pages + PAGE - 8, sizeof out, out));     /* straddles into it */
    CHECK(!copy((uintptr_t)pages + 3 * PAGE - 8, sizeof out, out)); /* past the mapping */
    CHECK(!copy(0, sizeof out, out));
    CHECK(!copy(UINTPTR_MAX - 8, sizeof out, out));                 /* wraps around */
    /* And a readable one after those still reads. */
    CHECK(copy((uintptr_t)pages + 2 * PAGE, sizeof out, out));
    CHECK(same(out, 2 * PAGE, sizeof out));
}

int main(void)
{
    setup();
    RUN(test_stops_at_an_unmapped_page);
    RUN(test_serves_what_it_holds_and_reads_again_outside);
    RUN(test_refuses_what_cannot_be_read);
    CHECK(munmap(pages + PAGE, 2 * PAGE) == 0);
    return TEST_DONE();
}
