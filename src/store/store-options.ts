/**
 * The store's tuning options (besides `StoreConfig` from the config's `store` section):
 * input type, `DEFAULT_*` constants and one resolver, which also checks the
 * config values the store relies on.
 */
import { performance } from 'node:perf_hooks';
import { ConfigReader, MAX_CONFIG_INTEGER } from '../config/config-reader.js';
import { SILENT_LOGGER, type Logger } from '../log.js';
import { checkStoreConfig, type StoreConfig } from './store-config.js';
import type { HistoryWriteTiming } from './history/write-timing.js';

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
/**
 * Most bytes of a history index file held in memory while it is written (a
 * sealed segment's frames are copied into it by device); a larger file is
 * written in several passes over its segment. The memory is kept from one
 * sealed segment to the next (fresh memory for each cost more CPU in page
 * faults than the copy). @defaultValue 64 MiB (a default segment's frames:
 * one pass, and a short one for the last group commit past the size)
 */
export const DEFAULT_HISTORY_WRITE_WINDOW_BYTES = 64 * 1024 * 1024;
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
  /**
   * Whether the store keeps a history index (`history()` answers). False
   * writes no index files and `history()` rejects with
   * FH_ERR_INVALID_ARGUMENT: the baseline the store benchmark measures the
   * index's write cost against. @defaultValue true
   */
  readonly historyIndex?: boolean;
  /** @defaultValue {@link DEFAULT_HISTORY_WRITE_WINDOW_BYTES} */
  readonly historyWriteWindowBytes?: number;
  /**
   * Where to add up the history index's own write work (history/write-timing.ts):
   * for the store benchmark. Null times nothing. @defaultValue null
   */
  readonly historyTiming?: HistoryWriteTiming | null;
}

/** {@link StoreOptions} with every default filled in. */
export type ResolvedStoreOptions = Required<StoreOptions>;

/**
 * Checks `config` by the config file's own rules (the `store` section's
 * reader) and fills in the options' defaults. Throws FH_ERR_CONFIG naming the
 * key (`store.segmentBytes`, `storeOptions.readMaxBytes`).
 */
export function resolveStoreOptions(config: StoreConfig, options: StoreOptions): ResolvedStoreOptions {
  checkStoreConfig(config);
  const r = ConfigReader.options(options, 'storeOptions');
  const resolved: ResolvedStoreOptions = {
    log: options.log ?? SILENT_LOGGER,
    now: options.now ?? Date.now,
    monotonic: options.monotonic ?? (() => performance.now()),
    checkpointBytes: r.int('checkpointBytes', 1, MAX_CONFIG_INTEGER, DEFAULT_CHECKPOINT_BYTES),
    retentionCheckMs: r.int('retentionCheckMs', 1, MAX_CONFIG_INTEGER, DEFAULT_RETENTION_CHECK_MS),
    readMaxBytes: r.int('readMaxBytes', 64, MAX_CONFIG_INTEGER, DEFAULT_READ_MAX_BYTES),
    recoveryCheckMs: r.int('recoveryCheckMs', 1, MAX_CONFIG_INTEGER, DEFAULT_RECOVERY_CHECK_MS),
    historyIndex: r.bool('historyIndex', true),
    historyWriteWindowBytes: r.int('historyWriteWindowBytes', 1, MAX_CONFIG_INTEGER, DEFAULT_HISTORY_WRITE_WINDOW_BYTES),
    historyTiming: options.historyTiming ?? null,
  };
  return Object.freeze(resolved);
}
