/**
 * The live progress line on stderr while a fleet runs: connected, msgs/s,
 * acked, nacked, lost so far, ack p99. On a terminal it is rewritten in
 * place about once a second; otherwise (a log file, CI) a full line is
 * written every few seconds.
 */
import type { FleetStats } from './fleet-stats.js';

/** A line every this often when stderr is not a terminal. */
export const PROGRESS_LOG_EVERY_MS = 5_000;
/** Refresh period on a terminal. */
export const PROGRESS_TTY_EVERY_MS = 1_000;

/** Formats one progress line. Pure. */
export function formatProgress(
  stats: FleetStats,
  devices: number,
  elapsedMs: number,
  ackedPerSec: number,
  lostSoFar: number,
  phase: string,
): string {
  const p99 = stats.ackLatency.quantile(0.99);
  return (
    `sim ${(elapsedMs / 1000).toFixed(0).padStart(4)}s ${phase.padEnd(7)} ` +
    `connected ${stats.connected}/${devices}  ` +
    `${ackedPerSec.toFixed(0)} msg/s  ` +
    `sent ${stats.sent}  acked ${stats.acked}  nacked ${stats.nackedTotal}  lost ${lostSoFar}  ` +
    `ack p99 ${p99 >= 100 ? Math.round(p99) : p99.toFixed(1)} ms`
  );
}

/** Periodically writes {@link formatProgress} to a stream. */
export class ProgressLine {
  readonly #stream: NodeJS.WritableStream & { isTTY?: boolean };
  readonly #render: (ackedPerSec: number) => string;
  readonly #stats: FleetStats;
  #timer: NodeJS.Timeout | null = null;
  #lastAcked = 0;
  #lastAt = 0;
  #lastWritten = 0;

  /** `render` builds the line from the acked rate of the last period. */
  constructor(stream: NodeJS.WritableStream & { isTTY?: boolean }, stats: FleetStats, render: (ackedPerSec: number) => string) {
    this.#stream = stream;
    this.#stats = stats;
    this.#render = render;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#lastAt = performance.now();
    this.#lastWritten = this.#lastAt;
    this.#timer = setInterval(() => this.#tick(), PROGRESS_TTY_EVERY_MS);
    this.#timer.unref();
  }

  /** Stops refreshing; on a terminal, ends the line so the report starts on its own. */
  stop(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
    if (this.#stream.isTTY === true) this.#stream.write(`\r\x1b[2K${this.#render(0)}\n`);
  }

  #tick(): void {
    const now = performance.now();
    const rate = ((this.#stats.acked - this.#lastAcked) * 1000) / Math.max(1, now - this.#lastAt);
    this.#lastAcked = this.#stats.acked;
    this.#lastAt = now;
    if (this.#stream.isTTY === true) this.#stream.write(`\r\x1b[2K${this.#render(rate)}`);
    else if (now - this.#lastWritten >= PROGRESS_LOG_EVERY_MS - 50) {
      this.#lastWritten = now;
      this.#stream.write(`${this.#render(rate)}\n`);
    }
  }
}
