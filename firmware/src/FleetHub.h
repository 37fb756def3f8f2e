/* The Arduino library's header: the fleethub device client, provisioning by claim and the ESP32 NVS storage. */
#ifndef FLEETHUB_ARDUINO_H
#define FLEETHUB_ARDUINO_H

#include "fleethub/fh_client.h"
#include "fleethub/fh_port.h"
#include "fleethub/fh_provision.h"
#include "fleethub/fh_storage_nvs.h"

#endif
