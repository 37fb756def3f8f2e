/**
 * The device listener (SPEC: Two listeners, device): raw TCP accept and the
 * connection gates before any TLS work, mutual TLS against the CA and the
 * CRL, the HTTP upgrade of `GET /v1/device` only, identity from the
 * certificate CN, one connection per device, heartbeats, and revocation
 * without restart.
 *
 *   net.Server ──gate──▶ https.Server (TLS, then Node's HTTP parser) ──upgrade──▶ ws.handleUpgrade ──▶ DeviceSession
 *
 * The `net.Server` hands each admitted socket to an HTTPS server that never
 * listens itself (`emit('connection')`), so a refused connection costs one
 * accept and one close, and no handshake. Everything that decides who a
 * device is and what it asked for goes through documented APIs: Node's TLS
 * and HTTP parser, `getPeerX509Certificate()`, and `ws`'s `handleUpgrade`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE, FleethubError, type WireErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { isValidDeviceId, pkiPaths } from '../pki/index.js';
import type { HubConfig } from './config.js';
import { ConnectionGate } from './connection-gate.js';
import { limitsForPlan } from './device-limits.js';
import type { DeviceRegistry } from './device-registry.js';
import { peerOf, type Peer } from './device-peer.js';
import { isDevicePath, refuseHttp, selectSubprotocol } from './device-upgrade.js';
import { DeviceSession, type SessionContext } from './device-session.js';
import type { DeviceListenerCluster } from './cluster/cluster-hub.js';
import { nackedText } from './session-summary.js';
import { CrlWatcher } from './crl-watcher.js';
import { loadDeviceTlsMaterial } from './device-tls.js';
import type { HubFeed } from './hub-feed.js';
import { handshakeFailureReason, type HubMetrics } from './hub-metrics.js';
import { DevicePlans } from './device-plans.js';
import { PolledFile, PreferredSource } from './text-source.js';
import { ProxyProtocolStep, type ProxyStepHandlers } from './proxy-accept.js';
import { TicketKeyFile } from './ticket-key-file.js';
import { openProvisioning } from './provisioning/open-provisioning.js';
import { isProvisionPath, type ProvisionEndpoint } from './provisioning/provision-endpoint.js';
import type { Store } from '../store/types.js';
import { offeredVersion } from './protocol-v2.js';
import { V2Session, type V2Participant } from './v2-session.js';
import type { DownlinkPort } from './session-extension.js';

/** What the device listener works with. */
export interface DeviceListenerOptions {
  readonly config: HubConfig;
  /** Null on a single hub. */
  readonly cluster: DeviceListenerCluster | null;
  readonly store: Store;
  readonly registry: DeviceRegistry;
  /** Where presence and refusals go: a {@link HubFeed}, or in cluster mode a ClusterFeed. */
  readonly feed: Pick<HubFeed, 'presence' | 'rejected'>;
  readonly metrics: HubMetrics;
  readonly log: Logger;
  /** What protocol 2 sessions offer (commands, desired configuration, renewal). @defaultValue none */
  readonly v2?: readonly V2Participant[];
}

/** For `process.nextTick(uncork, socket)`: no closure per upgrade. */
function uncork(socket: Duplex): void {
  socket.uncork();
}

