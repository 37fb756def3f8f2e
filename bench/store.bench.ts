/**
 * The durable store's benchmark (`npm run bench -- store`):
 *
 * - group commit: appends/s, ack latency and fsync latency (p50/p99) with 1,
 *   100 and 1,000 concurrent appenders of single readings, and the CPU time
 *   per reading;
 * - open time with 1,000 devices × 1,000 readings: after a clean close
 *   (checkpoint), and with no checkpoint at all (full replay, the worst case);
 * - the durable write of one group commit (9 KB, about 100 readings): with
 *   O_DSYNC, as the store does where it can, and as a write and an fdatasync,
 *   in alternating rounds; CPU and wall time per commit;
 * - history (store-history.ts): a day of 1,000 devices at one reading every
 *   10 s, one device's last 24 h, and the history index's share of the write
 *   CPU (the fill with and without the index, in alternating rounds);
 * - history-share (store-history-share.ts, not in the default set): the
 *   index's share of the write CPU measured inside one fill, so that the
 *   machine's drift between rounds does not swamp it: two stores, with and
 *   without the index, filled in alternating appends, and the index's own
 *   write work counted as it goes.
 *
 * `STORE_BENCH_SCENARIOS=history,open` runs only those (default: all);
 * `STORE_BENCH_HISTORY_DEVICES=100` scales the history fleet down, and
 * `STORE_BENCH_HISTORY_SEGMENT_BYTES=6710886` its segments with it;
 * `STORE_BENCH_HISTORY_ROUNDS=3` sets the fills with and without the index
 * (default 2 of each); for history-share,
 * `STORE_BENCH_HISTORY_SHARE_REPEATS=3` (default 3) and
 * `STORE_BENCH_HISTORY_STEPS_PER_APPEND` (default: 6,000 readings per
 * append, as the full-size fill).
 *
 * Writes bench/results/store.json. Runs in a temp folder on the machine's
 * disk; fsync cost depends on that disk, so quote the figures with it.
 */
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DEFAULT_STORE_CONFIG, type StoreConfig } from '../src/store/store-config.js';
import { openStore } from '../src/store/log-store.js';
import { SegmentWriter } from '../src/store/segment-writer.js';
import type { Reading } from '../src/store/types.js';
import { REPO_ROOT } from '../test/helpers/paths.js';
import { historyScenario, type HistoryResult } from './store-history.js';
import { historyShareScenario, type HistoryShareResult } from './store-history-share.js';

const CONFIG: StoreConfig = DEFAULT_STORE_CONFIG;
const RUN_MS = Number(process.env.STORE_BENCH_MS ?? 4000);
const SCENARIOS = new Set((process.env.STORE_BENCH_SCENARIOS ?? 'append,durable,open,history').split(','));
const HISTORY_DEVICES = Number(process.env.STORE_BENCH_HISTORY_DEVICES ?? 1000);
const HISTORY_ROUNDS = Number(process.env.STORE_BENCH_HISTORY_ROUNDS ?? 2);
const SHARE_REPEATS = Number(process.env.STORE_BENCH_HISTORY_SHARE_REPEATS ?? 3);
const SHARE_STEPS = process.env.STORE_BENCH_HISTORY_STEPS_PER_APPEND === undefined ? undefined : Number(process.env.STORE_BENCH_HISTORY_STEPS_PER_APPEND);
/** Segment size of the history fills: the default, or smaller for a scaled-down fleet (1000 devices : 64 MiB). */
const HISTORY_CONFIG: StoreConfig = { ...CONFIG, segmentBytes: Number(process.env.STORE_BENCH_HISTORY_SEGMENT_BYTES ?? CONFIG.segmentBytes) };
const OPEN_DEVICES = 1000;
const OPEN_READINGS_PER_DEVICE = 1000;
/** Durable-write scenario: bytes per commit (about 100 paced readings), commits per round, rounds per mode. */
const COMMIT_BYTES = 9000;
const COMMITS_PER_ROUND = 500;
const WRITE_ROUNDS = 4;

// run-bench starts us without --expose-gc; heap figures need a collection before each measure.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function sample(device: string, seq: number): Reading {
  // A typical ESP32 reading: a few numeric fields.
  return { device, seq, ts: Date.now(), data: { temp: 21.5 + (seq % 7) / 10, hum: 40 + (seq % 13), rssi: -60 - (seq % 20), vbat: 3.71 } };
}

