/* A key and a certificate request made on the device (see fh_csr.h). */
#include "fleethub/fh_csr.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_csr.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
#include <psa/crypto.h>
#endif

int fh_device_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        bool alnum = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-'))) return 0;
    }
    return 1;
}

/* The request for `key` with subject CN=`device_id` (already checked), SHA-256. */
static int write_csr(mbedtls_pk_context *key, const char *device_id, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng,
                     char *csr_pem, size_t csr_cap)
{
    /* "CN=" + at most 64 characters that need no escaping in a subject name (the id rule above). */
    char subject[3 + 64 + 1];
    mbedtls_x509write_csr req;
    int rc;
    snprintf(subject, sizeof subject, "CN=%s", device_id);
    mbedtls_x509write_csr_init(&req);
    if ((rc = mbedtls_x509write_csr_set_subject_name(&req, subject)) == 0) {
        mbedtls_x509write_csr_set_key(&req, key);
        mbedtls_x509write_csr_set_md_alg(&req, MBEDTLS_MD_SHA256);
        rc = mbedtls_x509write_csr_pem(&req, (unsigned char *)csr_pem, csr_cap, f_rng, p_rng);
    }
    mbedtls_x509write_csr_free(&req);
    return rc;
}

int fh_csr_for_key(const char *device_id, const char *key_pem, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng,
                   char *csr_pem, size_t csr_cap)
{
    mbedtls_pk_context key;
    int rc;
    if (!fh_device_id_valid(device_id)) return -1;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
    if (psa_crypto_init() != PSA_SUCCESS) return MBEDTLS_ERR_PK_ALLOC_FAILED;
#endif
    mbedtls_pk_init(&key);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    rc = mbedtls_pk_parse_key(&key, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL, 0, f_rng, p_rng);
#else
    rc = mbedtls_pk_parse_key(&key, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL, 0);
#endif
    if (rc == 0) rc = write_csr(&key, device_id, f_rng, p_rng, csr_pem, csr_cap);
    mbedtls_pk_free(&key);
    return rc;
}

int fh_make_key_and_csr(const char *device_id, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng,
                        char *key_pem, size_t key_cap, char *csr_pem, size_t csr_cap)
{
    mbedtls_pk_context key;
    int rc;
    if (!fh_device_id_valid(device_id)) return -1;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
    if (psa_crypto_init() != PSA_SUCCESS) return MBEDTLS_ERR_PK_ALLOC_FAILED;
#endif
    mbedtls_pk_init(&key);
    if ((rc = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0) goto done;
    if ((rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), f_rng, p_rng)) != 0) goto done;
    if ((rc = mbedtls_pk_write_key_pem(&key, (unsigned char *)key_pem, key_cap)) != 0) goto done;
    rc = write_csr(&key, device_id, f_rng, p_rng, csr_pem, csr_cap);
done:
    /* The key's secret is in key_pem now (or nowhere, on failure): wipe the working copy. */
    mbedtls_pk_free(&key);
    if (rc != 0 && key_cap > 0) memset(key_pem, 0, key_cap);
    return rc;
}
