/* FreeRTOS (as ESP-IDF ships it), the part the examples use (declarations only; see ../../README.md). */
#pragma once
#include <stdint.h>
typedef uint32_t TickType_t;
typedef int BaseType_t;
#define pdFALSE 0
#define pdTRUE 1
#define portMAX_DELAY ((TickType_t)0xffffffffu)
