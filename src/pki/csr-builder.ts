/**
 * Making a PKCS #10 CSR (RFC 2986) with Node's crypto, as a device does
 * (mbedtls_x509write_csr on an ESP32): subject CN = the device id, the
 * device's public key, no attributes, signed with its private key. The
 * simulator uses it to provision and renew; the private key never leaves
 * the caller.
 */
import type { KeyObject } from 'node:crypto';
import { context, name, raw, seq, smallInt } from './asn1.js';
import { signStructure } from './certificate.js';
import { derToPem } from './der-reader.js';
import { spkiDer } from './key-encoding.js';

/** A PEM CSR for `commonName` and the key pair (ECDSA P-256 or RSA, signed with SHA-256). */
export function createCsr(commonName: string, publicKey: KeyObject, privateKey: KeyObject): string {
  const info = seq([
    smallInt(0), // version v1 (RFC 2986 §4.1)
    name(commonName),
    raw(spkiDer(publicKey)),
    context(0, []), // attributes: none (the CA decides the extensions)
  ]);
  return derToPem(signStructure(info, privateKey), 'CERTIFICATE REQUEST');
}
