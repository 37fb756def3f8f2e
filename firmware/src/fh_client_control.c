/* Protocol 2's commands and desired configuration on the device (SPEC: Device protocol version 2). */
#include "fh_client_internal.h"

#include <stdio.h>
#include <string.h>

/* Sends what `w` holds (built at tx + FH_WS_MAX_HEADER). */
static int send_built(fh_client *c, int len)
{
    if (len < 0) return -1;
    return fh_conn_send_frame(c, FH_WS_OP_TEXT, c->buf.tx + FH_WS_MAX_HEADER, (size_t)len);
}

static void writer(fh_client *c, fh_json_writer *w)
{
    fh_jw_init(w, (char *)(c->buf.tx + FH_WS_MAX_HEADER), c->buf.tx_size - FH_WS_MAX_HEADER);
}

int fh_client_on_cmd(fh_client *c, fh_json_span value)
{
    fh_cmd_request cmd;
    fh_json_writer w;
    char error[FH_ERROR_TEXT_MAX] = "";
    const fh_command *found = NULL;
    bool ok = false;
    int len, parsed = fh_cmd_parse(value, &cmd);
    if (parsed == -1) return 0; /* no id: nothing can be answered (the hub times it out) */
    writer(c, &w);
    if (parsed == 0) {
        for (size_t i = 0; i < c->cfg.command_count && found == NULL; i++) {
            if (strcmp(c->cfg.commands[i].name, cmd.name) == 0) found = &c->cfg.commands[i];
        }
    }
    if (parsed != 0) {
        snprintf(error, sizeof error, "invalid command");
        len = fh_cmd_result_failed(&w, cmd.id, error);
    } else if (found == NULL) {
        snprintf(error, sizeof error, "unknown command %s", cmd.name);
        len = fh_cmd_result_failed(&w, cmd.id, error);
    } else {
        fh_cmd_result_begin(&w, cmd.id);
        ok = found->handle(&cmd, &w, error, sizeof error, found->ctx);
        error[sizeof error - 1] = '\0';
        if (ok) {
            len = fh_cmd_result_end(&w, true, NULL);
            if (len < 0) {
                ok = false;
                snprintf(error, sizeof error, "result too large");
            }
        }
        /* A failure says why without a result (whatever the handler wrote before failing is dropped). */
        if (!ok) len = fh_cmd_result_failed(&w, cmd.id, error[0] != '\0' ? error : "failed");
    }
    /* A small tx buffer: the answer without its reason rather than no answer (the hub would time the command out). */
    if (len < 0) len = fh_cmd_result_failed(&w, cmd.id, NULL);
    fh_event ev = { .type = FH_EV_COMMAND, .text = cmd.name[0] != '\0' ? cmd.name : "?", .ok = ok, .detail = ok ? "" : error };
    if (send_built(c, len) != 0) return -1;
    fh_client_emit(c, &ev);
    return 0;
}

int fh_client_on_config(fh_client *c, fh_json_span value)
{
    fh_config_doc doc;
    fh_json_writer w;
    char error[FH_ERROR_TEXT_MAX] = "";
    bool ok = false;
    if (fh_config_parse(value, &doc) != 0) return 0; /* no version to acknowledge */
    if (c->cfg.on_config == NULL) {
        snprintf(error, sizeof error, "configuration not supported");
    } else {
        ok = c->cfg.on_config(doc.version, doc.desired, error, sizeof error, c->cfg.config_ctx);
        error[sizeof error - 1] = '\0';
        if (!ok && error[0] == '\0') snprintf(error, sizeof error, "not applied");
    }
    writer(c, &w);
    fh_event ev = { .type = FH_EV_CONFIG, .version = doc.version, .ok = ok, .detail = ok ? "" : error };
    int len = fh_config_ack_write(&w, doc.version, ok, error);
    if (len < 0) {
        writer(c, &w);
        len = fh_config_ack_write(&w, doc.version, ok, NULL); /* a small tx buffer: the ack without its reason */
    }
    if (send_built(c, len) != 0) return -1;
    fh_client_emit(c, &ev);
    return 0;
}
