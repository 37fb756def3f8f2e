/**
 * Starts Debian's InfluxDB 1.x (`/usr/bin/influxd run -config <temp conf>`)
 * with meta, data and WAL in a temp dir and every port (HTTP and the RPC
 * bind-address) on a free loopback port; reporting disabled. Ready when
 * `/ping` answers 204.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireBinary, ServiceProcess } from './service-process.js';

const INFLUXD = '/usr/bin/influxd';

/** A running influxd. */
export interface Influxd {
  readonly port: number;
  /** http://127.0.0.1:port */
  readonly url: string;
  /** Runs an InfluxQL query; the JSON `results`. */
  query(database: string, q: string): Promise<InfluxResult[]>;
  /** Stops it and deletes its data. Idempotent. */
  stop(): Promise<void>;
  /** Stops the process only (an outage); {@link start} brings it back with its data, on the same ports. */
  pause(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
}

/** One statement's result of `/query`. */
export interface InfluxResult {
  readonly series?: Array<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }>;
  readonly error?: string;
}

/** Starts influxd; throws a clear error when it is not installed. */
export async function startInfluxd(): Promise<Influxd> {
  requireBinary(INFLUXD, 'influxdb');
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-influxd-'));
  const port = await freePort();
  const rpcPort = await freePort();
  const conf = `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${dir}/meta"
  logging-enabled = false
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[retention]
  enabled = false
[continuous_queries]
  enabled = false
[ifql]
  enabled = false
[http]
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
[logging]
  level = "warn"
`;
  const confPath = join(dir, 'influxdb.conf');
  await writeFile(confPath, conf);
  const url = `http://127.0.0.1:${port}`;
  const process = new ServiceProcess('influxd', INFLUXD, ['run', '-config', confPath]);
  const ready = async (): Promise<boolean> => (await fetch(`${url}/ping`)).status === 204;
  try {
    await process.start(ready);
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    port,
    url,
    async query(database, q) {
      const response = await fetch(`${url}/query?${new URLSearchParams({ db: database, q, epoch: 'ms' })}`);
      const body = (await response.json()) as { results?: InfluxResult[]; error?: string };
      if (!response.ok || body.results === undefined) throw new Error(`influx query failed: ${response.status} ${body.error ?? ''}`);
      return body.results;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await process.stop();
      await rm(dir, { recursive: true, force: true });
    },
    pause: () => process.stop(),
    start: () => process.start(ready),
    async restart() {
      await process.stop();
      await process.start(ready);
    },
  };
}
