/**
 * The bridge benchmark (`npm run bench -- bridge`): a backlog of readings in
 * the real log store, delivered by the real sinks to a local Mosquitto (QoS 1,
 * counted at PUBACK) and a local InfluxDB 1.x, each alone and both at once.
 * The time to deliver the whole backlog is the catch-up time after an outage
 * of that length; backlog / time is the sink's throughput.
 *
 *   npm run bench -- bridge
 *   BRIDGE_BENCH_READINGS=20000 npm run bench -- bridge
 *
 * Writes bench/results/bridge.json.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBridge, resolveSinkConfigs } from '../src/bridge/index.js';
import { openStore } from '../src/store/log-store.js';
import type { Reading, Store } from '../src/store/types.js';
import { SILENT_LOGGER } from '../src/log.js';
import { startInfluxd } from '../test/helpers/influxd.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { REPO_ROOT } from '../test/helpers/paths.js';
import { DEFAULT_STORE_CONFIG } from '../src/store/store-config.js';

const READINGS = Number(process.env.BRIDGE_BENCH_READINGS ?? 100_000);
const DEVICES = 100;

interface Row {
  readonly scenario: string;
  readonly readings: number;
  readonly seconds: number;
  readonly perSecond: number;
}

/** A store holding READINGS readings of DEVICES devices, four fields each. */
async function fillStore(dir: string): Promise<Store> {
  const store = await openStore(dir, { ...DEFAULT_STORE_CONFIG, segmentBytes: 64 * 1024 * 1024, retentionBytes: 0, retentionHours: 0 }, { log: SILENT_LOGGER });
  const start = Date.now() - READINGS;
  for (let i = 0; i < READINGS; i += 1000) {
    const batch: Reading[] = [];
    for (let j = i; j < Math.min(READINGS, i + 1000); j += 1) {
      batch.push({ device: `dev-${j % DEVICES}`, seq: Math.floor(j / DEVICES) + 1, ts: start + j, data: { temp: 20.5 + (j % 10), rssi: -60 - (j % 20), ok: true, fw: '1.2.3' } });
    }
    await store.append(batch);
  }
  return store;
}

