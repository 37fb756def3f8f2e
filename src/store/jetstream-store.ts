/**
 * The cluster store (SPEC: Cluster mode): readings in a replicated
 * JetStream stream, so an ack means a quorum of NATS servers has the reading
 * and any hub can take over any device.
 *
 * - Each reading is one message on `<prefix>.readings.<device>`, with a
 *   message id per (device, seq): a publish that timed out is sent again
 *   with the same id, and JetStream's duplicate window stores it once.
 *   `append` resolves after JetStream's ack; readings of different devices
 *   are published side by side, so many acks are in flight at once.
 * - A device's readings are published one after another, each expecting the
 *   device's previous message to be the last on its subject. That keeps
 *   them in order per device, and makes the device's last message carry its
 *   whole state (reading-message.ts): lastSeq, the 4096-seq dedupe window,
 *   the daily count and the latest reading, read back by {@link
 *   JetStreamStore.openDevice} on whichever hub owns the device next. A hub
 *   whose copy of that state is stale (another hub wrote the device) is
 *   refused by JetStream and reloads it, so no second store of state has to
 *   be kept in step with the stream.
 * - Positions are stream sequences minus one (dense from 0, as the
 *   interface wants); cursors live in a KV bucket (cursor-bucket.ts);
 *   retention is the stream's own max_age and max_bytes.
 */
import { performance } from 'node:perf_hooks';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { FleethubError, isFleethubError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ClusterConfig } from './cluster-config.js';
import { DeviceState } from './device-state.js';
import { PositionWaiters } from './position-waiters.js';
import type { StoreConfig } from './store-config.js';
import { MAX_READ_READINGS } from './store-options.js';
import { CursorBucket } from './jetstream/cursor-bucket.js';
import { natsConnectOptions, resolveJetStreamStoreOptions, type JetStreamStoreOptions, type ResolvedJetStreamStoreOptions } from './jetstream/jetstream-options.js';
import { encodeToken, natsNames, type NatsNames } from './jetstream/nats-names.js';
import { publishUntilAcked, requestUntilAnswered } from './jetstream/publish-retry.js';
import { decodeDeviceState, decodeReading, readingHeaders, readingMsgId, stateAfter } from './jetstream/reading-message.js';
import { ensureReadingsStream } from './jetstream/readings-stream.js';
import type { AppendOutcome, ReadResult, Reading, Store, StoredReading, StoreStats } from './types.js';

export * from './jetstream/jetstream-options.js';

/** Conflicts (another writer of the same device) one reading rides out before its append fails. */
const MAX_CONFLICTS = 5;

/** Options of {@link openJetStreamStore}. */
export interface OpenJetStreamStoreOptions extends JetStreamStoreOptions {
  /** A connection to use instead of opening one from the config; the store leaves it open on close. */
  readonly connection?: NatsConnection;
}

/** One device as this hub sees it: its state, and the queue its readings are published in. */
interface Lane {
  /** Null: read it from the device's last message before the next use. */
  state: DeviceState | null;
  /** Stream sequence of the device's last message (0: none). */
  lastSubjectSeq: number;
  /** The last queued step; the next one starts after it. */
  tail: Promise<unknown>;
  /** Readings queued so far. */
  tickets: number;
  /** Readings queued up to this ticket fail without publishing: one before them failed, and order per device comes first. */
  failedThrough: number;
}

/**
 * Connects to NATS (unless given a connection), creates or updates the
 * readings stream and the cursor bucket, and returns the store. Keeps trying
 * for `openTimeoutMs`, then throws FH_ERR_STORE_IO; FH_ERR_CONFIG on a bad
 * option.
 */
