/* The Linux example's files (see device_files.h). */
#define _POSIX_C_SOURCE 200809L
#include "device_files.h"

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

#include "fleethub/fh_csr.h"

/* Writes a new file (never over an existing one: a key is not replaced by accident). */
static int write_new_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    size_t len = strlen(text), done = 0;
    if (fd < 0) return -1;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    return fsync(fd) == 0 && close(fd) == 0 ? 0 : -1;
}

/* --new-key/--csr/--id: a P-256 key and a request for `fleethub device add <id> --csr`. */
int make_csr(const char *key_path, const char *csr_path, const char *id)
{
    static const char personalization[] = "fleethub-device-csr";
    static char new_key_pem[FH_KEY_PEM_MAX], csr_pem[FH_CSR_PEM_MAX];
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    int rc;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const unsigned char *)personalization, sizeof personalization - 1);
    if (rc == 0) rc = fh_make_key_and_csr(id, mbedtls_ctr_drbg_random, &drbg, new_key_pem, sizeof new_key_pem, csr_pem, sizeof csr_pem);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    if (rc == -1) {
        fprintf(stderr, "fleethub-device: --id must be 1 to 64 of A-Z a-z 0-9 . _ - (first a letter or digit), got %s\n", id);
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "fleethub-device: cannot make the key and request (mbedTLS -0x%04x)\n", (unsigned)-rc);
        return 2;
    }
    if (write_new_file(key_path, new_key_pem, 0600) != 0) {
        fprintf(stderr, "fleethub-device: cannot write --new-key %s (it must not exist yet)\n", key_path);
        return 2;
    }
    memset(new_key_pem, 0, sizeof new_key_pem);
    if (write_new_file(csr_path, csr_pem, 0644) != 0) {
        fprintf(stderr, "fleethub-device: cannot write --csr %s (it must not exist yet)\n", csr_path);
        return 2;
    }
    printf("key %s\ncsr %s\n", key_path, csr_path);
    return 0;
}

int read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (f == NULL) return -1;
    n = fread(out, 1, cap - 1, f);
    int tail = fgetc(f);
    fclose(f);
    if (tail != EOF) return -1;
    out[n] = '\0';
    return 0;
}

static fh_cred_storage file_creds;
static const char *power_cut;
static bool renewing;

static void cut_if(const char *step)
{
    if (renewing && power_cut != NULL && strcmp(power_cut, step) == 0) {
        printf("power cut %s\n", step);
        fflush(stdout);
        raise(SIGKILL);
    }
}

static int cut_load(void *ctx, uint8_t slot, uint8_t item, char *pem, size_t cap)
{
    return file_creds.load(ctx, slot, item, pem, cap);
}

static int cut_save(void *ctx, uint8_t slot, uint8_t item, const char *pem)
{
    if (item == FH_CRED_CERT) cut_if("before-cert");
    int rc = file_creds.save(ctx, slot, item, pem);
    cut_if(item == FH_CRED_KEY ? "after-key" : "after-cert");
    return rc;
}

static int cut_load_state(void *ctx, uint8_t *state)
{
    return file_creds.load_state(ctx, state);
}

static int cut_save_state(void *ctx, uint8_t state)
{
    int rc = file_creds.save_state(ctx, state);
    if ((state & FH_CRED_TRIAL) != 0) cut_if("after-state");
    return rc;
}

void power_cut_storage(const fh_cred_storage *file, fh_cred_storage *out)
{
    file_creds = *file;
    power_cut = getenv("FLEETHUB_DEVICE_POWER_CUT");
    *out = *file;
    out->load = cut_load;
    out->save = cut_save;
    out->load_state = cut_load_state;
    out->save_state = cut_save_state;
}

void power_cut_arm(void)
{
    renewing = true;
}
