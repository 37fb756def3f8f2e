/* Arduino-ESP32's WiFi.h, the part the examples use (declarations only; see ../README.md). */
#pragma once
#include "Arduino.h"
typedef enum { WL_CONNECTED = 3 } wl_status_t;
class WiFiClass {
public:
    wl_status_t begin(const char *ssid, const char *passphrase);
    wl_status_t status();
    int8_t RSSI();
};
extern WiFiClass WiFi;