export async function openJetStreamStore(cluster: ClusterConfig, config: StoreConfig, options: OpenJetStreamStoreOptions = {}): Promise<JetStreamStore> {
  const resolved = resolveJetStreamStoreOptions(options);
  const names = natsNames(resolved.prefix);
  const deadline = Date.now() + resolved.openTimeoutMs;
  let nc = options.connection;
  const owns = nc === undefined;
  let lastError: unknown;
  // Bounded by the deadline; each pass waits a connect or API timeout or half a second.
  while (Date.now() < deadline) {
    try {
      nc ??= await connect({ ...natsConnectOptions(cluster), timeout: Math.max(100, Math.min(5_000, deadline - Date.now())) });
      const jsm = await jetstreamManager(nc, { timeout: resolved.ackTimeoutMs });
      const info = await ensureReadingsStream(jsm, {
        name: names.stream, subject: names.readingsFilter, replicas: cluster.replicas, duplicateWindowMs: resolved.duplicateWindowMs, store: config,
      });
      const cursors = await CursorBucket.open(nc, names.cursorBucket, cluster.replicas, resolved.ackTimeoutMs);
      const store = new JetStreamStore(nc, owns, jsm, jetstream(nc, { timeout: resolved.ackTimeoutMs }), names, cursors, resolved);
      store.noteStreamState(info.state.first_seq, info.state.last_seq, info.state.bytes);
      resolved.log.log('info', 'store.open', { backend: 'jetstream', node: cluster.node, stream: names.stream, first: store.firstPosition(), next: store.nextPosition() });
      return store;
    } catch (err) {
      if (isFleethubError(err, 'FH_ERR_CONFIG')) throw err;
      lastError = err;
      resolved.log.log('warn', 'store.open_retry', { reason: err instanceof Error ? err.message : String(err) });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (owns) await nc?.close().catch(() => {});
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new FleethubError('FH_ERR_STORE_IO', `store: cannot reach JetStream at ${cluster.nats.servers.join(', ')}: ${reason}`, { cause: lastError });
}

/** The store on JetStream. Obtain one with {@link openJetStreamStore}. */
export class JetStreamStore implements Store {
  readonly #nc: NatsConnection;
  readonly #ownsConnection: boolean;
  readonly #jsm: JetStreamManager;
  readonly #js: JetStreamClient;
  readonly #names: NatsNames;
  readonly #cursors: CursorBucket;
  readonly #opts: ResolvedJetStreamStoreOptions;
  readonly #log: Logger;
  readonly #lanes = new Map<string, Lane>();
  readonly #readWaiters = new PositionWaiters();
  readonly #listeners = new Set<(readings: readonly StoredReading[]) => void>();
  #commitBatch: StoredReading[] = [];
  #first = 0;
  #next = 0;
  #streamBytes = 0;
  #inflight = 0;
  #idleWaiters: (() => void)[] = [];
  #refreshing: Promise<void> | null = null;
  #refreshTimer: NodeJS.Timeout | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  readonly #stats = { acks: 0, ackSeconds: 0, lastAckMs: 0, appended: 0, duplicates: 0, staleDuplicates: 0, conflicts: 0 };

  /** @internal Use {@link openJetStreamStore}. */
  constructor(nc: NatsConnection, ownsConnection: boolean, jsm: JetStreamManager, js: JetStreamClient, names: NatsNames, cursors: CursorBucket, opts: ResolvedJetStreamStoreOptions) {
    this.#nc = nc;
    this.#ownsConnection = ownsConnection;
    this.#jsm = jsm;
    this.#js = js;
    this.#names = names;
    this.#cursors = cursors;
    this.#opts = opts;
    this.#log = opts.log;
    this.#scheduleRefresh();
  }

  /**
   * Reads the device's state (lastSeq, dedupe window, daily count, latest
   * reading) from its last message in the stream, after this hub's readings
   * of it that are in flight. Call it when the device connects, before
   * {@link lastSeq}: another hub may have stored readings of it since this
   * hub last saw it. Rejects with FH_ERR_STORE_IO when JetStream does not
   * answer within the retry horizon.
   */
  openDevice(device: string): Promise<void> {
    const lane = this.#lane(device);
    const step = lane.tail.then(async () => {
      await this.#load(lane, device);
    });
    lane.tail = step.catch(() => {});
    return step;
  }

  append(readings: readonly Reading[]): Promise<AppendOutcome[]> {
    if (this.#closed) return Promise.reject(new FleethubError('FH_ERR_STORE_IO', 'store: closed'));
    const jsons: string[] = [];
    for (const reading of readings) {
      const problem = readingProblem(reading);
      if (problem !== null) return Promise.reject(new FleethubError('FH_ERR_INVALID_ARGUMENT', `store: ${problem}`));
      try {
        jsons.push(reading.dataJson ?? JSON.stringify(reading.data));
      } catch (err) {
        return Promise.reject(new FleethubError('FH_ERR_INVALID_ARGUMENT', `store: cannot encode a reading of ${reading.device}`, { cause: err }));
      }
    }
    const hubTime = this.#opts.now();
    return Promise.all(readings.map((reading, i) => this.#enqueue(reading, jsons[i] as string, hubTime)));
  }

  lastSeq(device: string): number | null {
    return this.#lanes.get(device)?.state?.window.lastSeq ?? null;
  }

  countToday(device: string, now: number = this.#opts.now()): number {
    return this.#lanes.get(device)?.state?.countOn(now) ?? 0;
  }

  latest(device: string): StoredReading | undefined {
    return this.#lanes.get(device)?.state?.latest(device);
  }

  *devices(): Iterable<string> {
    for (const [device, lane] of this.#lanes) if (lane.state?.window.lastSeq != null) yield device;
  }

  onCommit(listener: (readings: readonly StoredReading[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  firstPosition(): number {
    return this.#first;
  }

  nextPosition(): number {
    return this.#next;
  }

  async read(from: number, max: number): Promise<ReadResult> {
    if (!Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(max) || max < 0) {
      throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `store: read(from, max) needs non-negative integers, got ${from}, ${max}`);
    }
    const limit = Math.min(max, MAX_READ_READINGS, this.#opts.readBatch);
    // Bounded: another pass only after a refresh showed retention moved the first position on.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (Math.max(from, this.#first) >= this.#next) await this.#refresh(); // other hubs may have appended
      const start = Math.max(from, this.#first);
      if (start >= this.#next || limit === 0) return { readings: [], next: start, skipped: start - from };
      const count = Math.min(limit, this.#next - start);
      const messages = await Promise.all(Array.from({ length: count }, (_, k) => this.#getBySeq(start + k + 1)));
      const readings: StoredReading[] = [];
      for (const msg of messages) {
        if (msg === null) {
          if (readings.length === 0) continue; // deleted by retention since the last refresh
          break;
        }
        readings.push(decodeReading(msg, this.#names.readingsPrefix));
      }
      const head = readings[0];
      if (head === undefined) {
        await this.#refresh();
        continue;
      }
      return { readings, next: head.position + readings.length, skipped: head.position - from };
    }
    const start = Math.max(from, this.#first);
    return { readings: [], next: start, skipped: start - from };
  }

  waitFor(position: number, signal?: AbortSignal): Promise<void> {
    if (position < this.#next || this.#closed || signal?.aborted === true) return Promise.resolve();
    return this.#readWaiters.wait(position, signal);
  }

  cursor(name: string): Promise<number> {
    return this.#cursors.get(name);
  }

  saveCursor(name: string, position: number): Promise<void> {
    return this.#cursors.set(name, position);
  }

  deleteCursor(name: string): Promise<void> {
    return this.#cursors.delete(name);
  }

  cursorNames(): string[] {
    return this.#cursors.names();
  }

  stats(): StoreStats {
    const s = this.#stats;
    let devices = 0;
    for (const lane of this.#lanes.values()) if (lane.state?.window.lastSeq != null) devices += 1;
    return {
      bytes: this.#streamBytes,
      segments: 0,
      readings: this.#next - this.#first,
      fsyncs: s.acks,
      fsyncSeconds: s.ackSeconds,
      lastFsyncMs: s.lastAckMs,
      firstPosition: this.#first,
      nextPosition: this.#next,
      devices,
      appended: s.appended,
      duplicates: s.duplicates,
      staleDuplicates: s.staleDuplicates,
      checkpoints: 0,
      deletedSegments: 0,
      retentionBlockedBytes: 0,
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** @internal The stream's state as JetStream reported it: first and last sequence, bytes. */
  noteStreamState(firstSeq: number, lastSeq: number, bytes: number): void {
    // An empty stream reports first = last + 1 (or 0, 0 when new): both give first position = last seq.
    this.#first = Math.max(this.#first, Math.min(Math.max(firstSeq - 1, 0), lastSeq));
    this.#advance(lastSeq);
    this.#streamBytes = bytes;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true; // resends stop after their current attempt: close is bounded by one ack timeout
    if (this.#refreshTimer !== null) clearTimeout(this.#refreshTimer);
    if (this.#inflight > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    await this.#refreshing;
    this.#flushCommits();
    this.#readWaiters.releaseAll();
    if (this.#ownsConnection) await this.#nc.close().catch(() => {});
    this.#log.log('info', 'store.closed', { backend: 'jetstream', next: this.#next });
  }

  #lane(device: string): Lane {
    let lane = this.#lanes.get(device);
    if (lane === undefined) {
      lane = { state: null, lastSubjectSeq: 0, tail: Promise.resolve(), tickets: 0, failedThrough: 0 };
      this.#lanes.set(device, lane);
    }
    return lane;
  }

  #enqueue(reading: Reading, json: string, hubTime: number): Promise<AppendOutcome> {
    const lane = this.#lane(reading.device);
    lane.tickets += 1;
    const ticket = lane.tickets;
    this.#inflight += 1;
    const step = lane.tail.then(() => this.#storeOne(lane, reading, json, hubTime, ticket));
    lane.tail = step.catch(() => {});
    return step.finally(() => {
      this.#inflight -= 1;
      if (this.#inflight === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    });
  }

  async #storeOne(lane: Lane, reading: Reading, json: string, hubTime: number, ticket: number): Promise<AppendOutcome> {
    const { device, seq, ts, data } = reading;
    if (ticket <= lane.failedThrough) {
      throw new FleethubError('FH_ERR_STORE_IO', `store: not publishing ${device} seq ${seq}: an earlier reading of the device was not stored`);
    }
    try {
      for (let conflicts = 0; conflicts < MAX_CONFLICTS; conflicts += 1) {
        const state = lane.state ?? (await this.#load(lane, device));
        const status = state.window.check(seq);
        if (status !== 'new') {
          // SPEC: a repeat is acked again, not stored twice.
          this.#stats.duplicates += 1;
          if (status === 'stale') this.#stats.staleDuplicates += 1;
          return 'duplicate';
        }
        const started = performance.now();
        const result = await publishUntilAcked(this.#js, {
          subject: this.#names.readingsPrefix + encodeToken(device),
          payload: json,
          msgID: readingMsgId(device, seq),
          headers: readingHeaders(seq, ts, stateAfter(state, seq, hubTime), lane.lastSubjectSeq),
        }, this.#publishLimits());
        if (result.kind === 'conflict') {
          // Another hub wrote this device since this hub read its state: read it again and decide anew.
          this.#stats.conflicts += 1;
          lane.state = null;
          continue;
        }
        const { ack, resent } = result;
        if (ack.duplicate && !resent) {
          // Stored before, by a publish that this hub gave up on or by another hub: the stream knows better.
          lane.state = null;
          this.#stats.duplicates += 1;
          return 'duplicate';
        }
        // Stored: by this publish, or by an earlier attempt of it whose ack was lost (then JetStream says duplicate).
        const ms = performance.now() - started;
        this.#stats.acks += 1;
        this.#stats.ackSeconds += ms / 1000;
        this.#stats.lastAckMs = ms;
        this.#stats.appended += 1;
        const stored: StoredReading = { device, seq, ts, data, position: ack.seq - 1 };
        state.apply(stored, hubTime, json);
        lane.lastSubjectSeq = ack.seq;
        if (ack.duplicate) lane.state = null; // re-read once: the copy JetStream kept is the authority
        this.#committed(stored);
        return 'stored';
      }
      throw new FleethubError('FH_ERR_STORE_IO', `store: ${device} kept changing under this hub (is another hub writing it?)`);
    } catch (err) {
      lane.failedThrough = lane.tickets;
      lane.state = null;
      throw err;
    }
  }

  async #load(lane: Lane, device: string): Promise<DeviceState> {
    const subject = this.#names.readingsPrefix + encodeToken(device);
    const msg = await requestUntilAnswered(() => this.#jsm.streams.getMessage(this.#names.stream, { last_by_subj: subject }), this.#publishLimits(), `the last reading of ${device}`);
    let state: DeviceState;
    try {
      state = msg === null ? new DeviceState() : decodeDeviceState(msg);
    } catch (err) {
      throw new FleethubError('FH_ERR_STORE_IO', `store: the last reading of ${device} cannot be read`, { cause: err });
    }
    lane.state = state;
    lane.lastSubjectSeq = msg?.seq ?? 0;
    return state;
  }

  #getBySeq(seq: number): Promise<StoredMsg | null> {
    return requestUntilAnswered(() => this.#jsm.streams.getMessage(this.#names.stream, { seq }), this.#publishLimits(), `reading ${seq}`);
  }

  #publishLimits(): { ackTimeoutMs: number; retryMs: number; stopped: () => boolean } {
    return { ackTimeoutMs: this.#opts.ackTimeoutMs, retryMs: this.#opts.publishRetryMs, stopped: () => this.#closed };
  }

  #committed(reading: StoredReading): void {
    this.#advance(reading.position + 1);
    if (this.#listeners.size === 0) return;
    // One listener call per I/O round, not per ack: acks of one socket read arrive together.
    if (this.#commitBatch.length === 0) setImmediate(() => this.#flushCommits());
    this.#commitBatch.push(reading);
  }

  #flushCommits(): void {
    const batch = this.#commitBatch;
    if (batch.length === 0) return;
    this.#commitBatch = [];
    batch.sort((a, b) => a.position - b.position);
    const committed: readonly StoredReading[] = Object.freeze(batch);
    for (const listener of this.#listeners) {
      try {
        listener(committed);
      } catch (err) {
        this.#log.log('error', 'store.listener_failed', { reason: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  /** A JetStream ack of sequence `seq` means every lower sequence is stored too: the leader orders them. */
  #advance(lastSeq: number): void {
    if (lastSeq <= this.#next) return;
    this.#next = lastSeq;
    this.#readWaiters.wake(this.#next);
  }

  #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const info = await this.#jsm.streams.info(this.#names.stream);
        this.noteStreamState(info.state.first_seq, info.state.last_seq, info.state.bytes);
      } catch (err) {
        this.#log.log('debug', 'store.refresh_failed', { reason: err instanceof Error ? err.message : String(err) });
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  #scheduleRefresh(): void {
    if (this.#closed) return;
    this.#refreshTimer = setTimeout(() => {
      void this.#refresh().then(() => this.#scheduleRefresh());
    }, this.#opts.infoRefreshMs);
    this.#refreshTimer.unref();
  }
}

/** Why a reading cannot be stored, or null. The hub validates per SPEC first; this guards the stream's format. */
function readingProblem(reading: Reading): string | null {
  if (typeof reading.device !== 'string' || reading.device.length === 0 || reading.device.length > 255) return 'device must be a string of 1 to 255 characters';
  if (!Number.isSafeInteger(reading.seq) || reading.seq < 1) return `seq must be a safe integer >= 1, got ${reading.seq}`;
  if (typeof reading.ts !== 'number' || !Number.isFinite(reading.ts)) return `ts must be a finite number, got ${reading.ts}`;
  if (typeof reading.data !== 'object' || reading.data === null) return 'data must be an object';
  return null;
}
