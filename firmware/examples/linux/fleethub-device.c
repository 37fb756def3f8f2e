/*
 * fleethub-device: the library on Linux, as a command-line device. Sends
 * --count readings (a counter and a fake temperature) every --interval-ms,
 * keeps its sequence counter and outbox in --state DIR, prints one line per
 * event, and exits 0 once every reading it sent is acked.
 *
 * With --claim-cert/--claim-key/--id instead of --cert/--key it provisions
 * itself by claim first (its key made here, its certificate kept in --state)
 * and streams with that pair; a later run finds the pair in --state.
 *
 * With --protocol 2 --renew new-key|same-key it renews its certificate when
 * the hub's hello says so (or at once with --renew-now): the pair it started
 * with (--cert/--key, or the provisioned one) is kept in --state, the new one
 * beside it, and later runs use what --state holds.
 *
 * Test hook: FLEETHUB_DEVICE_POWER_CUT=after-key|before-cert|after-cert|after-state
 * kills the process (SIGKILL, no clean-up, like a power cut) at that step of
 * a renewal's credential writes.
 *
 * Exit codes: 0 all acked; 2 bad usage or unreadable files; 3 stopped by the
 * hub (4001 revoked, 4002 replaced, 4003 provisioning refused); 4 the state in
 * --state cannot be used; 5 provisioning gave up (no answer, or a bad one).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fleethub/fh_client.h"
#include "fleethub/fh_csr.h"
#include "fleethub/fh_port.h"
#include "fleethub/fh_provision.h"
#include "fh_storage_file.h"
#include "device_files.h"

#define OUTBOX_SLOTS 64
#define SLOT_BYTES 256
#define PEM_MAX 16384

static uint8_t outbox_mem[FH_OUTBOX_BYTES(OUTBOX_SLOTS, SLOT_BYTES)];
static uint8_t rx_buf[4096];
static uint8_t msg_buf[16384];
/* One reading's frame, and the provisioning request (a P-256 request is about 600 bytes as JSON). */
static uint8_t tx_buf[1024];
static char ca_pem[PEM_MAX], cert_pem[PEM_MAX], key_pem[PEM_MAX], claim_cert_pem[PEM_MAX], claim_key_pem[PEM_MAX];
/* Renewal's room for the new key, its request and certificate. */
static char renew_pem[FH_RENEW_PEM_BYTES];
static char hosts[1 + FH_MAX_ENDPOINTS][256];
/** --command / --fail-command: at most this many names in all. */
#define MAX_COMMANDS 8
static fh_command commands[MAX_COMMANDS];
/** The reading interval: --interval-ms, or what desired configuration's `interval_s` set. */
static long interval_ms = 1000;

/* --command NAME: succeeds; `ping` answers {"pong":true}, any other name {"args":<how many it got>}. */
static bool answer_command(const fh_cmd_request *cmd, fh_json_writer *result, char *error, size_t error_cap, void *ctx)
{
    fh_json_span key, value;
    size_t n = 0;
    (void)error;
    (void)error_cap;
    (void)ctx;
    if (strcmp(cmd->name, "ping") == 0) {
        fh_jw_key(result, "pong");
        fh_jw_bool(result, true);
        return true;
    }
    while (n < 1000 && fh_json_member_at(cmd->args, n, &key, &value) == 0) n++;
    fh_jw_key(result, "args");
    fh_jw_int(result, (int64_t)n);
    return true;
}

/* --fail-command NAME: answered ok:false. */
static bool fail_command(const fh_cmd_request *cmd, fh_json_writer *result, char *error, size_t error_cap, void *ctx)
{
    (void)result;
    (void)ctx;
    snprintf(error, error_cap, "%s failed on purpose", cmd->name);
    return false;
}

