/**
 * Sink leases (SPEC: Cluster mode, every sink delivers once per cluster):
 * each sink runs on one hub at a time, the one holding its lease, a KV key
 * per sink holding `{node, expiresAt}`.
 *
 * nats-server 2.9 has no per-message TTL, so the record carries its own
 * expiry and every change is a compare-and-set on the revision read:
 *
 * - A hub takes the lease when the key is absent or its `expiresAt` has
 *   passed, and keeps it by rewriting it (a new `expiresAt`) every
 *   `renewMs` on the revision it last wrote. A renew that finds another
 *   revision means another hub took it: the lease is lost at once.
 * - The holder believes it holds the lease only until `ttlMs - clockSkewMs`
 *   after it sent its last successful renew (its own monotonic clock), so
 *   it has stopped its runner before any other hub, whose clock may run up
 *   to `clockSkewMs` ahead, sees the record expire. When its hub dies or is
 *   cut off, another hub takes over within `ttlMs + acquireMs`.
 *
 * The runner starts on `onAcquired` and must stop on `onLost`; it reads and
 * saves its position in the store's cursors, so the next holder goes on
 * from there (repeating at most the batch in flight).
 */
import { performance } from 'node:perf_hooks';
import type { KV, KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConfigReader, MAX_CONFIG_INTEGER } from '../../config/config-reader.js';
import { FleethubError } from '../../errors.js';
import { SILENT_LOGGER, type Logger } from '../../log.js';
import { encodeToken } from '../../store/jetstream/nats-names.js';
import { clusterNames, DEFAULT_CLUSTER_KV_TIMEOUT_MS, errorText, isCasConflict, openClusterBucket } from './cluster-bucket.js';

/** How long a lease lasts without a renew: the longest a sink stays stopped when its hub dies. @defaultValue 10 s */
export const DEFAULT_LEASE_TTL_MS = 10_000;
/**
 * How much earlier than its record's expiry the holder stops believing it
 * holds the lease: covers the clocks of two hubs differing by up to this.
 * @defaultValue 1 s
 */
export const DEFAULT_LEASE_CLOCK_SKEW_MS = 1_000;

/** The record of a sink's key. */
export interface LeaseRecord {
  readonly node: string;
  /** When the lease ends unless renewed (ms since epoch, the holder's clock). */
  readonly expiresAt: number;
}

/** What a lease tells its runner. */
export interface LeaseEvents {
  /** This hub holds the lease now: start the runner. */
  readonly onAcquired: () => void;
  /** This hub no longer holds it (`taken`: another hub wrote it; `expired`: no renew got through in time): stop the runner now. */
  readonly onLost: (reason: 'taken' | 'expired') => void;
}

/** Options of {@link SinkLeases.open}. */
export interface SinkLeaseOptions {
  /** The hub's NATS connection (left open by {@link SinkLeases.close}). */
  readonly connection: NatsConnection;
  /** This hub's node name (`cluster.node`). */
  readonly node: string;
  /** The bucket's copies (`cluster.replicas`). */
  readonly replicas: number;
  /** @defaultValue DEFAULT_NATS_PREFIX */
  readonly prefix?: string;
  /** @defaultValue {@link DEFAULT_LEASE_TTL_MS} */
  readonly ttlMs?: number;
  /** How often the holder renews. Must be under `ttlMs - clockSkewMs`. @defaultValue a third of `ttlMs` */
  readonly renewMs?: number;
  /** How often a hub without the lease looks whether it has expired. @defaultValue `renewMs` */
  readonly acquireMs?: number;
  /** @defaultValue {@link DEFAULT_LEASE_CLOCK_SKEW_MS}, or a tenth of `ttlMs` when that is less */
  readonly clockSkewMs?: number;
  /** @defaultValue {@link DEFAULT_CLUSTER_KV_TIMEOUT_MS} */
  readonly kvTimeoutMs?: number;
  /** @defaultValue SILENT_LOGGER */
  readonly log?: Logger;
  /** The wall clock written into records (ms since epoch). @defaultValue Date.now */
  readonly now?: () => number;
}

/** The timings, resolved and checked. */
interface LeaseTimings {
  readonly ttlMs: number;
  readonly renewMs: number;
  readonly acquireMs: number;
  readonly clockSkewMs: number;
}

