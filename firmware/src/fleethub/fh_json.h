/*
 * A tiny JSON reader and writer for the few fixed shapes of the fleethub
 * device protocol. The reader validates a whole document (RFC 8259 grammar,
 * nesting bounded by FH_JSON_MAX_DEPTH) and finds members by key without
 * building a tree; the writer appends to a caller's buffer. No allocation.
 */
#ifndef FLEETHUB_FH_JSON_H
#define FLEETHUB_FH_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Deepest nesting the reader accepts (the protocol needs 3). */
#define FH_JSON_MAX_DEPTH 16

/** A slice of the input: one JSON value (or a key, without its quotes). */
typedef struct {
    const char *p;
    size_t n;
} fh_json_span;

/** 0 when `json[0..len)` is exactly one valid JSON value (with optional whitespace around it), else -1. */
int fh_json_validate(const char *json, size_t len);

/**
 * Finds member `key` of the object `obj` (a validated value). Returns 0 and
 * the member's value in `out`, 1 when absent, -1 when `obj` is not an object.
 */
int fh_json_get(fh_json_span obj, const char *key, fh_json_span *out);

/** The first member's key of object `obj` (what a protocol message is): 0, 1 when empty, -1 when not an object. */
int fh_json_first_key(fh_json_span obj, fh_json_span *key);
/** Element `index` of an array (validated text). 0 found, 1 past the end, -1 not an array. */
int fh_json_array_at(fh_json_span arr, size_t index, fh_json_span *out);

/** true when the span is the literal null. */
bool fh_json_is_null(fh_json_span v);

/** An integer value (no fraction or exponent) that fits int64: 0, else -1. */
int fh_json_int(fh_json_span v, int64_t *out);

/** Copies a string value without quotes, unescaping \" \\ \/ \b \f \n \r \t (\u is kept as '?'). 0, else -1 (not a string or too long). */
int fh_json_string(fh_json_span v, char *out, size_t cap);

/** A number value (integer, fraction or exponent) as a double: 0, else -1 (not a number, or not finite as a double). */
int fh_json_number(fh_json_span v, double *out);

/** A boolean value: 0, else -1. */
int fh_json_bool(fh_json_span v, bool *out);

/**
 * Member `index` of object `obj` (validated text): 0 and its key (without
 * quotes, still escaped) and value, 1 past the last member, -1 not an object.
 * What a desired configuration's callback walks to see every name it got.
 */
int fh_json_member_at(fh_json_span obj, size_t index, fh_json_span *key, fh_json_span *value);

/** true when `key` equals the span's text. */
bool fh_json_span_eq(fh_json_span s, const char *key);

/** Appends JSON to a caller's buffer; `overflow` sticks once anything did not fit. */
typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
    bool need_comma;
} fh_json_writer;

void fh_jw_init(fh_json_writer *w, char *buf, size_t cap);
void fh_jw_raw(fh_json_writer *w, const char *text, size_t n);
void fh_jw_begin_object(fh_json_writer *w);
void fh_jw_end_object(fh_json_writer *w);
/** A member key (the caller keeps names to the protocol's [A-Za-z_][A-Za-z0-9_]{0,63}). */
void fh_jw_key(fh_json_writer *w, const char *key);
void fh_jw_int(fh_json_writer *w, int64_t v);
/** A finite number; NaN and infinities are written as null (they are not JSON). */
void fh_jw_number(fh_json_writer *w, double v);
void fh_jw_bool(fh_json_writer *w, bool v);
void fh_jw_string(fh_json_writer *w, const char *s);
/** NUL-terminates; returns the length, or -1 after an overflow. */
int fh_jw_finish(fh_json_writer *w);

/** true when `name` is a valid telemetry field name (SPEC: [A-Za-z_][A-Za-z0-9_]{0,63}). */
bool fh_json_valid_field_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
