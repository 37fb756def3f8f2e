/* The outbox block in NVS (see fh_storage_nvs.h). ESP-IDF only: not compiled on Linux. */
#ifdef ESP_PLATFORM
#include "fleethub/fh_storage_nvs.h"

#include <stdio.h>
#include <string.h>

#include "esp_err.h"
#include "nvs.h"

/* `<key><index>`: the header is `<key>0`, slot i `<key><i + 1>` (at most 9 + 5 characters, under NVS's 15). */
static void record_key(const fh_nvs_storage *s, uint32_t index, char out[16])
{
    snprintf(out, 16, "%s%lu", s->key, (unsigned long)(index % 100000u));
}

static int nvs_load_record(void *ctx, uint32_t index, uint8_t *buf, size_t len, size_t *got)
{
    fh_nvs_storage *s = ctx;
    char key[16];
    size_t n = len;
    record_key(s, index, key);
    esp_err_t err = nvs_get_blob((nvs_handle_t)s->handle, key, buf, &n);
    *got = 0;
    if (err == ESP_ERR_NVS_NOT_FOUND) return 0; /* first boot, erased flash, or a slot never used */
    if (err == ESP_ERR_NVS_INVALID_LENGTH) {
        /* A larger record is another outbox shape: report one byte more so fh_outbox_init refuses it. */
        *got = len + 1;
        return 0;
    }
    if (err != ESP_OK) return -1;
    *got = n;
    return 0;
}

static int nvs_save_record(void *ctx, uint32_t index, const uint8_t *buf, size_t len)
{
    fh_nvs_storage *s = ctx;
    char key[16];
    record_key(s, index, key);
    if (nvs_set_blob((nvs_handle_t)s->handle, key, buf, len) != ESP_OK) return -1;
    /* Written to flash before the reading counts as kept. */
    return nvs_commit((nvs_handle_t)s->handle) == ESP_OK ? 0 : -1;
}

static void cred_key(uint8_t slot, uint8_t item, char out[8])
{
    out[0] = 'f';
    out[1] = 'h';
    out[2] = '_';
    out[3] = item == FH_CRED_KEY ? 'k' : 'c';
    out[4] = (char)('0' + (slot & 1u));
    out[5] = '\0';
}

static int nvs_cred_load(void *ctx, uint8_t slot, uint8_t item, char *pem, size_t cap)
{
    fh_nvs_storage *s = ctx;
    char key[8];
    size_t got = cap;
    if (slot > 1 || cap == 0) return -1;
    cred_key(slot, item, key);
    esp_err_t err = nvs_get_blob((nvs_handle_t)s->handle, key, pem, &got);
    if (err == ESP_ERR_NVS_NOT_FOUND) return 1;
    if (err != ESP_OK || got == 0 || got > cap || pem[got - 1] != '\0') return -1;
    return 0;
}

static int nvs_cred_save(void *ctx, uint8_t slot, uint8_t item, const char *pem)
{
    fh_nvs_storage *s = ctx;
    char key[8];
    if (slot > 1) return -1;
    cred_key(slot, item, key);
    /* Stored with its NUL, so a load hands back a C string as it was. */
    if (nvs_set_blob((nvs_handle_t)s->handle, key, pem, strlen(pem) + 1) != ESP_OK) return -1;
    return nvs_commit((nvs_handle_t)s->handle) == ESP_OK ? 0 : -1;
}

static int nvs_cred_load_state(void *ctx, uint8_t *state)
{
    fh_nvs_storage *s = ctx;
    esp_err_t err = nvs_get_u8((nvs_handle_t)s->handle, "fh_cs", state);
    if (err == ESP_ERR_NVS_NOT_FOUND) {
        *state = 0;
        return 0;
    }
    return err == ESP_OK ? 0 : -1;
}

static int nvs_cred_save_state(void *ctx, uint8_t state)
{
    fh_nvs_storage *s = ctx;
    if (nvs_set_u8((nvs_handle_t)s->handle, "fh_cs", state) != ESP_OK) return -1;
    return nvs_commit((nvs_handle_t)s->handle) == ESP_OK ? 0 : -1;
}

void fh_nvs_cred_storage_init(fh_nvs_storage *s, fh_cred_storage *out)
{
    out->ctx = s;
    out->load = nvs_cred_load;
    out->save = nvs_cred_save;
    out->load_state = nvs_cred_load_state;
    out->save_state = nvs_cred_save_state;
}

int fh_nvs_storage_init(fh_nvs_storage *s, const char *ns, const char *key, fh_storage *out)
{
    nvs_handle_t handle;
    if (strlen(key) == 0 || strlen(key) > 9 || strlen(ns) > 15) return ESP_ERR_INVALID_ARG;
    esp_err_t err = nvs_open(ns, NVS_READWRITE, &handle);
    if (err != ESP_OK) return err;
    s->handle = (uint32_t)handle;
    memcpy(s->key, key, strlen(key) + 1);
    memset(out, 0, sizeof *out);
    out->ctx = s;
    out->load_record = nvs_load_record;
    out->save_record = nvs_save_record;
    return 0;
}
#endif
