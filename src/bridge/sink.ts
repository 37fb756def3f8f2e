/**
 * The sink contract: what every destination (MQTT broker, InfluxDB,
 * ThingSpeak) implements. The {@link SinkRunner} owns the position, retries,
 * backoff and the poison-reading rule; a sink only turns one batch into
 * writes at its destination and says, by the error it throws, whether a
 * failure is worth retrying. One contract suite (test/bridge/sink-contract.ts)
 * runs against every sink.
 */
import type { StoredReading } from '../store/types.js';
import type { RunnerSettings } from './sink-settings.js';

/** A destination the bridge delivers stored readings to. */
export interface Sink {
  /** The configured name; unique among the sinks (it names the cursor, the metrics and the rejected-readings file). */
  readonly name: string;
  /** The `type` label of its metrics. @defaultValue `"custom"` for a sink handed to `createBridge` as an instance */
  readonly type?: string;
  /** How the runner batches and retries for this sink, when handed to `createBridge` as an instance. @defaultValue {@link DEFAULT_RUNNER_SETTINGS} */
  readonly settings?: Partial<RunnerSettings>;
  /**
   * Delivers the batch, in order. Resolves only when the destination has
   * accepted every reading of it (PUBACK/PUBCOMP, HTTP 2xx, ...); rejects on
   * any failure. Must be safe to call again with the same batch (or a part
   * of it) after a failure: delivery is at least once (SPEC: Sinks), so a
   * repeat may reach the destination twice but nothing may be lost.
   *
   * Rejects with a {@link SinkRefusedError} when the batch can never be
   * delivered as it is (the destination refused it as malformed, or a
   * reading cannot be encoded); any other error means "try again later"
   * (destination unavailable, timeout, connection refused). The runner then
   * finds the refused reading(s) by delivering parts of the batch, sets them
   * aside and goes on (the poison-reading rule).
   *
   * `signal` aborts when the runner closes: a sink stops waiting (for a
   * connection, a rate-limit interval) and rejects, so that shutdown is
   * prompt; the runner then delivers the batch again after the restart.
   */
  deliver(batch: readonly StoredReading[], signal: AbortSignal): Promise<void>;
  /** What the sink dropped on purpose since the last call (see {@link SinkDrops}), then resets it. */
  takeDrops?(): SinkDrops;
  /** Closes connections and timers; a delivery after close rejects. Idempotent. */
  close(): Promise<void>;
}

/**
 * Readings a sink accepted from the runner but deliberately did not write:
 * `unmapped` (a ThingSpeak sink has no channel for the device). Readings the
 * destination refuses are not dropped by the sink but thrown back as a
 * {@link SinkRefusedError}, so that the runner keeps them (see `rejected` in
 * the runner's stats).
 */
export interface SinkDrops {
  readonly unmapped: number;
}

/**
 * Thrown by {@link Sink.deliver} when the destination refuses a batch for
 * good: retrying it unchanged would fail the same way forever (InfluxDB 400,
 * ThingSpeak 4xx other than 401/403/404/408/429, a reading that cannot be
 * encoded). Any other error is taken as "unavailable, try again".
 */
export class SinkRefusedError extends Error {
  override readonly name = 'SinkRefusedError';
}

/** True for a {@link SinkRefusedError} (also across copies of the module). */
export function isSinkRefused(err: unknown): err is SinkRefusedError {
  return err instanceof SinkRefusedError || (err instanceof Error && err.name === 'SinkRefusedError');
}

/** Aborts with the signal's reason, or resolves after `ms`. Leaves no timer behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error a sink rejects with when the runner's signal aborts. */
export function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('aborted', { cause: reason });
}
