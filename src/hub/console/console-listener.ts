/**
 * The console listener (SPEC: Two listeners): HTTPS with the server
 * certificate only, serving `/` (the web dashboard), `/v1/stream` (dashboard
 * WebSockets), `/v1/devices/<id>/readings` (history, history-route.ts),
 * `/healthz` and `/metrics`.
 *
 *   net.Server ──gate──▶ https.Server (TLS, handshakeTimeoutMs) ──first request within idleTimeoutMs──▶ page / upgrade ──▶ DashboardSession
 *
 * As on the device listener, a `net.Server` admits raw sockets through the
 * connection gates (connection-gate.ts: `maxSockets` in all, which is the
 * console's budget of file descriptors, `maxSocketsPerIp`,
 * `newSocketsPerIpPerSec`) before any TLS work, and hands the admitted ones
 * to an https server that never listens itself (`emit('connection')`).
 *
 * Authentication happens at the edge: the `upgrade` handler checks the path,
 * the Origin and the connection limit and answers 403/404/503 before any
 * WebSocket exists (`noServer` + `handleUpgrade`, not `verifyClient`); the
 * token is the first WebSocket message (dashboard-session.ts), and an IP
 * that keeps failing it is throttled (auth-throttle.ts).
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { DASHBOARD_REASONS, FleethubError, type DashboardHttpReason, type DashboardReason } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { MetricsRegistry } from '../../metrics.js';
import type { ConsoleListenerConfig } from '../config.js';
import { ConnectionGate, type GateRefusal } from '../connection-gate.js';
import type { FeedEvent, LiveFeed } from '../live-feed.js';
import { AuthThrottle } from './auth-throttle.js';
import { registerDashboardMetrics, type DashboardMetrics } from './dashboard-metrics.js';
import { loadPageAssets, securityHeaders, type PageAsset } from './dashboard-page.js';
import { encodePresence, encodeReading, encodeRejected } from './dashboard-protocol.js';
import { DashboardSession, type SessionHost } from './dashboard-session.js';
import { HistoryRoute, historyPathDevice } from './history-route.js';
import { originAllowed } from './origin-policy.js';
import { TokenKeyFile } from './token-key-file.js';
import { TokenCommandLimiter, type ConsoleControl } from './control-requests.js';

/** The stream's path (SPEC). */
export const STREAM_PATH = '/v1/stream';

/** What {@link createConsoleListener} needs. */
export interface ConsoleListenerOptions {
  /** Address, origins and every dashboard limit. */
  config: ConsoleListenerConfig;
  /** The hub's server certificate and key (PEM). */
  tls: { cert: string; key: string };
  /** PKI folder holding (or about to hold) `token.key`. */
  pkiDir: string;
  /** Live readings, presence and rejections. */
  feed: LiveFeed;
  /** Where `/metrics` comes from; the console adds its dashboard figures. */
  metrics: MetricsRegistry;
  /** The body of `/healthz`; with `ok: false` it is answered with 503 (a load balancer then takes the hub out). */
  health: () => Record<string, unknown>;
  log: Logger;
  /** Commands and desired configuration for tokens with those scopes. @defaultValue none: such requests are forbidden */
  control?: ConsoleControl;
}

/** The running console listener. */
export interface ConsoleListener {
  /** Starts listening; resolves with the port (useful with port 0). */
  listen(): Promise<number>;
  /** Closes every dashboard (1001), then the server. Idempotent. */
  close(): Promise<void>;
}

/** The gate's refusals under the console's own names (its options say sockets: `maxConnections` counts dashboards). */
const GATE_REASONS: Readonly<Record<GateRefusal, DashboardReason>> = {
  max_connections: 'max_sockets',
  max_connections_per_ip: 'max_sockets_per_ip',
  new_connections_per_ip: 'new_sockets_per_ip',
};

/** Resets from peers are routine; the socket's 'close' does the bookkeeping. */
function ignoreSocketError(): void {}

