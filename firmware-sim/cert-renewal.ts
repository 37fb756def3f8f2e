/**
 * A simulated device's certificate renewal (SPEC: Simulator, Device protocol
 * version 2), as firmware does it: when `hello.cert.renew` says so (or once
 * per run with `--renew`), a new P-256 key made with Node's crypto and a CSR
 * for it (`{"csr"}`); on `{"cert"}` the device keeps the new pair as a
 * candidate and reconnects with it; the first hello on it makes it current.
 * If the new certificate fails in the TLS handshake, the device falls back
 * to the old pair (still valid until the hub saw the new one). A
 * `rate_limited` refusal is asked again after its `retryAfterMs` (with
 * jitter) on the same connection; any other refusal ends renewal for the run.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Logger } from '../src/log.js';
import { createCsr } from '../src/pki/csr-builder.js';
import { privateKeyPem } from '../src/pki/keys.js';
import type { FleetStats } from './fleet-stats.js';
import type { HubMessage } from './hub-messages.js';

/** A key and certificate pair, PEM. */
export interface KeyPair {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/** Longest wait before asking again after `rate_limited`, whatever `retryAfterMs` says. */
export const RENEW_MAX_RETRY_MS = 60_000;

/** What {@link CertRenewal} works with. */
export interface CertRenewalOptions {
  readonly id: string;
  readonly initial: KeyPair;
  /** Renew once in the run even when the hub does not ask (`--renew`). */
  readonly force: boolean;
  readonly stats: FleetStats;
  readonly logger: Logger;
  /** The device is on its new certificate (the first hello with it). */
  readonly onRenewed?: (id: string, pair: KeyPair) => void;
}

/** One device's renewal state. */
export class CertRenewal {
  readonly #o: CertRenewalOptions;
  #current: KeyPair;
  /** A new pair received and not yet used in a hello. */
  #candidate: KeyPair | null = null;
  /** The key of the CSR awaiting its answer. */
  #key: KeyObject | null = null;
  #renewed = false;
  #gaveUp = false;
  #retryTimer: NodeJS.Timeout | null = null;

  constructor(options: CertRenewalOptions) {
    this.#o = options;
    this.#current = options.initial;
  }

  /** The pair the next connection uses: the candidate while there is one. */
  get credentials(): KeyPair {
    return this.#candidate ?? this.#current;
  }

  /** A renewal is under way: a CSR awaiting its answer (or its retry), or a new pair not used yet. */
  get inProgress(): boolean {
    return this.#key !== null || this.#candidate !== null || this.#retryTimer !== null;
  }

  /** A hello arrived on a connection made with {@link credentials}; `send` sends on that connection. */
  onHello(hello: Extract<HubMessage, { type: 'hello' }>, send: (text: string) => void): void {
    if (this.#candidate !== null) {
      this.#current = this.#candidate;
      this.#candidate = null;
      this.#renewed = true;
      this.#o.stats.renewals.renewed += 1;
      this.#o.logger.log('debug', 'sim.device.renewed', { device: this.#o.id, serial: hello.cert?.serial });
      this.#o.onRenewed?.(this.#o.id, this.#current);
    }
    if (!hello.features.includes('renew') || this.#gaveUp) return;
    if (hello.cert?.renew === true || (this.#o.force && !this.#renewed)) this.#ask(send);
  }

  /** `{"cert"}`: true when the device should reconnect with the new pair now. */
  onCert(message: Extract<HubMessage, { type: 'cert' }>): boolean {
    const key = this.#key;
    if (key === null) return false;
    this.#key = null;
    // Like firmware writing key, then certificate, then the state byte: the pair is kept before the reconnect.
    this.#candidate = { cert: message.pem, key: privateKeyPem(key) };
    this.#o.stats.renewals.received += 1;
    return true;
  }

  /** `{"certError"}`: asked again after `retryAfterMs` when rate-limited, else no more renewal in this run. */
  onCertError(message: Extract<HubMessage, { type: 'certError' }>, send: (text: string) => void): void {
    const refused = this.#o.stats.renewals.refused;
    refused.set(message.error, (refused.get(message.error) ?? 0) + 1);
    this.#o.logger.log('debug', 'sim.device.renew_refused', { device: this.#o.id, error: message.error });
    if (message.error !== 'rate_limited') {
      this.#key = null;
      this.#gaveUp = true;
      return;
    }
    const base = Math.min(RENEW_MAX_RETRY_MS, message.retryAfterMs ?? 1000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#send(send);
    }, base + Math.random() * base);
  }

  /**
   * A connection ended. One made with the candidate that failed in the TLS
   * handshake falls back to the old pair (true: the device switches back).
   */
  connectionEnded(opened: boolean, tlsFailure: boolean): boolean {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#key = null;
    if (this.#candidate === null || opened || !tlsFailure) return false;
    this.#candidate = null;
    this.#gaveUp = true;
    this.#o.stats.renewals.fellBack += 1;
    this.#o.logger.log('warn', 'sim.device.renew_fell_back', { device: this.#o.id });
    return true;
  }

  /** Clears the retry timer. */
  stop(): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  #ask(send: (text: string) => void): void {
    // SPEC: the hub never makes a device's private key: a new one, here.
    this.#key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    this.#o.stats.renewals.requested += 1;
    this.#send(send);
  }

  /** Sends the CSR of the key awaiting its certificate (the same key again after `rate_limited`: a repeat is idempotent). */
  #send(send: (text: string) => void): void {
    const key = this.#key;
    if (key === null) return;
    send(JSON.stringify({ csr: createCsr(this.#o.id, createPublicKey(key), key) }));
  }
}
