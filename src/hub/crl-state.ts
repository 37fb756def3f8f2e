/**
 * The CRL as the hub enforces it (pure): what a CRL's text yields, whether a
 * new one may replace the loaded one, and when it expires. The watcher
 * (crl-watcher.ts) does the I/O and the timing around these.
 */
import { FleethubError } from '../errors.js';
import { crlSignedBy, parseCrl } from '../pki/index.js';

/**
 * Days before a CRL's nextUpdate from which the hub logs `crl.expiring`: a
 * month leaves time to notice the warning and run `fleethub ca crl` (the
 * default CRL lifetime is 365 days, so a CRL re-signed by any revoke or by a
 * monthly cron job never gets here). @defaultValue 30
 */
export const CRL_EXPIRY_WARNING_DAYS = 30;

const DAY_MS = 86_400_000;

/** The loaded CRL as the hub enforces it. */
export interface CrlState {
  readonly pem: string | null;
  /** cRLNumber (RFC 5280 §5.2.3), or null when the CRL has none (or there is no CRL). */
  readonly number: number | null;
  /** Revoked serials, uppercase hex (Node's `X509Certificate.serialNumber` form). */
  readonly serials: ReadonlySet<string>;
  readonly nextUpdate: Date | null;
}

/** No CRL at all: nothing revoked. */
export const NO_CRL: CrlState = Object.freeze({ pem: null, number: null, serials: new Set<string>(), nextUpdate: null });

/**
 * Parses a CRL's PEM (null: no CRL). Throws FH_ERR_INVALID_ARGUMENT when
 * malformed or, given the CA, not signed by it: a CRL of another CA (a
 * `ca init --force` while the hub runs) would make OpenSSL refuse every
 * device and drop the loaded CA's revocations, so it is refused like a
 * corrupt one and the last good list stays until a restart loads the new PKI.
 */
export function crlStateOf(pem: string | null, caPem?: string): CrlState {
  if (pem === null) return NO_CRL;
  const info = parseCrl(pem);
  if (caPem !== undefined && !crlSignedBy(pem, caPem)) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', 'crl: not signed by the CA the hub loaded at start (ca.crt replaced? restart the hub)');
  }
  return { pem, number: info.number, serials: info.serials, nextUpdate: info.nextUpdate };
}

/**
 * Why a valid CRL may not replace the loaded one, or null when it may.
 * RFC 5280 §5.2.3: the CRL number increases with every CRL the CA issues, so
 * a lower number is an older CRL (a backup or a copy put back), which could
 * drop later revocations: `older`. The same number with other content
 * (the content differs, or there would be no reload) is not a CRL this CA
 * issues (`fleethub ca crl` never reissues a number), so it is refused too:
 * `same_number`. A CRL without a number cannot be ordered and may replace
 * only a CRL without one (or none): `unnumbered`.
 */
export function crlReplacementRefusal(loaded: CrlState, next: CrlState): 'older' | 'same_number' | 'unnumbered' | null {
  if (loaded.pem === null || loaded.number === null) return null;
  if (next.number === null) return 'unnumbered';
  if (next.number < loaded.number) return 'older';
  if (next.number === loaded.number) return 'same_number';
  return null;
}

/** True when the CRL is past its nextUpdate at `now` (RFC 5280 §5.1.2.5). */
export function crlExpired(crl: CrlState, now: number): boolean {
  return crl.nextUpdate !== null && crl.nextUpdate.getTime() < now;
}

/**
 * Whole days left until the CRL's nextUpdate when that is less than
 * {@link CRL_EXPIRY_WARNING_DAYS} away and not yet past; null otherwise
 * (no CRL, no nextUpdate, plenty of time, or already expired).
 */
export function crlDaysLeftIfExpiring(crl: CrlState, now: number): number | null {
  if (crl.nextUpdate === null || crlExpired(crl, now)) return null;
  const left = crl.nextUpdate.getTime() - now;
  return left < CRL_EXPIRY_WARNING_DAYS * DAY_MS ? Math.floor(left / DAY_MS) : null;
}
