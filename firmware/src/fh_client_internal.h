/* Shared between the client's connection code and its protocol code. */
#ifndef FLEETHUB_FH_CLIENT_INTERNAL_H
#define FLEETHUB_FH_CLIENT_INTERNAL_H

#include "fleethub/fh_client.h"

/* fh_client_conn.c */
int fh_conn_setup(fh_client *c);
/** TCP, TLS handshake, WebSocket upgrade; leftover bytes after the response go to `fh_client_feed`. 0 or negative. */
int fh_conn_open(fh_client *c);
/** Writes one masked frame; the payload may be built at c->buf.tx + FH_WS_MAX_HEADER. 0 or negative. */
int fh_conn_send_frame(fh_client *c, int opcode, const uint8_t *payload, size_t len);
/** Sends a close frame (code 0: none). */
void fh_conn_send_close(fh_client *c, uint16_t code);
/** Ends the TCP/TLS connection (no WebSocket close). */
void fh_conn_drop(fh_client *c);
uint32_t fh_conn_random32(fh_client *c);
/**
 * Uses another pair from the next handshake on (renewal, fallback), with no
 * session to resume: 0, or an mbedTLS error (then the pair in use is kept,
 * unless the error came from reparsing it in place: the caller falls back).
 */
int fh_conn_use_credentials(fh_client *c, const char *cert_pem, const char *key_pem);
/** The endpoint the client connects to now. */
const char *fh_conn_host(const fh_client *c);
uint16_t fh_conn_port(const fh_client *c);

/* fh_client.c */
/** The upgrade succeeded (called before any frame that came with the response is fed). */
void fh_client_opened(fh_client *c);
/** Feeds received bytes to the frame reader and handles what it produced. 0, or -1 when the connection ended. */
int fh_client_feed(fh_client *c, const uint8_t *data, size_t n);

/* fh_client_control.c (protocol 2) */
/** `{"cmd":..}`: runs the command and answers `cmdResult`. 0, or -1 when the answer could not be sent. */
int fh_client_on_cmd(fh_client *c, fh_json_span value);
/** `{"config":..}`: hands the document to the callback and answers `configAck`. 0 or -1 as above. */
int fh_client_on_config(fh_client *c, fh_json_span value);

/* fh_client_renew.c (protocol 2 renewal) */
/** Reads the state byte at start-up (a pair on trial). */
void fh_renew_init(fh_client *c);
/** A hello: hello.cert and hello.device; a pair on trial is now accepted; asks for renewal when due. */
void fh_renew_on_hello(fh_client *c, fh_json_span hello);
/** `{"cert":..}`: 0, -1 to drop the connection, 1 to reconnect now with the new pair. */
int fh_renew_on_cert(fh_client *c, fh_json_span value);
/** `{"certError":..}`. */
void fh_renew_on_cert_error(fh_client *c, fh_json_span value);
/** Connected and ready: asks (again) when asked to or when a retry is due. */
void fh_renew_poll(fh_client *c);
/** The connection ended: what was asked on it is asked again on the next one. */
void fh_renew_on_ended(fh_client *c);
/** The hub refused the handshake: true when that was a pair on trial and the previous one is back (reconnect soon). */
bool fh_renew_on_refused(fh_client *c);
/** Hands an event to cfg.on_event. */
void fh_client_emit(fh_client *c, fh_event *ev);

#endif
