/* The client's protocol side: poll loop, downlink dispatch, sending the outbox, close codes (SPEC: Device protocol). */
#include "fh_client_internal.h"

#include <string.h>

#include "fleethub/fh_backoff.h"
#include "fleethub/fh_port.h"

/** A connection that lasted this long starts the next backoff from the beginning. */
#define STABLE_CONNECTION_MS 60000u
/** How long fh_client_close waits for the hub's close frame. */
#define CLOSE_WAIT_MS 2000u

void fh_client_emit(fh_client *c, fh_event *ev)
{
    if (c->cfg.on_event != NULL) c->cfg.on_event(ev, c->cfg.event_ctx);
}

void fh_client_config_defaults(fh_client_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->path = "/v1/device";
    cfg->port = 8443;
    cfg->backoff_base_ms = FH_DEFAULT_BACKOFF_BASE_MS;
    cfg->backoff_max_ms = FH_DEFAULT_BACKOFF_MAX_MS;
    cfg->rate_limited_min_ms = FH_DEFAULT_RATE_LIMITED_MIN_MS;
    cfg->window = FH_DEFAULT_WINDOW;
    cfg->ack_timeout_ms = FH_DEFAULT_ACK_TIMEOUT_MS;
    cfg->connect_timeout_ms = FH_DEFAULT_CONNECT_TIMEOUT_MS;
    cfg->refused_min_ms = FH_DEFAULT_REFUSED_MIN_MS;
    cfg->quota_wait_ms = FH_DEFAULT_QUOTA_WAIT_MS;
    cfg->protocol = FH_DEFAULT_PROTOCOL;
    cfg->renew_mode = FH_RENEW_NEW_KEY;
}

int fh_client_init(fh_client *c, const fh_client_config *cfg, const fh_client_buffers *buf, fh_outbox *outbox)
{
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    c->buf = *buf;
    c->outbox = outbox;
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509_crt_init(&c->cert);
    mbedtls_pk_init(&c->key);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ssl_init(&c->ssl);
    mbedtls_net_init(&c->net);
    mbedtls_ssl_session_init(&c->session);
    if (buf->rx_size < 512 || buf->msg_size < 64 || buf->tx_size < 256 || cfg->window == 0) return -1;
    if (cfg->protocol != 1 && cfg->protocol != 2) return -1;
    if (cfg->alternate_count > FH_MAX_ENDPOINTS || (cfg->alternate_count > 0 && cfg->alternates == NULL)) return -1;
    c->state = FH_STATE_IDLE;
    int rc = fh_conn_setup(c);
    if (rc == 0) fh_renew_init(c);
    return rc;
}

void fh_client_free(fh_client *c)
{
    mbedtls_net_free(&c->net);
    mbedtls_ssl_session_free(&c->session);
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_pk_free(&c->key);
    mbedtls_x509_crt_free(&c->cert);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
}

uint16_t fh_client_stop_code(const fh_client *c)
{
    return c->stop_code;
}

/* The next connect `delay_ms` from now, and the event that says so (what it says is what happens). */
static void retry_in(fh_client *c, uint32_t delay_ms)
{
    fh_event ev = { .type = FH_EV_RETRY, .retry_after_ms = delay_ms };
    c->next_connect_ms = fh_port_now_ms() + delay_ms;
    fh_client_emit(c, &ev);
}

/* Schedules the next connect: full jitter, at least `floor_ms` (4029 asks for a longer wait). */
static void schedule_retry(fh_client *c, uint32_t floor_ms)
{
    uint32_t delay = fh_backoff_delay(c->cfg.backoff_base_ms, c->cfg.backoff_max_ms, c->attempt, fh_conn_random32(c));
    if (c->attempt < 31) c->attempt++;
    if (floor_ms > 0) delay = floor_ms + delay / 2;
    retry_in(c, delay);
}

/* The next endpoint in turn (1013, a failed connect): a cluster's other hubs. */
static void next_endpoint(fh_client *c)
{
    if (c->cfg.alternate_count > 0) c->endpoint = (c->endpoint + 1) % (c->cfg.alternate_count + 1);
}

/* The connection is gone (closed, broken or dropped): its state is dropped and the close reported. */
static void torn_down(fh_client *c, uint16_t code)
{
    fh_event ev = { .type = FH_EV_CLOSE, .close_code = code };
    fh_conn_drop(c);
    if (fh_port_now_ms() - c->connected_ms >= STABLE_CONNECTION_MS) c->attempt = 0;
    c->state = FH_STATE_IDLE;
    c->pause_until_ms = 0;
    c->resend_after_pause = false;
    c->probing = false;
    fh_renew_on_ended(c);
    fh_client_emit(c, &ev);
}

