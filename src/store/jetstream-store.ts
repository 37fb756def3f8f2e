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
 * - A device's readings are published one after another (device-lanes.ts), each expecting the
 *   device's previous message to be the last on its subject. That keeps
 *   them in order per device, and makes the device's last message carry its
 *   whole state (reading-message.ts): lastSeq, the 4096-seq dedupe window,
 *   the daily count and the latest reading, read back by {@link
 *   JetStreamStore.openDevice} on whichever hub owns the device next. A hub
 *   whose copy of that state is stale (another hub wrote the device) is
 *   refused by JetStream and reloads it, so no second store of state has to
 *   be kept in step with the stream.
 * - Positions are stream sequences minus one (dense from 0, as the
 *   interface wants). Reads in sequence (a sink's) take one pull of a
 *   reader's consumer per batch (stream-readers.ts), others a get per
 *   reading; cursors live in a KV bucket (cursor-bucket.ts), seq
 *   resets in another (seq-reset-bucket.ts);
 *   retention is the stream's own max_age and max_bytes: unlike the embedded
 *   log's, it does not wait for saved cursors, and it follows the servers'
 *   clocks.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { FleethubError, isFleethubError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ClusterConfig } from './cluster-config.js';
import { PositionWaiters } from './position-waiters.js';
import type { StoreConfig } from './store-config.js';
import { MAX_READ_READINGS } from './store-options.js';
import { CursorBucket } from './jetstream/cursor-bucket.js';
import { checkStoreConfig } from './store-config.js';
import { natsConnectOptions, resolveJetStreamStoreOptions, type JetStreamStoreOptions, type ResolvedJetStreamStoreOptions } from './jetstream/jetstream-options.js';
import { DeviceLanes } from './jetstream/device-lanes.js';
import { HubHeartbeat } from './jetstream/hub-heartbeat.js';
import { natsNames, type NatsNames } from './jetstream/nats-names.js';
import { requestUntilAnswered, type Publish, type PublishLimits } from './jetstream/publish-retry.js';
import { AckInbox } from './jetstream/ack-inbox.js';
import { decodeReading, type ReadingMessage } from './jetstream/reading-message.js';
import { ensureReadingsStream } from './jetstream/readings-stream.js';
import { SeqResetBucket } from './jetstream/seq-reset-bucket.js';
import { StreamReaders } from './jetstream/stream-readers.js';
import type { AppendOutcome, HistoryPage, HistoryQuery, ReadResult, Reading, Store, StoredReading, StoreHealth, StoreStats } from './types.js';
import { checkHistoryQuery } from './history-query.js';
import { JetStreamHistory, resolveJetStreamHistoryOptions, type JetStreamHistoryOptions } from './jetstream/history.js';

export * from './jetstream/jetstream-options.js';
export { DEFAULT_HISTORY_CLOCK_SKEW_MS, DEFAULT_HISTORY_SCAN_MESSAGES, type JetStreamHistoryOptions } from './jetstream/history.js';

/** Options of {@link openJetStreamStore}. */
export interface OpenJetStreamStoreOptions extends JetStreamStoreOptions, JetStreamHistoryOptions {
  /** A connection to use instead of opening one from the config; the store leaves it open on close. */
  readonly connection?: NatsConnection;
}

/**
 * Connects to NATS (unless given a connection), creates or updates the
 * readings stream and the cursor and heartbeat buckets, and returns the store. Keeps trying
 * for `openTimeoutMs`, then throws FH_ERR_STORE_IO; FH_ERR_CONFIG on a bad
 * option.
 */
export async function openJetStreamStore(cluster: ClusterConfig, config: StoreConfig, options: OpenJetStreamStoreOptions = {}): Promise<JetStreamStore> {
  checkStoreConfig(config);
  const resolved = resolveJetStreamStoreOptions(options);
  const historyOptions = resolveJetStreamHistoryOptions(options);
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
      const heartbeat = await HubHeartbeat.open(nc, names.hubBucket, cluster.node, cluster.replicas, resolved.ackTimeoutMs);
      const resets = await SeqResetBucket.open(nc, names.seqResetBucket, cluster.replicas, resolved.ackTimeoutMs);
      const js = jetstream(nc, { timeout: resolved.ackTimeoutMs });
      const history = new JetStreamHistory(js, names, historyOptions, resolved.ackTimeoutMs);
      const store = new JetStreamStore({ nc, ownsConnection: owns, jsm, js, names, cursors, resets, heartbeat, opts: resolved, history, commitIntervalMs: config.commitIntervalMs });
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

/** What a {@link JetStreamStore} is made of. */
interface JetStreamStoreInit {
  readonly nc: NatsConnection;
  /** Whether the store opened the connection (and closes it). */
  readonly ownsConnection: boolean;
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  readonly names: NatsNames;
  readonly cursors: CursorBucket;
  readonly resets: SeqResetBucket;
  readonly heartbeat: HubHeartbeat;
  readonly opts: ResolvedJetStreamStoreOptions;
  readonly history: JetStreamHistory;
  /** `store.commitIntervalMs`: readings go to JetStream at most this often (publish-window.ts). */
  readonly commitIntervalMs: number;
}

/** The store on JetStream. Obtain one with {@link openJetStreamStore}. */
export class JetStreamStore implements Store {
  readonly #nc: NatsConnection;
  readonly #ownsConnection: boolean;
  readonly #jsm: JetStreamManager;
  readonly #names: NatsNames;
  readonly #cursors: CursorBucket;
  readonly #heartbeat: HubHeartbeat;
  readonly #opts: ResolvedJetStreamStoreOptions;
  readonly #log: Logger;
  readonly #lanes: DeviceLanes;
  readonly #readers: StreamReaders;
  readonly #readWaiters = new PositionWaiters();
  readonly #listeners = new Set<(readings: readonly StoredReading[]) => void>();
  #commitBatch: StoredReading[] = [];
  #first = 0;
  #next = 0;
  #streamBytes = 0;
  #refreshing: Promise<void> | null = null;
  #refreshTimer: NodeJS.Timeout | null = null;
  /** The current refresh-and-heartbeat tick, awaited by close. */
  #ticking: Promise<void> = Promise.resolve();
  #closed = false;
  #closing: Promise<void> | null = null;
  /** When JetStream last acked a write of this hub (a reading or the heartbeat), ms since epoch. */
  #lastContactAt = Date.now();
  /** When the store last became healthy (its open time before any outage). */
  #healthySince = this.#lastContactAt;
  /** When the store closed, or null. */
  #closedAt: number | null = null;
  readonly #limits: PublishLimits;
  readonly #history: JetStreamHistory;
  readonly #acks: AckInbox;

  /** @internal Use {@link openJetStreamStore}. */
  constructor(init: JetStreamStoreInit) {
    this.#nc = init.nc;
    this.#ownsConnection = init.ownsConnection;
    this.#jsm = init.jsm;
    this.#names = init.names;
    this.#cursors = init.cursors;
    this.#heartbeat = init.heartbeat;
    this.#opts = init.opts;
    this.#log = init.opts.log;
    const limits = { ackTimeoutMs: init.opts.ackTimeoutMs, retryMs: init.opts.publishRetryMs, stopped: () => this.#closed };
    const acks = new AckInbox(init.nc, init.opts.ackTimeoutMs);
    this.#acks = acks;
    const publish: Publish = (subject, payload, msgID, headers) => acks.publish(subject, payload, msgID, headers);
    this.#lanes = new DeviceLanes({ publish, jsm: init.jsm, names: init.names, limits, resets: init.resets, commitIntervalMs: init.commitIntervalMs, committed: (reading) => this.#committed(reading) });
    this.#limits = limits;
    this.#readers = new StreamReaders({
      jsm: init.jsm, js: init.js, stream: init.names.stream, max: init.opts.readConsumers, timeoutMs: init.opts.ackTimeoutMs, log: init.opts.log,
    });
    this.#history = init.history;
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
  /** The NATS connection the store works on (cluster coordination shares it; the store closes it when it opened it). */
  get connection(): NatsConnection {
    return this.#nc;
  }

  openDevice(device: string): Promise<void> {
    if (this.#closed) return Promise.reject(new FleethubError('FH_ERR_STORE_IO', 'store: closed'));
    return this.#lanes.open(device);
  }

  releaseDevice(device: string): void {
    this.#lanes.release(device);
  }

  /**
   * Forgets the device's seqs (seq-reset-bucket.ts), after this hub's
   * readings of it in flight. Another hub serving the device at the same
   * time keeps its copy until the device reconnects (openDevice reads the
   * reset): reset a device that is not connected.
   */
  resetSeq(device: string): Promise<void> {
    if (this.#closed) return Promise.reject(new FleethubError('FH_ERR_STORE_IO', 'store: closed'));
    return this.#lanes.resetSeq(device);
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
    return Promise.all(readings.map((reading, i) => this.#lanes.append(reading, jsons[i] as string, hubTime))).then((outcomes) => {
      // Listeners see a reading before its append resolves (the caller acks then), not one I/O round later.
      this.#flushCommits();
      return outcomes;
    });
  }

  lastSeq(device: string): number | null {
    return this.#lanes.state(device)?.window.lastSeq ?? null;
  }

  countToday(device: string, now: number = this.#opts.now()): number {
    return this.#lanes.state(device)?.countOn(now) ?? 0;
  }

  latest(device: string): StoredReading | undefined {
    return this.#lanes.state(device)?.latest(device);
  }

  devices(): Iterable<string> {
    return this.#lanes.devices();
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
      // A reader's pull when one goes on from here (sequential reads), else one get per reading.
      const messages: ReadonlyArray<ReadingMessage | null> =
        (await this.#readers.read(start + 1, count)) ?? (await Promise.all(Array.from({ length: count }, (_, k) => this.#getBySeq(start + k + 1))));
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

  /** See StoreReader.history: from the device's own subject (jetstream/history.ts). */
  async history(query: HistoryQuery): Promise<HistoryPage> {
    if (this.#closed) throw new FleethubError('FH_ERR_STORE_IO', 'store: closed');
    return this.#history.query(checkHistoryQuery(query));
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
    const s = this.#lanes.stats;
    return {
      bytes: this.#streamBytes,
      segments: 0,
      readings: this.#next - this.#first,
      fsyncs: s.acks,
      fsyncSeconds: s.ackSeconds,
      lastFsyncMs: s.lastAckMs,
      firstPosition: this.#first,
      nextPosition: this.#next,
      devices: this.#lanes.deviceCount(),
      appended: s.appended,
      publishBatches: this.#lanes.publishBatches,
      duplicates: s.duplicates,
      staleDuplicates: s.staleDuplicates,
      checkpoints: 0,
      deletedSegments: 0,
      retentionBlockedBytes: 0,
    };
  }

  /**
   * Healthy while JetStream acked a write of this hub within
   * `quorumLossMs`: a reading, or the heartbeat written every
   * `infoRefreshMs` (hub-heartbeat.ts), so an idle hub is not reported
   * unhealthy. `since` is when that last changed.
   */
  health(now: number = Date.now()): StoreHealth {
    if (this.#closedAt !== null) return { ok: false, error: 'store closed', since: this.#closedAt };
    const silentMs = now - this.#lastContactAt;
    if (silentMs < this.#opts.quorumLossMs) return { ok: true, since: this.#healthySince };
    return {
      ok: false,
      error: `JetStream acked no write for ${silentMs} ms (no quorum, or NATS unreachable)`,
      since: this.#lastContactAt + this.#opts.quorumLossMs,
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
    this.#closedAt = Date.now();
    if (this.#refreshTimer !== null) clearTimeout(this.#refreshTimer);
    await this.#lanes.idle();
    await this.#ticking;
    await this.#readers.close();
    this.#acks.close();
    this.#flushCommits();
    this.#readWaiters.releaseAll();
    if (this.#ownsConnection) await this.#nc.close().catch(() => {});
    this.#log.log('info', 'store.closed', { backend: 'jetstream', next: this.#next });
  }

  #getBySeq(seq: number): Promise<StoredMsg | null> {
    return requestUntilAnswered(() => this.#jsm.streams.getMessage(this.#names.stream, { seq }), this.#limits, `reading ${seq}`);
  }

  /** JetStream acked a write of this hub at `now`. */
  #contact(now: number): void {
    if (now - this.#lastContactAt >= this.#opts.quorumLossMs) this.#healthySince = now; // healthy again after an outage
    this.#lastContactAt = Math.max(this.#lastContactAt, now);
  }

  #committed(reading: StoredReading): void {
    this.#contact(Date.now());
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

  async #beat(): Promise<void> {
    const now = Date.now();
    try {
      await this.#heartbeat.beat(now);
      this.#contact(now);
    } catch (err) {
      this.#log.log('debug', 'store.heartbeat_failed', { reason: err instanceof Error ? err.message : String(err) });
    }
  }

  #scheduleRefresh(): void {
    if (this.#closed) return;
    this.#refreshTimer = setTimeout(() => {
      this.#ticking = Promise.all([this.#refresh(), this.#beat()]).then(() => this.#scheduleRefresh());
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
