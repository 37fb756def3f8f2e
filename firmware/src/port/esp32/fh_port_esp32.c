/*
 * The ESP32 port (ESP-IDF, and Arduino-ESP32, which is built on it):
 * esp_timer for the monotonic clock, gettimeofday for the wall clock (SNTP
 * sets it), a FreeRTOS delay for sleep. Not compiled on Linux: the Linux
 * build uses port/posix/fh_port_posix.c.
 */
#ifdef ESP_PLATFORM
#include "fleethub/fh_port.h"

#include <sys/time.h>

#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

/* Before SNTP the clock starts at 1970: a time before 2024-01-01 means "not known", and readings go without `ts`. */
#define KNOWN_EPOCH_MS 1704067200000LL

uint64_t fh_port_now_ms(void)
{
    return (uint64_t)(esp_timer_get_time() / 1000);
}

int64_t fh_port_epoch_ms(void)
{
    struct timeval tv;
    if (gettimeofday(&tv, NULL) != 0) return 0;
    int64_t ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    return ms < KNOWN_EPOCH_MS ? 0 : ms;
}

void fh_port_sleep_ms(uint32_t ms)
{
    TickType_t ticks = pdMS_TO_TICKS(ms);
    /* At least one tick: the idle task (and its watchdog) must get to run. */
    vTaskDelay(ticks > 0 ? ticks : 1);
}
#endif