/* The connection is gone: decide what comes next from the close code. */
static void ended(fh_client *c, uint16_t code)
{
    fh_event ev = { .type = FH_EV_STOPPED, .close_code = code };
    torn_down(c, code);
    switch (code) {
    case FH_CLOSE_REVOKED:            /* revoked: reconnecting would only be refused again */
    case FH_CLOSE_REPLACED:           /* a newer connection of this device took over: two would fight */
    case FH_CLOSE_PROVISION_REFUSED:
        c->state = FH_STATE_STOPPED;
        c->stop_code = code;
        fh_client_emit(c, &ev);
        return;
    case FH_CLOSE_RATE_LIMITED:
        /* SPEC: kept sending while refused; wait at least as long as the hub last asked. */
        schedule_retry(c, c->last_retry_after_ms > c->cfg.rate_limited_min_ms ? c->last_retry_after_ms : c->cfg.rate_limited_min_ms);
        return;
    case FH_WS_CLOSE_TRY_AGAIN:
        /* SPEC: 1013, a cluster hub lost its cluster: another hub of the fleet can take us. */
        next_endpoint(c);
        schedule_retry(c, 0);
        return;
    default: /* 1001 shutting down, 1011 store failed, 1006 lost, 1008/1009: back off and come back */
        schedule_retry(c, 0);
        return;
    }
}

static void on_hello(fh_client *c, fh_json_span hello)
{
    fh_event ev = { .type = FH_EV_HELLO };
    fh_json_span v, limits;
    int64_t n;
    if (fh_json_get(hello, "lastSeq", &v) == 0 && !fh_json_is_null(v) && fh_json_int(v, &n) == 0 && n >= 0) {
        ev.has_last_seq = true;
        ev.last_seq = (uint64_t)n;
    }
    memset(&c->limits, 0, sizeof c->limits);
    if (fh_json_get(hello, "limits", &limits) == 0) {
        if (fh_json_get(limits, "maxPayloadBytes", &v) == 0) fh_json_int(v, &c->limits.max_payload_bytes);
        if (fh_json_get(limits, "msgsPerSec", &v) == 0) fh_json_int(v, &c->limits.msgs_per_sec);
        if (fh_json_get(limits, "burst", &v) == 0) fh_json_int(v, &c->limits.burst);
        if (fh_json_get(limits, "msgsPerDay", &v) == 0) fh_json_int(v, &c->limits.msgs_per_day);
        if (fh_json_get(limits, "maxFields", &v) == 0) fh_json_int(v, &c->limits.max_fields);
        if (fh_json_get(limits, "maxDownlinkBytes", &v) == 0) fh_json_int(v, &c->limits.max_downlink_bytes);
    }
    /*
     * SPEC: version 2 is what the hub selected in the upgrade and confirms in
     * hello.protocol; otherwise this connection speaks version 1.
     */
    c->protocol = 1;
    c->features = 0;
    if (c->v2_selected && fh_json_get(hello, "protocol", &v) == 0 && fh_json_int(v, &n) == 0 && n == 2) {
        fh_json_span list, item;
        c->protocol = 2;
        if (fh_json_get(hello, "features", &list) == 0) {
            for (size_t i = 0; i < 16 && fh_json_array_at(list, i, &item) == 0; i++) {
                char name[16];
                if (fh_json_string(item, name, sizeof name) != 0) continue;
                if (strcmp(name, "renew") == 0) c->features |= FH_FEATURE_RENEW;
                else if (strcmp(name, "cmd") == 0) c->features |= FH_FEATURE_CMD;
                else if (strcmp(name, "config") == 0) c->features |= FH_FEATURE_CONFIG;
            }
        }
    }
    fh_renew_on_hello(c, hello);
    ev.protocol = c->protocol;
    ev.features = c->features;
    ev.limits = &c->limits;
    ev.cert = c->has_hello_cert ? &c->hello_cert : NULL;
    /* SPEC: hello.lastSeq is the highest seq stored; numbering goes on above it. */
    ev.error = fh_outbox_hello(c->outbox, ev.has_last_seq, ev.last_seq);
    c->state = FH_STATE_READY;
    fh_client_emit(c, &ev);
}

static void on_ack(fh_client *c, fh_json_span value)
{
    fh_event ev = { .type = FH_EV_ACK, .has_seq = true };
    int64_t n;
    if (fh_json_int(value, &n) != 0 || n < 0) return;
    ev.seq = (uint64_t)n;
    ev.error = fh_outbox_ack(c->outbox, ev.seq) < 0 ? -3 : 0;
    c->attempt = 0;
    c->probing = false;
    fh_client_emit(c, &ev);
}

