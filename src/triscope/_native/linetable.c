/* SPDX-License-Identifier: MIT
 *
 * linetable.c — see linetable.h. Pure decoding of bytes already copied out of the target:
 * no Python API, no reads of anyone's memory but the buffer given.
 *
 * The table is a sequence of entries, each covering 1 to 8 code units (2 bytes each). An
 * entry's first byte has its top bit set; bits 3-6 are its form, bits 0-2 its length in
 * code units minus one. The forms say how the line moves from the previous entry's:
 *   15       no line (the instructions belong to no source line; the line does not move)
 *   14       long form: a signed varint line delta, then end line and two columns
 *   13       no columns: a signed varint line delta
 *   10..12   one line: the delta is form - 10, then two column bytes
 *   0..9     short form: same line, one column byte
 * A varint is little-endian in 6-bit groups, bit 6 saying another group follows; a signed
 * one keeps its sign in its lowest bit. Bytes without the top bit continue an entry.
 */
#include "linetable.h"

enum {
    FORM_NONE = 15,
    FORM_LONG = 14,
    FORM_NO_COLUMNS = 13,
    FORM_ONE_LINE0 = 10,
    FORM_ONE_LINE2 = 12,
};

/* An unsigned varint at table[*at], advancing *at; stops at the table's end. */
static uint64_t read_varint(const uint8_t *table, size_t length, size_t *at)
{
    uint64_t value = 0;
    for (unsigned shift = 0; *at < length && shift < 64; shift += 6) {
        uint8_t byte = table[(*at)++];
        value |= (uint64_t)(byte & 63) << shift;
        if (!(byte & 64))
            break;
    }
    return value;
}

static int64_t read_signed_varint(const uint8_t *table, size_t length, size_t *at)
{
    uint64_t value = read_varint(table, length, at);
    return (value & 1) ? -(int64_t)(value >> 1) : (int64_t)(value >> 1);
}

int ts_linetable_line(const uint8_t *table, size_t length, int first_line, int64_t offset)
{
    if (offset < 0)
        return first_line;
    int64_t unit = offset / 2; /* the table counts 2-byte code units */
    int64_t line = first_line;
    int64_t start = 0;
    size_t at = 0;
    while (at < length) {
        uint8_t head = table[at++];
        if (!(head & 128))
            continue; /* not an entry's first byte: a corrupt table, resynchronise */
        int form = (head >> 3) & 15;
        int64_t end = start + (head & 7) + 1;
        size_t next = at;
        if (form == FORM_LONG || form == FORM_NO_COLUMNS)
            line += read_signed_varint(table, length, &next);
        else if (form >= FORM_ONE_LINE0 && form <= FORM_ONE_LINE2)
            line += form - FORM_ONE_LINE0;
        if (unit < end)
            return form == FORM_NONE ? -1 : (int)line;
        start = end;
        /* Skip the rest of the entry: its column fields. */
        while (at < length && !(table[at] & 128))
            at++;
    }
    return -1;
}
