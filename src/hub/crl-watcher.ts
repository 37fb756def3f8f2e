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
 */
import type { SecureContextOptions } from 'node:tls';
import { FleethubError } from '../errors.js';
import type { Logger } from '../log.js';
import { crlDaysLeftIfExpiring, crlExpired, crlReplacementRefusal, crlStateOf, NO_CRL, type CrlState } from './crl-state.js';
import { deviceSecureContextOptions, type DeviceTlsMaterial } from './device-tls.js';
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
  /** The PKI folder's `crl.pem`: a malformed one stops the start. */
  readonly source: CrlSource;
  /**
   * Cluster mode: the CRL the CLI published to the cluster. Its texts go
   * through the same checks, so whichever of the two is newest (by CRL
   * number) is loaded, and neither can unrevoke what the other revoked.
   */
  readonly published?: CrlSource;
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

/** Follows the CRL: create, {@link start}, then {@link isRevoked} on every connection; {@link close} at the end. */
export class CrlWatcher<D extends LiveDevice> {
  readonly #options: CrlWatcherOptions<D>;
  readonly #now: () => number;
  #material: DeviceTlsMaterial | null = null;
  #crl: CrlState = NO_CRL;
  #wasExpired = false;
  /** `crl.expiring` was logged for the CRL loaded now (once per load). */
  #expiryWarned = false;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: CrlWatcherOptions<D>) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Loads the CRL and starts following it. `material` holds the CA (every
   * CRL must be signed by it) and the server certificate and key of the TLS
   * options. FH_ERR_CONFIG when the CRL is not a valid CRL of that CA.
   */
  async start(material: DeviceTlsMaterial): Promise<void> {
    const { source, log } = this.#options;
    this.#material = material;
    const pem = await source.read();
    let state: CrlState;
    try {
      state = crlStateOf(pem, material.ca);
    } catch (err) {
      throw new FleethubError('FH_ERR_CONFIG', `pki: ${source.name} is not a valid CRL of the hub's CA (${errorText(err)}); rewrite it with \`fleethub ca crl\``, { cause: err });
    }
    if (pem === null) log.log('warn', 'crl.missing', { path: source.name, effect: 'no certificate is revoked until it exists' });
    this.#load(state);
    const published = this.#options.published;
    if (published !== undefined) this.#onText(await published.read().catch(() => null), published);
    if (this.#closed) return;
    source.watch((text) => this.#onText(text, source));
    published?.watch((text) => this.#onText(text, published));
    this.#timer = setInterval(() => this.#checkExpiry(), this.#options.checkMs);
    this.#timer.unref();
  }

  /** True when the loaded CRL lists `serial` (uppercase hex), expired or not. */
  isRevoked(serial: string): boolean {
    return this.#crl.serials.has(serial);
  }

  /** The loaded CRL's number (null: none loaded, or it has none). */
  get number(): number | null {
    return this.#crl.number;
  }

  /** The TLS options to serve with now: the CA, the server certificate, and the CRL while it is current. */
  secureContextOptions(): SecureContextOptions {
    if (this.#material === null) throw new Error('CrlWatcher: secureContextOptions() before start()');
    return deviceSecureContextOptions(this.#material, this.#crl, this.#now());
  }

  /** Looks at the source and the expiry now instead of at the next poll; resolves after a new CRL took effect. */
  async check(): Promise<void> {
    await Promise.all([this.#options.source.check(), this.#options.published?.check()]);
    this.#checkExpiry();
  }

  /** Stops following the source. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.all([this.#options.source.close(), this.#options.published?.close()]);
  }

  /** A new text from a source: load it unless it is refused (see the module comment). */
  #onText(text: string | null, from: CrlSource): void {
    const { log, metrics } = this.#options;
    if (this.#closed || this.#material === null) return;
    if (text === null) {
      // Nothing published to the cluster (yet) is no news; a crl.pem that disappeared is.
      if (this.#crl.pem !== null && from === this.#options.source) {
        metrics.crlRefused.inc({ reason: 'missing' });
        log.log('warn', 'crl.missing', { path: from.name, kept: 'previous' });
      }
      return;
    }
    let next: CrlState;
    try {
      next = crlStateOf(text, this.#material.ca);
    } catch (err) {
      // A half-written or corrupt CRL must not unrevoke anyone: keep the last good one.
      metrics.crlRefused.inc({ reason: 'invalid' });
      log.log('error', 'crl.invalid', { path: from.name, error: errorText(err) });
      return;
    }
    if (next.pem === this.#crl.pem) return;
    const refusal = crlReplacementRefusal(this.#crl, next);
    if (refusal !== null) {
      // An older CRL (a backup or a copy put back) would unrevoke what came after it.
      metrics.crlRefused.inc({ reason: refusal });
      log.log('error', 'crl.refused', {
        path: from.name,
        reason: refusal,
        number: next.number ?? undefined,
        loaded: this.#crl.number ?? undefined,
        kept: 'loaded',
        fix: 'a newer CRL is loaded within crlCheckMs (`fleethub ca crl` writes one); a restart loads the file as it is',
      });
      return;
    }
    this.#load(next);
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

  /** Makes `next` the loaded CRL, with its gauges and warnings. */
  #load(next: CrlState): void {
    const { metrics, log } = this.#options;
    this.#crl = next;
    const now = this.#now();
    this.#wasExpired = crlExpired(next, now);
    this.#expiryWarned = false;
    metrics.crlNumber.set(next.number ?? 0);
    metrics.crlRevoked.set(next.serials.size);
    metrics.crlExpired.set(this.#wasExpired ? 1 : 0);
    metrics.crlNextUpdate.set(next.nextUpdate === null ? 0 : next.nextUpdate.getTime() / 1000);
    if (this.#wasExpired) log.log('warn', 'crl.expired', { nextUpdate: next.nextUpdate?.toISOString(), policy: 'enforced by the hub; run `fleethub ca crl`' });
    this.#warnIfExpiring(now);
  }

  /** Time passes without the source changing: the loaded CRL may expire. */
  #checkExpiry(): void {
    if (this.#closed) return;
    const now = this.#now();
    this.#warnIfExpiring(now);
    const expired = crlExpired(this.#crl, now);
    if (expired === this.#wasExpired) return;
    this.#wasExpired = expired;
    this.#options.metrics.crlExpired.set(expired ? 1 : 0);
    if (expired) this.#options.log.log('warn', 'crl.expired', { nextUpdate: this.#crl.nextUpdate?.toISOString(), policy: 'enforced by the hub; run `fleethub ca crl`' });
    if (this.#material !== null) this.#options.onContextChange(this.secureContextOptions());
  }

  /**
   * Warns once per loaded CRL when its nextUpdate is less than
   * CRL_EXPIRY_WARNING_DAYS away (at load, or later as time passes), so the
   * fix comes before the expired-CRL policy has to step in.
   */
  #warnIfExpiring(now: number): void {
    if (this.#expiryWarned) return;
    const daysLeft = crlDaysLeftIfExpiring(this.#crl, now);
    if (daysLeft === null) return;
    this.#expiryWarned = true;
    this.#options.log.log('warn', 'crl.expiring', {
      nextUpdate: this.#crl.nextUpdate?.toISOString(),
      daysLeft,
      fix: `run \`fleethub ca crl\` to re-sign it; the hub loads the new one within ${this.#options.checkMs} ms`,
    });
  }
}
