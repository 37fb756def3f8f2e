/**
 * Fast DER encodings of P-256 keys. OpenSSL 3's generic encoders (behind
 * `KeyObject.export({ type: 'spki' | 'pkcs8' })`) cost more per call than
 * signing a certificate (figures in docs/benchmarks.md). A P-256 SPKI and PKCS#8 are fixed
 * templates around the point and the scalar, so for keys we generate they
 * are assembled from the coordinates key generation returns, byte-identical
 * to OpenSSL's output (a test checks). Other keys (RSA, keys read from CSRs
 * or files) use the export.
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

/** The coordinates of a P-256 key as key generation returned them (JWK). */
export interface P256Jwk {
  readonly x?: string | undefined;
  readonly y?: string | undefined;
  readonly d?: string | undefined;
}

const pemCache = new WeakMap<KeyObject, string>();

/**
 * Records the encodings of a freshly generated P-256 pair, assembled from
 * the JWK that key generation returned, so that {@link spkiDer} and
 * {@link pkcs8Pem} never call `KeyObject.export` for it.
 *
 * Why not export the JWK from the KeyObject: on Node 20, exporting a
 * generated EC key as JWK holds the key's mutex while allocating, and a GC
 * at that moment finalizes the key-generation job, whose destructor takes
 * the same mutex: the process deadlocks (seen under gdb, intermittently,
 * during batches and tests).
 */
export function rememberP256(publicKey: KeyObject, privateKey: KeyObject, jwk: P256Jwk): void {
  const point = Buffer.concat([Buffer.from([4]), coordinate(jwk.x), coordinate(jwk.y)]);
  spkiCache.set(publicKey, Buffer.concat([P256_SPKI_PREFIX, point]));
  pemCache.set(privateKey, derToPem(Buffer.concat([P256_PKCS8_PREFIX, coordinate(jwk.d), P256_PKCS8_PUBLIC, point]), 'PRIVATE KEY'));
  p256Cache.set(publicKey, true);
  p256Cache.set(privateKey, true);
}

/** SubjectPublicKeyInfo DER of a public key (cached per KeyObject). */
export function spkiDer(publicKey: KeyObject): Buffer {
  let der = spkiCache.get(publicKey);
  if (!der) {
    der = publicKey.export({ type: 'spki', format: 'der' });
    spkiCache.set(publicKey, der);
  }
  return der;
}

/** PKCS#8 PEM ("PRIVATE KEY") of a private key, as OpenSSL writes it. */
export function pkcs8Pem(privateKey: KeyObject): string {
  return pemCache.get(privateKey) ?? privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}
