/**
 * The durable store: an append-only log of segment files with group commit.
 *
 * Appends are framed (length + CRC, see record-codec.ts) and queued; one
 * writer loop takes everything queued, writes it durably in one go (a write
 * with `O_DSYNC`, or a write and an `fdatasync`: segment-writer.ts), and only
 * then resolves the appends it covers (SPEC: an ack means durable).
 * Appends that arrive while a commit is being written share the next one,
 * so the cost per reading falls as load rises.
 *
 * Per-device state (lastSeq, dedupe window, readings per UTC day, newest
 * reading) changes only when a group is committed, so a checkpoint of it
 * never claims a reading that a crash could take back.
 */
import { FleethubError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StoreConfig } from './store-config.js';
import type { CursorFile } from './cursor-file.js';
import { DeviceState } from './device-state.js';
import { writeRecord } from './record-codec.js';
import { encodeBatch, type EncodedBatch } from './reading-check.js';
import { PositionWaiters } from './position-waiters.js';
import { AckWaiters, InFlight, PendingGroup } from './commit-queue.js';
import { createSegmentFile } from './recovery.js';
import type { ResolvedStoreOptions } from './store-options.js';
import { readSegments } from './segment-reads.js';
import type { Segment } from './segment.js';
import { SegmentWriter } from './segment-writer.js';
import { saveSeqResets, type SeqResets } from './seq-resets.js';
import type { AppendOutcome, HistoryPage, HistoryQuery, ReadResult, Reading, Store, StoredReading, StoreHealth, StoreStats } from './types.js';
import { checkHistoryQuery, type CheckedHistoryQuery } from './history-query.js';
import type { HistoryIndex } from './history/history-index.js';
import { LogMaintenance } from './log-maintenance.js';
import { repairWriter, WriteOutage } from './write-outage.js';

/** What {@link EmbeddedLog} is made of: the resolved options and what opening the folder found. */
export interface EmbeddedLogInit extends ResolvedStoreOptions {
  readonly dir: string;
  readonly config: StoreConfig;
  readonly release: () => Promise<void>;
  readonly cursors: CursorFile;
  readonly writer: SegmentWriter;
  readonly segments: Segment[];
  readonly devices: Map<string, DeviceState>;
  readonly checkpointPosition: number;
  readonly resets: SeqResets;
  readonly history: HistoryIndex;
}

