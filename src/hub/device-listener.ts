/**
 * The device listener (SPEC: Two listeners, device): raw TCP accept and the
 * connection gates before any TLS work, mutual TLS against the CA and the
 * CRL, the HTTP upgrade of `GET /v1/device` only, identity from the
 * certificate CN, one connection per device, heartbeats, and revocation
 * without restart.
 *
 *   net.Server ──gate──▶ tls.Server ──identity──▶ upgrade request ──▶ ws ──▶ DeviceSession
 *
 * The `net.Server` hands each admitted socket to a TLS server that never
 * listens itself (`emit('connection')`), so a refused connection costs one
 * accept and one close, and no handshake. The one HTTP request a device
 * sends is read off the TLS socket by upgrade-request.ts, not by Node's HTTP
 * server (see there why).
 */
import type { IncomingMessage } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE, FleethubError, type WireErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { isValidDeviceId, pkiPaths } from '../pki/index.js';
import type { HubConfig } from './config.js';
import { ConnectionGate } from './connection-gate.js';
import { limitsForPlan } from './device-limits.js';
import type { DeviceRegistry } from './device-registry.js';
import { peerOf, type Peer } from './device-peer.js';
import { DeviceSession, type SessionContext, type SessionSummary } from './device-session.js';
import {
  crlDaysLeftIfExpiring, crlExpired, crlStateOf, deviceSecureContextOptions, loadDeviceTlsMaterial, NO_CRL, readCrlFile,
  type CrlState, type DeviceTlsMaterial,
} from './device-tls.js';
import { FilePoller } from './file-poller.js';
import type { HubFeed } from './hub-feed.js';
import { handshakeFailureReason, type HubMetrics } from './hub-metrics.js';
import { plansFromInventory, readInventoryText } from './device-plans.js';
import type { Store } from '../store/types.js';
import { isUpgradeRequest, readRequestHead, type HeadRefusal, type RequestHead } from './upgrade-request.js';

/** The upgrade path (SPEC: `wss://host:8443/v1/device`). */
export const DEVICE_PATH = '/v1/device';

/** What the device listener works with. */
export interface DeviceListenerOptions {
  readonly config: HubConfig;
  readonly store: Store;
  readonly registry: DeviceRegistry;
  readonly feed: HubFeed;
  readonly metrics: HubMetrics;
  readonly log: Logger;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const STATUS_TEXT = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 431: 'Request Header Fields Too Large' } as const;

function refuseHttp(socket: Duplex, status: keyof typeof STATUS_TEXT): void {
  const text = STATUS_TEXT[status];
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}

/** For `process.nextTick(uncork, socket)`: no closure per upgrade. */
function uncork(socket: Duplex): void {
  socket.uncork();
}

/** Resets from peers are routine; the socket's 'close' does the bookkeeping. */
function ignoreSocketError(): void {}

/** `/v1/device`, with or without a query string. */
function isDevicePath(url: string | undefined): boolean {
  return url !== undefined && url.startsWith(DEVICE_PATH) && (url.length === DEVICE_PATH.length || url[DEVICE_PATH.length] === '?');
}

/** A session's nacks by code for its disconnect line (`rate_limited:3,invalid_json:1`), or undefined when there were none. */
function nackedText(summary: SessionSummary): string | undefined {
  let text = '';
  for (const code in summary.nacked) text += `${text === '' ? '' : ','}${code}:${summary.nacked[code as WireErrorCode]}`;
  return text === '' ? undefined : text;
}

/**
 * A connection between its TLS handshake and its upgrade: who it is (read
 * once, used again at the upgrade) and until when it may send the upgrade
 * request.
 */
interface Secured {
  readonly socket: TLSSocket;
  readonly peer: Peer;
  /** performance.now() past which the sweep drops it. */
  readonly deadline: number;
}

/** How often the upgrade deadlines are checked: a tenth of the timeout, at least every second. */
function upgradeSweepMs(handshakeTimeoutMs: number): number {
  return Math.min(1000, Math.max(20, Math.floor(handshakeTimeoutMs / 10)));
}

