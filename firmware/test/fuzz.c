/*
 * Bounded, seeded fuzzing of what the hub's bytes reach on a device: the
 * WebSocket frame reader (fed in random splits, as TCP delivers it) and the
 * JSON reader with the protocol's lookups. Inputs are random bytes and
 * mutations of valid frames and messages. Built with ASan and UBSan
 * (`make fuzz`); any memory error or undefined behaviour aborts the run.
 *
 * usage: fleethub-fuzz [ITERATIONS] [SEED]   (defaults 200000, 1)
 * Before fuzzing it checks a few exact cases (reassembly of a message larger
 * than one read, oversize refusal, masking) and exits 1 if one is wrong.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleethub/fh_control.h"
#include "fleethub/fh_json.h"
#include "fleethub/fh_ws.h"

static uint64_t rng_state;
static int failures;

static uint32_t rnd(void)
{
    /* xorshift64*: deterministic for a seed, so a failure replays */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 32);
}

static const char *SEEDS[] = {
    "{\"hello\":{\"device\":\"d1\",\"lastSeq\":42,\"limits\":{\"maxPayloadBytes\":16384,\"msgsPerSec\":10,\"burst\":50,"
    "\"msgsPerDay\":200000,\"maxFields\":32}}}",
    "{\"hello\":{\"device\":\"d1\",\"lastSeq\":null,\"limits\":{}}}",
    "{\"hello\":{\"device\":\"d1\",\"protocol\":2,\"features\":[\"renew\",\"cmd\",\"config\"],\"lastSeq\":3,"
    "\"limits\":{\"maxDownlinkBytes\":4096}}}",
    "[\"a\",1,[2,3],{\"b\":null}]",
    "{\"ack\":7}",
    "{\"nack\":9,\"error\":\"rate_limited\",\"retryAfterMs\":500}",
    "{\"nack\":null,\"error\":\"invalid_json\"}",
    "{\"cmd\":{\"id\":\"c1\",\"name\":\"ping\",\"args\":{\"a\":[1,2.5e3,true,false,null,\"x\\u00e9\\n\"]},\"timeoutMs\":3000}}",
    "{\"cmd\":{\"id\":\"tq2Vd0nq7Ubs\",\"name\":\"set_interval\",\"args\":{\"interval_s\":0.05,\"on\":true,\"tag\":\"n\\\"1\"},\"timeoutMs\":30000}}",
    "{\"config\":{\"version\":12,\"desired\":{\"interval_s\":-1.5e-3,\"label\":\"north\",\"on\":false}}}",
    "{\"provisioned\":{\"device\":\"d1\",\"cert\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\/x==\\n-----END CERTIFICATE-----\\n\","
    "\"serial\":\"0a1b\",\"notAfter\":1798761600000}}",
    "{\"provisionError\":{\"error\":\"rate_limited\",\"retryAfterMs\":250}}",
    "{\"hello\":{\"device\":\"d1\",\"protocol\":2,\"features\":[\"renew\"],\"lastSeq\":null,\"limits\":{},"
    "\"cert\":{\"serial\":\"1F3E\",\"notAfter\":1799275672000,\"renew\":true}}}",
    "{\"cert\":{\"pem\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\/x==\\n-----END CERTIFICATE-----\\n\",\"serial\":\"0A1B\","
    "\"notAfter\":1798761600000}}",
    "{\"certError\":{\"error\":\"not_due\",\"retryAfterMs\":86400000}}",
};

