/**
 * Issuing X.509 v3 certificates (RFC 5280 §4.1): the TBSCertificate is built
 * with node-forge's DER encoder and signed with Node's crypto, which signs
 * with EC and RSA keys natively. The three profiles (CA, server, device)
 * follow SPEC "Device ids" and issue 2 exactly.
 */
import { createHash, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import {
  OID, bitString, context, extension, name, namedBits, nullValue, oid, octets, seq, smallInt, time, toDer,
  unsignedInt, bool, raw, derSequence, type Asn1,
} from './asn1.js';
import { spkiDer } from './key-encoding.js';
import { children, content, derToPem, expectTlv, TAG, whole } from './der-reader.js';
import { keyTypeOf } from './keys.js';
import type { Validity } from './validity.js';

/**
 * Which extensions a certificate gets: `ca` the root (`ca.crt`), `issuing`
 * the online issuing CA (`issuing.crt`, signs device certificates only),
 * `server` the hub's TLS certificate, `device` a client certificate (devices
 * and claim certificates alike).
 */
export type Profile = 'ca' | 'issuing' | 'server' | 'device';

/**
 * pathLenConstraint of a root made by `ca init`: 1, so it can certify one
 * issuing CA (which itself has 0 and signs end entities only). Roots made
 * before online signing existed have 0.
 */
export const ROOT_PATH_LEN = 1;

/** What signs a certificate or CRL: the CA's subject, key identifier, key and lifetime. */
export interface Issuer {
  /** DER of the CA certificate's subject Name, copied byte for byte into issued certificates. */
  readonly subjectDer: Buffer;
  /** The CA's subjectKeyIdentifier, the issued certificates' authorityKeyIdentifier. */
  readonly keyId: Buffer;
  readonly key: KeyObject;
  readonly notAfter: Date;
}

/** Input of {@link issueCertificate}. */
export interface CertificateRequest {
  readonly profile: Profile;
  readonly commonName: string;
  readonly organization?: string;
  readonly publicKey: KeyObject;
  readonly validity: Validity;
  /** Server profile: DNS names (subjectAltName dNSName). */
  readonly hosts?: readonly string[];
  /** Server profile: IP addresses (subjectAltName iPAddress). */
  readonly ips?: readonly string[];
  /** Absent for the self-signed CA, which then signs with `selfKey`. */
  readonly issuer?: Issuer;
  /** The CA's own private key when `issuer` is absent. */
  readonly selfKey?: KeyObject;
  /** `ca` profile: the pathLenConstraint. @defaultValue {@link ROOT_PATH_LEN} */
  readonly pathLen?: number;
}

/** An issued certificate. */
export interface IssuedCertificate {
  readonly der: Buffer;
  readonly pem: string;
  /** Uppercase hex, as Node's `X509Certificate.serialNumber` prints it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** keyUsage bit numbers (RFC 5280 §4.2.1.3). */
const KU = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

/**
 * A random positive serial (RFC 5280 §4.1.2.2; CA/B Forum: ≥ 64 random bits).
 * 16 bytes with the first in 0x10..0x7f: positive without a sign byte and
 * never a leading zero, so its hex form is stable (always 32 characters)
 * whatever tool prints it. ~124 random bits.
 */
export function randomSerial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = 0x10 + ((bytes[0] ?? 0) % 0x70);
  return bytes;
}

/** The signatureAlgorithm for a signing key: ecdsa-with-SHA256 (no parameters, RFC 5758 §3.2) or sha256WithRSAEncryption (NULL parameters, RFC 4055 §5). */
export function signatureAlgorithm(key: KeyObject): Asn1 {
  return key.asymmetricKeyType === 'ec' ? seq([oid(OID.ecdsaWithSha256)]) : seq([oid(OID.sha256WithRsa), nullValue()]);
}

/** Signs `tbs` and wraps it as `SEQUENCE { tbs, algorithm, BIT STRING signature }` (certificates and CRLs alike). */
export function signStructure(tbs: Asn1, key: KeyObject): Buffer {
  const tbsDer = toDer(tbs);
  // Node returns DER-encoded ECDSA signatures (Ecdsa-Sig-Value), what X.509 wants (RFC 5480 §2.2 / RFC 3279 §2.2.3).
  const signature = sign('sha256', tbsDer, key);
  return derSequence([tbsDer, toDer(signatureAlgorithm(key)), toDer(bitString(signature))]);
}

/** The subjectPublicKey BIT STRING's bytes of an SPKI, hashed with SHA-1 for key identifiers (RFC 5280 §4.2.1.2 method 1). */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = spkiDer(publicKey);
  const outer = expectTlv(spki, 0, TAG.SEQUENCE);
  const bits = children(spki, outer)[1];
  if (!bits) throw new Error('SPKI without a subjectPublicKey');
  return createHash('sha1').update(content(spki, bits).subarray(1)).digest();
}

