/* input_csv.c - csv files (RFC 4180): one record per line, fields as strings.
 *
 * The dialect: comma separators; a field that starts with a double quote is
 * quoted, may hold commas, quotes written as "" and line breaks, and ends at
 * the next lone quote, which must be followed by a comma or the end of the
 * line. Lines end in LF or CRLF; the last line may lack one. Line breaks
 * inside a quoted field are kept as they are in the file (CRLF stays CRLF).
 *
 * Decisions where RFC 4180 is silent or where readers differ:
 *   - A completely empty line (nothing, or only CR, before its LF) is not a
 *     record: it is skipped but counted in line numbers, as in jsonl. A line
 *     of spaces is a record with one field of spaces.
 *   - Unquoted fields are kept verbatim, spaces included: conversion to a
 *     number is where spaces are judged. A quote inside an unquoted field
 *     (ab"c) is an ordinary character, as in Python's csv module.
 *   - An empty field is the empty string (a KP_V_STR of length 0).
 *   - A UTF-8 byte order mark at the start of the file is skipped; bytes are
 *     otherwise not checked for being UTF-8.
 *   - With `header`, the first record (the first non-empty line, which may
 *     span lines if quoted) is skipped.
 *
 * Indexing at open only finds where records start; it never fails on content.
 * A malformed record - a quoted field that is never closed (it then runs to
 * the end of the file and swallows what follows), text after a closing quote,
 * a NUL byte, which a C string cannot hold - fails when it is read, naming the
 * line the record starts on.
 */
#include "input_impl.h"

#include <string.h>

/* Returns the offset just past the record starting at `pos` (past its LF, or
 * the end of the file), adding the line breaks it spans to *line. */
static size_t skip_record(const unsigned char *m, size_t pos, size_t size, size_t *line)
{
    /* Fast path: a line without quotes is a whole record. */
    const unsigned char *nl = memchr(m + pos, '\n', size - pos);
    size_t line_end = nl ? (size_t)(nl - m) : size;
    if (!memchr(m + pos, '"', line_end - pos)) {
        if (!nl)
            return size;
        (*line)++;
        return line_end + 1;
    }
    bool field_start = true, quoted = false;
    while (pos < size) {
        unsigned char c = m[pos++];
        if (quoted) {
            if (c == '"') {
                if (pos < size && m[pos] == '"')
                    pos++;
                else
                    quoted = false;
            } else if (c == '\n') {
                (*line)++;
            }
        } else if (c == '"' && field_start) {
            quoted = true;
            field_start = false;
        } else if (c == ',') {
            field_start = true;
        } else if (c == '\n') {
            (*line)++;
            return pos;
        } else {
            field_start = false;
        }
    }
    return pos;
}

int kp_csv_index(kp_input *in, bool header, kp_err *err)
{
    const unsigned char *m = in->map;
    size_t size = in->size, pos = kp_text_bom_len(in), line = 1;
    bool skip = header;
    kp_text_index *ix = &in->u.text.index;
    in->u.text.header = header;
    while (pos < size) {
        if (m[pos] == '\n') {
            pos++;
            line++;
            continue;
        }
        if (m[pos] == '\r' && (pos + 1 == size || m[pos + 1] == '\n')) {
            pos += pos + 1 == size ? 1 : 2;
            line++;
            continue;
        }
        if (skip) {
            skip = false;
        } else if (kp_text_index_push(ix, pos, line) < 0) {
            return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory indexing line %zu", in->name,
                              line);
        }
        pos = skip_record(m, pos, size, &line);
    }
    in->count = ix->n;
    return 0;
}

/* Parses one record. With `items` NULL only counts fields (*nfields), finds
 * the offset just past the record's last field (*end) and checks the record;
 * otherwise also stores each field, unescaped and NUL-terminated, in `buf`
 * and points items[k] at it. */
