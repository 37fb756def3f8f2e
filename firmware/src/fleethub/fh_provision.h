/*
 * Provisioning by claim (SPEC: Provisioning by claim): a device that has only
 * its batch's claim certificate (`fleethub provision export`) makes its own
 * key and request, connects to /v1/provision with the claim certificate,
 * sends `{"provision":{"device","csr"}}`, stores the certificate it gets in
 * a credential slot (fh_cred.h), and from then on connects to /v1/device
 * with that pair. The key is stored before the request is sent: a device
 * cut off before the reply sends the same key again, and the hub answers an
 * identical repeat with the same certificate.
 */
#ifndef FLEETHUB_FH_PROVISION_H
#define FLEETHUB_FH_PROVISION_H

#include "fleethub/fh_client.h"
#include "fleethub/fh_cred.h"

#ifdef __cplusplus
extern "C" {
#endif

/** SPEC: the provisioning endpoint, on the device listener. */
#define FH_PROVISION_PATH "/v1/provision"
/** How long fh_provision keeps trying (failed connects back off in between) before it gives up. */
#define FH_DEFAULT_PROVISION_TIMEOUT_MS 600000u

/** fh_provision's outcomes besides 0 and mbedTLS/storage errors. */
enum {
    FH_PROVISION_REFUSED = -100,   /* the hub answered provisionError (see result.error, result.retry_after_ms) */
    FH_PROVISION_TIMEOUT = -101,   /* no answer within timeout_ms */
    FH_PROVISION_BAD_REPLY = -102, /* a certificate for another device or another key, or one that does not fit */
    FH_PROVISION_TX_SMALL = -103,  /* the request does not fit the tx buffer */
    FH_PROVISION_STORAGE = -104,   /* the credential storage failed */
};

typedef struct {
    const char *device_id;          /* SPEC: the id on the batch's allow-list; the request's CN */
    const char *claim_cert_pem;     /* the batch's claim certificate and key (NUL-terminated PEM) */
    const char *claim_key_pem;
    uint32_t timeout_ms;            /* FH_DEFAULT_PROVISION_TIMEOUT_MS when 0 */
} fh_provision_config;

typedef struct {
    bool from_storage;        /* provisioned before: the pair was read from storage, nothing was sent */
    fh_provisioned cert;      /* the new certificate's serial and notAfter */
    char error[32];           /* provisionError's code (SPEC: not_allowed, already_provisioned, csr_invalid, claim_revoked, rate_limited) */
    uint32_t retry_after_ms;  /* provisionError's retryAfterMs, 0 when absent */
} fh_provision_result;

/**
 * Makes sure the device has its own pair: returns 0 with the current key and
 * certificate in `key_pem`/`cert_pem` (from `store` when it was provisioned
 * before, else provisioned now and stored). `cfg` is the fleet's client
 * config (host, port, ca_pem, backoff, on_event); its path, certificate and
 * key are replaced by /v1/provision and the claim pair for this connection.
 * `c` and `buf` serve the claim connection (`buf.tx` must hold the request:
 * about 600 bytes plus the id) and `c` is freed before this returns: the
 * caller then calls fh_client_init with the pair. Negative: FH_PROVISION_*,
 * or an mbedTLS error.
 */
int fh_provision(fh_client *c, const fh_client_config *cfg, const fh_client_buffers *buf, const fh_provision_config *pc,
                 const fh_cred_storage *store, char *key_pem, size_t key_cap, char *cert_pem, size_t cert_cap,
                 fh_provision_result *result);

#ifdef __cplusplus
}
#endif
#endif
