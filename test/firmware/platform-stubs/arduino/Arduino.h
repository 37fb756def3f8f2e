/* Arduino-ESP32's Arduino.h, the part the examples use (declarations only; see ../README.md). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
class HardwareSerial {
public:
    void begin(unsigned long baud);
    size_t printf(const char *format, ...) __attribute__((format(printf, 2, 3)));
    size_t println(const char *text);
};
extern HardwareSerial Serial;
class EspClass {
public:
    uint32_t getFreeHeap();
};
extern EspClass ESP;
/* As Arduino-ESP32's esp32-hal.h defines it: the loop task's stack size. */
#define SET_LOOP_TASK_STACK_SIZE(sz) size_t getArduinoLoopTaskStackSize(void) { return sz; }
void delay(uint32_t ms);
unsigned long millis();
void configTime(long gmt_offset_sec, int daylight_offset_sec, const char *server1);
