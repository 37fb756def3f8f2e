/**
 * The history scenario of the store benchmark (bench/store.bench.ts):
 * a day of a fleet at one reading every 10 s per device (1,000 devices:
 * 8.64 M readings) in the embedded log with its default segment size, then
 *
 * - one device's last 24 h (8,640 readings) in one page of 10,000, and in
 *   pages of the default 1,000, after a reopen (sealed segments answer from
 *   their index files), p50 and max over several devices;
 * - the history index's share of the store's write CPU: the same readings
 *   noted into segment indexes and their files written, exactly as the store
 *   does on commit and on rollover, timed alone, against the CPU of the whole
 *   fill (appends, group commits, checkpoints, rollovers, the index itself).
 *
 * `STORE_BENCH_HISTORY_DEVICES` scales the fleet down (each device still has
 * a whole day: the query's work is the same, the log around it smaller).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStore } from '../src/store/log-store.js';
import { recordBytes } from '../src/store/record-codec.js';
import { SegmentHistory } from '../src/store/history/segment-history.js';
import { DEFAULT_STORE_CONFIG, type StoreConfig } from '../src/store/store-config.js';
import type { Reading } from '../src/store/types.js';

const DAY_MS = 86_400_000;
const INTERVAL_MS = 10_000;
const READINGS_PER_DEVICE = DAY_MS / INTERVAL_MS;
/** Steps of the fleet per append: a minute of readings of every device in one group commit. */
const STEPS_PER_APPEND = 6;
const QUERY_DEVICES = 10;

/** What the history scenario measured. */
export interface HistoryResult {
  readonly devices: number;
  readonly readings: number;
  readonly logMiB: number;
  readonly indexMiB: number;
  readonly fillSeconds: number;
  readonly fillCpuSeconds: number;
  readonly indexCpuSeconds: number;
  readonly indexShareOfWriteCpu: string;
  readonly last24hReadings: number;
  readonly last24hOnePageP50Ms: number;
  readonly last24hOnePageMaxMs: number;
  /** CPU time of the one-page query (p50): what the wall time is on a quiet machine. */
  readonly last24hOnePageCpuP50Ms: number;
  readonly last24hPagesOf1000P50Ms: number;
}

const deviceName = (d: number): string => `dev-${String(d).padStart(4, '0')}`;

