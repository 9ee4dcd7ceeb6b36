/* SPDX-License-Identifier: MIT
 *
 * pyspans.h — the functions, loops and blocks of a Python source file, each as the lines it
 * spans, read from the file's bytes: the regions an optimisation proposal can cover
 * (regions.py; docs/ARCHITECTURE.md, "AI optimization"). The lines are the ones Python's syntax tree
 * gives its statements (a function's first line its first decorator's, a statement's last
 * the last line of the last statement it holds), found by reading the file as Python's
 * tokenizer does (strings, f-strings and their replacement fields, brackets, comments, line
 * joins, indentation) and nothing more: at the end of every run this took the parser about
 * 0.2 ms a KB and the syntax tree's module 1.4 ms to load. Pure C: no allocation, no libc;
 * unit-tested alone (tests/c/test_pyspans.c) and held equal to the syntax tree's spans on
 * every file of the standard library (tests/test_regions.py).
 */
#ifndef TS_PYSPANS_H
#define TS_PYSPANS_H

#include <stddef.h>
#include <stdint.h>

/* The statement a span is, as the syntax tree names it. */
typedef enum {
    TS_SPAN_DEF,        /* function: def and async def */
    TS_SPAN_FOR,        /* loops */
    TS_SPAN_ASYNC_FOR,
    TS_SPAN_WHILE,
    TS_SPAN_IF,         /* blocks (an elif is an if of its own, to the chain's end) */
    TS_SPAN_WITH,
    TS_SPAN_ASYNC_WITH,
    TS_SPAN_TRY,
    TS_SPAN_TRY_STAR,   /* a try whose handlers are except* */
    TS_SPAN_MATCH,
} ts_span_word;

typedef struct {
    uint32_t first, last;          /* line numbers, from 1 */
    uint32_t name_at, name_length; /* a function's name: where its bytes are in the text */
    uint8_t word;                  /* ts_span_word */
    uint32_t chain;                /* while read: the next elif of an if chain, 0 for none */
} ts_pyspan;

#define TS_PYSPANS_NOT_PYTHON (-1)
#define TS_PYSPANS_NO_ROOM (-2)

/* The spans of the text, in the order their statements begin, into `spans` (room for
 * `capacity`); their number, or TS_PYSPANS_NO_ROOM when they are more than `capacity`, or
 * TS_PYSPANS_NOT_PYTHON when the text is not Python that ran: a NUL byte, a string or bracket
 * left open, a bracket closed that was not opened, more levels of indentation or nested
 * f-strings than Python allows. */
long ts_pyspans(const char *text, size_t length, ts_pyspan *spans, size_t capacity);

#endif
