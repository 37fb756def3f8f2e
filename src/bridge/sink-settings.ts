/**
 * What every sink's config section shares (SPEC: Sinks, Configuration): the
 * name, and how its runner batches, retries and keeps refused readings. Each
 * sink type reads the rest of its section in its own module
 * (`mqtt-config.ts`, `influx-config.ts`, `thingspeak-config.ts`).
 */
import { DEFAULT_BACKOFF_INITIAL_MS, DEFAULT_BACKOFF_MAX_MS } from '../backoff.js';
import type { ConfigReader } from '../config/config-reader.js';

/** How a runner reads, batches and retries; every sink type has these keys. */
export interface RunnerSettings {
  /** Readings read from the store and handed to the sink at once. @defaultValue per sink type; {@link DEFAULT_BATCH_SIZE} for a custom sink */
  readonly batchSize: number;
  /** When caught up, how long to wait for more readings before delivering a small batch (0: at once). @defaultValue {@link DEFAULT_FLUSH_INTERVAL_MS}; influx 1000 */
  readonly flushIntervalMs: number;
  /** First retry ceiling after a failed delivery (full jitter below it). @defaultValue {@link DEFAULT_SINK_BACKOFF_INITIAL_MS} */
  readonly backoffInitialMs: number;
  /** Largest retry ceiling: a dead destination is retried at least this often. @defaultValue {@link DEFAULT_SINK_BACKOFF_MAX_MS} */
  readonly backoffMaxMs: number;
  /**
   * Bytes of the file that keeps the readings the destination refused for
   * good (`<dataDir>/sinks/<name>.rejected.jsonl`); past it the file is
   * rotated to `.1`, so at most twice this is kept. @defaultValue {@link DEFAULT_REJECTED_FILE_BYTES}
   */
  readonly rejectedFileBytes: number;
}

/** Shared by every resolved sink configuration. */
export interface SinkConfigBase extends RunnerSettings {
  /** Unique among the sinks; names the cursor (`sink:<name>`), the metrics label and the rejected-readings file. */
  readonly name: string;
  /** Where it sits in the config file (`sinks[0]`), for error messages. */
  readonly path: string;
}

export const DEFAULT_BATCH_SIZE = 1_000;
export const DEFAULT_FLUSH_INTERVAL_MS = 0;
export const DEFAULT_SINK_BACKOFF_INITIAL_MS = DEFAULT_BACKOFF_INITIAL_MS;
export const DEFAULT_SINK_BACKOFF_MAX_MS = DEFAULT_BACKOFF_MAX_MS;
/** 1 MiB: some thousands of refused readings, enough to see what went wrong; a flood of them cannot fill the disk. */
export const DEFAULT_REJECTED_FILE_BYTES = 1024 * 1024;

/** Runner settings of a sink handed to `createBridge` as an instance that declares none. */
export const DEFAULT_RUNNER_SETTINGS: RunnerSettings = Object.freeze({
  batchSize: DEFAULT_BATCH_SIZE,
  flushIntervalMs: DEFAULT_FLUSH_INTERVAL_MS,
  backoffInitialMs: DEFAULT_SINK_BACKOFF_INITIAL_MS,
  backoffMaxMs: DEFAULT_SINK_BACKOFF_MAX_MS,
  rejectedFileBytes: DEFAULT_REJECTED_FILE_BYTES,
});

/** A sink's name: it becomes a file name and a metrics label, so a small alphabet. */
export const SINK_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Upper bound of the time options (a day). */
export const MAX_MS = 24 * 3600 * 1000;

/** Reads the runner keys of a sink section, with the sink type's own defaults. */
export function readRunnerSettings(r: ConfigReader, defaults: Pick<RunnerSettings, 'batchSize' | 'flushIntervalMs'>): RunnerSettings {
  const settings = {
    batchSize: r.int('batchSize', 1, 100_000, defaults.batchSize),
    flushIntervalMs: r.int('flushIntervalMs', 0, 60_000, defaults.flushIntervalMs),
    backoffInitialMs: r.int('backoffInitialMs', 1, 60_000, DEFAULT_SINK_BACKOFF_INITIAL_MS),
    backoffMaxMs: r.int('backoffMaxMs', 1, 3_600_000, DEFAULT_SINK_BACKOFF_MAX_MS),
    rejectedFileBytes: r.int('rejectedFileBytes', 1024, 1024 * 1024 * 1024, DEFAULT_REJECTED_FILE_BYTES),
  };
  if (settings.backoffMaxMs < settings.backoffInitialMs) {
    throw r.fail('backoffMaxMs', `at least backoffInitialMs (${settings.backoffInitialMs})`, settings.backoffMaxMs);
  }
  return settings;
}

/** Reads `name` and checks it against {@link SINK_NAME_PATTERN}. */
export function readSinkName(r: ConfigReader): string {
  const name = r.string('name');
  if (!SINK_NAME_PATTERN.test(name)) throw r.fail('name', '1 to 64 of A-Z a-z 0-9 . _ - starting with a letter or digit', name);
  return name;
}

/** Where relative file paths in a sink section are taken from. */
export interface SinkResolveContext {
  /** The config file's folder (absent: the working directory). */
  readonly baseDir?: string;
}