/** Fills in the defaults and checks the values. Throws FH_ERR_CONFIG naming the option (`sinkLeaseOptions.ttlMs`). */
function resolveTimings(options: SinkLeaseOptions): LeaseTimings & { readonly kvTimeoutMs: number } {
  const r = ConfigReader.options(options, 'sinkLeaseOptions');
  const ttlMs = r.int('ttlMs', 100, MAX_CONFIG_INTEGER, DEFAULT_LEASE_TTL_MS);
  const renewMs = r.int('renewMs', 10, MAX_CONFIG_INTEGER, Math.round(ttlMs / 3));
  const clockSkewMs = r.int('clockSkewMs', 0, MAX_CONFIG_INTEGER, Math.min(DEFAULT_LEASE_CLOCK_SKEW_MS, Math.round(ttlMs / 10)));
  const acquireMs = r.int('acquireMs', 10, MAX_CONFIG_INTEGER, renewMs);
  const kvTimeoutMs = r.int('kvTimeoutMs', 1, MAX_CONFIG_INTEGER, DEFAULT_CLUSTER_KV_TIMEOUT_MS);
  // A renew must land before the holder's belief ends, or every lease would lapse between renews.
  if (renewMs >= ttlMs - clockSkewMs) throw r.fail('renewMs', `under ttlMs - clockSkewMs (${ttlMs - clockSkewMs})`, renewMs);
  return { ttlMs, renewMs, acquireMs, clockSkewMs, kvTimeoutMs };
}

function recordOf(entry: KvEntry | null): LeaseRecord | null {
  if (entry === null || entry.operation !== 'PUT') return null;
  try {
    const value = JSON.parse(entry.string()) as Partial<LeaseRecord> | null;
    if (typeof value?.node === 'string' && typeof value.expiresAt === 'number') return { node: value.node, expiresAt: value.expiresAt };
  } catch {
    // not JSON: treated as expired
  }
  return null;
}

/** The sink leases of one hub. Obtain with {@link SinkLeases.open}; {@link close} releases them all. */
export class SinkLeases {
  readonly #kv: KV;
  readonly #node: string;
  readonly #timings: LeaseTimings;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #leases = new Map<string, SinkLease>();
  #closed = false;

  private constructor(kv: KV, options: SinkLeaseOptions, timings: LeaseTimings) {
    this.#kv = kv;
    this.#node = options.node;
    this.#timings = timings;
    this.#log = options.log ?? SILENT_LOGGER;
    this.#now = options.now ?? Date.now;
  }

  /** Opens (creating it) the lease bucket. Throws FH_ERR_CONFIG on bad timings. */
  static async open(options: SinkLeaseOptions): Promise<SinkLeases> {
    const { kvTimeoutMs, ...timings } = resolveTimings(options);
    const kv = await openClusterBucket(options.connection, clusterNames(options.prefix).leaseBucket, options.replicas, kvTimeoutMs);
    return new SinkLeases(kv, options, timings);
  }

  /** The resolved timings (ms). */
  get timings(): Readonly<LeaseTimings> {
    return this.#timings;
  }

