/**
 * The issuing CA (SPEC: Certificate authority for online signing): a CA
 * below the root (`ca.crt`) that signs device certificates, so the hub can
 * sign renewals and provisioned certificates while the root's key lives off
 * the machine. Its key (`issuing.key`) may be kept encrypted (PKCS #8 with
 * AES-256-CBC), the passphrase coming from an environment variable or a file
 * (ca-passphrase.ts).
 *
 * A root made before online signing has pathLenConstraint 0 and cannot
 * certify a CA: `ca issuing init --standalone` then makes a self-signed
 * issuing CA that the hub trusts for client certificates next to the root,
 * so nothing already flashed changes (devices only check the server
 * certificate, which the root keeps signing).
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { FleethubError } from '../errors.js';
import { OID } from './asn1.js';
import { issueCertificate } from './certificate.js';
import { children, content, decodeOid, expectTlv, readTlv, TAG } from './der-reader.js';
import { generateKeys, resolveKeySpec, type KeyType } from './keys.js';
import { loadCa } from './loaded-ca.js';
import { pkiPaths } from './paths.js';
import { ensurePrivateDir, exists, KEY_MODE, PUBLIC_MODE, withPkiLock, writeFilesAtomic } from './pki-files.js';
import { writeCaCrlUnlocked } from './revocation.js';
import { resolveDays, validityFor } from './validity.js';

/** The issuing CA's subject CN when `--name` is not given. @defaultValue 'fleethub issuing CA' */
export const DEFAULT_ISSUING_NAME = 'fleethub issuing CA';

/**
 * Issuing CA lifetime: 5 years, half the root's, so it can be replaced
 * (a new issuing CA, devices renewing onto it) well before the root ends.
 * Clamped to the root's notAfter. @defaultValue 1825
 */
export const DEFAULT_ISSUING_DAYS = 1825;

/** Cipher of an encrypted `issuing.key` (PKCS #8, PBES2: PBKDF2 and AES-256-CBC, as OpenSSL writes it). */
export const ISSUING_KEY_CIPHER = 'aes-256-cbc';

/** Shortest passphrase accepted for the issuing CA's key. */
export const MIN_PASSPHRASE_LENGTH = 12;

/** Options of {@link initIssuingCa}. */
export interface InitIssuingCaOptions {
  /** @defaultValue {@link DEFAULT_ISSUING_NAME} */
  name?: string;
  /** @defaultValue {@link DEFAULT_ISSUING_DAYS} */
  days?: number;
  /** @defaultValue 'ec' */
  keyType?: KeyType;
  /** @defaultValue 2048 */
  keyBits?: number;
  /** Encrypt `issuing.key` with this passphrase; null writes it in the clear (0600). @defaultValue null */
  passphrase?: string | null;
  /**
   * Self-signed instead of certified by the root: for a root made before
   * online signing (pathLenConstraint 0). @defaultValue false
   */
  standalone?: boolean;
}

/** What {@link initIssuingCa} made. */
export interface InitIssuingCaResult {
  readonly certPath: string;
  readonly keyPath: string;
  readonly serial: string;
  readonly notAfter: string;
  readonly encrypted: boolean;
  readonly standalone: boolean;
}

/**
 * The pathLenConstraint of a CA certificate: a number, null when it has
 * none (unlimited), undefined when it is no CA (no basicConstraints CA:true).
 */
export function caPathLen(cert: X509Certificate): number | null | undefined {
  const der = cert.raw;
  const outer = expectTlv(der, 0, TAG.SEQUENCE);
  const tbs = children(der, outer)[0];
  if (!tbs) return undefined;
  const exts = children(der, tbs).find((f) => f.tag === 0xa3);
  if (!exts) return undefined;
  const list = readTlv(der, exts.contentStart, exts.end);
  for (const ext of children(der, list)) {
    const parts = children(der, ext);
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (!id || !value || decodeOid(content(der, id)) !== OID.basicConstraints) continue;
    const inner = content(der, value);
    const fields = children(inner, expectTlv(inner, 0, TAG.SEQUENCE));
    const isCa = fields[0]?.tag === TAG.BOOLEAN && content(inner, fields[0])[0] !== 0;
    if (!isCa) return undefined;
    const len = fields[1];
    return len?.tag === TAG.INTEGER ? content(inner, len).readUIntBE(0, Math.min(6, content(inner, len).length)) : null;
  }
  return undefined;
}

