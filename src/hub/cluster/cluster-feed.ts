/**
 * The {@link LiveFeed} of a hub in cluster mode (SPEC: Cluster mode,
 * dashboards on any hub see every device's readings and presence).
 *
 * - Readings: once JetStream acked a reading (the store's `onCommit`), the
 *   hub that stored it publishes it on the core subject `<prefix>.live.<hub>`
 *   (live-reading.ts), gathered for at most `liveBatchMs` into one message
 *   with the hub's other commits of that time. Every hub has one plain
 *   subscription to `<prefix>.live.>`, so a dashboard anywhere sees each
 *   committed reading once, and never one JetStream did not ack. No consumer
 *   per dashboard or per device: each would be a replicated consensus group.
 *   Like any core NATS message, a live reading is at most once: one lost with
 *   a hub that died between the ack and the publish is in the stream (and
 *   the next snapshot), not on the dashboards that were watching.
 * - Presence: the ownership bucket, judged by the hubs' heartbeats
 *   (cluster-presence.ts). The `presence` calls of the device listener are
 *   not needed for that (the bucket says the same, from every hub).
 * - Latest readings and known devices: from the readings stream at open,
 *   then from the live subject (cluster-latest.ts), bounded by `maxDevices`.
 * - Refusals stay on the hub the device is connected to: they are not stored,
 *   and a dashboard watching a flood from another hub is not worth a
 *   cluster-wide message per refusal. A {@link HubFeed} summarises them as in
 *   single-node mode.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { readIntOptions } from '../../config/config-reader.js';
import { SILENT_LOGGER, type Logger } from '../../log.js';
import { natsNames } from '../../store/jetstream/nats-names.js';
import type { HistoryPage, HistoryQuery, Store, StoredReading } from '../../store/types.js';
import type { DeviceRegistry } from '../device-registry.js';
import { HubFeed } from '../hub-feed.js';
import type { FeedEvent, LiveFeed } from '../live-feed.js';
import { DEFAULT_CLUSTER_KV_TIMEOUT_MS, errorText } from './cluster-bucket.js';
import { LatestReadings, loadLatest } from './cluster-latest.js';
import { ClusterPresence, type ClusterPresenceOptions } from './cluster-presence.js';
import { decodeLiveBatch, encodeLiveBatch, encodeLiveEntry, liveSubjectOf, liveSubjects } from './live-reading.js';

/** Devices whose latest reading a hub keeps for dashboards' snapshots; the least recently updated are forgotten first. @defaultValue 100,000 */
export const DEFAULT_CLUSTER_FEED_MAX_DEVICES = 100_000;
/** Last-message gets in flight at once while the latest readings load at open. @defaultValue 16 */
export const DEFAULT_CLUSTER_FEED_LOAD_CONCURRENCY = 16;
/** The longest a committed reading waits to go out to the other hubs with the hub's next ones (ms). @defaultValue 50 */
export const DEFAULT_CLUSTER_FEED_BATCH_MS = 50;
/** The most bytes of readings one live message carries (NATS's default max_payload is 1 MiB). @defaultValue 262,144 */
export const DEFAULT_CLUSTER_FEED_BATCH_BYTES = 256 * 1024;

/** Options of {@link ClusterFeed.open}. */
export interface ClusterFeedOptions {
  /** The hub's NATS connection (left open by {@link ClusterFeed.close}). */
  readonly connection: NatsConnection;
  /** This hub's node name (`cluster.node`). */
  readonly node: string;
  /** When this hub started (ms since epoch): its owner records claimed earlier are an earlier run's (cluster-presence.ts). @defaultValue the process's start (performance.timeOrigin) */
  readonly startedAt?: number;
  /** Whether connection `connId` of this hub is open (ClusterSessionOwnership): its other records are removed (cluster-presence.ts). @defaultValue none */
  readonly holds?: (connId: string) => boolean;
  /** `cluster.replicas`: the copies of buckets this hub creates. */
  readonly replicas: number;
  /** The hub's JetStream store: what it commits goes out to every hub. */
  readonly store: Store;
  /** The hub's device registry (the local refusal summaries' feed needs it). */
  readonly registry: DeviceRegistry;
  /** `console.rejectedSummaryMs`. */
  readonly rejectedSummaryMs: number;
  /** The store's prefix. @defaultValue DEFAULT_NATS_PREFIX */
  readonly prefix?: string;
  /** @defaultValue {@link DEFAULT_CLUSTER_FEED_MAX_DEVICES} */
  readonly maxDevices?: number;
  /** @defaultValue {@link DEFAULT_CLUSTER_FEED_LOAD_CONCURRENCY} */
  readonly loadConcurrency?: number;
  /** @defaultValue {@link DEFAULT_CLUSTER_FEED_BATCH_MS} */
  readonly batchMs?: number;
  /** @defaultValue {@link DEFAULT_CLUSTER_FEED_BATCH_BYTES} */
  readonly batchBytes?: number;
  /** How long one NATS request waits (stream info, a get, opening a bucket). @defaultValue DEFAULT_CLUSTER_KV_TIMEOUT_MS */
  readonly timeoutMs?: number;
  /** Presence tuning (cluster-presence.ts): `hubSilenceMs`, `maxDevices` (as `maxOnlineDevices` here), `maxHubs`, `watchRetryMs`. */
  readonly presence?: Pick<ClusterPresenceOptions, 'hubSilenceMs' | 'maxHubs' | 'watchRetryMs'> & { readonly maxOnlineDevices?: number };
  /** @defaultValue SILENT_LOGGER */
  readonly log?: Logger;
}

