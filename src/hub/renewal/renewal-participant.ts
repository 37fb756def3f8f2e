/**
 * Certificate renewal over a protocol 2 session (SPEC: Device protocol
 * version 2): the `renew` feature and `hello.cert`, `{"csr"}` (a key made on
 * the device) and `{"renew":{}}` (the key of this handshake) answered with
 * `{"cert"}` or `{"certError"}`, and the commit of a pending certificate at
 * the device's first handshake with it. The decisions and the records are
 * the ledger's (src/pki/renewal.ts); this module holds what is per
 * connection and per hub: the request count of a connection, the hub-wide
 * rate, the metrics and the log lines.
 *
 * Without a ledger the participant refuses: no `renew` feature, and every
 * request answered `unavailable`.
 */
import type { X509Certificate } from 'node:crypto';
import { FleethubError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Counter, MetricsRegistry } from '../../metrics.js';
import { verifyCsr } from '../../pki/csr.js';
import type { RenewalLedger, RenewalOutcome, RenewalRefusal, RenewalRequest } from '../../pki/renewal.js';
import { closeToExpiry, renewalDue } from '../../pki/renewal-timing.js';
import type { DeviceFeature, HelloCert, V2ControlKey } from '../protocol-v2.js';
import type { DownlinkPort } from '../session-extension.js';
import { TokenBucket } from '../token-bucket.js';
import type { V2ControlHandler, V2Participant, V2Peer } from '../v2-session.js';
import type { RenewalConfig } from './renewal-config.js';

/** `retryAfterMs` of `unavailable` when the hub could not write its records (disk, lock): a minute. */
export const RENEWAL_RETRY_AFTER_FAILURE_MS = 60_000;

/** What the participant works with. */
export interface RenewalParticipantOptions {
  readonly config: RenewalConfig;
  /** Null: renewal refused on this hub, with `refusal` as the reason logged. */
  readonly ledger: RenewalLedger | null;
  readonly refusal?: string;
  /**
   * Cluster mode: a device's pending certificate may have been issued by
   * another hub, so every handshake is offered to the ledger's commit (which
   * answers null at once for a serial it knows is not pending).
   */
  readonly commitAnyHandshake?: boolean;
  /** Device id → serial of its pending certificate, from the inventory at start. */
  readonly pending?: ReadonlyMap<string, string>;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  /** ms clock of the hub-wide rate. @defaultValue performance.now */
  readonly now?: () => number;
}

/** What one connection did. */
interface Connection {
  readonly peer: V2Peer;
  requests: number;
}

/** The certificate's validity in ms since epoch. */
export function validityMs(cert: X509Certificate): { notBefore: number; notAfter: number } {
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
}

/** Renewal on the hub's protocol 2 sessions. */
export class RenewalParticipant implements V2Participant {
  readonly handlers: ReadonlyMap<V2ControlKey, V2ControlHandler>;
  readonly #options: RenewalParticipantOptions;
  readonly #connections = new WeakMap<DownlinkPort, Connection>();
  /** Device id → serial of its pending certificate. */
  readonly #pending: Map<string, string>;
  readonly #bucket: TokenBucket;
  readonly #requests: Counter;
  readonly #commits: Counter;
  readonly #pendingRevoked: Counter;

