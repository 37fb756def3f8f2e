/**
 * Device ownership across the cluster (SPEC: Cluster mode, one live
 * connection per device): a KV key per device holds its owner
 * `{node, connId, since}`.
 *
 * - {@link DeviceOwnership.claim} writes the key with a compare-and-set on
 *   the revision it read (create when absent), so of two hubs claiming at
 *   once the later write wins, having read and replaced the earlier. Then it
 *   asks the previous owner's hub, on that hub's takeover subject, to close
 *   its connection (4002) and answer once the session is closed and its
 *   readings in flight settled. A hub that does not answer within
 *   `takeoverTimeoutMs` (or has no subscriber: it is gone) is passed over:
 *   a dead hub never locks a device out.
 * - Every hub also watches the bucket: when a record naming one of its own
 *   connections is replaced, it closes that connection even if the
 *   takeover request was lost.
 * - {@link DeviceOwnership.release} deletes the key only while it still
 *   names the connection (compare-and-set on its revision).
 *
 * `onTakeover` is called at most once per connection, whichever way the
 * news came first.
 */
import type { KV, KvEntry } from '@nats-io/kv';
import { KvWatchInclude } from '@nats-io/kv';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { readIntOptions } from '../../config/config-reader.js';
import { FleethubError } from '../../errors.js';
import { SILENT_LOGGER, type Logger } from '../../log.js';
import { decodeToken, encodeToken } from '../../store/jetstream/nats-names.js';
import { clusterNames, DEFAULT_CLUSTER_KV_TIMEOUT_MS, errorText, isCasConflict, keepWatching, openClusterBucket, type KeptWatch } from './cluster-bucket.js';

/** How long a claim waits for the previous owner's hub to close its connection before going on without it. @defaultValue 2 s */
export const DEFAULT_TAKEOVER_TIMEOUT_MS = 2_000;
/** Compare-and-set attempts of one claim (each lost one means another claim of the same device landed first). @defaultValue 5 */
export const DEFAULT_CLAIM_ATTEMPTS = 5;
/** Wait before the bucket's watch is opened again after it ended on an error. @defaultValue 1 s */
export const DEFAULT_OWNER_WATCH_RETRY_MS = 1_000;

/** Who owns a device: the value of its key. */
export interface OwnerRecord {
  readonly node: string;
  readonly connId: string;
  /** When the claim was made (ms since epoch, the claiming hub's clock). */
  readonly since: number;
}

/** A connection this hub must close with 4002. */
export interface Takeover {
  readonly device: string;
  readonly connId: string;
  /** How the hub learnt it: another hub's request, the bucket's watch, or a newer claim on this hub. */
  readonly via: 'request' | 'watch' | 'local';
}

/** What a claim found and did. */
export interface ClaimResult {
  /** The key's revision after the claim. */
  readonly revision: number;
  /** The owner replaced (null: none). */
  readonly previous: OwnerRecord | null;
  /** `answered`: the previous hub closed its connection; `unanswered`: it did not answer in time (passed over); `none`: nothing to tell (no owner, or this hub). */
  readonly handover: 'answered' | 'unanswered' | 'none';
}

/** Options of {@link DeviceOwnership.open}. */
export interface DeviceOwnershipOptions {
  /** The hub's NATS connection (left open by {@link DeviceOwnership.close}). */
  readonly connection: NatsConnection;
  /** This hub's node name (`cluster.node`). */
  readonly node: string;
  /** The bucket's copies (`cluster.replicas`). */
  readonly replicas: number;
  /**
   * Close this connection with 4002; resolve once it is closed and its
   * readings in flight are settled (the next owner reads the device's state
   * after that). Called at most once per connection.
   */
  readonly onTakeover: (takeover: Takeover) => Promise<void> | void;
  /** @defaultValue DEFAULT_NATS_PREFIX */
  readonly prefix?: string;
  /** @defaultValue {@link DEFAULT_TAKEOVER_TIMEOUT_MS} */
  readonly takeoverTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_CLAIM_ATTEMPTS} */
  readonly claimAttempts?: number;
  /** @defaultValue {@link DEFAULT_CLUSTER_KV_TIMEOUT_MS} */
  readonly kvTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_OWNER_WATCH_RETRY_MS} */
  readonly watchRetryMs?: number;
  /** @defaultValue SILENT_LOGGER */
  readonly log?: Logger;
  /** @defaultValue Date.now */
  readonly now?: () => number;
}

/** A connection of this hub that claimed its device. */
interface Held {
  readonly device: string;
  /** The key's revision written by the claim; null while the claim is in flight. */
  revision: number | null;
  /** The newest revision of another owner the watch saw while the claim was in flight. */
  newest: number;
}

const encoder = new TextEncoder();

/**
 * The owner record in `entry`, or null when it holds none (deleted, or not
 * a record: a claim then overwrites it, and presence counts no owner).
 */
export function ownerRecordOf(entry: KvEntry | null): OwnerRecord | null {
  if (entry === null || entry.operation !== 'PUT') return null;
  try {
    const value = JSON.parse(entry.string()) as Partial<OwnerRecord> | null;
    if (typeof value?.node === 'string' && typeof value.connId === 'string' && typeof value.since === 'number') {
      return { node: value.node, connId: value.connId, since: value.since };
    }
  } catch {
    // not JSON: treated as no owner
  }
  return null;
}

