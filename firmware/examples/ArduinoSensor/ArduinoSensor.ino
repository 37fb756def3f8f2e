/*
 * fleethub example for Arduino-ESP32: joins Wi-Fi, sets the clock by NTP and
 * sends a reading every `intervalS` seconds. Unacked readings and the
 * sequence counter live in NVS, so a reboot loses nothing and sends nothing
 * twice. With protocol version 2 it answers two commands (`ping`,
 * `set_interval`), applies the desired configuration (`interval_s`) and
 * renews its certificate when the hub says so (a new key made here, both
 * pairs kept in NVS). The library brings its own TLS (the core's mbedTLS),
 * not WiFiClientSecure.
 *
 * Credentials, one of:
 * - its own pair: fleethub device export esp32-01 --format esp32 --out fleethub_credentials.h
 *   (next to this sketch), then name the header's constants below;
 * - a claim certificate (USE_CLAIM 1): fleethub provision export line-7 --format esp32 --out fleethub_claim.h;
 *   the device makes its key and gets its certificate for DEVICE_ID on first boot.
 */
#include <WiFi.h>
#include <FleetHub.h>

/* 1: provision by claim on first boot (fleethub_claim.h); 0: the device's own pair (fleethub_credentials.h). */
#ifndef USE_CLAIM
#define USE_CLAIM 0
#endif

#if USE_CLAIM
#include "fleethub_claim.h"
#define DEVICE_CA_CERT FLEETHUB_LINE_7_CA_CERT
#define CLAIM_CERT FLEETHUB_LINE_7_CLIENT_CERT
#define CLAIM_KEY FLEETHUB_LINE_7_CLIENT_KEY
static const char *DEVICE_ID = "esp32-01"; /* on the batch's allow-list */
#else
#include "fleethub_credentials.h"
#define DEVICE_CA_CERT FLEETHUB_ESP32_01_CA_CERT
#define DEVICE_CERT FLEETHUB_ESP32_01_CLIENT_CERT
#define DEVICE_KEY FLEETHUB_ESP32_01_CLIENT_KEY
#endif

/* setup() and loop() run on the loop task: 8 KB for TLS, 4 KB more for a renewal's or provisioning's request. */
SET_LOOP_TASK_STACK_SIZE(12 * 1024);

static const char *WIFI_SSID = "my-wifi";
static const char *WIFI_PASSWORD = "";
static const char *HUB_HOST = "hub.example.com"; /* a DNS name in the hub's certificate: ESP32 mbedTLS ignores IP SANs */
static const uint16_t HUB_PORT = 8443;
/* Seconds between readings, until the desired configuration or a command sets it. */
static uint32_t intervalS = 10;

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
static bool running = false;
static uint64_t next_read = 0;

static void on_event(const fh_event *ev, void *ctx)
{
    switch (ev->type) {
    case FH_EV_HELLO:
        if (ev->cert != NULL) Serial.printf("hello: certificate %s, renewal %s\n", ev->cert->serial, ev->cert->renew ? "due" : "not due");
        break;
    case FH_EV_ACK: Serial.printf("ack %llu\n", (unsigned long long)ev->seq); break;
    case FH_EV_NACK: Serial.printf("nack %llu %s\n", (unsigned long long)ev->seq, ev->text); break;
    case FH_EV_CLOSE: Serial.printf("closed %u\n", ev->close_code); break;
    case FH_EV_CONNECT_FAILED: Serial.printf("connect failed -0x%04x\n", (unsigned)-ev->error); break;
    case FH_EV_STOPPED: Serial.printf("stopped by the hub (%u): revoked or replaced\n", ev->close_code); break;
    case FH_EV_COMMAND: Serial.printf("command %s %s %s\n", ev->text, ev->ok ? "ok" : "failed", ev->detail); break;
    case FH_EV_CONFIG: Serial.printf("configuration %lld %s %s\n", (long long)ev->version, ev->ok ? "applied" : "refused", ev->detail); break;
    case FH_EV_CERT: Serial.printf("new certificate %s stored, reconnecting with it\n", ev->text); break;
    case FH_EV_RENEWED: Serial.printf("renewed: certificate %s is current\n", ev->text); break;
    case FH_EV_CERT_ERROR: Serial.printf("renewal refused: %s, retry in %u ms\n", ev->text, (unsigned)ev->retry_after_ms); break;
    case FH_EV_RENEW_FELL_BACK: Serial.println("the hub refused the new certificate: back on the previous one"); break;
    case FH_EV_RENEW_FAILED: Serial.printf("renewal gave up (%s %d)\n", ev->text, ev->error); break;
    default: break;
    }
}

