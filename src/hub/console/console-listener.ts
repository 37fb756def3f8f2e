/**
 * The console listener (SPEC: Two listeners): HTTPS with the server
 * certificate only, serving `/` (the web dashboard), `/v1/stream` (dashboard
 * WebSockets), `/healthz` and `/metrics`.
 *
 * Authentication happens at the edge: the `upgrade` handler checks the path,
 * the Origin and the connection limit and answers 403/404/503 before any
 * WebSocket exists (`noServer` + `handleUpgrade`, not `verifyClient`); the
 * token is the first WebSocket message (dashboard-session.ts).
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CLOSE, FleethubError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { MetricsRegistry } from '../../metrics.js';
import type { ConsoleListenerConfig } from '../config.js';
import type { FeedEvent, LiveFeed } from '../live-feed.js';
import { registerDashboardMetrics, type DashboardMetrics } from './dashboard-metrics.js';
import { loadPageAssets, securityHeaders, type PageAsset } from './dashboard-page.js';
import { encodePresence, encodeReading, encodeRejected } from './dashboard-protocol.js';
import { DashboardSession, type SessionHost } from './dashboard-session.js';
import { originAllowed } from './origin-policy.js';
import { TokenKeyFile } from './token-key-file.js';

/** A TLS handshake on the console must finish within this time (Node's default is 120 s: too long for idle sockets). */
export const CONSOLE_HANDSHAKE_TIMEOUT_MS = 10_000;
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
  /** The body of `/healthz`. */
  health: () => Record<string, unknown>;
  log: Logger;
}

/** The running console listener. */
export interface ConsoleListener {
  /** Starts listening; resolves with the port (useful with port 0). */
  listen(): Promise<number>;
  /** Closes every dashboard (1001), then the server. Idempotent. */
  close(): Promise<void>;
}

function refuse(socket: Duplex, status: number, text: string): void {
  // A plain HTTP answer on the raw socket: no WebSocket was ever created.
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
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
  let keyFile: TokenKeyFile | null = null;
  let server: Server | null = null;
  let unsubscribeFeed: (() => void) | null = null;
  let keyTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | null = null;
  let onEmpty: (() => void) | null = null;

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

  /** Subscribed to the feed only while a dashboard is connected (see `ended` and the upgrade). */
  function fanOut(event: FeedEvent): void {
    // Encoded once, shared by every dashboard that wants it.
    const encoded =
      event.type === 'reading'
        ? encodeReading(event.reading)
        : event.type === 'presence'
          ? encodePresence(event.device, event.online)
          : encodeRejected(event.device, event.code, event.at);
    for (const session of sessions) session.deliver(event, encoded);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = pathOf(req);
    const headers = securityHeaders(req.headers.host);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      let body: string;
      try {
        body = JSON.stringify(options.health());
      } catch (err) {
        log.log('error', 'console.healthz', { error: err instanceof Error ? err.message : String(err) });
        res.writeHead(500, { ...headers, 'Content-Type': 'application/json' }).end('{"status":"error"}');
        return;
      }
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json' }).end(body);
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
    const asset = assets.get(path);
    if (asset === undefined) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': asset.contentType, 'Content-Length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const remote = req.socket.remoteAddress ?? '?';
    if (closing !== null) {
      refuse(socket, 503, 'Service Unavailable');
      return;
    }
    if (pathOf(req) !== STREAM_PATH) {
      metrics.refused.inc({ reason: 'path' });
      refuse(socket, 404, 'Not Found');
      return;
    }
    // SPEC: an Origin, when present, must be allowed, else 403 and no WebSocket.
    if (!originAllowed(req.headers.origin, req.headers.host, config.origins)) {
      metrics.refused.inc({ reason: 'origin' });
      log.log('warn', 'dashboard.origin_refused', { ip: remote, origin: req.headers.origin });
      refuse(socket, 403, 'Forbidden');
      return;
    }
    if (sessions.size >= config.maxConnections) {
      metrics.refused.inc({ reason: 'capacity' });
      refuse(socket, 503, 'Service Unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (closing !== null) {
        ws.close(CLOSE.GOING_AWAY, 'hub shutting down');
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
      const srv = createServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2', handshakeTimeout: CONSOLE_HANDSHAKE_TIMEOUT_MS }, onRequest);
      srv.headersTimeout = 10_000;
      srv.requestTimeout = 30_000;
      srv.on('upgrade', onUpgrade);
      srv.on('tlsClientError', () => {}); // scanners and bad handshakes are not worth a log line each
      server = srv;
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(new FleethubError('FH_ERR_LISTEN', `console: cannot listen on ${config.host}:${config.port}: ${err.message}`, { cause: err }));
        srv.once('error', onError);
        srv.listen(config.port, config.host, () => {
          srv.off('error', onError);
          resolve();
        });
      });
      keyTimer = setInterval(checkKey, config.tokenKeyCheckMs);
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.port;
      log.log('info', 'console.listen', { host: config.host, port });
      return port;
    },

    close() {
      closing ??= (async () => {
        clearInterval(keyTimer);
        unsubscribeFeed?.();
        unsubscribeFeed = null;
        const srv = server;
        if (srv === null) return;
        // Each session ends within its close grace (the socket is destroyed if the peer is silent).
        const drained = new Promise<void>((resolve) => {
          onEmpty = resolve;
          if (sessions.size === 0) resolve();
        });
        for (const session of sessions) session.close(CLOSE.GOING_AWAY, 'hub shutting down', 'shutdown');
        await drained;
        await new Promise<void>((resolve) => {
          srv.close(() => resolve());
          srv.closeAllConnections();
        });
        wss.close();
      })();
      return closing;
    },
  };
}
