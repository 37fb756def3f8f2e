/**
 * A minimal DER reader (X.690 §8.1) that slices TLVs out of a buffer without
 * re-encoding them. Verifying a signature needs the exact signed bytes (a
 * CSR's certificationRequestInfo, a certificate's TBSCertificate), which a
 * decode-then-encode round trip cannot promise for input we did not write.
 */

/** One tag-length-value inside a buffer. */
export interface Tlv {
  /** The identifier octet (class, constructed bit and tag number < 31). */
  readonly tag: number;
  /** Offset of the first header byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

/** DER tags this reader is used with. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8: 0x0c,
  PRINTABLE: 0x13,
  T61: 0x14,
  IA5: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Thrown on malformed DER; callers map it to their own error code. */
export class DerError extends Error {
  override name = 'DerError';
}

/** Reads the TLV starting at `offset`, which must end at or before `limit`. */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated DER header');
  const tag = buf[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  let len = buf[offset + 1] ?? 0;
  let contentStart = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('unsupported DER length');
    if (contentStart + n > limit) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i += 1) len = len * 256 + (buf[contentStart + i] ?? 0);
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > limit) throw new DerError('DER value runs past its container');
  return { tag, start: offset, contentStart, end };
}

/** Reads the TLV at `offset` and checks its tag. */
export function expectTlv(buf: Uint8Array, offset: number, tag: number, limit = buf.length): Tlv {
  const tlv = readTlv(buf, offset, limit);
  if (tlv.tag !== tag) {
    throw new DerError(`expected DER tag 0x${tag.toString(16)}, got 0x${tlv.tag.toString(16)}`);
  }
  return tlv;
}

/** The children of a constructed TLV, in order. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let at = parent.contentStart;
  while (at < parent.end) {
    const child = readTlv(buf, at, parent.end);
    out.push(child);
    at = child.end;
    if (out.length > 1_000_000) throw new DerError('too many DER elements');
  }
  return out;
}

/** The content bytes of a TLV. */
export function content(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.subarray(tlv.contentStart, tlv.end));
}

/** The whole TLV (header and content). */
export function whole(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.subarray(tlv.start, tlv.end));
}

/** Decodes an OBJECT IDENTIFIER's content (X.690 §8.19). */
export function decodeOid(bytes: Uint8Array): string {
  const parts: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

/**
 * An INTEGER's content as uppercase hex without a sign byte, the form Node's
 * `X509Certificate.serialNumber` prints (so the two compare equal).
 */
export function integerHex(bytes: Uint8Array): string {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  return Buffer.from(bytes.subarray(start)).toString('hex').toUpperCase();
}

/** Decodes a UTCTime or GeneralizedTime TLV (RFC 5280 §4.1.2.5: always Zulu). */
export function decodeTime(buf: Uint8Array, tlv: Tlv): Date {
  const s = content(buf, tlv).toString('latin1');
  const m = tlv.tag === TAG.UTC_TIME
    ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
    : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new DerError(`bad time ${JSON.stringify(s)}`);
  let year = Number(m[1]);
  if (tlv.tag === TAG.UTC_TIME) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

/** PEM body of the first block labelled `label`, as DER; undefined when absent. */
export function pemToDer(pem: string, label: string): Buffer | undefined {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`);
  const m = re.exec(pem);
  if (!m) return undefined;
  return Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64');
}

/** Wraps DER in a PEM block with 64-column lines (RFC 7468 §2), ending in a newline. */
export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
