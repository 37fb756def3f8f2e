/* ESP-IDF's esp_err.h, the part the examples use (declarations only; see ../README.md). */
#pragma once
#include <stdint.h>
typedef int esp_err_t;
#define ESP_OK 0
#define ESP_ERR_NVS_NO_FREE_PAGES 0x110d
#define ESP_ERR_NVS_NEW_VERSION_FOUND 0x1110
const char *esp_err_to_name(esp_err_t code);
void esp_error_check_failed(esp_err_t rc);
#define ESP_ERROR_CHECK(x) do { esp_err_t rc_ = (x); if (rc_ != ESP_OK) esp_error_check_failed(rc_); } while (0)
