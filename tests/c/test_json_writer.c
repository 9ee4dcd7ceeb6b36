/* SPDX-License-Identifier: MIT
 *
 * test_json_writer.c — the streaming JSON writer, compared byte for byte: separators in
 * nested containers, string escaping (including the HTML-safe '<', '>', '&'), UTF-8
 * validation, number formatting, and finish() reporting misuse.
 */
#include "json_writer.h"
#include "testhelp.h"

#include <math.h>
#include <stdlib.h>

/* One writer over an in-memory stream. */
typedef struct {
    char *buf;
    size_t size;
    FILE *out;
    ts_json_t json;
} sink_t;

static ts_json_t *open_sink(sink_t *sink)
{
    sink->buf = NULL;
    sink->size = 0;
    sink->out = open_memstream(&sink->buf, &sink->size);
    ts_json_init(&sink->json, sink->out);
    return &sink->json;
}

/* Closes the stream; the caller frees the returned text. *status gets finish()'s result. */
static char *close_sink(sink_t *sink, int *status)
{
    *status = ts_json_finish(&sink->json);
    fclose(sink->out);
    return sink->buf;
}

/* Writes one string value inside an array and returns the text between the brackets. */
static char *one_string(const char *text, size_t len)
{
    sink_t sink;
    ts_json_t *j = open_sink(&sink);
    ts_json_begin_array(j);
    ts_json_string_n(j, text, len);
    ts_json_end_array(j);
    int status;
    char *out = close_sink(&sink, &status);
    CHECK_EQ_INT(status, 0);
    size_t n = strlen(out);
    memmove(out, out + 1, n - 2); /* strip [ and ] */
    out[n - 2] = '\0';
    return out;
}

#define CHECK_STRING_OUT(bytes, expected)                       \
    do {                                                        \
        char *th_out = one_string(bytes, sizeof(bytes) - 1);    \
        CHECK_STR(th_out, expected);                            \
        free(th_out);                                           \
    } while (0)

static char *one_number(double value, int digits)
{
    sink_t sink;
    ts_json_t *j = open_sink(&sink);
    ts_json_begin_array(j);
    ts_json_number(j, value, digits);
    ts_json_end_array(j);
    int status;
    char *out = close_sink(&sink, &status);
    CHECK_EQ_INT(status, 0);
    size_t n = strlen(out);
    memmove(out, out + 1, n - 2);
    out[n - 2] = '\0';
    return out;
}

#define CHECK_NUMBER_OUT(value, digits, expected)               \
    do {                                                        \
        char *th_out = one_number(value, digits);               \
        CHECK_STR(th_out, expected);                            \
        free(th_out);                                           \
    } while (0)

/* The writer's own formatting against printf's on 100,000 values (seconds under valgrind,
 * whose test run gives each test 30): every magnitude the fast path takes and beyond, exact
 * ties of binary fractions (0.125 to 2 places: printf rounds the tie to even, "0.12"),
 * decimal near-ties, every digit count the profile uses. */
