/*
 * fleethub example for ESP-IDF: joins Wi-Fi, sets the clock by SNTP, and
 * sends a reading every CONFIG_FLEETHUB_READ_INTERVAL_S seconds. Readings
 * not yet acked and the sequence counter live in NVS, so a reboot or a
 * power cut loses nothing and sends nothing twice. With protocol version 2
 * it answers two commands (`ping`, `set_interval`), applies the desired
 * configuration (`interval_s`), and renews its certificate when the hub
 * says so (a new key made here, both pairs kept in NVS).
 *
 * Credentials, one of:
 * - its own pair: fleethub device export esp32-01 --format esp32 --out main/fleethub_credentials.h
 *   then name the header's constants below (they carry the device id);
 * - a claim certificate (CONFIG_FLEETHUB_PROVISION_BY_CLAIM): fleethub provision export line-7
 *   --format esp32 --out main/fleethub_claim.h; the device makes its key, gets
 *   its certificate for CONFIG_FLEETHUB_DEVICE_ID on first boot and keeps both in NVS.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_netif_sntp.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "nvs_flash.h"

#include "fleethub/fh_client.h"
#include "fleethub/fh_port.h"
#include "fleethub/fh_provision.h"
#include "fleethub/fh_storage_nvs.h"

#if CONFIG_FLEETHUB_PROVISION_BY_CLAIM
#include "fleethub_claim.h"
#define DEVICE_CA_CERT FLEETHUB_LINE_7_CA_CERT
#define CLAIM_CERT FLEETHUB_LINE_7_CLIENT_CERT
#define CLAIM_KEY FLEETHUB_LINE_7_CLIENT_KEY
#else
#include "fleethub_credentials.h"
#define DEVICE_CA_CERT FLEETHUB_ESP32_01_CA_CERT
#define DEVICE_CERT FLEETHUB_ESP32_01_CLIENT_CERT
#define DEVICE_KEY FLEETHUB_ESP32_01_CLIENT_KEY
#endif

static const char *TAG = "fleethub";

/* Every buffer is here, sized once: the library allocates nothing after fh_client_init. */
#define OUTBOX_SLOTS 16
#define SLOT_BYTES 128
static uint8_t outbox_mem[FH_OUTBOX_BYTES(OUTBOX_SLOTS, SLOT_BYTES)];
/* tx holds one reading, a command's answer, and a renewal's or provisioning's request (about 700 bytes). */
static uint8_t rx_buf[2048], msg_buf[4096], tx_buf[1024];
/* The pair in use (from NVS), and renewal's room for the next one. */
static char key_pem[FH_KEY_PEM_MAX], cert_pem[FH_CERT_PEM_MAX], renew_pem[FH_RENEW_PEM_BYTES];
static fh_outbox outbox;
static fh_nvs_storage nvs_storage;
static fh_cred_storage creds;
static fh_client client;
/* Seconds between readings: the menuconfig value until the hub's desired configuration or a command sets it. */
static uint32_t interval_s = CONFIG_FLEETHUB_READ_INTERVAL_S;

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
    case FH_EV_HELLO:
        ESP_LOGI(TAG, "hello (protocol %u), the hub stored up to seq %" PRIu64, ev->protocol, ev->has_last_seq ? ev->last_seq : 0);
        if (ev->cert != NULL) ESP_LOGI(TAG, "certificate %s, renewal %s", ev->cert->serial, ev->cert->renew ? "due" : "not due");
        break;
    case FH_EV_ACK: ESP_LOGI(TAG, "ack %" PRIu64, ev->seq); break;
    case FH_EV_NACK: ESP_LOGW(TAG, "nack %" PRIu64 " %s", ev->seq, ev->text); break;
    case FH_EV_CLOSE: ESP_LOGW(TAG, "closed %u", ev->close_code); break;
    case FH_EV_CONNECT_FAILED: ESP_LOGW(TAG, "connect failed -0x%04x %s", (unsigned)-ev->error, ev->text ? ev->text : ""); break;
    case FH_EV_RETRY: ESP_LOGI(TAG, "retry in %" PRIu32 " ms", ev->retry_after_ms); break;
    case FH_EV_STOPPED: ESP_LOGE(TAG, "stopped by the hub (%u): revoked or replaced", ev->close_code); break;
    case FH_EV_COMMAND: ESP_LOGI(TAG, "command %s %s %s", ev->text, ev->ok ? "ok" : "failed", ev->detail); break;
    case FH_EV_CONFIG: ESP_LOGI(TAG, "configuration %" PRId64 " %s %s", ev->version, ev->ok ? "applied" : "refused", ev->detail); break;
    case FH_EV_RENEWING: ESP_LOGI(TAG, "renewing the certificate (%s)", ev->text); break;
    case FH_EV_CERT: ESP_LOGI(TAG, "new certificate %s stored, reconnecting with it", ev->text); break;
    case FH_EV_RENEWED: ESP_LOGI(TAG, "renewed: certificate %s is current", ev->text); break;
    case FH_EV_CERT_ERROR: ESP_LOGW(TAG, "renewal refused: %s, retry in %" PRIu32 " ms", ev->text, ev->retry_after_ms); break;
    case FH_EV_RENEW_FELL_BACK: ESP_LOGW(TAG, "the hub refused the new certificate: back on the previous one"); break;
    case FH_EV_RENEW_FAILED: ESP_LOGE(TAG, "renewal gave up (%s %d)", ev->text, ev->error); break;
    default: break;
    }
}

