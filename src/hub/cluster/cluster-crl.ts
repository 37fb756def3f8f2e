/**
 * The CRL and the inventory as the cluster knows them (SPEC: Cluster mode,
 * a revocation reaches every hub within 2 s with no shared filesystem):
 * the CLI publishes both to a KV bucket (keys `crl` and `inventory`), and
 * every hub follows each key through a {@link ClusterTextSource}, the same
 * shape as the hub's polled files, so its CRL watcher and device plans do
 * not know which they read.
 *
 * A source learns of a new value from a watch of its key, and also reads
 * the key every `checkMs`, which covers a watch that NATS had to rebuild
 * (its consumer lived on a server that went away). Values are delivered in
 * revision order, never an older one after a newer, and only when the text
 * changed.
 */
import { createHash } from 'node:crypto';
import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { readIntOptions } from '../../config/config-reader.js';
import { FleethubError } from '../../errors.js';
import { SILENT_LOGGER, type Logger } from '../../log.js';
import type { CaRole } from '../crl-watcher.js';
import { clusterNames, DEFAULT_CLUSTER_KV_TIMEOUT_MS, errorText, openClusterBucket } from './cluster-bucket.js';

/** How often a followed key is also read, besides its watch. @defaultValue 5 s */
export const DEFAULT_CLUSTER_TEXT_CHECK_MS = 5_000;

/** The keys of the bucket: each CA's CRL, and the inventory. */
export type ClusterTextKey = 'crl' | 'issuing-crl' | 'claim-crl' | 'inventory';

/** The key of a CA's CRL: `crl` for the root (as before there were others), `<role>-crl` for an issuing or claim CA. */
export function crlKeyOf(role: CaRole): ClusterTextKey {
  return role === 'root' ? 'crl' : role === 'issuing' ? 'issuing-crl' : 'claim-crl';
}

/** The PKI folder's CRLs to publish: the root's, and those of an issuing or claim CA where the folder has one. */
export interface CrlTexts {
  /** Null: left as the cluster has it (it lists everything the folder's does). */
  readonly root: string | null;
  readonly issuing: string | null;
  readonly claim: string | null;
}

/** Options of {@link ClusterPki.open}. */
export interface ClusterPkiOptions {
  /** A NATS connection (the hub's, or the CLI's); left open by {@link ClusterPki.close}. */
  readonly connection: NatsConnection;
  /** The bucket's copies (`cluster.replicas`). */
  readonly replicas: number;
  /** @defaultValue DEFAULT_NATS_PREFIX */
  readonly prefix?: string;
  /** @defaultValue {@link DEFAULT_CLUSTER_TEXT_CHECK_MS} */
  readonly checkMs?: number;
  /** @defaultValue {@link DEFAULT_CLUSTER_KV_TIMEOUT_MS} */
  readonly kvTimeoutMs?: number;
  /** @defaultValue SILENT_LOGGER */
  readonly log?: Logger;
}

/** The revisions {@link ClusterPki.publish} wrote (the root's CRL as `crl`; null: that CA has no CRL to publish). */
export interface Published {
  readonly crl: number;
  readonly issuingCrl: number | null;
  readonly claimCrl: number | null;
  readonly inventory: number;
}

function hashOf(text: string | null): string {
  return text === null ? 'missing' : createHash('sha256').update(text).digest('hex');
}

function textOf(entry: KvEntry): string | null {
  return entry.operation === 'PUT' ? entry.string() : null;
}

/** The cluster's CRL and inventory bucket. Obtain with {@link ClusterPki.open}. */
export class ClusterPki {
  readonly #nc: NatsConnection;
  readonly #kv: KV;
  readonly #bucket: string;
  readonly #checkMs: number;
  readonly #log: Logger;
  readonly #sources = new Set<ClusterTextSource>();

  private constructor(nc: NatsConnection, kv: KV, bucket: string, checkMs: number, log: Logger) {
    this.#nc = nc;
    this.#kv = kv;
    this.#bucket = bucket;
    this.#checkMs = checkMs;
    this.#log = log;
  }

  /** Opens (creating it) the bucket. Throws FH_ERR_CONFIG on a bad option. */
  static async open(options: ClusterPkiOptions): Promise<ClusterPki> {
    const { checkMs, kvTimeoutMs } = readIntOptions(options, 'clusterPkiOptions', { checkMs: [10, DEFAULT_CLUSTER_TEXT_CHECK_MS], kvTimeoutMs: [1, DEFAULT_CLUSTER_KV_TIMEOUT_MS] });
    const bucket = clusterNames(options.prefix).pkiBucket;
    const kv = await openClusterBucket(options.connection, bucket, options.replicas, kvTimeoutMs);
    return new ClusterPki(options.connection, kv, bucket, checkMs, options.log ?? SILENT_LOGGER);
  }

