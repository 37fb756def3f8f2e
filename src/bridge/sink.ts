/**
 * The sink contract: what every destination (MQTT broker, InfluxDB,
 * ThingSpeak) implements. The {@link SinkRunner} owns the position, retries
 * and backoff; a sink only turns one batch into writes at its destination.
 * One contract suite (test/bridge/sink-contract.ts) runs against every sink.
 */
import type { StoredReading } from '../store/types.js';

/** A destination the bridge delivers stored readings to. */
export interface Sink {
  /** The configured name; unique among the sinks (it names the cursor and the metrics). */
  readonly name: string;
  /**
   * Delivers the batch, in order. Resolves only when the destination has
   * accepted every reading of it (PUBACK/PUBCOMP, HTTP 2xx, ...); rejects on
   * any failure. Must be safe to call again with the same batch after a
   * failure: delivery is at least once (SPEC: Sinks), so a repeat may reach
   * the destination twice but nothing may be lost.
   *
   * `signal` aborts when the runner closes: a sink stops waiting (for a
   * connection, a rate-limit interval) and rejects, so that shutdown is
   * prompt; the runner then delivers the batch again after the restart.
   */
  deliver(batch: readonly StoredReading[], signal: AbortSignal): Promise<void>;
  /** What the sink dropped on purpose since the last call (see {@link SinkDrops}), then resets it. */
  takeDrops?(): SinkDrops;
  /** Closes connections and timers. Idempotent. */
  close(): Promise<void>;
}

/**
 * Readings a sink accepted from the runner but deliberately did not write,
 * by reason: `rejected` (the destination refused them for good, e.g. an
 * InfluxDB field type conflict, so retrying would block the sink forever),
 * `unmapped` (a ThingSpeak sink has no channel for the device).
 */
export interface SinkDrops {
  readonly rejected: number;
  readonly unmapped: number;
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
