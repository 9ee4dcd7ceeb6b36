/* SPDX-License-Identifier: MIT
 *
 * pyspans.c — see pyspans.h. Owns reading Python source as far as its statements' lines:
 * a logical line at a time (tokens joined across brackets and backslashes, comments and
 * blank lines skipped), then the statements' nesting from the lines' indentation. Must never
 * read past the text or recurse without bound: the text is a profiled file, anything a
 * profile names (docs/ARCHITECTURE.md, "Untrusted inputs").
 */
#include "pyspans.h"

/* Python's own limits (its tokenizer's MAXINDENT and MAXFSTRINGLEVEL): a file beyond them
 * did not run. */
#define MAX_INDENT_LEVELS 100
#define MAX_FSTRING_LEVELS 150

typedef struct {
    const unsigned char *at, *end;
    uint32_t line;
} scanner;

/* The words a logical line can begin with that matter here. */
typedef enum {
    W_OTHER, W_IF, W_ELIF, W_ELSE, W_FOR, W_WHILE, W_TRY, W_EXCEPT, W_FINALLY, W_WITH,
    W_DEF, W_ASYNC, W_MATCH, W_DECORATOR,
} line_word;

typedef struct {
    uint32_t indent;            /* the first token's column, tabs to multiples of 8 */
    uint32_t first, last;       /* the lines of its first token and of its last */
    line_word word, second;     /* its first token, and its second when a word */
    int second_is_star;         /* the second token is "*" (except*) */
    int ends_in_colon;          /* a compound statement's header, its body on lines below */
    const unsigned char *name;  /* the word after `def` (or `async def`) */
    uint32_t name_length;
} logical_line;

static int is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c >= 0x80;
}

static int is_quote(unsigned char c)
{
    return c == '\'' || c == '"';
}

/* Past a line's end (\n, \r\n or \r, each one line as Python counts them), if one is here. */
static int line_end(scanner *s)
{
    if (*s->at == '\n' || *s->at == '\r') {
        if (*s->at == '\r' && s->end - s->at > 1 && s->at[1] == '\n')
            s->at++;
        s->at++;
        s->line++;
        return 1;
    }
    return 0;
}

static void skip_comment(scanner *s)
{
    while (s->at < s->end && *s->at != '\n' && *s->at != '\r')
        s->at++;
}

static int scan_word_or_string(scanner *s, int level);

/* Past an f-string's replacement field, its opening brace read: an expression up to the
 * brace that closes it, or up to a colon beginning its format spec, which may hold fields
 * of its own. */
static int scan_field(scanner *s, int level)
{
    if (level > MAX_FSTRING_LEVELS)
        return -1;
    int depth = 0, in_spec = 0;
    while (s->at < s->end) {
        unsigned char c = *s->at;
        if (line_end(s))
            continue;
        if (in_spec) {  /* text, and nested fields */
            s->at++;
            if (c == '}')
                return 0;
            if (c == '{' && scan_field(s, level + 1) < 0)
                return -1;
            continue;
        }
        if (c == '#') {  /* a comment in a multi-line field (3.12) */
            skip_comment(s);
        } else if (is_quote(c) || is_word_char(c)) {
            if (scan_word_or_string(s, level) < 0)
                return -1;
        } else if (c == '(' || c == '[' || c == '{') {
            depth++;
            s->at++;
        } else if (c == ')' || c == ']' || c == '}') {
            s->at++;
            if (depth == 0)
                return c == '}' ? 0 : -1;
            depth--;
        } else if (c == ':' && depth == 0) {
            in_spec = 1;  /* a lambda or := at this level would need brackets */
            s->at++;
        } else if (c == '!' && depth == 0 && s->end - s->at > 1 && s->at[1] == '=') {
            s->at += 2;  /* the operator, not a conversion */
        } else {
            s->at++;
        }
    }
    return -1;
}

/* Past a string whose opening quote is at s->at (its prefix read): `raw` without escapes,
 * `formatted` (f and t strings) with replacement fields. A backslash keeps the next
 * character from closing the string, in raw strings too, but never escapes a field's brace;
 * \N{...} names a character in an escaped formatted string. */
static int scan_string(scanner *s, int raw, int formatted, int level)
{
    unsigned char quote = *s->at;
    int triple = s->end - s->at >= 3 && s->at[1] == quote && s->at[2] == quote;
    s->at += triple ? 3 : 1;
    while (s->at < s->end) {
        unsigned char c = *s->at;
        if (c == quote && (!triple || (s->end - s->at >= 3 && s->at[1] == quote &&
                                       s->at[2] == quote))) {
            s->at += triple ? 3 : 1;
            return 0;
        }
        if (line_end(s))
            continue;
        s->at++;
        if (c == '\\') {
            if (s->at == s->end)
                return -1;
            if (formatted && (*s->at == '{' || *s->at == '}'))
                continue;
            if (formatted && !raw && *s->at == 'N' && s->end - s->at > 1 && s->at[1] == '{') {
                while (s->at < s->end && *s->at != '}' && !is_quote(*s->at))
                    s->at++;
                continue;
            }
            if (!line_end(s))
                s->at++;
        } else if (formatted && c == '{') {
            if (s->at < s->end && *s->at == '{')
                s->at++;  /* a brace written twice is one */
            else if (scan_field(s, level + 1) < 0)
                return -1;
        }
    }
    return -1;
}