/* Protocol 2's readers (fh_control.c) and the number, boolean and member readers behind them, as the client uses them. */
static void use_control(fh_json_span msg)
{
    static char pem[2048], out[512];
    fh_json_span v, key, member;
    fh_cmd_request cmd;
    fh_config_doc doc;
    fh_provisioned prov;
    fh_json_writer w;
    char code[32];
    uint32_t retry;
    double d;
    bool b;
    if (fh_json_get(msg, "cmd", &v) == 0 && fh_cmd_parse(v, &cmd) != -1) {
        for (size_t i = 0; i < 8 && fh_json_member_at(cmd.args, i, &key, &member) == 0; i++) {
            (void)fh_json_number(member, &d);
            (void)fh_json_bool(member, &b);
        }
        fh_jw_init(&w, out, 1 + rnd() % sizeof out);
        fh_cmd_result_begin(&w, cmd.id);
        fh_jw_key(&w, "n");
        fh_jw_int(&w, cmd.timeout_ms);
        int len = fh_cmd_result_end(&w, rnd() % 2 == 0, cmd.name);
        if (len < 0) len = fh_cmd_result_failed(&w, cmd.id, cmd.name);
        if (len >= 0 && fh_json_validate(out, (size_t)len) != 0) failures++;
    }
    if (fh_json_get(msg, "config", &v) == 0 && fh_config_parse(v, &doc) == 0) {
        for (size_t i = 0; i < 8 && fh_json_member_at(doc.desired, i, &key, &member) == 0; i++) (void)fh_json_number(member, &d);
        fh_jw_init(&w, out, 1 + rnd() % sizeof out);
        int len = fh_config_ack_write(&w, doc.version, false, "x\"y");
        if (len >= 0 && fh_json_validate(out, (size_t)len) != 0) failures++;
    }
    if (fh_json_get(msg, "provisioned", &v) == 0) (void)fh_provisioned_parse(v, "d1", &prov, pem, 1 + rnd() % sizeof pem);
    if (fh_json_get(msg, "provisionError", &v) == 0) (void)fh_refusal_parse(v, code, sizeof code, &retry);
    /* Renewal: hello.cert, the cert answer (into a PEM buffer of any size), certError, and the requests written back. */
    fh_hello_cert hc;
    fh_issued issued;
    if (fh_json_get(msg, "hello", &v) == 0 && fh_json_get(v, "cert", &member) == 0) (void)fh_hello_cert_parse(member, &hc);
    if (fh_json_get(msg, "cert", &v) == 0 && fh_cert_parse(v, &issued, pem, 1 + rnd() % sizeof pem) == 0) {
        fh_jw_init(&w, out, 1 + rnd() % sizeof out);
        int len = fh_csr_request_write(&w, pem);
        if (len >= 0 && fh_json_validate(out, (size_t)len) != 0) failures++;
    }
    if (fh_json_get(msg, "certError", &v) == 0) (void)fh_refusal_parse(v, code, sizeof code, &retry);
}

/* The protocol's lookups on a document, as fh_client.c makes them. */
static void use_json(const char *text, size_t len)
{
    fh_json_span msg = { text, len }, kind, v, inner;
    char s[64];
    int64_t n;
    if (fh_json_validate(text, len) != 0) return;
    for (size_t i = 0; i < 4 && fh_json_array_at(msg, i, &inner) == 0; i++) (void)fh_json_is_null(inner);
    if (fh_json_first_key(msg, &kind) != 0) return;
    if (fh_json_get(msg, "hello", &v) == 0) {
        if (fh_json_get(v, "lastSeq", &inner) == 0) fh_json_int(inner, &n);
        if (fh_json_get(v, "features", &inner) == 0) {
            fh_json_span feature;
            for (size_t i = 0; i < 8 && fh_json_array_at(inner, i, &feature) == 0; i++) fh_json_string(feature, s, sizeof s);
        }
        if (fh_json_get(v, "limits", &inner) == 0 && fh_json_get(inner, "maxPayloadBytes", &v) == 0) fh_json_int(v, &n);
    }
    if (fh_json_get(msg, "ack", &v) == 0) fh_json_int(v, &n);
    if (fh_json_get(msg, "error", &v) == 0) fh_json_string(v, s, sizeof s);
    if (fh_json_get(msg, "nack", &v) == 0) (void)fh_json_is_null(v);
    use_control(msg);
}

static void mutate(uint8_t *buf, size_t *len, size_t cap)
{
    int edits = 1 + (int)(rnd() % 4);
    for (int e = 0; e < edits; e++) {
        size_t at = *len == 0 ? 0 : rnd() % *len;
        switch (rnd() % 4) {
        case 0: if (*len > 0) buf[at] = (uint8_t)rnd(); break;
        case 1: if (*len > 0) buf[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
        case 2: if (*len > 0) { memmove(buf + at, buf + at + 1, *len - at - 1); (*len)--; } break;
        default:
            if (*len < cap) { memmove(buf + at + 1, buf + at, *len - at); buf[at] = "{}[]\":,0-.e\\u"[rnd() % 13]; (*len)++; }
            break;
        }
    }
}

/* A server frame (unmasked) around `payload`. */
static size_t server_frame(uint8_t *out, int fin, int opcode, const uint8_t *payload, size_t len)
{
    size_t h = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len >= 126 && len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        h = 4;
    } else if (len > 0xFFFF) {
        out[1] = 127;
        for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    } else {
        out[1] = (uint8_t)len;
    }
    memcpy(out + h, payload, len);
    return h + len;
}

