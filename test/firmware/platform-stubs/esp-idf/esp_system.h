/* ESP-IDF's esp_system.h, the part the examples use (declarations only; see ../README.md). */
#pragma once
#include <stdint.h>
uint32_t esp_get_free_heap_size(void);