/* `interval_s` from a command's args or the desired configuration: a number of seconds from 1 to 86400. */
static bool read_interval(fh_json_span obj, char *error, size_t error_cap)
{
    fh_json_span v;
    double seconds;
    if (fh_json_get(obj, "interval_s", &v) != 0) return true; /* not there: nothing to change */
    if (fh_json_number(v, &seconds) != 0 || seconds < 1 || seconds > 86400) {
        snprintf(error, error_cap, "interval_s must be a number from 1 to 86400");
        return false;
    }
    interval_s = (uint32_t)seconds;
    return true;
}

/* Command `ping`: answers the uptime and free heap. */
static bool cmd_ping(const fh_cmd_request *cmd, fh_json_writer *result, char *error, size_t error_cap, void *ctx)
{
    fh_jw_key(result, "uptime_s");
    fh_jw_int(result, esp_timer_get_time() / 1000000);
    fh_jw_key(result, "heap");
    fh_jw_int(result, (int64_t)esp_get_free_heap_size());
    return true;
}

/* Command `set_interval` {"interval_s":N}: until the next desired configuration says otherwise. */
static bool cmd_set_interval(const fh_cmd_request *cmd, fh_json_writer *result, char *error, size_t error_cap, void *ctx)
{
    if (!read_interval(cmd->args, error, error_cap)) return false;
    fh_jw_key(result, "interval_s");
    fh_jw_int(result, interval_s);
    return true;
}

/* Only these names are run (the hub sends only names on its `commands` allow-list; others are answered "unknown command"). */
static const fh_command COMMANDS[] = {
    { .name = "ping", .handle = cmd_ping },
    { .name = "set_interval", .handle = cmd_set_interval },
};

/* The desired configuration: the whole document each time; `interval_s` is what this device reads from it. */
static bool apply_config(int64_t version, fh_json_span desired, char *error, size_t error_cap, void *ctx)
{
    return read_interval(desired, error, error_cap);
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
    fh_nvs_cred_storage_init(&nvs_storage, &creds);
    fh_client_config cfg;
    fh_client_config_defaults(&cfg);
    cfg.host = CONFIG_FLEETHUB_HUB_HOST;
    cfg.port = CONFIG_FLEETHUB_HUB_PORT;
    cfg.ca_pem = DEVICE_CA_CERT;
    cfg.on_event = on_event;
    cfg.protocol = 2; /* commands, desired configuration, renewal (a hub without them answers in version 1) */
    cfg.commands = COMMANDS;
    cfg.command_count = sizeof COMMANDS / sizeof COMMANDS[0];
    cfg.on_config = apply_config;
    cfg.cred_store = &creds;
    /* A key in the DS peripheral cannot be replaced: FH_RENEW_SAME_KEY asks for a certificate for the same key. */
#if CONFIG_FLEETHUB_RENEW_SAME_KEY
    cfg.renew_mode = FH_RENEW_SAME_KEY;
#else
    cfg.renew_mode = FH_RENEW_NEW_KEY;
#endif
    fh_client_buffers bufs = { .rx = rx_buf, .rx_size = sizeof rx_buf, .msg = msg_buf, .msg_size = sizeof msg_buf,
                               .tx = tx_buf, .tx_size = sizeof tx_buf, .pem = renew_pem, .pem_size = sizeof renew_pem };
    int rc;
#if CONFIG_FLEETHUB_PROVISION_BY_CLAIM
    /* First boot: a key made here, a certificate from /v1/provision, both kept in NVS. Later boots read them back. */
    fh_provision_config pc = { .device_id = CONFIG_FLEETHUB_DEVICE_ID, .claim_cert_pem = CLAIM_CERT, .claim_key_pem = CLAIM_KEY };
    fh_provision_result res;
    rc = fh_provision(&client, &cfg, &bufs, &pc, &creds, key_pem, sizeof key_pem, cert_pem, sizeof cert_pem, &res);
    if (rc == FH_PROVISION_REFUSED) {
        ESP_LOGE(TAG, "provisioning refused: %s (retry after %" PRIu32 " ms)", res.error, res.retry_after_ms);
        return;
    }
    if (rc != 0) {
        ESP_LOGE(TAG, "provisioning failed (%d)", rc);
        return;
    }
    if (res.from_storage) ESP_LOGI(TAG, "credentials from NVS");
    else ESP_LOGI(TAG, "provisioned: certificate %s", res.cert.serial);
#else
    /* The flashed pair is kept in NVS as the current one; once renewed, NVS holds the pair to use. */
    rc = fh_cred_seed(&creds, DEVICE_KEY, DEVICE_CERT);
    if (rc >= 0) rc = fh_cred_load_current(&creds, key_pem, sizeof key_pem, cert_pem, sizeof cert_pem);
    if (rc != 0) {
        ESP_LOGE(TAG, "cannot keep the credentials in NVS (%d)", rc);
        return;
    }
#endif
    cfg.cert_pem = cert_pem;
    cfg.key_pem = key_pem;
    rc = fh_client_init(&client, &cfg, &bufs, &outbox);
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
            next_read += (uint64_t)interval_s * 1000u;
        }
        if (fh_client_poll(&client, 200) != 0) break; /* revoked or replaced: never reconnect */
    }
    fh_client_free(&client);
}