/** PKCS #8 PEM of a CA key, encrypted when a passphrase is given. */
export function caKeyPem(key: KeyObject, passphrase: string | null): string {
  if (passphrase === null) return key.export({ type: 'pkcs8', format: 'pem' }).toString();
  return key.export({ type: 'pkcs8', format: 'pem', cipher: ISSUING_KEY_CIPHER, passphrase }).toString();
}

/**
 * Makes `issuing.crt`/`issuing.key` and the issuing CA's empty CRL
 * (`issuing-crl.pem`). Needs the root's key (certifying the issuing CA is
 * the root's last online act), unless `standalone`. FH_ERR_FILE_EXISTS when
 * an issuing CA is there; FH_ERR_INVALID_ARGUMENT when the root cannot
 * certify a CA (a root made before online signing: use `standalone`).
 */
export async function initIssuingCa(dir: string, opts: InitIssuingCaOptions = {}): Promise<InitIssuingCaResult> {
  const spec = resolveKeySpec(opts.keyType, opts.keyBits);
  const days = resolveDays(opts.days, DEFAULT_ISSUING_DAYS);
  const name = opts.name ?? DEFAULT_ISSUING_NAME;
  if (name.length === 0 || name.length > 64) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--name must have 1 to 64 characters (RFC 5280 ub-common-name), got ${name.length}`);
  }
  const passphrase = opts.passphrase ?? null;
  if (passphrase !== null && passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `the issuing CA's passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  const standalone = opts.standalone ?? false;
  const paths = pkiPaths(dir);
  const root = standalone ? null : await loadCa(paths.dir);
  if (root !== null) {
    const pathLen = caPathLen(root.cert);
    if (pathLen === 0 || pathLen === undefined) {
      throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `${paths.caCert} was made before online signing (pathlen:0) and cannot certify an issuing CA: run "fleethub ca issuing init --standalone" to add one the hub trusts next to it`);
    }
  } else if (!(await exists(paths.caCert))) {
    throw new FleethubError('FH_ERR_CA_MISSING', `no CA in ${paths.dir}: run "fleethub ca init --pki ${paths.dir}" first`);
  }
  await ensurePrivateDir(paths.dir);
  return withPkiLock(paths.dir, async () => {
    if ((await exists(paths.issuingCert)) || (await exists(paths.issuingKey))) {
      throw new FleethubError('FH_ERR_FILE_EXISTS', `${paths.issuingCert} exists: an issuing CA is already there`);
    }
    const keys = await generateKeys(spec);
    const now = new Date();
    const cert = root === null
      ? issueCertificate({ profile: 'ca', pathLen: 0, commonName: name, publicKey: keys.publicKey, selfKey: keys.privateKey, validity: validityFor(days, now) })
      : issueCertificate({ profile: 'issuing', commonName: name, publicKey: keys.publicKey, issuer: root.issuer, validity: validityFor(days, now, root.issuer.notAfter) });
    await writeFilesAtomic([
      { path: paths.issuingKey, data: caKeyPem(keys.privateKey, passphrase), mode: KEY_MODE },
      { path: paths.issuingCert, data: cert.pem, mode: PUBLIC_MODE },
    ]);
    // The hub loads one CRL per CA it trusts (OpenSSL checks every CA of a chain): the issuing CA's starts empty.
    await writeCaCrlUnlocked(paths.dir, 'issuing', { issuingPassphrase: passphrase });
    return {
      certPath: paths.issuingCert, keyPath: paths.issuingKey, serial: cert.serial, notAfter: cert.notAfter.toISOString(),
      encrypted: passphrase !== null, standalone,
    };
  });
}
