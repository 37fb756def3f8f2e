/**
 * Desired configuration in cluster mode (SPEC: Device protocol version 2,
 * Desired configuration; Cluster mode): what desired-configs.ts does on a
 * single hub, with the documents and the acks in one JetStream KV bucket
 * instead of the hub's data folder, so every hub sees the same ones and a
 * lost machine takes none with it.
 *
 * - `d.<device>` holds the device's own document, `g.<glob>` a glob's
 *   (config-globs.ts: the device's own first, then the most specific glob),
 *   `a.<device>` the device's last `configAck`. Versions come from one
 *   counter for the whole cluster (`v`, bumped with a compare-and-set), so a
 *   version names one document, whichever hub set it and whatever it covers,
 *   as on a single hub; a document is written with a compare-and-set too, and
 *   a set that finds a newer version stored leaves it there (the newest wins).
 * - `console.maxConfigGlobs` bounds the glob documents this hub knows of when
 *   a new glob is set (two hubs adding one each at the same moment may pass
 *   it by one).
 * - Every hub watches the bucket (last values, then every change) and keeps
 *   a copy: a document set on any hub reaches the device on whichever hub
 *   holds its session, and {@link ClusterDesiredConfigs.get} answers from
 *   the copy. The console reads the bucket itself ({@link ClusterDesiredConfigs.read}),
 *   so `device config get` on any hub shows what is stored now.
 * - After `hello` the hub holding the device sends the document only when
 *   the ack names another version: a fleet reconnecting at once costs no
 *   downlink, and no request either when the copy shows the ack. When the
 *   copy says a document is due, the hub reads the document and ack from
 *   the bucket first, so a device that just acknowledged it on another hub
 *   is not sent it again.
 * - The hub holding the device writes its `configAck` to `a.<device>`.
 */
import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../log.js';
import type { Counter, MetricsRegistry } from '../../metrics.js';
import { decodeToken, encodeToken } from '../../store/jetstream/nats-names.js';
import type { DeviceLimits } from '../config.js';
import { globMatches } from '../console/device-glob.js';
import { configGlobError, effectiveDocument, GlobDocuments, sendDesiredDocument } from '../commands/config-globs.js';
import { configMessage, parseConfigAck, valueObjectError, type ValueObject } from '../commands/control-messages.js';
import { isConfigAck, isDesiredDocument, type ConfigAckRecord, type ConfigRefusal, type ConfigView, type DesiredDocument } from '../commands/desired-configs.js';
import type { ConfigService } from '../commands/device-control.js';
import { downlinkBytes, type DeviceFeature, type V2ControlKey } from '../protocol-v2.js';
import type { DownlinkPort } from '../session-extension.js';
import type { V2ControlHandler, V2Participant } from '../v2-session.js';
import { clusterNames, errorText, isCasConflict, keepWatching, openClusterBucket, type KeptWatch } from './cluster-bucket.js';

/** Compare-and-set attempts of one `set` (each lost one means another hub set the same device first). */
const SET_ATTEMPTS = 5;

/** What {@link ClusterDesiredConfigs.open} needs. */
export interface ClusterDesiredConfigsOptions {
  readonly connection: NatsConnection;
  readonly replicas: number;
  readonly prefix?: string;
  /** The limits of a device (its plan's): `maxFields` and `maxDownlinkBytes` bound its document. */
  readonly limitsOf: (device: string) => DeviceLimits;
  /** The limits a glob document is checked against when set (the config's `limits`); a device whose plan allows less is not sent it. */
  readonly globLimits: DeviceLimits;
  /** `console.maxConfigGlobs`: one more glob is refused `too_many_globs`. */
  readonly maxGlobs: number;
  readonly kvTimeoutMs: number;
  readonly watchRetryMs: number;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  readonly now?: () => number;
}

/** A device whose v2 session is on this hub. */
interface Online {
  readonly port: DownlinkPort;
  /** The version last sent on this connection (0: none). */
  sent: number;
}

const encoder = new TextEncoder();
const docKey = (device: string): string => `d.${encodeToken(device)}`;
const ackKey = (device: string): string => `a.${encodeToken(device)}`;
const globKey = (glob: string): string => `g.${encodeToken(glob)}`;
/** The cluster's version counter: the last version given to a document. */
const VERSION_KEY = 'v';

function valueOf<T>(entry: KvEntry | null, accept: (value: unknown) => value is T): T | null {
  if (entry === null || entry.operation !== 'PUT') return null;
  try {
    const value: unknown = JSON.parse(entry.string());
    return accept(value) ? value : null;
  } catch {
    return null;
  }
}

