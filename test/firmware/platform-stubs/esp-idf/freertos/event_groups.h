/* FreeRTOS event groups, the part the examples use (declarations only; see ../../README.md). */
#pragma once
#include "freertos/FreeRTOS.h"
typedef struct EventGroupDef_t *EventGroupHandle_t;
typedef uint32_t EventBits_t;
#define BIT0 0x00000001u
EventGroupHandle_t xEventGroupCreate(void);
EventBits_t xEventGroupSetBits(EventGroupHandle_t group, EventBits_t bits);
EventBits_t xEventGroupClearBits(EventGroupHandle_t group, EventBits_t bits);
EventBits_t xEventGroupWaitBits(EventGroupHandle_t group, EventBits_t bits, BaseType_t clear, BaseType_t all, TickType_t wait);
