/**
 * DER building blocks for X.509 structures (RFC 5280), on top of
 * `forge.asn1`. node-forge only encodes here: it never signs (its pure-JS RSA
 * is ~50x slower than Node's and it cannot hold EC keys) and never verifies.
 */
import forge from 'node-forge';

const { asn1 } = forge;
const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

/** A DER node as node-forge models it. */
export type Asn1 = forge.asn1.Asn1;

/** Object identifiers used by the profiles (RFC 5280 §4.1, §4.2, §5.2, §5.3; RFC 5480; RFC 4055). */
export const OID = {
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/**
 * Signature algorithms fleethub accepts on what it verifies itself (CSRs,
 * CRLs), with their hash; anything else, SHA-1 and MD5 included, is refused.
 */
export const SIGNATURE_HASHES: Readonly<Record<string, string>> = {
  [OID.ecdsaWithSha256]: 'sha256',
  [OID.ecdsaWithSha384]: 'sha384',
  [OID.ecdsaWithSha512]: 'sha512',
  [OID.sha256WithRsa]: 'sha256',
  [OID.sha384WithRsa]: 'sha384',
  [OID.sha512WithRsa]: 'sha512',
};

/** Converts a Buffer to forge's binary string. */
export function bin(buf: Uint8Array): string {
  return Buffer.from(buf).toString('binary');
}

/** Encodes a node to DER. */
export function toDer(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

/** Parses a complete DER value (already sliced) into a forge node. */
export function fromDer(der: Uint8Array): Asn1 {
  return asn1.fromDer(bin(der));
}

export function seq(items: Asn1[]): Asn1 {
  return asn1.create(U, T.SEQUENCE, true, items);
}

export function set(items: Asn1[]): Asn1 {
  return asn1.create(U, T.SET, true, items);
}

export function oid(id: string): Asn1 {
  return asn1.create(U, T.OID, false, asn1.oidToDer(id).getBytes());
}

export function nullValue(): Asn1 {
  return asn1.create(U, T.NULL, false, '');
}

export function bool(value: boolean): Asn1 {
  return asn1.create(U, T.BOOLEAN, false, value ? '\xff' : '\x00');
}

/** A non-negative INTEGER from big-endian magnitude bytes (a 0x00 is prepended when the top bit is set). */
export function unsignedInt(bytes: Uint8Array): Asn1 {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  let body = Buffer.from(bytes.subarray(start));
  if (body.length === 0) body = Buffer.from([0]);
  if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return asn1.create(U, T.INTEGER, false, bin(body));
}

export function smallInt(value: number): Asn1 {
  return asn1.create(U, T.INTEGER, false, asn1.integerToDer(value).getBytes());
}

export function enumerated(value: number): Asn1 {
  return asn1.create(U, T.ENUMERATED, false, asn1.integerToDer(value).getBytes());
}

export function octets(bytes: Uint8Array): Asn1 {
  return asn1.create(U, T.OCTETSTRING, false, bin(bytes));
}

/** A BIT STRING whose content is whole bytes (0 unused bits). */
export function bitString(bytes: Uint8Array): Asn1 {
  return asn1.create(U, T.BITSTRING, false, `\x00${bin(bytes)}`);
}

/** A BIT STRING of named bits (DER: trailing zero bits dropped, X.690 §11.2.2). */
export function namedBits(bits: number[]): Asn1 {
  const max = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const b of bits) bytes[b >> 3] = (bytes[b >> 3] ?? 0) | (0x80 >> (b & 7));
  const last = bytes[bytes.length - 1] ?? 0;
  let unused = 0;
  while (unused < 7 && (last & (1 << unused)) === 0) unused += 1;
  return asn1.create(U, T.BITSTRING, false, String.fromCharCode(unused) + bin(bytes));
}

/** Context-specific tag `[n]`, explicit (constructed) or implicit primitive. */
export function context(n: number, value: Asn1[] | string, constructed = Array.isArray(value)): Asn1 {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, n, constructed, value);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(date: Date): Asn1 {
  const whole = new Date(Math.floor(date.getTime() / 1000) * 1000);
  return whole.getUTCFullYear() < 2050
    ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(whole))
    : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(whole));
}

/** A Name holding a single CN (UTF8String, RFC 5280 §4.1.2.6), optionally preceded by O. */
export function name(commonName: string, organization?: string): Asn1 {
  const rdn = (type: string, value: string): Asn1 =>
    set([seq([oid(type), asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(value))])]);
  const rdns = organization ? [rdn(OID.organizationName, organization)] : [];
  rdns.push(rdn(OID.commonName, commonName));
  return seq(rdns);
}

/** An Extension (RFC 5280 §4.1): extnID, critical (omitted when false, DER default), extnValue. */
export function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const items = [oid(id)];
  if (critical) items.push(bool(true));
  items.push(asn1.create(U, T.OCTETSTRING, false, asn1.toDer(value).getBytes()));
  return seq(items);
}

/** A DER SEQUENCE around already-encoded parts (no parse and re-encode of large inner values). */
export function derSequence(parts: readonly Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  let header: Buffer;
  if (n < 0x80) header = Buffer.from([0x30, n]);
  else if (n < 0x100) header = Buffer.from([0x30, 0x81, n]);
  else if (n < 0x10000) header = Buffer.from([0x30, 0x82, n >> 8, n & 0xff]);
  else header = Buffer.from([0x30, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([header, body]);
}

/** The raw DER of an already-encoded structure, as a node (so it is copied byte for byte). */
export function raw(der: Uint8Array): Asn1 {
  return fromDer(der);
}
