/*
 * The downlink messages of device protocol version 2 besides telemetry's
 * (SPEC: Device protocol version 2, Provisioning by claim), read and
 * answered without I/O: `cmd` and its `cmdResult`, `config` and its
 * `configAck`, the `provision` request with its `provisioned` or
 * `provisionError` reply, and renewal's `csr`/`renew` with its `cert` or
 * `certError` reply (and `hello.cert`). The client (fh_client.c, fh_provision.c) sends what
 * these write; the fuzz target (test/fuzz.c) feeds these readers directly.
 */
#ifndef FLEETHUB_FH_CONTROL_H
#define FLEETHUB_FH_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "fleethub/fh_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest command id answered (the hub's own are 12 characters; it takes 64 back). */
#define FH_CMD_ID_MAX 64u
/** Longest command name (SPEC: names follow the telemetry field names, [A-Za-z_][A-Za-z0-9_]{0,63}). */
#define FH_CMD_NAME_MAX 64u
/** Room for a command's or a configuration's `error` text (SPEC allows 256 characters; a device says less). */
#define FH_ERROR_TEXT_MAX 128u

/** A `cmd` message's value. */
typedef struct {
    char id[FH_CMD_ID_MAX + 1];
    char name[FH_CMD_NAME_MAX + 1];
    fh_json_span args;  /* an object: `{}` when the hub sent none */
    int64_t timeout_ms; /* 0 when absent */
} fh_cmd_request;

/**
 * Reads `cmd`'s value (validated JSON). 0: a command to run; -2: its id is
 * usable but the rest is not (answer it `ok:false`); -1: no id to answer.
 */
int fh_cmd_parse(fh_json_span value, fh_cmd_request *out);

/**
 * Starts `{"cmdResult":{"id":..,"result":{` in `w`: the command's handler
 * then writes the result's members (fh_jw_key and a value each), and
 * fh_cmd_result_end closes it.
 */
void fh_cmd_result_begin(fh_json_writer *w, const char *id);
/** Closes what fh_cmd_result_begin opened with `"ok"` (and `"error"` when not ok and `error` is not empty). fh_jw_finish's result. */
int fh_cmd_result_end(fh_json_writer *w, bool ok, const char *error);
/** The whole `{"cmdResult":{"id":..,"ok":false,"error":..}}` in `w` (from its start). fh_jw_finish's result. */
int fh_cmd_result_failed(fh_json_writer *w, const char *id, const char *error);

/** A `config` message's value. */
typedef struct {
    int64_t version;     /* >= 1 */
    fh_json_span desired; /* an object */
} fh_config_doc;

/** Reads `config`'s value: 0, or -1 (no version >= 1 or no `desired` object: nothing to acknowledge). */
int fh_config_parse(fh_json_span value, fh_config_doc *out);
/** `{"configAck":{"version":N,"ok":..,"error":..}}` in `w` (error only when not ok and not empty). fh_jw_finish's result. */
int fh_config_ack_write(fh_json_writer *w, int64_t version, bool ok, const char *error);

/** `{"provision":{"device":..,"csr":..}}` in `w`. fh_jw_finish's result. */
int fh_provision_request_write(fh_json_writer *w, const char *device_id, const char *csr_pem);

/** An issued certificate's serial and notAfter (a `provisioned` or a `cert` reply). */
typedef struct {
    char serial[80];   /* hex */
    int64_t not_after; /* ms since epoch */
} fh_issued;
typedef fh_issued fh_provisioned;

/**
 * Reads `provisioned`'s value: the certificate PEM into `cert_pem` (NUL-
 * terminated), its serial and notAfter. 0; -1 when it is not one, names
 * another device than `device_id`, or the PEM does not fit `cert_cap`.
 */
int fh_provisioned_parse(fh_json_span value, const char *device_id, fh_provisioned *out, char *cert_pem, size_t cert_cap);

/**
 * Reads the value of a refusal: `provisionError` or, in renewal, `certError`
 * (the same shape): its `error` code (or "") and `retryAfterMs` (0 when
 * absent, at most an hour). 0, or -1 when not an object.
 */
int fh_refusal_parse(fh_json_span value, char *code, size_t code_cap, uint32_t *retry_after_ms);

/** `hello.cert` of protocol 2: the certificate of this handshake and whether the hub wants it renewed. */
typedef struct {
    char serial[80];
    int64_t not_after; /* ms since epoch, 0 when absent */
    bool renew;
} fh_hello_cert;

/** Reads `hello.cert`'s value: 0, or -1 when it is not an object. */
int fh_hello_cert_parse(fh_json_span value, fh_hello_cert *out);

/** `{"csr":"<PEM>"}` in `w` (renewal with a key made on the device). fh_jw_finish's result. */
int fh_csr_request_write(fh_json_writer *w, const char *csr_pem);
/** `{"renew":{}}` in `w` (renewal for the key of this handshake). fh_jw_finish's result. */
int fh_renew_request_write(fh_json_writer *w);

/**
 * Reads `cert`'s value (a renewal's answer): `pem` into `cert_pem` (NUL-
 * terminated), `serial`, `notAfter`. 0; -1 when there is no certificate PEM
 * or it does not fit `cert_cap`.
 */
int fh_cert_parse(fh_json_span value, fh_issued *out, char *cert_pem, size_t cert_cap);

#ifdef __cplusplus
}
#endif
#endif
