/* The tiny JSON reader and writer (see fh_json.h). */
#include "fleethub/fh_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;
    const char *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int parse_value(cursor *c, int depth);

static int parse_string(cursor *c)
{
    if (c->p >= c->end || *c->p != '"') return -1;
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"') return 0;
        if (ch < 0x20) return -1; /* RFC 8259 §7: control characters must be escaped */
        if (ch == '\\') {
            if (c->p >= c->end) return -1;
            char e = *c->p++;
            if (e == 'u') {
                for (int i = 0; i < 4; i++) {
                    if (c->p >= c->end || !is_hex(*c->p)) return -1;
                    c->p++;
                }
            } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                return -1;
            }
        }
    }
    return -1;
}

static int parse_number(cursor *c)
{
    const char *start = c->p;
    if (c->p < c->end && *c->p == '-') c->p++;
    if (c->p >= c->end) return -1;
    if (*c->p == '0') {
        c->p++;
    } else if (*c->p >= '1' && *c->p <= '9') {
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    } else {
        return -1;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    return c->p > start ? 0 : -1;
}

static int parse_literal(cursor *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) return -1;
    c->p += n;
    return 0;
}

static int parse_container(cursor *c, int depth, char close, int is_object)
{
    if (depth >= FH_JSON_MAX_DEPTH) return -1;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 0;
    }
    for (;;) {
        skip_ws(c);
        if (is_object) {
            if (parse_string(c) != 0) return -1;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return -1;
            c->p++;
        }
        if (parse_value(c, depth + 1) != 0) return -1;
        skip_ws(c);
        if (c->p >= c->end) return -1;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == close) {
            c->p++;
            return 0;
        }
        return -1;
    }
}

static int parse_value(cursor *c, int depth)
{
    skip_ws(c);
    if (c->p >= c->end) return -1;
    switch (*c->p) {
    case '{': return parse_container(c, depth, '}', 1);
    case '[': return parse_container(c, depth, ']', 0);
    case '"': return parse_string(c);
    case 't': return parse_literal(c, "true");
    case 'f': return parse_literal(c, "false");
    case 'n': return parse_literal(c, "null");
    default: return parse_number(c);
    }
}

int fh_json_validate(const char *json, size_t len)
{
    cursor c = { json, json + len };
    if (parse_value(&c, 0) != 0) return -1;
    skip_ws(&c);
    return c.p == c.end ? 0 : -1;
}

/* Walks the members of a validated object; calls back with each key (unquoted) and value span. */
static int each_member(fh_json_span obj, int (*fn)(fh_json_span key, fh_json_span value, void *ctx), void *ctx)
{
    cursor c = { obj.p, obj.p + obj.n };
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') return -1;
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') return 1;
    for (;;) {
        skip_ws(&c);
        const char *k = c.p;
        if (parse_string(&c) != 0) return -1;
        fh_json_span key = { k + 1, (size_t)(c.p - k) - 2 };
        skip_ws(&c);
        if (c.p >= c.end || *c.p != ':') return -1;
        c.p++;
        skip_ws(&c);
        const char *v = c.p;
        if (parse_value(&c, 1) != 0) return -1;
        fh_json_span value = { v, (size_t)(c.p - v) };
        if (fn(key, value, ctx) == 0) return 0;
        skip_ws(&c);
        if (c.p >= c.end) return -1;
        if (*c.p == ',') {
            c.p++;
            continue;
        }
        return *c.p == '}' ? 1 : -1;
    }
}

int fh_json_array_at(fh_json_span arr, size_t index, fh_json_span *out)
{
    cursor c = { arr.p, arr.p + arr.n };
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '[') return -1;
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == ']') return 1;
    for (size_t i = 0;; i++) {
        skip_ws(&c);
        const char *v = c.p;
        if (parse_value(&c, 1) != 0) return -1;
        if (i == index) {
            out->p = v;
            out->n = (size_t)(c.p - v);
            return 0;
        }
        skip_ws(&c);
        if (c.p >= c.end) return -1;
        if (*c.p == ',') {
            c.p++;
            continue;
        }
        return *c.p == ']' ? 1 : -1;
    }
}

bool fh_json_span_eq(fh_json_span s, const char *key)
{
    size_t n = strlen(key);
    return s.n == n && memcmp(s.p, key, n) == 0;
}

typedef struct {
    const char *key;
    fh_json_span *out;
} find_ctx;

static int find_member(fh_json_span key, fh_json_span value, void *ctx)
{
    find_ctx *f = ctx;
    if (!fh_json_span_eq(key, f->key)) return 1;
    *f->out = value;
    return 0;
}

int fh_json_get(fh_json_span obj, const char *key, fh_json_span *out)
{
    find_ctx f = { key, out };
    return each_member(obj, find_member, &f);
}

static int first_member(fh_json_span key, fh_json_span value, void *ctx)
{
    (void)value;
    *(fh_json_span *)ctx = key;
    return 0;
}

int fh_json_first_key(fh_json_span obj, fh_json_span *key)
{
    return each_member(obj, first_member, key);
}

typedef struct {
    size_t want, at;
    fh_json_span *key, *value;
} member_at_ctx;

