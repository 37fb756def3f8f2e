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

/* Replaces `path` with `buf` through `tmp` (same folder `dir`), durably. */
static int replace_file(const char *dir, const char *path, const char *tmp, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
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
    if (rename(tmp, path) != 0) return -1;
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}


/* cred-<slot>.key / .crt, or cred.state (item 2). 0, or -1 when the path does not fit. */
static int cred_path(const fh_file_storage *fs, uint8_t slot, int item, char *path, size_t cap, char *tmp, size_t tcap)
{
    int n = item == 2 ? snprintf(path, cap, "%s/cred.state", fs->dir)
                      : snprintf(path, cap, "%s/cred-%u.%s", fs->dir, (unsigned)slot, item == FH_CRED_KEY ? "key" : "crt");
    if (n < 0 || (size_t)n >= cap) return -1;
    n = snprintf(tmp, tcap, "%s.tmp", path);
    return n < 0 || (size_t)n >= tcap ? -1 : 0;
}

static int cred_load(void *ctx, uint8_t slot, uint8_t item, char *pem, size_t cap)
{
    char path[300], tmp[310];
    size_t len = 0;
    if (slot > 1 || cap == 0 || cred_path(ctx, slot, item, path, sizeof path, tmp, sizeof tmp) != 0) return -1;
    fh_file_storage one = *(fh_file_storage *)ctx;
    snprintf(one.path, sizeof one.path, "%s", path);
    if (file_load(&one, (uint8_t *)pem, cap - 1, &len) != 0 || len > cap - 1) return -1;
    if (len == 0) return 1;
    pem[len] = '\0';
    return 0;
}

static int cred_save(void *ctx, uint8_t slot, uint8_t item, const char *pem)
{
    fh_file_storage *fs = ctx;
    char path[300], tmp[310];
    if (slot > 1 || cred_path(fs, slot, item, path, sizeof path, tmp, sizeof tmp) != 0) return -1;
    return replace_file(fs->dir, path, tmp, (const uint8_t *)pem, strlen(pem));
}

static int cred_load_state(void *ctx, uint8_t *state)
{
    char path[300], tmp[310];
    size_t len = 0;
    *state = 0;
    if (cred_path(ctx, 0, 2, path, sizeof path, tmp, sizeof tmp) != 0) return -1;
    fh_file_storage one = *(fh_file_storage *)ctx;
    snprintf(one.path, sizeof one.path, "%s", path);
    if (file_load(&one, state, 1, &len) != 0 || len > 1) return -1;
    return 0;
}

static int cred_save_state(void *ctx, uint8_t state)
{
    fh_file_storage *fs = ctx;
    char path[300], tmp[310];
    if (cred_path(fs, 0, 2, path, sizeof path, tmp, sizeof tmp) != 0) return -1;
    return replace_file(fs->dir, path, tmp, &state, 1);
}

void fh_file_cred_storage_init(fh_file_storage *fs, fh_cred_storage *out)
{
    out->ctx = fs;
    out->load = cred_load;
    out->save = cred_save;
    out->load_state = cred_load_state;
    out->save_state = cred_save_state;
}

static int record_paths(const fh_file_storage *fs, uint32_t index, char *path, size_t cap, char *tmp, size_t tcap)
{
    int n = snprintf(path, cap, "%s/outbox.%lu", fs->dir, (unsigned long)index);
    if (n < 0 || (size_t)n >= cap) return -1;
    n = snprintf(tmp, tcap, "%s.tmp", path);
    return n < 0 || (size_t)n >= tcap ? -1 : 0;
}

static int record_load(void *ctx, uint32_t index, uint8_t *buf, size_t len, size_t *got)
{
    char tmp[310];
    fh_file_storage one = *(fh_file_storage *)ctx;
    if (record_paths(ctx, index, one.path, sizeof one.path, tmp, sizeof tmp) != 0) return -1;
    return file_load(&one, buf, len, got);
}

static int record_save(void *ctx, uint32_t index, const uint8_t *buf, size_t len)
{
    fh_file_storage *fs = ctx;
    char path[300], tmp[310];
    if (record_paths(fs, index, path, sizeof path, tmp, sizeof tmp) != 0) return -1;
    fs->writes++;
    fs->bytes += len;
    return replace_file(fs->dir, path, tmp, buf, len);
}

int fh_file_storage_init(fh_file_storage *fs, const char *dir, fh_storage *out)
{
    if (strlen(dir) >= sizeof fs->dir) return -1;
    memset(fs, 0, sizeof *fs);
    snprintf(fs->dir, sizeof fs->dir, "%s", dir);
    memset(out, 0, sizeof *out);
    out->ctx = fs;
    out->load_record = record_load;
    out->save_record = record_save;
    return 0;
}