/* Feeds `n` bytes to a reader in random splits; counts the events. */
static int feed_split(fh_ws_reader *r, const uint8_t *data, size_t n, fh_ws_event *last, int *messages)
{
    size_t at = 0;
    int events = 0;
    while (at < n) {
        size_t chunk = 1 + rnd() % (n - at);
        size_t end = at + chunk;
        while (at < end) {
            fh_ws_event ev;
            size_t used = fh_ws_reader_feed(r, data + at, end - at, &ev);
            at += used;
            if (ev.type != FH_WS_EV_NONE) {
                events++;
                *last = ev;
                if (ev.type == FH_WS_EV_MESSAGE) {
                    (*messages)++;
                    use_json((const char *)ev.data, ev.len);
                }
                if (ev.type == FH_WS_EV_ERROR) return events;
            }
            if (used == 0 && ev.type == FH_WS_EV_NONE) break;
        }
    }
    return events;
}

#define CHECK(cond, what)                                         \
    do {                                                          \
        if (!(cond)) {                                            \
            fprintf(stderr, "fleethub-fuzz: FAILED %s\n", what); \
            failures++;                                           \
        }                                                         \
    } while (0)

static void exact_cases(void)
{
    static uint8_t big[40000], stream[41000], msg[32768], frame[64];
    fh_ws_reader r;
    fh_ws_event ev = { 0 };
    int messages = 0;
    size_t n = 0;
    /* 30000 bytes of JSON in three fragments and a ping between them, fed in small reads: one message. */
    memset(big, 'x', sizeof big);
    const char *head = "{\"hello\":{\"device\":\"d1\",\"lastSeq\":5,\"pad\":\"";
    memcpy(big, head, strlen(head));
    memcpy(big + 30000 - 4, "\"}}", 3);
    big[30000 - 1] = ' ';
    n += server_frame(stream + n, 0, FH_WS_OP_TEXT, big, 10000);
    n += server_frame(stream + n, 1, FH_WS_OP_PING, (const uint8_t *)"hi", 2);
    n += server_frame(stream + n, 0, FH_WS_OP_CONT, big + 10000, 10000);
    n += server_frame(stream + n, 1, FH_WS_OP_CONT, big + 20000, 10000);
    fh_ws_reader_init(&r, msg, sizeof msg);
    feed_split(&r, stream, n, &ev, &messages);
    CHECK(messages == 1 && ev.type == FH_WS_EV_MESSAGE && ev.len == 30000 && memcmp(ev.data, big, 30000) == 0,
          "a fragmented 30000-byte message is reassembled");
    fh_json_span hello, last;
    int64_t seq = 0;
    CHECK(fh_json_validate((const char *)ev.data, ev.len) == 0 &&
              fh_json_get((fh_json_span){ (const char *)ev.data, ev.len }, "hello", &hello) == 0 &&
              fh_json_get(hello, "lastSeq", &last) == 0 && fh_json_int(last, &seq) == 0 && seq == 5,
          "the reassembled hello parses");
    /* One byte over the buffer, in fragments: refused with 1009. */
    n = 0;
    n += server_frame(stream + n, 0, FH_WS_OP_TEXT, big, 20000);
    n += server_frame(stream + n, 1, FH_WS_OP_CONT, big, sizeof msg - 20000 + 1);
    fh_ws_reader_init(&r, msg, sizeof msg);
    messages = 0;
    feed_split(&r, stream, n, &ev, &messages);
    CHECK(messages == 0 && ev.type == FH_WS_EV_ERROR && ev.close_code == 1009, "an oversize message is refused with 1009");
    /* A masked server frame is a protocol error (RFC 6455 §5.1). */
    uint8_t masked[] = { 0x81, 0x81, 1, 2, 3, 4, 'x' };
    fh_ws_reader_init(&r, msg, sizeof msg);
    fh_ws_reader_feed(&r, masked, sizeof masked, &ev);
    CHECK(ev.type == FH_WS_EV_ERROR && ev.close_code == 1002, "a masked server frame is refused with 1002");
    /* The client's frame is masked and unmasks to the payload. */
    uint8_t mask[4] = { 0xA1, 0xB2, 0xC3, 0xD4 };
    size_t flen = fh_ws_write_frame(frame, sizeof frame, FH_WS_OP_TEXT, (const uint8_t *)"{\"ack\":1}", 9, mask);
    CHECK(flen == 15 && frame[0] == 0x81 && frame[1] == (0x80 | 9) && (frame[6] ^ 0xA1) == '{', "client frames are masked");
    /* RFC 6455 §1.3's example key. */
    char accept[29];
    CHECK(fh_ws_accept_for_key("dGhlIHNhbXBsZSBub25jZQ==", accept) == 0 && strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
          "Sec-WebSocket-Accept of the RFC's example");
    /* Nesting deeper than FH_JSON_MAX_DEPTH is refused, not recursed into. */
    char deep[2 * 1000 + 1];
    memset(deep, '[', 1000);
    memset(deep + 1000, ']', 1000);
    CHECK(fh_json_validate(deep, 2000) != 0, "deep nesting is refused");
    /* Array elements, as hello.features is read. */
    static const char features[] = " [ \"renew\" , {\"a\":[1]} ,\"cmd\" ] ";
    fh_json_span arr = { features, sizeof features - 1 }, el;
    char name[16] = "";
    CHECK(fh_json_array_at(arr, 2, &el) == 0 && fh_json_string(el, name, sizeof name) == 0 && strcmp(name, "cmd") == 0,
          "the third element of an array");
    CHECK(fh_json_array_at(arr, 1, &el) == 0 && el.n == 9, "an element that is an object, whole");
    CHECK(fh_json_array_at(arr, 3, &el) == 1, "past the end of an array");
    CHECK(fh_json_array_at((fh_json_span){ "{}", 2 }, 0, &el) == -1, "an object is not an array");
    /* Protocol 2: a command, its answer, a configuration and a provisioning reply read exactly. */
    static const char cmd_text[] = "{\"id\":\"c7\",\"name\":\"ping\",\"args\":{\"n\":2.5,\"on\":true},\"timeoutMs\":3000}";
    fh_cmd_request cmd;
    fh_json_span key, member;
    double d = 0;
    bool on = false;
    CHECK(fh_cmd_parse((fh_json_span){ cmd_text, sizeof cmd_text - 1 }, &cmd) == 0 && strcmp(cmd.id, "c7") == 0 &&
              strcmp(cmd.name, "ping") == 0 && cmd.timeout_ms == 3000 && fh_json_member_at(cmd.args, 1, &key, &member) == 0 &&
              fh_json_span_eq(key, "on") && fh_json_bool(member, &on) == 0 && on &&
              fh_json_member_at(cmd.args, 0, &key, &member) == 0 && fh_json_number(member, &d) == 0 && d == 2.5 &&
              fh_json_member_at(cmd.args, 2, &key, &member) == 1,
          "a cmd's id, name, args and timeoutMs");
    static const char no_args[] = "{\"id\":\"c8\",\"name\":\"ping\"}", bad_name[] = "{\"id\":\"c9\",\"name\":\"no such\"}",
                      no_id[] = "{\"name\":\"ping\"}", bad_args[] = "{\"id\":\"c1\",\"name\":\"ping\",\"args\":[1]}";
    CHECK(fh_cmd_parse((fh_json_span){ no_args, sizeof no_args - 1 }, &cmd) == 0 && fh_json_span_eq(cmd.args, "{}"), "args absent: {}");
    CHECK(fh_cmd_parse((fh_json_span){ bad_name, sizeof bad_name - 1 }, &cmd) == -2 && strcmp(cmd.id, "c9") == 0, "a bad name: answered");
    CHECK(fh_cmd_parse((fh_json_span){ bad_args, sizeof bad_args - 1 }, &cmd) == -2, "args that are not an object: answered");
    CHECK(fh_cmd_parse((fh_json_span){ no_id, sizeof no_id - 1 }, &cmd) == -1, "no id: nothing to answer");
    char out[256];
    fh_json_writer w;
    fh_jw_init(&w, out, sizeof out);
    fh_cmd_result_begin(&w, "c7");
    fh_jw_key(&w, "pong");
    fh_jw_bool(&w, true);
    CHECK(fh_cmd_result_end(&w, true, NULL) > 0 && strcmp(out, "{\"cmdResult\":{\"id\":\"c7\",\"result\":{\"pong\":true},\"ok\":true}}") == 0,
          "a cmdResult with its result");
    CHECK(fh_cmd_result_failed(&w, "c7", "no \"valve\"") > 0 &&
              strcmp(out, "{\"cmdResult\":{\"id\":\"c7\",\"ok\":false,\"error\":\"no \\\"valve\\\"\"}}") == 0,
          "a failed cmdResult, its error escaped");
    fh_jw_init(&w, out, 20);
    fh_cmd_result_begin(&w, "c7");
    CHECK(fh_cmd_result_end(&w, true, NULL) == -1, "a result over the buffer is an overflow, not a cut message");
    static const char config_text[] = "{\"version\":3,\"desired\":{\"interval_s\":1e1}}", config_bad[] = "{\"version\":0,\"desired\":{}}";
    fh_config_doc doc;
    CHECK(fh_config_parse((fh_json_span){ config_text, sizeof config_text - 1 }, &doc) == 0 && doc.version == 3 &&
              fh_json_get(doc.desired, "interval_s", &member) == 0 && fh_json_number(member, &d) == 0 && d == 10.0,
          "a config's version and document");
    CHECK(fh_config_parse((fh_json_span){ config_bad, sizeof config_bad - 1 }, &doc) == -1, "version 0 is not acknowledged");
    fh_jw_init(&w, out, sizeof out);
    CHECK(fh_config_ack_write(&w, 3, true, "ignored") > 0 && strcmp(out, "{\"configAck\":{\"version\":3,\"ok\":true}}") == 0, "a configAck");
    CHECK(fh_json_number((fh_json_span){ "0x10", 4 }, &d) == -1 && fh_json_number((fh_json_span){ "1e999", 5 }, &d) == -1 &&
              fh_json_number((fh_json_span){ "\"1\"", 3 }, &d) == -1 && fh_json_bool((fh_json_span){ "1", 1 }, &on) == -1,
          "not JSON numbers, infinite ones, strings and 1 are not read as numbers or booleans");
    static const char prov_text[] = "{\"device\":\"d1\",\"cert\":\"-----BEGIN CERTIFICATE-----\\nQUJD\\n-----END CERTIFICATE-----\\n\","
                                    "\"serial\":\"0a1b\",\"notAfter\":1798761600000}";
    char pem[128];
    fh_provisioned prov;
    CHECK(fh_provisioned_parse((fh_json_span){ prov_text, sizeof prov_text - 1 }, "d1", &prov, pem, sizeof pem) == 0 &&
              strcmp(pem, "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n") == 0 && strcmp(prov.serial, "0a1b") == 0 &&
              prov.not_after == INT64_C(1798761600000),
          "a provisioned reply's certificate, serial and notAfter");
    CHECK(fh_provisioned_parse((fh_json_span){ prov_text, sizeof prov_text - 1 }, "d2", &prov, pem, sizeof pem) == -1 &&
              fh_provisioned_parse((fh_json_span){ prov_text, sizeof prov_text - 1 }, "d1", &prov, pem, 20) == -1,
          "another device's certificate, or one that does not fit, is refused");
}

