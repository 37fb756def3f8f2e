/**
 * The shape of a device's one HTTP request (SPEC: only the WebSocket upgrade
 * of `GET /v1/device`; anything else 404): the path, the subprotocol the hub
 * selects, and the plain refusals written on a socket Node's HTTP server has
 * let go of.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROTOCOL_V2 } from './protocol-v2.js';

/** The upgrade path (SPEC: `wss://host:8443/v1/device`). */
export const DEVICE_PATH = '/v1/device';

/** `/v1/device`, with or without a query string. */
export function isDevicePath(url: string | undefined): boolean {
  return url !== undefined && url.startsWith(DEVICE_PATH) && (url.length === DEVICE_PATH.length || url[DEVICE_PATH.length] === '?');
}

/** Answers `status` and closes: the socket is past Node's HTTP server (an upgrade) or its parser gave up (clientError). */
export function refuseHttp(socket: Duplex, status: 400 | 403 | 404 | 431): void {
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}

/**
 * Subprotocols the device listener speaks, in order of preference. SPEC:
 * `fleethub.v2` opts into protocol version 2 (a device may offer `arduino`
 * too, and gets `fleethub.v2`); the Arduino WebSockets library offers
 * `arduino`, which is accepted, and the protocol on the wire is version 1
 * with or without it.
 */
export const DEVICE_SUBPROTOCOLS: readonly string[] = [PROTOCOL_V2, 'arduino'];

/** ws's `handleProtocols`: the first of {@link DEVICE_SUBPROTOCOLS} the device offers, else none (no header in the 101). */
export function selectSubprotocol(offered: Set<string>): string | false {
  for (const protocol of DEVICE_SUBPROTOCOLS) if (offered.has(protocol)) return protocol;
  return false;
}