/* Desired configuration: `interval_s` (a number > 0) sets the reading interval; other names are ignored. */
static bool apply_config(int64_t version, fh_json_span desired, char *error, size_t error_cap, void *ctx)
{
    fh_json_span v;
    double seconds;
    (void)version;
    (void)ctx;
    if (fh_json_get(desired, "interval_s", &v) != 0) return true;
    if (fh_json_number(v, &seconds) != 0 || seconds <= 0 || seconds > 86400) {
        snprintf(error, error_cap, "interval_s must be a number from 0 to 86400");
        return false;
    }
    interval_ms = (long)(seconds * 1000.0 + 0.5);
    return true;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: fleethub-device --url wss://HOST:PORT/v1/device --ca FILE --cert FILE --key FILE --state DIR\n"
            "                       [--url ANOTHER_HUB...] [--count N] [--interval-ms M] [--protocol 1|2] [--backoff-max-ms M]\n"
            "                       [--command NAME...] [--fail-command NAME...]   (protocol 2: commands answered ok / failed)\n"
            "                       [--renew new-key|same-key [--renew-now]]   (protocol 2: certificate renewal, pairs kept in --state)\n"
            "       fleethub-device --url ... --ca FILE --claim-cert FILE --claim-key FILE --id DEVICE_ID --state DIR [...]\n"
            "                       (provisioning by claim: its own key and certificate, kept in --state)\n"
            "       fleethub-device --new-key KEY_FILE --csr CSR_FILE --id DEVICE_ID   (a key and request made here)\n"
            "example: fleethub-device --url wss://localhost:8443/v1/device --ca certs/ca.crt \\\n"
            "           --cert certs/devices/esp32-01.crt --key certs/devices/esp32-01.key --state ./state --count 10\n");
}

/* wss://HOST:PORT/PATH */
static int parse_url(const char *url, char *h, size_t hcap, uint16_t *port, const char **path)
{
    const char *p = url, *colon, *slash;
    unsigned long n;
    char *end;
    if (strncmp(p, "wss://", 6) != 0) return -1;
    p += 6;
    slash = strchr(p, '/');
    if (slash == NULL) return -1;
    colon = memchr(p, ':', (size_t)(slash - p));
    if (colon == NULL) {
        *port = 8443;
        colon = slash;
    } else {
        n = strtoul(colon + 1, &end, 10);
        if (end != slash || n == 0 || n > 65535) return -1;
        *port = (uint16_t)n;
    }
    if ((size_t)(colon - p) == 0 || (size_t)(colon - p) >= hcap) return -1;
    memcpy(h, p, (size_t)(colon - p));
    h[colon - p] = '\0';
    *path = slash;
    return 0;
}

