/**
 * Certificate lifetimes. Each default is justified in docs/ca.md.
 */
import { FleethubError } from '../errors.js';

const DAY_MS = 86_400_000;

/** CA lifetime: ~10 years, the service life of a deployed sensor fleet. @defaultValue 3650 */
export const DEFAULT_CA_DAYS = 3650;

/**
 * Server certificate lifetime: 397 days, the CA/Browser Forum maximum, so the
 * same certificate also works for browsers opening the console. @defaultValue 397
 */
export const DEFAULT_SERVER_DAYS = 397;

/**
 * Device certificate lifetime without renewal: 10 years. A device that
 * cannot renew in the field keeps its certificate as long as the hardware
 * lives; it is revoked (CRL), not left to expire, when a device is lost. It
 * is never allowed to outlive the CA that signs it (clamped to the CA's
 * notAfter).
 * @defaultValue 3650
 */
export const DEFAULT_DEVICE_DAYS = 3650;

/**
 * Device certificate lifetime with renewal on (the hub's default
 * `renewal.deviceDays`): one year, so a lost device's certificate ends
 * within a year, and renewal needs no hand.
 * @defaultValue 365
 */
export const DEFAULT_RENEWED_DEVICE_DAYS = 365;

/** Whether the hub renews the certificates its issuing CA signs, and their lifetime when it does. */
export interface DeviceRenewalPolicy {
  /** False when the hub does not renew: `renewal.enabled` false, or a cluster hub (renewal is not available there). */
  readonly renews: boolean;
  /** `renewal.deviceDays`. */
  readonly deviceDays: number;
}

/** A hub on its defaults: renewal on, certificates for {@link DEFAULT_RENEWED_DEVICE_DAYS}. */
export const DEFAULT_RENEWAL_POLICY: DeviceRenewalPolicy = Object.freeze({ renews: true, deviceDays: DEFAULT_RENEWED_DEVICE_DAYS });

/**
 * The default lifetime of a device certificate (SPEC: with renewal on, a
 * year; without it, ten years). Renewal is on for a certificate the issuing
 * CA signs when the hub renews (`policy`); one the root signs is never
 * renewed by the hub.
 */
export function defaultDeviceDays(signer: 'root' | 'issuing', policy: DeviceRenewalPolicy = DEFAULT_RENEWAL_POLICY): number {
  return signer === 'issuing' && policy.renews ? policy.deviceDays : DEFAULT_DEVICE_DAYS;
}

/**
 * CRL lifetime (nextUpdate − thisUpdate). The hub loads `crl.pem` into its TLS
 * context, and OpenSSL refuses every client once the CRL's nextUpdate has
 * passed, so this is long; every revoke and `ca crl` re-signs it.
 * @defaultValue 365
 */
export const DEFAULT_CRL_DAYS = 365;

/** notBefore is set this far back so devices and hubs with slightly wrong clocks accept a new certificate. */
export const BACKDATE_MS = 60 * 60 * 1000;

/** Largest `--days` accepted (~100 years): anything larger is a typo. */
export const MAX_DAYS = 36_500;

/** Validates `--days`: a whole number from 1 to {@link MAX_DAYS}. */
export function resolveDays(days: number | undefined, fallback: number, key = '--days'): number {
  if (days === undefined) return fallback;
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `${key} must be a whole number from 1 to ${MAX_DAYS}, got ${days}`);
  }
  return days;
}

/** A certificate's validity window. */
export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** [now − backdate, now + days], with notAfter clamped to `limit` (the issuer's notAfter). */
export function validityFor(days: number, now: Date, limit?: Date): Validity {
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  let notAfter = new Date(now.getTime() + days * DAY_MS);
  if (limit && notAfter > limit) notAfter = limit;
  return { notBefore, notAfter };
}
