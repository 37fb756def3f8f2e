/**
 * A console listener on 127.0.0.1:0 with a {@link TestFeed}, a temp PKI
 * folder and a real `ws` client over TLS that trusts the test CA.
 */
import WebSocket from 'ws';
import { tmpdir } from 'node:os';
import { resolveHubConfig, type ConsoleListenerConfig } from '../../src/hub/config.js';
import { createConsoleListener } from '../../src/hub/console/console-listener.js';
import { signToken } from '../../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey } from '../../src/hub/console/token-key-file.js';
import { createMemoryLogger } from '../../src/log.js';
import { MetricsRegistry } from '../../src/metrics.js';
import { TestFeed } from '../helpers/feed.js';
import { makeTestPki } from '../helpers/pki.js';

/** How a test dashboard client connects. */
export interface ConnectOptions {
  origin?: string;
  headers?: Record<string, string>;
  /** false: the client never answers the hub's pings (a dashboard that stopped responding). */
  autoPong?: boolean;
  /** Source address (127.0.0.0/8 is all loopback on Linux): a client from another IP. */
  localAddress?: string;
}

/** A message the client received, parsed. */
export type Json = Record<string, unknown>;

/** A dashboard client with a queue of received messages. */
export interface TestClient {
  readonly ws: WebSocket;
  /** Resolves with the next message matching `match` (earlier non-matching ones are skipped). */
  next(match?: (m: Json) => boolean, timeoutMs?: number): Promise<Json>;
  /** Every message received so far and not yet taken by `next`. */
  readonly pending: Json[];
  send(value: unknown): void;
  /** Resolves with the close code once the connection is closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
}

/** A running console for one test. */
export interface ConsoleFixture {
  readonly feed: TestFeed;
  readonly metrics: MetricsRegistry;
  readonly pkiDir: string;
  readonly ca: string;
  readonly port: number;
  readonly streamUrl: string;
  readonly baseUrl: string;
  readonly log: ReturnType<typeof createMemoryLogger>;
  token(devices: string, ttlMs?: number, now?: number): string;
  connect(options?: ConnectOptions): Promise<TestClient>;
  /** Opens a socket and authenticates it with a token for `devices`. */
  authed(devices: string): Promise<TestClient>;
  /** Closes the listener only (dashboards see the hub shut down). */
  closeListener(): Promise<void>;
  stop(): Promise<void>;
}

/** The console config a user gets by default, on 127.0.0.1 port 0. */
const BASE_CONFIG: ConsoleListenerConfig = resolveHubConfig({ console: { host: '127.0.0.1', port: 0 } }, { baseDir: tmpdir() }).hub.console;

/** Connects a dashboard client to `url`. Rejects on an HTTP refusal (its status in the message). */
export function connectClient(url: string, ca: string, options: ConnectOptions = {}): Promise<TestClient> {
  const ws = new WebSocket(url, {
    ca, origin: options.origin, headers: options.headers, autoPong: options.autoPong ?? true,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });
  const pending: Json[] = [];
  const waiters: { match: (m: Json) => boolean; resolve: (m: Json) => void }[] = [];
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as Json;
    const i = waiters.findIndex((w) => w.match(message));
    if (i >= 0) {
      const [waiter] = waiters.splice(i, 1);
      waiter?.resolve(message);
    } else {
      pending.push(message);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  const client: TestClient = {
    ws,
    pending,
    closed,
    send: (value) => ws.send(typeof value === 'string' ? value : JSON.stringify(value)),
    next(match = () => true, timeoutMs = 5_000) {
      const i = pending.findIndex(match);
      if (i >= 0) return Promise.resolve(pending.splice(i, 1)[0] as Json);
      return new Promise<Json>((resolve, reject) => {
        const waiter = {
          match,
          resolve: (m: Json) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no matching message within ${timeoutMs} ms; pending: ${JSON.stringify(pending).slice(0, 500)}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** Resolves with the client's close code; rejects when it is still open after `timeoutMs` (a generous wait, not a timing assertion). */
export function closeCode(client: TestClient, timeoutMs = 10_000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([client.closed, deadline]).then(
    ({ code }) => {
      clearTimeout(timer);
      return code;
    },
    (err: unknown) => {
      clearTimeout(timer);
      throw err;
    },
  );
}

/** Starts a console listener with `overrides` on top of the defaults. */
export async function startConsole(overrides: Partial<ConsoleListenerConfig> = {}): Promise<ConsoleFixture> {
  const pki = await makeTestPki();
  const pkiDir = pki.dir;
  const tls = pki.server;
  const feed = new TestFeed();
  const metrics = new MetricsRegistry();
  const log = createMemoryLogger();
  const listener = createConsoleListener({
    config: { ...BASE_CONFIG, ...overrides },
    tls,
    pkiDir,
    feed,
    metrics,
    health: () => ({ status: 'ok', devicesOnline: [...feed.onlineDevices()].length }),
    log,
  });
  const port = await listener.listen();
  const streamUrl = `wss://127.0.0.1:${port}/v1/stream`;
  const clients: TestClient[] = [];
  const fixture: ConsoleFixture = {
    feed,
    metrics,
    pkiDir,
    ca: pki.ca,
    port,
    streamUrl,
    baseUrl: `https://127.0.0.1:${port}`,
    log,
    token: (devices, ttlMs, now) => signToken(loadOrCreateTokenKey(pkiDir), { devices, ttlMs, now }).token,
    async connect(options) {
      const client = await connectClient(streamUrl, pki.ca, options);
      clients.push(client);
      return client;
    },
    async authed(devices) {
      const client = await fixture.connect();
      client.send({ auth: fixture.token(devices) });
      await client.next((m) => 'authed' in m);
      return client;
    },
    closeListener: () => listener.close(),
    async stop() {
      for (const client of clients) client.ws.terminate();
      await listener.close();
      await pki.cleanup();
    },
  };
  return fixture;
}

/** A GET over HTTPS trusting `ca` (test/helpers/https-get.ts). */
export { httpsGet } from '../helpers/https-get.js';
