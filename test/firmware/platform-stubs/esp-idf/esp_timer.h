/* ESP-IDF's esp_timer.h, the part the examples use (declarations only; see ../README.md). */
#pragma once
#include <stdint.h>
int64_t esp_timer_get_time(void);
