/* Provisioning by claim over /v1/provision (see fh_provision.h). */
#include "fleethub/fh_provision.h"

#include <string.h>

#include "fh_client_internal.h"
#include "fleethub/fh_csr.h"
#include "fleethub/fh_port.h"

enum { PENDING = 0, GOT_CERT, REFUSED, BAD_REPLY, TX_SMALL };

typedef struct {
    fh_client *c;
    const fh_provision_config *pc;
    const char *csr_pem;
    char *cert_pem;
    size_t cert_cap;
    fh_provision_result *result;
    int outcome;
    void (*user_event)(const fh_event *ev, void *ctx);
    void *user_ctx;
} provision_ctx;

/* Connected: the one request of this connection (SPEC), then the user's event. */
static void on_event(const fh_event *ev, void *ctx)
{
    provision_ctx *p = ctx;
    if (ev->type == FH_EV_CONNECTED && p->outcome == PENDING) {
        fh_json_writer w;
        fh_jw_init(&w, (char *)(p->c->buf.tx + FH_WS_MAX_HEADER), p->c->buf.tx_size - FH_WS_MAX_HEADER);
        int len = fh_provision_request_write(&w, p->pc->device_id, p->csr_pem);
        if (len < 0) p->outcome = TX_SMALL;
        /* A failed send shows as the connection ending: the client backs off and connects again. */
        else fh_conn_send_frame(p->c, FH_WS_OP_TEXT, p->c->buf.tx + FH_WS_MAX_HEADER, (size_t)len);
    }
    if (p->user_event != NULL) p->user_event(ev, p->user_ctx);
}

static int on_provisioned(fh_client *c, fh_json_span value, void *ctx)
{
    provision_ctx *p = ctx;
    (void)c;
    if (fh_provisioned_parse(value, p->pc->device_id, &p->result->cert, p->cert_pem, p->cert_cap) != 0) {
        p->outcome = BAD_REPLY;
        return -1;
    }
    p->outcome = GOT_CERT;
    return 0;
}

static int on_provision_error(fh_client *c, fh_json_span value, void *ctx)
{
    provision_ctx *p = ctx;
    (void)c;
    fh_refusal_parse(value, p->result->error, sizeof p->result->error, &p->result->retry_after_ms);
    p->outcome = REFUSED;
    return 0; /* the hub closes with 4003 next */
}

int fh_provision(fh_client *c, const fh_client_config *cfg, const fh_client_buffers *buf, const fh_provision_config *pc,
                 const fh_cred_storage *store, char *key_pem, size_t key_cap, char *cert_pem, size_t cert_cap,
                 fh_provision_result *result)
{
    /* The claim connection sends no readings: an outbox of one slot that is never used or saved. */
    union {
        uint64_t align;
        uint8_t mem[FH_OUTBOX_BYTES(1, 8)];
    } outbox_mem;
    static const fh_storage NO_STORAGE = { 0 };
    fh_outbox outbox;
    char csr_pem[FH_CSR_PEM_MAX];
    provision_ctx p;
    fh_client_config claim = *cfg;
    uint8_t state = 0, slot;
    int rc;
    memset(result, 0, sizeof *result);
    rc = fh_cred_load_current(store, key_pem, key_cap, cert_pem, cert_cap);
    if (rc == 0) {
        result->from_storage = true;
        return 0;
    }
    if (rc < 0 || store->load_state(store->ctx, &state) != 0) return FH_PROVISION_STORAGE;

    fh_message_handler handlers[2] = { { "provisioned", on_provisioned, &p }, { "provisionError", on_provision_error, &p } };
    memset(&p, 0, sizeof p);
    p.c = c;
    p.pc = pc;
    p.csr_pem = csr_pem;
    p.cert_pem = cert_pem;
    p.cert_cap = cert_cap;
    p.result = result;
    p.user_event = cfg->on_event;
    p.user_ctx = cfg->event_ctx;
    claim.path = FH_PROVISION_PATH;
    claim.cert_pem = pc->claim_cert_pem;
    claim.key_pem = pc->claim_key_pem;
    claim.protocol = 1;
    claim.handlers = handlers;
    claim.handler_count = 2;
    claim.commands = NULL;
    claim.command_count = 0;
    claim.on_config = NULL;
    claim.cred_store = NULL; /* the claim pair is never renewed */
    claim.on_event = on_event;
    claim.event_ctx = &p;
    if ((rc = fh_outbox_init(&outbox, outbox_mem.mem, sizeof outbox_mem.mem, 1, 8, NO_STORAGE)) != 0) return rc;
    if ((rc = fh_client_init(c, &claim, buf, &outbox)) != 0) goto done;

    /* A key from an attempt a reboot cut short is sent again (the same request gets the same certificate); else a new one. */
    slot = FH_CRED_PENDING(state) != 0 ? (uint8_t)(FH_CRED_PENDING(state) - 1) : 0;
    rc = FH_CRED_PENDING(state) != 0 ? store->load(store->ctx, slot, FH_CRED_KEY, key_pem, key_cap) : 1;
    if (rc < 0) {
        rc = FH_PROVISION_STORAGE;
        goto done;
    }
    if (rc == 0) {
        rc = fh_csr_for_key(pc->device_id, key_pem, mbedtls_ctr_drbg_random, &c->drbg, csr_pem, sizeof csr_pem);
    } else {
        rc = fh_make_key_and_csr(pc->device_id, mbedtls_ctr_drbg_random, &c->drbg, key_pem, key_cap, csr_pem, sizeof csr_pem);
        /* Kept before it is sent: from here a lost reply costs nothing but a repeat. */
        if (rc == 0 && (store->save(store->ctx, slot, FH_CRED_KEY, key_pem) != 0 ||
                        store->save_state(store->ctx, FH_CRED_STATE(0, slot + 1u)) != 0)) {
            rc = FH_PROVISION_STORAGE;
        }
    }
    if (rc != 0) goto done;

    uint32_t timeout = pc->timeout_ms != 0 ? pc->timeout_ms : FH_DEFAULT_PROVISION_TIMEOUT_MS;
    uint64_t deadline = fh_port_now_ms() + timeout;
    while (p.outcome == PENDING && fh_port_now_ms() < deadline) {
        if (fh_client_poll(c, 200) != 0) break; /* stopped: 4003 (refused) or 4001 */
    }
    switch (p.outcome) {
    case GOT_CERT: break;
    case REFUSED: rc = FH_PROVISION_REFUSED; goto done;
    case BAD_REPLY: rc = FH_PROVISION_BAD_REPLY; goto done;
    case TX_SMALL: rc = FH_PROVISION_TX_SMALL; goto done;
    default:
        rc = fh_client_stop_code(c) != 0 ? FH_PROVISION_REFUSED : FH_PROVISION_TIMEOUT;
        goto done;
    }
    fh_client_close(c);
    if (fh_cred_pair_matches(cert_pem, key_pem, mbedtls_ctr_drbg_random, &c->drbg) != 0) {
        rc = FH_PROVISION_BAD_REPLY;
        goto done;
    }
    /* The certificate first, then the state that makes the pair current: a power cut in between repeats the request. */
    if (store->save(store->ctx, slot, FH_CRED_CERT, cert_pem) != 0 || store->save_state(store->ctx, FH_CRED_STATE(slot + 1u, 0)) != 0) {
        rc = FH_PROVISION_STORAGE;
        goto done;
    }
    rc = 0;
done:
    fh_client_free(c);
    memset(csr_pem, 0, sizeof csr_pem);
    return rc;
}