/** Accepts devices on `config.device.host:port`. */
export class DeviceListener {
  readonly #options: DeviceListenerOptions;
  readonly #config: HubConfig['device'];
  readonly #log: Logger;
  readonly #gate: ConnectionGate;
  readonly #net: NetServer;
  #tls: TlsServer | null = null;
  #material: DeviceTlsMaterial | null = null;
  #crl: CrlState = NO_CRL;
  #crlWasExpired = false;
  /** `crl.expiring` was logged for the CRL loaded now (once per load). */
  #crlExpiryWarned = false;
  #plans = new Map<string, string>();
  #poller: FilePoller | null = null;
  #sweep: NodeJS.Timeout | null = null;
  /** ws servers by maxPayload, so each device plan gets its own frame limit (SPEC: 1009). */
  readonly #wss = new Map<number, WebSocketServer>();
  /**
   * Connections past TLS and waiting for their upgrade, oldest first (a Map
   * keeps insertion order). All get the same timeout, so deadlines come in
   * order: one periodic sweep replaces a timer per connection. An upgrade
   * leaves at once; one that closed or was refused before its upgrade leaves
   * at its deadline. (A Map, not a property on the socket: a property added
   * to Node's sockets after their construction changes their hidden class.)
   */
  readonly #awaitingUpgrade = new Map<TLSSocket, Secured>();
  #upgradeSweep: NodeJS.Timeout | null = null;
  readonly #sockets = new Set<Socket>();
  readonly #sessionContext: SessionContext;
  #closing: Promise<void> | null = null;

