/**
 * Seq resets (`fleethub device reset-seq`) in a JetStream KV bucket, one key
 * per device reset: the stream sequence of the device's last message when it
 * was reset (0: none). The device's state travels in its last message
 * (reading-message.ts), so a reset only has to say "the state in messages up
 * to this one no longer counts for seqs": a hub loading the device forgets
 * the seq window of a last message at or below the mark, and keeps its day
 * count and latest reading. The next reading stored carries the fresh window
 * in its own state, past the mark, so the entry needs no clean-up and a
 * reset survives restarts and takeovers by another hub.
 *
 * Reads go to the bucket's stream leader (`allow_direct` off), as for cursors.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { FleethubError } from '../../errors.js';
import { encodeToken } from './nats-names.js';

/** Every device's reset mark. */
export class SeqResetBucket {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Opens (creating it) the bucket `name` with `replicas` copies. */
  static async open(nc: NatsConnection, name: string, replicas: number, timeoutMs: number): Promise<SeqResetBucket> {
    const kv = await new Kvm(nc).create(name, { replicas, history: 1, allow_direct: false, timeout: timeoutMs });
    return new SeqResetBucket(kv);
  }

  /** The stream sequence up to which `device`'s seqs were reset, or null (never reset). */
  async get(device: string): Promise<number | null> {
    const entry = await this.#kv.get(encodeToken(device));
    if (entry === null || entry.operation !== 'PUT') return null;
    const mark = Number(entry.string());
    if (!Number.isSafeInteger(mark) || mark < 0) {
      throw new FleethubError('FH_ERR_STORE_IO', `store: the seq reset of ${JSON.stringify(device)} is not a stream sequence: ${JSON.stringify(entry.string())}`);
    }
    return mark;
  }

  /** Records that `device`'s seqs count again after stream sequence `mark` (acked by a quorum). */
  async set(device: string, mark: number): Promise<void> {
    await this.#kv.put(encodeToken(device), String(mark));
  }
}
