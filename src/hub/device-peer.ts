/**
 * Who is at the other end of a device's TLS socket: the certificate's CN
 * (the device id), its serial (to match the CRL) and whether it may
 * authenticate a TLS client. Read with Node's documented
 * `getPeerX509Certificate()`, which answers after a full handshake and after
 * a resumed one alike (the session keeps the peer's certificate).
 */
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/** id-kp-clientAuth (RFC 5280 §4.2.1.12). */
export const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

/** Who is at the other end of a TLS socket. */
export interface Peer {
  /** The subject CN, or null when there is none or more than one. */
  readonly cn: string | null;
  /** Uppercase hex, as the CRL's serials. */
  readonly serial: string;
  /**
   * The certificate has an extendedKeyUsage extension that lists clientAuth
   * (SPEC: device certificates carry extendedKeyUsage clientAuth). OpenSSL
   * only refuses an extension that leaves clientAuth out; one with no
   * extension at all passes its check, so the hub checks this itself.
   */
  readonly clientAuth: boolean;
  /** The certificate itself (protocol 2's `hello.cert` and renewal read its dates and key). */
  readonly certificate: X509Certificate;
}

/** The peer certificate's CN, serial and clientAuth usage; null when the peer sent none (or has gone). */
export function peerOf(socket: TLSSocket): Peer | null {
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return null;
  // Node types it string[], but it is undefined for a certificate without extendedKeyUsage.
  const usages = cert.keyUsage as readonly string[] | undefined;
  return { cn: commonNameOf(cert.subject), serial: cert.serialNumber.toUpperCase(), clientAuth: usages?.includes(CLIENT_AUTH_OID) === true, certificate: cert };
}

/**
 * The CN of a subject in Node's one-attribute-per-line form (`CN=dev-1`), or
 * null when there is none or more than one. A value with characters a device
 * id may not have is returned as is and then refused by the id check.
 */
export function commonNameOf(subject: string): string | null {
  let start: number;
  if (subject.startsWith('CN=')) {
    start = 3;
  } else {
    const at = subject.indexOf('\nCN=');
    if (at === -1) return null;
    start = at + 4;
  }
  const end = subject.indexOf('\n', start);
  if (end === -1) return subject.slice(start);
  // A second CN line: ambiguous, so no identity.
  return subject.includes('\nCN=', end) ? null : subject.slice(start, end);
}
