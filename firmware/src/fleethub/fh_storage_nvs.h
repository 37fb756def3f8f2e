/*
 * fh_storage in ESP32 NVS: the outbox by record, one blob per slot (and one
 * for its header). NVS keeps the old or the new value across a power cut
 * (ESP-IDF's NVS documentation), which is what fh_storage.save_record
 * promises. Call nvs_flash_init() first (Arduino-ESP32 does it at boot). A
 * reading costs one slot write when kept and one when its ack frees it
 * (FH_OUTBOX_BYTES(16, 128): 152-byte records), not a rewrite of the whole
 * 2.4 KB block; NVS spreads those writes over its pages.
 */
#ifndef FLEETHUB_FH_STORAGE_NVS_H
#define FLEETHUB_FH_STORAGE_NVS_H

#include <stdint.h>

#include "fleethub/fh_cred.h"
#include "fleethub/fh_outbox.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t handle;  /* nvs_handle_t */
    char key[16];     /* NVS keys are at most 15 characters */
} fh_nvs_storage;

/**
 * Keeps the outbox in NVS namespace `ns` (at most 15 characters) under keys
 * `<key>0` (the header) to `<key><slots>` (`key`: 1 to 9 characters), in
 * the default NVS partition. 0, or an esp_err_t.
 */
int fh_nvs_storage_init(fh_nvs_storage *s, const char *ns, const char *key, fh_storage *out);

/**
 * The credentials (fh_cred.h) in the same namespace (after
 * fh_nvs_storage_init): blobs `fh_k0`, `fh_c0`, `fh_k1`, `fh_c1` and the state
 * byte `fh_cs` (a u8). Enable NVS encryption (ESP-IDF's "NVS Encryption")
 * to keep the private keys unreadable from a dumped flash.
 */
void fh_nvs_cred_storage_init(fh_nvs_storage *s, fh_cred_storage *out);

#ifdef __cplusplus
}
#endif
#endif
