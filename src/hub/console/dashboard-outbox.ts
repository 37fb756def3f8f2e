/**
 * The bounded send buffer of one dashboard (SPEC: "A slow dashboard never
 * grows the hub's memory without bound"). Two bounds: bytes already handed to
 * the socket (ws `bufferedAmount`, at most `maxBufferedBytes`) and messages
 * waiting here (at most `maxBufferedMessages`). Past both, new messages are
 * dropped and counted; the count goes out as `{"dropped":N}` exactly where
 * the gap is, after the messages queued before it, so a dashboard knows what
 * it missed and in which order.
 *
 * No timers or sockets here: the session calls {@link DashboardOutbox.flush}
 * when there may be room (after a push, and on its poll while backed up).
 */

/** How the outbox reaches its socket. */
export interface OutboxOptions {
  /** Messages waiting before new ones are dropped. */
  readonly maxMessages: number;
  /** Socket bytes in flight before the outbox holds back. */
  readonly maxBytes: number;
  /** Sends one text frame. */
  readonly send: (text: string) => void;
  /** Bytes the socket has not written yet (ws `bufferedAmount`). */
  readonly bufferedAmount: () => number;
  /** Called with each newly dropped message count (for metrics). */
  readonly onDrop?: (count: number) => void;
}

/** A gap in the stream: this many messages were dropped here. */
interface DropMarker {
  dropped: number;
}

/** A bounded FIFO of outgoing frames with drop accounting. */
export class DashboardOutbox {
  readonly #options: OutboxOptions;
  #items: (string | DropMarker)[] = [];
  #head = 0;

  constructor(options: OutboxOptions) {
    this.#options = options;
  }

  /** Frames (and drop notices) waiting. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** True when nothing waits. */
  get empty(): boolean {
    return this.length === 0;
  }

  /** True when the queue is below its message bound (a snapshot may be forced in). */
  get hasRoom(): boolean {
    return this.length < this.#options.maxMessages;
  }

  /**
   * Queues a frame, or drops it when the queue is full. `force` skips the
   * message bound: the subscribe snapshot (one presence and one reading per
   * matching device, so bounded by the fleet) must arrive whole.
   */
  push(text: string, force = false): void {
    if (force || this.length < this.#options.maxMessages) {
      this.#items.push(text);
      return;
    }
    const last = this.#items[this.#items.length - 1];
    if (typeof last === 'object' && this.length > 0) last.dropped++;
    else this.#items.push({ dropped: 1 });
    this.#options.onDrop?.(1);
  }

  /** Sends what fits under the socket's byte bound. Returns true when the queue is empty. */
  flush(): boolean {
    const { maxBytes, send, bufferedAmount } = this.#options;
    while (this.#head < this.#items.length && bufferedAmount() < maxBytes) {
      const item = this.#items[this.#head++] as string | DropMarker;
      send(typeof item === 'string' ? item : JSON.stringify({ dropped: item.dropped }));
    }
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
      return true;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return false;
  }

  /** Forgets everything (the connection is closing). */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
