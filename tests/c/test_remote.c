/* SPDX-License-Identifier: MIT
 *
 * test_remote.c — reading a process from outside, tried on this very process: the symbols
 * this executable exports (it is linked with its symbols exported, as a python executable
 * is) are found at the addresses the dynamic linker gave them, load bias included; reads
 * copy what is there, and each failure gives the errno dump.c tells apart; the lines of
 * /proc/PID/maps are read as the search needs them.
 */
#include "remote.h"
#include "testhelp.h"

#include <errno.h>
#include <unistd.h>

/* Exported (non-static) so that they are in the executable's dynamic symbol table. */
long ts_test_marker = 0x5eed;
const char ts_test_text[] = "remote";

static void test_finds_exported_symbols(void)
{
    const char *names[] = {"ts_test_marker", "ts_test_text", "ts_test_no_such_symbol"};
    uint64_t addresses[3] = {1, 1, 1};
    char object[4096] = "";
    CHECK_EQ_INT(ts_remote_find_symbols(getpid(), names, addresses, 3, object, sizeof object), 0);
    CHECK(addresses[0] == (uint64_t)(uintptr_t)&ts_test_marker);
    CHECK(addresses[1] == (uint64_t)(uintptr_t)ts_test_text);
    CHECK_EQ_INT(addresses[2], 0);
    char executable[4096];
    ssize_t length = readlink("/proc/self/exe", executable, sizeof executable - 1);
    CHECK(length > 0);
    executable[length > 0 ? length : 0] = '\0';
    CHECK_STR(object, executable);
}

static void test_reads_memory(void)
{
    long copy = 0;
    CHECK_EQ_INT(ts_remote_read(getpid(), (uint64_t)(uintptr_t)&ts_test_marker, &copy,
                                sizeof copy), 0);
    CHECK_EQ_INT(copy, 0x5eed);
    char text[sizeof ts_test_text];
    CHECK_EQ_INT(ts_remote_read(getpid(), (uint64_t)(uintptr_t)ts_test_text, text,
                                sizeof text), 0);
    CHECK_STR(text, "remote");
}

/* The lines of /proc/PID/maps the symbol search meets: a file's mappings, at offset 0 (its
 * base) and further in; anonymous memory and the kernel's named areas, which map no file. */
static void test_maps_lines(void)
{
    /* A path may hold blanks, and a deleted file keeps its path (with a note after it). */
    static const struct {
        const char *line, *path;
        uint64_t start, offset;
    } files[] = {
        {"55d0c0a00000-55d0c0a28000 r--p 00000000 08:01 1048602                    "
         "/usr/bin/python3.11\n", "/usr/bin/python3.11\n", 0x55d0c0a00000u, 0},
        {"7f13a2c28000-7f13a2dbd000 r-xp 00028000 fd:01 2364  /usr/lib/x86_64-linux-gnu/"
         "libc.so.6\n", "/usr/lib/x86_64-linux-gnu/libc.so.6\n", 0x7f13a2c28000u, 0x28000},
        {"7f0000000000-7f0000001000 r--p 00000000 08:01 77 /tmp/my dir/libpython3.12.so "
         "(deleted)\n", "/tmp/my dir/libpython3.12.so (deleted)\n", 0x7f0000000000u, 0},
    };
    uint64_t start = 1, offset = 1;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t path_at = ts_remote_parse_maps_line(files[i].line, &start, &offset);
        CHECK_STR(files[i].line + path_at, files[i].path);
        CHECK(start == files[i].start);
        CHECK(offset == files[i].offset);
    }
    /* No file. */
    CHECK_EQ_INT(ts_remote_parse_maps_line("7f13a0000000-7f13a0021000 rw-p 00000000 00:00 0 \n",
                                           &start, &offset), 0);
    CHECK_EQ_INT(ts_remote_parse_maps_line("7f13a0000000-7f13a0021000 rw-p 00000000 00:00 0\n",
                                           &start, &offset), 0);
    CHECK_EQ_INT(ts_remote_parse_maps_line("55d0c1e4f000-55d0c1f7a000 rw-p 00000000 00:00 0"
                                           "                          [heap]\n",
                                           &start, &offset), 0);
    CHECK_EQ_INT(ts_remote_parse_maps_line("7ffc8d5f2000-7ffc8d5f4000 r-xp 00000000 00:00 0"
                                           "                          [vdso]\n",
                                           &start, &offset), 0);
    /* Not a mapping at all: a cut line, a missing field, a field that is not a number. */
    CHECK_EQ_INT(ts_remote_parse_maps_line("", &start, &offset), 0);
    CHECK_EQ_INT(ts_remote_parse_maps_line("\n", &start, &offset), 0);
    CHECK_EQ_INT(ts_remote_parse_maps_line("so.6\n", &start, &offset), 0);
    CHECK_EQ_INT(ts_remote_parse_maps_line("55d0c0a00000 r--p 00000000 08:01 1 /x\n",
                                           &start, &offset), 0);
    CHECK_EQ_INT(ts_remote_parse_maps_line("55d0c0a00000- r--p 00000000 08:01 1 /x\n",
                                           &start, &offset), 0);
    CHECK_EQ_INT(ts_remote_parse_maps_line("55d0c0a00000-55d0c0a28000 r--p zz 08:01 1 /x\n",
                                           &start, &offset), 0);
    CHECK_EQ_INT(ts_remote_parse_maps_line("55d0c0a00000-55d0c0a28000 r--p 00000000 08:01\n",
                                           &start, &offset), 0);
    CHECK_EQ_INT(ts_remote_parse_maps_line("55d0c0a00000-55d0c0a28000 r--p 00000000 08:01 /x\n",
                                           &start, &offset), 0);
}

static void test_failures(void)
{
    long copy;
    /* Page 0 is never mapped. */
    errno = 0;
    CHECK_EQ_INT(ts_remote_read(getpid(), 16, &copy, sizeof copy), -1);
    CHECK_EQ_INT(errno, EFAULT);
    /* Above the largest pid the kernel hands out (4194304). */
    pid_t nobody = 4194304 + 1;
    errno = 0;
    CHECK_EQ_INT(ts_remote_read(nobody, (uint64_t)(uintptr_t)&copy, &copy, sizeof copy), -1);
    CHECK_EQ_INT(errno, ESRCH);
    const char *names[] = {"ts_test_no_such_symbol"};
    uint64_t address;
    char object[64];
    errno = 0;
    CHECK_EQ_INT(ts_remote_find_symbols(nobody, names, &address, 1, object, sizeof object), -1);
    CHECK_EQ_INT(errno, ENOENT);
    /* A process whose objects do not export the first name: ESRCH, "not this kind". */
    errno = 0;
    CHECK_EQ_INT(ts_remote_find_symbols(getpid(), names, &address, 1, object, sizeof object),
                 -1);
    CHECK_EQ_INT(errno, ESRCH);
}

int main(void)
{
    RUN(test_finds_exported_symbols);
    RUN(test_reads_memory);
    RUN(test_maps_lines);
    RUN(test_failures);
    return TEST_DONE();
}
