/* SPDX-License-Identifier: MIT
 *
 * test_textscan.c — the readers that replace sscanf and strto*: blanks skipped before a
 * number or word; a number needs a digit (no sign: "-1" and "+1" are no number); one that
 * does not fit in 64 bits is no number rather than a wrapped or clamped one; reading stops
 * at the first character that is not a digit, which the caller gets back; hex takes the
 * kernel's "0x" prefix, and "0x" alone reads as 0 as strtoull reads it; a value is left
 * untouched when nothing was read.
 */
#include "textscan.h"
#include "testhelp.h"

/* The number `text` starts with in `base` (10 or 16): its value, and what follows it. */
static const char *scan(const char *text, unsigned base, uint64_t *value)
{
    return base == 16 ? ts_textscan_hex(text, value) : ts_textscan_decimal(text, value);
}

static void expect_number(const char *text, unsigned base, uint64_t expected,
                          const char *rest)
{
    uint64_t value = 7;
    const char *after = scan(text, base, &value);
    CHECK_STR(after, rest);
    CHECK(value == expected);
    if (value != expected)
        fprintf(stderr, "    reading \"%s\" in base %u gave %" PRIu64 "\n", text, base, value);
}

static void expect_no_number(const char *text, unsigned base)
{
    uint64_t value = 7;
    const char *after = scan(text, base, &value);
    CHECK(after == NULL);
    if (after != NULL)
        fprintf(stderr, "    \"%s\" in base %u read as a number, up to \"%s\"\n", text, base,
                after);
    CHECK_EQ_INT(value, 7);
}

static void test_decimal(void)
{
    expect_number("529766656 191663135 429\n", 10, 529766656, " 191663135 429\n");
    expect_number(" \t\n191663135 429\n", 10, 191663135, " 429\n");
    expect_number("429\n", 10, 429, "\n");
    expect_number("0", 10, 0, "");
    expect_number("007", 10, 7, "");
    expect_number("12abc", 10, 12, "abc");
    expect_number("3,1", 10, 3, ",1");
    expect_number("0x10", 10, 0, "x10");           /* no prefix in base 10 */
    expect_number("18446744073709551615 ", 10, UINT64_MAX, " ");
    expect_no_number("18446744073709551616", 10);  /* 2^64 */
    expect_no_number("99999999999999999999", 10);
    expect_no_number("184467440737095516150", 10); /* the largest times ten */
    expect_no_number("", 10);
    expect_no_number("  \n", 10);
    expect_no_number("-1 0x7ffc", 10);             /* a page fault's syscall text */
    expect_no_number("+5", 10);
    expect_no_number("- 5", 10);
    expect_no_number("running\n", 10);
    expect_no_number("abc", 10);
}

static void test_hex(void)
{
    expect_number("0x55d0c0a4 0x189", 16, 0x55d0c0a4u, " 0x189");
    expect_number(" 0x7f00000011b4 0x89", 16, 0x7f00000011b4u, " 0x89");
    expect_number("0X1F", 16, 0x1f, "");
    expect_number("55d0c0a00000-55d0c0a28000 r--p", 16, 0x55d0c0a00000u, "-55d0c0a28000 r--p");
    expect_number("00028000 08:01", 16, 0x28000, " 08:01");
    expect_number("AbCdEf", 16, 0xabcdef, "");
    expect_number("0", 16, 0, "");
    expect_number("0x", 16, 0, "x");               /* as strtoull: the 0, then "x" */
    expect_number("0xg", 16, 0, "xg");
    expect_number("ffffffffffffffff\n", 16, UINT64_MAX, "\n");
    expect_number("0xffffffffffffffff", 16, UINT64_MAX, "");
    expect_number("000000000000000000001", 16, 1, ""); /* leading zeros never overflow */
    expect_no_number("10000000000000000", 16);     /* 2^64 */
    expect_no_number("0x10000000000000000", 16);
    expect_no_number("", 16);
    expect_no_number(" ", 16);
    expect_no_number("-1", 16);
    expect_no_number("+1", 16);
    expect_no_number("g", 16);
    expect_no_number("x1", 16);
}

static void test_blanks_and_words(void)
{
    CHECK_STR(ts_textscan_skip_blanks(" \t\n\v\f\rX "), "X ");
    CHECK_STR(ts_textscan_skip_blanks("X"), "X");
    CHECK_STR(ts_textscan_skip_blanks(""), "");
    CHECK_STR(ts_textscan_skip_blanks("  "), "");
    CHECK_STR(ts_textscan_skip_word("r-xp 00028000"), " 00028000");
    CHECK_STR(ts_textscan_skip_word("  08:01\t1048602"), "\t1048602");
    CHECK_STR(ts_textscan_skip_word("1048602"), "");
    CHECK_STR(ts_textscan_skip_word("0 \n"), " \n");
    CHECK(ts_textscan_skip_word("") == NULL);
    CHECK(ts_textscan_skip_word(" \n") == NULL);
}

int main(void)
{
    RUN(test_decimal);
    RUN(test_hex);
    RUN(test_blanks_and_words);
    return TEST_DONE();
}
