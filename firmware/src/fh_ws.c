/* WebSocket frames (RFC 6455 §5) and the handshake's accept value (§4.2.2). */
#include "fleethub/fh_ws.h"

#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <mbedtls/version.h>

void fh_ws_reader_init(fh_ws_reader *r, uint8_t *msg, size_t msg_cap)
{
    memset(r, 0, sizeof *r);
    r->msg = msg;
    r->msg_cap = msg_cap;
}

static size_t fail(fh_ws_reader *r, uint16_t code, fh_ws_event *ev, size_t used)
{
    r->failed = true;
    r->fail_code = code;
    ev->type = FH_WS_EV_ERROR;
    ev->close_code = code;
    return used;
}

/* Bytes the header needs in all, once its first two bytes are known; 0 until then. */
static size_t header_need(const fh_ws_reader *r)
{
    if (r->hdr_len < 2) return 2;
    uint8_t len7 = r->hdr[1] & 0x7F;
    size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    return need + ((r->hdr[1] & 0x80) ? 4 : 0);
}

/* Checks a complete header (§5.2) and sets up the payload. */
static int take_header(fh_ws_reader *r)
{
    uint8_t b0 = r->hdr[0], b1 = r->hdr[1];
    uint8_t len7 = b1 & 0x7F;
    uint64_t len = len7;
    if (b0 & 0x70) return FH_WS_CLOSE_PROTOCOL_ERROR; /* no extension was negotiated: RSV bits must be 0 */
    if (b1 & 0x80) return FH_WS_CLOSE_PROTOCOL_ERROR; /* §5.1: a client closes on a masked server frame */
    if (len7 == 126) {
        len = ((uint64_t)r->hdr[2] << 8) | r->hdr[3];
        if (len < 126) return FH_WS_CLOSE_PROTOCOL_ERROR; /* §5.2: minimal length encoding */
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++) len = (len << 8) | r->hdr[2 + i];
        if (len >> 63) return FH_WS_CLOSE_PROTOCOL_ERROR;
        if (len <= 0xFFFF) return FH_WS_CLOSE_PROTOCOL_ERROR;
    }
    r->fin = (b0 & 0x80) != 0;
    r->opcode = b0 & 0x0F;
    r->remaining = len;
    switch (r->opcode) {
    case FH_WS_OP_CLOSE:
    case FH_WS_OP_PING:
    case FH_WS_OP_PONG:
        /* §5.5: control frames are short and never fragmented */
        if (!r->fin || len > FH_WS_MAX_CONTROL) return FH_WS_CLOSE_PROTOCOL_ERROR;
        r->ctl_len = 0;
        break;
    case FH_WS_OP_TEXT:
    case FH_WS_OP_BINARY:
        if (r->msg_open) return FH_WS_CLOSE_PROTOCOL_ERROR; /* §5.4: a new message inside a fragmented one */
        r->msg_open = true;
        r->msg_opcode = r->opcode;
        r->msg_len = 0;
        if (len > r->msg_cap) return FH_WS_CLOSE_TOO_BIG;
        break;
    case FH_WS_OP_CONT:
        if (!r->msg_open) return FH_WS_CLOSE_PROTOCOL_ERROR;
        if (len > r->msg_cap - r->msg_len) return FH_WS_CLOSE_TOO_BIG; /* reassembled size over the limit */
        break;
    default:
        return FH_WS_CLOSE_PROTOCOL_ERROR;
    }
    r->in_payload = true;
    return 0;
}

/* A frame's payload is complete: report what it finished, if anything. */
static void finish_frame(fh_ws_reader *r, fh_ws_event *ev)
{
    r->in_payload = false;
    r->hdr_len = 0;
    switch (r->opcode) {
    case FH_WS_OP_PING:
    case FH_WS_OP_PONG:
        ev->type = r->opcode == FH_WS_OP_PING ? FH_WS_EV_PING : FH_WS_EV_PONG;
        ev->data = r->ctl;
        ev->len = r->ctl_len;
        return;
    case FH_WS_OP_CLOSE:
        ev->type = FH_WS_EV_CLOSE;
        ev->data = r->ctl_len > 2 ? r->ctl + 2 : r->ctl;
        ev->len = r->ctl_len > 2 ? r->ctl_len - 2 : 0;
        if (r->ctl_len >= 2) {
            ev->close_code = (uint16_t)((r->ctl[0] << 8) | r->ctl[1]);
        } else {
            ev->close_code = FH_WS_CLOSE_NO_STATUS;
        }
        return;
    default:
        if (!r->fin) return;
        r->msg_open = false;
        ev->type = FH_WS_EV_MESSAGE;
        ev->opcode = r->msg_opcode;
        ev->data = r->msg;
        ev->len = r->msg_len;
        return;
    }
}

size_t fh_ws_reader_feed(fh_ws_reader *r, const uint8_t *data, size_t n, fh_ws_event *ev)
{
    size_t used = 0;
    memset(ev, 0, sizeof *ev);
    if (r->failed) return fail(r, r->fail_code, ev, n);
    for (;;) {
        if (!r->in_payload) {
            while (r->hdr_len < header_need(r)) {
                if (used == n) return used;
                r->hdr[r->hdr_len++] = data[used++];
            }
            int code = take_header(r);
            if (code != 0) return fail(r, (uint16_t)code, ev, n);
        }
        size_t chunk = n - used;
        if ((uint64_t)chunk > r->remaining) chunk = (size_t)r->remaining;
        if (r->opcode >= FH_WS_OP_CLOSE) {
            memcpy(r->ctl + r->ctl_len, data + used, chunk);
            r->ctl_len += chunk;
        } else {
            memcpy(r->msg + r->msg_len, data + used, chunk);
            r->msg_len += chunk;
        }
        used += chunk;
        r->remaining -= chunk;
        if (r->remaining > 0) return used;
        finish_frame(r, ev);
        if (ev->type != FH_WS_EV_NONE) return used;
    }
}

size_t fh_ws_write_frame(uint8_t *out, size_t cap, int opcode, const uint8_t *payload, size_t len, const uint8_t mask[4])
{
    size_t h = 2;
    if (len > 0xFFFF) h += 8;
    else if (len >= 126) h += 2;
    h += 4;
    if (cap < h || len > cap - h) return 0;
    /* The payload may already sit inside `out` (built after FH_WS_MAX_HEADER bytes of room): move it first. */
    memmove(out + h, payload, len);
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len > 0xFFFF) {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    } else if (len >= 126) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
    } else {
        out[1] = (uint8_t)(0x80 | len);
    }
    memcpy(out + h - 4, mask, 4);
    for (size_t i = 0; i < len; i++) out[h + i] ^= mask[i & 3];
    return h + len;
}

int fh_ws_accept_for_key(const char *key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char sha[20];
    char joined[64 + sizeof guid];
    size_t klen = strlen(key), olen = 0;
    if (klen > 64) return -1;
    memcpy(joined, key, klen);
    memcpy(joined + klen, guid, sizeof guid - 1);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    if (mbedtls_sha1((const unsigned char *)joined, klen + sizeof guid - 1, sha) != 0) return -1;
#else
    if (mbedtls_sha1_ret((const unsigned char *)joined, klen + sizeof guid - 1, sha) != 0) return -1;
#endif
    if (mbedtls_base64_encode((unsigned char *)out, 29, &olen, sha, sizeof sha) != 0) return -1;
    out[olen] = '\0';
    return 0;
}
