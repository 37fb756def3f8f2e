/* ESP-IDF's esp_log.h, the part the examples use (declarations only; see ../README.md). */
#pragma once
void esp_log_write_stub(const char *tag, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* As in ESP-IDF, the format must be a string literal (it is pasted into LOG_FORMAT). */
#define ESP_LOGI(tag, format, ...) esp_log_write_stub(tag, "I " format "\n", ##__VA_ARGS__)
#define ESP_LOGW(tag, format, ...) esp_log_write_stub(tag, "W " format "\n", ##__VA_ARGS__)
#define ESP_LOGE(tag, format, ...) esp_log_write_stub(tag, "E " format "\n", ##__VA_ARGS__)
