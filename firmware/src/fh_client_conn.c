/* The client's connection: TCP (BSD sockets through mbedtls_net), TLS 1.2, the WebSocket upgrade (RFC 6455 §4). */
#include "fh_client_internal.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/version.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
#include <psa/crypto.h>
#endif

#include "fleethub/fh_port.h"

/* SPEC: the suites ESP32 mbedTLS offers (P-256 ECDSA server key, or RSA). */
static const int ESP32_SUITES[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    0,
};

static const char PERSONALIZATION[] = "fleethub-device";

uint32_t fh_conn_random32(fh_client *c)
{
    uint8_t b[4] = { 0 };
    mbedtls_ctr_drbg_random(&c->drbg, b, sizeof b);
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

const char *fh_conn_host(const fh_client *c)
{
    return c->endpoint == 0 ? c->cfg.host : c->cfg.alternates[c->endpoint - 1].host;
}

uint16_t fh_conn_port(const fh_client *c)
{
    return c->endpoint == 0 ? c->cfg.port : c->cfg.alternates[c->endpoint - 1].port;
}

/* mbedTLS calls this for each certificate of the hub's chain; depth 0 with no flags left is the hub itself, verified. */
static int on_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    fh_client *c = ctx;
    (void)crt;
    if (depth == 0 && *flags == 0) c->server_verified = true;
    return 0;
}

/* A certificate and its private key (PEM, NUL-terminated) into `crt`/`key` (initialised, empty). */
static int parse_pair(fh_client *c, const char *cert_pem, const char *key_pem, mbedtls_x509_crt *crt, mbedtls_pk_context *key)
{
    int rc = mbedtls_x509_crt_parse(crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1);
    if (rc != 0) return rc;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    return mbedtls_pk_parse_key(key, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL, 0, mbedtls_ctr_drbg_random, &c->drbg);
#else
    return mbedtls_pk_parse_key(key, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL, 0);
#endif
}

int fh_conn_setup(fh_client *c)
{
    int rc;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
    /* mbedTLS 3.x: TLS and X.509 may go through PSA (MBEDTLS_USE_PSA_CRYPTO, as ESP-IDF 5 can build it); idempotent. */
    if (psa_crypto_init() != PSA_SUCCESS) return -1;
#endif
    rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, (const unsigned char *)PERSONALIZATION,
                               sizeof PERSONALIZATION - 1);
    if (rc != 0) return rc;
    /* PEM parsing wants the terminating NUL counted. */
    rc = mbedtls_x509_crt_parse(&c->ca, (const unsigned char *)c->cfg.ca_pem, strlen(c->cfg.ca_pem) + 1);
    if (rc != 0) return rc;
    rc = parse_pair(c, c->cfg.cert_pem, c->cfg.key_pem, &c->cert, &c->key);
    if (rc != 0) return rc;
    rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) return rc;
#if MBEDTLS_VERSION_NUMBER >= 0x03020000
    mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
    mbedtls_ssl_conf_ciphersuites(&c->conf, ESP32_SUITES);
    /* CA verification is required: a hub that cannot show a certificate from the fleet's CA gets nothing. */
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    mbedtls_ssl_conf_verify(&c->conf, on_verify, c);
    rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert, &c->key);
    if (rc != 0) return rc;
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_read_timeout(&c->conf, c->cfg.connect_timeout_ms);
    rc = mbedtls_ssl_setup(&c->ssl, &c->conf);
    if (rc != 0) return rc;
    /* The server-name check (and SNI): the certificate's DNS SAN must match the host connected to. */
    rc = mbedtls_ssl_set_hostname(&c->ssl, c->cfg.host);
    if (rc != 0) return rc;
    c->hostname_endpoint = 0;
    c->ssl_ready = true;
    return 0;
}

static int write_all(fh_client *c, const uint8_t *p, size_t n)
{
    /* Bounded: mbedtls_ssl_write makes progress or fails; WANT_WRITE only on non-blocking sockets. */
    for (int spins = 0; n > 0 && spins < 1000; spins++) {
        int rc = mbedtls_ssl_write(&c->ssl, p, n);
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) continue;
        if (rc < 0) return rc;
        p += rc;
        n -= (size_t)rc;
    }
    return n == 0 ? 0 : -1;
}

