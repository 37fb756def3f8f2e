/**
 * The history index's share of the store's write CPU, measured so that the
 * machine's drift does not swamp it (the `history-share` scenario of
 * bench/store.bench.ts). The `history` scenario fills a store with the index
 * and another without it in separate rounds of seconds each; on a shared VM
 * the fills drift by half from one round to the next, more than the share.
 * Here both are measured in one fill, two ways:
 *
 * - **interleaved**: two stores open side by side in this process, one with
 *   the index and one without (`historyIndex: false`), get the same appends
 *   (the same day of the same fleet), in turns of one append each, in the
 *   order with, without, without, with, and so on (a drift within a turn
 *   weighs on both alike). After each append the bench waits for that
 *   store's background work (checkpoints, index files:
 *   `EmbeddedLog.maintained()`), so that the process CPU between the
 *   append's start and that end is all that store's. The share is
 *   (with − without) / with of the sums over the whole fill, closes
 *   included. It counts everything the index costs, indirect costs too
 *   (collections, caches, the memory it keeps).
 * - **attributed**: the store with the index counts its own write work as it
 *   goes (`historyTiming`, src/store/history/write-timing.ts): noting each
 *   group commit's readings, timed per group; starting each segment's index;
 *   and each maintenance pass's index files (layout, frame copy, the
 *   segment's read, the file's write, fsync and rename), timed in process
 *   CPU, which is the index's alone since nothing else runs meanwhile (the
 *   bench waits). The share is that over the fill's CPU with the index, the
 *   same fill: the machine's drift scales both alike.
 *
 * The two agree when the index has no indirect cost and the noise is small;
 * the attributed share is the steadier (no difference of two large sums).
 *
 * Each repeat is a whole day of the fleet, in fresh folders; before them, a
 * fill of a tenth of the fleet warms the code up (not counted).
 * `STORE_BENCH_HISTORY_DEVICES` and `STORE_BENCH_HISTORY_SEGMENT_BYTES` scale
 * the fleet and its segments as for the `history` scenario;
 * `STORE_BENCH_HISTORY_STEPS_PER_APPEND` sets the fleet's steps per append
 * (default: as many as make 6,000 readings, the full-size fill's group
 * commit); `STORE_BENCH_HISTORY_SHARE_REPEATS` (default 3) the repeats.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EmbeddedLog } from '../src/store/embedded-log.js';
import { HistoryWriteTiming } from '../src/store/history/write-timing.js';
import { openStore } from '../src/store/log-store.js';
import type { StoreConfig } from '../src/store/store-config.js';
import type { Reading } from '../src/store/types.js';
import { fillBatch, median, READINGS_PER_DEVICE } from './store-history.js';

/** Readings per append of the full-size fill (1,000 devices, a minute of readings). */
export const FULL_SIZE_GROUP = 6000;

/** One repeat: a whole day of the fleet into both stores. */
export interface ShareRepeat {
  readonly repeat: number;
  /** Process CPU of the fill with the index and without, s. */
  readonly cpuWithS: number;
  readonly cpuWithoutS: number;
  /** (with − without) / with, %. */
  readonly interleavedPct: number;
  /** The index's own write CPU (noting + index files) / the fill's CPU with the index, %. */
  readonly attributedPct: number;
  /** Of the attributed: noting (ns of CPU per reading) and the index files' share (%). */
  readonly noteNsPerReading: number;
  readonly filesPct: number;
  /** Wall time over CPU time of noting: about 1 on a quiet core. */
  readonly noteWallOverCpu: number;
  readonly indexFiles: number;
}

/** What the scenario measured. */
export interface HistoryShareResult {
  readonly devices: number;
  readonly readings: number;
  readonly readingsPerAppend: number;
  readonly segmentBytes: number;
  readonly sealedSegments: number;
  readonly repeats: number;
  /** Median (min–max) over the repeats. */
  readonly interleavedShare: string;
  readonly attributedShare: string;
  readonly perRepeat: readonly ShareRepeat[];
}

function cpuUs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

async function logFiles(dir: string): Promise<number> {
  return (await readdir(dir)).filter((name) => name.endsWith('.log')).length;
}

/** Appends `batch` to `store` and waits for the background work it caused: the process CPU of that, µs. */
async function appendAndSettle(store: EmbeddedLog, batch: readonly Reading[]): Promise<number> {
  const from = process.cpuUsage();
  await store.append(batch);
  await store.maintained();
  return cpuUs(from);
}