/** The limits of {@link ClusterFeedOptions}, defaults filled in and checked. Throws FH_ERR_CONFIG naming the option (`clusterFeedOptions.maxDevices`). */
function resolveLimits(options: ClusterFeedOptions) {
  return readIntOptions(options, 'clusterFeedOptions', {
    maxDevices: [1, DEFAULT_CLUSTER_FEED_MAX_DEVICES],
    loadConcurrency: [1, DEFAULT_CLUSTER_FEED_LOAD_CONCURRENCY],
    timeoutMs: [1, DEFAULT_CLUSTER_KV_TIMEOUT_MS],
    batchMs: [1, DEFAULT_CLUSTER_FEED_BATCH_MS],
    batchBytes: [1, DEFAULT_CLUSTER_FEED_BATCH_BYTES],
  });
}

/** A cluster hub's live feed. Obtain with {@link ClusterFeed.open}; {@link close} at the end. */
export class ClusterFeed implements LiveFeed {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #filter: string;
  readonly #batchMs: number;
  readonly #batchBytes: number;
  /** Entries committed since the last live message, and their bytes. */
  #batch: string[] = [];
  #batchSize = 0;
  #flushTimer: NodeJS.Timeout | null = null;
  readonly #log: Logger;
  readonly #local: HubFeed;
  readonly #latest: LatestReadings;
  readonly #listeners = new Set<(event: FeedEvent) => void>();
  #presence: ClusterPresence | null = null;
  #sub: Subscription | null = null;
  #unsubscribeStore: (() => void) | null = null;
  #unsubscribeLocal: (() => void) | null = null;
  #loading: Promise<void> = Promise.resolve();
  #warnedBad = false;
  #closed = false;

  private constructor(options: ClusterFeedOptions, maxDevices: number, batchMs: number, batchBytes: number) {
    this.#nc = options.connection;
    const live = liveSubjects(options.prefix);
    this.#subject = liveSubjectOf(live, options.node);
    this.#filter = live.filter;
    this.#batchMs = batchMs;
    this.#batchBytes = batchBytes;
    this.#log = options.log ?? SILENT_LOGGER;
    this.#local = new HubFeed(options.store, options.registry, this.#log, { rejectedSummaryMs: options.rejectedSummaryMs });
    this.#latest = new LatestReadings(maxDevices, this.#log);
  }