/* Renewal's messages read and written exactly, and a certificate answer split over frames and reads reassembled. */
static void renewal_cases(void)
{
    static uint8_t stream[4096], msg[2048];
    static char text[1600], pem[1200], out[1400];
    char body[1100];
    /* A P-256 certificate is about 700 bytes of PEM: 14 lines of 64 characters here. */
    size_t at = (size_t)snprintf(body, sizeof body, "-----BEGIN CERTIFICATE-----\n");
    for (int line = 0; line < 14; line++) {
        for (int k = 0; k < 64; k++) body[at++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(line * 7 + k) % 64];
        body[at++] = '\n';
    }
    at += (size_t)snprintf(body + at, sizeof body - at, "-----END CERTIFICATE-----\n");
    fh_json_writer w;
    fh_jw_init(&w, text, sizeof text);
    fh_jw_begin_object(&w);
    fh_jw_key(&w, "cert");
    fh_jw_begin_object(&w);
    fh_jw_key(&w, "pem");
    fh_jw_string(&w, body);
    fh_jw_key(&w, "serial");
    fh_jw_string(&w, "5D2C");
    fh_jw_key(&w, "notAfter");
    fh_jw_int(&w, INT64_C(1830000000000));
    fh_jw_end_object(&w);
    fh_jw_end_object(&w);
    int len = fh_jw_finish(&w);
    size_t n = 0, half = (size_t)len / 2;
    n += server_frame(stream + n, 0, FH_WS_OP_TEXT, (const uint8_t *)text, half);
    n += server_frame(stream + n, 1, FH_WS_OP_CONT, (const uint8_t *)text + half, (size_t)len - half);
    fh_ws_reader r;
    fh_ws_event ev = { 0 };
    int messages = 0;
    fh_ws_reader_init(&r, msg, sizeof msg);
    feed_split(&r, stream, n, &ev, &messages);
    fh_json_span whole = { (const char *)ev.data, ev.len }, v;
    fh_issued issued;
    CHECK(messages == 1 && ev.type == FH_WS_EV_MESSAGE && fh_json_validate(whole.p, whole.n) == 0 && fh_json_get(whole, "cert", &v) == 0 &&
              fh_cert_parse(v, &issued, pem, sizeof pem) == 0 && strcmp(pem, body) == 0 && strcmp(issued.serial, "5D2C") == 0 &&
              issued.not_after == INT64_C(1830000000000),
          "a cert answer in two frames, fed in small reads, gives the PEM back");
    CHECK(fh_cert_parse(v, &issued, pem, 100) == -1, "a certificate over the PEM buffer is refused, not cut");
    CHECK(fh_cert_parse((fh_json_span){ "{\"pem\":\"x\"}", 11 }, &issued, pem, sizeof pem) == -1, "a pem that is not a certificate");
    static const char hello_cert[] = "{\"serial\":\"1F3E\",\"notAfter\":1799275672000,\"renew\":true}";
    fh_hello_cert hc;
    CHECK(fh_hello_cert_parse((fh_json_span){ hello_cert, sizeof hello_cert - 1 }, &hc) == 0 && strcmp(hc.serial, "1F3E") == 0 &&
              hc.not_after == INT64_C(1799275672000) && hc.renew,
          "hello.cert");
    CHECK(fh_hello_cert_parse((fh_json_span){ "{\"renew\":1}", 11 }, &hc) == 0 && !hc.renew, "renew that is not a boolean is false");
    static const char refused[] = "{\"error\":\"rate_limited\",\"retryAfterMs\":1500}";
    char code[32];
    uint32_t retry = 0;
    CHECK(fh_refusal_parse((fh_json_span){ refused, sizeof refused - 1 }, code, sizeof code, &retry) == 0 && strcmp(code, "rate_limited") == 0 &&
              retry == 1500,
          "a certError's code and retryAfterMs");
    fh_jw_init(&w, out, sizeof out);
    CHECK(fh_csr_request_write(&w, "-----BEGIN CERTIFICATE REQUEST-----\nQUJD\n") > 0 &&
              strcmp(out, "{\"csr\":\"-----BEGIN CERTIFICATE REQUEST-----\\nQUJD\\n\"}") == 0,
          "a csr request, its newlines escaped");
    fh_jw_init(&w, out, sizeof out);
    CHECK(fh_renew_request_write(&w) > 0 && strcmp(out, "{\"renew\":{}}") == 0, "a renew request");
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    rng_state = (argc > 2 ? strtoull(argv[2], NULL, 10) : 1) * UINT64_C(0x9E3779B97F4A7C15) | 1;
    static uint8_t msg[512], buf[2048], stream[4096];
    long messages_total = 0, errors_total = 0;
    exact_cases();
    renewal_cases();
    for (long i = 0; i < iterations; i++) {
        size_t len;
        const char *seed = SEEDS[rnd() % (sizeof SEEDS / sizeof SEEDS[0])];
        if (rnd() % 4 == 0) {
            len = rnd() % 300;
            for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)rnd();
        } else {
            len = strlen(seed);
            memcpy(buf, seed, len);
            mutate(buf, &len, 1024);
        }
        use_json((const char *)buf, len);
        /* The same bytes as frames: split in fragments, with control frames, then mutated as a stream. */
        size_t n = 0, at = 0;
        while (at < len && n + len + 64 < sizeof stream) {
            size_t part = 1 + rnd() % (len - at);
            n += server_frame(stream + n, at + part == len, at == 0 ? FH_WS_OP_TEXT : FH_WS_OP_CONT, buf + at, part);
            if (rnd() % 3 == 0) n += server_frame(stream + n, 1, FH_WS_OP_PING, buf, rnd() % 10);
            at += part;
        }
        if (rnd() % 2 == 0) mutate(stream, &n, sizeof stream);
        fh_ws_reader r;
        fh_ws_event ev = { 0 };
        int messages = 0;
        fh_ws_reader_init(&r, msg, 1 + rnd() % sizeof msg);
        feed_split(&r, stream, n, &ev, &messages);
        messages_total += messages;
        errors_total += ev.type == FH_WS_EV_ERROR;
    }
    printf("fleethub-fuzz: %ld iterations, %ld messages, %ld refused streams, %d failed checks\n", iterations, messages_total,
           errors_total, failures);
    return failures == 0 ? 0 : 1;
}
