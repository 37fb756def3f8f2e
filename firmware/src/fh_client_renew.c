/*
 * Certificate renewal over the device's own connection (SPEC: Device
 * protocol version 2): when hello.cert.renew says so (or the application
 * asks), a new P-256 key and a request (`{"csr"}`), or `{"renew":{}}` for a
 * key that stays; the `{"cert"}` answer goes to the other credential slot,
 * written key, certificate, then state; the client reconnects with it and
 * the first hello on it makes it accepted. A handshake the hub refuses with
 * the new pair puts the previous one back.
 *
 * The state byte across a power cut (fh_cred.h): key saved, then the state
 * names it pending (the next attempt sends the same key again, and the hub
 * answers an identical repeat with the same certificate); certificate saved;
 * then the state makes the new pair current on trial. Before that last
 * write the old pair is current; after it a refused new pair falls back.
 */
#include "fh_client_internal.h"

#include <string.h>

#include "fleethub/fh_port.h"

enum { PHASE_IDLE = 0, PHASE_ASKED, PHASE_RETRY };

/* The new key and request (then the certificate) in the caller's pem buffer: the key first, the rest after it. */
static char *key_area(fh_client *c)
{
    return c->buf.pem;
}

static char *cert_area(fh_client *c)
{
    return c->buf.pem + FH_KEY_PEM_MAX;
}

static bool configured(const fh_client *c)
{
    return c->cfg.cred_store != NULL && c->cfg.renew_mode != FH_RENEW_OFF && c->buf.pem != NULL && c->buf.pem_size >= FH_RENEW_PEM_BYTES;
}

static void emit_text(fh_client *c, fh_event_type type, const char *text, int error)
{
    fh_event ev = { .type = type, .text = text, .error = error };
    fh_client_emit(c, &ev);
}

/* Renewal stops for this run (the next start or hello.cert.renew on a later connection does not undo it). */
static void give_up(fh_client *c, const char *why, int error)
{
    c->renew_phase = PHASE_IDLE;
    c->renew_given_up = true;
    c->renew_requested = false;
    emit_text(c, FH_EV_RENEW_FAILED, why, error);
}

int fh_client_renew(fh_client *c)
{
    if (!configured(c)) return -1;
    c->renew_requested = true;
    c->renew_given_up = false;
    return 0;
}

void fh_renew_init(fh_client *c)
{
    uint8_t state = 0;
    if (!configured(c) || c->cfg.cred_store->load_state(c->cfg.cred_store->ctx, &state) != 0) return;
    /* Renewed before a restart and not accepted yet: a refusal still falls back. */
    c->on_trial = (state & FH_CRED_TRIAL) != 0 && FH_CRED_CURRENT(state) != 0;
}

/*
 * The request, in the tx buffer, then sent. A new key is kept (and named
 * pending) before its request leaves; a pending key from an attempt cut
 * short is sent again instead of a new one.
 */
