/*
 * The Linux example's files: reading PEM files, writing a new key and
 * request (--new-key/--csr), and the credential storage wrapped for the
 * power-cut test hook (FLEETHUB_DEVICE_POWER_CUT).
 */
#ifndef FLEETHUB_EXAMPLE_DEVICE_FILES_H
#define FLEETHUB_EXAMPLE_DEVICE_FILES_H

#include <stddef.h>

#include "fleethub/fh_cred.h"

/** Reads a whole file into `out` (NUL-terminated): 0, or -1 when it cannot be read or does not fit `cap - 1`. */
int read_file(const char *path, char *out, size_t cap);

/** --new-key/--csr/--id: a P-256 key and a request for `fleethub device add <id> --csr`. The exit code. */
int make_csr(const char *key_path, const char *csr_path, const char *id);

/**
 * `file` (the --state folder's credential storage) with the power-cut hook
 * around it: FLEETHUB_DEVICE_POWER_CUT=after-key|before-cert|after-cert|after-state
 * kills the process with SIGKILL (no clean-up, like a power cut) at that
 * step of a renewal's credential writes, once power_cut_arm() was called.
 */
void power_cut_storage(const fh_cred_storage *file, fh_cred_storage *out);

/** From now on every credential write is a renewal's (provisioning and seeding come before). */
void power_cut_arm(void);

#endif