/* Past a name, keyword or number, or past the string it prefixes: 1 for a string, 0 for a
 * word, -1 for a string left open. */
static int scan_word_or_string(scanner *s, int level)
{
    const unsigned char *start = s->at;
    while (s->at < s->end && is_word_char(*s->at))
        s->at++;
    size_t length = (size_t)(s->at - start);
    if (s->at == s->end || !is_quote(*s->at) || length > 2)
        return 0;
    int raw = 0, formatted = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = start[i] | 0x20;  /* lower case */
        if (c == 'r')
            raw = 1;
        else if (c == 'f' || c == 't')
            formatted = 1;
        else if (c != 'b' && c != 'u')
            return 0;  /* a word, then a string */
    }
    return scan_string(s, raw, formatted, level) < 0 ? -1 : 1;
}

static line_word word_of(const unsigned char *word, size_t length)
{
    static const struct { const char *text; line_word word; } words[] = {
        {"if", W_IF}, {"elif", W_ELIF}, {"else", W_ELSE}, {"for", W_FOR},
        {"while", W_WHILE}, {"try", W_TRY}, {"except", W_EXCEPT}, {"finally", W_FINALLY},
        {"with", W_WITH}, {"def", W_DEF}, {"async", W_ASYNC}, {"match", W_MATCH},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        const char *text = words[i].text;
        size_t at = 0;
        while (at < length && text[at] != '\0' && text[at] == (char)word[at])
            at++;
        if (at == length && text[at] == '\0')
            return words[i].word;
    }
    return W_OTHER;
}

/* The next logical line into *line: 1, or 0 at the text's end, or -1 on a text that is not
 * Python. Blank lines and comments between logical lines are passed over. */
static int next_logical_line(scanner *s, logical_line *line)
{
    uint32_t column = 0;
    for (;;) {  /* the indentation of the next line that holds a token */
        if (s->at == s->end)
            return 0;
        unsigned char c = *s->at;
        if (c == ' ') {
            column++;
        } else if (c == '\t') {
            column = (column / 8 + 1) * 8;
        } else if (c == '\f') {
            column = 0;
        } else if (c == '#') {
            skip_comment(s);
            continue;
        } else if (line_end(s)) {
            column = 0;
            continue;
        } else if (c == '\\' && s->end - s->at > 1 &&
                   (s->at[1] == '\n' || s->at[1] == '\r')) {
            s->at++;  /* a line joined to the next before any token */
            line_end(s);
            continue;
        } else {
            break;
        }
        s->at++;
    }
    *line = (logical_line){.indent = column, .first = s->line};
    int depth = 0, tokens = 0;
    while (s->at < s->end) {
        unsigned char c = *s->at;
        if (c == ' ' || c == '\t' || c == '\f') {
            s->at++;
            continue;
        }
        if (c == '#') {
            skip_comment(s);
            continue;
        }
        if (c == '\\' && s->end - s->at > 1 && (s->at[1] == '\n' || s->at[1] == '\r')) {
            s->at++;
            line_end(s);
            continue;
        }
        if (line_end(s)) {
            if (depth == 0)
                return 1;
            continue;
        }
        const unsigned char *start = s->at;
        int colon = 0, word = 0;
        if (is_quote(c) || is_word_char(c)) {
            int kind = scan_word_or_string(s, 0);
            if (kind < 0)
                return -1;
            word = kind == 0;
        } else if (c == '(' || c == '[' || c == '{') {
            depth++;
            s->at++;
        } else if (c == ')' || c == ']' || c == '}') {
            if (depth == 0)
                return -1;
            depth--;
            s->at++;
        } else if (c == ':' && s->end - s->at > 1 && s->at[1] == '=') {
            s->at += 2;
        } else {
            colon = c == ':' && depth == 0;
            s->at++;
        }
        tokens++;
        size_t length = (size_t)(s->at - start);
        if (tokens == 1) {
            line->word = word ? word_of(start, length) : c == '@' ? W_DECORATOR : W_OTHER;
        } else if (tokens == 2) {
            line->second = word ? word_of(start, length) : W_OTHER;
            line->second_is_star = c == '*';
        }
        if (word && ((tokens == 2 && line->word == W_DEF) ||
                     (tokens == 3 && line->word == W_ASYNC && line->second == W_DEF))) {
            line->name = start;
            line->name_length = (uint32_t)length;
        }
        line->ends_in_colon = colon;
        if (c != ';')  /* a statement's end is that of its last token, not of a ";" */
            line->last = s->line;
    }
    return depth == 0 ? 1 : -1;  /* the text's end ends the line */
}

