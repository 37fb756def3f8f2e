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
import { CrlWatcher } from './crl-watcher.js';
import { loadDeviceTlsMaterial } from './device-tls.js';
import type { HubFeed } from './hub-feed.js';
import { handshakeFailureReason, type HubMetrics } from './hub-metrics.js';
import { DevicePlans } from './device-plans.js';
import { PolledFile } from './text-source.js';
import { ProxyProtocolStep, type ProxyStepHandlers } from './proxy-accept.js';
import { TicketKeyFile } from './ticket-key-file.js';
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
  readonly #proxy: ProxyProtocolStep;
  readonly #proxyHandlers: ProxyStepHandlers;
  #ticketKeys: TicketKeyFile | null = null;
  readonly #net: NetServer;
  #tls: TlsServer | null = null;
  readonly #crl: CrlWatcher<DeviceSession>;
  readonly #plans: DevicePlans;
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
    this.#proxy = new ProxyProtocolStep(this.#config.proxyProtocol, { refused: options.metrics.refused, log: options.log });
    this.#proxyHandlers = {
      admit: (socket, ip) => this.#closing === null && this.#admit(socket, ip),
      accepted: (socket) => (this.#closing === null ? this.#tls?.emit('connection', socket) : socket.destroy()),
    };
    // The socket options Node's https server gives its own sockets (no half-open TCP, no Nagle), and paused:
    // nothing is read from the raw socket, the TLS layer reads from it once it has it.
    this.#net = createNetServer({ allowHalfOpen: false, noDelay: true, pauseOnConnect: true }, (socket) => this.#onConnection(socket));
    const { metrics, feed, registry, log } = options;
    this.#crl = this.#watchCrl();
    this.#plans = new DevicePlans(new PolledFile(pkiPaths(options.config.pkiDir).inventory, this.#config.crlCheckMs));
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
    // A CRL that is not one of the CA's stops the start (FH_ERR_CONFIG): running without it would unrevoke everyone.
    await this.#crl.start(await loadDeviceTlsMaterial(this.#options.config.pkiDir));
    await this.#plans.start();
    const rotationHours = this.#config.ticketKeyRotationHours;
    this.#ticketKeys = new TicketKeyFile(this.#options.config.pkiDir, { rotationHours, log: this.#log, onChange: (key) => this.#tls?.setTicketKeys(key) });
    this.#tls = createTlsServer({
      ...this.#crl.secureContextOptions(),
      // SPEC: Cluster mode. One key for every hub on this PKI folder, kept across restarts (ticket-key-file.ts).
      ...this.#ticketKeys.tlsOptions(),
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

    this.#ticketKeys.start();
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

  /** Checks `crl.pem`, the inventory and `ticket.keys` now instead of at the next poll. */
  async poll(): Promise<void> {
    this.#ticketKeys?.check();
    await Promise.all([this.#crl.check(), this.#plans.check()]);
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
    this.#ticketKeys?.close();
    await Promise.all([this.#crl.close(), this.#plans.close()]);
    if (this.#upgradeSweep !== null) clearInterval(this.#upgradeSweep);
    for (const socket of this.#awaitingUpgrade.keys()) socket.destroy();
    this.#awaitingUpgrade.clear();
    await Promise.all([...this.registry.sessions()].map((s) => s.close(CLOSE.GOING_AWAY, true)));
    this.#proxy.close();
    for (const socket of this.#sockets) socket.destroy();
    for (const wss of this.#wss.values()) wss.close();
    if (wasListening) await netClosed;
  }

  #onConnection(socket: Socket): void {
    if (this.#closing !== null) socket.destroy();
    // SPEC: Cluster mode. With trusted balancers, their PROXY header first, then the gates on the device's address (proxy-accept.ts).
    else if (this.#proxy.enabled) this.#proxy.accept(socket, this.#proxyHandlers);
    else if (this.#admit(socket, socket.remoteAddress ?? 'unknown')) this.#tls?.emit('connection', socket);
  }

  /** Passes the gates for `ip` (the socket's, or the one its PROXY header gave), or refuses: before any TLS work, the cheapest refusal. */
  #admit(socket: Socket, ip: string): boolean {
    const refused = this.#gate.admit(ip);
    if (refused !== null) {
      this.#options.metrics.refused.inc({ reason: refused });
      socket.destroy();
      return false;
    }
    this.#sockets.add(socket);
    socket.on('close', () => {
      this.#gate.release(ip);
      this.#sockets.delete(socket);
    });
    socket.on('error', ignoreSocketError);
    return true;
  }

  /** After the handshake, before any HTTP: a revoked serial stops here, also when OpenSSL did not check (resumed session, expired CRL). */
  #onSecure(socket: TLSSocket): void {
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    const resumed = socket.isSessionReused();
    const peer = peerOf(socket, resumed);
    if (peer === null || this.#crl.isRevoked(peer.serial)) {
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
    if (this.#crl.isRevoked(peer.serial)) {
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
        ip: this.#proxy.addressOf(socket),
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

  /** The CRL from `crl.pem`: revoked live devices are closed with 4001, a new CRL goes into the TLS server. */
  #watchCrl(): CrlWatcher<DeviceSession> {
    return new CrlWatcher({
      source: new PolledFile(pkiPaths(this.#options.config.pkiDir).crl, this.#config.crlCheckMs),
      checkMs: this.#config.crlCheckMs,
      metrics: this.#options.metrics,
      log: this.#log,
      live: () => this.registry.sessions(),
      onRevoked: (session) => void session.close(CLOSE.REVOKED),
      onContextChange: (secureContext) => {
        if (this.#tls === null) return;
        // Keep the session-ticket keys, so a reload does not force every device into a full handshake.
        const ticketKeys = this.#tls.getTicketKeys();
        this.#tls.setSecureContext(secureContext);
        this.#tls.setTicketKeys(ticketKeys);
      },
    });
  }
}