/** Runs the bridge with `sinks` until every sink has delivered the whole backlog. */
async function catchUp(store: Store, scenario: string, sinks: unknown[]): Promise<Row> {
  const bridge = createBridge({ store, sinks: resolveSinkConfigs(sinks), dataDir: null, log: SILENT_LOGGER });
  const started = performance.now();
  bridge.start();
  const deadline = Date.now() + 10 * 60_000;
  while (!bridge.stats().every((s) => s.position >= READINGS)) {
    if (Date.now() > deadline) throw new Error(`${scenario}: not caught up within 10 minutes: ${JSON.stringify(bridge.stats())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  const failures = bridge.stats().reduce((n, s) => n + s.failures, 0);
  await bridge.close();
  if (failures > 0) console.warn(`${scenario}: ${failures} failed deliveries (retried)`);
  return { scenario, readings: READINGS, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(READINGS / seconds) };
}

/** Live: readings appended at `rate`/s for `seconds` while both sinks run; the largest lag and the drain time after. */
async function live(store: Store, rate: number, seconds: number, sinks: unknown[]): Promise<{ rate: number; seconds: number; maxLag: number; drainSeconds: number }> {
  const bridge = createBridge({ store, sinks: resolveSinkConfigs(sinks), dataDir: null, log: SILENT_LOGGER });
  bridge.start();
  // Start live from the current end: these sinks skip the backlog by catching up first.
  while (!bridge.stats().every((s) => s.position >= store.nextPosition())) await new Promise((r) => setTimeout(r, 20));
  const tickMs = 20;
  const perTick = Math.round((rate * tickMs) / 1000);
  let maxLag = 0;
  const started = performance.now();
  let n = 0;
  for (let tick = 0; (tick * tickMs) / 1000 < seconds; tick += 1) {
    const batch: Reading[] = [];
    for (let j = 0; j < perTick; j += 1, n += 1) batch.push({ device: `live-${n % DEVICES}`, seq: Math.floor(n / DEVICES) + 1, ts: Date.now(), data: { temp: 20.5, rssi: -60, ok: true, fw: '1.2.3' } });
    void store.append(batch);
    maxLag = Math.max(maxLag, ...bridge.stats().map((s) => s.lagMessages));
    const next = started + (tick + 1) * tickMs;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  const ingestEnded = performance.now();
  const end = store.nextPosition();
  while (!bridge.stats().every((s) => s.position >= end)) await new Promise((r) => setTimeout(r, 10));
  const drainSeconds = Math.round((performance.now() - ingestEnded) / 10) / 100;
  await bridge.close();
  return { rate, seconds, maxLag, drainSeconds };
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0;
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-bridge-bench-'));
  const [broker, nagleBroker, influxd] = await Promise.all([startMosquitto(), startMosquitto({ tcpNoDelay: false }), startInfluxd()]);
  const rows: Row[] = [];
  const liveRuns: Array<Awaited<ReturnType<typeof live>>> = [];
  try {
    const fillStarted = performance.now();
    const store = await fillStore(dir);
    console.log(`backlog: ${READINGS} readings of ${DEVICES} devices stored in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`);
    const mqtt = (name: string) => ({ type: 'mqtt', name, url: broker.url, qos: 1 });
    const influx = (name: string) => ({ type: 'influx', name, host: '127.0.0.1', port: influxd.port, database: name, createDatabase: true });
    // Each scenario uses fresh sink names, so each starts from position 0 (its own cursor).
    rows.push(await catchUp(store, 'mqtt QoS 1 (defaults: batchSize 1000, maxInflight 100)', [mqtt('mqtt-a')]));
    rows.push(await catchUp(store, 'mqtt QoS 0', [{ ...mqtt('mqtt-q0'), qos: 0 }]));
    rows.push(await catchUp(store, 'mqtt QoS 1, Mosquitto without set_tcp_nodelay', [{ ...mqtt('mqtt-nagle'), url: nagleBroker.url }]));
    rows.push(await catchUp(store, 'mqtt QoS 1, same broker, batchSize 5000, maxInflight 1000', [{ ...mqtt('mqtt-nagle-big'), url: nagleBroker.url, batchSize: 5000, maxInflight: 1000 }]));
    rows.push(await catchUp(store, 'influx (defaults: batchSize 5000)', [influx('influx_a')]));
    const both = await catchUp(store, 'mqtt QoS 1 + influx together', [mqtt('mqtt-b'), influx('influx_b')]);
    rows.push(both);
    liveRuns.push(await live(store, 5_000, 10, [mqtt('live-mqtt'), influx('live_influx')]));
    liveRuns.push(await live(store, 10_000, 10, [mqtt('live-mqtt2'), influx('live_influx2')]));
    await store.close();
  } finally {
    await Promise.all([broker.stop(), nagleBroker.stop(), influxd.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
  console.log('\n| scenario | readings | catch-up (s) | readings/s |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.scenario} | ${r.readings} | ${r.seconds} | ${r.perSecond} |`);
  console.log('\n| live ingest (store fsync) with mqtt QoS 1 + influx | largest lag (readings) | drained after ingest stopped (s) |');
  console.log('| --- | ---: | ---: |');
  for (const l of liveRuns) console.log(`| ${l.rate} readings/s for ${l.seconds} s | ${l.maxLag} | ${l.drainSeconds} |`);
  const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, loadBefore };
  await writeFile(resolve(REPO_ROOT, 'bench', 'results', 'bridge.json'), `${JSON.stringify({ machine, readings: READINGS, devices: DEVICES, rows, live: liveRuns }, null, 2)}\n`);
}

await main();