/** Fills in the defaults of the timings and checks them. Throws FH_ERR_CONFIG naming the option (`deviceOwnershipOptions.claimAttempts`). */
function resolveTimings(options: DeviceOwnershipOptions) {
  return readIntOptions(options, 'deviceOwnershipOptions', {
    takeoverTimeoutMs: [1, DEFAULT_TAKEOVER_TIMEOUT_MS],
    claimAttempts: [1, DEFAULT_CLAIM_ATTEMPTS],
    kvTimeoutMs: [1, DEFAULT_CLUSTER_KV_TIMEOUT_MS],
    watchRetryMs: [1, DEFAULT_OWNER_WATCH_RETRY_MS],
  });
}

/** The timings of {@link DeviceOwnershipOptions}, defaults filled in and checked. */
type OwnershipTimings = ReturnType<typeof resolveTimings>;

/** Device ownership for one hub. Obtain with {@link DeviceOwnership.open}; {@link close} at the end. */
export class DeviceOwnership {
  readonly #nc: NatsConnection;
  readonly #kv: KV;
  readonly #node: string;
  readonly #onTakeover: DeviceOwnershipOptions['onTakeover'];
  readonly #takeoverSubject: (node: string) => string;
  readonly #takeoverTimeoutMs: number;
  readonly #claimAttempts: number;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #held = new Map<string, Held>();
  readonly #byDevice = new Map<string, Set<string>>();
  /** Takeovers being carried out, by connId: a request for one of them waits for it. */
  readonly #closing = new Map<string, Promise<void>>();
  #sub: Subscription | null = null;
  #watch: KeptWatch | null = null;
  #closed = false;

  private constructor(options: DeviceOwnershipOptions, timings: OwnershipTimings, kv: KV) {
    this.#nc = options.connection;
    this.#kv = kv;
    this.#node = options.node;
    this.#onTakeover = options.onTakeover;
    this.#takeoverSubject = clusterNames(options.prefix).takeoverSubject;
    this.#takeoverTimeoutMs = timings.takeoverTimeoutMs;
    this.#claimAttempts = timings.claimAttempts;
    this.#log = options.log ?? SILENT_LOGGER;
    this.#now = options.now ?? Date.now;
  }

