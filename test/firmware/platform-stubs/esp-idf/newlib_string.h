/* What ESP-IDF's newlib <string.h> has and glibc 2.36 does not (declarations only; see ../README.md). Force-included. */
#pragma once
#include <stddef.h>
size_t strlcpy(char *dst, const char *src, size_t size);
