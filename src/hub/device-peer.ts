/**
 * Who is at the other end of a device's TLS socket: the certificate's CN
 * (the device id) and serial (to match the CRL), read once per connection
 * the cheapest way each kind of handshake allows.
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { sessionPeerIdentity } from '../pki/index.js';

/** Who is at the other end of a TLS socket. */
export interface Peer {
  /** The subject CN, or null when there is none or more than one. */
  readonly cn: string | null;
  /** Uppercase hex, as the CRL's serials. */
  readonly serial: string;
}

/**
 * The peer certificate's CN and serial; null once the peer has gone. Called
 * once per connection, right after the handshake (the result is kept for the
 * upgrade), so every device pays for it. After a resumed handshake
 * `getPeerX509Certificate` is cheap; after a full one it copies and decodes
 * the certificate again, and `getPeerCertificate` builds every field,
 * fingerprints and the public key, so the certificate is read out of the
 * connection's TLS session (`getSession()`) instead, the cheapest of the
 * three (figures in docs/benchmarks.md). Should the session ever not hold
 * it, `getPeerCertificate` answers.
 */
export function peerOf(socket: TLSSocket, resumed: boolean): Peer | null {
  if (resumed) {
    const cert = socket.getPeerX509Certificate();
    if (cert === undefined) return null;
    return { cn: commonNameOf(cert.subject), serial: cert.serialNumber.toUpperCase() };
  }
  const session = socket.getSession();
  if (session !== undefined) {
    try {
      const identity = sessionPeerIdentity(session);
      if (identity !== null) return { cn: identity.commonName, serial: identity.serial };
    } catch {
      // Not the encoding expected: ask the certificate API.
    }
  }
  const cert = socket.getPeerCertificate() as PeerCertificate | null;
  if (cert === null || cert.serialNumber === undefined) return null;
  const cn: unknown = cert.subject?.CN;
  return { cn: typeof cn === 'string' ? cn : null, serial: cert.serialNumber.toUpperCase() };
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
