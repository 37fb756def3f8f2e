/**
 * The identity in a certificate, read straight from its DER: the subject's
 * commonName and the serial, in the same uppercase hex as the CRL's serials
 * and Node's `serialNumber`. Pure and cheap (no decoding of keys or
 * extensions): the hub reads it once per device connection.
 */
import { OID } from './asn1.js';
import { children, content, decodeOid, DerError, expectTlv, integerHex, readTlv, TAG, type Tlv } from './der-reader.js';

/** A certificate's subject CN (null when it has none or several) and serial. */
export interface CertificateIdentity {
  readonly commonName: string | null;
  /** Uppercase hex, leading zero bytes dropped. */
  readonly serial: string;
}

/** Context tag [0] (constructed), the version field of a TBSCertificate. */
const VERSION_TAG = 0xa0;

function commonNameIn(der: Uint8Array, name: Tlv): string | null {
  let found: string | null = null;
  for (const rdn of children(der, name)) {
    for (const atv of children(der, rdn)) {
      const [type, value] = children(der, atv);
      if (type === undefined || value === undefined || decodeOid(content(der, type)) !== OID.commonName) continue;
      if (found !== null) return null; // several CNs: no single identity
      if (value.tag === TAG.BMP) found = content(der, value).swap16().toString('utf16le');
      else found = content(der, value).toString(value.tag === TAG.UTF8 ? 'utf8' : 'latin1');
    }
  }
  return found;
}

/**
 * The identity of the certificate whose DER starts at `offset` of `der`.
 * Throws DerError when it is not a well-formed certificate.
 */
export function certificateIdentity(der: Uint8Array, offset = 0): CertificateIdentity {
  const certificate = expectTlv(der, offset, TAG.SEQUENCE);
  const [tbs] = children(der, certificate);
  if (tbs === undefined || tbs.tag !== TAG.SEQUENCE) throw new DerError('no TBSCertificate');
  const fields = children(der, tbs);
  const first = fields[0]?.tag === VERSION_TAG ? 1 : 0;
  const serial = fields[first];
  const subject = fields[first + 4];
  if (serial?.tag !== TAG.INTEGER || subject?.tag !== TAG.SEQUENCE) throw new DerError('no serial or subject');
  return { commonName: commonNameIn(der, subject), serial: integerHex(content(der, serial)) };
}

/**
 * The peer certificate's identity from a TLS session as OpenSSL encodes it
 * (`i2d_SSL_SESSION`, what Node's `getSession()` returns): a SEQUENCE whose
 * field [3] holds the peer's certificate. Null when the session has none.
 * Throws DerError on another encoding.
 */
export function sessionPeerIdentity(session: Uint8Array): CertificateIdentity | null {
  const outer = expectTlv(session, 0, TAG.SEQUENCE);
  for (const field of children(session, outer)) {
    if (field.tag === 0xa3) return certificateIdentity(session, readTlv(session, field.contentStart, field.end).start);
  }
  return null;
}
