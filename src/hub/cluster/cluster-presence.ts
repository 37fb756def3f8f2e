/**
 * Which devices are online anywhere in the cluster, for dashboards on any
 * hub (SPEC: Cluster mode, dashboards anywhere).
 *
 * The source is the device ownership bucket (device-ownership.ts): a
 * device is connected while its key holds an owner record, and released
 * devices have their key deleted. One KV watch of that bucket per hub
 * follows it, plus one watch of the hubs' heartbeat bucket
 * (hub-heartbeat.ts), where every hub's store writes its own key every
 * second while JetStream takes its writes.
 *
 * A hub that dies cannot delete its records. So a device counts as online
 * only while its owner's hub has written its heartbeat within
 * `hubSilenceMs` (by the bucket's timestamps): the devices of a killed hub,
 * or of one cut off from JetStream (which closes them with 1013 after 5 s
 * anyway), turn offline on every dashboard `hubSilenceMs` after its last
 * heartbeat, and online again if it comes back with their records (a
 * device that reconnects elsewhere meanwhile replaces its record and stays
 * online). The buckets' timestamps are the NATS servers' clocks: the hubs'
 * clocks must agree with them within a few seconds (NTP).
 * A hub that restarts under the same node name (within that silence, or
 * after it) finds the records its earlier run left: records of its own node
 * claimed before `startedAt`. It deletes each (a compare-and-set on the
 * revision it saw, so a newer claim is never touched): those connections
 * are gone, and no hub would release them otherwise. Given `holds`, it also
 * removes its records of connections it no longer has (a release it could
 * not write while cut off from JetStream).
 * A watch is an ephemeral ordered consumer of one server, not a replicated
 * consensus group.
 */
import { performance } from 'node:perf_hooks';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { readIntOptions } from '../../config/config-reader.js';
import { SILENT_LOGGER, type Logger } from '../../log.js';
import { decodeToken, encodeToken, natsNames } from '../../store/jetstream/nats-names.js';
import { clusterNames, DEFAULT_CLUSTER_KV_TIMEOUT_MS, errorText, keepWatching, openClusterBucket, type KeptWatch } from './cluster-bucket.js';
import { DEFAULT_QUORUM_LOSS_MS } from '../../store/jetstream/jetstream-options.js';
import { openHeartbeatBucket } from '../../store/jetstream/hub-heartbeat.js';
import { DEFAULT_OWNER_WATCH_RETRY_MS, ownerRecordOf } from './device-ownership.js';

/**
 * How long after a hub's last heartbeat its devices stop counting as
 * online: twice the quorum loss time, after which a hub that is alive but
 * cut off has closed its devices itself. @defaultValue 10 s
 */
export const DEFAULT_HUB_SILENCE_MS = 2 * DEFAULT_QUORUM_LOSS_MS;
/** Owner records followed at most (connected devices in the whole cluster); more are ignored and logged. @defaultValue 1,000,000 */
export const DEFAULT_PRESENCE_MAX_DEVICES = 1_000_000;
/** Hubs followed at most (keys of the heartbeat bucket). @defaultValue 1,000 */
export const DEFAULT_PRESENCE_MAX_HUBS = 1_000;

/** Options of {@link ClusterPresence.open}. */
export interface ClusterPresenceOptions {
  /** The hub's NATS connection (left open by {@link ClusterPresence.close}). */
  readonly connection: NatsConnection;
  /** The buckets' copies when this hub creates them (`cluster.replicas`). */
  readonly replicas: number;
  /** This hub's node name (`cluster.node`): its records from before {@link startedAt} are removed. */
  readonly node: string;
  /** When this hub started (ms since epoch, its own clock, as the owner records' `since`): no connection of this run is older. @defaultValue the process's start (performance.timeOrigin) */
  readonly startedAt?: number;
  /**
   * Whether connection `connId` of this hub is open or being claimed. When
   * given, records of this node naming any other connection are removed
   * every `hubSilenceMs` (releases this hub could not write, e.g. while it
   * was cut off from JetStream). @defaultValue none: only the records of an
   * earlier run are removed
   */
  readonly holds?: (connId: string) => boolean;
  /** A device went online or offline (as this hub sees the cluster). */
  readonly onChange: (device: string, online: boolean) => void;
  /** @defaultValue DEFAULT_NATS_PREFIX */
  readonly prefix?: string;
  /** @defaultValue {@link DEFAULT_HUB_SILENCE_MS} */
  readonly hubSilenceMs?: number;
  /** @defaultValue {@link DEFAULT_PRESENCE_MAX_DEVICES} */
  readonly maxDevices?: number;
  /** @defaultValue {@link DEFAULT_PRESENCE_MAX_HUBS} */
  readonly maxHubs?: number;
  /** @defaultValue {@link DEFAULT_CLUSTER_KV_TIMEOUT_MS} */
  readonly kvTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_OWNER_WATCH_RETRY_MS} */
  readonly watchRetryMs?: number;
  /** @defaultValue SILENT_LOGGER */
  readonly log?: Logger;
  /** Wall clock, compared with the buckets' timestamps. @defaultValue Date.now */
  readonly now?: () => number;
}

