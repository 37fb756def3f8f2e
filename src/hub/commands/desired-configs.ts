/**
 * Desired configuration (SPEC: Device protocol version 2): one versioned
 * document per device or per glob of devices, stored durably, sent whole
 * after `hello` when the device has not acknowledged that version and on
 * every change while it is online; each `configAck` recorded durably. A
 * device's own document comes before any glob's, a more specific glob before
 * a less specific one (config-globs.ts).
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
import { globMatches } from '../console/device-glob.js';
import { configGlobError, effectiveDocument, GlobDocuments, sendDesiredDocument } from './config-globs.js';
import { configMessage, parseConfigAck, valueObjectError, type ValueObject } from './control-messages.js';
import type { KeyedStore } from './keyed-journal.js';

/** The desired document of one device or one glob of devices. */
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
  /** The document the device gets: its own, else the most specific matching glob's. */
  readonly desired: DesiredDocument | null;
  /** The glob whose document `desired` is; null when it is the device's own (or there is none). */
  readonly glob: string | null;
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
export type ConfigRefusal = 'invalid_config' | 'too_large' | 'unavailable' | 'invalid_glob' | 'too_many_globs';

/** What {@link DesiredConfigs} works with. */
export interface DesiredConfigsOptions {
  readonly documents: KeyedStore<DesiredDocument>;
  /** Glob documents, keyed by glob. */
  readonly globDocuments: KeyedStore<DesiredDocument>;
  readonly acks: KeyedStore<ConfigAckRecord>;
  /** The limits of a device (its plan's): `maxFields` and `maxDownlinkBytes` bound its document. */
  readonly limitsOf: (device: string) => DeviceLimits;
  /** The limits a glob document is checked against when set (the config's `limits`); a device whose plan allows less is not sent it. */
  readonly globLimits: DeviceLimits;
  /** Most glob documents; one more is refused `too_many_globs`. */
  readonly maxGlobs: number;
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
  readonly #globs = new GlobDocuments();
  /** Glob sets and deletes, one at a time: a delete never crosses a set of the same glob in the journal. */
  #globQueue: Promise<unknown> = Promise.resolve();
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
    for (const [glob, doc] of options.globDocuments.initial) {
      // Every glob is kept, even past a lowered maxGlobs: nothing stored is lost; only new ones are refused.
      if (configGlobError(glob) === null) this.#globs.set(glob, doc);
      else options.log.log('warn', 'config.glob_skipped', { glob });
      this.#version = Math.max(this.#version, doc.version);
    }
    for (const ack of this.#acks.values()) this.#version = Math.max(this.#version, ack.version);
    this.handlers = new Map([['configAck', (port, body) => this.#onAck(port, body)]]);
    this.#sent = options.metrics.counter('fleethub_config_sent_total', 'Desired configuration documents sent to devices.');
    this.#acked = options.metrics.counter('fleethub_config_acks_total', 'configAck messages recorded, by ok.');
    options.metrics.observedGauge('fleethub_config_globs', 'Desired-configuration documents for globs of devices (at most console.maxConfigGlobs).', () => this.#globs.size);
  }

  /** A device's desired document (its own or a glob's) and last ack. */
  get(device: string): ConfigView {
    const effective = this.#effective(device);
    return { device, desired: effective?.doc ?? null, glob: effective?.glob ?? null, acked: this.#acks.get(device) ?? null };
  }

  /** The document of a glob, or null. */
  getGlob(glob: string): DesiredDocument | null {
    return this.#globs.get(glob) ?? null;
  }

  /** Number of glob documents. */
  get globCount(): number {
    return this.#globs.size;
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

  /**
   * Stores a new version of a glob's document and sends it once to every
   * online device it now covers (devices with their own document or a more
   * specific glob's get nothing); resolves with the version, or why not.
   */
  setGlob(glob: string, desired: unknown, token: string): Promise<{ version: number } | { refused: ConfigRefusal }> {
    return this.#serial(() => this.#setGlob(glob, desired, token));
  }

  /**
   * Forgets a glob's document. Online devices it covered get the document
   * that covers them now, if any and not acknowledged; a device left with
   * none keeps what it applied (the protocol has no message to clear it).
   */
  deleteGlob(glob: string, token: string): Promise<{ deleted: boolean } | { refused: ConfigRefusal }> {
    return this.#serial(() => this.#deleteGlob(glob, token));
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#globQueue.then(op);
    this.#globQueue = run.catch(() => undefined);
    return run;
  }

  async #setGlob(glob: string, desired: unknown, token: string): Promise<{ version: number } | { refused: ConfigRefusal }> {
    if (configGlobError(glob) !== null) return { refused: 'invalid_glob' };
    const limits = this.#o.globLimits;
    if (valueObjectError(desired, limits.maxFields) !== null) return { refused: 'invalid_config' };
    const version = this.#version + 1;
    if (downlinkBytes(configMessage(version, desired as ValueObject)) > limits.maxDownlinkBytes) return { refused: 'too_large' };
    if (!this.#globs.has(glob) && this.#globs.size >= this.#o.maxGlobs) return { refused: 'too_many_globs' };
    // The version is taken before the write: a device document set meanwhile gets a later one.
    this.#version = version;
    const doc: DesiredDocument = { version, desired: desired as ValueObject, updatedAt: this.#now(), token };
    try {
      await this.#o.globDocuments.put(glob, doc);
    } catch {
      return { refused: 'unavailable' };
    }
    this.#globs.set(glob, doc);
    this.#o.log.log('info', 'config.set', { glob, version, token });
    for (const port of this.#ports.values()) if (globMatches(glob, port.device) && this.#effective(port.device)?.doc === doc) this.#send(port, doc);
    return { version };
  }

  async #deleteGlob(glob: string, token: string): Promise<{ deleted: boolean } | { refused: ConfigRefusal }> {
    if (configGlobError(glob) !== null) return { refused: 'invalid_glob' };
    const doc = this.#globs.get(glob);
    if (doc === undefined) return { deleted: false };
    try {
      await this.#o.globDocuments.delete(glob);
    } catch {
      return { refused: 'unavailable' };
    }
    // Taken after the write, so a device that connected meanwhile (and was sent this document) is among them.
    const covered = [...this.#ports.values()].filter((port) => globMatches(glob, port.device) && this.#effective(port.device)?.doc === doc);
    this.#globs.delete(glob);
    this.#o.log.log('info', 'config.deleted', { glob, version: doc.version, token });
    for (const port of covered) this.#sendIfUnacked(port);
    return { deleted: true };
  }

  feature(): DeviceFeature | null {
    return 'config';
  }

  opened(port: DownlinkPort): void {
    this.#ports.set(port.device, port);
    // SPEC: after hello only when the device has not acknowledged this version: no storm when a fleet reconnects.
    this.#sendIfUnacked(port);
  }

  closed(port: DownlinkPort): void {
    if (this.#ports.get(port.device) === port) this.#ports.delete(port.device);
  }

  async close(): Promise<void> {
    this.#ports.clear();
    await Promise.all([this.#o.documents.close(), this.#o.globDocuments.close(), this.#o.acks.close()]);
  }

  /** The document a device gets: its own, else the most specific matching glob's. */
  #effective(device: string): { readonly doc: DesiredDocument; readonly glob: string | null } | null {
    return effectiveDocument(this.#docs, this.#globs, device);
  }

  #sendIfUnacked(port: DownlinkPort): void {
    const doc = this.#effective(port.device)?.doc;
    if (doc !== undefined && this.#acks.get(port.device)?.version !== doc.version) this.#send(port, doc);
  }

  #send(port: DownlinkPort, doc: DesiredDocument): void {
    if (sendDesiredDocument(port, doc, this.#o.log)) this.#sent.inc();
  }

  #onAck(port: DownlinkPort, body: unknown): string | null {
    const ack = parseConfigAck(body);
    if (typeof ack === 'string') return ack;
    const doc = this.#effective(port.device)?.doc;
    if (doc === undefined || ack.version > this.#version) return 'configAck for a version never sent';
    // An ack of another version (a change crossed it on the wire) is not the current one's: the current one follows.
    if (ack.version !== doc.version) return null;
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
