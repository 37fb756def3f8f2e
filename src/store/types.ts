/**
 * The store's contract: what the hub writes, and what readers (bridges,
 * dashboards) read. The append-only log in `log-store.ts` and the JetStream
 * store in `jetstream-store.ts` implement it.
 */

/** A telemetry value as the device protocol allows (SPEC: Device protocol). */
export type TelemetryValue = number | boolean | string;

/** A reading's fields, name → value. */
export type TelemetryData = Readonly<Record<string, TelemetryValue>>;

/** One accepted reading, about to be stored. */
export interface Reading {
  readonly device: string;
  readonly seq: number;
  /** ms since epoch: the device's `ts`, or the hub's receive time when it sent none. */
  readonly ts: number;
  readonly data: TelemetryData;
  /**
   * The JSON text of `data` when the caller already has it (the hub passes
   * the device's own text): stored as is instead of serialising `data`
   * again. It must parse to `data`.
   */
  readonly dataJson?: string;
}

/** A reading as stored, with its place in the log. */
export interface StoredReading extends Reading {
  /** Position in the log: dense, starting at 0, increasing by one per stored reading. */
  readonly position: number;
}

/**
 * What became of one reading handed to {@link Store.append}:
 * - `stored`: durable now;
 * - `duplicate`: the (device, seq) was stored before (or is in flight and now
 *   durable): the caller acks it again;
 * - `stale`: the seq is below the device's dedupe window, so the store cannot
 *   tell a new reading from a very late repeat. It is not stored, and the
 *   caller must not ack it (SPEC: an ack never covers a reading that is not
 *   stored): the hub nacks it with `invalid_message`.
 */
export type AppendOutcome = 'stored' | 'duplicate' | 'stale';

/** Whether the store can take appends now (SPEC: `/healthz`; close 1011). */
export interface StoreHealth {
  readonly ok: boolean;
  /** Why not, while not ok. */
  readonly error?: string;
  /** When it last changed (the store's wall clock, ms since epoch; its open time before any change), where the store knows. */
  readonly since?: number;
}

/** A page of committed readings. */
export interface ReadResult {
  readonly readings: readonly StoredReading[];
  /** The position to read from next. */
  readonly next: number;
  /** Readings between `from` and the first one returned that retention deleted. */
  readonly skipped: number;
}

/**
 * One page of a device's history (SPEC: History): its committed readings
 * whose `ts` lies in `[from, to)`, in the order they were stored (a device's
 * own order; the same as time order unless its clock went back).
 */
export interface HistoryQuery {
  readonly device: string;
  /** ms since epoch, inclusive. */
  readonly from: number;
  /** ms since epoch, exclusive; at least `from`. */
  readonly to: number;
  /** Readings in the page at most: 1 to `MAX_HISTORY_READINGS` (history-query.ts). */
  readonly limit: number;
  /** The `next` of the previous page of the same device and range: this page starts after it. */
  readonly cursor?: string | undefined;
}

/** What {@link StoreReader.history} answers. */
export interface HistoryPage {
  /** Oldest stored first, at most the query's `limit`. */
  readonly readings: readonly StoredReading[];
  /** An opaque cursor for the page after this one, or null when this one ends the range. */
  readonly next: string | null;
}

/** Read access to committed readings; all a bridge may see of the store. */
export interface StoreReader {
  /** Position of the oldest retained reading. */
  firstPosition(): number;
  /** One past the newest committed reading. */
  nextPosition(): number;
  /** Up to `max` committed readings from `from` (clamped to {@link firstPosition}). Never blocks writers. */
  read(from: number, max: number): Promise<ReadResult>;
  /** Resolves once a reading at `position` or later is committed, or when `signal` aborts or the store closes. */
  waitFor(position: number, signal?: AbortSignal): Promise<void>;
  /** The persisted position of the named reader (0 for a new one). */
  cursor(name: string): Promise<number>;
  /**
   * Persists the named reader's position (atomic: a crash keeps the old or the new one).
   * A saved cursor holds back retention until it passes the readings (see {@link StoreStats.retentionBlockedBytes}).
   */
  saveCursor(name: string, position: number): Promise<void>;
  /** Forgets a saved cursor (a sink removed from the config), so it no longer holds back retention. */
  deleteCursor(name: string): Promise<void>;
  /**
   * A page of one device's readings by time (see {@link HistoryQuery}),
   * found without reading the whole log. A device with no reading in the
   * range (or none at all) gets an empty page. Rejects with
   * FH_ERR_INVALID_ARGUMENT on a bad range, limit or cursor (history-query.ts).
   */
  history(query: HistoryQuery): Promise<HistoryPage>;
}

