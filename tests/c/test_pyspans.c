/* SPDX-License-Identifier: MIT
 *
 * test_pyspans.c — the spans of Python statements read from source bytes, on the texts
 * where a reader short of Python's tokenizer would go wrong: strings that hold what looks
 * like code (quotes, brackets, colons, "#", keywords), f-strings whose fields hold strings
 * of the same quote and nested fields, \N{...}, brackets and backslashes joining lines,
 * comments and blank lines after a body (not part of it), decorators, if/elif/else chains
 * (each elif an if of its own to the chain's end), try/except*, match/case, one-line
 * bodies, tabs and form feeds, \r and \r\n line ends; and texts that are not Python that
 * ran (NUL, a string or bracket left open) read as none. tests/test_regions.py holds the
 * same reading equal to Python's syntax tree on the standard library.
 */
#include "pyspans.h"
#include "testhelp.h"

/* The spans of `text` written as "first-last word[ name]" lines, in the order found. */
static const char *spans_of(const char *text)
{
    static const char *const words[] = {"def", "for", "async for", "while", "if", "with",
                                        "asyncwith", "try", "trystar", "match"};
    static char out[4096];
    ts_pyspan spans[64];
    long count = ts_pyspans(text, strlen(text), spans, 64);
    if (count < 0)
        return "not python";
    size_t used = 0;
    out[0] = '\0';
    for (long i = 0; i < count && used < sizeof out - 100; i++) {
        used += (size_t)snprintf(out + used, sizeof out - used, "%u-%u %s", spans[i].first,
                                 spans[i].last, words[spans[i].word]);
        if (spans[i].word == TS_SPAN_DEF)
            used += (size_t)snprintf(out + used, sizeof out - used, " %.*s",
                                     (int)spans[i].name_length, text + spans[i].name_at);
        used += (size_t)snprintf(out + used, sizeof out - used, "\n");
    }
    return out;
}

static void test_nesting_and_trailing_comments(void)
{
    CHECK_STR(spans_of("def f(a):\n"
                       "    for x in a:\n"
                       "        while x:\n"
                       "            x -= 1\n"
                       "\n"
                       "        # a comment after the loop's body\n"
                       "    return a\n"
                       "\n"
                       "\n"
                       "x = 1\n"),
              "1-7 def f\n2-4 for\n3-4 while\n");
    CHECK_STR(spans_of("class C:\n    def m(self):\n        pass\n    async def n(self):\n"
                       "        async for x in y:\n            async with z:\n"
                       "                pass\n"),
              "2-3 def m\n4-7 def n\n5-7 async for\n6-7 asyncwith\n");
}

static void test_clauses(void)
{
    CHECK_STR(spans_of("if a:\n    pass\nelif b:\n    pass\nelif c:\n    pass\nelse:\n"
                       "    pass\nx = 1\n"),
              "1-8 if\n3-8 if\n5-8 if\n");
    CHECK_STR(spans_of("try:\n    pass\nexcept* E:\n    pass\nelse:\n    pass\n"),
              "1-6 trystar\n");
    CHECK_STR(spans_of("try:\n    pass\nexcept E:\n    if a:\n        pass\nfinally:\n"
                       "    pass\n"),
              "1-7 try\n4-5 if\n");
    CHECK_STR(spans_of("for x in y:\n    pass\nelse:\n    pass\nwhile 1: pass\n"),
              "1-4 for\n5-5 while\n");
    CHECK_STR(spans_of("if a: b = 1\nelse: b = 2\nif c: d()\n"), "1-2 if\n3-3 if\n");
    CHECK_STR(spans_of("match x:\n    case {1: 2}:\n        if y:\n            pass\n"
                       "    case _:\n        pass\nmatch = 3\n"),
              "1-6 match\n3-4 if\n");
}

static void test_decorators(void)
{
    CHECK_STR(spans_of("@a\n# between\n@b(\n    1)\ndef f():\n    pass\n@c\nclass C:\n"
                       "    pass\n"),
              "1-6 def f\n");
}

