/**
 * The device listener's TLS settings (SPEC: Two listeners): the CA, the CRL,
 * the server certificate, TLS 1.2 minimum and cipher suites ESP32's mbedTLS
 * offers, plus the policy for a CRL past its nextUpdate.
 *
 * Expired-CRL policy: OpenSSL refuses every client certificate with
 * "CRL has expired" (X509_V_ERR_CRL_HAS_EXPIRED) once the CRL given to Node's
 * `crl` option is past nextUpdate, and Node offers no flag to relax only
 * that check. A forgotten `fleethub ca crl` would so lock the whole fleet
 * out. The hub therefore leaves an expired CRL out of the TLS context, keeps
 * enforcing its serials itself right after the handshake (before any HTTP)
 * and at the upgrade, logs a warning on every reload and sets the
 * `fleethub_crl_expired` gauge until a fresh CRL is written.
 *
 * So that it rarely comes to that, the hub warns ahead of time: a loaded CRL
 * whose nextUpdate is less than {@link CRL_EXPIRY_WARNING_DAYS} away is
 * logged once per load (`crl.expiring`), and the gauge
 * `fleethub_crl_next_update_timestamp_seconds` always shows its nextUpdate.
 */
import { readFile } from 'node:fs/promises';
import type { SecureContextOptions } from 'node:tls';
import { FleethubError } from '../errors.js';
import { crlSignedBy, parseCrl, pkiPaths } from '../pki/index.js';

/**
 * TLS 1.3 suites, then the TLS 1.2 AEAD suites an ESP32 offers (mbedTLS:
 * ECDHE-ECDSA with a P-256 server key, ECDHE-RSA with an RSA one, AES-GCM),
 * and ChaCha20 for clients without AES hardware. No CBC, no static RSA.
 */
export const DEVICE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * Days before a CRL's nextUpdate from which the hub logs `crl.expiring`: a
 * month leaves time to notice the warning and run `fleethub ca crl` (the
 * default CRL lifetime is 365 days, so a CRL re-signed by any revoke or by a
 * monthly cron job never gets here). @defaultValue 30
 */
export const CRL_EXPIRY_WARNING_DAYS = 30;

const DAY_MS = 86_400_000;

/** The PEM files the device listener serves with. */
export interface DeviceTlsMaterial {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** The loaded CRL as the hub enforces it. */
export interface CrlState {
  readonly pem: string | null;
  /** Revoked serials, uppercase hex (Node's `peerCertificate.serialNumber` form). */
  readonly serials: ReadonlySet<string>;
  readonly nextUpdate: Date | null;
}

/** No CRL at all: nothing revoked. */
export const NO_CRL: CrlState = Object.freeze({ pem: null, serials: new Set<string>(), nextUpdate: null });

/**
 * Parses `crl.pem` content (null: no file). Throws FH_ERR_INVALID_ARGUMENT
 * when malformed or, given the CA, not signed by it: a CRL of another CA
 * (a `ca init --force` while the hub runs) would make OpenSSL refuse every
 * device and drop the loaded CA's revocations, so it is refused like a
 * corrupt one and the last good list stays until a restart loads the new PKI.
 */
export function crlStateOf(pem: string | null, caPem?: string): CrlState {
  if (pem === null) return NO_CRL;
  const info = parseCrl(pem);
  if (caPem !== undefined && !crlSignedBy(pem, caPem)) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', 'crl: not signed by the CA the hub loaded at start (ca.crt replaced? restart the hub)');
  }
  return { pem, serials: info.serials, nextUpdate: info.nextUpdate };
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

/** Reads the CA, server certificate and key from the PKI folder. */
export async function loadDeviceTlsMaterial(pkiDir: string): Promise<DeviceTlsMaterial> {
  const paths = pkiPaths(pkiDir);
  try {
    const [ca, cert, key] = await Promise.all([readFile(paths.caCert, 'utf8'), readFile(paths.serverCert, 'utf8'), readFile(paths.serverKey, 'utf8')]);
    return { ca, cert, key };
  } catch (err) {
    throw new FleethubError('FH_ERR_CA_MISSING', `cannot read the CA and server certificate in ${paths.dir}: run \`fleethub ca init\` and \`fleethub ca server-cert\``, { cause: err });
  }
}

/** Reads `crl.pem` (null when there is none). */
export async function readCrlFile(pkiDir: string): Promise<string | null> {
  return readFile(pkiPaths(pkiDir).crl, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
}

/** The secure-context options: the CRL goes in only while it is current (see the policy above). */
export function deviceSecureContextOptions(material: DeviceTlsMaterial, crl: CrlState, now: number): SecureContextOptions {
  const options: SecureContextOptions = {
    ca: material.ca,
    cert: material.cert,
    key: material.key,
    minVersion: 'TLSv1.2',
    ciphers: DEVICE_CIPHERS,
    // Key-exchange groups: OpenSSL's default list (X25519, P-256, P-384 ...),
    // which covers what ESP32's mbedTLS offers (P-256, Curve25519).
  };
  if (crl.pem !== null && !crlExpired(crl, now)) options.crl = crl.pem;
  return options;
}