  constructor(options: RenewalParticipantOptions) {
    this.#options = options;
    this.#pending = new Map(options.pending ?? []);
    const perMinute = options.config.perMinute;
    this.#bucket = new TokenBucket({ ratePerSec: perMinute / 60, burst: perMinute, ...(options.now === undefined ? {} : { now: options.now }) });
    this.#requests = options.metrics.counter('fleethub_cert_renewals_total', 'Renewal requests (csr, renew) by outcome: issued, repeat, csr_invalid, not_due, rate_limited, unavailable');
    this.#commits = options.metrics.counter('fleethub_cert_renewals_committed_total', 'Renewed certificates made current by the device\'s first handshake with them (the previous one revoked)');
    this.#pendingRevoked = options.metrics.counter('fleethub_cert_pending_revoked_total', 'Renewed certificates revoked because the device never used them');
    this.handlers = new Map<V2ControlKey, V2ControlHandler>([
      ['csr', (port, body) => this.#onCsr(port, body)],
      ['renew', (port, body) => this.#onRenew(port, body)],
    ]);
  }

  feature(): DeviceFeature | null {
    return this.#options.ledger === null ? null : 'renew';
  }

  helloCert(port: DownlinkPort, peer: V2Peer): HelloCert | undefined {
    if (this.#options.ledger === null || peer.certificate === undefined) return undefined;
    const { notBefore, notAfter } = validityMs(peer.certificate);
    // The pending certificate itself is committed at this handshake: it is not due.
    const renew = this.#pending.get(port.device) !== port.serial && renewalDue(port.device, notBefore, notAfter, Date.now());
    return { serial: port.serial, notAfter, renew };
  }

  opened(port: DownlinkPort, peer: V2Peer): void {
    this.#connections.set(port, { peer, requests: 0 });
    if (this.#options.ledger === null) return;
    const pending = this.#pending.get(port.device) === port.serial;
    if (pending || this.#options.commitAnyHandshake === true) this.#commit(this.#options.ledger, port.device, port.serial);
    if (!pending && peer.certificate !== undefined) {
      const { notBefore, notAfter } = validityMs(peer.certificate);
      if (closeToExpiry(notBefore, notAfter, Date.now())) {
        this.#options.log.log('warn', 'device.cert_expiring', { id: port.device, serial: port.serial, notAfter: new Date(notAfter).toISOString() });
      }
    }
  }

  closed(port: DownlinkPort): void {
    this.#connections.delete(port);
  }

  /** Pending certificates the sweep revoked (unused too long): forgotten here. */
  pendingRevoked(devices: readonly string[]): void {
    for (const id of devices) this.#pending.delete(id);
    if (devices.length > 0) this.#pendingRevoked.inc({}, devices.length);
  }

  /** The inventory's pending certificates now (a CLI revoke or add may have retired some). */
  setPending(pending: ReadonlyMap<string, string>): void {
    this.#pending.clear();
    for (const [id, serial] of pending) this.#pending.set(id, serial);
  }

  #commit(ledger: RenewalLedger, device: string, serial: string): void {
    ledger.commit(device, serial).then(
      (done) => {
        if (this.#pending.get(device) === serial) this.#pending.delete(device);
        if (done === null) return;
        this.#commits.inc();
        this.#options.log.log('info', 'renewal.committed', { id: device, serial, previous: done.previousSerial });
        if (done.crlNotWritten !== null) {
          this.#options.log.log('warn', 'renewal.crl_not_written', { id: device, previous: done.previousSerial, ca: done.crlNotWritten, fix: 'run "fleethub ca crl" where that CA\'s key is' });
        }
      },
      // The new certificate keeps working (it is on no CRL); the commit is tried again at its next handshake.
      (err: unknown) => this.#options.log.log('error', 'renewal.commit_failed', { id: device, serial, error: err instanceof Error ? err.message : String(err) }),
    );
  }

  /** Counts a request on its connection; a reason when it is one too many (nacked `invalid_message`). */
  #count(port: DownlinkPort): Connection | string {
    const conn = this.#connections.get(port);
    if (conn === undefined) return 'renewal before hello';
    conn.requests += 1;
    const max = this.#options.config.maxRequestsPerConnection;
    if (conn.requests > max) return `more than ${max} renewal requests on one connection`;
    return conn;
  }

  #onCsr(port: DownlinkPort, body: unknown): string | null {
    if (typeof body !== 'string') return 'csr must be a PEM string';
    const conn = this.#count(port);
    if (typeof conn === 'string') return conn;
    const ledger = this.#ledgerOrRefuse(port);
    if (ledger === null) return null;
    if (Buffer.byteLength(body, 'utf8') > this.#options.config.maxCsrBytes) {
      this.#refuse(port, 'csr_invalid', `CSR over ${this.#options.config.maxCsrBytes} bytes`);
      return null;
    }
    let publicKey;
    try {
      const csr = verifyCsr(body);
      if (csr.commonName !== port.device) throw new FleethubError('FH_ERR_CSR_INVALID', `the CSR's CN ${JSON.stringify(csr.commonName)} is not the device id`);
      publicKey = csr.publicKey;
    } catch (err) {
      if (!(err instanceof FleethubError)) throw err;
      this.#refuse(port, 'csr_invalid', err.message);
      return null;
    }
    this.#renew(ledger, port, { device: port.device, serial: port.serial, publicKey }, 'csr');
    return null;
  }

  #onRenew(port: DownlinkPort, body: unknown): string | null {
    if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).length > 0) return 'renew must be {}';
    const conn = this.#count(port);
    if (typeof conn === 'string') return conn;
    const ledger = this.#ledgerOrRefuse(port);
    if (ledger === null) return null;
    const certificate = conn.peer.certificate;
    if (certificate === undefined) {
      this.#refuse(port, 'unavailable', 'no certificate on this connection');
      return null;
    }
    this.#renew(ledger, port, { device: port.device, serial: port.serial, publicKey: certificate.publicKey }, 'renew');
    return null;
  }