static void test_strings_that_look_like_code(void)
{
    CHECK_STR(spans_of("x = '''\nif a:\n    pass\n'''\ndef f():\n    return \"(:#\"\n"),
              "5-6 def f\n");
    CHECK_STR(spans_of("def f():\n    s = r'\\'' + b\"\\\"\" + rb'\\\\'\n    if s: pass\n"),
              "1-3 def f\n3-3 if\n");
    CHECK_STR(spans_of("def f():\n    return '''a\n  b'''\nx = 1\n"), "1-3 def f\n");
    CHECK_STR(spans_of("s = 'a\\\nif b:'\nif c:\n    pass\n"), "3-4 if\n");
}

static void test_fstrings(void)
{
    /* 3.12's: a field holding a string of the f-string's own quote, and a nested field. */
    CHECK_STR(spans_of("def f(d):\n    return f\"{d[\"k\"]:{w}} {{if}}\"\nif a:\n    pass\n"),
              "1-2 def f\n3-4 if\n");
    CHECK_STR(spans_of("def f(d):\n    return f'''{\n        d  # a comment }\n    }'''\n"),
              "1-4 def f\n");
    CHECK_STR(spans_of("x = f\"\\N{BULLET} {x!r:>{w}} {a != b}\"\ndef g():\n    pass\n"),
              "2-3 def g\n");
    CHECK_STR(spans_of("x = rf\"\\{a}\" + t'{b}'\ndef g():\n    pass\n"), "2-3 def g\n");
}

static void test_joined_lines(void)
{
    CHECK_STR(spans_of("def f(a,\n      b):\n    return (a +\n  b)\nx = 1\n"), "1-4 def f\n");
    CHECK_STR(spans_of("def f():\n    return 1 + \\\n        2\nif a:\n    pass  ;\n"),
              "1-3 def f\n4-5 if\n");
    CHECK_STR(spans_of("def f():\r\n    pass\r\nif a:\r    pass\r"), "1-2 def f\n3-4 if\n");
}

static void test_indentation(void)
{
    /* A tab to column 8, as eight spaces; a form feed starts the column again. */
    CHECK_STR(spans_of("if a:\n\tif b:\n\t\tpass\n        pass\n\fif c:\n    pass\n"),
              "1-4 if\n2-3 if\n5-6 if\n");
    CHECK_STR(spans_of("\xef\xbb\xbf" "def f():\n    pass\n"), "1-2 def f\n");
}

static void test_not_python(void)
{
    CHECK_STR(spans_of("x = 'open\n"), "not python");
    CHECK_STR(spans_of("x = (1,\n"), "not python");
    CHECK_STR(spans_of("x = 1)\n"), "not python");
    CHECK_STR(spans_of("x = f'{a'\n"), "not python");
    static const char nul[] = "def f():\n    pass\n\0\n";
    ts_pyspan spans[8];
    CHECK_EQ_INT(ts_pyspans(nul, sizeof nul - 1, spans, 8), TS_PYSPANS_NOT_PYTHON);
    /* No room: said so, nothing written past the room given. */
    static const char three[] = "if a: pass\nelif b: pass\nif c: pass\n";
    ts_pyspan room[3];
    memset(room, 0xab, sizeof room);
    CHECK_EQ_INT(ts_pyspans(three, sizeof three - 1, room, 2), TS_PYSPANS_NO_ROOM);
    CHECK(room[2].first == 0xabababab);
    CHECK_EQ_INT(ts_pyspans(three, sizeof three - 1, room, 3), 3);
}

int main(void)
{
    RUN(test_nesting_and_trailing_comments);
    RUN(test_clauses);
    RUN(test_decorators);
    RUN(test_strings_that_look_like_code);
    RUN(test_fstrings);
    RUN(test_joined_lines);
    RUN(test_indentation);
    RUN(test_not_python);
    return TEST_DONE();
}
