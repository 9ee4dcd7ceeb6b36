/* SPDX-License-Identifier: MIT
 *
 * test_linetable.c — the location-table decoder against the interpreter's own answers: a
 * table CPython 3.11 compiled for a function with loops, a multi-line expression, a jump
 * forward of several lines, a try/finally (an instruction with no line) and the end, and
 * PyCode_Addr2Line's line for every instruction offset of it (recorded when the test was
 * written, from -2 to past the end); then hand-made tables for each entry form.
 */
#include "linetable.h"
#include "testhelp.h"

/* def sample(n), first line 2: co_linetable and PyCode_Addr2Line(code, offset) for the
 * offsets -2, 0, 2, ... up to 4 bytes past the last instruction. */
static const uint8_t table[] = {128, 0, 216, 12, 13, 128, 69, 221, 13, 18, 144, 49, 137, 88, 140, 88, 240, 0, 8, 5, 23, 240, 0, 8, 5, 23, 136, 1, 216, 11, 12, 136, 113, 137, 53, 144, 65, 138, 58, 136, 58, 216, 12, 17, 144, 97, 216, 22, 23, 241, 3, 1, 23, 24, 241, 0, 1, 13, 25, 136, 69, 136, 69, 240, 12, 0, 13, 18, 144, 81, 137, 74, 136, 69, 136, 69, 240, 2, 3, 5, 23, 216, 8, 12, 224, 17, 22, 144, 6, 136, 5, 136, 5, 248, 144, 21, 144, 6, 136, 5, 136, 14, 136, 14, 136, 14, 136, 14, 216, 11, 16, 128, 76};
static const int expected[] = {2, 2, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 7, 6, 6, 6, 6, 6, 6, 12, 12, 12, 12, 12, 12, 13, 14, 16, 16, 16, 16, -1, 16, 16, 16, 16, 16, 16, 16, 17, 17, -1, -1};

static void test_matches_interpreter(void)
{
    int count = (int)(sizeof expected / sizeof expected[0]);
    for (int i = 0; i < count; i++) {
        int64_t offset = -2 + 2 * (int64_t)i;
        CHECK_EQ_INT(ts_linetable_line(table, sizeof table, 2, offset), expected[i]);
    }
}

static void test_each_form(void)
{
    /* short form (same line, 2 units), one-line form +2 (1 unit), no-columns form with a
     * delta of -3 (signed varint 7), no-line form (1 unit), long form +100 (varint 200 in
     * two groups: 8 | 64, then 3), end line, columns */
    static const uint8_t forms[] = {
        0x80 | (0 << 3) | 1, 5,
        0x80 | (12 << 3) | 0, 1, 2,
        0x80 | (13 << 3) | 0, 7,
        0x80 | (15 << 3) | 0,
        0x80 | (14 << 3) | 0, 8 | 64, 3, 0, 1, 1,
    };
    CHECK_EQ_INT(ts_linetable_line(forms, sizeof forms, 10, 0), 10);
    CHECK_EQ_INT(ts_linetable_line(forms, sizeof forms, 10, 3), 10); /* odd byte: unit 1 */
    CHECK_EQ_INT(ts_linetable_line(forms, sizeof forms, 10, 4), 12);
    CHECK_EQ_INT(ts_linetable_line(forms, sizeof forms, 10, 6), 9);
    CHECK_EQ_INT(ts_linetable_line(forms, sizeof forms, 10, 8), -1);
    CHECK_EQ_INT(ts_linetable_line(forms, sizeof forms, 10, 10), 109);
    CHECK_EQ_INT(ts_linetable_line(forms, sizeof forms, 10, 12), -1); /* past the end */
    CHECK_EQ_INT(ts_linetable_line(forms, sizeof forms, 10, -2), 10);
}

static void test_truncated_tables(void)
{
    /* Cut inside a varint, or empty: answers without reading past the buffer. */
    static const uint8_t cut[] = {0x80 | (13 << 3) | 0, 64 | 2};
    CHECK_EQ_INT(ts_linetable_line(cut, sizeof cut, 5, 0), 6);
    CHECK_EQ_INT(ts_linetable_line(cut, 0, 5, 0), -1);
    /* A table that does not start at an entry: the stray byte is skipped. */
    static const uint8_t stray[] = {3, 0x80 | (11 << 3) | 0, 0, 0};
    CHECK_EQ_INT(ts_linetable_line(stray, sizeof stray, 5, 0), 6);
}

int main(void)
{
    RUN(test_matches_interpreter);
    RUN(test_each_form);
    RUN(test_truncated_tables);
    return TEST_DONE();
}
