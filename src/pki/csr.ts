/**
 * Certificate signing requests (PKCS #10, RFC 2986), for devices that make
 * their own key (`device add --csr`). The CSR's signature is checked with
 * Node's crypto (proof that the requester holds the key); only its subject CN
 * and public key are used: requested extensions are ignored, the CA decides.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { FleethubError } from '../errors.js';
import { OID, SIGNATURE_HASHES } from './asn1.js';
import { DerError, TAG, children, content, decodeOid, expectTlv, pemToDer, whole } from './der-reader.js';
import { keyTypeOf, type KeyType } from './keys.js';

/** What a verified CSR yields. */
export interface VerifiedCsr {
  /** The subject's commonName, or null when it has none. */
  readonly commonName: string | null;
  readonly publicKey: KeyObject;
  readonly keyType: KeyType;
}

/** Largest CSR accepted: a real one is ~0.5-2 KiB; this bounds parsing work. */
export const MAX_CSR_BYTES = 64 * 1024;

function invalid(detail: string, cause?: unknown): FleethubError {
  return new FleethubError('FH_ERR_CSR_INVALID', `invalid CSR: ${detail}`, cause === undefined ? undefined : { cause });
}

function readCommonName(der: Buffer, name: ReturnType<typeof expectTlv>): string | null {
  for (const rdn of children(der, name)) {
    for (const atv of children(der, rdn)) {
      const [type, value] = children(der, atv);
      if (!type || !value || decodeOid(content(der, type)) !== OID.commonName) continue;
      if (value.tag === TAG.BMP) return content(der, value).swap16().toString('utf16le');
      if (value.tag !== TAG.UTF8 && value.tag !== TAG.PRINTABLE && value.tag !== TAG.IA5 && value.tag !== TAG.T61) {
        throw invalid('unsupported string type in the subject CN');
      }
      return content(der, value).toString(value.tag === TAG.UTF8 ? 'utf8' : 'latin1');
    }
  }
  return null;
}

/**
 * Parses a PEM CSR and verifies its signature. Anything malformed, a bad
 * signature, a weak algorithm or an unsupported key throws FH_ERR_CSR_INVALID.
 */
export function verifyCsr(pem: string): VerifiedCsr {
  if (pem.length > MAX_CSR_BYTES * 2) throw invalid('file too large');
  const der = pemToDer(pem, 'CERTIFICATE REQUEST') ?? pemToDer(pem, 'NEW CERTIFICATE REQUEST');
  if (!der || der.length === 0) throw invalid('no "CERTIFICATE REQUEST" PEM block');
  try {
    const outer = expectTlv(der, 0, TAG.SEQUENCE);
    const [info, algorithm, signature] = children(der, outer);
    if (!info || !algorithm || !signature || info.tag !== TAG.SEQUENCE || signature.tag !== TAG.BIT_STRING) {
      throw new DerError('not a CertificationRequest');
    }
    const [version, subject, spki] = children(der, info);
    if (!version || !subject || !spki || version.tag !== TAG.INTEGER || subject.tag !== TAG.SEQUENCE || spki.tag !== TAG.SEQUENCE) {
      throw new DerError('not a CertificationRequestInfo');
    }
    const algId = children(der, algorithm)[0];
    const alg = algId ? decodeOid(content(der, algId)) : '';
    const hash = SIGNATURE_HASHES[alg];
    if (!hash) throw invalid(`unsupported signature algorithm ${alg || '(none)'}: use ECDSA or RSA with SHA-256 or stronger`);
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: whole(der, spki), format: 'der', type: 'spki' });
    } catch (err) {
      throw invalid('unreadable public key', err);
    }
    const keyType = keyTypeOf(publicKey);
    if (!keyType) throw invalid('unsupported key: use EC P-256 or RSA');
    if (keyType === 'rsa' && (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
      throw invalid('RSA key shorter than 2048 bits');
    }
    const sigBytes = content(der, signature);
    if (sigBytes[0] !== 0) throw new DerError('signature BIT STRING with unused bits');
    const algorithmMatchesKey = alg.startsWith('1.2.840.10045') === (keyType === 'ec');
    const ok = algorithmMatchesKey && verify(hash, whole(der, info), publicKey, sigBytes.subarray(1));
    if (!ok) throw invalid('signature does not verify (tampered, or not signed by its own key)');
    return { commonName: readCommonName(der, subject), publicKey, keyType };
  } catch (err) {
    if (err instanceof FleethubError) throw err;
    throw invalid(err instanceof DerError ? `malformed (${err.message})` : 'unreadable', err);
  }
}
