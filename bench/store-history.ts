/**
 * The history scenario of the store benchmark (bench/store.bench.ts):
 * a day of a fleet at one reading every 10 s per device (1,000 devices:
 * 8.64 M readings) in the embedded log with its default segment size, then
 *
 * - one device's last 24 h (8,640 readings) in one page of 10,000, and in
 *   pages of the default 1,000, after a reopen (sealed segments answer from
 *   their index files), p50 and max over several devices;
 * - the history index's share of the store's write CPU, side by side: the
 *   same fill (appends, group commits, checkpoints, rollovers and, with the
 *   index, noting every reading and writing each sealed segment's index
 *   file with its frames) with the index and without it (`historyIndex:
 *   false`), in alternating rounds, through the close that waits for the
 *   last index file.
 *
 * `STORE_BENCH_HISTORY_DEVICES` scales the fleet down (each device still has
 * a whole day: the query's work is the same, the log around it smaller);
 * `STORE_BENCH_HISTORY_SEGMENT_BYTES` scales the segments with it (so that a
 * scaled-down fill seals as many segments as the full one: 11);
 * `STORE_BENCH_HISTORY_ROUNDS` (default 2) sets the rounds of each fill.
 * Before the rounds, one fill of each of a tenth of the fleet, not counted,
 * warms the code up: the first fill of a process used to pay for compiling
 * the write path, and with one round it was the baseline's.
 */
import { mkdtemp, rm, stat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStore } from '../src/store/log-store.js';
import { DEFAULT_STORE_CONFIG, type StoreConfig } from '../src/store/store-config.js';
import type { Reading } from '../src/store/types.js';

const DAY_MS = 86_400_000;
const INTERVAL_MS = 10_000;
/** Readings of each device in the day. */
export const READINGS_PER_DEVICE = DAY_MS / INTERVAL_MS;
/** Steps of the fleet per append: a minute of readings of every device in one group commit. */
const STEPS_PER_APPEND = 6;
const QUERY_DEVICES = 10;

/** One fill's write CPU (seconds, the readings' making taken out), with or without the index. */
export interface FillRound {
  readonly index: boolean;
  readonly fillSeconds: number;
  readonly cpuSeconds: number;
}

/** What the history scenario measured. */
export interface HistoryResult {
  readonly devices: number;
  readonly readings: number;
  readonly logMiB: number;
  readonly indexMiB: number;
  readonly rounds: number;
  /** Write CPU with the index, p50 (min–max) over the rounds. */
  readonly fillCpuWithIndex: string;
  readonly fillCpuWithoutIndex: string;
  /** (with − without) / with, of the p50s, and the spread over pairs of rounds. */
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

/** The middle value (of an even count, the mean of the two middle ones: of two rounds, not the larger). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[mid] ?? 0;
  return ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The readings of steps `k` to `k + steps - 1` of the day (one append), every device's at each step. */
export function fillBatch(k: number, devices: number, dayStart: number, steps = STEPS_PER_APPEND): Reading[] {
  const batch: Reading[] = [];
  for (let s = k; s < Math.min(k + steps, READINGS_PER_DEVICE); s += 1) {
    for (let d = 0; d < devices; d += 1) batch.push(sample(d, s, dayStart));
  }
  return batch;
}

/** Fills a new store in `dir` with the day, with or without the index, and closes it (the last index file written). */
async function fill(dir: string, devices: number, dayStart: number, config: StoreConfig, index: boolean): Promise<FillRound & { bytes: number; readings: number }> {
  const store = await openStore(dir, config, { historyIndex: index });
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < READINGS_PER_DEVICE; k += STEPS_PER_APPEND) await store.append(fillBatch(k, devices, dayStart));
  const { bytes, readings } = store.stats();
  await store.close();
  const fillSeconds = (performance.now() - t0) / 1000;
  const withGeneration = cpuSeconds(cpu);
  // The store's write CPU: the fill without making up the readings, timed alone here.
  const generation = process.cpuUsage();
  for (let k = 0; k < READINGS_PER_DEVICE; k += STEPS_PER_APPEND) fillBatch(k, devices, dayStart);
  return { index, fillSeconds: Number(fillSeconds.toFixed(1)), cpuSeconds: withGeneration - cpuSeconds(generation), bytes, readings };
}

async function indexBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) if (name.endsWith('.idx')) total += (await stat(join(dir, name))).size;
  return total;
}

function spread(values: readonly number[]): string {
  return `${median([...values]).toFixed(2)} s (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})`;
}

/** Runs the scenario in folders under `root`; `rounds` fills with the index and as many without, alternating. */
export async function historyScenario(root: string, devices: number, config: StoreConfig = DEFAULT_STORE_CONFIG, rounds = 2): Promise<HistoryResult> {
  const dayStart = Date.UTC(2026, 0, 1);
  // Not counted: a fill with and one without the index, of a tenth of the fleet, so that neither side of the
  // first round pays for compiling the write path (the index's included: it seals segments at full size).
  for (const index of [true, false]) {
    const warm = await mkdtemp(join(root, 'history-warm-'));
    await fill(warm, Math.max(1, Math.floor(devices / 10)), dayStart, config, index);
    await rm(warm, { recursive: true, force: true });
  }
  const fills: FillRound[] = [];
  let dir = '';
  let bytes = 0;
  let readings = 0;
  for (let round = 0; round < rounds; round += 1) {
    // Alternating which goes first, so that a drift of the machine's load weighs on both alike; the
    // last round ends with the index, and its store is the one queried.
    for (const index of (rounds - 1 - round) % 2 === 0 ? [false, true] : [true, false]) {
      if (dir !== '') await rm(dir, { recursive: true, force: true });
      dir = await mkdtemp(join(root, 'history-'));
      const done = await fill(dir, devices, dayStart, config, index);
      fills.push({ index: done.index, fillSeconds: done.fillSeconds, cpuSeconds: done.cpuSeconds });
      bytes = done.bytes;
      readings = done.readings;
    }
  }
  const indexMiB = (await indexBytes(dir)) / 2 ** 20;
  const store = await openStore(dir, config);

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
  const withIndex = fills.filter((f) => f.index).map((f) => f.cpuSeconds);
  const without = fills.filter((f) => !f.index).map((f) => f.cpuSeconds);
  const shares = withIndex.map((w, i) => (100 * (w - (without[i] as number))) / w);
  const share = (100 * (median([...withIndex]) - median([...without]))) / median([...withIndex]);
  console.log('store: history, write CPU of each fill (s)');
  console.table(fills);
  return {
    devices,
    readings,
    logMiB: Number((bytes / 2 ** 20).toFixed(1)),
    indexMiB: Number(indexMiB.toFixed(1)),
    rounds,
    fillCpuWithIndex: spread(withIndex),
    fillCpuWithoutIndex: spread(without),
    indexShareOfWriteCpu: `${share.toFixed(1)} % (rounds ${Math.min(...shares).toFixed(1)} to ${Math.max(...shares).toFixed(1)} %)`,
    last24hReadings,
    last24hOnePageP50Ms: Number(median(onePage).toFixed(1)),
    last24hOnePageMaxMs: Number(Math.max(...onePage).toFixed(1)),
    last24hOnePageCpuP50Ms: Number(median(onePageCpu).toFixed(1)),
    last24hPagesOf1000P50Ms: Number(median(paged).toFixed(1)),
  };
}
