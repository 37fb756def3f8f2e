/**
 * Starts Debian's InfluxDB 1.x (`/usr/bin/influxd run -config <temp conf>`)
 * with meta, data and WAL in a temp dir and every port (HTTP and the RPC
 * bind-address) on a free loopback port; reporting disabled. Ready when
 * `/ping` answers 204.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireBinary, ServiceProcess, startService } from './service-process.js';

const INFLUXD = '/usr/bin/influxd';

/** A running influxd. */
export interface Influxd {
  readonly port: number;
  /** http://127.0.0.1:port, or https://localhost:port with TLS */
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

/** Options of {@link startInfluxd}. */
export interface InfluxdOptions {
  /** Serve HTTPS with this certificate and key (PEM file paths); `ca` (a path) is trusted by {@link Influxd.query}. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
}

/** How long a query may go unanswered before it fails. */
const QUERY_TIMEOUT_MS = 10_000;
/**
 * How long one readiness ping may go unanswered. A restarting influxd can
 * accept a connection before it answers; the ping then fails and is retried
 * rather than waiting forever.
 */
const PING_TIMEOUT_MS = 2_000;

/** GET `url`, trusting `ca` for https; status and body. Fails when the socket is idle for `timeoutMs`. */
async function get(url: string, ca: Buffer | undefined, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const transport = url.startsWith('https:') ? https : http;
    const request = transport.get(url, { ca, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    request.on('timeout', () => request.destroy(new Error(`influxd: no answer to GET ${url} within ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

/** Starts influxd; throws a clear error when it is not installed. */
export async function startInfluxd(options: InfluxdOptions = {}): Promise<Influxd> {
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
${options.tls === undefined ? '' : `  https-enabled = true\n  https-certificate = "${options.tls.cert}"\n  https-private-key = "${options.tls.key}"\n`}[logging]
  level = "warn"
`;
  const confPath = join(dir, 'influxdb.conf');
  await writeFile(confPath, conf);
  const url = `${options.tls === undefined ? 'http' : 'https'}://${options.tls === undefined ? '127.0.0.1' : 'localhost'}:${port}`;
  const ca = options.tls === undefined ? undefined : await readFile(options.tls.ca);
  const process = new ServiceProcess('influxd', INFLUXD, ['run', '-config', confPath]);
  const ready = async (): Promise<boolean> => (await get(`${url}/ping`, ca, PING_TIMEOUT_MS)).status === 204;
  const controls = await startService(process, dir, ready);
  return {
    ...controls,
    port,
    url,
    async query(database, q) {
      const response = await get(`${url}/query?${new URLSearchParams({ db: database, q, epoch: 'ms' })}`, ca, QUERY_TIMEOUT_MS);
      const body = JSON.parse(response.body) as { results?: InfluxResult[]; error?: string };
      if (response.status !== 200 || body.results === undefined) throw new Error(`influx query failed: ${response.status} ${body.error ?? ''}`);
      return body.results;
    },
  };
}
