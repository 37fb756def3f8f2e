/**
 * A simulated device's outbox: the readings it has made but the hub has not
 * yet acked, in the little RAM a device has. Bounded: when full, the oldest
 * reading is dropped and counted, as ESP32 firmware with a ring buffer does.
 *
 * Pure: no clock (callers pass `now`), no sockets. It owns the device's seq
 * counter, so it also decides where a device that lost its counter resumes.
 */

/** Options of {@link Outbox}. */
export interface OutboxOptions {
  /**
   * Readings kept while unacked. Keep it at or below the hub's dedupe window
   * (SPEC: at least the last 4096 seqs), so a resent repeat is recognised.
   * @defaultValue {@link DEFAULT_OUTBOX_CAPACITY}
   */
  capacity?: number;
  /**
   * After a hello whose `lastSeq` is at or past our counter (a fresh boot,
   * or a device that lost its counter), go on from `lastSeq + 1` (SPEC:
   * Repeats). Off, a rebooted device starts at 1 and its readings are
   * taken for repeats.
   * @defaultValue true
   */
  resumeFromHello?: boolean;
}

/** A device with 1,024 readings of RAM to spare; well inside the hub's 4,096-seq dedupe window. */
export const DEFAULT_OUTBOX_CAPACITY = 1024;

/** One unacked reading. */
export interface OutboxEntry<T> {
  readonly seq: number;
  /** The text frame as sent. */
  readonly frame: string;
  /** What the frame was built from, so a refused reading can be re-sent under a new seq. */
  readonly data: T;
  /** Connection number this entry was last sent on; 0 if never sent. */
  sentOn: number;
  /** When it was last sent (caller's clock, ms). */
  sentAt: number;
  /** Times written to a socket: above 1 means resent after a reconnect. */
  sends: number;
}

/** The bounded buffer of one device's unacked readings. */
export class Outbox<T> {
  readonly #capacity: number;
  readonly #resumeFromHello: boolean;
  /** Entries in seq order, live from `#head`; the front is compacted away lazily. */
  #items: OutboxEntry<T>[] = [];
  #head = 0;
  /** Index of the next entry not yet sent on the current connection. */
  #cursor = 0;
  #connection = 0;
  #nextSeq = 1;
  #dropped = 0;
  #droppedSent = 0;

  constructor(options: OutboxOptions = {}) {
    const capacity = options.capacity ?? DEFAULT_OUTBOX_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`outbox capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
    this.#resumeFromHello = options.resumeFromHello ?? true;
  }

  /** Unacked entries held. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Entries not yet sent on the current connection. */
  get unsent(): number {
    return this.#items.length - this.#cursor;
  }

  /** Entries sent at least once and still unacked. */
  get sentUnacked(): number {
    let count = 0;
    for (let i = this.#head; i < this.#items.length; i++) if ((this.#items[i] as OutboxEntry<T>).sends > 0) count++;
    return count;
  }

  /** Entries dropped because the outbox was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Of {@link dropped}, those that had been sent (and so were lost unacked). */
  get droppedSent(): number {
    return this.#droppedSent;
  }

  /** The seq the next reading gets. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** The current connection number (0 before the first). */
  get connection(): number {
    return this.#connection;
  }

  /**
   * Starts a new connection: every unacked entry is due again (SPEC: a
   * device resends unacked messages after reconnecting), then the hello's
   * `lastSeq` decides where new readings continue.
   */
  beginConnection(lastSeq: number | null): void {
    this.#connection += 1;
    this.#cursor = this.#head;
    if (this.#resumeFromHello && lastSeq !== null && lastSeq >= this.#nextSeq) this.#nextSeq = lastSeq + 1;
  }

  /**
   * Adds a reading under the next seq. When full, drops the oldest first
   * and returns it (counted in {@link dropped}).
   */
  push(data: T, build: (seq: number) => string): OutboxEntry<T> | undefined {
    let evicted: OutboxEntry<T> | undefined;
    if (this.size >= this.#capacity) {
      evicted = this.#items[this.#head] as OutboxEntry<T>;
      this.#head += 1;
      if (this.#cursor < this.#head) this.#cursor = this.#head;
      this.#dropped += 1;
      if (evicted.sends > 0) this.#droppedSent += 1;
    }
    const seq = this.#nextSeq++;
    this.#items.push({ seq, frame: build(seq), data, sentOn: 0, sentAt: 0, sends: 0 });
    this.#compact();
    return evicted;
  }

  /** The next entry due on this connection, marked sent at `now`; undefined when all are out. */
  takeNext(now: number): OutboxEntry<T> | undefined {
    const entry = this.#items[this.#cursor];
    if (entry === undefined) return undefined;
    this.#cursor += 1;
    entry.sentOn = this.#connection;
    entry.sentAt = now;
    entry.sends += 1;
    return entry;
  }

  /**
   * SPEC: `{"ack":N}` acks every message of this connection with seq ≤ N
   * that was not nacked. Nacked entries are already gone ({@link nack}), and
   * entries go out in seq order, so this pops from the front. Calls
   * `onAcked` with each entry and its latency; returns how many.
   */
  ack(n: number, now: number, onAcked?: (entry: OutboxEntry<T>, latencyMs: number) => void): number {
    let count = 0;
    while (this.#head < this.#cursor) {
      const entry = this.#items[this.#head] as OutboxEntry<T>;
      if (entry.seq > n || entry.sentOn !== this.#connection) break;
      this.#head += 1;
      count += 1;
      onAcked?.(entry, now - entry.sentAt);
    }
    this.#compact();
    return count;
  }

  /**
   * SPEC: `{"nack":seq,...}`: the hub did not store it. Removes and returns
   * the entry (the device decides whether to send its data again under a
   * new seq), or undefined if no sent entry has that seq.
   */
  nack(seq: number): OutboxEntry<T> | undefined {
    for (let i = this.#head; i < this.#cursor; i++) {
      const entry = this.#items[i] as OutboxEntry<T>;
      if (entry.seq === seq && entry.sentOn === this.#connection) {
        this.#items.splice(i, 1);
        this.#cursor -= 1;
        return entry;
      }
      if (entry.seq > seq) break;
    }
    return undefined;
  }

  /** Drops the consumed front of the array once it is large, keeping memory bounded by capacity. */
  #compact(): void {
    if (this.#head > 256 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#cursor -= this.#head;
      this.#head = 0;
    }
  }
}
