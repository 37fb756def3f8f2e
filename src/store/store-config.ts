/**
 * The `store` section of the hub's config: the embedded log's sizes,
 * retention and group-commit pacing, with their defaults and the one reader
 * of the section (the config file and `openStore` both go through it).
 */
import { ConfigReader, MAX_CONFIG_INTEGER } from '../config/config-reader.js';

/** The durable store. */
export interface StoreConfig {
  /** A segment file is closed and a new one started past this size. */
  readonly segmentBytes: number;
  /** Oldest segments are deleted while the store is larger than this (0: no size bound). */
  readonly retentionBytes: number;
  /** Segments whose newest reading is older than this are deleted (0: no age bound). */
  readonly retentionHours: number;
  /**
   * Group commits start at most this often, in ms. A reading that finds the
   * store idle for longer is synced at once; under load, readings gather for
   * up to this long and share one `fdatasync` (0: a commit starts as soon as
   * the previous one ends). In cluster mode the same for JetStream publishes
   * (jetstream/publish-window.ts), with its own default.
   */
  readonly commitIntervalMs: number;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_RETENTION_BYTES = 10 * 1024 * 1024 * 1024;
export const DEFAULT_RETENTION_HOURS = 7 * 24;
export const DEFAULT_COMMIT_INTERVAL_MS = 10;
/**
 * `store.commitIntervalMs` in cluster mode: a departure there is a Raft round
 * on three machines (a write, a replication and an ack per server), not one
 * `fdatasync`, and a longer group makes each reading's share of it smaller
 * (docs/benchmarks.md, cluster). An ack waits 25 ms longer on average, which a
 * device sending every few seconds does not notice.
 */
export const DEFAULT_CLUSTER_COMMIT_INTERVAL_MS = 50;
/** Longest `store.commitIntervalMs`: an ack should never wait a second for its group. */
export const MAX_COMMIT_INTERVAL_MS = 1000;
/** Smallest `store.segmentBytes`: a segment holds at least one reading of the smallest `maxPayloadBytes` (256) with its frame. */
export const MIN_SEGMENT_BYTES = 512;
/** Largest `store.segmentBytes`. */
export const MAX_SEGMENT_BYTES = 4 * 1024 * 1024 * 1024;
/** Largest `store.retentionHours`: a hundred years. */
export const MAX_RETENTION_HOURS = 100 * 365 * 24;
/** The store section with every default, for code that opens a store without a hub config. */
export const DEFAULT_STORE_CONFIG: StoreConfig = Object.freeze({
  segmentBytes: DEFAULT_SEGMENT_BYTES,
  retentionBytes: DEFAULT_RETENTION_BYTES,
  retentionHours: DEFAULT_RETENTION_HOURS,
  commitIntervalMs: DEFAULT_COMMIT_INTERVAL_MS,
});

/**
 * Reads the `store` section (keys absent take their `DEFAULT_*`; `clustered`:
 * the hub runs in cluster mode, where `commitIntervalMs` defaults to
 * {@link DEFAULT_CLUSTER_COMMIT_INTERVAL_MS}). Throws FH_ERR_CONFIG naming the key.
 */
export function readStoreSection(r: ConfigReader, clustered = false): StoreConfig {
  return Object.freeze({
    segmentBytes: r.int('segmentBytes', MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES, DEFAULT_SEGMENT_BYTES),
    retentionBytes: r.int('retentionBytes', 0, MAX_CONFIG_INTEGER, DEFAULT_RETENTION_BYTES),
    // Fractions allowed: half an hour is a fair retention to try things out with.
    retentionHours: r.number('retentionHours', 0, MAX_RETENTION_HOURS, DEFAULT_RETENTION_HOURS),
    commitIntervalMs: r.int('commitIntervalMs', 0, MAX_COMMIT_INTERVAL_MS, clustered ? DEFAULT_CLUSTER_COMMIT_INTERVAL_MS : DEFAULT_COMMIT_INTERVAL_MS),
  });
}

/** Checks a {@link StoreConfig} given in code by the same rules as the config file's `store` section. */
export function checkStoreConfig(config: StoreConfig): StoreConfig {
  const r = new ConfigReader(config, 'store');
  const checked = readStoreSection(r);
  r.done();
  return checked;
}