/** One day of `devices` into a store with the index and one without, interleaved; closes them and removes their folders. */
async function interleavedFill(root: string, devices: number, config: StoreConfig, steps: number, repeat: number): Promise<ShareRepeat & { sealed: number; readings: number }> {
  const dayStart = Date.UTC(2026, 0, 1);
  const timing = new HistoryWriteTiming();
  const withDir = await mkdtemp(join(root, 'share-with-'));
  const withoutDir = await mkdtemp(join(root, 'share-without-'));
  const stores = [
    await openStore(withDir, config, { historyTiming: timing }),
    await openStore(withoutDir, config, { historyIndex: false }),
  ];
  if (!stores.every((s) => s instanceof EmbeddedLog)) throw new Error('openStore did not give an EmbeddedLog');
  const [withIndex, without] = stores as [EmbeddedLog, EmbeddedLog];
  let withUs = 0;
  let withoutUs = 0;
  let turn = 0;
  // Bounded: the day's steps, `steps` at a time.
  for (let k = 0; k < READINGS_PER_DEVICE; k += steps, turn += 1) {
    const batch = fillBatch(k, devices, dayStart, steps);
    if (turn % 4 === 0 || turn % 4 === 3) {
      withUs += await appendAndSettle(withIndex, batch);
      withoutUs += await appendAndSettle(without, batch);
    } else {
      withoutUs += await appendAndSettle(without, batch);
      withUs += await appendAndSettle(withIndex, batch);
    }
  }
  const readings = withIndex.stats().readings;
  let from = process.cpuUsage();
  await withIndex.close();
  withUs += cpuUs(from);
  from = process.cpuUsage();
  await without.close();
  withoutUs += cpuUs(from);
  const sealed = (await logFiles(withDir)) - 1;
  await rm(withDir, { recursive: true, force: true });
  await rm(withoutDir, { recursive: true, force: true });
  return {
    repeat,
    cpuWithS: Number((withUs / 1e6).toFixed(2)),
    cpuWithoutS: Number((withoutUs / 1e6).toFixed(2)),
    interleavedPct: Number(((100 * (withUs - withoutUs)) / withUs).toFixed(1)),
    attributedPct: Number(((100 * timing.cpuUs) / withUs).toFixed(1)),
    noteNsPerReading: Math.round((1000 * timing.noteCpuUs) / Math.max(1, timing.readings)),
    filesPct: Number(((100 * timing.persistCpuUs) / withUs).toFixed(1)),
    noteWallOverCpu: Number(((1000 * timing.noteWallMs) / Math.max(1, timing.noteCpuUs)).toFixed(2)),
    indexFiles: timing.files,
    sealed,
    readings,
  };
}

function spread(values: readonly number[]): string {
  return `${median([...values]).toFixed(1)} % (${Math.min(...values).toFixed(1)} to ${Math.max(...values).toFixed(1)} %)`;
}

/** Runs the scenario in folders under `root`. */
export async function historyShareScenario(root: string, devices: number, config: StoreConfig, repeats = 3, steps = Math.max(1, Math.round(FULL_SIZE_GROUP / devices))): Promise<HistoryShareResult> {
  // Not counted: the write path of both stores compiled before the first repeat.
  await interleavedFill(root, Math.max(1, Math.floor(devices / 10)), config, steps, 0);
  const perRepeat: ShareRepeat[] = [];
  let sealed = 0;
  let readings = 0;
  for (let repeat = 1; repeat <= repeats; repeat += 1) {
    const { sealed: s, readings: r, ...done } = await interleavedFill(root, devices, config, steps, repeat);
    perRepeat.push(done);
    sealed = s;
    readings = r;
  }
  console.log('store: history-share, each repeat (CPU of the interleaved fills; shares of the fill with the index)');
  console.table(perRepeat);
  return {
    devices,
    readings,
    readingsPerAppend: devices * steps,
    segmentBytes: config.segmentBytes,
    sealedSegments: sealed,
    repeats,
    interleavedShare: spread(perRepeat.map((r) => r.interleavedPct)),
    attributedShare: spread(perRepeat.map((r) => r.attributedPct)),
    perRepeat,
  };
}
