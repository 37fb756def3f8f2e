/**
 * Starts a real hub for tests: a throwaway PKI (test/helpers/pki.ts) unless
 * one is given, a temp data dir, both listeners on 127.0.0.1 port 0. The
 * config is built from the DEFAULT_* constants with the test's overrides.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_CRL_CHECK_MS,
  resolveHubConfig,
  type ConsoleListenerConfig, type DeviceLimits, type DeviceListenerConfig, type HubConfig, type ProxyProtocolConfig, type StoreConfig,
} from '../../src/hub/config.js';
import { createHub, type Hub, type HubOptions } from '../../src/hub/hub.js';
import type { Logger } from '../../src/log.js';
import { makeTestPki, type TestPki } from './pki.js';

/** Parts of the config a test changes. */
export interface HubOverrides {
  limits?: Partial<DeviceLimits>;
  device?: Partial<Omit<DeviceListenerConfig, 'proxyProtocol'>> & { proxyProtocol?: Partial<ProxyProtocolConfig> };
  console?: Partial<ConsoleListenerConfig>;
  plans?: Record<string, Partial<DeviceLimits>>;
  store?: Partial<StoreConfig>;
  /** The `provisioning` section, as a config file holds it. */
  provisioning?: Record<string, unknown>;
  /** The `renewal` section, as a config file holds it. */
  renewal?: Record<string, unknown>;
  /** The `commands` allow-list, as in a config file. */
  commands?: Record<string, unknown>;
  /** Reuse a data dir (a restart); it is then not deleted by stop(). */
  dataDir?: string;
  log?: Logger;
  /** The config's `cluster` section, as a file would have it (cluster mode). */
  cluster?: { node: string; nats: { servers: readonly string[] }; replicas?: number };
  /** Cluster tuning that is not in the config file (HubOptions.cluster). */
  clusterOptions?: HubOptions['cluster'];
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

/**
 * The config a test hub runs with: what the real resolver makes of the
 * test's overrides (so tests run on the defaults a user gets), on 127.0.0.1
 * port 0, with a short CRL poll.
 */
export function testHubConfig(pkiDir: string, dataDir: string, overrides: HubOverrides = {}): HubConfig {
  const { hub } = resolveHubConfig(
    {
      device: { host: '127.0.0.1', port: 0, crlCheckMs: Math.min(DEFAULT_CRL_CHECK_MS, 250), ...overrides.device },
      console: { host: '127.0.0.1', port: 0, ...overrides.console },
      limits: overrides.limits ?? {},
      plans: overrides.plans ?? {},
      store: overrides.store ?? {},
      ...(overrides.provisioning === undefined ? {} : { provisioning: overrides.provisioning }),
      ...(overrides.commands === undefined ? {} : { commands: overrides.commands }),
      ...(overrides.renewal === undefined ? {} : { renewal: overrides.renewal }),
      pkiDir,
      dataDir,
      ...(overrides.cluster === undefined ? {} : { cluster: overrides.cluster }),
    },
    { baseDir: dataDir },
  );
  return hub;
}

/** Starts a hub on 127.0.0.1 port 0 with a temp data dir (and a temp PKI unless `pki` is given). */
export async function startHub(overrides: HubOverrides = {}, pki?: TestPki): Promise<TestHub> {
  const ownPki = pki === undefined;
  const usedPki = pki ?? (await makeTestPki());
  const ownData = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? (await mkdtemp(join(tmpdir(), 'fleethub-data-')));
  const config = testHubConfig(usedPki.dir, dataDir, overrides);
  const hub = createHub(config, {
    ...(overrides.log === undefined ? {} : { log: overrides.log }),
    ...(overrides.clusterOptions === undefined ? {} : { cluster: overrides.clusterOptions }),
  });
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

// Test files of other areas import waitUntil from here; it is the one in wait.ts.
export { waitUntil } from './wait.js';

/** The value of one line of the hub's /metrics text, e.g. `fleethub_tls_handshakes_total{result="full"}` (0 when absent). */
export function metricValue(hub: Hub, line: string): number {
  const found = hub.metrics.render().split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}
