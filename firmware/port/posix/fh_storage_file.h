/* File-backed fh_storage for Linux: one file, replaced atomically (temp file, fsync, rename, fsync of the folder). */
#ifndef FLEETHUB_FH_STORAGE_FILE_H
#define FLEETHUB_FH_STORAGE_FILE_H

#include "fleethub/fh_outbox.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char dir[256];
    char path[300];
    char tmp[300];
} fh_file_storage;

/** Keeps the outbox in `dir`/outbox.bin (the folder must exist). 0, or -1 when the path is too long. */
int fh_file_storage_init(fh_file_storage *fs, const char *dir, fh_storage *out);

#ifdef __cplusplus
}
#endif
#endif