/** The embedded log: a {@link Store} in a folder. Obtain one with `openStore` (log-store.ts). */
export class EmbeddedLog implements Store {
  readonly #init: EmbeddedLogInit;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #segments: Segment[];
  readonly #devices: Map<string, DeviceState>;
  readonly #cursors: CursorFile;
  readonly #history: HistoryIndex;
  #writer: SegmentWriter;
  /** Readings of each device accepted but not yet committed: seq → position (a map per device seen since open). */
  readonly #inflight = new Map<string, InFlight>();
  #pending = new PendingGroup();
  #acceptedEnd: number;
  #committedEnd: number;
  readonly #ackWaiters = new AckWaiters();
  readonly #readWaiters = new PositionWaiters();
  readonly #listeners = new Set<(readings: readonly StoredReading[]) => void>();
  #flushing = false;
  /** The monotonic clock when the last group commit started. */
  #lastCommitAt = -Infinity;
  #idleWaiters: (() => void)[] = [];
  /** Ends the pacing wait of the flush loop, while there is one. */
  #endPace: (() => void) | null = null;
  /** Checkpoints, retention and history index files, in the background. */
  readonly #maintenance: LogMaintenance;
  readonly #timer: NodeJS.Timeout;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Whether writes fail (SPEC: 1011, /healthz 503), and the probe that finds out when they work again. */
  readonly #outage: WriteOutage;
  readonly #stats = {
    fsyncs: 0, fsyncSeconds: 0, lastFsyncMs: 0, appended: 0, duplicates: 0, staleDuplicates: 0,
  };

  constructor(init: EmbeddedLogInit) {
    this.#init = init;
    this.#log = init.log;
    this.#now = init.now;
    this.#segments = init.segments;
    this.#devices = init.devices;
    this.#cursors = init.cursors;
    this.#history = init.history;
    this.#writer = init.writer;
    this.#maintenance = new LogMaintenance({
      dir: init.dir,
      config: init.config,
      log: init.log,
      checkpointBytes: init.checkpointBytes,
      now: init.now,
      segments: init.segments,
      cursors: init.cursors,
      devices: init.devices,
      history: init.history,
      committedEnd: () => this.#committedEnd,
      down: () => this.#outage.down !== null,
    }, init.checkpointPosition);
    this.#committedEnd = this.#active.end;
    this.#acceptedEnd = this.#committedEnd;
    this.#outage = new WriteOutage({
      dir: init.dir,
      log: init.log,
      recoveryCheckMs: init.recoveryCheckMs,
      now: init.now,
      busy: () => this.#flushing || this.#closed,
      repair: () => this.#repair(),
      recovered: () => this.#maintenance.schedule(),
    });
    this.#timer = setInterval(() => this.#maintenance.schedule(), init.retentionCheckMs);
    this.#timer.unref();
    this.#maintenance.schedule(); // apply retention to what recovery found
  }

  get #active(): Segment {
    return this.#segments[this.#segments.length - 1] as Segment;
  }

  append(readings: readonly Reading[]): Promise<AppendOutcome[]> {
    // No refusal while down: a new append tries the disk again (the flush loop repairs first).
    if (this.#closed) return Promise.reject(new FleethubError('FH_ERR_STORE_IO', 'store: closed'));
    const hubTime = this.#now();
    // Everything that can fail happens before any state changes: a batch is taken whole or not at all.
    let encoded: EncodedBatch;
    try {
      encoded = encodeBatch(readings);
    } catch (err) {
      return Promise.reject(err);
    }
    const { jsons, deviceBytes, jsonBytes } = encoded;
    const count = readings.length;
    const outcomes: AppendOutcome[] = [];
    let target = 0;
    for (let i = 0; i < count; i += 1) {
      const { device, seq, ts, data } = readings[i] as Reading;
      const status = this.#devices.get(device)?.window.check(seq) ?? 'new';
      let inflight = this.#inflight.get(device);
      const pendingAt = inflight?.positionOf(seq);
      if (pendingAt === undefined && status === 'stale') {
        // SPEC: an ack never covers a reading that is not stored. Below the window a repeat and a new
        // reading look alike: not stored (never twice), not acked either: the caller nacks it.
        outcomes.push('stale');
        this.#stats.staleDuplicates += 1;
        continue;
      }
      if (status !== 'new' || pendingAt !== undefined) {
        // SPEC: a repeat is acked again, not stored twice; in flight, it resolves when the original is durable.
        outcomes.push('duplicate');
        this.#stats.duplicates += 1;
        if (pendingAt !== undefined) target = Math.max(target, pendingAt + 1);
        continue;
      }
      const position = this.#acceptedEnd;
      this.#acceptedEnd += 1;
      const reading: StoredReading = { device, seq, ts, data, position };
      this.#pending.add(reading, hubTime, jsons[i] as string, deviceBytes[i] as number, jsonBytes[i] as number);
      if (inflight === undefined) {
        inflight = new InFlight();
        this.#inflight.set(device, inflight);
      }
      inflight.add(seq, position);
      outcomes.push('stored');
      target = position + 1;
    }
    if (this.#pending.size > 0) this.#kick();
    if (target <= this.#committedEnd) return Promise.resolve(outcomes);
    return this.#ackWaiters.wait(target, outcomes);
  }

  lastSeq(device: string): number | null {
    return this.#devices.get(device)?.window.lastSeq ?? null;
  }

  countToday(device: string, now: number = this.#now()): number {
    return this.#devices.get(device)?.countOn(now) ?? 0;
  }

  latest(device: string): StoredReading | undefined {
    return this.#devices.get(device)?.latest(device);
  }

  devices(): Iterable<string> {
    return this.#devices.keys();
  }

  openDevice(): undefined {
    return undefined; // every device's state is in memory from open on
  }

  releaseDevice(): void {}

  async resetSeq(device: string): Promise<void> {
    if (this.#closed) throw new FleethubError('FH_ERR_STORE_IO', 'store: closed');
    // Readings accepted before the reset commit first, so the reset has one place in the log.
    if (this.#acceptedEnd > this.#committedEnd) await this.#ackWaiters.wait(this.#acceptedEnd, []);
    const state = this.#devices.get(device);
    if (state === undefined) return;
    // In memory first, in this turn: readings committed from `position` on count for the new window, as at recovery.
    const position = this.#committedEnd;
    state.resetSeq();
    this.#init.resets.set(device, position);
    await saveSeqResets(this.#init.dir, this.#init.resets);
    this.#log.log('warn', 'store.seq_reset', { id: device, position });
  }

  health(): StoreHealth {
    return this.#outage.health();
  }

  onCommit(listener: (readings: readonly StoredReading[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  firstPosition(): number {
    return (this.#segments[0] as Segment).base;
  }

  nextPosition(): number {
    return this.#committedEnd;
  }

  read(from: number, max: number): Promise<ReadResult> {
    return readSegments(this.#segments, () => this.#committedEnd, from, max, this.#init.readMaxBytes);
  }

  history(query: HistoryQuery): Promise<HistoryPage> {
    let checked: CheckedHistoryQuery;
    try {
      checked = checkHistoryQuery(query);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#history.query(checked, this.#committedEnd);
  }

  waitFor(position: number, signal?: AbortSignal): Promise<void> {
    if (position < this.#committedEnd || this.#closed || signal?.aborted === true) return Promise.resolve();
    return this.#readWaiters.wait(position, signal);
  }

  async cursor(name: string): Promise<number> {
    return this.#cursors.get(name) ?? 0;
  }

  async saveCursor(name: string, position: number): Promise<void> {
    await this.#cursors.set(name, position);
  }

  async deleteCursor(name: string): Promise<void> {
    await this.#cursors.delete(name);
  }

  cursorNames(): string[] {
    return [...this.#cursors.entries()].map(([name]) => name);
  }

  stats(): StoreStats {
    // What retentionBytes bounds (retention-policy.ts): the segments and the index files written for them.
    let bytes = 0;
    let indexBytes = 0;
    for (const segment of this.#segments) {
      bytes += segment.bytes;
      indexBytes += this.#history.fileBytes(segment.base);
    }
    const s = this.#stats;
    return {
      bytes: bytes + indexBytes,
      indexBytes,
      segments: this.#segments.length,
      readings: this.#committedEnd - this.firstPosition(),
      fsyncs: s.fsyncs,
      fsyncSeconds: s.fsyncSeconds,
      lastFsyncMs: s.lastFsyncMs,
      firstPosition: this.firstPosition(),
      nextPosition: this.#committedEnd,
      devices: this.#devices.size,
      appended: s.appended,
      duplicates: s.duplicates,
      staleDuplicates: s.staleDuplicates,
      ...this.#maintenance.counts,
    };
  }

  /**
   * Resolves once the background work queued so far (checkpoints, retention,
   * history index files) has ended: the store benchmark waits on it so that
   * the CPU each append causes is counted with it.
   */
  maintained(): Promise<void> {
    return this.#maintenance.settled();
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#endPace?.();
    await this.#whenIdle();
    await this.#outage.stop();
    await this.#maintenance.settled();
    if (this.#outage.down === null) await this.#maintenance.checkpoint().catch((err: unknown) => this.#logFailure('store.checkpoint_failed', err));
    await this.#cursors.settled();
    await this.#writer.close().catch(() => {});
    this.#readWaiters.releaseAll();
    await this.#init.release();
    this.#log.log('info', 'store.closed', { next: this.#committedEnd });
  }

  #kick(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    // setImmediate, not a microtask: appends from the same I/O round join this group.
    setImmediate(() => void this.#flushLoop());
  }

  async #flushLoop(): Promise<void> {
    try {
      // Bounded by the appends queued; each pass commits everything queued so far.
      while (this.#pending.size > 0) {
        if (this.#outage.down !== null) {
          // Down: this append tries the disk again, after the recovery probe if one is running.
          await this.#outage.probing;
          if (this.#outage.down !== null) await this.#repair();
        }
        // At most one commit per commitIntervalMs: under load, readings gather
        // and share one fdatasync; after an idle spell the wait is zero.
        const wait = this.#lastCommitAt + this.#init.config.commitIntervalMs - this.#init.monotonic();
        if (wait >= 1 && !this.#closed) await this.#pace(wait);
        this.#lastCommitAt = this.#init.monotonic();
        await this.#commitGroup();
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#flushing = false;
      const idle = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of idle) resolve();
    }
  }

  /** Waits `ms` before the next commit; close() cuts the wait short (what is pending is flushed at once). */
  #pace(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#endPace = null;
        resolve();
      }, ms);
      this.#endPace = () => {
        clearTimeout(timer);
        this.#endPace = null;
        resolve();
      };
    });
  }

  #whenIdle(): Promise<void> {
    if (!this.#flushing) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #commitGroup(): Promise<void> {
    const group = this.#pending;
    this.#pending = new PendingGroup();
    if (this.#active.bytes >= this.#init.config.segmentBytes && this.#active.count > 0) await this.#roll();
    const segment = this.#active;
    const { readings, hubTimes, jsons, deviceBytes, jsonBytes } = group;
    const data = Buffer.allocUnsafe(group.bytes);
    let end = 0;
    for (let i = 0; i < readings.length; i += 1) {
      const reading = readings[i] as StoredReading;
      end = writeRecord(data, end, reading.device, deviceBytes[i] as number, reading.seq, reading.ts, hubTimes[i] as number, jsons[i] as string, jsonBytes[i] as number);
    }
    const started = this.#init.monotonic();
    await this.#writer.writeDurably(data, segment.bytes); // SPEC: ack means durable
    this.#outage.setUp(); // up again (when it was down) before any append it resolves is seen
    const ms = this.#init.monotonic() - started;
    this.#stats.fsyncs += 1;
    this.#stats.fsyncSeconds += ms / 1000;
    this.#stats.lastFsyncMs = ms;
    this.#stats.appended += readings.length;

    const first = segment.bytes;
    let offset = first;
    // With a timing (a benchmark's), the index notes the group in a timed loop of its own after this one.
    const states: DeviceState[] | null = this.#history.timed ? [] : null;
    for (let i = 0; i < readings.length; i += 1) {
      const reading = readings[i] as StoredReading;
      const frameBytes = group.frameBytes[i] as number;
      let state = this.#devices.get(reading.device);
      if (state === undefined) {
        state = new DeviceState();
        this.#devices.set(reading.device, state);
      }
      if (states === null) this.#history.note(reading.device, reading.ts, offset, frameBytes, state);
      else states.push(state);
      segment.noteCommitted(offset, frameBytes);
      offset += frameBytes;
      state.apply(reading, hubTimes[i] as number, jsons[i] as string);
      // The device's (now maybe empty) list stays: one per device, not one per reading.
      this.#inflight.get(reading.device)?.committedOldest();
    }
    if (states !== null) this.#history.noteTimed(readings, group.frameBytes, first, states);
    this.#committedEnd = segment.end;

    this.#ackWaiters.release(this.#committedEnd);
    // Listeners get the group's own array, frozen: no copy per commit.
    const committed: readonly StoredReading[] = Object.freeze(readings);
    for (const listener of this.#listeners) {
      try {
        listener(committed);
      } catch (err) {
        this.#logFailure('store.listener_failed', err); // a listener's bug must not break the store
      }
    }
    this.#readWaiters.wake(this.#committedEnd);
    this.#maintenance.committed(data.length);
  }

  async #roll(): Promise<void> {
    const sealed = this.#active;
    const segment = await createSegmentFile(this.#init.dir, sealed.end, this.#now());
    const writer = await SegmentWriter.open(segment.path);
    await this.#writer.close();
    this.#writer = writer;
    sealed.sealedAt = this.#now();
    this.#segments.push(segment);
    this.#history.rolled(segment);
    this.#maintenance.schedule(); // writes the sealed segment's history index too
  }

  /**
   * A write failed: nothing accepted and not yet committed is ever acked
   * (write-outage.ts says why). Every append waiting is rejected (the hub
   * closes those devices with 1011; they keep the readings and resend them),
   * and their positions are given back. The store is down until a write works
   * again ({@link #repair} first cuts whatever the failed write left).
   */
  #fail(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    const error = new FleethubError('FH_ERR_STORE_IO', `store: write failed: ${reason}`, { cause: err });
    this.#pending = new PendingGroup();
    this.#inflight.clear();
    this.#acceptedEnd = this.#committedEnd;
    this.#ackWaiters.rejectAll(error);
    this.#outage.fail(reason);
  }

  async #repair(): Promise<void> {
    this.#writer = await repairWriter(this.#writer, this.#active);
  }

  #logFailure(event: string, err: unknown): void {
    this.#log.log('error', event, { reason: err instanceof Error ? err.message : String(err) });
  }
}
