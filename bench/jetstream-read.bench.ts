/**
 * The JetStream store's sequential reads (`npm run bench -- jetstream-read`):
 * a backlog of readings in a three-node nats-server cluster (replicas 3),
 * read from start to end in pages of `readBatch` the way a sink runner
 * reads, once through the readers' consumers (the default) and once by one
 * get per reading (`readConsumers: 0`, the only way before). Readings per
 * second is how fast a sink can catch up, before the sink's own cost.
 *
 *   npm run bench -- jetstream-read
 *   JETSTREAM_READ_BENCH_READINGS=20000 npm run bench -- jetstream-read
 *
 * Writes bench/results/jetstream-read.json.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openJetStreamStore, type JetStreamStore } from '../src/store/jetstream-store.js';
import { DEFAULT_STORE_CONFIG } from '../src/store/store-config.js';
import type { Reading } from '../src/store/types.js';
import { startNatsCluster, type NatsCluster } from '../test/helpers/nats-cluster.js';
import { REPO_ROOT } from '../test/helpers/paths.js';

const READINGS = Number(process.env.JETSTREAM_READ_BENCH_READINGS ?? 10_000);
const DEVICES = 100;
const PAGE = 256;

interface Row {
  readonly scenario: string;
  readonly readings: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** CPU time of this process (the hub's side) per reading read, µs. */
  readonly hubCpuUsPerReading: number;
}

async function open(cluster: NatsCluster, prefix: string, readConsumers: number): Promise<JetStreamStore> {
  return openJetStreamStore(
    { node: 'bench', nats: { servers: cluster.urls, tls: null, creds: null }, replicas: 3 },
    { ...DEFAULT_STORE_CONFIG, retentionBytes: 0, retentionHours: 0 },
    { prefix, readConsumers },
  );
}

/** Reads every reading from position 0 in pages, as a sink runner does. */
async function readThrough(store: JetStreamStore, scenario: string): Promise<Row> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  let read = 0;
  for (let i = 0; i < READINGS && next < store.nextPosition(); i += 1) {
    const page = await store.read(next, PAGE);
    read += page.readings.length;
    next = page.next;
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  if (read !== READINGS) throw new Error(`${scenario}: read ${read} of ${READINGS}`);
  return {
    scenario,
    readings: read,
    seconds: Number(seconds.toFixed(2)),
    perSecond: Math.round(read / seconds),
    hubCpuUsPerReading: Number(((used.user + used.system) / read).toFixed(1)),
  };
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0];
  const cluster = await startNatsCluster({ nodes: 3 });
  const rows: Row[] = [];
  try {
    const prefix = `bench${process.pid}`;
    const writer = await open(cluster, prefix, 0);
    const fillStarted = performance.now();
    for (let seq = 1; seq <= READINGS / DEVICES; seq += 1) {
      const round: Reading[] = [];
      for (let d = 0; d < DEVICES; d += 1) round.push({ device: `bench-${d}`, seq, ts: Date.now(), data: { temp: 21.5, hum: 40 + (seq % 10), rssi: -60 } });
      await writer.append(round);
    }
    console.log(`backlog: ${READINGS} readings of ${DEVICES} devices stored in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`);
    await writer.close();
    // Each scenario is a fresh store (a hub starting a sink from position 0); the gets first, so the servers' caches favour neither.
    for (const [scenario, readConsumers] of [['one get per reading (readConsumers 0)', 0], ['readers\' consumers (readConsumers 4, default)', 4]] as const) {
      const store = await open(cluster, prefix, readConsumers);
      rows.push(await readThrough(store, scenario));
      await store.close();
    }
  } finally {
    await cluster.stop();
  }
  console.log(`\n| read ${READINGS} readings in pages of ${PAGE} (3 nats-servers, R3) | seconds | readings/s | hub CPU µs/reading |`);
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.scenario} | ${r.seconds} | ${r.perSecond} | ${r.hubCpuUsPerReading} |`);
  const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, loadBefore };
  await writeFile(resolve(REPO_ROOT, 'bench', 'results', 'jetstream-read.json'), `${JSON.stringify({ machine, readings: READINGS, devices: DEVICES, page: PAGE, rows }, null, 2)}\n`);
}

await main();
