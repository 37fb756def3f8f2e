/**
 * Gathers the readings' publishes of many devices so they leave for NATS
 * together: the JetStream store's group commit.
 *
 * The NATS client writes what was published in one microtask checkpoint
 * with one socket write, and a nats-server reads, proposes and replicates
 * what arrived together as one batch. A hub receives its devices' readings
 * one socket callback at a time; published as they come, each is a write, a
 * read, a Raft append and an ack on every server, which at a fleet's steady
 * rate is most of the cluster's CPU. So, as the embedded store syncs at most
 * once per `store.commitIntervalMs`, publishes leave at most once per
 * interval: a reading that finds the last departure older than that goes
 * at the end of the event loop's turn (no added latency for a quiet fleet);
 * under load, readings gather for up to the interval and go in one write.
 */
import { performance } from 'node:perf_hooks';

/** One shared departure schedule: {@link next} resolves every caller of one departure together. */
export class PublishWindow {
  readonly #intervalMs: number;
  #waiting: (() => void)[] = [];
  #scheduled = false;
  #lastAt = Number.NEGATIVE_INFINITY;
  #departures = 0;

  /** `intervalMs`: the least time between two departures (0: every turn of the event loop). */
  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Departures so far: each one resolved every {@link next} waiting for it, so their publishes left in one write. */
  get departures(): number {
    return this.#departures;
  }

  /** Resolves at the next departure, together with every other caller of it. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      if (this.#scheduled) return;
      this.#scheduled = true;
      const wait = this.#lastAt + this.#intervalMs - performance.now();
      if (wait <= 0) setImmediate(() => this.#depart());
      else setTimeout(() => this.#depart(), wait);
    });
  }

  #depart(): void {
    this.#scheduled = false;
    this.#lastAt = performance.now();
    this.#departures += 1;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }
}
