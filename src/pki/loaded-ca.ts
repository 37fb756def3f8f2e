/**
 * Loading a CA to sign with: the root (`ca.crt`), the issuing CA
 * (`issuing.crt`, its key possibly encrypted) and the claim CA
 * (`claim-ca.crt`). Apart from the modules that make them (which write their
 * first CRL through revocation.ts), so that none of them import each other.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { FleethubError } from '../errors.js';
import { issuerFrom, type Issuer } from './certificate.js';
import { pkiPaths } from './paths.js';
import { replacementInterrupted } from './pki-archive.js';
import { exists, readText } from './pki-files.js';

/** A loaded CA, ready to sign. */
export interface LoadedCa {
  readonly certPem: string;
  readonly cert: X509Certificate;
  readonly key: KeyObject;
  readonly issuer: Issuer;
}

/** Loads `ca.crt` and `ca.key`; FH_ERR_CA_MISSING when there is no CA. */
export async function loadCa(dir: string): Promise<LoadedCa> {
  const paths = pkiPaths(dir);
  if (!(await exists(paths.caCert)) || !(await exists(paths.caKey))) {
    if (await replacementInterrupted(paths.dir)) {
      throw new FleethubError('FH_ERR_CA_MISSING', `no CA in ${paths.dir}: a "ca init --force" was interrupted; run "fleethub ca init --pki ${paths.dir}" to finish it`);
    }
    throw new FleethubError('FH_ERR_CA_MISSING', `no CA in ${paths.dir}: run "fleethub ca init --pki ${paths.dir}" first`);
  }
  const certPem = await readText(paths.caCert);
  const keyPem = await readText(paths.caKey);
  try {
    const cert = new X509Certificate(certPem);
    const key = createPrivateKey(keyPem);
    if (!cert.checkPrivateKey(key)) throw new Error('ca.key does not match ca.crt');
    return { certPem, cert, key, issuer: issuerFrom(certPem, key) };
  } catch (err) {
    throw new FleethubError('FH_ERR_PKI_IO', `cannot load the CA in ${paths.dir}: ${(err as Error).message}`, { cause: err });
  }
}

/** True when the PKI folder has an issuing CA. */
export async function hasIssuingCa(dir: string): Promise<boolean> {
  return exists(pkiPaths(dir).issuingCert);
}

/**
 * Loads the issuing CA to sign with; null when there is none. An encrypted
 * key needs `passphrase` (FH_ERR_INVALID_ARGUMENT without it or with a wrong one).
 */
export async function loadIssuingCa(dir: string, passphrase: string | null): Promise<LoadedCa | null> {
  const paths = pkiPaths(dir);
  if (!(await exists(paths.issuingCert))) return null;
  const certPem = await readText(paths.issuingCert);
  const keyPem = await readText(paths.issuingKey);
  const encrypted = keyPem.includes('ENCRYPTED PRIVATE KEY');
  if (encrypted && passphrase === null) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `${paths.issuingKey} is encrypted: give its passphrase (--passphrase-file FILE or env FLEETHUB_ISSUING_PASSPHRASE)`);
  }
  let key: KeyObject;
  try {
    key = encrypted ? createPrivateKey({ key: keyPem, format: 'pem', passphrase: passphrase as string }) : createPrivateKey(keyPem);
  } catch (err) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `cannot decrypt ${paths.issuingKey}: wrong passphrase`, { cause: err });
  }
  try {
    const cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(key)) throw new Error('issuing.key does not match issuing.crt');
    return { certPem, cert, key, issuer: issuerFrom(certPem, key) };
  } catch (err) {
    throw new FleethubError('FH_ERR_PKI_IO', `cannot load the issuing CA in ${paths.dir}: ${(err as Error).message}`, { cause: err });
  }
}

/** Which CA signs device certificates: the issuing CA when there is one, else the root. */
export async function loadSigningCa(dir: string, passphrase: string | null): Promise<{ ca: LoadedCa; role: 'root' | 'issuing' }> {
  const issuing = await loadIssuingCa(dir, passphrase);
  if (issuing !== null) return { ca: issuing, role: 'issuing' };
  return { ca: await loadCa(dir), role: 'root' };
}

/** Loads the claim CA (its key is never encrypted: only the CLI signs with it); null when there is none. */
export async function loadClaimCa(dir: string): Promise<LoadedCa | null> {
  const paths = pkiPaths(dir);
  if (!(await exists(paths.claimCaCert))) return null;
  const certPem = await readText(paths.claimCaCert);
  const keyPem = await readText(paths.claimCaKey);
  try {
    const cert = new X509Certificate(certPem);
    const key = createPrivateKey(keyPem);
    if (!cert.checkPrivateKey(key)) throw new Error('claim-ca.key does not match claim-ca.crt');
    return { certPem, cert, key, issuer: issuerFrom(certPem, key) };
  } catch (err) {
    throw new FleethubError('FH_ERR_PKI_IO', `cannot load the claim CA in ${paths.dir}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * FH_ERR_CA_MISSING unless the folder has a CA certificate: for commands
 * that read the PKI without signing (`device list`, `device export`), which
 * keep working once the root's key has been moved off the machine.
 */
export async function assertCaPresent(dir: string): Promise<void> {
  const paths = pkiPaths(dir);
  if (await exists(paths.caCert)) return;
  await loadCa(dir); // its error says why (no CA, or an interrupted `ca init --force`)
}
