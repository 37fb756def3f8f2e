/*
 * The fleethub device client: TLS 1.2 with a client certificate (mbedTLS),
 * the WebSocket upgrade, protocol version 1 (hello, telemetry, acks, nacks,
 * close codes), the persisted outbox and reconnects with jittered backoff;
 * protocol version 2's commands, desired configuration and certificate
 * renewal.
 * One thread calls fh_client_poll() in a loop; nothing is allocated by this
 * library after fh_client_init() (mbedTLS allocates its own record buffers
 * during the handshake).
 */
#ifndef FLEETHUB_FH_CLIENT_H
#define FLEETHUB_FH_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "fleethub/fh_control.h"
#include "fleethub/fh_cred.h"
#include "fleethub/fh_csr.h"
#include "fleethub/fh_json.h"
#include "fleethub/fh_outbox.h"
#include "fleethub/fh_ws.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Close codes of the fleethub device protocol (SPEC: Device protocol). */
enum {
    FH_CLOSE_REVOKED = 4001,
    FH_CLOSE_REPLACED = 4002,
    FH_CLOSE_PROVISION_REFUSED = 4003,
    FH_CLOSE_RATE_LIMITED = 4029,
};

#define FH_DEFAULT_BACKOFF_BASE_MS 500u
#define FH_DEFAULT_BACKOFF_MAX_MS 60000u
/** 4029 (kept sending while refused): the wait is at least this, whatever the backoff says. */
#define FH_DEFAULT_RATE_LIMITED_MIN_MS 30000u
/** Readings sent and not yet acked or nacked (the hub closes with 4029 after 20 refusals in a row). */
#define FH_DEFAULT_WINDOW 8u
/** No message from the hub for this long while readings wait for an ack: the connection is dropped. */
#define FH_DEFAULT_ACK_TIMEOUT_MS 30000u
/** TLS handshake plus upgrade. */
#define FH_DEFAULT_CONNECT_TIMEOUT_MS 15000u
/**
 * The hub refused the TLS handshake twice in a row after showing a valid
 * certificate of its own (it ended the handshake or sent a fatal alert once
 * it had ours: a revoked, expired or unknown device certificate): the next
 * attempt waits at least this. Such a refusal does not heal by itself, and a
 * fleet of refused devices must not hammer the hub. (Twice, so a hub that
 * dies in the middle of one handshake does not cost a long wait.)
 */
#define FH_DEFAULT_REFUSED_MIN_MS 300000u
/** `quota_exceeded` without `retryAfterMs`: the daily quota lasts until the hub's UTC day ends; wait this long before trying one reading again. */
#define FH_DEFAULT_QUOTA_WAIT_MS 600000u
/** The device protocol version asked for: 1, or 2 (offers the `fleethub.v2` subprotocol; a hub without it answers in 1). */
#define FH_DEFAULT_PROTOCOL 1u
/** SPEC: the subprotocol that opts in to device protocol version 2. */
#define FH_SUBPROTOCOL_V2 "fleethub.v2"

/** `hello.features` of protocol 2 (bits of fh_event.features). */
enum {
    FH_FEATURE_RENEW = 1u << 0,
    FH_FEATURE_CMD = 1u << 1,
    FH_FEATURE_CONFIG = 1u << 2,
};

/** How the client renews its certificate (protocol 2, when the hub's hello.cert.renew says so or fh_client_renew asks). */
enum {
    FH_RENEW_OFF = 0,
    FH_RENEW_NEW_KEY = 1,  /* `{"csr"}`: a new P-256 key made on the device (the default when a credential storage is given) */
    FH_RENEW_SAME_KEY = 2, /* `{"renew":{}}`: a new certificate for the same key (a key that cannot be replaced) */
};
/** Renewal requests on one connection at most (the hub's maxRequestsPerConnection is 8; a refusal's retry counts). */
#define FH_RENEW_MAX_REQUESTS_PER_CONNECTION 4u
/** The longest wait before asking again after `rate_limited` or `unavailable`, whatever retryAfterMs says. */
#define FH_RENEW_MAX_RETRY_MS 3600000u
/** fh_client_buffers.pem: room for the new key, its request and certificate. */
#define FH_RENEW_PEM_BYTES (FH_KEY_PEM_MAX + FH_CERT_PEM_MAX)

