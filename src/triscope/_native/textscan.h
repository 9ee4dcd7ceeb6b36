/* SPDX-License-Identifier: MIT
 *
 * textscan.h — unsigned numbers and blank-separated words read out of the kernel's /proc
 * texts and out of $CUDA_VISIBLE_DEVICES, in place of sscanf, strtol, strtoul and strtoull.
 * Built against glibc 2.38 or newer with _GNU_SOURCE (or as C23), those calls bind to
 * glibc's C23 versions (symbol version GLIBC_2.38), and a wheel built there would need
 * glibc 2.38 to load (docs/ARCHITECTURE.md, "No sscanf or strto* in the C core"). Pure C:
 * no libc calls, no allocation, no locale; unit-tested alone (tests/c/test_textscan.c).
 *
 * Each reader takes the text at a position and returns the position just after what it
 * read, or NULL when what it expects is not there; it never reads past a NUL.
 */
#ifndef TS_TEXTSCAN_H
#define TS_TEXTSCAN_H

#include <stdint.h>

/* Past any blanks (space, tab, newline, vertical tab, form feed, carriage return: what
 * isspace says in the C locale). Never NULL. */
const char *ts_textscan_skip_blanks(const char *text);

/* Past any blanks, then past one word (a run of characters that are neither blank nor NUL).
 * NULL when the text holds no further word. */
const char *ts_textscan_skip_word(const char *text);

/* Past any blanks, then an unsigned decimal number into *value. NULL (and *value untouched)
 * when no digit follows the blanks (a sign, "-1", is no digit) or the number does not fit
 * in 64 bits. Reading stops at the first character that is not a digit. */
const char *ts_textscan_decimal(const char *text, uint64_t *value);

/* The same for a hexadecimal number (digits 0-9, a-f, A-F), which may begin with "0x" or
 * "0X" as the kernel writes addresses; like strtoull, "0x" not followed by a hex digit is
 * the number 0, ending before the "x". */
const char *ts_textscan_hex(const char *text, uint64_t *value);

#endif