/** Every device's desired configuration across the cluster, and the device side of `config` / `configAck` on this hub. */
export class ClusterDesiredConfigs implements V2Participant, ConfigService {
  readonly handlers: ReadonlyMap<V2ControlKey, V2ControlHandler>;
  readonly #o: ClusterDesiredConfigsOptions;
  readonly #kv: KV;
  readonly #now: () => number;
  readonly #docs = new Map<string, DesiredDocument>();
  readonly #globs = new GlobDocuments();
  /** The highest version this hub has seen (a floor for the counter, should it be missing). */
  #maxVersion = 0;
  readonly #acks = new Map<string, ConfigAckRecord>();
  readonly #online = new Map<string, Online>();
  readonly #sentCount: Counter;
  readonly #ackedCount: Counter;
  #watch: KeptWatch | null = null;
  #closed = false;

  private constructor(options: ClusterDesiredConfigsOptions, kv: KV) {
    this.#o = options;
    this.#kv = kv;
    this.#now = options.now ?? Date.now;
    this.handlers = new Map([['configAck', (port, body) => this.#onAck(port, body)]]);
    // The single hub's metrics, so one dashboard serves both.
    this.#sentCount = options.metrics.counter('fleethub_config_sent_total', 'Desired configuration documents sent to devices.');
    this.#ackedCount = options.metrics.counter('fleethub_config_acks_total', 'configAck messages recorded, by ok.');
    options.metrics.observedGauge('fleethub_config_globs', 'Desired-configuration documents for globs of devices (at most console.maxConfigGlobs).', () => this.#globs.size);
  }

  /** Opens (creating it) the bucket and starts watching it. */
  static async open(options: ClusterDesiredConfigsOptions): Promise<ClusterDesiredConfigs> {
    const kv = await openClusterBucket(options.connection, clusterNames(options.prefix).configBucket, options.replicas, options.kvTimeoutMs);
    const configs = new ClusterDesiredConfigs(options, kv);
    configs.#watch = await keepWatching(kv, {}, (entry) => configs.#onEntry(entry), { name: 'device-config', retryMs: options.watchRetryMs, log: options.log });
    return configs;
  }

  get(device: string): ConfigView {
    const effective = this.#effective(device);
    return { device, desired: effective?.doc ?? null, glob: effective?.glob ?? null, acked: this.#acks.get(device) ?? null };
  }

  async read(device: string): Promise<ConfigView> {
    const [doc, ack] = await Promise.all([this.#kv.get(docKey(device)), this.#kv.get(ackKey(device))]);
    const own = valueOf(doc, isDesiredDocument);
    const glob = own === null ? this.#globs.resolve(device) : null;
    return { device, desired: own ?? glob?.doc ?? null, glob: glob?.glob ?? null, acked: valueOf(ack, isConfigAck) };
  }

  getGlob(glob: string): DesiredDocument | null {
    return this.#globs.get(glob) ?? null;
  }

  get globCount(): number {
    return this.#globs.size;
  }

  async set(device: string, desired: unknown, token: string): Promise<{ version: number } | { refused: ConfigRefusal }> {
    const limits = this.#o.limitsOf(device);
    if (valueObjectError(desired, limits.maxFields) !== null) return { refused: 'invalid_config' };
    const stored = await this.#store(docKey(device), desired as ValueObject, limits, token, { device });
    if ('doc' in stored) this.#learnDoc(device, stored.doc);
    return 'doc' in stored ? { version: stored.doc.version } : stored;
  }

  async setGlob(glob: string, desired: unknown, token: string): Promise<{ version: number } | { refused: ConfigRefusal }> {
    if (configGlobError(glob) !== null) return { refused: 'invalid_glob' };
    const limits = this.#o.globLimits;
    if (valueObjectError(desired, limits.maxFields) !== null) return { refused: 'invalid_config' };
    if (!this.#globs.has(glob) && this.#globs.size >= this.#o.maxGlobs) return { refused: 'too_many_globs' };
    const stored = await this.#store(globKey(glob), desired as ValueObject, limits, token, { glob });
    if ('doc' in stored) this.#learnGlob(glob, stored.doc);
    return 'doc' in stored ? { version: stored.doc.version } : stored;
  }

  async deleteGlob(glob: string, token: string): Promise<{ deleted: boolean } | { refused: ConfigRefusal }> {
    if (configGlobError(glob) !== null) return { refused: 'invalid_glob' };
    const key = globKey(glob);
    try {
      const doc = valueOf(await this.#kv.get(key), isDesiredDocument);
      if (doc === null) {
        this.#forgetGlob(glob);
        return { deleted: false };
      }
      await this.#kv.delete(key);
      this.#o.log.log('info', 'config.deleted', { glob, version: doc.version, token });
    } catch (err) {
      this.#o.log.log('error', 'config.store_failed', { glob, error: errorText(err) });
      return { refused: 'unavailable' };
    }
    this.#forgetGlob(glob);
    return { deleted: true };
  }

  /**
   * Gives `desired` the cluster's next version and writes it under `key`,
   * unless a newer version is stored there by then (that one stays, as on a
   * single hub: the newest set wins). Resolves with the document written.
   */
  async #store(key: string, desired: ValueObject, limits: DeviceLimits, token: string, what: Record<string, string>): Promise<{ doc: DesiredDocument } | { refused: ConfigRefusal }> {
    try {
      const version = await this.#nextVersion();
      if (downlinkBytes(configMessage(version, desired)) > limits.maxDownlinkBytes) return { refused: 'too_large' };
      const doc: DesiredDocument = { version, desired, updatedAt: this.#now(), token };
      const value = encoder.encode(JSON.stringify(doc));
      for (let attempt = 0; attempt < SET_ATTEMPTS; attempt += 1) {
        const entry = await this.#kv.get(key);
        if ((valueOf(entry, isDesiredDocument)?.version ?? 0) > version) return { doc };
        try {
          if (entry === null) await this.#kv.create(key, value);
          else await this.#kv.update(key, value, entry.revision);
        } catch (err) {
          if (isCasConflict(err)) continue;
          throw err;
        }
        this.#o.log.log('info', 'config.set', { ...what, version, token });
        return { doc };
      }
    } catch (err) {
      this.#o.log.log('error', 'config.store_failed', { ...what, error: errorText(err) });
    }
    return { refused: 'unavailable' };
  }

  /** The next version from the cluster's counter (compare-and-set: two hubs never get the same one). */
  async #nextVersion(): Promise<number> {
    for (let attempt = 0; attempt < SET_ATTEMPTS; attempt += 1) {
      const entry = await this.#kv.get(VERSION_KEY);
      const counted = entry === null || entry.operation !== 'PUT' ? 0 : Number(entry.string());
      const version = Math.max(Number.isSafeInteger(counted) ? counted : 0, this.#maxVersion) + 1;
      try {
        if (entry === null) await this.#kv.create(VERSION_KEY, encoder.encode(String(version)));
        else await this.#kv.update(VERSION_KEY, encoder.encode(String(version)), entry.revision);
      } catch (err) {
        if (isCasConflict(err)) continue;
        throw err;
      }
      this.#maxVersion = Math.max(this.#maxVersion, version);
      return version;
    }
    throw new Error('the version counter kept changing under this hub');
  }

  feature(): DeviceFeature | null {
    return 'config';
  }

  opened(port: DownlinkPort): void {
    const online: Online = { port, sent: 0 };
    this.#online.set(port.device, online);
    // A device whose ack matches the copy costs nothing (a fleet reconnecting at once); one that would be sent a document is checked against the bucket first.
    if (this.#due(port.device)) void this.#offer(online);
  }

  closed(port: DownlinkPort): void {
    if (this.#online.get(port.device)?.port === port) this.#online.delete(port.device);
  }

  /** Stops the watch. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#online.clear();
    await this.#watch?.stop();
  }

  /** After `hello`: the device's document and ack as stored now (this hub's copy may not have the newest ack yet). */
  async #offer(online: Online): Promise<void> {
    const device = online.port.device;
    try {
      const view = await this.read(device);
      if (view.acked !== null) this.#acks.set(device, view.acked);
      if (view.desired !== null && view.glob === null && (this.#docs.get(device)?.version ?? 0) < view.desired.version) this.#docs.set(device, view.desired);
    } catch (err) {
      // The copy from the watch stands in; a change still comes through the watch.
      this.#o.log.log('warn', 'config.read_failed', { device, error: errorText(err) });
    }
    if (this.#online.get(device) === online) this.#sendIfDue(online);
  }

  /** A device's own document (from a set here or the watch): the newest version wins, and goes to the device if it is here. */
  #learnDoc(device: string, doc: DesiredDocument): void {
    this.#maxVersion = Math.max(this.#maxVersion, doc.version);
    if ((this.#docs.get(device)?.version ?? 0) >= doc.version) return;
    this.#docs.set(device, doc);
    const online = this.#online.get(device);
    if (online !== undefined) this.#sendIfDue(online);
  }

  /** A glob's document: the newest version wins, and goes to the devices here that it now covers. */
  #learnGlob(glob: string, doc: DesiredDocument): void {
    this.#maxVersion = Math.max(this.#maxVersion, doc.version);
    if ((this.#globs.get(glob)?.version ?? 0) >= doc.version) return;
    this.#globs.set(glob, doc);
    for (const online of this.#online.values()) if (globMatches(glob, online.port.device)) this.#sendIfDue(online);
  }

  /** A glob's document is gone: the devices here it covered get what covers them now, if anything. */
  #forgetGlob(glob: string): void {
    const covered = [...this.#online.values()].filter((online) => this.#effective(online.port.device)?.glob === glob);
    if (!this.#globs.delete(glob)) return;
    // A device left with none keeps what it applied (the protocol has no message to clear it).
    for (const online of covered) this.#sendIfDue(online);
  }

  /** The document a device gets: its own, else the most specific matching glob's. */
  #effective(device: string): { readonly doc: DesiredDocument; readonly glob: string | null } | null {
    return effectiveDocument(this.#docs, this.#globs, device);
  }

  /** Whether this hub's copy has a document for `device` that the device has not acknowledged. */
  #due(device: string): boolean {
    const doc = this.#effective(device)?.doc;
    return doc !== undefined && this.#acks.get(device)?.version !== doc.version;
  }

  /** SPEC: sent when the device has not acknowledged this version, once per version and connection. */
  #sendIfDue(online: Online): void {
    const { port } = online;
    const doc = this.#effective(port.device)?.doc;
    if (doc === undefined || doc.version === online.sent || !this.#due(port.device)) return;
    online.sent = doc.version; // tried once per version and connection, whether or not it fitted the plan
    if (sendDesiredDocument(port, doc, this.#o.log)) this.#sentCount.inc();
  }

  #onEntry(entry: KvWatchEntry): void {
    if (entry.key === VERSION_KEY) {
      const counted = Number(entry.string());
      if (entry.operation === 'PUT' && Number.isSafeInteger(counted)) this.#maxVersion = Math.max(this.#maxVersion, counted);
      return;
    }
    let name: string;
    try {
      name = decodeToken(entry.key.slice(2));
    } catch {
      return;
    }
    if (entry.key.startsWith('d.')) {
      const doc = valueOf(entry, isDesiredDocument);
      if (doc !== null) this.#learnDoc(name, doc);
    } else if (entry.key.startsWith('g.')) {
      const doc = valueOf(entry, isDesiredDocument);
      if (doc !== null && configGlobError(name) === null) this.#learnGlob(name, doc);
      else if (entry.operation !== 'PUT') this.#forgetGlob(name);
    } else if (entry.key.startsWith('a.')) {
      const ack = valueOf(entry, isConfigAck);
      if (ack !== null) {
        this.#maxVersion = Math.max(this.#maxVersion, ack.version);
        this.#acks.set(name, ack);
      }
    }
  }

  #onAck(port: DownlinkPort, body: unknown): string | null {
    const ack = parseConfigAck(body);
    if (typeof ack === 'string') return ack;
    const device = port.device;
    const doc = this.#effective(device)?.doc;
    if (doc === undefined || ack.version > this.#maxVersion) return 'configAck for a version never sent';
    // An ack of another version (a change crossed it on the wire) is not the current one's: the current one follows.
    if (ack.version !== doc.version) return null;
    const record: ConfigAckRecord = ack.error === undefined ? { version: ack.version, ok: ack.ok, at: this.#now() } : { ...ack, at: this.#now() };
    const previous = this.#acks.get(device);
    if (previous?.version === record.version && previous.ok === record.ok && previous.error === record.error) return null;
    this.#acks.set(device, record);
    this.#ackedCount.inc({ ok: String(record.ok) });
    this.#o.log.log(record.ok ? 'info' : 'warn', 'config.ack', { device, version: record.version, ok: record.ok, error: record.error });
    this.#kv.put(ackKey(device), encoder.encode(JSON.stringify(record))).catch((err: unknown) => this.#o.log.log('error', 'config.store_failed', { device, error: errorText(err) }));
    return null;
  }
}
