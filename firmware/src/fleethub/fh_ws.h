/*
 * The WebSocket client side (RFC 6455) as pure code: the frame writer (always
 * masked, §5.3) and a streaming reader that checks server frames and
 * reassembles fragmented messages into a caller's buffer, refusing any
 * message larger than it. No I/O and no allocation: fh_client.c moves bytes.
 */
#ifndef FLEETHUB_FH_WS_H
#define FLEETHUB_FH_WS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    FH_WS_OP_CONT = 0x0,
    FH_WS_OP_TEXT = 0x1,
    FH_WS_OP_BINARY = 0x2,
    FH_WS_OP_CLOSE = 0x8,
    FH_WS_OP_PING = 0x9,
    FH_WS_OP_PONG = 0xA,
};

/* RFC 6455 §7.4.1 close codes the client sends or meets. */
enum {
    FH_WS_CLOSE_NORMAL = 1000,
    FH_WS_CLOSE_GOING_AWAY = 1001,
    FH_WS_CLOSE_PROTOCOL_ERROR = 1002,
    FH_WS_CLOSE_NO_STATUS = 1005,
    FH_WS_CLOSE_ABNORMAL = 1006,
    FH_WS_CLOSE_INVALID_DATA = 1007,
    FH_WS_CLOSE_POLICY = 1008,
    FH_WS_CLOSE_TOO_BIG = 1009,
    FH_WS_CLOSE_INTERNAL = 1011,
    FH_WS_CLOSE_TRY_AGAIN = 1013,
};

/** Largest control-frame payload (§5.5). */
#define FH_WS_MAX_CONTROL 125
/** Largest frame header the client writes: 2 + 8 length + 4 mask. */
#define FH_WS_MAX_HEADER 14

/** What the reader produced. */
typedef enum {
    FH_WS_EV_NONE = 0, /* needs more bytes */
    FH_WS_EV_MESSAGE,  /* a whole text or binary message in `data` */
    FH_WS_EV_PING,
    FH_WS_EV_PONG,
    FH_WS_EV_CLOSE,    /* `close_code` (1005 when the frame had none) */
    FH_WS_EV_ERROR,    /* the stream is broken; close with `close_code` (1002 or 1009) */
} fh_ws_event_type;

typedef struct {
    fh_ws_event_type type;
    int opcode;           /* FH_WS_OP_TEXT or FH_WS_OP_BINARY for a message */
    const uint8_t *data;  /* valid until the next fh_ws_reader_feed */
    size_t len;
    uint16_t close_code;
} fh_ws_event;

/** Reader state; `msg` is the caller's reassembly buffer (the largest message accepted). */
typedef struct {
    uint8_t hdr[FH_WS_MAX_HEADER];
    size_t hdr_len;
    bool in_payload;
    bool fin;
    int opcode;
    uint64_t remaining;
    uint8_t *msg;
    size_t msg_cap;
    size_t msg_len;
    int msg_opcode;
    bool msg_open;
    uint8_t ctl[FH_WS_MAX_CONTROL];
    size_t ctl_len;
    bool failed;
    uint16_t fail_code;
} fh_ws_reader;

void fh_ws_reader_init(fh_ws_reader *r, uint8_t *msg, size_t msg_cap);

/**
 * Consumes bytes from `data` until one event is complete; returns how many
 * were consumed (call again with the rest). Once it reported FH_WS_EV_ERROR
 * it reports it again for any further input.
 */
size_t fh_ws_reader_feed(fh_ws_reader *r, const uint8_t *data, size_t n, fh_ws_event *ev);

/**
 * Writes one masked frame (FIN set) into `out`: header, then the payload
 * XORed with `mask` (§5.3). Returns its length, or 0 when it does not fit.
 */
size_t fh_ws_write_frame(uint8_t *out, size_t cap, int opcode, const uint8_t *payload, size_t len, const uint8_t mask[4]);

/** The Sec-WebSocket-Accept value for a key (§4.2.2): base64(SHA-1(key + GUID)), NUL-terminated in `out` (29 bytes). 0 or -1. */
int fh_ws_accept_for_key(const char *key, char out[29]);

#ifdef __cplusplus
}
#endif
#endif