  /**
   * Publishes the inventory, then the CRLs (a hub reading them never sees a
   * revocation of a device its inventory does not list yet). Resolves once
   * a quorum has each. Throws FH_ERR_INVALID_ARGUMENT, publishing nothing,
   * when a text is larger than NATS carries in one message. A key in
   * `expected` is written only if it is still at that revision (0: absent),
   * else a compare-and-set conflict is thrown (cluster-bucket.ts
   * `isCasConflict`): the caller merges again.
   */
  async publish(crls: CrlTexts, inventoryText: string, expected: ReadonlyMap<ClusterTextKey, number> = new Map()): Promise<Published> {
    const maxBytes = this.#nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    const texts: Array<[ClusterTextKey, string | null]> = [['inventory', inventoryText], ['issuing-crl', crls.issuing], ['claim-crl', crls.claim], ['crl', crls.root]];
    for (const [key, text] of texts) {
      // Headroom for the KV headers that travel with the value.
      const bytes = text === null ? 0 : Buffer.byteLength(text, 'utf8');
      if (bytes > maxBytes - 1_024) {
        throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `cluster: the ${key} is ${bytes} bytes, over what the NATS servers carry in one message (max_payload ${maxBytes})`);
      }
    }
    const revisions = new Map<ClusterTextKey, number>();
    for (const [key, text] of texts) {
      if (text === null) continue;
      const revision = expected.get(key);
      const data = new TextEncoder().encode(text);
      const written = revision === undefined ? await this.#kv.put(key, data) : revision === 0 ? await this.#kv.create(key, data) : await this.#kv.update(key, data, revision);
      revisions.set(key, written);
    }
    const published: Published = {
      crl: revisions.get('crl') ?? 0, issuingCrl: revisions.get('issuing-crl') ?? null, claimCrl: revisions.get('claim-crl') ?? null, inventory: revisions.get('inventory') ?? 0,
    };
    this.#log.log('info', 'cluster.pki_published', { ...published });
    return published;
  }

  /** The text of `key` now and its revision (0: never written). */
  async current(key: ClusterTextKey): Promise<{ text: string | null; revision: number }> {
    const entry = await this.#kv.get(key);
    return { text: entry === null ? null : textOf(entry), revision: entry?.revision ?? 0 };
  }

  /** A source following `key`. */
  source(key: ClusterTextKey): ClusterTextSource {
    const source = new ClusterTextSource(this.#kv, `nats:${this.#bucket}/${key}`, key, this.#checkMs, this.#log, () => this.#sources.delete(source));
    this.#sources.add(source);
    return source;
  }

  /** Closes every source. Idempotent. */
  async close(): Promise<void> {
    await Promise.all([...this.#sources].map((source) => source.close()));
  }
}

/**
 * One key of the bucket as a text that can change while the hub runs: the
 * same members as the hub's text source (`read`, `watch`, `check`, `close`).
 */
export class ClusterTextSource {
  /** `nats:<bucket>/<key>`, for log lines and errors. */
  readonly name: string;
  readonly #kv: KV;
  readonly #key: ClusterTextKey;
  readonly #checkMs: number;
  readonly #log: Logger;
  readonly #forget: () => void;
  #listener: ((text: string | null) => void) | null = null;
  /** The revision of the text last read or delivered (0: none yet). */
  #revision = 0;
  #hash = hashOf(null);
  #watch: QueuedIterator<KvWatchEntry> | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** Deliveries, one after another, in the order they were seen. */
  #round: Promise<void> = Promise.resolve();
  #closed = false;

  /** @internal Made by {@link ClusterPki.source}. */
  constructor(kv: KV, name: string, key: ClusterTextKey, checkMs: number, log: Logger, forget: () => void) {
    this.#kv = kv;
    this.name = name;
    this.#key = key;
    this.#checkMs = checkMs;
    this.#log = log;
    this.#forget = forget;
  }

  /** The text now (null: none published, or deleted). Throws when JetStream cannot be reached. */
  async read(): Promise<string | null> {
    const entry = await this.#kv.get(this.#key);
    const text = entry === null ? null : textOf(entry);
    if (entry !== null && entry.revision > this.#revision) {
      this.#revision = entry.revision;
      this.#hash = hashOf(text);
    }
    return text;
  }

  /** From now until close(), calls `listener` with each new text (null: deleted). Called once. */
  watch(listener: (text: string | null) => void): void {
    this.#listener = listener;
    void this.#openWatch();
    this.#schedule();
  }

  /** Reads the key now instead of waiting for the watch or the next check; resolves after the listener ran for a change. */
  check(): Promise<void> {
    const got = this.#kv.get(this.#key).then(
      (entry) => entry,
      (err: unknown) => {
        this.#log.log('warn', 'cluster.pki_check_failed', { key: this.#key, reason: errorText(err) });
        return null;
      },
    );
    this.#round = this.#round.then(async () => {
      const entry = await got;
      if (entry !== null) this.#offer(entry);
    });
    return this.#round;
  }

  /** Stops following the key. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#forget();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#watch?.stop();
    await this.#round;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#watch === null) void this.#openWatch();
      void this.check().finally(() => this.#schedule());
    }, this.#checkMs);
    this.#timer.unref();
  }

  /** Watches the key (its last value first, then each write); on an error the next check opens it again. */
  async #openWatch(): Promise<void> {
    if (this.#closed) return;
    let iterator: QueuedIterator<KvWatchEntry>;
    try {
      iterator = await this.#kv.watch({ key: this.#key });
    } catch (err) {
      this.#log.log('warn', 'cluster.pki_watch_failed', { key: this.#key, reason: errorText(err) });
      return;
    }
    this.#watch = iterator;
    if (this.#closed) iterator.stop();
    try {
      for await (const entry of iterator) {
        this.#round = this.#round.then(() => this.#offer(entry));
      }
    } catch (err) {
      this.#log.log('warn', 'cluster.pki_watch_failed', { key: this.#key, reason: errorText(err) });
    }
    if (this.#watch === iterator) this.#watch = null;
  }

  /** Delivers `entry` when it is newer than what the listener has and its text differs. */
  #offer(entry: KvEntry): void {
    if (this.#closed || entry.revision <= this.#revision) return;
    this.#revision = entry.revision;
    const text = textOf(entry);
    const hash = hashOf(text);
    if (hash === this.#hash) return;
    this.#hash = hash;
    this.#listener?.(text);
  }
}
