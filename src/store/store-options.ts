/**
 * The store's tuning options (besides `StoreConfig` from the config's `store` section):
 * input type, `DEFAULT_*` constants and one resolver, which also checks the
 * config values the store relies on.
 */
import { performance } from 'node:perf_hooks';
import { FleethubError } from '../errors.js';
import { SILENT_LOGGER, type Logger } from '../log.js';
import type { StoreConfig } from './store-config.js';

/** Log bytes written between two checkpoints; bounds the replay at open. @defaultValue 16 MiB */
export const DEFAULT_CHECKPOINT_BYTES = 16 * 1024 * 1024;
/** How often age retention is checked (it also runs whenever a segment fills). @defaultValue 60 s */
export const DEFAULT_RETENTION_CHECK_MS = 60_000;
/** Bytes one `read()` call reads (more only for a single larger reading). @defaultValue 1 MiB */
export const DEFAULT_READ_MAX_BYTES = 1024 * 1024;
/**
 * While writes fail (disk full, I/O error), how often the store tries the
 * disk by itself (appends that arrive meanwhile try it too). @defaultValue 1 s
 */
export const DEFAULT_RECOVERY_CHECK_MS = 1000;
/** Readings one `read()` call returns at most, whatever `max` asks. */
export const MAX_READ_READINGS = 10_000;

/** Options of `openStore` besides the config. */
export interface StoreOptions {
  /** @defaultValue SILENT_LOGGER */
  readonly log?: Logger;
  /** The hub's clock (ms since epoch): day counts, age retention, new segments' times. @defaultValue Date.now */
  readonly now?: () => number;
  /**
   * A monotonic clock in ms: group-commit pacing, write and open durations.
   * Every time the store reads goes through `now` or this, so tests drive
   * both. @defaultValue performance.now
   */
  readonly monotonic?: () => number;
  /** @defaultValue {@link DEFAULT_CHECKPOINT_BYTES} */
  readonly checkpointBytes?: number;
  /** @defaultValue {@link DEFAULT_RETENTION_CHECK_MS} */
  readonly retentionCheckMs?: number;
  /** @defaultValue {@link DEFAULT_READ_MAX_BYTES} */
  readonly readMaxBytes?: number;
  /** @defaultValue {@link DEFAULT_RECOVERY_CHECK_MS} */
  readonly recoveryCheckMs?: number;
}

/** {@link StoreOptions} with every default filled in. */
export type ResolvedStoreOptions = Required<StoreOptions>;

function integer(key: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new FleethubError('FH_ERR_CONFIG', `config: ${key} must be an integer >= ${min}, got ${value}`);
  }
}

/** Checks `config` and fills in the options' defaults. Throws FH_ERR_CONFIG naming the key. */
export function resolveStoreOptions(config: StoreConfig, options: StoreOptions): ResolvedStoreOptions {
  integer('store.segmentBytes', config.segmentBytes, 1);
  integer('store.retentionBytes', config.retentionBytes, 0);
  integer('store.commitIntervalMs', config.commitIntervalMs, 0);
  if (typeof config.retentionHours !== 'number' || !Number.isFinite(config.retentionHours) || config.retentionHours < 0) {
    throw new FleethubError('FH_ERR_CONFIG', `config: store.retentionHours must be a non-negative number, got ${config.retentionHours}`);
  }
  const resolved: ResolvedStoreOptions = {
    log: options.log ?? SILENT_LOGGER,
    now: options.now ?? Date.now,
    monotonic: options.monotonic ?? (() => performance.now()),
    checkpointBytes: options.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES,
    retentionCheckMs: options.retentionCheckMs ?? DEFAULT_RETENTION_CHECK_MS,
    readMaxBytes: options.readMaxBytes ?? DEFAULT_READ_MAX_BYTES,
    recoveryCheckMs: options.recoveryCheckMs ?? DEFAULT_RECOVERY_CHECK_MS,
  };
  integer('store checkpointBytes', resolved.checkpointBytes, 1);
  integer('store retentionCheckMs', resolved.retentionCheckMs, 1);
  integer('store readMaxBytes', resolved.readMaxBytes, 64);
  integer('store recoveryCheckMs', resolved.recoveryCheckMs, 1);
  return Object.freeze(resolved);
}