  #ledgerOrRefuse(port: DownlinkPort): RenewalLedger | null {
    const ledger = this.#options.ledger;
    if (ledger === null) this.#refuse(port, 'unavailable', this.#options.refusal ?? 'renewal is off on this hub', this.#options.config.minIntervalMs);
    return ledger;
  }

  #renew(ledger: RenewalLedger, port: DownlinkPort, request: RenewalRequest, kind: 'csr' | 'renew'): void {
    ledger.renew(request, () => this.#bucket.take()).then(
      (outcome) => this.#answer(port, outcome, kind),
      (err: unknown) => {
        // The PKI folder could not be written (disk, lock held too long): nothing was issued.
        this.#options.log.log('error', 'renewal.failed', { id: port.device, error: err instanceof Error ? err.message : String(err) });
        this.#refuse(port, 'unavailable', 'the hub cannot issue now', RENEWAL_RETRY_AFTER_FAILURE_MS);
      },
    );
  }

  #answer(port: DownlinkPort, outcome: RenewalOutcome, kind: 'csr' | 'renew'): void {
    if (!outcome.ok) return this.#refuse(port, outcome.error, outcome.detail, outcome.retryAfterMs);
    this.#pending.set(port.device, outcome.serial);
    this.#requests.inc({ outcome: outcome.repeat ? 'repeat' : 'issued' });
    // The audit line: which device got which certificate, on which connection's certificate.
    this.#options.log.log('info', 'renewal.issued', {
      id: port.device, serial: outcome.serial, previous: port.serial, notAfter: outcome.notAfter.toISOString(), rekey: kind === 'csr', repeat: outcome.repeat || undefined,
    });
    const sent = port.sendDownlink(JSON.stringify({ cert: { pem: outcome.certPem, serial: outcome.serial, notAfter: outcome.notAfter.getTime() } }));
    // Kept pending either way: the device asks again (a repeat) and gets the same certificate.
    if (!sent && port.open) this.#options.log.log('warn', 'renewal.reply_too_large', { id: port.device, maxDownlinkBytes: port.limits.maxDownlinkBytes });
  }

  #refuse(port: DownlinkPort, error: RenewalRefusal, detail: string, retryAfterMs?: number): void {
    this.#requests.inc({ outcome: error });
    this.#options.log.log(error === 'unavailable' ? 'warn' : 'info', 'renewal.refused', { id: port.device, serial: port.serial, error, detail });
    const body = retryAfterMs === undefined ? { error } : { error, retryAfterMs: Math.ceil(retryAfterMs) };
    port.sendDownlink(JSON.stringify({ certError: body }));
  }
}
