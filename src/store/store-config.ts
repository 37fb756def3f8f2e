/**
 * The `store` section of the hub's config: the embedded log's sizes,
 * retention and group-commit pacing, with their defaults.
 */

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
   * the previous one ends).
   */
  readonly commitIntervalMs: number;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_RETENTION_BYTES = 10 * 1024 * 1024 * 1024;
export const DEFAULT_RETENTION_HOURS = 7 * 24;
export const DEFAULT_COMMIT_INTERVAL_MS = 10;
/** Longest `store.commitIntervalMs`: an ack should never wait a second for its group. */
export const MAX_COMMIT_INTERVAL_MS = 1000;
/** The store section with every default, for code that opens a store without a hub config. */
export const DEFAULT_STORE_CONFIG: StoreConfig = Object.freeze({
  segmentBytes: DEFAULT_SEGMENT_BYTES,
  retentionBytes: DEFAULT_RETENTION_BYTES,
  retentionHours: DEFAULT_RETENTION_HOURS,
  commitIntervalMs: DEFAULT_COMMIT_INTERVAL_MS,
});