static void on_nack(fh_client *c, fh_json_span msg, fh_json_span seq_value)
{
    char code[32] = "";
    fh_event ev = { .type = FH_EV_NACK, .text = code };
    fh_json_span v;
    int64_t n;
    if (!fh_json_is_null(seq_value) && fh_json_int(seq_value, &n) == 0 && n > 0) {
        ev.has_seq = true;
        ev.seq = (uint64_t)n;
    }
    if (fh_json_get(msg, "error", &v) == 0) fh_json_string(v, code, sizeof code);
    if (fh_json_get(msg, "retryAfterMs", &v) == 0 && fh_json_int(v, &n) == 0 && n > 0) {
        ev.retry_after_ms = n > 3600000 ? 3600000u : (uint32_t)n;
        c->last_retry_after_ms = ev.retry_after_ms;
    }
    fh_client_emit(c, &ev);
    if (strcmp(code, "invalid_json") == 0 || strcmp(code, "invalid_message") == 0) {
        /* The hub will never take this reading: resending it would only earn 1008. */
        if (ev.has_seq && fh_outbox_drop(c->outbox, ev.seq) == 0) {
            fh_event dropped = { .type = FH_EV_DROPPED, .seq = ev.seq, .has_seq = true, .text = code };
            fh_client_emit(c, &dropped);
        }
        return;
    }
    /* rate_limited / quota_exceeded: keep it, send nothing until retryAfterMs has passed. */
    if (ev.has_seq) fh_outbox_nack(c->outbox, ev.seq);
    uint32_t wait = ev.retry_after_ms;
    if (wait == 0) {
        /* No retryAfterMs: a quota lasts until the hub's day ends, so resending soon would only be refused again. */
        wait = strcmp(code, "quota_exceeded") == 0 ? c->cfg.quota_wait_ms : c->cfg.backoff_base_ms;
    }
    uint64_t until = fh_port_now_ms() + wait;
    c->resend_after_pause = true;
    if (until > c->pause_until_ms) {
        fh_event paused = { .type = FH_EV_PAUSED, .retry_after_ms = wait, .text = code };
        c->pause_until_ms = until;
        fh_client_emit(c, &paused);
    }
}

/* One downlink text message: its first key says what it is. 0, -1 to drop the connection, 1 to reconnect now (a new certificate). */
static int dispatch(fh_client *c, const char *text, size_t len)
{
    fh_json_span msg = { text, len }, kind, value;
    if (fh_json_validate(text, len) != 0 || fh_json_first_key(msg, &kind) != 0) return 0; /* not ours to answer */
    if (fh_json_span_eq(kind, "hello")) {
        if (fh_json_get(msg, "hello", &value) == 0) on_hello(c, value);
    } else if (fh_json_span_eq(kind, "ack")) {
        if (fh_json_get(msg, "ack", &value) == 0) on_ack(c, value);
    } else if (fh_json_span_eq(kind, "nack")) {
        if (fh_json_get(msg, "nack", &value) == 0) on_nack(c, msg, value);
    } else if (c->protocol == 2 && fh_json_span_eq(kind, "cmd")) {
        /* SPEC: version 2 only; a version 1 connection never gets one, and answering would be an unknown message. */
        if (fh_json_get(msg, "cmd", &value) == 0 && fh_client_on_cmd(c, value) != 0) return -1;
    } else if (c->protocol == 2 && fh_json_span_eq(kind, "config")) {
        if (fh_json_get(msg, "config", &value) == 0 && fh_client_on_config(c, value) != 0) return -1;
    } else if (c->protocol == 2 && fh_json_span_eq(kind, "cert")) {
        if (fh_json_get(msg, "cert", &value) == 0) return fh_renew_on_cert(c, value);
    } else if (c->protocol == 2 && fh_json_span_eq(kind, "certError")) {
        if (fh_json_get(msg, "certError", &value) == 0) fh_renew_on_cert_error(c, value);
    } else {
        for (size_t i = 0; i < c->cfg.handler_count; i++) {
            const fh_message_handler *h = &c->cfg.handlers[i];
            if (fh_json_span_eq(kind, h->key) && fh_json_get(msg, h->key, &value) == 0) return h->handle(c, value, h->ctx);
        }
    }
    return 0; /* unknown kinds are skipped: a newer hub may say more */
}