static void on_event(const fh_event *ev, void *ctx)
{
    switch (ev->type) {
    case FH_EV_CONNECTED: printf("connected\n"); break;
    case FH_EV_HELLO:
        if (ev->has_last_seq) printf("hello lastSeq=%" PRIu64 "\n", ev->last_seq);
        else printf("hello lastSeq=null\n");
        if (*(const long *)ctx == 2) {
            char features[32] = "";
            if (ev->features & FH_FEATURE_RENEW) strcat(features, ",renew");
            if (ev->features & FH_FEATURE_CMD) strcat(features, ",cmd");
            if (ev->features & FH_FEATURE_CONFIG) strcat(features, ",config");
            printf("protocol %u features=%s maxDownlinkBytes=%" PRId64 "\n", ev->protocol, features[0] ? features + 1 : "",
                   ev->limits->max_downlink_bytes);
            if (ev->cert != NULL) {
                printf("hello cert serial=%s notAfter=%" PRId64 " renew=%s\n", ev->cert->serial, ev->cert->not_after,
                       ev->cert->renew ? "true" : "false");
            }
            if (ev->limits->max_downlink_bytes > (int64_t)sizeof msg_buf) {
                /* The hub may send more than we reassemble: such a message would end the connection with 1009. */
                fprintf(stderr, "fleethub-device: the hub's maxDownlinkBytes %" PRId64 " is over this build's %zu\n",
                        ev->limits->max_downlink_bytes, sizeof msg_buf);
            }
        }
        break;
    case FH_EV_ACK: printf("ack %" PRIu64 "\n", ev->seq); break;
    case FH_EV_NACK:
        if (ev->has_seq) printf("nack %" PRIu64 " %s retryAfterMs=%u\n", ev->seq, ev->text, ev->retry_after_ms);
        else printf("nack null %s retryAfterMs=%u\n", ev->text, ev->retry_after_ms);
        break;
    case FH_EV_CLOSE: printf("close %u\n", ev->close_code); break;
    case FH_EV_CONNECT_FAILED:
        printf("connect_failed -0x%04x%s%s\n", (unsigned)-ev->error, ev->text[0] ? " " : "", ev->text);
        break;
    case FH_EV_RETRY: printf("retry in %u ms\n", ev->retry_after_ms); break;
    case FH_EV_DROPPED: printf("dropped %" PRIu64 " %s\n", ev->seq, ev->text); break;
    case FH_EV_STOPPED: printf("stopped %u\n", ev->close_code); break;
    case FH_EV_PAUSED: printf("pause %u ms\n", ev->retry_after_ms); break;
    case FH_EV_COMMAND:
        if (ev->ok) printf("cmd %s ok\n", ev->text);
        else printf("cmd %s failed %s\n", ev->text, ev->detail);
        break;
    case FH_EV_CONFIG:
        if (ev->ok) printf("config version=%" PRId64 " interval_ms=%ld\n", ev->version, interval_ms);
        else printf("config version=%" PRId64 " refused %s\n", ev->version, ev->detail);
        break;
    case FH_EV_RENEWING: printf("renewing %s\n", ev->text); break;
    case FH_EV_CERT: printf("cert_received serial=%s notAfter=%" PRId64 "\n", ev->text, ev->not_after); break;
    case FH_EV_RENEWED: printf("renewed serial=%s\n", ev->text); break;
    case FH_EV_CERT_ERROR: printf("cert_error %s retryAfterMs=%u\n", ev->text, ev->retry_after_ms); break;
    case FH_EV_RENEW_FELL_BACK: printf("renew_fell_back %s\n", ev->text); break;
    case FH_EV_RENEW_FAILED: printf("renew_failed %s %d\n", ev->text, ev->error); break;
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *urls[1 + FH_MAX_ENDPOINTS] = { NULL };
    size_t url_count = 0;
    fh_endpoint alternates[FH_MAX_ENDPOINTS];
    const char *new_key = NULL, *csr = NULL, *id = NULL, *claim_cert = NULL, *claim_key = NULL;
    const char *ca = NULL, *cert = NULL, *key = NULL, *state = NULL, *path = NULL, *renew = NULL;
    bool renew_now = false;
    long count = 10, protocol = 1, backoff_max = FH_DEFAULT_BACKOFF_MAX_MS;
    size_t command_count = 0;
    uint16_t port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (strcmp(a, "--renew-now") == 0) {
            renew_now = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "fleethub-device: %s needs a value\n", a);
            return 2;
        }
        i++;
        char *end = NULL;
        if (strcmp(a, "--url") == 0) {
            if (url_count == 1 + FH_MAX_ENDPOINTS) {
                fprintf(stderr, "fleethub-device: at most %u --url\n", 1 + FH_MAX_ENDPOINTS);
                return 2;
            }
            urls[url_count++] = v;
        }
        else if (strcmp(a, "--command") == 0 || strcmp(a, "--fail-command") == 0) {
            if (command_count == MAX_COMMANDS || !fh_json_valid_field_name(v)) {
                fprintf(stderr, "fleethub-device: at most %d commands, each named [A-Za-z_][A-Za-z0-9_]{0,63}, got %s\n", MAX_COMMANDS, v);
                return 2;
            }
            commands[command_count].name = v;
            commands[command_count].handle = strcmp(a, "--command") == 0 ? answer_command : fail_command;
            command_count++;
        }
        else if (strcmp(a, "--ca") == 0) ca = v;
        else if (strcmp(a, "--cert") == 0) cert = v;
        else if (strcmp(a, "--key") == 0) key = v;
        else if (strcmp(a, "--state") == 0) state = v;
        else if (strcmp(a, "--renew") == 0) renew = v;
        else if (strcmp(a, "--new-key") == 0) new_key = v;
        else if (strcmp(a, "--claim-cert") == 0) claim_cert = v;
        else if (strcmp(a, "--claim-key") == 0) claim_key = v;
        else if (strcmp(a, "--csr") == 0) csr = v;
        else if (strcmp(a, "--id") == 0) id = v;
        else if (strcmp(a, "--count") == 0) count = strtol(v, &end, 10);
        else if (strcmp(a, "--interval-ms") == 0) interval_ms = strtol(v, &end, 10);
        else if (strcmp(a, "--protocol") == 0) protocol = strtol(v, &end, 10);
        else if (strcmp(a, "--backoff-max-ms") == 0) backoff_max = strtol(v, &end, 10);
        else {
            fprintf(stderr, "fleethub-device: unknown option %s\n", a);
            usage();
            return 2;
        }
        if (end != NULL && (*end != '\0' || end == v || strtol(v, NULL, 10) < 0)) {
            fprintf(stderr, "fleethub-device: %s must be a number >= 0, got %s\n", a, v);
            return 2;
        }
    }
    bool claim = claim_cert != NULL || claim_key != NULL;
    if (claim && (claim_cert == NULL || claim_key == NULL || id == NULL || cert != NULL || key != NULL || new_key != NULL || csr != NULL)) {
        fprintf(stderr, "fleethub-device: --claim-cert, --claim-key and --id go together, without --cert, --key, --new-key or --csr\n");
        return 2;
    }
    if (claim && !fh_device_id_valid(id)) {
        fprintf(stderr, "fleethub-device: --id must be 1 to 64 of A-Z a-z 0-9 . _ - (first a letter or digit), got %s\n", id);
        return 2;
    }
    if (!claim && (new_key != NULL || csr != NULL || id != NULL)) {
        if (new_key == NULL || csr == NULL || id == NULL) {
            fprintf(stderr, "fleethub-device: --new-key, --csr and --id go together\n");
            return 2;
        }
        return make_csr(new_key, csr, id);
    }
    if (url_count == 0 || ca == NULL || (!claim && (cert == NULL || key == NULL)) || state == NULL) {
        usage();
        return 2;
    }
    if (protocol != 1 && protocol != 2) {
        fprintf(stderr, "fleethub-device: --protocol must be 1 or 2, got %ld\n", protocol);
        return 2;
    }
    if (renew != NULL && (protocol != 2 || (strcmp(renew, "new-key") != 0 && strcmp(renew, "same-key") != 0))) {
        fprintf(stderr, "fleethub-device: --renew is new-key or same-key, with --protocol 2\n");
        return 2;
    }
    if (renew_now && renew == NULL) {
        fprintf(stderr, "fleethub-device: --renew-now needs --renew\n");
        return 2;
    }
    if (backoff_max < 1 || backoff_max > 3600000) {
        fprintf(stderr, "fleethub-device: --backoff-max-ms must be from 1 to 3600000\n");
        return 2;
    }
    for (size_t i = 0; i < url_count; i++) {
        const char *p = NULL;
        if (parse_url(urls[i], hosts[i], sizeof hosts[i], i == 0 ? &port : &alternates[i - 1].port, &p) != 0 ||
            (path != NULL && strcmp(p, path) != 0)) {
            fprintf(stderr, "fleethub-device: --url must look like wss://HOST:PORT/v1/device (one path for all), got %s\n", urls[i]);
            return 2;
        }
        if (i > 0) alternates[i - 1].host = hosts[i];
        path = p;
    }
    if (read_file(ca, ca_pem, sizeof ca_pem) != 0 ||
        (claim ? read_file(claim_cert, claim_cert_pem, sizeof claim_cert_pem) != 0 || read_file(claim_key, claim_key_pem, sizeof claim_key_pem) != 0
               : read_file(cert, cert_pem, sizeof cert_pem) != 0 || read_file(key, key_pem, sizeof key_pem) != 0)) {
        fprintf(stderr, "fleethub-device: cannot read --ca, --cert, --key, --claim-cert or --claim-key (at most %d bytes each)\n", PEM_MAX - 1);
        return 2;
    }
    if (mkdir(state, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "fleethub-device: cannot create --state %s\n", state);
        return 4;
    }

    static fh_file_storage file_storage;
    fh_storage storage;
    static fh_outbox outbox;
    if (fh_file_storage_init(&file_storage, state, &storage) != 0) {
        fprintf(stderr, "fleethub-device: --state path too long\n");
        return 4;
    }
    int rc = fh_outbox_init(&outbox, outbox_mem, sizeof outbox_mem, OUTBOX_SLOTS, SLOT_BYTES, storage);
    if (rc != 0) {
        fprintf(stderr, "fleethub-device: cannot use the state in %s (%d)\n", state, rc);
        return 4;
    }
    if (fh_outbox_count(&outbox) > 0) printf("resuming %zu unacked readings\n", fh_outbox_count(&outbox));

    fh_client_config cfg;
    fh_client_config_defaults(&cfg);
    cfg.host = hosts[0];
    cfg.port = port;
    cfg.path = path;
    cfg.alternates = alternates;
    cfg.alternate_count = url_count - 1;
    cfg.ca_pem = ca_pem;
    cfg.cert_pem = cert_pem;
    cfg.key_pem = key_pem;
    cfg.backoff_max_ms = (uint32_t)backoff_max;
    if (cfg.backoff_base_ms > cfg.backoff_max_ms) cfg.backoff_base_ms = cfg.backoff_max_ms;
    cfg.on_event = on_event;
    cfg.event_ctx = &protocol;
    cfg.protocol = (uint8_t)protocol;
    cfg.commands = commands;
    cfg.command_count = command_count;
    cfg.on_config = apply_config;
    fh_client_buffers bufs = { .rx = rx_buf, .rx_size = sizeof rx_buf, .msg = msg_buf, .msg_size = sizeof msg_buf,
                               .tx = tx_buf, .tx_size = sizeof tx_buf };
    static fh_client client;
    fh_cred_storage creds;
    fh_cred_storage file_creds;
    fh_file_cred_storage_init(&file_storage, &file_creds);
    power_cut_storage(&file_creds, &creds);
    if (claim) {
        fh_provision_config pc = { .device_id = id, .claim_cert_pem = claim_cert_pem, .claim_key_pem = claim_key_pem };
        fh_provision_result res;
        rc = fh_provision(&client, &cfg, &bufs, &pc, &creds, key_pem, sizeof key_pem, cert_pem, sizeof cert_pem, &res);
        if (rc == FH_PROVISION_REFUSED) {
            printf("provision_error %s retryAfterMs=%u\n", res.error[0] ? res.error : "refused", res.retry_after_ms);
            return 3;
        }
        if (rc == FH_PROVISION_STORAGE) {
            fprintf(stderr, "fleethub-device: cannot keep the credentials in --state %s\n", state);
            return 4;
        }
        if (rc != 0) {
            fprintf(stderr, "fleethub-device: provisioning gave up (%d)\n", rc);
            return 5;
        }
        if (res.from_storage) printf("credentials from state\n");
        else printf("provisioned serial=%s notAfter=%" PRId64 "\n", res.cert.serial, res.cert.not_after);
        fflush(stdout);
        cfg.cert_pem = cert_pem;
        cfg.key_pem = key_pem;
    }
    if (renew != NULL) {
        if (!claim) {
            /* The pair it came with is kept as the current one; a pair kept before (renewed since) wins. */
            rc = fh_cred_seed(&creds, key_pem, cert_pem);
            if (rc == 1) rc = fh_cred_load_current(&creds, key_pem, sizeof key_pem, cert_pem, sizeof cert_pem) == 0 ? 1 : -1;
            if (rc < 0) {
                fprintf(stderr, "fleethub-device: cannot keep the credentials in --state %s\n", state);
                return 4;
            }
            if (rc == 1) printf("credentials from state\n");
        }
        cfg.cred_store = &creds;
        cfg.renew_mode = strcmp(renew, "same-key") == 0 ? FH_RENEW_SAME_KEY : FH_RENEW_NEW_KEY;
        bufs.pem = renew_pem;
        bufs.pem_size = sizeof renew_pem;
    }
    rc = fh_client_init(&client, &cfg, &bufs, &outbox);
    if (rc != 0) {
        fprintf(stderr, "fleethub-device: cannot load the credentials (mbedTLS -0x%04x)\n", (unsigned)-rc);
        return 2;
    }
    power_cut_arm();
    if (renew_now) fh_client_renew(&client);

    long published = 0;
    uint64_t next_publish = fh_port_now_ms();
    int exit_code = 0;
    for (;;) {
        uint64_t now = fh_port_now_ms();
        if (published < count && now >= next_publish) {
            char data[128];
            double temp = 21.0 + 3.0 * sin((double)published / 10.0);
            int n = snprintf(data, sizeof data, "{\"n\":%ld,\"temp\":%.2f}", published + 1, temp);
            int added = fh_client_publish(&client, data, (size_t)n, fh_port_epoch_ms());
            if (added == 0) {
                published++;
                printf("reading n=%ld\n", published); /* after it is saved: a reading printed is never lost */
                fflush(stdout);
                next_publish = now + (uint64_t)interval_ms;
            } else if (added != -1) { /* -1 is a full outbox: try again once acks free a slot */
                fprintf(stderr, "fleethub-device: cannot keep the reading (%d)\n", added);
                exit_code = 4;
                break;
            }
        }
        if (published >= count && fh_outbox_count(&outbox) == 0) {
            fh_client_close(&client);
            printf("done\n");
            break;
        }
        uint32_t wait = 200;
        now = fh_port_now_ms();
        bool full = fh_outbox_count(&outbox) == fh_outbox_slots(&outbox);
        if (published < count && !full && next_publish > now && next_publish - now < wait) wait = (uint32_t)(next_publish - now);
        if (published < count && !full && next_publish <= now) wait = 0;
        if (fh_client_poll(&client, wait) != 0) {
            exit_code = 3;
            break;
        }
    }
    /* What the outbox cost the storage this run (on a device: flash writes). */
    printf("storage writes=%lu bytes=%llu\n", file_storage.writes, file_storage.bytes);
    fflush(stdout);
    fh_client_free(&client);
    return exit_code;
}
