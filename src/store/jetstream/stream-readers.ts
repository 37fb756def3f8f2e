/**
 * Reading the readings stream in order, a batch per request.
 *
 * A get by sequence costs one JetStream API request per reading, and
 * nats-server 2.9 (Debian's) has no batched get (`batch` on a direct get
 * came with 2.11). A sink reads the stream in sequence, batch after batch,
 * so each reader keeps an ephemeral pull consumer: one replica, in memory,
 * no acks (nothing replicated, no consensus group, unlike a durable
 * consumer), that goes on where the reader's last batch ended. A batch is
 * one pull request answered by up to `count` messages.
 *
 * A read that does not continue where a reader stopped (a jump, another
 * sink) takes an idle reader and starts its consumer again at the new
 * sequence; with every reader busy, or after any failure, the caller falls
 * back to gets. A consumer's delivery sequence proves that no message went
 * missing between two batches (one delivered to a pull that timed out is
 * never seen again): a gap there, or any error, drops the reader.
 */
import { headers as emptyHeaders, nanos } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '../../log.js';
import type { ReadingMessage } from './reading-message.js';

/** How long the server keeps a consumer nobody pulls from (a hub that died leaves its readers behind). */
const CONSUMER_INACTIVE_MS = 120_000;
/**
 * How long one pull waits for its messages. Only messages known to be
 * stored are asked for, so it waits this long only when retention deleted
 * some meanwhile. The client's smallest allowed value.
 */
const PULL_EXPIRES_MS = 1_000;

/** One reader: a consumer positioned at {@link nextSeq}. */
interface Reader {
  readonly name: string;
  readonly fetch: (count: number) => Promise<ConsumerMessages>;
  /** The stream sequence its next message will have (unless retention deleted it). */
  nextSeq: number;
  /** The consumer's delivery sequence of the last message received. */
  delivered: number;
  /** When it was last used (for reusing the least recent). */
  usedAt: number;
}

/** Options of {@link StreamReaders}. */
export interface StreamReadersOptions {
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  readonly stream: string;
  /** Readers kept at most (each a consumer on one server); 0: never, every read is gets. */
  readonly max: number;
  /** How long a pull may go unanswered past its own expiry before the reader is given up (the caller then falls back to gets). */
  readonly timeoutMs: number;
  readonly log: Logger;
}

/** The readers of one store. */
export class StreamReaders {
  readonly #opts: StreamReadersOptions;
  readonly #idle: Reader[] = [];
  /** Readers taken by reads in progress. */
  #taken = 0;
  #closed = false;
  #uses = 0;

  constructor(options: StreamReadersOptions) {
    this.#opts = options;
  }

  /**
   * Up to `count` messages from stream sequence `startSeq` on, in order and
   * without gaps after the first (which is later than `startSeq` when
   * retention deleted the ones before). null when no reader could do it:
   * read them by sequence instead.
   */
  async read(startSeq: number, count: number): Promise<ReadingMessage[] | null> {
    if (this.#closed || count <= 0 || this.#opts.max === 0) return null;
    let reader: Reader | null = null;
    this.#taken += 1; // counted before it exists, so reads side by side never make more than max
    try {
      reader = await this.#take(startSeq);
      if (reader === null) return null;
      const { messages, keep } = await this.#pull(reader, count);
      if (!keep) {
        this.#discard(reader);
        reader = null;
      }
      return messages.length > 0 || keep ? messages : null;
    } catch (err) {
      this.#opts.log.log('debug', 'store.reader_failed', { reason: err instanceof Error ? err.message : String(err) });
      if (reader !== null) this.#discard(reader);
      reader = null;
      return null;
    } finally {
      this.#taken -= 1;
      if (reader !== null) {
        if (this.#closed) this.#discard(reader);
        else this.#idle.push(reader);
      }
    }
  }

  /** Deletes every idle reader's consumer (best effort: the server drops them after a while anyway). */
  async close(): Promise<void> {
    this.#closed = true;
    const readers = this.#idle.splice(0);
    await Promise.all(readers.map((reader) => this.#delete(reader)));
  }

  /** The idle reader at `startSeq`, or a new one there (made, or an idle one moved); null when none may be had. */
  async #take(startSeq: number): Promise<Reader | null> {
    const at = this.#idle.findIndex((reader) => reader.nextSeq === startSeq);
    if (at >= 0) return this.#idle.splice(at, 1)[0] ?? null;
    if (this.#idle.length + this.#taken > this.#opts.max) {
      // At the limit: move the least recently used idle reader, or give up when all are busy.
      if (this.#idle.length === 0) return null;
      this.#idle.sort((a, b) => a.usedAt - b.usedAt);
      const oldest = this.#idle.shift();
      if (oldest !== undefined) this.#discard(oldest);
    }
    return this.#create(startSeq);
  }

  async #create(startSeq: number): Promise<Reader> {
    const info = await this.#opts.jsm.consumers.add(this.#opts.stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: startSeq,
      ack_policy: AckPolicy.None,
      max_deliver: 1,
      num_replicas: 1,
      mem_storage: true,
      inactive_threshold: nanos(CONSUMER_INACTIVE_MS),
    });
    const consumer = this.#opts.js.consumers.getConsumerFromInfo(info);
    return {
      name: info.name,
      fetch: (count) => consumer.fetch({ max_messages: count, expires: PULL_EXPIRES_MS }),
      nextSeq: startSeq,
      delivered: 0,
      usedAt: 0,
    };
  }

  /**
   * One pull of up to `count` messages: those received in order, and whether
   * the reader may be used again (not after a gap in deliveries or in
   * sequences, nor after a timeout: its consumer's place is then unknown).
   */
  async #pull(reader: Reader, count: number): Promise<{ messages: ReadingMessage[]; keep: boolean }> {
    reader.usedAt = (this.#uses += 1);
    const iter = await reader.fetch(count);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void iter.close();
    }, PULL_EXPIRES_MS + this.#opts.timeoutMs);
    const messages: ReadingMessage[] = [];
    try {
      for await (const m of iter) {
        const last = messages[messages.length - 1];
        // A delivery this reader never saw (a pull that timed out, a consumer recreated by the server), or a hole
        // after the first message (retention only deletes before it): end the batch there and drop the reader.
        if (m.info.deliverySequence !== reader.delivered + 1 || m.seq < reader.nextSeq || (last !== undefined && m.seq !== last.seq + 1)) {
          void iter.close();
          return { messages, keep: false };
        }
        reader.delivered = m.info.deliverySequence;
        messages.push({ subject: m.subject, seq: m.seq, header: m.headers ?? emptyHeaders(), data: m.data });
        reader.nextSeq = m.seq + 1;
        if (messages.length === count) break;
      }
    } finally {
      clearTimeout(timer);
    }
    // A pull cut short by the timeout may still deliver to a dropped inbox: the consumer's place is unknown.
    return { messages, keep: !timedOut || messages.length === count };
  }

  #discard(reader: Reader): void {
    void this.#delete(reader);
  }

  async #delete(reader: Reader): Promise<void> {
    await this.#opts.jsm.consumers.delete(this.#opts.stream, reader.name).catch(() => false);
  }
}