/** Fills in the defaults of the limits and timings and checks them. Throws FH_ERR_CONFIG naming the option (`clusterPresenceOptions.maxHubs`). */
function resolveLimits(options: ClusterPresenceOptions) {
  return readIntOptions(options, 'clusterPresenceOptions', {
    hubSilenceMs: [1, DEFAULT_HUB_SILENCE_MS],
    maxDevices: [1, DEFAULT_PRESENCE_MAX_DEVICES],
    maxHubs: [1, DEFAULT_PRESENCE_MAX_HUBS],
    kvTimeoutMs: [1, DEFAULT_CLUSTER_KV_TIMEOUT_MS],
    watchRetryMs: [1, DEFAULT_OWNER_WATCH_RETRY_MS],
  });
}

/** The limits and timings of {@link ClusterPresenceOptions}, defaults filled in and checked. */
type PresenceLimits = ReturnType<typeof resolveLimits>;

/** Presence of every device in the cluster, for one hub. Obtain with {@link ClusterPresence.open}; {@link close} at the end. */
export class ClusterPresence {
  readonly #onChange: ClusterPresenceOptions['onChange'];
  readonly #node: string;
  readonly #startedAt: number;
  /** The ownership bucket (set by open), for removing this node's stale records. */
  #ownersKv: KV | null = null;
  readonly #silenceMs: number;
  readonly #maxDevices: number;
  readonly #maxHubs: number;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #holds: ((connId: string) => boolean) | null;
  /** Device → the node owning it. */
  readonly #owners = new Map<string, string>();
  /** This node's records, device → connection and revision (for removing the stale ones). */
  readonly #mine = new Map<string, { readonly connId: string; readonly revision: number }>();
  /** Node → its devices (the index a hub's death or return walks). */
  readonly #byNode = new Map<string, Set<string>>();
  /** Node → its last heartbeat (ms since epoch, the bucket's timestamp, never later than now). */
  readonly #heard = new Map<string, number>();
  /** Nodes judged alive: heard within `hubSilenceMs` at the last judgement. */
  readonly #alive = new Set<string>();
  readonly #watches: KeptWatch[] = [];
  #timer: NodeJS.Timeout | null = null;
  #warnedFull = false;
  #closed = false;

  private constructor(options: ClusterPresenceOptions, limits: PresenceLimits) {
    this.#onChange = options.onChange;
    this.#node = options.node;
    this.#holds = options.holds ?? null;
    this.#now = options.now ?? Date.now;
    this.#startedAt = options.startedAt ?? Math.floor(performance.timeOrigin);
    this.#silenceMs = limits.hubSilenceMs;
    this.#maxDevices = limits.maxDevices;
    this.#maxHubs = limits.maxHubs;
    this.#log = options.log ?? SILENT_LOGGER;
  }

