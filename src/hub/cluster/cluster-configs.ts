/**
 * Desired configuration in cluster mode (SPEC: Device protocol version 2,
 * Desired configuration; Cluster mode): what desired-configs.ts does on a
 * single hub, with the documents and the acks in one JetStream KV bucket
 * instead of the hub's data folder, so every hub sees the same ones and a
 * lost machine takes none with it.
 *
 * - `d.<device>` holds the document, `a.<device>` the device's last
 *   `configAck`. A new version is the stored one's plus one, written with a
 *   compare-and-set on the revision read: two hubs setting one device at
 *   once cannot give two documents one version (the later set reads again).
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
  readonly kvTimeoutMs: number;
  readonly watchRetryMs: number;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  readonly now?: () => number;
}

/** A device whose v2 session is on this hub. */
interface Online {
  readonly port: DownlinkPort;
  /** The newest version sent on this connection (0: none). */
  sent: number;
}

const encoder = new TextEncoder();
const docKey = (device: string): string => `d.${encodeToken(device)}`;
const ackKey = (device: string): string => `a.${encodeToken(device)}`;

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
  }

  /** Opens (creating it) the bucket and starts watching it. */
  static async open(options: ClusterDesiredConfigsOptions): Promise<ClusterDesiredConfigs> {
    const kv = await openClusterBucket(options.connection, clusterNames(options.prefix).configBucket, options.replicas, options.kvTimeoutMs);
    const configs = new ClusterDesiredConfigs(options, kv);
    configs.#watch = await keepWatching(kv, {}, (entry) => configs.#onEntry(entry), { name: 'device-config', retryMs: options.watchRetryMs, log: options.log });
    return configs;
  }

  get(device: string): ConfigView {
    return { device, desired: this.#docs.get(device) ?? null, glob: null, acked: this.#acks.get(device) ?? null };
  }

  async read(device: string): Promise<ConfigView> {
    const [doc, ack] = await Promise.all([this.#kv.get(docKey(device)), this.#kv.get(ackKey(device))]);
    return { device, desired: valueOf(doc, isDesiredDocument), glob: null, acked: valueOf(ack, isConfigAck) };
  }

  /** Glob documents are not kept in the cluster: none. */
  getGlob(_glob: string): DesiredDocument | null {
    return null;
  }

  get globCount(): number {
    return 0;
  }

  /** Refused `unsupported`: glob documents are not kept in the cluster. */
  setGlob(_glob: string, _desired: unknown, _token: string): Promise<{ refused: ConfigRefusal }> {
    return Promise.resolve({ refused: 'unsupported' });
  }

  /** Refused `unsupported`, as {@link setGlob}. */
  deleteGlob(_glob: string, _token: string): Promise<{ refused: ConfigRefusal }> {
    return Promise.resolve({ refused: 'unsupported' });
  }

  async set(device: string, desired: unknown, token: string): Promise<{ version: number } | { refused: ConfigRefusal }> {
    const limits = this.#o.limitsOf(device);
    if (valueObjectError(desired, limits.maxFields) !== null) return { refused: 'invalid_config' };
    const key = docKey(device);
    for (let attempt = 0; attempt < SET_ATTEMPTS; attempt += 1) {
      let doc: DesiredDocument;
      try {
        const entry = await this.#kv.get(key);
        const version = (valueOf(entry, isDesiredDocument)?.version ?? 0) + 1;
        if (downlinkBytes(configMessage(version, desired as ValueObject)) > limits.maxDownlinkBytes) return { refused: 'too_large' };
        doc = { version, desired: desired as ValueObject, updatedAt: this.#now(), token };
        const value = encoder.encode(JSON.stringify(doc));
        if (entry === null) await this.#kv.create(key, value);
        else await this.#kv.update(key, value, entry.revision);
      } catch (err) {
        if (isCasConflict(err)) continue;
        this.#o.log.log('error', 'config.store_failed', { device, error: errorText(err) });
        return { refused: 'unavailable' };
      }
      this.#o.log.log('info', 'config.set', { device, version: doc.version, token });
      this.#learnDoc(device, doc);
      return { version: doc.version };
    }
    return { refused: 'unavailable' };
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
      if (view.desired !== null && (this.#docs.get(device)?.version ?? 0) < view.desired.version) this.#docs.set(device, view.desired);
    } catch (err) {
      // The copy from the watch stands in; a change still comes through the watch.
      this.#o.log.log('warn', 'config.read_failed', { device, error: errorText(err) });
    }
    if (this.#online.get(device) === online) this.#sendIfDue(online);
  }

  /** A document (from a set here or the watch): the newest version wins, and goes to the device if it is here. */
  #learnDoc(device: string, doc: DesiredDocument): void {
    if ((this.#docs.get(device)?.version ?? 0) >= doc.version) return;
    this.#docs.set(device, doc);
    const online = this.#online.get(device);
    if (online !== undefined) this.#sendIfDue(online);
  }

  /** Whether this hub's copy has a document for `device` that the device has not acknowledged. */
  #due(device: string): boolean {
    const doc = this.#docs.get(device);
    return doc !== undefined && this.#acks.get(device)?.version !== doc.version;
  }

  /** SPEC: sent when the device has not acknowledged this version, once per version and connection. */
  #sendIfDue(online: Online): void {
    const device = online.port.device;
    const doc = this.#docs.get(device);
    if (doc === undefined || doc.version <= online.sent || !this.#due(device)) return;
    online.sent = doc.version;
    if (online.port.sendDownlink(configMessage(doc.version, doc.desired))) this.#sentCount.inc();
    else this.#o.log.log('warn', 'config.not_sent', { device, version: doc.version });
  }

  #onEntry(entry: KvWatchEntry): void {
    let device: string;
    try {
      device = decodeToken(entry.key.slice(2));
    } catch {
      return;
    }
    if (entry.key.startsWith('d.')) {
      const doc = valueOf(entry, isDesiredDocument);
      if (doc !== null) this.#learnDoc(device, doc);
    } else if (entry.key.startsWith('a.')) {
      const ack = valueOf(entry, isConfigAck);
      if (ack !== null) this.#acks.set(device, ack);
    }
  }

  #onAck(port: DownlinkPort, body: unknown): string | null {
    const ack = parseConfigAck(body);
    if (typeof ack === 'string') return ack;
    const device = port.device;
    const doc = this.#docs.get(device);
    if (doc === undefined || ack.version > doc.version) return 'configAck for a version never sent';
    // An ack of an older version (a change crossed it on the wire) is not the current one's: the current one follows.
    if (ack.version < doc.version) return null;
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
