/**
 * One WebSocket connection of a simulated device to the hub, as the Arduino
 * WebSockets library opens it (its subprotocol and Origin): the handshake
 * timing, the wait for the hub's hello, and the hub's messages handed to the
 * device. Whether and when to reconnect is the device's business.
 */
import type tls from 'node:tls';
import WebSocket, { type ClientOptions } from 'ws';
import type { DeviceTls } from './device-tls.js';
import { parseHubMessage, type HubMessage } from './hub-messages.js';

/** SPEC: a device opts into protocol 2 by offering this subprotocol (next to `arduino`). */
export const PROTOCOL_V2 = 'fleethub.v2';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_HELLO_TIMEOUT_MS, type SimDeviceOptions } from './sim-device-options.js';

/** How a connection ended, for the device to count and to choose its backoff. */
export interface ConnectionEnd {
  /** The close code (1005/1006 when the socket ended without a close frame). */
  readonly code: number;
  /** The WebSocket handshake completed. */
  readonly opened: boolean;
  /** We cut it ourselves (no hello in time); already counted. */
  readonly selfClosed: boolean;
  /** The last socket error, to classify a refused connect. */
  readonly lastError: unknown;
}

/** What the connection tells its device. */
export interface HubConnectionEvents {
  onHello(hello: Extract<HubMessage, { type: 'hello' }>): void;
  onAck(seq: number): void;
  onNack(seq: number | null, error: string, retryAfterMs: number | null): void;
  /** Protocol 2: a command, a desired configuration, or the answer to a renewal. */
  onControl(message: Extract<HubMessage, { type: 'cmd' | 'config' | 'cert' | 'certError' }>): void;
  onClose(end: ConnectionEnd): void;
}

/** Opens one connection; every outcome arrives through `events`, ending with exactly one `onClose`. */
export function openHubConnection(o: SimDeviceOptions, deviceTls: DeviceTls, events: HubConnectionEvents): WebSocket {
  const stats = o.stats;
  // The TLS context is built (once) before the clock starts: the handshake
  // figure is the wire's and the hub's time, not our PEM parsing.
  const tlsOptions = deviceTls.options();
  const startedAt = performance.now();
  const subprotocol = o.subprotocol === undefined ? 'arduino' : o.subprotocol;
  const origin = o.origin === undefined ? 'file://' : o.origin;
  stats.pendingConnects += 1;
  stats.peakPendingConnects = Math.max(stats.peakPendingConnects, stats.pendingConnects);
  let pending = true;
  const settle = (): void => {
    if (pending) stats.pendingConnects -= 1;
    pending = false;
  };
  // SPEC: simulated devices speak protocol 2 when the hub offers it; a hub that does not ignores the offer.
  const protocols = [...(subprotocol === null ? [] : [subprotocol]), ...(o.protocolV2 === false ? [] : [PROTOCOL_V2])];
  const ws = new WebSocket(o.url, protocols, {
    ...tlsOptions,
    ...(origin === null ? {} : { origin }),
    ...(o.tlsResume === true
      ? { createConnection: ((opts: tls.ConnectionOptions) => deviceTls.connectKeepingSession(opts)) as unknown as ClientOptions['createConnection'] }
      : {}),
    perMessageDeflate: false,
    handshakeTimeout: o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxPayload: 64 * 1024,
  });
  let opened = false;
  let selfClosed = false;
  let lastError: unknown = null;
  let helloTimer: NodeJS.Timeout | null = null;

  ws.on('open', () => {
    settle();
    opened = true;
    stats.handshake.record(performance.now() - startedAt);
    helloTimer = setTimeout(() => {
      stats.countClose('hello_timeout');
      selfClosed = true;
      ws.terminate();
    }, o.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS);
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const message = parseHubMessage(data.toString());
    if (message.type === 'hello') {
      if (helloTimer !== null) clearTimeout(helloTimer);
      helloTimer = null;
      events.onHello(message);
    } else if (message.type === 'ack') events.onAck(message.seq);
    else if (message.type === 'nack') events.onNack(message.seq, message.error, message.retryAfterMs);
    else if (message.type === 'cmd' || message.type === 'config' || message.type === 'cert' || message.type === 'certError') events.onControl(message);
  });
  ws.on('error', (err) => {
    lastError = err;
  });
  ws.on('close', (code) => {
    settle();
    if (helloTimer !== null) clearTimeout(helloTimer);
    events.onClose({ code, opened, selfClosed, lastError });
  });
  return ws;
}
