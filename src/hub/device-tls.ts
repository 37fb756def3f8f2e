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

/** The PEM files the device listener serves with. */
export interface DeviceTlsMaterial {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
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

/**
 * The TLS session-id context (at most 32 characters): the same for every hub
 * serving devices of this CA, different for another CA's.
 */
export function sessionIdContextOf(caPem: string): string {
  return createHash('sha256').update(caPem).digest('hex').slice(0, 32);
}

/** The secure-context options: the CRL goes in only while it is current (see the expired-CRL policy in crl-watcher.ts). */
export function deviceSecureContextOptions(material: DeviceTlsMaterial, crl: CrlState, now: number): SecureContextOptions {
  const options: SecureContextOptions = {
    ca: material.ca,
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
  if (crl.pem !== null && !crlExpired(crl, now)) options.crl = crl.pem;
  return options;
}
