/* Protocol 2's command, configuration and provisioning messages (see fh_control.h). */
#include "fleethub/fh_control.h"

#include <string.h>

static const fh_json_span EMPTY_OBJECT = { "{}", 2 };

int fh_cmd_parse(fh_json_span value, fh_cmd_request *out)
{
    fh_json_span v;
    memset(out, 0, sizeof *out);
    out->args = EMPTY_OBJECT;
    if (fh_json_get(value, "id", &v) != 0 || fh_json_string(v, out->id, sizeof out->id) != 0 || out->id[0] == '\0') {
        out->id[0] = '\0';
        return -1; /* nothing to answer to */
    }
    if (fh_json_get(value, "name", &v) != 0 || fh_json_string(v, out->name, sizeof out->name) != 0 ||
        !fh_json_valid_field_name(out->name)) {
        out->name[0] = '\0';
        return -2;
    }
    if (fh_json_get(value, "args", &v) == 0) {
        fh_json_span key, member;
        /* SPEC: args is an object of named values; anything else is not a command this device can run. */
        if (fh_json_member_at(v, 0, &key, &member) < 0) return -2;
        out->args = v;
    }
    if (fh_json_get(value, "timeoutMs", &v) == 0 && (fh_json_int(v, &out->timeout_ms) != 0 || out->timeout_ms < 0)) out->timeout_ms = 0;
    return 0;
}

/*
 * The tail every answer shares: `"ok":..` (and `"error"` when not ok and not
 * empty), then the answer's object and the message's are closed.
 * cmdResult and configAck both end so.
 */
static int write_outcome(fh_json_writer *w, bool ok, const char *error)
{
    fh_jw_key(w, "ok");
    fh_jw_bool(w, ok);
    if (!ok && error != NULL && error[0] != '\0') {
        fh_jw_key(w, "error");
        fh_jw_string(w, error);
    }
    fh_jw_end_object(w);
    fh_jw_end_object(w);
    return fh_jw_finish(w);
}

/* `{"cmdResult":{"id":"<id>"`: how a command's answer starts, with or without its result. */
static void begin_cmd_result(fh_json_writer *w, const char *id)
{
    fh_jw_begin_object(w);
    fh_jw_key(w, "cmdResult");
    fh_jw_begin_object(w);
    fh_jw_key(w, "id");
    fh_jw_string(w, id);
}

void fh_cmd_result_begin(fh_json_writer *w, const char *id)
{
    begin_cmd_result(w, id);
    fh_jw_key(w, "result");
    fh_jw_begin_object(w);
}

int fh_cmd_result_end(fh_json_writer *w, bool ok, const char *error)
{
    fh_jw_end_object(w);
    return write_outcome(w, ok, error);
}

int fh_cmd_result_failed(fh_json_writer *w, const char *id, const char *error)
{
    fh_jw_init(w, w->buf, w->cap);
    begin_cmd_result(w, id);
    return write_outcome(w, false, error);
}

int fh_config_parse(fh_json_span value, fh_config_doc *out)
{
    fh_json_span v, key, member;
    memset(out, 0, sizeof *out);
    if (fh_json_get(value, "version", &v) != 0 || fh_json_int(v, &out->version) != 0 || out->version < 1) return -1;
    if (fh_json_get(value, "desired", &v) != 0 || fh_json_member_at(v, 0, &key, &member) < 0) return -1;
    out->desired = v;
    return 0;
}

int fh_config_ack_write(fh_json_writer *w, int64_t version, bool ok, const char *error)
{
    fh_jw_begin_object(w);
    fh_jw_key(w, "configAck");
    fh_jw_begin_object(w);
    fh_jw_key(w, "version");
    fh_jw_int(w, version);
    return write_outcome(w, ok, error);
}

