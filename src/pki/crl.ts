/**
 * Certificate revocation lists, v2 (RFC 5280 §5): built and signed here,
 * loaded by the hub into its TLS context (Node's OpenSSL checks them in the
 * handshake) and parsed by {@link revokedSerials} to close live connections.
 */
import { verify, X509Certificate } from 'node:crypto';
import { FleethubError } from '../errors.js';
import { OID, SIGNATURE_HASHES, context, enumerated, extension, raw, seq, smallInt, time, unsignedInt, type Asn1 } from './asn1.js';
import { signStructure, signatureAlgorithm, type Issuer } from './certificate.js';
import {
  DerError, TAG, children, content, decodeOid, decodeTime, derToPem, expectTlv, integerHex, pemToDer, readTlv, whole,
} from './der-reader.js';

/**
 * The revocation reasons `device revoke --reason` accepts, with their CRLReason
 * codes (RFC 5280 §5.3.1). The CA-only reasons (cACompromise, aACompromise)
 * and certificateHold (fleethub has no un-revoke) are left out.
 */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
} as const;

/** A reason name from {@link REVOCATION_REASONS}. */
export type RevocationReason = keyof typeof REVOCATION_REASONS;

/** Reason recorded when `--reason` is not given. @defaultValue 'unspecified' */
export const DEFAULT_REVOCATION_REASON: RevocationReason = 'unspecified';

/** Parses a reason name (case-insensitive); unknown names throw FH_ERR_INVALID_ARGUMENT. */
export function resolveRevocationReason(reason: string | undefined): RevocationReason {
  if (reason === undefined) return DEFAULT_REVOCATION_REASON;
  const found = (Object.keys(REVOCATION_REASONS) as RevocationReason[]).find((r) => r.toLowerCase() === reason.toLowerCase());
  if (!found) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `unknown revocation reason ${JSON.stringify(reason)}: use one of ${Object.keys(REVOCATION_REASONS).join(', ')}`);
  }
  return found;
}