void fh_client_opened(fh_client *c)
{
    fh_event ev = { .type = FH_EV_CONNECTED, .host = fh_conn_host(c), .port = fh_conn_port(c) };
    c->last_retry_after_ms = 0;
    fh_outbox_rewind(c->outbox); /* SPEC: acks speak of this connection only; resend what is held */
    fh_client_emit(c, &ev);
}

int fh_client_feed(fh_client *c, const uint8_t *data, size_t n)
{
    size_t at = 0;
    c->last_rx_ms = fh_port_now_ms();
    while (at < n && c->state != FH_STATE_IDLE && c->state != FH_STATE_STOPPED) {
        fh_ws_event ev;
        at += fh_ws_reader_feed(&c->reader, data + at, n - at, &ev);
        switch (ev.type) {
        case FH_WS_EV_MESSAGE: {
            int rc = ev.opcode == FH_WS_OP_TEXT ? dispatch(c, (const char *)ev.data, ev.len) : 0;
            if (rc != 0) {
                fh_conn_send_close(c, FH_WS_CLOSE_NORMAL);
                if (rc > 0) {
                    /* A new certificate: a fresh handshake with it now, not after a backoff. */
                    torn_down(c, FH_WS_CLOSE_NORMAL);
                    c->attempt = 0;
                    retry_in(c, 0);
                } else {
                    ended(c, FH_WS_CLOSE_ABNORMAL);
                }
                return -1;
            }
            break;
        }
        case FH_WS_EV_PING:
            /* RFC 6455 §5.5.3: a pong carries the ping's payload. */
            if (fh_conn_send_frame(c, FH_WS_OP_PONG, ev.data, ev.len) != 0) {
                ended(c, FH_WS_CLOSE_ABNORMAL);
                return -1;
            }
            break;
        case FH_WS_EV_CLOSE:
            /* RFC 6455 §5.5.1: answer with a close frame echoing the code, then the server ends TCP. */
            fh_conn_send_close(c, ev.close_code == FH_WS_CLOSE_NO_STATUS ? 0 : ev.close_code);
            ended(c, ev.close_code);
            return -1;
        case FH_WS_EV_ERROR:
            fh_conn_send_close(c, ev.close_code);
            ended(c, ev.close_code);
            return -1;
        default:
            break;
        }
    }
    return 0;
}

/* Sends what the window, a nack's wait and maxPayloadBytes allow. */
static void pump(fh_client *c)
{
    fh_outbox *o = c->outbox;
    if (c->state != FH_STATE_READY || fh_port_now_ms() < c->pause_until_ms) return;
    if (c->resend_after_pause) {
        /*
         * Resend only once the hub answered all that was in flight: an ack
         * then never straddles a nacked reading and its resend.
         */
        if (fh_outbox_in_flight(o) > 0) return;
        fh_outbox_rewind(o);
        c->resend_after_pause = false;
        /* One reading probes whether the hub takes readings again; the rest follow its ack. */
        c->probing = true;
    }
    while (fh_outbox_in_flight(o) < (c->probing ? 1u : c->cfg.window)) {
        int i = fh_outbox_next_unsent(o);
        if (i < 0) return;
        fh_slot *s = fh_outbox_slot(o, (size_t)i);
        uint8_t *room = c->buf.tx + FH_WS_MAX_HEADER;
        fh_json_writer w;
        fh_jw_init(&w, (char *)room, c->buf.tx_size - FH_WS_MAX_HEADER);
        fh_jw_begin_object(&w);
        fh_jw_key(&w, "seq");
        fh_jw_int(&w, (int64_t)s->seq);
        if (s->ts > 0) {
            fh_jw_key(&w, "ts");
            fh_jw_int(&w, s->ts);
        }
        fh_jw_key(&w, "data");
        fh_jw_raw(&w, fh_outbox_data(o, (size_t)i), s->len);
        fh_jw_end_object(&w);
        int len = fh_jw_finish(&w);
        if (len < 0 || (c->limits.max_payload_bytes > 0 && len > c->limits.max_payload_bytes)) {
            /* SPEC: over maxPayloadBytes the hub closes with 1009; such a reading can never be sent. */
            fh_event ev = { .type = FH_EV_DROPPED, .seq = s->seq, .has_seq = true, .text = "too_large" };
            fh_outbox_drop(o, s->seq);
            fh_client_emit(c, &ev);
            continue;
        }
        if (fh_conn_send_frame(c, FH_WS_OP_TEXT, room, (size_t)len) != 0) {
            ended(c, FH_WS_CLOSE_ABNORMAL);
            return;
        }
        s->state = FH_SLOT_SENT;
    }
}