  /** Opens (creating it) the ownership bucket, answers takeover requests and watches the bucket. Throws FH_ERR_CONFIG on a bad option. */
  static async open(options: DeviceOwnershipOptions): Promise<DeviceOwnership> {
    const timings = resolveTimings(options);
    const kv = await openClusterBucket(options.connection, clusterNames(options.prefix).ownerBucket, options.replicas, timings.kvTimeoutMs);
    const ownership = new DeviceOwnership(options, timings, kv);
    ownership.#sub = options.connection.subscribe(ownership.#takeoverSubject(options.node), {
      callback: (err, msg) => {
        if (err === null) void ownership.#answer(msg);
      },
    });
    try {
      // Later writes only: a hub cares about replacements from now on, not the keys as they are.
      ownership.#watch = await keepWatching(kv, { include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true }, (entry) => ownership.#onEntry(entry), {
        name: 'owners', retryMs: timings.watchRetryMs, log: ownership.#log,
      });
    } catch (err) {
      ownership.#sub.unsubscribe();
      throw err;
    }
    return ownership;
  }

  /**
   * Makes connection `connId` the owner of `device`, and resolves once the
   * previous owner's connection is closed (or its hub passed over). Throws
   * FH_ERR_STORE_IO when the bucket cannot be written (the hub then refuses
   * the connection).
   */
  async claim(device: string, connId: string): Promise<ClaimResult> {
    if (this.#closed) throw new FleethubError('FH_ERR_STORE_IO', 'ownership: closed');
    if (this.#held.has(connId)) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `ownership: connection ${connId} already claimed`);
    this.#hold(connId, device);
    const key = encodeToken(device);
    let previous: OwnerRecord | null = null;
    let revision = 0;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const entry = await this.#kv.get(key);
        previous = ownerRecordOf(entry);
        const value = encoder.encode(JSON.stringify({ node: this.#node, connId, since: this.#now() } satisfies OwnerRecord));
        revision = entry === null ? await this.#kv.create(key, value) : await this.#kv.update(key, value, entry.revision);
        break;
      } catch (err) {
        if (isCasConflict(err) && attempt < this.#claimAttempts) continue;
        this.#unhold(connId);
        throw new FleethubError('FH_ERR_STORE_IO', `ownership: cannot claim ${JSON.stringify(device)}: ${errorText(err)}`, { cause: err });
      }
    }
    const held = this.#held.get(connId);
    if (held !== undefined) {
      held.revision = revision;
      // A claim that landed after ours, seen by the watch before we knew our revision.
      if (held.newest > revision) void this.#supersede(connId, 'watch');
    } else if (!this.#closing.has(connId)) {
      // Released while the claim was in flight: take the record back out, unless someone replaced it already.
      await this.#kv.delete(key, { previousSeq: revision }).catch(() => {});
    }
    for (const other of [...(this.#byDevice.get(device) ?? [])]) {
      const revisionOfOther = this.#held.get(other)?.revision;
      if (other !== connId && revisionOfOther !== null && revisionOfOther !== undefined && revisionOfOther < revision) await this.#supersede(other, 'local');
    }
    // The record replaced may be this hub's own, of a claim still in flight when the loop above ran.
    if (previous !== null && previous.node === this.#node && previous.connId !== connId) await this.#supersede(previous.connId, 'local');
    if (previous === null || previous.node === this.#node) return { revision, previous, handover: 'none' };
    return { revision, previous, handover: await this.#requestTakeover(device, previous) };
  }

  /** Deletes `device`'s key if connection `connId` still owns it. Never throws: a lost release only costs the next claim a request. */
  async release(device: string, connId: string): Promise<boolean> {
    this.#unhold(connId);
    const key = encodeToken(device);
    try {
      const entry = await this.#kv.get(key);
      const record = ownerRecordOf(entry);
      if (entry === null || record === null || record.node !== this.#node || record.connId !== connId) return false;
      await this.#kv.delete(key, { previousSeq: entry.revision });
      return true;
    } catch (err) {
      if (!isCasConflict(err)) this.#log.log('warn', 'cluster.release_failed', { device, reason: errorText(err) });
      return false;
    }
  }

  /** The owner of `device` now, or null. */
  async owner(device: string): Promise<OwnerRecord | null> {
    return ownerRecordOf(await this.#kv.get(encodeToken(device)));
  }

  /** Stops answering and watching; waits for takeovers in progress. Leaves the records (sessions release their own). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub?.unsubscribe();
    await this.#watch?.stop();
    await Promise.all([...this.#closing.values()]);
  }

  #hold(connId: string, device: string): void {
    this.#held.set(connId, { device, revision: null, newest: 0 });
    let conns = this.#byDevice.get(device);
    if (conns === undefined) this.#byDevice.set(device, (conns = new Set()));
    conns.add(connId);
  }

  #unhold(connId: string): Held | undefined {
    const held = this.#held.get(connId);
    if (held === undefined) return undefined;
    this.#held.delete(connId);
    const conns = this.#byDevice.get(held.device);
    conns?.delete(connId);
    if (conns?.size === 0) this.#byDevice.delete(held.device);
    return held;
  }

  /** Calls onTakeover for `connId` once; later callers get the same promise while it runs. */
  #supersede(connId: string, via: Takeover['via']): Promise<void> {
    const held = this.#unhold(connId);
    if (held === undefined) return this.#closing.get(connId) ?? Promise.resolve();
    this.#log.log('info', 'cluster.takeover', { device: held.device, conn: connId, via });
    const done = Promise.resolve()
      .then(() => this.#onTakeover({ device: held.device, connId, via }))
      .catch((err: unknown) => this.#log.log('error', 'cluster.takeover_failed', { device: held.device, reason: errorText(err) }))
      .finally(() => this.#closing.delete(connId));
    this.#closing.set(connId, done);
    return done;
  }

  async #requestTakeover(device: string, previous: OwnerRecord): Promise<ClaimResult['handover']> {
    try {
      await this.#nc.request(this.#takeoverSubject(previous.node), JSON.stringify({ device, connId: previous.connId, by: this.#node }), { timeout: this.#takeoverTimeoutMs });
      return 'answered';
    } catch (err) {
      // SPEC: a dead hub never locks a device out: go on without its answer.
      this.#log.log('warn', 'cluster.takeover_unanswered', { device, node: previous.node, reason: errorText(err) });
      return 'unanswered';
    }
  }

  /** Another hub's takeover request: close the connection, then answer. */
  async #answer(msg: Msg): Promise<void> {
    let closed = false;
    try {
      const request = JSON.parse(msg.string()) as { device?: unknown; connId?: unknown } | null;
      if (typeof request?.connId === 'string' && typeof request.device === 'string') {
        closed = this.#held.get(request.connId)?.device === request.device || this.#closing.has(request.connId);
        await this.#supersede(request.connId, 'request');
      }
    } catch (err) {
      this.#log.log('warn', 'cluster.takeover_bad_request', { reason: errorText(err) });
    }
    msg.respond(JSON.stringify({ closed }));
  }

  /** A write to the bucket: a connection of this hub whose record was replaced is closed. */
  #onEntry(entry: KvEntry): void {
    let device: string;
    try {
      device = decodeToken(entry.key);
    } catch {
      return;
    }
    const conns = this.#byDevice.get(device);
    if (conns === undefined) return;
    const record = ownerRecordOf(entry);
    for (const connId of [...conns]) {
      const held = this.#held.get(connId);
      if (held === undefined) continue;
      if (record !== null && record.node === this.#node && record.connId === connId) continue;
      if (held.revision === null) held.newest = Math.max(held.newest, entry.revision);
      else if (entry.revision > held.revision) void this.#supersede(connId, 'watch');
    }
  }
}
