/**
 * Starts a real hub for tests: a throwaway PKI (test/helpers/pki.ts) unless
 * one is given, a temp data dir, both listeners on 127.0.0.1 port 0. The
 * config is built from the DEFAULT_* constants with the test's overrides.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_AUTH_TIMEOUT_MS, DEFAULT_CRL_CHECK_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_LIMITS, DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_BUFFERED_MESSAGES, DEFAULT_MAX_CLIENT_MESSAGES_PER_SEC, DEFAULT_MAX_CLIENT_PAYLOAD_BYTES, DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_CONNECTIONS_PER_TOKEN, DEFAULT_MAX_DASHBOARD_CONNECTIONS, DEFAULT_MAX_INVALID_IN_ROW,
  DEFAULT_MAX_REFUSED_IN_ROW, DEFAULT_MAX_SUBSCRIPTIONS, DEFAULT_NEW_CONNECTIONS_PER_IP_PER_SEC, DEFAULT_PING_INTERVAL_MS,
  DEFAULT_RETENTION_BYTES, DEFAULT_RETENTION_HOURS, DEFAULT_SEGMENT_BYTES, DEFAULT_STALLED_CLOSE_MS,
  type ConsoleListenerConfig, type DeviceLimits, type DeviceListenerConfig, type HubConfig, type StoreConfig,
} from '../../src/hub/config.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import type { Logger } from '../../src/log.js';
import { makeTestPki, type TestPki } from './pki.js';

/** Parts of the config a test changes. */
export interface HubOverrides {
  limits?: Partial<DeviceLimits>;
  device?: Partial<DeviceListenerConfig>;
  console?: Partial<ConsoleListenerConfig>;
  plans?: Record<string, Partial<DeviceLimits>>;
  store?: Partial<StoreConfig>;
  /** Reuse a data dir (a restart); it is then not deleted by stop(). */
  dataDir?: string;
  log?: Logger;
}

/** A running test hub. */
export interface TestHub {
  hub: Hub;
  config: HubConfig;
  /** `wss://127.0.0.1:<port>/v1/device` */
  deviceUrl: string;
  /** `https://127.0.0.1:<port>` (port 0 until the console listener is wired in). */
  consoleUrl: string;
  devicePort: number;
  consolePort: number;
  pki: TestPki;
  dataDir: string;
  /** Closes the hub; deletes the data dir and the PKI when this helper made them. */
  stop(): Promise<void>;
}

/** The config a test hub runs with: defaults, 127.0.0.1, port 0, short CRL polling. */
export function testHubConfig(pkiDir: string, dataDir: string, overrides: HubOverrides = {}): HubConfig {
  const limits: DeviceLimits = { ...DEFAULT_LIMITS, ...overrides.limits };
  const plans: Record<string, DeviceLimits> = {};
  for (const [name, plan] of Object.entries(overrides.plans ?? {})) plans[name] = { ...limits, ...plan };
  return {
    device: {
      host: '127.0.0.1',
      port: 0,
      maxConnections: DEFAULT_MAX_CONNECTIONS,
      maxConnectionsPerIp: DEFAULT_MAX_CONNECTIONS_PER_IP,
      newConnectionsPerIpPerSec: DEFAULT_NEW_CONNECTIONS_PER_IP_PER_SEC,
      handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
      pingIntervalMs: DEFAULT_PING_INTERVAL_MS,
      maxInvalidInRow: DEFAULT_MAX_INVALID_IN_ROW,
      maxRefusedInRow: DEFAULT_MAX_REFUSED_IN_ROW,
      crlCheckMs: Math.min(DEFAULT_CRL_CHECK_MS, 250),
      ...overrides.device,
    },
    console: {
      host: '127.0.0.1',
      port: 0,
      origins: null,
      authTimeoutMs: DEFAULT_AUTH_TIMEOUT_MS,
      maxBufferedMessages: DEFAULT_MAX_BUFFERED_MESSAGES,
      maxBufferedBytes: DEFAULT_MAX_BUFFERED_BYTES,
      stalledCloseMs: DEFAULT_STALLED_CLOSE_MS,
      maxConnectionsPerToken: DEFAULT_MAX_CONNECTIONS_PER_TOKEN,
      maxConnections: DEFAULT_MAX_DASHBOARD_CONNECTIONS,
      maxClientMessagesPerSec: DEFAULT_MAX_CLIENT_MESSAGES_PER_SEC,
      maxClientPayloadBytes: DEFAULT_MAX_CLIENT_PAYLOAD_BYTES,
      maxSubscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
      ...overrides.console,
    },
    pkiDir,
    dataDir,
    limits,
    plans,
    store: {
      segmentBytes: DEFAULT_SEGMENT_BYTES,
      retentionBytes: DEFAULT_RETENTION_BYTES,
      retentionHours: DEFAULT_RETENTION_HOURS,
      ...overrides.store,
    },
  };
}

/** Starts a hub on 127.0.0.1 port 0 with a temp data dir (and a temp PKI unless `pki` is given). */
export async function startHub(overrides: HubOverrides = {}, pki?: TestPki): Promise<TestHub> {
  const ownPki = pki === undefined;
  const usedPki = pki ?? (await makeTestPki());
  const ownData = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? (await mkdtemp(join(tmpdir(), 'fleethub-data-')));
  const config = testHubConfig(usedPki.dir, dataDir, overrides);
  const hub = createHub(config, overrides.log === undefined ? {} : { log: overrides.log });
  let ports;
  try {
    ports = await hub.listen();
  } catch (err) {
    await hub.close();
    if (ownData) await rm(dataDir, { recursive: true, force: true });
    if (ownPki) await usedPki.cleanup();
    throw err;
  }
  return {
    hub,
    config,
    deviceUrl: `wss://127.0.0.1:${ports.devicePort}/v1/device`,
    consoleUrl: `https://127.0.0.1:${ports.consolePort}`,
    devicePort: ports.devicePort,
    consolePort: ports.consolePort,
    pki: usedPki,
    dataDir,
    async stop() {
      await hub.close();
      if (ownData) await rm(dataDir, { recursive: true, force: true });
      if (ownPki) await usedPki.cleanup();
    },
  };
}

/** Polls `probe` every 20 ms until it is true; fails after `timeoutMs` (a generous wait, not a timing assertion). */
export async function waitUntil(probe: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The value of one line of the hub's /metrics text, e.g. `fleethub_tls_handshakes_total{result="full"}` (0 when absent). */
export function metricValue(hub: Hub, line: string): number {
  const found = hub.metrics.render().split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}
