/**
 * The history index's own write work, counted inside a store's fill: what
 * the store benchmark's `history-share` scenario divides by the fill's CPU
 * (bench/store-history-share.ts). A store opened without one (the default)
 * times nothing: it notes each reading in the same loop as the rest of a
 * group commit's work, as before.
 *
 * With one, the store notes a group commit's readings in a loop of their own
 * (the rest of the commit's work is done first, the device states found
 * then), timed as a whole: timing each reading would cost as much as noting
 * it. Everything the index does to write is counted here: noting a reading
 * (the slot cache, the device lookup once per segment, the row in the pooled
 * chunks), starting the next segment's index at a rollover, and each
 * maintenance pass's writing of index files (layout, frame copy, the
 * segment read and the file write, fsync and rename, the rows given back to
 * the pool).
 *
 * CPU is the process's (`process.cpuUsage`, every thread: an index file's
 * reads and writes run on libuv's pool), so a span counts only the index's
 * work while nothing else runs meanwhile. Noting is synchronous, so that
 * holds for it; an index file is written in the background, beside the
 * appends that follow, so its figures are the index's alone only when the
 * caller waits for maintenance after each append
 * (`EmbeddedLog.maintained()`), as the benchmark does.
 */
import { performance } from 'node:perf_hooks';

/** Where a store adds up its history index's write work (the store option `historyTiming`). */
export class HistoryWriteTiming {
  /** Process CPU (µs) while noting committed readings and starting a new segment's index. */
  noteCpuUs = 0;
  /** Wall time (ms) of the same: above the CPU when the thread was descheduled, below it when other threads ran. */
  noteWallMs = 0;
  /** Readings noted. */
  readings = 0;
  /** Process CPU (µs) while maintenance wrote index files (the index's alone only while nothing else ran meanwhile). */
  persistCpuUs = 0;
  /** Wall time (ms) of the same. */
  persistWallMs = 0;
  /** Index files written. */
  files = 0;

  /** The index's write CPU counted so far, µs. */
  get cpuUs(): number {
    return this.noteCpuUs + this.persistCpuUs;
  }
}

/** A point of the process's CPU and wall clocks. */
export interface TimingMark {
  readonly cpu: NodeJS.CpuUsage;
  readonly wall: number;
}

/** Marks now, for {@link elapsed}. */
export function mark(): TimingMark {
  return { wall: performance.now(), cpu: process.cpuUsage() };
}

/** CPU (µs) and wall time (ms) since `from`. */
export function elapsed(from: TimingMark): { cpuUs: number; wallMs: number } {
  const cpu = process.cpuUsage(from.cpu);
  return { cpuUs: cpu.user + cpu.system, wallMs: performance.now() - from.wall };
}
