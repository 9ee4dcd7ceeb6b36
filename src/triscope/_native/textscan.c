/* SPDX-License-Identifier: MIT
 *
 * textscan.c — see textscan.h. Owns reading numbers out of text without the C library's
 * scanners. Strict where the library is lenient, since every text read here is the
 * kernel's or the user's and a number that is not there must read as not there: no sign
 * (strtoull would negate "-1" into a huge number), no wrapping on overflow (sscanf's %d has
 * undefined behaviour there, strtoull clamps), at least one digit.
 */
#include "textscan.h"

#include <stddef.h>

/* A digit's value in base 16 (0-15), or 16 for a character that is not a hex digit. */
static unsigned digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (unsigned)(c - 'a') + 10;
    if (c >= 'A' && c <= 'F')
        return (unsigned)(c - 'A') + 10;
    return 16;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

const char *ts_textscan_skip_blanks(const char *text)
{
    while (is_blank(*text))
        text++;
    return text;
}

const char *ts_textscan_skip_word(const char *text)
{
    const char *word = ts_textscan_skip_blanks(text);
    const char *after = word;
    while (*after != '\0' && !is_blank(*after))
        after++;
    return after == word ? NULL : after;
}

/* The digits of `base` (10 or 16) at `cursor`, at least one, into *value. */
static const char *scan_digits(const char *cursor, unsigned base, uint64_t *value)
{
    const char *first = cursor;
    uint64_t total = 0;
    unsigned digit;
    while ((digit = digit_value(*cursor)) < base) {
        if (total > (UINT64_MAX - digit) / base)
            return NULL; /* total * base + digit would not fit */
        total = total * base + digit;
        cursor++;
    }
    if (cursor == first)
        return NULL;
    *value = total;
    return cursor;
}

const char *ts_textscan_decimal(const char *text, uint64_t *value)
{
    return scan_digits(ts_textscan_skip_blanks(text), 10, value);
}

const char *ts_textscan_hex(const char *text, uint64_t *value)
{
    const char *cursor = ts_textscan_skip_blanks(text);
    if (cursor[0] == '0' && (cursor[1] == 'x' || cursor[1] == 'X') &&
        digit_value(cursor[2]) < 16)
        cursor += 2;
    return scan_digits(cursor, 16, value);
}