static void ask(fh_client *c)
{
    const fh_cred_storage *s = c->cfg.cred_store;
    uint8_t state = 0;
    int rc = 0, len;
    fh_json_writer w;
    if (s->load_state(s->ctx, &state) != 0 || FH_CRED_CURRENT(state) == 0) {
        give_up(c, "storage", -1); /* no current pair in the storage: nothing to fall back to */
        return;
    }
    uint8_t current = (uint8_t)(FH_CRED_CURRENT(state) - 1), slot = (uint8_t)(current ^ 1u);
    fh_jw_init(&w, (char *)(c->buf.tx + FH_WS_MAX_HEADER), c->buf.tx_size - FH_WS_MAX_HEADER);
    if (c->cfg.renew_mode == FH_RENEW_SAME_KEY) {
        /* The key of this handshake: copied to the new slot with its certificate. */
        if (s->load(s->ctx, current, FH_CRED_KEY, key_area(c), FH_KEY_PEM_MAX) != 0) {
            give_up(c, "storage", -1);
            return;
        }
        len = fh_renew_request_write(&w);
    } else {
        bool pending = FH_CRED_PENDING(state) == slot + 1u;
        rc = pending ? s->load(s->ctx, slot, FH_CRED_KEY, key_area(c), FH_KEY_PEM_MAX) : 1;
        if (rc < 0) {
            give_up(c, "storage", rc);
            return;
        }
        if (rc == 0) {
            rc = fh_csr_for_key(c->device_id, key_area(c), mbedtls_ctr_drbg_random, &c->drbg, cert_area(c), FH_CSR_PEM_MAX);
        } else {
            rc = fh_make_key_and_csr(c->device_id, mbedtls_ctr_drbg_random, &c->drbg, key_area(c), FH_KEY_PEM_MAX, cert_area(c), FH_CSR_PEM_MAX);
            if (rc != 0) {
                give_up(c, "key", rc);
                return;
            }
            if (s->save(s->ctx, slot, FH_CRED_KEY, key_area(c)) != 0 || s->save_state(s->ctx, FH_CRED_STATE(current + 1u, slot + 1u)) != 0) {
                give_up(c, "storage", -1);
                return;
            }
        }
        if (rc != 0) {
            give_up(c, "key", rc);
            return;
        }
        len = fh_csr_request_write(&w, cert_area(c));
    }
    if (len < 0) {
        give_up(c, "tx_small", FH_CSR_PEM_MAX);
        return;
    }
    c->renew_requested = false;
    c->renew_phase = PHASE_ASKED;
    c->renew_requests++;
    emit_text(c, FH_EV_RENEWING, c->cfg.renew_mode == FH_RENEW_SAME_KEY ? "renew" : "csr", 0);
    /* A failed send ends the connection; the next hello asks again. */
    fh_conn_send_frame(c, FH_WS_OP_TEXT, c->buf.tx + FH_WS_MAX_HEADER, (size_t)len);
}

/* Asks when renewal is on, offered on this connection, wanted, and not already under way. */
static void maybe_ask(fh_client *c)
{
    if (!configured(c) || c->renew_given_up || c->renew_phase != PHASE_IDLE) return;
    if (c->protocol != 2 || (c->features & FH_FEATURE_RENEW) == 0 || c->device_id[0] == '\0') return;
    if (c->renew_requests >= FH_RENEW_MAX_REQUESTS_PER_CONNECTION) return;
    if (c->renew_requested || (c->has_hello_cert && c->hello_cert.renew)) ask(c);
}

void fh_renew_on_hello(fh_client *c, fh_json_span hello)
{
    fh_json_span v;
    c->has_hello_cert = fh_json_get(hello, "cert", &v) == 0 && fh_hello_cert_parse(v, &c->hello_cert) == 0;
    if (fh_json_get(hello, "device", &v) != 0 || fh_json_string(v, c->device_id, sizeof c->device_id) != 0 || !fh_device_id_valid(c->device_id)) {
        c->device_id[0] = '\0';
    }
    c->renew_requests = 0;
    /* An answer lost with the last connection is asked for again; a refusal's wait goes on across connections. */
    if (c->renew_phase == PHASE_ASKED) c->renew_phase = PHASE_IDLE;
    if (c->on_trial && configured(c)) {
        /* SPEC: the first handshake with the new certificate makes it current at the hub; it is ours for good too. */
        const fh_cred_storage *s = c->cfg.cred_store;
        uint8_t state = 0;
        if (s->load_state(s->ctx, &state) == 0 && s->save_state(s->ctx, (uint8_t)(FH_CRED_CURRENT(state))) == 0) c->on_trial = false;
        emit_text(c, FH_EV_RENEWED, c->has_hello_cert ? c->hello_cert.serial : "", 0);
    }
}

void fh_renew_poll(fh_client *c)
{
    if (c->state != FH_STATE_READY) return;
    if (c->renew_phase == PHASE_RETRY && fh_port_now_ms() >= c->renew_retry_ms) c->renew_phase = PHASE_IDLE;
    maybe_ask(c);
}