/** How often the idle deadlines are checked: a tenth of the timeout, at least every second. */
function idleSweepMs(idleTimeoutMs: number): number {
  return Math.min(1000, Math.max(20, Math.floor(idleTimeoutMs / 10)));
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Creates the console listener; nothing is opened until `listen()`. */
export function createConsoleListener(options: ConsoleListenerOptions): ConsoleListener {
  const { config, feed, log } = options;
  const metrics: DashboardMetrics = registerDashboardMetrics(options.metrics);
  const assets: ReadonlyMap<string, PageAsset> = loadPageAssets();
  const sessions = new Set<DashboardSession>();
  const perToken = new Map<string, number>();
  const gate = new ConnectionGate({ maxConnections: config.maxSockets, maxConnectionsPerIp: config.maxSocketsPerIp, newConnectionsPerIpPerSec: config.newSocketsPerIpPerSec });
  const authThrottle = new AuthThrottle(config);
  /** Admitted raw sockets, so close() leaves none behind. */
  const sockets = new Set<Socket>();
  /**
   * TLS sockets that have not sent their first request yet, with their
   * deadlines, oldest first: all get the same timeout, so one periodic sweep
   * stops at the first deadline still ahead (as the device listener's).
   */
  const awaitingRequest = new Map<TLSSocket, number>();
  let keyFile: TokenKeyFile | null = null;
  let server: Server | null = null;
  let unsubscribeFeed: (() => void) | null = null;
  let keyTimer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let summaryTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | null = null;
  let onEmpty: (() => void) | null = null;

  const net: NetServer = createNetServer({ allowHalfOpen: false, noDelay: true, pauseOnConnect: true }, onConnection);

  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxClientPayloadBytes, perMessageDeflate: false });

  // One host object for every session; the key file exists from listen() on, before any upgrade.
  const host: SessionHost = {
    config,
    feed,
    get keyFile() {
      return keyFile as TokenKeyFile;
    },
    log,
    metrics,
    control: options.control ?? null,
    commandLimiter: new TokenCommandLimiter(config.commandsPerTokenPerMin),
    authBlocked: (ip) => authThrottle.blocked(ip),
    authRefused: (ip, throttled) => authThrottle.refused(ip, throttled),
    acquireToken(id) {
      const count = perToken.get(id) ?? 0;
      if (count >= config.maxConnectionsPerToken) return false;
      perToken.set(id, count + 1);
      return true;
    },
    releaseToken(id) {
      const count = (perToken.get(id) ?? 1) - 1;
      if (count <= 0) perToken.delete(id);
      else perToken.set(id, count);
    },
    ended(session) {
      sessions.delete(session);
      if (sessions.size > 0) return;
      // No dashboard left: the feed stops building events (presence at every device connect, one per reading).
      unsubscribeFeed?.();
      unsubscribeFeed = null;
      onEmpty?.();
    },
  };

  const history = new HistoryRoute(host);

  /** Subscribed to the feed only while a dashboard is connected (see `ended` and the upgrade). */
  function fanOut(event: FeedEvent): void {
    // Encoded once, shared by every dashboard that wants it.
    const encoded =
      event.type === 'reading'
        ? encodeReading(event.reading)
        : event.type === 'presence'
          ? encodePresence(event.device, event.online)
          : encodeRejected(event);
    for (const session of sessions) session.deliver(event, encoded);
  }

  function refuse(socket: Duplex, reason: DashboardHttpReason): void {
    const { status, text, metric } = DASHBOARD_REASONS[reason];
    metrics.refused.inc({ reason: metric });
    // A plain HTTP answer on the raw socket: no WebSocket was ever created.
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
  }

  /** Raw TCP accept: the gates decide before any TLS work, the cheapest possible refusal. */
  function onConnection(socket: Socket): void {
    const srv = server;
    if (closing !== null || srv === null) {
      socket.destroy();
      return;
    }
    const ip = socket.remoteAddress ?? 'unknown';
    const refused = gate.admit(ip);
    if (refused !== null) {
      metrics.refused.inc({ reason: DASHBOARD_REASONS[GATE_REASONS[refused]].metric });
      socket.destroy();
      return;
    }
    sockets.add(socket);
    metrics.sockets.inc();
    socket.on('close', () => {
      gate.release(ip);
      sockets.delete(socket);
      metrics.sockets.dec();
    });
    socket.on('error', ignoreSocketError);
    srv.emit('connection', socket);
  }

  /** TLS done: the first request must follow within idleTimeoutMs. */
  function onSecure(socket: TLSSocket): void {
    awaitingRequest.set(socket, performance.now() + config.idleTimeoutMs);
    socket.once('close', () => awaitingRequest.delete(socket));
  }

  /**
   * A response went out on a keep-alive socket: the next request's head must
   * be complete within idleTimeoutMs too. (Node's own headersTimeout is
   * checked only for sockets of a server that listens itself, not for the
   * ones handed over with `emit('connection')`.)
   */
  function awaitNextRequest(socket: TLSSocket): void {
    if (!socket.destroyed && closing === null) awaitingRequest.set(socket, performance.now() + config.idleTimeoutMs);
  }

  function dropIdle(now: number): void {
    for (const [socket, deadline] of awaitingRequest) {
      if (deadline > now) break;
      awaitingRequest.delete(socket);
      if (socket.destroyed) continue;
      metrics.refused.inc({ reason: DASHBOARD_REASONS.idle.metric });
      socket.destroy();
    }
  }

  function logAuthSummary(): void {
    const summary = authThrottle.takeSummary();
    if (summary === null) return;
    log.log('warn', 'dashboard.auth_refused', {
      refused: summary.refused,
      throttled: summary.throttled,
      ips: summary.ips,
      top: summary.top.join(', '),
      intervalMs: config.authFailureLogIntervalMs,
    });
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as TLSSocket;
    awaitingRequest.delete(socket);
    res.once('finish', () => awaitNextRequest(socket));
    const path = pathOf(req);
    const headers = securityHeaders(req.headers.host);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      let body: string;
      let status = 200;
      try {
        const health = options.health();
        if (health.ok === false) status = 503;
        body = JSON.stringify(health);
      } catch (err) {
        log.log('error', 'console.healthz', { error: err instanceof Error ? err.message : String(err) });
        res.writeHead(500, { ...headers, 'Content-Type': 'application/json' }).end('{"status":"error"}');
        return;
      }
      res.writeHead(status, { ...headers, 'Content-Type': 'application/json' }).end(body);
      return;
    }
    if (path === '/metrics') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(options.metrics.render());
      return;
    }
    if (path === STREAM_PATH) {
      res.writeHead(426, { ...headers, Upgrade: 'websocket', 'Content-Type': 'text/plain' }).end('this is a WebSocket endpoint\n');
      return;
    }
    const device = historyPathDevice(path);
    if (device !== null) {
      history.serve(req, res, device, headers);
      return;
    }
    const asset = assets.get(path);
    if (asset === undefined) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': asset.contentType, 'Content-Length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    awaitingRequest.delete(req.socket as TLSSocket);
    socket.on('error', () => socket.destroy());
    const remote = req.socket.remoteAddress ?? '?';
    if (closing !== null) {
      refuse(socket, 'shutting_down');
      return;
    }
    if (pathOf(req) !== STREAM_PATH) {
      refuse(socket, 'path');
      return;
    }
    // SPEC: an Origin, when present, must be allowed, else 403 and no WebSocket.
    if (!originAllowed(req.headers.origin, req.headers.host, config.origins)) {
      log.log('warn', 'dashboard.origin_refused', { ip: remote, origin: req.headers.origin });
      refuse(socket, 'origin');
      return;
    }
    if (sessions.size >= config.maxConnections) {
      refuse(socket, 'capacity');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (closing !== null) {
        ws.close(DASHBOARD_REASONS.shutdown.code, DASHBOARD_REASONS.shutdown.text);
        return;
      }
      sessions.add(new DashboardSession(ws, socket, host, remote));
      // Subscribed from the first dashboard on, before its snapshot: it misses no event.
      unsubscribeFeed ??= feed.subscribe(fanOut);
    });
  }

  /** Whoever noticed the new key (the poll or a dashboard's auth), every live token is checked against it. */
  function onKeyRotated(): void {
    log.log('warn', 'dashboard.token_key_rotated', { sessions: sessions.size });
    for (const session of sessions) session.reverify();
  }

  function checkKey(): void {
    try {
      keyFile?.refresh();
    } catch (err) {
      log.log('error', 'dashboard.token_key', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  return {
    async listen() {
      if (server !== null) throw new FleethubError('FH_ERR_LISTEN', 'console listener already started');
      keyFile = new TokenKeyFile(options.pkiDir, onKeyRotated);
      // Never listens itself: the gated net server hands it the sockets it admits.
      const srv = createServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2', handshakeTimeout: config.handshakeTimeoutMs }, onRequest);
      srv.on('upgrade', onUpgrade);
      srv.on('secureConnection', onSecure);
      srv.on('tlsClientError', (_err: Error, socket: TLSSocket) => {
        // Counted, not logged (scanners are not worth a line each); a TLS server leaves the socket to this listener.
        metrics.refused.inc({ reason: DASHBOARD_REASONS.tls_failed.metric });
        socket.destroy();
      });
      server = srv;
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(new FleethubError('FH_ERR_LISTEN', `console: cannot listen on ${config.host}:${config.port}: ${err.message}`, { cause: err }));
        net.once('error', onError);
        net.listen(config.port, config.host, () => {
          net.off('error', onError);
          resolve();
        });
      });
      // After start, accept errors (EMFILE when out of file descriptors) are logged, never fatal.
      net.on('error', (err: NodeJS.ErrnoException) => log.log('error', 'console.accept_failed', { error: err.code ?? err.message }));
      keyTimer = setInterval(checkKey, config.tokenKeyCheckMs);
      idleTimer = setInterval(() => dropIdle(performance.now()), idleSweepMs(config.idleTimeoutMs));
      summaryTimer = setInterval(logAuthSummary, config.authFailureLogIntervalMs);
      const address = net.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.port;
      log.log('info', 'console.listen', { host: config.host, port });
      return port;
    },

    close() {
      closing ??= (async () => {
        clearInterval(keyTimer);
        clearInterval(idleTimer);
        clearInterval(summaryTimer);
        unsubscribeFeed?.();
        unsubscribeFeed = null;
        if (server === null) return;
        const netClosed = new Promise<void>((resolve) => net.close(() => resolve()));
        // Each session ends within its close grace (the socket is destroyed if the peer is silent).
        const drained = new Promise<void>((resolve) => {
          onEmpty = resolve;
          if (sessions.size === 0) resolve();
        });
        for (const session of sessions) session.close('shutdown');
        await drained;
        logAuthSummary();
        // Every socket came through the gate (the https server tracks none of its own: it never listens).
        for (const socket of sockets) socket.destroy();
        awaitingRequest.clear();
        await netClosed;
        wss.close();
      })();
      return closing;
    },
  };
}
