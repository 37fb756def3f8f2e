/*
 * fleethub example for ESP-IDF: joins Wi-Fi, sets the clock by SNTP, and
 * sends a reading every CONFIG_FLEETHUB_READ_INTERVAL_S seconds. Readings
 * not yet acked and the sequence counter live in NVS, so a reboot or a
 * power cut loses nothing and sends nothing twice.
 *
 * Credentials: fleethub device export esp32-01 --format esp32 --out main/fleethub_credentials.h
 * then name the header's constants below (they carry the device id).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_netif_sntp.h"
#include "esp_system.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "nvs_flash.h"

#include "fleethub/fh_client.h"
#include "fleethub/fh_port.h"
#include "fleethub/fh_storage_nvs.h"
#include "fleethub_credentials.h"

#define DEVICE_CA_CERT FLEETHUB_ESP32_01_CA_CERT
#define DEVICE_CERT FLEETHUB_ESP32_01_CLIENT_CERT
#define DEVICE_KEY FLEETHUB_ESP32_01_CLIENT_KEY

static const char *TAG = "fleethub";

/* Every buffer is here, sized once: the library allocates nothing after fh_client_init. */
#define OUTBOX_SLOTS 16
#define SLOT_BYTES 128
static uint8_t outbox_mem[FH_OUTBOX_BYTES(OUTBOX_SLOTS, SLOT_BYTES)];
static uint8_t rx_buf[2048], msg_buf[4096], tx_buf[SLOT_BYTES + 128];
static fh_outbox outbox;
static fh_nvs_storage nvs_storage;
static fh_client client;

static EventGroupHandle_t wifi_events;
#define WIFI_UP BIT0

static void on_wifi(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    if (base == WIFI_EVENT && (id == WIFI_EVENT_STA_START || id == WIFI_EVENT_STA_DISCONNECTED)) {
        xEventGroupClearBits(wifi_events, WIFI_UP);
        esp_wifi_connect(); /* the fleethub client backs off by itself while Wi-Fi is down */
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        xEventGroupSetBits(wifi_events, WIFI_UP);
    }
}

static void wifi_start(void)
{
    wifi_events = xEventGroupCreate();
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    esp_netif_create_default_wifi_sta();
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&init));
    ESP_ERROR_CHECK(esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_wifi, NULL));
    ESP_ERROR_CHECK(esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_wifi, NULL));
    wifi_config_t sta = { 0 };
    strlcpy((char *)sta.sta.ssid, CONFIG_FLEETHUB_WIFI_SSID, sizeof sta.sta.ssid);
    strlcpy((char *)sta.sta.password, CONFIG_FLEETHUB_WIFI_PASSWORD, sizeof sta.sta.password);
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_set_config(WIFI_IF_STA, &sta));
    ESP_ERROR_CHECK(esp_wifi_start());
    xEventGroupWaitBits(wifi_events, WIFI_UP, pdFALSE, pdTRUE, portMAX_DELAY);
}

static void on_event(const fh_event *ev, void *ctx)
{
    switch (ev->type) {
    case FH_EV_HELLO: ESP_LOGI(TAG, "hello, the hub stored up to seq %" PRIu64, ev->has_last_seq ? ev->last_seq : 0); break;
    case FH_EV_ACK: ESP_LOGI(TAG, "ack %" PRIu64, ev->seq); break;
    case FH_EV_NACK: ESP_LOGW(TAG, "nack %" PRIu64 " %s", ev->seq, ev->text); break;
    case FH_EV_CLOSE: ESP_LOGW(TAG, "closed %u", ev->close_code); break;
    case FH_EV_CONNECT_FAILED: ESP_LOGW(TAG, "connect failed -0x%04x %s", (unsigned)-ev->error, ev->text ? ev->text : ""); break;
    case FH_EV_RETRY: ESP_LOGI(TAG, "retry in %" PRIu32 " ms", ev->retry_after_ms); break;
    case FH_EV_STOPPED: ESP_LOGE(TAG, "stopped by the hub (%u): revoked or replaced", ev->close_code); break;
    default: break;
    }
}

/* The "sensor": Wi-Fi signal and free heap, which every ESP32 has. Put your sensor here. */
static int read_sensor(char *out, size_t cap)
{
    wifi_ap_record_t ap;
    int rssi = esp_wifi_sta_get_ap_info(&ap) == ESP_OK ? ap.rssi : 0;
    return snprintf(out, cap, "{\"rssi\":%d,\"heap\":%" PRIu32 "}", rssi, esp_get_free_heap_size());
}

void app_main(void)
{
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        /* An NVS partition that cannot be used as is: erasing it loses unsent readings, so say so. */
        ESP_LOGW(TAG, "NVS erased (%s): unsent readings from before are lost", esp_err_to_name(err));
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
    wifi_start();
    esp_sntp_config_t sntp = ESP_NETIF_SNTP_DEFAULT_CONFIG("pool.ntp.org");
    esp_netif_sntp_init(&sntp); /* readings taken before the clock is set go without ts: the hub stamps them */

    fh_storage storage;
    ESP_ERROR_CHECK(fh_nvs_storage_init(&nvs_storage, "fleethub", "outbox", &storage));
    if (fh_outbox_init(&outbox, outbox_mem, sizeof outbox_mem, OUTBOX_SLOTS, SLOT_BYTES, storage) != 0) {
        ESP_LOGE(TAG, "the saved outbox has another shape (OUTBOX_SLOTS or SLOT_BYTES changed): erase NVS key fleethub/outbox");
        return;
    }
    fh_client_config cfg;
    fh_client_config_defaults(&cfg);
    cfg.host = CONFIG_FLEETHUB_HUB_HOST;
    cfg.port = CONFIG_FLEETHUB_HUB_PORT;
    cfg.ca_pem = DEVICE_CA_CERT;
    cfg.cert_pem = DEVICE_CERT;
    cfg.key_pem = DEVICE_KEY;
    cfg.on_event = on_event;
    fh_client_buffers bufs = { rx_buf, sizeof rx_buf, msg_buf, sizeof msg_buf, tx_buf, sizeof tx_buf };
    int rc = fh_client_init(&client, &cfg, &bufs, &outbox);
    if (rc != 0) {
        ESP_LOGE(TAG, "cannot load the credentials (mbedTLS -0x%04x)", (unsigned)-rc);
        return;
    }

    uint64_t next_read = fh_port_now_ms();
    for (;;) {
        if (fh_port_now_ms() >= next_read) {
            char data[SLOT_BYTES];
            int n = read_sensor(data, sizeof data);
            if (n > 0 && (size_t)n < sizeof data && fh_client_publish(&client, data, (size_t)n, fh_port_epoch_ms()) == -1) {
                ESP_LOGW(TAG, "outbox full (%d readings wait for the hub): this reading is skipped", OUTBOX_SLOTS);
            }
            next_read += (uint64_t)CONFIG_FLEETHUB_READ_INTERVAL_S * 1000u;
        }
        if (fh_client_poll(&client, 200) != 0) break; /* revoked or replaced: never reconnect */
    }
    fh_client_free(&client);
}
