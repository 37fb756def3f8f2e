/**
 * The device listener's TLS settings (SPEC: Two listeners): the CA, the CRL,
 * the server certificate, TLS 1.2 minimum and cipher suites ESP32's mbedTLS
 * offers. Which CRL goes in, and when, is the CRL watcher's (crl-watcher.ts,
 * with the expired-CRL policy).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SecureContextOptions } from 'node:tls';
import { FleethubError } from '../errors.js';
import { pkiPaths } from '../pki/index.js';
import { crlExpired, type CrlState } from './crl-state.js';

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

/** A CA the hub trusts for client certificates besides the root, each with its own CRL. */
export interface ExtraCa {
  /** `issuing`: signs device certificates (online signing); `claim`: signs provisioning batches' claim certificates. */
  readonly role: 'issuing' | 'claim';
  readonly cert: string;
}

/** The PEM files the device listener serves with. */
export interface DeviceTlsMaterial {
  /** The root (`ca.crt`). */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** The issuing and claim CAs found in the PKI folder at start. @defaultValue [] */
  readonly extraCas?: readonly ExtraCa[];
}

async function readIfThere(path: string): Promise<string | null> {
  return readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
}

/** Reads the CA, server certificate and key from the PKI folder, and the issuing and claim CAs when there are. */
export async function loadDeviceTlsMaterial(pkiDir: string): Promise<DeviceTlsMaterial> {
  const paths = pkiPaths(pkiDir);
  try {
    const [ca, cert, key, issuing, claim] = await Promise.all([
      readFile(paths.caCert, 'utf8'), readFile(paths.serverCert, 'utf8'), readFile(paths.serverKey, 'utf8'),
      readIfThere(paths.issuingCert), readIfThere(paths.claimCaCert),
    ]);
    const extraCas: ExtraCa[] = [];
    if (issuing !== null) extraCas.push({ role: 'issuing', cert: issuing });
    if (claim !== null) extraCas.push({ role: 'claim', cert: claim });
    return { ca, cert, key, extraCas };
  } catch (err) {
    throw new FleethubError('FH_ERR_CA_MISSING', `cannot read the CA and server certificate in ${paths.dir}: run \`fleethub ca init\` and \`fleethub ca server-cert\``, { cause: err });
  }
}

/**
 * The TLS session-id context (at most 32 characters): the same for every hub
 * serving devices of this CA, different for another CA's.
 */
export function sessionIdContextOf(caPem: string): string {
  return createHash('sha256').update(caPem).digest('hex').slice(0, 32);
}

/**
 * The secure-context options: every CA the hub trusts, and their CRLs only
 * while every one of them is there and current (see the expired-CRL policy
 * in crl-watcher.ts). Node turns on OpenSSL's CRL check for every CA of a
 * chain (X509_V_FLAG_CRL_CHECK_ALL) once any CRL is given, so a missing or
 * expired CRL of one CA would refuse every certificate that CA vouches for.
 */
export function deviceSecureContextOptions(material: DeviceTlsMaterial, crls: CrlState | readonly CrlState[], now: number): SecureContextOptions {
  const list: readonly CrlState[] = Array.isArray(crls) ? crls : [crls as CrlState];
  const extra = material.extraCas ?? [];
  const options: SecureContextOptions = {
    ca: extra.length === 0 ? material.ca : [material.ca, ...extra.map((e) => e.cert)],
    cert: material.cert,
    key: material.key,
    minVersion: 'TLSv1.2',
    ciphers: DEVICE_CIPHERS,
    // Node's default is a hash of this process's command line, also on every setSecureContext (a CRL reload):
    // a session would then resume on no other hub, nor after a restart with other arguments.
    sessionIdContext: sessionIdContextOf(material.ca),
    // Key-exchange groups: OpenSSL's default list (X25519, P-256, P-384 ...),
    // which covers what ESP32's mbedTLS offers (P-256, Curve25519).
  };
  if (list.length > 0 && list.every((crl) => crl.pem !== null && !crlExpired(crl, now))) {
    options.crl = list.length === 1 ? (list[0]?.pem as string) : list.map((crl) => crl.pem as string);
  }
  return options;
}
