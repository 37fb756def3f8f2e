/**
 * The CRL watcher: follows the CRL from its source (`crl.pem` today, the
 * cluster tomorrow), answers "is this serial revoked?", gives the device
 * listener the TLS options to serve with, and tells it which live devices a
 * new CRL revokes (SPEC: 4001 within 5 s, without a restart).
 *
 * What it refuses, keeping the loaded CRL (nobody is ever unrevoked by a
 * bad file): a malformed CRL or one not signed by the CA the hub loaded
 * (`crl.invalid`); an older one, by CRL number, such as a backup put back
 * (`crl.refused`, see {@link crlReplacementRefusal}); a missing one
 * (`crl.missing`). Each refusal counts in `fleethub_crl_refused_total`. At
 * start, a malformed CRL stops the hub: running without it would unrevoke
 * everyone.
 *
 * Expired-CRL policy: OpenSSL refuses every client certificate with
 * "CRL has expired" (X509_V_ERR_CRL_HAS_EXPIRED) once the CRL given to Node's
 * `crl` option is past nextUpdate, and Node offers no flag to relax only
 * that check. A forgotten `fleethub ca crl` would so lock the whole fleet
 * out. The watcher therefore leaves an expired CRL out of the TLS options,
 * the listener keeps enforcing its serials through {@link CrlWatcher.isRevoked}
 * right after the handshake (before any HTTP) and at the upgrade, and the
 * watcher logs `crl.expired` and sets the `fleethub_crl_expired` gauge until
 * a fresh CRL is written. So that it rarely comes to that, a loaded CRL whose
 * nextUpdate is less than CRL_EXPIRY_WARNING_DAYS away is logged once per
 * load (`crl.expiring`), and the gauge
 * `fleethub_crl_next_update_timestamp_seconds` always shows its nextUpdate.
 *
 * One CRL per CA: OpenSSL checks every CA of a chain against its CRL, so with
 * an issuing CA (online signing) or a claim CA (provisioning) the root's CRL
 * and theirs are each followed the same way (one slot each). The TLS options
 * carry them only while all are present and current; otherwise none, and
 * the listener enforces every slot's serials itself as above. The gauges
 * show the root's CRL number, the revoked serials of all, whether any has
 * expired, and the earliest nextUpdate.
 */
import type { SecureContextOptions } from 'node:tls';
import { FleethubError } from '../errors.js';
import type { Logger } from '../log.js';
import { crlDaysLeftIfExpiring, crlExpired, crlReplacementRefusal, crlStateOf, NO_CRL, type CrlState } from './crl-state.js';
import { deviceSecureContextOptions, type DeviceTlsMaterial, type ExtraCa } from './device-tls.js';
import type { HubMetrics } from './hub-metrics.js';
import type { TextSource } from './text-source.js';

/** Where CRLs come from: a PEM text that can change (a polled file today, a cluster key tomorrow). */
export type CrlSource = TextSource;

/** A connected device, as far as revocation cares. */
export interface LiveDevice {
  readonly device: string;
  /** Its certificate's serial, uppercase hex. */
  readonly serial: string;
}