static int member_at(fh_json_span key, fh_json_span value, void *ctx)
{
    member_at_ctx *m = ctx;
    if (m->at++ != m->want) return 1;
    *m->key = key;
    *m->value = value;
    return 0;
}

int fh_json_member_at(fh_json_span obj, size_t index, fh_json_span *key, fh_json_span *value)
{
    member_at_ctx m = { index, 0, key, value };
    return each_member(obj, member_at, &m);
}

int fh_json_number(fh_json_span v, double *out)
{
    char tmp[64];
    char *end = NULL;
    cursor c = { v.p, v.p + v.n };
    /* The grammar first (strtod would take hex, inf and nan), then a bounded, NUL-terminated copy for strtod. */
    if (v.n == 0 || v.n >= sizeof tmp || parse_number(&c) != 0 || c.p != c.end) return -1;
    memcpy(tmp, v.p, v.n);
    tmp[v.n] = '\0';
    double d = strtod(tmp, &end);
    if (end != tmp + v.n || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

int fh_json_bool(fh_json_span v, bool *out)
{
    if (v.n == 4 && memcmp(v.p, "true", 4) == 0) *out = true;
    else if (v.n == 5 && memcmp(v.p, "false", 5) == 0) *out = false;
    else return -1;
    return 0;
}

bool fh_json_is_null(fh_json_span v)
{
    return v.n == 4 && memcmp(v.p, "null", 4) == 0;
}

int fh_json_int(fh_json_span v, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    uint64_t acc = 0;
    if (v.n == 0) return -1;
    if (v.p[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i >= v.n) return -1;
    for (; i < v.n; i++) {
        char ch = v.p[i];
        if (ch < '0' || ch > '9') return -1;
        uint64_t digit = (uint64_t)(ch - '0');
        if (acc > (UINT64_C(9223372036854775807) - digit) / 10) return -1;
        acc = acc * 10 + digit;
    }
    *out = neg ? -(int64_t)acc : (int64_t)acc;
    return 0;
}

int fh_json_string(fh_json_span v, char *out, size_t cap)
{
    size_t o = 0;
    if (v.n < 2 || v.p[0] != '"' || v.p[v.n - 1] != '"' || cap == 0) return -1;
    for (size_t i = 1; i + 1 < v.n; i++) {
        char ch = v.p[i];
        if (ch == '\\' && i + 2 < v.n) {
            char e = v.p[++i];
            switch (e) {
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'u':
                if (i + 4 >= v.n - 1) return -1;
                ch = '?';
                i += 4;
                break;
            default: ch = e; break;
            }
        }
        if (o + 1 >= cap) return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

void fh_jw_init(fh_json_writer *w, char *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = cap == 0;
    w->need_comma = false;
}

void fh_jw_raw(fh_json_writer *w, const char *text, size_t n)
{
    if (w->overflow || w->len + n + 1 > w->cap) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, text, n);
    w->len += n;
}

static void comma(fh_json_writer *w)
{
    if (w->need_comma) fh_jw_raw(w, ",", 1);
    w->need_comma = true;
}

void fh_jw_begin_object(fh_json_writer *w)
{
    comma(w);
    fh_jw_raw(w, "{", 1);
    w->need_comma = false;
}

void fh_jw_end_object(fh_json_writer *w)
{
    fh_jw_raw(w, "}", 1);
    w->need_comma = true;
}

void fh_jw_string(fh_json_writer *w, const char *s)
{
    comma(w);
    fh_jw_raw(w, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            fh_jw_raw(w, esc, 2);
        } else if (ch == '\n' || ch == '\r' || ch == '\t') {
            /* The short escapes (a PEM's newlines in a request cost 2 bytes each, not 6). */
            esc[0] = '\\';
            esc[1] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't';
            fh_jw_raw(w, esc, 2);
        } else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            fh_jw_raw(w, esc, 6);
        } else {
            fh_jw_raw(w, (const char *)s, 1);
        }
    }
    fh_jw_raw(w, "\"", 1);
}

void fh_jw_key(fh_json_writer *w, const char *key)
{
    fh_jw_string(w, key);
    fh_jw_raw(w, ":", 1);
    w->need_comma = false;
}

void fh_jw_int(fh_json_writer *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    comma(w);
    fh_jw_raw(w, tmp, (size_t)n);
}

void fh_jw_number(fh_json_writer *w, double v)
{
    char tmp[32];
    int n;
    if (!isfinite(v)) {
        comma(w);
        fh_jw_raw(w, "null", 4);
        return;
    }
    n = snprintf(tmp, sizeof tmp, "%.9g", v);
    comma(w);
    fh_jw_raw(w, tmp, (size_t)n);
}

void fh_jw_bool(fh_json_writer *w, bool v)
{
    comma(w);
    fh_jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

int fh_jw_finish(fh_json_writer *w)
{
    if (w->overflow) return -1;
    w->buf[w->len] = '\0';
    return (int)w->len;
}

bool fh_json_valid_field_name(const char *name)
{
    size_t n = 0;
    char c0 = name[0];
    if (!((c0 >= 'A' && c0 <= 'Z') || (c0 >= 'a' && c0 <= 'z') || c0 == '_')) return false;
    for (n = 1; name[n]; n++) {
        char ch = name[n];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
        if (n >= 64) return false;
    }
    return true;
}
