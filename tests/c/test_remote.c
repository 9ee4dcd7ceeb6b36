/* SPDX-License-Identifier: MIT
 *
 * test_remote.c — reading a process from outside, tried on this very process: the symbols
 * this executable exports (it is linked with its symbols exported, as a python executable
 * is) are found at the addresses the dynamic linker gave them, load bias included; reads
 * copy what is there, and each failure gives the errno dump.c tells apart.
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
    RUN(test_failures);
    return TEST_DONE();
}