int fh_conn_send_frame(fh_client *c, int opcode, const uint8_t *payload, size_t len)
{
    uint8_t mask[4];
    size_t n;
    /* RFC 6455 §5.3: a fresh, unpredictable mask per frame. */
    if (mbedtls_ctr_drbg_random(&c->drbg, mask, sizeof mask) != 0) return -1;
    n = fh_ws_write_frame(c->buf.tx, c->buf.tx_size, opcode, payload, len, mask);
    if (n == 0) return -1;
    return write_all(c, c->buf.tx, n);
}

void fh_conn_send_close(fh_client *c, uint16_t code)
{
    uint8_t body[2] = { (uint8_t)(code >> 8), (uint8_t)code };
    fh_conn_send_frame(c, FH_WS_OP_CLOSE, body, code == 0 ? 0 : 2);
}

void fh_conn_drop(fh_client *c)
{
    mbedtls_ssl_close_notify(&c->ssl);
    mbedtls_net_free(&c->net);
    mbedtls_ssl_session_reset(&c->ssl);
}

/* Case-insensitive prefix match for a header name at the start of a line. */
static bool header_is(const char *line, const char *name)
{
    for (; *name; name++, line++) {
        char a = *line, b = *name;
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a != b) return false;
    }
    return true;
}

/*
 * RFC 6455 §4.1: 101, Sec-WebSocket-Accept = base64(SHA-1(key + GUID)), and
 * a subprotocol only if it is the one offered (`offered` NULL: none).
 */
static int check_response(char *head, const char *key, const char *offered, bool *selected)
{
    char expected[29];
    bool accepted = false, protocol_ok = true;
    *selected = false;
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) return -2;
    if (fh_ws_accept_for_key(key, expected) != 0) return -1;
    for (char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
        line += 2;
        if (header_is(line, "sec-websocket-accept:")) {
            char *v = line + strlen("sec-websocket-accept:");
            while (*v == ' ' || *v == '\t') v++;
            size_t n = strcspn(v, " \t\r");
            accepted = n == strlen(expected) && memcmp(v, expected, n) == 0;
        } else if (header_is(line, "sec-websocket-protocol:")) {
            char *v = line + strlen("sec-websocket-protocol:");
            while (*v == ' ' || *v == '\t') v++;
            size_t n = strcspn(v, " \t\r");
            *selected = offered != NULL && n == strlen(offered) && memcmp(v, offered, n) == 0;
            protocol_ok = *selected; /* a subprotocol we did not offer fails the connection */
        }
    }
    if (!protocol_ok) return -6;
    return accepted ? 0 : -3;
}

static void forget_session(fh_client *c)
{
    mbedtls_ssl_session_free(&c->session);
    mbedtls_ssl_session_init(&c->session);
    c->has_session = false;
}

/* Keeps this handshake's session for the next connect (mbedTLS copies it; without a ticket or id there is nothing to resume). */
static void remember_session(fh_client *c)
{
    forget_session(c);
    if (mbedtls_ssl_get_session(&c->ssl, &c->session) == 0) {
        c->has_session = true;
        c->session_endpoint = c->endpoint;
    } else {
        forget_session(c);
    }
}

int fh_conn_use_credentials(fh_client *c, const char *cert_pem, const char *key_pem)
{
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    int rc;
    /* Checked on copies first: a pair that does not parse leaves the one in use untouched. */
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    rc = parse_pair(c, cert_pem, key_pem, &crt, &key);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&crt);
    if (rc != 0) return rc;
    /*
     * The TLS config keeps pointers to c->cert and c->key (mbedtls_ssl_conf_own_cert):
     * refilled in place, the next handshake shows the new pair.
     */
    mbedtls_pk_free(&c->key);
    mbedtls_x509_crt_free(&c->cert);
    mbedtls_pk_init(&c->key);
    mbedtls_x509_crt_init(&c->cert);
    rc = parse_pair(c, cert_pem, key_pem, &c->cert, &c->key);
    /* A resumed session would skip the client certificate: the hub must see the new one in a full handshake. */
    forget_session(c);
    return rc;
}