static int parse_record(const kp_input *in, const kp_text_rec *rec, kp_value *items, char *buf,
                        size_t *nfields, size_t *end, kp_err *err)
{
    const unsigned char *m = in->map;
    size_t size = in->size, p = rec->offset, line = rec->line, line_start = rec->offset;
    size_t nf = 0;
    for (;;) {
        char *text = buf;
        size_t len = 0;
        nf++;
        if (p < size && m[p] == '"') {
            size_t qline = line, qcol = p - line_start + 1;
            p++;
            for (;;) {
                if (p >= size)
                    return kp_err_set(err, KPOOL_EINPUT,
                                      "line %zu: field %zu: unterminated quoted field (the quote "
                                      "at line %zu, column %zu is never closed)",
                                      rec->line, nf, qline, qcol);
                unsigned char c = m[p++];
                if (c == '"') {
                    if (p < size && m[p] == '"')
                        p++;
                    else
                        break;
                } else if (c == '\n') {
                    line++;
                    line_start = p;
                } else if (c == '\0') {
                    return kp_err_set(err, KPOOL_EINPUT,
                                      "line %zu: field %zu: a NUL byte (line %zu, column %zu) "
                                      "cannot be part of a string",
                                      rec->line, nf, line, p - line_start);
                }
                if (buf)
                    buf[len] = (char)c;
                len++;
            }
            if (p < size && m[p] == '\r' && (p + 1 == size || m[p + 1] == '\n'))
                p++;
            if (p < size && m[p] != ',' && m[p] != '\n')
                return kp_err_set(err, KPOOL_EINPUT,
                                  "line %zu: field %zu: unexpected text after the closing quote "
                                  "(line %zu, column %zu); a quote inside a quoted field is "
                                  "written \"\"",
                                  rec->line, nf, line, p - line_start + 1);
        } else {
            size_t start = p;
            while (p < size && m[p] != ',' && m[p] != '\n') {
                if (m[p] == '\0')
                    return kp_err_set(err, KPOOL_EINPUT,
                                      "line %zu: field %zu: a NUL byte (line %zu, column %zu) "
                                      "cannot be part of a string",
                                      rec->line, nf, line, p - line_start + 1);
                p++;
            }
            len = p - start;
            /* The CR of a CRLF line end is not part of the last field. */
            if ((p == size || m[p] == '\n') && len > 0 && m[p - 1] == '\r')
                len--;
            if (buf && len)
                memcpy(buf, m + start, len);
        }
        if (items) {
            buf[len] = '\0';
            items[nf - 1].kind = KP_V_STR;
            items[nf - 1].as.s.ptr = text;
            items[nf - 1].as.s.len = len;
            buf += len + 1;
        }
        if (p < size && m[p] == ',') {
            p++;
            continue;
        }
        break;
    }
    *nfields = nf;
    *end = p;
    return 0;
}

int kp_csv_record(const kp_input *in, size_t index, kp_arena *arena, kp_value *out, kp_err *err)
{
    const kp_text_rec *rec = &in->u.text.index.recs[index];
    size_t nf, end;
    int rc = parse_record(in, rec, NULL, NULL, &nf, &end, err);
    if (rc < 0)
        return rc;
    /* Unescaped field text never exceeds the record's bytes in the file;
     * add one NUL per field. */
    size_t span = end - rec->offset;
    if (nf > SIZE_MAX / sizeof(kp_value) || span > SIZE_MAX - nf)
        return kp_err_set(err, KPOOL_ENOMEM, "line %zu: the record is too large", rec->line);
    kp_value *items = kp_arena_alloc(arena, nf * sizeof *items);
    char *buf = items ? kp_arena_alloc(arena, span + nf) : NULL;
    if (!items || !buf)
        return kp_err_set(err, KPOOL_ENOMEM, "line %zu: out of memory reading the record",
                          rec->line);
    rc = parse_record(in, rec, items, buf, &nf, &end, err);
    if (rc < 0)
        return rc;
    out->kind = KP_V_LIST;
    out->as.list.items = items;
    out->as.list.len = nf;
    return 0;
}