static void test_numbers_as_printf(void)
{
    uint64_t state = 0x9E3779B97F4A7C15ULL;
    char want[128];
    int mismatches = 0;
    for (int i = 0; i < 100000; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        int digits = (int)(state % 8);
        double value;
        switch (i % 4) {
        case 0: /* anywhere from 1e-9 to 1e13 */
            value = ldexp((double)(state >> 11) / 9007199254740992.0, (int)(state % 74) - 30);
            break;
        case 1: /* a multiple of a power of two: exact ties */
            value = (double)(state >> 40) / (double)(1u << (state % 12));
            break;
        case 2: /* a decimal near-tie: x.xxx5 */
            value = ((double)(state >> 44) + 0.5) / pow(10.0, digits);
            break;
        default: /* a short decimal, as measured seconds and MB are */
            value = (double)(state >> 48) / 1000.0;
            break;
        }
        if (state & 1)
            value = -value;
        CHECK(ts_json_format_printf(want, sizeof want, value, digits) == 0);
        char *got = one_number(value, digits);
        if (strcmp(got, want) != 0 && mismatches++ < 5)
            fprintf(stderr, "%.17g to %d places: %s, printf %s\n", value, digits, got, want);
        free(got);
    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK_NUMBER_OUT(0.125, 2, "0.12");
    CHECK_NUMBER_OUT(0.375, 2, "0.38");
    CHECK_NUMBER_OUT(2.5, 0, "2");
}

static void test_nesting(void)
{
    sink_t sink;
    ts_json_t *j = open_sink(&sink);
    ts_json_begin_object(j);
    ts_json_key(j, "a");
    ts_json_begin_array(j);
    ts_json_int(j, 1);
    ts_json_int(j, -2);
    ts_json_begin_object(j);
    ts_json_key(j, "b"); ts_json_null(j);
    ts_json_key(j, "c"); ts_json_begin_array(j); ts_json_end_array(j);
    ts_json_key(j, "d"); ts_json_begin_object(j); ts_json_end_object(j);
    ts_json_end_object(j);
    ts_json_begin_array(j);
    ts_json_begin_array(j); ts_json_end_array(j);
    ts_json_begin_array(j); ts_json_bool(j, 0); ts_json_end_array(j);
    ts_json_end_array(j);
    ts_json_end_array(j);
    ts_json_key(j, "e"); ts_json_bool(j, 1);
    ts_json_key(j, "f"); ts_json_bool(j, 7); /* any non-zero is true */
    ts_json_key(j, "g"); ts_json_string(j, "x");
    ts_json_key(j, "h"); ts_json_begin_object(j);
    ts_json_key(j, "i"); ts_json_int(j, INT64_MIN);
    ts_json_key(j, "j"); ts_json_int(j, INT64_MAX);
    ts_json_end_object(j);
    ts_json_end_object(j);
    int status;
    char *out = close_sink(&sink, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_STR(out, "{\"a\":[1,-2,{\"b\":null,\"c\":[],\"d\":{}},[[],[false]]],\"e\":true,"
                   "\"f\":true,\"g\":\"x\",\"h\":{\"i\":-9223372036854775808,"
                   "\"j\":9223372036854775807}}");
    free(out);

    /* Objects side by side in an array, and an empty top-level object. */
    j = open_sink(&sink);
    ts_json_begin_array(j);
    for (int i = 0; i < 3; i++) {
        ts_json_begin_object(j);
        ts_json_key(j, "k");
        ts_json_int(j, i);
        ts_json_key(j, "v");
        ts_json_begin_array(j);
        ts_json_int(j, i);
        ts_json_end_array(j);
        ts_json_end_object(j);
    }
    ts_json_end_array(j);
    out = close_sink(&sink, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_STR(out, "[{\"k\":0,\"v\":[0]},{\"k\":1,\"v\":[1]},{\"k\":2,\"v\":[2]}]");
    free(out);

    j = open_sink(&sink);
    ts_json_begin_object(j);
    ts_json_end_object(j);
    out = close_sink(&sink, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_STR(out, "{}");
    free(out);

    /* Exactly the maximum nesting is fine. */
    j = open_sink(&sink);
    for (int i = 0; i < TS_JSON_MAX_NESTING; i++)
        ts_json_begin_array(j);
    for (int i = 0; i < TS_JSON_MAX_NESTING; i++)
        ts_json_end_array(j);
    out = close_sink(&sink, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_EQ_INT(strlen(out), 2 * TS_JSON_MAX_NESTING);
    free(out);
}

static void test_escaping(void)
{
    CHECK_STRING_OUT("plain text", "\"plain text\"");
    CHECK_STRING_OUT("", "\"\"");
    CHECK_STRING_OUT("say \"hi\"", "\"say \\\"hi\\\"\"");
    CHECK_STRING_OUT("C:\\dir\\", "\"C:\\\\dir\\\\\"");
    CHECK_STRING_OUT("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
    CHECK_STRING_OUT("\x01\x08\x0c\x1f", "\"\\u0001\\u0008\\u000c\\u001f\"");
    CHECK_STRING_OUT("a\0b", "\"a\\u0000b\"");
    CHECK_STRING_OUT("</script><!-- & -->",
                     "\"\\u003c/script\\u003e\\u003c!-- \\u0026 --\\u003e\"");
    CHECK_STRING_OUT("/ ' \x7f ~", "\"/ ' \x7f ~\""); /* no escape needed for these */

    /* Keys go through the same escaping. */
    sink_t sink;
    ts_json_t *j = open_sink(&sink);
    ts_json_begin_object(j);
    ts_json_key(j, "/p/<a>\"b\".py");
    ts_json_int(j, 1);
    ts_json_end_object(j);
    int status;
    char *out = close_sink(&sink, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_STR(out, "{\"/p/\\u003ca\\u003e\\\"b\\\".py\":1}");
    free(out);

    /* ts_json_string stops at the NUL; ts_json_string_n writes exactly len bytes. */
    j = open_sink(&sink);
    ts_json_begin_array(j);
    ts_json_string(j, "ab\0cd");
    ts_json_string_n(j, "abcdef", 3);
    ts_json_end_array(j);
    out = close_sink(&sink, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_STR(out, "[\"ab\",\"abc\"]");
    free(out);
}

static void test_utf8(void)
{
    /* Valid multibyte sequences pass through unchanged. */
    CHECK_STRING_OUT("caf\xc3\xa9", "\"caf\xc3\xa9\"");                 /* é, 2 bytes */
    CHECK_STRING_OUT("\xe2\x82\xac", "\"\xe2\x82\xac\"");               /* €, 3 bytes */
    CHECK_STRING_OUT("\xf0\x9f\x98\x80!", "\"\xf0\x9f\x98\x80!\"");     /* 😀, 4 bytes */
    CHECK_STRING_OUT("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");       /* U+10FFFF */
    CHECK_STRING_OUT("\xef\xbf\xbd", "\"\xef\xbf\xbd\"");               /* U+FFFD itself */
    /* Invalid bytes become \ufffd, one per byte that starts no valid sequence. */
    CHECK_STRING_OUT("a\xff" "b", "\"a\\ufffdb\"");
    CHECK_STRING_OUT("\x80", "\"\\ufffd\"");                             /* lone continuation */
    CHECK_STRING_OUT("x\xc3", "\"x\\ufffd\"");                           /* truncated at end */
    CHECK_STRING_OUT("\xc3(", "\"\\ufffd(\"");                           /* bad continuation */
    CHECK_STRING_OUT("\xe2\x82", "\"\\ufffd\\ufffd\"");                  /* truncated 3-byte */
    CHECK_STRING_OUT("\xc0\xaf", "\"\\ufffd\\ufffd\"");                  /* overlong '/' */
    CHECK_STRING_OUT("\xe0\x80\xbc", "\"\\ufffd\\ufffd\\ufffd\"");       /* overlong '<' */
    CHECK_STRING_OUT("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");       /* surrogate D800 */
    CHECK_STRING_OUT("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > 10FFFF */
    CHECK_STRING_OUT("\xf8\x88\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
    /* Latin-1 text (a file that is not UTF-8): é as a single byte, then valid text. */
    CHECK_STRING_OUT("caf\xe9 ok \xc3\xa9", "\"caf\\ufffd ok \xc3\xa9\"");
}

static void test_numbers(void)
{
    CHECK_NUMBER_OUT(0.0, 4, "0");
    CHECK_NUMBER_OUT(2.0, 4, "2");
    CHECK_NUMBER_OUT(100.0, 4, "100");       /* zeros before the point stay */
    CHECK_NUMBER_OUT(100.0, 0, "100");
    CHECK_NUMBER_OUT(0.5, 4, "0.5");
    CHECK_NUMBER_OUT(12.34567, 2, "12.35");
    CHECK_NUMBER_OUT(75.0, 4, "75");
    CHECK_NUMBER_OUT(33.333333, 4, "33.3333");
    CHECK_NUMBER_OUT(0.000049, 4, "0");      /* rounds to zero */
    CHECK_NUMBER_OUT(0.00005, 6, "0.00005");
    CHECK_NUMBER_OUT(-3.5, 1, "-3.5");
    CHECK_NUMBER_OUT(-0.0, 4, "0");
    CHECK_NUMBER_OUT(-0.00001, 4, "0");      /* "-0.0000" is not written as -0 */
    CHECK_NUMBER_OUT(-0.0, 0, "0");
    CHECK_NUMBER_OUT(NAN, 4, "0");
    CHECK_NUMBER_OUT(-NAN, 4, "0");
    CHECK_NUMBER_OUT(INFINITY, 4, "0");
    CHECK_NUMBER_OUT(-INFINITY, 6, "0");
    CHECK_NUMBER_OUT(1e15, 6, "1000000000000000");
    CHECK_NUMBER_OUT(123456789.125, 3, "123456789.125");
    CHECK_NUMBER_OUT(1e20, 2, "100000000000000000000");
    /* Too wide for fixed notation: an exponent form that reads back as the same double. */
    char *out = one_number(1e300, 4);
    CHECK(strchr(out, 'e') != NULL);
    CHECK(strtod(out, NULL) == 1e300);
    free(out);
    out = one_number(-1.5e200, 6);
    CHECK(out[0] == '-' && strtod(out, NULL) == -1.5e200);
    free(out);

    /* Numbers as members get their commas like anything else. */
    sink_t sink;
    ts_json_t *j = open_sink(&sink);
    ts_json_begin_array(j);
    ts_json_number(j, 1.25, 4);
    ts_json_number(j, NAN, 4);
    ts_json_number(j, 3.0, 4);
    ts_json_end_array(j);
    int status;
    out = close_sink(&sink, &status);
    CHECK_EQ_INT(status, 0);
    CHECK_STR(out, "[1.25,0,3]");
    free(out);
}

/* Runs a misuse scenario and returns finish()'s result. */
static int finish_of(int scenario)
{
    sink_t sink;
    ts_json_t *j = open_sink(&sink);
    switch (scenario) {
    case 0: /* object left open */
        ts_json_begin_object(j);
        break;
    case 1: /* array left open inside a closed object */
        ts_json_begin_array(j);
        ts_json_begin_array(j);
        ts_json_end_array(j);
        break;
    case 2: /* one close too many */
        ts_json_begin_array(j);
        ts_json_end_array(j);
        ts_json_end_array(j);
        break;
    case 3: /* dangling key at the end */
        ts_json_begin_object(j);
        ts_json_key(j, "a");
        break;
    case 4: /* key with no value, then the object closed */
        ts_json_begin_object(j);
        ts_json_key(j, "a");
        ts_json_end_object(j);
        break;
    case 5: /* two keys in a row */
        ts_json_begin_object(j);
        ts_json_key(j, "a");
        ts_json_key(j, "b");
        ts_json_int(j, 1);
        ts_json_end_object(j);
        break;
    case 6: /* key at top level */
        ts_json_key(j, "a");
        ts_json_int(j, 1);
        break;
    case 7: /* nesting beyond the maximum */
        for (int i = 0; i <= TS_JSON_MAX_NESTING; i++)
            ts_json_begin_array(j);
        for (int i = 0; i <= TS_JSON_MAX_NESTING; i++)
            ts_json_end_array(j);
        break;
    case 8: /* a key inside an array: `["a":1]` is not JSON */
        ts_json_begin_array(j);
        ts_json_key(j, "a");
        ts_json_int(j, 1);
        ts_json_end_array(j);
        break;
    case 9: /* a value in an object without its key: `{1}` is not JSON */
        ts_json_begin_object(j);
        ts_json_int(j, 1);
        ts_json_end_object(j);
        break;
    case 10: /* a closing bracket of the wrong kind: `[}` */
        ts_json_begin_array(j);
        ts_json_end_object(j);
        break;
    }
    int status;
    free(close_sink(&sink, &status));
    return status;
}

static void test_finish_misuse(void)
{
    CHECK_EQ_INT(finish_of(0), -1);
    CHECK_EQ_INT(finish_of(1), -1);
    CHECK_EQ_INT(finish_of(2), -1);
    CHECK_EQ_INT(finish_of(3), -1);
    CHECK_EQ_INT(finish_of(4), -1);
    CHECK_EQ_INT(finish_of(5), -1);
    CHECK_EQ_INT(finish_of(6), -1);
    CHECK_EQ_INT(finish_of(7), -1);
    /* The header promises 0 only "when everything written was well-formed". */
    CHECK_EQ_INT(finish_of(8), -1);
    CHECK_EQ_INT(finish_of(9), -1);
    CHECK_EQ_INT(finish_of(10), -1);

    /* A stream error (disk full) is reported too. */
    FILE *full = fopen("/dev/full", "w");
    if (full != NULL) {
        setvbuf(full, NULL, _IONBF, 0);
        ts_json_t j;
        ts_json_init(&j, full);
        ts_json_begin_array(&j);
        ts_json_int(&j, 1);
        ts_json_end_array(&j);
        CHECK_EQ_INT(ts_json_finish(&j), -1);
        fclose(full);
    }
}

int main(void)
{
    RUN(test_nesting);
    RUN(test_escaping);
    RUN(test_utf8);
    RUN(test_numbers);
    RUN(test_numbers_as_printf);
    RUN(test_finish_misuse);
    return TEST_DONE();
}
