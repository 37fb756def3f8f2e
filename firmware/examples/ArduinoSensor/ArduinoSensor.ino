/*
 * fleethub example for Arduino-ESP32: joins Wi-Fi, sets the clock by NTP and
 * sends a reading every READ_INTERVAL_S seconds. Unacked readings and the
 * sequence counter live in NVS, so a reboot loses nothing and sends nothing
 * twice. The library brings its own TLS (the core's mbedTLS), not
 * WiFiClientSecure.
 *
 * Credentials: fleethub device export esp32-01 --format esp32 --out fleethub_credentials.h
 * (next to this sketch), then name the header's constants below.
 */
#include <WiFi.h>
#include <FleetHub.h>

#include "fleethub_credentials.h"

#define DEVICE_CA_CERT FLEETHUB_ESP32_01_CA_CERT
#define DEVICE_CERT FLEETHUB_ESP32_01_CLIENT_CERT
#define DEVICE_KEY FLEETHUB_ESP32_01_CLIENT_KEY

static const char *WIFI_SSID = "my-wifi";
static const char *WIFI_PASSWORD = "";
static const char *HUB_HOST = "hub.example.com"; /* a DNS name in the hub's certificate: ESP32 mbedTLS ignores IP SANs */
static const uint16_t HUB_PORT = 8443;
static const uint32_t READ_INTERVAL_S = 10;

#define OUTBOX_SLOTS 16
#define SLOT_BYTES 128
static uint8_t outbox_mem[FH_OUTBOX_BYTES(OUTBOX_SLOTS, SLOT_BYTES)];
static uint8_t rx_buf[2048], msg_buf[4096], tx_buf[SLOT_BYTES + 128];
static fh_outbox outbox;
static fh_nvs_storage nvs_storage;
static fh_client client;
static bool running = false;
static uint64_t next_read = 0;

static void on_event(const fh_event *ev, void *ctx)
{
    switch (ev->type) {
    case FH_EV_ACK: Serial.printf("ack %llu\n", (unsigned long long)ev->seq); break;
    case FH_EV_NACK: Serial.printf("nack %llu %s\n", (unsigned long long)ev->seq, ev->text); break;
    case FH_EV_CLOSE: Serial.printf("closed %u\n", ev->close_code); break;
    case FH_EV_CONNECT_FAILED: Serial.printf("connect failed -0x%04x\n", (unsigned)-ev->error); break;
    case FH_EV_STOPPED: Serial.printf("stopped by the hub (%u): revoked or replaced\n", ev->close_code); break;
    default: break;
    }
}

void setup()
{
    Serial.begin(115200);
    WiFi.begin(WIFI_SSID, WIFI_PASSWORD); /* reconnects by itself; the client backs off meanwhile */
    while (WiFi.status() != WL_CONNECTED) delay(250);
    configTime(0, 0, "pool.ntp.org"); /* readings before the clock is set go without ts */

    fh_storage storage;
    if (fh_nvs_storage_init(&nvs_storage, "fleethub", "outbox", &storage) != 0 ||
        fh_outbox_init(&outbox, outbox_mem, sizeof outbox_mem, OUTBOX_SLOTS, SLOT_BYTES, storage) != 0) {
        Serial.println("cannot use NVS key fleethub/outbox (another outbox shape? erase it)");
        return;
    }
    fh_client_config cfg;
    fh_client_config_defaults(&cfg);
    cfg.host = HUB_HOST;
    cfg.port = HUB_PORT;
    cfg.ca_pem = DEVICE_CA_CERT;
    cfg.cert_pem = DEVICE_CERT;
    cfg.key_pem = DEVICE_KEY;
    cfg.on_event = on_event;
    fh_client_buffers bufs = { rx_buf, sizeof rx_buf, msg_buf, sizeof msg_buf, tx_buf, sizeof tx_buf };
    int rc = fh_client_init(&client, &cfg, &bufs, &outbox);
    if (rc != 0) {
        Serial.printf("cannot load the credentials (mbedTLS -0x%04x)\n", (unsigned)-rc);
        return;
    }
    running = true;
    next_read = fh_port_now_ms();
}

void loop()
{
    if (!running) {
        delay(1000);
        return;
    }
    if (fh_port_now_ms() >= next_read) {
        char data[SLOT_BYTES];
        /* The "sensor": Wi-Fi signal and free heap. Put your sensor here. */
        int n = snprintf(data, sizeof data, "{\"rssi\":%d,\"heap\":%u}", (int)WiFi.RSSI(), (unsigned)ESP.getFreeHeap());
        if (fh_client_publish(&client, data, (size_t)n, fh_port_epoch_ms()) == -1) Serial.println("outbox full: reading skipped");
        next_read += (uint64_t)READ_INTERVAL_S * 1000u;
    }
    if (fh_client_poll(&client, 50) != 0) running = false; /* revoked or replaced: never reconnect */
}