/** Extra endpoints besides `host`/`port` (1013 and failed connects move to the next one). */
#define FH_MAX_ENDPOINTS 4u

/** What happened (one callback per event). */
typedef enum {
    FH_EV_CONNECTED,      /* TLS and upgrade done */
    FH_EV_HELLO,          /* has_last_seq, last_seq; protocol (1 or 2) and features (FH_FEATURE_*) of this connection */
    FH_EV_ACK,            /* seq = N */
    FH_EV_NACK,           /* seq (has_seq), error, retry_after_ms */
    FH_EV_CLOSE,          /* close_code from the hub (1006 when the connection just ended) */
    FH_EV_CONNECT_FAILED, /* error = mbedTLS or fh error code; text "refused" when the hub refused our certificate */
    FH_EV_RETRY,          /* retry_after_ms until the next connect */
    FH_EV_DROPPED,        /* seq refused for good (invalid, or larger than maxPayloadBytes) */
    FH_EV_STOPPED,        /* close_code: 4001/4002/4003; the client will not reconnect */
    FH_EV_PAUSED,         /* a nack: nothing is sent for retry_after_ms, then one reading goes first */
    FH_EV_COMMAND,        /* protocol 2: a command answered; text = its name, ok, detail = the error sent when not ok */
    FH_EV_CONFIG,         /* protocol 2: desired configuration acknowledged; version, ok, detail = the error sent when not ok */
    FH_EV_RENEWING,       /* renewal asked: text "csr" (a new key) or "renew" (the same key) */
    FH_EV_CERT,           /* the new certificate is stored (text = serial, not_after); the client reconnects with it */
    FH_EV_RENEWED,        /* the hub accepted the new certificate (text = serial): it is current, the old one is superseded */
    FH_EV_CERT_ERROR,     /* certError: text = its code (not_due, rate_limited, csr_invalid, unavailable), retry_after_ms */
    FH_EV_RENEW_FELL_BACK, /* the hub refused the new certificate: the previous pair is current again */
    FH_EV_RENEW_FAILED,   /* renewal gave up in this run: text = "storage", "key", "bad_reply" or "tx_small"; error = the code */
} fh_event_type;

typedef struct {
    fh_event_type type;
    uint64_t seq;
    bool has_seq;
    bool has_last_seq;
    uint64_t last_seq;
    uint16_t close_code;
    int error;
    uint32_t retry_after_ms;
    const char *text; /* nack error code, or a short reason */
    uint8_t protocol;
    uint32_t features;
    const struct fh_limits *limits; /* FH_EV_HELLO: hello.limits (valid during the callback) */
    const char *host; /* FH_EV_CONNECTED, FH_EV_CONNECT_FAILED: the endpoint */
    uint16_t port;
    bool ok;            /* FH_EV_COMMAND, FH_EV_CONFIG */
    int64_t version;    /* FH_EV_CONFIG */
    const char *detail; /* FH_EV_COMMAND, FH_EV_CONFIG: the error text sent ("" when ok) */
    const fh_hello_cert *cert; /* FH_EV_HELLO: hello.cert (protocol 2 with renewal on the hub), else NULL */
    int64_t not_after;  /* FH_EV_CERT: the new certificate's notAfter, ms since epoch */
} fh_event;

/** `hello.limits` (0 when the hub did not say). */
typedef struct fh_limits {
    int64_t max_payload_bytes;
    int64_t msgs_per_sec;
    int64_t burst;
    int64_t msgs_per_day;
    int64_t max_fields;
    int64_t max_downlink_bytes; /* protocol 2; larger than the `msg` buffer means some messages would be refused with 1009 */
} fh_limits;

struct fh_client;

/**
 * A handler for one downlink message kind (the first key of its object):
 * protocol version 2's `cmd`, `config` and `cert` slot in here. `value` is
 * that key's value. Return 0, or -1 to drop the connection.
 */
typedef struct {
    const char *key;
    int (*handle)(struct fh_client *c, fh_json_span value, void *ctx);
    void *ctx;
} fh_message_handler;