/** IPv4 or IPv6 text as the 4 or 16 octets of an iPAddress SAN (RFC 5280 §4.2.1.6). */
export function ipBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family !== 6) throw new Error(`not an IP address: ${ip}`);
  let text = ip.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const b = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + `${(((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16)}:${(((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function extensionsFor(req: CertificateRequest, subjectKeyId: Buffer): Asn1[] {
  const rsa = keyTypeOf(req.publicKey) === 'rsa';
  const exts: Asn1[] = [];
  if (req.profile === 'ca' || req.profile === 'issuing') {
    // RFC 5280 §4.2.1.9: CA:true, critical; a root may certify one issuing CA below it, which signs end entities only.
    const pathLen = req.profile === 'issuing' ? 0 : req.pathLen ?? ROOT_PATH_LEN;
    exts.push(extension(OID.basicConstraints, true, seq([bool(true), smallInt(pathLen)])));
    exts.push(extension(OID.keyUsage, true, namedBits([KU.keyCertSign, KU.cRLSign])));
  } else {
    // SPEC: end-entity certificates carry CA:false (DER omits the FALSE default: an empty SEQUENCE).
    exts.push(extension(OID.basicConstraints, true, seq([])));
    // keyEncipherment only for RSA keys (TLS 1.2 RSA key transport); EC keys sign only (RFC 5480 §3).
    const usage = rsa ? [KU.digitalSignature, KU.keyEncipherment] : [KU.digitalSignature];
    exts.push(extension(OID.keyUsage, true, namedBits(usage)));
    // SPEC: device certificates clientAuth only, the server certificate serverAuth only.
    exts.push(extension(OID.extKeyUsage, false, seq([oid(req.profile === 'server' ? OID.serverAuth : OID.clientAuth)])));
    if (req.profile === 'server') {
      const names = [
        ...(req.hosts ?? []).map((h) => context(2, h, false)),
        ...(req.ips ?? []).map((ip) => context(7, ipBytes(ip).toString('binary'), false)),
      ];
      exts.push(extension(OID.subjectAltName, false, seq(names)));
    }
  }
  exts.push(extension(OID.subjectKeyIdentifier, false, octets(subjectKeyId)));
  const authorityKeyId = req.issuer?.keyId ?? subjectKeyId;
  exts.push(extension(OID.authorityKeyIdentifier, false, seq([context(0, authorityKeyId.toString('binary'), false)])));
  return exts;
}

/** Builds and signs a certificate for `req` (pure apart from the random serial). */
export function issueCertificate(req: CertificateRequest): IssuedCertificate {
  const signingKey = req.issuer?.key ?? req.selfKey;
  if (!signingKey) throw new Error('issueCertificate: neither issuer nor selfKey given');
  const serialBytes = randomSerial();
  const subject = name(req.commonName, req.organization);
  const issuerName = req.issuer ? raw(req.issuer.subjectDer) : subject;
  const spki = spkiDer(req.publicKey);
  const tbs = seq([
    context(0, [smallInt(2)]), // version v3 (RFC 5280 §4.1.2.1)
    unsignedInt(serialBytes),
    signatureAlgorithm(signingKey),
    issuerName,
    seq([time(req.validity.notBefore), time(req.validity.notAfter)]),
    subject,
    raw(spki),
    context(3, [seq(extensionsFor(req, keyIdentifier(req.publicKey)))]),
  ]);
  const der = signStructure(tbs, signingKey);
  return {
    der,
    pem: derToPem(der, 'CERTIFICATE'),
    serial: serialBytes.toString('hex').toUpperCase(),
    notBefore: new Date(Math.floor(req.validity.notBefore.getTime() / 1000) * 1000),
    notAfter: new Date(Math.floor(req.validity.notAfter.getTime() / 1000) * 1000),
  };
}

/** The {@link Issuer} of a CA certificate and its key. */
export function issuerFrom(caCertPem: string, caKey: KeyObject): Issuer {
  const cert = new X509Certificate(caCertPem);
  const der = cert.raw;
  const outer = expectTlv(der, 0, TAG.SEQUENCE);
  const tbs = children(der, outer)[0];
  if (!tbs) throw new Error('certificate without a TBSCertificate');
  const fields = children(der, tbs);
  // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, ...
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[offset + 4];
  if (!subject) throw new Error('certificate without a subject');
  return {
    subjectDer: whole(der, subject),
    keyId: keyIdentifier(cert.publicKey),
    key: caKey,
    notAfter: new Date(cert.validTo),
  };
}