  constructor(options: DeviceListenerOptions) {
    this.#options = options;
    this.#config = options.config.device;
    this.#log = options.log;
    this.#gate = new ConnectionGate(this.#config);
    // The socket options Node's https server gives its own sockets (no half-open TCP, no Nagle), and paused:
    // nothing is read from the raw socket, the TLS layer reads from it once it has it.
    this.#net = createNetServer({ allowHalfOpen: false, noDelay: true, pauseOnConnect: true }, (socket) => this.#onConnection(socket));
    const { metrics, feed, registry, log } = options;
    this.#sessionContext = {
      store: options.store,
      maxInvalidInRow: this.#config.maxInvalidInRow,
      maxRefusedInRow: this.#config.maxRefusedInRow,
      now: Date.now,
      observer: {
        frame: (bytes) => metrics.frame(bytes),
        accepted: (count) => metrics.accept(count),
        nacked: (device: string, code: WireErrorCode) => {
          metrics.nack(code);
          feed.rejected(device, code);
        },
        closed: (session: DeviceSession, code: number) => {
          metrics.closed(code);
          if (registry.release(session)) feed.presence(session.device, false);
          if (!log.enabled('info')) return;
          const summary = session.summary;
          log.log('info', 'device.disconnect', { id: session.device, code, accepted: summary.accepted, nacked: nackedText(summary) });
        },
      },
    };
  }

  /** Open TCP sockets (admitted by the gate, not closed yet). */
  get openSockets(): number {
    return this.#gate.open;
  }

  /** Devices connected now. */
  get registry(): DeviceRegistry {
    return this.#options.registry;
  }

  /** Loads the PKI, starts watching the CRL and the inventory, and listens. Resolves with the bound port. */
  async listen(): Promise<number> {
    const { pkiDir } = this.#options.config;
    const paths = pkiPaths(pkiDir);
    this.#material = await loadDeviceTlsMaterial(pkiDir);
    const crlPem = await readCrlFile(pkiDir);
    try {
      // At start a malformed CRL (or another CA's) stops the hub: running without it would unrevoke everyone.
      crlStateOf(crlPem, this.#material.ca);
    } catch (err) {
      throw new FleethubError('FH_ERR_CONFIG', `pki: ${paths.crl} is not a valid CRL of ${paths.caCert}; rewrite it with \`fleethub ca crl\``, { cause: err });
    }
    if (crlPem === null) this.#log.log('warn', 'crl.missing', { path: paths.crl, effect: 'no certificate is revoked until it exists' });
    this.#applyCrl(crlPem, false);
    const inventory = await readInventoryText(paths.inventory);
    this.#plans = plansFromInventory(inventory);
    const now = Date.now();
    this.#crlWasExpired = crlExpired(this.#crl, now);
    this.#tls = createTlsServer({
      ...deviceSecureContextOptions(this.#material, this.#crl, now),
      requestCert: true,
      rejectUnauthorized: true,
      // Node's own deadline for the TLS phase (a timer every TLS socket has anyway); the upgrade phase is the sweep's.
      handshakeTimeout: this.#config.handshakeTimeoutMs,
      // What an https server offers a client that asks (an HTTP/1.1 upgrade is what follows).
      ALPNProtocols: ['http/1.1'],
    });
    this.#tls.on('secureConnection', (socket: TLSSocket) => this.#onSecure(socket));
    this.#tls.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      const verifyError = socket.authorizationError;
      const reason = handshakeFailureReason(err, verifyError);
      this.#options.metrics.handshakeFailures.inc({ reason });
      this.#log.log('debug', 'device.tls_refused', { reason, error: verifyError === undefined ? err.message : String(verifyError) });
      // A TLS server leaves this to its listener (the timeout among them): the handshake is over.
      socket.destroy();
    });

    this.#poller = new FilePoller(
      [
        { path: paths.crl, onChange: (content) => this.#applyCrl(content, true) },
        { path: paths.inventory, onChange: (content) => (this.#plans = plansFromInventory(content)) },
      ],
      this.#config.crlCheckMs,
      () => this.#checkCrlExpiry(),
    );
    await this.#poller.prime(new Map([[paths.crl, crlPem], [paths.inventory, inventory]]));
    this.#poller.start();
    this.#sweep = setInterval(() => {
      for (const session of this.registry.sessions()) session.heartbeat();
    }, this.#config.pingIntervalMs);
    this.#sweep.unref();
    this.#upgradeSweep = setInterval(() => this.#dropLateUpgrades(performance.now()), upgradeSweepMs(this.#config.handshakeTimeoutMs));
    this.#upgradeSweep.unref();

    await new Promise<void>((resolve, reject) => {
      this.#net.once('error', (err: NodeJS.ErrnoException) =>
        reject(new FleethubError('FH_ERR_LISTEN', `device listener: cannot listen on ${this.#config.host}:${this.#config.port} (${err.code ?? err.message})`, { cause: err })));
      this.#net.listen(this.#config.port, this.#config.host, () => resolve());
    });
    // After start, accept errors (EMFILE when out of file descriptors) are logged, never fatal.
    this.#net.on('error', (err: NodeJS.ErrnoException) => this.#log.log('error', 'device.accept_failed', { error: err.code ?? err.message }));
    const address = this.#net.address();
    return typeof address === 'object' && address !== null ? address.port : this.#config.port;
  }

  /** Checks `crl.pem` and the inventory now instead of at the next poll. */
  async poll(): Promise<void> {
    await this.#poller?.poll();
  }

  /**
   * Stops accepting, closes every device with 1001 after acking what the store
   * already has, and drops sockets still in their handshake. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const wasListening = this.#net.listening;
    const netClosed = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    if (this.#sweep !== null) clearInterval(this.#sweep);
    await this.#poller?.close();
    if (this.#upgradeSweep !== null) clearInterval(this.#upgradeSweep);
    for (const socket of this.#awaitingUpgrade.keys()) socket.destroy();
    this.#awaitingUpgrade.clear();
    await Promise.all([...this.registry.sessions()].map((s) => s.close(CLOSE.GOING_AWAY, true)));
    for (const socket of this.#sockets) socket.destroy();
    for (const wss of this.#wss.values()) wss.close();
    if (wasListening) await netClosed;
  }

  #onConnection(socket: Socket): void {
    const ip = socket.remoteAddress ?? 'unknown';
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    const refused = this.#gate.admit(ip);
    if (refused !== null) {
      // Before any TLS work: the cheapest possible refusal.
      this.#options.metrics.refused.inc({ reason: refused });
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.on('close', () => {
      this.#gate.release(ip);
      this.#sockets.delete(socket);
    });
    socket.on('error', ignoreSocketError);
    this.#tls?.emit('connection', socket);
  }

  /** After the handshake, before any HTTP: a revoked serial stops here, also when OpenSSL did not check (resumed session, expired CRL). */
  #onSecure(socket: TLSSocket): void {
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    const resumed = socket.isSessionReused();
    const peer = peerOf(socket, resumed);
    if (peer === null || this.#crl.serials.has(peer.serial)) {
      // OpenSSL already refuses a revoked certificate in a full handshake; this catches resumed sessions and an expired CRL.
      this.#options.metrics.handshakeFailures.inc({ reason: resumed ? 'revoked_resumed' : 'revoked' });
      socket.destroy();
      return;
    }
    // Read once here, used again at the upgrade, which must come within handshakeTimeoutMs (slowloris after TLS).
    this.#awaitingUpgrade.set(socket, { socket, peer, deadline: performance.now() + this.#config.handshakeTimeoutMs });
    (resumed ? this.#options.metrics.handshakesResumed : this.#options.metrics.handshakesFull).inc();
    // Past TLS a socket error (a reset) is the socket's own 'error' event, fatal without a listener; its 'close' cleans up.
    socket.on('error', ignoreSocketError);
    readRequestHead(socket, (result) => this.#onRequestHead(socket, result));
  }

  /** SPEC: only the WebSocket upgrade of GET /v1/device; any other request 404, one Node's HTTP parser would refuse 400 (431 when too long). */
  #onRequestHead(socket: TLSSocket, result: { head: RequestHead; rest: Buffer } | HeadRefusal): void {
    if (typeof result === 'number') {
      this.#options.metrics.upgradesRefused.inc({ reason: result === 431 ? 'head_too_large' : 'bad_request' });
      refuseHttp(socket, result);
      return;
    }
    if (!isUpgradeRequest(result.head)) {
      this.#options.metrics.upgradesRefused.inc({ reason: 'not_found' });
      refuseHttp(socket, 404);
      return;
    }
    this.#onUpgrade(result.head, socket, result.rest);
  }

  /** Drops connections that finished TLS but sent no upgrade request in time. */
  #dropLateUpgrades(now: number): void {
    for (const secured of this.#awaitingUpgrade.values()) {
      if (secured.deadline > now) break;
      this.#awaitingUpgrade.delete(secured.socket);
      if (secured.socket.destroyed) continue;
      this.#options.metrics.upgradesRefused.inc({ reason: 'timeout' });
      secured.socket.destroy();
    }
  }

  #onUpgrade(req: RequestHead, socket: TLSSocket, head: Buffer): void {
    if (req.method !== 'GET' || !isDevicePath(req.url) || this.#closing !== null) {
      this.#options.metrics.upgradesRefused.inc({ reason: 'not_found' });
      refuseHttp(socket, 404);
      return;
    }
    const secured = this.#awaitingUpgrade.get(socket);
    if (secured === undefined || socket.destroyed) {
      // Past its deadline: the sweep has dropped it.
      socket.destroy();
      return;
    }
    const peer = secured.peer;
    const cn = peer.cn;
    if (!socket.authorized || cn === null || !isValidDeviceId(cn)) {
      this.#options.metrics.upgradesRefused.inc({ reason: 'invalid_id' });
      refuseHttp(socket, 403);
      return;
    }
    // A resumed TLS session skipped certificate verification: check the CRL again here.
    if (this.#crl.serials.has(peer.serial)) {
      this.#options.metrics.upgradesRefused.inc({ reason: 'revoked' });
      refuseHttp(socket, 403);
      return;
    }
    this.#awaitingUpgrade.delete(socket);
    const plan = this.#plans.get(cn);
    const { limits, known } = limitsForPlan(this.#options.config, plan);
    if (!known) this.#log.log('warn', 'device.unknown_plan', { id: cn, plan });
    // The 101 response and the hello leave in one TLS record and one write.
    socket.cork();
    process.nextTick(uncork, socket);
    // ws reads the method, url and headers: the fields a RequestHead has.
    this.#wssFor(limits.maxPayloadBytes).handleUpgrade(req as unknown as IncomingMessage, socket, head, (ws: WebSocket) => {
      if (this.#closing !== null) {
        ws.close(CLOSE.GOING_AWAY);
        return;
      }
      const session = new DeviceSession(this.#sessionContext, ws, cn, peer.serial, limits);
      const previous = this.registry.claim(session);
      // SPEC: one live connection per device; the older one is closed with 4002.
      if (previous !== undefined) void previous.close(CLOSE.REPLACED);
      else this.#options.feed.presence(cn, true);
      // The fields cost socket calls (a getpeername among them): only built when the line is written.
      if (!this.#log.enabled('info')) return;
      this.#log.log('info', 'device.connect', {
        id: cn,
        ip: socket.remoteAddress,
        tls: socket.getProtocol() ?? undefined,
        resumed: socket.isSessionReused(),
        plan,
        replaced: previous !== undefined || undefined,
      });
    });
  }

  #wssFor(maxPayload: number): WebSocketServer {
    let wss = this.#wss.get(maxPayload);
    if (wss === undefined) {
      // Never ws's 100 MiB default: the plan's maxPayloadBytes (SPEC: 1009). Devices are not
      // browsers, so no Origin check; subprotocols such as Arduino's `arduino` are accepted.
      wss = new WebSocketServer({ noServer: true, maxPayload, clientTracking: false, perMessageDeflate: false });
      this.#wss.set(maxPayload, wss);
    }
    return wss;
  }

  /** Loads new CRL content into the TLS context and closes live connections of revoked serials (SPEC: 4001 within 5 s). */
  #applyCrl(content: string | null, reload: boolean): void {
    let next: CrlState;
    try {
      next = crlStateOf(content, this.#material?.ca);
    } catch (err) {
      // A half-written or corrupt CRL must not unrevoke anyone: keep the last good one.
      this.#log.log('error', 'crl.invalid', { error: errorText(err) });
      return;
    }
    if (content === null && this.#crl.pem !== null) {
      this.#log.log('warn', 'crl.missing', { kept: 'previous' });
      return;
    }
    this.#crl = next;
    const now = Date.now();
    this.#crlWasExpired = crlExpired(next, now);
    this.#crlExpiryWarned = false;
    this.#options.metrics.crlRevoked.set(next.serials.size);
    this.#options.metrics.crlExpired.set(this.#crlWasExpired ? 1 : 0);
    this.#options.metrics.crlNextUpdate.set(next.nextUpdate === null ? 0 : next.nextUpdate.getTime() / 1000);
    if (this.#crlWasExpired) this.#log.log('warn', 'crl.expired', { nextUpdate: next.nextUpdate?.toISOString(), policy: 'enforced by the hub; run `fleethub ca crl`' });
    this.#warnIfCrlExpiring(now);
    if (!reload) return;
    this.#options.metrics.crlReloads.inc();
    this.#setContext();
    let closed = 0;
    for (const session of this.registry.sessions()) {
      if (next.serials.has(session.serial)) {
        closed += 1;
        this.#log.log('info', 'device.revoked', { id: session.device, serial: session.serial });
        void session.close(CLOSE.REVOKED);
      }
    }
    this.#log.log('info', 'crl.reloaded', { revoked: next.serials.size, closed });
  }

  /** Time passes without the file changing: the CRL may expire while loaded (see device-tls.ts). */
  #checkCrlExpiry(): void {
    const now = Date.now();
    this.#warnIfCrlExpiring(now);
    const expired = crlExpired(this.#crl, now);
    if (expired === this.#crlWasExpired) return;
    this.#crlWasExpired = expired;
    this.#options.metrics.crlExpired.set(expired ? 1 : 0);
    if (expired) this.#log.log('warn', 'crl.expired', { nextUpdate: this.#crl.nextUpdate?.toISOString(), policy: 'enforced by the hub; run `fleethub ca crl`' });
    this.#setContext();
  }

  /**
   * Warns once per loaded CRL when its nextUpdate is less than
   * CRL_EXPIRY_WARNING_DAYS away (at load, or later as time passes), so the
   * fix comes before the expired-CRL policy has to step in.
   */
  #warnIfCrlExpiring(now: number): void {
    if (this.#crlExpiryWarned) return;
    const daysLeft = crlDaysLeftIfExpiring(this.#crl, now);
    if (daysLeft === null) return;
    this.#crlExpiryWarned = true;
    this.#log.log('warn', 'crl.expiring', {
      nextUpdate: this.#crl.nextUpdate?.toISOString(),
      daysLeft,
      fix: `run \`fleethub ca crl\` to re-sign it; the hub loads the new one within ${this.#config.crlCheckMs} ms`,
    });
  }

  #setContext(): void {
    if (this.#tls === null || this.#material === null) return;
    // Keep the session-ticket keys, so a reload does not force every device into a full handshake.
    const ticketKeys = this.#tls.getTicketKeys();
    this.#tls.setSecureContext(deviceSecureContextOptions(this.#material, this.#crl, Date.now()));
    this.#tls.setTicketKeys(ticketKeys);
  }
}
