/*
 * A key pair and a PKCS#10 certificate request made on the device
 * (mbedtls_pk, mbedtls_x509write_csr): the device's private key never leaves
 * it. The request is what `fleethub device add <id> --csr req.pem` signs
 * today, and what renewal (`{"csr":..}`) and provisioning by claim send in
 * protocol version 2.
 */
#ifndef FLEETHUB_FH_CSR_H
#define FLEETHUB_FH_CSR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** PEM room that always fits: a P-256 key is about 230 bytes, its request about 400. */
#define FH_KEY_PEM_MAX 512u
#define FH_CSR_PEM_MAX 1024u

/**
 * Makes a P-256 key (SPEC: the fleet's default key type) and a request with
 * subject CN=`device_id` (SPEC: the CN is the device id; 1 to 64 of
 * `A-Z a-z 0-9 . _ -`, first a letter or digit), SHA-256. Both are written as
 * NUL-terminated PEM. `f_rng`/`p_rng`: a seeded mbedTLS RNG (CTR-DRBG).
 * 0, -1 for a device id the hub would refuse, or an mbedTLS error.
 */
int fh_make_key_and_csr(const char *device_id, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng,
                        char *key_pem, size_t key_cap, char *csr_pem, size_t csr_cap);

/**
 * A request for a key made earlier (PEM, as fh_make_key_and_csr wrote it):
 * what a device sends again after a reboot cut its first attempt short, so
 * the hub recognises an identical repeat (same id, same key). 0, -1 for a bad
 * device id, or an mbedTLS error.
 */
int fh_csr_for_key(const char *device_id, const char *key_pem, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng,
                   char *csr_pem, size_t csr_cap);

/** The SPEC's device-id rule. */
int fh_device_id_valid(const char *device_id);

#ifdef __cplusplus
}
#endif
#endif