/** Step `k` of device `d`: a typical ESP32 reading. */
function sample(d: number, k: number, dayStart: number): Reading {
  return {
    device: deviceName(d),
    seq: k + 1,
    ts: dayStart + k * INTERVAL_MS + (d % 10) * 37,
    data: { temp: 21.5 + (k % 7) / 10, hum: 40 + (k % 13), rssi: -60 - (k % 20), vbat: 3.71 },
  };
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/** The index work of the fill, alone: note every reading, write each segment's index file at rollover. */
async function indexAlone(root: string, devices: number, dayStart: number, config: StoreConfig): Promise<{ cpuSeconds: number; bytes: number }> {
  const dir = await mkdtemp(join(root, 'index-'));
  let history = new SegmentHistory(dir, 0);
  let segmentBytes = 0;
  let ordinal = 0;
  let bytes = 0;
  let base = 0;
  const start = process.cpuUsage();
  for (let k = 0; k < READINGS_PER_DEVICE; k += 1) {
    for (let d = 0; d < devices; d += 1) {
      const r = sample(d, k, dayStart);
      const frame = recordBytes(Buffer.byteLength(r.device), Buffer.byteLength(JSON.stringify(r.data)));
      history.note(r.device, r.ts, segmentBytes, frame);
      segmentBytes += frame;
      ordinal += 1;
    }
    if (segmentBytes >= config.segmentBytes) {
      await history.write();
      bytes += history.readings * 24;
      base += ordinal;
      history = new SegmentHistory(dir, base);
      segmentBytes = 0;
      ordinal = 0;
    }
  }
  const cpu = cpuSeconds(start);
  // The JSON and byte counting above is the store's work too (it has both at hand): take it back out.
  const overhead = process.cpuUsage();
  for (let k = 0; k < READINGS_PER_DEVICE; k += 1) {
    for (let d = 0; d < devices; d += 1) {
      const r = sample(d, k, dayStart);
      recordBytes(Buffer.byteLength(r.device), Buffer.byteLength(JSON.stringify(r.data)));
    }
  }
  const sampling = cpuSeconds(overhead);
  await rm(dir, { recursive: true, force: true });
  return { cpuSeconds: Math.max(0, cpu - sampling), bytes };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Runs the scenario in a folder under `root`. */
export async function historyScenario(root: string, devices: number, config: StoreConfig = DEFAULT_STORE_CONFIG): Promise<HistoryResult> {
  const dir = join(root, 'history');
  const dayStart = Date.UTC(2026, 0, 1);
  let store = await openStore(dir, config);
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < READINGS_PER_DEVICE; k += STEPS_PER_APPEND) {
    const batch: Reading[] = [];
    for (let s = k; s < Math.min(k + STEPS_PER_APPEND, READINGS_PER_DEVICE); s += 1) {
      for (let d = 0; d < devices; d += 1) batch.push(sample(d, s, dayStart));
    }
    await store.append(batch);
  }
  const fillSeconds = (performance.now() - t0) / 1000;
  const fillWithGeneration = cpuSeconds(cpu);
  // The store's write CPU: the fill without making up the readings, timed alone here.
  const generation = process.cpuUsage();
  for (let k = 0; k < READINGS_PER_DEVICE; k += STEPS_PER_APPEND) {
    const batch: Reading[] = [];
    for (let s = k; s < Math.min(k + STEPS_PER_APPEND, READINGS_PER_DEVICE); s += 1) {
      for (let d = 0; d < devices; d += 1) batch.push(sample(d, s, dayStart));
    }
  }
  const fillCpuSeconds = fillWithGeneration - cpuSeconds(generation);
  const { bytes, readings } = store.stats();
  await store.close();
  store = await openStore(dir, config);

  const to = dayStart + DAY_MS;
  const onePage: number[] = [];
  const onePageCpu: number[] = [];
  const paged: number[] = [];
  let last24hReadings = 0;
  for (let q = 0; q < QUERY_DEVICES; q += 1) {
    const device = deviceName(Math.floor((q * devices) / QUERY_DEVICES));
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    const page = await store.history({ device, from: to - DAY_MS, to, limit: 10_000 });
    onePageCpu.push(cpuSeconds(c1) * 1000);
    onePage.push(performance.now() - t1);
    last24hReadings = page.readings.length;
    const t2 = performance.now();
    let cursor: string | undefined;
    let got = 0;
    // Bounded: 8,640 readings in pages of 1,000.
    for (let p = 0; p < 20; p += 1) {
      const next = await store.history({ device, from: to - DAY_MS, to, limit: 1000, cursor });
      got += next.readings.length;
      if (next.next === null) break;
      cursor = next.next;
    }
    paged.push(performance.now() - t2);
    if (got !== last24hReadings || got !== READINGS_PER_DEVICE) throw new Error(`${device}: expected ${READINGS_PER_DEVICE} readings, got ${got} and ${last24hReadings}`);
  }
  await store.close();
  await rm(dir, { recursive: true, force: true });
  const index = await indexAlone(root, devices, dayStart, config);
  return {
    devices,
    readings,
    logMiB: Number((bytes / 2 ** 20).toFixed(1)),
    indexMiB: Number((index.bytes / 2 ** 20).toFixed(1)),
    fillSeconds: Number(fillSeconds.toFixed(1)),
    fillCpuSeconds: Number(fillCpuSeconds.toFixed(1)),
    indexCpuSeconds: Number(index.cpuSeconds.toFixed(2)),
    indexShareOfWriteCpu: `${((100 * index.cpuSeconds) / fillCpuSeconds).toFixed(1)} %`,
    last24hReadings,
    last24hOnePageP50Ms: Number(median(onePage).toFixed(1)),
    last24hOnePageMaxMs: Number(Math.max(...onePage).toFixed(1)),
    last24hOnePageCpuP50Ms: Number(median(onePageCpu).toFixed(1)),
    last24hPagesOf1000P50Ms: Number(median(paged).toFixed(1)),
  };
}