/* A compound statement whose span is still open: its indentation, and its span (the first
 * of its if chain's). */
typedef struct {
    uint32_t indent;
    uint32_t span;
} open_statement;

/* The span a logical line opens, or -1 for none. */
static int span_word(const logical_line *line)
{
    switch (line->word) {
    case W_DEF: return TS_SPAN_DEF;
    case W_FOR: return TS_SPAN_FOR;
    case W_WHILE: return TS_SPAN_WHILE;
    case W_IF: return TS_SPAN_IF;
    case W_WITH: return TS_SPAN_WITH;
    case W_TRY: return TS_SPAN_TRY;
    case W_MATCH: return line->ends_in_colon ? TS_SPAN_MATCH : -1;  /* a soft keyword */
    case W_ASYNC:
        return line->second == W_DEF ? TS_SPAN_DEF : line->second == W_FOR ? TS_SPAN_ASYNC_FOR
               : line->second == W_WITH ? TS_SPAN_ASYNC_WITH : -1;
    default: return -1;
    }
}

/* Closes the open statements indented at least `indent`: they end where the last logical
 * line before ended, each span of an if chain alike. */
static void close_statements(open_statement *open, int *count, uint32_t indent, uint32_t last,
                             ts_pyspan *spans)
{
    while (*count > 0 && open[*count - 1].indent >= indent) {
        uint32_t at = open[--*count].span;
        for (;;) {
            spans[at].last = last;
            if (spans[at].chain == 0)
                break;
            at = spans[at].chain;
        }
    }
}

long ts_pyspans(const char *text, size_t length, ts_pyspan *spans, size_t capacity)
{
    scanner s = {(const unsigned char *)text, (const unsigned char *)text + length, 1};
    for (const unsigned char *at = s.at; at < s.end; at++)
        if (*at == 0)
            return TS_PYSPANS_NOT_PYTHON;  /* Python refuses a source holding one anywhere */
    /* A byte order mark is no token. */
    if (length >= 3 && s.at[0] == 0xef && s.at[1] == 0xbb && s.at[2] == 0xbf)
        s.at += 3;
    open_statement open[MAX_INDENT_LEVELS + 1];
    int open_count = 0;
    size_t found = 0;
    uint32_t previous_last = 0, decorated_from = 0;
    uint32_t chain_tail[MAX_INDENT_LEVELS + 1];  /* the last elif of each open statement */
    logical_line line;
    int read;
    while ((read = next_logical_line(&s, &line)) > 0) {
        int clause = line.word == W_ELIF || line.word == W_ELSE || line.word == W_EXCEPT ||
                     line.word == W_FINALLY;
        if (clause) {
            /* A clause continues the statement its indentation opened. */
            close_statements(open, &open_count, line.indent + 1, previous_last, spans);
            if (open_count > 0 && open[open_count - 1].indent == line.indent) {
                open_statement *statement = &open[open_count - 1];
                if (line.word == W_EXCEPT && line.second_is_star &&
                    spans[statement->span].word == TS_SPAN_TRY)
                    spans[statement->span].word = TS_SPAN_TRY_STAR;
                if (line.word == W_ELIF) {
                    if (found == capacity)
                        return TS_PYSPANS_NO_ROOM;
                    spans[found] = (ts_pyspan){.first = line.first, .word = TS_SPAN_IF};
                    spans[chain_tail[open_count - 1]].chain = (uint32_t)found;
                    chain_tail[open_count - 1] = (uint32_t)found++;
                }
            }
        } else {
            close_statements(open, &open_count, line.indent, previous_last, spans);
            if (line.word == W_DECORATOR) {
                if (decorated_from == 0)
                    decorated_from = line.first;
            } else {
                int word = span_word(&line);
                uint32_t first = decorated_from != 0 ? decorated_from : line.first;
                decorated_from = 0;
                if (word >= 0) {
                    if (open_count > MAX_INDENT_LEVELS)
                        return TS_PYSPANS_NOT_PYTHON;
                    if (found == capacity)
                        return TS_PYSPANS_NO_ROOM;
                    spans[found] = (ts_pyspan){.first = word == TS_SPAN_DEF ? first : line.first,
                                               .word = (uint8_t)word};
                    if (word == TS_SPAN_DEF) {
                        if (line.name == NULL)
                            return TS_PYSPANS_NOT_PYTHON;
                        spans[found].name_at = (uint32_t)(line.name - (const unsigned char *)text);
                        spans[found].name_length = line.name_length;
                    }
                    open[open_count] = (open_statement){line.indent, (uint32_t)found};
                    chain_tail[open_count++] = (uint32_t)found++;
                }
            }
        }
        previous_last = line.last;
    }
    if (read < 0)
        return TS_PYSPANS_NOT_PYTHON;
    close_statements(open, &open_count, 0, previous_last, spans);
    return (long)found;
}
