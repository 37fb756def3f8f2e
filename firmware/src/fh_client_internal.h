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

#endif