/**
 * One command this device runs (SPEC: Device protocol version 2, Commands).
 * `handle` gets the request (its `args` object is validated JSON: read it
 * with fh_json_get and fh_json_int/number/bool/string) and writes the
 * result's members with `result` (fh_jw_key then one value each; SPEC: names
 * [A-Za-z_][A-Za-z0-9_]{0,63}, values finite numbers, booleans or strings of
 * at most 256 characters). It returns true when the command succeeded; when
 * not, it may copy a short reason into `error` (`error_cap` bytes with the
 * NUL). It runs on the thread that calls fh_client_poll and should return
 * soon: the hub times a command out after its `timeoutMs`.
 */
typedef struct {
    const char *name;
    bool (*handle)(const fh_cmd_request *cmd, fh_json_writer *result, char *error, size_t error_cap, void *ctx);
    void *ctx;
} fh_command;

/**
 * The desired configuration (SPEC: Device protocol version 2, Desired
 * configuration): the whole document `desired` (an object, validated JSON)
 * of `version`. Return true once it is applied; false, with a short reason in
 * `error`, when it cannot be. Either is acknowledged to the hub.
 */
typedef bool (*fh_config_fn)(int64_t version, fh_json_span desired, char *error, size_t error_cap, void *ctx);

/** Another address of the same fleethub (a cluster hub behind another name or port). */
typedef struct {
    const char *host;
    uint16_t port;
} fh_endpoint;

typedef struct {
    const char *host; /* DNS name: checked against the server certificate (ESP32 mbedTLS ignores IP SANs) */
    uint16_t port;
    const char *path; /* "/v1/device" */
    /*
     * Other endpoints of the same fleethub, tried in turn after `host`: the
     * client moves to the next one when a hub closes with 1013 (it lost its
     * cluster) or a connect fails. At most FH_MAX_ENDPOINTS; may be NULL.
     */
    const fh_endpoint *alternates;
    size_t alternate_count;
    const char *ca_pem, *cert_pem, *key_pem; /* NUL-terminated PEM */
    uint32_t backoff_base_ms, backoff_max_ms, rate_limited_min_ms, window, ack_timeout_ms, connect_timeout_ms;
    uint32_t refused_min_ms, quota_wait_ms;
    uint8_t protocol; /* FH_DEFAULT_PROTOCOL; 2 offers fleethub.v2 */
    void (*on_event)(const fh_event *ev, void *ctx);
    void *event_ctx;
    const fh_message_handler *handlers; /* extra downlink kinds; may be NULL */
    size_t handler_count;
    /*
     * Protocol 2: the commands this device runs (a name not here is answered
     * `ok:false`, "unknown command"), and the desired configuration's
     * callback (NULL: every version is acknowledged `ok:false`). Replies are
     * built in the `tx` buffer: a result larger than it is answered
     * `ok:false`, "result too large".
     */
    const fh_command *commands;
    size_t command_count;
    fh_config_fn on_config;
    void *config_ctx;
    /*
     * Protocol 2 renewal: where the device's pairs are kept (fh_cred.h; its
     * current pair is the one in cert_pem/key_pem: load it with
     * fh_cred_load_current, or keep a flashed one with fh_cred_seed).
     * NULL: no renewal. The new pair goes to the other slot, written key,
     * certificate, then state, so a power cut at any point leaves the old
     * pair working until the new one is complete; the client reconnects with
     * it and falls back to the old one if the hub refuses it.
     */
    const fh_cred_storage *cred_store;
    uint8_t renew_mode; /* FH_RENEW_NEW_KEY (default), FH_RENEW_SAME_KEY, FH_RENEW_OFF */
} fh_client_config;

/** Caller-provided memory. */
typedef struct {
    uint8_t *rx;   /* raw bytes from TLS, and the upgrade response (>= 512) */
    size_t rx_size;
    uint8_t *msg;  /* reassembly: the largest downlink message accepted */
    size_t msg_size;
    uint8_t *tx;   /* one outgoing frame: the largest telemetry message + 14 (a renewal's {"csr"} is about 600 bytes) */
    size_t tx_size;
    char *pem;     /* renewal only (cred_store set): FH_RENEW_PEM_BYTES for the new key, its request and certificate; else NULL */
    size_t pem_size;
} fh_client_buffers;

