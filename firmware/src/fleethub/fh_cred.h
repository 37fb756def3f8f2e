/*
 * The device's own credentials behind a small storage interface: two slots
 * (each a private key and a certificate, PEM) and a state byte that says
 * which slot is current and which holds a key still waiting for its
 * certificate. Provisioning by claim fills a slot; renewal (protocol 2) is
 * what the second slot is for: a new pair is made beside the current one,
 * so a failed or interrupted change always leaves a working pair. A file
 * per item on Linux (port/posix/fh_storage_file.h), NVS blobs on ESP-IDF
 * (fh_storage_nvs.h).
 */
#ifndef FLEETHUB_FH_CRED_H
#define FLEETHUB_FH_CRED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What a slot holds. */
enum { FH_CRED_KEY = 0, FH_CRED_CERT = 1 };

/**
 * The state byte: bits 0-1 the current slot plus one (0: none, the device
 * is not provisioned), bits 2-3 the pending slot plus one (0: none): a key
 * made on the device whose certificate has not been stored yet. Bit 4
 * (FH_CRED_TRIAL): the current pair was just renewed and the hub has not
 * accepted it yet; if the hub refuses it, the other slot (the pair before)
 * becomes current again.
 */
#define FH_CRED_STATE(current, pending) ((uint8_t)(((current) & 3u) | (((pending) & 3u) << 2)))
#define FH_CRED_CURRENT(state) ((state) & 3u)
#define FH_CRED_PENDING(state) (((state) >> 2) & 3u)
#define FH_CRED_TRIAL 0x10u

/**
 * Room for a certificate the hub issues (a P-256 device certificate is about
 * 700 bytes of PEM; an RSA one or a long chain more). A build may set it
 * lower (-DFH_CERT_PEM_MAX=2048) to save RAM; a larger certificate is then
 * refused, not cut.
 */
#ifndef FH_CERT_PEM_MAX
#define FH_CERT_PEM_MAX 4096u
#endif

/** Where the credentials are kept. Every function returns 0 on success, negative on an I/O error. */
typedef struct {
    void *ctx;
    /** Reads `item` of `slot` (0 or 1) as NUL-terminated PEM; 1 when it was never saved (or does not fit `cap`: -1). */
    int (*load)(void *ctx, uint8_t slot, uint8_t item, char *pem, size_t cap);
    /** Replaces `item` of `slot` atomically (a power cut keeps the old or the new text whole). */
    int (*save)(void *ctx, uint8_t slot, uint8_t item, const char *pem);
    /** Reads the state byte (0 when never saved). */
    int (*load_state)(void *ctx, uint8_t *state);
    /** Replaces the state byte atomically. */
    int (*save_state)(void *ctx, uint8_t state);
} fh_cred_storage;

/**
 * The current pair, into `key_pem` and `cert_pem`: 0, 1 when there is none
 * (not provisioned yet), negative when the storage fails or a PEM does not fit.
 */
int fh_cred_load_current(const fh_cred_storage *s, char *key_pem, size_t key_cap, char *cert_pem, size_t cert_cap);

/**
 * Keeps a pair the device came with (flashed with `device export`) as its
 * current one, in slot 0, when the storage has none yet: what renewal needs
 * (it makes the next pair beside the current one and falls back to it).
 * 0 when kept or already there, 1 when the storage has another current pair
 * (load that one), negative on a storage error.
 */
int fh_cred_seed(const fh_cred_storage *s, const char *key_pem, const char *cert_pem);

/**
 * 0 when `cert_pem` is a certificate for the private key `key_pem` (the
 * hub signed our request, not someone else's); an mbedTLS error otherwise.
 * `f_rng`/`p_rng`: a seeded RNG (mbedTLS 3.x checks the pair by signing).
 */
int fh_cred_pair_matches(const char *cert_pem, const char *key_pem, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng);

#ifdef __cplusplus
}
#endif
#endif