  /**
   * Subscribes to the live subject, opens the presence watches, starts
   * publishing the store's commits and starts loading every device's
   * latest reading in the background ({@link loaded}). Throws FH_ERR_CONFIG
   * on a bad option, or NATS's error when a bucket cannot be opened.
   */
  static async open(options: ClusterFeedOptions): Promise<ClusterFeed> {
    const { maxDevices, loadConcurrency: concurrency, timeoutMs, batchMs, batchBytes } = resolveLimits(options);
    const names = natsNames(options.prefix);
    const feed = new ClusterFeed(options, maxDevices, batchMs, batchBytes);
    const nc = options.connection;
    try {
      // Subscribed before the load starts: a reading committed meanwhile is not missed (the newer one wins either way).
      feed.#sub = nc.subscribe(feed.#filter, { callback: (err, msg) => (err === null ? feed.#received(msg) : undefined) });
      const { presence } = options;
      feed.#presence = await ClusterPresence.open({
        connection: nc, node: options.node, startedAt: options.startedAt, holds: options.holds, replicas: options.replicas, prefix: options.prefix, kvTimeoutMs: timeoutMs, log: feed.#log,
        hubSilenceMs: presence?.hubSilenceMs, maxDevices: presence?.maxOnlineDevices, maxHubs: presence?.maxHubs, watchRetryMs: presence?.watchRetryMs,
        onChange: (device, online) => feed.#emit({ type: 'presence', device, online, at: Date.now() }),
      });
      const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
      feed.#unsubscribeStore = options.store.onCommit((readings) => feed.#publish(readings));
      feed.#loading = loadLatest(feed.#latest, { nc, jsm, names, timeoutMs, concurrency, stopped: () => feed.#closed, log: feed.#log }).catch((err: unknown) => {
        feed.#log.log('warn', 'cluster.feed_load_failed', { reason: errorText(err) });
      });
    } catch (err) {
      await feed.close();
      throw err;
    }
    return feed;
  }

  /** Resolves once the latest readings of the stream's devices are loaded (or the load gave up; logged). */
  loaded(): Promise<void> {
    return this.#loading;
  }

  onlineDevices(): Iterable<string> {
    return this.#presence?.onlineDevices() ?? [];
  }

  knownDevices(): Iterable<string> {
    return this.#latest.devices();
  }

  latest(device: string): StoredReading | undefined {
    return this.#latest.latest(device);
  }

  /** From the stream every hub writes to: every device's history, wherever it was connected. */
  history(query: HistoryQuery): Promise<HistoryPage> {
    return this.#local.history(query);
  }

  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.#listeners.add(listener);
    // Refusals come from this hub's own summaries, only while someone listens (as in single-node mode).
    this.#unsubscribeLocal ??= this.#local.subscribe((event) => {
      if (event.type === 'rejected') this.#emit(event);
    });
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size > 0) return;
      this.#unsubscribeLocal?.();
      this.#unsubscribeLocal = null;
    };
  }

  /** Not needed in cluster mode (presence comes from the ownership bucket); here so the device listener can call it as it calls a {@link HubFeed}. */
  presence(_device: string, _online: boolean): void {}

  /** A refused message of a device on this hub: summarised and sent to this hub's dashboards only. */
  rejected(device: string, code: string): void {
    this.#local.rejected(device, code);
  }

  /** Stops publishing and listening, closes the watches, waits for the load to stop. Leaves the connection open. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribeStore?.();
    this.#flush();
    this.#sub?.unsubscribe();
    this.#local.close();
    this.#listeners.clear();
    await this.#presence?.close();
    await this.#loading;
    this.#latest.clear();
  }

  /** Queues committed readings for the next live message; sends it once `batchBytes` are queued or `batchMs` after the first. */
  #publish(readings: readonly StoredReading[]): void {
    for (const reading of readings) {
      const entry = encodeLiveEntry(reading);
      if (this.#batchSize > 0 && this.#batchSize + entry.length > this.#batchBytes) this.#flush();
      this.#batch.push(entry);
      this.#batchSize += entry.length + 1;
    }
    if (this.#batchSize >= this.#batchBytes) this.#flush();
    else if (this.#batch.length > 0) this.#flushTimer ??= setTimeout(() => this.#flush(), this.#batchMs);
  }

  #flush(): void {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    if (this.#batch.length === 0) return;
    const body = encodeLiveBatch(this.#batch);
    this.#batch = [];
    this.#batchSize = 0;
    try {
      this.#nc.publish(this.#subject, body);
    } catch (err) {
      // The connection closed under the hub: its dashboards go without; the readings are stored.
      this.#log.log('debug', 'cluster.feed_publish_failed', { reason: errorText(err) });
    }
  }

  #received(msg: { readonly subject: string; readonly data: Uint8Array }): void {
    let readings: StoredReading[];
    try {
      readings = decodeLiveBatch(msg.data);
    } catch (err) {
      if (!this.#warnedBad) this.#log.log('warn', 'cluster.feed_bad_message', { subject: msg.subject, reason: errorText(err) });
      this.#warnedBad = true;
      return;
    }
    for (const reading of readings) {
      this.#latest.note(reading);
      this.#emit({ type: 'reading', reading });
    }
  }

  #emit(event: FeedEvent): void {
    if (this.#closed) return;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        // One faulty subscriber must not stop the others.
        this.#log.log('error', 'feed.listener_failed', { error: errorText(err) });
      }
    }
  }
}