int fh_provision_request_write(fh_json_writer *w, const char *device_id, const char *csr_pem)
{
    fh_jw_begin_object(w);
    fh_jw_key(w, "provision");
    fh_jw_begin_object(w);
    fh_jw_key(w, "device");
    fh_jw_string(w, device_id);
    fh_jw_key(w, "csr");
    fh_jw_string(w, csr_pem);
    fh_jw_end_object(w);
    fh_jw_end_object(w);
    return fh_jw_finish(w);
}

/* `cert` (a PEM certificate), `serial` and `notAfter` of an issued certificate: what provisioned and cert share. */
static int read_issued(fh_json_span value, const char *pem_key, fh_issued *out, char *cert_pem, size_t cert_cap)
{
    fh_json_span v;
    if (fh_json_get(value, pem_key, &v) != 0 || fh_json_string(v, cert_pem, cert_cap) != 0) return -1;
    if (strstr(cert_pem, "-----BEGIN CERTIFICATE-----") == NULL) return -1;
    if (fh_json_get(value, "serial", &v) == 0 && fh_json_string(v, out->serial, sizeof out->serial) != 0) out->serial[0] = '\0';
    if (fh_json_get(value, "notAfter", &v) == 0 && fh_json_int(v, &out->not_after) != 0) out->not_after = 0;
    return 0;
}

int fh_provisioned_parse(fh_json_span value, const char *device_id, fh_provisioned *out, char *cert_pem, size_t cert_cap)
{
    fh_json_span v;
    char device[FH_CMD_ID_MAX + 1];
    memset(out, 0, sizeof *out);
    if (fh_json_get(value, "device", &v) != 0 || fh_json_string(v, device, sizeof device) != 0 || strcmp(device, device_id) != 0) return -1;
    return read_issued(value, "cert", out, cert_pem, cert_cap);
}

int fh_cert_parse(fh_json_span value, fh_issued *out, char *cert_pem, size_t cert_cap)
{
    memset(out, 0, sizeof *out);
    return read_issued(value, "pem", out, cert_pem, cert_cap);
}

int fh_hello_cert_parse(fh_json_span value, fh_hello_cert *out)
{
    fh_json_span v, key, member;
    memset(out, 0, sizeof *out);
    if (fh_json_member_at(value, 0, &key, &member) < 0) return -1;
    if (fh_json_get(value, "serial", &v) == 0 && fh_json_string(v, out->serial, sizeof out->serial) != 0) out->serial[0] = '\0';
    if (fh_json_get(value, "notAfter", &v) == 0 && fh_json_int(v, &out->not_after) != 0) out->not_after = 0;
    if (fh_json_get(value, "renew", &v) == 0 && fh_json_bool(v, &out->renew) != 0) out->renew = false;
    return 0;
}

int fh_csr_request_write(fh_json_writer *w, const char *csr_pem)
{
    fh_jw_begin_object(w);
    fh_jw_key(w, "csr");
    fh_jw_string(w, csr_pem);
    fh_jw_end_object(w);
    return fh_jw_finish(w);
}

int fh_renew_request_write(fh_json_writer *w)
{
    fh_jw_begin_object(w);
    fh_jw_key(w, "renew");
    fh_jw_begin_object(w);
    fh_jw_end_object(w);
    fh_jw_end_object(w);
    return fh_jw_finish(w);
}

int fh_refusal_parse(fh_json_span value, char *code, size_t code_cap, uint32_t *retry_after_ms)
{
    fh_json_span v, key, member;
    int64_t n;
    code[0] = '\0';
    *retry_after_ms = 0;
    if (fh_json_member_at(value, 0, &key, &member) < 0) return -1;
    if (fh_json_get(value, "error", &v) == 0 && fh_json_string(v, code, code_cap) != 0) code[0] = '\0';
    if (fh_json_get(value, "retryAfterMs", &v) == 0 && fh_json_int(v, &n) == 0 && n > 0) *retry_after_ms = n > 3600000 ? 3600000u : (uint32_t)n;
    return 0;
}
