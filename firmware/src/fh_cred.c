/* The two credential slots and their state byte (see fh_cred.h). */
#include "fleethub/fh_cred.h"

#include <string.h>

#include <mbedtls/pk.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
#include <psa/crypto.h>
#endif

int fh_cred_load_current(const fh_cred_storage *s, char *key_pem, size_t key_cap, char *cert_pem, size_t cert_cap)
{
    uint8_t state = 0;
    int rc;
    if (s->load_state(s->ctx, &state) != 0) return -1;
    if (FH_CRED_CURRENT(state) == 0) return 1;
    uint8_t slot = (uint8_t)(FH_CRED_CURRENT(state) - 1);
    if ((rc = s->load(s->ctx, slot, FH_CRED_KEY, key_pem, key_cap)) != 0) return rc < 0 ? rc : -2;
    if ((rc = s->load(s->ctx, slot, FH_CRED_CERT, cert_pem, cert_cap)) != 0) return rc < 0 ? rc : -2;
    return 0;
}

int fh_cred_seed(const fh_cred_storage *s, const char *key_pem, const char *cert_pem)
{
    uint8_t state = 0;
    if (s->load_state(s->ctx, &state) != 0) return -1;
    if (FH_CRED_CURRENT(state) != 0) return 1;
    /* Key, certificate, then the state that names them: a power cut before the state leaves nothing half-made in use. */
    if (s->save(s->ctx, 0, FH_CRED_KEY, key_pem) != 0 || s->save(s->ctx, 0, FH_CRED_CERT, cert_pem) != 0) return -1;
    return s->save_state(s->ctx, FH_CRED_STATE(1u, 0u)) != 0 ? -1 : 0;
}

int fh_cred_pair_matches(const char *cert_pem, const char *key_pem, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    int rc;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
    /* mbedTLS 3.x built with MBEDTLS_USE_PSA_CRYPTO parses and checks keys through PSA; idempotent. */
    if (psa_crypto_init() != PSA_SUCCESS) return MBEDTLS_ERR_PK_ALLOC_FAILED;
#endif
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    rc = mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    if (rc == 0) rc = mbedtls_pk_parse_key(&key, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL, 0, f_rng, p_rng);
    if (rc == 0) rc = mbedtls_pk_check_pair(&crt.pk, &key, f_rng, p_rng);
#else
    (void)f_rng;
    (void)p_rng;
    if (rc == 0) rc = mbedtls_pk_parse_key(&key, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL, 0);
    if (rc == 0) rc = mbedtls_pk_check_pair(&crt.pk, &key);
#endif
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&crt);
    return rc;
}