  /** Starts competing for `sink`'s lease; `events` say when this hub holds it. One lease per sink name per hub. */
  hold(sink: string, events: LeaseEvents): SinkLease {
    if (this.#closed) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', 'sink lease: closed');
    if (this.#leases.has(sink)) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `sink lease: ${JSON.stringify(sink)} is already held here`);
    const lease = new SinkLease(sink, events, {
      kv: this.#kv, node: this.#node, timings: this.#timings, log: this.#log, now: this.#now, forget: () => this.#leases.delete(sink),
    });
    this.#leases.set(sink, lease);
    return lease;
  }

  /** Releases every lease (the sinks' runners must have stopped). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#leases.values()].map((lease) => lease.release()));
  }
}

/** What a {@link SinkLease} shares with its {@link SinkLeases}. */
interface LeaseContext {
  readonly kv: KV;
  readonly node: string;
  readonly timings: LeaseTimings;
  readonly log: Logger;
  readonly now: () => number;
  readonly forget: () => void;
}

/** One sink's lease on this hub: acquired, renewed and lost on its own timers. */
export class SinkLease {
  readonly sink: string;
  readonly #key: string;
  readonly #events: LeaseEvents;
  readonly #ctx: LeaseContext;
  /** The revision this hub last wrote while holding; null when not holding. */
  #revision: number | null = null;
  #deadlineTimer: NodeJS.Timeout | null = null;
  #tickTimer: NodeJS.Timeout | null = null;
  #inFlight: Promise<void> = Promise.resolve();
  #released = false;

  /** @internal Made by {@link SinkLeases.hold}. */
  constructor(sink: string, events: LeaseEvents, ctx: LeaseContext) {
    this.sink = sink;
    this.#key = encodeToken(sink);
    this.#events = events;
    this.#ctx = ctx;
    this.#schedule(0);
  }

  /** True while this hub holds the lease. */
  get held(): boolean {
    return this.#revision !== null;
  }

  /** The key's revision this hub last wrote while holding it, or null. */
  get revision(): number | null {
    return this.#revision;
  }

  /** Stops competing; when held, deletes the key (compare-and-set) so another hub takes over at once. Stop the runner first. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#ctx.forget();
    if (this.#tickTimer !== null) clearTimeout(this.#tickTimer);
    await this.#inFlight;
    const revision = this.#revision;
    this.#drop();
    if (revision === null) return;
    await this.#ctx.kv.delete(this.#key, { previousSeq: revision }).catch((err: unknown) => {
      // Taken meanwhile, or NATS unreachable: the record then expires by itself.
      if (!isCasConflict(err)) this.#ctx.log.log('warn', 'cluster.lease_release_failed', { sink: this.sink, reason: errorText(err) });
    });
  }

  #schedule(delayMs: number): void {
    if (this.#released) return;
    this.#tickTimer = setTimeout(() => {
      this.#tickTimer = null;
      this.#inFlight = (this.held ? this.#renew() : this.#acquire())
        .catch((err: unknown) => this.#ctx.log.log('warn', 'cluster.lease_error', { sink: this.sink, reason: errorText(err) }))
        .finally(() => this.#schedule(this.held ? this.#ctx.timings.renewMs : this.#ctx.timings.acquireMs));
    }, delayMs);
  }

  async #acquire(): Promise<void> {
    const { kv, node, timings, now } = this.#ctx;
    const entry = await kv.get(this.#key);
    const record = recordOf(entry);
    // A record of this node from before (a restarted hub) is waited out too: the node name alone does not prove that hub is gone.
    if (record !== null && record.expiresAt > now()) return;
    const sentAt = performance.now();
    const value = JSON.stringify({ node, expiresAt: now() + timings.ttlMs } satisfies LeaseRecord);
    let revision: number;
    try {
      revision = entry === null ? await kv.create(this.#key, value) : await kv.update(this.#key, value, entry.revision);
    } catch (err) {
      if (isCasConflict(err)) return; // another hub took it first
      throw err;
    }
    if (this.#released) {
      this.#revision = revision; // for release() to delete
      return;
    }
    this.#hold(revision, sentAt);
    this.#ctx.log.log('info', 'cluster.lease_acquired', { sink: this.sink, node, revision });
    this.#events.onAcquired();
  }

  async #renew(): Promise<void> {
    const { kv, node, timings, now } = this.#ctx;
    const previous = this.#revision;
    if (previous === null) return;
    const sentAt = performance.now();
    try {
      const revision = await kv.update(this.#key, JSON.stringify({ node, expiresAt: now() + timings.ttlMs } satisfies LeaseRecord), previous);
      // Lost (expired) while the renew was in flight: the record then lapses on its own, unheld.
      if (this.#revision === previous) this.#hold(revision, sentAt);
    } catch (err) {
      if (isCasConflict(err) && this.#revision === previous) {
        this.#lose('taken');
        return;
      }
      throw err; // the deadline timer ends the lease if no renew gets through in time
    }
  }

  #hold(revision: number, sentAt: number): void {
    this.#revision = revision;
    // Believed held until ttl - skew after the renew was sent: before any other hub can see the record expire.
    const deadline = sentAt + this.#ctx.timings.ttlMs - this.#ctx.timings.clockSkewMs;
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(() => this.#lose('expired'), Math.max(0, deadline - performance.now()));
  }

  #drop(): void {
    this.#revision = null;
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = null;
  }

  #lose(reason: 'taken' | 'expired'): void {
    if (this.#revision === null) return;
    this.#drop();
    this.#ctx.log.log('warn', 'cluster.lease_lost', { sink: this.sink, reason });
    this.#events.onLost(reason);
  }
}
