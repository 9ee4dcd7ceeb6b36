/* SPDX-License-Identifier: MIT
 *
 * json_writer.c — see json_writer.h.
 */
#include "json_writer.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void ts_json_init(ts_json_t *json, FILE *out)
{
    memset(json, 0, sizeof *json);
    json->out = out;
}

/* Writes the separator a new value needs at the current position. */
static int in_object(const ts_json_t *json)
{
    return json->depth > 0 && json->closer[json->depth - 1] == '}';
}

/* Writes the separator a new value needs at the current position. A value inside an
 * object needs its key first; a second top-level value is not JSON either. */
static void before_value(ts_json_t *json)
{
    if (json->after_key) {
        json->after_key = 0;
        return;
    }
    if (in_object(json) || (json->depth == 0 && json->count_top++ > 0))
        json->failed = 1;
    if (json->depth > 0 && json->count[json->depth - 1]++ > 0)
        fputc(',', json->out);
}

static void open_level(ts_json_t *json, char bracket, char closer)
{
    before_value(json);
    if (json->depth == TS_JSON_MAX_NESTING) {
        json->failed = 1;
        return;
    }
    fputc(bracket, json->out);
    json->closer[json->depth] = closer;
    json->count[json->depth++] = 0;
}

static void close_level(ts_json_t *json, char bracket)
{
    if (json->depth == 0 || json->after_key || json->closer[json->depth - 1] != bracket) {
        json->failed = 1;
        return;
    }
    json->depth--;
    fputc(bracket, json->out);
}

void ts_json_begin_object(ts_json_t *json) { open_level(json, '{', '}'); }
void ts_json_end_object(ts_json_t *json) { close_level(json, '}'); }
void ts_json_begin_array(ts_json_t *json) { open_level(json, '[', ']'); }
void ts_json_end_array(ts_json_t *json) { close_level(json, ']'); }

/* Length of the valid UTF-8 sequence starting at s (at most `avail` bytes), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
    size_t len;
    uint32_t min;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) { len = 2; min = 0x80; cp = s[0] & 0x1F; }
    else if ((s[0] & 0xF0) == 0xE0) { len = 3; min = 0x800; cp = s[0] & 0x0F; }
    else if ((s[0] & 0xF8) == 0xF0) { len = 4; min = 0x10000; cp = s[0] & 0x07; }
    else return 0;
    if (len > avail)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Printable ASCII that a JSON string, and an HTML <script> holding it, take as it is. */
static int verbatim(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&';
}

static void write_string(ts_json_t *json, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    FILE *out = json->out;
    fputc('"', out);
    for (size_t i = 0; i < len;) {
        /* Runs of plain text in one write: a character at a time took most of the time of
         * writing a profile (every call takes the stream's lock). */
        size_t run = i;
        while (run < len && verbatim(s[run]))
            run++;
        if (run > i) {
            fwrite(s + i, 1, run - i, out);
            i = run;
            continue;
        }
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_sequence(s + i, len - i);
            if (n == 0) {
                fputs("\\ufffd", out);
                i++;
            } else {
                fwrite(s + i, 1, n, out);
                i += n;
            }
            continue;
        }
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '<': case '>': case '&':
            fprintf(out, "\\u%04x", c);
            break;
        default: /* below 0x20: the only characters left */
            fprintf(out, "\\u%04x", c);
        }
        i++;
    }
    fputc('"', out);
}

void ts_json_key(ts_json_t *json, const char *key)
{
    if (json->after_key || !in_object(json)) {
        json->failed = 1;
        return;
    }
    if (json->count[json->depth - 1]++ > 0)
        fputc(',', json->out);
    write_string(json, key, strlen(key));
    fputc(':', json->out);
    json->after_key = 1;
}

void ts_json_string_n(ts_json_t *json, const char *text, size_t len)
{
    before_value(json);
    write_string(json, text, len);
}

void ts_json_string(ts_json_t *json, const char *text)
{
    ts_json_string_n(json, text, strlen(text));
}

/* The decimal digits of `value` written backwards from `end`; returns where they begin. */
static char *digits_before(char *end, uint64_t value)
{
    do {
        *--end = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    return end;
}

void ts_json_int(ts_json_t *json, int64_t value)
{
    char text[24];
    before_value(json);
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    char *first = digits_before(text + sizeof text, magnitude);
    if (value < 0)
        *--first = '-';
    fwrite(first, 1, (size_t)(text + sizeof text - first), json->out);
}

/* `value` as "%.*f" writes it with `digits` decimals, its trailing zeros (and point) dropped,
 * "-0" written "0" (docs/PROFILE_FORMAT.md, Numbers); its length, or -1 where printf must
 * decide. A profile holds thousands of numbers, and glibc's printf spends about 1,500
 * instructions on each; this, about a hundred. printf rounds the double's exact value to
 * the nearest; the scaled product here is within 2^-13 of that exact value below 2^40, so
 * it rounds the same way unless it lies within 0.001 of a tie, left to printf. */
static int fixed_point(char text[static 32], double value, int digits)
{
    static const double powers[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    if (digits < 0 || digits > 9)
        return -1;
    double scaled = fabs(value) * powers[digits];
    if (!(scaled < 1099511627776.0))
        return -1;
    double whole = floor(scaled);
    double fraction = scaled - whole;
    if (fabs(fraction - 0.5) < 1e-3)
        return -1;
    uint64_t units = (uint64_t)whole + (fraction > 0.5);
    uint64_t unit = (uint64_t)powers[digits];
    uint64_t decimals = units % unit;
    char buffer[32];
    char *end = buffer + sizeof buffer;
    char *first = end;
    int shown = digits;
    while (shown > 0 && decimals % 10 == 0) { /* trailing zeros dropped */
        decimals /= 10;
        shown--;
    }
    if (shown > 0) {
        for (int i = 0; i < shown; i++) {
            *--first = (char)('0' + decimals % 10);
            decimals /= 10;
        }
        *--first = '.';
    }
    first = digits_before(first, units / unit);
    if (value < 0 && units != 0)
        *--first = '-';
    int length = (int)(end - first);
    memcpy(text, first, (size_t)length);
    text[length] = '\0';
    return length;
}

int ts_json_format_printf(char *text, size_t size, double value, int digits)
{
    int len = snprintf(text, size, "%.*f", digits, value);
    if (len <= 0 || (size_t)len >= size)
        return -1;
    if (strchr(text, '.') != NULL) {
        while (len > 0 && text[len - 1] == '0')
            text[--len] = '\0';
        if (len > 0 && text[len - 1] == '.')
            text[--len] = '\0';
    }
    if (strcmp(text, "-0") == 0)
        strcpy(text, "0");
    return 0;
}

void ts_json_number(ts_json_t *json, double value, int digits)
{
    char text[64];
    before_value(json);
    if (!isfinite(value))
        value = 0.0;
    if (fixed_point(text, value, digits) >= 0 ||
        ts_json_format_printf(text, sizeof text, value, digits) == 0) {
        fputs(text, json->out);
        return;
    }
    /* Magnitudes beyond %f's buffer: exponent form is still valid JSON. */
    fprintf(json->out, "%.17g", value);
}

void ts_json_bool(ts_json_t *json, int value)
{
    before_value(json);
    fputs(value ? "true" : "false", json->out);
}

void ts_json_null(ts_json_t *json)
{
    before_value(json);
    fputs("null", json->out);
}

int ts_json_finish(ts_json_t *json)
{
    if (json->failed || json->depth != 0 || json->after_key || ferror(json->out))
        return -1;
    return 0;
}
