/**
 * The hub benchmark's ingest load shape, and the same load as MQTT QoS 1
 * publishes to Debian's Mosquitto with `require_certificate`: what users
 * would pick instead (bench/hub.bench.ts runs it after the hub and the bare
 * server, when Mosquitto is installed). Broker CPU comes from /proc.
 */
import { readdir, readFile } from 'node:fs/promises';
import { connect as mqttConnect, type MqttClient } from 'mqtt';
import { pkiPaths } from '../src/pki/index.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';

/** A device's id, certificate and key (PEM). */
export interface Creds { id: string; cert: string; key: string }

/** Measured seconds of each paced and windowed window. */
export const PACED_SECONDS = 10;
export const WINDOWED_SECONDS = 5;
/** Windowed ingest: this many connections, each with up to WINDOW unacked messages. */
export const WINDOW = 32;
export const WINDOWED_CONNECTIONS = 100;

/** The `p`th percentile of ascending `sorted` (0 when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The Mosquitto process serving `port`: the one whose config (from its command line) listens there. */
async function mosquittoPid(port: number): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (cmdline[0] !== '/usr/sbin/mosquitto' || cmdline[1] !== '-c' || cmdline[2] === undefined) continue;
    const conf = await readFile(cmdline[2], 'utf8').catch(() => '');
    if (conf.includes(`listener ${port} `)) return Number(entry);
  }
  throw new Error(`no mosquitto process for port ${port}`);
}

/** CPU ms of a process from /proc/<pid>/stat (utime + stime, in clock ticks of 10 ms). */
async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Paced and windowed QoS 1 publishing to Mosquitto with `require_certificate`: the same work, what users would pick instead. */
export async function mosquittoIngest(pkiDir: string, devices: readonly Creds[], row: (name: string, values: Record<string, number>) => void): Promise<void> {
  const paths = pkiPaths(pkiDir);
  const broker = await startMosquitto({ tls: { ca: paths.caCert, cert: paths.serverCert, key: paths.serverKey, requireCertificate: true } });
  const pid = await mosquittoPid(broker.port);
  const ca = await readFile(paths.caCert, 'utf8');
  const clients: MqttClient[] = [];
  try {
    const connectOne = (d: Creds): Promise<MqttClient> => new Promise((resolve, reject) => {
      const client = mqttConnect(broker.url, { ca, cert: d.cert, key: d.key, servername: 'localhost', clientId: d.id, reconnectPeriod: 0, protocolVersion: 4 });
      client.once('connect', () => resolve(client));
      client.once('error', reject);
    });
    for (let i = 0; i < devices.length; i += 50) clients.push(...(await Promise.all(devices.slice(i, i + 50).map(connectOne))));
    for (const mode of ['windowed', 'paced'] as const) {
      const active = mode === 'windowed' ? clients.slice(0, WINDOWED_CONNECTIONS) : clients;
      const latencies: number[] = [];
      let acked = 0;
      let running = true;
      const timers: NodeJS.Timeout[] = [];
      let seq = 0;
      const publish = (client: MqttClient, again: boolean): void => {
        const at = performance.now();
        seq += 1;
        client.publish(`fleethub/${client.options.clientId}/telemetry`, `{"seq":${seq},"data":{"temp":21.5,"hum":40.2,"ok":true}}`, { qos: 1 }, (err) => {
          if (err) return;
          latencies.push(performance.now() - at);
          acked += 1;
          if (again && running) publish(client, true);
        });
      };
      active.forEach((client, index) => {
        if (mode === 'windowed') for (let i = 0; i < WINDOW; i += 1) publish(client, true);
        else timers.push(setTimeout(() => running && timers.push(setInterval(() => running && publish(client, false), 100)), (index * 100) / active.length));
      });
      await new Promise((r) => setTimeout(r, 1000));
      latencies.length = 0;
      const ackedAtStart = acked;
      const cpuBefore = await processCpuMs(pid);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, (mode === 'paced' ? PACED_SECONDS : WINDOWED_SECONDS) * 1000));
      const cpuAfter = await processCpuMs(pid);
      const seconds = (performance.now() - t0) / 1000;
      const messages = acked - ackedAtStart;
      running = false;
      for (const t of timers) clearInterval(t);
      await new Promise((r) => setTimeout(r, 500));
      latencies.sort((a, b) => a - b);
      const name = mode === 'windowed' ? `windowed ${WINDOWED_CONNECTIONS}x${WINDOW} (mosquitto)` : `paced ${devices.length} devices x 10/s (mosquitto)`;
      row(name, {
        messages,
        cpuUsPerMsg: ((cpuAfter - cpuBefore) * 1000) / Math.max(1, messages),
        msgsPerSec: messages / seconds,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
      });
    }
  } finally {
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.end(true, {}, () => resolve()))));
    await broker.stop();
  }
}