/** Resets from peers are routine; the socket's 'close' does the bookkeeping. */
function ignoreSocketError(): void {}

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
  /** TLS and HTTP in one: Node's https server, fed the gated sockets, never listening itself. */
  #tls: HttpsServer | null = null;
  readonly #crl: CrlWatcher<DeviceSession>;
  readonly #plans: DevicePlans;
  /** `/v1/provision` (provisioning/), or null when the PKI folder has no claim CA. */
  #provisioning: ProvisionEndpoint | null = null;
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
  /** Upgrade requests whose device offered `fleethub.v2` (filled by ws's handleProtocols, read in its callback). */
  readonly #offeredV2 = new WeakSet<IncomingMessage>();
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
    const inventoryFile = new PolledFile(pkiPaths(options.config.pkiDir).inventory, this.#config.crlCheckMs);
    this.#plans = new DevicePlans(options.cluster === null ? inventoryFile : new PreferredSource(options.cluster.inventory, inventoryFile));
    this.#sessionContext = {
      store: options.store,
      ownership: options.cluster?.ownership ?? null,
      // SPEC: a cluster hub that cannot store sends its devices to another (1013); a single hub has no other (1011).
      unavailableCode: options.cluster === null ? CLOSE.INTERNAL_ERROR : CLOSE.TRY_AGAIN_LATER,
      maxInvalidInRow: this.#config.maxInvalidInRow,
      maxRefusedInRow: this.#config.maxRefusedInRow,
      maxRefusalsPerMinute: this.#config.maxRefusalsPerMinute,
      maxUnreadReplyBytes: this.#config.maxUnreadReplyBytes,
      now: Date.now,
      observer: {
        frame: (bytes) => metrics.frame(bytes),
        accepted: (count) => metrics.accept(count),
        nacked: (device: string, code: WireErrorCode) => {
          metrics.nack(code);
          feed.rejected(device, code);
        },
        paused: () => metrics.readsPaused.inc(),
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

  /** A device's plan from the inventory (undefined: none, or not read yet). */
  planOf(id: string): string | undefined {
    return this.#plans.get(id);
  }

  /** Loads the PKI, starts watching the CRL and the inventory, and listens. Resolves with the bound port. */
  async listen(): Promise<number> {
    // A CRL that is not one of the CA's stops the start (FH_ERR_CONFIG): running without it would unrevoke everyone.
    await this.#crl.start(await loadDeviceTlsMaterial(this.#options.config.pkiDir));
    await this.#plans.start();
    this.#provisioning = await openProvisioning(this.#options.config, this.#options.metrics, this.#log, this.#options.cluster);
    const rotationHours = this.#config.ticketKeyRotationHours;
    this.#ticketKeys = new TicketKeyFile(this.#options.config.pkiDir, { rotationHours, log: this.#log, onChange: (key) => this.#tls?.setTicketKeys(key) });
    // SPEC: Cluster mode. One ticket key for every hub on this PKI folder, kept across restarts (ticket-key-file.ts).
    this.#tls = this.#createServer({ ...this.#crl.secureContextOptions(), ...this.#ticketKeys.tlsOptions() });

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
      // The kernel's accept queue for a storm of reconnecting devices (config.ts, DEFAULT_DEVICE_BACKLOG).
      this.#net.listen({ port: this.#config.port, host: this.#config.host, backlog: this.#config.backlog }, () => resolve());
    });
    // After start, accept errors (EMFILE when out of file descriptors) are logged, never fatal.
    this.#net.on('error', (err: NodeJS.ErrnoException) => this.#log.log('error', 'device.accept_failed', { error: err.code ?? err.message }));
    const address = this.#net.address();
    return typeof address === 'object' && address !== null ? address.port : this.#config.port;
  }

  /** Closes every device with `code` (1013 when a cluster hub lost its quorum), acking what is already stored. */
  async closeDevices(code: number): Promise<void> {
    await Promise.all([...this.registry.sessions()].map((s) => s.close(code, true)));
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
    this.#provisioning?.close();
    await Promise.all([this.#crl.close(), this.#plans.close()]);
    if (this.#upgradeSweep !== null) clearInterval(this.#upgradeSweep);
    for (const socket of this.#awaitingUpgrade.keys()) socket.destroy();
    this.#awaitingUpgrade.clear();
    await this.closeDevices(CLOSE.GOING_AWAY);
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

  /**
   * The https server the gated sockets are handed to: Node's TLS with the
   * device settings, Node's HTTP parser for the one request a device sends
   * (a malformed one is its `clientError`: 400, or 431 past its header
   * limit), the `upgrade` event for WebSocket upgrades and the `request`
   * event for anything else.
   */
  #createServer(context: SecureContextOptions): HttpsServer {
    const server = createHttpsServer({
      ...context,
      requestCert: true,
      rejectUnauthorized: true,
      // Node's own deadline for the TLS phase (a timer every TLS socket has anyway); the upgrade phase is the sweep's.
      handshakeTimeout: this.#config.handshakeTimeoutMs,
      // What an https server offers a client that asks (an HTTP/1.1 upgrade is what follows).
      ALPNProtocols: ['http/1.1'],
    });
    // After the server's own listener (which attaches the HTTP parser): a socket refused here goes before it has read a byte.
    server.on('secureConnection', (socket: TLSSocket) => this.#onSecure(socket));
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      const verifyError = socket.authorizationError;
      const reason = handshakeFailureReason(err, verifyError);
      this.#options.metrics.handshakeFailures.inc({ reason });
      this.#log.log('debug', 'device.tls_refused', { reason, error: verifyError === undefined ? err.message : String(verifyError) });
      // A TLS server leaves this to its listener (the timeout among them): the handshake is over.
      socket.destroy();
    });
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => this.#onClientError(err, socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket as TLSSocket, head));
    return server;
  }

  /** After the handshake, before any HTTP: a revoked serial stops here, also when OpenSSL did not check (resumed session, expired CRL). */
  #onSecure(socket: TLSSocket): void {
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    const resumed = socket.isSessionReused();
    const peer = peerOf(socket);
    if (peer === null || this.#crl.isRevoked(peer.serial)) {
      // OpenSSL already refuses a revoked certificate in a full handshake; this catches resumed sessions and an expired CRL.
      this.#options.metrics.handshakeFailures.inc({ reason: resumed ? 'revoked_resumed' : 'revoked' });
      socket.destroy();
      return;
    }
    if (!peer.clientAuth) {
      // SPEC: device certificates carry extendedKeyUsage clientAuth. OpenSSL refuses a certificate whose
      // extendedKeyUsage leaves clientAuth out (INVALID_PURPOSE, counted as bad_certificate), but passes one
      // without the extension, and Node offers no hook into its verification: refused here, before any HTTP.
      this.#options.metrics.handshakeFailures.inc({ reason: 'bad_certificate' });
      this.#log.log('debug', 'device.tls_refused', { reason: 'bad_certificate', error: 'no extendedKeyUsage clientAuth' });
      socket.destroy();
      return;
    }
    // Read once here, used again at the upgrade, which must come within handshakeTimeoutMs (slowloris after TLS).
    this.#awaitingUpgrade.set(socket, { socket, peer, deadline: performance.now() + this.#config.handshakeTimeoutMs });
    (resumed ? this.#options.metrics.handshakesResumed : this.#options.metrics.handshakesFull).inc();
    // Past TLS a socket error (a reset) is the socket's own 'error' event, fatal without a listener; its 'close' cleans up.
    socket.on('error', ignoreSocketError);
  }

  /** A request Node's HTTP parser refused (400, 431 when its head is too long), or a reset while it read one. */
  #onClientError(err: Error & { code?: string }, socket: Duplex): void {
    const code = err.code ?? '';
    // Anything but a parser error (HPE_*) is a reset or a closed socket: nothing to answer.
    if (!code.startsWith('HPE_')) return void socket.destroy();
    const tooLarge = code === 'HPE_HEADER_OVERFLOW';
    this.#options.metrics.upgradesRefused.inc({ reason: tooLarge ? 'head_too_large' : 'bad_request' });
    if (socket.writable) refuseHttp(socket, tooLarge ? 431 : 400);
    else socket.destroy();
  }

  /** SPEC: only the WebSocket upgrade of GET /v1/device; a request without an upgrade is 404. */
  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#options.metrics.upgradesRefused.inc({ reason: 'not_found' });
    req.resume();
    res.writeHead(404, { Connection: 'close', 'Content-Length': 0 });
    res.end();
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

  #onUpgrade(req: IncomingMessage, socket: TLSSocket, head: Buffer): void {
    if (this.#provisioning !== null && req.method === 'GET' && isProvisionPath(req.url) && this.#closing === null) {
      this.#onProvisionUpgrade(this.#provisioning, req, socket, head);
      return;
    }
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
    // The CRL may have changed since the handshake, and a resumed session skipped OpenSSL's check: check again.
    if (this.#crl.isRevoked(peer.serial)) {
      this.#options.metrics.upgradesRefused.inc({ reason: 'revoked' });
      refuseHttp(socket, 403);
      return;
    }
    // SPEC: a claim certificate opens only /v1/provision, whatever its CN.
    if (this.#provisioning?.isClaim(socket) === true) {
      this.#options.metrics.upgradesRefused.inc({ reason: 'claim_certificate' });
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
    this.#wssFor(limits.maxPayloadBytes).handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (this.#closing !== null) {
        ws.close(CLOSE.GOING_AWAY);
        return;
      }
      // SPEC: protocol 2 when the device offered `fleethub.v2`; otherwise exactly version 1.
      const participants = this.#options.v2 ?? [];
      const extend = this.#offeredV2.has(req) ? (port: DownlinkPort) => new V2Session(port, { device: cn, plan, certificate: peer.certificate }, participants) : null;
      const session = new DeviceSession(this.#sessionContext, ws, cn, peer.serial, limits, extend);
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
        protocol: ws.protocol === '' ? undefined : ws.protocol,
      });
    });
  }

  /** SPEC: Provisioning by claim. Only a claim certificate, unrevoked, opens `/v1/provision`; the endpoint does the rest. */
  #onProvisionUpgrade(endpoint: ProvisionEndpoint, req: IncomingMessage, socket: TLSSocket, head: Buffer): void {
    const secured = this.#awaitingUpgrade.get(socket);
    if (secured === undefined || socket.destroyed) return void socket.destroy();
    const { cn, serial } = secured.peer;
    const reason = !socket.authorized || cn === null || !endpoint.isClaim(socket) ? 'device_certificate' : this.#crl.isRevoked(serial) ? 'revoked' : null;
    if (reason !== null) {
      this.#options.metrics.upgradesRefused.inc({ reason });
      refuseHttp(socket, 403);
      return;
    }
    this.#awaitingUpgrade.delete(socket);
    endpoint.upgrade(req, socket, head, cn as string, serial, this.#proxy.addressOf(socket) ?? 'unknown');
  }

  #wssFor(maxPayload: number): WebSocketServer {
    let wss = this.#wss.get(maxPayload);
    if (wss === undefined) {
      // Never ws's 100 MiB default: the plan's maxPayloadBytes (SPEC: 1009). Devices are not
      // browsers, so no Origin check (Arduino sends `Origin: file://`), and the subprotocol is
      // chosen from the ones the hub speaks, never echoed.
      wss = new WebSocketServer({ noServer: true, maxPayload, clientTracking: false, perMessageDeflate: false, handleProtocols: (offered: Set<string>, req: IncomingMessage) => this.#selectSubprotocol(offered, req), autoPong: false });
      this.#wss.set(maxPayload, wss);
    }
    return wss;
  }

  /** ws's handleProtocols: the version comes from what the device offered, recorded for its session. */
  #selectSubprotocol(offered: Set<string>, req: IncomingMessage): string | false {
    if (offeredVersion(offered) === 2) this.#offeredV2.add(req);
    return selectSubprotocol(offered);
  }

  /** The CRL from `crl.pem`: revoked live devices are closed with 4001, a new CRL goes into the TLS server. */
  #watchCrl(): CrlWatcher<DeviceSession> {
    return new CrlWatcher({
      source: new PolledFile(pkiPaths(this.#options.config.pkiDir).crl, this.#config.crlCheckMs),
      ...(this.#options.cluster === null ? {} : { published: this.#options.cluster.crl }),
      // SPEC: Certificate authority for online signing. OpenSSL checks every CA of a chain: each CA's CRL is followed.
      extraSource: (role) => new PolledFile(role === 'issuing' ? pkiPaths(this.#options.config.pkiDir).issuingCrl : pkiPaths(this.#options.config.pkiDir).claimCrl, this.#config.crlCheckMs),
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