typedef enum { FH_STATE_IDLE, FH_STATE_OPEN, FH_STATE_READY, FH_STATE_STOPPED } fh_client_state;

typedef struct fh_client {
    fh_client_config cfg;
    fh_client_buffers buf;
    fh_outbox *outbox;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca, cert;
    mbedtls_pk_context key;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_net_context net;
    /*
     * The last handshake's TLS session (a session ticket or id): offered to
     * the same endpoint on the next connect, so a reconnect costs the hub
     * and the device no ECDSA signature or certificate check.
     */
    mbedtls_ssl_session session;
    bool has_session;
    size_t session_endpoint;
    bool ssl_ready;
    fh_ws_reader reader;
    fh_client_state state;
    fh_limits limits;
    uint32_t attempt;
    uint64_t next_connect_ms;
    uint64_t pause_until_ms;
    bool resend_after_pause;
    bool probing;            /* after a pause: one reading in flight until it is acked */
    uint32_t last_retry_after_ms; /* the last nack's retryAfterMs on this connection (a 4029 waits at least this) */
    size_t endpoint;         /* 0: host/port, i: alternates[i - 1] */
    size_t hostname_endpoint; /* the endpoint whose name the TLS context checks */
    bool server_verified;    /* this handshake: the hub's certificate passed */
    bool v2_selected;        /* this connection: the hub selected fleethub.v2 in its 101 */
    uint8_t protocol;        /* this connection, once its hello came: 1 or 2 */
    uint32_t features;       /* this connection's hello.features (FH_FEATURE_*) */
    uint32_t refusals;       /* handshakes in a row the hub ended after verifying itself */
    uint64_t last_rx_ms;
    uint64_t connected_ms;
    uint16_t stop_code;
    /* Renewal (fh_client_renew.c). */
    fh_hello_cert hello_cert;   /* this connection's hello.cert */
    bool has_hello_cert;
    char device_id[65];         /* hello.device: the CN of a request */
    uint8_t renew_phase;        /* idle, asked (awaiting cert/certError), waiting to ask again */
    bool renew_requested;       /* fh_client_renew() */
    bool renew_given_up;        /* a refusal that does not heal in this run, a bad reply, or a fallback */
    bool on_trial;              /* the pair in use was just renewed and the hub has not accepted it yet */
    uint8_t renew_requests;     /* on this connection */
    uint64_t renew_retry_ms;
} fh_client;

/** The defaults above, for a config the caller then fills in. */
void fh_client_config_defaults(fh_client_config *cfg);

/** Parses the credentials and seeds the DRBG. 0, or an mbedTLS error (negative). */
int fh_client_init(fh_client *c, const fh_client_config *cfg, const fh_client_buffers *buf, fh_outbox *outbox);

/**
 * Does what is due (connect after the backoff, send, read, answer pings)
 * and waits at most `wait_ms` for the hub. Returns 0, or -1 once the client
 * stopped for good (see fh_client_stop_code()).
 */
int fh_client_poll(fh_client *c, uint32_t wait_ms);

/** Queues a reading: `data` is a JSON object text (`{"temp":21.5}`); `ts` ms since epoch or 0. See fh_outbox_add. */
int fh_client_publish(fh_client *c, const char *data, size_t len, int64_t ts);

/**
 * Asks for a new certificate at the next chance (now when connected with
 * protocol 2 and the hub offers renewal), due or not: the hub answers
 * `not_due` (FH_EV_CERT_ERROR) unless it is. 0, or -1 when renewal is not
 * configured (no cred_store or pem buffer, or FH_RENEW_OFF).
 */
int fh_client_renew(fh_client *c);

/** Sends a text message (a handler's reply). 0 or negative. */
int fh_client_send_text(fh_client *c, const char *text, size_t len);

/** Closes with 1000 (waits briefly for the hub's close) and stays idle. */
void fh_client_close(fh_client *c);

/** The close code that stopped the client (4001, 4002, 4003), or 0. */
uint16_t fh_client_stop_code(const fh_client *c);

void fh_client_free(fh_client *c);

#ifdef __cplusplus
}
#endif
#endif
