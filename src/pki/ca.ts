/**
 * The CA itself: creating it (`ca init`) and issuing the hub's TLS server
 * certificate (`ca server-cert`). Loading it to sign is loaded-ca.ts.
 */
import { isIP } from 'node:net';
import { FleethubError } from '../errors.js';
import { issueCertificate, ROOT_PATH_LEN } from './certificate.js';
import { generateKeys, privateKeyPem, resolveKeySpec, type KeyType } from './keys.js';
import { pkiPaths } from './paths.js';
import { loadCa } from './loaded-ca.js';
import { archivePkiUnlocked, type ArchivedPki } from './pki-archive.js';
import { ensurePrivateDir, exists, KEY_MODE, PUBLIC_MODE, withPkiLock, writeFilesAtomic } from './pki-files.js';
import { writeCrlUnlocked } from './revocation.js';
import { DEFAULT_CA_DAYS, DEFAULT_SERVER_DAYS, resolveDays, validityFor } from './validity.js';

/** The CA's subject CN when `--name` is not given. @defaultValue 'fleethub CA' */
export const DEFAULT_CA_NAME = 'fleethub CA';

/** Summary of a certificate written by {@link initCa} or {@link issueServerCert}. */
export interface IssuedFile {
  readonly certPath: string;
  readonly keyPath: string;
  readonly serial: string;
  readonly keyType: KeyType;
  /** ISO 8601. */
  readonly notAfter: string;
}

/** Options of {@link initCa}. */
export interface InitCaOptions {
  /** Subject CN. @defaultValue {@link DEFAULT_CA_NAME} */
  name?: string;
  /** Lifetime in days. @defaultValue {@link DEFAULT_CA_DAYS} */
  days?: number;
  /** @defaultValue 'ec' */
  keyType?: KeyType;
  /** RSA only: 2048 or 3072. @defaultValue 2048 */
  keyBits?: number;
  /**
   * Replace an existing CA: the old PKI (CA, server certificate, CRL,
   * inventory, `devices/`) moves to `replaced-<time>/` and every certificate
   * it issued stops working. @defaultValue false
   */
  force?: boolean;
  /**
   * pathLenConstraint: {@link ROOT_PATH_LEN} lets the root certify one
   * issuing CA (`ca issuing init`); 0 makes a root as fleethub made them
   * before online signing. @defaultValue {@link ROOT_PATH_LEN}
   */
  pathLen?: 0 | 1;
}

/** What {@link initCa} made, and where the PKI it replaced went. */
export interface InitCaResult extends IssuedFile {
  /** The old PKI's new folder and what moved there, or null when there was none. */
  readonly replaced: ArchivedPki | null;
}

/**
 * Creates the CA key (0600) and self-signed certificate, and an empty CRL
 * signed by it. FH_ERR_CA_EXISTS when a CA is there and `force` is not set.
 * A new CA starts a new PKI: files of the previous one (with `force`, or
 * left without a CA) move to `replaced-<time>/` first (see pki-archive.ts).
 */
export async function initCa(dir: string, opts: InitCaOptions = {}): Promise<InitCaResult> {
  const spec = resolveKeySpec(opts.keyType, opts.keyBits);
  const days = resolveDays(opts.days, DEFAULT_CA_DAYS);
  const name = opts.name ?? DEFAULT_CA_NAME;
  if (name.length === 0 || name.length > 64) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--name must have 1 to 64 characters (RFC 5280 ub-common-name), got ${name.length}`);
  }
  const paths = pkiPaths(dir);
  await ensurePrivateDir(paths.dir);
  return withPkiLock(paths.dir, async () => {
    // SPEC: refuses to overwrite without --force; a new CA starts a new PKI (the old one is archived, never deleted).
    const replaced = await archivePkiUnlocked(paths.dir, opts.force ?? false);
    const keys = await generateKeys(spec);
    const cert = issueCertificate({
      profile: 'ca', commonName: name, publicKey: keys.publicKey, selfKey: keys.privateKey, validity: validityFor(days, new Date()),
      pathLen: opts.pathLen ?? ROOT_PATH_LEN,
    });
    // Key first: a crash in between leaves a key without a certificate, which `ca init` reports and --force repairs.
    await writeFilesAtomic([
      { path: paths.caKey, data: privateKeyPem(keys.privateKey), mode: KEY_MODE },
      { path: paths.caCert, data: cert.pem, mode: PUBLIC_MODE },
    ]);
    // The new PKI's CRL, empty and signed by the new CA (a CRL of another CA would make the hub refuse every device).
    await writeCrlUnlocked(paths.dir);
    return {
      certPath: paths.caCert, keyPath: paths.caKey, serial: cert.serial, keyType: spec.type, notAfter: cert.notAfter.toISOString(), replaced,
    };
  });
}

/** RFC 1123 host names (and a leading `*.` wildcard label), at most 253 characters. */
const HOST_PATTERN = /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Checks `--host` and `--ip` values; at least one name is required. */
export function validateServerNames(hosts: readonly string[], ips: readonly string[]): void {
  if (hosts.length === 0) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', 'at least one --host is required (devices connect by DNS name)');
  for (const h of hosts) {
    if (isIP(h)) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--host ${h} is an IP address: pass it with --ip`);
    if (h.length > 253 || !HOST_PATTERN.test(h)) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--host ${JSON.stringify(h)} is not a valid DNS name`);
  }
  for (const ip of ips) {
    if (!isIP(ip)) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--ip ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  }
}

/** Options of {@link issueServerCert}. */
export interface ServerCertOptions {
  /** DNS names (subjectAltName dNSName); the first is also the CN. */
  hosts: string[];
  /** IP addresses (subjectAltName iPAddress; ESP32's mbedTLS ignores these). @defaultValue [] */
  ips?: string[];
  /** @defaultValue {@link DEFAULT_SERVER_DAYS} */
  days?: number;
  /** @defaultValue 'ec' */
  keyType?: KeyType;
  /** @defaultValue 2048 */
  keyBits?: number;
  /** Replace an existing server certificate. @defaultValue false */
  force?: boolean;
}

/** Issues `server.crt`/`server.key` (serverAuth only, the SANs given). */
export async function issueServerCert(dir: string, opts: ServerCertOptions): Promise<IssuedFile> {
  const spec = resolveKeySpec(opts.keyType, opts.keyBits);
  const days = resolveDays(opts.days, DEFAULT_SERVER_DAYS);
  const ips = opts.ips ?? [];
  validateServerNames(opts.hosts, ips);
  const paths = pkiPaths(dir);
  const ca = await loadCa(paths.dir);
  return withPkiLock(paths.dir, async () => {
    if (!opts.force && ((await exists(paths.serverCert)) || (await exists(paths.serverKey)))) {
      throw new FleethubError('FH_ERR_FILE_EXISTS', `${paths.serverCert} exists (use --force to replace it)`);
    }
    const keys = await generateKeys(spec);
    const cert = issueCertificate({
      profile: 'server', commonName: opts.hosts[0] as string, hosts: opts.hosts, ips, publicKey: keys.publicKey,
      issuer: ca.issuer, validity: validityFor(days, new Date(), ca.issuer.notAfter),
    });
    await writeFilesAtomic([
      { path: paths.serverKey, data: privateKeyPem(keys.privateKey), mode: KEY_MODE },
      { path: paths.serverCert, data: cert.pem, mode: PUBLIC_MODE },
    ]);
    return { certPath: paths.serverCert, keyPath: paths.serverKey, serial: cert.serial, keyType: spec.type, notAfter: cert.notAfter.toISOString() };
  });
}