int fh_conn_open(fh_client *c)
{
    bool offered = false;
    char port[8], key[32];
    uint8_t nonce[16];
    size_t klen = 0, got = 0;
    int rc, hlen;
    const char *host = fh_conn_host(c);
    c->server_verified = false;
    snprintf(port, sizeof port, "%u", (unsigned)fh_conn_port(c));
    mbedtls_net_init(&c->net);
    rc = mbedtls_net_connect(&c->net, host, port, MBEDTLS_NET_PROTO_TCP);
    if (rc != 0) return rc;
    mbedtls_ssl_session_reset(&c->ssl);
    if (c->hostname_endpoint != c->endpoint) {
        /* Another endpoint: its name is what the server certificate must show (mbedTLS copies it). */
        if ((rc = mbedtls_ssl_set_hostname(&c->ssl, host)) != 0) goto fail;
        c->hostname_endpoint = c->endpoint;
    }
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
    mbedtls_ssl_conf_read_timeout(&c->conf, c->cfg.connect_timeout_ms);
    /* The last session, to the endpoint that made it: the hub resumes it or falls back to a full handshake. */
    offered = c->has_session && c->session_endpoint == c->endpoint && mbedtls_ssl_set_session(&c->ssl, &c->session) == 0;
    for (int spins = 0; (rc = mbedtls_ssl_handshake(&c->ssl)) != 0; spins++) {
        if ((rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) || spins > 1000) {
            /*
             * The hub proved who it is, then ended the handshake (an alert, or
             * just the connection) once it had our certificate: it refused us.
             * A timeout is not a refusal: the hub may only be slow.
             */
            if (c->server_verified && rc != MBEDTLS_ERR_SSL_TIMEOUT) c->refusals++;
            goto fail;
        }
    }
    c->refusals = 0;
    remember_session(c);
    /* RFC 6455 §4.1: a random 16-byte nonce, base64-encoded. */
    if ((rc = mbedtls_ctr_drbg_random(&c->drbg, nonce, sizeof nonce)) != 0) goto fail;
    if ((rc = mbedtls_base64_encode((unsigned char *)key, sizeof key, &klen, nonce, sizeof nonce)) != 0) goto fail;
    key[klen] = '\0';
    hlen = snprintf((char *)c->buf.tx, c->buf.tx_size,
                    "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                    c->cfg.path, host, (unsigned)fh_conn_port(c), key,
                    c->cfg.protocol == 2 ? "Sec-WebSocket-Protocol: " FH_SUBPROTOCOL_V2 "\r\n" : "");
    if (hlen < 0 || (size_t)hlen >= c->buf.tx_size) {
        rc = -1;
        goto fail;
    }
    if ((rc = write_all(c, c->buf.tx, (size_t)hlen)) != 0) goto fail;
    for (;;) {
        char *end;
        if (got + 1 >= c->buf.rx_size) {
            rc = -4; /* a response head larger than the receive buffer */
            goto fail;
        }
        rc = mbedtls_ssl_read(&c->ssl, c->buf.rx + got, c->buf.rx_size - 1 - got);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
        if (rc <= 0) {
            if (rc == 0) rc = -5;
            goto fail;
        }
        got += (size_t)rc;
        c->buf.rx[got] = '\0';
        end = strstr((char *)c->buf.rx, "\r\n\r\n");
        if (end == NULL) continue;
        size_t head_len = (size_t)(end - (char *)c->buf.rx) + 4;
        end[2] = '\0';
        if ((rc = check_response((char *)c->buf.rx, key, c->cfg.protocol == 2 ? FH_SUBPROTOCOL_V2 : NULL, &c->v2_selected)) != 0) goto fail;
        fh_ws_reader_init(&c->reader, c->buf.msg, c->buf.msg_size);
        c->state = FH_STATE_OPEN;
        c->last_rx_ms = fh_port_now_ms();
        c->connected_ms = c->last_rx_ms;
        fh_client_opened(c);
        /* Frames that came with the response head (the hello often does). */
        if (got > head_len) fh_client_feed(c, c->buf.rx + head_len, got - head_len);
        return 0;
    }
fail:
    /*
     * A connect that offered a session and failed drops it: the next one is
     * a full handshake, in which a hub that refuses this certificate (it was
     * revoked since) says so, and the refusal floor applies.
     */
    if (offered) forget_session(c);
    mbedtls_net_free(&c->net);
    mbedtls_ssl_session_reset(&c->ssl);
    return rc;
}
