/**
 * Key pairs from Node's native crypto (OpenSSL). An RSA-2048 key costs
 * far more CPU than a P-256 one (docs/benchmarks.md), so RSA keys are
 * made asynchronously on libuv's thread pool where several generate side by
 * side on all cores.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { FleethubError } from '../errors.js';
import { isP256, pkcs8Pem, rememberP256, type P256Jwk } from './key-encoding.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** `ec` is ECDSA P-256; `rsa` is RSA with {@link KeySpec.bits} bits. */
export type KeyType = 'ec' | 'rsa';

/** The key types `--key-type` accepts. */
export const KEY_TYPES: readonly KeyType[] = ['ec', 'rsa'];

/**
 * Default key type: P-256 gives small certificates and handshakes far cheaper
 * for the hub and for ESP32's mbedTLS than RSA.
 * @defaultValue 'ec'
 */
export const DEFAULT_KEY_TYPE: KeyType = 'ec';

/** RSA modulus when `--key-type rsa` is given without `--key-bits` (NIST SP 800-57: 112-bit security). */
export const DEFAULT_RSA_BITS = 2048;

/** RSA sizes we issue: 2048 and 3072 are what ESP32 firmware handles in reasonable time. */
export const RSA_BITS: readonly number[] = [2048, 3072];

/** A resolved key choice. */
export interface KeySpec {
  readonly type: KeyType;
  /** RSA modulus bits, or 256 for P-256. */
  readonly bits: number;
}

/** A private/public key pair. */
export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Resolves `--key-type`/`--key-bits` into a {@link KeySpec}; bad values throw FH_ERR_INVALID_ARGUMENT. */
export function resolveKeySpec(type: string | undefined, bits?: number): KeySpec {
  const t = type ?? DEFAULT_KEY_TYPE;
  if (t !== 'ec' && t !== 'rsa') {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `unknown key type ${JSON.stringify(t)}: use ec or rsa`);
  }
  if (t === 'ec') {
    if (bits !== undefined && bits !== 256) {
      throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--key-bits ${bits} does not apply to ec keys (always P-256)`);
    }
    return { type: 'ec', bits: 256 };
  }
  const b = bits ?? DEFAULT_RSA_BITS;
  if (!RSA_BITS.includes(b)) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--key-bits must be one of ${RSA_BITS.join(', ')} for rsa keys, got ${b}`);
  }
  return { type: 'rsa', bits: b };
}

/**
 * A P-256 pair. Key generation itself returns the coordinates (JWK), from
 * which the KeyObjects and the DER encodings are made: a generated EC
 * KeyObject is never exported as JWK (that can deadlock Node 20, see
 * {@link rememberP256}).
 */
function generateP256(): KeyPair {
  // @types/node has no overload for JWK output of key generation; Node 20 supports it.
  const jwk = (generateKeyPairSync as unknown as (type: 'ec', options: object) => { publicKey: JsonWebKey; privateKey: JsonWebKey & P256Jwk })(
    'ec',
    { namedCurve: 'P-256', publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } },
  );
  const publicKey = createPublicKey({ key: jwk.publicKey, format: 'jwk' });
  const privateKey = createPrivateKey({ key: jwk.privateKey, format: 'jwk' });
  rememberP256(publicKey, privateKey, jwk.privateKey);
  return { publicKey, privateKey };
}

/** Generates a key pair. RSA runs on the thread pool; P-256 is fast enough to make inline. */
export async function generateKeys(spec: KeySpec): Promise<KeyPair> {
  if (spec.type === 'ec') return generateP256();
  return generateKeyPairAsync('rsa', { modulusLength: spec.bits, publicExponent: 0x10001 });
}

/** PKCS#8 PEM of a private key (what both mbedTLS and OpenSSL read). */
export function privateKeyPem(key: KeyObject): string {
  return pkcs8Pem(key);
}

/** The {@link KeyType} of a key, or undefined for a type fleethub does not issue for. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  if (key.asymmetricKeyType === 'rsa') return 'rsa';
  if (isP256(key)) return 'ec';
  return undefined;
}
