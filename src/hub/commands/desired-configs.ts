/**
 * Desired configuration (SPEC: Device protocol version 2): one versioned
 * document per device, stored durably, sent whole after `hello` when the
 * device has not acknowledged that version and on every change while it is
 * online; each `configAck` recorded durably.
 *
 * A fleet reconnecting at once costs no downlink: a device that acknowledged
 * the current version gets nothing after its `hello`. Versions come from one
 * counter for the whole hub, so a version number names one document only.
 */
import type { Logger } from '../../log.js';
import type { Counter, MetricsRegistry } from '../../metrics.js';
import type { DeviceLimits } from '../config.js';
import { downlinkBytes, type DeviceFeature, type V2ControlKey } from '../protocol-v2.js';
import type { DownlinkPort } from '../session-extension.js';
import type { V2ControlHandler, V2Participant } from '../v2-session.js';
import { configMessage, parseConfigAck, valueObjectError, type ValueObject } from './control-messages.js';
import type { KeyedStore } from './keyed-journal.js';

/** The desired document of one device. */
export interface DesiredDocument {
  readonly version: number;
  readonly desired: ValueObject;
  readonly updatedAt: number;
  /** Id of the token that set it, for the audit log. */
  readonly token?: string;
}

/** The device's last `configAck`. */
export interface ConfigAckRecord {
  readonly version: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly at: number;
}

/** What operators see of a device's configuration. */
export interface ConfigView {
  readonly device: string;
  readonly desired: DesiredDocument | null;
  readonly acked: ConfigAckRecord | null;
}

/** A stored document's shape, checked when the journal is read back. */
export function isDesiredDocument(value: unknown): value is DesiredDocument {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return Number.isSafeInteger(r.version) && typeof r.desired === 'object' && r.desired !== null && typeof r.updatedAt === 'number';
}

/** A stored ack's shape. */
export function isConfigAck(value: unknown): value is ConfigAckRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return Number.isSafeInteger(r.version) && typeof r.ok === 'boolean' && typeof r.at === 'number';
}

/** Why a `set` was refused. */
export type ConfigRefusal = 'invalid_config' | 'too_large' | 'unavailable';

/** What {@link DesiredConfigs} works with. */
export interface DesiredConfigsOptions {
  readonly documents: KeyedStore<DesiredDocument>;
  readonly acks: KeyedStore<ConfigAckRecord>;
  /** The limits of a device (its plan's): `maxFields` and `maxDownlinkBytes` bound its document. */
  readonly limitsOf: (device: string) => DeviceLimits;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Every device's desired configuration, and the device side of `config` / `configAck`. */
export class DesiredConfigs implements V2Participant {
  readonly handlers: ReadonlyMap<V2ControlKey, V2ControlHandler>;
  readonly #o: DesiredConfigsOptions;
  readonly #now: () => number;
  readonly #docs: Map<string, DesiredDocument>;
  readonly #acks: Map<string, ConfigAckRecord>;
  readonly #ports = new Map<string, DownlinkPort>();
  readonly #sent: Counter;
  readonly #acked: Counter;
  #version = 0;

  constructor(options: DesiredConfigsOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#docs = new Map(options.documents.initial);
    this.#acks = new Map(options.acks.initial);
    for (const doc of this.#docs.values()) this.#version = Math.max(this.#version, doc.version);
    for (const ack of this.#acks.values()) this.#version = Math.max(this.#version, ack.version);
    this.handlers = new Map([['configAck', (port, body) => this.#onAck(port, body)]]);
    this.#sent = options.metrics.counter('fleethub_config_sent_total', 'Desired configuration documents sent to devices.');
    this.#acked = options.metrics.counter('fleethub_config_acks_total', 'configAck messages recorded, by ok.');
  }

  /** A device's desired document and last ack. */
  get(device: string): ConfigView {
    return { device, desired: this.#docs.get(device) ?? null, acked: this.#acks.get(device) ?? null };
  }

  /** Stores a new version of a device's document and sends it if the device is online; resolves with the version, or why not. */
  async set(device: string, desired: unknown, token: string): Promise<{ version: number } | { refused: ConfigRefusal }> {
    const limits = this.#o.limitsOf(device);
    if (valueObjectError(desired, limits.maxFields) !== null) return { refused: 'invalid_config' };
    const version = this.#version + 1;
    const text = configMessage(version, desired as ValueObject);
    if (downlinkBytes(text) > limits.maxDownlinkBytes) return { refused: 'too_large' };
    this.#version = version;
    const doc: DesiredDocument = { version, desired: desired as ValueObject, updatedAt: this.#now(), token };
    try {
      await this.#o.documents.put(device, doc);
    } catch {
      return { refused: 'unavailable' };
    }
    // A newer set may have finished first: the newest version wins.
    if ((this.#docs.get(device)?.version ?? 0) < version) this.#docs.set(device, doc);
    this.#o.log.log('info', 'config.set', { device, version, token });
    const port = this.#ports.get(device);
    if (port !== undefined && this.#docs.get(device) === doc) this.#send(port, doc);
    return { version };
  }

  feature(): DeviceFeature | null {
    return 'config';
  }

  opened(port: DownlinkPort): void {
    this.#ports.set(port.device, port);
    const doc = this.#docs.get(port.device);
    // SPEC: after hello only when the device has not acknowledged this version: no storm when a fleet reconnects.
    if (doc !== undefined && this.#acks.get(port.device)?.version !== doc.version) this.#send(port, doc);
  }

  closed(port: DownlinkPort): void {
    if (this.#ports.get(port.device) === port) this.#ports.delete(port.device);
  }

  async close(): Promise<void> {
    this.#ports.clear();
    await Promise.all([this.#o.documents.close(), this.#o.acks.close()]);
  }

  #send(port: DownlinkPort, doc: DesiredDocument): void {
    if (port.sendDownlink(configMessage(doc.version, doc.desired))) this.#sent.inc();
    else this.#o.log.log('warn', 'config.not_sent', { device: port.device, version: doc.version });
  }

  #onAck(port: DownlinkPort, body: unknown): string | null {
    const ack = parseConfigAck(body);
    if (typeof ack === 'string') return ack;
    const doc = this.#docs.get(port.device);
    if (doc === undefined || ack.version > doc.version) return 'configAck for a version never sent';
    // An ack of an older version (a change crossed it on the wire) is not the current one's: the current one follows.
    if (ack.version < doc.version) return null;
    const record: ConfigAckRecord = ack.error === undefined ? { version: ack.version, ok: ack.ok, at: this.#now() } : { ...ack, at: this.#now() };
    const previous = this.#acks.get(port.device);
    if (previous?.version === record.version && previous.ok === record.ok && previous.error === record.error) return null;
    this.#acks.set(port.device, record);
    this.#acked.inc({ ok: String(record.ok) });
    this.#o.log.log(record.ok ? 'info' : 'warn', 'config.ack', { device: port.device, version: record.version, ok: record.ok, error: record.error });
    this.#o.acks.put(port.device, record).catch((err: unknown) => this.#o.log.log('error', 'config.store_failed', { device: port.device, error: String(err) }));
    return null;
  }
}
