/*
 * File-backed storage for Linux: the outbox (fh_storage) and the device's
 * credentials (fh_cred_storage) in one folder, each file replaced atomically
 * (temp file, fsync, rename, fsync of the folder).
 */
#ifndef FLEETHUB_FH_STORAGE_FILE_H
#define FLEETHUB_FH_STORAGE_FILE_H

#include "fleethub/fh_cred.h"
#include "fleethub/fh_outbox.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char dir[256];
    char path[300];
    /** Outbox records written since start-up, and their bytes (what a flash would wear). */
    unsigned long writes;
    unsigned long long bytes;
} fh_file_storage;

/**
 * Keeps the outbox in `dir` (the folder must exist), one file per record:
 * `outbox.0` the header, `outbox.<i + 1>` slot i. 0, or -1 when the path is
 * too long.
 */
int fh_file_storage_init(fh_file_storage *fs, const char *dir, fh_storage *out);

/**
 * Keeps the credentials in the same folder (after fh_file_storage_init):
 * `cred-0.key`, `cred-0.crt`, `cred-1.key`, `cred-1.crt` (keys 0600) and the
 * state byte in `cred.state`.
 */
void fh_file_cred_storage_init(fh_file_storage *fs, fh_cred_storage *out);

#ifdef __cplusplus
}
#endif
#endif