int fh_renew_on_cert(fh_client *c, fh_json_span value)
{
    const fh_cred_storage *s = c->cfg.cred_store;
    fh_issued issued;
    uint8_t state = 0;
    if (!configured(c) || c->renew_phase != PHASE_ASKED) return 0; /* not asked: a stray answer changes nothing */
    c->renew_phase = PHASE_IDLE;
    if (fh_cert_parse(value, &issued, cert_area(c), FH_CERT_PEM_MAX) != 0 ||
        fh_cred_pair_matches(cert_area(c), key_area(c), mbedtls_ctr_drbg_random, &c->drbg) != 0) {
        give_up(c, "bad_reply", -1);
        return 0;
    }
    if (s->load_state(s->ctx, &state) != 0 || FH_CRED_CURRENT(state) == 0) {
        give_up(c, "storage", -1);
        return 0;
    }
    uint8_t slot = (uint8_t)((FH_CRED_CURRENT(state) - 1u) ^ 1u);
    /* Key (already there for a new key), certificate, then the state: until the last write the old pair is current. */
    if ((c->cfg.renew_mode == FH_RENEW_SAME_KEY && s->save(s->ctx, slot, FH_CRED_KEY, key_area(c)) != 0) ||
        s->save(s->ctx, slot, FH_CRED_CERT, cert_area(c)) != 0 || s->save_state(s->ctx, (uint8_t)(FH_CRED_STATE(slot + 1u, 0u) | FH_CRED_TRIAL)) != 0) {
        give_up(c, "storage", -1);
        return 0;
    }
    int rc = fh_conn_use_credentials(c, cert_area(c), key_area(c));
    memset(key_area(c), 0, FH_KEY_PEM_MAX);
    if (rc != 0) {
        /* Cannot happen for a pair that just matched; if it does, the stored state still falls back on a refusal. */
        give_up(c, "bad_reply", rc);
        return -1;
    }
    c->on_trial = true;
    fh_event ev = { .type = FH_EV_CERT, .text = issued.serial, .not_after = issued.not_after };
    fh_client_emit(c, &ev);
    return 1;
}

void fh_renew_on_cert_error(fh_client *c, fh_json_span value)
{
    char code[32];
    uint32_t retry = 0;
    if (c->renew_phase != PHASE_ASKED) return;
    fh_refusal_parse(value, code, sizeof code, &retry);
    fh_event ev = { .type = FH_EV_CERT_ERROR, .text = code, .retry_after_ms = retry };
    fh_client_emit(c, &ev);
    if (strcmp(code, "rate_limited") == 0 || strcmp(code, "unavailable") == 0) {
        /* It heals: ask again (the same key, so a repeat) after the hub's wait, jittered so a fleet does not come back at once. */
        uint32_t wait = retry == 0 ? 1000u : retry > FH_RENEW_MAX_RETRY_MS ? FH_RENEW_MAX_RETRY_MS : retry;
        c->renew_retry_ms = fh_port_now_ms() + wait + fh_conn_random32(c) % (wait / 2u + 1u);
        c->renew_phase = PHASE_RETRY;
        c->renew_requested = true; /* asked for, even when hello.cert.renew no longer says so (an early renewal) */
        return;
    }
    /* not_due, csr_invalid: asking again in this run gets the same answer. */
    c->renew_phase = PHASE_IDLE;
    c->renew_given_up = true;
    c->renew_requested = false;
}

void fh_renew_on_ended(fh_client *c)
{
    if (c->renew_phase == PHASE_ASKED) c->renew_phase = PHASE_IDLE;
    c->has_hello_cert = false;
}

bool fh_renew_on_refused(fh_client *c)
{
    const fh_cred_storage *s = c->cfg.cred_store;
    uint8_t state = 0;
    if (!c->on_trial || !configured(c)) return false;
    c->on_trial = false;
    if (s->load_state(s->ctx, &state) != 0 || FH_CRED_CURRENT(state) == 0) return false;
    uint8_t previous = (uint8_t)((FH_CRED_CURRENT(state) - 1u) ^ 1u);
    /* The previous pair is still current at the hub (the new one never completed a handshake): back to it. */
    if (s->load(s->ctx, previous, FH_CRED_KEY, key_area(c), FH_KEY_PEM_MAX) != 0 ||
        s->load(s->ctx, previous, FH_CRED_CERT, cert_area(c), FH_CERT_PEM_MAX) != 0 ||
        fh_conn_use_credentials(c, cert_area(c), key_area(c)) != 0 || s->save_state(s->ctx, FH_CRED_STATE(previous + 1u, 0u)) != 0) {
        memset(key_area(c), 0, FH_KEY_PEM_MAX);
        give_up(c, "storage", -1);
        return false;
    }
    memset(key_area(c), 0, FH_KEY_PEM_MAX);
    c->renew_given_up = true;
    emit_text(c, FH_EV_RENEW_FELL_BACK, "refused", 0);
    return true;
}