int fh_client_poll(fh_client *c, uint32_t wait_ms)
{
    uint64_t now = fh_port_now_ms();
    if (c->state == FH_STATE_STOPPED) return -1;
    if (c->state == FH_STATE_IDLE) {
        if (now < c->next_connect_ms) {
            uint64_t left = c->next_connect_ms - now;
            fh_port_sleep_ms(left < wait_ms ? (uint32_t)left : wait_ms);
            return 0;
        }
        int rc = fh_conn_open(c);
        if (rc != 0) {
            bool refused = c->refusals > 0 && c->server_verified;
            fh_event ev = { .type = FH_EV_CONNECT_FAILED, .error = rc, .host = fh_conn_host(c), .port = fh_conn_port(c),
                            .text = refused ? "refused" : "" };
            fh_client_emit(c, &ev);
            if (refused && fh_renew_on_refused(c)) {
                /* The renewed pair was refused: the previous one is back, and still current at the hub. */
                c->refusals = 0;
                schedule_retry(c, 0);
            } else if (refused && c->refusals >= 2) {
                /* The hub refused our certificate again (revoked, expired, unknown): that does not heal soon. */
                schedule_retry(c, c->cfg.refused_min_ms);
            } else if (refused) {
                schedule_retry(c, 0);
            } else {
                next_endpoint(c);
                schedule_retry(c, 0);
            }
            return 0;
        }
    }
    pump(c);
    if (c->state == FH_STATE_IDLE || c->state == FH_STATE_STOPPED) return c->state == FH_STATE_STOPPED ? -1 : 0;
    now = fh_port_now_ms();
    uint32_t wait = wait_ms == 0 ? 1 : wait_ms;
    if (c->pause_until_ms > now && c->pause_until_ms - now < wait) wait = (uint32_t)(c->pause_until_ms - now) + 1;
    mbedtls_ssl_conf_read_timeout(&c->conf, wait);
    int n = mbedtls_ssl_read(&c->ssl, c->buf.rx, c->buf.rx_size);
    if (n > 0) {
        fh_client_feed(c, c->buf.rx, (size_t)n);
    } else if (n == MBEDTLS_ERR_SSL_TIMEOUT || n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) {
        if (fh_outbox_in_flight(c->outbox) > 0 && fh_port_now_ms() - c->last_rx_ms > c->cfg.ack_timeout_ms) {
            ended(c, FH_WS_CLOSE_ABNORMAL); /* a silent hub: try a fresh connection */
        }
    } else {
        ended(c, FH_WS_CLOSE_ABNORMAL); /* the connection ended without a close frame (a killed hub) */
    }
    pump(c);
    fh_renew_poll(c);
    return c->state == FH_STATE_STOPPED ? -1 : 0;
}

int fh_client_publish(fh_client *c, const char *data, size_t len, int64_t ts)
{
    return fh_outbox_add(c->outbox, data, len, ts);
}

int fh_client_send_text(fh_client *c, const char *text, size_t len)
{
    if (c->state != FH_STATE_READY && c->state != FH_STATE_OPEN) return -1;
    if (len + FH_WS_MAX_HEADER > c->buf.tx_size) return -1;
    return fh_conn_send_frame(c, FH_WS_OP_TEXT, (const uint8_t *)text, len);
}

void fh_client_close(fh_client *c)
{
    if (c->state != FH_STATE_OPEN && c->state != FH_STATE_READY) return;
    fh_conn_send_close(c, FH_WS_CLOSE_NORMAL);
    /* RFC 6455 §7.1.1: wait (bounded) for the server's close, then end TCP. */
    uint64_t deadline = fh_port_now_ms() + CLOSE_WAIT_MS;
    mbedtls_ssl_conf_read_timeout(&c->conf, 200);
    while (fh_port_now_ms() < deadline) {
        int n = mbedtls_ssl_read(&c->ssl, c->buf.rx, c->buf.rx_size);
        if (n == MBEDTLS_ERR_SSL_TIMEOUT || n == MBEDTLS_ERR_SSL_WANT_READ) continue;
        if (n <= 0) break;
        size_t at = 0;
        bool closed = false;
        while (at < (size_t)n && !closed) {
            fh_ws_event ev;
            at += fh_ws_reader_feed(&c->reader, c->buf.rx + at, (size_t)n - at, &ev);
            closed = ev.type == FH_WS_EV_CLOSE || ev.type == FH_WS_EV_ERROR;
        }
        if (closed) break;
    }
    fh_conn_drop(c);
    c->state = FH_STATE_IDLE;
}
