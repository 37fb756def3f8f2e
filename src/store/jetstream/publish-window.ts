/**
 * Gathers the readings' publishes of many devices so they leave for NATS
 * together.
 *
 * The NATS client writes what was published in one microtask checkpoint
 * with one socket write, and a nats-server reads, proposes and replicates
 * what arrived together as one batch. A hub serving many devices receives
 * their readings one socket callback at a time, each publishing on its
 * own: at a fleet's steady rate that is a write, a read, a Raft append and
 * an ack per reading on every server. Waiting for the end of the event
 * loop's turn (`setImmediate`), or `windowMs` when set, lets the readings
 * of every socket read in that turn go out as one write, at no cost in
 * latency with 0 and a bounded one otherwise.
 */

/** One shared window: {@link next} resolves every caller of one window together. */
export class PublishWindow {
  readonly #windowMs: number;
  #waiting: (() => void)[] = [];
  #scheduled = false;

  /** `windowMs` 0: until the end of the event loop's turn; more: that many ms after the first caller. */
  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** Resolves when the current window closes, together with every other caller of it. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      if (this.#scheduled) return;
      this.#scheduled = true;
      if (this.#windowMs === 0) setImmediate(() => this.#close());
      else setTimeout(() => this.#close(), this.#windowMs);
    });
  }

  #close(): void {
    this.#scheduled = false;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }
}
