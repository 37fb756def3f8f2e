/* The Linux storage of the outbox block (see fh_storage_file.h). */
#define _POSIX_C_SOURCE 200809L
#include "fh_storage_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int file_load(void *ctx, uint8_t *buf, size_t cap, size_t *len)
{
    fh_file_storage *fs = ctx;
    size_t got = 0;
    int fd = open(fs->path, O_RDONLY);
    *len = 0;
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0) break;
        got += (size_t)n;
        if (got == cap) {
            /* A longer file is another shape: report one byte more so the caller refuses it. */
            uint8_t extra;
            if (read(fd, &extra, 1) == 1) got = cap + 1;
            break;
        }
    }
    close(fd);
    *len = got;
    return 0;
}

static int file_save(void *ctx, const uint8_t *buf, size_t len)
{
    fh_file_storage *fs = ctx;
    size_t done = 0;
    int fd = open(fs->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    /* Durable before it replaces the old block: a crash keeps one whole block. */
    if (fsync(fd) != 0 || close(fd) != 0) return -1;
    if (rename(fs->tmp, fs->path) != 0) return -1;
    int dfd = open(fs->dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int fh_file_storage_init(fh_file_storage *fs, const char *dir, fh_storage *out)
{
    if (strlen(dir) >= sizeof fs->dir) return -1;
    snprintf(fs->dir, sizeof fs->dir, "%s", dir);
    snprintf(fs->path, sizeof fs->path, "%s/outbox.bin", dir);
    snprintf(fs->tmp, sizeof fs->tmp, "%s/outbox.bin.tmp", dir);
    out->ctx = fs;
    out->load = file_load;
    out->save = file_save;
    return 0;
}