  /** Opens (creating them) the heartbeat and ownership buckets and watches both. Throws FH_ERR_CONFIG on a bad option. */
  static async open(options: ClusterPresenceOptions): Promise<ClusterPresence> {
    const limits = resolveLimits(options);
    const presence = new ClusterPresence(options, limits);
    const { kvTimeoutMs, watchRetryMs: retryMs } = limits;
    const names = clusterNames(options.prefix);
    const log = presence.#log;
    const [beats, owners] = await Promise.all([
      openHeartbeatBucket(options.connection, natsNames(options.prefix).hubBucket, options.replicas, kvTimeoutMs),
      openClusterBucket(options.connection, names.ownerBucket, options.replicas, kvTimeoutMs),
    ]);
    presence.#ownersKv = owners;
    try {
      // Hubs first, so the owners' replay finds their hubs' state. Both replay their last values, deletes included.
      presence.#watches.push(await keepWatching(beats, {}, (entry) => presence.#onBeat(entry), { name: 'heartbeats', retryMs, log }));
      presence.#watches.push(await keepWatching(owners, {}, (entry) => presence.#onOwner(entry), { name: 'presence', retryMs, log }));
    } catch (err) {
      await presence.close();
      throw err;
    }
    // A quarter of the silence: a dead hub's devices turn offline at most a quarter late.
    let ticks = 0;
    presence.#timer = setInterval(() => {
      presence.#judgeAll();
      if ((ticks = (ticks + 1) % 4) === 0) presence.#sweepMine();
    }, Math.max(1, Math.floor(presence.#silenceMs / 4)));
    presence.#timer.unref();
    return presence;
  }

  /** Whether `device` is online on some live hub. */
  online(device: string): boolean {
    const node = this.#owners.get(device);
    return node !== undefined && this.#alive.has(node);
  }

  /** The devices online now. */
  *onlineDevices(): Iterable<string> {
    for (const node of this.#alive) yield* this.#byNode.get(node) ?? [];
  }

  /** Stops both watches and the timer. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    await Promise.all(this.#watches.map((w) => w.stop()));
    this.#owners.clear();
    this.#byNode.clear();
    this.#mine.clear();
  }

  #onBeat(entry: KvWatchEntry): void {
    let node: string;
    try {
      node = decodeToken(entry.key);
    } catch {
      return;
    }
    if (entry.operation !== 'PUT') {
      this.#heard.delete(node);
    } else if (this.#heard.has(node) || this.#heard.size < this.#maxHubs) {
      // The bucket's timestamp, not the receipt time: a replayed write of a hub long dead is old at once.
      this.#heard.set(node, Math.min(entry.created.getTime(), this.#now()));
    }
    this.#judge(node, this.#now());
  }

  #onOwner(entry: KvWatchEntry): void {
    let device: string;
    try {
      device = decodeToken(entry.key);
    } catch {
      return;
    }
    const wasOnline = this.online(device);
    const before = this.#owners.get(device);
    const record = ownerRecordOf(entry);
    let node = record?.node;
    this.#mine.delete(device);
    if (record !== null && record.node === this.#node) {
      if (record.since < this.#startedAt) {
        node = undefined; // a connection of this hub's earlier run: gone
        this.#remove(device, record.connId, entry.revision);
      } else {
        this.#mine.set(device, { connId: record.connId, revision: entry.revision });
      }
    }
    if (before !== undefined && before !== node) this.#unindex(device, before);
    if (node !== undefined && before !== node) {
      if (this.#owners.size >= this.#maxDevices) {
        if (!this.#warnedFull) this.#log.log('warn', 'cluster.presence_full', { maxDevices: this.#maxDevices });
        this.#warnedFull = true;
      } else {
        this.#owners.set(device, node);
        let devices = this.#byNode.get(node);
        if (devices === undefined) this.#byNode.set(node, (devices = new Set()));
        devices.add(device);
      }
    }
    const isOnline = this.online(device);
    if (isOnline !== wasOnline && !this.#closed) this.#onChange(device, isOnline);
  }

  /** Deletes `device`'s record if it is still at `revision` (the watch then reports the delete). */
  #remove(device: string, connId: string, revision: number): void {
    void this.#ownersKv?.delete(encodeToken(device), { previousSeq: revision }).then(
      () => this.#log.log('info', 'cluster.stale_owner_removed', { device, conn: connId }),
      (err: unknown) => this.#log.log('debug', 'cluster.stale_owner_kept', { device, reason: errorText(err) }),
    );
  }

  /** Removes this node's records of connections it does not hold (with {@link ClusterPresenceOptions.holds}). */
  #sweepMine(): void {
    const holds = this.#holds;
    if (holds === null || this.#closed) return;
    for (const [device, { connId, revision }] of this.#mine) if (!holds(connId)) this.#remove(device, connId, revision);
  }

  #unindex(device: string, node: string): void {
    this.#owners.delete(device);
    const devices = this.#byNode.get(node);
    devices?.delete(device);
    if (devices?.size === 0) this.#byNode.delete(node);
  }

  #judgeAll(): void {
    const now = this.#now();
    for (const node of [...this.#alive]) this.#judge(node, now);
  }

  /** Marks `node` alive or dead by its last heartbeat, telling of each of its devices when that changed. */
  #judge(node: string, now: number): void {
    const heard = this.#heard.get(node);
    const alive = heard !== undefined && now - heard < this.#silenceMs;
    if (alive === this.#alive.has(node)) return;
    if (alive) this.#alive.add(node);
    else this.#alive.delete(node);
    this.#log.log(alive ? 'info' : 'warn', alive ? 'cluster.hub_alive' : 'cluster.hub_silent', { node, devices: this.#byNode.get(node)?.size ?? 0 });
    if (this.#closed) return;
    for (const device of [...(this.#byNode.get(node) ?? [])]) this.#onChange(device, alive);
  }
}
