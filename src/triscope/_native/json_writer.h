/* SPDX-License-Identifier: MIT
 *
 * json_writer.h — a streaming JSON writer to a FILE*. It places commas and colons itself,
 * writes only valid UTF-8 (invalid input bytes become U+FFFD, so a profiled file that is not
 * UTF-8 still yields a loadable profile), escapes what JSON requires plus '<', '>' and '&'
 * (so the JSON can be embedded in an HTML <script> as is), and never writes NaN or
 * infinities (they become 0, which JSON can represent).
 */
#ifndef TS_JSON_WRITER_H
#define TS_JSON_WRITER_H

#include <stdint.h>
#include <stdio.h>

#define TS_JSON_MAX_NESTING 32

typedef struct {
    FILE *out;
    int depth;
    int count[TS_JSON_MAX_NESTING]; /* members written so far at each open level */
    char closer[TS_JSON_MAX_NESTING]; /* '}' for an object level, ']' for an array */
    int after_key;                  /* a key was written; its value comes next */
    int count_top;                  /* values written at the top level (one is allowed) */
    int failed;                     /* sticky: nesting overflow or misuse */
} ts_json_t;

void ts_json_init(ts_json_t *json, FILE *out);
void ts_json_begin_object(ts_json_t *json);
void ts_json_end_object(ts_json_t *json);
void ts_json_begin_array(ts_json_t *json);
void ts_json_end_array(ts_json_t *json);
void ts_json_key(ts_json_t *json, const char *key);
void ts_json_string(ts_json_t *json, const char *text);
void ts_json_string_n(ts_json_t *json, const char *text, size_t len);
void ts_json_int(ts_json_t *json, int64_t value);
/* Doubles with up to `digits` decimals, trailing zeros trimmed. */
void ts_json_number(ts_json_t *json, double value, int digits);
/* The same number as printf's "%.*f" writes it, trailing zeros and point dropped, "-0" as
 * "0", into text; -1 when it does not fit. ts_json_number's own formatting gives the same
 * text faster and leaves near-ties to this (tests/c/test_json_writer.c holds them equal). */
int ts_json_format_printf(char *text, size_t size, double value, int digits);
void ts_json_bool(ts_json_t *json, int value);
void ts_json_null(ts_json_t *json);
/* 0 when everything written was well-formed and the stream had no error, else -1. */
int ts_json_finish(ts_json_t *json);

#endif