interface AppendResult {
  readonly appenders: number;
  readonly appendsPerSec: number;
  readonly readingsPerFsync: number;
  readonly ackP50Ms: number;
  readonly ackP99Ms: number;
  readonly fsyncP50Ms: number;
  readonly fsyncP99Ms: number;
  readonly cpuUsPerReading: number;
}

async function appendScenario(root: string, appenders: number): Promise<AppendResult> {
  const dir = join(root, `append-${appenders}`);
  const store = await openStore(dir, CONFIG);
  const fsyncMs: number[] = [];
  store.onCommit(() => fsyncMs.push(store.stats().lastFsyncMs));
  const ackMs: number[] = [];
  let appended = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + RUN_MS;
  await Promise.all(
    Array.from({ length: appenders }, async (_, i) => {
      const device = `bench-${i}`;
      // Bounded by the deadline.
      for (let seq = 1; performance.now() < deadline; seq += 1) {
        const t0 = performance.now();
        await store.append([sample(device, seq)]);
        ackMs.push(performance.now() - t0);
        appended += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const fsyncs = store.stats().fsyncs;
  await store.close();
  await rm(dir, { recursive: true, force: true });
  ackMs.sort((a, b) => a - b);
  fsyncMs.sort((a, b) => a - b);
  return {
    appenders,
    appendsPerSec: Math.round(appended / elapsed),
    readingsPerFsync: Number((appended / Math.max(1, fsyncs)).toFixed(1)),
    ackP50Ms: Number(percentile(ackMs, 50).toFixed(2)),
    ackP99Ms: Number(percentile(ackMs, 99).toFixed(2)),
    fsyncP50Ms: Number(percentile(fsyncMs, 50).toFixed(2)),
    fsyncP99Ms: Number(percentile(fsyncMs, 99).toFixed(2)),
    cpuUsPerReading: Number(((used.user + used.system) / appended).toFixed(1)),
  };
}

interface DurableWriteResult {
  readonly mode: 'O_DSYNC' | 'write + fdatasync';
  readonly commits: number;
  readonly cpuUsPerCommit: number;
  readonly wallMsPerCommit: number;
}

/** Group commits of COMMIT_BYTES appended to one file, each durable before the next, in alternating rounds per mode. */
async function durableWriteScenario(root: string): Promise<DurableWriteResult[]> {
  const modes = [true, false] as const;
  const totals = modes.map(() => ({ cpuUs: 0, wallMs: 0, commits: 0, dsync: false }));
  const data = Buffer.alloc(COMMIT_BYTES, 0x61);
  for (let round = 0; round < WRITE_ROUNDS; round += 1) {
    for (const [i, dsync] of modes.entries()) {
      const path = join(root, `durable-${dsync}-${round}.log`);
      await writeFile(path, '');
      const writer = await SegmentWriter.open(path, { dsync });
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      for (let n = 0; n < COMMITS_PER_ROUND; n += 1) await writer.writeDurably(data, n * COMMIT_BYTES);
      const wallMs = performance.now() - t0;
      const used = process.cpuUsage(cpu);
      await writer.close();
      await unlink(path);
      const total = totals[i]!;
      total.cpuUs += used.user + used.system;
      total.wallMs += wallMs;
      total.commits += COMMITS_PER_ROUND;
      total.dsync = writer.dsync; // false where the platform has no O_DSYNC
    }
  }
  return totals.map((total) => {
    return {
      mode: total.dsync ? 'O_DSYNC' : 'write + fdatasync',
      commits: total.commits,
      cpuUsPerCommit: Math.round(total.cpuUs / total.commits),
      wallMsPerCommit: Number((total.wallMs / total.commits).toFixed(2)),
    };
  });
}

interface OpenResult {
  readonly readings: number;
  readonly devices: number;
  readonly logMiB: number;
  readonly fillSeconds: number;
  readonly openWithCheckpointMs: number;
  readonly openFullReplayMs: number;
  readonly heapMiBAfterOpen: number;
}

async function timedOpen(dir: string): Promise<{ ms: number; heapMiB: number }> {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const store = await openStore(dir, CONFIG);
  const ms = performance.now() - t0;
  gc(); // the store stays referenced: what remains is its state (devices, windows, latest readings, indexes)
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  if (store.stats().devices !== OPEN_DEVICES) throw new Error(`expected ${OPEN_DEVICES} devices, got ${store.stats().devices}`);
  await store.close();
  return { ms, heapMiB };
}

async function openScenario(root: string): Promise<OpenResult> {
  const dir = join(root, 'open');
  const store = await openStore(dir, CONFIG);
  const t0 = performance.now();
  // Batches of one reading per device, as a busy fleet would deliver them.
  for (let seq = 1; seq <= OPEN_READINGS_PER_DEVICE; seq += 1) {
    const batch: Reading[] = [];
    for (let d = 0; d < OPEN_DEVICES; d += 1) batch.push(sample(`dev-${String(d).padStart(4, '0')}`, seq));
    await store.append(batch);
  }
  const fillSeconds = (performance.now() - t0) / 1000;
  const { bytes, readings } = store.stats();
  await store.close();
  const clean = await timedOpen(dir);
  await unlink(join(dir, 'checkpoint.json'));
  const replay = await timedOpen(dir);
  await rm(dir, { recursive: true, force: true });
  return {
    readings,
    devices: OPEN_DEVICES,
    logMiB: Number((bytes / 2 ** 20).toFixed(1)),
    fillSeconds: Number(fillSeconds.toFixed(1)),
    openWithCheckpointMs: Math.round(clean.ms),
    openFullReplayMs: Math.round(replay.ms),
    heapMiBAfterOpen: Number(clean.heapMiB.toFixed(1)),
  };
}

const root = await mkdtemp(join(tmpdir(), 'fleethub-store-bench-'));
try {
  const append: AppendResult[] = [];
  if (SCENARIOS.has('append')) {
    for (const appenders of [1, 100, 1000]) append.push(await appendScenario(root, appenders));
    console.log(`store: group commit, single-reading appends, ${RUN_MS / 1000} s each (${cpus().length} cores, Node ${process.version})`);
    console.table(append);
  }
  let durable: DurableWriteResult[] = [];
  if (SCENARIOS.has('durable')) {
    durable = await durableWriteScenario(root);
    console.log(`store: durable write of one ${COMMIT_BYTES}-byte group commit, ${WRITE_ROUNDS} alternating rounds of ${COMMITS_PER_ROUND} per mode`);
    console.table(durable);
  }
  let open: OpenResult | null = null;
  if (SCENARIOS.has('open')) {
    open = await openScenario(root);
    console.log(`store: open time, ${OPEN_DEVICES} devices × ${OPEN_READINGS_PER_DEVICE} readings`);
    console.table([open]);
  }
  let history: HistoryResult | null = null;
  if (SCENARIOS.has('history')) {
    history = await historyScenario(root, HISTORY_DEVICES, HISTORY_CONFIG, HISTORY_ROUNDS);
    const segments = HISTORY_CONFIG.segmentBytes === CONFIG.segmentBytes ? '' : `, segments of ${HISTORY_CONFIG.segmentBytes} bytes`;
    const scale = HISTORY_DEVICES === 1000 ? '' : ` (scaled down from 1,000 devices${segments})`;
    console.log(`store: history, a day of ${HISTORY_DEVICES} devices at one reading every 10 s${scale} (${cpus().length} cores, Node ${process.version})`);
    console.table([history]);
  }
  let historyShare: HistoryShareResult | null = null;
  if (SCENARIOS.has('history-share')) {
    historyShare = await historyShareScenario(root, HISTORY_DEVICES, HISTORY_CONFIG, SHARE_REPEATS, SHARE_STEPS);
    const { perRepeat: _, ...summary } = historyShare;
    console.log(`store: history-share, the index's share of the write CPU in one fill, a day of ${HISTORY_DEVICES} devices (${cpus().length} cores, Node ${process.version})`);
    console.table([summary]);
  }
  const resultsDir = resolve(REPO_ROOT, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  await writeFile(
    join(resultsDir, 'store.json'),
    `${JSON.stringify({ machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version }, runMs: RUN_MS, append, durable, open, history, historyShare }, null, 2)}\n`,
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
