/**
 * Fast DER encodings of P-256 keys. OpenSSL 3's generic encoders (behind
 * `KeyObject.export({ type: 'spki' | 'pkcs8' })`) cost ~0.2-0.8 ms per call,
 * more than signing a certificate; the JWK export is ~0.02 ms. A P-256 SPKI
 * and PKCS#8 are fixed templates around the point and the scalar, so they
 * are assembled here, byte-identical to OpenSSL's output (a test checks).
 * RSA keys use the export: their cost hides behind RSA key generation.
 */
import type { KeyObject } from 'node:crypto';
import { derToPem } from './der-reader.js';

// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused) ... } (RFC 5480 §2)
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
// PrivateKeyInfo v0 { ecPublicKey/prime256v1, OCTET STRING { ECPrivateKey v1, d (32) ... } } (RFC 5208, RFC 5915)
const P256_PKCS8_PREFIX = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
// ... [1] { BIT STRING (0 unused) 04 || x || y }
const P256_PKCS8_PUBLIC = Buffer.from('a144034200', 'hex');

const spkiCache = new WeakMap<KeyObject, Buffer>();

const p256Cache = new WeakMap<KeyObject, boolean>();

/** True for a P-256 key. Cached: `asymmetricKeyDetails` asks OpenSSL on every read. */
export function isP256(key: KeyObject): boolean {
  let yes = p256Cache.get(key);
  if (yes === undefined) {
    yes = key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    p256Cache.set(key, yes);
  }
  return yes;
}

function coordinate(b64url: string | undefined): Buffer {
  const bytes = Buffer.from(b64url ?? '', 'base64url');
  if (bytes.length > 32) throw new Error('P-256 coordinate longer than 32 bytes');
  return Buffer.concat([Buffer.alloc(32 - bytes.length), bytes]);
}

/** The uncompressed point 04 || x || y of a P-256 key (public or private). */
function p256Point(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.concat([Buffer.from([4]), coordinate(jwk.x), coordinate(jwk.y)]);
}

/** SubjectPublicKeyInfo DER of a public key (cached per KeyObject). */
export function spkiDer(publicKey: KeyObject): Buffer {
  let der = spkiCache.get(publicKey);
  if (!der) {
    der = isP256(publicKey)
      ? Buffer.concat([P256_SPKI_PREFIX, p256Point(publicKey)])
      : publicKey.export({ type: 'spki', format: 'der' });
    spkiCache.set(publicKey, der);
  }
  return der;
}

/** PKCS#8 PEM ("PRIVATE KEY") of a private key, as OpenSSL writes it. */
export function pkcs8Pem(privateKey: KeyObject): string {
  if (!isP256(privateKey)) return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const jwk = privateKey.export({ format: 'jwk' });
  const der = Buffer.concat([
    P256_PKCS8_PREFIX, coordinate(jwk.d), P256_PKCS8_PUBLIC,
    Buffer.from([4]), coordinate(jwk.x), coordinate(jwk.y),
  ]);
  return derToPem(der, 'PRIVATE KEY');
}