/** The durable store the hub writes to. */
export interface Store extends StoreReader {
  /**
   * Stores readings. Resolves after the fsync that covers all of them (SPEC:
   * ack means durable), once {@link onCommit} listeners were called with
   * them. Each device's readings take positions in the order given; readings
   * of different devices in one call may be stored in any order. A (device, seq) already stored or in flight is a
   * `duplicate`, not stored twice, and resolves once the original is durable;
   * a seq below the device's dedupe window is `stale` (see {@link AppendOutcome}).
   * Rejects (FH_ERR_STORE_IO) when the write failed: nothing of the batch
   * may then be acked. A store whose writes fail keeps trying the disk with
   * later appends and by itself, and reports it in {@link health}.
   */
  append(readings: readonly Reading[]): Promise<AppendOutcome[]>;
  /**
   * Makes the device's state (lastSeq, dedupe window, daily count) ready
   * before its session starts: the hub calls it on each device connection,
   * before `hello`, and sends `hello` only once it resolved (a cluster store
   * loads the state from the cluster here). Returns undefined when the state
   * is ready at once (the embedded log), so `hello` leaves with the upgrade's
   * response. A rejection refuses the connection (close 1011).
   */
  openDevice(device: string): Promise<void> | undefined;
  /**
   * The device's session ended. Calls pair with {@link openDevice}: a
   * device taken over by a newer connection on the same hub is opened twice
   * before the older one is released, so a store keeps a device's state while
   * more opens than releases were made. Never throws.
   */
  releaseDevice(device: string): void;
  /**
   * Forgets the device's seqs (lastSeq, dedupe window), so it starts again
   * from seq 1: the way out for a device that sent seq 2^53-1, or whose
   * counter went back below its dedupe window. Its stored readings, daily
   * count and latest reading stay. Survives restarts.
   */
  resetSeq(device: string): Promise<void>;
  /** Whether the store can take appends now; it changes back by itself once writes succeed again. */
  health(): StoreHealth;
  /** Highest seq stored for the device, or null (SPEC: hello.lastSeq). */
  lastSeq(device: string): number | null;
  /** Readings stored for the device on the UTC day of `now` (for msgsPerDay; survives restarts). */
  countToday(device: string, now?: number): number;
  /** The device's newest stored reading, if any (survives restarts). */
  latest(device: string): StoredReading | undefined;
  /** Every device with a stored reading. */
  devices(): Iterable<string>;
  /** Called with each group of readings right after the fsync that commits them. Returns an unsubscribe function. */
  onCommit(listener: (readings: readonly StoredReading[]) => void): () => void;
  /** Names of every saved cursor. */
  cursorNames(): string[];
  /** Figures for /metrics. */
  stats(): StoreStats;
  /** Flushes pending appends and closes files. Idempotent. */
  close(): Promise<void>;
}

/** Store figures for /metrics. */
export interface StoreStats {
  /** Bytes the store keeps on disk: its segments and, in the embedded log, their history index files (what `retentionBytes` bounds). */
  readonly bytes: number;
  /** Of `bytes`, those of the embedded log's history index files (absent in other stores). */
  readonly indexBytes?: number;
  readonly segments: number;
  readonly readings: number;
  readonly fsyncs: number;
  /** Sum of fsync durations in seconds, and the count above, make an average. */
  readonly fsyncSeconds: number;
  readonly lastFsyncMs: number;
  /** Position of the oldest retained reading. */
  readonly firstPosition: number;
  /** One past the newest committed reading. */
  readonly nextPosition: number;
  /** Devices with a stored reading. */
  readonly devices: number;
  /** Readings committed since open. */
  readonly appended: number;
  /**
   * The JetStream store's group commits since open: departures of its
   * publish window, each sending the readings gathered for it in one write
   * (at most one per `store.commitIntervalMs`). Absent in the embedded log,
   * whose group commits are {@link fsyncs}.
   */
  readonly publishBatches?: number;
  /** Repeats acked without storing, since open. */
  readonly duplicates: number;
  /**
   * Seqs below their device's dedupe window since open: the outcome `stale`,
   * neither stored nor acked (the name is from when they were acked as duplicates).
   */
  readonly staleDuplicates: number;
  /** Checkpoints written since open. */
  readonly checkpoints: number;
  /** Segments deleted by retention since open. */
  readonly deletedSegments: number;
  /** Bytes retention would delete but keeps because a saved cursor has not passed them (0: not blocked). */
  readonly retentionBlockedBytes: number;
}
