/**
 * Readers' cursors (sink positions) in a JetStream KV bucket, one key per
 * reader, so whichever hub runs a sink next goes on from its position.
 *
 * Reads go to the bucket's stream leader (`allow_direct` off): a hub taking
 * over a sink must see the position the previous one saved, not a replica's
 * older copy.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { FleethubError } from '../../errors.js';
import { decodeToken, encodeToken } from './nats-names.js';

/** The cursors of every reader. */
export class CursorBucket {
  readonly #kv: KV;
  /** Names known to this hub: loaded at open, kept by this hub's saves and deletes. */
  readonly #names: Set<string>;

  private constructor(kv: KV, names: Set<string>) {
    this.#kv = kv;
    this.#names = names;
  }

  /** Opens (creating it) the bucket `name` with `replicas` copies and loads the names in it. */
  static async open(nc: NatsConnection, name: string, replicas: number, timeoutMs: number): Promise<CursorBucket> {
    const kvm = new Kvm(nc);
    const kv = await kvm.create(name, { replicas, history: 1, allow_direct: false, timeout: timeoutMs });
    const names = new Set<string>();
    const keys = await kv.keys();
    for await (const key of keys) names.add(decodeToken(key));
    return new CursorBucket(kv, names);
  }

  /** The saved position of `name`, or 0. */
  async get(name: string): Promise<number> {
    const entry = await this.#kv.get(encodeToken(name));
    if (entry === null || entry.operation !== 'PUT') return 0;
    const position = Number(entry.string());
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new FleethubError('FH_ERR_STORE_IO', `store: the cursor of ${JSON.stringify(name)} is not a position: ${JSON.stringify(entry.string())}`);
    }
    return position;
  }

  /** Saves `position` for `name` (acked by a quorum of the bucket's replicas). */
  async set(name: string, position: number): Promise<void> {
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `store: a cursor must be a non-negative integer, got ${position}`);
    }
    await this.#kv.put(encodeToken(name), String(position));
    this.#names.add(name);
  }

  /** Forgets `name` (its key and history are purged). */
  async delete(name: string): Promise<void> {
    await this.#kv.purge(encodeToken(name));
    this.#names.delete(name);
  }

  /** The names this hub knows of. */
  names(): string[] {
    return [...this.#names];
  }
}