/** What the watcher works with. */
export interface CrlWatcherOptions<D extends LiveDevice> {
  /** The PKI folder's `crl.pem`, the root's CRL: a malformed one stops the start. */
  readonly source: CrlSource;
  /**
   * Cluster mode: the CRL of each CA (the root's, and an issuing or claim
   * CA's) as the CLI published it to the cluster. Its texts go through the
   * same checks as the file's, so whichever of the two is newest (by CRL
   * number) is loaded, and neither can unrevoke what the other revoked.
   */
  readonly published?: (role: CaRole) => CrlSource;
  /** The CRL of an issuing or claim CA found at start. @defaultValue none: only the root's CRL is followed */
  readonly extraSource?: (role: ExtraCa['role']) => CrlSource;
  /** How often the loaded CRL's expiry is checked, and the longest a change of the source waits (ms). */
  readonly checkMs: number;
  readonly metrics: HubMetrics;
  readonly log: Logger;
  /** The devices connected now. */
  readonly live: () => Iterable<D>;
  /** A live device that a newly loaded CRL revokes (the listener closes it with 4001). */
  readonly onRevoked: (device: D) => void;
  /** The TLS options changed (a new CRL, or the loaded one expired). */
  readonly onContextChange: (options: SecureContextOptions) => void;
  /** The clock. @defaultValue Date.now */
  readonly now?: () => number;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The CA a CRL belongs to. */
export type CaRole = 'root' | ExtraCa['role'];

/** One CA's CRL as the watcher follows it. */
interface Slot {
  readonly role: CaRole;
  readonly caPem: string;
  readonly source: CrlSource;
  /** Cluster mode: the same CA's CRL as published to the cluster. */
  readonly published: CrlSource | null;
  crl: CrlState;
  wasExpired: boolean;
  /** `crl.expiring` was logged for the CRL loaded now (once per load). */
  expiryWarned: boolean;
}

/** Follows the CRLs: create, {@link start}, then {@link isRevoked} on every connection; {@link close} at the end. */
export class CrlWatcher<D extends LiveDevice> {
  readonly #options: CrlWatcherOptions<D>;
  readonly #now: () => number;
  #material: DeviceTlsMaterial | null = null;
  #slots: Slot[] = [];
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: CrlWatcherOptions<D>) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Loads the CRLs and starts following them. `material` holds the CAs (each
   * CRL must be signed by its own) and the server certificate and key of the
   * TLS options. FH_ERR_CONFIG when a CRL is not a valid CRL of its CA.
   */
  async start(material: DeviceTlsMaterial): Promise<void> {
    const { source, log, extraSource, published } = this.#options;
    this.#material = material;
    const slot = (role: CaRole, caPem: string, from: CrlSource): Slot =>
      ({ role, caPem, source: from, published: published?.(role) ?? null, crl: NO_CRL, wasExpired: false, expiryWarned: false });
    const slots: Slot[] = [slot('root', material.ca, source)];
    if (extraSource !== undefined) {
      for (const extra of material.extraCas ?? []) slots.push(slot(extra.role, extra.cert, extraSource(extra.role)));
    }
    this.#slots = slots;
    for (const slot of slots) {
      const pem = await slot.source.read();
      let state: CrlState;
      try {
        state = crlStateOf(pem, slot.caPem);
      } catch (err) {
        const which = slot.role === 'root' ? 'the hub\'s CA' : `the ${slot.role} CA`;
        throw new FleethubError('FH_ERR_CONFIG', `pki: ${slot.source.name} is not a valid CRL of ${which} (${errorText(err)}); rewrite it with \`fleethub ca crl\``, { cause: err });
      }
      if (pem === null) log.log('warn', 'crl.missing', { path: slot.source.name, effect: 'no certificate is revoked until it exists' });
      this.#load(slot, state);
    }
    for (const s of slots) {
      const from = s.published;
      if (from !== null) this.#onText(s, await from.read().catch(() => null), from);
    }
    if (this.#closed) return;
    for (const s of slots) {
      s.source.watch((text) => this.#onText(s, text));
      const from = s.published;
      from?.watch((text) => this.#onText(s, text, from));
    }
    this.#timer = setInterval(() => this.#checkExpiry(), this.#options.checkMs);
    this.#timer.unref();
  }

  /** True when a loaded CRL lists `serial` (uppercase hex), expired or not. */
  isRevoked(serial: string): boolean {
    for (const slot of this.#slots) if (slot.crl.serials.has(serial)) return true;
    return false;
  }

  /** The root's loaded CRL number (null: none loaded, or it has none). */
  get number(): number | null {
    return this.#slots[0]?.crl.number ?? null;
  }

  /** The TLS options to serve with now: the CAs, the server certificate, and the CRLs while they are current. */
  secureContextOptions(): SecureContextOptions {
    if (this.#material === null) throw new Error('CrlWatcher: secureContextOptions() before start()');
    return deviceSecureContextOptions(this.#material, this.#slots.map((slot) => slot.crl), this.#now());
  }

  /** Looks at the sources and the expiry now instead of at the next poll; resolves after a new CRL took effect. */
  async check(): Promise<void> {
    await Promise.all(this.#slots.flatMap((slot) => [slot.source.check(), slot.published?.check()]));
    this.#checkExpiry();
  }

  /** Stops following the sources. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.all([this.#options.source.close(), ...this.#slots.slice(1).map((slot) => slot.source.close()), ...this.#slots.map((slot) => slot.published?.close())]);
  }

  /** A new text from a source: load it unless it is refused (see the module comment). */
  #onText(slot: Slot, text: string | null, from: CrlSource = slot.source): void {
    const { log, metrics } = this.#options;
    if (this.#closed || this.#material === null) return;
    if (text === null) {
      // Nothing published to the cluster (yet) is no news; a CRL file that disappeared is.
      if (slot.crl.pem !== null && from === slot.source) {
        metrics.crlRefused.inc({ reason: 'missing' });
        log.log('warn', 'crl.missing', { path: from.name, kept: 'previous' });
      }
      return;
    }
    let next: CrlState;
    try {
      next = crlStateOf(text, slot.caPem);
    } catch (err) {
      // A half-written or corrupt CRL must not unrevoke anyone: keep the last good one.
      metrics.crlRefused.inc({ reason: 'invalid' });
      log.log('error', 'crl.invalid', { path: from.name, error: errorText(err) });
      return;
    }
    if (next.pem === slot.crl.pem) return;
    const refusal = crlReplacementRefusal(slot.crl, next);
    if (refusal !== null) {
      // An older CRL (a backup or a copy put back) would unrevoke what came after it.
      metrics.crlRefused.inc({ reason: refusal });
      log.log('error', 'crl.refused', {
        path: from.name,
        reason: refusal,
        number: next.number ?? undefined,
        loaded: slot.crl.number ?? undefined,
        kept: 'loaded',
        fix: 'a newer CRL is loaded within crlCheckMs (`fleethub ca crl` writes one); a restart loads the file as it is',
      });
      return;
    }
    this.#load(slot, next);
    metrics.crlReloads.inc();
    this.#options.onContextChange(this.secureContextOptions());
    let closed = 0;
    for (const device of this.#options.live()) {
      if (!next.serials.has(device.serial)) continue;
      closed += 1;
      log.log('info', 'device.revoked', { id: device.device, serial: device.serial });
      this.#options.onRevoked(device);
    }
    log.log('info', 'crl.reloaded', { path: from.name, number: next.number ?? undefined, revoked: next.serials.size, closed });
  }

  /** Makes `next` the loaded CRL of `slot`, with the gauges and warnings. */
  #load(slot: Slot, next: CrlState): void {
    const { log } = this.#options;
    slot.crl = next;
    const now = this.#now();
    slot.wasExpired = crlExpired(next, now);
    slot.expiryWarned = false;
    this.#setGauges();
    if (slot.wasExpired) log.log('warn', 'crl.expired', { path: slot.source.name, nextUpdate: next.nextUpdate?.toISOString(), policy: 'enforced by the hub; run `fleethub ca crl`' });
    this.#warnIfExpiring(slot, now);
  }

  /** The gauges over every slot: the root's number, all revoked serials, any expired, the earliest nextUpdate. */
  #setGauges(): void {
    const { metrics } = this.#options;
    let revoked = 0;
    let expired = false;
    let nextUpdate: number | null = null;
    for (const slot of this.#slots) {
      revoked += slot.crl.serials.size;
      expired ||= slot.wasExpired;
      const at = slot.crl.nextUpdate?.getTime();
      if (at !== undefined && (nextUpdate === null || at < nextUpdate)) nextUpdate = at;
    }
    metrics.crlNumber.set(this.number ?? 0);
    metrics.crlRevoked.set(revoked);
    metrics.crlExpired.set(expired ? 1 : 0);
    metrics.crlNextUpdate.set(nextUpdate === null ? 0 : nextUpdate / 1000);
  }

  /** Time passes without the sources changing: a loaded CRL may expire. */
  #checkExpiry(): void {
    if (this.#closed) return;
    const now = this.#now();
    let changed = false;
    for (const slot of this.#slots) {
      this.#warnIfExpiring(slot, now);
      const expired = crlExpired(slot.crl, now);
      if (expired === slot.wasExpired) continue;
      slot.wasExpired = expired;
      changed = true;
      if (expired) this.#options.log.log('warn', 'crl.expired', { path: slot.source.name, nextUpdate: slot.crl.nextUpdate?.toISOString(), policy: 'enforced by the hub; run `fleethub ca crl`' });
    }
    if (!changed) return;
    this.#setGauges();
    if (this.#material !== null) this.#options.onContextChange(this.secureContextOptions());
  }

  /**
   * Warns once per loaded CRL when its nextUpdate is less than
   * CRL_EXPIRY_WARNING_DAYS away (at load, or later as time passes), so the
   * fix comes before the expired-CRL policy has to step in.
   */
  #warnIfExpiring(slot: Slot, now: number): void {
    if (slot.expiryWarned) return;
    const daysLeft = crlDaysLeftIfExpiring(slot.crl, now);
    if (daysLeft === null) return;
    slot.expiryWarned = true;
    const command = slot.role === 'root' ? 'fleethub ca crl --ca root` (where the root key is)' : `fleethub ca crl --ca ${slot.role}\``;
    this.#options.log.log('warn', 'crl.expiring', {
      path: slot.source.name,
      nextUpdate: slot.crl.nextUpdate?.toISOString(),
      daysLeft,
      fix: `run \`${command} to re-sign it; the hub loads the new one within ${this.#options.checkMs} ms`,
    });
  }
}
