/* ESP-IDF's nvs_flash.h, the part the examples use (declarations only; see ../README.md). */
#pragma once
#include "esp_err.h"
esp_err_t nvs_flash_init(void);
esp_err_t nvs_flash_erase(void);