/* `interval_s` from a command's args or the desired configuration: a number of seconds from 1 to 86400. */
static bool readInterval(fh_json_span obj, char *error, size_t error_cap)
{
    fh_json_span v;
    double seconds;
    if (fh_json_get(obj, "interval_s", &v) != 0) return true; /* not there: nothing to change */
    if (fh_json_number(v, &seconds) != 0 || seconds < 1 || seconds > 86400) {
        snprintf(error, error_cap, "interval_s must be a number from 1 to 86400");
        return false;
    }
    intervalS = (uint32_t)seconds;
    return true;
}

/* Command `ping`: answers the uptime and free heap. */
static bool cmdPing(const fh_cmd_request *cmd, fh_json_writer *result, char *error, size_t error_cap, void *ctx)
{
    fh_jw_key(result, "uptime_s");
    fh_jw_int(result, (int64_t)(millis() / 1000));
    fh_jw_key(result, "heap");
    fh_jw_int(result, (int64_t)ESP.getFreeHeap());
    return true;
}

/* Command `set_interval` {"interval_s":N}: until the next desired configuration says otherwise. */
static bool cmdSetInterval(const fh_cmd_request *cmd, fh_json_writer *result, char *error, size_t error_cap, void *ctx)
{
    if (!readInterval(cmd->args, error, error_cap)) return false;
    fh_jw_key(result, "interval_s");
    fh_jw_int(result, (int64_t)intervalS);
    return true;
}

/* Only these names are run (others are answered "unknown command"). */
static const fh_command COMMANDS[] = {
    { "ping", cmdPing, NULL },
    { "set_interval", cmdSetInterval, NULL },
};

/* The desired configuration: the whole document each time; `interval_s` is what this device reads from it. */
static bool applyConfig(int64_t version, fh_json_span desired, char *error, size_t error_cap, void *ctx)
{
    return readInterval(desired, error, error_cap);
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
    fh_nvs_cred_storage_init(&nvs_storage, &creds);
    fh_client_config cfg;
    fh_client_config_defaults(&cfg);
    cfg.host = HUB_HOST;
    cfg.port = HUB_PORT;
    cfg.ca_pem = DEVICE_CA_CERT;
    cfg.on_event = on_event;
    cfg.protocol = 2; /* commands, desired configuration, renewal */
    cfg.commands = COMMANDS;
    cfg.command_count = sizeof COMMANDS / sizeof COMMANDS[0];
    cfg.on_config = applyConfig;
    cfg.cred_store = &creds;
    cfg.renew_mode = FH_RENEW_NEW_KEY; /* FH_RENEW_SAME_KEY for a key that cannot be replaced (the DS peripheral) */
    fh_client_buffers bufs = { rx_buf, sizeof rx_buf, msg_buf, sizeof msg_buf, tx_buf, sizeof tx_buf, renew_pem, sizeof renew_pem };
    int rc;
#if USE_CLAIM
    /* First boot: a key made here, a certificate from /v1/provision, both kept in NVS. Later boots read them back. */
    fh_provision_config pc = { DEVICE_ID, CLAIM_CERT, CLAIM_KEY, 0 };
    fh_provision_result res;
    rc = fh_provision(&client, &cfg, &bufs, &pc, &creds, key_pem, sizeof key_pem, cert_pem, sizeof cert_pem, &res);
    if (rc != 0) {
        Serial.printf("provisioning failed (%d %s, retry after %u ms)\n", rc, res.error, (unsigned)res.retry_after_ms);
        return;
    }
#else
    /* The flashed pair is kept in NVS as the current one; once renewed, NVS holds the pair to use. */
    rc = fh_cred_seed(&creds, DEVICE_KEY, DEVICE_CERT);
    if (rc >= 0) rc = fh_cred_load_current(&creds, key_pem, sizeof key_pem, cert_pem, sizeof cert_pem);
    if (rc != 0) {
        Serial.printf("cannot keep the credentials in NVS (%d)\n", rc);
        return;
    }
#endif
    cfg.cert_pem = cert_pem;
    cfg.key_pem = key_pem;
    rc = fh_client_init(&client, &cfg, &bufs, &outbox);
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
        next_read += (uint64_t)intervalS * 1000u;
    }
    if (fh_client_poll(&client, 50) != 0) running = false; /* revoked or replaced: never reconnect */
}