/** One revoked certificate. */
export interface CrlEntry {
  /** Uppercase hex serial. */
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

/** Input of {@link buildCrl}. */
export interface CrlOptions {
  /** cRLNumber, monotonically increasing (RFC 5280 §5.2.3). */
  readonly number: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

/** Builds and signs a CRL; returns its PEM. Pure apart from the signature. */
export function buildCrl(issuer: Issuer, entries: readonly CrlEntry[], opts: CrlOptions): string {
  const revoked = entries.map((e) => {
    const items: Asn1[] = [unsignedInt(Buffer.from(e.serial.length % 2 ? `0${e.serial}` : e.serial, 'hex')), time(e.revokedAt)];
    const code = REVOCATION_REASONS[e.reason];
    // RFC 5280 §5.3.1: "unspecified" SHOULD be expressed by leaving the reason code out.
    if (code !== 0) items.push(seq([extension(OID.crlReason, false, enumerated(code))]));
    return seq(items);
  });
  const tbs: Asn1[] = [
    smallInt(1), // v2 (RFC 5280 §5.1.2.1), required because extensions are present
    signatureAlgorithm(issuer.key),
    raw(issuer.subjectDer),
    time(opts.thisUpdate),
    time(opts.nextUpdate),
  ];
  // RFC 5280 §5.1.2.6: with no revoked certificates the list is absent, not empty.
  if (revoked.length > 0) tbs.push(seq(revoked));
  const hex = opts.number.toString(16);
  const numberBytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  tbs.push(context(0, [seq([
    extension(OID.authorityKeyIdentifier, false, seq([context(0, issuer.keyId.toString('binary'), false)])),
    extension(OID.crlNumber, false, unsignedInt(numberBytes)),
  ])]));
  return derToPem(signStructure(seq(tbs), issuer.key), 'X509 CRL');
}

/** What {@link parseCrl} reads from a CRL (the signature is not checked: TLS does that). */
export interface CrlInfo {
  /** cRLNumber, or null when absent. */
  readonly number: number | null;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | null;
  /** Revoked serials, uppercase hex as in {@link DeviceRecord.serial}. */
  readonly serials: Set<string>;
}

/** Parses the first CRL in a PEM string. Malformed input throws FH_ERR_INVALID_ARGUMENT. */
export function parseCrl(crlPem: string): CrlInfo {
  const der = pemToDer(crlPem, 'X509 CRL');
  if (!der) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', 'crl: no "X509 CRL" PEM block');
  try {
    const outer = expectTlv(der, 0, TAG.SEQUENCE);
    const tbsTlv = expectTlv(der, outer.contentStart, TAG.SEQUENCE, outer.end);
    const fields = children(der, tbsTlv);
    let i = fields[0]?.tag === TAG.INTEGER ? 1 : 0; // version is optional (v1)
    i += 2; // signature, issuer
    const thisTlv = fields[i++];
    if (!thisTlv) throw new DerError('no thisUpdate');
    const thisUpdate = decodeTime(der, thisTlv);
    let nextUpdate: Date | null = null;
    const maybeNext = fields[i];
    if (maybeNext && (maybeNext.tag === TAG.UTC_TIME || maybeNext.tag === TAG.GENERALIZED_TIME)) {
      nextUpdate = decodeTime(der, maybeNext);
      i += 1;
    }
    const serials = new Set<string>();
    const maybeList = fields[i];
    if (maybeList?.tag === TAG.SEQUENCE) {
      for (const entry of children(der, maybeList)) {
        const serial = expectTlv(der, entry.contentStart, TAG.INTEGER, entry.end);
        serials.add(integerHex(content(der, serial)));
      }
      i += 1;
    }
    let number: number | null = null;
    const maybeExts = fields[i];
    if (maybeExts?.tag === 0xa0) {
      const list = readTlv(der, maybeExts.contentStart, maybeExts.end);
      for (const ext of children(der, list)) {
        const parts = children(der, ext);
        const id = parts[0];
        const value = parts[parts.length - 1];
        if (!id || !value || decodeOid(content(der, id)) !== OID.crlNumber) continue;
        const inner = content(der, value);
        const int = expectTlv(inner, 0, TAG.INTEGER);
        number = parseInt(integerHex(content(inner, int)), 16);
      }
    }
    return { number, thisUpdate, nextUpdate, serials };
  } catch (err) {
    if (err instanceof DerError) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `crl: malformed (${err.message})`, { cause: err });
    throw err;
  }
}

/**
 * True when the first CRL in `crlPem` carries a valid signature by the CA
 * certificate `caCertPem` (false for another CA's CRL, a tampered one or an
 * unreadable one). The hub uses it so that a CRL of a replaced CA
 * (`ca init --force` while it runs) is treated like a corrupt file: loaded
 * into the TLS context with the old CA, it would make OpenSSL refuse every
 * device (no CRL from their issuer) and forget the old CA's revocations.
 */
export function crlSignedBy(crlPem: string, caCertPem: string): boolean {
  const der = pemToDer(crlPem, 'X509 CRL');
  if (!der) return false;
  try {
    const outer = expectTlv(der, 0, TAG.SEQUENCE);
    const [tbs, algorithm, signature] = children(der, outer);
    if (!tbs || !algorithm || !signature || tbs.tag !== TAG.SEQUENCE || signature.tag !== TAG.BIT_STRING) return false;
    const algId = children(der, algorithm)[0];
    const hash = algId ? SIGNATURE_HASHES[decodeOid(content(der, algId))] : undefined;
    const sig = content(der, signature);
    if (hash === undefined || sig[0] !== 0) return false;
    return verify(hash, whole(der, tbs), new X509Certificate(caCertPem).publicKey, sig.subarray(1));
  } catch {
    return false;
  }
}

/**
 * Pure: the serials a CRL lists, in the same form as `DeviceRecord.serial`
 * and Node's `X509Certificate.serialNumber` (uppercase hex, no colons). The hub
 * uses it to close live connections of revoked devices (SPEC: 4001).
 */
export function revokedSerials(crlPem: string): Set<string> {
  return parseCrl(crlPem).serials;
}
