/**
 * The `renewal` section of the hub's config (SPEC: Device protocol version
 * 2, renewal over the device's own connection): the limits of `{"csr"}` and
 * `{"renew"}`, the lifetime of renewed certificates, and how long a pending
 * one waits for its first use. Renewal is on when the PKI folder has an
 * issuing CA (online signing) and `enabled` is not false; the passphrase of
 * an encrypted `issuing.key` comes from the `provisioning` section's
 * `issuingPassphraseFile` / `issuingPassphraseEnv`.
 *
 * ```json
 * { "renewal": { "perMinute": 600, "minInterval": "24h", "deviceDays": 365 } }
 * ```
 */
import type { ConfigReader } from '../../config/config-reader.js';
import { DEFAULT_RENEWED_DEVICE_DAYS, MAX_DAYS, type DeviceRenewalPolicy } from '../../pki/validity.js';

/** The resolved `renewal` section. */
export interface RenewalConfig {
  /** False turns renewal off even with an issuing CA. */
  readonly enabled: boolean;
  /** Lifetime of renewed certificates, in days. */
  readonly deviceDays: number;
  /**
   * Certificates issued by renewal per minute, hub-wide (a fleet renewing at
   * once is spread out); in cluster mode also for the whole cluster together
   * (a window of a minute counted in the cluster, cluster-rate.ts).
   */
  readonly perMinute: number;
  /** Shortest time between two renewals of one device, ms (a device looping on renewal signs once a day). */
  readonly minIntervalMs: number;
  /** `csr`/`renew` messages on one connection before each further one is `invalid_message` (and counts towards 1008). */
  readonly maxRequestsPerConnection: number;
  /** Largest `csr` string, in bytes. */
  readonly maxCsrBytes: number;
  /** A pending certificate unused this long is revoked, ms. */
  readonly pendingTtlMs: number;
  /** How often pending certificates and certificates close to expiry are checked, ms. */
  readonly checkIntervalMs: number;
  /** Accept a renewal before `hello.cert.renew` says it is due (rotating every certificate at once). */
  readonly allowEarly: boolean;
}

/** One year: with renewal on, a lost device's certificate ends within a year, and renewal needs no hand. */
export const DEFAULT_RENEWAL_DEVICE_DAYS = DEFAULT_RENEWED_DEVICE_DAYS;
/** Ten a second: a thousand devices renewed in under two minutes, the inventory rewritten at a pace any disk takes. */
export const DEFAULT_RENEWALS_PER_MINUTE = 600;
/** One renewal per device per day (SPEC). */
export const DEFAULT_RENEWAL_MIN_INTERVAL_MS = 24 * 3_600_000;
/** A device renews once per connection, twice if its reply was lost: eight is a broken or hostile one. */
export const DEFAULT_RENEWAL_MAX_REQUESTS_PER_CONNECTION = 8;
/** 4 KiB: a CSR with an RSA-3072 key is under 2 KiB of PEM, a P-256 one about 500 bytes. */
export const DEFAULT_RENEWAL_MAX_CSR_BYTES = 4096;
/** Seven days (SPEC): long enough for a device asleep for days, short enough that an unused certificate does not linger. */
export const DEFAULT_RENEWAL_PENDING_TTL_MS = 7 * 86_400_000;
/** Hourly. */
export const DEFAULT_RENEWAL_CHECK_INTERVAL_MS = 3_600_000;

/** Reads `renewal` (absent: every default). */
export function readRenewalSection(r: ConfigReader): RenewalConfig {
  return Object.freeze({
    enabled: r.bool('enabled', true),
    deviceDays: r.int('deviceDays', 1, MAX_DAYS, DEFAULT_RENEWAL_DEVICE_DAYS),
    perMinute: r.int('perMinute', 1, 1_000_000, DEFAULT_RENEWALS_PER_MINUTE),
    minIntervalMs: r.duration('minInterval', 'h', 1000, 365 * 86_400_000, DEFAULT_RENEWAL_MIN_INTERVAL_MS),
    maxRequestsPerConnection: r.int('maxRequestsPerConnection', 1, 1000, DEFAULT_RENEWAL_MAX_REQUESTS_PER_CONNECTION),
    maxCsrBytes: r.int('maxCsrBytes', 512, 64 * 1024, DEFAULT_RENEWAL_MAX_CSR_BYTES),
    pendingTtlMs: r.duration('pendingTtl', 'd', 1000, 365 * 86_400_000, DEFAULT_RENEWAL_PENDING_TTL_MS),
    checkIntervalMs: r.duration('checkInterval', 's', 100, 86_400_000, DEFAULT_RENEWAL_CHECK_INTERVAL_MS),
    allowEarly: r.bool('allowEarly', false),
  });
}

/** Whether a hub with this `renewal` section renews what its issuing CA signs: not when it is off (a cluster hub renews too). */
export function renewalPolicy(renewal: RenewalConfig): DeviceRenewalPolicy {
  return { renews: renewal.enabled, deviceDays: renewal.deviceDays };
}
