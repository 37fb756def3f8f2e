/**
 * The `slowloris` transport: a real TLS connection with the device's
 * certificate, then an HTTP upgrade request that never ends (a header line
 * a second, never the blank line). A hub that bounds the whole handshake
 * (TCP accept to finished upgrade) drops it; one with only an idle timeout
 * would hold the socket for ever.
 */
import tls from 'node:tls';
import { isIP } from 'node:net';
import { classifyConnectError } from './connect-errors.js';

/** One more header line this often. */
export const SLOWLORIS_TRICKLE_MS = 1_000;

/** What the device learns from one slowloris connection. */
export interface SlowlorisEvents {
  /** TLS finished after `ms`. */
  onSecured(ms: number): void;
  /**
   * The socket closed: `handshake_timeout` when it closed after TLS (the
   * hub gave up on the upgrade), else the reason TLS or TCP failed.
   */
  onClosed(reason: string, tlsFailure: boolean): void;
}

/** Opens one slowloris connection; destroy the returned socket to stop it. */
export function openSlowloris(url: string, options: tls.ConnectionOptions, events: SlowlorisEvents): tls.TLSSocket {
  const target = new URL(url);
  const startedAt = performance.now();
  const socket = tls.connect({
    ...options,
    host: target.hostname,
    port: Number(target.port || 443),
    ...(isIP(target.hostname) === 0 ? { servername: target.hostname } : {}),
  });
  let secured = false;
  let lastError: unknown = null;
  let trickle: NodeJS.Timeout | null = null;
  socket.on('secureConnect', () => {
    secured = true;
    events.onSecured(performance.now() - startedAt);
    socket.write(`GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n`);
    let n = 0;
    trickle = setInterval(() => {
      n += 1;
      socket.write(`X-Slow-${n}: ${n}\r\n`);
    }, SLOWLORIS_TRICKLE_MS);
  });
  // A 408 or 400 from the hub answers the half request; the close follows.
  socket.on('data', () => undefined);
  socket.on('error', (err) => {
    lastError = err;
  });
  socket.on('close', () => {
    if (trickle !== null) clearInterval(trickle);
    events.onClosed(secured ? 'handshake_timeout' : classifyConnectError(lastError), !secured);
  });
  return socket;
}
